//! Prometheus for real: the sandbox's mysqld_exporters and prometheus
//! (`scripts/sandbox metrics up --only s20`, started by scripts/test) against
//! shardtop's own polling of the same shard. Metrics-only shardtop (no
//! database account) must see the same lag and QPS as direct polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{Counts, spawn_load};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_only_agrees_with_direct_polling_on_lag_and_qps() {
    let sb = sandbox_or_skip!();
    let Ok(url) = std::env::var("SHARDTOP_PROMETHEUS_URL").or_else(|_| sb.try_var("SANDBOX_PROMETHEUS_URL").ok_or(()))
    else {
        crate::common::note("skipped: no prometheus in the sandbox (scripts/sandbox metrics up --only s20)");
        return;
    };
    let master = "s20-m";
    // A delayed replica: under a steady load its Seconds_Behind_Master sits near the delay, so
    // both ways of reading lag have something other than 0 to agree on.
    sb.exec("s20-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 4; START SLAVE").await;
    sb.exec(master, "CREATE TABLE IF NOT EXISTS social.load (conn INT, n BIGINT, hits INT NOT NULL DEFAULT 0, PRIMARY KEY (conn, n))").await;
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let gens = spawn_load(sb.admin_opts(master), 2, &counts, &stop);
    // Several 1 s scrapes under a steady load, so a 5 s rate sees only the load.
    tokio::time::sleep(Duration::from_secs(7)).await;

    let direct_cfg = sb.config(&["s20"], false);
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics_cfg = dir.path().join("metrics-only.toml");
    let replicas: Vec<String> = sb.replicas("s20").iter().map(|r| format!("\"{}\"", sb.addr(r))).collect();
    std::fs::write(
        &metrics_cfg,
        format!(
            "[[metrics]]\nkind = \"prometheus\"\nurl = \"{url}\"\n\
             qps = \"sum by (shard) (rate(mysql_global_status_questions[5s]))\"\n\n\
             [[shard]]\nname = \"s20\"\nmaster = \"{}\"\nreplicas = [{}]\n",
            sb.addr(master),
            replicas.join(", ")
        ),
    )
    .expect("write config");
    let direct = tokio::task::spawn_blocking({
        let bin = sb.bin();
        let cfg = direct_cfg.to_path_buf();
        move || run_snapshot(&bin, &cfg, &[], &["--rate-window", "3s"])
    });
    let via_prom = tokio::task::spawn_blocking({
        let bin = sb.bin();
        let cfg = metrics_cfg.clone();
        let home = dir.path().to_path_buf();
        // A HOME without ~/.my.cnf: no database account anywhere, so metrics-only.
        move || run_snapshot(&bin, &cfg, &[("HOME", Some(home))], &[])
    });
    let (direct, via_prom) = (direct.await.expect("direct"), via_prom.await.expect("prometheus"));
    stop.store(true, Ordering::Relaxed);
    for g in gens {
        g.await.expect("generator");
    }
    sb.exec(master, "DROP TABLE social.load").await;
    sb.exec("s20-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE").await;

    let (d, p) = (&direct.1["shards"][0], &via_prom.1["shards"][0]);
    assert_eq!(p["sources"]["qps"], "prometheus", "{p:#}");
    assert_eq!(p["sources"]["lag"], "prometheus", "{p:#}");
    assert_eq!(d["sources"]["qps"], "direct");
    let (dq, pq) = (d["qps"].as_f64().unwrap_or(0.0), p["qps"].as_f64().unwrap_or(0.0));
    let (dl, pl) = (d["worst_lag_seconds"].as_f64().unwrap_or(-1.0), p["worst_lag_seconds"].as_f64().unwrap_or(-1.0));
    eprintln!(
        "s20 direct: qps {dq:.1}, lag {dl}s; prometheus: qps {pq:.1}, lag {pl}s ({:+.2}% qps)",
        (pq / dq - 1.0) * 100.0
    );
    assert!(dq > 1000.0, "the load shows: {d:#}");
    assert!((pq - dq).abs() <= dq * 0.10, "QPS: direct {dq:.1} vs prometheus {pq:.1}");
    assert!((2.0..=6.0).contains(&dl), "the delayed replica lags about 4 s: {d:#}");
    // Prometheus scrapes every second, so its reading may be a second or so older.
    assert!((pl - dl).abs() <= 1.5, "lag: direct {dl} vs prometheus {pl}");
    assert_eq!(via_prom.0, direct.0, "same verdict: {:#} / {:#}", via_prom.1, direct.1);
}

fn run_snapshot(
    bin: &std::path::Path,
    cfg: &std::path::Path,
    env: &[(&str, Option<std::path::PathBuf>)],
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["snapshot", "--format", "json", "--config"]).arg(cfg).args(extra);
    for (k, v) in env {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("run shardtop");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}
