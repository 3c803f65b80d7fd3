//! `shardtop heartbeat`: pt-heartbeat-compatible rows written to every shard master until stopped,
//! one row per master refreshed every interval, so replicas can measure true lag
//! (Seconds_Behind_Master is only a hint). The TUI runs the same writer when `[heartbeat] write`
//! asks for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::{CmdResult, CommandError, load_config};
use crate::cli::Cli;
use crate::config;
use crate::fleet::Addr;
use crate::probe::{self, HeartbeatSpec, ProbeOptions};
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
        tasks.spawn(write_loop(move || addr.clone(), opts, spec, hb.interval, true));
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| CommandError::new(1, e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(0)
}

/// Write heartbeats to `addr` forever, reconnecting after failures. Reports
/// state changes (failing, writing again), not every beat: on stderr for the
/// `heartbeat` command, to the events pane inside the TUI.
/// `master` says where to write now: a promotion from the TUI moves it, and the writer follows
/// (the old master is read-only, and replicas' heartbeat lag would climb with nothing written).
pub async fn write_loop(
    master: impl Fn() -> Addr + Send,
    opts: Arc<ProbeOptions>,
    spec: HeartbeatSpec,
    every: Duration,
    stderr: bool,
) {
    let report = |msg: String| {
        if stderr {
            eprintln!("{msg}");
        } else {
            log::warn!(target: "heartbeat", "{msg}");
        }
    };
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn = None;
    let mut failing = false;
    let mut addr = master();
    loop {
        ticker.tick().await;
        let now = master();
        if now != addr {
            report(format!("{now}: heartbeat now written here (was {addr}: promoted)"));
            addr = now;
            conn = None;
            failing = false;
        }
        let result = tokio::time::timeout(opts.timeout, async {
            if conn.is_none() {
                conn = Some(probe::connect(&addr, &opts).await?);
            }
            match conn.as_mut() {
                Some(c) => probe::write_heartbeat(c, &spec).await,
                None => Ok(()),
            }
        })
        .await;
        let outcome = match result {
            Ok(r) => r.map_err(|e| e.message),
            Err(_) => Err(format!("no answer within {:?}", opts.timeout)),
        };
        match outcome {
            Ok(()) if failing => {
                failing = false;
                report(format!("{addr}: heartbeat writing again"));
            }
            Ok(()) => {}
            Err(e) => {
                conn = None;
                if !failing {
                    failing = true;
                    report(format!("{addr}: heartbeat failed: {e}"));
                }
            }
        }
    }
}
