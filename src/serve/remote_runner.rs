//! The remote TUI's action runner: the dialogs of `shardtop --connect` are the local TUI's, but
//! their plan and run come from the collector. Planning posts the action with `dry_run`;
//! confirming posts it for real; each JSON line of the answer (`serve::actions::line`) becomes
//! the dialog's message; a stop (Esc on a checksum) posts `/api/v1/actions/{id}/stop`. The
//! collector runs it with its own accounts and audits it under this viewer's token name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::viewer::{Remote, ViewerError};
use crate::actions::checksum::Event as ChecksumEvent;
use crate::actions::{Check, PlannedStep, Progress};
use crate::ui::action::{ActionKind, ActionMsg, ActionRunner};

/// What the collector says this viewer's token may do (`GET /api/v1/access`).
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Access {
    /// The token's name: who the collector's audit log names.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub may_act: bool,
    #[serde(default)]
    pub actions_enabled: bool,
    #[serde(default)]
    pub actions: Vec<String>,
    /// Why not, when `may_act` is false.
    #[serde(default)]
    pub why_not: Option<String>,
}

impl Remote {
    /// What this viewer's token may do on the collector. A collector that predates the access
    /// endpoint (404) lets no action start from here.
    pub async fn access(&self) -> Result<Access, ViewerError> {
        let url = self.url("/api/v1/access");
        let r = self.request(reqwest::Method::GET, "/api/v1/access").send().await;
        let r = r.map_err(|e| ViewerError::Http { url: url.clone(), message: e.to_string() })?;
        match r.status().as_u16() {
            200 => r.json().await.map_err(|e| ViewerError::Http { url, message: format!("not an access answer: {e}") }),
            401 => Err(ViewerError::Unauthorized { url }),
            404 => Ok(Access {
                why_not: Some("this collector does not say what a token may do (no /api/v1/access): upgrade it".into()),
                ..Access::default()
            }),
            s => Err(ViewerError::Http { url, message: format!("HTTP {s}") }),
        }
    }
}

/// Runs the dialogs' actions on the collector.
pub struct RemoteRunner {
    pub remote: Remote,
}

/// The request body for `kind` on `shard`.
pub fn request_body(kind: &ActionKind, shard: &str, dry_run: bool) -> Value {
    let mut body = match kind {
        ActionKind::Promote { candidate, .. } => json!({"action": "promote", "to": candidate.to_string()}),
        ActionKind::Failover { candidate, .. } => {
            json!({"action": "failover", "to": candidate.as_ref().map(ToString::to_string)})
        }
        ActionKind::Fence { instance, .. } => json!({"action": "fence", "instance": instance.to_string()}),
        ActionKind::Rejoin { instance, .. } => json!({"action": "rejoin", "instance": instance.to_string()}),
        ActionKind::Checksum { .. } => json!({"action": "checksum"}),
    };
    body["shard"] = shard.into();
    body["dry_run"] = dry_run.into();
    if body["to"].is_null() {
        body.as_object_mut().map(|b| b.remove("to"));
    }
    body
}

impl ActionRunner for RemoteRunner {
    fn start(
        &self,
        kind: ActionKind,
        shard: String,
        dry_run: bool,
        stop: Arc<AtomicBool>,
        tx: UnboundedSender<ActionMsg>,
    ) {
        let remote = self.remote.clone();
        tokio::spawn(async move {
            let body = request_body(&kind, &shard, dry_run);
            let end = |why: String| {
                if dry_run { ActionMsg::Planned(Err(why)) } else { ActionMsg::Finished { ok: false, summary: why } }
            };
            if let Err(why) = run(&remote, &body, &stop, &tx).await {
                let _ = tx.send(end(why));
            }
        });
    }
}

