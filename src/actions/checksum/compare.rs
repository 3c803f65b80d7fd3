//! The compare step: wait, a slice at a time, until a replica applied the
//! master's last chunk (by GTID, or by binlog coordinates on MySQL without
//! GTIDs), then read the chunks whose checksums differ from the master's.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::exec::{ChecksumExec, WAIT_SLICE, interrupted, or_stop};
use super::plan::CatchUp;
use super::sql::qualified;
use super::{ChecksumError, Diff, Res, fail};
use crate::actions::runner::Journal;
use crate::fleet::Addr;
use crate::probe;

/// A differing row of the result table, as read back from a replica.
type DiffRow =
    (String, String, i64, Option<String>, Option<String>, Option<String>, i64, Option<i64>, String, Option<String>);

impl ChecksumExec<'_> {
    /// The master's position after the last chunk, read once for every comparison.
    async fn master_position(&mut self) -> Res<(String, Option<(String, u64)>)> {
        if let Some(p) = &self.master_pos {
            return Ok(p.clone());
        }
        let gtid: Option<String> =
            self.first_row(self.dialect.gtid_position_sql()).await?.and_then(|r| r.get_opt(0).and_then(Result::ok));
        let coords = self.first_row(self.dialect.binlog_status_sql()).await?.and_then(|r| {
            let file = r.get_opt::<String, _>("File").and_then(Result::ok)?;
            let pos = r.get_opt::<u64, _>("Position").and_then(Result::ok)?;
            Some((file, pos))
        });
        let p = (gtid.unwrap_or_default(), coords);
        self.master_pos = Some(p.clone());
        Ok(p)
    }

    /// Wait, a slice at a time (so a stop request ends it), until `replica` applied everything.
    async fn catch_up(&mut self, replica: &Addr, how: &CatchUp, timeout: Duration) -> Res<Conn> {
        let (gtid, coords) = self.master_position().await?;
        let started = Instant::now();
        // An unreachable replica (stopped, restarting) gets the same patience as a lagging one.
        let mut rc = loop {
            let attempt = or_stop(self.stop, probe::connect(replica, &self.opts))
                .await
                .ok_or_else(|| interrupted(&format!("connecting to {replica}")))?;
            match attempt {
                Ok(c) => break c,
                Err(e) if started.elapsed() >= timeout => {
                    return Err(ChecksumError::Failed(format!(
                        "{replica}: {e} (unreachable for {:.0} s); its chunks were not compared: compare later with \
                         --resume",
                        timeout.as_secs_f64()
                    )));
                }
                Err(_) => or_stop(self.stop, tokio::time::sleep(Duration::from_secs_f64(WAIT_SLICE)))
                    .await
                    .ok_or_else(|| interrupted(&format!("connecting to {replica}")))?,
            }
        };
        loop {
            let left = timeout.saturating_sub(started.elapsed()).as_secs_f64();
            if left <= 0.0 {
                return Err(ChecksumError::Failed(format!(
                    "{replica} did not reach the master's last chunk within {:.0} s (replication stopped or \
                     behind); its chunks were not compared: compare later with --resume",
                    timeout.as_secs_f64()
                )));
            }
            let slice = left.min(WAIT_SLICE);
            let (sql, gtid_wait) = match (how, &coords) {
                (CatchUp::BinlogPos, Some((file, pos))) => (self.dialect.wait_for_pos(file, *pos, slice), false),
                (CatchUp::BinlogPos, None) => {
                    return Err(ChecksumError::Failed(
                        "the master has no binary log coordinates to wait for (binary logging off?)".into(),
                    ));
                }
                (CatchUp::Gtid, _) => (self.dialect.wait_for_gtid(&gtid, slice), true),
            };
            let answer = or_stop(self.stop, rc.query_first::<Option<i64>, _>(sql))
                .await
                .ok_or_else(|| interrupted(&format!("waiting for {replica}")))?
                .map_err(|e| ChecksumError::Failed(format!("waiting for {replica}: {e}")))?;
            if self.dialect.wait_succeeded(gtid_wait, answer.flatten()) {
                return Ok(rc);
            }
            // NULL (replication stopped) answers at once: do not spin.
            if answer.flatten().is_none() {
                or_stop(self.stop, tokio::time::sleep(Duration::from_secs_f64(slice)))
                    .await
                    .ok_or_else(|| interrupted(&format!("waiting for {replica}")))?;
            }
        }
    }

    pub(super) async fn compare(
        &mut self,
        replica: &Addr,
        how: &CatchUp,
        timeout: Duration,
        journal: &mut Journal<'_>,
    ) -> Res<String> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(interrupted("before comparing"));
        }
        let mut rc = self.catch_up(replica, how, timeout).await?;
        let sql = format!(
            "SELECT db, tbl, chunk, chunk_index, lower_boundary, upper_boundary, this_cnt, master_cnt, this_crc, master_crc \
             FROM {} WHERE (master_cnt <> this_cnt OR master_crc <> this_crc OR ISNULL(master_crc) <> ISNULL(this_crc)) \
             ORDER BY db, tbl, chunk",
            qualified(&self.req.result_table)
        );
        let rows: Vec<Row> = or_stop(self.stop, rc.query(sql))
            .await
            .ok_or_else(|| interrupted(&format!("reading {replica}'s results")))?
            .map_err(fail("reading differences"))?;
        let mut found = 0;
        for r in rows {
            let (db, tbl, chunk, chunk_index, lower, upper, this_cnt, master_cnt, this_crc, master_crc): DiffRow =
                mysql_async::from_row_opt(r).map_err(|e| ChecksumError::Failed(e.to_string()))?;
            // Only tables this run checked (or finished in the run it resumes).
            if !self.report.tables.iter().any(|t| t.db == db && t.tbl == tbl && t.skipped.is_none()) {
                continue;
            }
            let d = Diff {
                replica: replica.clone(),
                db,
                tbl,
                chunk,
                chunk_index,
                lower_boundary: lower,
                upper_boundary: upper,
                this_cnt,
                master_cnt,
                this_crc,
                master_crc,
            };
            let _ = journal.entry("compare", "diff", None, &d.describe());
            self.report.diffs.push(d);
            found += 1;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), rc.disconnect()).await;
        Ok(format!("{replica}: {found} differing chunk{}", if found == 1 { "" } else { "s" }))
    }
}
