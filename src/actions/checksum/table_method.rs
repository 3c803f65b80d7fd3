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
use super::{ChecksumError, Event, Request, Res, dialect_of, fail, tables::plan_tables};
use crate::actions::audit::AuditLog;
use crate::actions::runner::Journal;
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
    let steps = plans.iter().map(|t| crate::actions::PlannedStep { name: "checksum_table", what: t.name() }).collect();
    events(&Event::Plan { steps, tables: plans.clone() });
    if req.dry_run {
        return Ok(TableMethodReport::default());
    }
    let names: Vec<String> = plans.iter().map(|p| table_name(&p.db, &p.tbl)).collect();
    // Holding replication is a change to the servers: the audit log has the run.
    let mut quiet = |_: &crate::actions::Progress| {};
    let mut journal = Journal::new("checksum", &req.shard, audit, &mut quiet, opts.password.iter().cloned().collect());
    let audit_err = |e: std::io::Error| ChecksumError::Failed(format!("audit log: {e}"));
    let plain: Vec<String> = plans.iter().map(|p| p.name()).collect();
    journal
        .entry(
            "run",
            "start",
            None,
            &format!("--method table on {} and {} replicas: {}", req.master, req.replicas.len(), plain.join(", ")),
        )
        .map_err(audit_err)?;
    let (pos, master_answers) = master_checksums(&mut master, &dialect, &names, stop).await?;
    let _ = master.disconnect().await;
    let master_words = match &master_answers {
        Ok(_) => format!("master's CHECKSUM TABLE taken at {pos}"),
        Err(why) => why.clone(),
    };
    journal.entry("master", "ok", None, &master_words).map_err(audit_err)?;
    journal
        .entry("hold", "start", None, &format!("stop {} replicas at the master's position {pos}", req.replicas.len()))
        .map_err(audit_err)?;
    let (stop_sql, start_sql) = (dialect.stop_replica(), dialect.start_replica());
    let mut conns = Vec::new();
    for a in &req.replicas {
        let mut c = probe::connect(a, &opts).await.map_err(|e| ChecksumError::Refused(format!("{a}: {e}")))?;
        let status: Option<Row> =
            c.query_first(dialect.single_replica_status_sql()).await.map_err(fail("replica status"))?;
        let text = |col: columns::Col| {
            status
                .as_ref()
                .and_then(|r| col.names().iter().find_map(|n| r.get_opt::<String, _>(*n).and_then(Result::ok)))
        };
        let by_gtid = replicates_by_gtid(
            dialect.flavor,
            text(columns::USING_GTID).as_deref(),
            text(columns::AUTO_POSITION).as_deref(),
        );
        let until = hold_statement(&dialect, by_gtid, &pos)
            .map_err(|why| ChecksumError::Refused(format!("{a} cannot be held at the master's position: {why}")))?;
        conns.push((a.clone(), c, until));
    }
    let held = Instant::now();
    // Hold every replica at the master's position; restart them all whatever happens.
    let outcome: Res<Vec<(Addr, TableAnswers)>> = async {
        for (a, c, until) in &mut conns {
            c.query_drop(stop_sql).await.map_err(fail("stopping replication"))?;
            c.query_drop(&*until).await.map_err(|e| ChecksumError::Failed(format!("{a}: {e}")))?;
        }
        let deadline = Instant::now() + req.replica_timeout;
        for (a, c, _) in &mut conns {
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
                or_stop(stop, tokio::time::sleep(Duration::from_millis(100)))
                    .await
                    .ok_or_else(|| ChecksumError::Interrupted(format!("stopped while waiting for {a}")))?;
            }
        }
        let mut out = Vec::new();
        for (a, c, _) in &mut conns {
            let rows: TableAnswers = or_stop(stop, c.query(format!("CHECKSUM TABLE {}", names.join(", "))))
                .await
                .ok_or_else(|| ChecksumError::Interrupted(format!("stopped while checksumming {a}")))?
                .map_err(fail("CHECKSUM TABLE"))?;
            out.push((a.clone(), rows));
        }
        Ok(out)
    }
    .await;
    let mut restart_errors = Vec::new();
    for (a, c, _) in &mut conns {
        if let Err(e) = c.query_drop(start_sql).await {
            restart_errors.push(format!("{a}: {e}"));
        }
        let _ = c.query_drop("DO 1").await;
    }
    let held_seconds = held.elapsed().as_secs_f64();
    let (phase, detail) = if restart_errors.is_empty() {
        ("ok", "replication restarted on every replica".to_string())
    } else {
        ("failed", format!("could not restart replication on {}", restart_errors.join("; ")))
    };
    journal.entry("hold", phase, Some(held.elapsed()), &detail).map_err(audit_err)?;
    if !restart_errors.is_empty() {
        return Err(ChecksumError::Failed(format!("could not restart replication on {}", restart_errors.join("; "))));
    }
    let per_server = match outcome {
        Err(ChecksumError::Interrupted(why)) => {
            journal.entry("run", "interrupted", Some(journal.elapsed()), &why).map_err(audit_err)?;
            return Ok(TableMethodReport {
                position: pos.to_string(),
                held_seconds,
                interrupted: true,
                ..Default::default()
            });
        }
        Err(e) => {
            let _ = journal.entry("run", "failed", Some(journal.elapsed()), &e.to_string());
            return Err(e);
        }
        Ok(v) => v,
    };
    let master_note = master_answers.as_ref().err().cloned();
    let mut report =
        TableMethodReport { position: pos.to_string(), held_seconds, master_note, ..TableMethodReport::default() };
    for t in &names {
        let answer = |rows: &TableAnswers| {
            rows.iter().find(|(n, _)| n.replace('`', "") == t.replace('`', "")).and_then(|(_, v)| *v)
        };
        let master_value = master_answers.as_ref().ok().map(answer);
        let values: Vec<(Addr, Option<i64>)> = per_server.iter().map(|(a, rows)| (a.clone(), answer(rows))).collect();
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
