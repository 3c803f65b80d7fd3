//! `shardtop bench --wire 100,1000,10000`: the real poller (`poll::Poller` over real
//! `probe::Prober`s, as the TUI runs it) against the wire simulator, which runs in
//! child processes so this process's CPU (getrusage RUSAGE_SELF) is the poller's alone.
//! Timing claims live here, never in tests.

use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sweep::usage;
use crate::commands::sim::READY;
use crate::fleet::Addr;
use crate::poll::{Poller, Schedule, Slot, Update};
use crate::probe::{ProbeOptions, Prober, Tls};
use crate::sim::state::WireFleet;
use crate::sim::wire;

/// Endpoints per simulator process (a listener and a connection each, under a 20,000 fd limit).
const PER_CHILD: usize = 4000;
const HANG_PERCENT: f64 = 1.0;
const CONCURRENCY: usize = 256;
const TIMEOUT: Duration = Duration::from_secs(1);

/// What one run measured.
pub struct Run {
    pub instances: usize,
    pub interval: Duration,
    pub hung: usize,
    pub rounds: usize,
    pub probes_ok: usize,
    pub probes_failed: usize,
    /// Per-probe wall time of the healthy instances, sorted.
    pub probe_walls: Vec<Duration>,
    /// Per round: the time from the round's start to its last healthy probe's answer, sorted.
    pub sweep_walls: Vec<Duration>,
    /// Per round: how late the latest healthy answer was against its slot in the spread schedule, sorted.
    pub overruns: Vec<Duration>,
    /// Per burst sweep (every instance at once, as `snapshot` does, `CONCURRENCY` at a time):
    /// the time to the last healthy answer, sorted.
    pub bursts: Vec<Duration>,
    pub cpu_share: f64,
    pub cpu_per_probe: Duration,
    pub rss_mib: f64,
    pub sockets: usize,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn interval_for(instances: usize) -> Duration {
    if instances <= 1000 { Duration::from_secs(1) } else { Duration::from_secs(5) }
}

/// Current resident set of this process, in MiB (VmRSS).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Open sockets of this process.
fn sockets() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    dir.flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
        .count()
}

/// Starts the simulator in child processes and waits until each is listening.
async fn start_sims(instances: usize, hang_percent: f64, base_port: u16) -> Result<Vec<Child>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let total = WireFleet::shards_for(instances) * crate::sim::state::PER_SHARD + 1;
    let mut children = Vec::new();
    for from in (0..total).step_by(PER_CHILD) {
        let mut child = Command::new(&exe)
            .args(["sim", "--instances", &instances.to_string(), "--base-port", &base_port.to_string()])
            .args(["--hang-percent", &hang_percent.to_string()])
            .args(["--serve-from", &from.to_string(), "--serve-count", &PER_CHILD.to_string()])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let stdout = child.stdout.take().ok_or("simulator has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with(READY) {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            return Err(format!("the simulator for endpoints {from}.. did not start (see its stderr)"));
        }
        children.push(child);
    }
    Ok(children)
}

