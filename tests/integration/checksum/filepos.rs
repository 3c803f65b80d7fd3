//! `--method table` on a shard whose replicas replicate by binlog coordinates (s60, switched to
//! `MASTER_USE_GTID=no` here). MariaDB refuses `START SLAVE UNTIL master_gtid_pos` then (ERROR
//! 1949), and a MySQL master without GTIDs has no set to hold replicas at: each replica is held
//! at the master's binlog coordinates instead, and the one changed replica is named alone.

use super::{checksum, wait_replicated_on};
use mysql_async::prelude::Queryable;

use crate::common::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_method_holds_file_position_replicas_at_binlog_coordinates() {
    let sb = sandbox_or_skip!();
    for r in sb.replicas("s60") {
        sb.exec(&r, "STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID = no; START SLAVE").await;
    }
    // Runs even when an assertion fails: the shard replicates by GTID again.
    struct Back<'a>(&'a Sandbox);
    impl Drop for Back<'_> {
        fn drop(&mut self) {
            for r in self.0.replicas("s60") {
                let _ = std::process::Command::new("scripts/sandbox")
                    .args(["sql", &r, "STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID = slave_pos; START SLAVE", "--dir"])
                    .arg(self.0.var("SANDBOX_DIR"))
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status();
            }
        }
    }
    let _back = Back(&sb);
    sb.exec(
        "s60-m",
        "CREATE DATABASE IF NOT EXISTS social; USE social; DROP TABLE IF EXISTS social.fp; \
         CREATE TABLE social.fp (id INT NOT NULL PRIMARY KEY, v INT); INSERT INTO social.fp SELECT seq, seq FROM seq_1_to_2000",
    )
    .await;
    wait_replicated_on(&sb, "s60").await;
    let r2 = sb.replicas("s60")[1].clone();
    sb.exec(&r2, "SET SESSION sql_log_bin = 0; UPDATE social.fp SET v = -1 WHERE id = 1500").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(&["s60"], false, &sb.actions_section(&dir.path().join("a.jsonl"), ""));

    let (code, out) = checksum(&sb, &cfg, &["--shard", "s60", "--tables", "social.fp", "--method", "table"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("DIFF `social`.`fp`: {}\n", sb.addr(&r2))), "the changed replica alone: {out}");
    // The position it was held at names the master's binlog coordinates.
    assert!(out.contains("compared at") && out.contains("mysql-bin."), "{out}");
    for r in sb.replicas("s60") {
        let row = sb.replica_status(&r).await.expect("replica");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{r}: replication restarted");
        assert_eq!(row.get::<String, _>("Until_Condition").as_deref(), Some("None"), "{r}: no hold left");
        assert_eq!(row.get::<String, _>("Using_Gtid").as_deref(), Some("No"), "{r}: still by file:position");
    }

    // A replica that cannot reach the hold position in time (a delayed replica): the run fails
    // at the hold, and the hold is undone on every replica.
    let r1 = sb.replicas("s60")[0].clone();
    sb.exec(&r1, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3600; START SLAVE").await;
    sb.exec("s60-m", "INSERT INTO social.fp VALUES (3001, 3001)").await;
    let audit = dir.path().join("b.jsonl");
    let cfg = sb.config_with(
        &["s60"],
        false,
        &format!("{}\n[checksum]\nreplica_timeout = \"1s\"\n", sb.actions_section(&audit, "")),
    );
    let (code, out) = checksum(&sb, &cfg, &["--shard", "s60", "--tables", "social.fp", "--method", "table"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("hold") && hold_failed_on(&out, &sb.addr(&r1)), "{out}");
    let log = std::fs::read_to_string(&audit).expect("audit log");
    for needle in ["\"step\":\"hold\",\"phase\":\"failed\"", "\"step\":\"rollback\",\"phase\":\"ok\""] {
        assert!(log.contains(needle), "the failed hold and its undoing are audited ({needle}):\n{log}");
    }
    assert!(!log.contains("\"step\":\"replica\""), "no replica was checksummed:\n{log}");
    for r in sb.replicas("s60") {
        let row = sb.replica_status(&r).await.expect("replica");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{r}: replication restarted");
        assert_eq!(row.get::<String, _>("Until_Condition").as_deref(), Some("None"), "{r}: no hold left");
    }

    // A replica whose SQL thread a table lock blocks: the run ends at the hold limit, and the
    // replica, restarted with the lock still there, goes on once it goes (no hold left behind).
    sb.exec(&r1, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE").await;
    wait_replicated_on(&sb, "s60").await;
    let mut blocker = sb.admin(&r1).await;
    blocker.query_drop("LOCK TABLES social.fp WRITE").await.expect("lock tables");
    sb.exec("s60-m", "INSERT INTO social.fp VALUES (3002, 3002)").await;
    // The lock goes after the run has ended.
    let unlock = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        blocker.query_drop("UNLOCK TABLES").await.expect("unlock");
        let _ = blocker.disconnect().await;
    });
    let (code, out) = tokio::task::block_in_place(|| {
        checksum(&sb, &cfg, &["--shard", "s60", "--tables", "social.fp", "--method", "table"])
    });
    unlock.await.expect("unlock task");
    assert_eq!(code, 2, "{out}");
    assert!(hold_failed_on(&out, &sb.addr(&r1)), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let row = sb.replica_status(&r1).await.expect("replica");
    assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "replication restarted");
    assert_eq!(row.get::<String, _>("Until_Condition").as_deref(), Some("None"), "no hold left");
}

/// The hold failed on this replica within `replica_timeout`: it did not reach the position, or
/// (on a loaded machine) its STOP SLAVE did not even return in time. Either way the run must end
/// at the hold and undo it, which the callers assert.
fn hold_failed_on(out: &str, replica: &str) -> bool {
    out.contains(&format!("{replica} did not reach")) || out.contains(&format!("{replica}: STOP SLAVE did not return"))
}
