//! `[thresholds]`: when lag, feed latency and a fall in QPS become warnings and critical alerts.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, Val};

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub lag_warn: Duration,
    pub lag_crit: Duration,
    pub feed_p99_warn: Duration,
    pub feed_p99_crit: Duration,
    /// Warn when a shard's QPS falls by at least this percentage (0 < x <= 100).
    pub qps_drop_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lag_warn: Duration::from_secs(10),
            lag_crit: Duration::from_secs(60),
            feed_p99_warn: Duration::from_millis(50),
            feed_p99_crit: Duration::from_millis(100),
            qps_drop_percent: 50.0,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawThresholds {
    pub lag_warn: Opt<DurationInput>,
    pub lag_crit: Opt<DurationInput>,
    pub feed_p99_warn: Opt<DurationInput>,
    pub feed_p99_crit: Opt<DurationInput>,
    pub qps_drop_percent: Opt<f64>,
}

/// The keys of `[thresholds]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawThresholds`.
pub(in crate::config) const KEYS: &[&str] =
    &["lag_warn", "lag_crit", "feed_p99_warn", "feed_p99_crit", "qps_drop_percent"];

impl Checker<'_> {
    pub(in crate::config) fn thresholds(&mut self, raw: RawThresholds) -> Thresholds {
        let d = Thresholds::default();
        let lag_warn = self.duration("thresholds.lag_warn", raw.lag_warn, d.lag_warn);
        let lag_crit = self.duration("thresholds.lag_crit", raw.lag_crit, d.lag_crit);
        let feed_warn = self.duration("thresholds.feed_p99_warn", raw.feed_p99_warn, d.feed_p99_warn);
        let feed_crit = self.duration("thresholds.feed_p99_crit", raw.feed_p99_crit, d.feed_p99_crit);
        self.below("thresholds.lag_warn", &lag_warn, "thresholds.lag_crit", &lag_crit);
        self.below("thresholds.feed_p99_warn", &feed_warn, "thresholds.feed_p99_crit", &feed_crit);
        let qps_drop_percent = match raw.qps_drop_percent {
            None => d.qps_drop_percent,
            Some(q) => {
                let x = *q.get_ref();
                if !(x > 0.0 && x <= 100.0) {
                    self.error(
                        Some(&q.span()),
                        format!("thresholds.qps_drop_percent must be more than 0 and at most 100, got {x}"),
                        "it is the fall in a shard's QPS, in percent, that raises a warning".to_string(),
                    );
                }
                x
            }
        };
        let pick = |v: Option<Val<Duration>>, default| v.map_or(default, |v| v.v);
        Thresholds {
            lag_warn: pick(lag_warn, d.lag_warn),
            lag_crit: pick(lag_crit, d.lag_crit),
            feed_p99_warn: pick(feed_warn, d.feed_p99_warn),
            feed_p99_crit: pick(feed_crit, d.feed_p99_crit),
            qps_drop_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn warnings_come_before_critical_alerts() {
        let e = err(&format!("[thresholds]\nlag_warn = \"2m\"\n{SHARD}"), &fixture_env());
        assert!(
            has(&e, Some(2), "thresholds.lag_warn (2m) must be below thresholds.lag_crit (1m, the default)"),
            "{e}"
        );
        let e = err(&format!("[thresholds]\nqps_drop_percent = 0.0\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "more than 0 and at most 100, got 0"), "{e}");
        let t =
            ok(&format!("[thresholds]\nlag_warn = 5\nlag_crit = 6\nqps_drop_percent = 100.0\n{SHARD}"), &fixture_env())
                .config
                .thresholds;
        assert_eq!(
            (t.lag_warn, t.lag_crit, t.qps_drop_percent),
            (Duration::from_secs(5), Duration::from_secs(6), 100.0)
        );
    }
}
