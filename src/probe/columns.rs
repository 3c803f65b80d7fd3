//! What each server calls a column, as data: MariaDB and MySQL 5.7/8.0/8.4 name
//! the same replication fields differently. The statements themselves are in
//! `crate::mysql::dialect`.

use std::fmt;

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

// `SHOW BINARY LOG STATUS` / `SHOW BINLOG STATUS` / `SHOW MASTER STATUS`.
pub const BINLOG_FILE: Col = Col(&["File"]);
pub const BINLOG_POSITION: Col = Col(&["Position"]);

// `SHOW GLOBAL STATUS`.
pub const STATUS_NAME: Col = Col(&["Variable_name"]);
pub const STATUS_VALUE: Col = Col(&["Value"]);
