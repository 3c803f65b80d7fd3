//! Reading an application panel (`[[panel]]`): its value now, its last hour for the trend, and
//! its value the comparison period ago from the source's own history — Graphite's
//! `timeShift(target, "1d")`, Prometheus's query evaluated a day back (the whole expression's
//! `offset 1d`). Several series are folded into one by the panel's `reduce`, point by point.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{SourceError, graphite, prometheus};
use crate::config::{MetricsKind, PanelConfig, Reduce};

/// The trend covers the last hour.
pub const HISTORY: Duration = Duration::from_secs(3600);
/// Prometheus: one trend point per this (120 points an hour).
const STEP: Duration = Duration::from_secs(30);

/// What a panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PanelReading {
    /// The newest value, `None` when the source has no data for the query.
    pub value: Option<f64>,
    /// The value the comparison period ago (the same time yesterday).
    pub before: Option<f64>,
    /// The last hour, oldest first.
    pub history: Vec<f64>,
}

/// One read of panel `index`: a reading, or why the source could not give one.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelUpdate {
    pub index: usize,
    pub at: DateTime<Utc>,
    pub result: Result<PanelReading, String>,
}

/// Several series' points folded into one series by time, oldest first.
pub fn fold<I>(series: I, reduce: Reduce) -> Vec<(i64, f64)>
where
    I: IntoIterator<Item = Vec<(i64, Option<f64>)>>,
{
    let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for s in series {
        for (t, v) in s {
            if let Some(v) = v {
                by_time.entry(t).or_default().push(v);
            }
        }
    }
    by_time.into_iter().filter_map(|(t, v)| Some((t, reduce.apply(&v)?))).collect()
}

/// Graphite's way of writing a duration in `timeShift`: whole days, hours, minutes or seconds.
pub fn graphite_offset(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The value at `t`, or the newest before it (a shifted series' bucket may be empty).
fn at_or_before(points: &[(i64, f64)], t: i64) -> Option<f64> {
    points.iter().rev().find(|(pt, _)| *pt <= t).map(|p| p.1)
}

pub async fn read(http: &reqwest::Client, cfg: &PanelConfig) -> Result<PanelReading, SourceError> {
    match cfg.source {
        MetricsKind::Graphite => read_graphite(http, cfg).await,
        MetricsKind::Prometheus => read_prometheus(http, cfg).await,
    }
}

async fn read_graphite(http: &reqwest::Client, cfg: &PanelConfig) -> Result<PanelReading, SourceError> {
    let from = format!("-{}s", HISTORY.as_secs());
    let now = graphite::render_series(http, &cfg.url, &cfg.query, &from).await?;
    let points = fold(now.into_iter().map(|s| s.1), cfg.reduce);
    let mut reading =
        PanelReading { value: points.last().map(|p| p.1), before: None, history: points.iter().map(|p| p.1).collect() };
    if let (Some(d), Some(&(t, _))) = (cfg.compare, points.last()) {
        let shifted = format!("timeShift({}, \"{}\")", cfg.query, graphite_offset(d));
        let then = graphite::render_series(http, &cfg.url, &shifted, &from).await?;
        reading.before = at_or_before(&fold(then.into_iter().map(|s| s.1), cfg.reduce), t);
    }
    Ok(reading)
}

async fn read_prometheus(http: &reqwest::Client, cfg: &PanelConfig) -> Result<PanelReading, SourceError> {
    let series = prometheus::query_range_timed(http, &cfg.url, &cfg.query, HISTORY, STEP).await?;
    // Keyed by millisecond: the range ends at now, a fraction of a second past a whole one.
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let points = fold(
        series.into_iter().map(|(_, pts)| pts.into_iter().map(|(t, v)| (ms(t), Some(v))).collect::<Vec<_>>()),
        cfg.reduce,
    );
    let mut reading =
        PanelReading { value: points.last().map(|p| p.1), before: None, history: points.iter().map(|p| p.1).collect() };
    if let (Some(d), Some(&(t, _))) = (cfg.compare, points.last()) {
        let then = prometheus::query_at(http, &cfg.url, &cfg.query, Some(t as f64 / 1000.0 - d.as_secs_f64())).await?;
        let values: Vec<f64> = then.iter().map(|p| p.value).collect();
        reading.before = cfg.reduce.apply(&values);
    }
    Ok(reading)
}

/// Reads every panel on its own interval, each in its own task (a slow source holds up only
/// its own panels), until the receiver goes away.
pub async fn run<T: From<PanelUpdate> + Send + 'static>(panels: Vec<PanelConfig>, tx: mpsc::Sender<T>) {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, cfg) in panels.into_iter().enumerate() {
        let tx = tx.clone();
        tasks.spawn(async move {
            let http = match super::http_client(cfg.timeout) {
                Ok(h) => h,
                Err(e) => {
                    let _ = tx.send(PanelUpdate { index, at: Utc::now(), result: Err(e.0) }.into()).await;
                    return;
                }
            };
            let mut ticker = tokio::time::interval(cfg.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                // Bounded even if the source trickles its answer.
                let result = match tokio::time::timeout(cfg.timeout * 3, read(&http, &cfg)).await {
                    Ok(r) => r.map_err(|e| e.0),
                    Err(_) => Err(format!("no answer within {}", crate::config::format_duration(cfg.timeout * 3))),
                };
                if tx.send(PanelUpdate { index, at: Utc::now(), result }.into()).await.is_err() {
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
    fn series_fold_by_time() {
        let a = vec![(10, Some(1.0)), (20, Some(2.0)), (30, None)];
        let b = vec![(10, Some(5.0)), (30, Some(7.0))];
        assert_eq!(fold([a.clone(), b.clone()], Reduce::Sum), vec![(10, 6.0), (20, 2.0), (30, 7.0)]);
        assert_eq!(fold([a, b], Reduce::Max), vec![(10, 5.0), (20, 2.0), (30, 7.0)]);
        assert!(fold(Vec::<Vec<(i64, Option<f64>)>>::new(), Reduce::Sum).is_empty());
    }

    #[test]
    fn offsets_in_graphite_units() {
        assert_eq!(graphite_offset(Duration::from_secs(86_400)), "1d");
        assert_eq!(graphite_offset(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(graphite_offset(Duration::from_secs(7200)), "2h");
        assert_eq!(graphite_offset(Duration::from_secs(90 * 60)), "90min");
        assert_eq!(graphite_offset(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn the_shifted_value_is_at_the_same_time_or_just_before() {
        let p = [(10, 1.0), (20, 2.0), (40, 4.0)];
        assert_eq!(at_or_before(&p, 20), Some(2.0));
        assert_eq!(at_or_before(&p, 30), Some(2.0));
        assert_eq!(at_or_before(&p, 5), None);
    }
}
