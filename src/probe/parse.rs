//! Turning result sets into `InstanceStatus` parts, whatever the server calls
//! its columns. Pure: rows in, values out; no I/O.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::columns::{self as col, Col};
use crate::fleet::status::{
    Counters, Flavor, GtidMode, GtidState, IoState, ReplicaHost, ReplicationStatus, SemiSync, SemiSyncMaster,
    SemiSyncReplica, WaitPoint,
};
use crate::mysql::Addr;
use crate::mysql::Dialect;
use crate::mysql::dialect::semi_sync as names;

/// One result row: column name → value, `None` for SQL NULL. Keeps the
/// server's column order; lookups ignore case. Names and values borrow from
/// the driver's row where they can (valid UTF-8), so reading a probe's result
/// sets allocates one vector per row rather than two strings per column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowMap<'a> {
    cols: Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>,
}

impl<'a> RowMap<'a> {
    pub fn new() -> Self {
        RowMap::default()
    }

    pub fn with_capacity(columns: usize) -> Self {
        RowMap { cols: Vec::with_capacity(columns) }
    }

    pub fn push(&mut self, name: impl Into<Cow<'a, str>>, value: Option<Cow<'a, str>>) {
        self.cols.push((name.into(), value));
    }

    /// The value of the first of `col`'s names present: `None` when the row
    /// has no such column, `Some(None)` for NULL.
    pub fn get(&self, col: Col) -> Option<Option<&str>> {
        col.names().iter().find_map(|name| self.get_name(name))
    }

    /// Like `get`, also returning the name the server used (for error messages).
    pub fn find(&self, col: Col) -> Option<(&str, Option<&str>)> {
        col.names().iter().find_map(|wanted| {
            self.cols
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(n, v)| (n.as_ref(), v.as_deref()))
        })
    }

    pub fn get_name(&self, name: &str) -> Option<Option<&str>> {
        self.cols.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    pub fn len(&self) -> usize {
        self.cols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.cols.iter().map(|(n, v)| (n.as_ref(), v.as_deref()))
    }
}

/// Owned rows (recorded fixtures, the simulator's tests).
impl<N: Into<String>> FromIterator<(N, Option<String>)> for RowMap<'_> {
    fn from_iter<I: IntoIterator<Item = (N, Option<String>)>>(iter: I) -> Self {
        RowMap { cols: iter.into_iter().map(|(n, v)| (Cow::Owned(n.into()), v.map(Cow::Owned))).collect() }
    }
}

/// A value the probe could not make sense of, naming the column and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The column (or variable) as the server named it, or all its aliases when absent.
    pub column: String,
    /// The offending value; `None` when the column was missing or NULL.
    pub value: Option<String>,
    /// What was expected instead.
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "column {}: expected {}, got {:?}", self.column, self.expected, v),
            None => write!(f, "column {}: missing or NULL (expected {})", self.column, self.expected),
        }
    }
}

fn missing(col: Col, expected: &'static str) -> ParseError {
    ParseError { column: col.to_string(), value: None, expected }
}

/// Text of a column; absent or NULL read as "" (older servers lack some columns).
fn text(row: &RowMap, col: Col) -> String {
    row.get(col).flatten().unwrap_or_default().to_string()
}

/// A number in a column. Absent, NULL or empty → `None`; anything else that
/// is not a number is an error, since it means we misread the output.
fn number<T: FromStr>(row: &RowMap, col: Col, expected: &'static str) -> Result<Option<T>, ParseError> {
    match row.find(col) {
        None | Some((_, None)) => Ok(None),
        Some((_, Some(v))) if v.trim().is_empty() => Ok(None),
        Some((name, Some(v))) => v.trim().parse::<T>().map(Some).map_err(|_| ParseError {
            column: name.to_string(),
            value: Some(v.to_string()),
            expected,
        }),
    }
}

/// A column that must be there and hold one of a few words.
fn word<T>(row: &RowMap, col: Col, expected: &'static str, read: impl Fn(&str) -> Option<T>) -> Result<T, ParseError> {
    match row.find(col) {
        Some((name, Some(v))) => {
            read(v.trim()).ok_or_else(|| ParseError { column: name.to_string(), value: Some(v.to_string()), expected })
        }
        _ => Err(missing(col, expected)),
    }
}

fn io_state(v: &str) -> Option<IoState> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(IoState::Running),
        "connecting" | "preparing" => Some(IoState::Connecting),
        "no" => Some(IoState::Stopped),
        _ => None,
    }
}

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// `@@global.read_only` and friends: `1`/`0` from a SELECT, `ON`/`OFF` from SHOW VARIABLES.
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

fn gtid_mode(row: &RowMap) -> Result<GtidMode, ParseError> {
    // MariaDB's Using_Gtid wins: it is the only one MariaDB has.
    if row.get(col::USING_GTID).flatten().is_some() {
        return word(row, col::USING_GTID, "No, Slave_Pos or Current_Pos", |v| match v.to_ascii_lowercase().as_str() {
            "no" => Some(GtidMode::No),
            "slave_pos" => Some(GtidMode::SlavePos),
            "current_pos" => Some(GtidMode::CurrentPos),
            _ => None,
        });
    }
    if row.get(col::AUTO_POSITION).flatten().is_some() {
        return word(row, col::AUTO_POSITION, "0 or 1", |v| match v {
            "0" => Some(GtidMode::No),
            "1" => Some(GtidMode::AutoPosition),
            _ => None,
        });
    }
    Ok(GtidMode::No)
}

