//! The viewer's side of `/api/v1/stream`: `shardtop --connect URL` reads a collector's stream and
//! turns each frame into a metrics update (per shard: health, worst lag, QPS, feed p99), the same
//! input a metrics-only TUI takes from Prometheus; the collector's events go to the events pane.
//! No database account on the viewer: it talks to the collector only.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::fleet::external::{Figure, MetricsUpdate};
use crate::fleet::relayout::Relayout;
use crate::fleet::remote::{RemoteMember, RemoteShard, rule_name};
use crate::fleet::{Addr, Health, Source};

/// A collector to read from.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error("--connect {0}: expected http://HOST:PORT or https://HOST:PORT")]
    Url(String),
    #[error("--connect-ca {path}: {message}")]
    Ca { path: String, message: String },
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: the collector refused the token (401): set $SHARDTOP_CONNECT_TOKEN or --connect-token-file")]
    Unauthorized { url: String },
    #[error("{url}: the stream ended before its first frame")]
    NoFrame { url: String },
}

/// A shard as a stream frame carries it.
#[derive(Deserialize, serde::Serialize, Debug, Clone, PartialEq)]
pub struct ShardFrame {
    pub name: String,
    pub master: String,
    pub health: Health,
    pub worst_lag_seconds: Option<f64>,
    pub qps: Option<f64>,
    pub feed_p99_ms: Option<f64>,
    /// `up`, `suspect`, `unreachable`, `dead` (collectors before members: absent).
    #[serde(default)]
    pub master_state: Option<String>,
    /// Each server by address (`serve::members`).
    #[serde(default)]
    pub members: serde_json::Value,
    #[serde(default)]
    pub problems: Vec<ProblemFrame>,
}

/// A finding as the stream carries it.
#[derive(Deserialize, serde::Serialize, Debug, Clone, PartialEq)]
pub struct ProblemFrame {
    pub severity: Health,
    pub rule: String,
    #[serde(default)]
    pub instance: Option<String>,
    pub message: String,
}

#[derive(Deserialize, Debug)]
struct EventFrame {
    shard: String,
    severity: Health,
    message: String,
}

/// A `full` frame's shards are whole; a `changes` frame's carry the name and the fields that
/// changed, merged into what the viewer has.
#[derive(Deserialize, Debug)]
struct Frame {
    #[serde(default, deserialize_with = "shard_list")]
    shards: Vec<serde_json::Value>,
    #[serde(default)]
    events: Vec<EventFrame>,
}

