//! A checksum's plan as typed steps: prepare the result table, one step per
//! table, then one comparison per replica. The same value is what `--dry-run`
//! prints, what the TUI dialog lists, what runs (`exec`) and what the audit log
//! records.

use std::time::Duration;

use super::{Request, TablePlan};
use crate::actions::runner::{OnFailure, Step};
use crate::mysql::Addr;
use crate::mysql::dialect::Dialect;
use crate::mysql::version::Flavor;

/// How a comparison knows a replica has applied every chunk the master wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// Wait for the master's GTID position (MariaDB always; MySQL with `gtid_mode = ON`).
    Gtid,
    /// Wait for the master's binlog coordinates (`MASTER_POS_WAIT` / `SOURCE_POS_WAIT`):
    /// MySQL without GTIDs, whose `gtid_executed` is empty and would not wait at all.
    BinlogPos,
}

impl CatchUp {
    /// The wait a master of this dialect allows, from its `@@gtid_mode` (MySQL only) and
    /// its GTID position as `Dialect::gtid_position_sql` reads it.
    pub fn choose(dialect: &Dialect, gtid_mode: Option<&str>, gtid_position: &str) -> CatchUp {
        match dialect.flavor {
            Flavor::MariaDb => CatchUp::Gtid,
            Flavor::MySql
                if gtid_mode.is_some_and(|m| m.eq_ignore_ascii_case("ON")) && !gtid_position.trim().is_empty() =>
            {
                CatchUp::Gtid
            }
            Flavor::MySql => CatchUp::BinlogPos,
        }
    }

    fn words(&self) -> &'static str {
        match self {
            CatchUp::Gtid => "its GTID position",
            CatchUp::BinlogPos => "its binlog coordinates",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChecksumStep {
    /// The result table exists in utf8mb4; the session writes statement-based binlog.
    Prepare { master: Addr, result_table: String },
    /// Checksum one table, chunk by chunk (or say why it is skipped).
    Table(TablePlan),
    /// Wait until the replica applied everything, then read its differing chunks.
    Compare { replica: Addr, catch_up: CatchUp, timeout: Duration },
}

impl Step for ChecksumStep {
    fn name(&self) -> &'static str {
        match self {
            ChecksumStep::Prepare { .. } => "prepare",
            ChecksumStep::Table(_) => "table",
            ChecksumStep::Compare { .. } => "compare",
        }
    }

    fn describe(&self) -> String {
        match self {
            ChecksumStep::Prepare { master, result_table } => format!(
                "create {result_table} on {master} (utf8mb4) if missing, switch the session to statement-based binlog"
            ),
            ChecksumStep::Table(t) => t.describe(),
            ChecksumStep::Compare { replica, catch_up, timeout } => format!(
                "wait up to {:.0} s for {replica} to reach the master's last chunk ({}), read its differing chunks",
                timeout.as_secs_f64(),
                catch_up.words()
            ),
        }
    }

    /// Nothing a checksum writes needs undoing; a table or replica that cannot be
    /// checked is reported and the others still are.
    fn on_failure(&self) -> OnFailure {
        match self {
            ChecksumStep::Prepare { .. } | ChecksumStep::Table(_) => OnFailure::RollBack,
            ChecksumStep::Compare { .. } => OnFailure::Warn,
        }
    }

    fn warning(&self, error: &str) -> String {
        match self {
            ChecksumStep::Compare { replica, .. } => format!("{replica} not compared: {error}"),
            _ => format!("{}: {error}", self.name()),
        }
    }
}

impl TablePlan {
    pub fn name(&self) -> String {
        format!("{}.{}", self.db, self.tbl)
    }

