//! Issue 17 §5: a promotion killed (SIGKILL, `SHARDTOP_TEST_CRASH_AFTER=<step>`) right after
//! each of its steps in turn, under acknowledged writes, then run again. Every case must end
//! with one writable master and every replica streaming from it, no acknowledged write lost,
//! and an audit log that tells both runs.
//!
//! Shard s55, promoted once per step: each iteration starts from wherever the last one left the
//! shard (its master and two replicas, as checked at its end) and promotes the master's first
//! replica, so the shard's servers take turns and no rebuild is needed between iterations.
//! Shard s56: a replica to repoint goes down during the switch.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::common::Sandbox;

const SHARD: &str = "s55";
const DOWN_SHARD: &str = "s56";
/// The steps of a promotion of a GTID shard with a hook, in order (checked against `--dry-run`).
const STEPS: [&str; 8] = ["freeze", "verify_frozen", "catch_up", "promote", "hook", "repoint", "old_master", "marker"];
/// Steps after which the switch has happened (the candidate is writable).
const AFTER_SWITCH: [&str; 5] = ["promote", "hook", "repoint", "old_master", "marker"];
const APP_USER: &str = "crash_app";
const APP_PASSWORD: &str = "crash-app-pw";

/// The member names of a shard.
fn members_of(shard: &str) -> [String; 3] {
    [format!("{shard}-m"), format!("{shard}-r1"), format!("{shard}-r2")]
}

fn members() -> [String; 3] {
    members_of(SHARD)
}

async fn read_only(sb: &Sandbox, name: &str) -> bool {
    sb.value(name, "SELECT @@read_only").await.as_deref() == Some("1")
}

/// The member that is writable, and the others, in the order of `members()`.
async fn layout(sb: &Sandbox) -> (String, Vec<String>) {
    layout_of(sb, SHARD).await
}

async fn layout_of(sb: &Sandbox, shard: &str) -> (String, Vec<String>) {
    let mut master = Vec::new();
    let mut replicas = Vec::new();
    for n in members_of(shard) {
        if read_only(sb, &n).await { replicas.push(n) } else { master.push(n) }
    }
    assert_eq!(master.len(), 1, "{shard}: writable members {master:?}");
    (master.remove(0), replicas)
}

fn config(sb: &Sandbox, master: &str, replicas: &[String], audit: &std::path::Path, hook: &str) -> tempfile::TempPath {
    config_of(sb, SHARD, master, replicas, audit, hook)
}

fn config_of(
    sb: &Sandbox,
    shard: &str,
    master: &str,
    replicas: &[String],
    audit: &std::path::Path,
    hook: &str,
) -> tempfile::TempPath {
    let monitor = (sb.var("SANDBOX_MONITOR_USER"), sb.var("SANDBOX_MONITOR_PASSWORD_FILE"));
    let text = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[defaults]\nuser = \"{}\"\npassword_file = \"{}\"\n\n\
         [[shard]]\nname = \"{shard}\"\nmaster = \"{}\"\nreplicas = [{}]\n\n{}",
        monitor.0,
        monitor.1,
        sb.addr(master),
        replicas.iter().map(|r| format!("\"{}\"", sb.addr(r))).collect::<Vec<_>>().join(", "),
        sb.actions_section(audit, &format!("post_promote_hook = \"{hook}\"")),
    );
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp config");
    std::io::Write::write_all(&mut f, text.as_bytes()).expect("write config");
    f.into_temp_path()
}

fn promote(
    sb: &Sandbox,
    cfg: &std::path::Path,
    args: &[&str],
    crash_after: Option<&str>,
) -> (std::process::ExitStatus, String) {
    promote_shard(sb, SHARD, cfg, args, crash_after)
}