/// One row of `SHOW REPLICA STATUS` / `SHOW SLAVE STATUS` / `SHOW ALL SLAVES STATUS`.
pub fn parse_replication(row: &RowMap) -> Result<ReplicationStatus, ParseError> {
    let host = match row.get(col::SOURCE_HOST) {
        Some(Some(h)) => h.trim().to_string(),
        _ => return Err(missing(col::SOURCE_HOST, "the source's host name")),
    };
    let port = number::<u16>(row, col::SOURCE_PORT, "a port number")?
        .ok_or_else(|| missing(col::SOURCE_PORT, "a port number"))?;
    Ok(ReplicationStatus {
        channel: text(row, col::CHANNEL),
        source: Addr::new(host, port),
        // 0 until the IO thread has talked to the source.
        source_server_id: number::<u32>(row, col::SOURCE_SERVER_ID, "a server id")?.filter(|&id| id != 0),
        io_state: word(row, col::IO_RUNNING, "Yes, No, Connecting or Preparing", io_state)?,
        sql_running: word(row, col::SQL_RUNNING, "Yes or No", yes_no)?,
        // NULL means unknown (SQL thread stopped, IO thread disconnected): never 0.
        seconds_behind: number(row, col::SECONDS_BEHIND, "seconds or NULL")?,
        last_io_errno: number(row, col::LAST_IO_ERRNO, "an error number")?.unwrap_or(0),
        last_io_error: text(row, col::LAST_IO_ERROR),
        last_sql_errno: number(row, col::LAST_SQL_ERRNO, "an error number")?.unwrap_or(0),
        last_sql_error: text(row, col::LAST_SQL_ERROR),
        source_log_file: text(row, col::SOURCE_LOG_FILE),
        read_source_log_pos: number(row, col::READ_SOURCE_LOG_POS, "a binlog position")?.unwrap_or(0),
        relay_source_log_file: text(row, col::RELAY_SOURCE_LOG_FILE),
        exec_source_log_pos: number(row, col::EXEC_SOURCE_LOG_POS, "a binlog position")?.unwrap_or(0),
        gtid_mode: gtid_mode(row)?,
        retrieved_gtid_set: text(row, col::RETRIEVED_GTID_SET).trim().to_string(),
        executed_gtid_set: text(row, col::EXECUTED_GTID_SET).trim().to_string(),
        sql_delay: number(row, col::SQL_DELAY, "seconds")?.unwrap_or(0),
    })
}

/// The replication filters set in one replica status row, as `Column=value`.
pub fn parse_filters(row: &RowMap) -> Vec<String> {
    col::REPLICATION_FILTERS
        .iter()
        .filter_map(|name| {
            let v = row.get_name(name).flatten()?.trim();
            (!v.is_empty()).then(|| format!("{name}={v}"))
        })
        .collect()
}

/// `SHOW REPLICA HOSTS` rows. A row without a host (no `report_host`) keeps its server id only.
pub fn parse_replica_hosts(rows: &[RowMap]) -> Result<Vec<ReplicaHost>, ParseError> {
    rows.iter()
        .map(|row| {
            let server_id = number::<u32>(row, col::HOST_SERVER_ID, "a server id")?
                .ok_or_else(|| missing(col::HOST_SERVER_ID, "a server id"))?;
            let host = row.get(col::HOST_NAME).flatten().map(str::trim).unwrap_or_default();
            let port = number::<u16>(row, col::HOST_PORT, "a port number")?.filter(|&p| p != 0);
            let addr = match (host, port) {
                ("", _) | (_, None) => None,
                (h, Some(p)) => Some(Addr::new(h, p)),
            };
            Ok(ReplicaHost { server_id, addr })
        })
        .collect()
}

/// Binlog Dump threads' `HOST` (`10.0.0.5:51234`, `[::1]:51234`, `localhost`)
/// → the host alone: the port there is the replica's outgoing one, not its server port.
pub fn parse_dump_hosts(rows: &[RowMap]) -> Vec<String> {
    rows.iter()
        .filter_map(|row| row.iter().next().and_then(|(_, v)| v))
        .map(|h| dump_host(h.trim()))
        .filter(|h| !h.is_empty())
        .collect()
}

fn dump_host(h: &str) -> String {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_ascii_lowercase();
    }
    match h.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address whose last group may be the port;
        // MySQL prints `::1:51234`, so drop a last group only when it is all digits and long.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_ascii_lowercase()
        }
        Some((host, port)) if host.contains(':') && port.len() >= 4 && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_ascii_lowercase()
        }
        _ => h.to_ascii_lowercase(),
    }
}

