//! `shardtop failover` against real MariaDB shards whose master is SIGKILLed (or SIGSTOPped)
//! under acknowledged writes: confirmed dead, fenced, the most advanced replica promoted, the
//! others following it by GTID, and what may be lost said and checked against the ledger.
//!
//! Shards (`common/shards.rs`): s34 semi-sync with s40 as its global upstream, s35 one replica lagging (then its old master back
//! as a zombie, fenced), s36 a hung master, s37 a failing fencing hook, s38 a wanted candidate
//! behind the other (then the old master rejoins), s39 both replicas behind (the library run with
//! the TUI's memory of the master, to check "may be lost"; the old master may not rejoin).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::common::Sandbox;
use crate::common::sandbox_script as sandbox;

fn failover(sb: &Sandbox, cfg: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin())
        .arg("failover")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shardtop failover");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn kill(sb: &Sandbox, name: &str) {
    sb.pid(name); // only this module's servers
    sandbox(sb, "kill", &[name]);
}

/// Acknowledged inserts into `shard`'s master, one id after another from `first_id`, until
/// `stop` or the master dies: the ledger of what the application was told is committed.
async fn writer(sb: Arc<Sandbox>, master: String, first_id: u64, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut acked = Vec::new();
    let mut c = sb.admin(&master).await;
    let mut id = first_id;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let sql =
            format!("INSERT INTO social.photos (id, user_id, caption, created_at) VALUES ({id}, 3, 'ledger', NOW())");
        match tokio::time::timeout(Duration::from_secs(3), c.query_drop(sql)).await {
            Ok(Ok(())) => {
                acked.push(id);
                id += 1;
            }
            _ => break, // the master is gone: no acknowledgement, not in the ledger
        }
    }
    acked
}

/// The ids of `ledger` that `name` holds.
async fn held(sb: &Sandbox, name: &str, ledger: &[u64]) -> BTreeSet<u64> {
    let (Some(lo), Some(hi)) = (ledger.first(), ledger.last()) else { return BTreeSet::new() };
    let mut c = sb.admin(name).await;
    let ids: Vec<u64> = c
        .query(format!("SELECT id FROM social.photos WHERE id BETWEEN {lo} AND {hi}"))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = c.disconnect().await;
    ids.into_iter().collect()
}

/// `name` replicates from `master` by GTID (slave_pos), both threads running, within 10 s.
async fn streams_from(sb: &Sandbox, name: &str, master: &str) {
    streams_by(sb, name, master, "Slave_Pos").await;
}

/// `name` replicates from `master` with `Using_Gtid` = `using`, both threads running, within 10 s.
async fn streams_by(sb: &Sandbox, name: &str, master: &str, using: &str) {
    let port = sb.port(master).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = sb.replica_status(name).await.map(|row| {
            (
                row.get::<String, _>("Master_Port").unwrap_or_default(),
                row.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
                row.get::<String, _>("Slave_SQL_Running").unwrap_or_default(),
                row.get::<String, _>("Using_Gtid").unwrap_or_default(),
            )
        });
        if got == Some((port.clone(), "Yes".into(), "Yes".into(), using.into())) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} does not stream from {master} by GTID: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The new master of a failed-over shard, from the command's last line.
fn new_master(sb: &Sandbox, shard: &str, out: &str) -> String {
    sb.replicas(shard)
        .into_iter()
        .find(|r| out.contains(&format!("failed over {shard} to {}", sb.addr(r))))
        .unwrap_or_else(|| panic!("no new master named: {out}"))
}

fn rejoin(sb: &Sandbox, cfg: &std::path::Path, verb: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin())
        .arg(verb)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shardtop");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The config as the operator updates it after the failover: `new` is the master, the old master
/// one of the replicas.
fn config_after(sb: &Sandbox, shard: &str, new: &str, extra: &str) -> tempfile::TempPath {
    use std::io::Write;
    let before = sb.config_with(&[shard], true, extra);
    let text = std::fs::read_to_string(&before).expect("config");
    let (old_addr, new_addr) = (sb.addr(&format!("{shard}-m")), sb.addr(new));
    let text = text
        .replace(&format!("master = \"{old_addr}\""), "master = \"NEW\"")
        .replace(&format!("\"{new_addr}\""), &format!("\"{old_addr}\""))
        .replace("master = \"NEW\"", &format!("master = \"{new_addr}\""));
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp config");
    f.write_all(text.as_bytes()).expect("write config");
    f.into_temp_path()
}

