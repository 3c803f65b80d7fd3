//! The application panels' tiles (`[[panel]]`), drawn in the wall's band beside the fleet's:
//! the value in the panel's unit, its last hour, its threshold colour, and its change against
//! the same time yesterday — or, when its source does not answer, that it is down, with the
//! last value greyed.

use super::wall::{Tile, arrow, level};
use super::{fmt_lag, fmt_rate};
use crate::fleet::Health;
use crate::fleet::health::fmt_ms;
use crate::ui::app::App;
use crate::ui::panels::Panel;

/// A value in the panel's unit: durations for "ms" and "s", a percentage for "%", else an
/// SI-scaled number followed by the unit ("1.2k/s", "12.5 orders/min").
pub fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => fmt_ms(v),
        "s" => fmt_lag(Some(v)),
        "%" if v.abs() < 10.0 => format!("{v:.1}%"),
        "%" => format!("{v:.0}%"),
        _ => {
            let n = if v.abs() >= 999.5 {
                fmt_rate(Some(v))
            } else if v.abs() >= 100.0 || v == v.trunc() {
                format!("{v:.0}")
            } else if v.abs() >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            };
            match unit {
                "" => n,
                u if u.starts_with('/') => format!("{n}{u}"),
                u => format!("{n} {u}"),
            }
        }
    }
}

/// The health a value is at under the panel's thresholds.
pub fn judge(p: &Panel, v: f64) -> Health {
    let (warn, crit) = (p.cfg.warn, p.cfg.crit);
    if p.cfg.lower_is_worse {
        // Floors: negate so that "below" is "above".
        level(-v, warn.map_or(f64::INFINITY, |w| -w), crit.map_or(f64::INFINITY, |c| -c))
    } else {
        level(v, warn.unwrap_or(f64::INFINITY), crit.unwrap_or(f64::INFINITY))
    }
}

/// "1d" as people say it.
fn period_words(d: std::time::Duration) -> String {
    match d.as_secs() {
        86_400 => "yesterday".into(),
        604_800 => "last week".into(),
        s => format!("{} ago", crate::config::format_duration(std::time::Duration::from_secs(s))),
    }
}

pub(super) fn tiles(app: &App) -> Vec<Tile> {
    let t = &app.theme;
    app.panels
        .iter()
        .map(|p| {
            let value = p.reading.as_ref().and_then(|r| r.value);
            let stale = p.is_stale(app.now);
            let (note, note_style) = match (&p.error, &p.reading) {
                // The tile says DOWN in large type; the note says where and why.
                (Some(e), _) => (format!("{e} ({})", p.host()), t.warn),
                (None, None) => (format!("waiting for {}", p.source_name()), t.muted),
                (None, Some(_)) if stale => (format!("{} silent", p.source_name()), t.warn),
                (None, Some(r)) => match (p.cfg.compare, r.value, r.before) {
                    (None, _, _) => (String::new(), t.muted),
                    (Some(_), None, _) => ("no data in the last hour".into(), t.muted),
                    (Some(d), Some(now), Some(before)) if before != 0.0 => {
                        let c = now / before - 1.0;
                        (format!("{}{:+.0}% vs {}", arrow(app, c), c * 100.0, period_words(d)), t.muted)
                    }
                    (Some(d), Some(_), Some(before)) => {
                        (format!("{} {}", fmt_value(before, &p.cfg.unit), period_words(d)), t.muted)
                    }
                    (Some(d), Some(_), None) => (format!("no data {}", period_words(d)), t.muted),
                },
            };
            let style = match value {
                _ if p.error.is_some() => t.warn,
                Some(v) if !stale => t.health(judge(p, v)),
                _ => t.muted,
            };
            let shown = match (&p.error, value) {
                (Some(_), _) => "DOWN".to_string(),
                (None, Some(v)) => fmt_value(v, &p.cfg.unit),
                (None, None) => "—".into(),
            };
            Tile {
                label: p.cfg.title.clone(),
                value: shown,
                style,
                trend: p.reading.as_ref().map(|r| r.history.clone()).unwrap_or_default(),
                note,
                note_style,
                // A trend that is not current is grey.
                trend_style: if p.error.is_some() || stale { t.muted } else { t.accent },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_their_units() {
        assert_eq!(fmt_value(1234.0, "/s"), "1.2k/s");
        assert_eq!(fmt_value(12.5, "orders/min"), "12.5 orders/min");
        assert_eq!(fmt_value(0.347, ""), "0.35");
        assert_eq!(fmt_value(42.0, ""), "42");
        assert_eq!(fmt_value(230.0, "ms"), "230ms");
        assert_eq!(fmt_value(1.5, "s"), "1.5s");
        assert_eq!(fmt_value(3.25, "%"), "3.2%");
    }
}
