//! What one probe of one server observed. Produced by `probe` (real servers)
//! and `sim` (the demo fleet); consumed by the fleet model and health rules.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::mysql::Addr;
pub use crate::mysql::Flavor;

/// State of the replication IO thread (`Slave_IO_Running` / `Replica_IO_Running`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoState {
    Running,
    /// `Connecting`: the thread runs but has no link to the source.
    Connecting,
    Stopped,
}

/// How a replica positions itself on its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GtidMode {
    /// file:position coordinates.
    No,
    /// MariaDB `MASTER_USE_GTID=slave_pos`.
    SlavePos,
    /// MariaDB `MASTER_USE_GTID=current_pos`.
    CurrentPos,
    /// MySQL `SOURCE_AUTO_POSITION=1`.
    AutoPosition,
}

/// One replication channel of a replica, whatever the server calls its columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// MariaDB `Connection_name` / MySQL `Channel_Name`; empty for the default channel.
    pub channel: String,
    pub source: Addr,
    pub source_server_id: Option<u32>,
    pub io_state: IoState,
    pub sql_running: bool,
    /// `Seconds_Behind_Master`: `None` when the server reports NULL (SQL thread
    /// stopped, or IO thread not connected). Never coerced to 0.
    pub seconds_behind: Option<u64>,
    pub last_io_errno: u32,
    pub last_io_error: String,
    pub last_sql_errno: u32,
    pub last_sql_error: String,
    /// Source binlog the IO thread reads and the position read up to.
    pub source_log_file: String,
    pub read_source_log_pos: u64,
    /// Source binlog the SQL thread executes and the position executed up to.
    pub relay_source_log_file: String,
    pub exec_source_log_pos: u64,
    pub gtid_mode: GtidMode,
    /// MySQL `Retrieved_Gtid_Set` / `Executed_Gtid_Set`; MariaDB `Gtid_IO_Pos`
    /// in `retrieved_gtid_set`. Empty when not reported.
    pub retrieved_gtid_set: String,
    pub executed_gtid_set: String,
    pub sql_delay: u64,
}

impl ReplicationStatus {
    /// The error that best explains a broken link: the SQL error if any, else the IO error.
    pub fn last_error(&self) -> Option<(u32, &str)> {
        if self.last_sql_errno != 0 || !self.last_sql_error.is_empty() {
            Some((self.last_sql_errno, &self.last_sql_error))
        } else if self.last_io_errno != 0 || !self.last_io_error.is_empty() {
            Some((self.last_io_errno, &self.last_io_error))
        } else {
            None
        }
    }
}

/// GTID positions as the server reports them (raw, for display; parse with `probe::gtid`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GtidState {
    /// MariaDB `@@gtid_binlog_pos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binlog_pos: Option<String>,
    /// MariaDB `@@gtid_current_pos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_pos: Option<String>,
    /// MariaDB `@@gtid_slave_pos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slave_pos: Option<String>,
    /// MySQL `@@gtid_executed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed: Option<String>,
}

impl GtidState {
    /// The one position an operator wants to see: what this server has applied.
    pub fn display(&self) -> &str {
        self.executed.as_deref().or(self.current_pos.as_deref()).or(self.binlog_pos.as_deref()).unwrap_or("")
    }
}

/// Selected global status counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub uptime: u64,
    pub questions: u64,
    pub com_select: u64,
    pub com_insert: u64,
    pub com_update: u64,
    pub com_delete: u64,
    pub com_replace: u64,
    pub threads_running: u64,
    pub threads_connected: u64,
}

/// Everything one successful probe learned about one server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub flavor: Flavor,
    pub version: String,
    pub server_id: u32,
    pub server_uuid: Option<String>,
    pub read_only: bool,
    /// MySQL only; `None` on MariaDB, which has no such variable.
    pub super_read_only: Option<bool>,
    pub log_bin: bool,
    pub log_slave_updates: bool,
    pub binlog_format: String,
    pub gtid: GtidState,
    /// `SHOW MASTER STATUS` / `SHOW BINARY LOG STATUS`: current binlog file and position.
    pub binlog_file: Option<String>,
    pub binlog_pos: Option<u64>,
    pub replication: Vec<ReplicationStatus>,
    pub counters: Counters,
    /// Lag measured from the heartbeat table, in seconds, when configured and readable.
    pub heartbeat_lag: Option<f64>,
    /// Why the heartbeat could not be read, when configured but unreadable.
    pub heartbeat_error: Option<String>,
    /// What the topology rules and discovery need beyond the status.
    pub topo: TopologyFacts,
    /// Semi-synchronous replication; `None` when the server reports none of it (no plugin loaded).
    pub semi_sync: Option<SemiSync>,
}

/// Semi-synchronous replication as one server reports it. Each side is `None` when the server
/// has no plugin for it (MySQL loads the source and replica plugins separately; MariaDB has both
/// built in).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemiSync {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<SemiSyncMaster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<SemiSyncReplica>,
}

