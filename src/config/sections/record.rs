//! `[record]`: where the fleet's history is recorded, for how long, and whether the TUI records too.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::Checker;

/// What `shardtop record` and the TUI's recording use unless the command line says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// The recording; `None`: the data directory's `shardtop/recording.db`.
    pub path: Option<PathBuf>,
    /// History kept; older blocks are dropped in place.
    pub retention: Duration,
    /// The TUI records its session too (as `--record PATH` asks).
    pub tui: bool,
}

impl RecordConfig {
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(48 * 3600);
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig { path: None, retention: Self::DEFAULT_RETENTION, tui: false }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawRecord {
    pub path: Opt<String>,
    pub retention: Opt<DurationInput>,
    pub tui: Option<bool>,
}

pub(in crate::config) const KEYS: &[&str] = &["path", "retention", "tui"];

impl Checker<'_> {
    pub(in crate::config) fn record(&mut self, raw: RawRecord) -> RecordConfig {
        let d = RecordConfig::default();
        let retention = self.duration("record.retention", raw.retention, d.retention).map(|v| v.v);
        RecordConfig {
            path: raw.path.as_ref().and_then(|p| self.path_value("record.path", p)),
            retention: retention.unwrap_or(d.retention),
            tui: raw.tui.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn defaults_and_a_full_section() {
        let c = ok(SHARD, &fixture_env()).config.record;
        assert_eq!(c, RecordConfig::default());
        let text =
            format!("[record]\npath = \"/var/lib/shardtop/fleet.db\"\nretention = \"168h\"\ntui = true\n{SHARD}");
        let c = ok(&text, &fixture_env()).config.record;
        assert_eq!(
            c,
            RecordConfig {
                path: Some("/var/lib/shardtop/fleet.db".into()),
                retention: Duration::from_secs(7 * 86400),
                tui: true
            }
        );
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = err(&format!("[record]\nretention = \"soon\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "record.retention"), "{e}");
        let e = err(&format!("[record]\npath = \"\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "record.path is empty"), "{e}");
        let e = err(&format!("[record]\nretain = \"1h\"\n{SHARD}"), &fixture_env());
        assert!(e.to_string().contains("retain"), "{e}");
    }
}
