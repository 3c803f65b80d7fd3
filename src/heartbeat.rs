//! A pt-heartbeat-compatible writer: one row per master, refreshed every
//! interval, so replicas can measure true lag (Seconds_Behind_Master is only
//! a hint). Off unless run (`shardtop heartbeat`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::fleet::Addr;
use crate::probe::{self, HeartbeatSpec, ProbeOptions};

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
