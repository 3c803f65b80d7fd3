//! Actions from remote viewers: `POST /api/v1/actions` runs a promotion, a failover, a fence, a
//! rejoin or a checksum on the collector, with the collector's config and accounts, audited there under the name of the token
//! that asked. A read-only token, a collector without tokens, or one whose config leaves actions
//! off is refused (403) before anything runs.
//!
//! The answer streams the action's course as JSON lines (`application/x-ndjson`): its checks and
//! plan, each step as it starts and ends, and last `planned` (a dry run) or `done`. The action
//! does not depend on the request: a viewer that goes away leaves it running to its end.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::access::{Caller, Grant};
use super::http::AppState;
use super::{ActionNews, Input};
use crate::actions::Progress;
use crate::actions::checksum::Event as ChecksumEvent;
use crate::fleet::Addr;
use crate::ui::action::{ActionKind, ActionMsg, ActionRunner};

/// How the collector runs actions for remote viewers (present only when its config enables them).
pub struct RemoteActions {
    /// A runner with the collector's config whose audit log names `by` as who started the run.
    pub runner_for: Box<dyn Fn(String) -> Box<dyn ActionRunner> + Send + Sync>,
    /// The collector's model input: a promotion's end and new master go there.
    pub inputs: mpsc::Sender<Input>,
    /// Runs under way, by id: their stop flags.
    pub running: Running,
}

/// The stop flags of the runs under way, by the id their first line gave the viewer.
#[derive(Default)]
pub struct Running {
    next: std::sync::atomic::AtomicU64,
    stops: std::sync::Mutex<std::collections::HashMap<u64, Arc<AtomicBool>>>,
}

