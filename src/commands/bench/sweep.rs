//! `shardtop bench`: measure sweeps — wall time per sweep and the CPU the
//! poller spends — against the configured fleet or the simulated one.
//! Timing claims live here, never in tests.

use std::time::{Duration, Instant};

use crate::poll::{self, Probe, Slot};

#[derive(Debug, Clone)]
pub struct SweepStats {
    pub instances: usize,
    pub sweeps: usize,
    pub failures: usize,
    /// Wall time of each sweep, sorted.
    pub walls: Vec<Duration>,
    /// User + system CPU of this process over all sweeps.
    pub cpu: Duration,
    pub elapsed: Duration,
    pub max_rss_kib: u64,
}

impl SweepStats {
    fn pct(&self, p: f64) -> Duration {
        if self.walls.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.walls.len() - 1) as f64 * p).round() as usize;
        self.walls[i.min(self.walls.len() - 1)]
    }

    pub fn render(&self) -> String {
        let per_probe = self.cpu.as_secs_f64() * 1e6 / (self.sweeps * self.instances).max(1) as f64;
        format!(
            "instances {}  sweeps {}  failed probes {}\n\
             sweep wall   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
             cpu          {:.2} ms per sweep, {:.0} µs per probe, {:.1}% of one core while sweeping back to back\n\
             max rss      {:.1} MiB\n",
            self.instances,
            self.sweeps,
            self.failures,
            ms(self.pct(0.5)),
            ms(self.pct(0.99)),
            ms(self.walls.last().copied().unwrap_or_default()),
            ms(self.cpu) / self.sweeps.max(1) as f64,
            per_probe,
            100.0 * self.cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9),
            self.max_rss_kib as f64 / 1024.0,
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (user + system CPU, max RSS in KiB) of this process so far.
pub fn usage() -> (Duration, u64) {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (Duration::ZERO, 0);
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss as u64)
}

/// Feed probe rounds: wall time per round (the slowest shard) and client CPU.
pub async fn feed_rounds(prober: &mut crate::probe::feed::FeedProber, rounds: usize) -> String {
    prober.round().await; // connects and prepares
    let (cpu0, _) = usage();
    let mut walls = Vec::with_capacity(rounds);
    let mut failed = 0;
    let mut shards = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let r = prober.round().await;
        walls.push(t.elapsed());
        shards = r.results.len();
        failed += r.results.iter().flatten().filter(|x| x.outcome.is_err()).count();
    }
    let (cpu1, _) = usage();
    walls.sort();
    let pct = |p: f64| walls.get(((walls.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or_default();
    format!(
        "feed rounds  {rounds} over {shards} shards, failed queries {failed}\n\
         feed wall    p50 {:.2} ms  p99 {:.2} ms  (one prepared statement per shard per round)\n\
         feed cpu     {:.0} µs per round\n",
        ms(pct(0.5)),
        ms(pct(0.99)),
        cpu1.saturating_sub(cpu0).as_secs_f64() * 1e6 / rounds.max(1) as f64,
    )
}

/// Memory the fleet model holds per series after a simulated hour of the demo
/// (a sweep a second, four feed rounds a second): bounded, whatever the uptime.
pub fn series_memory(shards: usize) -> String {
    use crate::fleet::{Fleet, Limits};
    use crate::sim::SimFleet;
    let sim = SimFleet { shards, ..SimFleet::default() };
    let mut fleet = Fleet::new(sim.layout(), Limits::default());
    let epoch = chrono::Utc::now();
    let at = |t: f64| epoch + chrono::Duration::milliseconds((t * 1000.0) as i64);
    for sec in 0..3600u64 {
        let t = sec as f64;
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                let sample = crate::fleet::status::Sample {
                    at: at(t),
                    elapsed: Duration::from_millis(2),
                    result: sim.status_at(s, i, t),
                };
                fleet.apply(s, i, sample);
            }
        }
        for k in 0..4u64 {
            let tt = t + k as f64 * 0.25;
            let mut round = sim.feed_round(tt, sec * 4 + k);
            round.at = at(tt);
            fleet.apply_feed(&round);
        }
    }
    let s = &fleet.shards[0];
    let history = s.qps_history.heap_bytes();
    let window = s.feed.window.heap_bytes();
    let per_shard = history * 2
        + window
        + s.instances.iter().map(|i| i.qps_history.heap_bytes() + i.lag_history.heap_bytes()).sum::<usize>();
    format!(
        "memory after a simulated hour ({} shards × {} instances, 3,600 sweeps, 14,400 feed rounds):\n\
         \x20 history series (QPS, lag, feed p99; {} points)  {} B each\n\
         \x20 feed latency window (HDR, {} slices)            {} B per shard and for the fan-out\n\
         \x20 all series of one shard                          {:.1} KiB\n",
        sim.shards,
        sim.replicas + 1,
        s.qps_history.len(),
        history,
        crate::fleet::latency::SLICES,
        window,
        per_shard as f64 / 1024.0,
    )
}

/// Run one warm-up sweep (connections are made there), then `sweeps` measured ones.
pub async fn run<P: Probe>(probes: &mut [(Slot, P)], concurrency: usize, sweeps: usize) -> SweepStats {
    poll::sweep_once(probes, concurrency).await;
    let (cpu0, _) = usage();
    let start = Instant::now();
    let mut walls = Vec::with_capacity(sweeps);
    let mut failures = 0;
    for _ in 0..sweeps {
        let t = Instant::now();
        let got = poll::sweep_once(probes, concurrency).await;
        walls.push(t.elapsed());
        failures += got.iter().filter(|u| u.sample.result.is_err()).count();
    }
    let elapsed = start.elapsed();
    let (cpu1, rss) = usage();
    walls.sort();
    SweepStats {
        instances: probes.len(),
        sweeps,
        failures,
        walls,
        cpu: cpu1.saturating_sub(cpu0),
        elapsed,
        max_rss_kib: rss,
    }
}
