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

#[derive(Clone, Debug)]
pub struct LatencyWindow {
    slice_ms: i64,
    /// (slice number = timestamp_ms / slice_ms, histogram), oldest first.
    slices: VecDeque<(i64, Histogram<u32>)>,
    /// The slices added up, kept as they come and go: a summary reads it rather than adding six
    /// histograms into a fresh one (a feed round summarises every shard's window, and a replay's
    /// seek feeds a minute of rounds at once: that adding was a third of such a seek).
    all: Histogram<u32>,
}

impl LatencyWindow {
    pub fn new(window: Duration) -> Self {
        let slice_ms = (window.as_millis() as i64 / i64::from(SLICES)).max(1);
        LatencyWindow { slice_ms, slices: VecDeque::new(), all: histogram() }
    }

    /// The whole window's length.
    pub fn window(&self) -> Duration {
        Duration::from_millis((self.slice_ms * i64::from(SLICES)) as u64)
    }

    pub fn record(&mut self, at: DateTime<Utc>, latency: Duration) {
        let n = at.timestamp_millis().div_euclid(self.slice_ms);
        let spare = self.expire(n);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(LOWEST_US, HIGHEST_US);
        self.all.saturating_record(us);
        match self.slices.iter_mut().find(|(k, _)| *k == n) {
            Some((_, h)) => h.saturating_record(us),
            None => {
                // A slice that just left the window is reused (no fresh 10 KiB to fault in).
                let mut h = spare.unwrap_or_else(histogram);
                h.saturating_record(us);
                // Out-of-order samples are rare (clock steps); keep the deque sorted anyway.
                let pos = self.slices.iter().position(|(k, _)| *k > n).unwrap_or(self.slices.len());
                self.slices.insert(pos, (n, h));
            }
        }
    }

    /// Drops slices that have left the window ending in slice `now` (and any from a clock that
    /// stepped back), taking them out of the sum; returns one of them, emptied, for reuse.
    fn expire(&mut self, now: i64) -> Option<Histogram<u32>> {
        let oldest = now - i64::from(SLICES) + 1;
        let mut spare = None;
        let mut exact = true;
        let mut k = 0;
        while k < self.slices.len() {
            let n = self.slices[k].0;
            if n >= oldest && n <= now + 1 {
                k += 1;
                continue;
            }
            let Some((_, mut h)) = self.slices.remove(k) else { break };
            // A subtraction refused (saturated counts) would leave the sum wrong: rebuilt below.
            exact &= self.all.subtract(&h).is_ok();
            h.reset();
            spare = Some(h);
        }
        if !exact {
            self.all.reset();
            for (_, h) in &self.slices {
                // Same bounds everywhere: adding cannot fail.
                let _ = self.all.add(h);
            }
        }
        spare
    }

    /// Percentiles over the window ending at `now`; `None` without samples.
    pub fn summary(&mut self, now: DateTime<Utc>) -> Option<LatencySummary> {
        self.expire(now.timestamp_millis().div_euclid(self.slice_ms));
        let all = &self.all;
        if all.is_empty() {
            return None;
        }
        // The middle of the value's bucket: within half the 1 % resolution either way.
        let ms = |us: u64| (all.median_equivalent(us) as f64 / 1000.0 * 100.0).round() / 100.0;
        // One pass over the counts for the three (each is what `value_at_quantile` gives): a
        // feed round summarises every shard's window.
        let mut q = all.value_at_quantiles([0.50, 0.95, 0.99]).map(ms);
        let (p50, p95, p99) = (q.next()?, q.next()?, q.next()?);
        Some(LatencySummary { p50, p95, p99, max: ms(all.max()), samples: all.len() })
    }

    /// Heap bytes held (for the memory figure in reports and benches).
    pub fn heap_bytes(&self) -> usize {
        (self.slices.len() + 1) * (histogram_bytes() + std::mem::size_of::<(i64, Histogram<u32>)>())
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

    proptest::proptest! {
        /// Whatever the order of records and summaries (clock steps back and forward, gaps longer
        /// than the window), the kept sum is the slices' sum.
        #[test]
        fn the_kept_sum_is_the_slices_sum(
            ops in proptest::collection::vec((-30_000i64..90_000, 1u64..5_000_000, proptest::bool::ANY), 1..200)
        ) {
            let mut w = LatencyWindow::new(Duration::from_secs(60));
            let mut now = 0i64;
            for (step, us, summarise) in ops {
                now += step;
                if summarise {
                    let got = w.summary(t(now));
                    let want = added_afresh(&w);
                    proptest::prop_assert_eq!(got.map(|s| s.samples), (!want.is_empty()).then(|| want.len()));
                    // The one-pass percentiles are each what its own scan gives.
                    let ms = |us: u64| (want.median_equivalent(us) as f64 / 1000.0 * 100.0).round() / 100.0;
                    if let Some(s) = got {
                        let each = [0.50, 0.95, 0.99].map(|q| ms(want.value_at_quantile(q)));
                        proptest::prop_assert_eq!([s.p50, s.p95, s.p99], each);
                    }
                } else {
                    w.record(t(now), Duration::from_micros(us));
                }
                proptest::prop_assert!(w.all == added_afresh(&w));
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
