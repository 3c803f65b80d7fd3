//! The file as serde sees it: every value optional and wrapped in `Spanned`,
//! so validation can point at the exact line and column, and defaults are
//! applied with the checks (`sections/`), not scattered over serde attributes.
//! This is the top level; each section's raw struct sits in its own file.

use serde::Deserialize;
use toml::Spanned;

use super::sections::actions::RawActions;
use super::sections::alerts::RawAlerts;
use super::sections::checksum::RawChecksum;
use super::sections::defaults::RawDefaults;
use super::sections::feed::RawFeed;
use super::sections::heartbeat::RawHeartbeat;
use super::sections::keys::RawKeys;
use super::sections::kiosk::RawKiosk;
use super::sections::markers::RawMarkers;
use super::sections::metrics::RawMetrics;
use super::sections::panel::RawPanel;
use super::sections::poll::RawPoll;
use super::sections::record::RawRecord;
use super::sections::shard::RawShard;
use super::sections::thresholds::RawThresholds;
use super::sections::ui::RawUi;
use super::sections::{
    actions, alerts, checksum, defaults, feed, heartbeat, keys, kiosk, markers, metrics, panel, poll, record, shard,
    thresholds, ui,
};

/// A value that may be missing, with where it was written.
pub(super) type Opt<T> = Option<Spanned<T>>;

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
    pub panel: Vec<Spanned<RawPanel>>,
    #[serde(default)]
    pub markers: Vec<Spanned<RawMarkers>>,
    #[serde(default)]
    pub shard: Vec<Spanned<RawShard>>,
    pub ui: Option<RawUi>,
    pub kiosk: Option<RawKiosk>,
    pub actions: Opt<RawActions>,
    pub checksum: Option<RawChecksum>,
    pub keys: Option<RawKeys>,
    pub alerts: Opt<RawAlerts>,
    pub record: Option<RawRecord>,
}

/// Known keys per section (`""` is the top level), for "did you mean" and for
/// naming the section in serde's unknown-field errors. A test keeps this in
/// step with the structs.
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
            "panel",
            "markers",
            "shard",
            "ui",
            "kiosk",
            "keys",
            "actions",
            "checksum",
            "alerts",
            "record",
        ],
    ),
    ("poll", poll::KEYS),
    ("defaults", defaults::KEYS),
    ("thresholds", thresholds::KEYS),
    ("heartbeat", heartbeat::KEYS),
    ("feed", feed::KEYS),
    ("metrics", metrics::KEYS),
    ("panel", panel::KEYS),
    ("markers", markers::KEYS),
    ("shard", shard::KEYS),
    ("ui", ui::KEYS),
    ("kiosk", kiosk::KEYS),
    ("keys", keys::KEYS),
    ("checksum", checksum::KEYS),
    ("actions", actions::KEYS),
    ("alerts", alerts::KEYS),
    ("alerts.webhook", alerts::WEBHOOK_KEYS),
    ("record", record::KEYS),
];

/// How a section is written in the file: `[poll]`, but `[[shard]]`.
pub(super) fn section_header(name: &str) -> String {
    if matches!(name, "shard" | "metrics" | "alerts.webhook" | "panel" | "markers") {
        format!("[[{name}]]")
    } else {
        format!("[{name}]")
    }
}
