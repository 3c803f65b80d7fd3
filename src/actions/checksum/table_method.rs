//! `--method table`: the check DBAs run by hand. The master's own `CHECKSUM
//! TABLE` is taken first, valid when its position did not move while it ran
//! (retried once when it did); replicas are then held at that position (START
//! SLAVE UNTIL its GTID position, or its binlog coordinates for a replica that
//! does not replicate by GTID), each runs `CHECKSUM TABLE`, and replication
//! is restarted whatever happens. With the master's answer, every replica that
//! differs from it is named alone; without it, the majority decides.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde::Serialize;

use super::exec::or_stop;
use super::sql::table_name;
use super::{
    ChecksumError, Event, Request, Res, audit_err, dialect_of, fail, record_start, run_failed, tables::plan_tables,
};
use crate::actions::audit::AuditLog;
use crate::actions::runner::{self, Executor, Journal, OnFailure, RunError, Step};
use crate::fleet::Addr;
use crate::probe::{self, ProbeOptions, columns};

/// One server's `CHECKSUM TABLE` answers, per table.
type TableAnswers = Vec<(String, Option<i64>)>;

/// One table's `CHECKSUM TABLE` answers, per server (None: the table is missing there).
pub type ServerChecksums = Vec<(Addr, Option<i64>)>;

#[derive(Clone, Debug, Serialize, Default)]
pub struct TableMethodReport {
    pub position: String,
    /// (table, [(server, checksum)]) — the master first when its checksum could be had;
    /// NULL checksums (missing table) as None.
    pub tables: Vec<(String, ServerChecksums)>,
    /// Tables whose checksums disagree, with the servers that differ.
    pub differing: Vec<(String, Vec<Addr>)>,
    /// How long replication was held, worst replica.
    pub held_seconds: f64,
    /// Why the master's own checksum was not used, when it was not (the majority decided).
    pub master_note: Option<String>,
    pub interrupted: bool,
}

/// Where the master stood: its GTID position and its binlog coordinates (when it logs).
#[derive(Clone, Debug, Default, PartialEq)]
struct Position {
    gtid: String,
    coords: Option<(String, u64)>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.coords, self.gtid.is_empty()) {
            (Some((file, pos)), true) => write!(f, "{file}:{pos}"),
            (Some((file, pos)), false) => write!(f, "{} ({file}:{pos})", self.gtid),
            (None, _) => f.write_str(&self.gtid),
        }
    }
}

async fn position(master: &mut Conn, dialect: &crate::mysql::Dialect) -> Res<Position> {
    let gtid: Option<String> =
        master.query_first(dialect.gtid_position_sql()).await.map_err(fail("master position"))?;
    let status: Option<Row> =
        master.query_first(dialect.binlog_status_sql()).await.map_err(fail("master binlog coordinates"))?;
    let coords = status.and_then(|r| {
        let file = r.get_opt::<String, _>("File").and_then(Result::ok)?;
        let pos = r.get_opt::<u64, _>("Position").and_then(Result::ok)?;
        Some((file, pos))
    });
    Ok(Position { gtid: gtid.unwrap_or_default(), coords })
}

/// The master's checksums, taken while its position stood still (tried twice): the answers
/// and the position, or why they cannot be had.
async fn master_checksums(
    master: &mut Conn,
    dialect: &crate::mysql::Dialect,
    names: &[String],
    stop: &AtomicBool,
) -> Res<(Position, Result<TableAnswers, String>)> {
    let interrupted = || ChecksumError::Interrupted("stopped while checksumming the master".into());
    let mut last = Position::default();
    for _ in 0..2 {
        let before = position(master, dialect).await?;
        let rows: TableAnswers = or_stop(stop, master.query(format!("CHECKSUM TABLE {}", names.join(", "))))
            .await
            .ok_or_else(interrupted)?
            .map_err(fail("CHECKSUM TABLE on the master"))?;
        let after = position(master, dialect).await?;
        if before == after {
            return Ok((after, Ok(rows)));
        }
        last = after;
    }
    Ok((last, Err("the master's position moved while it ran, twice: its checksum is not used".into())))
}

