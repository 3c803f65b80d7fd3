//! Ready-made statuses for unit tests.

use super::status::*;
use crate::mysql::Addr;

pub fn master_status() -> InstanceStatus {
    InstanceStatus {
        flavor: Flavor::MariaDb,
        version: "10.11.6-MariaDB".into(),
        server_id: 1,
        server_uuid: None,
        read_only: false,
        super_read_only: None,
        log_bin: true,
        log_slave_updates: true,
        binlog_format: "ROW".into(),
        gtid: GtidState {
            binlog_pos: Some("1-1-100".into()),
            current_pos: Some("1-1-100".into()),
            ..Default::default()
        },
        binlog_file: Some("mysql-bin.000001".into()),
        binlog_pos: Some(1234),
        replication: Vec::new(),
        counters: Counters::default(),
        heartbeat_lag: None,
        heartbeat_error: None,
        topo: TopologyFacts::default(),
        semi_sync: None,
    }
}

pub fn link(source: Addr, seconds_behind: Option<u64>) -> ReplicationStatus {
    ReplicationStatus {
        channel: String::new(),
        source,
        source_server_id: Some(1),
        io_state: IoState::Running,
        sql_running: true,
        seconds_behind,
        last_io_errno: 0,
        last_io_error: String::new(),
        last_sql_errno: 0,
        last_sql_error: String::new(),
        source_log_file: "mysql-bin.000001".into(),
        read_source_log_pos: 1234,
        relay_source_log_file: "mysql-bin.000001".into(),
        exec_source_log_pos: 1234,
        gtid_mode: GtidMode::SlavePos,
        retrieved_gtid_set: String::new(),
        executed_gtid_set: String::new(),
        sql_delay: 0,
    }
}

/// A read-only replica of `master:3306`.
pub fn replica_status(seconds_behind: Option<u64>) -> InstanceStatus {
    InstanceStatus {
        server_id: 2,
        read_only: true,
        replication: vec![link(Addr::new("master", 3306), seconds_behind)],
        ..master_status()
    }
}
