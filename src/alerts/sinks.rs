//! Delivery: each sink is a task reading notifications from its own channel, so a slow or dead
//! receiver delays only itself. Failed posts are retried with exponential backoff; what is still
//! undelivered after the last retry goes to the dead-letter file (JSON lines), never silently
//! away. Logs name a sink by its `name` (the host), never by its URL (webhook URLs often carry a
//! token in their path) and never with the secret.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::time::Instant;

use super::notification::{Notification, Status};
use super::signing::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::config::{AlertsConfig, WebhookConfig};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What one sink did, for `serve`'s metrics and the tests: notifications delivered (re-posts of
/// firing alerts not counted), failed attempts, and notifications given up on (dead letters).
#[derive(Debug, Default)]
pub struct SinkStats {
    pub delivered: std::sync::atomic::AtomicU64,
    pub failed_attempts: std::sync::atomic::AtomicU64,
    pub dead: std::sync::atomic::AtomicU64,
}

impl SinkStats {
    fn add(counter: &std::sync::atomic::AtomicU64, n: u64) {
        counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
        counter.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Retries and where the undeliverable goes; shared by every sink.
#[derive(Clone, Debug)]
pub struct Policy {
    pub retries: u32,
    pub backoff: Duration,
    pub timeout: Duration,
    pub dead_letter: PathBuf,
    /// Becomes true when the host is stopping: no more waiting between retries; what fails its
    /// next attempt goes to the dead-letter file at once instead of being lost with the process.
    pub closing: watch::Receiver<bool>,
}

impl Policy {
    pub fn from_config(cfg: &AlertsConfig, closing: watch::Receiver<bool>) -> Policy {
        Policy {
            retries: cfg.retries,
            backoff: cfg.backoff,
            timeout: cfg.timeout,
            dead_letter: cfg.dead_letter.clone(),
            closing,
        }
    }

    fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Sleep `d`, or less if the host starts stopping.
    async fn wait(&mut self, d: Duration) {
        if self.is_closing() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            _ = self.closing.wait_for(|c| *c) => {}
        }
    }

    /// The wait before retry `n` (1-based): `backoff`, then twice as long each time, capped.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }

    /// Append what `sink` could not deliver, and why, to the dead-letter file.
    pub fn dead_letter(&self, sink: &str, reason: &str, attempts: u32, n: &Notification) {
        #[derive(Serialize)]
        struct Dead<'a> {
            ts: chrono::DateTime<Utc>,
            sink: &'a str,
            reason: &'a str,
            attempts: u32,
            notification: &'a Notification,
        }
        let line = Dead { ts: Utc::now(), sink, reason, attempts, notification: n };
        let written = serde_json::to_string(&line).map_err(std::io::Error::other).and_then(|mut text| {
            text.push('\n');
            if let Some(dir) = self.dead_letter.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.dead_letter)?;
            f.write_all(text.as_bytes())
        });
        match written {
            Ok(()) => log::error!(
                target: "alerts",
                "{sink}: gave up on {} {} of {} after {attempts} attempt(s): {reason} (kept in {})",
                n.rule,
                status_word(n.status),
                n.shard,
                self.dead_letter.display()
            ),
            Err(e) => log::error!(
                target: "alerts",
                "{sink}: gave up on {} of {}: {reason}; and the dead-letter file {} failed: {e}",
                n.rule,
                n.shard,
                self.dead_letter.display()
            ),
        }
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    }
}

/// How one POST ended.
enum Posted {
    Ok,
    /// Worth trying again (no connection, timeout, 5xx, 408, 429).
    Transient(String),
    /// The receiver refused it for good (another 4xx): retrying would not help.
    Refused(String),
}

async fn post(req: reqwest::RequestBuilder) -> Posted {
    match req.send().await {
        Ok(r) if r.status().is_success() => Posted::Ok,
        Ok(r) => {
            let code = r.status();
            let body: String = r.text().await.unwrap_or_default().chars().take(200).collect();
            let why = format!("HTTP {code}: {}", body.trim());
            if code.is_client_error() && code.as_u16() != 408 && code.as_u16() != 429 {
                Posted::Refused(why)
            } else {
                Posted::Transient(why)
            }
        }
        // Without the URL: it may carry a token.
        Err(e) => Posted::Transient(describe_reqwest(&e)),
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer within the timeout"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { what.to_string() } else { format!("{what}: {detail}") }
}

/// The body a webhook receives: one notification.
#[derive(Serialize)]
struct Envelope<'a> {
    version: u32,
    #[serde(flatten)]
    notification: &'a Notification,
}

