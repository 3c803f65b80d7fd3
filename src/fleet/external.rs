//! Figures from external sources (Prometheus, Graphite) as the fleet model
//! keeps them: the latest value per shard and figure, which source said so,
//! and whether each source is up. Pure: the clients live in `metrics`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::feed::Source;
use super::health::{Health, Problem};
use super::model::Fleet;
use super::news::Event;

/// What a figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    Qps,
    /// Seconds.
    Lag,
    /// Milliseconds.
    FeedP99,
    /// A shard's health as another shardtop collector judged it: 0 ok, 1 warning, 2 critical, 3 unknown.
    Health,
}

impl Figure {
    pub fn key(self) -> &'static str {
        match self {
            Figure::Qps => "qps",
            Figure::Lag => "lag",
            Figure::FeedP99 => "feed_p99",
            Figure::Health => "health",
        }
    }
}

/// One poll of one source.
#[derive(Clone, Debug)]
pub struct MetricsUpdate {
    /// Index of the source in the config's `[[metrics]]` list.
    pub source: usize,
    pub kind: Source,
    pub at: DateTime<Utc>,
    /// (shard index, figure, value).
    pub values: Vec<(usize, Figure, f64)>,
    /// Set when a query failed: the source is down and its figures are dropped.
    pub error: Option<String>,
    /// Queries that answered with nothing for some shards: not down, but worth saying.
    pub notes: Vec<String>,
    /// Recent history per (shard, figure), oldest first, to fill empty charts at start-up.
    pub backfill: Vec<(usize, Figure, Vec<f64>)>,
    /// A collector's word on each shard's members (a remote viewer's stream; `fleet::remote`).
    pub remote: Vec<super::remote::RemoteShard>,
}

/// A value and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ExtValue {
    pub value: f64,
    pub source: Source,
    /// Index of the source in the config.
    #[serde(skip)]
    pub index: usize,
    pub at: DateTime<Utc>,
}

/// A shard's external figures.
#[derive(Clone, Debug, Default)]
pub struct External {
    pub qps: Option<ExtValue>,
    pub lag: Option<ExtValue>,
    pub feed_p99: Option<ExtValue>,
    pub health: Option<ExtValue>,
}

impl External {
    fn slot(&mut self, f: Figure) -> &mut Option<ExtValue> {
        match f {
            Figure::Qps => &mut self.qps,
            Figure::Lag => &mut self.lag,
            Figure::FeedP99 => &mut self.feed_p99,
            Figure::Health => &mut self.health,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.qps.is_none() && self.lag.is_none() && self.feed_p99.is_none() && self.health.is_none()
    }

    /// Drops what source `index` said (it went down: its last values are not current).
    fn forget(&mut self, index: usize) {
        for f in [Figure::Qps, Figure::Lag, Figure::FeedP99, Figure::Health] {
            if self.slot(f).is_some_and(|v| v.index == index) {
                *self.slot(f) = None;
            }
        }
    }
}

/// A source as the UI and the snapshot show it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceState {
    pub name: String,
    pub kind: Source,
    /// `None` until the first answer.
    pub up: Option<bool>,
    pub error: Option<String>,
    pub notes: Vec<String>,
    pub last_ok: Option<DateTime<Utc>>,
}

impl SourceState {
    pub fn new(name: impl Into<String>, kind: Source) -> Self {
        SourceState { name: name.into(), kind, up: None, error: None, notes: Vec::new(), last_ok: None }
    }
}

