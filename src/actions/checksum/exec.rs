//! What each step of a checksum does on the servers. Every wait — the throttle,
//! a chunk, a replica catching up — gives way to a stop request within a few
//! tens of milliseconds, so Ctrl-C ends a run at once wherever it is.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::plan::ChecksumStep;
use super::sizing::next_chunk_size;
use super::sql::{
    boundary_text, convert_result_table_sql, crc_expr, create_table_sql, ident, key_cmp, qualified,
    result_charsets_sql, table_name, truncate,
};
use super::walk;
use super::{ChecksumError, Event, Report, Request, Res, TablePlan, TableResult, fail};
use crate::actions::runner::{Executor, Journal};
use crate::fleet::health::lag_seconds;
use crate::fleet::status::IoState;
use crate::mysql::Dialect;
use crate::mysql::replication::quote;
use crate::probe::{self, ProbeOptions, Prober};

/// How often a wait looks at the stop flag, and the longest single server-side wait.
const STOP_POLL: Duration = Duration::from_millis(50);
pub(super) const WAIT_SLICE: f64 = 0.5;
const THROTTLE_EVERY: Duration = Duration::from_secs(1);
/// A replica probe still unanswered after this is reported as a pause while it goes on.
const SLOW_ANSWER: Duration = Duration::from_millis(500);

/// The throttle's current pause: since when, and the reason last reported.
#[derive(Default)]
struct Pause {
    since: Option<Instant>,
    last: Option<String>,
}

impl Pause {
    /// Report `reason` (audited once per new reason, shown every time) and return when the pause began.
    fn note(&mut self, reason: &str, journal: &mut Journal<'_>, sink: &Sink<'_>, step: &'static str) -> Instant {
        if self.last.as_deref() != Some(reason) {
            let _ = journal.entry(step, "paused", None, reason);
            self.last = Some(reason.to_string());
        }
        sink.emit(&Event::Paused { reason: reason.to_string() });
        *self.since.get_or_insert_with(Instant::now)
    }
}

/// The one place progress goes: the runner's step messages and the executor's chunk
/// events share it (a lock, never held across an await).
pub struct Sink<'a>(std::sync::Mutex<&'a mut (dyn FnMut(&Event) + Send)>);

impl<'a> Sink<'a> {
    pub fn new(f: &'a mut (dyn FnMut(&Event) + Send)) -> Self {
        Sink(std::sync::Mutex::new(f))
    }
    pub fn emit(&self, e: &Event) {
        if let Ok(mut f) = self.0.lock() {
            f(e);
        }
    }
}

/// `fut`, unless `stop` is set first (checked every `STOP_POLL`): then `None`.
pub async fn or_stop<T>(stop: &AtomicBool, fut: impl Future<Output = T>) -> Option<T> {
    tokio::pin!(fut);
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        tokio::select! {
            v = &mut fut => return Some(v),
            _ = tokio::time::sleep(STOP_POLL) => {}
        }
    }
}

pub(super) fn interrupted(at: &str) -> ChecksumError {
    ChecksumError::Interrupted(format!("stopped {at}; continue with --resume"))
}

pub struct ChecksumExec<'a> {
    pub req: &'a Request,
    pub opts: Arc<ProbeOptions>,
    pub dialect: Dialect,
    pub conn: Conn,
    pub replicas: Vec<Prober>,
    pub sink: &'a Sink<'a>,
    pub stop: &'a AtomicBool,
    /// The longest any one master statement may take.
    pub limit: Duration,
    pub report: Report,
    pub total_rows: u64,
    /// The master's position once every chunk is written: (GTID, binlog file, offset).
    pub(super) master_pos: Option<(String, Option<(String, u64)>)>,
    /// A pre-existing result table that could not be converted to utf8mb4.
    narrow_result_table: Option<String>,
    /// When the throttle last found nothing to wait for: it looks again after `THROTTLE_EVERY`.
    throttle_ok_at: Option<Instant>,
}

impl<'a> ChecksumExec<'a> {
    pub fn new(
        req: &'a Request,
        opts: Arc<ProbeOptions>,
        dialect: Dialect,
        conn: Conn,
        sink: &'a Sink<'a>,
        stop: &'a AtomicBool,
        total_rows: u64,
    ) -> Self {
        let replicas = req.replicas.iter().map(|a| Prober::new(a.clone(), opts.clone())).collect();
        ChecksumExec {
            req,
            opts,
            dialect,
            conn,
            replicas,
            sink,
            stop,
            limit: req.chunk_time * 20 + Duration::from_secs(30),
            report: Report { shard: req.shard.clone(), ..Report::default() },
            total_rows,
            master_pos: None,
            narrow_result_table: None,
            throttle_ok_at: None,
        }
    }

