//! Topology against real servers: discovery from a config that names only
//! masters (a chained shard, master → relay → leaf), and the anomalies of a
//! misconfigured shard (a replica re-pointed to another shard's master, a
//! writable replica with an errant write). Uses shards s16 and s17 of the
//! sandbox `scripts/test` starts, in one test since s17's stray replica hangs
//! off s16's master.

use std::io::Write as _;
use std::time::Duration;

use crate::common::{Sandbox, eventually, instance};
use serde_json::Value;

/// A config naming each shard's master, plus its replicas when `true`.
fn config(sb: &Sandbox, shards: &[(&str, bool)]) -> tempfile::TempPath {
    let mut text = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[defaults]\nuser = \"{}\"\npassword_file = \"{}\"\n\n",
        sb.var("SANDBOX_MONITOR_USER"),
        sb.var("SANDBOX_MONITOR_PASSWORD_FILE")
    );
    for (s, with_replicas) in shards {
        text.push_str(&format!("[[shard]]\nname = \"{s}\"\nmaster = \"{}\"\n", sb.addr(&format!("{s}-m"))));
        if *with_replicas {
            let r: Vec<String> = sb.replicas(s).iter().map(|r| format!("\"{}\"", sb.addr(r))).collect();
            text.push_str(&format!("replicas = [{}]\n", r.join(", ")));
        }
        text.push('\n');
    }
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp config");
    f.write_all(text.as_bytes()).expect("write config");
    f.into_temp_path()
}

fn shard<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no shard {name}"))
}

fn addrs(shard: &Value) -> Vec<String> {
    shard["instances"].as_array().into_iter().flatten().filter_map(|i| i["addr"].as_str().map(String::from)).collect()
}

fn edges(shard: &Value) -> Vec<(String, String, String)> {
    shard["topology"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("source"), s("replica"), s("state"))
        })
        .collect()
}