fn audit_steps(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| (v["step"].as_str().unwrap_or("").to_string(), v["phase"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_sync_failover_keeps_every_acknowledged_write() {
    let sb = Arc::new(sandbox_or_skip!());
    let (shard, master) = ("s34", "s34-m");
    sandbox(&sb, "semi-sync", &["on", shard]);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");

    // The application follows the routing file, which the post-promotion hook rewrites.
    let routing = dir.path().join("routing");
    std::fs::write(&routing, sb.addr(master)).expect("routing");
    let hook = crate::common::routing_hook(&routing);
    // The shard master replicates from a global upstream (s40-m, another GTID domain), as real shards do.
    let up_pos = sb.value("s40-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    let repl_pw = std::fs::read_to_string(sb.var("SANDBOX_REPL_PASSWORD_FILE")).expect("repl pw");
    sb.exec(
        master,
        &format!(
            "SET GLOBAL gtid_slave_pos = '{up_pos}'; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
             MASTER_USER='{}', MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos; START SLAVE",
            sb.port("s40-m"),
            sb.var("SANDBOX_REPL_USER"),
            repl_pw.trim()
        ),
    )
    .await;
    sb.exec(
        "s40-m",
        "CREATE DATABASE IF NOT EXISTS global; CREATE TABLE IF NOT EXISTS global.friends (id BIGINT PRIMARY KEY)",
    )
    .await;
    let gpos = sb.value("s40-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in std::iter::once(master.to_string()).chain(sb.replicas(shard)) {
        let w = sb.value(&n, &format!("SELECT MASTER_GTID_WAIT('{gpos}', 10)")).await;
        assert_eq!(w.as_deref(), Some("0"), "{n} gets the upstream's data");
    }
    let extra = format!(
        "upstream = \"{}\"\n{}",
        sb.addr("s40-m"),
        sb.actions_section(&audit, &format!("post_promote_hook = \"{hook}\""))
    );
    let cfg = sb.config_with(&[shard], true, &extra);
    let stop = Arc::new(AtomicBool::new(false));
    // An application account (the admin one has only what actions need: no INSERT on social).
    sb.exec(
        master,
        "CREATE USER IF NOT EXISTS failover_app@'127.0.0.1' IDENTIFIED BY 'failover-app-pw'; \
         GRANT SELECT, INSERT ON social.* TO failover_app@'127.0.0.1'",
    )
    .await;
    let w = tokio::spawn(crate::common::routed_writer(
        sb.clone(),
        routing.clone(),
        "failover_app".to_string(),
        "failover-app-pw".to_string(),
        34_000_000,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let killed = Instant::now();
    kill(&sb, master);

    let (code, dry) = failover(&sb, &cfg, &["--shard", shard, "--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert!(dry.contains("master dead") && dry.contains("dry run: nothing was changed"), "{dry}");
    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes"]);
    let took = killed.elapsed();
    assert_eq!(code, 0, "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acks = w.await.expect("writer");
    let ledger: Vec<u64> = acks.iter().map(|(id, _)| *id).collect();
    let before = acks.iter().filter(|(_, t)| *t < killed).count();
    assert!(before > 20 && acks.len() > before, "the writer wrote before and after: {before} of {}", acks.len());
    let gap = acks.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap_or_default();
    eprintln!(
        "semi-sync failover: {} acknowledged rows ({before} before the kill); longest write gap {gap:?} (kill to failover done {took:?}, a dry run included)\n{out}",
        acks.len()
    );
    let new = new_master(&sb, shard, &out);
    let want: BTreeSet<u64> = ledger.iter().copied().collect();
    assert_eq!(sb.value(&new, "SELECT @@read_only").await.as_deref(), Some("0"), "the new master takes writes");
    for n in sb.replicas(shard) {
        if n != new {
            streams_from(&sb, &n, &new).await;
            let pos = sb.value(&new, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
            assert_eq!(sb.value(&n, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref(), Some("0"));
        }
        let have = held(&sb, &n, &ledger).await;
        let missing: Vec<_> = want.difference(&have).take(10).collect();
        assert!(missing.is_empty(), "{n} lacks acknowledged rows {missing:?}");
    }
    // The new master took over the upstream link: the global master's writes reach it and the replica.
    let row = sb.replica_status(&new).await.expect("the new master replicates from the upstream");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port("s40-m").to_string()), "{out}");
    assert_eq!(row.get::<String, _>("Using_Gtid").as_deref(), Some("Slave_Pos"));
    sb.exec("s40-m", "INSERT INTO global.friends VALUES (34)").await;
    let gpos = sb.value("s40-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in sb.replicas(shard) {
        let w = sb.value(&n, &format!("SELECT MASTER_GTID_WAIT('{gpos}', 10)")).await;
        assert_eq!(w.as_deref(), Some("0"), "{n} gets the upstream's writes after the failover");
    }
    // The shard stays semi-sync: the new master waits, lossless, for the replica it kept.
    assert!(out.contains("semi-sync on (AFTER_SYNC)"), "{out}");
    assert_eq!(sb.value(&new, "SELECT @@rpl_semi_sync_master_enabled").await.as_deref(), Some("1"));
    assert_eq!(sb.value(&new, "SELECT @@rpl_semi_sync_master_wait_point").await.as_deref(), Some("AFTER_SYNC"));
    let status = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME";
    sb.exec(
        &new,
        "INSERT INTO social.photos (id, user_id, caption, created_at) VALUES (34999999, 8, 'semi-sync', NOW())",
    )
    .await;
    assert_eq!(
        sb.value(&new, &format!("{status} = 'RPL_SEMI_SYNC_MASTER_STATUS'")).await.as_deref(),
        Some("ON"),
        "a replica acknowledges the new master's writes"
    );
    let clients = sb.value(&new, &format!("{status} = 'RPL_SEMI_SYNC_MASTER_CLIENTS'")).await;
    assert!(clients.as_deref().and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| c >= 1), "clients: {clients:?}");
    // The plan the dry run printed is what ran, and the audit log tells it.
    let steps = audit_steps(&audit);
    let ran: Vec<&str> =
        steps.iter().filter(|(s, p)| p == "start" && s != "lock" && s != "read").map(|(s, _)| s.as_str()).collect();
    assert_eq!(ran, ["stop_io", "apply_relay", "promote", "hook", "repoint", "marker"], "{steps:?}");
    assert!(steps.iter().any(|(s, p)| s == "outcome" && p == "ok"), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_follows_the_new_master_and_gets_every_row() {
    let sb = Arc::new(sandbox_or_skip!());
    let (shard, master) = ("s35", "s35-m");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg = sb.config_with(&[shard], true, &sb.actions_section(&audit, ""));
    let lagging = format!("{shard}-r2");

    let stop = Arc::new(AtomicBool::new(false));
    let w = tokio::spawn(writer(sb.clone(), master.into(), 35_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    sb.exec(&lagging, "STOP SLAVE IO_THREAD").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    kill(&sb, master);
    let ledger = w.await.expect("writer");

    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes"]);
    assert_eq!(code, 0, "{out}");
    let new = new_master(&sb, shard, &out);
    assert_eq!(new, format!("{shard}-r1"), "the replica that kept receiving leads: {out}");
    streams_from(&sb, &lagging, &new).await;
    let pos = sb.value(&new, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    assert_eq!(sb.value(&lagging, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref(), Some("0"));
    let on_new = held(&sb, &new, &ledger).await;
    let on_lagging = held(&sb, &lagging, &ledger).await;
    assert_eq!(on_lagging, on_new, "the lagging replica holds every row the new master holds");
    eprintln!("lagging replica: {} acknowledged, {} on the new master", ledger.len(), on_new.len());

    // The old master comes back writable: a zombie at once, and `fence` makes it read-only.
    sandbox(&sb, "start", &[master]);
    let after = config_after(&sb, shard, &new, &sb.actions_section(&audit, ""));
    let old = sb.addr(master);
    let (_, json) = sb.snapshot(&after, &["--rate-window", "0"]);
    let zombie = crate::common::instance(&json, &old);
    assert!(zombie.to_string().contains("zombie_master"), "the old master back writable is a zombie: {zombie}");
    let (code, out) = rejoin(&sb, &after, "fence", &["--shard", shard, "--instance", &old, "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(sb.value(master, "SELECT @@read_only").await.as_deref(), Some("1"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_master_is_not_failed_over_unless_fenced() {
    let sb = sandbox_or_skip!();
    let (shard, master) = ("s36", "s36-m");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    sb.pid(master);
    sandbox(&sb, "freeze", &[master]);
    let cfg = sb.config_with(&[shard], true, &sb.actions_section(&audit, ""));
    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("still connected: hung or partitioned, not confirmed dead"), "{out}");
    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes", "--force-check", "master_dead"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs a pre-failover hook"), "without a fence, forcing is refused, saying why: {out}");
    for r in sb.replicas(shard) {
        assert_eq!(sb.value(&r, "SELECT @@read_only").await.as_deref(), Some("1"), "{r} changed");
    }

    // A fencing hook that kills the hung master: now the failover may go on.
    let hook = format!("kill -9 {}", sb.pid(master));
    let cfg = sb.config_with(&[shard], true, &sb.actions_section(&audit, &format!("pre_failover_hook = \"{hook}\"")));
    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes", "--force-check", "master_dead"]);
    assert_eq!(code, 0, "{out}");
    let new = new_master(&sb, shard, &out);
    for n in sb.replicas(shard).into_iter().filter(|n| *n != new) {
        streams_from(&sb, &n, &new).await;
    }
    assert!(audit_steps(&audit).iter().any(|(s, p)| s == "pre_hook" && p == "ok"));
}

#[tokio::test]
async fn a_failing_fencing_hook_changes_nothing() {
    let sb = sandbox_or_skip!();
    let (shard, master) = ("s37", "s37-m");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    kill(&sb, master);
    let hook = "echo cannot reach the PDU >&2; exit 1";
    let cfg = sb.config_with(&[shard], true, &sb.actions_section(&audit, &format!("pre_failover_hook = \"{hook}\"")));
    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--yes"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("step pre_hook failed") && out.contains("cannot reach the PDU"), "{out}");
    for r in sb.replicas(shard) {
        assert_eq!(sb.value(&r, "SELECT @@read_only").await.as_deref(), Some("1"), "{r} became writable");
        let row = sb.replica_status(&r).await.expect("still a replica");
        assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(master).to_string()), "{r} was repointed");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{r}");
        assert_ne!(row.get::<String, _>("Slave_IO_Running").as_deref(), Some("No"), "{r}: IO thread restarted");
    }
    let steps = audit_steps(&audit);
    assert!(steps.contains(&("pre_hook".into(), "failed".into())), "{steps:?}");
    assert!(steps.contains(&("rollback".into(), "ok".into())), "{steps:?}");
    assert!(!steps.iter().any(|(s, _)| s == "promote"), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wanted_candidate_behind_another_catches_up_from_it_first() {
    let sb = Arc::new(sandbox_or_skip!());
    let (shard, master) = ("s38", "s38-m");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg = sb.config_with(&[shard], true, &sb.actions_section(&audit, ""));
    let behind = format!("{shard}-r2");
    sb.exec(&behind, "STOP SLAVE IO_THREAD").await;
    let stop = Arc::new(AtomicBool::new(false));
    let w = tokio::spawn(writer(sb.clone(), master.into(), 38_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let ledger = w.await.expect("writer");
    let ahead = format!("{shard}-r1");
    let pos = sb.value(master, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    assert_eq!(sb.value(&ahead, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref(), Some("0"));
    kill(&sb, master);

    let (code, out) = failover(&sb, &cfg, &["--shard", shard, "--to", &sb.addr(&behind), "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("catches up first from {}", sb.addr(&ahead))), "{out}");
    assert_eq!(new_master(&sb, shard, &out), behind);
    let want: BTreeSet<u64> = ledger.iter().copied().collect();
    assert_eq!(held(&sb, &behind, &ledger).await, want, "the new master has every acknowledged row");
    streams_from(&sb, &ahead, &behind).await;

    // Every write of the old master reached the new one: back, it may rejoin as a replica.
    sandbox(&sb, "start", &[master]);
    let after = config_after(&sb, shard, &behind, &sb.actions_section(&audit, ""));
    let old = sb.addr(master);
    let (code, out) = rejoin(&sb, &after, "rejoin", &["--shard", shard, "--instance", &old, "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("rejoined {shard} as a replica of {}", sb.addr(&behind))), "{out}");
    assert_eq!(sb.value(master, "SELECT @@read_only").await.as_deref(), Some("1"), "{out}");
    // A former master counts its own binlog: current_pos, as after a promotion.
    streams_by(&sb, master, &behind, "Current_Pos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_replicas_behind_the_report_names_what_is_lost() {
    use shardtop::actions::failover::{self as fo, Seen};
    let sb = Arc::new(sandbox_or_skip!());
    let (shard, master) = ("s39", "s39-m");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg_path = sb.config_with(&[shard], true, &sb.actions_section(&audit, ""));
    // r1 stops receiving a little after r2: r1 is the more advanced of two that both lag.
    let stop = Arc::new(AtomicBool::new(false));
    let w = tokio::spawn(writer(sb.clone(), master.into(), 39_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sb.exec(&format!("{shard}-r2"), "STOP SLAVE IO_THREAD").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sb.exec(&format!("{shard}-r1"), "STOP SLAVE IO_THREAD").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let ledger = w.await.expect("writer");
    // What the TUI's model saw at the master's last probe.
    let last_seen = sb.value(master, "SELECT @@gtid_binlog_pos").await;
    kill(&sb, master);

    let cfg = shardtop::config::load(&cfg_path).expect("config").config;
    let (mut req, accounts) = shardtop::commands::failover_parts(&cfg, shard, None).expect("parts");
    req.dry_run = false;
    req.seen = Some(Seen { failures: 2, last_gtid: last_seen, semi_sync: false });
    let mut log = shardtop::actions::audit::AuditLog::open(Some(&audit)).expect("audit");
    let mut quiet = |_: &shardtop::actions::Progress| {};
    let o = fo::failover(&req, &accounts, &cfg.actions.lock_dir, &mut log, &mut quiet).await.expect("failover");
    let new = sb.replicas(shard).into_iter().find(|r| Some(sb.addr(r)) == o.candidate.as_ref().map(|c| c.to_string()));
    assert_eq!(new.as_deref(), Some("s39-r1"), "the more advanced of the two leads");
    let on_new = held(&sb, "s39-r1", &ledger).await;
    let lost = ledger.len() - on_new.len();
    let reported: u64 = o.loss.missing.iter().map(|m| m.count).sum();
    assert!(lost > 0, "the test lost nothing: {}", o.loss.summary);
    assert_eq!(reported, lost as u64, "{}", o.loss.summary);
    // Every acknowledged write missing is later than every one the new master holds.
    let newest_held = on_new.iter().max().copied().unwrap_or(0);
    assert!(ledger.iter().filter(|id| !on_new.contains(id)).all(|id| *id > newest_held));
    streams_from(&sb, "s39-r2", "s39-r1").await;
    assert_eq!(held(&sb, "s39-r2", &ledger).await, on_new, "r2 caught up with the new master");
    eprintln!("both behind: {} acknowledged, {lost} lost, reported: {}", ledger.len(), o.loss.summary);

    // The old master holds what was lost: rejoining it is refused, naming those transactions.
    sandbox(&sb, "start", &[master]);
    let after = config_after(&sb, shard, "s39-r1", &sb.actions_section(&audit, ""));
    let old = sb.addr(master);
    let (code, out) = rejoin(&sb, &after, "rejoin", &["--shard", shard, "--instance", &old, "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("it holds {lost} transactions the master lacks")), "{out}");
    assert!(out.contains("domain 39 from server 3900"), "{out}");
    assert!(sb.replica_status(master).await.is_none(), "a refused rejoin changes nothing");
}