/// Post `body`, forward the answer's lines to `tx` until its end, and post a stop when `stop` is
/// set. `Err`: why the run could not be followed to its end (refused, or the answer broke off).
async fn run(remote: &Remote, body: &Value, stop: &AtomicBool, tx: &UnboundedSender<ActionMsg>) -> Result<(), String> {
    let url = remote.url("/api/v1/actions");
    let r = remote.request(reqwest::Method::POST, "/api/v1/actions").json(body).send().await;
    let mut r = r.map_err(|e| format!("{url}: {e}"))?;
    let status = r.status().as_u16();
    if status != 200 {
        let text = r.text().await.unwrap_or_default();
        let why = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        return Err(format!("the collector refused (HTTP {status}): {why}"));
    }
    let (mut buf, mut id, mut stopped, mut ended) = (String::new(), None::<u64>, false, false);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            chunk = r.chunk() => match chunk {
                Ok(Some(bytes)) => {
                    buf.push_str(&String::from_utf8_lossy(&bytes));
                    while let Some(n) = buf.find('\n') {
                        let line: String = buf.drain(..=n).collect();
                        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else { continue };
                        if let Some(i) = v.get("id").and_then(Value::as_u64) {
                            id = Some(i);
                            continue;
                        }
                        if let Some(m) = message(&v) {
                            ended |= matches!(m, ActionMsg::Finished { .. } | ActionMsg::Planned(_));
                            let _ = tx.send(m);
                        }
                    }
                }
                Ok(None) if ended => return Ok(()),
                Ok(None) => return Err("the collector's answer ended before the action did: see its audit log".into()),
                Err(e) => return Err(format!("lost the collector's answer: {e}; the action goes on there: see its audit log")),
            },
            _ = tick.tick(), if !stopped && id.is_some() && stop.load(Ordering::Relaxed) => {
                stopped = true;
                let path = format!("/api/v1/actions/{}/stop", id.unwrap_or_default());
                match remote.request(reqwest::Method::POST, &path).send().await {
                    Ok(a) if a.status().is_success() => {}
                    Ok(a) => log::warn!(target: "actions", "stop: the collector answered HTTP {}", a.status().as_u16()),
                    Err(e) => log::warn!(target: "actions", "stop: {e}"),
                }
            }
        }
    }
}

