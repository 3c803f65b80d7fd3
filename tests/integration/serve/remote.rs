//! A remote viewer's actions for real: what its token may do (`GET /api/v1/access`), actions
//! driven through the viewer-side runner (`serve::remote_runner`, what `--connect`'s dialogs use)
//! against a collector polling sandbox shards, audited there under the token's name; and a
//! remote failover of a SIGKILLed master, undone (rejoin, promote back) so it can run again.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use shardtop::fleet::Addr;
use shardtop::serve::remote_runner::RemoteRunner;
use shardtop::serve::viewer::{Remote, ViewerError};
use shardtop::ui::action::{ActionKind, ActionMsg, ActionRunner};

use super::{S46, S47, acting_collector, body_of};
use crate::common::{Sandbox, note, sandbox_script};

const TOKENS: &str = "ops act ops-token-0123456789ab\nwall read wall-token-0123456789\n";

/// Run `kind` on `shard` through the viewer-side runner, as a dialog would; every message until
/// the run's end (`Planned` for a dry run, `Finished` otherwise).
async fn run(remote: &Remote, kind: ActionKind, shard: &str, dry_run: bool) -> Vec<ActionMsg> {
    run_stopped(remote, kind, shard, dry_run, false).await
}

/// `run`, with the dialog's stop flag raised from the start when `stop` (Esc on a checksum).
async fn run_stopped(remote: &Remote, kind: ActionKind, shard: &str, dry_run: bool, stop: bool) -> Vec<ActionMsg> {
    let runner = RemoteRunner { remote: remote.clone() };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    runner.start(kind, shard.into(), dry_run, Arc::new(AtomicBool::new(stop)), tx);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let m = tokio::time::timeout_at(deadline, rx.recv()).await.expect("the run ended in time").expect("a message");
        let end = matches!(m, ActionMsg::Planned(_) | ActionMsg::Finished { .. });
        got.push(m);
        if end {
            return got;
        }
    }
}

fn last(msgs: &[ActionMsg]) -> &ActionMsg {
    msgs.last().expect("messages")
}