/// A stable id for one notification, the same on every attempt (receivers deduplicate retries).
pub fn delivery_id(n: &Notification) -> String {
    let at = n.ends_at.unwrap_or(n.starts_at).timestamp_millis();
    let text = format!("{}|{}|{at}", n.fingerprint, status_word(n.status));
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex::encode(&digest.as_ref()[..16])
}

/// One webhook: notifications delivered in order, each signed afresh on every attempt.
pub async fn webhook(
    cfg: WebhookConfig,
    mut policy: Policy,
    client: reqwest::Client,
    stats: std::sync::Arc<SinkStats>,
    mut rx: UnboundedReceiver<Notification>,
) {
    while let Some(n) = rx.recv().await {
        let body = match serde_json::to_vec(&Envelope { version: 1, notification: &n }) {
            Ok(b) => b,
            Err(e) => {
                policy.dead_letter(&cfg.name, &format!("cannot encode: {e}"), 0, &n);
                continue;
            }
        };
        let id = delivery_id(&n);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ts = Utc::now().timestamp();
            let req = client
                .post(&cfg.url)
                .timeout(policy.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, sign(&cfg.secret, ts, &body))
                .header(DELIVERY_HEADER, &id)
                .body(body.clone());
            let posted = post(req).await;
            if !matches!(posted, Posted::Ok) {
                SinkStats::add(&stats.failed_attempts, 1);
            }
            match posted {
                Posted::Ok => {
                    SinkStats::add(&stats.delivered, 1);
                    if attempt > 1 {
                        log::info!(target: "alerts", "{}: delivered after {attempt} attempts", cfg.name);
                    }
                    break;
                }
                Posted::Refused(why) => {
                    SinkStats::add(&stats.dead, 1);
                    policy.dead_letter(&cfg.name, &format!("refused: {why}"), attempt, &n);
                    break;
                }
                Posted::Transient(why) if attempt > policy.retries || policy.is_closing() => {
                    SinkStats::add(&stats.dead, 1);
                    policy.dead_letter(&cfg.name, &why, attempt, &n);
                    break;
                }
                Posted::Transient(why) => {
                    let wait = policy.delay(attempt);
                    log::warn!(target: "alerts", "{}: {why}; retry {attempt} in {wait:?}", cfg.name);
                    policy.wait(wait).await;
                }
            }
        }
    }
}