/// `SHOW GLOBAL STATUS` rows (`Variable_name`, `Value`) → counters; a counter
/// the server does not report stays 0.
pub fn parse_counters(rows: &[RowMap]) -> Result<Counters, ParseError> {
    let mut c = Counters::default();
    for row in rows {
        let Some(Some(name)) = row.get(col::STATUS_NAME) else { continue };
        let slot = match name.to_ascii_lowercase().as_str() {
            "uptime" => &mut c.uptime,
            "questions" => &mut c.questions,
            "com_select" => &mut c.com_select,
            "com_insert" => &mut c.com_insert,
            "com_update" => &mut c.com_update,
            "com_delete" => &mut c.com_delete,
            "com_replace" => &mut c.com_replace,
            "threads_running" => &mut c.threads_running,
            "threads_connected" => &mut c.threads_connected,
            _ => continue,
        };
        let value = row.get(col::STATUS_VALUE).flatten().unwrap_or_default();
        *slot = value.trim().parse().map_err(|_| ParseError {
            column: format!("Value of {name}"),
            value: Some(value.to_string()),
            expected: "a counter",
        })?;
    }
    Ok(c)
}

/// The first of `names` among `SHOW GLOBAL STATUS` / `SHOW GLOBAL VARIABLES` rows, as
/// (the name the server used, its value).
fn named<'r>(rows: &'r [RowMap], names: &[&str]) -> Option<(&'r str, &'r str)> {
    names.iter().find_map(|wanted| {
        rows.iter().find_map(|row| {
            let name = row.get(col::STATUS_NAME).flatten()?;
            name.eq_ignore_ascii_case(wanted).then(|| (name, row.get(col::STATUS_VALUE).flatten().unwrap_or_default()))
        })
    })
}

/// The semi-sync figures from the `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES` rows
/// (`Variable_name`, `Value`), under either spelling (`dialect::semi_sync`). A side none of
/// whose names the server reports is `None` (its plugin is not loaded); `None` when neither is.
pub fn parse_semi_sync(status: &[RowMap], variables: &[RowMap]) -> Result<Option<SemiSync>, ParseError> {
    let bad = |name: &str, value: &str, expected| ParseError {
        column: format!("Value of {name}"),
        value: Some(value.to_string()),
        expected,
    };
    let on = |rows, which| -> Result<Option<bool>, ParseError> {
        named(rows, which).map(|(n, v)| flag(v).ok_or_else(|| bad(n, v, "ON or OFF"))).transpose()
    };
    let count = |rows, which| -> Result<Option<u64>, ParseError> {
        named(rows, which).map(|(n, v)| v.trim().parse().map_err(|_| bad(n, v, "a number"))).transpose()
    };
    let enabled = on(variables, names::MASTER_ENABLED)?;
    let active = on(status, names::MASTER_STATUS)?;
    let clients = count(status, names::MASTER_CLIENTS)?;
    let no_tx = count(status, names::MASTER_NO_TX)?;
    let timeout_ms = count(variables, names::MASTER_TIMEOUT)?;
    let wait_point = named(variables, names::MASTER_WAIT_POINT);
    let reported = enabled.is_some()
        || active.is_some()
        || clients.is_some()
        || no_tx.is_some()
        || timeout_ms.is_some()
        || wait_point.is_some();
    let master = reported.then(|| SemiSyncMaster {
        enabled: enabled.unwrap_or(false),
        active: active.unwrap_or(false),
        clients: clients.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        no_tx: no_tx.unwrap_or(0),
        // A point this version of shardtop does not know is shown as unknown, not a failed probe.
        wait_point: wait_point.and_then(|(_, v)| match v.trim().to_ascii_uppercase().as_str() {
            "AFTER_SYNC" => Some(WaitPoint::AfterSync),
            "AFTER_COMMIT" => Some(WaitPoint::AfterCommit),
            _ => None,
        }),
        timeout_ms,
    });
    let (r_enabled, r_active) = (on(variables, names::SLAVE_ENABLED)?, on(status, names::SLAVE_STATUS)?);
    let replica = (r_enabled.is_some() || r_active.is_some())
        .then(|| SemiSyncReplica { enabled: r_enabled.unwrap_or(false), active: r_active.unwrap_or(false) });
    Ok((master.is_some() || replica.is_some()).then_some(SemiSync { master, replica }))
}

/// The server variables a probe reads (see `Dialect::variables_sql`).
#[derive(Clone, Debug, PartialEq)]
pub struct Variables {
    pub version: String,
    pub version_comment: String,
    pub server_id: u32,
    pub server_uuid: Option<String>,
    pub read_only: bool,
    pub super_read_only: Option<bool>,
    pub log_bin: bool,
    pub log_slave_updates: bool,
    pub binlog_format: String,
    pub gtid: GtidState,
    /// MySQL `@@gtid_mode` (`OFF` … `ON`); not in `InstanceStatus` yet.
    pub gtid_mode: Option<String>,
}

