//! `shardtop sim`: the wire simulator as a command, and the config that points shardtop at it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::commands::{CmdResult, CommandError};
use crate::fleet::Addr;

use super::state::{PER_SHARD, WireFlavor, WireFleet};
use super::wire::{self, WireOptions};

/// The line `sim` prints once every listener is bound (the bench waits for it).
pub const READY: &str = "shardtop sim: serving";

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Simulated instances, rounded up to whole shards of a master and two replicas;
    /// one more port serves the global upstream the shard masters replicate from.
    #[arg(long, default_value_t = 30)]
    pub instances: usize,
    /// Instance k listens on 127.0.0.1:(base-port + k). Keep the range below the
    /// ephemeral ports (often 32768+).
    #[arg(long, default_value_t = 20000)]
    pub base_port: u16,
    #[arg(long, value_enum, default_value = "mariadb")]
    pub flavor: WireFlavor,
    /// Share of instances (evenly spread) that accept connections and never answer.
    #[arg(long, default_value_t = 0.0)]
    pub hang_percent: f64,
    /// Delay before each answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Write a shardtop config for this fleet here.
    #[arg(long, value_name = "PATH")]
    pub config_out: Option<PathBuf>,
    /// Serve only instances FROM..FROM+COUNT of the fleet (splitting a large fleet across processes).
    #[arg(long, hide = true, value_name = "FROM")]
    pub serve_from: Option<usize>,
    #[arg(long, hide = true, value_name = "COUNT")]
    pub serve_count: Option<usize>,
}

impl SimArgs {
    pub fn shards(&self) -> usize {
        WireFleet::shards_for(self.instances)
    }

    /// Every served address: the instances, then the upstream.
    pub fn addrs(&self) -> Result<Vec<Addr>, String> {
        let total = self.shards() * PER_SHARD + 1;
        let last = self.base_port as usize + total - 1;
        if last > u16::MAX as usize {
            return Err(format!(
                "{total} ports from {} run past 65535: lower --base-port or --instances",
                self.base_port
            ));
        }
        Ok((0..total).map(|k| Addr::new("127.0.0.1", self.base_port + k as u16)).collect())
    }
}

pub async fn run(args: &SimArgs) -> CmdResult {
    let fail = |m: String| CommandError::new(1, format!("sim: {m}"));
    let addrs = args.addrs().map_err(fail)?;
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
    let fleet = Arc::new(WireFleet::new(args.shards(), args.flavor, addrs.clone()));
    let hung = wire::hung_instances(fleet.instances(), args.hang_percent);
    let sockets: Vec<SocketAddr> =
        addrs[from..from + count].iter().map(|a| SocketAddr::from(([127, 0, 0, 1], a.port))).collect();
    let listeners = wire::bind_all(sockets).await.map_err(|e| fail(e.to_string()))?;
    if let Some(path) = &args.config_out {
        std::fs::write(path, config_toml(&fleet, &args.flavor))
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    }
    let opts = WireOptions::new(Duration::from_millis(args.latency_ms), hung.clone());
    let indexed = (from..from + count).zip(listeners).collect();
    let _tasks = wire::serve(fleet.clone(), opts, indexed);
    let hung_here = hung.iter().enumerate().filter(|&(k, &h)| h && k >= from && k < from + count).count();
    println!(
        "{READY} {count} {:?} endpoints on 127.0.0.1:{}..={} ({} shards, upstream on :{}), {hung_here} hung, latency {} ms; Ctrl-C stops",
        args.flavor,
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
            flavor: WireFlavor::Mysql84,
            hang_percent: 0.0,
            latency_ms: 0,
            config_out: None,
            serve_from: None,
            serve_count: None,
        };
        let addrs = args.addrs().unwrap();
        assert_eq!(addrs.len(), 3 * PER_SHARD + 1, "7 instances round up to 3 shards, plus the upstream");
        let fleet = WireFleet::new(args.shards(), args.flavor, addrs.clone());
        let text = config_toml(&fleet, &args.flavor);
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
            flavor: WireFlavor::Mariadb,
            hang_percent: 0.0,
            latency_ms: 0,
            config_out: None,
            serve_from: None,
            serve_count: None,
        };
        let err = args.addrs().unwrap_err();
        assert!(err.contains("--base-port"), "{err}");
    }
}
