//! The edge-case corpus (issue 18) on s28, whose servers run the old default
//! `character_set_server = latin1`: each table has one row changed on s28-r1
//! behind replication's back, and the run must name exactly that table and the
//! chunk holding the row, never abort, and agree with pt-table-checksum where it
//! is installed. The result table starts out as pt created it on such a server
//! (latin1), and must end up holding a multibyte boundary.

use mysql_async::prelude::Queryable;

use super::{checksum, wait_replicated_on};
use crate::common::Sandbox;

/// A corpus table: name, DDL (after `CREATE TABLE corpus.<name>`), the fill, the change made
/// on the replica, and the changed row's key when it is a single column (to check the chunk).
struct Case {
    tbl: &'static str,
    ddl: String,
    fill: String,
    change: String,
    key: Option<(&'static str, &'static str)>,
}

fn q(tbl: &str) -> String {
    format!("corpus.`{}`", tbl.replace('`', "``"))
}

fn cases() -> Vec<Case> {
    let wide_cols: Vec<String> = (1..=60).map(|i| format!("c{i} VARCHAR(50) NOT NULL")).collect();
    let wide_vals: Vec<String> = (1..=60).map(|i| format!("CONCAT('w{i}-', seq)")).collect();
    let c = |tbl: &'static str, ddl: &str, fill: &str, change: &str, key: Option<(&'static str, &'static str)>| Case {
        tbl,
        ddl: ddl.to_string(),
        fill: fill.to_string(),
        change: change.to_string(),
        key,
    };
    vec![
        c(
            "float_pk",
            "(id DOUBLE NOT NULL PRIMARY KEY, f FLOAT NOT NULL, v INT NOT NULL)",
            "SELECT seq / 4, seq / 3, seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE id = 500.25",
            Some(("id", "500.25")),
        ),
        c(
            "spaced cols",
            "(`the id` INT NOT NULL PRIMARY KEY, `back``tick` VARCHAR(20) NULL, `x y` INT NULL)",
            "SELECT seq, CONCAT('b`', seq), seq FROM seq_1_to_3000",
            "UPDATE {t} SET `x y` = -1 WHERE `the id` = 1500",
            Some(("the id", "1500")),
        ),
        c(
            "mb_utf8",
            "(k VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL PRIMARY KEY, v INT NOT NULL) DEFAULT CHARSET=utf8mb4",
            "SELECT CONCAT('東京-', seq), seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE k = '東京-997'",
            Some(("k", "東京-997")),
        ),
        c(
            "mb_latin1",
            "(k VARCHAR(40) CHARACTER SET latin1 NOT NULL PRIMARY KEY, v INT NOT NULL) DEFAULT CHARSET=latin1",
            "SELECT CONCAT('café-', seq), seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE k = 'café-997'",
            Some(("k", "café-997")),
        ),
        c(
            "composite",
            "(a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT NOT NULL, PRIMARY KEY (a, b))",
            "SELECT seq DIV 10, CONCAT('b', seq MOD 10), seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE a = 150 AND b = 'b3'",
            None,
        ),
        c("empty", "(id INT NOT NULL PRIMARY KEY, v INT NULL)", "", "INSERT INTO {t} VALUES (1, 1)", None),
        c(
            "uniq_nopk",
            "(u INT NOT NULL, v INT NULL, UNIQUE KEY uu (u))",
            "SELECT seq, seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE u = 2000",
            Some(("u", "2000")),
        ),
        c(
            "nokey",
            "(a INT NULL, b VARCHAR(20) NULL)",
            "SELECT seq, CONCAT('n', seq) FROM seq_1_to_300",
            "UPDATE {t} SET b = 'changed' WHERE a = 150",
            None,
        ),
        c(
            "dot.table",
            "(id INT NOT NULL PRIMARY KEY, v INT NOT NULL)",
            "SELECT seq, seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE id = 10",
            Some(("id", "10")),
        ),
        c(
            "blobs",
            "(id INT NOT NULL PRIMARY KEY, b BLOB NULL, t TEXT NULL, n1 INT NULL, n2 VARCHAR(10) NULL)",
            "SELECT seq, IF(seq % 3 = 0, NULL, REPEAT(CHAR(seq % 256), 300)), IF(seq % 5 = 0, NULL, REPEAT('t', seq % 700)), \
             IF(seq % 3 = 0, NULL, seq), IF(seq % 2 = 0, NULL, 'x') FROM seq_1_to_3000",
            "UPDATE {t} SET n1 = NULL WHERE id = 2501",
            Some(("id", "2501")),
        ),
        c(
            "decimal_pk",
            "(d DECIMAL(12,3) NOT NULL PRIMARY KEY, v INT NOT NULL)",
            "SELECT seq * 1.001, seq FROM seq_1_to_3000",
            "UPDATE {t} SET v = -1 WHERE d = 1001.000",
            Some(("d", "1001.000")),
        ),
        c(
            "enumset",
            "(id INT NOT NULL PRIMARY KEY, e ENUM('a','b','c') NOT NULL, s SET('x','y','z') NOT NULL)",
            "SELECT seq, ELT(1 + seq % 3, 'a', 'b', 'c'), ELT(1 + seq % 3, 'x', 'x,y', 'y,z') FROM seq_1_to_3000",
            "UPDATE {t} SET e = IF(e = 'a', 'b', 'a') WHERE id = 700",
            Some(("id", "700")),
        ),
        c(
            "json_col",
            "(id INT NOT NULL PRIMARY KEY, j JSON NULL)",
            "SELECT seq, JSON_OBJECT('n', seq, 'tag', CONCAT('t', seq)) FROM seq_1_to_3000",
            "UPDATE {t} SET j = JSON_OBJECT('n', -1) WHERE id = 800",
            Some(("id", "800")),
        ),
        c(
            "generated",
            "(id INT NOT NULL PRIMARY KEY, a INT NOT NULL, g INT AS (a * 2) VIRTUAL, s INT AS (a + 1) STORED)",
            "(id, a) SELECT seq, seq FROM seq_1_to_3000",
            "UPDATE {t} SET a = -1 WHERE id = 900",
            Some(("id", "900")),
        ),
        Case {
            tbl: "wide",
            ddl: format!("(id INT NOT NULL PRIMARY KEY, {})", wide_cols.join(", ")),
            fill: format!("SELECT seq, {} FROM seq_1_to_3000", wide_vals.join(", ")),
            change: "UPDATE {t} SET c30 = 'changed' WHERE id = 1200".into(),
            key: Some(("id", "1200")),
        },
    ]
}

