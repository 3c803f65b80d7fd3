//! Online consistency check, compatible with pt-table-checksum: the master
//! runs each chunk's checksum as a statement-based `REPLACE … SELECT`, so every
//! replica computes the same checksum over its own rows when the statement
//! replicates; the master's own result follows in an `UPDATE`, and comparing
//! `this_*` with `master_*` on each replica finds the chunks that differ. The
//! result table has pt-table-checksum's layout, so existing tooling reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use serde::Serialize;

use crate::fleet::Addr;
use crate::fleet::health::lag_seconds;
use crate::fleet::status::IoState;
use crate::mysql::Dialect;
use crate::mysql::dialect::DETECT_SQL;
use crate::mysql::replication::quote;
use crate::probe::columns;
use crate::probe::{self, ProbeOptions, Prober};

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
    /// Give up when a replica stays stopped or unreachable this long.
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
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TableResult {
    pub db: String,
    pub tbl: String,
    pub chunks: u64,
    pub rows: u64,
    pub seconds: f64,
    pub skipped: Option<String>,
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
}

/// Progress, for the CLI and the TUI.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Plan(Vec<TablePlan>),
    Table {
        db: String,
        tbl: String,
    },
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
    TableDone {
        db: String,
        tbl: String,
        chunks: u64,
        rows: u64,
        took: Duration,
    },
    Comparing {
        replica: Addr,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

type Res<T> = Result<T, ChecksumError>;

/// A differing row of the result table, as read back from a replica.
type DiffRow =
    (String, String, i64, Option<String>, Option<String>, Option<String>, i64, Option<i64>, String, Option<String>);

/// One server's `CHECKSUM TABLE` answers, per table.
type TableAnswers = Vec<(String, Option<i64>)>;

/// One table's `CHECKSUM TABLE` answers, per server (None: the table is missing there).
pub type ServerChecksums = Vec<(Addr, Option<i64>)>;

fn fail(what: &str) -> impl Fn(mysql_async::Error) -> ChecksumError + '_ {
    move |e| ChecksumError::Failed(format!("{what}: {e}"))
}

fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// `db.table` quoted, from the validated config value.
fn qualified(name: &str) -> String {
    name.split('.').map(ident).collect::<Vec<_>>().join(".")
}

/// pt-table-checksum's result table.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         db CHAR(64) NOT NULL, tbl CHAR(64) NOT NULL, chunk INT NOT NULL, chunk_time FLOAT NULL, \
         chunk_index VARCHAR(200) NULL, lower_boundary TEXT NULL, upper_boundary TEXT NULL, \
         this_crc CHAR(40) NOT NULL, this_cnt INT NOT NULL, master_crc CHAR(40) NULL, master_cnt INT NULL, \
         ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, \
         PRIMARY KEY (db, tbl, chunk), INDEX ts_db_tbl (ts, db, tbl)) ENGINE=InnoDB",
        qualified(table)
    )
}

/// The row checksum expression, as pt-table-checksum builds it.
pub fn crc_expr(columns: &[String], nullable: &[String]) -> String {
    let mut parts: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    if !nullable.is_empty() {
        let isnull: Vec<String> = nullable.iter().map(|c| format!("ISNULL({})", ident(c))).collect();
        parts.push(format!("CONCAT({})", isnull.join(", ")));
    }
    format!("COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', {})) AS UNSIGNED)), 10, 16)), 0)", parts.join(", "))
}

/// `(a, b) >= (1, 2)`-style comparison of the key with a boundary.
fn key_cmp(key: &[String], op: &str, vals: &[Value]) -> String {
    let k: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let v: Vec<String> = vals.iter().map(|v| v.as_sql(false)).collect();
    if k.len() == 1 { format!("{} {op} {}", k[0], v[0]) } else { format!("({}) {op} ({})", k.join(", "), v.join(", ")) }
}