impl Fleet {
    /// Record one poll of an external source and re-judge every shard.
    pub fn apply_metrics(&mut self, u: &MetricsUpdate) -> Vec<Event> {
        let mut events = Vec::new();
        // Only into empty histories: measured points are never mixed with older external ones.
        for (shard, figure, values) in &u.backfill {
            let Some(s) = self.shards.get_mut(*shard) else { continue };
            let history = match figure {
                Figure::Qps => &mut s.qps_history,
                Figure::FeedP99 => &mut s.feed.p99_history,
                Figure::Lag | Figure::Health => continue,
            };
            if history.is_empty() {
                values.iter().for_each(|&v| history.push(v));
            }
        }
        if !u.backfill.is_empty() && u.values.is_empty() {
            return events;
        }
        if let Some(src) = self.sources.get_mut(u.source) {
            let was_up = src.up;
            src.up = Some(u.error.is_none());
            src.error = u.error.clone();
            src.notes = u.notes.clone();
            match (&u.error, was_up) {
                (Some(e), Some(true) | None) => events.push(Event {
                    shard: src.name.clone(),
                    severity: Health::Warning,
                    message: format!("metrics source down: {e}"),
                    rule: "",
                }),
                (None, Some(false)) => events.push(Event {
                    shard: src.name.clone(),
                    severity: Health::Ok,
                    message: "recovered: metrics source answers again".into(),
                    rule: "",
                }),
                _ => {}
            }
            if u.error.is_none() {
                src.last_ok = Some(u.at);
            }
        }
        for s in &mut self.shards {
            s.external.forget(u.source);
        }
        if u.error.is_none() {
            for &(shard, figure, value) in &u.values {
                let Some(s) = self.shards.get_mut(shard) else { continue };
                *s.external.slot(figure) = Some(ExtValue { value, source: u.kind, index: u.source, at: u.at });
                // The probe's own measurement wins; an external p99 fills in where there is none.
                if figure == Figure::FeedP99 && s.feed.summary.is_none_or(|f| f.samples == 0) {
                    s.feed.set_external(value, u.kind);
                }
                if figure == Figure::Qps && s.metrics_only {
                    s.qps_history.push(value);
                }
            }
        }
        // A collector's shards come judged: its findings replace the figures' (no events here: the
        // viewer shows the collector's own).
        let mut judged = vec![false; self.shards.len()];
        if u.error.is_none() {
            for r in u.remote.iter().filter(|r| !r.members.is_empty()) {
                if let Some(j) = judged.get_mut(r.shard) {
                    *j = true;
                }
            }
        }
        for (i, judged) in judged.into_iter().enumerate() {
            if !judged {
                events.extend(self.rejudge(i));
            }
        }
        if u.error.is_none() {
            self.apply_remote(u.at, &u.remote);
        }
        events
    }
}

