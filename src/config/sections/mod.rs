//! One file per TOML section: its validated type with defaults, its raw form as
//! serde reads it, its keys, its checks (methods of the shared `Checker`) and
//! its tests. The machinery they share (spans to lines, reporting, durations,
//! paths) is in `validate.rs`; unknown keys and TOML errors in `problem.rs`.

pub(super) mod actions;
pub(super) mod alerts;
pub(super) mod checksum;
pub(super) mod defaults;
pub(super) mod feed;
pub(super) mod heartbeat;
pub(super) mod keys;
pub(super) mod kiosk;
pub(super) mod markers;
pub(super) mod metrics;
pub(super) mod panel;
pub(super) mod poll;
pub(super) mod record;
pub(super) mod shard;
pub(super) mod thresholds;
pub(super) mod ui;