/// The master (source) side of semi-sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemiSyncMaster {
    /// `rpl_semi_sync_master_enabled` / `rpl_semi_sync_source_enabled`: configured to wait.
    pub enabled: bool,
    /// `Rpl_semi_sync_master_status` / `_source_status`: waiting for acknowledgements right now.
    /// Enabled but not active: it fell back to asynchronous replication.
    pub active: bool,
    /// `Rpl_semi_sync_master_clients`: semi-synchronous replicas connected.
    pub clients: u32,
    /// `Rpl_semi_sync_master_no_tx`: commits no replica acknowledged (since start or FLUSH STATUS).
    pub no_tx: u64,
    /// `rpl_semi_sync_master_wait_point`; `None` when not reported or not a known point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_point: Option<WaitPoint>,
    /// `rpl_semi_sync_master_timeout`: how long a commit waits before falling back, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl SemiSyncMaster {
    /// Enabled, yet not waiting for acknowledgements: an acknowledgement timed out (or no replica
    /// acknowledges), and commits return before any replica has them.
    pub fn fell_back(&self) -> bool {
        self.enabled && !self.active
    }

    /// Every acknowledged commit is on a replica too: active, waiting before the commit is
    /// visible (`AFTER_SYNC`), and a replica there to acknowledge.
    pub fn protects_acknowledged_writes(&self) -> bool {
        self.enabled && self.active && self.wait_point == Some(WaitPoint::AfterSync) && self.clients > 0
    }
}

/// The replica side of semi-sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemiSyncReplica {
    /// `rpl_semi_sync_slave_enabled` / `rpl_semi_sync_replica_enabled`.
    pub enabled: bool,
    /// `Rpl_semi_sync_slave_status` / `_replica_status`: acknowledging right now (IO thread running).
    pub active: bool,
}

/// When a semi-sync master waits for the acknowledgement (`rpl_semi_sync_master_wait_point`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitPoint {
    /// Before committing to the storage engine: no client sees a write a replica lacks (lossless).
    AfterSync,
    /// After committing: other clients may see a write that is then lost with the master.
    AfterCommit,
}

impl WaitPoint {
    pub fn label(self) -> &'static str {
        match self {
            WaitPoint::AfterSync => "AFTER_SYNC",
            WaitPoint::AfterCommit => "AFTER_COMMIT",
        }
    }
}

/// Facts about a server's place in the replication topology.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopologyFacts {
    /// MariaDB `@@gtid_binlog_state`: the last GTID per (domain, server_id)
    /// pair in the binlog, which keeps a replica's local writes visible after
    /// the source's newer events pass them. Errant transactions are read from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid_binlog_state: Option<String>,
    /// Replication filters set on any channel, as `Column=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Set only by the probes that also ran discovery (a slower cadence);
    /// the fleet model keeps the last one.
    /// Recorded (`record`) so a replay discovers what the live session did; never in snapshots,
    /// which do not serialise statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// The connection id holding `GET_LOCK('shardtop.action')` on this server: a shardtop action
    /// (of any process, on any host) is changing it, so its shard's transient findings are held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_lock: Option<u64>,
}

/// Who replicates from this server, as the server itself sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// `SHOW REPLICA HOSTS` rows; `None` when the account may not run it
    /// (REPLICATION MASTER ADMIN on MariaDB, REPLICATION SLAVE on MySQL).
    /// Only replicas with `report_host` set appear there.
    pub replica_hosts: Option<Vec<ReplicaHost>>,
    /// Client host of each Binlog Dump thread (one per connected replica):
    /// a host without its server port, since the processlist shows the
    /// replica's outgoing port.
    pub dump_hosts: Vec<String>,
}

/// One row of `SHOW REPLICA HOSTS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaHost {
    pub server_id: u32,
    /// `report_host:report_port`; `None` when the replica reports no host.
    pub addr: Option<Addr>,
}

impl InstanceStatus {
    /// The default (or only) replication channel.
    pub fn primary_link(&self) -> Option<&ReplicationStatus> {
        self.replication.iter().find(|r| r.channel.is_empty()).or_else(|| self.replication.first())
    }

    pub fn writable(&self) -> bool {
        !self.read_only
    }
}

/// Why a probe failed. The kind drives the display; the message is for humans
/// and never contains a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeErrorKind {
    /// No answer within the per-server timeout (hung, overloaded, SIGSTOPped).
    Timeout,
    /// The connection was refused or reset: nothing listening.
    Refused,
    /// The server rejected our credentials.
    Auth,
    /// Connected, but a query failed (missing privilege, unexpected output).
    Query,
    /// The server answered but would not take the connection: too many connections, or this
    /// host blocked. Up and talking, so no step toward "dead".
    Busy,
    Other,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeError {
    pub kind: ProbeErrorKind,
    pub message: String,
}

impl ProbeError {
    /// The server did not answer at all (no connection, or no reply in time): what counts toward
    /// calling it dead. A refused login or a failed query means the server is up and talking.
    pub fn unreachable(&self) -> bool {
        matches!(self.kind, ProbeErrorKind::Timeout | ProbeErrorKind::Refused | ProbeErrorKind::Other)
    }
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of probing one server once.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// When the probe finished (wall clock, for display and JSON).
    pub at: DateTime<Utc>,
    /// How long the probe took.
    pub elapsed: Duration,
    pub result: Result<InstanceStatus, ProbeError>,
}
