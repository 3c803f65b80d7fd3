//! Prometheus and Graphite clients against a local HTTP server replaying the
//! shapes real servers send: answers, and every way of failing.

use std::time::{Duration, Instant};

use shardtop::config::{MetricsConfig, MetricsKind};
use shardtop::fleet::Source;
use shardtop::metrics::{Figure, MetricsClient, MetricsUpdate};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn shards() -> Vec<String> {
    vec!["users-01".into(), "users-02".into(), "users-03".into()]
}

fn prom(url: &str) -> MetricsConfig {
    MetricsConfig {
        name: "prom".into(),
        kind: MetricsKind::Prometheus,
        url: url.into(),
        interval: Duration::from_secs(5),
        timeout: Duration::from_millis(400),
        shard_label: "shard".into(),
        shard_node: None,
        qps: Some(MetricsConfig::default_prometheus_qps("shard")),
        lag: None,
        feed_p99: None,
        health: None,
    }
}

async fn poll(cfg: MetricsConfig) -> MetricsUpdate {
    MetricsClient::new(0, cfg, shards()).expect("client").poll().await
}

/// A vector answer as Prometheus 2.x sends it.
fn vector(samples: &[(&str, &str)]) -> serde_json::Value {
    let result: Vec<_> = samples
        .iter()
        .map(|(shard, v)| serde_json::json!({"metric": {"shard": shard, "job": "mysql"}, "value": [1_764_000_000.123, v]}))
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

#[tokio::test]
async fn prometheus_vector_maps_to_shards_by_label() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", "sum by (shard) (rate(mysql_global_status_questions[1m]))"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[
            ("users-01", "1234.5"),
            ("users-03", "NaN"),
            ("users-99", "7"),
            ("users-02", "88"),
        ])))
        .mount(&server)
        .await;
    let mut cfg = prom(&server.uri());
    cfg.lag = Some("max by (shard) (mysql_slave_status_seconds_behind_master)".into());
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "max by (shard) (mysql_slave_status_seconds_behind_master)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[("users-02", "12")])))
        .mount(&server)
        .await;
    let u = poll(cfg).await;
    assert_eq!(u.error, None);
    assert_eq!(u.kind, Source::Prometheus);
    let mut v = u.values.clone();
    v.sort_by(|a, b| (a.0, a.1.key()).cmp(&(b.0, b.1.key())));
    // NaN (a fresh counter) and an unknown shard are left out.
    assert_eq!(v, vec![(0, Figure::Qps, 1234.5), (1, Figure::Lag, 12.0), (1, Figure::Qps, 88.0)]);
}

#[tokio::test]
async fn prometheus_error_status_names_the_error_type() {
    let server = MockServer::start().await;
    let body = serde_json::json!({"status": "error", "errorType": "bad_data",
        "error": "invalid parameter \"query\": 1:6: parse error: unexpected <by>"});
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(400).set_body_json(body))
        .mount(&server)
        .await;
    let u = poll(prom(&server.uri())).await;
    let e = u.error.expect("down");
    assert!(e.starts_with("qps: Prometheus bad_data (HTTP 400): invalid parameter"), "{e}");
    assert!(u.values.is_empty());
}

#[tokio::test]
async fn http_5xx_without_json_is_down_with_the_body_excerpt() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable\nupstream connect error"))
        .mount(&server)
        .await;
    let e = poll(prom(&server.uri())).await.error.expect("down");
    assert_eq!(e, "qps: HTTP 503: Service Unavailable");
}

#[tokio::test]
async fn malformed_json_and_wrong_shapes_are_down_not_a_crash() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"status\": \"success\", \"data\": {\"resultT"))
        .mount(&server)
        .await;
    let e = poll(prom(&server.uri())).await.error.expect("down");
    assert!(e.starts_with("qps: malformed JSON from Prometheus"), "{e}");

    let server = MockServer::start().await;
    let matrix = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix))
        .mount(&server)
        .await;
    let e = poll(prom(&server.uri())).await.error.expect("down");
    assert!(e.contains("gives a matrix; it must give an instant vector"), "{e}");
}

#[tokio::test]
async fn empty_result_is_a_note_not_an_outage() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[])))
        .mount(&server)
        .await;
    let u = poll(prom(&server.uri())).await;
    assert_eq!(u.error, None);
    assert_eq!(u.notes, vec!["qps: no series for any shard".to_string()]);
}

