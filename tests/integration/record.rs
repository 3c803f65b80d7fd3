//! `shardtop record` / `replay` against real MariaDB shards (s41–s43, `common/shards.rs`): a
//! scripted fault sequence recorded, the recorder SIGKILLed mid-write, the states at given
//! times read back with `replay --snapshot-at`; retention; files of other format versions.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::common::{Sandbox, instance};

fn start_recorder(sb: &Sandbox, cfg: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(sb.bin())
        .args(["record", "--quiet", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shardtop record")
}

fn replay(sb: &Sandbox, rec: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(sb.bin()).arg("replay").arg(rec).args(args).output().expect("run shardtop replay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot_at(sb: &Sandbox, rec: &Path, at: DateTime<Utc>) -> (i32, serde_json::Value) {
    let t = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let (code, out, err) = replay(sb, rec, &["--snapshot-at", &t, "--format", "json"]);
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("--snapshot-at {t}: not JSON ({e}): {out}{err}"));
    (code, json)
}

fn shard<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["shards"].as_array().into_iter().flatten().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

fn promote(sb: &Sandbox, cfg: &Path, shard: &str, to: &str) {
    let out = Command::new(sb.bin())
        .args(["promote", "--yes", "--config"])
        .arg(cfg)
        .args(["--shard", shard, "--to", to])
        .output()
        .expect("run shardtop promote");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "promote {shard} to {to}: {text}");
}

async fn sleep(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

/// Puts s41–s43 back as the sandbox started them, whatever a failed run left: s43's master
/// back to s43-m, with a config that names s43-r1 its master (as it is after the test's promotion).
async fn restore(sb: &Sandbox, audit: &Path) {
    sb.exec("s41-r1", "START SLAVE SQL_THREAD").await;
    sb.exec("s42-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE").await;
    if sb.value("s43-m", "SELECT @@read_only").await.as_deref() == Some("1") {
        let shard = format!(
            "[[shard]]\nname = \"s43\"\nmaster = \"{}\"\nreplicas = [\"{}\", \"{}\"]\n\n{}",
            sb.addr("s43-r1"),
            sb.addr("s43-m"),
            sb.addr("s43-r2"),
            sb.actions_section(audit, "")
        );
        let cfg = sb.config_with(&[], false, &shard);
        promote(sb, &cfg, "s43", &sb.addr("s43-m"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_fault_sequence_replays_its_states_and_survives_sigkill() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("[thresholds]\nlag_warn = \"4s\"\nlag_crit = \"120s\"\n\n{}", sb.actions_section(&audit, ""));
    let cfg = sb.config_with(&["s41", "s42", "s43"], false, &extra);
    restore(&sb, &dir.path().join("restore-audit.jsonl")).await;
    let rec = dir.path().join("fleet.db");
    let mut recorder = start_recorder(&sb, &cfg, &rec, &["--block", "2s"]);

    sleep(5.0).await;
    let healthy = Utc::now() - chrono::Duration::milliseconds(500);
    // 1. s41-r1's SQL thread stops.
    sb.exec("s41-r1", "STOP SLAVE SQL_THREAD").await;
    sleep(4.0).await;
    let sql_stopped = Utc::now();
    // 2. s42-r1 applies 30 s late while its master takes writes: its lag grows past 4 s.
    sb.exec("s42-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 30; START SLAVE").await;
    sb.exec("s42-m", "CREATE TABLE IF NOT EXISTS social.record_lag (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) DEFAULT CHARSET=utf8mb4").await;
    for _ in 0..40 {
        sb.exec("s42-m", "INSERT INTO social.record_lag (at) VALUES (NOW(6))").await;
        sleep(0.25).await;
    }
    let lagging = Utc::now();
    // 3. s43 promoted to s43-r1 by another process; the recorder sees it, and its audit steps.
    sb.exec("s41-r1", "START SLAVE SQL_THREAD").await;
    sb.exec("s42-r1", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE").await;
    promote(&sb, &cfg, "s43", &sb.addr("s43-r1"));
    sleep(5.0).await;
    let promoted = Utc::now() - chrono::Duration::milliseconds(500);
    sleep(1.3).await;
    // SIGKILL mid-write: whatever block was being filled is lost, nothing else.
    let killed = Utc::now();
    recorder.kill().expect("SIGKILL the recorder");
    let _ = recorder.wait();
    restore(&sb, &dir.path().join("restore-audit.jsonl")).await;

    // The file opens, and holds everything up to the last closed block (2 s) and a poll (1 s).
    let (code, out, err) = replay(&sb, &rec, &["--snapshot-at", "end", "--format", "json"]);
    assert!((0..=3).contains(&code) && err.is_empty(), "{code} {err}");
    let end: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let end_at: DateTime<Utc> = end["taken_at"].as_str().and_then(|t| t.parse().ok()).expect("taken_at");
    assert!(end_at >= killed - chrono::Duration::milliseconds(3500), "end {end_at}, killed {killed}");

    let (code, at_healthy) = snapshot_at(&sb, &rec, healthy);
    assert_eq!(code, 0, "{at_healthy:#}");
    for s in ["s41", "s42", "s43"] {
        assert_eq!(shard(&at_healthy, s)["health"], "ok", "{s} at {healthy}: {at_healthy:#}");
    }

    let (code, at_stop) = snapshot_at(&sb, &rec, sql_stopped);
    assert_eq!(code, 2, "{at_stop:#}");
    assert_eq!(shard(&at_stop, "s41")["health"], "critical");
    let r1 = instance(&at_stop, &sb.addr("s41-r1"));
    assert_eq!(r1["sql_running"], false, "{r1:#}");
    assert_eq!(r1["lag_seconds"], serde_json::Value::Null, "SBM is NULL with the SQL thread stopped: {r1:#}");
    assert_eq!(shard(&at_stop, "s42")["health"], "ok");

    let (_, at_lag) = snapshot_at(&sb, &rec, lagging);
    let lag = instance(&at_lag, &sb.addr("s42-r1"))["lag_seconds"].as_u64().unwrap_or(0);
    assert!(lag >= 4, "s42-r1 lag at {lagging}: {at_lag:#}");
    assert_ne!(shard(&at_lag, "s42")["health"], "ok", "{at_lag:#}");
    assert_eq!(shard(&at_lag, "s41")["health"], "critical", "the SQL thread is still stopped then");

    let (_, at_promoted) = snapshot_at(&sb, &rec, promoted);
    let new_master = instance(&at_promoted, &sb.addr("s43-r1"));
    assert_eq!(new_master["read_only"], false, "{at_promoted:#}");
    assert_eq!(new_master["source"], serde_json::Value::Null, "{new_master:#}");
    let old_master = instance(&at_promoted, &sb.addr("s43-m"));
    assert_eq!(
        (old_master["read_only"].clone(), old_master["source"].clone()),
        (true.into(), sb.addr("s43-r1").into())
    );
    assert_eq!(shard(&at_promoted, "s41")["health"], "ok", "{at_promoted:#}");

    // The events between the first fault and the promotion, with the promotion's audited steps.
    let from = healthy.to_rfc3339();
    let (code, out, err) = replay(&sb, &rec, &["--events", "--from", &from, "--to", "end", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = serde_json::from_str(&out).expect("events JSON");
    let has = |shard: &str, rule: &str, text: &str| {
        events.iter().any(|e| {
            e["shard"] == shard
                && e["rule"].as_str().is_some_and(|r| r.starts_with(rule))
                && e["message"].as_str().is_some_and(|m| m.contains(text))
        })
    };
    assert!(has("s41", "", "SQL thread"), "{out}");
    assert!(has("s43", "action:promote", "freeze"), "{out}");
    assert!(has("s43", "action:promote", "outcome"), "{out}");

    // A ticket-sized cut of the incident replays the same moment.
    let cut = dir.path().join("incident.db");
    let ok = Command::new(sb.bin())
        .args(["record", "export"])
        .arg(&rec)
        .args(["--from", &sql_stopped.to_rfc3339(), "--to", &lagging.to_rfc3339(), "--out"])
        .arg(&cut)
        .output()
        .expect("run export");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // It ends with the window (the promotion is not in it) and starts up to a minute before, the
    // warm-up a replay needs to rebuild the state at --from.
    let span = |p: &Path| shardtop::record::Store::open_read(p).and_then(|s| s.span()).expect("span").expect("blocks");
    let (cut_span, rec_span) = (span(&cut), span(&rec));
    assert!(cut_span.1 < promoted.timestamp_millis() && cut_span.1 >= lagging.timestamp_millis(), "{cut_span:?}");
    assert!(cut_span.0 >= rec_span.0 && cut_span.1 < rec_span.1, "{cut_span:?} of {rec_span:?}");
    let (code, at_stop_cut) = snapshot_at(&sb, &cut, sql_stopped);
    assert_eq!(code, 2);
    assert_eq!(instance(&at_stop_cut, &sb.addr("s41-r1"))["sql_running"], false);
}

#[tokio::test]
async fn retention_trims_in_place_and_other_format_versions_are_refused() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config(&["s41"], false);
    let rec = dir.path().join("short.db");
    let started = Utc::now();
    let out = start_recorder(&sb, &cfg, &rec, &["--block", "1s", "--retention", "3s", "--duration", "9s"])
        .wait_with_output()
        .expect("recorder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, text, err) = replay(&sb, &rec, &["--snapshot-at", "start", "--format", "json"]);
    assert!(code <= 3, "{err}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let first: DateTime<Utc> = json["taken_at"].as_str().and_then(|t| t.parse().ok()).expect("taken_at");
    assert!(
        first >= started + chrono::Duration::seconds(4),
        "nothing older than the retention: first {first}, started {started}"
    );

    // Format versions this build does not read are refused, saying which and what to do.
    for (version, says) in
        [("0", "format version 0, older than this shardtop reads"), ("9", "format version 9 by a newer shardtop")]
    {
        let copy = dir.path().join(format!("v{version}.db"));
        std::fs::copy(&rec, &copy).expect("copy");
        shardtop::record::Store::create_or_open(&copy).expect("open").set_version_for_tests(version).expect("set");
        let (code, _, err) = replay(&sb, &copy, &["--snapshot-at", "end", "--format", "json"]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains(says) && err.contains(&copy.display().to_string()), "{err}");
        let (code, _, err) = replay(&sb, &copy, &["--events"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// `serve --record` records as `shardtop record` does (every sample, the events), the recording
/// is whole after a SIGTERM, and a deploy marker from `shardtop mark` lands in it while the
/// markers' JSON-lines store keeps it too (the wall reads that). No fault here: the other tests
/// of this module fault s41–s43 meanwhile, so only what serve recorded is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_records_and_marks_land_in_the_recording() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config(&["s41"], false);
    let rec = dir.path().join("serve.db");
    let markers = dir.path().join("markers.jsonl");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let serve = Command::new(sb.bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(&rec)
        .env("SHARDTOP_MARKERS", &markers)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shardtop serve");
    sleep(4.0).await;
    let mark = Command::new(sb.bin())
        .args(["mark", "deploy web 2026.12.07-1"])
        .env("SHARDTOP_MARKERS", &markers)
        .output()
        .expect("run shardtop mark");
    assert!(mark.status.success(), "{}", String::from_utf8_lossy(&mark.stderr));
    sleep(4.0).await;
    let _ = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    let out = serve.wait_with_output().expect("serve");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(&format!("recording to {}", rec.display())), "{log}");

    // The markers' store has it, as before.
    let store = std::fs::read_to_string(&markers).expect("markers store");
    assert!(store.contains("deploy web 2026.12.07-1"), "{store}");
    // The recording has the marker among its events, and every server of s41 sampled.
    let (code, text, err) = replay(&sb, &rec, &["--events", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).expect("events JSON");
    let marker = events.iter().find(|e| e["rule"] == "marker").unwrap_or_else(|| panic!("no marker: {text}"));
    assert_eq!(marker["message"], "deploy web 2026.12.07-1");
    let (code, out, err) = replay(&sb, &rec, &["--snapshot-at", "end", "--format", "json"]);
    assert!(code <= 2, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for name in ["s41-m", "s41-r1", "s41-r2"] {
        let i = instance(&json, &sb.addr(name));
        assert!(i["version"].as_str().is_some_and(|v| v.contains("MariaDB")), "{name} sampled: {i:#}");
    }
}

/// `demo --replay --out PATH` makes a recording of the simulator's scripted incidents without a
/// server (then needs a terminal for the TUI, which a test has not): the file holds them.
#[test]
fn the_demo_recording_holds_the_scripted_incidents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("demo.db");
    let bin = env!("CARGO_BIN_EXE_shardtop");
    let out = Command::new(bin).args(["demo", "--replay", "--out"]).arg(&rec).output().expect("run demo --replay");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recorded the demo's scripted incidents"), "{err}");
    assert!(err.contains("not a terminal"), "{err}");
    let events =
        Command::new(bin).arg("replay").arg(&rec).args(["--events", "--format", "json"]).output().expect("events");
    let events: Vec<serde_json::Value> = serde_json::from_slice(&events.stdout).expect("JSON");
    let has = |shard: &str, text: &str| {
        events.iter().any(|e| e["shard"] == shard && e["message"].as_str().is_some_and(|m| m.contains(text)))
    };
    assert!(has("users-05", "SQL thread"), "{events:#?}");
    assert!(has("users-07", "master dead"), "{events:#?}");
    assert!(events.iter().any(|e| e["rule"] == "marker"), "{events:#?}");
    let snap = Command::new(bin)
        .arg("replay")
        .arg(&rec)
        .args(["--snapshot-at", "start+50s", "--format", "json"])
        .output()
        .expect("snapshot");
    assert_eq!(snap.status.code(), Some(2), "critical then: {}", String::from_utf8_lossy(&snap.stdout));
    // Kept files are not overwritten.
    let again = Command::new(bin).args(["demo", "--replay", "--out"]).arg(&rec).output().expect("again");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("the file exists"));
}