/// Whether a replica replicates by GTID, from its status row's `Using_Gtid` (MariaDB:
/// `Slave_Pos`/`Current_Pos`, not `No`) or `Auto_Position` (MySQL: `1`).
fn replicates_by_gtid(flavor: crate::mysql::Flavor, using_gtid: Option<&str>, auto_position: Option<&str>) -> bool {
    match flavor {
        crate::mysql::Flavor::MariaDb => using_gtid.is_some_and(|v| !v.eq_ignore_ascii_case("No")),
        crate::mysql::Flavor::MySql => auto_position.is_some_and(|v| v.trim() == "1"),
    }
}

/// How to hold a replica at the master's position: by GTID when it replicates by GTID (and
/// the master has a GTID position), by binlog coordinates otherwise.
fn hold_statement(dialect: &crate::mysql::Dialect, by_gtid: bool, at: &Position) -> Result<String, String> {
    match (&at.coords, by_gtid && !at.gtid.trim().is_empty()) {
        (_, true) => Ok(dialect.start_replica_until_gtid(&at.gtid)),
        (Some((file, pos)), false) => Ok(dialect.start_replica_until_pos(file, *pos)),
        (None, false) => Err("it does not replicate by GTID and the master shows no binlog coordinates".into()),
    }
}

/// Which servers differ from the master's answer `master` or, without it, from the majority
/// (with no majority every server is named).
pub(super) fn differing(master: Option<Option<i64>>, values: &[(Addr, Option<i64>)]) -> Vec<Addr> {
    let right = match master {
        Some(m) => m,
        None => {
            let mut counts: Vec<(Option<i64>, usize)> = Vec::new();
            for (_, v) in values {
                match counts.iter_mut().find(|(x, _)| x == v) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((*v, 1)),
                }
            }
            counts.sort_by_key(|c| std::cmp::Reverse(c.1));
            if counts.len() < 2 {
                return Vec::new();
            }
            if counts[0].1 > counts[1].1 { counts[0].0 } else { Some(i64::MIN) }
        }
    };
    values.iter().filter(|(_, v)| *v != right).map(|(a, _)| a.clone()).collect()
}

/// One step of `--method table`: the master's checksum, the hold, one `CHECKSUM TABLE` per
/// replica, the release. A failure or a stop request before the release restarts replication on
/// every held replica (the hold's rollback); the comparison itself touches no server.
#[derive(Clone, Debug, PartialEq)]
pub enum TableStep {
    /// `CHECKSUM TABLE` on the master while its position stands still (tried twice).
    Master { master: Addr, tables: usize },
    /// Stop every replica at the master's position (`START SLAVE UNTIL`), wait until they stand.
    Hold { replicas: Vec<Addr>, timeout: Duration },
    /// `CHECKSUM TABLE` on one held replica.
    Replica { replica: Addr },
    /// Restart replication everywhere.
    Release { replicas: Vec<Addr> },
}

impl Step for TableStep {
    fn name(&self) -> &'static str {
        match self {
            TableStep::Master { .. } => "master",
            TableStep::Hold { .. } => "hold",
            TableStep::Replica { .. } => "replica",
            TableStep::Release { .. } => "release",
        }
    }

    fn describe(&self) -> String {
        match self {
            TableStep::Master { master, tables } => {
                format!("CHECKSUM TABLE of {tables} table(s) on {master}, valid when its position stands still")
            }
            TableStep::Hold { replicas, timeout } => format!(
                "stop {} at the master's position (by GTID, or binlog coordinates), wait up to {:.0} s",
                list(replicas),
                timeout.as_secs_f64()
            ),
            TableStep::Replica { replica } => format!("CHECKSUM TABLE on {replica}"),
            TableStep::Release { replicas } => format!("restart replication on {}", list(replicas)),
        }
    }

    /// Every failure restarts replication (the hold's rollback): nothing is left held.
    fn on_failure(&self) -> OnFailure {
        OnFailure::RollBack
    }
}

