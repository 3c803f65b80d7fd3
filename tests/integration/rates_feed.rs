//! Request rates and the feed probe against the sandbox: a load generated
//! here, measured by shardtop; the feed read timed on real servers, and a
//! stopped one timing out instead of hanging.
//!
//! Shards: s1 is only read; s18 takes the generated load; s19 is SIGSTOPped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{Counts, spawn_load};
use shardtop::fleet::model::RateTracker;
use shardtop::fleet::status::ProbeErrorKind;

#[test]
fn feed_probe_reports_samples_and_percentiles() {
    let sb = sandbox_or_skip!();
    let feed = "[feed]\ndatabase = \"social\"\nuser_id_range = [1, 50]\ninterval = \"200ms\"\ntimeout = \"150ms\"\n";
    let cfg = sb.config_with(&["s1"], false, feed);
    let (code, json) = sb.snapshot(&cfg, &["--rate-window", "2s"]);
    assert_eq!(code, 0, "{json:#}");
    let s1 = &json["shards"][0];
    let f = &s1["feed_latency_ms"];
    let samples = f["samples"].as_u64().unwrap_or(0);
    assert!((5..=11).contains(&samples), "about 2 s / 200 ms rounds: {f}");
    let (p50, p95, p99) =
        (f["p50"].as_f64().unwrap_or(-1.0), f["p95"].as_f64().unwrap_or(-1.0), f["p99"].as_f64().unwrap_or(-1.0));
    assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99 && p99 < 500.0, "{f}");
    assert_eq!(f["last_rows"], 10, "the seeded feed read returns a full page: {f}");
    assert!(f.get("last_error").is_none(), "{f}");
    assert_eq!(s1["sources"]["feed_latency"], "direct");
    assert_eq!(json["feed_fanout_ms"]["samples"].as_u64(), Some(samples));
    for k in ["select", "insert", "update", "delete", "replace"] {
        assert!(s1["qps_by_command"][k].is_number(), "{k}: {s1:#}");
    }
}

#[tokio::test]
async fn feed_query_errors_are_reported_not_fatal() {
    let sb = sandbox_or_skip!();
    // A table the monitoring account may not read (and that does not exist).
    let feed = "[feed]\nquery = \"SELECT id FROM nosuch.photos WHERE user_id = ?\"\n";
    let cfg = sb.config_with(&["s1"], false, feed);
    let (code, json) = sb.snapshot(&cfg, &["--rate-window", "0"]);
    assert_eq!(code, 1, "a failing feed read is a warning: {json:#}");
    let f = &json["shards"][0]["feed_latency_ms"];
    let err = f["last_error"].as_str().unwrap_or("");
    assert!(err.starts_with("feed query: ") && err.contains("nosuch"), "{f}");
    let password = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password");
    assert!(!json.to_string().contains(password.trim()), "no secret in the snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qps_matches_the_generated_load() {
    let sb = sandbox_or_skip!();
    let master = "s18-m";
    sb.exec(master, "CREATE TABLE IF NOT EXISTS social.load (conn INT, n BIGINT, hits INT NOT NULL DEFAULT 0, PRIMARY KEY (conn, n))").await;
    let cfg = shardtop::config::load(&sb.config(&["s18"], false)).expect("config").config;
    let opts = shardtop::setup::probe_options(&cfg);
    let mut prober = shardtop::probe::Prober::new(cfg.shards[0].master.clone(), opts);
    let mut rates = RateTracker::default();
    let mut sample = async || {
        let s = prober.probe().await;
        let status = s.result.expect("s18-m answers");
        (s.at, status.counters)
    };

    // The probe's own statements, measured idle: they are in Questions too.
    let (t0, c0) = sample().await;
    rates.rates(t0, &c0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t1, c1) = sample().await;
    let idle = rates.rates(t1, &c1).expect("idle rates");

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let gens = spawn_load(sb.admin_opts(master), 2, &counts, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await; // connected and paced
    let snap = |c: &Counts| {
        [c.insert.load(Ordering::Relaxed), c.select.load(Ordering::Relaxed), c.update.load(Ordering::Relaxed)]
    };
    let (ta, ca) = sample().await;
    let ga = snap(&counts);
    rates.rates(ta, &ca);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (tb, cb) = sample().await;
    let gb = snap(&counts);
    stop.store(true, Ordering::Relaxed);
    for g in gens {
        g.await.expect("generator");
    }
    sb.exec(master, "DROP TABLE social.load").await;

    let measured = rates.rates(tb, &cb).expect("loaded rates");
    let secs = (tb - ta).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let gen_rate: Vec<f64> = ga.iter().zip(gb).map(|(a, b)| (b - a) as f64 / secs).collect();
    let gen_total: f64 = gen_rate.iter().sum();
    let m = measured.by_command;
    let pairs = [
        ("insert", m.insert, gen_rate[0]),
        ("select", m.select - idle.by_command.select, gen_rate[1]),
        ("update", m.update, gen_rate[2]),
        ("total", measured.qps - idle.qps, gen_total),
    ];
    eprintln!(
        "QPS vs generator over {secs:.2}s (probe's own, idle: {:.1} q/s, {:.1} select/s):",
        idle.qps, idle.by_command.select
    );
    for (what, got, want) in pairs {
        eprintln!("  {what:<6} measured {got:8.1}/s  generator {want:8.1}/s  ({:+.2}%)", (got / want - 1.0) * 100.0);
    }
    assert!(gen_rate[0] > 100.0, "the generator ran: {gen_rate:?}");
    for (what, got, want) in pairs {
        assert!((got - want).abs() <= want * 0.10, "{what}: measured {got:.1}/s vs generated {want:.1}/s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_times_out_the_feed_without_stalling_the_round() {
    let sb = sandbox_or_skip!();
    let feed = "[feed]\ndatabase = \"social\"\nuser_id_range = [1, 50]\ninterval = \"1s\"\ntimeout = \"300ms\"\n";
    let cfg = shardtop::config::load(&sb.config_with(&["s1", "s19"], false, feed)).expect("config").config;
    let feed_cfg = cfg.feed.clone().expect("[feed]");
    let shards = shardtop::setup::layout(&cfg);
    let opts = shardtop::setup::probe_options(&cfg);
    let mut prober = shardtop::probe::feed::FeedProber::new(&feed_cfg, &shards, opts);
    let round = prober.round().await;
    for (i, r) in round.results.iter().enumerate() {
        let r = r.as_ref().expect("every shard asked");
        assert!(matches!(r.outcome, Ok(n) if n > 0), "shard {i}: {:?}", r.outcome);
    }

    sb.signal("s19-m", "STOP");
    let mut kinds = Vec::new();
    let mut fast_ok = 0;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let round = prober.round().await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(300 + 250), "a round took {took:?} with a stopped shard");
        if matches!(round.results[0].as_ref().map(|r| &r.outcome), Some(Ok(_))) {
            fast_ok += 1;
        }
        kinds.push(round.results[1].as_ref().and_then(|r| r.outcome.as_ref().err().map(|e| e.kind)));
    }
    sb.signal("s19-m", "CONT");
    assert_eq!(kinds, vec![Some(ProbeErrorKind::Timeout); 3], "the stopped master times out, every round");
    assert_eq!(fast_ok, 3, "s1 answers in the same rounds");

    // After SIGCONT the next rounds reconnect and answer.
    let mut back = false;
    for _ in 0..10 {
        let round = prober.round().await;
        if matches!(round.results[1].as_ref().map(|r| &r.outcome), Some(Ok(_))) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    prober.close(Duration::from_millis(200)).await;
    assert!(back, "s19 answers the feed again after SIGCONT");
}
