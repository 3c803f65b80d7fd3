//! Latency percentiles over a sliding time window, in HDR histograms.
//!
//! The window is cut into a few slices, one histogram each; recording goes to
//! the slice of its timestamp and slices older than the window are dropped, so
//! memory is fixed (slices × one histogram, and their sum) whatever the uptime or the rate.
//! Pure: timestamps are passed in.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Microseconds, 1 µs .. 60 s, two significant digits (1 % resolution is
/// plenty for a millisecond display, and keeps a histogram near 10 KiB).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
const SIGFIG: u8 = 2;
/// Slices per window: the window slides in steps of window / SLICES.
pub const SLICES: u32 = 6;

fn histogram() -> Histogram<u32> {
    // Constant bounds that the crate accepts (a unit test builds one).
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid constant histogram bounds")
}

/// p50/p95/p99 and the sample count over the window, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: u64,
}

/// Up to this many samples a window keeps them as they came, with no histogram at all: a feed
/// window holds one a second per shard (60 in a minute), and sorting 60 numbers is far cheaper
/// than a histogram's 2,500 counts to allocate, fault in and scan on every round (a replay's seek
/// feeds every shard a minute of rounds at once). The summary is the same either way: each
/// percentile is the middle of the bucket of the same sample (a proptest holds them equal).
const FEW: usize = 256;

#[derive(Clone, Debug)]
pub struct LatencyWindow {
    slice_ms: i64,
    /// While the window holds at most `few_max` samples: each as (slice number, µs), in the order
    /// recorded; empty once the histograms hold them.
    few: Vec<(i64, u64)>,
    few_max: usize,
    /// Room to sort `few` in, kept between summaries.
    sorted: Vec<u64>,
    /// (slice number = timestamp_ms / slice_ms, histogram), oldest first.
    slices: VecDeque<(i64, Histogram<u32>)>,
    /// The slices added up, kept as they come and go: a summary reads it rather than adding six
    /// histograms into a fresh one (a feed round summarises every shard's window, and a replay's
    /// seek feeds a minute of rounds at once: that adding was a third of such a seek). `None`
    /// while `few` holds the samples.
    all: Option<Histogram<u32>>,
}

/// The histograms' shape, for the buckets of samples kept as they came.
fn shape() -> &'static Histogram<u32> {
    static SHAPE: std::sync::OnceLock<Histogram<u32>> = std::sync::OnceLock::new();
    SHAPE.get_or_init(histogram)
}

/// `us` in milliseconds as a summary gives it: the middle of its bucket, to 0.01 ms.
fn summary_ms(us: u64) -> f64 {
    (shape().median_equivalent(us) as f64 / 1000.0 * 100.0).round() / 100.0
}

impl LatencyWindow {
    pub fn new(window: Duration) -> Self {
        let slice_ms = (window.as_millis() as i64 / i64::from(SLICES)).max(1);
        LatencyWindow {
            slice_ms,
            few: Vec::new(),
            few_max: FEW,
            sorted: Vec::new(),
            slices: VecDeque::new(),
            all: None,
        }
    }

    /// The whole window's length.
    pub fn window(&self) -> Duration {
        Duration::from_millis((self.slice_ms * i64::from(SLICES)) as u64)
    }

    pub fn record(&mut self, at: DateTime<Utc>, latency: Duration) {
        let n = at.timestamp_millis().div_euclid(self.slice_ms);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(LOWEST_US, HIGHEST_US);
        let spare = self.expire(n);
        if self.all.is_none() {
            if self.few.len() < self.few_max {
                self.few.push((n, us));
                return;
            }
            // Too many to keep one by one: into histograms from here on (until the window empties).
            let mut all = histogram();
            for (k, v) in std::mem::take(&mut self.few) {
                all.saturating_record(v);
                self.slice_mut(k, None).saturating_record(v);
            }
            self.all = Some(all);
        }
        if let Some(all) = &mut self.all {
            all.saturating_record(us);
        }
        self.slice_mut(n, spare).saturating_record(us);
    }