impl Running {
    fn stops(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Arc<AtomicBool>>> {
        self.stops.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self) -> (u64, Arc<AtomicBool>) {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        self.stops().insert(id, stop.clone());
        (id, stop)
    }

    fn end(&self, id: u64) {
        self.stops().remove(&id);
    }

    /// Ask run `id` to stop; `false` when no such run is under way.
    pub fn stop(&self, id: u64) -> bool {
        let stops = self.stops();
        let Some(flag) = stops.get(&id) else { return false };
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        true
    }
}

/// `POST /api/v1/actions/{id}/stop`: ask a run to stop where its steps allow (a checksum
/// between chunks, with its hold undone); the same grant as starting one.
pub async fn stop(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<u64>,
    req: Request,
) -> Response {
    let caller = req.extensions().get::<Caller>().cloned();
    if let Err((status, message)) = authorize(caller.as_ref(), state.actions.is_some()) {
        return refuse(status, message);
    }
    let Some(actions) = state.actions.as_ref() else {
        return refuse(StatusCode::FORBIDDEN, "actions are disabled on this collector");
    };
    if actions.running.stop(id) {
        let body = json!({ "stopping": id }).to_string() + "\n";
        (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        refuse(StatusCode::NOT_FOUND, format!("no action {id} under way on this collector"))
    }
}

/// The actions a viewer may ask for.
pub const ACTIONS: [&str; 5] = ["promote", "failover", "fence", "rejoin", "checksum"];

/// `GET /api/v1/access`: what the caller's token may do here — who the audit log would name, and
/// whether actions would run (and if not, why). No secret: the token itself is never in it.
pub async fn access(State(state): State<AppState>, req: Request) -> Response {
    let caller = req.extensions().get::<Caller>().cloned();
    let enabled = state.actions.is_some();
    let verdict = authorize(caller.as_ref(), enabled);
    let body = json!({
        "identity": caller.as_ref().and_then(|c| c.name.clone()),
        "grant": match caller.map(|c| c.grant) {
            Some(Grant::Full) => "act",
            _ => "read",
        },
        "actions_enabled": enabled,
        "may_act": verdict.is_ok(),
        "actions": if verdict.is_ok() { ACTIONS.to_vec() } else { Vec::new() },
        "why_not": verdict.err().map(|(_, why)| why),
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string() + "\n").into_response()
}

/// What a viewer asks for.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// One of [`ACTIONS`].
    pub action: String,
    pub shard: String,
    /// The replica to promote (`host:port`); for a failover, optional (shardtop chooses).
    #[serde(default)]
    pub to: Option<String>,
    /// The server to fence or rejoin (`host:port`).
    #[serde(default)]
    pub instance: Option<String>,
    /// Check and plan only: nothing is written, nothing audited.
    #[serde(default)]
    pub dry_run: bool,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": message.into() }).to_string() + "\n";
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Why a request may not act: its status and message.
type Refusal = (StatusCode, String);

/// Who may act: a named token that grants actions, on a collector whose config enables them.
fn authorize(caller: Option<&Caller>, enabled: bool) -> Result<String, Refusal> {
    let forbidden = |m: &str| (StatusCode::FORBIDDEN, m.to_string());
    let Some(caller) = caller else {
        return Err(forbidden("no caller: internal error"));
    };
    if caller.grant == Grant::Read {
        let name = caller.name.as_deref().unwrap_or("this token");
        return Err(forbidden(&format!("{name} is a read-only token: actions need a token with the `act` grant")));
    }
    let Some(name) = caller.name.clone() else {
        return Err(forbidden(
            "this collector has no tokens: actions need a named token (serve --tokens-file), so the audit log can say who ran them",
        ));
    };
    if !enabled {
        return Err(forbidden("actions are disabled on this collector: its config needs [actions] enabled = true"));
    }
    Ok(name)
}

/// `POST /api/v1/actions`.
pub async fn start(State(state): State<AppState>, req: Request) -> Response {
    let caller = req.extensions().get::<Caller>().cloned();
    let by = match authorize(caller.as_ref(), state.actions.is_some()) {
        Ok(by) => by,
        Err((status, message)) => return refuse(status, message),
    };
    let Some(actions) = state.actions.clone() else {
        return refuse(StatusCode::FORBIDDEN, "actions are disabled on this collector");
    };
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("cannot read the request: {e}")),
    };
    let ask = match parse(&body) {
        Ok(a) => a,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let (index, kind) = match kind_of(&state.shared.fleet(), &ask) {
        Ok(k) => k,
        Err((status, message)) => return refuse(status, message),
    };
    let hold = match kind {
        ActionKind::Promote { .. } => Some("promotion"),
        ActionKind::Failover { .. } => Some("failover"),
        _ => None,
    }
    .filter(|_| !ask.dry_run);
    log::warn!(
        target: "actions",
        "{}: {}{} {} started by {by} (remote)",
        ask.shard,
        ask.action,
        if ask.dry_run { " --dry-run" } else { "" },
        ask.to.as_deref().or(ask.instance.as_deref()).unwrap_or("")
    );
    if let Some(what) = hold {
        // Before the first write: the shard's transient states are the action's, not incidents.
        state.shared.fleet().begin_action(index, what, chrono::Utc::now());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (id, stop) = actions.running.add();
    (actions.runner_for)(by).start(kind, ask.shard.clone(), ask.dry_run, stop, tx);
    let (lines, out) = mpsc::unbounded_channel::<Result<Bytes, std::convert::Infallible>>();
    // First, the run's id: what a stop request names.
    let _ = lines.send(Ok(Bytes::from(json!({ "id": id }).to_string() + "\n")));
    let run = actions.clone();
    tokio::spawn(async move {
        forward(rx, lines, run.inputs.clone(), hold.map(|_| index)).await;
        run.running.end(id);
    });
    let stream = futures::stream::unfold(out, |mut out| async move { out.recv().await.map(|l| (l, out)) });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response()
}

/// The shard's index and the action asked of it, as the collector's model knows the shard.
fn kind_of(fleet: &crate::fleet::Fleet, ask: &ActionRequest) -> Result<(usize, ActionKind), Refusal> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    let index = fleet.shards.iter().position(|s| s.name == ask.shard);
    let Some(index) = index else {
        return Err((StatusCode::NOT_FOUND, format!("no shard named {:?} on this collector", ask.shard)));
    };
    let addr = |field: &str, v: Option<&str>| -> Result<Option<Addr>, Refusal> {
        v.map(|v| v.parse::<Addr>().map_err(|_| bad(&format!("`{field}` must be host:port")))).transpose()
    };
    let to = addr("to", ask.to.as_deref())?;
    let kind = match ask.action.as_str() {
        "promote" => match to {
            Some(candidate) => ActionKind::Promote { shard: index, candidate },
            None => return Err(bad("promote needs `to`: the replica to promote (host:port)")),
        },
        "failover" => crate::ui::action::failover_of(&fleet.shards[index], index, to).ok_or_else(|| {
            let m = format!(
                "the master of {} answers: failover is for a dead master (promote for a planned switch)",
                ask.shard
            );
            (StatusCode::CONFLICT, m)
        })?,
        "fence" => match addr("instance", ask.instance.as_deref())? {
            Some(instance) => ActionKind::Fence { shard: index, instance },
            None => return Err(bad("fence needs `instance`: the server to make read-only (host:port)")),
        },
        "rejoin" => match addr("instance", ask.instance.as_deref())? {
            Some(instance) => ActionKind::Rejoin { shard: index, instance },
            None => {
                return Err(bad("rejoin needs `instance`: the former master to make a replica again (host:port)"));
            }
        },
        "checksum" => ActionKind::Checksum { shard: index },
        other => {
            return Err(bad(&format!("unknown action {other:?}: {}", ACTIONS.join(", "))));
        }
    };
    Ok((index, kind))
}

fn parse(body: &[u8]) -> Result<ActionRequest, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!("the request must be JSON like {{\"action\":\"promote\",\"shard\":\"s1\",\"to\":\"db2:3306\"}}: {e}")
    })
}

