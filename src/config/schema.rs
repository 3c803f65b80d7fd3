//! The file as serde sees it: every value optional and wrapped in `Spanned`,
//! so validation can point at the exact line and column, and defaults are
//! applied in one place (`validate`), not scattered over serde attributes.

use serde::Deserialize;
use toml::Spanned;

use super::duration::DurationInput;

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub poll: Option<RawPoll>,
    pub defaults: Opt<RawDefaults>,
    pub thresholds: Option<RawThresholds>,
    pub heartbeat: Opt<RawHeartbeat>,
    pub feed: Opt<RawFeed>,
    #[serde(default)]
    pub metrics: Vec<Spanned<RawMetrics>>,
    #[serde(default)]
    pub shard: Vec<Spanned<RawShard>>,
    pub ui: Option<RawUi>,
    pub actions: Opt<RawActions>,
    pub checksum: Option<RawChecksum>,
    pub keys: Option<RawKeys>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    // Signed, so that 0 and -1 reach validation and are reported with the rest.
    pub concurrency: Opt<i64>,
    pub discovery_interval: Opt<DurationInput>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub user: Opt<String>,
    pub password_env: Opt<String>,
    pub password_file: Opt<String>,
    pub tls: Opt<String>,
    pub tls_ca: Opt<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThresholds {
    pub lag_warn: Opt<DurationInput>,
    pub lag_crit: Opt<DurationInput>,
    pub feed_p99_warn: Opt<DurationInput>,
    pub feed_p99_crit: Opt<DurationInput>,
    pub qps_drop_percent: Opt<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeartbeat {
    pub table: Opt<String>,
    pub utc: Option<bool>,
    pub write: Option<bool>,
    pub interval: Opt<DurationInput>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    pub query: Opt<String>,
    pub database: Opt<String>,
    // Signed, so that negative ids reach validation and are reported with the rest.
    pub user_ids: Opt<Vec<Spanned<i64>>>,
    pub user_id_range: Opt<Vec<Spanned<i64>>>,
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    pub targets: Opt<String>,
    pub window: Opt<DurationInput>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub name: Opt<String>,
    pub kind: Opt<String>,
    pub url: Opt<String>,
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    pub shard_label: Opt<String>,
    pub shard_node: Opt<i64>,
    pub qps: Opt<String>,
    pub lag: Opt<String>,
    pub feed_p99: Opt<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    pub name: Opt<String>,
    pub master: Opt<String>,
    pub replicas: Option<Vec<Spanned<String>>>,
    pub upstream: Opt<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUi {
    pub theme: Opt<String>,
    pub kiosk_rotate: Opt<DurationInput>,
    pub fps: Opt<i64>,
    pub mouse: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub bind: Option<Vec<Spanned<RawBinding>>>,
}

/// `{ on = "x" | ["x", "y"], run = "action", desc = "…" }`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBinding {
    pub on: Spanned<OneOrMany>,
    pub run: Spanned<String>,
    pub desc: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawActions {
    pub enabled: Option<bool>,
    pub audit_log: Opt<String>,
    pub user: Opt<String>,
    pub password_env: Opt<String>,
    pub password_file: Opt<String>,
    pub replication_user: Opt<String>,
    pub replication_password_env: Opt<String>,
    pub replication_password_file: Opt<String>,
    pub catchup_timeout: Opt<DurationInput>,
    pub post_promote_hook: Opt<String>,
    pub hook_timeout: Opt<DurationInput>,
    pub lock_dir: Opt<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecksum {
    pub table: Opt<String>,
    pub chunk_time: Opt<DurationInput>,
    pub max_lag: Opt<DurationInput>,
    pub max_threads_running: Opt<i64>,
}

/// Known keys per section (`""` is the top level), for "did you mean" and for
/// naming the section in serde's unknown-field errors. A test keeps this in
/// step with the structs above.
pub(super) const SECTIONS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "poll",
            "defaults",
            "thresholds",
            "heartbeat",
            "feed",
            "metrics",
            "shard",
            "ui",
            "keys",
            "actions",
            "checksum",
        ],
    ),
    ("poll", &["interval", "timeout", "concurrency", "discovery_interval"]),
    ("defaults", &["user", "password_env", "password_file", "tls", "tls_ca"]),
    ("thresholds", &["lag_warn", "lag_crit", "feed_p99_warn", "feed_p99_crit", "qps_drop_percent"]),
    ("heartbeat", &["table", "utc", "write", "interval"]),
    ("feed", &["query", "database", "user_ids", "user_id_range", "interval", "timeout", "targets", "window"]),
    ("metrics", &["name", "kind", "url", "interval", "timeout", "shard_label", "shard_node", "qps", "lag", "feed_p99"]),
    ("shard", &["name", "master", "replicas", "upstream"]),
    ("ui", &["theme", "kiosk_rotate", "fps", "mouse"]),
    ("keys", &["bind"]),
    ("checksum", &["table", "chunk_time", "max_lag", "max_threads_running"]),
    (
        "actions",
        &[
            "enabled",
            "audit_log",
            "user",
            "password_env",
            "password_file",
            "replication_user",
            "replication_password_env",
            "replication_password_file",
            "catchup_timeout",
            "post_promote_hook",
            "hook_timeout",
            "lock_dir",
        ],
    ),
];

/// How a section is written in the file: `[poll]`, but `[[shard]]`.
pub(super) fn section_header(name: &str) -> String {
    if name == "shard" || name == "metrics" { format!("[[{name}]]") } else { format!("[{name}]") }
}
