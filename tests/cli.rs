//! The binary as a user runs it: help, version, argument errors, exit codes.

use assert_cmd::Command;
use predicates::prelude::*;

fn shardtop() -> Command {
    let mut c = Command::cargo_bin("shardtop").expect("binary built");
    c.env_remove("NO_COLOR").env("HOME", env!("CARGO_TARGET_TMPDIR"));
    c
}

#[test]
fn version_and_help() {
    shardtop().arg("--version").assert().success().stdout(predicate::str::starts_with("shardtop "));
    shardtop()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("demo").and(predicate::str::contains("snapshot")).and(predicate::str::contains("check-config")));
    for sub in ["demo", "snapshot", "check-config", "heartbeat"] {
        shardtop().args([sub, "--help"]).assert().success().stdout(predicate::str::contains("Usage: shardtop"));
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    shardtop().args(["demo", "--shards", "0"]).assert().code(2).stderr(predicate::str::contains("--shards"));
    shardtop().args(["--fps", "500", "demo"]).assert().code(2).stderr(predicate::str::contains("--fps"));
    // A monitoring check must not report a typo as CRITICAL.
    shardtop().args(["snapshot", "--format", "xml"]).assert().code(3).stderr(predicate::str::contains("possible values"));
    shardtop().arg("frobnicate").assert().code(2);
}
