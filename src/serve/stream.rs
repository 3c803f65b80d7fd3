//! The live stream of model changes: once per sweep, the fields of each shard's summary that
//! changed and the sweep's events, as one JSON frame. A viewer that connects gets every shard's
//! summary first, then the changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{Sweep, SweepConsumer};
use crate::fleet::{Health, Shard};

/// Frames a slow viewer may fall behind by before it misses some (it is then told to resync).
const BACKLOG: usize = 64;

/// Where the publisher puts frames and viewers take them.
pub struct Hub {
    tx: broadcast::Sender<Arc<str>>,
    /// Every shard's last summary, by name, for viewers that connect.
    last: Mutex<HashMap<String, Value>>,
    order: Mutex<Vec<String>>,
    /// The fleet's health and counts as last sent (`null` before the first sweep).
    fleet: Mutex<Value>,
    /// Whether a sweep has closed: before it the collector knows no shard's state.
    swept: tokio::sync::watch::Sender<bool>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            tx: broadcast::channel(BACKLOG).0,
            last: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            fleet: Mutex::new(Value::Null),
            swept: tokio::sync::watch::channel(false).0,
        })
    }

    /// Until the first sweep has been published: a viewer that connects to a collector in its
    /// first interval would otherwise lay out no shard at all.
    pub async fn first_sweep(&self) {
        let mut rx = self.swept.subscribe();
        let _ = rx.wait_for(|swept| *swept).await;
    }

    /// The frame with every shard's summary, and a receiver for what follows it: taken together,
    /// so no change falls between the two.
    pub fn subscribe(&self) -> (String, broadcast::Receiver<Arc<str>>) {
        let last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let order = self.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let shards: Vec<&Value> = order.iter().filter_map(|n| last.get(n)).collect();
        let mut frame = serde_json::json!({ "kind": "full", "shards": shards });
        let fleet = self.fleet.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(f), Value::Object(fleet)) = (frame.as_object_mut(), &*fleet) {
            f.extend(fleet.clone());
        }
        (frame.to_string(), self.tx.subscribe())
    }

    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// A shard as viewers see it in the stream.
#[derive(Serialize)]
struct Summary<'a> {
    name: &'a str,
    health: Health,
    master: String,
    master_state: Option<&'static str>,
    replicas_up: usize,
    replicas_total: usize,
    worst_lag_seconds: Option<Value>,
    /// Two significant figures: a busy shard's rate changes every sweep in its last digits.
    qps: Option<Value>,
    feed_p99_ms: Option<Value>,
    problems: Vec<ProblemSummary<'a>>,
    /// Each server's role, threads, source, lag, read_only and health (`members`).
    members: Value,
}

#[derive(Serialize)]
struct ProblemSummary<'a> {
    severity: Health,
    rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    message: &'a str,
}

fn summary(s: &Shard) -> Value {
    use crate::fleet::death::MasterState;
    let state = s.master_state.as_ref().map(|m| match m {
        MasterState::Up => "up",
        MasterState::Suspect { .. } => "suspect",
        MasterState::Unreachable { .. } => "unreachable",
        MasterState::Dead { .. } => "dead",
    });
    let sum = Summary {
        name: &s.name,
        health: s.health,
        master: s.master().addr.to_string(),
        master_state: state,
        replicas_up: s.replicas_up(),
        replicas_total: s.replicas().iter().filter(|i| !i.gone).count(),
        worst_lag_seconds: s.worst_lag().map(number),
        qps: s.qps().map(significant2).map(number),
        feed_p99_ms: s.feed.summary.map(|f| f.p99).filter(|v| !v.is_nan()).map(significant2).map(number),
        problems: s
            .all_problems()
            .map(|p| ProblemSummary {
                severity: p.severity,
                rule: p.rule,
                instance: p.instance.as_ref().map(ToString::to_string),
                message: &p.message,
            })
            .collect(),
        members: super::members::members(s),
    };
    serde_json::to_value(sum).unwrap_or(Value::Null)
}

/// A whole number without its `.0` (`5700`, not `5700.0`): most rates and lags are whole.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 { Value::from(v as i64) } else { Value::from(v) }
}

