//! Every statement shardtop sends, per flavour and version: the probe's reads
//! (here) and the replication statements of actions (`replication`). MySQL
//! 8.0.22/8.0.23/8.4 renamed and then removed the SLAVE/MASTER spellings;
//! MariaDB kept them. Nothing outside `mysql` tests a flavour string or spells
//! a replication statement.

use std::fmt;

use super::version::{Flavor, Version};

/// Learns the dialect right after connecting; the only extra round trip a connection costs.
pub const DETECT_SQL: &str = "SELECT @@version, @@version_comment";

/// The client host of every Binlog Dump thread (`Binlog Dump`, `Binlog Dump GTID`):
/// one per connected replica, readable with PROCESS on every flavour.
pub const DUMP_THREADS_SQL: &str = "SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'";

/// The global status counters a probe reads (see `parse::parse_counters`).
pub const STATUS_COUNTERS: &[&str] = &[
    "Uptime",
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_replace",
    "Threads_running",
    "Threads_connected",
];

/// The statements of one probe, in the order they are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    Variables,
    GlobalStatus,
    ReplicaStatus,
    BinlogStatus,
}

/// What a server speaks: flavour and version decide statement names and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    pub flavor: Flavor,
    pub version: Version,
}

// Version boundaries, named after what changed there.
const MARIADB_REPLICA_KEYWORD: Version = Version::new(10, 5, 1); // SHOW ALL REPLICAS STATUS
const MARIADB_BINLOG_STATUS: Version = Version::new(10, 5, 2); // SHOW BINLOG STATUS, BINLOG MONITOR
const MARIADB_SLAVE_MONITOR: Version = Version::new(10, 5, 9); // SLAVE MONITOR privilege
const MYSQL_REPLICA_KEYWORD: Version = Version::new(8, 0, 22); // SHOW REPLICA STATUS, Source_* columns
const MYSQL_LOG_REPLICA_UPDATES: Version = Version::new(8, 0, 26); // log_replica_updates
const MYSQL_BINARY_LOG_STATUS: Version = Version::new(8, 2, 0); // SHOW BINARY LOG STATUS

/// One `@@variable` read by the probe: the alias it is read back under, the
/// expression, and which dialects have it (MariaDB rejects unknown variables,
/// so every select is built per dialect).
struct Var {
    alias: &'static str,
    expr: &'static str,
    applies: fn(&Dialect) -> bool,
}

fn any(_: &Dialect) -> bool {
    true
}
fn mariadb(d: &Dialect) -> bool {
    d.flavor == Flavor::MariaDb
}
fn mysql(d: &Dialect) -> bool {
    d.flavor == Flavor::MySql
}
fn old_log_slave_updates(d: &Dialect) -> bool {
    mariadb(d) || d.version < MYSQL_LOG_REPLICA_UPDATES
}
fn new_log_replica_updates(d: &Dialect) -> bool {
    mysql(d) && d.version >= MYSQL_LOG_REPLICA_UPDATES
}

const VARIABLES: &[Var] = &[
    Var { alias: "version", expr: "@@global.version", applies: any },
    Var { alias: "version_comment", expr: "@@global.version_comment", applies: any },
    Var { alias: "server_id", expr: "@@global.server_id", applies: any },
    Var { alias: "read_only", expr: "@@global.read_only", applies: any },
    Var { alias: "log_bin", expr: "@@global.log_bin", applies: any },
    Var { alias: "log_slave_updates", expr: "@@global.log_slave_updates", applies: old_log_slave_updates },
    Var { alias: "log_slave_updates", expr: "@@global.log_replica_updates", applies: new_log_replica_updates },
    Var { alias: "binlog_format", expr: "@@global.binlog_format", applies: any },
    Var { alias: "gtid_binlog_pos", expr: "@@global.gtid_binlog_pos", applies: mariadb },
    Var { alias: "gtid_current_pos", expr: "@@global.gtid_current_pos", applies: mariadb },
    Var { alias: "gtid_slave_pos", expr: "@@global.gtid_slave_pos", applies: mariadb },
    Var { alias: "gtid_binlog_state", expr: "@@global.gtid_binlog_state", applies: mariadb },
    Var { alias: "server_uuid", expr: "@@global.server_uuid", applies: mysql },
    Var { alias: "super_read_only", expr: "@@global.super_read_only", applies: mysql },
    Var { alias: "gtid_executed", expr: "@@global.gtid_executed", applies: mysql },
    Var { alias: "gtid_mode", expr: "@@global.gtid_mode", applies: mysql },
];

