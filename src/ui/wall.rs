//! The wall's model: an hour of the fleet's figures (one point per
//! [`BUCKET_SECS`]), the last events, which shard was the slowest in each
//! feed round, and the pure judgements the wall draws from them: spikes over
//! the recent baseline and who drives them, the bottleneck ranking, and the
//! change against the previous period. Nothing here draws or does I/O.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use crate::fleet::{Event, FeedRound, Fleet, Health};

/// Seconds one point of the wall's history covers.
pub const BUCKET_SECS: i64 = 10;
/// An hour of points.
pub const HOUR_POINTS: usize = 360;
/// Feed rounds the bottleneck ranking looks back over (five minutes at two rounds a second).
pub const ROUNDS_KEPT: usize = 600;
/// Events the wall keeps for its "last events" panel.
pub const EVENTS_KEPT: usize = 8;

/// The fleet at one moment: what the tiles and the hour-long charts show.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// Sum of every shard's QPS.
    pub qps: Option<f64>,
    /// The worst replica lag in the fleet, seconds.
    pub lag: Option<f64>,
    /// The fan-out's p99 (each round's slowest shard), ms.
    pub p99: Option<f64>,
    /// Shards not OK.
    pub trouble: f64,
}

impl Point {
    pub fn of(at: DateTime<Utc>, fleet: &Fleet) -> Point {
        let qps = fleet.shards.iter().filter_map(|s| s.qps()).reduce(|a, b| a + b);
        let lag = fleet.shards.iter().filter_map(|s| s.worst_lag()).reduce(f64::max);
        let trouble = fleet.shards.iter().filter(|s| s.health > Health::Ok).count() as f64;
        Point { at, qps, lag, p99: fleet.fanout.p99(), trouble }
    }
}

/// Which figure a tile, chart or spike is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Qps,
    Lag,
    P99,
    Trouble,
}

impl Metric {
    pub fn of(self, p: &Point) -> Option<f64> {
        match self {
            Metric::Qps => p.qps,
            Metric::Lag => p.lag,
            Metric::P99 => p.p99,
            Metric::Trouble => Some(p.trouble),
        }
    }
}

/// A deploy (or any) marker: a moment and what happened then.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct Wall {
    /// Oldest first, one per bucket; the last one is the bucket under way, updated in place.
    pub points: VecDeque<Point>,
    /// Index (into `fleet.shards`) of the slowest shard of each recent feed round.
    pub slowest: VecDeque<usize>,
    /// The newest last.
    pub events: VecDeque<(DateTime<Utc>, Event)>,
    /// Oldest first.
    pub markers: Vec<Marker>,
    /// The fleet around the same time yesterday, from a recording (`ui::yesterday`), oldest
    /// first; empty when there is none.
    pub yesterday: Vec<Point>,
}

impl Wall {
    /// Record the fleet as it is at `now`: a new point when a new bucket starts, else the
    /// current one updated (so the last point is always the latest figure).
    pub fn observe(&mut self, now: DateTime<Utc>, fleet: &Fleet) {
        self.push(Point::of(now, fleet));
    }

    /// Whether a point at `at` would start a new bucket (cheap: callers that see many messages a
    /// second observe the fleet only then, and on the clock's ticks).
    pub fn is_new_bucket(&self, at: DateTime<Utc>) -> bool {
        self.points
            .back()
            .is_none_or(|l| at.timestamp().div_euclid(BUCKET_SECS) > l.at.timestamp().div_euclid(BUCKET_SECS))
    }

    /// Seconds the history covers, for the charts' time axis: at least `min`, at most the hour.
    pub fn span(&self, min: f64) -> f64 {
        let s = match (self.points.front(), self.points.back()) {
            (Some(a), Some(b)) => (b.at - a.at).num_seconds() as f64,
            _ => 0.0,
        };
        s.clamp(min, HOUR_POINTS as f64 * BUCKET_SECS as f64)
    }

