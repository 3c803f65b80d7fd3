//! `shardtop checksum` against a real MariaDB shard (s15 of the test sandbox),
//! on a table of a million rows with nullable columns; the edge-case corpus
//! (`corpus`, s28) and Ctrl-C with a stopped replica (`interrupt`, s29).

mod corpus;
mod filepos;
mod interrupt;
mod resume;

use std::time::{Duration, Instant};

use crate::common::Sandbox;

const ROWS: u64 = 1_000_000;
/// `social.sparse`: a dense stretch of its integer key, one with a key every 5, and one more
/// dense stretch past a gap of billions, so the chunks walk both by arithmetic ranges and
/// by read boundaries (`walk`).
const SPARSE_PART: u64 = 20_000;
const SPARSE_IDS: [i64; 3] = [777, 1_000_000_000 + 5 * 777, 5_000_000_777];

pub(super) fn checksum(sb: &Sandbox, cfg: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin())
        .arg("checksum")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shardtop checksum");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn json_report(sb: &Sandbox, cfg: &std::path::Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["--shard", "s15", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out) = checksum(sb, cfg, &args);
    let start = out.find('{').unwrap_or_else(|| panic!("no JSON in:\n{out}"));
    let json = serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"));
    (code, json)
}

/// The chunk of a diff covers `id` (single-column key; open ends for out-of-range chunks).
fn covers(d: &serde_json::Value, id: i64) -> bool {
    let bound = |k: &str| d[k].as_str().and_then(|s| s.parse::<i64>().ok());
    let (lo, hi) = (bound("lower_boundary"), bound("upper_boundary"));
    match (lo, hi) {
        (Some(l), Some(h)) => l <= id && id <= h,
        (None, Some(h)) => id < h,
        (Some(l), None) => id > l,
        (None, None) => true,
    }
}