impl Dialect {
    /// Chooses the dialect from `@@version` and `@@version_comment`. MariaDB
    /// says so in its version (`10.11.6-MariaDB-…`), or at least in the comment
    /// (`mariadb.org binary distribution`); anything else speaks MySQL (Percona
    /// Server included). `None` when the version has no leading number.
    pub fn detect(version: &str, version_comment: &str) -> Option<Dialect> {
        let is_mariadb = version.to_ascii_lowercase().contains("mariadb")
            || version_comment.to_ascii_lowercase().contains("mariadb");
        // Old MariaDB replication handshakes prefix "5.5.5-"; never in @@version, but cheap to allow.
        let version = match version.strip_prefix("5.5.5-") {
            Some(rest) if is_mariadb => rest,
            _ => version,
        };
        let flavor = if is_mariadb { Flavor::MariaDb } else { Flavor::MySql };
        Some(Dialect { flavor, version: Version::parse(version)? })
    }

    pub fn sql(&self, query: Query) -> String {
        match query {
            Query::Variables => self.variables_sql(),
            Query::GlobalStatus => global_status_sql(),
            Query::ReplicaStatus => self.replica_status_sql().to_string(),
            Query::BinlogStatus => self.binlog_status_sql().to_string(),
        }
    }

    /// All replication channels, one row each.
    pub fn replica_status_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb if self.version >= MARIADB_REPLICA_KEYWORD => "SHOW ALL REPLICAS STATUS",
            Flavor::MariaDb => "SHOW ALL SLAVES STATUS",
            // MySQL shows every channel without FOR CHANNEL.
            Flavor::MySql if self.version >= MYSQL_REPLICA_KEYWORD => "SHOW REPLICA STATUS",
            Flavor::MySql => "SHOW SLAVE STATUS",
        }
    }

    /// The replicas registered with this server (needs REPLICATION MASTER
    /// ADMIN on MariaDB 10.5.2+, REPLICATION SLAVE on MySQL).
    pub fn replica_hosts_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb if self.version >= MARIADB_REPLICA_KEYWORD => "SHOW REPLICA HOSTS",
            Flavor::MySql if self.version >= MYSQL_REPLICA_KEYWORD => "SHOW REPLICAS",
            _ => "SHOW SLAVE HOSTS",
        }
    }

    /// The current binlog file and position (empty when binary logging is off).
    pub fn binlog_status_sql(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb if self.version >= MARIADB_BINLOG_STATUS => "SHOW BINLOG STATUS",
            Flavor::MySql if self.version >= MYSQL_BINARY_LOG_STATUS => "SHOW BINARY LOG STATUS",
            _ => "SHOW MASTER STATUS",
        }
    }

    /// One row of every variable this dialect has, each under a stable alias.
    pub fn variables_sql(&self) -> String {
        let columns: Vec<String> =
            VARIABLES.iter().filter(|v| (v.applies)(self)).map(|v| format!("{} AS {}", v.expr, v.alias)).collect();
        format!("SELECT {}", columns.join(", "))
    }

    /// The privilege a monitoring account lacks when `query` is denied, in the
    /// words of this server's `GRANT`.
    pub fn privilege_needed(&self, query: Query) -> Option<&'static str> {
        match (query, self.flavor) {
            (Query::ReplicaStatus, Flavor::MariaDb) if self.version >= MARIADB_SLAVE_MONITOR => {
                Some("SLAVE MONITOR (a.k.a. REPLICA MONITOR)")
            }
            (Query::ReplicaStatus, Flavor::MariaDb) if self.version >= MARIADB_BINLOG_STATUS => {
                Some("REPLICATION SLAVE ADMIN (SLAVE MONITOR from MariaDB 10.5.9)")
            }
            (Query::BinlogStatus, Flavor::MariaDb) if self.version >= MARIADB_BINLOG_STATUS => {
                Some("BINLOG MONITOR (granted by REPLICATION CLIENT)")
            }
            (Query::ReplicaStatus | Query::BinlogStatus, _) => Some("REPLICATION CLIENT"),
            (Query::Variables | Query::GlobalStatus, _) => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flavor.name(), self.version)
    }
}

