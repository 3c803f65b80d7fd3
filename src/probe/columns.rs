//! The flavour differences, as data: what each server calls a column, which
//! statements it understands, and which privilege each statement needs.
//! Everything that differs between MariaDB and MySQL 5.7/8.0/8.4 lives here.

use std::fmt;

use crate::fleet::status::Flavor;

/// One logical column and every name a server may give it (newest first).
/// Looked up by name, case-insensitively (MySQL 5.7 says `Channel_name`,
/// 8.0 `Channel_Name`), never by position: the order changes between versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Col(pub &'static [&'static str]);

impl Col {
    pub fn names(self) -> &'static [&'static str] {
        self.0
    }
}

impl fmt::Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

// `SHOW REPLICA STATUS` (MySQL 8.0.22+), `SHOW SLAVE STATUS` (MySQL before
// 8.0.22), `SHOW ALL SLAVES STATUS` (MariaDB, which keeps the old names).
pub const CHANNEL: Col = Col(&["Channel_Name", "Connection_name"]);
pub const SOURCE_HOST: Col = Col(&["Source_Host", "Master_Host"]);
pub const SOURCE_PORT: Col = Col(&["Source_Port", "Master_Port"]);
pub const SOURCE_SERVER_ID: Col = Col(&["Source_Server_Id", "Master_Server_Id"]);
pub const SOURCE_LOG_FILE: Col = Col(&["Source_Log_File", "Master_Log_File"]);
pub const READ_SOURCE_LOG_POS: Col = Col(&["Read_Source_Log_Pos", "Read_Master_Log_Pos"]);
pub const RELAY_SOURCE_LOG_FILE: Col = Col(&["Relay_Source_Log_File", "Relay_Master_Log_File"]);
pub const EXEC_SOURCE_LOG_POS: Col = Col(&["Exec_Source_Log_Pos", "Exec_Master_Log_Pos"]);
pub const IO_RUNNING: Col = Col(&["Replica_IO_Running", "Slave_IO_Running"]);
pub const SQL_RUNNING: Col = Col(&["Replica_SQL_Running", "Slave_SQL_Running"]);
pub const SECONDS_BEHIND: Col = Col(&["Seconds_Behind_Source", "Seconds_Behind_Master"]);
pub const LAST_IO_ERRNO: Col = Col(&["Last_IO_Errno"]);
pub const LAST_IO_ERROR: Col = Col(&["Last_IO_Error"]);
pub const LAST_SQL_ERRNO: Col = Col(&["Last_SQL_Errno"]);
pub const LAST_SQL_ERROR: Col = Col(&["Last_SQL_Error"]);
pub const SQL_DELAY: Col = Col(&["SQL_Delay"]);
/// MariaDB: `No`, `Slave_Pos`, `Current_Pos`.
pub const USING_GTID: Col = Col(&["Using_Gtid"]);
/// MySQL: `0` or `1`.
pub const AUTO_POSITION: Col = Col(&["Auto_Position"]);
/// MariaDB's `Gtid_IO_Pos` is what the IO thread has received, like MySQL's retrieved set.
pub const RETRIEVED_GTID_SET: Col = Col(&["Retrieved_Gtid_Set", "Gtid_IO_Pos"]);
/// Server-wide on both: MySQL repeats `gtid_executed`, MariaDB `gtid_slave_pos`, on every row.
pub const EXECUTED_GTID_SET: Col = Col(&["Executed_Gtid_Set", "Gtid_Slave_Pos"]);

/// Replication filters: any non-empty one on a replica is reported (same names on both flavours).
pub const REPLICATION_FILTERS: &[&str] = &[
    "Replicate_Do_DB",
    "Replicate_Ignore_DB",
    "Replicate_Do_Table",
    "Replicate_Ignore_Table",
    "Replicate_Wild_Do_Table",
    "Replicate_Wild_Ignore_Table",
    "Replicate_Rewrite_DB",
    "Replicate_Do_Domain_Ids",
    "Replicate_Ignore_Domain_Ids",
];

// `SHOW REPLICA HOSTS` / `SHOW REPLICAS` / `SHOW SLAVE HOSTS`.
pub const HOST_SERVER_ID: Col = Col(&["Server_id"]);
pub const HOST_NAME: Col = Col(&["Host"]);
pub const HOST_PORT: Col = Col(&["Port"]);

/// The client host of every Binlog Dump thread (`Binlog Dump`, `Binlog Dump GTID`):
/// one per connected replica, readable with PROCESS on every flavour.
pub const DUMP_THREADS_SQL: &str = "SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'";

// `SHOW BINARY LOG STATUS` / `SHOW BINLOG STATUS` / `SHOW MASTER STATUS`.
pub const BINLOG_FILE: Col = Col(&["File"]);
pub const BINLOG_POSITION: Col = Col(&["Position"]);

// `SHOW GLOBAL STATUS`.
pub const STATUS_NAME: Col = Col(&["Variable_name"]);
pub const STATUS_VALUE: Col = Col(&["Value"]);

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

/// Learns the dialect right after connecting; the only extra round trip a connection costs.
pub const DETECT_SQL: &str = "SELECT @@version, @@version_comment";

/// A server version, compared numerically (`10.11.6` > `10.5.2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Version { major, minor, patch }
    }

    /// Reads the leading `X.Y.Z` of a version string (`10.11.6-MariaDB-0+deb12u1-log`,
    /// `8.0.36`, `8.4.3-commercial`); a missing minor or patch counts as 0.
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.trim().splitn(4, '.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u16>().ok()
        });
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version { major, minor, patch })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

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