    /// Slice `n`'s histogram, made (from `spare` if given) when it has none.
    fn slice_mut(&mut self, n: i64, spare: Option<Histogram<u32>>) -> &mut Histogram<u32> {
        let pos = match self.slices.iter().position(|(k, _)| *k >= n) {
            Some(pos) if self.slices[pos].0 == n => pos,
            found => {
                // A slice that just left the window is reused (no fresh 10 KiB to fault in).
                // Out-of-order samples are rare (clock steps); keep the deque sorted anyway.
                let pos = found.unwrap_or(self.slices.len());
                self.slices.insert(pos, (n, spare.unwrap_or_else(histogram)));
                pos
            }
        };
        &mut self.slices[pos].1
    }

    /// Drops samples and slices that have left the window ending in slice `now` (and any from a
    /// clock that stepped back), taking them out of the sum; returns a slice's histogram,
    /// emptied, for reuse. A window left empty goes back to keeping samples as they come.
    fn expire(&mut self, now: i64) -> Option<Histogram<u32>> {
        let oldest = now - i64::from(SLICES) + 1;
        let kept = |n: i64| n >= oldest && n <= now + 1;
        let Some(all) = &mut self.all else {
            self.few.retain(|&(n, _)| kept(n));
            return None;
        };
        let mut spare = None;
        let mut exact = true;
        let mut k = 0;
        while k < self.slices.len() {
            if kept(self.slices[k].0) {
                k += 1;
                continue;
            }
            let Some((_, mut h)) = self.slices.remove(k) else { break };
            // A subtraction refused (saturated counts) would leave the sum wrong: rebuilt below.
            exact &= all.subtract(&h).is_ok();
            h.reset();
            spare = Some(h);
        }
        if !exact {
            all.reset();
            for (_, h) in &self.slices {
                // Same bounds everywhere: adding cannot fail.
                let _ = all.add(h);
            }
        }
        if self.slices.is_empty() {
            self.all = None;
        }
        spare
    }

    /// Percentiles over the window ending at `now`; `None` without samples.
    pub fn summary(&mut self, now: DateTime<Utc>) -> Option<LatencySummary> {
        self.expire(now.timestamp_millis().div_euclid(self.slice_ms));
        let Some(all) = &self.all else { return self.summary_of_few() };
        if all.is_empty() {
            return None;
        }
        // The middle of the value's bucket: within half the 1 % resolution either way. One pass
        // over the counts for the three (each is what `value_at_quantile` gives).
        let mut q = all.value_at_quantiles([0.50, 0.95, 0.99]).map(summary_ms);
        let (p50, p95, p99) = (q.next()?, q.next()?, q.next()?);
        Some(LatencySummary { p50, p95, p99, max: summary_ms(all.max()), samples: all.len() })
    }

    /// `summary` of the samples kept as they came: the sample a histogram would find at each
    /// quantile (the `ceil(q × count)`-th smallest, as `value_at_quantile` counts).
    fn summary_of_few(&mut self) -> Option<LatencySummary> {
        self.sorted.clear();
        self.sorted.extend(self.few.iter().map(|&(_, us)| us));
        self.sorted.sort_unstable();
        let n = self.sorted.len();
        let at = |q: f64| {
            let k = ((q * n as f64).ceil() as usize).max(1);
            self.sorted.get(k - 1).copied().map(summary_ms)
        };
        Some(LatencySummary { p50: at(0.50)?, p95: at(0.95)?, p99: at(0.99)?, max: at(1.0)?, samples: n as u64 })
    }

    /// Heap bytes held (for the memory figure in reports and benches).
    pub fn heap_bytes(&self) -> usize {
        let histograms = self.slices.len() + usize::from(self.all.is_some());
        histograms * (histogram_bytes() + std::mem::size_of::<(i64, Histogram<u32>)>())
            + self.few.capacity() * std::mem::size_of::<(i64, u64)>()
            + self.sorted.capacity() * std::mem::size_of::<u64>()
    }
}

