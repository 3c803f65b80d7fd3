//! `shardtop sim` as a user runs it: serve a small fleet, write its config, and let
//! `shardtop snapshot` poll it over the real MySQL protocol.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;

/// Ports below the ephemeral range, clear of the sandbox: 26306… by default (the sandbox takes the
/// first free block from 23306), or 2,000 above a `SHARDTOP_TEST_BASE_PORT` that `scripts/test`
/// gives the sandbox (72 servers and its Prometheus fit well below that).
fn base_port() -> u16 {
    let sandbox: Option<u16> = std::env::var("SHARDTOP_TEST_BASE_PORT").ok().and_then(|p| p.parse().ok());
    sandbox.map_or(26306, |p| p + 2000)
}

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(flavor: &str, port: u16, config: &std::path::Path) -> Sim {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("shardtop"))
        .args(["sim", "--instances", "3", "--flavor", flavor, "--base-port", &port.to_string()])
        .arg("--config-out")
        .arg(config)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start shardtop sim");
    let stdout = child.stdout.take().expect("piped stdout");
    let sim = Sim(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the ready line");
    assert!(line.starts_with("shardtop sim: serving 4 "), "{line}");
    sim
}

#[test]
fn snapshot_polls_the_wire_sim_in_both_flavours() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, flavor) in ["mariadb", "mysql84"].into_iter().enumerate() {
        let config = dir.path().join(format!("{flavor}.toml"));
        let _sim = start_sim(flavor, base_port() + 4 * n as u16, &config);
        let gtid = if flavor == "mariadb" { "1-100-" } else { "5eed0000-0000-4000-8000-000000000064:1-" };
        Command::cargo_bin("shardtop")
            .expect("binary built")
            .env("HOME", env!("CARGO_TARGET_TMPDIR"))
            .args(["snapshot", "--format", "json", "--config"])
            .arg(&config)
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(0)
            .stdout(predicate::str::contains("users-01").and(predicate::str::contains(gtid)));
    }
}

/// `bench --wire` as its user runs it, at a small size: the harness starts the simulator in a
/// child process, polls it with the real poller, and writes a table with both scenarios. Checks
/// counts, never timings.
#[test]
fn bench_wire_writes_a_table_for_each_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("bench.md");
    // 100 instances round up to 34 shards: 102 endpoints; 1 % of them is 1 hung instance.
    Command::cargo_bin("shardtop")
        .expect("binary built")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .args(["bench", "--wire", "100", "--sweeps", "2", "--wire-base-port", &(base_port() + 100).to_string()])
        .arg("--out")
        .arg(&out)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("burst sweep p50 / p99"));
    let table = std::fs::read_to_string(&out).expect("the table was written");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with("| 102 |"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    // instances, interval, hung, rounds, probes ok / failed, …
    assert_eq!(&rows[0][..5], ["102", "1 s", "0", "2", "204 / 0"], "{table}");
    assert_eq!(&rows[1][..4], ["102", "1 s", "1", "2"], "{table}");
    // The hung instance fails every round it is probed; the other 101 answer every round.
    assert!(rows[1][4].starts_with("202 / "), "{table}");
    assert_ne!(rows[1][4], "202 / 0", "the hung instance is reported: {table}");
}