#[tokio::test]
async fn a_hung_source_costs_one_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(vector(&[("users-01", "1")])).set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    let e = poll(prom(&server.uri())).await.error.expect("down");
    let took = started.elapsed();
    assert!(e.starts_with("qps: no answer within"), "{e}");
    assert!(took < Duration::from_millis(400 + 600), "took {took:?} with a 400 ms timeout");
}

#[tokio::test]
async fn nothing_listening_is_cannot_connect() {
    // Bind and drop: a port that was free a moment ago, and refuses now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let e = poll(prom(&format!("http://127.0.0.1:{port}"))).await.error.expect("down");
    assert!(e.starts_with("qps: cannot connect"), "{e}");
}

fn graphite(url: &str) -> MetricsConfig {
    MetricsConfig {
        name: "graphite".into(),
        kind: MetricsKind::Graphite,
        url: url.into(),
        shard_label: "shard".into(),
        qps: Some("aliasByNode(stats.mysql.*.qps, 2)".into()),
        feed_p99: Some("stats.timers.feed.*.p99".into()),
        health: None,
        ..prom(url)
    }
}

#[tokio::test]
async fn graphite_render_json_takes_the_latest_non_null_point() {
    let server = MockServer::start().await;
    // As graphite-web 1.1 answers /render?format=json (tags added in 1.1).
    let qps = serde_json::json!([
        {"target": "users-01", "tags": {"name": "stats.mysql.users-01.qps"},
         "datapoints": [[1500.0, 1764000000], [1520.5, 1764000010], [null, 1764000020]]},
        {"target": "users-02", "tags": {"name": "stats.mysql.users-02.qps"}, "datapoints": [[null, 1764000000]]}
    ]);
    let feed = serde_json::json!([
        {"target": "stats.timers.feed.users-03.p99", "datapoints": [[41.0, 1764000000], [47.5, 1764000010]]}
    ]);
    Mock::given(path("/render"))
        .and(query_param("target", "aliasByNode(stats.mysql.*.qps, 2)"))
        .and(query_param("format", "json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(qps))
        .mount(&server)
        .await;
    Mock::given(path("/render"))
        .and(query_param("target", "stats.timers.feed.*.p99"))
        .respond_with(ResponseTemplate::new(200).set_body_json(feed))
        .mount(&server)
        .await;
    let u = poll(graphite(&server.uri())).await;
    assert_eq!(u.error, None);
    assert_eq!(u.kind, Source::Graphite);
    assert_eq!(u.values, vec![(0, Figure::Qps, 1520.5), (2, Figure::FeedP99, 47.5)]);
}

#[tokio::test]
async fn graphite_http_error_is_down() {
    let server = MockServer::start().await;
    Mock::given(path("/render"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<h1>Server Error (500)</h1>"))
        .mount(&server)
        .await;
    let e = poll(graphite(&server.uri())).await.error.expect("down");
    assert_eq!(e, "qps: HTTP 500: <h1>Server Error (500)</h1>");
}

/// `shardtop snapshot --format json` on a config text; (exit code, JSON).
async fn snapshot(config: String) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shardtop.toml");
    std::fs::write(&path, config).expect("write config");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shardtop"))
        .args(["snapshot", "--format", "json", "--config"])
        .arg(&path)
        // No ~/.my.cnf to find a user in: metrics-only.
        .env("HOME", dir.path())
        .output()
        .await
        .expect("run shardtop");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

fn metrics_only_config(url: &str) -> String {
    format!(
        "[[metrics]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"{url}\"\ntimeout = \"500ms\"\n\
         lag = \"max by (shard) (mysql_slave_status_seconds_behind_master)\"\n\n\
         [[shard]]\nname = \"users-01\"\nmaster = \"192.0.2.1:3306\"\n\n\
         [[shard]]\nname = \"users-02\"\nmaster = \"192.0.2.2:3306\"\n"
    )
}

#[tokio::test]
async fn metrics_only_snapshot_reads_prometheus_and_never_a_database() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "sum by (shard) (rate(mysql_global_status_questions[1m]))"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[("users-01", "950.25"), ("users-02", "40")])))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "max by (shard) (mysql_slave_status_seconds_behind_master)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[("users-01", "0"), ("users-02", "15")])))
        .mount(&server)
        .await;
    // 192.0.2.0/24 is TEST-NET: a connection attempt would hang until the timeout; none is made.
    let started = Instant::now();
    let (code, json) = snapshot(metrics_only_config(&server.uri())).await;
    assert!(started.elapsed() < Duration::from_secs(3), "no database was waited for");
    assert_eq!(code, 1, "users-02 lags 15s, over the 10s warning: {json:#}");
    let s = &json["shards"];
    assert_eq!(s[0]["qps"], 950.3);
    assert_eq!(s[0]["sources"]["qps"], "prometheus");
    assert_eq!(s[1]["worst_lag_seconds"], 15.0);
    assert_eq!(s[1]["sources"]["lag"], "prometheus");
    assert_eq!(s[1]["problems"][0]["message"], "lag 15s over 10s (prometheus)");
    assert_eq!(json["metrics_sources"][0]["up"], true);
    assert!(s[0]["instances"][0]["reachable"] == false && s[0]["instances"][0]["last_error"].is_null(), "{json:#}");
}

