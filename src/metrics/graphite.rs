//! Graphite's render API: `/render?target=…&format=json` gives
//! `[{"target": name, "datapoints": [[value|null, time], …]}]`.

use serde::Deserialize;

use super::{Point, SourceError, http_error};

/// How far back a render looks for the latest non-null point.
const FROM: &str = "-5min";

#[derive(Deserialize)]
struct Series {
    target: String,
    datapoints: Vec<(Option<f64>, Option<i64>)>,
}

pub async fn render(http: &reqwest::Client, base: &str, target: &str) -> Result<Vec<Point>, SourceError> {
    let url = format!("{}/render", base.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .query(&[("target", target), ("format", "json"), ("from", FROM)])
        .send()
        .await
        .map_err(|e| http_error(&e, "the timeout"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| http_error(&e, "the timeout"))?;
    if !status.is_success() {
        let line: String = body.lines().next().unwrap_or("").chars().take(120).collect();
        return Err(SourceError(format!(
            "HTTP {}: {}",
            status.as_u16(),
            if line.is_empty() { "(empty body)" } else { &line }
        )));
    }
    parse(&body)
}

/// A series as the render API gives it: its name and (unix seconds, value or null), oldest first.
pub type Datapoints = (String, Vec<(i64, Option<f64>)>);

/// Every series of `target` from `from` (`-1h`) to now, nulls kept (a panel folds the series
/// by time and takes the newest point that has a value).
pub async fn render_series(
    http: &reqwest::Client,
    base: &str,
    target: &str,
    from: &str,
) -> Result<Vec<Datapoints>, SourceError> {
    let url = format!("{}/render", base.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .query(&[("target", target), ("format", "json"), ("from", from)])
        .send()
        .await
        .map_err(|e| http_error(&e, "the timeout"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| http_error(&e, "the timeout"))?;
    if !status.is_success() {
        return Err(SourceError(format!("HTTP {}: {}", status.as_u16(), first_line(&body))));
    }
    parse_series(&body)
}

pub fn parse_series(body: &str) -> Result<Vec<Datapoints>, SourceError> {
    let series: Vec<Series> =
        serde_json::from_str(body).map_err(|e| SourceError(format!("malformed JSON from Graphite: {e}")))?;
    Ok(series
        .into_iter()
        .map(|s| {
            let points =
                s.datapoints.into_iter().filter_map(|(v, t)| Some((t?, v.filter(|v| v.is_finite())))).collect();
            (s.target, points)
        })
        .collect())
}

/// The start of an error body: one line, at most 120 characters.
fn first_line(body: &str) -> String {
    let line: String = body.lines().next().unwrap_or("").chars().take(120).collect();
    if line.is_empty() { "(empty body)".into() } else { line }
}

/// Graphite's events (`/events/get_data`) from `from` to now, with all of `tags`:
/// (unix seconds, what).
pub async fn events(
    http: &reqwest::Client,
    base: &str,
    from: &str,
    tags: &[String],
) -> Result<Vec<(i64, String)>, SourceError> {
    let url = format!("{}/events/get_data", base.trim_end_matches('/'));
    let mut params = vec![("from", from.to_string()), ("until", "now".to_string())];
    if !tags.is_empty() {
        params.push(("tags", tags.join(" ")));
    }
    let resp = http.get(&url).query(&params).send().await.map_err(|e| http_error(&e, "the timeout"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| http_error(&e, "the timeout"))?;
    if !status.is_success() {
        return Err(SourceError(format!("events: HTTP {}: {}", status.as_u16(), first_line(&body))));
    }
    parse_events(&body)
}

#[derive(Deserialize)]
struct GraphiteEvent {
    when: f64,
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

pub fn parse_events(body: &str) -> Result<Vec<(i64, String)>, SourceError> {
    let list: Vec<GraphiteEvent> =
        serde_json::from_str(body).map_err(|e| SourceError(format!("malformed events JSON from Graphite: {e}")))?;
    Ok(list
        .into_iter()
        .filter(|e| e.when.is_finite())
        .map(|e| {
            let text = e.what.filter(|w| !w.trim().is_empty()).or(e.data).unwrap_or_else(|| "event".into());
            (e.when as i64, text)
        })
        .collect())
}

/// Each series' latest non-null value; series with none are left out.
pub fn parse(body: &str) -> Result<Vec<Point>, SourceError> {
    let series: Vec<Series> =
        serde_json::from_str(body).map_err(|e| SourceError(format!("malformed JSON from Graphite: {e}")))?;
    Ok(series
        .into_iter()
        .filter_map(|s| {
            let value = s.datapoints.iter().rev().find_map(|(v, _)| v.filter(|v| v.is_finite()))?;
            Some(Point { labels: vec![("target".into(), s.target)], value })
        })
        .collect())
}

/// The shard a target names: node `node` (0-based, dot-separated) when given,
/// else any node that is a shard's name.
pub fn shard_in_target(target: &str, shards: &[String], node: Option<usize>) -> Option<usize> {
    let nodes: Vec<&str> = target.split('.').collect();
    match node {
        Some(n) => shards.iter().position(|s| Some(&s.as_str()) == nodes.get(n)),
        None => nodes.iter().find_map(|n| shards.iter().position(|s| s == n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_non_null_point_per_series() {
        let body = r#"[
            {"target": "mysql.users-01.qps", "tags": {"name": "mysql.users-01.qps"},
             "datapoints": [[120.0, 1700000000], [130.5, 1700000010], [null, 1700000020]]},
            {"target": "mysql.users-02.qps", "datapoints": [[null, 1700000000], [null, 1700000010]]}
        ]"#;
        let p = parse(body).expect("parses");
        assert_eq!(p.len(), 1, "a series of nulls has no value");
        assert_eq!(p[0].value, 130.5);
        assert_eq!(p[0].labels, vec![("target".to_string(), "mysql.users-01.qps".to_string())]);
        assert!(parse("[]").expect("empty").is_empty());
        assert!(parse("{\"error\": 1}").unwrap_err().0.contains("malformed JSON"));
    }

    #[test]
    fn shard_from_target_nodes() {
        let shards = vec!["users-01".to_string(), "users-02".to_string()];
        assert_eq!(shard_in_target("stats.mysql.users-02.qps", &shards, None), Some(1));
        assert_eq!(shard_in_target("stats.mysql.users-02.qps", &shards, Some(2)), Some(1));
        assert_eq!(shard_in_target("stats.mysql.users-02.qps", &shards, Some(1)), None);
        assert_eq!(shard_in_target("users-03", &shards, None), None);
    }
}
