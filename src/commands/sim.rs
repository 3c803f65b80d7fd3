//! `shardtop sim`: the wire simulator as a command, and the config that points shardtop at it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{CmdResult, CommandError};
use crate::cli::{SimArgs, SimFlavor};
use crate::fleet::Addr;
use crate::sim::state::{PER_SHARD, WireFlavor, WireFleet};
use crate::sim::wire::{self, WireOptions};

/// The line `sim` prints once every listener is bound (the bench waits for it).
pub const READY: &str = "shardtop sim: serving";

/// Shards of a master and two replicas, enough for `args.instances`.
fn shards(args: &SimArgs) -> usize {
    WireFleet::shards_for(args.instances)
}

/// Every served address: the instances, then the upstream.
fn addrs(args: &SimArgs) -> Result<Vec<Addr>, String> {
    let total = shards(args) * PER_SHARD + 1;
    let last = args.base_port as usize + total - 1;
    if last > u16::MAX as usize {
        return Err(format!("{total} ports from {} run past 65535: lower --base-port or --instances", args.base_port));
    }
    Ok((0..total).map(|k| Addr::new("127.0.0.1", args.base_port + k as u16)).collect())
}

/// The server the simulated instances pretend to be, as the command line names it.
fn wire_flavor(flavor: SimFlavor) -> WireFlavor {
    match flavor {
        SimFlavor::Mariadb => WireFlavor::Mariadb,
        SimFlavor::Mysql84 => WireFlavor::Mysql84,
    }
}

/// Serve the simulated fleet until Ctrl-C.
pub async fn sim(args: &SimArgs) -> CmdResult {
    let fail = |m: String| CommandError::new(1, format!("sim: {m}"));
    let flavor = wire_flavor(args.flavor);
    let addrs = addrs(args).map_err(fail)?;
    let total = addrs.len();
    let from = args.serve_from.unwrap_or(0).min(total);
    let count = args.serve_count.unwrap_or(total).min(total - from);
    let (soft, hard) = wire::raise_nofile_limit();
    // A listener and (at least) one connection per instance, plus a margin.
    let needed = 2 * count as u64 + 64;
    if soft < needed {
        eprintln!(
            "sim: warning: {count} instances need about {needed} open files; the limit is {soft} (hard {hard}). \
             Split the fleet (--serve-from/--serve-count in several processes) or raise the hard limit."
        );
    }
    let fleet = Arc::new(WireFleet::new(shards(args), flavor, addrs.clone()));
    let hung = wire::hung_instances(fleet.instances(), args.hang_percent);
    let sockets: Vec<SocketAddr> =
        addrs[from..from + count].iter().map(|a| SocketAddr::from(([127, 0, 0, 1], a.port))).collect();
    let listeners = wire::bind_all(sockets).await.map_err(|e| fail(e.to_string()))?;
    if let Some(path) = &args.config_out {
        std::fs::write(path, config_toml(&fleet, &flavor))
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    }
    let opts = WireOptions::new(Duration::from_millis(args.latency_ms), hung.clone());
    let indexed = (from..from + count).zip(listeners).collect();
    let _tasks = wire::serve(fleet.clone(), opts, indexed);
    let hung_here = hung.iter().enumerate().filter(|&(k, &h)| h && k >= from && k < from + count).count();
    println!(
        "{READY} {count} {:?} endpoints on 127.0.0.1:{}..={} ({} shards, upstream on :{}), {hung_here} hung, latency {} ms; Ctrl-C stops",
        flavor,
        addrs[from].port,
        addrs[from + count.max(1) - 1].port,
        fleet.sim.shards,
        addrs[total - 1].port,
        args.latency_ms,
    );
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await.map_err(|e| fail(format!("cannot wait for Ctrl-C: {e}")))?;
    Ok(0)
}

/// A shardtop config watching the simulated fleet: shards as the sim lays them out,
/// the upstream declared, any user and no password (the sim accepts anyone).
pub fn config_toml(fleet: &WireFleet, flavor: &WireFlavor) -> String {
    let mut out = format!(
        "# Written by `shardtop sim` ({flavor:?}, {} shards). The sim accepts any user and password.\n\
         [poll]\ninterval = \"1s\"\ntimeout = \"1s\"\nconcurrency = 256\n\n[defaults]\nuser = \"monitor\"\n",
        fleet.sim.shards
    );
    let upstream = &fleet.addrs[fleet.upstream_index()];
    for s in 0..fleet.sim.shards {
        let at = |i: usize| &fleet.addrs[s * PER_SHARD + i];
        let replicas: Vec<String> = (1..PER_SHARD).map(|i| format!("\"{}\"", at(i))).collect();
        let _ = write!(
            out,
            "\n[[shard]]\nname = \"{}\"\nmaster = \"{}\"\nreplicas = [{}]\nupstream = \"{upstream}\"\n",
            fleet.sim.shard_name(s),
            at(0),
            replicas.join(", "),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_config_loads_and_names_every_served_address() {
        let args = SimArgs {
            instances: 7,
            base_port: 26306,
            flavor: SimFlavor::Mysql84,
            hang_percent: 0.0,
            latency_ms: 0,
            config_out: None,
            serve_from: None,
            serve_count: None,
        };
        let addrs = addrs(&args).unwrap();
        assert_eq!(addrs.len(), 3 * PER_SHARD + 1, "7 instances round up to 3 shards, plus the upstream");
        let fleet = WireFleet::new(shards(&args), wire_flavor(args.flavor), addrs.clone());
        let text = config_toml(&fleet, &wire_flavor(args.flavor));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shardtop.toml");
        std::fs::write(&path, &text).unwrap();
        let cfg = crate::config::load(&path).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(cfg.config.shards.len(), 3);
        assert!(text.contains(&format!("master = \"{}\"", addrs[3])), "{text}");
        assert!(text.contains(&format!("upstream = \"{}\"", addrs[9])), "{text}");
    }

    #[test]
    fn ports_past_65535_are_refused_with_a_hint() {
        let args = SimArgs {
            instances: 100,
            base_port: 65500,
            flavor: SimFlavor::Mariadb,
            hang_percent: 0.0,
            latency_ms: 0,
            config_out: None,
            serve_from: None,
            serve_count: None,
        };
        let err = addrs(&args).unwrap_err();
        assert!(err.contains("--base-port"), "{err}");
    }
}