fn promote_shard(
    sb: &Sandbox,
    shard: &str,
    cfg: &std::path::Path,
    args: &[&str],
    crash_after: Option<&str>,
) -> (std::process::ExitStatus, String) {
    let mut cmd = std::process::Command::new(sb.bin());
    cmd.arg("promote").arg("--config").arg(cfg).args(["--shard", shard, "--yes"]).args(args);
    match crash_after {
        Some(step) => cmd.env("SHARDTOP_TEST_CRASH_AFTER", step),
        None => cmd.env_remove("SHARDTOP_TEST_CRASH_AFTER"),
    };
    let out = cmd.output().expect("run shardtop promote");
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Inserts rows with increasing ids into the server the routing file names, re-reading it after
/// any error (as an application behind a router would); returns the ids it got an answer for.
async fn writer(sb: Arc<Sandbox>, routing: std::path::PathBuf, first_id: u64, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut acked = Vec::new();
    let mut id = first_id;
    let mut conn: Option<mysql_async::Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            let addr = std::fs::read_to_string(&routing).unwrap_or_default();
            conn =
                match tokio::time::timeout(Duration::from_secs(1), sb.connect_as(addr.trim(), APP_USER, APP_PASSWORD))
                    .await
                {
                    Ok(Ok(c)) => Some(c),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
        }
        let Some(c) = conn.as_mut() else { continue };
        let sql = format!("INSERT INTO social.photos (id, user_id, caption) VALUES ({id}, 55, 'crash')");
        match tokio::time::timeout(Duration::from_secs(2), c.query_drop(sql)).await {
            Ok(Ok(())) => {
                acked.push(id);
                id += 1;
            }
            // An earlier try committed but its answer was lost.
            Ok(Err(mysql_async::Error::Server(e))) if e.code == 1062 => {
                acked.push(id);
                id += 1;
            }
            _ => {
                conn = None;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    acked
}

/// One writable master (`master`), every other member a read-only replica of it with both
/// threads running and everything it has applied.
async fn converged(sb: &Sandbox, master: &str) -> Result<(), String> {
    let (writable, replicas) = layout(sb).await;
    if writable != master {
        return Err(format!("{writable} is writable, not {master}"));
    }
    let pos = sb.value(master, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in &replicas {
        let row = sb.replica_status(r).await.ok_or_else(|| format!("{r} replicates from nobody"))?;
        let port = row.get::<String, _>("Master_Port").unwrap_or_default();
        let threads = (
            row.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
            row.get::<String, _>("Slave_SQL_Running").unwrap_or_default(),
        );
        if port != sb.port(master).to_string() || threads != ("Yes".into(), "Yes".into()) {
            return Err(format!("{r}: source port {port}, threads {threads:?}"));
        }
        let waited = sb.value(r, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await;
        if waited.as_deref() != Some("0") {
            return Err(format!("{r} did not reach {pos}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_killed_after_any_step_is_finished_by_the_next_run_without_losing_a_write() {
    let sb = Arc::new(sandbox_or_skip!());
    let (master, _) = layout(&sb).await;
    sb.exec(
        &master,
        &format!(
            "CREATE USER IF NOT EXISTS {APP_USER}@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'; \
             GRANT SELECT, INSERT ON social.* TO {APP_USER}@'127.0.0.1'"
        ),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let routing = dir.path().join("routing");
    let hook = crate::common::routing_hook(&routing);
    let mut matrix = Vec::new();
    for (k, step) in STEPS.iter().enumerate() {
        let (master, replicas) = layout(&sb).await;
        converged(&sb, &master).await.unwrap_or_else(|e| panic!("before crashing after {step}: {e}"));
        let candidate = replicas[0].clone();
        let audit = dir.path().join(format!("audit-{step}.jsonl"));
        let cfg = config(&sb, &master, &replicas, &audit, &hook);
        if k == 0 {
            let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate), "--dry-run"], None);
            assert!(status.success(), "{out}");
            for s in STEPS {
                assert!(out.contains(s), "the plan has no step {s}:\n{out}");
            }
        }
        std::fs::write(&routing, sb.addr(&master)).expect("routing");
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(writer(sb.clone(), routing.clone(), 90_000_000 + k as u64 * 1_000_000, stop.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The run that dies.
        let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate)], Some(step));
        assert_eq!(status.signal(), Some(9), "crash after {step}: the run was not killed:\n{out}");
        let trail = std::fs::read_to_string(&audit).unwrap_or_default();
        let last_ok = trail.lines().rfind(|l| l.contains("\"phase\":\"ok\"")).unwrap_or_default();
        assert!(
            last_ok.contains(&format!("\"step\":\"{step}\"")),
            "crash after {step}: the audit log ends with {last_ok}"
        );

        // The next run: before the switch it finds the master frozen and says so; told to go on,
        // it promotes; after the switch it finishes what the dead run left.
        let started = Instant::now();
        let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate)], None);
        let outcome = if AFTER_SWITCH.contains(step) {
            assert!(status.success(), "crash after {step}: the next run did not finish it:\n{out}");
            "finished by the next run"
        } else {
            assert_eq!(status.code(), Some(1), "crash after {step}: the next run should refuse:\n{out}");
            assert!(out.contains("previous promotion may have been interrupted"), "crash after {step}:\n{out}");
            let (status, out) =
                promote(&sb, &cfg, &["--to", &sb.addr(&candidate), "--force-check", "master_writable"], None);
            assert!(status.success(), "crash after {step}: --force-check master_writable did not finish:\n{out}");
            "detected as interrupted; finished with --force-check master_writable"
        };
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        let acked = load.await.expect("writer");
        assert!(!acked.is_empty(), "crash after {step}: no write was acknowledged");

        // Converged: the candidate is the one writable master, every other member streams from it,
        // and every acknowledged write is on all three.
        converged(&sb, &candidate).await.unwrap_or_else(|e| panic!("crash after {step}: {e}"));
        assert_eq!(std::fs::read_to_string(&routing).expect("routing"), sb.addr(&candidate), "crash after {step}");
        let (lo, hi) = (acked[0], acked[acked.len() - 1]);
        for n in members() {
            let have: Option<String> =
                sb.value(&n, &format!("SELECT COUNT(*) FROM social.photos WHERE id BETWEEN {lo} AND {hi}")).await;
            assert_eq!(have, Some(acked.len().to_string()), "crash after {step}: {n} lacks acknowledged writes");
        }
        // The audit log tells both runs.
        let trail = std::fs::read_to_string(&audit).expect("audit");
        let runs: std::collections::BTreeSet<String> = trail
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|j| j["run"].as_str().map(str::to_string))
            .collect();
        assert!(runs.len() >= 2, "crash after {step}: the audit log names {} run(s):\n{trail}", runs.len());
        matrix.push(format!(
            "| {step} | killed (SIGKILL) | {outcome} | {} acknowledged writes, none lost | {:.1} s |",
            acked.len(),
            took.as_secs_f64()
        ));
    }
    println!(
        "| crashed after | run | next run | writes | to converge |\n|---|---|---|---|---:|\n{}",
        matrix.join("\n")
    );
}

/// A replica that goes down during the switch (the post-promotion hook stops it, after the point
/// of no return and before the repoint): the switch completes, names it, and does not wait for
/// its marker; started again and pointed at the new master, it catches up. Then a promotion
/// killed after its freeze whose old master hangs.
#[tokio::test]
async fn a_replica_down_during_the_switch_is_named_and_the_switch_completes() {
    let sb = sandbox_or_skip!();
    let (master, replicas) = layout_of(&sb, DOWN_SHARD).await;
    let (candidate, down) = (replicas[0].clone(), replicas[1].clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let hook = format!("{} stop {down} --dir {}", script.display(), sb.var("SANDBOX_DIR"));
    let cfg = config_of(&sb, DOWN_SHARD, &master, &replicas, &dir.path().join("audit.jsonl"), &hook);
    let started = Instant::now();
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    let took = started.elapsed();
    // Whatever happened, the replica runs again for the next test run.
    let start = std::process::Command::new(&script).args(["start", &down, "--dir", sb.var("SANDBOX_DIR")]).output();
    assert!(start.is_ok_and(|o| o.status.success()), "start {down} again");
    assert!(status.success(), "{out}");
    let down_addr = sb.addr(&down);
    assert!(
        out.contains(&format!("repoint {down_addr}: connect")),
        "the switch names the replica it could not repoint:\n{out}"
    );
    assert!(out.contains(&format!("not looked for on {down_addr} (not repointed)")), "{out}");
    assert!(!out.contains("not seen within"), "the marker waited for a replica known to be down:\n{out}");
    println!("switch with {down} down: {:.2} s", took.as_secs_f64());
    // The new master and the old one as a promotion leaves them.
    assert!(!read_only(&sb, &candidate).await && read_only(&sb, &master).await);
    let row = sb.replica_status(&master).await.expect("the old master replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&candidate).to_string()));
    // Back, and pointed at the new master as the warning says to: it catches up.
    let repl = std::fs::read_to_string(sb.var("SANDBOX_REPL_PASSWORD_FILE")).expect("repl password");
    sb.exec(
        &down,
        &format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{}', \
             MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos; START SLAVE",
            sb.port(&candidate),
            sb.var("SANDBOX_REPL_USER"),
            repl.trim()
        ),
    )
    .await;
    sb.exec(&candidate, "INSERT INTO social.photos (user_id, caption) VALUES (56, 'after the switch')").await;
    let pos = sb.value(&candidate, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in [&master, &down] {
        let waited = sb.value(r, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await;
        assert_eq!(waited.as_deref(), Some("0"), "{r} catches up with the new master");
    }

    // The next promotion is killed right after its freeze, and the frozen old master hangs
    // (SIGSTOP): the next run refuses within its timeout, naming the master, and changes nothing;
    // resumed, the master is found frozen (interrupted) and the switch is finished.
    let (master, replicas) = layout_of(&sb, DOWN_SHARD).await;
    let candidate = replicas[0].clone();
    let cfg = config_of(&sb, DOWN_SHARD, &master, &replicas, &dir.path().join("audit2.jsonl"), "true");
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], Some("freeze"));
    assert_eq!(status.signal(), Some(9), "{out}");
    let signal = |verb: &str| {
        let out = std::process::Command::new(&script).args([verb, &master, "--dir", sb.var("SANDBOX_DIR")]).output();
        assert!(out.is_ok_and(|o| o.status.success()), "sandbox {verb} {master}");
    };
    signal("freeze");
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    signal("thaw");
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("cannot read the master {}", sb.addr(&master))), "{out}");
    assert!(read_only(&sb, &master).await && read_only(&sb, &candidate).await, "nothing switched: {out}");
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("previous promotion may have been interrupted"), "{out}");
    let force = ["--to", &sb.addr(&candidate), "--force-check", "master_writable"];
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &force, None);
    assert!(status.success(), "{out}");
    let (writable, _) = layout_of(&sb, DOWN_SHARD).await;
    assert_eq!(writable, candidate);
    let row = sb.replica_status(&master).await.expect("the old master replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&candidate).to_string()));
}
