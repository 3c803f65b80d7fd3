//! shardtop against real MariaDB servers: the sandbox `scripts/test` starts.
//!
//! Each test owns its shards (s1 is never disturbed; s2…s6 are broken on
//! purpose by one test each), so they run in parallel without stepping on
//! each other.

use std::time::Duration;

use crate::common::{eventually, instance};
use serde_json::Value;

fn problems(json: &Value, shard: &str) -> Vec<String> {
    json["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == shard)
        .flat_map(|s| s["problems"].as_array().into_iter().flatten())
        .map(|p| format!("{} {}", p["rule"].as_str().unwrap_or(""), p["message"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn healthy_shard_exits_zero_with_its_topology() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s1"], false);
    let (code, json) = sb.snapshot(&cfg, &[]);
    assert_eq!(code, 0, "{json:#}");
    let shard = &json["shards"][0];
    assert_eq!(shard["name"], "s1");
    assert_eq!(shard["health"], "ok");
    let master = sb.addr("s1-m");
    assert_eq!(shard["master"], master.as_str());
    let m = instance(&json, &master);
    assert_eq!(m["role"], "master");
    assert_eq!(m["read_only"], false);
    assert_eq!(m["reachable"], true);
    assert!(m["source"].is_null());
    assert!(m["version"].as_str().unwrap_or("").contains("MariaDB"), "{m:#}");
    assert!(m["gtid"].as_str().unwrap_or("").starts_with("1-"), "shard 1's GTID domain is 1: {m:#}");
    // Rates come from two sweeps a second apart.
    assert!(m["qps"].as_f64().is_some(), "{m:#}");
    for r in sb.replicas("s1") {
        let i = instance(&json, &sb.addr(&r));
        assert_eq!(i["role"], "replica");
        assert_eq!(i["source"], master.as_str(), "{r} replicates from the master");
        assert_eq!(i["io_running"], "running");
        assert_eq!(i["sql_running"], true);
        assert_eq!(i["read_only"], true);
        assert_eq!(i["lag_seconds"], 0);
        assert!(i["problems"].as_array().is_some_and(|p| p.is_empty()), "{i:#}");
    }
    assert_eq!(shard["replicas_up"], 2);
}

#[test]
fn table_output_lists_every_instance() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s1"], false);
    let out = std::process::Command::new(sb.bin())
        .args(["snapshot", "--rate-window", "0", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("OK 1 shards: 1 ok"), "{text}");
    for name in ["s1-m", "s1-r1", "s1-r2"] {
        assert!(text.contains(&sb.addr(name)), "{name} missing:\n{text}");
    }
}

#[tokio::test]
async fn stopped_sql_thread_and_duplicate_key_are_critical_with_the_error() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s2"], false);
    let (r1, r2) = (sb.addr("s2-r1"), sb.addr("s2-r2"));

    // 1. An operator stops the SQL thread.
    sb.exec("s2-r1", "STOP SLAVE SQL_THREAD").await;
    let json = eventually(Duration::from_secs(10), "stopped SQL thread seen", || {
        let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
        let i = instance(&json, &r1);
        if code == 2 && i["sql_running"] == false { Ok(json) } else { Err(format!("{code} {i}")) }
    });
    let i = instance(&json, &r1);
    assert_eq!(i["health"], "critical");
    assert!(i["lag_seconds"].is_null(), "SBM is NULL while the SQL thread is stopped, never 0: {i:#}");
    assert!(problems(&json, "s2").iter().any(|p| p.starts_with("sql_thread ") && p.contains("SQL thread stopped")));
    sb.exec("s2-r1", "START SLAVE SQL_THREAD").await;

    // 2. A row written behind replication's back makes the next insert collide.
    sb.exec("s2-r2", "SET SESSION sql_log_bin=0; INSERT INTO social.following VALUES (990001, 7, NOW())").await;
    sb.exec("s2-m", "INSERT INTO social.following VALUES (990001, 7, NOW())").await;
    let json = eventually(Duration::from_secs(10), "duplicate-key error seen", || {
        let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
        let i = instance(&json, &r2);
        if code == 2 && i["sql_running"] == false { Ok(json) } else { Err(format!("{code} {i}")) }
    });
    let err = instance(&json, &r2)["last_error"].as_str().unwrap_or("").to_string();
    assert!(err.starts_with("1062: ") && err.contains("Duplicate entry '990001-7'"), "{err}");
    assert!(problems(&json, "s2").iter().any(|p| p.contains("error 1062") && p.contains("Duplicate entry")));

    // Repair (drop the stray row, restart) and see the shard recover.
    sb.exec("s2-r2", "SET SESSION sql_log_bin=0; DELETE FROM social.following WHERE user_id=990001; START SLAVE").await;
    eventually(Duration::from_secs(15), "s2 recovered", || {
        let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
        if code == 0 { Ok(()) } else { Err(format!("{:?}", problems(&json, "s2"))) }
    });
    sb.exec("s2-m", "DELETE FROM social.following WHERE user_id=990001").await;
}

#[tokio::test]
async fn writable_replica_is_a_warning() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s3"], false);
    sb.exec("s3-r1", "SET GLOBAL read_only=0").await;
    let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
    sb.exec("s3-r1", "SET GLOBAL read_only=1").await;
    assert_eq!(code, 1, "{json:#}");
    let i = instance(&json, &sb.addr("s3-r1"));
    assert_eq!(i["read_only"], false);
    assert_eq!(i["health"], "warning");
    assert_eq!(problems(&json, "s3").len(), 1, "{:?}", problems(&json, "s3"));
    assert!(problems(&json, "s3")[0].starts_with("writable_replica "));
    let (code, _) = sb.snapshot(&cfg, &["--rate-window", "0"]);
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_costs_one_timeout_and_the_others_stay_fresh() {
    use shardtop::fleet::status::ProbeErrorKind;
    use shardtop::poll::{Poller, Schedule};
    let sb = sandbox_or_skip!();
    let cfg_path = sb.config(&["s1", "s4"], false);
    let cfg = shardtop::config::load(&cfg_path).expect("config").config;
    let stopped = sb.addr("s4-r1");
    sb.signal("s4-r1", "STOP");

    // The snapshot command finishes, marking the stopped server unreachable by timeout.
    let started = std::time::Instant::now();
    let (code, json) = sb.snapshot(&cfg_path, &["--rate-window", "0"]);
    let took = started.elapsed();
    assert_eq!(code, 2, "{json:#}");
    let i = instance(&json, &stopped);
    assert_eq!(i["reachable"], false);
    assert!(i["last_error"].as_str().unwrap_or("").contains("no answer"), "{i:#}");
    assert!(took < Duration::from_secs(10), "snapshot hung for {took:?}");
    for name in ["s1-m", "s1-r1", "s1-r2", "s4-m", "s4-r2"] {
        assert_eq!(instance(&json, &sb.addr(name))["reachable"], true, "{name}");
    }

    // The continuous poller: everyone else keeps being sampled every interval.
    let shards = shardtop::setup::layout(&cfg);
    let opts = shardtop::setup::probe_options(&cfg);
    let probes = shardtop::setup::probers(&shards, &opts);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<shardtop::poll::Update>(1024);
    let poller = Poller::spawn(probes, Schedule { interval: cfg.poll.interval, concurrency: 8 }, tx);
    let mut ok = std::collections::HashMap::<String, usize>::new();
    let mut stopped_kinds = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(4500);
    while let Ok(Some(u)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        let addr = shards[u.slot.shard].instances[u.slot.instance].addr.to_string();
        match u.sample.result {
            Ok(_) => *ok.entry(addr).or_default() += 1,
            Err(e) if addr == stopped => stopped_kinds.push(e.kind),
            Err(e) => panic!("{addr} failed: {e}"),
        }
    }
    sb.signal("s4-r1", "CONT");
    assert!(
        !stopped_kinds.is_empty() && stopped_kinds.iter().all(|k| *k == ProbeErrorKind::Timeout),
        "{stopped_kinds:?}"
    );
    assert!(!ok.contains_key(&stopped));
    for name in ["s1-m", "s1-r1", "s1-r2", "s4-m", "s4-r2"] {
        let n = ok.get(&sb.addr(name)).copied().unwrap_or(0);
        // 4.5 s at a 1 s interval: 5 probes when nothing waits on the stopped server.
        assert!(n >= 4, "{name} sampled {n} times in 4.5 s: {ok:?}");
    }
    drop(poller);
    // After SIGCONT the server is reachable again.
    eventually(Duration::from_secs(10), "s4-r1 back", || {
        let (_, json) = sb.snapshot(&cfg_path, &["--rate-window", "0"]);
        if instance(&json, &stopped)["reachable"] == true { Ok(()) } else { Err(instance(&json, &stopped).to_string()) }
    });
}

#[tokio::test]
async fn heartbeat_measures_lag_while_replication_is_stopped() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s5"], false);
    let writer_cfg = sb.config(&["s5"], true);
    let mut writer = std::process::Command::new(sb.bin())
        .args(["heartbeat", "--shard", "s5", "--config"])
        .arg(&writer_cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start heartbeat writer");
    let r1 = sb.addr("s5-r1");
    let result = std::panic::catch_unwind(|| {
        eventually(Duration::from_secs(10), "heartbeat rows replicated", || {
            let (_, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
            let lag = instance(&json, &r1)["heartbeat_lag_seconds"].as_f64();
            match lag {
                Some(l) if l < 1.5 => Ok(()),
                _ => Err(instance(&json, &r1).to_string()),
            }
        })
    });
    if result.is_err() {
        let _ = writer.kill();
        panic!("no heartbeat lag measured");
    }
    sb.exec("s5-r1", "STOP SLAVE").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
    sb.exec("s5-r1", "START SLAVE").await;
    let _ = writer.kill();
    let _ = writer.wait();
    let i = instance(&json, &r1);
    assert_eq!(code, 2, "stopped threads are critical: {json:#}");
    assert!(i["lag_seconds"].is_null(), "SBM is NULL with replication stopped: {i:#}");
    let hb = i["heartbeat_lag_seconds"].as_f64().unwrap_or(0.0);
    assert!((2.5..30.0).contains(&hb), "heartbeat lag {hb} after 3 s stopped: {i:#}");
    // The other replica kept up.
    let other = instance(&json, &sb.addr("s5-r2"))["heartbeat_lag_seconds"].as_f64().unwrap_or(99.0);
    assert!(other < 2.0, "s5-r2 heartbeat lag {other}");
}

#[test]
fn killed_master_is_critical_and_replicas_lose_their_link() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s6"], false);
    sb.signal("s6-m", "KILL");
    let json = eventually(Duration::from_secs(20), "replicas notice the dead master", || {
        let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
        let io: Vec<Value> =
            sb.replicas("s6").iter().map(|r| instance(&json, &sb.addr(r))["io_running"].clone()).collect();
        if code == 2 && io.iter().all(|s| s != "running") { Ok(json) } else { Err(format!("{code} {io:?}")) }
    });
    let m = instance(&json, &sb.addr("s6-m"));
    assert_eq!(m["reachable"], false);
    assert!(
        problems(&json, "s6").iter().any(|p| p.starts_with("master_unreachable master unreachable")),
        "{:?}",
        problems(&json, "s6")
    );
    assert!(problems(&json, "s6").iter().any(|p| p.starts_with("io_thread ")));
    assert_eq!(json["shards"][0]["replicas_up"], 0);
}