/// The single row of the variables select, read by alias.
pub fn parse_variables(row: &RowMap, flavor: Flavor) -> Result<Variables, ParseError> {
    let opt_text = |name: &str| row.get_name(name).flatten().map(|v| v.trim().to_string());
    let req_flag = |name: &'static str| -> Result<bool, ParseError> {
        let v = row.get_name(name).flatten();
        v.and_then(flag).ok_or_else(|| ParseError {
            column: format!("@@{name}"),
            value: v.map(str::to_string),
            expected: "0 or 1",
        })
    };
    let server_id = row.get_name("server_id").flatten();
    let server_id = server_id.and_then(|v| v.trim().parse().ok()).ok_or_else(|| ParseError {
        column: "@@server_id".into(),
        value: server_id.map(str::to_string),
        expected: "a server id",
    })?;
    let mysql = flavor == Flavor::MySql;
    let maria = flavor == Flavor::MariaDb;
    Ok(Variables {
        version: opt_text("version").unwrap_or_default(),
        version_comment: opt_text("version_comment").unwrap_or_default(),
        server_id,
        server_uuid: opt_text("server_uuid").filter(|_| mysql),
        read_only: req_flag("read_only")?,
        super_read_only: if mysql { Some(req_flag("super_read_only")?) } else { None },
        log_bin: req_flag("log_bin")?,
        log_slave_updates: req_flag("log_slave_updates")?,
        binlog_format: opt_text("binlog_format").unwrap_or_default(),
        gtid: GtidState {
            binlog_pos: opt_text("gtid_binlog_pos").filter(|_| maria),
            current_pos: opt_text("gtid_current_pos").filter(|_| maria),
            slave_pos: opt_text("gtid_slave_pos").filter(|_| maria),
            executed: opt_text("gtid_executed").filter(|_| mysql),
        },
        gtid_mode: opt_text("gtid_mode").filter(|_| mysql),
    })
}

/// `SHOW BINLOG STATUS` and friends: no row when binary logging is off.
pub fn parse_binlog_status(rows: &[RowMap]) -> Result<(Option<String>, Option<u64>), ParseError> {
    match rows.first() {
        None => Ok((None, None)),
        Some(row) => {
            let file = row.get(col::BINLOG_FILE).flatten().map(|f| f.trim().to_string());
            Ok((file, number(row, col::BINLOG_POSITION, "a binlog position")?))
        }
    }
}

/// The `SELECT @@version, @@version_comment` row → dialect.
pub fn parse_dialect(row: &RowMap) -> Result<Dialect, ParseError> {
    let mut values = row.iter().map(|(_, v)| v.unwrap_or_default());
    let version = values.next().unwrap_or_default();
    let comment = values.next().unwrap_or_default();
    Dialect::detect(version, comment).ok_or_else(|| ParseError {
        column: "@@version".into(),
        value: Some(version.to_string()),
        expected: "a version such as 8.0.36 or 10.11.6-MariaDB",
    })
}

