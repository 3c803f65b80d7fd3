//! Every statement shardtop sends, per flavour and version: the probe's reads
//! (here) and the replication statements of actions (`replication`). MySQL
//! 8.0.22/8.0.23/8.4 renamed and then removed the SLAVE/MASTER spellings;
//! MariaDB kept them. Nothing outside `mysql` tests a flavour string or spells
//! a replication statement.

use std::fmt;

use super::version::{Flavor, Version};

/// Learns the dialect right after connecting; the only extra round trip a connection costs.
/// The user-level lock every shardtop action that changes a server holds on it for the length of
/// its run (`actions::beacon`), and the probe reads back with `IS_USED_LOCK` (the variables select):
/// how a shardtop watching a shard knows another one is changing it.
pub const ACTION_LOCK: &str = "shardtop.action";

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

/// Semi-synchronous replication, as data: each figure under every name a server gives it, the
/// old name first. MariaDB (where it is built in) and MySQL's `rpl_semi_sync_master`/`_slave`
/// plugins say master/slave; MySQL 8.0.26+'s `rpl_semi_sync_source`/`_replica` plugins say
/// source/replica, and either pair may be the one loaded. Without the plugin a server has none of
/// them, and `SHOW … WHERE Variable_name IN (…)` simply returns fewer rows.
pub mod semi_sync {
    /// `SHOW GLOBAL STATUS`: ON while the master waits for acknowledgements; OFF when not enabled
    /// or after it fell back to asynchronous replication (an acknowledgement timed out).
    pub const MASTER_STATUS: &[&str] = &["Rpl_semi_sync_master_status", "Rpl_semi_sync_source_status"];
    /// Semi-synchronous replicas connected.
    pub const MASTER_CLIENTS: &[&str] = &["Rpl_semi_sync_master_clients", "Rpl_semi_sync_source_clients"];
    /// Commits no replica acknowledged in time.
    pub const MASTER_NO_TX: &[&str] = &["Rpl_semi_sync_master_no_tx", "Rpl_semi_sync_source_no_tx"];
    /// ON while the replica's IO thread runs with semi-sync enabled.
    pub const SLAVE_STATUS: &[&str] = &["Rpl_semi_sync_slave_status", "Rpl_semi_sync_replica_status"];
    /// `SHOW GLOBAL VARIABLES`: whether the master side is switched on.
    pub const MASTER_ENABLED: &[&str] = &["rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"];
    /// `AFTER_SYNC` (lossless: acknowledged before the commit is visible) or `AFTER_COMMIT`.
    pub const MASTER_WAIT_POINT: &[&str] = &["rpl_semi_sync_master_wait_point", "rpl_semi_sync_source_wait_point"];
    /// Milliseconds a commit waits for an acknowledgement before falling back to async.
    pub const MASTER_TIMEOUT: &[&str] = &["rpl_semi_sync_master_timeout", "rpl_semi_sync_source_timeout"];
    /// Whether the replica side is switched on.
    pub const SLAVE_ENABLED: &[&str] = &["rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"];

    pub const STATUS: &[&[&str]] = &[MASTER_STATUS, MASTER_CLIENTS, MASTER_NO_TX, SLAVE_STATUS];
    pub const VARIABLES: &[&[&str]] = &[MASTER_ENABLED, MASTER_WAIT_POINT, MASTER_TIMEOUT, SLAVE_ENABLED];
}

/// The statements of one probe, in the order they are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    Variables,
    GlobalStatus,
    ReplicaStatus,
    BinlogStatus,
    /// The semi-sync settings (`SHOW GLOBAL VARIABLES`: plugin variables may be absent, which a
    /// `SELECT @@…` would turn into an error that ends the batch).
    SemiSyncVariables,
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
const MYSQL_SEMI_SYNC_SOURCE: Version = Version::new(8, 0, 26); // rpl_semi_sync_source plugin
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
    // Who holds shardtop's action lock here (NULL: nobody); needs no privilege.
    Var { alias: "action_lock", expr: "IS_USED_LOCK('shardtop.action')", applies: any },
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
            Query::GlobalStatus => self.global_status_sql(),
            Query::ReplicaStatus => self.replica_status_sql().to_string(),
            Query::BinlogStatus => self.binlog_status_sql().to_string(),
            Query::SemiSyncVariables => self.semi_sync_variables_sql(),
        }
    }

    /// The names this server may give the semi-sync figures: the old ones, and on MySQL 8.0.26+
    /// the new ones too (which plugin pair is loaded is the DBA's choice).
    pub fn semi_sync_names(&self, figures: &[&[&'static str]]) -> Vec<&'static str> {
        let both = self.flavor == Flavor::MySql && self.version >= MYSQL_SEMI_SYNC_SOURCE;
        figures.iter().flat_map(|names| names.iter().take(if both { 2 } else { 1 })).copied().collect()
    }

    /// The counters (`STATUS_COUNTERS`) and the semi-sync status, in one statement.
    pub fn global_status_sql(&self) -> String {
        let names = STATUS_COUNTERS.iter().copied().chain(self.semi_sync_names(semi_sync::STATUS));
        format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({})", quoted(names))
    }

    /// The semi-sync settings; no rows where the plugin is not loaded.
    pub fn semi_sync_variables_sql(&self) -> String {
        format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})", quoted(self.semi_sync_names(semi_sync::VARIABLES)))
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
            (Query::Variables | Query::GlobalStatus | Query::SemiSyncVariables, _) => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flavor.name(), self.version)
    }
}

/// `'a', 'b', …` (the names are constants of this module: nothing to escape).
fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
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
        // The counters end, then the semi-sync status follows.
        assert!(sql.contains("'Threads_connected', 'Rpl_semi_sync_master_status', "), "{sql}");
    }

    #[test]
    fn semi_sync_names_follow_the_plugins_of_each_version() {
        let maria = dialect("10.11.6-MariaDB", "");
        assert_eq!(
            maria.sql(Query::GlobalStatus),
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Questions', 'Com_select', 'Com_insert', \
             'Com_update', 'Com_delete', 'Com_replace', 'Threads_running', 'Threads_connected', \
             'Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_no_tx', \
             'Rpl_semi_sync_slave_status')"
        );
        assert_eq!(
            maria.sql(Query::SemiSyncVariables),
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('rpl_semi_sync_master_enabled', \
             'rpl_semi_sync_master_wait_point', 'rpl_semi_sync_master_timeout', 'rpl_semi_sync_slave_enabled')"
        );
        // Before 8.0.26 only the master/slave plugins exist; from then on either pair may be loaded.
        assert_eq!(dialect("8.0.25", "").sql(Query::SemiSyncVariables), maria.sql(Query::SemiSyncVariables));
        let new = dialect("8.4.3", "").sql(Query::SemiSyncVariables);
        for name in
            ["'rpl_semi_sync_master_enabled'", "'rpl_semi_sync_source_enabled'", "'rpl_semi_sync_replica_enabled'"]
        {
            assert!(new.contains(name), "{new}");
        }
        let status = dialect("8.4.3", "").sql(Query::GlobalStatus);
        assert!(status.ends_with("'Rpl_semi_sync_slave_status', 'Rpl_semi_sync_replica_status')"), "{status}");
        assert_eq!(dialect("8.4.3", "").privilege_needed(Query::SemiSyncVariables), None);
    }
}
