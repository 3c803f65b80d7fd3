//! Online consistency check, compatible with pt-table-checksum: the master
//! runs each chunk's checksum as a statement-based `REPLACE … SELECT`, so every
//! replica computes the same checksum over its own rows when the statement
//! replicates; the master's own result follows in an `UPDATE`, and comparing
//! `this_*` with `master_*` on each replica finds the chunks that differ. The
//! result table has pt-table-checksum's layout, so existing tooling reads it.
//!
//! The run is a plan of typed steps (`plan`) executed by the one action runner
//! (`exec`): the plan is what `--dry-run` prints and the TUI lists, and every
//! step, pause, differing chunk, the result and an interruption reach the audit
//! log. `table_method` is the quick `CHECKSUM TABLE` comparison.

mod compare;
mod exec;
pub mod plan;
mod sizing;
mod sql;
mod table_method;
mod tables;
mod walk;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::actions::audit::AuditLog;
use crate::actions::runner::{self, Journal, RunError};
use crate::actions::{PlannedStep, Progress};
use crate::fleet::Addr;
use crate::mysql::Dialect;
use crate::mysql::dialect::DETECT_SQL;
use crate::probe::{self, ProbeOptions};
use exec::{ChecksumExec, Sink, or_stop};
pub use plan::{CatchUp, ChecksumStep};
pub use sql::{crc_expr, create_table_sql};
pub use table_method::{ServerChecksums, TableMethodReport, run_table_method};

#[derive(Clone, Debug)]
pub struct Request {
    pub shard: String,
    pub master: Addr,
    pub replicas: Vec<Addr>,
    /// `db.table` names; empty means every base table outside the system schemas.
    pub tables: Vec<String>,
    /// Only these databases (when `tables` is empty).
    pub databases: Vec<String>,
    pub result_table: String,
    pub chunk_time: Duration,
    pub max_lag: Duration,
    pub max_threads_running: u64,
    /// Give up when a replica stays stopped or unreachable this long (`[checksum] replica_timeout`).
    pub replica_timeout: Duration,
    pub resume: bool,
    pub dry_run: bool,
}

/// A table as the check sees it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TablePlan {
    pub db: String,
    pub tbl: String,
    /// The index chunks walk (`PRIMARY` or a unique index); `None`: checksummed whole.
    pub index: Option<String>,
    pub key: Vec<String>,
    /// The key is one integer column: chunk boundaries are arithmetic (`walk`), not read.
    pub int_key: bool,
    pub columns: Vec<String>,
    pub nullable: Vec<String>,
    pub rows_estimate: u64,
    /// Why the table is skipped, if it is.
    pub skip: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Diff {
    pub replica: Addr,
    pub db: String,
    pub tbl: String,
    pub chunk: i64,
    pub chunk_index: Option<String>,
    pub lower_boundary: Option<String>,
    pub upper_boundary: Option<String>,
    pub this_cnt: i64,
    pub master_cnt: Option<i64>,
    pub this_crc: String,
    pub master_crc: Option<String>,
}

impl Diff {
    /// Where the difference is, for people: `replica db.tbl chunk N [lower .. upper]`.
    pub fn place(&self) -> String {
        format!(
            "{} {}.{} chunk {} [{} .. {}]",
            self.replica,
            self.db,
            self.tbl,
            self.chunk,
            self.lower_boundary.as_deref().unwrap_or("-∞"),
            self.upper_boundary.as_deref().unwrap_or("+∞")
        )
    }

    /// The place and both sides' counts and checksums (the CLI line, the audit entry).
    pub fn describe(&self) -> String {
        format!(
            "{} rows {} vs master {} crc {} vs master {}",
            self.place(),
            self.this_cnt,
            self.master_cnt.map_or("NULL".into(), |v| v.to_string()),
            self.this_crc,
            self.master_crc.as_deref().unwrap_or("NULL")
        )
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TableResult {
    pub db: String,
    pub tbl: String,
    pub chunks: u64,
    pub rows: u64,
    pub seconds: f64,
    /// Why the table was not (fully) checked.
    pub skipped: Option<String>,
    /// A resumed run found it finished by the run it continues.
    pub done_earlier: bool,
    /// Its verdict in words: `social.t: ✓ 0 rows in 1 chunk, 0.0 s`, or skipped and why.
    pub verdict: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub shard: String,
    pub tables: Vec<TableResult>,
    pub diffs: Vec<Diff>,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub interrupted: bool,
    /// What was not checked (tables skipped, replicas not compared), with the reason.
    pub incomplete: Vec<String>,
}

impl Report {
    /// Exit status: 0 consistent, 1 differences, 3 interrupted, 4 incomplete (no differences
    /// found in what was checked, but some tables or replicas were not).
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            3
        } else if !self.diffs.is_empty() {
            1
        } else if !self.incomplete.is_empty() {
            4
        } else {
            0
        }
    }
}

/// Progress, for the CLI and the TUI.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The plan as it will run, and the tables it found.
    Plan {
        steps: Vec<PlannedStep>,
        tables: Vec<TablePlan>,
    },
    /// A step started, finished (with its verdict) or failed.
    Step(Progress),
    Chunk {
        db: String,
        tbl: String,
        chunk: i64,
        rows: u64,
        chunk_size: u64,
        took: Duration,
        done_rows: u64,
        total_rows: u64,
    },
    Paused {
        reason: String,
    },
    Resumed,
    /// Something the operator should know that changes nothing of the verdict.
    Note {
        text: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Interrupted(String),
}

type Res<T> = Result<T, ChecksumError>;

