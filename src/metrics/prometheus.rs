//! Prometheus HTTP API: `/api/v1/query` (an instant vector per query).

use serde::Deserialize;

use super::{Point, SourceError, http_error};

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    /// `[unix_time, "value"]`.
    value: (f64, String),
}

/// Runs an instant query. Series whose value is not a finite number (NaN,
/// ±Inf: e.g. a rate over a counter that just appeared) are left out.
pub async fn query(http: &reqwest::Client, base: &str, promql: &str) -> Result<Vec<Point>, SourceError> {
    query_at(http, base, promql, None).await
}

/// An instant query evaluated at `time` (unix seconds; `None`: now). At a day ago it is the
/// whole expression's `offset 1d`, whatever the expression (`offset` alone binds to selectors).
pub async fn query_at(
    http: &reqwest::Client,
    base: &str,
    promql: &str,
    time: Option<f64>,
) -> Result<Vec<Point>, SourceError> {
    let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let mut params = vec![("query", promql.to_string())];
    if let Some(t) = time {
        params.push(("time", format!("{t:.3}")));
    }
    let (status, body) = get(http, &url, &params).await?;
    parse(status, &body)
}

/// The API's answer, whatever its HTTP status: Prometheus sends its JSON
/// error envelope with 400, 422 and 503 too.
pub fn parse(http_status: u16, body: &str) -> Result<Vec<Point>, SourceError> {
    let data = envelope(http_status, body)?;
    if !(200..300).contains(&http_status) {
        return Err(SourceError(format!("HTTP {http_status} with status success")));
    }
    let Some(data) = data else { return Err(no_data()) };
    match data.result_type.as_str() {
        "vector" => {
            let samples: Vec<Sample> = serde_json::from_value(data.result)
                .map_err(|e| SourceError(format!("malformed vector from Prometheus: {e}")))?;
            Ok(samples
                .into_iter()
                .filter_map(|s| {
                    let value: f64 = s.value.1.parse().ok().filter(|v: &f64| v.is_finite())?;
                    Some(Point { labels: s.metric.into_iter().collect(), value })
                })
                .collect())
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(data.result)
                .map_err(|e| SourceError(format!("malformed scalar from Prometheus: {e}")))?;
            Ok(v.parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .map(|value| Point { labels: Vec::new(), value })
                .into_iter()
                .collect())
        }
        other => {
            Err(SourceError(format!("the query gives a {other}; it must give an instant vector (one value per shard)")))
        }
    }
}

/// A range series: its labels and its values, oldest first.
pub type RangeValues = (Vec<(String, String)>, Vec<f64>);

#[derive(Deserialize)]
struct RangeSeries {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// A range query (`/api/v1/query_range`): each series' values, oldest first,
/// non-finite ones dropped. For backfilling charts at start-up.
pub async fn query_range(
    http: &reqwest::Client,
    base: &str,
    promql: &str,
    span: std::time::Duration,
    step: std::time::Duration,
) -> Result<Vec<RangeValues>, SourceError> {
    let series = query_range_timed(http, base, promql, span, step).await?;
    Ok(series.into_iter().map(|(labels, points)| (labels, points.into_iter().map(|p| p.1).collect())).collect())
}

/// A range series with its timestamps: its labels and (unix seconds, value), oldest first.
pub type TimedValues = (Vec<(String, String)>, Vec<(f64, f64)>);

/// [`query_range`] keeping each value's time, for folding several series into one.
pub async fn query_range_timed(
    http: &reqwest::Client,
    base: &str,
    promql: &str,
    span: std::time::Duration,
    step: std::time::Duration,
) -> Result<Vec<TimedValues>, SourceError> {
    let url = format!("{}/api/v1/query_range", base.trim_end_matches('/'));
    let end = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let start = end - span.as_secs_f64();
    let params = [
        ("query", promql.to_string()),
        ("start", format!("{start:.3}")),
        ("end", format!("{end:.3}")),
        ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
    ];
    let (status, body) = get(http, &url, &params).await?;
    parse_range_timed(status, &body)
}

pub fn parse_range(http_status: u16, body: &str) -> Result<Vec<RangeValues>, SourceError> {
    let series = parse_range_timed(http_status, body)?;
    Ok(series.into_iter().map(|(labels, points)| (labels, points.into_iter().map(|p| p.1).collect())).collect())
}

pub fn parse_range_timed(http_status: u16, body: &str) -> Result<Vec<TimedValues>, SourceError> {
    let Some(data) = envelope(http_status, body)? else { return Err(no_data()) };
    if data.result_type != "matrix" {
        return Err(SourceError(format!("a range query gave a {}, not a matrix", data.result_type)));
    }
    let series: Vec<RangeSeries> = serde_json::from_value(data.result)
        .map_err(|e| SourceError(format!("malformed matrix from Prometheus: {e}")))?;
    Ok(series
        .into_iter()
        .map(|s| {
            let values = s
                .values
                .iter()
                .filter_map(|(t, v)| v.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| (*t, v)))
                .collect();
            (s.metric.into_iter().collect(), values)
        })
        .collect())
}

/// GET with query parameters: the HTTP status and the body, whatever the status.
async fn get<P: serde::Serialize + ?Sized>(
    http: &reqwest::Client,
    url: &str,
    params: &P,
) -> Result<(u16, String), SourceError> {
    let resp = http.get(url).query(params).send().await.map_err(|e| http_error(&e, "the timeout"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| http_error(&e, "the timeout"))?;
    Ok((status, body))
}

/// The JSON envelope both endpoints answer with: its data when `status` is
/// `success`, the error it carries otherwise.
fn envelope(http_status: u16, body: &str) -> Result<Option<Data>, SourceError> {
    let env: Envelope = match serde_json::from_str(body) {
        Ok(env) => env,
        Err(e) if (200..300).contains(&http_status) => {
            return Err(SourceError(format!("malformed JSON from Prometheus: {e}")));
        }
        Err(_) => return Err(SourceError(format!("HTTP {http_status}: {}", excerpt(body)))),
    };
    if env.status != "success" {
        let kind = env.error_type.as_deref().unwrap_or("error");
        let why = env.error.as_deref().unwrap_or("no reason given");
        return Err(SourceError(format!("Prometheus {kind} (HTTP {http_status}): {why}")));
    }
    Ok(env.data)
}

fn no_data() -> SourceError {
    SourceError("Prometheus answered success without data".into())
}

/// The start of a body, for messages: one line, at most 120 characters.
fn excerpt(body: &str) -> String {
    let line = body.lines().next().unwrap_or("").trim();
    let mut s: String = line.chars().take(120).collect();
    if s.is_empty() {
        s = "(empty body)".into();
    } else if line.chars().count() > 120 {
        s.push('…');
    }
    s
}