#[tokio::test]
async fn metrics_only_snapshot_with_the_source_down_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .mount(&server)
        .await;
    let (code, json) = snapshot(metrics_only_config(&server.uri())).await;
    assert_eq!(code, 3, "nothing is known: UNKNOWN, {json:#}");
    assert_eq!(json["metrics_sources"][0]["up"], false);
    assert_eq!(json["metrics_sources"][0]["error"], "qps: HTTP 502: Bad Gateway");
    assert!(json["shards"][0]["qps"].is_null());
}

#[tokio::test]
async fn check_config_in_metrics_only_mode_asks_the_sources_not_the_servers() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vector(&[("users-01", "5")])))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shardtop.toml");
    std::fs::write(&path, metrics_only_config(&server.uri())).expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shardtop"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env("HOME", dir.path())
        .output()
        .await
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("metrics-only (no database user: no server is contacted)"), "{text}");
    assert!(text.contains("ok    prom: 2 values for 1 of 2 shards"), "{text}");
}

#[tokio::test]
async fn query_range_backfills_empty_charts() {
    let server = MockServer::start().await;
    let matrix = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"shard": "users-02"}, "values": [[1764000000, "100"], [1764000002, "NaN"], [1764000004, "140.5"]]},
        {"metric": {"shard": "nosuch"}, "values": [[1764000000, "1"]]}
    ]}});
    Mock::given(path("/api/v1/query_range"))
        .and(query_param("query", "sum by (shard) (rate(mysql_global_status_questions[1m]))"))
        .and(query_param("step", "2.000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix))
        .mount(&server)
        .await;
    let client = MetricsClient::new(0, prom(&server.uri()), shards()).expect("client");
    let u = client.backfill(Duration::from_secs(240), Duration::from_secs(2)).await;
    assert_eq!(u.error, None);
    assert_eq!(u.backfill, vec![(1, Figure::Qps, vec![100.0, 140.5])]);

    let layout = shards()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            shardtop::fleet::Shard::new(n.clone(), shardtop::fleet::Addr::new(format!("m{i}"), 3306), [], None)
        })
        .collect();
    let mut fleet = shardtop::fleet::Fleet::new(layout, shardtop::fleet::Limits::default());
    fleet.sources = vec![shardtop::fleet::external::SourceState::new("prom", Source::Prometheus)];
    fleet.apply_metrics(&u);
    assert_eq!(fleet.shards[1].qps_history.iter().collect::<Vec<_>>(), vec![100.0, 140.5]);
    assert_eq!(fleet.sources[0].up, None, "a backfill is not a poll");

    // A range query that fails says why, like a poll.
    let server = MockServer::start().await;
    let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution of 11,000 points per timeseries"});
    Mock::given(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(400).set_body_json(body))
        .mount(&server)
        .await;
    let u = MetricsClient::new(0, prom(&server.uri()), shards())
        .expect("client")
        .backfill(Duration::from_secs(60), Duration::from_secs(1))
        .await;
    assert!(u.error.as_deref().is_some_and(|e| e.starts_with("qps (range): Prometheus bad_data")), "{:?}", u.error);
}