fn fail(what: &str) -> impl Fn(mysql_async::Error) -> ChecksumError + '_ {
    move |e| ChecksumError::Failed(format!("{what}: {e}"))
}

fn audit_err(e: std::io::Error) -> ChecksumError {
    ChecksumError::Failed(format!("audit log: {e}"))
}

/// A run's first audit entry: what runs where (`what`), then the tables by name.
fn record_start(journal: &mut Journal<'_>, what: &str, tables: &[TablePlan]) -> Res<()> {
    journal.entry("run", "start", None, &format!("{what}: {}", plan::listing(tables))).map_err(audit_err)
}

/// A run whose `step` failed with `message`: its last audit entry and its error say so.
fn run_failed(journal: &mut Journal<'_>, step: &str, message: &str) -> ChecksumError {
    let why = format!("{step}: {message}");
    let _ = journal.entry("run", "failed", Some(journal.elapsed()), &why);
    ChecksumError::Failed(why)
}

/// The server's dialect, which decides every replication statement of the run.
async fn dialect_of(conn: &mut Conn, addr: &Addr) -> Res<Dialect> {
    let row: Option<(String, Option<String>)> = conn.query_first(DETECT_SQL).await.map_err(fail("version"))?;
    let (version, comment) = row.unwrap_or_default();
    Dialect::detect(&version, comment.as_deref().unwrap_or(""))
        .ok_or_else(|| ChecksumError::Refused(format!("{addr}: unknown server version {version:?}")))
}

/// How replicas will be waited for: GTID, or binlog coordinates on MySQL without GTIDs.
async fn catch_up_of(conn: &mut Conn, dialect: &Dialect) -> Res<CatchUp> {
    let mode: Option<String> = match dialect.gtid_mode_sql() {
        Some(sql) => conn.query_first(sql).await.map_err(fail("reading gtid_mode"))?,
        None => None,
    };
    let pos: Option<String> =
        conn.query_first(dialect.gtid_position_sql()).await.map_err(fail("reading the master's GTID position"))?;
    Ok(CatchUp::choose(dialect, mode.as_deref(), pos.as_deref().unwrap_or("")))
}

/// Run the check. `stop` (Ctrl-C, the dialog's Esc) ends it within a fraction of a
/// second wherever it is; `--resume` continues. Every step goes to `audit`.
pub async fn run(
    req: &Request,
    opts: Arc<ProbeOptions>,
    stop: Arc<AtomicBool>,
    audit: &mut AuditLog,
    events: &mut (dyn FnMut(&Event) + Send),
) -> Result<Report, ChecksumError> {
    let started = Instant::now();
    let mut conn = or_stop(&stop, probe::connect(&req.master, &opts))
        .await
        .ok_or_else(|| ChecksumError::Interrupted("stopped while connecting".into()))?
        .map_err(|e| ChecksumError::Refused(format!("{}: {e}", req.master)))?;
    let dialect = dialect_of(&mut conn, &req.master).await?;
    let tables = tables::plan_tables(&mut conn, req).await?;
    let catch_up = catch_up_of(&mut conn, &dialect).await?;
    let total: u64 = tables.iter().filter(|p| p.skip.is_none()).map(|p| p.rows_estimate).sum();
    let steps = plan::plan(req, tables.clone(), catch_up);
    events(&Event::Plan { steps: runner::describe(&steps), tables: tables.clone() });
    if req.dry_run {
        let _ = conn.disconnect().await;
        return Ok(Report { shard: req.shard.clone(), ..Report::default() });
    }
    let sink = Sink::new(events);
    let mut forward = |p: &Progress| sink.emit(&Event::Step(p.clone()));
    let secrets = opts.password.iter().cloned().collect();
    let mut journal = Journal::new("checksum", &req.shard, audit, &mut forward, secrets);
    let what = format!("checksum {} on {} ({} replicas)", req.result_table, req.master, req.replicas.len());
    record_start(&mut journal, &what, &tables)?;
    let mut exec = ChecksumExec::new(req, opts.clone(), dialect, conn, &sink, &stop, total);
    let outcome = runner::execute(&steps, &mut exec, &mut journal, Some(&stop)).await;
    let mut report = std::mem::take(&mut exec.report);
    exec.close().await;
    report.seconds = started.elapsed().as_secs_f64();
    report.rows_per_second = report.rows as f64 / report.seconds.max(1e-9);
    report.interrupted = stop.load(Ordering::Relaxed);
    for t in &report.tables {
        if let (Some(why), false) = (&t.skipped, report.interrupted) {
            report.incomplete.push(format!("{}.{} skipped: {why}", t.db, t.tbl));
        }
    }
    report.incomplete.extend(journal.take_warnings().into_iter().filter(|_| !report.interrupted));
    match outcome {
        Err(RunError::Audit(e)) => return Err(audit_err(e)),
        Err(RunError::Failed { step, message, .. }) if !report.interrupted => {
            return Err(run_failed(&mut journal, step, &message));
        }
        _ => {}
    }
    let summary = format!(
        "{} rows in {:.1} s, {} differing chunk{}{}",
        report.rows,
        report.seconds,
        report.diffs.len(),
        if report.diffs.len() == 1 { "" } else { "s" },
        if report.incomplete.is_empty() {
            String::new()
        } else {
            format!("; incomplete: {}", report.incomplete.join("; "))
        }
    );
    if report.interrupted {
        journal.entry("run", "interrupted", Some(journal.elapsed()), &format!("{summary}; continue with --resume"))
    } else {
        journal.entry("run", "outcome", Some(journal.elapsed()), &summary)
    }
    .map_err(audit_err)?;
    Ok(report)
}
