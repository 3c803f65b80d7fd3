//! pt-heartbeat compatible lag: a writer on the master replaces its row in
//! `db.table` (`ts` like `2026-11-26T15:25:34.001230`, `server_id`, …) every
//! second; on any server, lag is the server's clock minus the `ts` it has
//! received. The subtraction runs in SQL, on the server's clock, in the
//! probe's own round trip.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::errors::query_error;
use super::parse::RowMap;
use crate::fleet::status::ProbeError;

/// Where the heartbeat lives and which clock its writer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatSpec {
    /// `db.table`, already validated by the config.
    pub table: String,
    /// Whether `ts` is UTC (pt-heartbeat `--utc`) or the writer's local time.
    pub utc: bool,
}

/// Rows read per probe: one per writer; more only on a long chain.
const MAX_ROWS: u32 = 16;

impl HeartbeatSpec {
    /// `` `db`.`table` ``, quoted so the name is never parsed as SQL.
    pub fn quoted_table(&self) -> String {
        self.table.split('.').map(|part| format!("`{}`", part.replace('`', "``"))).collect::<Vec<_>>().join(".")
    }

    fn now(&self) -> &'static str {
        if self.utc { "UTC_TIMESTAMP(6)" } else { "NOW(6)" }
    }

    /// Every writer's row, newest first, with its age in microseconds.
    /// (`ts` is a varchar; MySQL and MariaDB both read its ISO `T` form as a
    /// DATETIME, and a garbled `ts` reads as NULL.)
    pub fn read_sql(&self) -> String {
        format!(
            "SELECT server_id, ts, TIMESTAMPDIFF(MICROSECOND, ts, {now}) AS lag_us FROM {table} ORDER BY ts DESC LIMIT {MAX_ROWS}",
            now = self.now(),
            table = self.quoted_table(),
        )
    }

    /// pt-heartbeat's `--update`, stamped with the server's own clock so that
    /// writer and checker never disagree about time. The binlog coordinate
    /// columns stay NULL: readers of the table only use `ts` and `server_id`.
    pub fn write_sql(&self) -> String {
        format!(
            "REPLACE INTO {table} (ts, server_id, file, position, relay_master_log_file, exec_master_log_pos) \
             VALUES (DATE_FORMAT({now}, '%Y-%m-%dT%H:%i:%s.%f'), @@global.server_id, NULL, NULL, NULL, NULL)",
            now = self.now(),
            table = self.quoted_table(),
        )
    }
}

/// Writes one heartbeat row on the server `conn` is connected to (a master).
pub async fn write_heartbeat(conn: &mut Conn, spec: &HeartbeatSpec) -> Result<(), ProbeError> {
    let privilege = format!("INSERT and DELETE on {}", spec.table);
    conn.query_drop(spec.write_sql()).await.map_err(|e| query_error(&e, "heartbeat write", Some(&privilege)))
}

/// The lag in seconds from the heartbeat rows: the row written by this
/// server's direct source when there is one (`source_server_id`), else the
/// newest. `Err` explains, for `InstanceStatus::heartbeat_error`.
pub fn heartbeat_lag(rows: &[RowMap], source_server_id: Option<u32>, table: &str) -> Result<f64, String> {
    let server_id = |row: &RowMap| row.get_name("server_id").flatten().and_then(|v| v.trim().parse::<u32>().ok());
    let row = source_server_id
        .and_then(|source| rows.iter().find(|row| server_id(row) == Some(source)))
        .or_else(|| rows.first())
        .ok_or_else(|| {
            format!("{table} has no rows: is a heartbeat writer (pt-heartbeat --update) running on the master?")
        })?;
    let lag_us = row.get_name("lag_us").flatten().and_then(|v| v.trim().parse::<f64>().ok());
    match lag_us {
        Some(us) => Ok(us / 1e6),
        None => {
            let ts = row.get_name("ts").flatten().unwrap_or("NULL");
            let writer = server_id(row).map(|id| format!(" of server {id}")).unwrap_or_default();
            Err(format!("{table}: ts {ts:?} in the row{writer} is not a timestamp"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(utc: bool) -> HeartbeatSpec {
        HeartbeatSpec { table: "percona.heartbeat".into(), utc }
    }

    fn row(server_id: &str, ts: &str, lag_us: Option<&str>) -> RowMap<'static> {
        [
            ("server_id", Some(server_id.to_string())),
            ("ts", Some(ts.to_string())),
            ("lag_us", lag_us.map(str::to_string)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn statements() {
        assert_eq!(
            spec(true).read_sql(),
            "SELECT server_id, ts, TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) AS lag_us \
             FROM `percona`.`heartbeat` ORDER BY ts DESC LIMIT 16"
        );
        assert!(spec(false).read_sql().contains("NOW(6)"));
        assert!(spec(true).write_sql().starts_with(
            "REPLACE INTO `percona`.`heartbeat` (ts, server_id, file, position, relay_master_log_file, exec_master_log_pos) \
             VALUES (DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f'), @@global.server_id,"
        ));
        let odd = HeartbeatSpec { table: "a`b.c".into(), utc: true };
        assert_eq!(odd.quoted_table(), "`a``b`.`c`");
    }

    #[test]
    fn picks_the_sources_row_else_the_newest() {
        let rows =
            [row("3390", "2026-11-26T15:25:34.5", Some("500000")), row("3400", "2026-11-26T15:25:32", Some("2500000"))];
        assert_eq!(heartbeat_lag(&rows, Some(3400), "t"), Ok(2.5));
        assert_eq!(heartbeat_lag(&rows, Some(9999), "t"), Ok(0.5));
        assert_eq!(heartbeat_lag(&rows, None, "t"), Ok(0.5));
    }

    #[test]
    fn explains_what_is_wrong() {
        let empty = heartbeat_lag(&[], None, "percona.heartbeat").unwrap_err();
        assert!(empty.starts_with("percona.heartbeat has no rows"), "{empty}");
        let garbled = heartbeat_lag(&[row("3400", "yesterday", None)], None, "percona.heartbeat").unwrap_err();
        assert_eq!(garbled, "percona.heartbeat: ts \"yesterday\" in the row of server 3400 is not a timestamp");
    }
}