fn global_status_sql() -> String {
    let names: Vec<String> = STATUS_COUNTERS.iter().map(|n| format!("'{n}'")).collect();
    format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({})", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(version: &str, comment: &str) -> Dialect {
        Dialect::detect(version, comment).unwrap()
    }

    #[test]
    fn detects_flavor_and_version() {
        let d = dialect("10.11.6-MariaDB-0+deb12u1-log", "Debian 12");
        assert_eq!((d.flavor, d.version), (Flavor::MariaDb, Version::new(10, 11, 6)));
        let d = dialect("10.6.16", "mariadb.org binary distribution");
        assert_eq!((d.flavor, d.version), (Flavor::MariaDb, Version::new(10, 6, 16)));
        let d = dialect("5.5.5-10.4.32-MariaDB", "");
        assert_eq!(d.version, Version::new(10, 4, 32));
        let d = dialect("8.0.36", "MySQL Community Server - GPL");
        assert_eq!((d.flavor, d.version), (Flavor::MySql, Version::new(8, 0, 36)));
        let d = dialect("8.4.3-commercial", "MySQL Enterprise Server - Commercial");
        assert_eq!(d.version, Version::new(8, 4, 3));
        let d = dialect("8.0.35-27", "Percona Server (GPL), Release 27");
        assert_eq!(d.flavor, Flavor::MySql);
        assert_eq!(Dialect::detect("", ""), None);
        assert_eq!(Dialect::detect("garbage", "MariaDB"), None);
        assert_eq!(Version::parse("9"), Some(Version::new(9, 0, 0)));
    }

    #[test]
    fn statements_follow_the_version() {
        let cases = [
            ("10.4.32-MariaDB", "SHOW ALL SLAVES STATUS", "SHOW MASTER STATUS"),
            ("10.5.1-MariaDB", "SHOW ALL REPLICAS STATUS", "SHOW MASTER STATUS"),
            ("10.11.6-MariaDB", "SHOW ALL REPLICAS STATUS", "SHOW BINLOG STATUS"),
            ("5.7.44", "SHOW SLAVE STATUS", "SHOW MASTER STATUS"),
            ("8.0.21", "SHOW SLAVE STATUS", "SHOW MASTER STATUS"),
            ("8.0.22", "SHOW REPLICA STATUS", "SHOW MASTER STATUS"),
            ("8.2.0", "SHOW REPLICA STATUS", "SHOW BINARY LOG STATUS"),
            ("8.4.3", "SHOW REPLICA STATUS", "SHOW BINARY LOG STATUS"),
        ];
        for (version, replica, binlog) in cases {
            let d = dialect(version, "");
            assert_eq!(d.replica_status_sql(), replica, "{version}");
            assert_eq!(d.binlog_status_sql(), binlog, "{version}");
        }
    }

    #[test]
    fn variables_are_selected_per_flavor() {
        let maria = dialect("10.11.6-MariaDB", "").variables_sql();
        assert!(maria.contains("@@global.gtid_slave_pos AS gtid_slave_pos"), "{maria}");
        assert!(maria.contains("@@global.log_slave_updates AS log_slave_updates"), "{maria}");
        for mysql_only in ["gtid_executed", "super_read_only", "server_uuid", "gtid_mode"] {
            assert!(!maria.contains(mysql_only), "{maria}");
        }

        let old = dialect("8.0.25", "").variables_sql();
        assert!(old.contains("@@global.log_slave_updates AS log_slave_updates"), "{old}");
        let new = dialect("8.4.3", "").variables_sql();
        assert!(new.contains("@@global.log_replica_updates AS log_slave_updates"), "{new}");
        assert!(new.contains("@@global.gtid_executed AS gtid_executed"), "{new}");
        assert!(!new.contains("gtid_slave_pos"), "{new}");
    }

    #[test]
    fn privilege_hints_name_this_servers_privilege() {
        let maria = dialect("10.11.6-MariaDB", "");
        assert_eq!(maria.privilege_needed(Query::ReplicaStatus), Some("SLAVE MONITOR (a.k.a. REPLICA MONITOR)"));
        let mysql = dialect("8.4.3", "");
        assert_eq!(mysql.privilege_needed(Query::BinlogStatus), Some("REPLICATION CLIENT"));
        assert_eq!(mysql.privilege_needed(Query::Variables), None);
    }

    #[test]
    fn global_status_lists_every_counter() {
        let sql = dialect("8.0.36", "").sql(Query::GlobalStatus);
        assert!(sql.starts_with("SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Questions'"), "{sql}");
        assert!(sql.ends_with("'Threads_connected')"), "{sql}");
    }
}