/// pt-table-checksum over the corpus: per table it reported, its errors and the chunks it
/// found differing on s28-r1.
async fn pt_verdicts(sb: &Sandbox) -> Option<Vec<(String, usize, usize)>> {
    if !std::path::Path::new("/usr/bin/pt-table-checksum").exists() {
        return None;
    }
    let pw = std::fs::read_to_string(sb.var("SANDBOX_ADMIN_PASSWORD_FILE")).expect("pw");
    let dsns: Vec<String> = sb.replicas("s28").iter().map(|r| format!("('h=127.0.0.1,P={}')", sb.port(r))).collect();
    sb.exec(
        "s28-m",
        &format!(
            "CREATE TABLE IF NOT EXISTS percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, dsn VARCHAR(255) NOT NULL); \
             DELETE FROM percona.dsns; INSERT INTO percona.dsns (dsn) VALUES {}",
            dsns.join(",")
        ),
    )
    .await;
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("pt-table-checksum")
            .arg(format!("h=127.0.0.1,P={},u={},p={}", sb.port("s28-m"), sb.var("SANDBOX_ADMIN_USER"), pw.trim()))
            .args(["--replicate=percona.checksums_pt", "--databases", "corpus", "--no-check-binlog-format"])
            .arg("--chunk-time=0.05")
            .arg(format!("--recursion-method=dsn=h=127.0.0.1,P={},D=percona,t=dsns", sb.port("s28-m")))
            .output()
            .expect("run pt-table-checksum")
    });
    eprintln!(
        "pt-table-checksum on the corpus:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Its report: `TS ERRORS DIFFS ROWS DIFF_ROWS CHUNKS SKIPPED TIME TABLE`.
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let reported: Vec<(String, usize)> = stdout
        .lines()
        .filter_map(|l| {
            let (head, tbl) = l.split_once(" corpus.")?;
            let errors = head.split_whitespace().nth(1)?.parse().ok()?;
            Some((tbl.trim().to_string(), errors))
        })
        .collect();
    let mut c = sb.admin("s28-r1").await;
    let rows: Vec<(String, usize)> = c
        .query(
            "SELECT tbl, COUNT(*) FROM percona.checksums_pt WHERE db = 'corpus' AND (master_crc <> this_crc OR \
             master_cnt <> this_cnt OR ISNULL(master_crc) <> ISNULL(this_crc)) GROUP BY tbl",
        )
        .await
        .unwrap_or_else(|e| panic!("pt-table-checksum left no results: {e}"));
    let _ = c.disconnect().await;
    Some(
        reported
            .into_iter()
            .map(|(t, errors)| {
                let n = rows.iter().find(|(r, _)| *r == t).map_or(0, |(_, n)| *n);
                (t, errors, n)
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edge_case_table_names_exactly_its_changed_chunk() {
    let sb = sandbox_or_skip!();
    let cases = cases();
    // The result table as pt-table-checksum left it on a latin1 server.
    let mut setup = String::from(
        "DROP DATABASE IF EXISTS corpus; CREATE DATABASE corpus; USE corpus; CREATE DATABASE IF NOT EXISTS percona; \
         DROP TABLE IF EXISTS percona.checksums; CREATE TABLE percona.checksums (db CHAR(64) NOT NULL, tbl CHAR(64) NOT NULL, \
         chunk INT NOT NULL, chunk_time FLOAT NULL, chunk_index VARCHAR(200) NULL, lower_boundary TEXT NULL, \
         upper_boundary TEXT NULL, this_crc CHAR(40) NOT NULL, this_cnt INT NOT NULL, master_crc CHAR(40) NULL, \
         master_cnt INT NULL, ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, \
         PRIMARY KEY (db, tbl, chunk)) ENGINE=InnoDB DEFAULT CHARSET=latin1; ",
    );
    for c in &cases {
        setup.push_str(&format!("CREATE TABLE {} {}; ", q(c.tbl), c.ddl));
        if !c.fill.is_empty() {
            setup.push_str(&format!("INSERT INTO {} {}; ", q(c.tbl), c.fill));
        }
    }
    sb.exec("s28-m", &setup).await;
    wait_replicated_on(&sb, "s28").await;
    let changes: Vec<String> = cases.iter().map(|c| c.change.replace("{t}", &q(c.tbl))).collect();
    sb.exec("s28-r1", &format!("SET SESSION sql_log_bin = 0; {}", changes.join("; "))).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("a.jsonl");
    let cfg = sb.config_with(
        &["s28"],
        false,
        &format!("{}\n[checksum]\nchunk_time = \"20ms\"\nmax_lag = \"5s\"\n", sb.actions_section(&audit, "")),
    );
    let (code, out) = tokio::task::block_in_place(|| {
        checksum(&sb, &cfg, &["--shard", "s28", "--databases", "corpus", "--format", "json"])
    });
    let start = out.find('{').unwrap_or_else(|| panic!("no JSON in:\n{out}"));
    let json: serde_json::Value =
        serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"));
    assert_eq!(code, 1, "differences, nothing incomplete: {json:#}");
    assert_eq!(json["incomplete"].as_array().map(Vec::len), Some(0), "{json:#}");
    let r1 = sb.addr("s28-r1");
    let diffs = json["diffs"].as_array().cloned().unwrap_or_default();
    let tables = json["tables"].as_array().cloned().unwrap_or_default();
    let mut master = sb.admin("s28-m").await;
    let mut verdicts = Vec::new();
    for c in &cases {
        let t = tables.iter().find(|t| t["tbl"] == c.tbl).unwrap_or_else(|| panic!("{} not checked: {json:#}", c.tbl));
        assert!(t["skipped"].is_null(), "{} checked: {t:#}", c.tbl);
        let mine: Vec<&serde_json::Value> = diffs.iter().filter(|d| d["tbl"] == c.tbl).collect();
        assert_eq!(mine.len(), 1, "{}: exactly one differing chunk: {mine:#?}", c.tbl);
        assert_eq!(mine[0]["replica"], r1.as_str(), "{}: on s28-r1 only", c.tbl);
        // The chunk holds the changed row (single-column keys; the master answers).
        if let Some((col, key)) = c.key {
            let bound = |k: &str, op: &str| {
                mine[0][k].as_str().map_or("1=1".to_string(), |v| format!("`{col}` {op} '{}'", v.replace('\'', "''")))
            };
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE `{col}` = '{key}' AND {} AND {}",
                q(c.tbl),
                bound("lower_boundary", if mine[0]["upper_boundary"].is_null() { ">" } else { ">=" }),
                bound("upper_boundary", if mine[0]["lower_boundary"].is_null() { "<" } else { "<=" }),
            );
            let n: Option<u64> = master.query_first(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(n, Some(1), "{}: chunk {} holds the changed row ({sql})", c.tbl, mine[0]["chunk"]);
        }
        verdicts.push((c.tbl, format!("chunk {} differs", mine[0]["chunk"]), t["chunks"].clone()));
    }
    // The latin1 result table was converted, and the multibyte boundary round-trips.
    let charset: Option<String> = master
        .query_first(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'percona' \
             AND TABLE_NAME = 'checksums' AND COLUMN_NAME = 'upper_boundary'",
        )
        .await
        .expect("charset");
    assert_eq!(charset.as_deref(), Some("utf8mb4"));
    let mb: Option<u64> = master
        .query_first("SELECT COUNT(*) FROM percona.checksums WHERE tbl = 'mb_utf8' AND upper_boundary LIKE '東京-%'")
        .await
        .expect("boundary");
    assert!(mb.unwrap_or(0) >= 1, "a multibyte boundary was stored");
    let _ = master.disconnect().await;

    // The audit log: the run, every table step, each differing chunk, the outcome.
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let entries: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let count = |step: &str, phase: &str| entries.iter().filter(|e| e["step"] == step && e["phase"] == phase).count();
    assert_eq!(count("run", "start"), 1, "{log}");
    assert_eq!(count("table", "ok"), cases.len(), "{log}");
    assert_eq!(count("compare", "diff"), cases.len(), "{log}");
    assert_eq!(count("prepare", "converted"), 1, "{log}");
    assert_eq!(count("run", "outcome"), 1, "{log}");
    assert!(entries.iter().all(|e| e["action"] == "checksum"), "{log}");

    // pt-table-checksum's verdict on the same data, where installed.
    let pt = pt_verdicts(&sb).await;
    eprintln!("corpus verdicts (table | shardtop | pt-table-checksum):");
    for (tbl, mine, chunks) in &verdicts {
        let theirs = match &pt {
            None => "not installed".to_string(),
            Some(rows) => match rows.iter().find(|(t, _, _)| t == tbl) {
                Some((_, 0, n)) => format!("{n} differing chunk(s)"),
                Some((_, e, _)) => format!("failed ({e} errors)"),
                None => "not checked".to_string(),
            },
        };
        eprintln!("  {tbl:<12} | {mine} of {chunks} | {theirs}");
    }
    // Where pt-table-checksum ran without errors, it finds the same one difference per table
    // (it fails on a column name holding a backtick: it reads `back``tick` as `back`).
    if let Some(rows) = pt {
        for (tbl, errors, n) in &rows {
            assert!(cases.iter().any(|c| c.tbl == tbl), "pt-table-checksum checked a table not in the corpus: {tbl}");
            if *errors == 0 {
                assert_eq!(*n, 1, "pt-table-checksum on {tbl}: one differing chunk, as shardtop");
            }
        }
        assert!(rows.iter().filter(|r| r.1 == 0).count() >= cases.len() - 1, "{rows:?}");
    }
}