/// The alert as Alertmanager's API v2 takes it. A firing alert's `endsAt` is a few re-post
/// intervals ahead, as Prometheus does: if shardtop stops, Alertmanager resolves it by itself.
pub fn alertmanager_alert(n: &Notification, repeat: Duration) -> serde_json::Value {
    let mut labels = BTreeMap::new();
    labels.insert("alertname", format!("shardtop_{}", n.rule));
    labels.insert("shard", n.shard.clone());
    labels.insert("rule", n.rule.clone());
    labels.insert("severity", n.severity.to_string());
    labels.insert("source", "shardtop".to_string());
    if let Some(i) = &n.instance {
        labels.insert("instance", i.clone());
    }
    let hold = chrono::Duration::from_std(repeat.saturating_mul(4)).unwrap_or(chrono::Duration::minutes(4));
    let ends = match (n.status, n.ends_at) {
        (Status::Resolved, Some(at)) => at,
        _ => Utc::now().max(n.starts_at) + hold,
    };
    json!({
        "labels": labels,
        "annotations": {
            "summary": n.summary,
            "since": n.since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "kind": n.kind,
        },
        "startsAt": n.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "endsAt": ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// One Alertmanager: new firing and resolved alerts are posted at once (in one batch with
/// whatever else is waiting), firing ones again every `repeat`, and a failed post is retried
/// with backoff, so an Alertmanager restart loses nothing: what it forgot is posted again.
pub async fn alertmanager(
    name: String,
    base: String,
    repeat: Duration,
    policy: Policy,
    client: reqwest::Client,
    stats: std::sync::Arc<SinkStats>,
    mut rx: UnboundedReceiver<Notification>,
) {
    let url = format!("{base}/api/v2/alerts");
    let mut closing = policy.closing.clone();
    let mut stopping = false;
    // Anomalies firing now, re-posted every `repeat`.
    let mut firing: BTreeMap<String, Notification> = BTreeMap::new();
    // Waiting to be posted: the latest word per fingerprint, and whether it is news (not a re-post).
    let mut queue: BTreeMap<String, (Notification, bool)> = BTreeMap::new();
    let mut attempt = 0u32;
    let mut next_try: Option<Instant> = None;
    let mut next_repeat = Instant::now() + repeat;
    let mut open = true;
    while open || !queue.is_empty() {
        tokio::select! {
            n = rx.recv(), if open => match n {
                None => open = false,
                Some(n) => {
                    let mut batch = vec![n];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    for n in batch {
                        if n.kind == "anomaly" {
                            match n.status {
                                Status::Firing => firing.insert(n.fingerprint.clone(), n.clone()),
                                Status::Resolved => firing.remove(&n.fingerprint),
                            };
                        }
                        let key = format!("{}|{}", n.fingerprint, n.starts_at.timestamp_millis());
                        let was_news = queue.get(&key).is_some_and(|(_, news)| *news);
                        if was_news {
                            // Replaced before it went out: one notification the less to deliver.
                            SinkStats::add(&stats.delivered, 1);
                        }
                        queue.insert(key, (n, true));
                    }
                    next_try.get_or_insert_with(Instant::now);
                }
            },
            _ = tokio::time::sleep_until(next_repeat) => {
                next_repeat = Instant::now() + repeat;
                for (f, n) in &firing {
                    queue.entry(format!("{f}|{}", n.starts_at.timestamp_millis())).or_insert_with(|| (n.clone(), false));
                }
                if !queue.is_empty() {
                    next_try.get_or_insert_with(Instant::now);
                }
            }
            // Stopping: one last attempt now for whatever waits.
            _ = async { closing.wait_for(|c| *c).await.is_ok() }, if next_try.is_some_and(|t| t > Instant::now()) && !stopping => {
                stopping = true;
                next_try = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(next_try.unwrap_or_else(Instant::now)), if next_try.is_some() => {
                let body: Vec<serde_json::Value> = queue.values().map(|(n, _)| alertmanager_alert(n, repeat)).collect();
                let news = queue.values().filter(|(_, news)| *news).count() as u64;
                attempt += 1;
                let posted = post(client.post(&url).timeout(policy.timeout).json(&body)).await;
                if !matches!(posted, Posted::Ok) {
                    SinkStats::add(&stats.failed_attempts, 1);
                }
                match posted {
                    Posted::Ok => {
                        SinkStats::add(&stats.delivered, news);
                        if attempt > 1 {
                            log::info!(target: "alerts", "{name}: delivered after {attempt} attempts");
                        }
                        queue.clear();
                        attempt = 0;
                        next_try = None;
                    }
                    Posted::Transient(why) | Posted::Refused(why) if attempt > policy.retries || !open || policy.is_closing() => {
                        for (n, news) in queue.values() {
                            if *news {
                                SinkStats::add(&stats.dead, 1);
                            }
                            policy.dead_letter(&name, &why, attempt, n);
                        }
                        queue.clear();
                        attempt = 0;
                        next_try = None;
                    }
                    Posted::Transient(why) | Posted::Refused(why) => {
                        let wait = policy.delay(attempt);
                        log::warn!(target: "alerts", "{name}: {why}; retry {attempt} in {wait:?}");
                        next_try = Some(Instant::now() + wait);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = Policy {
            retries: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            dead_letter: PathBuf::new(),
            closing: watch::channel(false).1,
        };
        let d: Vec<u128> = (1..=9).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
        assert_eq!(p.delay(200), MAX_BACKOFF, "no overflow");
    }
}