    pub fn push(&mut self, p: Point) {
        let bucket = |t: DateTime<Utc>| t.timestamp().div_euclid(BUCKET_SECS);
        match self.points.back_mut() {
            Some(last) if bucket(last.at) == bucket(p.at) => *last = p,
            Some(last) if p.at < last.at => {} // the clock went back: keep what we have
            _ => {
                if self.points.len() == HOUR_POINTS {
                    self.points.pop_front();
                }
                self.points.push_back(p);
            }
        }
    }

    /// History from before this session (the demo's simulated hour): points older than the first
    /// one kept go in front, oldest first, as many as the hour holds.
    pub fn backfill(&mut self, older: Vec<Point>) {
        let bucket = |t: DateTime<Utc>| t.timestamp().div_euclid(BUCKET_SECS);
        let first = self.points.front().map(|p| bucket(p.at));
        let mut last = None;
        let mut keep: Vec<Point> = Vec::new();
        for p in older {
            let b = bucket(p.at);
            if first.is_some_and(|f| b >= f) || last.is_some_and(|l| b <= l) {
                continue;
            }
            last = Some(b);
            keep.push(p);
        }
        for p in keep.into_iter().rev() {
            if self.points.len() >= HOUR_POINTS {
                break;
            }
            self.points.push_front(p);
        }
    }

    /// Count the round's slowest shard (failed probes do not count: they answer fast).
    pub fn note_round(&mut self, round: &FeedRound) {
        let slowest = round
            .results
            .iter()
            .enumerate()
            .filter_map(|(s, r)| r.as_ref().filter(|r| r.outcome.is_ok()).map(|r| (s, r.elapsed)))
            .max_by_key(|(_, e)| *e);
        if let Some((s, _)) = slowest {
            if self.slowest.len() == ROUNDS_KEPT {
                self.slowest.pop_front();
            }
            self.slowest.push_back(s);
        }
    }

    pub fn note_events(&mut self, at: DateTime<Utc>, events: &[Event]) {
        for e in events {
            if self.events.len() == EVENTS_KEPT {
                self.events.pop_front();
            }
            self.events.push_back((at, e.clone()));
        }
    }

    /// One metric's points as (seconds before `now`, value), for charts.
    pub fn series(&self, m: Metric, now: DateTime<Utc>) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .filter_map(|p| Some((-((now - p.at).num_milliseconds() as f64 / 1000.0).max(0.0), m.of(p)?)))
            .collect()
    }

    pub fn values(&self, m: Metric) -> Vec<f64> {
        self.points.iter().filter_map(|p| m.of(p)).collect()
    }

    /// The last marker, if any.
    pub fn last_marker(&self) -> Option<&Marker> {
        self.markers.iter().max_by_key(|m| m.at)
    }
}

/// A figure well above its recent baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spike {
    pub now: f64,
    pub baseline: f64,
}

impl Spike {
    pub fn ratio(&self) -> f64 {
        if self.baseline > 0.0 { self.now / self.baseline } else { f64::INFINITY }
    }
}

/// How far above the baseline a figure must be to be a spike, and by at least how much.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikeRule {
    /// Points the current value is the mean of.
    pub recent: usize,
    /// Points before those that make the baseline (their median, so an earlier spike does not
    /// raise it).
    pub baseline: usize,
    pub min_ratio: f64,
    /// Below this absolute rise nothing is a spike (a quiet fleet doubling from 3 to 6 QPS).
    pub min_rise: f64,
}

impl SpikeRule {
    pub const QPS: SpikeRule = SpikeRule { recent: 3, baseline: 30, min_ratio: 1.5, min_rise: 100.0 };
    pub const P99: SpikeRule = SpikeRule { recent: 3, baseline: 30, min_ratio: 2.0, min_rise: 10.0 };
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 })
}

