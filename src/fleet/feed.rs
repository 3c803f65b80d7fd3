//! Feed latency as the fleet model keeps it: one round of the fan-out probe
//! (every shard asked the same feed query for the same user) comes in, each
//! shard's latency goes into its window, and the round's slowest shard into
//! the fan-out window (what a user waits for in a scatter-gather).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::latency::{LatencySummary, LatencyWindow};
use super::model::{Fleet, History};
use super::news::Event;
use super::status::{ProbeError, ProbeErrorKind};
use crate::mysql::Addr;

/// Where a figure came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Measured by shardtop itself (status counters, feed probe).
    #[default]
    Direct,
    Prometheus,
    Graphite,
    /// Another shardtop: a `serve` collector's stream (`--connect`).
    Collector,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Direct => "direct",
            Source::Prometheus => "prometheus",
            Source::Graphite => "graphite",
            Source::Collector => "collector",
        }
    }
}

/// One shard's answer in a round.
#[derive(Clone, Debug)]
pub struct FeedResult {
    pub instance: Addr,
    /// Until the answer, or until the timeout gave up on it.
    pub elapsed: Duration,
    /// Rows returned, or why not.
    pub outcome: Result<usize, ProbeError>,
}

/// One round of the fan-out probe: `results[i]` belongs to shard `i`; `None`
/// for a shard the round did not ask (no target).
#[derive(Clone, Debug)]
pub struct FeedRound {
    pub at: DateTime<Utc>,
    pub user_id: u64,
    pub results: Vec<Option<FeedResult>>,
}

/// Latency of one feed (a shard's, or the fan-out's): window, trend, last outcome.
#[derive(Clone, Debug)]
pub struct FeedStats {
    pub window: LatencyWindow,
    /// Recomputed on every recorded round.
    pub summary: Option<LatencySummary>,
    /// p99 after each round, for sparklines and charts (ms).
    pub p99_history: History,
    /// Why the last round failed here (a timeout counts as a slow answer, and shows here too).
    pub last_error: Option<ProbeError>,
    pub last_rows: Option<usize>,
    pub source: Source,
}

impl FeedStats {
    pub fn new(window: Duration) -> Self {
        FeedStats {
            window: LatencyWindow::new(window),
            summary: None,
            p99_history: History::default(),
            last_error: None,
            last_rows: None,
            source: Source::Direct,
        }
    }

    pub fn p99(&self) -> Option<f64> {
        self.summary.map(|s| s.p99)
    }

    fn record(&mut self, at: DateTime<Utc>, latency: Option<Duration>) {
        if let Some(l) = latency {
            self.window.record(at, l);
        }
        self.summary = self.window.summary(at);
        if let Some(p) = self.p99() {
            self.p99_history.push(p);
        }
    }

    /// An external source's figure (already a percentile): kept as the summary.
    pub fn set_external(&mut self, p99_ms: f64, source: Source) {
        self.summary = Some(LatencySummary { p50: f64::NAN, p95: f64::NAN, p99: p99_ms, max: p99_ms, samples: 0 });
        self.p99_history.push(p99_ms);
        self.source = source;
        self.last_error = None;
    }
}

/// The latency a result stands for: the answer's time, or the timeout (a lower
/// bound, but leaving timeouts out would make a dying shard look fast).
fn latency_of(r: &FeedResult) -> Option<Duration> {
    match &r.outcome {
        Ok(_) => Some(r.elapsed),
        Err(e) if e.kind == ProbeErrorKind::Timeout => Some(r.elapsed),
        Err(_) => None,
    }
}

impl Fleet {
    /// Record one feed round and re-judge the shards it touched.
    pub fn apply_feed(&mut self, round: &FeedRound) -> Vec<Event> {
        let mut events = Vec::new();
        let mut slowest: Option<Duration> = None;
        for (i, res) in round.results.iter().enumerate() {
            let Some(res) = res else { continue };
            let Some(shard) = self.shards.get_mut(i) else { continue };
            let lat = latency_of(res);
            if let Some(l) = lat {
                slowest = Some(slowest.map_or(l, |s| s.max(l)));
            }
            shard.feed.last_error = res.outcome.as_ref().err().cloned();
            shard.feed.last_rows = res.outcome.as_ref().ok().copied();
            shard.feed.record(round.at, lat);
            events.extend(self.rejudge(i));
        }
        // A shard that failed outright (refused, query error) serves no part of the feed: the
        // others' slowest is what the user waited for (that shard's failure is its own finding).
        self.fanout.record(round.at, slowest);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Health, Limits, Shard};