/// One scenario: `instances` polled every interval for `rounds` measured rounds after one warm-up round.
pub async fn run(instances: usize, rounds: usize, hang_percent: f64, base_port: u16) -> Result<Run, String> {
    let mut children = start_sims(instances, hang_percent, base_port).await?;
    let fleet_instances = WireFleet::shards_for(instances) * crate::sim::state::PER_SHARD;
    let hung = wire::hung_instances(fleet_instances, hang_percent);
    let interval = interval_for(instances);
    let opts = Arc::new(ProbeOptions {
        user: "monitor".into(),
        password: None,
        tls: Tls::Disabled,
        timeout: TIMEOUT,
        heartbeat: None,
    });
    let probes: Vec<(Slot, Prober)> = (0..fleet_instances)
        .map(|k| {
            let addr = Addr::new("127.0.0.1", base_port + k as u16);
            (Slot { shard: k, instance: 0 }, Prober::new(addr, opts.clone()))
        })
        .collect();
    let n = probes.len();
    let (tx, mut rx) = mpsc::channel::<Update>(n.max(16));
    let t0 = Instant::now();
    let poller = Poller::spawn_threaded(probes, Schedule { interval, concurrency: CONCURRENCY }, tx)
        .map_err(|e| format!("cannot start the polling thread: {e}"))?;

    // Round 0 connects everyone; measure from round 1.
    let measure_from = t0 + interval;
    let end = t0 + interval * (rounds as u32 + 1);
    let mut cpu0 = None;
    let mut seen = vec![0usize; n];
    let mut probe_walls = Vec::new();
    let mut latest = vec![None::<Instant>; rounds + 1];
    let mut overrun = vec![Duration::ZERO; rounds + 1];
    let (mut ok, mut failed) = (0, 0);
    let mut remaining = hung.iter().filter(|&&h| !h).count();
    let grace = end + TIMEOUT * 2;
    while let Ok(Some(update)) = tokio::time::timeout_at(grace, rx.recv()).await {
        let now = Instant::now();
        if cpu0.is_none() && now >= measure_from {
            cpu0 = Some((usage().0, now));
        }
        let k = update.slot.shard;
        let round = seen[k];
        seen[k] += 1;
        if round == 0 || round > rounds || hung[k] {
            if hung[k] && round <= rounds {
                failed += usize::from(update.sample.result.is_err());
            }
            continue;
        }
        match &update.sample.result {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
        probe_walls.push(update.sample.elapsed);
        latest[round] = Some(latest[round].map_or(now, |l: Instant| l.max(now)));
        let scheduled = t0 + interval * round as u32 + crate::poll::spread_offset(interval, k, n);
        overrun[round] = overrun[round].max(now.saturating_duration_since(scheduled));
        if round == rounds {
            remaining -= 1;
            if remaining == 0 {
                break;
            }
        }
    }
    let (cpu1, _) = usage();
    let (cpu_start, wall_start) = cpu0.unwrap_or((cpu1, Instant::now()));
    let wall = wall_start.elapsed();
    let rss = rss_mib();
    let socks = sockets();
    drop(poller);
    let bursts = burst_sweeps(fleet_instances, &hung, &opts, rounds, base_port).await;
    // Wait for the simulators to be gone, so the next run can listen on the same ports.
    for child in &mut children {
        let _ = child.kill().await;
    }
    let cpu = cpu1.saturating_sub(cpu_start);
    let mut sweep_walls: Vec<Duration> =
        (1..=rounds).filter_map(|r| latest[r].map(|l| l.saturating_duration_since(t0 + interval * r as u32))).collect();
    let mut overruns: Vec<Duration> = overrun[1..].to_vec();
    probe_walls.sort();
    sweep_walls.sort();
    overruns.sort();
    let probes = (ok + failed).max(1);
    Ok(Run {
        instances: n,
        interval,
        hung: hung.iter().filter(|&&h| h).count(),
        rounds,
        probes_ok: ok,
        probes_failed: failed,
        probe_walls,
        sweep_walls,
        overruns,
        bursts,
        cpu_share: cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        cpu_per_probe: cpu / probes as u32,
        rss_mib: rss,
        sockets: socks,
    })
}

/// `rounds` sweeps of every instance at once (after one that connects), as `snapshot` runs them:
/// for each, the time from its start to the last healthy instance's answer. Hung instances are
/// in the sweep, holding a concurrency permit each until their timeout.
async fn burst_sweeps(
    instances: usize,
    hung: &[bool],
    opts: &Arc<ProbeOptions>,
    rounds: usize,
    base_port: u16,
) -> Vec<Duration> {
    let mut probes: Vec<(Slot, Prober)> = (0..instances)
        .map(|k| {
            let addr = Addr::new("127.0.0.1", base_port + k as u16);
            (Slot { shard: k, instance: 0 }, Prober::new(addr, opts.clone()))
        })
        .collect();
    crate::poll::sweep_once(&mut probes, CONCURRENCY).await;
    let mut walls = Vec::new();
    for _ in 0..rounds {
        let started = chrono::Utc::now();
        let updates = crate::poll::sweep_once(&mut probes, CONCURRENCY).await;
        let last = updates.iter().filter(|u| !hung[u.slot.shard]).map(|u| u.sample.at).max();
        if let Some(last) = last {
            walls.push((last - started).to_std().unwrap_or_default());
        }
    }
    crate::setup::close_all(&mut probes).await;
    walls.sort();
    walls
}

pub fn table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| instances | interval | hung | rounds | probes ok / failed | probe p50 / p99 (healthy) | sweep p50 / p99 | late p99 | burst sweep p50 / p99 | poller CPU | CPU per probe | RSS | sockets |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "| {} | {} s | {} | {} | {} / {} | {:.2} / {:.2} ms | {:.0} / {:.0} ms | {:.1} ms | {:.0} / {:.0} ms | {:.1} % | {:.0} µs | {:.0} MiB | {} |",
            r.instances,
            r.interval.as_secs(),
            r.hung,
            r.rounds,
            r.probes_ok,
            r.probes_failed,
            ms(pct(&r.probe_walls, 0.5)),
            ms(pct(&r.probe_walls, 0.99)),
            ms(pct(&r.sweep_walls, 0.5)),
            ms(pct(&r.sweep_walls, 0.99)),
            ms(pct(&r.overruns, 0.99)),
            ms(pct(&r.bursts, 0.5)),
            ms(pct(&r.bursts, 0.99)),
            100.0 * r.cpu_share,
            r.cpu_per_probe.as_secs_f64() * 1e6,
            r.rss_mib,
            r.sockets,
        );
    }
    out
}

/// Every size, without and with 1 % hung instances.
pub async fn report(sizes: &[usize], rounds: usize, base_port: u16) -> Result<String, String> {
    let (soft, hard) = wire::raise_nofile_limit();
    let mut runs = Vec::new();
    for &size in sizes {
        if size + 64 > soft as usize {
            return Err(format!("{size} instances need more open files than the limit {soft} (hard {hard})"));
        }
        for hang in [0.0, HANG_PERCENT] {
            eprintln!("bench: {size} instances, {hang} % hung …");
            if usize::from(base_port) + size + 4 > 32768 {
                return Err(format!(
                    "{size} instances from port {base_port} reach the ephemeral ports (32768+): lower --wire-base-port"
                ));
            }
            runs.push(run(size, rounds, hang, base_port).await?);
        }
    }
    Ok(table(&runs))
}
