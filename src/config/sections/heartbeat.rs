//! `[heartbeat]`: a pt-heartbeat table, for true replication lag.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, is_table_name};

/// A pt-heartbeat-compatible table, for true lag (Seconds_Behind_Master lies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// `db.table`, both parts checked to be plain identifiers, so safe to splice into SQL.
    pub table: String,
    /// Timestamps are written in UTC (pt-heartbeat `--utc`).
    pub utc: bool,
    /// Run shardtop's own writer on each master; off so a monitor never writes unless asked.
    pub write: bool,
    pub interval: Duration,
}

impl HeartbeatConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawHeartbeat {
    pub table: Opt<String>,
    pub utc: Option<bool>,
    pub write: Option<bool>,
    pub interval: Opt<DurationInput>,
}

/// The keys of `[heartbeat]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawHeartbeat`.
pub(in crate::config) const KEYS: &[&str] = &["table", "utc", "write", "interval"];

impl Checker<'_> {
    pub(in crate::config) fn heartbeat(&mut self, raw: Spanned<RawHeartbeat>) -> HeartbeatConfig {
        let section = raw.span();
        let raw = raw.into_inner();
        let table = match raw.table {
            None => {
                self.error(
                    Some(&section),
                    "[heartbeat] has no `table`".into(),
                    "name the pt-heartbeat table as db.table, e.g. table = \"percona.heartbeat\"".to_string(),
                );
                String::new()
            }
            Some(t) => {
                if !is_table_name(t.get_ref()) {
                    self.error(
                        Some(&t.span()),
                        format!(
                            "heartbeat.table {:?} is not `db.table` with names made of letters, digits, _ and $",
                            t.get_ref()
                        ),
                        "e.g. \"percona.heartbeat\"; the name goes into SQL, so nothing else is accepted".to_string(),
                    );
                }
                t.into_inner()
            }
        };
        let interval = self.duration("heartbeat.interval", raw.interval, HeartbeatConfig::DEFAULT_INTERVAL);
        HeartbeatConfig {
            table,
            utc: raw.utc.unwrap_or(true),
            write: raw.write.unwrap_or(false),
            interval: interval.map_or(HeartbeatConfig::DEFAULT_INTERVAL, |v| v.v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn a_heartbeat_needs_a_plain_table_name() {
        let h = ok(&format!("[heartbeat]\ntable = \"percona.heartbeat\"\n{SHARD}"), &fixture_env()).config.heartbeat;
        assert_eq!(
            h,
            Some(HeartbeatConfig {
                table: "percona.heartbeat".into(),
                utc: true,
                write: false,
                interval: Duration::from_secs(1)
            }),
            "UTC, read-only and 1 s unless told otherwise"
        );
        let e = err(&format!("[heartbeat]\nwrite = true\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "[heartbeat] has no `table`"), "{e}");
        let e = err(&format!("[heartbeat]\ntable = \"percona.heartbeat; DROP TABLE x\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "is not `db.table`"), "{e}");
    }
}