fn list(a: &[Addr]) -> String {
    a.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The plan of `--method table` on `req`'s servers.
pub fn table_plan(req: &Request, tables: usize) -> Vec<TableStep> {
    let mut p = vec![
        TableStep::Master { master: req.master.clone(), tables },
        TableStep::Hold { replicas: req.replicas.clone(), timeout: req.replica_timeout },
    ];
    p.extend(req.replicas.iter().map(|r| TableStep::Replica { replica: r.clone() }));
    p.push(TableStep::Release { replicas: req.replicas.clone() });
    p
}

struct TableExec<'a> {
    req: &'a Request,
    opts: Arc<ProbeOptions>,
    dialect: crate::mysql::Dialect,
    names: Vec<String>,
    stop: &'a AtomicBool,
    events: &'a mut (dyn FnMut(&Event) + Send),
    master: Option<Conn>,
    // Learned while running.
    pos: Position,
    master_answers: Result<TableAnswers, String>,
    /// Replicas replication was stopped on, with their connections.
    held: Vec<(Addr, Conn)>,
    held_since: Option<Instant>,
    held_for: Option<Duration>,
    answers: Vec<(Addr, TableAnswers)>,
}

impl TableExec<'_> {
    fn interrupted(&self, what: String) -> String {
        format!("interrupted {what}")
    }

    async fn master(&mut self) -> Result<String, String> {
        let Some(mut m) = self.master.take() else { return Err("no connection to the master".into()) };
        let r = master_checksums(&mut m, &self.dialect, &self.names, self.stop).await;
        let _ = m.disconnect().await;
        let (pos, answers) = r.map_err(|e| e.to_string())?;
        let words = match &answers {
            Ok(_) => format!("master's CHECKSUM TABLE taken at {pos}"),
            Err(why) => why.clone(),
        };
        self.pos = pos;
        self.master_answers = answers;
        Ok(words)
    }

    async fn hold(&mut self) -> Result<String, String> {
        let d = self.dialect;
        let mut until = Vec::new();
        for a in &self.req.replicas {
            let mut c = probe::connect(a, &self.opts).await.map_err(|e| format!("{a}: {e}"))?;
            let status: Option<Row> =
                c.query_first(d.single_replica_status_sql()).await.map_err(|e| format!("{a}: replica status: {e}"))?;
            let text = |col: columns::Col| {
                status
                    .as_ref()
                    .and_then(|r| col.names().iter().find_map(|n| r.get_opt::<String, _>(*n).and_then(Result::ok)))
            };
            let by_gtid = replicates_by_gtid(
                d.flavor,
                text(columns::USING_GTID).as_deref(),
                text(columns::AUTO_POSITION).as_deref(),
            );
            let sql = hold_statement(&d, by_gtid, &self.pos)
                .map_err(|why| format!("{a} cannot be held at the master's position: {why}"))?;
            until.push((a.clone(), c, sql));
        }
        self.held_since = Some(Instant::now());
        // STOP SLAVE waits for the SQL thread's current event, which a lock can hold for ever:
        // bounded by replica_timeout, and a stop request ends the wait.
        let limit = self.req.replica_timeout;
        for (a, c, sql) in until {
            self.held.push((a.clone(), c));
            let Some((_, c)) = self.held.last_mut() else { continue };
            for stmt in [d.stop_replica(), sql.as_str()] {
                match or_stop(self.stop, tokio::time::timeout(limit, c.query_drop(stmt))).await {
                    None => return Err(self.interrupted(format!("while holding {a}"))),
                    Some(Err(_)) => {
                        return Err(format!("{a}: {stmt} did not return within {:.0} s", limit.as_secs_f64()));
                    }
                    Some(Ok(r)) => r.map_err(|e| format!("{a}: {stmt}: {e}"))?,
                }
            }
        }
        let deadline = Instant::now() + self.req.replica_timeout;
        let pos = self.pos.to_string();
        for i in 0..self.held.len() {
            loop {
                let (a, c) = &mut self.held[i];
                let a = a.clone();
                let row: Option<Row> =
                    c.query_first(d.single_replica_status_sql()).await.map_err(|e| format!("{a}: status: {e}"))?;
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
                    return Err(format!("{a} did not reach {pos} within {:?}", self.req.replica_timeout));
                }
                (self.events)(&Event::Paused { reason: format!("waiting for {a} to reach {pos}") });
                if or_stop(self.stop, tokio::time::sleep(Duration::from_millis(100))).await.is_none() {
                    return Err(self.interrupted(format!("while waiting for {a}")));
                }
            }
        }
        Ok(format!("{} held at {pos}", list(&self.req.replicas)))
    }

    async fn checksum(&mut self, replica: &Addr) -> Result<String, String> {
        let sql = format!("CHECKSUM TABLE {}", self.names.join(", "));
        let Some((_, c)) = self.held.iter_mut().find(|(a, _)| a == replica) else {
            return Err(format!("{replica} is not held"));
        };
        let rows: TableAnswers = match or_stop(self.stop, c.query(sql)).await {
            None => return Err(self.interrupted(format!("while checksumming {replica}"))),
            Some(r) => r.map_err(|e| format!("CHECKSUM TABLE: {e}"))?,
        };
        let n = rows.len();
        self.answers.push((replica.clone(), rows));
        Ok(format!("{n} table(s)"))
    }

    /// Restart replication on every held replica; the errors, by replica.
    async fn release(&mut self) -> Vec<String> {
        let (stop, start) = (self.dialect.stop_replica(), self.dialect.start_replica());
        let limit = self.req.replica_timeout.max(Duration::from_secs(5));
        let mut errors = Vec::new();
        for (a, c) in std::mem::take(&mut self.held) {
            // The hold's connection may be mid-statement (a STOP SLAVE given up on): a fresh one.
            // STOP first: a replica still running towards its UNTIL position would keep it (a
            // START on a running replica changes nothing) and stop there for good.
            drop(c);
            let restarted = async {
                let mut c = probe::connect(&a, &self.opts).await.map_err(|e| e.to_string())?;
                let r = async {
                    c.query_drop(stop).await?;
                    c.query_drop(start).await
                }
                .await
                .map_err(|e| e.to_string());
                let _ = c.disconnect().await;
                r
            };
            match tokio::time::timeout(limit, restarted).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(format!("{a}: {e}")),
                Err(_) => errors.push(format!(
                    "{a}: its SQL thread did not stop within {:.0} s (held by a lock?); replication stops when it \
                     does: run {start} there then",
                    limit.as_secs_f64()
                )),
            }
        }
        if self.held_for.is_none() {
            self.held_for = self.held_since.map(|t| t.elapsed());
        }
        errors
    }
}

