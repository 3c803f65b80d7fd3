//! Completing a shard's membership from what the servers say (replica lists, replicas' sources),
//! for the commands that poll once: `snapshot`, and the checksum that must reach every replica.

use std::sync::Arc;

use crate::config::Config;
use crate::fleet::{Addr, Fleet, Shard};
use crate::poll::{self, Slot};
use crate::probe::{ProbeOptions, Prober};
use crate::setup::{close_all, limits, probe_options, probers};

/// Every replica of `shard` the topology knows: the configured ones, and what
/// discovery finds below them (any port, chains included), with the source
/// each replicates from. The monitoring account reads; the caller acts.
pub async fn shard_replicas(cfg: Arc<Config>, shard: String) -> Vec<(Addr, Option<Addr>)> {
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else { return Vec::new() };
    let opts = probe_options(&cfg);
    let shards = vec![Shard::new(sc.name.clone(), sc.master.clone(), sc.replicas.iter().cloned(), sc.upstream.clone())];
    let mut probes = probers(&shards, &opts);
    let mut fleet = Fleet::new(shards, limits(&cfg));
    let started = tokio::time::Instant::now();
    for u in poll::sweep_once(&mut probes, cfg.poll.concurrency).await {
        fleet.apply(u.slot.shard, u.slot.instance, u.sample);
    }
    discover(&mut fleet, &mut probes, &opts, cfg.poll.concurrency, started).await;
    close_all(&mut probes).await;
    fleet.shards[0]
        .replicas()
        .iter()
        .map(|i| (i.addr.clone(), i.status.as_ref().and_then(|s| s.primary_link()).map(|l| l.source.clone())))
        .collect()
}

/// Bounds the probe → discover → probe the new ones loop (a chain this deep is a mistake anyway).
const MAX_DISCOVERY_ROUNDS: usize = 8;

/// Completes the fleet from what the servers say (replica lists, replicas'
/// sources): probes what was found, and looks again, until nothing new turns up.
pub(super) async fn discover(
    fleet: &mut Fleet,
    probes: &mut Vec<(Slot, Prober)>,
    opts: &Arc<ProbeOptions>,
    concurrency: usize,
    started: tokio::time::Instant,
) -> crate::snapshot::DiscoveryReport {
    let mut report = crate::snapshot::DiscoveryReport::default();
    for _ in 0..MAX_DISCOVERY_ROUNDS {
        let found = fleet.discover_all();
        if found.is_empty() {
            break;
        }
        report.rounds += 1;
        let mut fresh: Vec<(Slot, Prober)> = found
            .iter()
            .map(|f| (Slot { shard: f.shard, instance: f.instance }, Prober::new(f.addr.clone(), opts.clone())))
            .collect();
        for u in poll::sweep_once(&mut fresh, concurrency).await {
            fleet.apply(u.slot.shard, u.slot.instance, u.sample);
        }
        probes.extend(fresh);
        for f in found {
            let shard = fleet.shards.get(f.shard).map(|s| s.name.clone()).unwrap_or_default();
            report.found.push(crate::snapshot::FoundReport { shard, addr: f.addr, via: f.via });
        }
    }
    report.elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    report
}

/// The replicas a checksum compares: every one the topology knows. A chained
/// replica below a relay that logs rows gets the relay's checksums, not its
/// own (pt-table-checksum has the same limit): said, not hidden.
pub(super) async fn with_discovered(
    cfg: Arc<Config>,
    shard: String,
    master: Addr,
    configured: Vec<Addr>,
) -> (Vec<Addr>, Vec<String>) {
    let found = shard_replicas(cfg, shard).await;
    let mut out = configured;
    let mut warnings = Vec::new();
    for (a, source) in found {
        if let Some(s) = source.filter(|s| *s != master) {
            warnings.push(format!(
                "{a} replicates from {s}, not the master: with row-based logging on {s}, its checksums are {s}'s"
            ));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    (out, warnings)
}
