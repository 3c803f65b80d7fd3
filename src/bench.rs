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
    SweepStats { instances: probes.len(), sweeps, failures, walls, cpu: cpu1.saturating_sub(cpu0), elapsed, max_rss_kib: rss }
}
