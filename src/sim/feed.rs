//! The simulated fleet's feed probe: latencies as a pure function of shard,
//! time and round, with a scripted slow spell, and the dead master's shard
//! refusing while it is down.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{CYCLE_SECS, SimFleet, script};
use crate::fleet::status::{ProbeError, ProbeErrorKind};
use crate::fleet::{FeedResult, FeedRound};

fn within(t: f64, w: (f64, f64)) -> bool {
    t >= w.0 && t < w.1
}

/// A cheap deterministic hash to [0, 1).
fn noise(a: u64, b: u64) -> f64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl SimFleet {
    /// Feed latency of shard `s` in round `n` at `t` seconds, or why it failed.
    pub fn feed_at(&self, s: usize, t: f64, n: u64) -> Result<Duration, ProbeError> {
        let c = t.rem_euclid(CYCLE_SECS);
        if s == script::DEAD_SHARD && within(c, script::DEAD_WINDOW) {
            return Err(ProbeError {
                kind: ProbeErrorKind::Refused,
                message: format!("connect to {}: connection refused", self.addr(s, 0)),
            });
        }
        let base = 2.0 + (s * 5 % 7) as f64;
        let r = noise(s as u64, n);
        // A long tail: one query in fifty takes several times the usual.
        let mut ms = base * (0.7 + 0.6 * r) * if noise(n, s as u64 + 99) < 0.02 { 4.0 } else { 1.0 };
        if s == script::SLOW_FEED_SHARD && within(c, script::SLOW_FEED_WINDOW) {
            ms += 55.0 + 30.0 * r;
        }
        Ok(Duration::from_micros((ms * 1000.0) as u64))
    }

    pub fn feed_round(&self, t: f64, n: u64) -> FeedRound {
        let results = (0..self.shards)
            .map(|s| {
                let (elapsed, outcome) = match self.feed_at(s, t, n) {
                    Ok(d) => (d, Ok(10)),
                    Err(e) => (Duration::from_micros(300), Err(e)),
                };
                Some(FeedResult { instance: self.addr(s, 0), elapsed, outcome })
            })
            .collect();
        FeedRound { at: Utc::now(), user_id: 1 + n % 1000, results }
    }

    /// Rounds every `interval` until the receiver goes away.
    pub async fn run_feed<T: From<FeedRound>>(self, interval: Duration, tx: mpsc::Sender<T>) {
        let start = tokio::time::Instant::now();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for n in 0.. {
            ticker.tick().await;
            let round = self.feed_round(start.elapsed().as_secs_f64(), n);
            if tx.send(round.into()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, Health, Limits};

    fn fed(from: f64, to: f64) -> Fleet {
        let sim = SimFleet::default();
        let mut f = Fleet::new(sim.layout(), Limits::default());
        let epoch = Utc::now();
        let mut n = 0;
        let mut t = from;
        while t < to {
            let mut r = sim.feed_round(t, n);
            r.at = epoch + chrono::Duration::milliseconds((t * 1000.0) as i64);
            f.apply_feed(&r);
            n += 1;
            t += 0.5;
        }
        f
    }

    #[test]
    fn quiet_feed_is_fast_and_the_slow_spell_warns() {
        let f = fed(0.0, 30.0);
        let fan = f.fanout.summary.expect("fan-out");
        assert!(fan.p50 > 2.0 && fan.p99 < 50.0, "{fan:?}");
        assert!(f.shards.iter().all(|s| !s.all_problems().any(|p| p.rule.starts_with("feed"))));
        let (a, b) = script::SLOW_FEED_WINDOW;
        let f = fed(a - 20.0, b);
        let slow = &f.shards[script::SLOW_FEED_SHARD];
        let p = slow.all_problems().find(|p| p.rule == "feed_latency").expect("slow feed found");
        assert!(p.severity >= Health::Warning, "{p:?}");
        assert!(f.fanout.p99().unwrap_or(0.0) > 50.0, "the fan-out waits for the slow shard");
    }

    #[test]
    fn dead_master_fails_its_feed() {
        let f = fed(script::DEAD_WINDOW.0, script::DEAD_WINDOW.0 + 5.0);
        let dead = &f.shards[script::DEAD_SHARD];
        assert_eq!(dead.feed.last_error.as_ref().map(|e| e.kind), Some(ProbeErrorKind::Refused));
        assert!(dead.all_problems().any(|p| p.rule == "feed_error"));
    }
}
