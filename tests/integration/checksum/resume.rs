//! `--resume` on a table whose composite key holds commas (s59). The result table stores a
//! chunk's boundary as pt-table-checksum does, its key values joined by commas, so `7,a,b`
//! may be (7, 'a,b') or (7,a, 'b'): the resumed run must find where it stopped, check every
//! remaining row exactly once, and, when the stored boundary names no row any more, check the
//! table again from its start rather than fail or skip rows.

use mysql_async::prelude::Queryable;

use super::{checksum, wait_replicated_on};
use crate::common::Sandbox;

const ROWS: u64 = 6000;

/// Rows the stored chunks cover, and their chunk numbers, on the master.
async fn coverage(sb: &Sandbox) -> (u64, Vec<i64>) {
    let mut c = sb.admin("s59-m").await;
    let covered: Option<u64> = c
        .query_first(
            "SELECT CAST(SUM(this_cnt) AS UNSIGNED) FROM percona.checksums WHERE db = 'social' AND tbl = 'tagged'",
        )
        .await
        .expect("sum");
    let chunks: Vec<i64> = c
        .query("SELECT chunk FROM percona.checksums WHERE db = 'social' AND tbl = 'tagged' ORDER BY chunk")
        .await
        .expect("chunks");
    let _ = c.disconnect().await;
    (covered.unwrap_or(0), chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_finds_a_boundary_whose_key_holds_commas() {
    let sb = sandbox_or_skip!();
    sb.exec(
        "s59-m",
        &format!(
            "CREATE DATABASE IF NOT EXISTS social; USE social; DROP TABLE IF EXISTS social.tagged; \
             CREATE TABLE social.tagged (grp INT NOT NULL, tag VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL, v INT, \
             PRIMARY KEY (grp, tag)); \
             INSERT INTO social.tagged SELECT seq % 3, CONCAT('t,', LPAD(seq, 6, '0'), ',x'), seq FROM seq_1_to_{ROWS}"
        ),
    )
    .await;
    wait_replicated_on(&sb, "s59").await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Small chunks, so the run can stop (and resume) in the middle of the table.
    let cfg = sb.config_with(
        &["s59"],
        false,
        &format!("{}\n[checksum]\nchunk_time = \"2ms\"\n", sb.actions_section(&dir.path().join("a.jsonl"), "")),
    );
    let args = ["--shard", "s59", "--tables", "social.tagged"];

    // A whole run, then forget its chunks after the second, as if it had been stopped there.
    let (code, out) = checksum(&sb, &cfg, &args);
    assert_eq!(code, 0, "{out}");
    let (covered, chunks) = coverage(&sb).await;
    assert_eq!(covered, ROWS, "{chunks:?}");
    assert!(chunks.len() > 5, "several chunks, to stop between them: {chunks:?}");
    sb.exec("s59-m", "DELETE FROM percona.checksums WHERE db = 'social' AND tbl = 'tagged' AND chunk > 2").await;
    let upper = sb
        .value(
            "s59-m",
            "SELECT upper_boundary FROM percona.checksums WHERE db = 'social' AND tbl = 'tagged' AND chunk = 2",
        )
        .await
        .expect("a stored boundary");
    assert!(upper.matches(',').count() > 1, "the boundary is ambiguous: {upper}");

    // Resumed: from that boundary, each remaining row once, numbered on from chunk 3.
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let (code, out) = checksum(&sb, &cfg, &resumed);
    assert_eq!(code, 0, "{out}");
    let (covered, chunks) = coverage(&sb).await;
    assert_eq!(covered, ROWS, "every row in exactly one chunk after the resume: {chunks:?}\n{out}");
    assert_eq!(chunks, (1..=chunks.len() as i64).collect::<Vec<_>>(), "{out}");
    assert!(!out.contains("checked again from its start"), "{out}");

    // A stored boundary that names no row (that row deleted since, and ambiguous): from the start.
    sb.exec("s59-m", "DELETE FROM percona.checksums WHERE db = 'social' AND tbl = 'tagged' AND chunk > 2").await;
    sb.exec(
        "s59-m",
        "UPDATE percona.checksums SET upper_boundary = '1,gone,row' WHERE db = 'social' AND tbl = 'tagged' AND chunk = 2",
    )
    .await;
    let (code, out) = checksum(&sb, &cfg, &resumed);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: social.tagged: the stored resume point \"1,gone,row\" matches no key"), "{out}");
    let (covered, chunks) = coverage(&sb).await;
    assert_eq!(covered, ROWS, "{chunks:?}\n{out}");
    assert_eq!(chunks, (1..=chunks.len() as i64).collect::<Vec<_>>(), "{out}");
}
