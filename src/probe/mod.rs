//! Talking to one server: a persistent connection, one round trip per probe,
//! an `InstanceStatus` out. Statements and flavour differences live in
//! `crate::mysql`, column names in `columns`, output parsing in `parse`.
//!
//! A probe never takes longer than `ProbeOptions::timeout` (a few ms over at
//! most) and never panics: a hung server costs one timeout, its connection is
//! dropped without waiting for it, and the next probe reconnects.

pub mod columns;
pub(crate) mod errors;
pub mod feed;
pub mod grants;
pub mod heartbeat;
pub mod parse;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, SslOpts, Value};

use self::errors::{connect_error, connection_lost, probe_error, query_error};
use self::parse::{ParseError, RowMap};
use crate::fleet::status::{Discovery, InstanceStatus, ProbeError, ProbeErrorKind, Sample, TopologyFacts};
use crate::mysql::Addr;
use crate::mysql::dialect;
use crate::mysql::{Dialect, Query};
use crate::secret::Secret;

pub use self::heartbeat::{HeartbeatSpec, write_heartbeat};

/// How to reach the servers of a fleet; shared by all probers.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub user: String,
    pub password: Option<Secret>,
    pub tls: Tls,
    /// Per probe, covering connect, login and queries.
    pub timeout: Duration,
    pub heartbeat: Option<HeartbeatSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tls {
    #[default]
    Disabled,
    /// Encrypt, but accept any certificate (self-signed server certificates).
    Required,
    /// Encrypt and verify the certificate chain and host name, against `ca`
    /// and the built-in roots.
    VerifyIdentity { ca: Option<PathBuf> },
}

/// Reconnect backoff after consecutive connection failures: 0.5 s, 1 s, 2 s, … 30 s.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A server that just stopped answering is probed again this soon (not an interval later), so
/// a dead master is confirmed within an interval and a probe timeout of its death.
pub const CONFIRM_AFTER: Duration = Duration::from_millis(150);
/// Detects a silently vanished peer on an idle connection.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// Client-side limits, given so the driver skips its `SELECT @@max_allowed_packet,
/// @@wait_timeout` on connect (the server's settings are not changed).
const MAX_ALLOWED_PACKET: usize = 64 << 20;
const WAIT_TIMEOUT_SECS: usize = 28_800;
pub use crate::config::DEFAULT_DISCOVERY_INTERVAL;

/// Probes one server, keeping its connection between probes.
pub struct Prober {
    addr: Addr,
    opts: Arc<ProbeOptions>,
    conn_opts: Opts,
    conn: Option<Conn>,
    /// Learned right after connecting; `None` until then.
    plan: Option<Plan>,
    /// Consecutive probes that ended without a usable connection.
    failures: u32,
    discovery_interval: Duration,
    /// When discovery last succeeded; `None`: due at the next probe.
    last_discovery: Option<Instant>,
    /// `SHOW REPLICA HOSTS` was refused on this connection: not asked again until reconnect.
    replica_hosts_denied: bool,
}

/// Where a probe was when it ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connect,
    Detect,
    Queries,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting and logging in",
            Stage::Detect => "reading the server version",
            Stage::Queries => "waiting for the status queries",
        })
    }
}

/// A failed probe, and whether its connection is beyond use.
struct Failure {
    error: ProbeError,
    drop_connection: bool,
}

impl Failure {
    fn fatal(error: ProbeError) -> Self {
        Failure { error, drop_connection: true }
    }

    fn keep(error: ProbeError) -> Self {
        Failure { error, drop_connection: false }
    }

    fn from_query(err: &mysql_async::Error, statement: &str, privilege: Option<&str>) -> Self {
        Failure { error: query_error(err, statement, privilege), drop_connection: connection_lost(err) }
    }
}

impl Prober {
    pub fn new(addr: Addr, opts: Arc<ProbeOptions>) -> Self {
        let conn_opts = connection_opts(&addr, &opts);
        Prober {
            addr,
            opts,
            conn_opts,
            conn: None,
            plan: None,
            failures: 0,
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
            last_discovery: None,
            replica_hosts_denied: false,
        }
    }

