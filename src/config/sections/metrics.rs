//! `[[metrics]]`: Prometheus and Graphite sources.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::DurationInput;
use crate::config::problem::closest;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, Val};

/// A Prometheus or Graphite server to read shard figures from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// For messages and the UI; default "KIND HOST:PORT".
    pub name: String,
    pub kind: MetricsKind,
    /// Base URL, e.g. `http://prometheus:9090` (no credentials in it).
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Prometheus: the label whose value is the shard's name.
    pub shard_label: String,
    /// Graphite: the dot-separated node of a target that is the shard's name
    /// (0-based); `None`: any node equal to a shard name.
    pub shard_node: Option<usize>,
    /// Queries (PromQL, or Graphite targets) giving one value per shard; `None`: not read here.
    pub qps: Option<String>,
    pub lag: Option<String>,
    pub feed_p99: Option<String>,
    /// A shard's health as another shardtop reports it (0 ok, 1 warning, 2 critical, 3 unknown):
    /// `max by (shard) (shardtop_shard_health)` reads back what `shardtop serve` collectors export.
    pub health: Option<String>,
}

impl MetricsConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_SHARD_LABEL: &str = "shard";

    /// mysqld_exporter's names, summed (QPS) or maxed (lag) per shard.
    pub fn default_prometheus_qps(label: &str) -> String {
        format!("sum by ({label}) (rate(mysql_global_status_questions[1m]))")
    }

    /// Heartbeat lag when the exporter collects it (`--collect.heartbeat`), else Seconds_Behind_Master/_Source.
    pub fn default_prometheus_lag(label: &str) -> String {
        format!(
            "max by ({label}) (mysql_heartbeat_now_timestamp_seconds - mysql_heartbeat_stored_timestamp_seconds) \
             or max by ({label}) (mysql_slave_status_seconds_behind_master) \
             or max by ({label}) (mysql_slave_status_seconds_behind_source)"
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsKind {
    Prometheus,
    Graphite,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawMetrics {
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
    pub health: Opt<String>,
}

/// The keys of `[[metrics]]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawMetrics`.
pub(in crate::config) const KEYS: &[&str] =
    &["name", "kind", "url", "interval", "timeout", "shard_label", "shard_node", "qps", "lag", "feed_p99", "health"];

impl Checker<'_> {
    pub(in crate::config) fn metrics(&mut self, raw: Vec<Spanned<RawMetrics>>) -> Vec<MetricsConfig> {
        raw.into_iter().enumerate().filter_map(|(i, m)| self.one_source(i + 1, m)).collect()
    }

    fn one_source(&mut self, number: usize, raw: Spanned<RawMetrics>) -> Option<MetricsConfig> {
        let header = raw.span();
        let raw = raw.into_inner();
        let label = format!("[[metrics]] #{number}");
        let kind = match &raw.kind {
            None => {
                self.error(
                    Some(&header),
                    format!("{label} has no kind"),
                    "kind = \"prometheus\" or kind = \"graphite\"".to_string(),
                );
                None
            }
            Some(k) => match k.get_ref().trim().to_ascii_lowercase().as_str() {
                "prometheus" => Some(MetricsKind::Prometheus),
                "graphite" => Some(MetricsKind::Graphite),
                other => {
                    let hint = match closest(other, ["prometheus", "graphite"]) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => "accepted: \"prometheus\", \"graphite\"".into(),
                    };
                    self.error(Some(&k.span()), format!("metrics.kind: unknown kind {:?}", k.get_ref()), hint);
                    None
                }
            },
        };
        let url = match &raw.url {
            None => {
                self.error(
                    Some(&header),
                    format!("{label} has no url"),
                    "e.g. url = \"http://prometheus.example.com:9090\"".to_string(),
                );
                None
            }
            Some(u) => self.source_url("metrics.url", u),
        };
        let interval = self.duration("metrics.interval", raw.interval, MetricsConfig::DEFAULT_INTERVAL);
        let timeout = self.duration("metrics.timeout", raw.timeout, MetricsConfig::DEFAULT_TIMEOUT);
        if let (Some(i), Some(t)) = (&interval, &timeout)
            && t.v > i.v
        {
            self.error(
                t.span.as_ref().or(i.span.as_ref()),
                format!("metrics.timeout ({}) is longer than metrics.interval ({})", t.describe(), i.describe()),
                "lower metrics.timeout or raise metrics.interval".to_string(),
            );
        }
        let shard_label = match &raw.shard_label {
            None => MetricsConfig::DEFAULT_SHARD_LABEL.to_string(),
            Some(l) => {
                let ok = l.get_ref().chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && l.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    self.error(
                        Some(&l.span()),
                        format!("metrics.shard_label {:?} is not a Prometheus label name", l.get_ref()),
                        "letters, digits and _, not starting with a digit; e.g. \"shard\"".to_string(),
                    );
                }
                l.get_ref().clone()
            }
        };
        let shard_node = raw.shard_node.as_ref().and_then(|n| match usize::try_from(*n.get_ref()) {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(Some(&n.span()), format!("metrics.shard_node must be 0 or more, got {}", n.get_ref()), None);
                None
            }
        });
        // An empty query string turns that figure off for this source.
        let query = |q: &Option<Spanned<String>>| q.as_ref().map(|q| q.get_ref().trim().to_string());
        let (mut qps, mut lag, feed_p99) = (query(&raw.qps), query(&raw.lag), query(&raw.feed_p99));
        if kind == Some(MetricsKind::Prometheus) {
            qps.get_or_insert_with(|| MetricsConfig::default_prometheus_qps(&shard_label));
            lag.get_or_insert_with(|| MetricsConfig::default_prometheus_lag(&shard_label));
        }
        let [qps, lag, feed_p99, health] =
            [qps, lag, feed_p99, query(&raw.health)].map(|q| q.filter(|q| !q.is_empty()));
        if kind == Some(MetricsKind::Graphite)
            && qps.is_none()
            && lag.is_none()
            && feed_p99.is_none()
            && health.is_none()
        {
            self.error(
                Some(&header),
                format!("{label}: a graphite source needs at least one of qps, lag, feed_p99, health"),
                "each is a target, e.g. qps = \"aliasByNode(stats.mysql.*.qps, 2)\"".to_string(),
            );
        }
        let (kind, url) = (kind?, url?);
        let name = match &raw.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().clone(),
            _ => {
                let host = reqwest::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0))));
                let k = if kind == MetricsKind::Prometheus { "prometheus" } else { "graphite" };
                format!("{k} {}", host.unwrap_or_default())
            }
        };
        let pick = |v: Option<Val<Duration>>, d| v.map_or(d, |v| v.v);
        Some(MetricsConfig {
            name,
            kind,
            url,
            interval: pick(interval, MetricsConfig::DEFAULT_INTERVAL),
            timeout: pick(timeout, MetricsConfig::DEFAULT_TIMEOUT),
            shard_label,
            shard_node,
            qps,
            lag,
            feed_p99,
            health,
        })
    }

    pub(in crate::config) fn source_url(&mut self, key: &str, u: &Spanned<String>) -> Option<String> {
        let text = u.get_ref().trim();
        let parsed = match reqwest::Url::parse(text) {
            Ok(p) if p.scheme() == "http" || p.scheme() == "https" => p,
            Ok(p) => {
                self.error(Some(&u.span()), format!("{key}: scheme {:?} is not http or https", p.scheme()), None);
                return None;
            }
            Err(e) => {
                self.error(
                    Some(&u.span()),
                    format!("{key} {text:?} is not a URL: {e}"),
                    "e.g. \"http://prometheus.example.com:9090\"".to_string(),
                );
                return None;
            }
        };
        // Never echo what may be a password.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            self.error(
                Some(&u.span()),
                format!("{key} carries credentials (user:password@): shardtop does not take secrets in the config"),
                "put the source behind a local proxy that adds them, or open it to this host".to_string(),
            );
            return None;
        }
        Some(text.trim_end_matches('/').to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn metrics_only_needs_no_database_user() {
        let prom = "[[metrics]]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9090/\"\n";
        let c = ok(&format!("{prom}{SHARD}"), &bare_env()).config;
        assert_eq!(c.defaults.user, "", "no user: metrics-only");
        let m = &c.metrics[0];
        assert_eq!(
            (m.kind, m.url.as_str(), m.name.as_str()),
            (MetricsKind::Prometheus, "http://127.0.0.1:9090", "prometheus 127.0.0.1:9090")
        );
        assert_eq!(m.qps.as_deref(), Some("sum by (shard) (rate(mysql_global_status_questions[1m]))"));
        assert!(m.lag.as_deref().is_some_and(|l| l.contains("mysql_slave_status_seconds_behind_master")));
        assert_eq!(m.feed_p99, None);
        // Without a source there is nothing to watch without a user.
        let e = err(SHARD, &bare_env());
        assert!(has(&e, None, "no user: set [defaults] user"), "{e}");
        // The feed probe is a database read: it needs the account.
        let e = err(&format!("{prom}[feed]\n{SHARD}"), &bare_env());
        assert!(e.to_string().contains("[feed] needs a database account"), "{e}");
    }
}
