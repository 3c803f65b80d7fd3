//! `shardtop promote` against real MariaDB shards (the sandbox shards `common/shards.rs` gives this module).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::common::Sandbox;

/// What each member looks like, to compare before and after.
async fn shape(sb: &Sandbox, shard: &str) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut names = vec![format!("{shard}-m")];
    names.extend(sb.replicas(shard));
    for n in names {
        let gtid = sb.value(&n, "SELECT @@gtid_binlog_pos").await;
        let ro = sb.value(&n, "SELECT @@read_only").await;
        let source = sb.replica_status(&n).await.map(|r| {
            format!(
                "{}:{} io={} sql={}",
                r.get::<String, _>("Master_Host").unwrap_or_default(),
                r.get::<String, _>("Master_Port").unwrap_or_default(),
                r.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
                r.get::<String, _>("Slave_SQL_Running").unwrap_or_default()
            )
        });
        out.push((n, gtid, ro, source));
    }
    out
}

fn promote(sb: &Sandbox, cfg: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin())
        .arg("promote")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shardtop promote");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn dry_run_changes_nothing_then_a_failing_hook_keeps_the_promotion() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let hook = "echo routing update failed >&2; exit 3";
    let cfg = sb.config_with(&["s7"], false, &sb.actions_section(&audit, &format!("post_promote_hook = \"{hook}\"")));
    let cand = sb.addr("s7-r1");

    let before = shape(&sb, "s7").await;
    let (code, dry_out) = promote(&sb, &cfg, &["--shard", "s7", "--to", &cand, "--dry-run"]);
    assert_eq!(code, 0, "{dry_out}");
    assert!(dry_out.contains("plan:") && dry_out.contains("dry run: nothing was changed"), "{dry_out}");
    assert_eq!(shape(&sb, "s7").await, before, "a dry run changed the shard");
    assert!(!audit.exists(), "a dry run writes no audit trail");

    // Without --yes and without a terminal, nothing happens either.
    let (code, out) = promote(&sb, &cfg, &["--shard", "s7", "--to", &cand]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pass --yes"), "{out}");
    assert_eq!(shape(&sb, "s7").await, before);

    let (code, out) = promote(&sb, &cfg, &["--shard", "s7", "--to", &cand, "--yes"]);
    assert_eq!(code, 0, "the promotion stands although the hook failed: {out}");
    assert!(
        out.contains("post-promotion hook failed (the promotion stands)") && out.contains("routing update failed"),
        "{out}"
    );
    assert_eq!(sb.value("s7-r1", "SELECT @@read_only").await.as_deref(), Some("0"));
    assert_eq!(sb.value("s7-m", "SELECT @@read_only").await.as_deref(), Some("1"));
    let trail = std::fs::read_to_string(&audit).expect("audit trail");
    let steps: Vec<serde_json::Value> = trail.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert!(steps.iter().any(|s| s["step"] == "hook" && s["phase"] == "failed"));
    assert!(steps.iter().any(|s| s["step"] == "outcome" && s["phase"] == "ok"));
    // The plan the dry run printed is what ran, step for step (lock and read come before the plan).
    let planned: Vec<String> = dry_out
        .lines()
        .skip_while(|l| l.trim() != "plan:")
        .skip(1)
        .map_while(|l| {
            l.trim().split_once(". ").map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_string())
        })
        .collect();
    let ran: Vec<String> = steps
        .iter()
        .filter(|s| s["phase"] == "start" && s["step"] != "lock" && s["step"] != "read")
        .map(|s| s["step"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(
        planned,
        ["freeze", "verify_frozen", "catch_up", "promote", "hook", "repoint", "old_master", "marker"],
        "{dry_out}"
    );
    assert_eq!(ran, planned, "the executed steps differ from the dry run's plan: {trail}");
    let admin_pw = std::fs::read_to_string(sb.var("SANDBOX_ADMIN_PASSWORD_FILE")).expect("pw");
    let repl_pw = std::fs::read_to_string(sb.var("SANDBOX_REPL_PASSWORD_FILE")).expect("pw");
    assert!(!trail.contains(admin_pw.trim()) && !trail.contains(repl_pw.trim()), "a password reached the audit log");
    assert!(!out.contains(admin_pw.trim()) && !out.contains(repl_pw.trim()), "a password reached the output");
}

/// The application's writer, following the routing file, as `account` ("app": an ordinary
/// account; "app_super": one with SUPER, which read_only alone does not stop).
fn writer(
    sb: Arc<Sandbox>,
    routing: std::path::PathBuf,
    user: &str,
    password: &str,
    first_id: u64,
    stop: Arc<AtomicBool>,
) -> impl std::future::Future<Output = Vec<(u64, Instant)>> {
    crate::common::routed_writer(sb, routing, user.to_string(), password.to_string(), first_id, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotes_under_write_load_without_losing_or_duplicating_a_write() {
    let sb = Arc::new(sandbox_or_skip!());
    let dir = tempfile::tempdir().expect("tempdir");
    let routing = dir.path().join("routing");
    std::fs::write(&routing, sb.addr("s8-m")).expect("routing");
    let hook = crate::common::routing_hook(&routing);
    let cfg = sb.config_with(
        &["s8"],
        false,
        &sb.actions_section(&dir.path().join("audit.jsonl"), &format!("post_promote_hook = \"{hook}\"")),
    );
    // An application account that read_only stops, and one that it does not
    // (ALL PRIVILEGES includes READ_ONLY ADMIN on MariaDB 10.11).
    sb.exec(
        "s8-m",
        "CREATE USER IF NOT EXISTS app@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON social.* TO app@'127.0.0.1'; \
         CREATE USER IF NOT EXISTS app_super@'127.0.0.1' IDENTIFIED BY 'super-pw'; GRANT ALL PRIVILEGES ON *.* TO app_super@'127.0.0.1'",
    )
    .await;
    // Parallel appliers on the replicas: the catch-up wait must hold for them too.
    for r in sb.replicas("s8") {
        sb.exec(&r, "STOP SLAVE; SET GLOBAL slave_parallel_threads = 4; SET GLOBAL slave_parallel_mode = 'optimistic'; START SLAVE").await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let w1 = tokio::spawn(writer(sb.clone(), routing.clone(), "app", "app-pw", 20_000_000, stop.clone()));
    let w2 = tokio::spawn(writer(sb.clone(), routing.clone(), "app_super", "super-pw", 30_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_millis(700)).await;

    let started = Instant::now();
    let cand = sb.addr("s8-r1");
    let (sb2, cfg_path) = (sb.clone(), cfg.to_path_buf());
    let (code, out) =
        tokio::task::spawn_blocking(move || promote(&sb2, &cfg_path, &["--shard", "s8", "--to", &cand, "--yes"]))
            .await
            .expect("promote");
    let switched = Instant::now();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    let a1 = w1.await.expect("writer 1");
    let a2 = w2.await.expect("writer 2");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning:"), "{out}");
    assert!(out.contains("locked 'app_super'@'127.0.0.1'"), "the privileged account is fenced: {out}");
    // The trail names the fenced account when it is locked and when it is unlocked, so a run
    // finishing a crashed one would know what to unlock.
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    for step in ["fence", "unfence"] {
        let entry = trail
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["step"] == step && e["phase"] == "ok")
            .unwrap_or_else(|| panic!("no {step} entry: {trail}"));
        assert_eq!(entry["accounts"], serde_json::json!(["'app_super'@'127.0.0.1'"]), "{step}");
    }
    for (name, acks) in [("app", &a1), ("app_super", &a2)] {
        assert!(acks.iter().any(|(_, t)| *t < started), "{name} wrote before the switch");
        assert!(acks.iter().any(|(_, t)| *t > switched), "{name} wrote after the switch");
    }
    let gap = |acks: &[(u64, Instant)]| acks.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap_or_default();
    eprintln!(
        "write-unavailable window: app {:?}, app_super {:?}; acknowledged {} + {} rows",
        gap(&a1),
        gap(&a2),
        a1.len(),
        a2.len()
    );

    // Every acknowledged row exactly once, everywhere; new topology in place.
    let want: Vec<u64> = a1.iter().chain(a2.iter()).map(|(id, _)| *id).collect();
    let new_master_gtid = sb.value("s8-r1", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in ["s8-r1", "s8-m", "s8-r2"] {
        if n != "s8-r1" {
            let w = sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{new_master_gtid}', 10)")).await;
            assert_eq!(w.as_deref(), Some("0"), "{n} did not catch up with the new master");
        }
        let mut c = sb.admin(n).await;
        let ids: Vec<u64> = c
            .query("SELECT id FROM social.photos WHERE id >= 20000000 ORDER BY id")
            .await
            .unwrap_or_else(|e| panic!("{n}: {e}"));
        let _ = c.disconnect().await;
        let have: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        let wanted: std::collections::BTreeSet<u64> = want.iter().copied().collect();
        let missing: Vec<_> = wanted.difference(&have).take(20).collect();
        let extra: Vec<_> = have.difference(&wanted).take(20).collect();
        assert_eq!(have.len(), ids.len(), "{n}: duplicated rows");
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{n}: acknowledged but missing {missing:?}; present but never acknowledged {extra:?}"
        );
    }
    for n in ["s8-m", "s8-r2"] {
        let s = shape(&sb, "s8").await;
        let (_, _, ro, src) = s.iter().find(|x| x.0 == n).cloned().expect("member");
        assert_eq!(ro.as_deref(), Some("1"), "{n} is read-only");
        assert_eq!(
            src,
            Some(format!("127.0.0.1:{} io=Yes sql=Yes", sb.port("s8-r1"))),
            "{n} replicates from the new master"
        );
    }
    assert_eq!(sb.value("s8-r1", "SELECT @@read_only").await.as_deref(), Some("0"));
    // The fence is lifted afterwards.
    assert!(
        sb.connect_as(&sb.addr("s8-m"), "app_super", "super-pw").await.is_ok(),
        "app_super stays locked on the old master"
    );
}

#[tokio::test]
async fn lagging_or_errant_candidates_are_refused_and_nothing_changes() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(
        &["s9"],
        false,
        &format!(
            "{}\n[thresholds]\nlag_warn = \"1s\"\nlag_crit = \"60s\"\n",
            sb.actions_section(&dir.path().join("a.jsonl"), "")
        ),
    );
    // r1 lags: a delayed replica with writes behind it.
    sb.exec("s9-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=3600; START SLAVE").await;
    sb.exec("s9-m", "INSERT INTO social.photos (user_id, caption) VALUES (9, 'lag')").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // r2 has an errant transaction: a write made on the replica itself.
    sb.exec("s9-r2", "INSERT INTO social.photos (user_id, caption) VALUES (9, 'errant')").await;
    let before = shape(&sb, "s9").await;

    let (code, out) = promote(&sb, &cfg, &["--shard", "s9", "--to", &sb.addr("s9-r1"), "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused") && out.contains("FAIL   lag"), "{out}");
    let (code, out) = promote(&sb, &cfg, &["--shard", "s9", "--to", &sb.addr("s9-r2"), "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL   errant_gtids") && out.contains("transactions the master does not have: 9-902-"),
        "{out}"
    );
    assert_eq!(shape(&sb, "s9").await, before, "a refused promotion changed the shard");
    sb.exec("s9-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE").await;
}

/// A run that died after freezing the old master: the next run sees it, says
/// what happened, and finishes the switch only when told to.
#[tokio::test]
async fn an_interrupted_freeze_is_detected_and_can_be_finished() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(&["s21"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));
    // As a crashed run would have left it: frozen, nothing switched.
    sb.exec("s21-m", "SET GLOBAL read_only = 1").await;
    let cand = sb.addr("s21-r1");
    let (code, out) = promote(&sb, &cfg, &["--shard", "s21", "--to", &cand, "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL   master_writable") && out.contains("previous promotion may have been interrupted"),
        "{out}"
    );
    let (code, out) =
        promote(&sb, &cfg, &["--shard", "s21", "--to", &cand, "--yes", "--force-check", "master_writable"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(sb.value("s21-r1", "SELECT @@read_only").await.as_deref(), Some("0"));
    let row = sb.replica_status("s21-m").await.expect("the old master is a replica now");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port("s21-r1").to_string()));
}

#[tokio::test]
async fn catch_up_timeout_rolls_back_and_leaves_the_master_writable() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(&["s10"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));
    // Hold a table lock on the candidate so its SQL thread cannot apply the next write.
    let mut blocker = sb.admin("s10-r1").await;
    blocker.query_drop("LOCK TABLES social.photos WRITE").await.expect("lock tables");
    sb.exec("s10-m", "INSERT INTO social.photos (user_id, caption) VALUES (10, 'stuck')").await;
    let (code, out) = promote(&sb, &cfg, &["--shard", "s10", "--to", &sb.addr("s10-r1"), "--yes", "--timeout", "1s"]);
    blocker.query_drop("UNLOCK TABLES").await.expect("unlock");
    let _ = blocker.disconnect().await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("step catch_up failed") && out.contains("rolled back"), "{out}");
    assert_eq!(sb.value("s10-m", "SELECT @@read_only").await.as_deref(), Some("0"), "the old master is writable again");
    // Topology unchanged: both replicas still follow the master, and the master takes writes.
    sb.exec("s10-m", "INSERT INTO social.photos (user_id, caption) VALUES (10, 'after')").await;
    let gtid = sb.value("s10-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in sb.replicas("s10") {
        assert_eq!(sb.value(&r, &format!("SELECT MASTER_GTID_WAIT('{gtid}', 10)")).await.as_deref(), Some("0"), "{r}");
        let s = shape(&sb, "s10").await;
        let src = s.iter().find(|x| x.0 == r).and_then(|x| x.3.clone());
        assert_eq!(src, Some(format!("127.0.0.1:{} io=Yes sql=Yes", sb.port("s10-m"))), "{r}");
    }

    // Then, on a semi-sync shard, a promotion that goes through keeps the shard semi-sync: the new
    // master waits, lossless, for the replicas it takes over.
    crate::common::sandbox_script(&sb, "semi-sync", &["on", "s10"]);
    assert_eq!(sb.value("s10-r2", "SELECT @@rpl_semi_sync_master_enabled").await.as_deref(), Some("0"));
    let (code, out) = promote(&sb, &cfg, &["--shard", "s10", "--to", &sb.addr("s10-r2"), "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("semi-sync on (AFTER_SYNC)"), "{out}");
    assert_eq!(sb.value("s10-r2", "SELECT @@rpl_semi_sync_master_enabled").await.as_deref(), Some("1"));
    assert_eq!(sb.value("s10-r2", "SELECT @@rpl_semi_sync_master_wait_point").await.as_deref(), Some("AFTER_SYNC"));
    sb.exec("s10-r2", "INSERT INTO social.photos (user_id, caption) VALUES (10, 'semi-sync')").await;
    let status = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME";
    assert_eq!(
        sb.value("s10-r2", &format!("{status} = 'RPL_SEMI_SYNC_MASTER_STATUS'")).await.as_deref(),
        Some("ON"),
        "a replica acknowledges the new master's writes"
    );
}

/// The shape real shards have: the shard master replicates from a global
/// upstream (another GTID domain). The promoted replica must take over that
/// link, and both streams of writes must arrive everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_keeps_the_upstream_link_and_both_write_streams() {
    let sb = Arc::new(sandbox_or_skip!());
    let upstream = sb.addr("s11-m");
    // Wire s12-m under s11-m from s11-m's current position (domain 11 only).
    let up_pos = sb.value("s11-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    let repl_pw = std::fs::read_to_string(sb.var("SANDBOX_REPL_PASSWORD_FILE")).expect("repl pw");
    sb.exec(
        "s12-m",
        &format!(
            "SET GLOBAL gtid_slave_pos = '{up_pos}'; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
             MASTER_USER='{}', MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos; START SLAVE",
            sb.port("s11-m"),
            sb.var("SANDBOX_REPL_USER"),
            repl_pw.trim()
        ),
    )
    .await;
    sb.exec("s11-m", "CREATE DATABASE IF NOT EXISTS global; CREATE TABLE IF NOT EXISTS global.friends (id BIGINT PRIMARY KEY, name VARCHAR(32))").await;
    let gpos = sb.value("s11-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in ["s12-m", "s12-r1", "s12-r2"] {
        assert_eq!(
            sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{gpos}', 10)")).await.as_deref(),
            Some("0"),
            "{n} gets upstream data"
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let routing = dir.path().join("routing");
    std::fs::write(&routing, sb.addr("s12-m")).expect("routing");
    let hook = crate::common::routing_hook(&routing);
    let extra = format!(
        "upstream = \"{upstream}\"\n\n{}",
        sb.actions_section(&dir.path().join("a.jsonl"), &format!("post_promote_hook = \"{hook}\""))
    );
    let cfg = sb.config_with(&["s12"], false, &extra);
    sb.exec("s12-m", "CREATE USER IF NOT EXISTS app@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON social.* TO app@'127.0.0.1'")
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let shard_writer = tokio::spawn(writer(sb.clone(), routing.clone(), "app", "app-pw", 40_000_000, stop.clone()));
    // The global writer keeps writing to the upstream throughout.
    let (sb_g, stop_g) = (sb.clone(), stop.clone());
    let global_writer = tokio::spawn(async move {
        let mut c = sb_g.admin("s11-m").await;
        let mut n = 0u64;
        while !stop_g.load(Ordering::Relaxed) {
            c.query_drop(format!("INSERT INTO global.friends VALUES ({n}, 'f{n}')")).await.expect("global write");
            n += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        n
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cand = sb.addr("s12-r1");
    let (sb2, cfg_path) = (sb.clone(), cfg.to_path_buf());
    let (code, out) =
        tokio::task::spawn_blocking(move || promote(&sb2, &cfg_path, &["--shard", "s12", "--to", &cand, "--yes"]))
            .await
            .expect("promote");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = shard_writer.await.expect("writer");
    let globals = global_writer.await.expect("global writer");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("point it at the upstream {upstream}")), "{out}");
    assert!(!out.contains("warning:"), "{out}");

    // The new master follows the upstream; the old master and r2 follow the new master.
    let follows = |n: &'static str, source: String| {
        let sb = sb.clone();
        async move {
            let r = sb.replica_status(n).await.unwrap_or_else(|| panic!("{n} is not a replica"));
            let got = format!(
                "{}:{} {} {}",
                r.get::<String, _>("Master_Host").unwrap_or_default(),
                r.get::<String, _>("Master_Port").unwrap_or_default(),
                r.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
                r.get::<String, _>("Slave_SQL_Running").unwrap_or_default()
            );
            assert_eq!(got, format!("{source} Yes Yes"), "{n}");
        }
    };
    follows("s12-r1", upstream.clone()).await;
    follows("s12-m", sb.addr("s12-r1")).await;
    follows("s12-r2", sb.addr("s12-r1")).await;
    let gpos = sb.value("s11-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    let npos = sb.value("s12-r1", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in ["s12-r1", "s12-m", "s12-r2"] {
        assert_eq!(
            sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{gpos}', 10)")).await.as_deref(),
            Some("0"),
            "{n}: upstream"
        );
        if n != "s12-r1" {
            assert_eq!(
                sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{npos}', 10)")).await.as_deref(),
                Some("0"),
                "{n}: shard"
            );
        }
        let g = sb.value(n, "SELECT COUNT(*) FROM global.friends").await;
        assert_eq!(g, Some(globals.to_string()), "{n}: every upstream write arrived once");
        let s = sb.value(n, "SELECT COUNT(*) FROM social.photos WHERE id >= 40000000").await;
        assert_eq!(s, Some(acked.len().to_string()), "{n}: every acknowledged shard write arrived once");
    }
}

/// file:position replication (no GTID positioning): catch-up by MASTER_POS_WAIT,
/// replicas repointed at the candidate's own binlog coordinates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_position_shards_promote_without_losing_a_write() {
    let sb = Arc::new(sandbox_or_skip!());
    for r in sb.replicas("s13") {
        sb.exec(&r, "STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID=no; START SLAVE").await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let routing = dir.path().join("routing");
    std::fs::write(&routing, sb.addr("s13-m")).expect("routing");
    let hook = crate::common::routing_hook(&routing);
    let cfg = sb.config_with(
        &["s13"],
        false,
        &sb.actions_section(&dir.path().join("a.jsonl"), &format!("post_promote_hook = \"{hook}\"")),
    );
    sb.exec("s13-m", "CREATE USER IF NOT EXISTS app@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON social.* TO app@'127.0.0.1'")
        .await;
    // New binlog files on both sides: coordinates must be read fresh, not assumed.
    sb.exec("s13-m", "FLUSH BINARY LOGS").await;
    sb.exec("s13-r1", "FLUSH BINARY LOGS").await;
    let stop = Arc::new(AtomicBool::new(false));
    let w = tokio::spawn(writer(sb.clone(), routing.clone(), "app", "app-pw", 50_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cand = sb.addr("s13-r1");
    let (sb2, cfg_path) = (sb.clone(), cfg.to_path_buf());
    let (code, out) =
        tokio::task::spawn_blocking(move || promote(&sb2, &cfg_path, &["--shard", "s13", "--to", &cand, "--yes"]))
            .await
            .expect("promote");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = w.await.expect("writer");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("MASTER_POS_WAIT") && out.contains("(mysql-bin."), "file:pos plan and repoint: {out}");
    assert!(!out.contains("warning:"), "{out}");
    // Wait for the others to reach the new master's position, then compare.
    let (file, pos) = sb.binlog_coords("s13-r1").await;
    for n in ["s13-m", "s13-r2"] {
        let w = sb.value(n, &format!("SELECT MASTER_POS_WAIT('{file}', {pos}, 10)")).await;
        assert!(w.as_deref().is_some_and(|v| v != "-1"), "{n} did not reach {file}:{pos}: {w:?}");
        assert_eq!(sb.value(n, "SELECT @@read_only").await.as_deref(), Some("1"));
    }
    for n in ["s13-r1", "s13-m", "s13-r2"] {
        let s = sb.value(n, "SELECT COUNT(*) FROM social.photos WHERE id >= 50000000").await;
        assert_eq!(s, Some(acked.len().to_string()), "{n}: every acknowledged write arrived once");
    }
}

#[tokio::test]
async fn candidate_killed_mid_run_rolls_back() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(&["s14"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));
    // Hold the candidate in catch-up, then kill it there.
    let mut blocker = sb.admin("s14-r1").await;
    blocker.query_drop("LOCK TABLES social.photos WRITE").await.expect("lock tables");
    sb.exec("s14-m", "INSERT INTO social.photos (user_id, caption) VALUES (14, 'stuck')").await;
    let pid = sb.pid("s14-r1");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let (code, out) = promote(&sb, &cfg, &["--shard", "s14", "--to", &sb.addr("s14-r1"), "--yes", "--timeout", "8s"]);
    killer.join().expect("killer");
    drop(blocker);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("step catch_up failed") && out.contains("rolled back"), "{out}");
    assert_eq!(sb.value("s14-m", "SELECT @@read_only").await.as_deref(), Some("0"), "the old master is writable again");
    sb.exec("s14-m", "INSERT INTO social.photos (user_id, caption) VALUES (14, 'after')").await;
    let gtid = sb.value("s14-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    assert_eq!(
        sb.value("s14-r2", &format!("SELECT MASTER_GTID_WAIT('{gtid}', 10)")).await.as_deref(),
        Some("0"),
        "r2 still follows the master"
    );
}

/// A transaction that wrote but had not committed when the freeze came: it
/// must not commit on the old master afterwards (MariaDB refuses the COMMIT
/// under read_only), so nothing half-done is left behind on either side.
#[tokio::test]
async fn an_open_write_transaction_cannot_commit_after_the_freeze() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(&["s22"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));
    sb.exec("s22-m", "CREATE USER IF NOT EXISTS app@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON social.* TO app@'127.0.0.1'")
        .await;
    let mut app = sb.connect_as(&sb.addr("s22-m"), "app", "app-pw").await.expect("app connects");
    app.query_drop("BEGIN").await.expect("begin");
    app.query_drop("INSERT INTO social.photos (id, user_id, caption) VALUES (60000000, 22, 'open')")
        .await
        .expect("insert");
    let cand = sb.addr("s22-r1");
    let cfg_path = cfg.to_path_buf();
    let (code, out) = tokio::task::spawn_blocking({
        let sb = sb.clone();
        move || promote(&sb, &cfg_path, &["--shard", "s22", "--to", &cand, "--yes"])
    })
    .await
    .expect("promote");
    assert_eq!(code, 0, "{out}");
    let commit = app.query_drop("COMMIT").await;
    assert!(commit.is_err(), "the open transaction committed on the frozen old master");
    let _ = app.disconnect().await;
    let pos = sb.value("s22-r1", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in ["s22-r1", "s22-m", "s22-r2"] {
        if n != "s22-r1" {
            assert_eq!(
                sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref(),
                Some("0"),
                "{n}"
            );
        }
        assert_eq!(
            sb.value(n, "SELECT COUNT(*) FROM social.photos WHERE id = 60000000").await.as_deref(),
            Some("0"),
            "{n}"
        );
    }
}

/// A run that crashed after the candidate took writes: the next run finishes
/// the switch (routing, replicas, old master) instead of refusing; a writable
/// standalone server that lacks the master's data is never taken for one.
#[tokio::test]
async fn a_switch_interrupted_after_the_point_of_no_return_is_finished() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    // s23: the "candidate" was detached before the master's last write: not a finished switch.
    let cfg23 = sb.config_with(&["s23"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));
    sb.exec("s23-r1", "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0").await;
    sb.exec(
        "s23-m",
        "INSERT INTO social.photos (user_id, caption) VALUES (23, 'after the detach'); SET GLOBAL read_only = 1",
    )
    .await;
    let (code, out) = promote(&sb, &cfg23, &["--shard", "s23", "--to", &sb.addr("s23-r1"), "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("lacks transactions the old master"), "{out}");

    // s24: as a crash right after `promote` leaves it, with a privileged account it had fenced
    // (locked on the old master only, and recorded in the audit log before the crash).
    let audit = dir.path().join("b.jsonl");
    let cfg = sb.config_with(&["s24"], false, &sb.actions_section(&audit, ""));
    sb.exec(
        "s24-m",
        "CREATE USER IF NOT EXISTS fenced_app@'127.0.0.1' IDENTIFIED BY 'f-pw'; \
         GRANT ALL PRIVILEGES ON *.* TO fenced_app@'127.0.0.1'",
    )
    .await;
    let pos = sb.value("s24-m", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    sb.exec("s24-m", "SET SESSION sql_log_bin = 0; ALTER USER fenced_app@'127.0.0.1' ACCOUNT LOCK").await;
    let crashed = serde_json::json!({
        "ts": "2026-11-26T10:00:00Z", "run": "crashed-run", "action": "promote", "shard": "s24",
        "step": "fence", "phase": "ok", "detail": "locked 'fenced_app'@'127.0.0.1' on the master",
        "accounts": ["'fenced_app'@'127.0.0.1'"],
    });
    std::fs::write(&audit, format!("{crashed}\n")).expect("audit");
    let locked = |n: &'static str| {
        let sb = &sb;
        async move { sb.value(n, "SHOW CREATE USER fenced_app@'127.0.0.1'").await.unwrap_or_default() }
    };
    assert!(locked("s24-m").await.contains("ACCOUNT LOCK"), "set up locked");
    sb.exec("s24-m", "SET GLOBAL read_only = 1").await;
    assert_eq!(sb.value("s24-r1", &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref(), Some("0"));
    sb.exec("s24-r1", "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0").await;
    sb.exec(
        "s24-r1",
        "INSERT INTO social.photos (id, user_id, caption) VALUES (70000000, 24, 'taken by the new master')",
    )
    .await;
    let (code, out) = promote(&sb, &cfg, &["--shard", "s24", "--to", &sb.addr("s24-r1"), "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("finishing it"), "{out}");
    // The account the crashed run fenced is unlocked, and the audit log says so.
    assert!(!locked("s24-m").await.contains("ACCOUNT LOCK"), "{out}");
    assert!(out.contains("unlocked 'fenced_app'@'127.0.0.1'"), "{out}");
    assert!(!out.contains("may still be locked"), "{out}");
    let trail = std::fs::read_to_string(&audit).expect("audit");
    assert!(trail.lines().any(|l| l.contains("\"step\":\"unfence\"") && l.contains("fenced_app")), "{trail}");
    let npos = sb.value("s24-r1", "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for n in ["s24-m", "s24-r2"] {
        assert_eq!(sb.value(n, &format!("SELECT MASTER_GTID_WAIT('{npos}', 10)")).await.as_deref(), Some("0"), "{n}");
        assert_eq!(
            sb.value(n, "SELECT COUNT(*) FROM social.photos WHERE id = 70000000").await.as_deref(),
            Some("1"),
            "{n}"
        );
        let row = sb.replica_status(n).await.unwrap_or_else(|| panic!("{n} replicates"));
        assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port("s24-r1").to_string()), "{n}");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{n}");
    }
    assert_eq!(sb.value("s24-m", "SELECT @@read_only").await.as_deref(), Some("1"));
}

/// The file:position flavour of a crash after the switch: the run that finishes it repoints the
/// file:pos replica and the old master from the coordinates the crashed run recorded in the audit
/// log before the switch; without them it refuses, naming the replicas.
#[tokio::test]
async fn a_file_position_switch_interrupted_after_the_point_of_no_return_is_finished() {
    let sb = sandbox_or_skip!();
    for r in sb.replicas("s25") {
        sb.exec(&r, "STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID=no; START SLAVE").await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("c.jsonl");
    let cfg = sb.config_with(&["s25"], false, &sb.actions_section(&audit, ""));
    let reached = |n: &'static str, f: String, p: u64| {
        let sb = &sb;
        async move {
            let v = sb.value(n, &format!("SELECT MASTER_POS_WAIT('{f}', {p}, 10)")).await;
            v.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v >= 0)
        }
    };
    sb.exec("s25-m", "INSERT INTO social.photos (user_id, caption) VALUES (25, 'before the switch')").await;
    // As a crash right after `promote` leaves it: the master frozen, the replicas caught up, the
    // candidate detached and taking writes.
    sb.exec("s25-m", "SET GLOBAL read_only = 1").await;
    let (mf, mp) = sb.binlog_coords("s25-m").await;
    for r in ["s25-r1", "s25-r2"] {
        assert!(reached(r, mf.clone(), mp).await, "{r} caught up with the frozen master");
    }
    let (cf, cp) = sb.binlog_coords("s25-r1").await;
    sb.exec("s25-r1", "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0").await;
    sb.exec(
        "s25-r1",
        "INSERT INTO social.photos (id, user_id, caption) VALUES (70000025, 25, 'taken by the new master')",
    )
    .await;
    let args = ["--shard", "s25", "--to", &sb.addr("s25-r1"), "--yes"];
    let (code, out) = promote(&sb, &cfg, &args);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no coordinates of the switch") && out.contains(&sb.addr("s25-r2")), "{out}");

    let crashed = serde_json::json!({
        "ts": "2026-11-26T10:00:00Z", "run": "crashed-run", "action": "promote", "shard": "s25",
        "step": "switch", "phase": "ok", "detail": sb.addr("s25-r1"), "coords": format!("{cf}:{cp}"),
    });
    std::fs::write(&audit, format!("{crashed}\n")).expect("audit");
    let (code, out) = promote(&sb, &cfg, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("finishing it"), "{out}");
    let (nf, np) = sb.binlog_coords("s25-r1").await;
    for n in ["s25-r2", "s25-m"] {
        assert!(reached(n, nf.clone(), np).await, "{n} follows the new master: {out}");
        assert_eq!(
            sb.value(n, "SELECT COUNT(*) FROM social.photos WHERE id = 70000025").await.as_deref(),
            Some("1"),
            "{n}"
        );
        let row = sb.replica_status(n).await.unwrap_or_else(|| panic!("{n} replicates"));
        assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port("s25-r1").to_string()), "{n}");
        assert_eq!(row.get::<String, _>("Using_Gtid").as_deref(), Some("No"), "{n} by file:pos");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{n}");
    }
    assert_eq!(sb.value("s25-m", "SELECT @@read_only").await.as_deref(), Some("1"));
}