fn audit(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

async fn snapshot(base: &str) -> serde_json::Value {
    let r = reqwest::Client::new().get(format!("{base}/api/v1/snapshot")).bearer_auth("wall-token-0123456789");
    r.send().await.expect("GET").json().await.expect("JSON")
}

/// Wait until the collector's snapshot of its one shard satisfies `ok`.
async fn until(base: &str, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snap = snapshot(base).await;
        if ok(&snap["shards"][0]) {
            return snap;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: never: {snap:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn master_of(shard: &serde_json::Value) -> String {
    let is = shard["instances"].as_array().cloned().unwrap_or_default();
    is.iter().find(|i| i["role"] == "master").and_then(|i| i["addr"].as_str()).unwrap_or("").to_string()
}

/// The access endpoint says what each token may do, and the viewer-side runner plans on the
/// collector (a dry run changes nothing) and runs a fence there, audited under the token's name;
/// the remote TUI does the same by its keys; a checksum stopped from the viewer stops there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_side_runner_acts_on_the_collector_under_the_viewers_token() {
    let sb = sandbox_or_skip!();
    let _s46 = S46.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (serve, base, audit_log) = acting_collector(&sb, dir.path(), "s46", TOKENS);
    until(&base, "s46 ok", |s| s["health"] == "ok").await;

    // What each token may do: none is refused, a read token may not act (and is told why).
    let none = Remote::new(&base, None, None).expect("remote");
    assert!(matches!(none.access().await, Err(ViewerError::Unauthorized { .. })), "no token: 401");
    let r = reqwest::Client::new().get(format!("{base}/api/v1/access")).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    let wall = Remote::new(&base, Some("wall-token-0123456789".into()), None).expect("remote");
    let a = wall.access().await.expect("access");
    assert_eq!((a.identity.as_deref(), a.may_act, a.actions_enabled), (Some("wall"), false, true));
    assert!(a.actions.is_empty() && a.why_not.as_deref().is_some_and(|w| w.contains("read-only")), "{a:?}");
    let ops = Remote::new(&base, Some("ops-token-0123456789ab".into()), None).expect("remote");
    let a = ops.access().await.expect("access");
    assert_eq!((a.identity.as_deref(), a.may_act, a.why_not.as_deref()), (Some("ops"), true, None));
    assert_eq!(a.actions, ["promote", "failover", "fence", "rejoin", "checksum"]);
    let raw = body_of(&reqwest::Client::new(), &format!("{base}/api/v1/access"), "ops-token-0123456789ab").await;
    assert!(!raw.contains("0123456789"), "no token in the answer: {raw}");

    // A read token's run is refused before anything runs, and says why.
    let r2: Addr = sb.addr("s46-r2").parse().expect("addr");
    let fence = ActionKind::Fence { shard: 0, instance: r2.clone() };
    let refused = run(&wall, fence.clone(), "s46", true).await;
    assert!(
        matches!(last(&refused), ActionMsg::Planned(Err(why)) if why.contains("HTTP 403") && why.contains("read-only")),
        "{refused:?}"
    );

    // The dialog's plan: a dry run on the collector, its checks and plan as messages.
    let r1: Addr = sb.addr("s46-r1").parse().expect("addr");
    let plan = run(&ops, ActionKind::Promote { shard: 0, candidate: r1 }, "s46", true).await;
    assert_eq!(last(&plan), &ActionMsg::Planned(Ok(())), "{plan:?}\n{}", serve.log());
    assert!(
        plan.iter().any(|m| matches!(m, ActionMsg::Progress(shardtop::actions::Progress::Plan(p)) if !p.is_empty()))
    );
    assert!(!audit_log.exists(), "a dry run is not audited");

    // Confirmed: the fence runs on the collector, its steps come back, the audit names `ops`.
    let done = run(&ops, fence, "s46", false).await;
    assert!(matches!(last(&done), ActionMsg::Finished { ok: true, .. }), "{done:?}\n{}", serve.log());
    assert!(done.iter().any(|m| matches!(m, ActionMsg::Progress(shardtop::actions::Progress::Finished { .. }))));
    let lines = audit(&audit_log);
    assert!(!lines.is_empty() && lines.iter().all(|l| l["by"] == "ops" && l["action"] == "fence"), "{lines:?}");
    assert_eq!(sb.value("s46-r2", "SELECT @@read_only").await.as_deref(), Some("1"));
    let running = sb.replica_status("s46-r2").await.and_then(|r| r.get::<String, _>("Slave_SQL_Running"));
    assert_eq!(running.as_deref(), Some("Yes"), "a fenced replica still replicates");

    // And as an operator does it: the remote TUI in a terminal, F on s46-r2, the shard's name typed.
    let runs = |lines: &[serde_json::Value]| {
        let mut r: Vec<String> = lines.iter().filter_map(|l| l["run"].as_str().map(str::to_string)).collect();
        r.dedup();
        r.len()
    };
    let before = runs(&audit(&audit_log));
    let tui = super::TuiInPty::spawn(
        &sb.bin(),
        &["--connect", &base],
        &[("SHARDTOP_CONNECT_TOKEN", "ops-token-0123456789ab"), ("NO_COLOR", "1")],
    );
    tui.wait_for(|t| t.contains("actions run on the collector, audited as ops") && t.contains("s46"));
    tui.type_keys("\r");
    tui.wait_for(|t| t.contains(&sb.addr("s46-r2")) && t.contains("as its collector sees it"));
    tui.type_keys("jjF");
    tui.wait_for(|t| t.contains("Type the shard name (s46)") && t.contains("on the collector"));
    tui.type_keys("s46\r");
    tui.wait_for(|t| t.contains(&format!("{} is read-only", sb.addr("s46-r2"))));
    let lines = audit(&audit_log);
    assert_eq!(runs(&lines), before + 1, "one more run: {lines:?}");
    assert!(lines.iter().all(|l| l["by"] == "ops"), "{lines:?}");
    drop(tui);

    // Esc on a running checksum: the runner posts /api/v1/actions/{id}/stop as soon as the run's
    // id is known, and the collector's run stops where it is (it says where, and how to resume).
    let stopped = run_stopped(&ops, ActionKind::Checksum { shard: 0 }, "s46", false, true).await;
    assert!(
        matches!(last(&stopped), ActionMsg::Finished { summary, .. } if summary.contains("stopped")),
        "{stopped:?}\n{}",
        serve.log()
    );
    note(
        "remote viewer runner: access per token (401, read, act), a dry-run promotion and a fence of s46-r2 audited as \
         ops, then a fence from the remote TUI's keys in a terminal",
    );
}

/// A SIGKILLed master failed over through the API: once the collector calls s47's master dead, a
/// failover posted by the viewer-side runner makes a replica the writable master and the other
/// streams from it, audited as the token's name. Then the old master is started, rejoined as a
/// replica and promoted back (both remotely), so s47 is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_is_failed_over_remotely_and_the_shard_restored() {
    let sb = sandbox_or_skip!();
    let _s47 = S47.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (serve, base, audit_log) = acting_collector(&sb, dir.path(), "s47", TOKENS);
    let (m, r1, r2) = (sb.addr("s47-m"), sb.addr("s47-r1"), sb.addr("s47-r2"));
    until(&base, "s47 ok", |s| s["health"] == "ok" && master_of(s) == m).await;
    let ops = Remote::new(&base, Some("ops-token-0123456789ab".into()), None).expect("remote");
    let failover = || ActionKind::Failover { shard: 0, candidate: None, replicas: Vec::new(), seen: shardtop_seen() };

    // While the master answers, a failover is refused (409), and nothing runs.
    let early = run(&ops, failover(), "s47", true).await;
    assert!(matches!(last(&early), ActionMsg::Planned(Err(why)) if why.contains("HTTP 409")), "{early:?}");

    sb.pid("s47-m");
    sandbox_script(&sb, "kill", &["s47-m"]);
    until(&base, "the collector calls s47's master dead", |s| s["master_state"]["state"] == "dead").await;
    let plan = run(&ops, failover(), "s47", true).await;
    assert_eq!(last(&plan), &ActionMsg::Planned(Ok(())), "{plan:?}\n{}", serve.log());
    let done = run(&ops, failover(), "s47", false).await;
    let ActionMsg::Finished { ok: true, summary } = last(&done) else { panic!("{done:?}\n{}", serve.log()) };
    let new = [("s47-r1", &r1), ("s47-r2", &r2)]
        .into_iter()
        .find(|(_, a)| summary.starts_with(a.as_str()))
        .map(|(n, _)| n)
        .unwrap_or_else(|| panic!("no new master in {summary:?}"));
    let other = if new == "s47-r1" { "s47-r2" } else { "s47-r1" };
    assert!(done.iter().any(|m| matches!(m, ActionMsg::Promoted { .. })), "{done:?}");
    assert_eq!(sb.value(new, "SELECT @@read_only").await.as_deref(), Some("0"), "{new} is writable");
    streams_from(&sb, other, new).await;
    let lines = audit(&audit_log);
    let failed_over: Vec<_> = lines.iter().filter(|l| l["action"] == "failover").collect();
    assert!(!failed_over.is_empty() && failed_over.iter().all(|l| l["by"] == "ops"), "{lines:?}");
    until(&base, "the collector follows the new master", |s| master_of(s) == sb.addr(new)).await;

    // Back as it was: the old master starts (writable: a zombie), rejoins as a replica of the
    // new master, catches up, and is promoted back — all through the collector.
    sandbox_script(&sb, "start", &["s47-m"]);
    let old: Addr = m.parse().expect("addr");
    until(&base, "the old master answers", |s| {
        s["instances"].as_array().into_iter().flatten().any(|i| i["addr"] == m.as_str() && i["reachable"] == true)
    })
    .await;
    let rejoin = run(&ops, ActionKind::Rejoin { shard: 0, instance: old.clone() }, "s47", false).await;
    assert!(matches!(last(&rejoin), ActionMsg::Finished { ok: true, .. }), "{rejoin:?}\n{}", serve.log());
    streams_from(&sb, "s47-m", new).await;
    until(&base, "s47 ok with the old master as a replica", |s| s["health"] == "ok").await;
    let back = run(&ops, ActionKind::Promote { shard: 0, candidate: old }, "s47", false).await;
    assert!(matches!(last(&back), ActionMsg::Finished { ok: true, .. }), "{back:?}\n{}", serve.log());
    for r in ["s47-r1", "s47-r2"] {
        streams_from(&sb, r, "s47-m").await;
    }
    assert_eq!(sb.value("s47-m", "SELECT @@read_only").await.as_deref(), Some("0"));
    until(&base, "s47 as it was", |s| s["health"] == "ok" && master_of(s) == m).await;
    let lines = audit(&audit_log);
    assert!(lines.iter().all(|l| l["by"] == "ops"), "{lines:?}");
    note(&format!("remote failover of s47 (master SIGKILLed) to {new}, audited as ops; rejoined and promoted back"));
}

/// What a failover dialog knows of the master: the collector builds its own, so this is unused.
fn shardtop_seen() -> shardtop::actions::failover::Seen {
    shardtop::actions::failover::Seen { failures: 0, last_gtid: None, semi_sync: false }
}

/// `name` replicates from `master`, both threads running, within 20 s.
async fn streams_from(sb: &Sandbox, name: &str, master: &str) {
    let port = sb.port(master).to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = sb.replica_status(name).await.map(|row| {
            (
                row.get::<String, _>("Master_Port").unwrap_or_default(),
                row.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
                row.get::<String, _>("Slave_SQL_Running").unwrap_or_default(),
            )
        });
        if got == Some((port.clone(), "Yes".into(), "Yes".into())) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} does not stream from {master}: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