/// Reads the mysql client's vertical (`\G`) output: `*** N. row ***` headers,
/// then `Name: value` lines with names right-aligned to one colon column;
/// `NULL` is SQL NULL, nothing after the colon is the empty string. A line
/// without a name at that colon continues the previous value (MySQL prints
/// long GTID sets over several lines). Used for recorded fixtures.
pub fn parse_vertical(text: &str) -> Vec<RowMap<'static>> {
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    let mut colon: Option<usize> = None;
    for line in text.lines() {
        if line.starts_with("***") && line.contains(". row ") {
            rows.push(Vec::new());
            colon = None;
            continue;
        }
        let Some(row) = rows.last_mut() else { continue };
        let field = match colon {
            Some(at) => line.get(..at).zip(line.get(at..)).filter(|(_, rest)| rest.starts_with(':')),
            None => line.find(':').map(|at| (&line[..at], &line[at..])),
        };
        let field = field.filter(|(name, _)| {
            let name = name.trim_start();
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match field {
            Some((name, rest)) => {
                colon.get_or_insert(name.len());
                let value = &rest[1..];
                let value = value.strip_prefix(' ').unwrap_or(value);
                row.push((name.trim_start().to_string(), value.to_string()));
            }
            None => {
                if let Some((_, value)) = row.last_mut() {
                    value.push('\n');
                    value.push_str(line);
                }
            }
        }
    }
    rows.into_iter()
        .map(|row| row.into_iter().map(|(n, v)| (n, if v == "NULL" { None } else { Some(v) })).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Option<&str>)]) -> RowMap<'static> {
        pairs.iter().map(|(n, v)| (*n, v.map(str::to_string))).collect()
    }

    fn fixture(name: &str) -> Vec<RowMap<'static>> {
        let path = format!("{}/tests/fixtures/probe/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse_vertical(&text)
    }

    fn replication(rows: &[RowMap]) -> Vec<ReplicationStatus> {
        rows.iter().map(|r| parse_replication(r).unwrap()).collect()
    }

    #[test]
    fn rowmap_lookups_ignore_case_and_keep_null() {
        let r = row(&[("Channel_name", Some("")), ("Seconds_Behind_Master", None)]);
        assert_eq!(r.get(col::CHANNEL), Some(Some("")));
        assert_eq!(r.get(col::SECONDS_BEHIND), Some(None));
        assert_eq!(r.get(col::SOURCE_HOST), None);
        assert_eq!(r.find(col::SECONDS_BEHIND), Some(("Seconds_Behind_Master", None)));
    }

    #[test]
    fn mysql_8_0_show_replica_status() {
        let rows = fixture("mysql-8.0-show-replica-status.txt");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), 60, "every column of the manual's example");
        assert_eq!(
            replication(&rows),
            vec![ReplicationStatus {
                channel: "".into(),
                source: Addr::new("127.0.0.1", 13000),
                source_server_id: Some(1),
                io_state: IoState::Running,
                sql_running: true,
                seconds_behind: Some(0),
                last_io_errno: 0,
                last_io_error: "".into(),
                last_sql_errno: 0,
                last_sql_error: "".into(),
                source_log_file: "master-bin.000001".into(),
                read_source_log_pos: 927,
                relay_source_log_file: "master-bin.000001".into(),
                exec_source_log_pos: 927,
                gtid_mode: GtidMode::AutoPosition,
                retrieved_gtid_set: "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3".into(),
                executed_gtid_set: "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3".into(),
                sql_delay: 0,
            }]
        );
    }

    #[test]
    fn mysql_8_4_show_replica_status_two_channels() {
        let rows = fixture("mysql-8.4-show-replica-status.txt");
        assert_eq!(rows.iter().map(RowMap::len).collect::<Vec<_>>(), vec![60, 60]);
        let executed = "2174b383-5441-11e8-b90a-c80aa9429562:1-7:billing:1-4,\n\
                        73f86016-978b-11ee-ade5-8d2a2a562feb:1-1432:billing:1-25";
        let got = replication(&rows);
        assert_eq!(
            got[0],
            ReplicationStatus {
                channel: "".into(),
                source: Addr::new("shard7-db1.example.com", 3306),
                source_server_id: Some(701),
                io_state: IoState::Running,
                sql_running: true,
                seconds_behind: Some(12),
                last_io_errno: 0,
                last_io_error: "".into(),
                last_sql_errno: 0,
                last_sql_error: "".into(),
                source_log_file: "binlog.000042".into(),
                read_source_log_pos: 88_261_413,
                relay_source_log_file: "binlog.000042".into(),
                exec_source_log_pos: 88_104_212,
                gtid_mode: GtidMode::AutoPosition,
                retrieved_gtid_set: "73f86016-978b-11ee-ade5-8d2a2a562feb:1000-1440:billing:20-25".into(),
                executed_gtid_set: executed.into(),
                sql_delay: 0,
            }
        );
        assert_eq!(
            got[1],
            ReplicationStatus {
                channel: "global".into(),
                source: Addr::new("global-db1.example.com", 3306),
                source_server_id: None,
                io_state: IoState::Connecting,
                sql_running: true,
                seconds_behind: None,
                last_io_errno: 2003,
                last_io_error: "Error connecting to source 'repl@global-db1.example.com:3306'. This was attempt 3/10, \
                                with a delay of 60 seconds between attempts. Message: Can't connect to MySQL server on \
                                'global-db1.example.com:3306' (111)"
                    .into(),
                last_sql_errno: 0,
                last_sql_error: "".into(),
                source_log_file: "binlog.000113".into(),
                read_source_log_pos: 1_057,
                relay_source_log_file: "binlog.000113".into(),
                exec_source_log_pos: 1_057,
                gtid_mode: GtidMode::AutoPosition,
                retrieved_gtid_set: "2174b383-5441-11e8-b90a-c80aa9429562:1-7:billing:1-4".into(),
                executed_gtid_set: executed.into(),
                sql_delay: 3600,
            }
        );
        // Retrieved and executed sets parse, tags included.
        let executed = crate::mysql::gtid::GtidSet::parse(&got[1].executed_gtid_set).unwrap();
        let retrieved = crate::mysql::gtid::GtidSet::parse(&got[1].retrieved_gtid_set).unwrap();
        assert!(retrieved.is_subset(&executed));
    }

    #[test]
    fn mysql_5_7_show_slave_status() {
        let rows = fixture("mysql-5.7-or-8.0-show-slave-status.txt");
        assert_eq!(rows[0].len(), 57, "every column of the manual's example");
        assert_eq!(rows[0].find(col::CHANNEL), Some(("Channel_name", Some(""))), "5.7 spells it Channel_name");
        assert_eq!(
            replication(&rows),
            vec![ReplicationStatus {
                channel: "".into(),
                source: Addr::new("localhost", 13000),
                source_server_id: Some(1),
                io_state: IoState::Running,
                sql_running: true,
                seconds_behind: Some(0),
                last_io_errno: 0,
                last_io_error: "".into(),
                last_sql_errno: 0,
                last_sql_error: "".into(),
                source_log_file: "source-bin.000002".into(),
                read_source_log_pos: 1307,
                relay_source_log_file: "source-bin.000002".into(),
                exec_source_log_pos: 1307,
                gtid_mode: GtidMode::AutoPosition,
                retrieved_gtid_set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5".into(),
                executed_gtid_set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5".into(),
                sql_delay: 0,
            }]
        );
    }

    #[test]
    fn mariadb_10_11_show_all_slaves_status() {
        let rows = fixture("mariadb-10.11-show-all-slaves-status.txt");
        assert_eq!(rows.iter().map(RowMap::len).collect::<Vec<_>>(), vec![62, 62]);
        let error = "Error 'Operation CREATE USER failed for 'repl'@'127.0.0.1'' on query. Default database: ''. \
                     Query: 'CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'replpw''";
        assert_eq!(
            replication(&rows),
            vec![
                ReplicationStatus {
                    channel: "".into(),
                    source: Addr::new("127.0.0.1", 24406),
                    source_server_id: Some(3400),
                    io_state: IoState::Running,
                    sql_running: true,
                    seconds_behind: Some(0),
                    last_io_errno: 0,
                    last_io_error: "".into(),
                    last_sql_errno: 0,
                    last_sql_error: "".into(),
                    source_log_file: "bin.000001".into(),
                    read_source_log_pos: 3463,
                    relay_source_log_file: "bin.000001".into(),
                    exec_source_log_pos: 3463,
                    gtid_mode: GtidMode::SlavePos,
                    retrieved_gtid_set: "1-3400-14".into(),
                    executed_gtid_set: "1-3400-14".into(),
                    sql_delay: 0,
                },
                ReplicationStatus {
                    channel: "global".into(),
                    source: Addr::new("127.0.0.1", 24408),
                    source_server_id: Some(3390),
                    io_state: IoState::Running,
                    sql_running: false,
                    seconds_behind: None,
                    last_io_errno: 0,
                    last_io_error: "".into(),
                    last_sql_errno: 1396,
                    last_sql_error: error.into(),
                    source_log_file: "bin.000001".into(),
                    read_source_log_pos: 2373,
                    relay_source_log_file: "bin.000001".into(),
                    exec_source_log_pos: 322,
                    gtid_mode: GtidMode::SlavePos,
                    retrieved_gtid_set: "1-3400-8,100-3390-11".into(),
                    executed_gtid_set: "1-3400-14".into(),
                    sql_delay: 0,
                },
            ]
        );
    }

    #[test]
    fn io_states_and_gtid_modes() {
        let base = |io: &str, extra: (&'static str, &'static str)| {
            row(&[
                ("Master_Host", Some("db1")),
                ("Master_Port", Some("3306")),
                ("Slave_IO_Running", Some(io)),
                ("Slave_SQL_Running", Some("No")),
                (extra.0, Some(extra.1)),
            ])
        };
        let parsed = |io, extra| parse_replication(&base(io, extra)).unwrap();
        assert_eq!(parsed("Connecting", ("Using_Gtid", "Current_Pos")).io_state, IoState::Connecting);
        assert_eq!(parsed("Preparing", ("Using_Gtid", "No")).io_state, IoState::Connecting);
        assert_eq!(parsed("No", ("Using_Gtid", "No")).io_state, IoState::Stopped);
        assert_eq!(parsed("No", ("Using_Gtid", "Current_Pos")).gtid_mode, GtidMode::CurrentPos);
        assert_eq!(parsed("No", ("Using_Gtid", "Slave_Pos")).gtid_mode, GtidMode::SlavePos);
        assert_eq!(parsed("No", ("Auto_Position", "0")).gtid_mode, GtidMode::No);
        assert_eq!(parsed("No", ("SQL_Delay", "0")).gtid_mode, GtidMode::No);
        // Missing optional columns read as empty or zero, NULL lag stays unknown.
        let minimal = parsed("Yes", ("Seconds_Behind_Master", "7"));
        assert_eq!((minimal.channel.as_str(), minimal.seconds_behind, minimal.source_server_id), ("", Some(7), None));
    }

    #[test]
    fn errors_name_column_and_value() {
        let bad = |pairs: &[(&str, Option<&str>)]| parse_replication(&row(pairs)).unwrap_err().to_string();
        let ok = [
            ("Source_Host", Some("db1")),
            ("Source_Port", Some("3306")),
            ("Replica_IO_Running", Some("Yes")),
            ("Replica_SQL_Running", Some("Yes")),
        ];
        assert!(parse_replication(&row(&ok)).is_ok());
        let with = |i: usize, v: Option<&'static str>| {
            let mut pairs = ok.to_vec();
            pairs[i].1 = v;
            pairs
        };
        assert_eq!(
            bad(&with(2, Some("Maybe"))),
            "column Replica_IO_Running: expected Yes, No, Connecting or Preparing, got \"Maybe\""
        );
        assert_eq!(
            bad(&with(3, Some("yes please"))),
            "column Replica_SQL_Running: expected Yes or No, got \"yes please\""
        );
        assert_eq!(bad(&with(1, Some("33o6"))), "column Source_Port: expected a port number, got \"33o6\"");
        assert_eq!(bad(&with(1, Some("70000"))), "column Source_Port: expected a port number, got \"70000\"");
        assert_eq!(
            bad(&with(0, None)),
            "column Source_Host/Master_Host: missing or NULL (expected the source's host name)"
        );
        let mut lag = ok.to_vec();
        lag.push(("Seconds_Behind_Source", Some("-1")));
        assert_eq!(bad(&lag), "column Seconds_Behind_Source: expected seconds or NULL, got \"-1\"");
        let mut mode = ok.to_vec();
        mode.push(("Using_Gtid", Some("Sometimes")));
        assert_eq!(bad(&mode), "column Using_Gtid: expected No, Slave_Pos or Current_Pos, got \"Sometimes\"");
    }

    #[test]
    fn counters_from_global_status() {
        let rows: Vec<RowMap> = [
            ("Com_delete", "4"),
            ("Com_insert", "2"),
            ("Com_replace", "5"),
            ("Com_select", "1"),
            ("Com_update", "3"),
            ("Questions", "1234567890123"),
            ("Threads_connected", "9"),
            ("Threads_running", "2"),
            ("Uptime", "86400"),
            ("Something_else", "x"),
        ]
        .iter()
        .map(|(n, v)| row(&[("Variable_name", Some(n)), ("Value", Some(v))]))
        .collect();
        assert_eq!(
            parse_counters(&rows).unwrap(),
            Counters {
                uptime: 86400,
                questions: 1_234_567_890_123,
                com_select: 1,
                com_insert: 2,
                com_update: 3,
                com_delete: 4,
                com_replace: 5,
                threads_running: 2,
                threads_connected: 9,
            }
        );
        let garbage = [row(&[("Variable_name", Some("Uptime")), ("Value", Some("soon"))])];
        assert_eq!(
            parse_counters(&garbage).unwrap_err().to_string(),
            "column Value of Uptime: expected a counter, got \"soon\""
        );
        assert_eq!(parse_counters(&[]).unwrap(), Counters::default());
    }

    #[test]
    fn variables_per_flavor() {
        let maria = row(&[
            ("version", Some("10.11.6-MariaDB-log")),
            ("version_comment", Some("Debian 12")),
            ("server_id", Some("3401")),
            ("read_only", Some("1")),
            ("log_bin", Some("1")),
            ("log_slave_updates", Some("0")),
            ("binlog_format", Some("ROW")),
            ("gtid_binlog_pos", Some("1-3400-14")),
            ("gtid_current_pos", Some("1-3400-14,100-3390-8")),
            ("gtid_slave_pos", Some("")),
        ]);
        let v = parse_variables(&maria, Flavor::MariaDb).unwrap();
        assert_eq!((v.server_id, v.read_only, v.log_bin, v.log_slave_updates), (3401, true, true, false));
        assert_eq!((v.super_read_only, v.server_uuid.as_deref()), (None, None));
        assert_eq!(v.gtid.current_pos.as_deref(), Some("1-3400-14,100-3390-8"));
        assert_eq!(v.gtid.slave_pos.as_deref(), Some(""));
        assert_eq!(v.gtid.executed, None);

        let mysql = row(&[
            ("version", Some("8.4.3")),
            ("version_comment", Some("MySQL Community Server - GPL")),
            ("server_id", Some("1")),
            ("read_only", Some("0")),
            ("log_bin", Some("1")),
            ("log_slave_updates", Some("1")),
            ("binlog_format", Some("ROW")),
            ("server_uuid", Some("73f86016-978b-11ee-ade5-8d2a2a562feb")),
            ("super_read_only", Some("0")),
            ("gtid_executed", Some("73f86016-978b-11ee-ade5-8d2a2a562feb:1-3")),
            ("gtid_mode", Some("ON")),
        ]);
        let v = parse_variables(&mysql, Flavor::MySql).unwrap();
        assert_eq!((v.super_read_only, v.gtid_mode.as_deref()), (Some(false), Some("ON")));
        assert_eq!(v.gtid.display(), "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3");

        let mut broken = mysql.clone();
        broken.cols.retain(|(n, _)| n != "super_read_only");
        assert_eq!(
            parse_variables(&broken, Flavor::MySql).unwrap_err().to_string(),
            "column @@super_read_only: missing or NULL (expected 0 or 1)"
        );
    }

    #[test]
    fn semi_sync_mariadb_as_recorded() {
        let vars = fixture("mariadb-10.11-semi-sync-variables.txt");
        let on = parse_semi_sync(&fixture("mariadb-10.11-semi-sync-status.txt"), &vars).unwrap();
        let master = SemiSyncMaster {
            enabled: true,
            active: true,
            clients: 2,
            no_tx: 9,
            wait_point: Some(WaitPoint::AfterSync),
            timeout_ms: Some(1000),
        };
        // A master's replica side: built in, not enabled.
        let replica = SemiSyncReplica { enabled: false, active: false };
        assert_eq!(on, Some(SemiSync { master: Some(master.clone()), replica: Some(replica.clone()) }));
        assert!(master.protects_acknowledged_writes() && !master.fell_back());
        let fell = parse_semi_sync(&fixture("mariadb-10.11-semi-sync-status-fell-back.txt"), &vars).unwrap();
        let fell = fell.and_then(|s| s.master).expect("master side");
        assert_eq!((fell.enabled, fell.active, fell.clients, fell.no_tx), (true, false, 0, 10));
        assert!(fell.fell_back() && !fell.protects_acknowledged_writes());
    }

    #[test]
    fn semi_sync_mysql_8_4_source_and_replica_plugins() {
        let ss =
            parse_semi_sync(&fixture("mysql-8.4-semi-sync-status.txt"), &fixture("mysql-8.4-semi-sync-variables.txt"))
                .unwrap()
                .expect("semi-sync");
        assert_eq!(
            ss.master,
            Some(SemiSyncMaster {
                enabled: true,
                active: false,
                clients: 0,
                no_tx: 3,
                wait_point: Some(WaitPoint::AfterSync),
                timeout_ms: Some(10_000),
            })
        );
        assert_eq!(ss.replica, Some(SemiSyncReplica { enabled: false, active: false }));
        assert!(ss.master.is_some_and(|m| m.fell_back()));
    }

    #[test]
    fn semi_sync_absent_one_sided_and_garbage() {
        let kv = |pairs: &[(&str, &str)]| -> Vec<RowMap<'static>> {
            pairs.iter().map(|(n, v)| row(&[("Variable_name", Some(n)), ("Value", Some(v))])).collect()
        };
        // No plugin loaded: nothing reported, nothing made up.
        assert_eq!(parse_semi_sync(&kv(&[("Uptime", "5")]), &[]).unwrap(), None);
        // MySQL with only the replica plugin (old names): no master side.
        let only = parse_semi_sync(
            &kv(&[("Rpl_semi_sync_slave_status", "ON")]),
            &kv(&[("rpl_semi_sync_slave_enabled", "ON")]),
        )
        .unwrap();
        assert_eq!(
            only,
            Some(SemiSync { master: None, replica: Some(SemiSyncReplica { enabled: true, active: true }) })
        );
        // A wait point this shardtop does not know is unknown, not a failed probe.
        let odd = parse_semi_sync(&[], &kv(&[("rpl_semi_sync_master_wait_point", "AFTER_LUNCH")])).unwrap();
        assert_eq!(odd.and_then(|s| s.master).map(|m| (m.enabled, m.wait_point)), Some((false, None)));
        let garbage = parse_semi_sync(&kv(&[("Rpl_semi_sync_master_clients", "several")]), &[]);
        assert_eq!(
            garbage.unwrap_err().to_string(),
            "column Value of Rpl_semi_sync_master_clients: expected a number, got \"several\""
        );
        let garbage = parse_semi_sync(&kv(&[("Rpl_semi_sync_source_status", "MAYBE")]), &[]);
        assert!(garbage.unwrap_err().to_string().contains("expected ON or OFF"));
    }

    #[test]
    fn binlog_status_and_dialect() {
        let rows = [row(&[("File", Some("bin.000001")), ("Position", Some("3463")), ("Binlog_Do_DB", Some(""))])];
        assert_eq!(parse_binlog_status(&rows).unwrap(), (Some("bin.000001".into()), Some(3463)));
        assert_eq!(parse_binlog_status(&[]).unwrap(), (None, None));
        let d = parse_dialect(&row(&[("@@version", Some("10.11.6-MariaDB")), ("@@version_comment", None)])).unwrap();
        assert_eq!(d.flavor, Flavor::MariaDb);
        assert!(parse_dialect(&row(&[])).is_err());
    }

    #[test]
    fn vertical_format_edge_cases() {
        let text = "*************************** 1. row ***************************\n\
                    \x20    Name: a: b\n\
                    \x20   Empty: \n\
                    \x20 NoSpace:\n\
                    Long_Name: NULL\n\
                    \x20    List: x:1,\n\
                    y:2\n\
                    *************************** 2. row ***************************\n\
                    \x20       A: 1\n";
        let rows = parse_vertical(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get_name("name"), Some(Some("a: b")));
        assert_eq!(rows[0].get_name("Empty"), Some(Some("")));
        assert_eq!(rows[0].get_name("NoSpace"), Some(Some("")));
        assert_eq!(rows[0].get_name("Long_Name"), Some(None));
        assert_eq!(rows[0].get_name("List"), Some(Some("x:1,\ny:2")));
        assert_eq!(rows[1].get_name("A"), Some(Some("1")));
        assert!(parse_vertical("no rows here: at all").is_empty());
    }

    #[test]
    fn filters_are_read_from_replica_status_rows() {
        let r = row(&[
            ("Replicate_Do_DB", Some("")),
            ("Replicate_Ignore_DB", Some("audit,tmp")),
            ("Replicate_Wild_Ignore_Table", Some("scratch.%")),
            ("Replicate_Do_Domain_Ids", None),
        ]);
        assert_eq!(parse_filters(&r), vec!["Replicate_Ignore_DB=audit,tmp", "Replicate_Wild_Ignore_Table=scratch.%"]);
        for rr in fixture("mariadb-10.11-show-all-slaves-status.txt") {
            assert!(parse_filters(&rr).is_empty(), "the fixture's replica has no filters");
        }
    }

    #[test]
    fn replica_hosts_keep_rows_without_a_reported_host() {
        let rows = [
            row(&[
                ("Server_id", Some("3402")),
                ("Host", Some("10.0.0.12")),
                ("Port", Some("3306")),
                ("Master_id", Some("3400")),
            ]),
            // MySQL 8.0.22+ spells it Server_Id; a replica without report_host.
            row(&[
                ("Server_Id", Some("3403")),
                ("Host", Some("")),
                ("Port", Some("3306")),
                ("Source_Id", Some("3400")),
            ]),
        ];
        let hosts = parse_replica_hosts(&rows).expect("parsed");
        assert_eq!(hosts[0], ReplicaHost { server_id: 3402, addr: Some(Addr::new("10.0.0.12", 3306)) });
        assert_eq!(hosts[1], ReplicaHost { server_id: 3403, addr: None });
        let bad = [row(&[("Server_id", Some("x")), ("Host", Some("h")), ("Port", Some("1"))])];
        assert_eq!(
            parse_replica_hosts(&bad).unwrap_err().to_string(),
            "column Server_id: expected a server id, got \"x\""
        );
    }

    #[test]
    fn dump_thread_hosts_drop_the_clients_port() {
        let rows: Vec<RowMap> =
            ["10.0.0.12:51234", "DB7.example.com:40000", "[::1]:5123", "fe80::1:51234", "localhost", ""]
                .iter()
                .map(|h| row(&[("HOST", Some(h))]))
                .collect();
        assert_eq!(parse_dump_hosts(&rows), vec!["10.0.0.12", "db7.example.com", "::1", "fe80::1", "localhost"]);
    }
}