/// Boundary values as pt-table-checksum stores them: comma-separated text.
fn boundary_text(vals: &[Value]) -> String {
    vals.iter()
        .map(|v| match v {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::NULL => "NULL".into(),
            other => other.as_sql(false).trim_matches('\'').to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn row_values(row: Row) -> Vec<Value> {
    row.unwrap()
}

struct Checker<'a> {
    req: &'a Request,
    conn: Conn,
    replicas: Vec<Prober>,
    events: &'a mut (dyn FnMut(&Event) + Send),
    stop: Arc<AtomicBool>,
    limit: Duration,
}

/// Read the tables to check, with their keys and columns.
async fn plan_tables(conn: &mut Conn, req: &Request) -> Res<Vec<TablePlan>> {
    let result_db = req.result_table.split('.').next().unwrap_or("percona").to_string();
    let mut names: Vec<(String, String, u64)> = conn
        .query_map(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
            |(d, t, n): (String, String, u64)| (d, t, n),
        )
        .await
        .map_err(fail("listing tables"))?;
    if !req.tables.is_empty() {
        for want in &req.tables {
            if !names.iter().any(|(d, t, _)| format!("{d}.{t}") == *want) {
                return Err(ChecksumError::Refused(format!("no table {want} on the master")));
            }
        }
        names.retain(|(d, t, _)| req.tables.contains(&format!("{d}.{t}")));
    } else {
        names.retain(|(d, _, _)| *d != result_db && (req.databases.is_empty() || req.databases.contains(d)));
    }
    let mut out = Vec::new();
    for (db, tbl, rows) in names {
        let cols: Vec<(String, String)> = conn
            .exec_map(
                "SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db.as_str(), tbl.as_str()),
                |(c, n): (String, String)| (c, n),
            )
            .await
            .map_err(fail("reading columns"))?;
        let idx: Vec<(String, String, i64)> = conn
            .exec_map(
                "SELECT s.INDEX_NAME, s.COLUMN_NAME, s.NON_UNIQUE FROM information_schema.STATISTICS s \
                 WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME, s.SEQ_IN_INDEX",
                (db.as_str(), tbl.as_str()),
                |(i, c, n): (String, String, i64)| (i, c, n),
            )
            .await
            .map_err(fail("reading indexes"))?;
        let nullable: Vec<String> = cols.iter().filter(|(_, n)| n == "YES").map(|(c, _)| c.clone()).collect();
        // The primary key, else the first unique index whose columns are all NOT NULL.
        let mut index: Option<(String, Vec<String>)> = None;
        let mut names_seen: Vec<&str> = idx.iter().map(|(i, _, _)| i.as_str()).collect();
        names_seen.dedup();
        for name in names_seen {
            let parts: Vec<&(String, String, i64)> = idx.iter().filter(|(i, _, _)| i == name).collect();
            let unique = parts.iter().all(|(_, _, nu)| *nu == 0);
            let not_null = parts.iter().all(|(_, c, _)| !nullable.contains(c));
            if unique && not_null {
                index = Some((name.to_string(), parts.iter().map(|(_, c, _)| c.clone()).collect()));
                break;
            }
        }
        let columns: Vec<String> = cols.into_iter().map(|(c, _)| c).collect();
        let (index, key, skip) = match index {
            Some((i, k)) => (Some(i), k, None),
            // Small tables without a usable key are checksummed whole, as one chunk.
            None if rows <= 100_000 => (None, Vec::new(), None),
            None => (
                None,
                Vec::new(),
                Some(format!(
                    "no primary key or NOT NULL unique index, and ~{rows} rows is too many to checksum in one chunk"
                )),
            ),
        };
        out.push(TablePlan { db, tbl, index, key, columns, nullable, rows_estimate: rows, skip });
    }
    Ok(out)
}

impl Checker<'_> {
    async fn exec(&mut self, sql: &str) -> Res<()> {
        tokio::time::timeout(self.limit, self.conn.query_drop(sql))
            .await
            .map_err(|_| ChecksumError::Failed(format!("no answer from the master within {:?}", self.limit)))?
            .map_err(|e| ChecksumError::Failed(format!("{e} (in: {})", truncate(sql))))
    }

    async fn first_row(&mut self, sql: &str) -> Res<Option<Row>> {
        tokio::time::timeout(self.limit, self.conn.query_first(sql))
            .await
            .map_err(|_| ChecksumError::Failed(format!("no answer from the master within {:?}", self.limit)))?
            .map_err(|e| ChecksumError::Failed(format!("{e} (in: {})", truncate(sql))))
    }

    /// Wait while a replica lags, is stopped or unreachable, or the master is busy.
    async fn throttle(&mut self) -> Res<()> {
        let mut paused_since: Option<Instant> = None;
        loop {
            let mut reason = None;
            for p in &mut self.replicas {
                let s = p.probe().await;
                let addr = p.addr().clone();
                match s.result {
                    Err(e) => reason = Some(format!("replica {addr} unreachable: {e}")),
                    Ok(st) => match st.primary_link() {
                        None => reason = Some(format!("replica {addr} is not replicating")),
                        Some(l) if !l.sql_running || l.io_state != IoState::Running => {
                            reason = Some(format!("replica {addr}: replication stopped"))
                        }
                        Some(l) => {
                            if let Some(lag) = lag_seconds(&st, l).filter(|l| *l > self.req.max_lag.as_secs_f64()) {
                                reason = Some(format!(
                                    "replica {addr} lags {lag:.0} s (limit {:.0} s)",
                                    self.req.max_lag.as_secs_f64()
                                ));
                            }
                        }
                    },
                }
                if reason.is_some() {
                    break;
                }
            }
            if reason.is_none() {
                let running: Option<(String, String)> = self
                    .conn
                    .query_first("SHOW GLOBAL STATUS LIKE 'Threads_running'")
                    .await
                    .map_err(fail("Threads_running"))?;
                let n: u64 = running.and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                if n > self.req.max_threads_running {
                    reason = Some(format!("master runs {n} threads (limit {})", self.req.max_threads_running));
                }
            }
            match reason {
                None => {
                    if paused_since.is_some() {
                        (self.events)(&Event::Resumed);
                    }
                    return Ok(());
                }
                Some(r) => {
                    let since = *paused_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > self.req.replica_timeout {
                        return Err(ChecksumError::Failed(format!(
                            "paused for {:.0} s and still: {r}; resume later with --resume",
                            since.elapsed().as_secs_f64()
                        )));
                    }
                    (self.events)(&Event::Paused { reason: r });
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
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
    ) -> Res<(u64, Duration)> {
        let tbl = format!("{}.{}", ident(&t.db), ident(&t.tbl));
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
        let (started, took) = loop {
            let started = Instant::now();
            match tokio::time::timeout(self.limit, self.conn.query_drop(&sql)).await {
                Ok(Ok(())) => break (started, started.elapsed()),
                Ok(Err(mysql_async::Error::Server(e))) if (e.code == 1205 || e.code == 1213) && attempt < 5 => {
                    attempt += 1;
                    (self.events)(&Event::Paused {
                        reason: format!("chunk {n} of {}.{}: {} (retry {attempt})", t.db, t.tbl, e.message),
                    });
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Ok(Err(e)) => return Err(ChecksumError::Failed(format!("{e} (in: {})", truncate(&sql)))),
                Err(_) => {
                    return Err(ChecksumError::Failed(format!("no answer from the master within {:?}", self.limit)));
                }
            }
        };
        let _ = started;
        let row = self
            .first_row(&format!(
                "SELECT this_crc, this_cnt FROM {res} WHERE db = {} AND tbl = {} AND chunk = {n}",
                quote(&t.db),
                quote(&t.tbl)
            ))
            .await?
            .ok_or_else(|| ChecksumError::Failed(format!("chunk {n} of {}.{} vanished from {res}", t.db, t.tbl)))?;
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

    async fn key_at(&mut self, t: &TablePlan, cond: &str, offset: u64) -> Res<Option<Vec<Value>>> {
        let key: Vec<String> = t.key.iter().map(|c| ident(c)).collect();
        let force = t.index.as_ref().map(|i| format!(" FORCE INDEX({})", ident(i))).unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM {}.{}{force} WHERE {cond} ORDER BY {} LIMIT {offset}, 1",
            key.join(", "),
            ident(&t.db),
            ident(&t.tbl),
            key.join(", ")
        );
        Ok(self.first_row(&sql).await?.map(row_values))
    }

    /// Where a previous run stopped: (next chunk number, last upper boundary), or done.
    async fn resume_point(&mut self, t: &TablePlan) -> Res<Option<(i64, Option<String>, bool)>> {
        let res = qualified(&self.req.result_table);
        let row = self
            .first_row(&format!(
                "SELECT chunk, upper_boundary, lower_boundary FROM {res} WHERE db = {} AND tbl = {} AND master_crc IS NOT NULL ORDER BY chunk DESC LIMIT 1",
                quote(&t.db),
                quote(&t.tbl)
            ))
            .await?;
        Ok(row.map(|r| {
            let (chunk, upper, lower): (i64, Option<String>, Option<String>) = mysql_async::from_row(r);
            // The last chunk of a finished table is the one above the last key: no upper boundary.
            let finished = upper.is_none() && lower.is_some();
            (chunk + 1, upper, finished)
        }))
    }

    async fn table(&mut self, t: &TablePlan, done_before: u64, total: u64) -> Res<TableResult> {
        let started = Instant::now();
        let mut result = TableResult { db: t.db.clone(), tbl: t.tbl.clone(), ..TableResult::default() };
        (self.events)(&Event::Table { db: t.db.clone(), tbl: t.tbl.clone() });
        let res = qualified(&self.req.result_table);
        let mut chunk_no: i64 = 1;
        let mut prev_upper: Option<Vec<Value>> = None;
        if self.req.resume {
            if let Some((next, upper, finished)) = self.resume_point(t).await? {
                if finished {
                    result.skipped = Some("finished in an earlier run".into());
                    return Ok(result);
                }
                chunk_no = next;
                prev_upper = upper.map(|u| u.split(',').map(|v| Value::Bytes(v.as_bytes().to_vec())).collect());
            }
        } else {
            self.exec(&format!("DELETE FROM {res} WHERE db = {} AND tbl = {}", quote(&t.db), quote(&t.tbl))).await?;
        }
        if t.key.is_empty() {
            let (rows, _) = self.chunk(t, chunk_no, "1=1", None, None).await?;
            result.chunks = 1;
            result.rows = rows;
            result.seconds = started.elapsed().as_secs_f64();
            return Ok(result);
        }
        let first = self.key_at(t, "1=1", 0).await?;
        let Some(first) = first else {
            // Empty on the master: one chunk over everything catches rows a replica has.
            let (rows, _) = self.chunk(t, chunk_no, "1=1", None, None).await?;
            result.chunks = 1;
            result.rows = rows;
            return Ok(result);
        };
        let mut chunk_size: u64 = 1000;
        let target = self.req.chunk_time.as_secs_f64();
        let mut done = 0u64;
        let mut last_key = prev_upper.clone();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.throttle().await?;
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let lower = match &prev_upper {
                None => Some(first.clone()),
                Some(u) => self.key_at(t, &key_cmp(&t.key, ">", u), 0).await?,
            };
            let Some(lower) = lower else { break };
            let upper = match self.key_at(t, &key_cmp(&t.key, ">=", &lower), chunk_size - 1).await? {
                Some(u) => u,
                None => self.key_at_last(t).await?.unwrap_or_else(|| lower.clone()),
            };
            let cond = format!("{} AND {}", key_cmp(&t.key, ">=", &lower), key_cmp(&t.key, "<=", &upper));
            let (rows, took) =
                self.chunk(t, chunk_no, &cond, Some(&boundary_text(&lower)), Some(&boundary_text(&upper))).await?;
            done += rows;
            result.rows += rows;
            result.chunks += 1;
            (self.events)(&Event::Chunk {
                db: t.db.clone(),
                tbl: t.tbl.clone(),
                chunk: chunk_no,
                rows,
                chunk_size,
                took,
                done_rows: done_before + done,
                total_rows: total,
            });
            // Adapt: aim at the target chunk time, moving halfway each step.
            if rows > 0 && took.as_secs_f64() > 0.0 {
                let ideal = (rows as f64 / took.as_secs_f64() * target).clamp(100.0, 2_000_000.0);
                chunk_size = ((chunk_size as f64 + ideal) / 2.0) as u64;
            }
            chunk_no += 1;
            last_key = Some(upper.clone());
            prev_upper = Some(upper);
        }
        if !self.stop.load(Ordering::Relaxed) {
            // Rows a replica has outside the master's key range.
            let lo = key_cmp(&t.key, "<", &first);
            self.chunk(t, chunk_no, &lo, None, Some(&boundary_text(&first))).await?;
            let last = last_key.unwrap_or(first);
            let hi = key_cmp(&t.key, ">", &last);
            self.chunk(t, chunk_no + 1, &hi, Some(&boundary_text(&last)), None).await?;
            result.chunks += 2;
        }
        result.seconds = started.elapsed().as_secs_f64();
        (self.events)(&Event::TableDone {
            db: t.db.clone(),
            tbl: t.tbl.clone(),
            chunks: result.chunks,
            rows: result.rows,
            took: started.elapsed(),
        });
        Ok(result)
    }

    async fn key_at_last(&mut self, t: &TablePlan) -> Res<Option<Vec<Value>>> {
        let key: Vec<String> = t.key.iter().map(|c| format!("{} DESC", ident(c))).collect();
        let cols: Vec<String> = t.key.iter().map(|c| ident(c)).collect();
        let sql = format!(
            "SELECT {} FROM {}.{} ORDER BY {} LIMIT 1",
            cols.join(", "),
            ident(&t.db),
            ident(&t.tbl),
            key.join(", ")
        );
        Ok(self.first_row(&sql).await?.map(row_values))
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        format!("{}…", &s[..s.char_indices().take(200).last().map_or(0, |(i, _)| i)])
    } else {
        s.to_string()
    }
}

/// The server's dialect, which decides every replication statement of the run.
async fn dialect_of(conn: &mut Conn, addr: &Addr) -> Res<Dialect> {
    let row: Option<(String, Option<String>)> = conn.query_first(DETECT_SQL).await.map_err(fail("version"))?;
    let (version, comment) = row.unwrap_or_default();
    Dialect::detect(&version, comment.as_deref().unwrap_or(""))
        .ok_or_else(|| ChecksumError::Refused(format!("{addr}: unknown server version {version:?}")))
}

/// Run the check. `stop` ends it between chunks (Ctrl-C); `--resume` continues.
pub async fn run(
    req: &Request,
    opts: Arc<ProbeOptions>,
    stop: Arc<AtomicBool>,
    events: &mut (dyn FnMut(&Event) + Send),
) -> Result<Report, ChecksumError> {
    let started = Instant::now();
    let mut conn =
        probe::connect(&req.master, &opts).await.map_err(|e| ChecksumError::Refused(format!("{}: {e}", req.master)))?;
    let dialect = dialect_of(&mut conn, &req.master).await?;
    let plans = plan_tables(&mut conn, req).await?;
    events(&Event::Plan(plans.clone()));
    let mut report = Report { shard: req.shard.clone(), ..Report::default() };
    if req.dry_run {
        let _ = conn.disconnect().await;
        return Ok(report);
    }
    let db = req.result_table.split('.').next().unwrap_or("percona");
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", ident(db)))
        .await
        .map_err(fail("creating the result database"))?;
    conn.query_drop(create_table_sql(&req.result_table)).await.map_err(fail("creating the result table"))?;
    // Statement-based, so each replica runs the checksum over its own rows.
    conn.query_drop("SET SESSION binlog_format = 'STATEMENT'").await.map_err(|e| {
        ChecksumError::Refused(format!(
            "cannot switch the session to statement-based binlog (needs SUPER or BINLOG ADMIN): {e}"
        ))
    })?;
    conn.query_drop(
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET SESSION innodb_lock_wait_timeout = 1",
    )
    .await
    .map_err(fail("session settings"))?;
    let replicas = req.replicas.iter().map(|a| Prober::new(a.clone(), opts.clone())).collect();
    let limit = req.chunk_time * 20 + Duration::from_secs(30);
    let mut ck = Checker { req, conn, replicas, events, stop: stop.clone(), limit };
    let total: u64 = plans.iter().filter(|p| p.skip.is_none()).map(|p| p.rows_estimate).sum();
    let mut done = 0u64;
    for t in &plans {
        if let Some(why) = &t.skip {
            report.tables.push(TableResult {
                db: t.db.clone(),
                tbl: t.tbl.clone(),
                skipped: Some(why.clone()),
                ..TableResult::default()
            });
            continue;
        }
        let r = ck.table(t, done, total).await?;
        done += r.rows;
        report.rows += r.rows;
        report.tables.push(r);
        if stop.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
    }
    // Compare once every replica has applied everything the master wrote.
    let pos: Option<String> =
        ck.conn.query_first(dialect.gtid_position_sql()).await.map_err(fail("reading the master's position"))?;
    let pos = pos.unwrap_or_default();
    for a in &req.replicas {
        (ck.events)(&Event::Comparing { replica: a.clone() });
        let mut rc = probe::connect(a, &opts).await.map_err(|e| ChecksumError::Failed(format!("{a}: {e}")))?;
        let wait = dialect.wait_for_gtid(&pos, req.replica_timeout.as_secs_f64());
        let w: Option<i64> = rc.query_first(wait).await.map_err(fail("waiting for a replica"))?;
        let caught_up = dialect.wait_succeeded(true, w);
        if !caught_up {
            return Err(ChecksumError::Failed(format!(
                "{a} did not catch up with the master within {:?}",
                req.replica_timeout
            )));
        }
        let rows: Vec<Row> = rc
            .query(format!(
                "SELECT db, tbl, chunk, chunk_index, lower_boundary, upper_boundary, this_cnt, master_cnt, this_crc, master_crc \
                 FROM {} WHERE (master_cnt <> this_cnt OR master_crc <> this_crc OR ISNULL(master_crc) <> ISNULL(this_crc)) \
                 ORDER BY db, tbl, chunk",
                qualified(&req.result_table)
            ))
            .await
            .map_err(fail("reading differences"))?;
        for r in rows {
            let (db, tbl, chunk, chunk_index, lower, upper, this_cnt, master_cnt, this_crc, master_crc): DiffRow =
                mysql_async::from_row_opt(r).map_err(|e| ChecksumError::Failed(e.to_string()))?;
            if report.tables.iter().any(|t| t.db == db && t.tbl == tbl) {
                report.diffs.push(Diff {
                    replica: a.clone(),
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
                });
            }
        }
        let _ = rc.disconnect().await;
    }
    for p in &mut ck.replicas {
        p.close(Duration::from_millis(100)).await;
    }
    let _ = ck.conn.disconnect().await;
    report.seconds = started.elapsed().as_secs_f64();
    report.rows_per_second = report.rows as f64 / report.seconds.max(1e-9);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expression pt-table-checksum 3.x generates for a table with one nullable column.
    #[test]
    fn crc_expression_matches_pt_table_checksum() {
        let cols = vec!["id".to_string(), "user_id".into(), "caption".into()];
        assert_eq!(
            crc_expr(&cols, &["caption".to_string()]),
            "COALESCE(LOWER(CONV(BIT_XOR(CAST(CRC32(CONCAT_WS('#', `id`, `user_id`, `caption`, CONCAT(ISNULL(`caption`)))) AS UNSIGNED)), 10, 16)), 0)"
        );
        assert!(!crc_expr(&cols[..1], &[]).contains("ISNULL"));
    }

    #[test]
    fn key_comparisons_use_row_constructors_for_composite_keys() {
        let k = vec!["user_id".to_string(), "friend_id".into()];
        assert_eq!(key_cmp(&k, ">=", &[Value::Int(5), Value::Int(7)]), "(`user_id`, `friend_id`) >= (5, 7)");
        assert_eq!(key_cmp(&k[..1], ">", &[Value::Bytes(b"it's".to_vec())]), "`user_id` > 'it\\'s'");
        assert_eq!(boundary_text(&[Value::Int(5), Value::Bytes(b"x".to_vec())]), "5,x");
    }

    #[test]
    fn result_table_has_pt_table_checksum_columns() {
        let sql = create_table_sql("percona.checksums");
        for col in [
            "db CHAR(64)",
            "tbl CHAR(64)",
            "chunk INT",
            "chunk_time FLOAT",
            "chunk_index VARCHAR(200)",
            "lower_boundary TEXT",
            "upper_boundary TEXT",
            "this_crc CHAR(40)",
            "this_cnt INT",
            "master_crc CHAR(40)",
            "master_cnt INT",
            "ts TIMESTAMP",
            "PRIMARY KEY (db, tbl, chunk)",
        ] {
            assert!(sql.contains(col), "{col} missing from {sql}");
        }
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS `percona`.`checksums`"));
    }
}

/// `--method table`: the check DBAs run by hand. Replicas are stopped at one
/// common position (START SLAVE UNTIL the master's GTID position), each runs
/// `CHECKSUM TABLE`, and replication is restarted whatever happens.
#[derive(Clone, Debug, Serialize, Default)]
pub struct TableMethodReport {
    pub position: String,
    /// (table, [(server, checksum)]) — NULL checksums (missing table) as None.
    pub tables: Vec<(String, ServerChecksums)>,
    /// Tables whose checksums disagree, with the servers in the minority.
    pub differing: Vec<(String, Vec<Addr>)>,
    /// How long replication was held, worst replica.
    pub held_seconds: f64,
}

pub async fn run_table_method(
    req: &Request,
    opts: Arc<ProbeOptions>,
    events: &mut (dyn FnMut(&Event) + Send),
) -> Res<TableMethodReport> {
    let mut master =
        probe::connect(&req.master, &opts).await.map_err(|e| ChecksumError::Refused(format!("{}: {e}", req.master)))?;
    let dialect = dialect_of(&mut master, &req.master).await?;
    let plans = plan_tables(&mut master, req).await?;
    events(&Event::Plan(plans.clone()));
    if req.dry_run {
        return Ok(TableMethodReport::default());
    }
    let pos: Option<String> = master.query_first(dialect.gtid_position_sql()).await.map_err(fail("master position"))?;
    let pos = pos.unwrap_or_default();
    let _ = master.disconnect().await;
    let (stop_sql, start_sql, until) =
        (dialect.stop_replica(), dialect.start_replica(), dialect.start_replica_until_gtid(&pos));
    let names: Vec<String> = plans.iter().map(|p| format!("{}.{}", ident(&p.db), ident(&p.tbl))).collect();
    let mut conns = Vec::new();
    for a in &req.replicas {
        let c = probe::connect(a, &opts).await.map_err(|e| ChecksumError::Refused(format!("{a}: {e}")))?;
        conns.push((a.clone(), c));
    }
    let held = Instant::now();
    // Hold every replica at the common position; restart them all whatever happens.
    let outcome: Res<Vec<(Addr, TableAnswers)>> = async {
        for (a, c) in &mut conns {
            c.query_drop(stop_sql).await.map_err(fail("stopping replication"))?;
            c.query_drop(&until).await.map_err(|e| ChecksumError::Failed(format!("{a}: {e}")))?;
        }
        let deadline = Instant::now() + req.replica_timeout;
        for (a, c) in &mut conns {
            loop {
                let row: Option<Row> =
                    c.query_first(dialect.single_replica_status_sql()).await.map_err(fail("status"))?;
                let sql_running = row
                    .as_ref()
                    .and_then(|r| {
                        columns::SQL_RUNNING
                            .names()
                            .iter()
                            .find_map(|n| r.get_opt::<String, _>(*n).and_then(Result::ok))
                    })
                    .unwrap_or_default();
                if sql_running == "No" {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(ChecksumError::Failed(format!(
                        "{a} did not reach {pos} within {:?}",
                        req.replica_timeout
                    )));
                }
                events(&Event::Paused { reason: format!("waiting for {a} to reach {pos}") });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut out = Vec::new();
        for (a, c) in &mut conns {
            events(&Event::Comparing { replica: a.clone() });
            let rows: Vec<(String, Option<i64>)> =
                c.query(format!("CHECKSUM TABLE {}", names.join(", "))).await.map_err(fail("CHECKSUM TABLE"))?;
            out.push((a.clone(), rows));
        }
        Ok(out)
    }
    .await;
    let mut restart_errors = Vec::new();
    for (a, c) in &mut conns {
        if let Err(e) = c.query_drop(start_sql).await {
            restart_errors.push(format!("{a}: {e}"));
        }
        let _ = c.query_drop("DO 1").await;
    }
    let held_seconds = held.elapsed().as_secs_f64();
    if !restart_errors.is_empty() {
        return Err(ChecksumError::Failed(format!("could not restart replication on {}", restart_errors.join("; "))));
    }
    let per_server = outcome?;
    let mut report = TableMethodReport { position: pos, held_seconds, ..TableMethodReport::default() };
    let tables: Vec<String> =
        per_server.first().map(|(_, r)| r.iter().map(|(t, _)| t.clone()).collect()).unwrap_or_default();
    for t in tables {
        let values: Vec<(Addr, Option<i64>)> = per_server
            .iter()
            .map(|(a, rows)| (a.clone(), rows.iter().find(|(n, _)| *n == t).and_then(|(_, v)| *v)))
            .collect();
        // The most common checksum is taken as right; the others differ.
        let mut counts: Vec<(Option<i64>, usize)> = Vec::new();
        for (_, v) in &values {
            match counts.iter_mut().find(|(x, _)| x == v) {
                Some((_, n)) => *n += 1,
                None => counts.push((*v, 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        if counts.len() > 1 {
            // Without a majority nobody can be blamed: every server is listed.
            let majority = if counts[0].1 > counts[1].1 { counts[0].0 } else { Some(i64::MIN) };
            report
                .differing
                .push((t.clone(), values.iter().filter(|(_, v)| *v != majority).map(|(a, _)| a.clone()).collect()));
        }
        report.tables.push((t, values));
    }
    Ok(report)
}