fn rules(shard: &Value) -> Vec<(String, String)> {
    shard["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["rule"].as_str().unwrap_or("").to_string(), p["instance"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[tokio::test]
async fn discovery_follows_a_chain_and_anomalies_are_reported() {
    let sb = sandbox_or_skip!();
    let shards: usize = sb.var("SANDBOX_SHARDS").parse().unwrap_or(0);
    assert!(shards >= 17, "this test needs shards s16 and s17: run it through scripts/test (17 shards)");
    let (m7, r71, r72) = (sb.addr("s16-m"), sb.addr("s16-r1"), sb.addr("s16-r2"));

    // s16 becomes a chain: s16-r2 replicates from s16-r1.
    sb.exec(
        "s16-r2",
        &format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USE_GTID=slave_pos; START SLAVE",
            sb.port("s16-r1")
        ),
    )
    .await;

    // The master's dump thread for s16-r2 lingers until it next sends an event.
    sb.exec("s16-m", "FLUSH BINARY LOGS").await;

    // 1. Least privilege, masters only: SHOW REPLICA HOSTS is refused; the
    //    master's one dump thread is shown for what it is, a host without a port.
    let masters_only = config(&sb, &[("s16", false)]);
    let json = eventually(Duration::from_secs(15), "chain settles", || {
        let (code, json) = sb.snapshot(&masters_only, &["--rate-window", "0"]);
        let u = &shard(&json, "s16")["topology"]["unidentified"];
        if code == 0 && u.as_array().is_some_and(|a| a.len() == 1) && u[0]["count"] == 1 {
            Ok(json)
        } else {
            Err(format!("{code} {u}"))
        }
    });
    let s7 = shard(&json, "s16");
    assert_eq!(addrs(s7), vec![m7.clone()], "nothing identifiable without the replica list");
    let u = &s7["topology"]["unidentified"][0];
    assert_eq!(
        (u["source"].as_str(), u["host"].as_str(), u["count"].as_u64()),
        (Some(m7.as_str()), Some("127.0.0.1"), Some(1))
    );

    // 2. With REPLICATION MASTER ADMIN (granted on the master; replicated down the chain),
    //    the replica lists name the relay and then the leaf.
    sb.exec("s16-m", "GRANT REPLICATION MASTER ADMIN ON *.* TO 'shardtop_monitor'@'127.0.0.1'").await;
    let json = eventually(Duration::from_secs(15), "chain discovered", || {
        let (code, json) = sb.snapshot(&masters_only, &["--rate-window", "0"]);
        let s7 = shard(&json, "s16");
        if code == 0 && addrs(s7).len() == 3 {
            Ok(json)
        } else {
            Err(format!("{code} {:?} {:?}", addrs(s7), rules(s7)))
        }
    });
    let s7 = shard(&json, "s16");
    assert_eq!(addrs(s7), vec![m7.clone(), r71.clone(), r72.clone()]);
    assert_eq!(instance(&json, &r71)["discovered_via"], format!("replica list of {m7}").as_str());
    assert_eq!(instance(&json, &r72)["discovered_via"], format!("replica list of {r71}").as_str());
    assert_eq!(instance(&json, &r72)["source"], r71.as_str());
    assert_eq!(
        edges(s7),
        vec![(m7.clone(), r71.clone(), "streaming".into()), (r71.clone(), r72.clone(), "streaming".into())]
    );
    assert!(rules(s7).is_empty(), "a chain is no anomaly: {:?}", rules(s7));
    assert!(s7["topology"]["unidentified"].as_array().is_some_and(|a| a.is_empty()), "{s7:#}");
    let d = &json["discovery"];
    assert_eq!(d["rounds"], 2, "{d:#}");
    eprintln!("discovery of s7 (master → relay → leaf) from its master alone: {} ms", d["elapsed_ms"]);

    // 3. s17 misconfigured: s17-r1 re-pointed to s16's master; s17-r2 left writable with a write of its own.
    let (file, pos) = sb.binlog_coords("s16-m").await;
    sb.exec(
        "s17-r1",
        &format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USE_GTID=no, \
             MASTER_LOG_FILE='{file}', MASTER_LOG_POS={pos}; START SLAVE",
            sb.port("s16-m")
        ),
    )
    .await;
    sb.exec("s17-r2", "SET GLOBAL read_only=0").await;
    sb.exec("s17-r2", "INSERT INTO social.photos (user_id, caption) VALUES (8, 'written on a replica')").await;
    let both = config(&sb, &[("s16", false), ("s17", true)]);
    let (s8r1, s8r2) = (sb.addr("s17-r1"), sb.addr("s17-r2"));
    let json = eventually(Duration::from_secs(15), "s17 anomalies", || {
        let (code, json) = sb.snapshot(&both, &["--rate-window", "0"]);
        let r = rules(shard(&json, "s17"));
        // Wait for the steady state: right after the re-point, the replica may still
        // report a transient lag while it takes its first events from the other shard.
        if code == 2
            && r.iter().any(|(rule, _)| rule == "other_shard_source")
            && r.iter().any(|(rule, _)| rule == "errant_gtid")
            && !r.iter().any(|(rule, _)| rule == "lag")
        {
            Ok(json)
        } else {
            Err(format!("{code} {r:?}"))
        }
    });
    sb.exec("s17-r2", "SET GLOBAL read_only=1").await;
    let s8 = shard(&json, "s17");
    let mut got = rules(s8);
    got.sort();
    let mut want = vec![
        ("errant_gtid".to_string(), s8r2.clone()),
        ("no_promotion_candidate".to_string(), String::new()),
        ("other_shard_source".to_string(), s8r1.clone()),
        ("writable_replica".to_string(), s8r2.clone()),
    ];
    want.sort();
    assert_eq!(got, want, "{s8:#}");
    let problem = |rule: &str| {
        s8["problems"].as_array().into_iter().flatten().find(|p| p["rule"] == rule).cloned().unwrap_or_default()
    };
    assert_eq!(problem("other_shard_source")["severity"], "critical");
    assert!(
        problem("other_shard_source")["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("{m7}, the master of shard s16"))
    );
    assert!(
        problem("errant_gtid")["message"].as_str().unwrap_or("").contains("17-1702-"),
        "domain 17, server 1702: {s8:#}"
    );
    let edge =
        s8["topology"]["edges"].as_array().into_iter().flatten().find(|e| e["replica"] == s8r1.as_str()).cloned();
    let edge = edge.unwrap_or_default();
    assert_eq!(
        (edge["source_kind"].as_str(), edge["source_shard"].as_str()),
        (Some("other_shard"), Some("s16")),
        "{edge:#}"
    );
    // s7 keeps its shape: the stray replica is s8's (the config says so), only attached to s7's master.
    let s7 = shard(&json, "s16");
    assert_eq!(addrs(s7).len(), 3, "{:?}", addrs(s7));
    assert!(rules(s7).is_empty(), "{:?}", rules(s7));
}