/// The baseline [`spike`] compares against (for the chart's spike line), once there is enough history.
pub fn spike_baseline(values: &[f64], rule: SpikeRule) -> Option<f64> {
    let n = values.len();
    if n < rule.recent + rule.baseline.div_ceil(2) {
        return None;
    }
    median(&values[(n - rule.recent).saturating_sub(rule.baseline)..n - rule.recent])
}

/// Is the end of `values` (oldest first) a spike over what came before? Needs at least
/// half a baseline of history, so a fresh start is never a spike.
pub fn spike(values: &[f64], rule: SpikeRule) -> Option<Spike> {
    let n = values.len();
    if n < rule.recent + rule.baseline.div_ceil(2) || rule.recent == 0 {
        return None;
    }
    let recent = &values[n - rule.recent..];
    let now = recent.iter().sum::<f64>() / recent.len() as f64;
    let before = &values[(n - rule.recent).saturating_sub(rule.baseline)..n - rule.recent];
    let baseline = median(before)?;
    (now - baseline >= rule.min_rise && now >= baseline * rule.min_ratio).then_some(Spike { now, baseline })
}

/// The shards driving a rise: each shard's rise of its recent values over its own baseline (median
/// of its history before them), largest first, with its share of the fleet's total rise. At most `n`.
pub fn drivers<'a>(
    histories: impl Iterator<Item = (usize, &'a crate::fleet::model::History)>,
    recent: usize,
    n: usize,
) -> Vec<(usize, f64)> {
    let mut rises: Vec<(usize, f64)> = histories
        .filter_map(|(s, h)| {
            let v: Vec<f64> = h.iter().collect();
            if v.len() <= recent {
                return None;
            }
            let now = v[v.len() - recent..].iter().sum::<f64>() / recent as f64;
            let base = median(&v[..v.len() - recent])?;
            Some((s, now - base))
        })
        .filter(|(_, r)| *r > 0.0)
        .collect();
    let total: f64 = rises.iter().map(|r| r.1).sum();
    rises.sort_by(|a, b| b.1.total_cmp(&a.1));
    rises.truncate(n);
    if total > 0.0 {
        for r in &mut rises {
            r.1 /= total;
        }
    }
    rises
}

/// Shards by their share of the recent feed rounds in which they were the slowest: the
/// fan-out's bottleneck. (shard, share of rounds), largest first, at most `n`.
pub fn bottlenecks(wall: &Wall, n: usize) -> Vec<(usize, f64)> {
    let total = wall.slowest.len();
    if total == 0 {
        return Vec::new();
    }
    let mut counts: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for &s in &wall.slowest {
        *counts.entry(s).or_default() += 1;
    }
    let mut ranked: Vec<(usize, f64)> = counts.into_iter().map(|(s, c)| (s, c as f64 / total as f64)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked
}

/// The period the tiles compare against: 15 minutes, or half the history when it is shorter.
pub fn period(wall: &Wall) -> Option<Duration> {
    let (first, last) = (wall.points.front()?, wall.points.back()?);
    let span = last.at - first.at;
    let p = Duration::minutes(15).min(span / 2);
    (p >= Duration::seconds(BUCKET_SECS)).then_some(p)
}

/// What a tile's change is against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// The same time yesterday, from a recording.
    Yesterday,
    /// The period before the last one of this length.
    Period(Duration),
}

/// How far from the same time yesterday a recorded point may be to stand for it.
pub const YESTERDAY_SLACK: Duration = Duration::seconds(3 * BUCKET_SECS);

/// The latest value against the same time yesterday when a recording has it (the mean of
/// yesterday's points within [`YESTERDAY_SLACK`] of it), else against the mean of the period
/// before the last one: +0.12 is 12 % up.
pub fn change(wall: &Wall, m: Metric) -> Option<(f64, Baseline)> {
    let last = wall.points.back()?;
    let now = m.of(last)?;
    let then = last.at - Duration::days(1);
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let yesterday = mean(
        wall.yesterday.iter().filter(|x| (x.at - then).abs() <= YESTERDAY_SLACK).filter_map(|x| m.of(x)).collect(),
    );
    if let Some(y) = yesterday.filter(|y| *y > 0.0) {
        return Some((now / y - 1.0, Baseline::Yesterday));
    }
    let p = period(wall)?;
    let (from, to) = (last.at - p - p, last.at - p);
    let before = mean(wall.points.iter().filter(|x| x.at >= from && x.at < to).filter_map(|x| m.of(x)).collect())?;
    (before > 0.0).then(|| (now / before - 1.0, Baseline::Period(p)))
}

