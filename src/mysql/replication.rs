//! The replication statements actions send, per dialect. MySQL got the
//! REPLICA/SOURCE spellings of STOP/START/RESET/SHOW in 8.0.22 and of CHANGE …
//! TO in 8.0.23, and 8.4 dropped the old ones; MariaDB never adopted the SOURCE
//! ones for CHANGE MASTER.

use super::addr::Addr;
use super::dialect::Dialect;
use super::version::{Flavor, Version};
use crate::secret::Secret;

/// Where a replica starts reading its new source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// MariaDB `MASTER_USE_GTID=slave_pos`: what this server applied as a replica.
    SlavePos,
    /// MariaDB `MASTER_USE_GTID=current_pos`: everything in its own binlog too
    /// (for a former master whose writes are in its binlog, not its slave_pos).
    CurrentPos,
    /// MySQL `SOURCE_AUTO_POSITION=1`.
    AutoPosition,
    /// file:position coordinates.
    File { file: String, pos: u64 },
}

/// A string literal for SQL.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

const MYSQL_REPLICA_KEYWORD: Version = Version::new(8, 0, 22);
const MYSQL_CHANGE_SOURCE: Version = Version::new(8, 0, 23);
const MYSQL_SOURCE_POS_WAIT: Version = Version::new(8, 0, 26);
/// MariaDB split READ_ONLY ADMIN out of SUPER in 10.11.
const MARIADB_READ_ONLY_ADMIN: Version = Version::new(10, 11, 0);

impl Dialect {
    fn mysql_at_least(&self, v: Version) -> bool {
        self.flavor == Flavor::MySql && self.version >= v
    }

