//! Deploy markers from the sources that already record deploys (`[[markers]]`): Graphite's
//! events, and a Prometheus query read as Grafana reads annotations — each series is "something
//! happened" where it is non-zero, and each start of such a run is one marker.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{SourceError, graphite, prometheus};
use crate::config::{MarkerSourceConfig, MetricsKind};

/// How far back markers are read: the wall's charts show the last hour.
pub const SPAN: Duration = Duration::from_secs(3600);
/// Prometheus: the query is evaluated this often over the span.
const STEP: Duration = Duration::from_secs(15);

/// One read of marker source `source`: its markers (time, text), oldest first, or why not.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkerUpdate {
    pub source: usize,
    pub name: String,
    pub result: Result<Vec<(DateTime<Utc>, String)>, String>,
}

fn time(secs: f64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt((secs * 1000.0) as i64).single()
}

/// The starts of each series' non-zero runs: a point is a start when the point one step
/// before it is missing (the query filtered it out, `> 0`) or zero.
pub fn rising_edges(
    series: &[prometheus::TimedValues],
    step: f64,
    label: Option<&str>,
    text: &str,
) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    for (labels, points) in series {
        let name = label
            .and_then(|l| labels.iter().find(|(k, _)| k == l).map(|(_, v)| v.clone()))
            .map_or_else(|| text.to_string(), |v| format!("{text} {v}"));
        let mut prev: Option<(f64, f64)> = None;
        for &(t, v) in points {
            let on = v != 0.0;
            let was_on = prev.is_some_and(|(pt, pv)| pv != 0.0 && t - pt <= step * 1.5);
            if on && !was_on {
                out.push((t, name.clone()));
            }
            prev = Some((t, v));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

pub async fn read(
    http: &reqwest::Client,
    cfg: &MarkerSourceConfig,
) -> Result<Vec<(DateTime<Utc>, String)>, SourceError> {
    let found: Vec<(f64, String)> = match cfg.source {
        MetricsKind::Graphite => {
            let from = format!("-{}s", SPAN.as_secs());
            graphite::events(http, &cfg.url, &from, &cfg.tags).await?.into_iter().map(|(t, w)| (t as f64, w)).collect()
        }
        MetricsKind::Prometheus => {
            let query = cfg.query.as_deref().unwrap_or_default();
            let series = prometheus::query_range_timed(http, &cfg.url, query, SPAN, STEP).await?;
            rising_edges(&series, STEP.as_secs_f64(), cfg.text_label.as_deref(), &cfg.text)
        }
    };
    let mut out: Vec<(DateTime<Utc>, String)> = found.into_iter().filter_map(|(t, w)| Some((time(t)?, w))).collect();
    out.sort_by_key(|m| m.0);
    Ok(out)
}

/// Reads every marker source on its own interval until the receiver goes away.
pub async fn run<T: From<MarkerUpdate> + Send + 'static>(sources: Vec<MarkerSourceConfig>, tx: mpsc::Sender<T>) {
    let mut tasks = tokio::task::JoinSet::new();
    for (source, cfg) in sources.into_iter().enumerate() {
        let tx = tx.clone();
        tasks.spawn(async move {
            let name = cfg.name.clone();
            let http = match super::http_client(cfg.timeout) {
                Ok(h) => h,
                Err(e) => {
                    let _ = tx.send(MarkerUpdate { source, name, result: Err(e.0) }.into()).await;
                    return;
                }
            };
            let mut ticker = tokio::time::interval(cfg.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let result = match tokio::time::timeout(cfg.timeout * 2, read(&http, &cfg)).await {
                    Ok(r) => r.map_err(|e| e.0),
                    Err(_) => Err(format!("no answer within {}", crate::config::format_duration(cfg.timeout * 2))),
                };
                if tx.send(MarkerUpdate { source, name: name.clone(), result }.into()).await.is_err() {
                    return;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_start_of_a_non_zero_run_is_a_marker() {
        let labels = vec![("version".to_string(), "2026.12.07-1".to_string())];
        // 0 0 1 1 0 1, then a gap (filtered by `> 0`), then 1 again.
        let pts = vec![(0.0, 0.0), (15.0, 0.0), (30.0, 1.0), (45.0, 1.0), (60.0, 0.0), (75.0, 2.0), (120.0, 1.0)];
        let m = rising_edges(&[(labels, pts)], 15.0, Some("version"), "deploy");
        assert_eq!(
            m,
            vec![
                (30.0, "deploy 2026.12.07-1".into()),
                (75.0, "deploy 2026.12.07-1".into()),
                (120.0, "deploy 2026.12.07-1".into())
            ]
        );
        let m = rising_edges(&[(Vec::new(), vec![(0.0, 1.0)])], 15.0, Some("version"), "deploy");
        assert_eq!(m, vec![(0.0, "deploy".into())]);
    }
}
