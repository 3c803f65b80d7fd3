//! What the sinks are told: one alert that fired or resolved, or one action's outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// An anomaly that held for its `for` (or cleared after firing), or an action's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    /// `anomaly` or `action`.
    pub kind: &'static str,
    pub status: Status,
    pub shard: String,
    /// `host:port`; absent for shard-wide findings and actions on a shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The health rule (`sql_thread`), or `action_promote`, `action_checksum`, …
    pub rule: String,
    /// `warning`, `critical`, or `info` (an action that went as planned).
    pub severity: &'static str,
    pub summary: String,
    /// When the finding was first seen (an action: when it started).
    pub since: DateTime<Utc>,
    /// When it fired (Alertmanager's `startsAt`).
    pub starts_at: DateTime<Utc>,
    /// When it resolved; `None` while firing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Stable across the alert's life (firing, re-posts, resolution): receivers group and
    /// deduplicate by it.
    pub fingerprint: String,
}

impl Notification {
    /// The identity an alert keeps from pending to resolved: shard, instance, rule, severity.
    pub fn fingerprint_of(shard: &str, instance: Option<&str>, rule: &str, severity: &str) -> String {
        format!("{shard}/{}/{rule}/{severity}", instance.unwrap_or("-"))
    }
}