pub(super) async fn wait_replicated_on(sb: &Sandbox, shard: &str) {
    let pos = sb.value(&format!("{shard}-m"), "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in sb.replicas(shard) {
        assert_eq!(
            sb.value(&r, &format!("SELECT MASTER_GTID_WAIT('{pos}', 120)")).await.as_deref(),
            Some("0"),
            "{r} caught up"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_exactly_the_chunks_that_differ_and_survives_pauses_and_interruptions() {
    let sb = sandbox_or_skip!();
    let t0 = Instant::now();
    sb.exec(
        "s15-m",
        &format!(
            "USE social; DROP TABLE IF EXISTS social.big, social.nopk, social.sparse; CREATE TABLE social.big (id BIGINT NOT NULL PRIMARY KEY, a INT NULL, b VARCHAR(40) NULL, c DATETIME NOT NULL); \
             INSERT INTO social.big SELECT seq, IF(seq % 7 = 0, NULL, seq * 3), IF(seq % 11 = 0, NULL, CONCAT('row-', seq)), \
             '2024-01-01' + INTERVAL (seq % 100000) SECOND FROM seq_1_to_{ROWS}; \
             CREATE TABLE social.nopk (a INT NULL, b VARCHAR(20) NULL); INSERT INTO social.nopk VALUES (1, 'x'), (2, NULL), (NULL, 'z'); \
             CREATE TABLE social.sparse (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v VARCHAR(20) NOT NULL); \
             INSERT INTO social.sparse SELECT seq, 'dense' FROM seq_1_to_{SPARSE_PART}; \
             INSERT INTO social.sparse SELECT 1000000000 + 5 * seq, 'sparse' FROM seq_1_to_{SPARSE_PART}; \
             INSERT INTO social.sparse SELECT 5000000000 + seq, 'after a gap' FROM seq_1_to_{SPARSE_PART}"
        ),
    )
    .await;
    wait_replicated_on(&sb, "s15").await;
    eprintln!("built and replicated {ROWS} rows in {:?}", t0.elapsed());
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sb.config_with(
        &["s15"],
        false,
        &format!(
            "{}\n[checksum]\nchunk_time = \"100ms\"\nmax_lag = \"5s\"\n",
            sb.actions_section(&dir.path().join("a.jsonl"), "")
        ),
    );
    let tables = "social.big,social.nopk,social.sparse";

    // 1. Consistent: no differences; the table without a key is checksummed whole.
    let started = Instant::now();
    let (code, json) = json_report(&sb, &cfg, &["--tables", tables]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["diffs"].as_array().map(Vec::len), Some(0), "{json:#}");
    assert_eq!(json["rows"].as_u64(), Some(ROWS + 3 + 3 * SPARSE_PART));
    eprintln!("checksum of {} rows: {:?} ({} rows/s reported)", ROWS + 3, started.elapsed(), json["rows_per_second"]);
    let nopk = json["tables"].as_array().into_iter().flatten().find(|t| t["tbl"] == "nopk").cloned().expect("nopk");
    assert_eq!(nopk["chunks"], 1);

    // 1b. A row lock held by the application: the chunk gives up (1 s) and is retried.
    {
        use mysql_async::prelude::Queryable;
        let mut app = sb.admin("s15-m").await;
        app.query_drop("BEGIN").await.expect("begin");
        app.query_drop("SELECT * FROM social.big WHERE id = 5 FOR UPDATE").await.expect("lock a row");
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            app.query_drop("COMMIT").await.expect("commit");
            let _ = app.disconnect().await;
        });
        let (code, out) =
            tokio::task::block_in_place(|| checksum(&sb, &cfg, &["--shard", "s15", "--tables", "social.big"]));
        releaser.await.expect("releaser");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("Lock wait timeout") && out.contains("(retry 1)"), "{out}");
    }

    // 2. A replica stopped as the run starts, for 3 s: the run waits for it and compares it, exit 0.
    // (Stopped before the start, not a fixed time into it: a million rows take about a second here,
    // so a stop 300 ms in could land after the last chunk; the compare step then failed to connect
    // and gave up after 2 s — fixed: it now waits for an unreachable replica up to replica_timeout.)
    // The throttle's probe of the frozen replica waits for it (it answers within the probe
    // timeout once thawed): after 500 ms without an answer that is reported as a pause.
    let pid = sb.pid("s15-r2");
    let _ = std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        let _ = std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status();
    });
    let (code, out) = checksum(&sb, &cfg, &["--shard", "s15", "--tables", "social.big"]);
    stopper.join().expect("stopper");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{}: 0 differing chunks", sb.addr("s15-r2"))),
        "the stopped replica is compared: {out}"
    );
    let r2 = sb.addr("s15-r2");
    assert!(
        out.contains(&format!("paused: replica {r2} has not answered"))
            || out.contains(&format!("paused: replica {r2} unreachable")),
        "the wait on the stopped replica is shown: {out}"
    );
    assert!(out.contains("resumed after"), "and its end: {out}");

    // 3. Interrupted (SIGINT) between chunks, then resumed to the end.
    let child = std::process::Command::new(sb.bin())
        .args(["checksum", "--shard", "s15", "--tables", "social.big", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start checksum");
    std::thread::sleep(Duration::from_millis(800));
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("interrupted: continue with --resume"), "{text}");
    let chunks_before: u64 = sb
        .value("s15-m", "SELECT COUNT(*) FROM percona.checksums WHERE tbl = 'big'")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (code, json) = json_report(&sb, &cfg, &["--tables", "social.big", "--resume"]);
    assert_eq!(code, 0, "{json:#}");
    let resumed_rows = json["rows"].as_u64().unwrap_or(0);
    assert!(resumed_rows < ROWS && resumed_rows > 0, "resume checksummed only the rest: {resumed_rows}");
    let done = sb.value("s15-m", "SELECT SUM(master_cnt) FROM percona.checksums WHERE tbl = 'big'").await;
    assert_eq!(done, Some(ROWS.to_string()), "every row counted exactly once across both runs");
    assert!(chunks_before > 0);

    // 4. Changes made directly on one replica, behind replication's back.
    let max_id = ROWS as i64 + 10;
    sb.exec(
        "s15-r1",
        &format!(
            "SET SESSION sql_log_bin = 0; UPDATE social.big SET b = 'tampered' WHERE id = 123456; \
             DELETE FROM social.big WHERE id = 654321; INSERT INTO social.big VALUES ({max_id}, 1, 'extra', NOW()); \
             UPDATE social.nopk SET b = 'y' WHERE a = 1; UPDATE social.sparse SET v = 'tampered' WHERE id IN ({})",
            SPARSE_IDS.map(|i| i.to_string()).join(", ")
        ),
    )
    .await;
    let (code, json) = json_report(&sb, &cfg, &["--tables", tables]);
    assert_eq!(code, 1, "differences exit non-zero: {json:#}");
    let diffs = json["diffs"].as_array().cloned().unwrap_or_default();
    let r1 = sb.addr("s15-r1");
    assert!(diffs.iter().all(|d| d["replica"] == r1.as_str()), "only s15-r1 differs: {diffs:#?}");
    let big: Vec<&serde_json::Value> = diffs.iter().filter(|d| d["tbl"] == "big").collect();
    for id in [123456, 654321, max_id] {
        assert_eq!(
            big.iter().filter(|d| covers(d, id)).count(),
            1,
            "exactly one differing chunk holds id {id}: {big:#?}"
        );
    }
    assert_eq!(big.len(), 3, "no other chunk differs: {big:#?}");
    assert_eq!(diffs.iter().filter(|d| d["tbl"] == "nopk").count(), 1);
    let sparse: Vec<&serde_json::Value> = diffs.iter().filter(|d| d["tbl"] == "sparse").collect();
    for id in SPARSE_IDS {
        assert_eq!(
            sparse.iter().filter(|d| covers(d, id)).count(),
            1,
            "one differing chunk holds id {id}: {sparse:#?}"
        );
    }
    assert_eq!(sparse.len(), 3, "no other chunk of the sparse table differs: {sparse:#?}");

    // 4b. The quick method: replicas held at one position, CHECKSUM TABLE compared.
    let (code, out) = checksum(&sb, &cfg, &["--shard", "s15", "--tables", tables, "--method", "table"]);
    assert_eq!(code, 1, "{out}");
    // The master's own checksum decides: the one changed replica is named alone.
    assert!(out.contains(&format!("DIFF `social`.`big`: {r1}\n")), "{out}");
    assert!(!out.contains("note: the master's position moved"), "{out}");
    assert!(out.contains("replication held"), "{out}");
    let log = std::fs::read_to_string(dir.path().join("a.jsonl")).expect("audit log");
    for needle in ["\"step\":\"hold\",\"phase\":\"start\"", "\"step\":\"hold\",\"phase\":\"ok\"", "--method table on"] {
        assert!(log.contains(needle), "holding replication is audited ({needle}):\n{log}");
    }
    for r in sb.replicas("s15") {
        let row = sb.replica_status(&r).await.expect("replica");
        assert_eq!(row.get::<String, _>("Slave_SQL_Running").as_deref(), Some("Yes"), "{r}: replication restarted");
    }

    // 5. pt-table-checksum, where installed, agrees on which rows differ.
    if std::path::Path::new("/usr/bin/pt-table-checksum").exists() {
        let pw = std::fs::read_to_string(sb.var("SANDBOX_ADMIN_PASSWORD_FILE")).expect("pw");
        let dsns: Vec<String> =
            sb.replicas("s15").iter().map(|r| format!("('h=127.0.0.1,P={}')", sb.port(r))).collect();
        sb.exec(
            "s15-m",
            &format!(
                "CREATE TABLE IF NOT EXISTS percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, dsn VARCHAR(255) NOT NULL); \
                 DELETE FROM percona.dsns; INSERT INTO percona.dsns (dsn) VALUES {}",
                dsns.join(",")
            ),
        )
        .await;
        let out = std::process::Command::new("pt-table-checksum")
            .arg(format!("h=127.0.0.1,P={},u={},p={}", sb.port("s15-m"), sb.var("SANDBOX_ADMIN_USER"), pw.trim()))
            .args([
                "--replicate=percona.checksums_pt",
                "--tables",
                "social.big",
                "--no-check-binlog-format",
                "--chunk-time=0.1",
            ])
            .arg(format!("--recursion-method=dsn=h=127.0.0.1,P={},D=percona,t=dsns", sb.port("s15-m")))
            .output()
            .expect("run pt-table-checksum");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("social.big"), "pt-table-checksum ran: {text}{}", String::from_utf8_lossy(&out.stderr));
        let mut c = sb.admin("s15-r1").await;
        use mysql_async::prelude::Queryable;
        let pt: Vec<(Option<String>, Option<String>)> = c
            .query("SELECT lower_boundary, upper_boundary FROM percona.checksums_pt WHERE tbl = 'big' AND (master_crc <> this_crc OR master_cnt <> this_cnt)")
            .await
            .expect("pt results");
        let _ = c.disconnect().await;
        let pt_covers = |id: i64| {
            pt.iter().any(|(l, h)| {
                let (l, h) = (
                    l.as_deref().and_then(|s| s.parse::<i64>().ok()),
                    h.as_deref().and_then(|s| s.parse::<i64>().ok()),
                );
                match (l, h) {
                    (Some(l), Some(h)) => l <= id && id <= h,
                    (None, Some(h)) => id < h,
                    (Some(l), None) => id > l,
                    (None, None) => true,
                }
            })
        };
        for id in [123456, 654321, max_id] {
            assert!(pt_covers(id), "pt-table-checksum also flags id {id}: {pt:?}");
        }
        assert_eq!(pt.len(), 3, "pt-table-checksum flags the same three places: {pt:?}");
    }
}