    pub fn stop_replica(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "STOP REPLICA" } else { "STOP SLAVE" }
    }

    pub fn start_replica(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "START REPLICA" } else { "START SLAVE" }
    }

    /// Stop receiving from the source, keep applying what was received (failover: a dead
    /// master that comes back must not feed replicas mid-switch).
    pub fn stop_io_thread(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "STOP REPLICA IO_THREAD" } else { "STOP SLAVE IO_THREAD" }
    }

    pub fn start_io_thread(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "START REPLICA IO_THREAD" } else { "START SLAVE IO_THREAD" }
    }

    /// Apply what was received without receiving more (failover: a candidate back under the
    /// dead master after catching up elsewhere).
    pub fn start_sql_thread(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "START REPLICA SQL_THREAD" } else { "START SLAVE SQL_THREAD" }
    }

    pub fn reset_replica_all(&self) -> &'static str {
        if self.mysql_at_least(MYSQL_REPLICA_KEYWORD) { "RESET REPLICA ALL" } else { "RESET SLAVE ALL" }
    }

    /// The status of the (default) replication channel: one row, or none on a non-replica.
    pub fn single_replica_status_sql(&self) -> &'static str {
        match self.flavor {
            // MariaDB understands SHOW REPLICA STATUS from 10.5.1, SHOW SLAVE STATUS always.
            Flavor::MariaDb => "SHOW SLAVE STATUS",
            Flavor::MySql if self.version >= MYSQL_REPLICA_KEYWORD => "SHOW REPLICA STATUS",
            Flavor::MySql => "SHOW SLAVE STATUS",
        }
    }

    /// Start replication and stop it again once `gtid` (as read with `gtid_position_sql`) is applied.
    pub fn start_replica_until_gtid(&self, gtid: &str) -> String {
        match self.flavor {
            Flavor::MariaDb => format!("START SLAVE UNTIL master_gtid_pos = {}", quote(gtid)),
            Flavor::MySql => format!("{} UNTIL SQL_AFTER_GTIDS = {}", self.start_replica(), quote(gtid)),
        }
    }

    /// Start replication and stop applying once the source's binlog `file:pos` is executed: the
    /// hold for a replica that does not replicate by GTID (MariaDB refuses `UNTIL master_gtid_pos`
    /// then, and a MySQL source without GTIDs has no set to wait for).
    pub fn start_replica_until_pos(&self, file: &str, pos: u64) -> String {
        let (file_kw, pos_kw) = if self.mysql_at_least(MYSQL_CHANGE_SOURCE) {
            ("SOURCE_LOG_FILE", "SOURCE_LOG_POS")
        } else {
            ("MASTER_LOG_FILE", "MASTER_LOG_POS")
        };
        format!("{} UNTIL {file_kw} = {}, {pos_kw} = {pos}", self.start_replica(), quote(file))
    }

    /// The server's own GTID position: what a replica must reach to have everything it wrote.
    pub fn gtid_position_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "SELECT @@GLOBAL.gtid_binlog_pos",
            Flavor::MySql => "SELECT @@GLOBAL.gtid_executed",
        }
    }

    /// Whether GTIDs are on (MySQL `@@gtid_mode`, `OFF` … `ON`); MariaDB always logs GTIDs.
    pub fn gtid_mode_sql(&self) -> Option<&'static str> {
        match self.flavor {
            Flavor::MariaDb => None,
            Flavor::MySql => Some("SELECT @@GLOBAL.gtid_mode"),
        }
    }

    /// GTID positioning for a replica of a new source.
    pub fn gtid_positioning(&self) -> Position {
        match self.flavor {
            Flavor::MariaDb => Position::SlavePos,
            Flavor::MySql => Position::AutoPosition,
        }
    }

    /// GTID positioning for a former master: MariaDB must count its own binlog
    /// (current_pos), where its writes are, not its slave_pos.
    pub fn former_master_gtid_positioning(&self) -> Position {
        match self.flavor {
            Flavor::MariaDb => Position::CurrentPos,
            Flavor::MySql => Position::AutoPosition,
        }
    }

    /// Privileges whose holders write through `read_only` (none on MySQL, where
    /// `super_read_only` stops SUPER holders too).
    pub fn read_only_bypass_privileges(&self) -> &'static [&'static str] {
        match self.flavor {
            Flavor::MySql => &[],
            Flavor::MariaDb if self.version >= MARIADB_READ_ONLY_ADMIN => &["READ_ONLY ADMIN"],
            Flavor::MariaDb => &["SUPER"],
        }
    }

    /// Freeze (true) or open (false) a server for writes. On MySQL,
    /// `super_read_only` also stops SUPER holders; MariaDB has no such
    /// variable (READ_ONLY ADMIN holders must be found and stopped separately).
    /// After a failover or switchover on a semi-sync shard: switch the new master's source side on,
    /// lossless (`AFTER_SYNC`), before it takes writes. `variables` are its answer to
    /// [`Dialect::semi_sync_variables_sql`] (name, value); `shard_semi_sync` says the old master ran
    /// semi-sync, when known. A server whose replica side is on was set up for a semi-sync shard
    /// too. `None`: nothing to do (not a semi-sync shard, already on, or no source plugin loaded);
    /// else the statement and the one that puts the settings back (a rolled-back switch).
    pub fn semi_sync_takeover(
        &self,
        variables: &[(String, String)],
        shard_semi_sync: bool,
    ) -> Option<(String, String)> {
        use super::dialect::semi_sync::{MASTER_ENABLED, MASTER_WAIT_POINT, SLAVE_ENABLED};
        let on = |v: &str| v.eq_ignore_ascii_case("ON") || v == "1";
        let value = |names: &[&str]| variables.iter().find(|(n, _)| names.iter().any(|m| n.eq_ignore_ascii_case(m)));
        let replica_side = value(SLAVE_ENABLED).is_some_and(|(_, v)| on(v));
        if !(shard_semi_sync || replica_side) {
            return None;
        }
        let (enabled, state) = value(MASTER_ENABLED)?;
        let wait = value(MASTER_WAIT_POINT);
        if on(state) && wait.is_none_or(|(_, w)| w.eq_ignore_ascii_case("AFTER_SYNC")) {
            return None;
        }
        let was = if on(state) { "ON" } else { "OFF" };
        Some(match wait {
            Some((w, point)) if point.chars().all(|c| c.is_ascii_alphabetic() || c == '_') => (
                format!("SET GLOBAL {w} = 'AFTER_SYNC', GLOBAL {enabled} = ON"),
                format!("SET GLOBAL {enabled} = {was}, GLOBAL {w} = '{point}'"),
            ),
            Some((w, _)) => (
                format!("SET GLOBAL {w} = 'AFTER_SYNC', GLOBAL {enabled} = ON"),
                format!("SET GLOBAL {enabled} = {was}"),
            ),
            None => (format!("SET GLOBAL {enabled} = ON"), format!("SET GLOBAL {enabled} = {was}")),
        })
    }

    pub fn set_read_only(&self, on: bool) -> &'static str {
        match (self.flavor, on) {
            (Flavor::MySql, true) => "SET GLOBAL super_read_only = ON",
            (Flavor::MySql, false) => "SET GLOBAL super_read_only = OFF, GLOBAL read_only = OFF",
            (Flavor::MariaDb, true) => "SET GLOBAL read_only = ON",
            (Flavor::MariaDb, false) => "SET GLOBAL read_only = OFF",
        }
    }

    /// Point this server at `source`. The password is inlined (the protocol
    /// has no other way): never log the result, log `describe_change_source`.
    /// `tls`: the replica connects to its source over TLS (`MASTER_SSL=1` / `SOURCE_SSL=1`); without
    /// it the statement leaves the replica's TLS setting as it was.
    pub fn change_source(
        &self,
        source: &Addr,
        user: &str,
        password: Option<&Secret>,
        pos: &Position,
        tls: bool,
    ) -> String {
        let pw = password.map(|p| p.expose()).unwrap_or("");
        let new = self.mysql_at_least(MYSQL_CHANGE_SOURCE);
        let (kw, host, port, user_kw, pass_kw) = if new {
            ("CHANGE REPLICATION SOURCE TO", "SOURCE_HOST", "SOURCE_PORT", "SOURCE_USER", "SOURCE_PASSWORD")
        } else {
            ("CHANGE MASTER TO", "MASTER_HOST", "MASTER_PORT", "MASTER_USER", "MASTER_PASSWORD")
        };
        let mut s = format!(
            "{kw} {host}={}, {port}={}, {user_kw}={}, {pass_kw}={}",
            quote(&source.host),
            source.port,
            quote(user),
            quote(pw)
        );
        let positioning = match (self.flavor, pos) {
            (Flavor::MariaDb, Position::SlavePos) => ", MASTER_USE_GTID=slave_pos".to_string(),
            (Flavor::MariaDb, Position::CurrentPos) => ", MASTER_USE_GTID=current_pos".to_string(),
            (Flavor::MySql, Position::AutoPosition) if new => ", SOURCE_AUTO_POSITION=1".to_string(),
            (Flavor::MySql, Position::AutoPosition) => ", MASTER_AUTO_POSITION=1".to_string(),
            (Flavor::MariaDb, Position::File { file, pos }) => {
                format!(", MASTER_LOG_FILE={}, MASTER_LOG_POS={pos}, MASTER_USE_GTID=no", quote(file))
            }
            (Flavor::MySql, Position::File { file, pos }) if new => {
                format!(", SOURCE_LOG_FILE={}, SOURCE_LOG_POS={pos}, SOURCE_AUTO_POSITION=0", quote(file))
            }
            (Flavor::MySql, Position::File { file, pos }) => {
                format!(", MASTER_LOG_FILE={}, MASTER_LOG_POS={pos}, MASTER_AUTO_POSITION=0", quote(file))
            }
            // GTID modes of the other flavour: the caller chose by flavour, so fall back to its own.
            (Flavor::MariaDb, Position::AutoPosition) => ", MASTER_USE_GTID=slave_pos".to_string(),
            (Flavor::MySql, _) if new => ", SOURCE_AUTO_POSITION=1".to_string(),
            (Flavor::MySql, _) => ", MASTER_AUTO_POSITION=1".to_string(),
        };
        s.push_str(&positioning);
        if tls {
            s.push_str(if new { ", SOURCE_SSL=1" } else { ", MASTER_SSL=1" });
        }
        s
    }

    /// The same change, for logs and the audit trail: no password.
    pub fn describe_change_source(&self, source: &Addr, user: &str, pos: &Position) -> String {
        let how = match pos {
            Position::SlavePos => "gtid slave_pos".to_string(),
            Position::CurrentPos => "gtid current_pos".to_string(),
            Position::AutoPosition => "gtid auto-position".to_string(),
            Position::File { file, pos } => format!("{file}:{pos}"),
        };
        format!("replicate from {source} as {user} ({how})")
    }

    /// Wait until the server has applied `gtid` (MariaDB position list or MySQL
    /// set), at most `timeout_s`. Returns a single row: 0 done, -1 timed out
    /// (MySQL: 0 done, 1 timed out).
    pub fn wait_for_gtid(&self, gtid: &str, timeout_s: f64) -> String {
        match self.flavor {
            Flavor::MariaDb => format!("SELECT MASTER_GTID_WAIT({}, {timeout_s:.3})", quote(gtid)),
            Flavor::MySql => format!("SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {timeout_s:.3})", quote(gtid)),
        }
    }

    /// Wait until the SQL thread has executed up to `file:pos` of its source.
    /// NULL: not a replica or the thread stopped; -1: timed out; ≥ 0 done.
    pub fn wait_for_pos(&self, file: &str, pos: u64, timeout_s: f64) -> String {
        let f = if self.mysql_at_least(MYSQL_SOURCE_POS_WAIT) { "SOURCE_POS_WAIT" } else { "MASTER_POS_WAIT" };
        format!("SELECT {f}({}, {pos}, {timeout_s:.3})", quote(file))
    }

    /// Did a wait succeed, given its result?
    pub fn wait_succeeded(&self, gtid_wait: bool, value: Option<i64>) -> bool {
        match (self.flavor, gtid_wait, value) {
            (Flavor::MySql, true, Some(v)) => v == 0,
            (_, _, Some(v)) => v >= 0,
            (_, _, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(flavor: Flavor, v: (u16, u16, u16)) -> Dialect {
        Dialect { flavor, version: Version::new(v.0, v.1, v.2) }
    }

    #[test]
    fn mariadb_keeps_slave_and_master_keywords() {
        let s = st(Flavor::MariaDb, (10, 11, 6));
        assert_eq!(s.stop_replica(), "STOP SLAVE");
        assert_eq!(s.reset_replica_all(), "RESET SLAVE ALL");
        assert_eq!(
            s.change_source(&Addr::new("db2", 3307), "repl", Some(&Secret::new("pw")), &Position::SlavePos, false),
            "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='pw', MASTER_USE_GTID=slave_pos"
        );
        assert_eq!(
            s.change_source(
                &Addr::new("db2", 3307),
                "repl",
                None,
                &Position::File { file: "mysql-bin.000007".into(), pos: 1234 },
                false
            ),
            "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='', MASTER_LOG_FILE='mysql-bin.000007', MASTER_LOG_POS=1234, MASTER_USE_GTID=no"
        );
        assert!(
            s.change_source(&Addr::new("db2", 3307), "repl", None, &Position::SlavePos, true)
                .ends_with("MASTER_USE_GTID=slave_pos, MASTER_SSL=1"),
            "[actions] replication_tls"
        );
        assert_eq!(s.wait_for_gtid("1-100-5,2-200-9", 2.5), "SELECT MASTER_GTID_WAIT('1-100-5,2-200-9', 2.500)");
        assert_eq!(s.set_read_only(true), "SET GLOBAL read_only = ON");
    }

    /// The 8.4 syntax, as in the MySQL 8.4 reference manual ("CHANGE REPLICATION
    /// SOURCE TO", "RESET REPLICA", "WAIT_FOR_EXECUTED_GTID_SET", "SOURCE_POS_WAIT").
    #[test]
    fn mysql_8_4_uses_source_and_replica_keywords() {
        let s = st(Flavor::MySql, (8, 4, 3));
        assert_eq!(s.stop_replica(), "STOP REPLICA");
        assert_eq!(s.start_replica(), "START REPLICA");
        assert_eq!(s.reset_replica_all(), "RESET REPLICA ALL");
        assert_eq!(
            s.change_source(&Addr::new("db2", 3306), "repl", Some(&Secret::new("p'w")), &Position::AutoPosition, false),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='p\\'w', SOURCE_AUTO_POSITION=1"
        );
        assert!(
            s.change_source(&Addr::new("db2", 3306), "repl", None, &Position::AutoPosition, true)
                .ends_with("SOURCE_AUTO_POSITION=1, SOURCE_SSL=1")
        );
        assert_eq!(s.wait_for_pos("binlog.000003", 157, 1.0), "SELECT SOURCE_POS_WAIT('binlog.000003', 157, 1.000)");
        assert_eq!(
            s.wait_for_gtid("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", 1.0),
            "SELECT WAIT_FOR_EXECUTED_GTID_SET('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5', 1.000)"
        );
        assert_eq!(s.set_read_only(true), "SET GLOBAL super_read_only = ON");
        assert!(s.wait_succeeded(true, Some(0)) && !s.wait_succeeded(true, Some(1)));
    }

    /// The hold of `--method table` for a replica that does not use GTIDs: START REPLICA …
    /// UNTIL SOURCE_LOG_FILE from MySQL 8.0.23 (the 8.0/8.4 manuals' "START REPLICA
    /// Statement"), MASTER_LOG_FILE before it and on MariaDB (whose UNTIL master_gtid_pos
    /// refuses a replica not using GTID: ERROR 1949).
    #[test]
    fn holding_a_replica_at_binlog_coordinates_follows_the_version() {
        let until = |d: Dialect| d.start_replica_until_pos("binlog.000003", 157);
        assert_eq!(
            until(st(Flavor::MySql, (8, 4, 3))),
            "START REPLICA UNTIL SOURCE_LOG_FILE = 'binlog.000003', SOURCE_LOG_POS = 157"
        );
        assert_eq!(
            until(st(Flavor::MySql, (8, 0, 23))),
            "START REPLICA UNTIL SOURCE_LOG_FILE = 'binlog.000003', SOURCE_LOG_POS = 157"
        );
        assert_eq!(
            until(st(Flavor::MySql, (8, 0, 22))),
            "START REPLICA UNTIL MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157"
        );
        assert_eq!(
            until(st(Flavor::MySql, (5, 7, 44))),
            "START SLAVE UNTIL MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157"
        );
        assert_eq!(
            until(st(Flavor::MariaDb, (10, 11, 6))),
            "START SLAVE UNTIL MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157"
        );
    }

    #[test]
    fn old_mysql_8_0_keeps_master_keywords() {
        let s = st(Flavor::MySql, (8, 0, 20));
        assert_eq!(s.stop_replica(), "STOP SLAVE");
        assert!(
            s.change_source(&Addr::new("h", 1), "u", None, &Position::AutoPosition, false)
                .ends_with("MASTER_AUTO_POSITION=1")
        );
        assert_eq!(s.wait_for_pos("f", 1, 1.0), "SELECT MASTER_POS_WAIT('f', 1, 1.000)");
    }

    #[test]
    fn description_never_carries_the_password() {
        let s = st(Flavor::MariaDb, (10, 11, 6));
        let d = s.describe_change_source(&Addr::new("db2", 3306), "repl", &Position::SlavePos);
        assert_eq!(d, "replicate from db2:3306 as repl (gtid slave_pos)");
        assert!(s.wait_succeeded(true, Some(0)) && !s.wait_succeeded(true, Some(-1)) && !s.wait_succeeded(false, None));
    }
    /// One row per server release whose syntax differs, with what its manual says:
    /// MySQL 8.0.22 (STOP/START/RESET REPLICA, SHOW REPLICA STATUS), 8.0.23 (CHANGE
    /// REPLICATION SOURCE TO), 8.0.26 (SOURCE_POS_WAIT), 8.4 (old spellings removed);
    /// MariaDB keeps SLAVE/MASTER throughout and has no super_read_only.
    #[test]
    fn every_statement_follows_the_release_that_changed_it() {
        struct Case {
            version: &'static str,
            stop: &'static str,
            reset: &'static str,
            change: &'static str,
            pos_wait: &'static str,
            status: &'static str,
            until: &'static str,
        }
        let cases = [
            Case {
                version: "5.7.44-log",
                stop: "STOP SLAVE",
                reset: "RESET SLAVE ALL",
                change: "CHANGE MASTER TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW SLAVE STATUS",
                until: "START SLAVE UNTIL SQL_AFTER_GTIDS",
            },
            Case {
                version: "8.0.21",
                stop: "STOP SLAVE",
                reset: "RESET SLAVE ALL",
                change: "CHANGE MASTER TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW SLAVE STATUS",
                until: "START SLAVE UNTIL SQL_AFTER_GTIDS",
            },
            Case {
                version: "8.0.22",
                stop: "STOP REPLICA",
                reset: "RESET REPLICA ALL",
                change: "CHANGE MASTER TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW REPLICA STATUS",
                until: "START REPLICA UNTIL SQL_AFTER_GTIDS",
            },
            Case {
                version: "8.0.23",
                stop: "STOP REPLICA",
                reset: "RESET REPLICA ALL",
                change: "CHANGE REPLICATION SOURCE TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW REPLICA STATUS",
                until: "START REPLICA UNTIL SQL_AFTER_GTIDS",
            },
            Case {
                version: "8.4.3",
                stop: "STOP REPLICA",
                reset: "RESET REPLICA ALL",
                change: "CHANGE REPLICATION SOURCE TO",
                pos_wait: "SOURCE_POS_WAIT",
                status: "SHOW REPLICA STATUS",
                until: "START REPLICA UNTIL SQL_AFTER_GTIDS",
            },
            Case {
                version: "10.5.2-MariaDB",
                stop: "STOP SLAVE",
                reset: "RESET SLAVE ALL",
                change: "CHANGE MASTER TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW SLAVE STATUS",
                until: "START SLAVE UNTIL master_gtid_pos",
            },
            Case {
                version: "11.4.2-MariaDB-log",
                stop: "STOP SLAVE",
                reset: "RESET SLAVE ALL",
                change: "CHANGE MASTER TO",
                pos_wait: "MASTER_POS_WAIT",
                status: "SHOW SLAVE STATUS",
                until: "START SLAVE UNTIL master_gtid_pos",
            },
        ];
        for c in cases {
            let Some(d) = Dialect::detect(c.version, "") else { panic!("{} not detected", c.version) };
            assert_eq!(d.stop_replica(), c.stop, "{}", c.version);
            assert_eq!(d.start_replica(), c.stop.replace("STOP", "START"), "{}", c.version);
            assert_eq!(d.reset_replica_all(), c.reset, "{}", c.version);
            assert_eq!(d.stop_io_thread(), format!("{} IO_THREAD", c.stop), "{}", c.version);
            assert_eq!(d.start_io_thread(), format!("{} IO_THREAD", c.stop.replace("STOP", "START")), "{}", c.version);
            assert_eq!(
                d.start_sql_thread(),
                format!("{} SQL_THREAD", c.stop.replace("STOP", "START")),
                "{}",
                c.version
            );
            let change = d.change_source(&Addr::new("h", 1), "u", None, &d.gtid_positioning(), false);
            assert!(change.starts_with(c.change), "{}: {change}", c.version);
            assert!(d.wait_for_pos("f", 4, 1.0).starts_with(&format!("SELECT {}(", c.pos_wait)), "{}", c.version);
            assert_eq!(d.single_replica_status_sql(), c.status, "{}", c.version);
            assert!(d.start_replica_until_gtid("x").starts_with(c.until), "{}", c.version);
        }
    }

    #[test]
    fn gtid_positioning_and_read_only_bypass_per_flavour() {
        let maria = st(Flavor::MariaDb, (10, 11, 6));
        assert_eq!(maria.gtid_positioning(), Position::SlavePos);
        assert_eq!(maria.former_master_gtid_positioning(), Position::CurrentPos);
        assert_eq!(maria.read_only_bypass_privileges(), &["READ_ONLY ADMIN"]);
        assert_eq!(st(Flavor::MariaDb, (10, 6, 16)).read_only_bypass_privileges(), &["SUPER"]);
        assert_eq!(maria.gtid_position_sql(), "SELECT @@GLOBAL.gtid_binlog_pos");
        let mysql = st(Flavor::MySql, (8, 0, 36));
        assert_eq!(mysql.gtid_positioning(), Position::AutoPosition);
        assert_eq!(mysql.former_master_gtid_positioning(), Position::AutoPosition);
        assert!(mysql.read_only_bypass_privileges().is_empty());
        assert_eq!(mysql.gtid_position_sql(), "SELECT @@GLOBAL.gtid_executed");
        assert_eq!(maria.start_replica_until_gtid("1-1-5,2-2-7"), "START SLAVE UNTIL master_gtid_pos = '1-1-5,2-2-7'");
    }

    #[test]
    fn semi_sync_takeover_switches_the_source_side_on_where_the_shard_ran_it() {
        let vars = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let maria = Dialect { flavor: Flavor::MariaDb, version: Version::new(10, 11, 6) };
        // A MariaDB replica of a semi-sync master: replica side on, source side off.
        let replica = vars(&[
            ("rpl_semi_sync_master_enabled", "OFF"),
            ("rpl_semi_sync_master_timeout", "10000"),
            ("rpl_semi_sync_master_wait_point", "AFTER_COMMIT"),
            ("rpl_semi_sync_slave_enabled", "ON"),
        ]);
        let (on, undo) = maria.semi_sync_takeover(&replica, false).expect("a semi-sync replica");
        assert_eq!(
            on,
            "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC', GLOBAL rpl_semi_sync_master_enabled = ON"
        );
        assert_eq!(
            undo,
            "SET GLOBAL rpl_semi_sync_master_enabled = OFF, GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_COMMIT'"
        );
        // Not a semi-sync shard: nothing, unless the old master is known to have run it.
        let plain = vars(&[("rpl_semi_sync_master_enabled", "OFF"), ("rpl_semi_sync_slave_enabled", "OFF")]);
        assert_eq!(maria.semi_sync_takeover(&plain, false), None);
        assert_eq!(
            maria.semi_sync_takeover(&plain, true).map(|t| t.0).as_deref(),
            Some("SET GLOBAL rpl_semi_sync_master_enabled = ON")
        );
        // Already on and lossless: nothing.
        let on = vars(&[
            ("rpl_semi_sync_master_enabled", "ON"),
            ("rpl_semi_sync_master_wait_point", "AFTER_SYNC"),
            ("rpl_semi_sync_slave_enabled", "ON"),
        ]);
        assert_eq!(maria.semi_sync_takeover(&on, true), None);
        // MySQL 8.4 with the source/replica plugins (SHOW GLOBAL VARIABLES names from its manual).
        let mysql = Dialect { flavor: Flavor::MySql, version: Version::new(8, 4, 0) };
        let replica84 = vars(&[
            ("rpl_semi_sync_replica_enabled", "ON"),
            ("rpl_semi_sync_source_enabled", "OFF"),
            ("rpl_semi_sync_source_timeout", "10000"),
            ("rpl_semi_sync_source_wait_point", "AFTER_SYNC"),
        ]);
        assert_eq!(
            mysql.semi_sync_takeover(&replica84, false).map(|t| t.0).as_deref(),
            Some("SET GLOBAL rpl_semi_sync_source_wait_point = 'AFTER_SYNC', GLOBAL rpl_semi_sync_source_enabled = ON")
        );
        // Only the replica plugin loaded: no source side to switch on.
        assert_eq!(mysql.semi_sync_takeover(&vars(&[("rpl_semi_sync_replica_enabled", "ON")]), true), None);
    }
}