    /// The table's line of the plan.
    pub fn describe(&self) -> String {
        match (&self.skip, &self.index) {
            (Some(why), _) => format!("{}: skip — {why}", self.name()),
            (None, Some(i)) => {
                format!("{}: ~{} rows in chunks over {i} ({})", self.name(), self.rows_estimate, self.key.join(", "))
            }
            (None, None) => format!("{}: ~{} rows as one chunk (no usable key)", self.name(), self.rows_estimate),
        }
    }
}

/// The tables by name, as both methods' first audit entry lists them.
pub fn listing(tables: &[TablePlan]) -> String {
    tables.iter().map(TablePlan::name).collect::<Vec<_>>().join(", ")
}

/// The whole run: prepare, every table, every replica.
pub fn plan(req: &Request, tables: Vec<TablePlan>, catch_up: CatchUp) -> Vec<ChecksumStep> {
    let mut p = vec![ChecksumStep::Prepare { master: req.master.clone(), result_table: req.result_table.clone() }];
    p.extend(tables.into_iter().map(ChecksumStep::Table));
    p.extend(req.replicas.iter().map(|r| ChecksumStep::Compare {
        replica: r.clone(),
        catch_up: catch_up.clone(),
        timeout: req.replica_timeout,
    }));
    p
}

/// A check of every table on `db1` with replicas `db2` and `db3`, for the plans' tests.
#[cfg(test)]
pub(super) fn sample_request() -> Request {
    Request {
        shard: "s1".into(),
        master: Addr::new("db1", 3306),
        replicas: vec![Addr::new("db2", 3306), Addr::new("db3", 3306)],
        tables: Vec::new(),
        databases: Vec::new(),
        result_table: "percona.checksums".into(),
        chunk_time: Duration::from_millis(500),
        max_lag: Duration::from_secs(1),
        max_threads_running: 25,
        replica_timeout: Duration::from_secs(60),
        resume: false,
        dry_run: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::runner::describe;

    fn table(tbl: &str, skip: Option<&str>) -> TablePlan {
        TablePlan {
            db: "social".into(),
            tbl: tbl.into(),
            index: skip.is_none().then(|| "PRIMARY".to_string()),
            key: vec!["id".into()],
            int_key: true,
            columns: vec!["id".into()],
            nullable: Vec::new(),
            rows_estimate: 10,
            skip: skip.map(str::to_string),
        }
    }

    #[test]
    fn every_table_and_every_replica_is_a_step_of_the_plan() {
        let tables = vec![table("a", None), table("b", Some("too big"))];
        assert_eq!(listing(&tables), "social.a, social.b");
        let p = plan(&sample_request(), tables, CatchUp::Gtid);
        let names: Vec<_> = describe(&p).iter().map(|s| s.name).collect();
        assert_eq!(names, ["prepare", "table", "table", "compare", "compare"]);
        assert_eq!(p[1].describe(), "social.a: ~10 rows in chunks over PRIMARY (id)");
        assert_eq!(p[2].describe(), "social.b: skip — too big");
        assert!(p[3].describe().contains("wait up to 60 s for db2:3306"), "{}", p[3].describe());
        assert_eq!(p[4].on_failure(), OnFailure::Warn, "one replica that cannot be compared leaves the other");
    }

    /// The masters of the recorded fixtures: MariaDB 10.11 (GTID always), MySQL 8.0 / 8.4 with
    /// GTIDs (their `Executed_Gtid_Set`), and the same MySQL with `gtid_mode = OFF`, whose
    /// `gtid_executed` is empty and would let a GTID wait return at once.
    #[test]
    fn mysql_without_gtid_waits_by_binlog_coordinates() {
        let fixture = |name: &str| {
            let path = format!("{}/tests/fixtures/probe/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            text.lines()
                .find_map(|l| {
                    l.trim().strip_prefix("Executed_Gtid_Set:").map(|v| v.trim().trim_end_matches(',').to_string())
                })
                .unwrap_or_default()
        };
        let maria = Dialect::detect("10.11.6-MariaDB-log", "mariadb.org binary distribution").expect("maria");
        let my80 = Dialect::detect("8.0.35", "MySQL Community Server - GPL").expect("8.0");
        let my84 = Dialect::detect("8.4.3", "MySQL Community Server - GPL").expect("8.4");
        let my57 = Dialect::detect("5.7.44-log", "MySQL Community Server (GPL)").expect("5.7");
        let gtid80 = fixture("mysql-8.0-show-replica-status.txt");
        let gtid84 = fixture("mysql-8.4-show-replica-status.txt");
        assert!(!gtid80.is_empty() && !gtid84.is_empty());
        assert_eq!(CatchUp::choose(&maria, None, "1-3400-11,100-3390-7"), CatchUp::Gtid);
        assert_eq!(CatchUp::choose(&my80, Some("ON"), &gtid80), CatchUp::Gtid);
        assert_eq!(CatchUp::choose(&my84, Some("ON"), &gtid84), CatchUp::Gtid);
        assert_eq!(CatchUp::choose(&my80, Some("OFF"), ""), CatchUp::BinlogPos);
        assert_eq!(CatchUp::choose(&my84, Some("OFF"), ""), CatchUp::BinlogPos);
        assert_eq!(CatchUp::choose(&my57, Some("ON_PERMISSIVE"), &gtid80), CatchUp::BinlogPos);
        assert_eq!(CatchUp::choose(&my80, Some("ON"), ""), CatchUp::BinlogPos, "GTID on, nothing executed yet");
        // The statements each choice sends, per dialect.
        assert_eq!(my84.wait_for_pos("binlog.000003", 157, 0.5), "SELECT SOURCE_POS_WAIT('binlog.000003', 157, 0.500)");
        assert_eq!(my57.wait_for_pos("binlog.000003", 157, 0.5), "SELECT MASTER_POS_WAIT('binlog.000003', 157, 0.500)");
        assert_eq!(my80.binlog_status_sql(), "SHOW MASTER STATUS");
        assert_eq!(my84.binlog_status_sql(), "SHOW BINARY LOG STATUS");
        assert_eq!(my80.gtid_mode_sql(), Some("SELECT @@GLOBAL.gtid_mode"));
        assert_eq!(maria.gtid_mode_sql(), None);
    }
}