    /// How often a probe also runs the discovery queries (processlist, replica hosts).
    pub fn set_discovery_interval(&mut self, every: Duration) {
        self.discovery_interval = every;
    }

    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The server's dialect, once a probe has connected.
    pub fn dialect(&self) -> Option<Dialect> {
        self.plan.as_ref().map(|p| p.dialect)
    }

    /// One probe: connect if needed, one round trip of status queries. Never
    /// panics, never takes longer than `opts.timeout` (+ a few ms).
    pub async fn probe(&mut self) -> Sample {
        let started = Instant::now();
        let mut stage = Stage::Connect;
        let timeout = self.opts.timeout;
        let outcome = match tokio::time::timeout(timeout, self.attempt_or_reconnect(&mut stage)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::fatal(probe_error(
                ProbeErrorKind::Timeout,
                format!("no answer within {} ({stage})", seconds(timeout)),
            ))),
        };
        let result = match outcome {
            Ok(status) => {
                self.failures = 0;
                Ok(status)
            }
            Err(failure) => {
                if failure.drop_connection {
                    self.drop_connection();
                    self.failures = self.failures.saturating_add(1);
                } else {
                    // The server answered: it is up, only this probe's output was unusable.
                    self.failures = 0;
                }
                Err(self.scrub(failure.error))
            }
        };
        Sample { at: Utc::now(), elapsed: started.elapsed(), result }
    }

    /// How long the poller should wait before probing again: zero while
    /// healthy, then doubling from 0.5 s up to 30 s with each consecutive
    /// connection failure (timeouts, refusals, failed logins). The poller waits
    /// at most half its interval (`poll::retry_delay`).
    pub fn next_attempt_delay(&self) -> Duration {
        match self.failures {
            0 => Duration::ZERO,
            n => BACKOFF_FIRST.saturating_mul(1 << (n - 1).min(16)).min(BACKOFF_MAX),
        }
    }

    /// Closes the connection politely, waiting at most `limit` for the server.
    pub async fn close(&mut self, limit: Duration) {
        if let Some(conn) = self.conn.take() {
            // A timed-out disconnect drops the socket, and the driver spawns nothing once disconnect started.
            let _ = tokio::time::timeout(limit, conn.disconnect()).await;
        }
        self.plan = None;
    }

    /// A kept connection can be dead without us knowing (server restarted, the
    /// connection was killed): then reconnect at once, within the same time
    /// budget, rather than report the server down for a whole sweep.
    async fn attempt_or_reconnect(&mut self, stage: &mut Stage) -> Result<InstanceStatus, Failure> {
        let reused = self.conn.is_some();
        match self.attempt(stage).await {
            Err(failure) if reused && failure.drop_connection => {
                self.drop_connection();
                self.attempt(stage).await
            }
            outcome => outcome,
        }
    }

    async fn attempt(&mut self, stage: &mut Stage) -> Result<InstanceStatus, Failure> {
        if self.conn.is_none() {
            *stage = Stage::Connect;
            self.plan = None;
            let conn = Conn::new(self.conn_opts.clone())
                .await
                .map_err(|e| Failure::fatal(connect_error(&e, &self.opts.user, &self.opts.tls)))?;
            // Kept in `self` at once, so a timeout from here on can close it without waiting.
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failure::fatal(probe_error(ProbeErrorKind::Other, "no connection")));
        };
        if self.plan.is_none() {
            *stage = Stage::Detect;
            let dialect = detect(conn).await?;
            self.plan = Some(Plan::new(dialect, self.opts.heartbeat.as_ref()));
        }
        let Some(plan) = self.plan.as_ref() else {
            return Err(Failure::fatal(probe_error(ProbeErrorKind::Other, "no dialect")));
        };
        *stage = Stage::Queries;
        let due = self.last_discovery.is_none_or(|t| t.elapsed() >= self.discovery_interval);
        if !due {
            let mut raw = run_batch(conn, &plan.sql, plan.steps.len()).await;
            return plan.build(raw.rows());
        }
        let plan = Plan::with_discovery(plan.dialect, self.opts.heartbeat.as_ref(), !self.replica_hosts_denied);
        let mut raw = run_batch(conn, &plan.sql, plan.steps.len()).await;
        let batch = raw.rows();
        if plan.replica_hosts_refused(&batch) {
            self.replica_hosts_denied = true;
        }
        let status = plan.build(batch)?;
        self.last_discovery = Some(Instant::now());
        Ok(status)
    }

    /// Forgets the connection without waiting for a possibly hung server.
    fn drop_connection(&mut self) {
        if let Some(conn) = self.conn.take() {
            // One poll of disconnect marks the connection closed (so the driver's Drop spawns
            // no cleanup task that would wait on the server forever) and sends COM_QUIT when
            // the socket takes it; then the socket is closed.
            let _ = conn.disconnect().now_or_never();
        }
        self.plan = None;
        // Privileges may have changed while we were away.
        self.replica_hosts_denied = false;
    }

    fn scrub(&self, mut error: ProbeError) -> ProbeError {
        if let Some(password) = &self.opts.password {
            error.message = password.scrub(&error.message);
        }
        error
    }
}