/// `v` to two significant figures (1234 → 1200, 0.0456 → 0.046).
fn significant2(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// How far a shard's QPS may move from what viewers were last sent before it is sent again: a
/// busy shard's rate changes every sweep, and re-sending it is most of a busy fleet's stream.
const QPS_BAND: f64 = 0.05;

/// Keep the QPS viewers have when the new one is within `QPS_BAND` of it.
fn keep_rate_within_band(was: &Value, now: &mut Value) {
    let (Some(old), Some(new)) = (was["qps"].as_f64(), now["qps"].as_f64()) else { return };
    if old > 0.0 && ((new - old) / old).abs() < QPS_BAND {
        now["qps"] = was["qps"].clone();
    }
}

/// Keep the problems viewers have when only their words changed (a lag problem's message says
/// the lag, which moves every sweep): the same rules on the same servers at the same severities.
fn keep_problems_with_same_rules(was: &Value, now: &mut Value) {
    let key = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array()
            .map(|ps| ps.iter().map(|p| (p["severity"].clone(), p["rule"].clone(), p["instance"].clone())).collect())
            .unwrap_or_default()
    };
    if key(&was["problems"]) == key(&now["problems"]) {
        now["problems"] = was["problems"].clone();
    }
}

/// The fields of `now` that differ from `was`, with the shard's name; `None` when none do. A
/// field that became unknown is sent as `null`.
fn delta(was: &Value, now: &Value) -> Option<Value> {
    let (Some(was), Some(now)) = (was.as_object(), now.as_object()) else { return Some(now.clone()) };
    let mut out = serde_json::Map::new();
    for (k, v) in now {
        if k == "members" {
            // Members change one field at a time: only those go (`members::delta`).
            if let Some(d) = super::members::delta(&was[k.as_str()], v) {
                out.insert(k.clone(), d);
            }
        } else if was.get(k) != Some(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(Value::Object(out))
}

/// The stream's consumer: diffs each shard's summary against the last one sent, and sends only
/// the fields that changed.
pub struct Publisher {
    hub: Arc<Hub>,
}

impl Publisher {
    pub fn new(hub: Arc<Hub>) -> Publisher {
        Publisher { hub }
    }
}

impl SweepConsumer for Publisher {
    fn name(&self) -> &str {
        "stream"
    }

    fn on_sweep(&mut self, sweep: &Sweep<'_>) {
        let mut last = self.hub.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Keyed by the shard's name: a busy fleet's frames are mostly a few fields of many shards,
        // and `{"name":…}` around each was a third of their bytes.
        let mut changed = serde_json::Map::new();
        for s in &sweep.fleet.shards {
            let mut now = summary(s);
            match last.get(&s.name) {
                None => {
                    last.insert(s.name.clone(), now.clone());
                    changed.insert(s.name.clone(), now);
                }
                Some(was) => {
                    keep_rate_within_band(was, &mut now);
                    keep_problems_with_same_rules(was, &mut now);
                    super::members::keep_lags_within_band(&was["members"], &mut now["members"]);
                    if let Some(d) = delta(was, &now) {
                        last.insert(s.name.clone(), now);
                        changed.insert(s.name.clone(), d);
                    }
                }
            }
        }
        {
            let mut order = self.hub.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if order.len() != sweep.fleet.shards.len() {
                *order = sweep.fleet.shards.iter().map(|s| s.name.clone()).collect();
            }
        }
        self.hub.swept.send_if_modified(|swept| !std::mem::replace(swept, true));
        if changed.is_empty() && sweep.events.is_empty() {
            return;
        }
        let (ok, warn, crit, unknown) = sweep.fleet.counts();
        let fleet = serde_json::json!({
            "health": sweep.fleet.health(),
            "counts": {"ok": ok, "warning": warn, "critical": crit, "unknown": unknown},
        });
        let mut frame = serde_json::json!({
            "kind": "changes",
            "sweep": sweep.number,
            "at": sweep.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "shards": changed,
        });
        let Some(f) = frame.as_object_mut() else { return };
        // The fleet's health and counts only when they changed: most frames of a busy fleet
        // carry a few rates, and these were a third of their bytes.
        let mut sent = self.hub.fleet.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *sent != fleet {
            if let Value::Object(fields) = &fleet {
                f.extend(fields.clone());
            }
            *sent = fleet;
        }
        drop(sent);
        if !sweep.events.is_empty() {
            let events: Vec<Value> = sweep
                .events
                .iter()
                .map(|e| {
                    serde_json::json!({"shard": e.shard, "severity": e.severity, "rule": e.rule, "message": e.message})
                })
                .collect();
            f.insert("events".into(), Value::Array(events));
        }
        // No viewer: nothing to send, and that is fine.
        let _ = self.hub.tx.send(Arc::from(frame.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tests::{fleet, sample};

    #[tokio::test]
    async fn a_viewer_gets_the_full_state_then_only_changes() {
        let hub = Hub::new();
        let mut p = Publisher::new(hub.clone());
        let mut f = fleet();
        let now = chrono::Utc::now();
        for i in 0..2 {
            let u = sample(0, i, now, true);
            f.apply(0, i, u.sample);
        }
        let waiting = hub.clone();
        let first = tokio::spawn(async move { waiting.first_sweep().await });
        p.on_sweep(&Sweep { number: 1, at: now, fleet: &f, events: &[] });
        tokio::time::timeout(std::time::Duration::from_secs(5), first)
            .await
            .expect("after the first sweep")
            .expect("task");
        let (full, mut rx) = hub.subscribe();
        assert!(full.contains("\"kind\":\"full\"") && full.contains("\"name\":\"s1\""), "{full}");
        // Nothing changed: nothing sent.
        p.on_sweep(&Sweep { number: 2, at: now, fleet: &f, events: &[] });
        assert!(rx.try_recv().is_err());
        let u = sample(0, 1, now, false);
        let events = f.apply(0, 1, u.sample);
        p.on_sweep(&Sweep { number: 3, at: now, fleet: &f, events: &events });
        let frame = rx.try_recv().expect("a change frame");
        assert!(frame.contains("\"kind\":\"changes\"") && frame.contains("sql_thread"), "{frame}");
        // The replica's changed fields only, by its address.
        let v: Value = serde_json::from_str(&frame).expect("JSON");
        assert_eq!(
            v["shards"]["s1"]["members"],
            serde_json::json!({"db-b:3306": {"health": "critical", "lag": null, "sql": false}}),
            "{frame}"
        );
        assert!(frame.contains("\"critical\":1"), "{frame}");
    }

    #[test]
    fn changes_carry_only_the_changed_fields_and_rates_move_by_more_than_the_band() {
        let was = serde_json::json!({"name": "s1", "health": "ok", "qps": 1000.0, "worst_lag_seconds": 1.0});
        let mut now = serde_json::json!({"name": "s1", "health": "ok", "qps": 1040.0, "worst_lag_seconds": 1.0});
        keep_rate_within_band(&was, &mut now);
        assert_eq!(delta(&was, &now), None, "4 % is within the band");
        let p = |m: &str| serde_json::json!({"problems": [{"severity": "warning", "rule": "lag", "message": m}]});
        let mut now = p("lag 12s over 10s");
        keep_problems_with_same_rules(&p("lag 11s over 10s"), &mut now);
        assert_eq!(now, p("lag 11s over 10s"), "the same finding in other words is not news");
        let mut now = serde_json::json!({"name": "s1", "health": "warning", "qps": 1100.0, "worst_lag_seconds": null});
        keep_rate_within_band(&was, &mut now);
        assert_eq!(
            delta(&was, &now),
            Some(serde_json::json!({"health": "warning", "qps": 1100.0, "worst_lag_seconds": null}))
        );
    }

    #[test]
    fn two_significant_figures() {
        assert_eq!(significant2(1234.0), 1200.0);
        assert_eq!(significant2(0.0456), 0.046);
        assert_eq!(significant2(7.0), 7.0);
        assert_eq!(significant2(0.0), 0.0);
        assert_eq!((number(5700.0), number(2.5), number(f64::NAN)), (5700.into(), 2.5.into(), Value::Null));
    }
}
