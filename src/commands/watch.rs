//! `shardtop watch` (hidden, test tooling): the TUI's model without a terminal. The same poller,
//! discovery hand-off and `App::update` as the TUI, fed the same messages; instead of drawing,
//! every fleet event and, every `status_every`, the state of every server go to stdout as JSON
//! lines. The fault-injection soak (`scripts/soak`, `tests/integration/soak.rs`) runs it as a
//! process of its own, so its memory, sockets and CPU are measured alone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::polling::Polling;
use super::{CmdResult, CommandError, load_config};
use crate::cli::Cli;
use crate::fleet::Fleet;
use crate::poll::{AddInstance, SlotMap};
use crate::ui::app::{App, Effect, Message};
use crate::ui::theme::Theme;

/// How often the model's clock moves on (as the TUI's loop does).
const TICK: Duration = Duration::from_millis(250);

pub async fn watch(cli: &Cli, status_every: Duration, duration: Option<Duration>) -> CmdResult {
    let loaded = load_config(cli, 1)?;
    let cfg = loaded.config;
    let (tx, mut rx) = mpsc::channel::<Message>(4096);
    // The servers only: no feed probe, no metrics sources.
    let (fleet, _, mut poller) = Polling::new(&cfg)?.start(&tx)?;
    drop(tx);
    let mut app = App::new(fleet, Theme::plain(), "watch", cfg.poll.interval);
    let signals = |kind| signal(kind).map_err(|e| CommandError::new(3, format!("cannot watch signals: {e}")));
    let (mut sigterm, mut sigint) = (signals(SignalKind::terminate())?, signals(SignalKind::interrupt())?);
    let mut clock = tokio::time::interval(TICK);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut status = tokio::time::interval(status_every.max(Duration::from_millis(100)));
    status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = duration.map(|d| tokio::time::Instant::now() + d);
    let mut slots = SlotMap::default();
    let mut samples: u64 = 0;
    let mut out = std::io::stdout().lock();
    loop {
        let mut effects = Vec::new();
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { return Err(CommandError::new(3, "the polling thread stopped")) };
                samples += u64::from(matches!(m, Message::Sample(_)));
                effects.extend(crate::ui::deliver(&mut app, &mut slots, m));
            }
            _ = clock.tick() => effects.extend(crate::ui::deliver(&mut app, &mut slots, Message::Tick(Utc::now()))),
            _ = status.tick() => line(&mut out, &status_line(&app.fleet, Utc::now(), samples))?,
            _ = tokio::time::sleep_until(end.unwrap_or_else(tokio::time::Instant::now)), if end.is_some() => return Ok(0),
            _ = sigterm.recv() => return Ok(0),
            _ = sigint.recv() => return Ok(0),
        }
        for effect in effects {
            match effect {
                Effect::Events(events) => {
                    let now = Utc::now();
                    for e in events {
                        let j = json!({
                            "type": "event", "t": millis(now), "shard": e.shard, "severity": e.severity,
                            "rule": e.rule, "message": e.message,
                        });
                        line(&mut out, &j)?;
                    }
                }
                Effect::AddInstances(found) => {
                    for (slot, addr) in &found {
                        poller.add_instance(*slot, addr);
                    }
                }
                // Applied by `deliver`; no actions run here.
                Effect::SwapMaster { .. } | Effect::Action(_) | Effect::TimeTravel => {}
            }
        }
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Every server as the model sees it now: its data's age, the last probe, the error and findings.
fn status_line(fleet: &Fleet, now: DateTime<Utc>, samples: u64) -> serde_json::Value {
    let since = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_milliseconds());
    let instances: Vec<serde_json::Value> = fleet
        .shards
        .iter()
        .flat_map(|s| {
            s.instances.iter().map(move |i| {
                json!({
                    "shard": s.name, "addr": i.addr.to_string(), "role": i.role,
                    "age_ms": since(i.last_ok), "probed_ms": since(i.last_probe), "probe_ms": i.probe_ms,
                    "error": i.error.as_ref().map(|e| format!("{:?}", e.kind)), "qps": i.qps,
                    "problems": i.problems.iter().map(|p| p.rule).collect::<Vec<_>>(), "gone": i.gone,
                    "discovered": i.discovered_via.is_some(),
                })
            })
        })
        .collect();
    let states: Vec<serde_json::Value> = fleet
        .shards
        .iter()
        .map(|s| json!({ "shard": s.name, "master_state": s.master_state.as_ref().map(|m| format!("{m:?}")) }))
        .collect();
    json!({ "type": "status", "t": millis(now), "samples": samples, "instances": instances, "shards": states })
}

/// One JSON line, flushed at once (the reader is a pipe); a closed pipe ends the command.
fn line(out: &mut impl std::io::Write, value: &serde_json::Value) -> Result<(), CommandError> {
    writeln!(out, "{value}")
        .and_then(|()| out.flush())
        .map_err(|e| CommandError::new(1, format!("watch: writing to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Addr, Limits, Shard};

    #[test]
    fn a_status_line_names_every_server_and_its_findings() {
        let shard = Shard::new("s1", Addr::new("m", 3306), [Addr::new("r", 3306)], None);
        let fleet = Fleet::new(vec![shard], Limits::default());
        let j = status_line(&fleet, Utc::now(), 7);
        assert_eq!(j["samples"], 7);
        let instances = j["instances"].as_array().expect("instances");
        assert_eq!(instances.len(), 2);
        assert_eq!(instances[1]["addr"], "r:3306");
        assert_eq!(instances[1]["role"], "replica");
        assert_eq!(instances[1]["problems"], json!(["no_data"]));
        assert_eq!(instances[1]["age_ms"], serde_json::Value::Null);
        assert_eq!(j["shards"][0]["shard"], "s1");
    }
}