/// Opens a connection with the probe's settings, for callers that run their
/// own statements (the heartbeat writer, actions). Bounded by `opts.timeout`;
/// errors are classified and scrubbed like a probe's.
pub async fn connect(addr: &Addr, opts: &ProbeOptions) -> Result<Conn, ProbeError> {
    let scrub = |mut e: ProbeError| {
        if let Some(password) = &opts.password {
            e.message = password.scrub(&e.message);
        }
        e
    };
    match tokio::time::timeout(opts.timeout, Conn::new(connection_opts(addr, opts))).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(scrub(connect_error(&e, &opts.user, &opts.tls))),
        Err(_) => Err(probe_error(
            ProbeErrorKind::Timeout,
            format!("no answer within {} ({})", seconds(opts.timeout), Stage::Connect),
        )),
    }
}

/// The driver settings for one server (no pool; see the constants above).
pub fn connection_opts(addr: &Addr, opts: &ProbeOptions) -> Opts {
    let ssl = match &opts.tls {
        Tls::Disabled => None,
        Tls::Required => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
        }
        Tls::VerifyIdentity { ca } => {
            Some(SslOpts::default().with_root_certs(ca.iter().map(|path| path.clone().into()).collect()))
        }
    };
    OptsBuilder::default()
        .ip_or_hostname(addr.host.clone())
        .tcp_port(addr.port)
        .user(Some(opts.user.clone()))
        .pass(opts.password.as_ref().map(|p| p.expose().to_string()))
        // Never switch to a unix socket behind our back: the address is the identity.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(TCP_KEEPALIVE))
        .stmt_cache_size(0)
        .max_allowed_packet(Some(MAX_ALLOWED_PACKET))
        .wait_timeout(Some(WAIT_TIMEOUT_SECS))
        .connect_attribute("program_name", "shardtop")
        .ssl_opts(ssl)
        .into()
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Learns the dialect: the one extra round trip of a new connection.
async fn detect(conn: &mut Conn) -> Result<Dialect, Failure> {
    let rows: Vec<Row> = conn
        .query(dialect::DETECT_SQL)
        .await
        .map_err(|e| Failure { drop_connection: true, ..Failure::from_query(&e, dialect::DETECT_SQL, None) })?;
    let row = rows.first().map(row_map).unwrap_or_default();
    parse::parse_dialect(&row).map_err(|e| Failure::fatal(unexpected(dialect::DETECT_SQL, None, &e)))
}

/// One statement of a probe's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Query(Query),
    Heartbeat,
    /// Binlog Dump threads in the processlist (discovery).
    DumpThreads,
    /// `SHOW REPLICA HOSTS` (discovery; may be refused, so always last).
    ReplicaHosts,
}