/// Bytes of counts in one histogram of this module's shape.
pub fn histogram_bytes() -> usize {
    histogram().distinct_values() * std::mem::size_of::<u32>()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).single().unwrap_or_default()
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut w = LatencyWindow::new(Duration::from_secs(60));
        // 1..=100 ms, one each: p50 = 50, p95 = 95, p99 = 99 (within 1 %).
        for i in 1..=100u64 {
            w.record(t(i as i64 * 10), Duration::from_millis(i));
        }
        let s = w.summary(t(1000)).expect("samples");
        assert_eq!(s.samples, 100);
        for (got, want) in [(s.p50, 50.0), (s.p95, 95.0), (s.p99, 99.0), (s.max, 100.0)] {
            assert!((got - want).abs() <= want * 0.01, "got {got}, want {want}: {s:?}");
        }
    }

    #[test]
    fn old_samples_slide_out_of_the_window() {
        let mut w = LatencyWindow::new(Duration::from_secs(60));
        for i in 0..30 {
            w.record(t(i * 1000), Duration::from_millis(500));
        }
        for i in 30..60 {
            w.record(t(i * 1000), Duration::from_millis(5));
        }
        assert_eq!(w.summary(t(59_000)).map(|s| s.samples), Some(60));
        // 100 s on, only the fast half is left (the slow half is over 60 s old).
        let s = w.summary(t(95_000)).expect("fast samples remain");
        assert!(s.samples >= 20 && s.samples <= 30, "{s:?}");
        assert!(s.p99 < 6.0, "{s:?}");
        assert_eq!(w.summary(t(200_000)), None);
    }

    #[test]
    fn memory_is_bounded_whatever_the_sample_count() {
        let mut w = LatencyWindow::new(Duration::from_secs(60));
        for i in 0..36_000 {
            // an hour at 10 samples a second
            w.record(t(i * 100), Duration::from_micros(200 + (i as u64 * 7919) % 90_000));
        }
        assert!(w.slices.len() <= SLICES as usize + 1);
        assert!(w.heap_bytes() <= (SLICES as usize + 2) * (histogram_bytes() + 64));
        assert!(histogram_bytes() < 16 * 1024, "{}", histogram_bytes());
    }

    /// The slices added up afresh, as a summary once did.
    fn added_afresh(w: &LatencyWindow) -> Histogram<u32> {
        let mut all = histogram();
        for (_, h) in &w.slices {
            all.add(h).expect("same bounds");
        }
        all
    }

    /// A window that goes to histograms after `few_max` samples.
    fn window_of(few_max: usize) -> LatencyWindow {
        LatencyWindow { few_max, ..LatencyWindow::new(Duration::from_secs(60)) }
    }

    proptest::proptest! {
        /// Whatever the order of records and summaries (clock steps back and forward, gaps longer
        /// than the window): the kept sum is the slices' sum; the one-pass percentiles are each
        /// what its own scan gives; and a window that keeps its samples as they came (all of
        /// them, or a few before it goes to histograms) summarises as the histograms do.
        #[test]
        fn the_kept_sum_is_the_slices_sum_and_few_samples_summarise_as_histograms(
            ops in proptest::collection::vec((-30_000i64..90_000, 1u64..5_000_000, proptest::bool::ANY), 1..200)
        ) {
            let mut h = window_of(0);
            let (mut few, mut some) = (LatencyWindow::new(Duration::from_secs(60)), window_of(8));
            let mut now = 0i64;
            for (step, us, summarise) in ops {
                now += step;
                if summarise {
                    let got = h.summary(t(now));
                    let want = added_afresh(&h);
                    proptest::prop_assert_eq!(got.map(|s| s.samples), (!want.is_empty()).then(|| want.len()));
                    let ms = |us: u64| (want.median_equivalent(us) as f64 / 1000.0 * 100.0).round() / 100.0;
                    if let Some(s) = got {
                        let each = [0.50, 0.95, 0.99].map(|q| ms(want.value_at_quantile(q)));
                        proptest::prop_assert_eq!([s.p50, s.p95, s.p99], each);
                    }
                    proptest::prop_assert_eq!(few.summary(t(now)), got);
                    proptest::prop_assert_eq!(some.summary(t(now)), got);
                } else {
                    for w in [&mut h, &mut few, &mut some] {
                        w.record(t(now), Duration::from_micros(us));
                    }
                }
                for w in [&h, &few, &some] {
                    match &w.all {
                        Some(all) => proptest::prop_assert!(*all == added_afresh(w) && w.few.is_empty()),
                        None => proptest::prop_assert!(w.slices.is_empty() && w.few.len() <= w.few_max),
                    }
                }
            }
        }
    }

    #[test]
    fn extreme_values_are_clamped_not_lost() {
        let mut w = LatencyWindow::new(Duration::from_secs(10));
        w.record(t(0), Duration::ZERO);
        w.record(t(1), Duration::from_secs(3600));
        let s = w.summary(t(2)).expect("two samples");
        assert_eq!(s.samples, 2);
        assert!(s.max >= 59_000.0, "{s:?}");
    }
}