/// Step and check names as the dialog keeps them (`&'static str`): each distinct name is kept
/// once, and a collector cannot make this grow without bound.
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    if names.len() >= 256 || name.len() > 64 {
        return "step";
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

fn ms(v: &Value) -> Duration {
    Duration::from_secs_f64(v.as_f64().unwrap_or(0.0).max(0.0) / 1e3)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// One line of the collector's answer as the dialog's message (the inverse of
/// `serve::actions::line`); `None` for a line it does not know.
pub fn message(v: &Value) -> Option<ActionMsg> {
    let o = v.as_object()?;
    let (key, v) = o.iter().find(|(k, _)| k.as_str() != "tables")?;
    let step = |v: &Value| intern(v["step"].as_str().unwrap_or("step"));
    Some(match key.as_str() {
        "checks" => ActionMsg::Progress(Progress::Checks(
            v.as_array()?
                .iter()
                .map(|c| Check {
                    name: intern(c["name"].as_str().unwrap_or("check")),
                    ok: c["ok"].as_bool().unwrap_or(false),
                    detail: text(&c["detail"]),
                    forced: c["forced"].as_bool().unwrap_or(false),
                })
                .collect(),
        )),
        "plan" => ActionMsg::Progress(Progress::Plan(
            v.as_array()?
                .iter()
                .map(|s| PlannedStep { name: intern(s["name"].as_str().unwrap_or("step")), what: text(&s["what"]) })
                .collect(),
        )),
        "started" => ActionMsg::Progress(Progress::Started { step: step(v), what: text(&v["what"]) }),
        "finished" => {
            ActionMsg::Progress(Progress::Finished { step: step(v), took: ms(&v["ms"]), detail: text(&v["detail"]) })
        }
        "failed" => {
            ActionMsg::Progress(Progress::Failed { step: step(v), took: ms(&v["ms"]), error: text(&v["error"]) })
        }
        "rolled_back" => ActionMsg::Progress(Progress::RolledBack { detail: text(v) }),
        "chunk" => {
            let table = text(&v["table"]);
            let (db, tbl) = table.split_once('.').unwrap_or(("", &table));
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            ActionMsg::Checksum(ChecksumEvent::Chunk {
                db: db.into(),
                tbl: tbl.into(),
                chunk: v["chunk"].as_i64().unwrap_or(0),
                rows: n("rows"),
                chunk_size: n("chunk_size"),
                took: Duration::ZERO,
                done_rows: n("done_rows"),
                total_rows: n("total_rows"),
            })
        }
        "paused" => ActionMsg::Checksum(ChecksumEvent::Paused { reason: text(v) }),
        "resumed" => ActionMsg::Checksum(ChecksumEvent::Resumed),
        "note" => ActionMsg::Checksum(ChecksumEvent::Note { text: text(v) }),
        "planned" => match v["ok"].as_bool() {
            Some(true) => ActionMsg::Planned(Ok(())),
            _ => ActionMsg::Planned(Err(text(&v["error"]))),
        },
        "done" => ActionMsg::Finished { ok: v["ok"].as_bool().unwrap_or(false), summary: text(&v["summary"]) },
        "promoted" => {
            ActionMsg::Promoted { shard: text(&v["shard"]), new_master: text(&v["new_master"]).parse().ok()? }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Addr;
    use crate::serve::actions::line;

    #[test]
    fn every_line_the_collector_sends_reads_back_as_the_same_message() {
        let msgs = [
            ActionMsg::Progress(Progress::Checks(vec![Check {
                name: "lag",
                ok: false,
                detail: "12 s behind".into(),
                forced: false,
            }])),
            ActionMsg::Progress(Progress::Plan(vec![PlannedStep { name: "freeze", what: "read-only".into() }])),
            ActionMsg::Progress(Progress::Started { step: "freeze", what: "x".into() }),
            ActionMsg::Progress(Progress::Finished {
                step: "freeze",
                took: Duration::from_millis(12),
                detail: "ok".into(),
            }),
            ActionMsg::Progress(Progress::Failed {
                step: "catch_up",
                took: Duration::from_secs(2),
                error: "timeout".into(),
            }),
            ActionMsg::Progress(Progress::RolledBack { detail: "master writable".into() }),
            ActionMsg::Checksum(ChecksumEvent::Paused { reason: "lag".into() }),
            ActionMsg::Checksum(ChecksumEvent::Resumed),
            ActionMsg::Checksum(ChecksumEvent::Note { text: "n".into() }),
            ActionMsg::Planned(Ok(())),
            ActionMsg::Planned(Err("refused: lag".into())),
            ActionMsg::Finished { ok: true, summary: "db2:3306 is the master of s1".into() },
            ActionMsg::Promoted { shard: "s1".into(), new_master: Addr::new("db2", 3306) },
        ];
        for m in msgs {
            let wire = line(&m).expect("a line");
            assert_eq!(message(&wire), Some(m.clone()), "{wire}");
        }
        let chunk = ActionMsg::Checksum(ChecksumEvent::Chunk {
            db: "social".into(),
            tbl: "photos".into(),
            chunk: 3,
            rows: 1000,
            chunk_size: 1000,
            took: Duration::ZERO,
            done_rows: 3000,
            total_rows: 10000,
        });
        assert_eq!(message(&line(&chunk).expect("a line")), Some(chunk));
        assert_eq!(message(&json!({"id": 4})), None, "the run's id is not a message");
    }

    #[test]
    fn requests_name_the_action_its_target_and_whether_it_is_a_dry_run() {
        let to = Addr::new("db2", 3306);
        let promote = ActionKind::Promote { shard: 0, candidate: to.clone() };
        assert_eq!(
            request_body(&promote, "s1", true),
            json!({"action": "promote", "shard": "s1", "to": "db2:3306", "dry_run": true})
        );
        let seen = crate::actions::failover::Seen { failures: 3, last_gtid: None, semi_sync: false };
        let failover = ActionKind::Failover { shard: 0, candidate: None, replicas: vec![], seen };
        assert_eq!(
            request_body(&failover, "s1", false),
            json!({"action": "failover", "shard": "s1", "dry_run": false})
        );
        let rejoin = ActionKind::Rejoin { shard: 0, instance: to };
        assert_eq!(
            request_body(&rejoin, "s1", false),
            json!({"action": "rejoin", "shard": "s1", "instance": "db2:3306", "dry_run": false})
        );
    }
}