/// Every statement a probe of this dialect sends (discovery and heartbeat included), for the
/// simulator's fuzz target: what the wire simulator must answer.
#[cfg(test)]
pub(crate) fn probe_statements(dialect: Dialect) -> Vec<String> {
    let hb = HeartbeatSpec { table: "percona.heartbeat".into(), utc: false };
    let mut all: Vec<String> =
        Plan::with_discovery(dialect, Some(&hb), true).sql.split("; ").map(str::to_string).collect();
    all.push(dialect::DETECT_SQL.to_string());
    all
}

/// The probe batch for one dialect, built once per connection.
struct Plan {
    dialect: Dialect,
    heartbeat: Option<HeartbeatSpec>,
    steps: Vec<Step>,
    /// Every step's statement, `;`-separated: one round trip.
    sql: String,
}

const QUERIES: [Query; 5] =
    [Query::Variables, Query::GlobalStatus, Query::ReplicaStatus, Query::BinlogStatus, Query::SemiSyncVariables];

impl Plan {
    fn new(dialect: Dialect, heartbeat: Option<&HeartbeatSpec>) -> Plan {
        let mut steps: Vec<Step> = QUERIES.iter().map(|&q| Step::Query(q)).collect();
        let mut statements: Vec<String> = QUERIES.iter().map(|&q| dialect.sql(q)).collect();
        // Last: a server stops a batch at its first error, and a missing heartbeat table must cost nothing else.
        if let Some(spec) = heartbeat {
            steps.push(Step::Heartbeat);
            statements.push(spec.read_sql());
        }
        Plan { dialect, heartbeat: heartbeat.cloned(), steps, sql: statements.join("; ") }
    }

    /// The probe batch plus discovery: the dump threads before the heartbeat,
    /// `SHOW REPLICA HOSTS` after it, since a server stops a batch at its first
    /// error and that statement is refused to a least-privilege account.
    fn with_discovery(dialect: Dialect, heartbeat: Option<&HeartbeatSpec>, replica_hosts: bool) -> Plan {
        let mut steps: Vec<Step> = QUERIES.iter().map(|&q| Step::Query(q)).collect();
        let mut statements: Vec<String> = QUERIES.iter().map(|&q| dialect.sql(q)).collect();
        steps.push(Step::DumpThreads);
        statements.push(dialect::DUMP_THREADS_SQL.to_string());
        if let Some(spec) = heartbeat {
            steps.push(Step::Heartbeat);
            statements.push(spec.read_sql());
        }
        if replica_hosts {
            steps.push(Step::ReplicaHosts);
            statements.push(dialect.replica_hosts_sql().to_string());
        }
        Plan { dialect, heartbeat: heartbeat.cloned(), steps, sql: statements.join("; ") }
    }

    /// Whether the batch failed at `SHOW REPLICA HOSTS` with the server still there (a missing privilege).
    fn replica_hosts_refused(&self, batch: &Batch<'_>) -> bool {
        batch
            .failed
            .as_ref()
            .is_some_and(|(index, err)| self.steps.get(*index) == Some(&Step::ReplicaHosts) && !connection_lost(err))
    }

    /// How a step is named in messages.
    fn label(&self, step: Step) -> String {
        match step {
            Step::Query(Query::Variables) => "SELECT @@global variables".to_string(),
            Step::Query(Query::GlobalStatus) => "SHOW GLOBAL STATUS".to_string(),
            Step::Query(Query::SemiSyncVariables) => "SHOW GLOBAL VARIABLES".to_string(),
            Step::Query(q) => self.dialect.sql(q),
            Step::Heartbeat => "heartbeat".to_string(),
            Step::DumpThreads => "information_schema.PROCESSLIST".to_string(),
            Step::ReplicaHosts => self.dialect.replica_hosts_sql().to_string(),
        }
    }