/// The action's messages to the viewer, one JSON line each, and its end and new master to the
/// model (`held`: the shard whose hold ends with it). Runs to the action's end, viewer or not.
async fn forward(
    mut rx: mpsc::UnboundedReceiver<ActionMsg>,
    lines: mpsc::UnboundedSender<Result<Bytes, std::convert::Infallible>>,
    inputs: mpsc::Sender<Input>,
    mut held: Option<usize>,
) {
    while let Some(m) = rx.recv().await {
        if let ActionMsg::Promoted { shard, new_master } = &m {
            let news = ActionNews::Promoted { shard: shard.clone(), new_master: new_master.clone() };
            let _ = inputs.send(Input::Action(news)).await;
        }
        let end = matches!(m, ActionMsg::Finished { .. } | ActionMsg::Planned(_));
        if end && let Some(shard) = held.take() {
            let _ = inputs.send(Input::Action(ActionNews::Ended { shard })).await;
        }
        if let Some(v) = line(&m) {
            let _ = lines.send(Ok(Bytes::from(v.to_string() + "\n")));
        }
    }
    if let Some(shard) = held {
        let _ = inputs.send(Input::Action(ActionNews::Ended { shard })).await;
    }
}

/// One message as the viewer reads it.
pub fn line(m: &ActionMsg) -> Option<Value> {
    Some(match m {
        ActionMsg::Progress(p) | ActionMsg::Checksum(ChecksumEvent::Step(p)) => progress(p),
        ActionMsg::Checksum(e) => match e {
            ChecksumEvent::Plan { steps, tables } => json!({
                "plan": steps.iter().map(|s| json!({"name": s.name, "what": s.what})).collect::<Vec<_>>(),
                "tables": tables.iter().map(|t| t.describe()).collect::<Vec<_>>(),
            }),
            ChecksumEvent::Chunk { db, tbl, chunk, rows, chunk_size, done_rows, total_rows, .. } => json!({"chunk": {
                "table": format!("{db}.{tbl}"), "chunk": chunk, "rows": rows, "chunk_size": chunk_size,
                "done_rows": done_rows, "total_rows": total_rows,
            }}),
            ChecksumEvent::Paused { reason } => json!({ "paused": reason }),
            ChecksumEvent::Resumed => json!({ "resumed": true }),
            ChecksumEvent::Note { text } => json!({ "note": text }),
            ChecksumEvent::Step(_) => return None,
        },
        ActionMsg::Planned(Ok(())) => json!({"planned": {"ok": true}}),
        ActionMsg::Planned(Err(e)) => json!({"planned": {"ok": false, "error": e}}),
        ActionMsg::Finished { ok, summary } => json!({"done": {"ok": ok, "summary": summary}}),
        ActionMsg::Promoted { shard, new_master } => {
            json!({"promoted": {"shard": shard, "new_master": new_master.to_string()}})
        }
    })
}

