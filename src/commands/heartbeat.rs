//! `shardtop heartbeat`: pt-heartbeat-compatible rows written to every shard master until stopped.

use super::{CmdResult, CommandError, load_config};
use crate::cli::Cli;
use crate::config;
use crate::fleet::Addr;
use crate::heartbeat;
use crate::probe::HeartbeatSpec;
use crate::setup::probe_options;

pub async fn heartbeat(cli: &Cli, only: &[String]) -> CmdResult {
    let loaded = load_config(cli, 1)?;
    let cfg = loaded.config;
    let Some(hb) = cfg.heartbeat.clone() else {
        return Err(CommandError::new(
            1,
            "no [heartbeat] section in the config: set `table` (e.g. \"percona.heartbeat\")",
        ));
    };
    if let Some(bad) = only.iter().find(|n| !cfg.shards.iter().any(|s| &s.name == *n)) {
        return Err(CommandError::new(1, format!("no shard named {bad:?} in the config")));
    }
    let opts = probe_options(&cfg);
    let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
    let masters: Vec<Addr> =
        cfg.shards.iter().filter(|s| only.is_empty() || only.contains(&s.name)).map(|s| s.master.clone()).collect();
    eprintln!(
        "writing heartbeats to {} every {} on {} masters",
        hb.table,
        config::format_duration(hb.interval),
        masters.len()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for addr in masters {
        let (opts, spec) = (opts.clone(), spec.clone());
        tasks.spawn(heartbeat::write_loop(move || addr.clone(), opts, spec, hb.interval, true));
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| CommandError::new(1, e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(0)
}