    fn fleet() -> Fleet {
        let shards = (0..3).map(|i| Shard::new(format!("s{i}"), Addr::new(format!("m{i}"), 3306), [], None)).collect();
        Fleet::new(shards, Limits::default())
    }

    fn ok(ms: u64) -> Option<FeedResult> {
        Some(FeedResult { instance: Addr::new("m", 3306), elapsed: Duration::from_millis(ms), outcome: Ok(10) })
    }

    fn err(kind: ProbeErrorKind, ms: u64) -> Option<FeedResult> {
        let e = ProbeError { kind, message: "boom".into() };
        Some(FeedResult { instance: Addr::new("m", 3306), elapsed: Duration::from_millis(ms), outcome: Err(e) })
    }

    fn round(sec: i64, results: Vec<Option<FeedResult>>) -> FeedRound {
        let at = chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + sec, 0).single().unwrap_or_default();
        FeedRound { at, user_id: 1, results }
    }

    #[test]
    fn fan_out_latency_is_the_slowest_shard() {
        let mut f = fleet();
        for s in 0..20 {
            f.apply_feed(&round(s, vec![ok(2), ok(5), ok(30 + s as u64)]));
        }
        let p = |i: usize| f.shards[i].feed.summary.expect("summary");
        assert!((p(0).p99 - 2.0).abs() < 0.05 && p(0).samples == 20);
        assert!((p(1).p50 - 5.0).abs() < 0.1);
        let fan = f.fanout.summary.expect("fan-out");
        assert_eq!(fan.samples, 20);
        assert!((fan.p50 - 39.0).abs() < 0.5 && (fan.max - 49.0).abs() < 0.5, "{fan:?}");
        assert_eq!(f.fanout.p99_history.len(), 20);
    }

    #[test]
    fn timeouts_count_as_slow_and_failed_shards_are_left_out() {
        let mut f = fleet();
        f.apply_feed(&round(0, vec![ok(2), err(ProbeErrorKind::Timeout, 500), ok(3)]));
        assert_eq!(f.fanout.summary.map(|s| s.samples), Some(1));
        assert!(f.fanout.p99().unwrap_or(0.0) >= 495.0);
        assert!(f.shards[1].feed.last_error.is_some());
        f.apply_feed(&round(100, vec![ok(2), err(ProbeErrorKind::Query, 1), ok(3)]));
        let fan = f.fanout.summary.expect("fan-out");
        assert_eq!(fan.samples, 1, "the timeout round has left the window, the new one counts");
        assert!((fan.p99 - 3.0).abs() < 0.05, "the slowest shard that answered: {fan:?}");
        assert_eq!(f.shards[1].feed.summary, None, "a query error is no sample (and the timeout aged out)");
        assert_eq!(f.shards[0].feed.last_rows, Some(10));
    }

    #[test]
    fn slow_feed_raises_and_clears_events() {
        let mut f = fleet();
        let mut seen = Vec::new();
        for s in 0..10 {
            seen.extend(f.apply_feed(&round(s, vec![ok(2), ok(2), ok(80)])));
        }
        assert_eq!(f.shards[2].health, Health::Warning);
        assert!(seen.iter().any(|e| e.shard == "s2" && e.message.starts_with("feed p99 80ms over 50ms")), "{seen:?}");
        // A minute of fast answers later the slow ones have left the window.
        let mut seen = Vec::new();
        for s in 100..110 {
            seen.extend(f.apply_feed(&round(s, vec![ok(2), ok(2), ok(3)])));
        }
        assert!(!f.shards[2].all_problems().any(|p| p.rule == "feed_latency"));
        assert!(seen.iter().any(|e| e.message.starts_with("recovered (was: feed p99")), "{seen:?}");
    }

    #[test]
    fn rounds_for_unknown_shards_are_ignored() {
        let mut f = fleet();
        let mut results = vec![None, ok(1)];
        results.extend((0..5).map(|_| ok(1)));
        f.apply_feed(&round(0, results));
        assert!(f.shards[0].feed.summary.is_none());
        assert!(f.shards[1].feed.summary.is_some());
    }
}