/// Means of a metric over `window` before and after `at` (the before/after panel of a deploy).
pub fn before_after(wall: &Wall, m: Metric, at: DateTime<Utc>, window: Duration) -> (Option<f64>, Option<f64>) {
    let mean = |lo: DateTime<Utc>, hi: DateTime<Utc>| {
        let v: Vec<f64> = wall.points.iter().filter(|p| p.at >= lo && p.at < hi).filter_map(|p| m.of(p)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    (mean(at - window, at), mean(at, at + window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::model::History;

    fn t(secs: i64) -> DateTime<Utc> {
        chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000 + secs, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_spike_needs_ratio_rise_and_history() {
        let flat = [1000.0; 30];
        assert_eq!(spike(&flat, SpikeRule::QPS), None);
        let mut v = flat.to_vec();
        v.extend([2500.0, 2600.0, 2700.0]);
        let s = spike(&v, SpikeRule::QPS).expect("spike");
        assert_eq!(s.baseline, 1000.0);
        assert!((s.ratio() - 2.6).abs() < 1e-9, "{s:?}");
        // 1.4× is not enough.
        let mut v = flat.to_vec();
        v.extend([1400.0; 3]);
        assert_eq!(spike(&v, SpikeRule::QPS), None);
        // A quiet fleet doubling is below the absolute floor.
        let mut v = vec![10.0; 30];
        v.extend([40.0; 3]);
        assert_eq!(spike(&v, SpikeRule::QPS), None);
        // Too little history: no verdict.
        assert_eq!(spike(&[100.0, 100.0, 5000.0, 5000.0, 5000.0], SpikeRule::QPS), None);
    }

    #[test]
    fn an_earlier_spike_does_not_raise_the_baseline() {
        let mut v = vec![1000.0; 20];
        v.extend([9000.0; 5]); // a short burst earlier on
        v.extend([1000.0; 5]);
        v.extend([3000.0; 3]);
        assert_eq!(spike(&v, SpikeRule::QPS).map(|s| s.baseline), Some(1000.0));
    }

    #[test]
    fn drivers_are_the_shards_that_rose_most_with_their_share() {
        let hist = |vals: &[f64]| {
            let mut h = History::default();
            vals.iter().for_each(|&v| h.push(v));
            h
        };
        let flat = hist(&[100.0; 10]);
        let mut a = vec![100.0; 7];
        a.extend([400.0; 3]);
        let mut b = vec![100.0; 7];
        b.extend([200.0; 3]);
        let (a, b) = (hist(&a), hist(&b));
        let d = drivers([(0, &flat), (1, &a), (2, &b)].into_iter(), 3, 5);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, 1);
        assert!((d[0].1 - 0.75).abs() < 1e-9 && (d[1].1 - 0.25).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn bottlenecks_rank_by_share_of_rounds() {
        let mut w = Wall::default();
        w.slowest.extend([3, 3, 3, 1, 3, 2, 3, 1]);
        let b = bottlenecks(&w, 2);
        assert_eq!(b, vec![(3, 5.0 / 8.0), (1, 2.0 / 8.0)]);
        assert!(bottlenecks(&Wall::default(), 3).is_empty());
    }

    #[test]
    fn points_are_bucketed_and_bounded() {
        let mut w = Wall::default();
        for s in 0..(HOUR_POINTS as i64 + 20) * BUCKET_SECS {
            w.push(Point { at: t(s), qps: Some(s as f64), ..Point::default() });
        }
        assert_eq!(w.points.len(), HOUR_POINTS);
        // The bucket under way holds the latest figure.
        assert_eq!(w.points.back().and_then(|p| p.qps), Some(((HOUR_POINTS as i64 + 20) * BUCKET_SECS - 1) as f64));
        // A clock that goes back adds nothing.
        let n = w.points.len();
        w.push(Point { at: t(0), ..Point::default() });
        assert_eq!(w.points.len(), n);
    }

    #[test]
    fn backfill_goes_in_front_and_keeps_the_hour() {
        let mut w = Wall::default();
        w.push(Point { at: t(1000), qps: Some(1.0), ..Point::default() });
        let older: Vec<Point> =
            (0..500).map(|k| Point { at: t(k * BUCKET_SECS - 4000), qps: Some(2.0), ..Point::default() }).collect();
        w.backfill(older);
        assert_eq!(w.points.len(), HOUR_POINTS);
        assert!(w.points.iter().zip(w.points.iter().skip(1)).all(|(a, b)| a.at < b.at));
        assert_eq!(w.points.back().and_then(|p| p.qps), Some(1.0));
        // Nothing at or after what is already there.
        let n = w.points.len();
        w.backfill(vec![Point { at: t(2000), ..Point::default() }]);
        assert_eq!(w.points.len(), n);
    }

    #[test]
    fn change_compares_with_the_period_before() {
        let mut w = Wall::default();
        for k in 0..=180 {
            let qps = if k < 90 { 1000.0 } else { 1200.0 };
            w.push(Point { at: t(k * BUCKET_SECS), qps: Some(qps), ..Point::default() });
        }
        let (c, p) = change(&w, Metric::Qps).expect("change");
        assert_eq!(p, Baseline::Period(Duration::minutes(15)));
        assert!((c - 0.2).abs() < 1e-9, "{c}");
        assert_eq!(change(&Wall::default(), Metric::Qps), None);
    }

    #[test]
    fn change_is_against_yesterday_when_a_recording_has_it() {
        let mut w = Wall::default();
        for k in 0..=180 {
            w.push(Point { at: t(86_400 + k * BUCKET_SECS), qps: Some(1200.0), ..Point::default() });
        }
        let now = t(86_400 + 180 * BUCKET_SECS);
        // Yesterday's points, but none near this time: the period before it is.
        w.yesterday = (0..10).map(|k| Point { at: t(k * BUCKET_SECS), qps: Some(600.0), ..Point::default() }).collect();
        assert!(matches!(change(&w, Metric::Qps), Some((_, Baseline::Period(_)))));
        // Around the same time yesterday: 1000 and 1000 (a point 40 s away does not count).
        let y =
            |secs: i64, qps| Point { at: now - Duration::days(1) + Duration::seconds(secs), qps, ..Point::default() };
        w.yesterday = vec![y(-40, Some(5.0)), y(-10, Some(1000.0)), y(0, None), y(20, Some(1000.0))];
        let (c, b) = change(&w, Metric::Qps).expect("change");
        assert_eq!(b, Baseline::Yesterday);
        assert!((c - 0.2).abs() < 1e-9, "{c}");
        // A figure yesterday's recording lacks falls back to the period.
        w.points.iter_mut().for_each(|p| p.p99 = Some(20.0));
        assert!(matches!(change(&w, Metric::P99), Some((_, Baseline::Period(_)))));
    }

    #[test]
    fn before_and_after_a_marker() {
        let mut w = Wall::default();
        for k in 0..60 {
            let p99 = if k < 30 { 20.0 } else { 35.0 };
            w.push(Point { at: t(k * BUCKET_SECS), p99: Some(p99), ..Point::default() });
        }
        let (b, a) = before_after(&w, Metric::P99, t(300), Duration::minutes(5));
        assert_eq!((b, a), (Some(20.0), Some(35.0)));
    }
}