/// A frame's shards as a list, each with its name: a `full` frame lists them; a `changes` frame
/// keys each shard's changed fields by its name (`{"s1": {"qps": 1200}}`).
fn shard_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(shards) => shards,
        serde_json::Value::Object(by_name) => by_name
            .into_iter()
            .map(|(name, mut fields)| {
                if let Some(f) = fields.as_object_mut() {
                    f.insert("name".into(), serde_json::Value::String(name));
                }
                fields
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// Merge a shard's fields from a frame into `state` (whole shards from a `full` frame replace).
fn merge(state: &mut HashMap<String, serde_json::Value>, shard: serde_json::Value) {
    let Some(name) = shard["name"].as_str().map(str::to_string) else { return };
    match (state.get_mut(&name).and_then(serde_json::Value::as_object_mut), shard) {
        (Some(have), serde_json::Value::Object(mut fields)) => {
            // Members come as the fields that changed, per server.
            if let (Some(changes), Some(members)) = (fields.remove("members"), have.get_mut("members")) {
                super::members::merge(members, changes);
            }
            have.extend(fields)
        }
        (_, whole) => {
            state.insert(name, whole);
        }
    }
}

/// The shards of a frame that read as whole shards.
fn whole(shards: Vec<serde_json::Value>) -> Vec<ShardFrame> {
    shards.into_iter().filter_map(|s| serde_json::from_value(s).ok()).collect()
}

impl Remote {
    /// `url` is the collector's base URL; `ca` a PEM file to trust besides the system's roots.
    pub fn new(url: &str, token: Option<String>, ca: Option<&std::path::Path>) -> Result<Remote, ViewerError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| ViewerError::Url(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ViewerError::Url(url.into()));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(path) = ca {
            let ca_err = |message: String| ViewerError::Ca { path: path.display().to_string(), message };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| ViewerError::Http { url: url.into(), message: e.to_string() })?;
        Ok(Remote { base: url.trim_end_matches('/').to_string(), token, client })
    }

    /// `path` on the collector.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` on the collector, with this viewer's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// The collector's address, for the title.
    pub fn name(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, rest)| rest)
    }

    async fn open(&self) -> Result<reqwest::Response, ViewerError> {
        let url = format!("{}/api/v1/stream", self.base);
        let mut req = self.client.get(&url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| ViewerError::Http { url: url.clone(), message: error_chain(&e) })?;
        match r.status().as_u16() {
            200 => Ok(r),
            401 => Err(ViewerError::Unauthorized { url }),
            s => Err(ViewerError::Http { url, message: format!("HTTP {s}") }),
        }
    }

    /// Connect and read the first (full) frame: the shards to lay out, and the open stream.
    pub async fn first(&self) -> Result<(Vec<ShardFrame>, Events), ViewerError> {
        let mut events = Events::new(self.open().await?);
        let url = format!("{}/api/v1/stream", self.base);
        match events.next().await {
            Some((_, data)) => {
                let frame: Frame = serde_json::from_str(&data)
                    .map_err(|e| ViewerError::Http { url, message: format!("not a stream frame: {e}") })?;
                Ok((whole(frame.shards), events))
            }
            None => Err(ViewerError::NoFrame { url }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Server-sent events off a response body: (event name, data).
pub struct Events {
    body: reqwest::Response,
    buf: String,
    /// Bytes read off the wire so far (the body, after any TLS).
    pub bytes: u64,
}

impl Events {
    fn new(r: reqwest::Response) -> Events {
        Events { body: r, buf: String::new(), bytes: 0 }
    }

    pub async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Block::Event(name, data) = self.next_block().await? {
                return Some((name, data));
            }
        }
    }

    /// The next block off the stream: an event, or a keep-alive (or other comment): either
    /// says the collector is there. `None` when the stream ends.
    pub async fn next_block(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(match parse_event(&block) {
                    Some((name, data)) => Block::Event(name, data),
                    None => Block::KeepAlive,
                });
            }
            let chunk = self.body.chunk().await.ok()??;
            self.bytes += chunk.len() as u64;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// What a block of the stream is.
#[derive(Debug, PartialEq)]
pub enum Block {
    Event(String, String),
    KeepAlive,
}

/// A collector that sends nothing, not even its keep-alive, for this long has stopped answering
/// (hung, stopped, or the network is gone without a reset): the stream is dropped and reopened.
pub const SILENT_LIMIT: Duration = Duration::from_secs(3 * crate::serve::http::KEEP_ALIVE.as_secs());

/// How long reconnecting waits for the first frame (a stopped collector's kernel still accepts).
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// The longest pause between reconnection attempts: a wall display whose collector was restarted
/// is live again within seconds, and one attempt is one HTTP request.
const RECONNECT_AT_MOST: Duration = Duration::from_secs(8);

/// One SSE block: `event:` and `data:` lines (comments, such as keep-alives, skipped).
fn parse_event(block: &str) -> Option<(String, String)> {
    let (mut name, mut data) = (String::from("message"), Vec::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim_start().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (!data.is_empty()).then(|| (name, data.join("\n")))
}

/// The figures of every shard in `layout` order, as one metrics update from source 0.
fn update(layout: &[String], state: &HashMap<String, serde_json::Value>) -> MetricsUpdate {
    let mut values = Vec::new();
    let mut remote = Vec::new();
    for (k, name) in layout.iter().enumerate() {
        let Some(s) = state.get(name).and_then(|v| ShardFrame::deserialize(v).ok()) else { continue };
        values.push((k, Figure::Health, f64::from(s.health.exit_code())));
        remote.extend(remote_shard(k, &s));
        for (figure, v) in [(Figure::Qps, s.qps), (Figure::Lag, s.worst_lag_seconds), (Figure::FeedP99, s.feed_p99_ms)]
        {
            if let Some(v) = v {
                values.push((k, figure, v));
            }
        }
    }
    MetricsUpdate {
        source: 0,
        kind: Source::Collector,
        at: Utc::now(),
        values,
        error: None,
        notes: Vec::new(),
        backfill: Vec::new(),
        remote,
    }
}

/// A shard's members, master state and findings as the model takes them; `None` from a
/// collector that sends no members.
fn remote_shard(k: usize, s: &ShardFrame) -> Option<RemoteShard> {
    let members = s.members.as_object().filter(|m| !m.is_empty())?;
    let addr = |a: &str| a.parse::<Addr>().unwrap_or_else(|_| Addr::new(a, 0));
    let members = members
        .iter()
        .map(|(a, m)| RemoteMember {
            addr: addr(a),
            master: m["role"] == "master",
            up: m["up"].as_bool().unwrap_or(false),
            health: Health::deserialize(&m["health"]).unwrap_or(Health::Unknown),
            read_only: m["read_only"].as_bool(),
            source: m["source"].as_str().map(addr),
            io: m["io"].as_bool(),
            sql: m["sql"].as_bool(),
            lag: m["lag"].as_f64(),
        })
        .collect();
    let problems = s
        .problems
        .iter()
        .map(|p| crate::fleet::Problem {
            severity: p.severity,
            rule: rule_name(&p.rule),
            instance: p.instance.as_deref().map(addr),
            message: p.message.clone(),
        })
        .collect();
    Some(RemoteShard { shard: k, master_state: s.master_state.clone(), health: s.health, members, problems })
}

/// Feed `tx` from the stream until the receiver goes: each frame is one metrics update; the
/// collector's events are logged. A lost stream is said, and reconnected with backoff; when the
/// reconnected collector lists other shards (restarted with another config), a [`Relayout`]
/// with its list goes first, and the updates after it address shards in that list's order.
pub async fn run<T: From<MetricsUpdate> + From<Relayout> + Send + 'static>(
    remote: Remote,
    first: Vec<ShardFrame>,
    mut events: Events,
    tx: mpsc::Sender<T>,
) {
    let mut shape = self::layout(&first);
    let mut layout: Vec<String> = shape.iter().map(|(n, _)| n.clone()).collect();
    let as_state = |shards: Vec<ShardFrame>| -> HashMap<String, serde_json::Value> {
        shards.into_iter().filter_map(|s| Some((s.name.clone(), serde_json::to_value(&s).ok()?))).collect()
    };
    let mut state = as_state(first);
    let mut backoff = Duration::from_secs(1);
    loop {
        if tx.send(update(&layout, &state).into()).await.is_err() {
            return;
        }
        let why = loop {
            let (name, data) = match tokio::time::timeout(SILENT_LIMIT, events.next_block()).await {
                Ok(Some(Block::Event(name, data))) => (name, data),
                // The collector is there and nothing changed: the figures are current.
                Ok(Some(Block::KeepAlive)) => {
                    if tx.send(update(&layout, &state).into()).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => break "collector stream lost".to_string(),
                Err(_) => break format!("collector silent for {}s", SILENT_LIMIT.as_secs()),
            };
            let Ok(frame) = serde_json::from_str::<Frame>(&data) else { continue };
            if name == "full" {
                state.clear();
            }
            for s in frame.shards {
                merge(&mut state, s);
            }
            for e in frame.events {
                match e.severity {
                    Health::Critical => log::error!(target: "fleet", "{}: {}", e.shard, e.message),
                    Health::Warning => log::warn!(target: "fleet", "{}: {}", e.shard, e.message),
                    _ => log::info!(target: "fleet", "{}: {}", e.shard, e.message),
                }
            }
            if tx.send(update(&layout, &state).into()).await.is_err() {
                return;
            }
            backoff = Duration::from_secs(1);
        };
        // Lost: the figures are stale until the collector answers again.
        let lost = MetricsUpdate { error: Some(why), ..update(&layout, &HashMap::new()) };
        if tx.send(lost.into()).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(RECONNECT_AT_MOST);
            match tokio::time::timeout(CONNECT_LIMIT, remote.first()).await {
                Ok(Ok((shards, fresh))) => {
                    let now = self::layout(&shards);
                    if now != shape {
                        if tx.send(Relayout { shards: now.clone() }.into()).await.is_err() {
                            return;
                        }
                        layout = now.iter().map(|(n, _)| n.clone()).collect();
                        shape = now;
                    }
                    state = as_state(shards);
                    events = fresh;
                    // A frame came: the next loss starts again from the shortest pause (a quiet
                    // fleet's stream may carry nothing but keep-alives until then).
                    backoff = Duration::from_secs(1);
                    log::info!(target: "fleet", "{}: stream back", remote.name());
                    break;
                }
                Ok(Err(e)) => log::warn!(target: "fleet", "{e}"),
                Err(_) => log::warn!(
                    target: "fleet",
                    "{}: no first frame within {}s", remote.name(), CONNECT_LIMIT.as_secs()
                ),
            }
        }
    }
}

/// The layout a `full` frame gives: (name, master address).
pub fn layout(first: &[ShardFrame]) -> Vec<(String, Addr)> {
    first
        .iter()
        .map(|s| (s.name.clone(), s.master.parse().unwrap_or_else(|_| Addr::new(s.master.clone(), 0))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_parse_and_keepalives_are_skipped() {
        assert_eq!(parse_event("event: full\ndata: {\"a\":1}\n\n"), Some(("full".into(), "{\"a\":1}".into())));
        assert_eq!(parse_event(":\n\n"), None);
        assert_eq!(parse_event("data: a\ndata: b\n\n"), Some(("message".into(), "a\nb".into())));
    }

    #[test]
    fn a_frame_becomes_every_shards_figures() {
        let frame: Frame = serde_json::from_str(
            r#"{"kind":"full","shards":[{"name":"s1","master":"db1:3306","health":"critical","worst_lag_seconds":null,
                "qps":1200.0,"feed_p99_ms":4.5,"replicas_up":1,"replicas_total":2,"problems":[]}]}"#,
        )
        .expect("frame");
        let layout: Vec<String> = vec!["s0".into(), "s1".into()];
        let mut state = HashMap::new();
        for s in frame.shards {
            merge(&mut state, s);
        }
        let u = update(&layout, &state);
        assert_eq!(u.values, vec![(1, Figure::Health, 2.0), (1, Figure::Qps, 1200.0), (1, Figure::FeedP99, 4.5)]);
        assert_eq!(u.kind, Source::Collector);
        // A change carries only what changed: the rest stays.
        let changes: Frame = serde_json::from_str(r#"{"kind":"changes","shards":{"s1":{"qps":1200}}}"#).expect("frame");
        assert_eq!(changes.shards, vec![serde_json::json!({"name": "s1", "qps": 1200})]);
        merge(&mut state, serde_json::json!({"name": "s1", "health": "ok", "feed_p99_ms": null}));
        let u = update(&layout, &state);
        assert_eq!(u.values, vec![(1, Figure::Health, 0.0), (1, Figure::Qps, 1200.0)]);
    }

    #[test]
    fn members_merge_field_by_field_and_reach_the_model_with_the_collectors_findings() {
        let full = serde_json::json!({"name": "s1", "master": "db1:3306", "health": "critical", "master_state": "up",
            "members": {"db1:3306": {"role": "master", "up": true, "health": "ok", "read_only": false, "lag": null},
                        "db2:3306": {"role": "replica", "up": true, "health": "ok", "read_only": true,
                                     "source": "db1:3306", "io": true, "sql": true, "lag": 0}},
            "problems": [{"severity": "critical", "rule": "sql_thread", "instance": "db2:3306", "message": "SQL thread stopped"}]});
        let mut state = HashMap::new();
        merge(&mut state, full);
        let changes: Frame = serde_json::from_str(
            r#"{"kind":"changes","shards":{"s1":{"members":{"db2:3306":{"sql":false,"health":"critical"}}}}}"#,
        )
        .expect("frame");
        for s in changes.shards {
            merge(&mut state, s);
        }
        assert_eq!(state["s1"]["members"]["db2:3306"]["sql"], false);
        assert_eq!(state["s1"]["members"]["db2:3306"]["source"], "db1:3306", "the fields that did not change stay");
        let u = update(&["s1".to_string()], &state);
        let [rs] = u.remote.as_slice() else { panic!("one shard: {:?}", u.remote) };
        assert_eq!((rs.shard, rs.health, rs.master_state.as_deref()), (0, Health::Critical, Some("up")));
        let db2 = rs.members.iter().find(|m| m.addr == Addr::new("db2", 3306)).expect("db2");
        assert_eq!(
            (db2.master, db2.sql, db2.io, db2.lag, db2.health),
            (false, Some(false), Some(true), Some(0.0), Health::Critical)
        );
        assert_eq!(rs.problems[0].rule, "sql_thread");
        // A collector that sends no members: the model is left to the figures.
        merge(&mut state, serde_json::json!({"name": "s2", "master": "db9:3306", "health": "ok"}));
        assert!(update(&["s2".to_string()], &state).remote.is_empty());
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(matches!(Remote::new("ftp://x", None, None), Err(ViewerError::Url(_))));
        assert!(matches!(Remote::new("collector:9105", None, None), Err(ViewerError::Url(_))));
        assert!(Remote::new("https://collector:9105/", None, None).is_ok());
    }
}
