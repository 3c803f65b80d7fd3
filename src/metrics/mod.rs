//! External metrics: Prometheus and Graphite as sources for a shard's request
//! rate, replication lag and feed latency, when they are already collected
//! there (mysqld_exporter, statsd) — or when shardtop runs on a bastion with no
//! database credentials at all (metrics-only mode).
//!
//! A client never panics and never hangs: every request is bounded by the
//! source's timeout, and timeouts, HTTP errors, `status: error` and malformed
//! JSON all become a "source down" update with the reason.

pub mod graphite;
pub mod markers;
pub mod panel;
pub mod prometheus;

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::config::{MetricsConfig, MetricsKind};
use crate::fleet::Source;
pub use crate::fleet::external::{Figure, MetricsUpdate};

/// Why a request to a source failed, in words for the operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// One series of a query's answer: its name or labels, reduced to the shard it
/// belongs to by the caller, and its latest value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Prometheus: the label set; Graphite: `[("target", name)]`.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

pub struct MetricsClient {
    index: usize,
    cfg: MetricsConfig,
    http: reqwest::Client,
    shards: Vec<String>,
}

impl MetricsClient {
    pub fn new(index: usize, cfg: MetricsConfig, shards: Vec<String>) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .user_agent(concat!("shardtop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError(format!("{}: cannot build an HTTP client: {e}", cfg.name)))?;
        Ok(MetricsClient { index, cfg, http, shards })
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.cfg
    }

    /// Ask every configured query once; never takes much longer than the
    /// timeout per query.
    pub async fn poll(&self) -> MetricsUpdate {
        let kind = match self.cfg.kind {
            MetricsKind::Prometheus => Source::Prometheus,
            MetricsKind::Graphite => Source::Graphite,
        };
        let mut update = MetricsUpdate {
            source: self.index,
            kind,
            at: Utc::now(),
            values: Vec::new(),
            error: None,
            notes: Vec::new(),
            backfill: Vec::new(),
            remote: Vec::new(),
        };
        let queries = [
            (Figure::Qps, &self.cfg.qps),
            (Figure::Lag, &self.cfg.lag),
            (Figure::FeedP99, &self.cfg.feed_p99),
            (Figure::Health, &self.cfg.health),
        ];
        for (figure, query) in queries {
            let Some(query) = query else { continue };
            let answer = match self.cfg.kind {
                MetricsKind::Prometheus => prometheus::query(&self.http, &self.cfg.url, query).await,
                MetricsKind::Graphite => graphite::render(&self.http, &self.cfg.url, query).await,
            };
            match answer {
                Ok(points) => {
                    let before = update.values.len();
                    for p in points {
                        if let Some(shard) = self.shard_of(&p) {
                            update.values.push((shard, figure, p.value));
                        }
                    }
                    if update.values.len() == before {
                        update.notes.push(format!("{}: no series for any shard", figure.key()));
                    }
                }
                Err(e) => {
                    update.error = Some(format!("{}: {e}", figure.key()));
                    break;
                }
            }
        }
        update.at = Utc::now();
        update
    }

    /// Recent history for the charts (Prometheus only: QPS and feed p99 over
    /// `span`, one point per `step`), so a fresh start does not show empty
    /// trends. Failures are reported like a poll's.
    pub async fn backfill(&self, span: Duration, step: Duration) -> MetricsUpdate {
        let mut update = MetricsUpdate {
            source: self.index,
            kind: Source::Prometheus,
            at: Utc::now(),
            values: Vec::new(),
            error: None,
            notes: Vec::new(),
            backfill: Vec::new(),
            remote: Vec::new(),
        };
        if self.cfg.kind != MetricsKind::Prometheus {
            return update;
        }
        for (figure, query) in [(Figure::Qps, &self.cfg.qps), (Figure::FeedP99, &self.cfg.feed_p99)] {
            let Some(query) = query else { continue };
            match prometheus::query_range(&self.http, &self.cfg.url, query, span, step).await {
                Ok(series) => {
                    for (labels, values) in series {
                        if let Some(shard) = self.shard_of(&Point { labels, value: 0.0 }) {
                            update.backfill.push((shard, figure, values));
                        }
                    }
                }
                Err(e) => {
                    update.error = Some(format!("{} (range): {e}", figure.key()));
                    break;
                }
            }
        }
        update
    }

    /// Which shard a series belongs to: Prometheus by the shard label,
    /// Graphite by a node of the target name.
    fn shard_of(&self, p: &Point) -> Option<usize> {
        match self.cfg.kind {
            MetricsKind::Prometheus => {
                let name = p.labels.iter().find(|(k, _)| *k == self.cfg.shard_label).map(|(_, v)| v)?;
                self.shards.iter().position(|s| s == name)
            }
            MetricsKind::Graphite => {
                let target = p.labels.iter().find(|(k, _)| k == "target").map(|(_, v)| v.as_str())?;
                graphite::shard_in_target(target, &self.shards, self.cfg.shard_node)
            }
        }
    }
}

/// Polls a source every `interval` until the receiver goes away.
/// With `backfill` = (span, step), chart history is asked for first.
pub async fn run<T: From<MetricsUpdate>>(
    client: MetricsClient,
    interval: Duration,
    backfill: Option<(Duration, Duration)>,
    tx: mpsc::Sender<T>,
) {
    if let Some((span, step)) = backfill {
        let u = client.backfill(span, step).await;
        if u.error.is_none() && tx.send(u.into()).await.is_err() {
            return;
        }
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if tx.send(client.poll().await.into()).await.is_err() {
            return;
        }
    }
}

/// An HTTP client whose every request is bounded by `timeout`.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("shardtop/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceError(format!("cannot build an HTTP client: {e}")))
}

/// A reqwest failure in words: timeout, refused, or other.
pub(crate) fn http_error(e: &reqwest::Error, timeout_hint: &str) -> SourceError {
    let what = if e.is_timeout() {
        format!("no answer within {timeout_hint}")
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else if e.is_decode() || e.is_body() {
        format!("unreadable answer: {}", root_cause(e))
    } else {
        root_cause(e)
    };
    SourceError(what)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
