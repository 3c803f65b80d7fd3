//! Moments in a recording as people type them: `2026-12-07T03:12:07Z` (RFC 3339), `2026-12-07
//! 03:12:07` or `03:12:07` / `03:12` (local time; a bare time is the last such moment in the
//! recording), `start`, `end`, `start+90s`, `end-5m` (any `[poll]`-style duration).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// `s` as milliseconds since the epoch, for a recording spanning `span` (first, last).
pub fn parse(s: &str, span: (i64, i64)) -> Result<i64, String> {
    parse_in(s, span, &Local)
}

pub fn parse_in<Tz: TimeZone>(s: &str, span: (i64, i64), tz: &Tz) -> Result<i64, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "bad time {s:?}: expected 2026-12-07T03:12:07Z, \"2026-12-07 03:12:07\", 03:12:07, start, end, \
             start+90s or end-5m"
        )
    };
    for (anchor, at) in [("start", span.0), ("end", span.1)] {
        if let Some(rest) = t.strip_prefix(anchor) {
            let rest = rest.trim();
            if rest.is_empty() {
                return Ok(at);
            }
            let (sign, d) = match rest.split_at(1) {
                ("+", d) => (1, d),
                ("-", d) => (-1, d),
                _ => return Err(bad()),
            };
            let d = crate::config::parse_duration(d.trim()).map_err(|e| format!("bad time {s:?}: {e}"))?;
            return Ok(at + sign * d.as_millis() as i64);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(t.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return local(tz, n).ok_or_else(bad);
        }
    }
    let time = ["%H:%M:%S%.f", "%H:%M"].iter().find_map(|f| NaiveTime::parse_from_str(t, f).ok()).ok_or_else(bad)?;
    // The last day of the recording on which that clock time falls within (or before) its end.
    let end_day: NaiveDate = Utc.timestamp_millis_opt(span.1).single().ok_or_else(bad)?.with_timezone(tz).date_naive();
    let mut day = end_day;
    for _ in 0..3 {
        if let Some(ms) = local(tz, day.and_time(time)).filter(|&ms| ms <= span.1) {
            return Ok(ms);
        }
        day = day.pred_opt().ok_or_else(bad)?;
    }
    Err(bad())
}

fn local<Tz: TimeZone>(tz: &Tz, n: NaiveDateTime) -> Option<i64> {
    tz.from_local_datetime(&n).earliest().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: (i64, i64) = (1_765_000_000_000, 1_765_003_600_000); // 2025-12-06 05:46:40 → 06:46:40 UTC

    #[test]
    fn every_form_people_type() {
        let p = |s| parse_in(s, SPAN, &Utc);
        assert_eq!(p("start"), Ok(SPAN.0));
        assert_eq!(p("end"), Ok(SPAN.1));
        assert_eq!(p("end-5m"), Ok(SPAN.1 - 300_000));
        assert_eq!(p("start + 90s"), Ok(SPAN.0 + 90_000));
        assert_eq!(p("2025-12-06T06:00:00Z"), Ok(1_765_000_800_000));
        assert_eq!(p("2025-12-06T07:00:00+01:00"), Ok(1_765_000_800_000));
        assert_eq!(p("2025-12-06 06:00:00"), Ok(1_765_000_800_000));
        assert_eq!(p("06:00"), Ok(1_765_000_800_000));
        assert_eq!(p("06:00:00.5"), Ok(1_765_000_800_500));
        // After the end on the last day: the day before.
        assert_eq!(p("23:00"), Ok(1_765_000_800_000 - 7 * 3_600_000));
        for bad in ["yesterday", "end*2", "25:00", "start+x"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
