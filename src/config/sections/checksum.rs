//! `[checksum]`: the pt-table-checksum compatible consistency check.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, is_table_name};

/// The consistency check (pt-table-checksum compatible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumConfig {
    /// Result table, `db.table`, in pt-table-checksum's layout.
    pub table: String,
    /// Chunk size adapts so one chunk takes about this long on the master.
    pub chunk_time: Duration,
    /// Pause while any replica lags more than this.
    pub max_lag: Duration,
    /// Pause while the master runs more than this many threads.
    pub max_threads_running: u64,
    /// Give up on a replica that stays stopped, unreachable or behind this long (the throttle
    /// and the final wait for it to apply the last chunk).
    pub replica_timeout: Duration,
}

impl Default for ChecksumConfig {
    fn default() -> Self {
        ChecksumConfig {
            table: "percona.checksums".into(),
            chunk_time: Duration::from_millis(500),
            max_lag: Duration::from_secs(1),
            max_threads_running: 25,
            replica_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawChecksum {
    pub table: Opt<String>,
    pub chunk_time: Opt<DurationInput>,
    pub max_lag: Opt<DurationInput>,
    pub max_threads_running: Opt<i64>,
    pub replica_timeout: Opt<DurationInput>,
}

/// The keys of `[checksum]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawChecksum`.
pub(in crate::config) const KEYS: &[&str] =
    &["table", "chunk_time", "max_lag", "max_threads_running", "replica_timeout"];

impl Checker<'_> {
    pub(in crate::config) fn checksum(&mut self, raw: RawChecksum) -> ChecksumConfig {
        let d = ChecksumConfig::default();
        let table = match raw.table {
            Some(t) if is_table_name(t.get_ref()) => t.into_inner(),
            Some(t) => {
                self.error(
                    Some(&t.span()),
                    format!(
                        "checksum.table {:?} is not `db.table` with names made of letters, digits, _ and $",
                        t.get_ref()
                    ),
                    "e.g. \"percona.checksums\" (pt-table-checksum's default)".to_string(),
                );
                d.table.clone()
            }
            None => d.table.clone(),
        };
        let chunk_time =
            self.duration("checksum.chunk_time", raw.chunk_time, d.chunk_time).map_or(d.chunk_time, |v| v.v);
        let max_lag = self.duration("checksum.max_lag", raw.max_lag, d.max_lag).map_or(d.max_lag, |v| v.v);
        let max_threads_running = match raw.max_threads_running {
            Some(n) if *n.get_ref() >= 1 => *n.get_ref() as u64,
            Some(n) => {
                self.error(Some(&n.span()), "checksum.max_threads_running must be at least 1".into(), None);
                d.max_threads_running
            }
            None => d.max_threads_running,
        };
        let replica_timeout = self
            .duration("checksum.replica_timeout", raw.replica_timeout, d.replica_timeout)
            .map_or(d.replica_timeout, |v| v.v);
        ChecksumConfig { table, chunk_time, max_lag, max_threads_running, replica_timeout }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn checksum_defaults_and_limits() {
        assert_eq!(ok(SHARD, &fixture_env()).config.checksum, ChecksumConfig::default());
        assert_eq!(ChecksumConfig::default().table, "percona.checksums", "pt-table-checksum's own table");
        let text = format!("[checksum]\ntable = \"checksums\"\nchunk_time = 0\nmax_threads_running = 0\n{SHARD}");
        let e = err(&text, &fixture_env());
        assert!(has(&e, Some(2), "checksum.table \"checksums\" is not `db.table`"), "{e}");
        assert!(has(&e, Some(3), "checksum.chunk_time must be greater than 0"), "{e}");
        assert!(has(&e, Some(4), "checksum.max_threads_running must be at least 1"), "{e}");
        let text = format!("[checksum]\nreplica_timeout = \"5s\"\n{SHARD}");
        assert_eq!(ok(&text, &fixture_env()).config.checksum.replica_timeout, Duration::from_secs(5));
        let e = err(&format!("[checksum]\nreplica_timeout = 0\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "checksum.replica_timeout must be greater than 0"), "{e}");
    }
}