    fn build(&self, batch: Batch<'_>) -> Result<InstanceStatus, Failure> {
        let sets = batch.sets;
        let heartbeat = self.heartbeat.as_ref();
        let mut heartbeat_failure = None;
        if let Some((index, err)) = &batch.failed {
            let step = self.steps.get(*index).copied().unwrap_or(Step::Heartbeat);
            match (step, heartbeat) {
                (Step::Heartbeat, Some(spec)) if !connection_lost(err) => {
                    let privilege = format!("SELECT on {}", spec.table);
                    heartbeat_failure = Some(query_error(err, &spec.table, Some(&privilege)).message);
                }
                (Step::Query(q), _) => {
                    return Err(Failure::from_query(err, &self.label(step), self.dialect.privilege_needed(q)));
                }
                (Step::Heartbeat, _) => return Err(Failure::from_query(err, "heartbeat", None)),
                // Refused (least privilege): discovery falls back on the dump threads.
                (Step::ReplicaHosts, _) if !connection_lost(err) => {}
                (Step::ReplicaHosts, _) => return Err(Failure::from_query(err, &self.label(step), None)),
                (Step::DumpThreads, _) => return Err(Failure::from_query(err, &self.label(step), Some("PROCESS"))),
            }
        }
        let set = |query: Query| -> &[RowMap] {
            let index = self.steps.iter().position(|&s| s == Step::Query(query));
            index.and_then(|i| sets.get(i)).map(Vec::as_slice).unwrap_or_default()
        };
        let bad = |query: Query, channel: Option<&str>, e: &ParseError| {
            Failure::keep(unexpected(&self.label(Step::Query(query)), channel, e))
        };

        let no_row = RowMap::new();
        let vars_row = set(Query::Variables).first().unwrap_or(&no_row);
        let vars =
            parse::parse_variables(vars_row, self.dialect.flavor).map_err(|e| bad(Query::Variables, None, &e))?;
        let counters =
            parse::parse_counters(set(Query::GlobalStatus)).map_err(|e| bad(Query::GlobalStatus, None, &e))?;
        let replication = set(Query::ReplicaStatus)
            .iter()
            .map(|row| {
                parse::parse_replication(row).map_err(|e| {
                    let channel = row.get(columns::CHANNEL).flatten().unwrap_or_default();
                    bad(Query::ReplicaStatus, Some(channel), &e)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (binlog_file, binlog_pos) =
            parse::parse_binlog_status(set(Query::BinlogStatus)).map_err(|e| bad(Query::BinlogStatus, None, &e))?;
        let semi_sync = parse::parse_semi_sync(set(Query::GlobalStatus), set(Query::SemiSyncVariables))
            .map_err(|e| bad(Query::SemiSyncVariables, None, &e))?;
        let step_rows = |step: Step| self.steps.iter().position(|&s| s == step).and_then(|i| sets.get(i));
        let discovery = match step_rows(Step::DumpThreads) {
            None => None,
            Some(dump) => {
                let hosts = match step_rows(Step::ReplicaHosts) {
                    Some(rows) => Some(
                        parse::parse_replica_hosts(rows)
                            .map_err(|e| Failure::keep(unexpected(self.dialect.replica_hosts_sql(), None, &e)))?,
                    ),
                    None => None,
                };
                Some(Discovery { replica_hosts: hosts, dump_hosts: parse::parse_dump_hosts(dump) })
            }
        };
        let mut filters: Vec<String> = set(Query::ReplicaStatus).iter().flat_map(parse::parse_filters).collect();
        filters.dedup();
        let topo = TopologyFacts {
            gtid_binlog_state: vars_row.get_name("gtid_binlog_state").flatten().map(|v| v.trim().to_string()),
            filters,
            discovery,
            action_lock: vars_row.get_name("action_lock").flatten().and_then(|v| v.trim().parse().ok()),
        };

        let mut status = InstanceStatus {
            flavor: self.dialect.flavor,
            version: vars.version,
            server_id: vars.server_id,
            server_uuid: vars.server_uuid,
            read_only: vars.read_only,
            super_read_only: vars.super_read_only,
            log_bin: vars.log_bin,
            log_slave_updates: vars.log_slave_updates,
            binlog_format: vars.binlog_format,
            gtid: vars.gtid,
            binlog_file,
            binlog_pos,
            replication,
            counters,
            heartbeat_lag: None,
            heartbeat_error: None,
            topo,
            semi_sync,
        };
        if let Some(spec) = heartbeat {
            let source_id = status.primary_link().and_then(|link| link.source_server_id);
            let rows = self.steps.iter().position(|&s| s == Step::Heartbeat).and_then(|i| sets.get(i));
            match (heartbeat_failure, rows) {
                (Some(message), _) => status.heartbeat_error = Some(message),
                (None, Some(rows)) => match heartbeat::heartbeat_lag(rows, source_id, &spec.table) {
                    Ok(lag) => status.heartbeat_lag = Some(lag),
                    Err(message) => status.heartbeat_error = Some(message),
                },
                (None, None) => status.heartbeat_error = Some(format!("{}: no result", spec.table)),
            }
        }
        Ok(status)
    }
}

fn unexpected(statement: &str, channel: Option<&str>, e: &ParseError) -> ProbeError {
    let channel = channel.map(|c| format!(", channel {c:?}")).unwrap_or_default();
    probe_error(ProbeErrorKind::Query, format!("{statement}{channel}: unexpected output: {e}"))
}

/// What came back from a batch: the result sets read, and the first failure
/// with the index of its statement (the server runs nothing after it).
#[derive(Default)]
struct Batch<'a> {
    sets: Vec<Vec<RowMap<'a>>>,
    failed: Option<(usize, mysql_async::Error)>,
}

/// A batch as the driver returned it; `rows` reads it without copying.
#[derive(Default)]
struct RawBatch {
    sets: Vec<Vec<Row>>,
    failed: Option<(usize, mysql_async::Error)>,
}

impl RawBatch {
    fn rows(&mut self) -> Batch<'_> {
        let failed = self.failed.take();
        Batch { sets: self.sets.iter().map(|rows| rows.iter().map(row_map).collect()).collect(), failed }
    }
}

async fn run_batch(conn: &mut Conn, sql: &str, statements: usize) -> RawBatch {
    let mut batch = RawBatch::default();
    let mut result = match conn.query_iter(sql).await {
        Ok(result) => result,
        Err(e) => {
            batch.failed = Some((0, e));
            return batch;
        }
    };
    for index in 0..statements {
        // The driver defers a later statement's error to the read of its own result set.
        match result.collect::<Row>().await {
            Ok(rows) => batch.sets.push(rows),
            Err(e) => {
                batch.failed = Some((index, e));
                break;
            }
        }
    }
    batch
}

/// A driver row as names and text, borrowed from the row. The text protocol
/// only sends bytes and NULL; other variants are formatted for completeness.
fn row_map(row: &Row) -> RowMap<'_> {
    let columns = row.columns_ref();
    let mut map = RowMap::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let value = match row.as_ref(i) {
            None | Some(Value::NULL) => None,
            Some(Value::Bytes(bytes)) => Some(String::from_utf8_lossy(bytes)),
            Some(Value::Int(n)) => Some(Cow::Owned(n.to_string())),
            Some(Value::UInt(n)) => Some(Cow::Owned(n.to_string())),
            Some(Value::Float(x)) => Some(Cow::Owned(x.to_string())),
            Some(Value::Double(x)) => Some(Cow::Owned(x.to_string())),
            Some(other) => Some(Cow::Owned(other.as_sql(true).trim_matches('\'').to_string())),
        };
        map.push(column.name_str(), value);
    }
    map
}

#[cfg(test)]
mod tests;

impl crate::poll::Probe for Prober {
    async fn probe(&mut self) -> Sample {
        Prober::probe(self).await
    }

    fn next_attempt_delay(&self) -> Duration {
        Prober::next_attempt_delay(self)
    }

    fn confirm_after(&self) -> Option<Duration> {
        // The first connection failure after answers: look again at once, as `failover` does.
        (self.failures > 0 && self.failures < crate::fleet::death::CONFIRM_PROBES).then_some(CONFIRM_AFTER)
    }
}