/// Metrics-only findings: lag over the thresholds, or nothing known at all.
pub fn external_problems(ext: &External, lag_warn: f64, lag_crit: f64) -> Vec<Problem> {
    let mut out = Vec::new();
    if ext.is_empty() {
        out.push(Problem {
            severity: Health::Unknown,
            rule: "no_data",
            instance: None,
            message: "no figures from the metrics sources yet".into(),
        });
        return out;
    }
    if let Some(l) = ext.lag {
        let level = if l.value >= lag_crit {
            Some((Health::Critical, lag_crit))
        } else if l.value >= lag_warn {
            Some((Health::Warning, lag_warn))
        } else {
            None
        };
        if let Some((severity, limit)) = level {
            let fmt = super::health::fmt_secs;
            out.push(Problem {
                severity,
                rule: "lag",
                instance: None,
                message: format!("lag {} over {} ({})", fmt(l.value), fmt(limit), l.source.label()),
            });
        }
    }
    if let Some(h) = ext.health {
        let severity = match h.value.round() as i64 {
            0 => None,
            1 => Some(Health::Warning),
            2 => Some(Health::Critical),
            _ => Some(Health::Unknown),
        };
        if let Some(severity) = severity {
            out.push(Problem {
                severity,
                rule: "reported_health",
                instance: None,
                message: format!("{} by its collector ({})", severity.label(), h.source.label()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Addr, Limits, Shard};

    fn fleet(metrics_only: bool) -> Fleet {
        let shards = (0..2).map(|i| {
            Shard::new(format!("s{i}"), Addr::new(format!("m{i}"), 3306), [Addr::new(format!("r{i}"), 3306)], None)
        });
        let mut f = Fleet::new(shards.collect(), Limits::default());
        f.sources = vec![SourceState::new("prom", Source::Prometheus)];
        if metrics_only {
            f = f.metrics_only();
        }
        f
    }

    #[test]
    fn a_collectors_reported_health_judges_a_metrics_only_shard() {
        let mut f = fleet(true);
        f.apply_metrics(&update(vec![(0, Figure::Health, 2.0), (1, Figure::Health, 0.0)], None));
        assert_eq!(f.shards[0].health, Health::Critical);
        assert!(f.shards[0].problems.iter().any(|p| p.rule == "reported_health"), "{:?}", f.shards[0].problems);
        assert_eq!(f.shards[1].health, Health::Ok, "{:?}", f.shards[1].problems);
        f.apply_metrics(&update(vec![(0, Figure::Health, 1.0), (1, Figure::Health, 3.0)], None));
        assert_eq!((f.shards[0].health, f.shards[1].health), (Health::Warning, Health::Unknown));
    }

    fn update(values: Vec<(usize, Figure, f64)>, error: Option<&str>) -> MetricsUpdate {
        MetricsUpdate {
            source: 0,
            kind: Source::Prometheus,
            at: Utc::now(),
            values,
            error: error.map(Into::into),
            notes: Vec::new(),
            backfill: Vec::new(),
            remote: Vec::new(),
        }
    }

    #[test]
    fn metrics_only_shards_are_judged_on_external_figures() {
        let mut f = fleet(true);
        assert_eq!(f.shards[0].health, Health::Unknown, "nothing known yet");
        f.apply_metrics(&update(vec![(0, Figure::Qps, 1200.0), (0, Figure::Lag, 2.0), (1, Figure::Lag, 75.0)], None));
        assert_eq!(f.shards[0].health, Health::Ok);
        assert_eq!(f.shards[0].qps_with_source(), Some((1200.0, Source::Prometheus)));
        assert_eq!(f.shards[1].health, Health::Critical);
        assert_eq!(f.shards[1].headline().map(|p| p.message.as_str()), Some("lag 75s over 60s (prometheus)"));
        assert_eq!(f.shards[1].worst_lag_with_source(), Some((75.0, Source::Prometheus)));
    }

    #[test]
    fn a_source_going_down_drops_its_figures_and_says_so() {
        let mut f = fleet(true);
        f.apply_metrics(&update(vec![(0, Figure::Qps, 1200.0)], None));
        let ev = f.apply_metrics(&update(vec![], Some("qps: no answer within the timeout")));
        assert!(ev.iter().any(|e| e.message == "metrics source down: qps: no answer within the timeout"), "{ev:?}");
        assert_eq!(f.sources[0].up, Some(false));
        assert_eq!(f.shards[0].qps(), None, "a down source's last value is not shown as current");
        assert_eq!(f.shards[0].health, Health::Unknown);
        let ev = f.apply_metrics(&update(vec![(0, Figure::Qps, 1100.0)], None));
        assert!(ev.iter().any(|e| e.message.starts_with("recovered: metrics source")), "{ev:?}");
    }

    #[test]
    fn direct_figures_win_and_external_feed_fills_in() {
        let mut f = fleet(false);
        f.apply_metrics(&update(vec![(0, Figure::FeedP99, 70.0), (0, Figure::Qps, 5.0)], None));
        assert_eq!(f.shards[0].feed.p99(), Some(70.0));
        assert_eq!(f.shards[0].feed.source, Source::Prometheus);
        assert!(f.shards[0].all_problems().any(|p| p.rule == "feed_latency"), "judged like the probe's p99");
        // Not metrics-only: the external QPS shows only while there is no direct rate.
        assert_eq!(f.shards[0].qps_with_source(), Some((5.0, Source::Prometheus)));
    }
}
