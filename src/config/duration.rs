//! Durations as people write them: `"500ms"`, `"2s"`, `"1.5s"`, `"1m"`,
//! `"1h"`, or a bare number of seconds (`2`, `0.5`, `"2"`).
//!
//! Decimal parsing is done by hand, not through `f64`, so `"0.1s"` is exactly
//! 100 ms and every `format_duration` output parses back to the same value.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// What the parser accepts, for hints.
pub(super) const FORMS: &str =
    "write a number with a unit: \"500ms\", \"2s\", \"1.5s\", \"1m\", \"1h\", or a bare number of seconds";

const NANOS_PER_SEC: u128 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    Negative(String),
    NotANumber(String),
    UnknownUnit { input: String, unit: String },
    TooLarge(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => write!(f, "empty duration"),
            DurationError::Negative(s) => write!(f, "{s:?} is negative"),
            DurationError::NotANumber(s) => write!(f, "{s:?} is not a duration"),
            DurationError::UnknownUnit { input, unit } => write!(f, "unknown unit `{unit}` in {input:?}"),
            DurationError::TooLarge(s) => write!(f, "{s:?} is too long"),
        }
    }
}

impl std::error::Error for DurationError {}

impl DurationError {
    /// What to write instead.
    pub fn hint(&self) -> String {
        if let DurationError::UnknownUnit { unit, .. } = self {
            let meant = match unit.to_ascii_lowercase().as_str() {
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "min" | "mins" | "minute" | "minutes" => Some("m"),
                "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => Some("ms"),
                "hr" | "hrs" | "hour" | "hours" => Some("h"),
                "s" | "ms" | "m" | "h" => Some(""), // upper case
                _ => None,
            };
            match meant {
                Some("") => return format!("units are lower case; {FORMS}"),
                Some(u) => return format!("the unit is `{u}`; {FORMS}"),
                None => {}
            }
        }
        FORMS.to_string()
    }
}

/// Parses one duration; see the module doc for the forms.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(s.into()));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let num_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(num_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(DurationError::NotANumber(s.into()));
    }
    let unit_nanos: u128 = match unit.trim() {
        "" | "s" => NANOS_PER_SEC,
        "ms" => 1_000_000,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        other => return Err(DurationError::UnknownUnit { input: s.into(), unit: other.into() }),
    };
    let too_large = || DurationError::TooLarge(s.into());
    let int: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| too_large())? };
    // Digits past 18 are far below a nanosecond at any unit; dropping them keeps the arithmetic in range.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    let frac: u128 = if frac_digits.is_empty() { 0 } else { frac_digits.parse().map_err(|_| too_large())? };
    let scale = 10u128.pow(frac_digits.len() as u32);
    let nanos =
        int.checked_mul(unit_nanos).and_then(|n| n.checked_add(frac * unit_nanos / scale)).ok_or_else(too_large)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_large())?;
    Ok(Duration::new(secs, (nanos % NANOS_PER_SEC) as u32))
}

/// The shortest exact spelling: `2s`, `500ms`, `1.5s`, `1m`, `1h`.
pub fn format_duration(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos == 0 {
        match secs {
            0 => "0s".into(),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    } else if secs == 0 && nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else {
        let frac = format!("{nanos:09}");
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// A duration as it appeared in TOML, parsed later so that every bad one is
/// reported, not just the first.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum DurationInput {
    Text(String),
    Int(i64),
    Float(f64),
}

impl DurationInput {
    pub(super) fn to_duration(&self) -> Result<Duration, DurationError> {
        match self {
            DurationInput::Text(s) => parse_duration(s),
            DurationInput::Int(n) if *n < 0 => Err(DurationError::Negative(n.to_string())),
            DurationInput::Int(n) => Ok(Duration::from_secs(n.unsigned_abs())),
            // `f64`'s Display is the shortest exact decimal and never uses an exponent.
            DurationInput::Float(x) => parse_duration(&x.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for DurationInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"2s\" or \"500ms\", or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DurationInput::Text(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DurationInput::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map(DurationInput::Int).unwrap_or(DurationInput::Text(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(DurationInput::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_every_form() {
        let ms = Duration::from_millis;
        for (input, want) in [
            ("500ms", ms(500)),
            ("2s", ms(2000)),
            ("1.5s", ms(1500)),
            ("1m", ms(60_000)),
            ("1h", ms(3_600_000)),
            ("2", ms(2000)),
            ("0.25", ms(250)),
            (" 3 s ", ms(3000)),
            (".5s", ms(500)),
            ("0.1s", ms(100)),
            ("1.5ms", Duration::from_micros(1500)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_with_a_useful_hint() {
        let e = parse_duration("2x").unwrap_err();
        assert_eq!(e.to_string(), "unknown unit `x` in \"2x\"");
        assert!(e.hint().contains("\"500ms\""));
        assert!(parse_duration("2 secs").unwrap_err().hint().starts_with("the unit is `s`"));
        assert!(parse_duration("2S").unwrap_err().hint().starts_with("units are lower case"));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(parse_duration("-1s"), Err(DurationError::Negative(_))));
        assert!(matches!(parse_duration("s"), Err(DurationError::NotANumber(_))));
        assert!(matches!(parse_duration("1.2.3s"), Err(DurationError::NotANumber(_))));
        assert!(matches!(parse_duration("99999999999999999999999h"), Err(DurationError::TooLarge(_))));
        assert!(matches!(parse_duration("1m30s"), Err(DurationError::UnknownUnit { .. })));
    }

    #[test]
    fn toml_numbers_are_seconds() {
        assert_eq!(DurationInput::Int(3).to_duration(), Ok(Duration::from_secs(3)));
        assert_eq!(DurationInput::Float(0.1).to_duration(), Ok(Duration::from_millis(100)));
        assert!(DurationInput::Int(-1).to_duration().is_err());
        assert!(DurationInput::Float(f64::NAN).to_duration().is_err());
        assert!(DurationInput::Float(f64::INFINITY).to_duration().is_err());
        assert!(DurationInput::Float(1e300).to_duration().is_err());
    }

    #[test]
    fn formats_the_shortest_exact_spelling() {
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_nanos(1)), "0.000000001s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn small_durations_round_trip(ms in 0u64..10_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse_duration(&s);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[-+ .0-9a-zµ]{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn floats_never_panic(x in any::<f64>()) {
            let _ = DurationInput::Float(x).to_duration();
        }
    }
}
