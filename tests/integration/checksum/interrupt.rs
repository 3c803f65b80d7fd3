//! Ctrl-C with one replica's replication stopped (s29): pt-table-checksum waits
//! forever there; shardtop ends within about a second wherever it is — paused
//! by the throttle, or in the final wait for the stopped replica — with exit 3
//! and a `--resume` hint, and without a signal gives up after
//! `[checksum] replica_timeout`, naming the replica it could not compare.

use std::time::{Duration, Instant};

use super::{checksum, wait_replicated_on};
use crate::common::Sandbox;

/// Start a checksum, SIGINT it after `after`: (exit code, output, time from signal to exit).
fn interrupt(sb: &Sandbox, cfg: &std::path::Path, tables: &str, after: Duration) -> (Option<i32>, String, Duration) {
    let child = std::process::Command::new(sb.bin())
        .args(["checksum", "--shard", "s29", "--tables", tables, "--config"])
        .arg(cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start checksum");
    std::thread::sleep(after);
    let signalled = Instant::now();
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().expect("wait");
    let took = signalled.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_run_within_a_second_with_a_replica_stopped() {
    let sb = sandbox_or_skip!();
    sb.exec(
        "s29-m",
        "CREATE DATABASE IF NOT EXISTS social; USE social; DROP TABLE IF EXISTS social.keyed, social.keyless; \
         CREATE TABLE social.keyed (id INT NOT NULL PRIMARY KEY, v INT); INSERT INTO social.keyed SELECT seq, seq FROM seq_1_to_5000; \
         CREATE TABLE social.keyless (a INT, b INT); INSERT INTO social.keyless SELECT seq, seq FROM seq_1_to_100",
    )
    .await;
    wait_replicated_on(&sb, "s29").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("a.jsonl");
    let cfg = sb.config_with(
        &["s29"],
        false,
        &format!("{}\n[checksum]\nreplica_timeout = \"600s\"\n", sb.actions_section(&audit, "")),
    );
    sb.exec("s29-r2", "STOP SLAVE").await;
    // Runs even when an assertion fails: the shard's replica replicates again.
    struct Restart<'a>(&'a Sandbox);
    impl Drop for Restart<'_> {
        fn drop(&mut self) {
            let sb = self.0;
            let _ = std::process::Command::new("scripts/sandbox")
                .args(["sql", "s29-r2", "START SLAVE", "--dir"])
                .arg(sb.var("SANDBOX_DIR"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status();
        }
    }
    let _restart = Restart(&sb);

    // 1. Paused by the throttle (the replica's SQL thread is stopped).
    let (code, out, took) =
        tokio::task::block_in_place(|| interrupt(&sb, &cfg, "social.keyed", Duration::from_millis(1500)));
    eprintln!("SIGINT while paused: exit {code:?} after {took:?}");
    assert!(out.contains("paused: replica") || out.contains("replication stopped"), "{out}");
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("--resume"), "{out}");
    assert!(took < Duration::from_millis(1200), "ended {took:?} after the signal:\n{out}");

    // 2. In the final wait for the stopped replica (a keyless table is one chunk, no throttle).
    let (code, out, took) =
        tokio::task::block_in_place(|| interrupt(&sb, &cfg, "social.keyless", Duration::from_millis(1500)));
    eprintln!("SIGINT in the final wait: exit {code:?} after {took:?}");
    assert!(out.contains("social.keyless: ✓ 100 rows in 1 chunk"), "the table has its verdict: {out}");
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("--resume"), "{out}");
    assert!(took < Duration::from_millis(1200), "ended {took:?} after the signal:\n{out}");
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(log.lines().any(|l| l.contains("\"phase\":\"interrupted\"")), "the audit log records it:\n{log}");
    assert!(log.lines().any(|l| l.contains("\"phase\":\"paused\"")), "and the pause:\n{log}");

    // 3. No signal: replica_timeout from the config ends the wait; the other replica is compared.
    let cfg = sb.config_with(
        &["s29"],
        false,
        &format!("{}\n[checksum]\nreplica_timeout = \"2s\"\n", sb.actions_section(&audit, "")),
    );
    let started = Instant::now();
    let (code, out) =
        tokio::task::block_in_place(|| checksum(&sb, &cfg, &["--shard", "s29", "--tables", "social.keyless"]));
    assert_eq!(code, 4, "incomplete: {out}");
    let r2 = sb.addr("s29-r2");
    assert!(out.contains(&format!("INCOMPLETE {r2} not compared")), "{out}");
    assert!(out.contains(&format!("{}: 0 differing chunks", sb.addr("s29-r1"))), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
