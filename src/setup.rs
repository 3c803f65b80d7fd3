//! From a loaded `Config` to the runtime parts: probe options, thresholds, the fleet model,
//! one prober per server, metrics clients. Every command that watches servers starts here, and
//! so do the integration tests that build the same parts.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Config, TlsMode};
use crate::fleet::{Fleet, Limits, Shard};
use crate::metrics::{MetricsClient, SourceError};
use crate::poll::Slot;
use crate::probe::{HeartbeatSpec, ProbeOptions, Prober, Tls};

/// How the monitoring account connects: `[defaults]` account and TLS, `[poll]` timeout, `[heartbeat]` table.
pub fn probe_options(cfg: &Config) -> Arc<ProbeOptions> {
    Arc::new(ProbeOptions {
        user: cfg.defaults.user.clone(),
        password: cfg.defaults.password.clone(),
        tls: match cfg.defaults.tls {
            TlsMode::Disabled => Tls::Disabled,
            TlsMode::Required => Tls::Required,
            TlsMode::VerifyIdentity => Tls::VerifyIdentity { ca: cfg.defaults.tls_ca.clone() },
        },
        timeout: cfg.poll.timeout,
        heartbeat: cfg.heartbeat.as_ref().map(|h| HeartbeatSpec { table: h.table.clone(), utc: h.utc }),
    })
}

/// The health thresholds of `[thresholds]`.
pub fn limits(cfg: &Config) -> Limits {
    Limits {
        lag_warn: cfg.thresholds.lag_warn,
        lag_crit: cfg.thresholds.lag_crit,
        feed_p99_warn: cfg.thresholds.feed_p99_warn,
        feed_p99_crit: cfg.thresholds.feed_p99_crit,
        qps_drop_percent: cfg.thresholds.qps_drop_percent,
    }
}

/// The fleet model for a config: its shards, thresholds, feed window and metrics sources.
pub fn fleet_for(cfg: &Config, shards: Vec<Shard>) -> Fleet {
    let mut fleet = Fleet::new(shards, limits(cfg));
    if let Some(f) = &cfg.feed {
        fleet = fleet.with_feed_window(f.window);
    }
    fleet.sources = cfg
        .metrics
        .iter()
        .map(|m| {
            let kind = match m.kind {
                config::MetricsKind::Prometheus => crate::fleet::Source::Prometheus,
                config::MetricsKind::Graphite => crate::fleet::Source::Graphite,
            };
            crate::fleet::external::SourceState::new(m.name.clone(), kind)
        })
        .collect();
    if is_metrics_only(cfg) { fleet.metrics_only() } else { fleet }
}

/// `[[metrics]]` and no database account: nothing connects to a database.
pub fn is_metrics_only(cfg: &Config) -> bool {
    cfg.defaults.user.is_empty() && !cfg.metrics.is_empty()
}

/// One client per `[[metrics]]` source, with its interval.
pub fn metrics_clients(cfg: &Config) -> Result<Vec<(MetricsClient, Duration)>, SourceError> {
    let names: Vec<String> = cfg.shards.iter().map(|s| s.name.clone()).collect();
    cfg.metrics
        .iter()
        .enumerate()
        .map(|(i, m)| MetricsClient::new(i, m.clone(), names.clone()).map(|c| (c, m.interval)))
        .collect()
}

/// The shards as the config lays them out (discovery adds to them later).
pub fn layout(cfg: &Config) -> Vec<Shard> {
    cfg.shards
        .iter()
        .map(|s| Shard::new(s.name.clone(), s.master.clone(), s.replicas.iter().cloned(), s.upstream.clone()))
        .collect()
}

/// One prober per instance, in the layout's order.
pub fn probers(shards: &[Shard], opts: &Arc<ProbeOptions>) -> Vec<(Slot, Prober)> {
    let mut out = Vec::new();
    for (shard, s) in shards.iter().enumerate() {
        for (instance, i) in s.instances.iter().enumerate() {
            out.push((Slot { shard, instance }, Prober::new(i.addr.clone(), opts.clone())));
        }
    }
    out
}

/// Say goodbye to the servers that answer; don't wait long on the ones that don't.
pub async fn close_all(probes: &mut [(Slot, Prober)]) {
    futures::future::join_all(probes.iter_mut().map(|(_, p)| p.close(Duration::from_millis(200)))).await;
}