fn progress(p: &Progress) -> Value {
    let ms = |d: &std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    match p {
        Progress::Checks(checks) => json!({"checks": checks
            .iter()
            .map(|c| json!({"name": c.name, "ok": c.ok, "forced": c.forced, "detail": c.detail}))
            .collect::<Vec<_>>()}),
        Progress::Plan(steps) => {
            json!({"plan": steps.iter().map(|s| json!({"name": s.name, "what": s.what})).collect::<Vec<_>>()})
        }
        Progress::Started { step, what } => json!({"started": {"step": step, "what": what}}),
        Progress::Finished { step, took, detail } => {
            json!({"finished": {"step": step, "ms": ms(took), "detail": detail}})
        }
        Progress::Failed { step, took, error } => json!({"failed": {"step": step, "ms": ms(took), "error": error}}),
        Progress::RolledBack { detail } => json!({ "rolled_back": detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: Option<&str>, grant: Grant) -> Caller {
        Caller { name: name.map(Into::into), grant }
    }

    #[test]
    fn only_a_named_acting_token_on_an_enabled_collector_may_act() {
        assert_eq!(authorize(Some(&caller(Some("alice"), Grant::Full)), true).ok(), Some("alice".to_string()));
        let refused = |c: Caller, enabled: bool| authorize(Some(&c), enabled).err().map(|r| r.0);
        assert_eq!(refused(caller(Some("lcd"), Grant::Read), true), Some(StatusCode::FORBIDDEN));
        assert_eq!(refused(caller(None, Grant::Full), true), Some(StatusCode::FORBIDDEN), "no tokens: no actor");
        assert_eq!(refused(caller(Some("alice"), Grant::Full), false), Some(StatusCode::FORBIDDEN));
    }

    #[test]
    fn requests_parse_and_bad_ones_say_what_is_expected() {
        let r = parse(br#"{"action":"promote","shard":"s1","to":"db2:3306"}"#).expect("parses");
        assert_eq!((r.action.as_str(), r.to.as_deref(), r.dry_run), ("promote", Some("db2:3306"), false));
        let e = parse(br#"{"action":"promote","shard":"s1","force":true}"#).expect_err("unknown field");
        assert!(e.contains("force") && e.contains("\"action\""), "{e}");
        assert!(parse(b"promote s1").is_err());
    }

    #[test]
    fn the_course_of_an_action_reads_as_json_lines() {
        let finished = ActionMsg::Progress(Progress::Finished {
            step: "freeze",
            took: std::time::Duration::from_micros(12_345),
            detail: "read_only ON".into(),
        });
        assert_eq!(
            line(&finished),
            Some(json!({"finished": {"step": "freeze", "ms": 12.3, "detail": "read_only ON"}}))
        );
        let done = ActionMsg::Finished { ok: true, summary: "db2:3306 is the master of s1".into() };
        assert_eq!(line(&done), Some(json!({"done": {"ok": true, "summary": "db2:3306 is the master of s1"}})));
        assert_eq!(
            line(&ActionMsg::Planned(Err("lag".into()))),
            Some(json!({"planned": {"ok": false, "error": "lag"}}))
        );
    }
}