impl Executor<TableStep> for TableExec<'_> {
    async fn act(&mut self, step: &TableStep, _: &mut Journal<'_>) -> Result<String, String> {
        match step {
            TableStep::Master { .. } => self.master().await,
            TableStep::Hold { .. } => self.hold().await,
            TableStep::Replica { replica } => self.checksum(replica).await,
            TableStep::Release { .. } => {
                let errors = self.release().await;
                if errors.is_empty() {
                    Ok("replication restarted on every replica".into())
                } else {
                    Err(format!("could not restart replication on {}", errors.join("; ")))
                }
            }
        }
    }

    async fn rollback(&mut self, step: &TableStep, _: &mut Journal<'_>) -> Result<Option<String>, String> {
        if !matches!(step, TableStep::Hold { .. }) || self.held.is_empty() {
            return Ok(None);
        }
        let errors = self.release().await;
        if errors.is_empty() {
            Ok(Some("replication restarted on every held replica".into()))
        } else {
            Err(format!("could not restart replication on {}", errors.join("; ")))
        }
    }
}

pub async fn run_table_method(
    req: &Request,
    opts: Arc<ProbeOptions>,
    stop: &AtomicBool,
    audit: &mut AuditLog,
    events: &mut (dyn FnMut(&Event) + Send),
) -> Res<TableMethodReport> {
    let mut master =
        probe::connect(&req.master, &opts).await.map_err(|e| ChecksumError::Refused(format!("{}: {e}", req.master)))?;
    let dialect = dialect_of(&mut master, &req.master).await?;
    let plans = plan_tables(&mut master, req).await?;
    let steps = table_plan(req, plans.len());
    events(&Event::Plan { steps: runner::describe(&steps), tables: plans.clone() });
    if req.dry_run {
        let _ = master.disconnect().await;
        return Ok(TableMethodReport::default());
    }
    // The hold stops replication on purpose: watchers of these servers hold the shard's findings.
    let members: Vec<Addr> = std::iter::once(req.master.clone()).chain(req.replicas.iter().cloned()).collect();
    let _beacon = crate::actions::beacon::Beacon::raise(&members, &opts).await;
    let names: Vec<String> = plans.iter().map(|p| table_name(&p.db, &p.tbl)).collect();
    let mut quiet = |_: &crate::actions::Progress| {};
    let mut journal = Journal::new("checksum", &req.shard, audit, &mut quiet, opts.password.iter().cloned().collect());
    let what = format!("--method table on {} and {} replicas", req.master, req.replicas.len());
    record_start(&mut journal, &what, &plans)?;
    let mut exec = TableExec {
        req,
        opts,
        dialect,
        names: names.clone(),
        stop,
        events,
        master: Some(master),
        pos: Position::default(),
        master_answers: Err(String::new()),
        held: Vec::new(),
        held_since: None,
        held_for: None,
        answers: Vec::new(),
    };
    let outcome = runner::execute(&steps, &mut exec, &mut journal, Some(stop)).await;
    // Whatever happened, nothing stays held (the rollback restarted them; this is the backstop).
    let leftover = exec.release().await;
    let held_seconds = exec.held_for.map(|d| d.as_secs_f64()).unwrap_or_default();
    let interrupted = stop.load(std::sync::atomic::Ordering::Relaxed);
    match outcome {
        Err(RunError::Audit(e)) => return Err(audit_err(e)),
        Err(RunError::Failed { .. }) if interrupted => {
            journal.entry("run", "interrupted", Some(journal.elapsed()), "stopped").map_err(audit_err)?;
            return Ok(TableMethodReport {
                position: exec.pos.to_string(),
                held_seconds,
                interrupted: true,
                ..Default::default()
            });
        }
        Err(RunError::Failed { step, message, .. }) => return Err(run_failed(&mut journal, step, &message)),
        Ok(_) if !leftover.is_empty() => {
            return Err(ChecksumError::Failed(format!("could not restart replication on {}", leftover.join("; "))));
        }
        Ok(_) => {}
    }
    let master_note = exec.master_answers.as_ref().err().cloned();
    let mut report =
        TableMethodReport { position: exec.pos.to_string(), held_seconds, master_note, ..TableMethodReport::default() };
    for t in &names {
        let answer = |rows: &TableAnswers| {
            rows.iter().find(|(n, _)| n.replace('`', "") == t.replace('`', "")).and_then(|(_, v)| *v)
        };
        let master_value = exec.master_answers.as_ref().ok().map(answer);
        let values: Vec<(Addr, Option<i64>)> = exec.answers.iter().map(|(a, rows)| (a.clone(), answer(rows))).collect();
        let differ = differing(master_value, &values);
        if !differ.is_empty() {
            let who: Vec<String> = differ.iter().map(ToString::to_string).collect();
            journal.entry("compare", "diff", None, &format!("{t}: {}", who.join(", "))).map_err(audit_err)?;
            report.differing.push((t.clone(), differ));
        }
        let mut all = Vec::new();
        if let Some(m) = master_value {
            all.push((req.master.clone(), m));
        }
        all.extend(values);
        report.tables.push((t.clone(), all));
    }
    let outcome =
        format!("{} tables compared at {}, {} differ", report.tables.len(), report.position, report.differing.len());
    journal.entry("run", "outcome", Some(journal.elapsed()), &outcome).map_err(audit_err)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement that holds a replica, from status values as the MySQL 8.0/8.4 manuals and
    /// MariaDB's SHOW SLAVE STATUS show them.
    #[test]
    fn a_replica_is_held_by_gtid_only_when_it_replicates_by_gtid() {
        use crate::mysql::{Dialect, Flavor, Version};
        let maria = Dialect { flavor: Flavor::MariaDb, version: Version::new(10, 11, 6) };
        let my84 = Dialect { flavor: Flavor::MySql, version: Version::new(8, 4, 3) };
        let my57 = Dialect { flavor: Flavor::MySql, version: Version::new(5, 7, 44) };
        let coords = Some(("binlog.000003".to_string(), 157));
        let at = Position { gtid: "0-1-42".into(), coords: coords.clone() };
        let hold = |d: &Dialect, using: Option<&str>, auto: Option<&str>, at: &Position| {
            hold_statement(d, replicates_by_gtid(d.flavor, using, auto), at)
        };
        assert_eq!(
            hold(&maria, Some("Slave_Pos"), None, &at).as_deref(),
            Ok("START SLAVE UNTIL master_gtid_pos = '0-1-42'")
        );
        assert_eq!(
            hold(&maria, Some("No"), None, &at).as_deref(),
            Ok("START SLAVE UNTIL MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157")
        );
        let set = Position { gtid: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5".into(), coords: coords.clone() };
        assert_eq!(
            hold(&my84, None, Some("1"), &set).as_deref(),
            Ok("START REPLICA UNTIL SQL_AFTER_GTIDS = '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5'")
        );
        // MySQL without GTIDs: gtid_executed is empty, Auto_Position 0.
        let no_gtid = Position { gtid: String::new(), coords };
        assert_eq!(
            hold(&my84, None, Some("0"), &no_gtid).as_deref(),
            Ok("START REPLICA UNTIL SOURCE_LOG_FILE = 'binlog.000003', SOURCE_LOG_POS = 157")
        );
        assert_eq!(
            hold(&my57, None, Some("0"), &no_gtid).as_deref(),
            Ok("START SLAVE UNTIL MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157")
        );
        assert!(hold(&my84, None, Some("0"), &Position::default()).is_err(), "no binlog, no GTID: refused");
        assert_eq!(no_gtid.to_string(), "binlog.000003:157");
        assert_eq!(at.to_string(), "0-1-42 (binlog.000003:157)");
    }

    #[test]
    fn the_table_method_holds_then_checksums_each_replica_then_releases() {
        let p = table_plan(&crate::actions::checksum::plan::sample_request(), 3);
        let names: Vec<_> = runner::describe(&p).iter().map(|s| s.name).collect();
        assert_eq!(names, ["master", "hold", "replica", "replica", "release"]);
        assert_eq!(p[2].describe(), "CHECKSUM TABLE on db2:3306");
        assert!(p[1].describe().starts_with("stop db2:3306, db3:3306 at the master's position"), "{}", p[1].describe());
        // Any failure undoes the hold: no step is past a point of no return.
        assert!(p.iter().all(|s| s.on_failure() == OnFailure::RollBack));
    }

    #[test]
    fn with_the_masters_checksum_one_changed_replica_is_named_alone() {
        let (r1, r2) = (Addr::new("db2", 3306), Addr::new("db3", 3306));
        let values = vec![(r1.clone(), Some(7)), (r2.clone(), Some(9))];
        assert_eq!(differing(Some(Some(7)), &values), vec![r2.clone()]);
        // Without it, two replicas and two answers: no majority, both named.
        assert_eq!(differing(None, &values), vec![r1.clone(), r2.clone()]);
        assert!(differing(Some(Some(7)), &[(r1.clone(), Some(7))]).is_empty());
        // A table missing on a replica differs from the master's.
        assert_eq!(differing(Some(Some(7)), &[(r1, None)]).len(), 1);
    }
}
