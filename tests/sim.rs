//! `shardtop sim` as a user runs it: serve a small fleet, write its config, and let
//! `shardtop snapshot` poll it over the real MySQL protocol.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;

/// Ports below the ephemeral range, clear of the sandbox (23306…); `SHARDTOP_TEST_BASE_PORT` moves them.
fn base_port() -> u16 {
    std::env::var("SHARDTOP_TEST_BASE_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(26306)
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