    /// Close every connection, briefly: a run that was stopped mid-statement must not wait.
    pub async fn close(self) {
        for mut p in self.replicas {
            p.close(Duration::from_millis(100)).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), self.conn.disconnect()).await;
    }

    /// A write given up on a stop request still runs on the master; left alone it could
    /// commit after a `--resume` rewrote its chunk. Kill it (bounded: a stop ends the run at once).
    async fn kill_in_flight(&self) {
        let id = self.conn.id();
        let kill = async {
            if let Ok(mut c) = probe::connect(&self.req.master, &self.opts).await {
                let _ = c.query_drop(format!("KILL QUERY {id}")).await;
                let _ = c.disconnect().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), kill).await;
    }

    async fn exec(&mut self, sql: &str) -> Res<()> {
        let limit = self.limit;
        match or_stop(self.stop, tokio::time::timeout(limit, self.conn.query_drop(sql))).await {
            None => {
                self.kill_in_flight().await;
                Err(interrupted("mid-statement"))
            }
            Some(Err(_)) => Err(ChecksumError::Failed(format!("no answer from the master within {limit:?}"))),
            Some(Ok(r)) => r.map_err(|e| ChecksumError::Failed(format!("{e} (in: {})", truncate(sql)))),
        }
    }

    pub(super) async fn first_row(&mut self, sql: &str) -> Res<Option<Row>> {
        let limit = self.limit;
        match or_stop(self.stop, tokio::time::timeout(limit, self.conn.query_first(sql))).await {
            None => Err(interrupted("mid-statement")),
            Some(Err(_)) => Err(ChecksumError::Failed(format!("no answer from the master within {limit:?}"))),
            Some(Ok(r)) => r.map_err(|e| ChecksumError::Failed(format!("{e} (in: {})", truncate(sql)))),
        }
    }

    async fn prepare(&mut self, journal: &mut Journal<'_>) -> Res<String> {
        let table = self.req.result_table.clone();
        let db = table.split('.').next().unwrap_or("percona").to_string();
        self.exec(&format!("CREATE DATABASE IF NOT EXISTS {}", ident(&db))).await?;
        self.exec(&create_table_sql(&table)).await?;
        let mut detail = format!("{table} ready");
        // A table pt-table-checksum created in the server's latin1 cannot hold a multibyte boundary.
        let narrow: Vec<(String, String)> = self
            .conn
            .query_map(result_charsets_sql(&table), |(c, s): (String, String)| (c, s))
            .await
            .map_err(fail("reading the result table's charset"))?;
        if !narrow.is_empty() {
            let cols: Vec<String> = narrow.iter().map(|(c, s)| format!("{c} {s}")).collect();
            match self.exec(&convert_result_table_sql(&table)).await {
                Ok(()) => {
                    detail = format!("{table} converted to utf8mb4 (was {})", cols.join(", "));
                    journal.entry("prepare", "converted", None, &detail).map_err(audit_err)?;
                }
                Err(e) => {
                    let why = format!(
                        "{table} stores boundaries as {}, and converting it failed ({e}): a table whose key does \
                         not fit is skipped",
                        cols.join(", ")
                    );
                    journal.warn(why.clone());
                    self.narrow_result_table = Some(why.clone());
                    detail = why;
                }
            }
        }
        // Statement-based, so each replica runs the checksum over its own rows.
        self.conn.query_drop("SET SESSION binlog_format = 'STATEMENT'").await.map_err(|e| {
            ChecksumError::Refused(format!(
                "cannot switch the session to statement-based binlog (needs SUPER or BINLOG ADMIN): {e}"
            ))
        })?;
        self.exec(
            "SET NAMES utf8mb4; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
             SET SESSION innodb_lock_wait_timeout = 1",
        )
        .await?;
        Ok(detail)
    }

    /// Wait while a replica lags, is stopped, unreachable or slow to answer, or the master is busy.
    async fn throttle(&mut self, journal: &mut Journal<'_>, step: &'static str) -> Res<()> {
        // As pt-table-checksum's --check-interval: replicas are probed once a second, not per chunk.
        if self.throttle_ok_at.is_some_and(|t| t.elapsed() < THROTTLE_EVERY) {
            return Ok(());
        }
        let mut pause = Pause::default();
        loop {
            let mut reason = None;
            let max_lag = self.req.max_lag.as_secs_f64();
            for p in &mut self.replicas {
                let addr = p.addr().clone();
                // A frozen or overloaded replica can take the whole probe timeout to answer: say
                // so after a moment rather than leave the run silently waiting on it.
                let probe = p.probe();
                tokio::pin!(probe);
                let s = match or_stop(self.stop, tokio::time::timeout(SLOW_ANSWER, &mut probe)).await {
                    None => return Err(interrupted("while throttling")),
                    Some(Ok(s)) => s,
                    Some(Err(_)) => {
                        let r = format!("replica {addr} has not answered for {} ms", SLOW_ANSWER.as_millis());
                        pause.note(&r, journal, self.sink, step);
                        or_stop(self.stop, probe).await.ok_or_else(|| interrupted("while throttling"))?
                    }
                };
                match s.result {
                    Err(e) => reason = Some(format!("replica {addr} unreachable: {e}")),
                    Ok(st) => match st.primary_link() {
                        None => reason = Some(format!("replica {addr} is not replicating")),
                        Some(l) if !l.sql_running || l.io_state != IoState::Running => {
                            reason = Some(format!("replica {addr}: replication stopped"))
                        }
                        Some(l) => {
                            if let Some(lag) = lag_seconds(&st, l).filter(|l| *l > max_lag) {
                                reason = Some(format!("replica {addr} lags {lag:.0} s (limit {max_lag:.0} s)"));
                            }
                        }
                    },
                }
                if reason.is_some() {
                    break;
                }
            }
            if reason.is_none() {
                let running = self.first_row("SHOW GLOBAL STATUS LIKE 'Threads_running'").await?;
                let n: u64 = running
                    .and_then(|r| r.get_opt::<String, _>(1).and_then(Result::ok))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if n > self.req.max_threads_running {
                    reason = Some(format!("master runs {n} threads (limit {})", self.req.max_threads_running));
                }
            }
            match reason {
                None => {
                    self.throttle_ok_at = Some(Instant::now());
                    if let Some(since) = pause.since {
                        self.sink.emit(&Event::Resumed);
                        let _ = journal.entry(step, "resumed", Some(since.elapsed()), "throttle released");
                    }
                    return Ok(());
                }
                Some(r) => {
                    let since = pause.note(&r, journal, self.sink, step);
                    if since.elapsed() > self.req.replica_timeout {
                        return Err(ChecksumError::Failed(format!(
                            "paused for {:.0} s and still: {r}; resume later with --resume",
                            since.elapsed().as_secs_f64()
                        )));
                    }
                    or_stop(self.stop, tokio::time::sleep(Duration::from_millis(500)))
                        .await
                        .ok_or_else(|| interrupted("while paused"))?;
                }
            }
        }
    }

    /// Checksum one chunk on the master and record the master's result.
    async fn chunk(
        &mut self,
        t: &TablePlan,
        n: i64,
        where_: &str,
        lower: Option<&str>,
        upper: Option<&str>,
        journal: &mut Journal<'_>,
    ) -> Res<(u64, Duration)> {
        let tbl = table_name(&t.db, &t.tbl);
        let res = qualified(&self.req.result_table);
        let force = t.index.as_ref().map(|i| format!(" FORCE INDEX({})", ident(i))).unwrap_or_default();
        let opt = |v: Option<&str>| v.map_or("NULL".to_string(), quote);
        let sql = format!(
            "REPLACE INTO {res} (db, tbl, chunk, chunk_index, lower_boundary, upper_boundary, this_cnt, this_crc) \
             SELECT {}, {}, {n}, {}, {}, {}, COUNT(*) AS cnt, {} AS crc FROM {tbl}{force} WHERE {where_}",
            quote(&t.db),
            quote(&t.tbl),
            opt(t.index.as_deref()),
            opt(lower),
            opt(upper),
            crc_expr(&t.columns, &t.nullable),
        );
        // A chunk that waits on a row lock gives up after innodb_lock_wait_timeout
        // (1 s) and is retried, rather than holding locks the application needs.
        let mut attempt = 0;
        let took = loop {
            let started = Instant::now();
            let limit = self.limit;
            match or_stop(self.stop, tokio::time::timeout(limit, self.conn.query_drop(&sql))).await {
                None => {
                    self.kill_in_flight().await;
                    return Err(interrupted(&format!("in chunk {n} of {}", t.name())));
                }
                Some(Ok(Ok(()))) => break started.elapsed(),
                Some(Ok(Err(mysql_async::Error::Server(e)))) if (e.code == 1205 || e.code == 1213) && attempt < 5 => {
                    attempt += 1;
                    let reason = format!("chunk {n} of {}: {} (retry {attempt})", t.name(), e.message);
                    let _ = journal.entry("table", "paused", None, &reason);
                    self.sink.emit(&Event::Paused { reason });
                    or_stop(self.stop, tokio::time::sleep(Duration::from_millis(200 * attempt)))
                        .await
                        .ok_or_else(|| interrupted("while retrying a chunk"))?;
                }
                Some(Ok(Err(e))) => return Err(ChecksumError::Failed(format!("{e} (in: {})", truncate(&sql)))),
                Some(Err(_)) => {
                    return Err(ChecksumError::Failed(format!("no answer from the master within {limit:?}")));
                }
            }
        };
        let row = self
            .first_row(&format!(
                "SELECT this_crc, this_cnt FROM {res} WHERE db = {} AND tbl = {} AND chunk = {n}",
                quote(&t.db),
                quote(&t.tbl)
            ))
            .await?
            .ok_or_else(|| ChecksumError::Failed(format!("chunk {n} of {} vanished from {res}", t.name())))?;
        let (crc, cnt): (String, u64) =
            mysql_async::from_row_opt(row).map_err(|e| ChecksumError::Failed(e.to_string()))?;
        self.exec(&format!(
            "UPDATE {res} SET chunk_time = {:.6}, master_crc = {}, master_cnt = {cnt} WHERE db = {} AND tbl = {} AND chunk = {n}",
            took.as_secs_f64(),
            quote(&crc),
            quote(&t.db),
            quote(&t.tbl)
        ))
        .await?;
        Ok((cnt, took))
    }

    /// One table, chunk by chunk; `result` holds what was done even when it fails partway.
    async fn table(&mut self, t: &TablePlan, result: &mut TableResult, journal: &mut Journal<'_>) -> Res<()> {
        let started = Instant::now();
        let res = qualified(&self.req.result_table);
        let mut chunk_no: i64 = 1;
        let mut prev_upper: Option<Vec<Value>> = None;
        if self.req.resume
            && let Some((next, upper, finished)) = self.resume_point(t).await?
        {
            if finished {
                result.done_earlier = true;
                return Ok(());
            }
            chunk_no = next;
            prev_upper = match upper {
                None => None,
                Some(text) => match self.resume_key(t, &text).await? {
                    Some(key) => Some(key),
                    None => {
                        let why = format!(
                            "{}: the stored resume point {text:?} matches no key of the table (a comma inside a \
                             key value, and that row gone): checked again from its start",
                            t.name()
                        );
                        let _ = journal.entry("table", "restarted", None, &why);
                        self.sink.emit(&Event::Note { text: why });
                        chunk_no = 1;
                        self.exec(&format!(
                            "DELETE FROM {res} WHERE db = {} AND tbl = {}",
                            quote(&t.db),
                            quote(&t.tbl)
                        ))
                        .await?;
                        None
                    }
                },
            };
        } else if !self.req.resume {
            self.exec(&format!("DELETE FROM {res} WHERE db = {} AND tbl = {}", quote(&t.db), quote(&t.tbl))).await?;
        }
        let first = if t.key.is_empty() { None } else { self.key_at(t, "1=1", 0).await? };
        let Some(first) = first else {
            // No key, or empty on the master: one chunk over everything catches rows a replica has.
            let (rows, _) = self.chunk(t, chunk_no, "1=1", None, None, journal).await?;
            result.chunks = 1;
            result.rows = rows;
            self.report.rows += rows;
            return Ok(());
        };
        let mut chunk_size: u64 = 1000;
        let target = self.req.chunk_time.as_secs_f64();
        let mut last_key = prev_upper.clone();
        // A one-column integer key is walked in arithmetic ranges up to its largest value now.
        let int_of_first = |v: &[Value]| v.first().and_then(walk::int_of);
        let max = match (t.int_key, int_of_first(&first)) {
            (true, Some(_)) => self.key_at_last(t).await?.as_deref().and_then(int_of_first),
            _ => None,
        };
        let mut keys_per_row = match (int_of_first(&first), max) {
            (Some(min), Some(max)) => walk::initial_keys_per_row(min, max, t.rows_estimate),
            _ => f64::INFINITY,
        };
        loop {
            self.throttle(journal, "table").await?;
            let lower = match (&prev_upper, max, prev_upper.as_deref().and_then(int_of_first)) {
                (None, _, _) => Some(first.clone()),
                (Some(_), Some(max), Some(n)) if n >= max => None,
                (Some(_), Some(_), Some(n)) => Some(vec![walk::value_of(n + 1)]),
                (Some(u), _, _) => self.key_at(t, &key_cmp(&t.key, ">", u), 0).await?,
            };
            let Some(lower) = lower else { break };
            let range = match (int_of_first(&lower), max) {
                (Some(lo), Some(max)) => walk::range_upper(lo, max, chunk_size, keys_per_row),
                _ => None,
            };
            let upper = match range {
                Some(hi) => vec![walk::value_of(hi)],
                None => match self.key_at(t, &key_cmp(&t.key, ">=", &lower), chunk_size - 1).await? {
                    Some(u) => u,
                    None => self.key_at_last(t).await?.unwrap_or_else(|| lower.clone()),
                },
            };
            let cond = format!("{} AND {}", key_cmp(&t.key, ">=", &lower), key_cmp(&t.key, "<=", &upper));
            let (rows, took) = self
                .chunk(t, chunk_no, &cond, Some(&boundary_text(&lower)), Some(&boundary_text(&upper)), journal)
                .await?;
            result.rows += rows;
            result.chunks += 1;
            self.report.rows += rows;
            self.sink.emit(&Event::Chunk {
                db: t.db.clone(),
                tbl: t.tbl.clone(),
                chunk: chunk_no,
                rows,
                chunk_size,
                took,
                done_rows: self.report.rows,
                total_rows: self.total_rows,
            });
            let remaining = t.rows_estimate.saturating_sub(result.rows);
            chunk_size = next_chunk_size(chunk_size, rows, took.as_secs_f64(), target, t.rows_estimate, remaining);
            if let (Some(lo), Some(hi)) = (int_of_first(&lower), int_of_first(&upper)) {
                keys_per_row = walk::observed_keys_per_row(lo, hi, rows, keys_per_row);
            }
            chunk_no += 1;
            last_key = Some(upper.clone());
            prev_upper = Some(upper);
        }
        // Rows a replica has outside the master's key range.
        let lo = key_cmp(&t.key, "<", &first);
        self.chunk(t, chunk_no, &lo, None, Some(&boundary_text(&first)), journal).await?;
        let last = last_key.unwrap_or(first);
        let hi = key_cmp(&t.key, ">", &last);
        self.chunk(t, chunk_no + 1, &hi, Some(&boundary_text(&last)), None, journal).await?;
        result.chunks += 2;
        result.seconds = started.elapsed().as_secs_f64();
        Ok(())
    }

    /// The table step: a table that cannot be checked is skipped with its reason (the
    /// run goes on, and says it is incomplete); only a stop request ends the step in error.
    async fn table_step(&mut self, t: &TablePlan, journal: &mut Journal<'_>) -> Result<String, String> {
        let mut result = TableResult { db: t.db.clone(), tbl: t.tbl.clone(), ..TableResult::default() };
        let started = Instant::now();
        let outcome = match &t.skip {
            Some(why) => Err(ChecksumError::Refused(why.clone())),
            None => self.table(t, &mut result, journal).await,
        };
        result.seconds = started.elapsed().as_secs_f64();
        let verdict = match outcome {
            Ok(()) if result.done_earlier => format!("{}: ✓ finished in an earlier run", t.name()),
            Ok(()) => format!(
                "{}: ✓ {} rows in {} chunk{}, {:.1} s",
                t.name(),
                result.rows,
                result.chunks,
                if result.chunks == 1 { "" } else { "s" },
                result.seconds
            ),
            Err(ChecksumError::Interrupted(why)) => {
                let verdict = format!("{}: {why} ({} rows in {} chunks so far)", t.name(), result.rows, result.chunks);
                result.skipped = Some(why);
                self.report.tables.push(result);
                return Err(verdict);
            }
            Err(e) => {
                let mut why = e.to_string();
                if let Some(narrow) = &self.narrow_result_table {
                    why = format!("{why} ({narrow})");
                }
                result.skipped = Some(why.clone());
                format!("{}: skipped — {why}", t.name())
            }
        };
        result.verdict = verdict.clone();
        self.report.tables.push(result);
        Ok(verdict)
    }
}

fn audit_err(e: std::io::Error) -> ChecksumError {
    ChecksumError::Failed(format!("audit log: {e}"))
}

impl Executor<ChecksumStep> for ChecksumExec<'_> {
    async fn act(&mut self, step: &ChecksumStep, journal: &mut Journal<'_>) -> Result<String, String> {
        match step {
            ChecksumStep::Prepare { .. } => self.prepare(journal).await.map_err(|e| e.to_string()),
            ChecksumStep::Table(t) => self.table_step(t, journal).await,
            ChecksumStep::Compare { replica, catch_up, timeout } => {
                self.compare(replica, catch_up, *timeout, journal).await.map_err(|e| e.to_string())
            }
        }
    }
}
