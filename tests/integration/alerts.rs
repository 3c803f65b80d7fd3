//! Alerts that reach people, against the real sandbox and a real Alertmanager (Debian
//! `prometheus-alertmanager`, started here on a free port with its own config and storage, and
//! stopped at the end): the real prober, poller and fleet model feed the alerts engine on a 250 ms
//! clock, as the TUI's loop does.
//!
//! Shards: s48 (SQL thread stopped then started: fires after `for`, resolves once), s49 (a flap
//! shorter than `for`: never fires), s50 (an Alertmanager restart while alerts change: nothing
//! lost; and an action elsewhere, whose beacon holds its transient findings: no alert). The webhook
//! tests need no shard.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use shardtop::actions::beacon::Beacon;
use shardtop::alerts::receiver::{self, Received};
use shardtop::alerts::sinks::SinkStats;
use shardtop::alerts::{Alerts, Notification, Status};
use shardtop::config::{AlertsConfig, WebhookConfig};
use shardtop::fleet::{Addr, Fleet, Health, Limits, Shard};
use shardtop::poll::{Poller, Schedule, Slot, Update};
use shardtop::probe::{ProbeOptions, Prober, Tls};
use shardtop::secret::Secret;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::common::{Sandbox, note};

const INTERVAL: Duration = Duration::from_secs(1);
const SECRET: &str = "alerts-test-secret-7f3a9c0e51b2";

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn addr(sb: &Sandbox, name: &str) -> Addr {
    sb.addr(name).parse().expect("host:port")
}

/// The sandbox's `MONITOR` or `ADMIN` account over TCP, as a prober uses it.
fn account(sb: &Sandbox, which: &str) -> Arc<ProbeOptions> {
    let password = std::fs::read_to_string(sb.var(&format!("SANDBOX_{which}_PASSWORD_FILE"))).expect("password file");
    Arc::new(ProbeOptions {
        user: sb.var(&format!("SANDBOX_{which}_USER")).to_string(),
        password: Some(Secret::new(password.trim_end())),
        tls: Tls::Disabled,
        timeout: Duration::from_secs(1),
        heartbeat: None,
    })
}

/// A real Alertmanager on a free port, notifying `receiver` (AM's own webhook, unsigned) of
/// every group at once, resolutions included. Killed on drop.
struct Alertmanager {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    receiver: String,
}

impl Alertmanager {
    fn binary() -> PathBuf {
        ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("prometheus-alertmanager is not installed: run scripts/setup")
    }

    async fn start(receiver: &str) -> Alertmanager {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Alertmanager::spawn(dir.path(), port, receiver);
        let mut am = Alertmanager { child, port, dir, receiver: receiver.to_string() };
        am.wait_ready().await;
        am
    }

    fn spawn(dir: &Path, port: u16, receiver: &str) -> Child {
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: test\n  group_by: ['alertname', 'shard', 'instance']\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      \
                 - url: {receiver}\n        send_resolved: true\n"
            ),
        )
        .expect("write the Alertmanager config");
        let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log file");
        Command::new(Alertmanager::binary())
            .arg(format!("--config.file={}", config.display()))
            // A fresh storage directory each start: a restart forgets everything, as one without
            // persistent storage does.
            .arg(format!("--storage.path={}", dir.join(format!("data-{}", Utc::now().timestamp_millis())).display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: a lone Alertmanager, and no port of anyone else's taken.
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-alertmanager")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", self.url())).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("alertmanager exited ({st}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "alertmanager not ready: {}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// SIGTERM, and wait for it to exit.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").arg(self.child.id().to_string()).status();
            let _ = self.child.wait();
        }
    }

    /// Same port, same config, a new process (it forgets every alert it had).
    async fn restart(&mut self) {
        self.stop();
        self.child = Alertmanager::spawn(self.dir.path(), self.port, &self.receiver);
        self.wait_ready().await;
    }

    /// Active alerts as Alertmanager's API v2 lists them.
    async fn alerts(&self) -> Vec<serde_json::Value> {
        let r = reqwest::get(format!("{}/api/v2/alerts", self.url())).await;
        match r {
            Ok(r) => r.json::<Vec<serde_json::Value>>().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_labels(a: &serde_json::Value, want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| a["labels"][*k] == *v)
}

/// What the test's HTTP server heard: shardtop's signed webhooks (verified with the library's
/// receiver) and Alertmanager's own notifications.
#[derive(Default)]
struct Heard {
    shardtop: Vec<Received>,
    alertmanager: Vec<serde_json::Value>,
}

async fn listen(heard: Arc<Mutex<Heard>>) -> String {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = heard.clone();
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            h.lock().expect("lock").shardtop.push(r);
        }
    });
    let h = heard.clone();
    let am = post(move |body: Bytes| {
        let h = h.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                h.lock().expect("lock").alertmanager.push(v);
            }
            StatusCode::OK
        }
    });
    let app = Router::new().route("/am", am).merge(receiver::router(Secret::new(SECRET), 300, tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(receiver::serve(listener, app));
    url
}

fn config(for_: Duration, am: Option<&str>, hook: Option<&str>, dead: &Path) -> AlertsConfig {
    AlertsConfig {
        for_,
        alertmanager: am.into_iter().map(str::to_string).collect(),
        webhooks: hook
            .into_iter()
            .map(|u| WebhookConfig { name: "test".into(), url: format!("{u}/hook"), secret: Secret::new(SECRET) })
            .collect(),
        retries: 8,
        backoff: Duration::from_millis(250),
        timeout: Duration::from_secs(2),
        dead_letter: dead.to_path_buf(),
        ..AlertsConfig::default()
    }
}

/// The real poller on one shard's three servers, the model, and the alerts engine evaluated on a
/// 250 ms clock (as the TUI's loop does).
struct Watch {
    fleet: Fleet,
    rx: mpsc::Receiver<Update>,
    alerts: Alerts,
    _poller: Poller,
}

impl Watch {
    fn new(sb: &Sandbox, shard: &str, cfg: &AlertsConfig) -> Watch {
        let opts = account(sb, "MONITOR");
        let replicas: Vec<Addr> = sb.replicas(shard).iter().map(|r| addr(sb, r)).collect();
        let sh = Shard::new(shard, addr(sb, &format!("{shard}-m")), replicas, None);
        let probes: Vec<(Slot, Prober)> = sh
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (Slot { shard: 0, instance: i }, Prober::new(inst.addr.clone(), opts.clone())))
            .collect();
        let (tx, rx) = mpsc::channel(256);
        let poller = Poller::spawn(probes, Schedule { interval: INTERVAL, concurrency: 4 }, tx);
        Watch { fleet: Fleet::new(vec![sh], Limits::default()), rx, alerts: Alerts::start(cfg), _poller: poller }
    }

    /// Runs the loop for `d`.
    async fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut clock = tokio::time::interval(Duration::from_millis(250));
        while Instant::now() < end {
            tokio::select! {
                u = self.rx.recv() => if let Some(u) = u {
                    self.fleet.apply(u.slot.shard, u.slot.instance, u.sample);
                },
                _ = clock.tick() => {
                    self.alerts.observe(&self.fleet, Utc::now());
                },
                _ = tokio::time::sleep_until(end) => {}
            }
        }
    }

    /// Runs the loop until `done` holds (checked every 250 ms), or panics after `limit`.
    async fn until<F, Fut>(&mut self, limit: Duration, what: &str, mut done: F) -> Instant
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if done().await {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            self.run_for(Duration::from_millis(250)).await;
        }
    }

    async fn until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(self.fleet.shards[0].health == Health::Ok && self.fleet.shards[0].replicas_up() == 2) {
            assert!(
                Instant::now() < deadline,
                "{} not healthy: {:?}",
                self.fleet.shards[0].name,
                self.fleet.shards[0].headline()
            );
            self.run_for(Duration::from_millis(250)).await;
        }
    }
}

/// A shard watched by the real poller and the alerts engine (`for_`), which notify a real
/// Alertmanager and, with `webhook`, the signed webhook at `url`; healthy before the test breaks
/// it. The tests that break s50 take turns (`S50`): its watch holds the turn until dropped.
struct Watched {
    w: Watch,
    am: Alertmanager,
    heard: Arc<Mutex<Heard>>,
    url: String,
    dead: tempfile::NamedTempFile,
    turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

async fn watched(sb: &Sandbox, shard: &str, for_: Duration, webhook: bool) -> Watched {
    let turn = if shard == "s50" { Some(S50.lock().await) } else { None };
    let heard = Arc::new(Mutex::new(Heard::default()));
    let url = listen(heard.clone()).await;
    let am = Alertmanager::start(&format!("{url}/am")).await;
    let dead = tempfile::NamedTempFile::new().expect("tmp");
    let cfg = config(for_, Some(&am.url()), webhook.then_some(url.as_str()), dead.path());
    let mut w = Watch::new(sb, shard, &cfg);
    w.until_healthy().await;
    Watched { w, am, heard, url, dead, turn }
}

fn stat(a: &Alerts, i: usize) -> (u64, u64, u64) {
    let s = &a.stats()[i].1;
    (SinkStats::get(&s.delivered), SinkStats::get(&s.failed_attempts), SinkStats::get(&s.dead))
}

/// Until the first sink of `alerts` has dead-lettered a notification (10 s at most).
async fn until_dead_lettered(alerts: &Alerts) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(alerts, 0).2 == 0 {
        assert!(Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn webhook_told(heard: &Mutex<Heard>, rule: &str) -> Vec<(String, bool)> {
    heard
        .lock()
        .expect("lock")
        .shardtop
        .iter()
        .filter_map(|r| match r {
            Received::Verified { body, duplicate, .. } if body["rule"] == rule => {
                Some((body["status"].as_str().unwrap_or_default().to_string(), *duplicate))
            }
            _ => None,
        })
        .collect()
}

/// `shardtop serve` on one shard's config with an `[alerts]` section; SIGTERMed on drop.
struct Serve {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let log = tempfile::NamedTempFile::new().expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_shardtop"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--config"])
            .arg(config)
            .env("ALERTS_TEST_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("start shardtop serve");
        Serve { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 100 ms until it holds; the time it first held.
async fn until<Fut: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Fut,
) -> Result<Instant, String> {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole product: `shardtop serve` polls s48 and runs the alerts engine on its sweeps; a
/// stopped SQL thread reaches a real Alertmanager after `for` with the right labels and resolves
/// once (Alertmanager's own receiver is told "resolved" with its endsAt), and the signed webhook
/// hears one firing and one resolution. The latency from the stop to Alertmanager is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_sql_thread_reaches_alertmanager_after_for_and_resolves_once() {
    let sb = sandbox_or_skip!();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let url = listen(heard.clone()).await;
    let am = Alertmanager::start(&format!("{url}/am")).await;
    let dir = tempfile::tempdir().expect("tmp");
    let dead = dir.path().join("dead.jsonl");
    let for_ = Duration::from_secs(5);
    let section = format!(
        "[alerts]\nfor = \"5s\"\nalertmanager = [\"{}\"]\nbackoff = \"250ms\"\ndead_letter = \"{}\"\n\
         [[alerts.webhook]]\nname = \"test\"\nurl = \"{url}/hook\"\nsecret_env = \"ALERTS_TEST_SECRET\"\n",
        am.url(),
        dead.display()
    );
    let config = sb.config_with(&["s48"], false, &section);
    let serve = Serve::start(&config);
    let r1 = sb.addr("s48-r1");
    let labels = [("shard", "s48"), ("instance", r1.as_str()), ("rule", "sql_thread"), ("severity", "critical")];
    // Healthy first: a few sweeps and nothing sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(heard.lock().expect("lock").shardtop.is_empty(), "s48 is not healthy: {}", serve.log());

    let stopped = Instant::now();
    sb.exec("s48-r1", "STOP SLAVE SQL_THREAD").await;
    let amc = &am;
    let seen = until(for_ + Duration::from_secs(10), "the alert in Alertmanager", || async {
        amc.alerts().await.iter().any(|a| has_labels(a, &labels))
    })
    .await;
    let firing = async {
        let latency = seen? - stopped;
        note(&format!(
            "alerts: SQL thread stopped → in Alertmanager after {:.2} s via shardtop serve \
             (for {:?} + interval {:?} + 1 s = {:.0} s target)",
            latency.as_secs_f64(),
            for_,
            INTERVAL,
            (for_ + INTERVAL + Duration::from_secs(1)).as_secs_f64()
        ));
        if latency < for_ {
            return Err(format!("fired before `for` had passed: {latency:?}"));
        }
        let alert = am.alerts().await.into_iter().find(|a| has_labels(a, &labels)).ok_or("gone")?;
        if alert["labels"]["source"] != "shardtop" || alert["status"]["state"] != "active" {
            return Err(format!("{alert}"));
        }
        if !alert["annotations"]["summary"].as_str().is_some_and(|s| s.contains("SQL thread")) {
            return Err(format!("summary: {alert}"));
        }
        let h = heard.clone();
        until(Duration::from_secs(5), "the webhook", || std::future::ready(!webhook_told(&h, "sql_thread").is_empty()))
            .await?;
        // Alertmanager routes it (group_wait 1 s): its own receiver hears it firing.
        until(Duration::from_secs(10), "Alertmanager notified the firing", || {
            let fired = h.lock().expect("lock").alertmanager.iter().any(|n| {
                n["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["status"] == "firing" && a["labels"]["shard"] == "s48")
            });
            std::future::ready(fired)
        })
        .await?;
        Ok(())
    }
    .await;
    sb.exec("s48-r1", "START SLAVE SQL_THREAD").await;
    firing.unwrap_or_else(|e| panic!("{e}\nserve:\n{}", serve.log()));

    // Resolved: gone from the active alerts, and Alertmanager's own receiver told "resolved" with endsAt.
    until(Duration::from_secs(15), "resolved in Alertmanager", || async {
        !amc.alerts().await.iter().any(|a| has_labels(a, &labels))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nserve:\n{}", serve.log()));
    let h = heard.clone();
    until(Duration::from_secs(15), "Alertmanager notified the resolution", || {
        let resolved = h.lock().expect("lock").alertmanager.iter().any(|n| {
            n["alerts"].as_array().into_iter().flatten().any(|a| {
                a["status"] == "resolved"
                    && a["labels"]["rule"] == "sql_thread"
                    && a["labels"]["shard"] == "s48"
                    && a["endsAt"].as_str().is_some_and(|e| !e.starts_with("0001"))
            })
        });
        std::future::ready(resolved)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:#?}\nalertmanager:\n{}", heard.lock().expect("lock").alertmanager, am.log()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        webhook_told(&heard, "sql_thread"),
        [("firing".to_string(), false), ("resolved".to_string(), false)],
        "fired once, resolved once"
    );
    assert!(std::fs::read_to_string(&dead).unwrap_or_default().is_empty(), "nothing dead-lettered");
    let log = serve.log();
    assert!(!log.contains(SECRET), "the secret in serve's log");
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_shorter_than_for_never_fires() {
    let sb = sandbox_or_skip!();
    let for_ = Duration::from_secs(8);
    let Watched { turn: _turn, dead, url, heard, am, mut w } = watched(&sb, "s49", for_, true).await;
    let mut broke = false;
    for _ in 0..3 {
        sb.exec("s49-r1", "STOP SLAVE SQL_THREAD").await;
        w.run_for(Duration::from_secs(3)).await;
        broke |= w.fleet.shards[0].all_problems().any(|p| p.rule == "sql_thread") || w.alerts.engine().pending() > 0;
        sb.exec("s49-r1", "START SLAVE SQL_THREAD").await;
        w.run_for(Duration::from_secs(3)).await;
    }
    assert!(broke, "the model saw the fault (else this test proves nothing)");
    w.run_for(for_ + Duration::from_secs(2)).await;
    assert!(heard.lock().expect("lock").shardtop.is_empty(), "no webhook");
    assert!(am.alerts().await.iter().all(|a| a["labels"]["shard"] != "s49"), "nothing in Alertmanager");
    assert_eq!(w.alerts.engine().firing(), 0);
    drop(w);

    // An action's outcome from the command line: `shardtop checksum` on s49 is notified, read off
    // its audit log, before the command exits.
    sb.exec(
        "s49-m",
        "CREATE TABLE IF NOT EXISTS social.alerts_ck (id INT PRIMARY KEY, v VARCHAR(20)) DEFAULT CHARSET=utf8mb4; \
         REPLACE INTO social.alerts_ck VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    .await;
    let audit = dead.path().with_extension("audit.jsonl");
    let extra = format!(
        "{}[alerts]\nalertmanager = [\"{}\"]\n[[alerts.webhook]]\nurl = \"{url}/hook\"\nsecret_env = \"ALERTS_TEST_SECRET\"\n",
        sb.actions_section(&audit, ""),
        am.url()
    );
    let config = sb.config_with(&["s49"], true, &extra);
    let out = Command::new(env!("CARGO_BIN_EXE_shardtop"))
        .args(["checksum", "--shard", "s49", "--tables", "social.alerts_ck", "--config"])
        .arg(&config)
        .env("ALERTS_TEST_SECRET", SECRET)
        .output()
        .expect("run shardtop checksum");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    let told: Vec<serde_json::Value> = heard
        .lock()
        .expect("lock")
        .shardtop
        .iter()
        .filter_map(|r| match r {
            Received::Verified { body, .. } => Some(body.clone()),
            Received::Rejected { .. } => None,
        })
        .collect();
    assert_eq!(told.len(), 1, "one outcome, delivered before the command exited: {told:#?}");
    let n = &told[0];
    assert_eq!(
        (n["kind"].as_str(), n["rule"].as_str(), n["severity"].as_str()),
        (Some("action"), Some("action_checksum"), Some("info"))
    );
    assert!(n["summary"].as_str().is_some_and(|s| s.contains("succeeded") && s.contains("0 differing chunks")), "{n}");
    let in_am = am.alerts().await;
    assert!(
        in_am.iter().any(|a| a["labels"]["rule"] == "action_checksum" && a["labels"]["shard"] == "s49"),
        "{in_am:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_notification_is_lost_across_an_alertmanager_restart() {
    let sb = sandbox_or_skip!();
    let for_ = Duration::from_secs(2);
    let Watched { turn: _turn, dead, am, mut w, .. } = watched(&sb, "s50", for_, false).await;
    let (r1, r2) = (sb.addr("s50-r1"), sb.addr("s50-r2"));
    let on = |who: &str| {
        vec![("shard", "s50"), ("rule", "sql_thread"), ("instance", who)]
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect::<Vec<_>>()
    };
    let in_am = |alerts: &[serde_json::Value], who: &str| {
        let want = on(who);
        alerts.iter().any(|a| want.iter().all(|(k, v)| a["labels"][*k] == v.as_str()))
    };
    let result = async {
        sb.exec("s50-r1", "STOP SLAVE SQL_THREAD").await;
        let amc = &am;
        w.until(Duration::from_secs(15), "r1's alert in Alertmanager", || async { in_am(&amc.alerts().await, &r1) })
            .await;
        let before = stat(&w.alerts, 0);
        // Alertmanager goes away; meanwhile r1 recovers (a resolution) and r2 breaks (a new alert).
        let mut am = am;
        am.stop();
        sb.exec("s50-r1", "START SLAVE SQL_THREAD").await;
        sb.exec("s50-r2", "STOP SLAVE SQL_THREAD").await;
        w.run_for(for_ + Duration::from_secs(4)).await;
        let during = stat(&w.alerts, 0);
        assert!(during.1 > before.1, "posts failed while it was down: {before:?} → {during:?}");
        am.restart().await;
        let amc = &am;
        w.until(Duration::from_secs(20), "r2's alert in the restarted Alertmanager", || async {
            in_am(&amc.alerts().await, &r2)
        })
        .await;
        let now = am.alerts().await;
        assert!(!in_am(&now, &r1), "r1's resolution was not re-posted as firing");
        let after = stat(&w.alerts, 0);
        // r1 firing, r1 resolved, r2 firing: all delivered, none given up.
        assert_eq!((after.0, after.2), (3, 0), "delivered, dead: {after:?}");
        assert!(std::fs::read_to_string(dead.path()).unwrap_or_default().is_empty());
        note(&format!("alerts: Alertmanager restart: {} failed attempts retried, 0 lost", after.1 - before.1));
        Ok::<_, String>(am)
    }
    .await;
    sb.exec("s50-r1", "START SLAVE SQL_THREAD").await;
    sb.exec("s50-r2", "START SLAVE SQL_THREAD").await;
    drop(result.expect("no loss"));
}

/// A receiver that answers 500 to the first `failures` requests, then verifies like the library's.
async fn flaky(failures: u32, heard: Arc<Mutex<Vec<(StatusCode, String)>>>) -> String {
    let count = Arc::new(AtomicU32::new(0));
    let h = post(move |headers: HeaderMap, body: Bytes| {
        let (count, heard) = (count.clone(), heard.clone());
        async move {
            let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
            let id = get("x-shardtop-delivery").unwrap_or_default();
            let status = if count.fetch_add(1, Ordering::SeqCst) < failures {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                let ok = shardtop::alerts::signing::verify(
                    &Secret::new(SECRET),
                    get("x-shardtop-timestamp").as_deref(),
                    get("x-shardtop-signature").as_deref(),
                    &body,
                    Utc::now().timestamp(),
                    300,
                );
                if ok.is_ok() { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED }
            };
            heard.lock().expect("lock").push((status, id));
            status
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(receiver::serve(listener, Router::new().route("/hook", h)));
    url
}

fn action_note(shard: &str) -> Notification {
    Notification {
        kind: "action",
        status: Status::Firing,
        shard: shard.into(),
        instance: None,
        rule: "action_promote".into(),
        severity: "info",
        summary: "promote of test succeeded".into(),
        since: Utc::now(),
        starts_at: Utc::now(),
        ends_at: None,
        fingerprint: Notification::fingerprint_of(shard, None, "action_promote", "run-1"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_with_backoff_and_dead_lettered() {
    let dir = tempfile::tempdir().expect("tmp");
    let dead = dir.path().join("dead.jsonl");
    // 500, 500, then verified: three attempts of one delivery id, no dead letter.
    let heard = Arc::new(Mutex::new(Vec::new()));
    let url = flaky(2, heard.clone()).await;
    let mut cfg = config(Duration::ZERO, None, None, &dead);
    cfg.webhooks = vec![
        WebhookConfig { name: "flaky".into(), url: url.clone(), secret: Secret::new(SECRET) },
        WebhookConfig { name: "wrong-secret".into(), url, secret: Secret::new("not-the-shared-secret-000") },
    ];
    cfg.webhooks.truncate(1);
    let alerts = Alerts::start(&cfg);
    let outbox = alerts.outbox().expect("actions notified");
    outbox.send(action_note("s-web"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&alerts, 0).0 == 0 {
        assert!(Instant::now() < deadline, "not delivered: {:?}", heard.lock().expect("lock"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = heard.lock().expect("lock").clone();
    let codes: Vec<u16> = got.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(codes, [500, 500, 204], "retried after 500s, then verified");
    assert!(got.iter().all(|(_, id)| *id == got[0].1 && !id.is_empty()), "one delivery id: {got:?}");
    assert_eq!(stat(&alerts, 0), (1, 2, 0));
    alerts.shutdown(Duration::from_secs(1)).await;

    // A wrong secret: refused (401) by the verifying receiver, not retried, dead-lettered.
    let heard = Arc::new(Mutex::new(Vec::new()));
    let url = flaky(0, heard.clone()).await;
    cfg.webhooks =
        vec![WebhookConfig { name: "wrong-secret".into(), url, secret: Secret::new("not-the-shared-secret-000") }];
    let alerts = Alerts::start(&cfg);
    alerts.outbox().expect("outbox").send(action_note("s-wrong"));
    until_dead_lettered(&alerts).await;
    let codes: Vec<u16> = heard.lock().expect("lock").iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(codes, [401], "a refusal is not retried");
    let text = std::fs::read_to_string(&dead).expect("dead letters");
    let line: serde_json::Value = serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    assert_eq!(
        (line["sink"].as_str(), line["notification"]["shard"].as_str()),
        (Some("wrong-secret"), Some("s-wrong"))
    );
    assert!(line["reason"].as_str().is_some_and(|r| r.contains("401")), "{line}");
    assert!(!text.contains("not-the-shared-secret") && !text.contains(SECRET), "no secret in the dead letters");

    // Nobody listening at all: every retry fails, then it is dead-lettered too.
    let mut cfg = config(Duration::ZERO, None, None, &dead);
    cfg.retries = 2;
    cfg.backoff = Duration::from_millis(50);
    cfg.webhooks = vec![WebhookConfig {
        name: "gone".into(),
        url: format!("http://127.0.0.1:{}/hook", free_port()),
        secret: Secret::new(SECRET),
    }];
    let alerts = Alerts::start(&cfg);
    alerts.outbox().expect("outbox").send(action_note("s-gone"));
    until_dead_lettered(&alerts).await;
    assert_eq!(stat(&alerts, 0), (0, 3, 1), "first attempt and two retries");
}

/// The `shardtop webhook-receiver` subcommand verifies what the sink signs and refuses the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_subcommand_verifies_signatures() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardtop"))
        .args(["webhook-receiver", "--listen", &format!("127.0.0.1:{port}"), "--secret-env", "ALERTS_TEST_SECRET"])
        .env("ALERTS_TEST_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shardtop webhook-receiver");
    // The receiver prints what it heard after answering: read its output as it comes, and wait
    // for it (bounded) rather than killing it right after the last answer.
    let collect = |r: Option<Box<dyn std::io::Read + Send>>| {
        let buf = Arc::new(Mutex::new(String::new()));
        let into = buf.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let Some(r) = r else { return };
            for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                let mut b = into.lock().expect("lock");
                b.push_str(&line);
                b.push('\n');
            }
        });
        buf
    };
    let out_buf = collect(child.stdout.take().map(|r| Box::new(r) as Box<dyn std::io::Read + Send>));
    let err_buf = collect(child.stderr.take().map(|r| Box::new(r) as Box<dyn std::io::Read + Send>));
    let url = format!("http://127.0.0.1:{port}/hook");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.post(&url).send().await.is_err() {
        assert!(Instant::now() < deadline, "receiver not listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(Duration::ZERO, None, None, &dir.path().join("dead.jsonl"));
    cfg.webhooks = vec![WebhookConfig { name: "sub".into(), url: url.clone(), secret: Secret::new(SECRET) }];
    let alerts = Alerts::start(&cfg);
    alerts.outbox().expect("outbox").send(action_note("s-sub"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&alerts, 0).0 == 0 {
        assert!(Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A forged one: a valid-looking signature made with another secret.
    let body = br#"{"version":1,"shard":"forged"}"#;
    let ts = Utc::now().timestamp();
    let forged = shardtop::alerts::signing::sign(&Secret::new("another-secret-entirely"), ts, body);
    let r = client
        .post(&url)
        .header("x-shardtop-timestamp", ts.to_string())
        .header("x-shardtop-signature", forged)
        .body(body.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    // A replay of an old one, correctly signed for its time.
    let old = ts - 3600;
    let r = client
        .post(&url)
        .header("x-shardtop-timestamp", old.to_string())
        .header("x-shardtop-signature", shardtop::alerts::signing::sign(&Secret::new(SECRET), old, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    while err_buf.lock().expect("lock").matches("rejected").count() < 3
        || !out_buf.lock().expect("lock").contains("s-sub")
    {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let stdout = out_buf.lock().expect("lock").clone();
    let stderr = err_buf.lock().expect("lock").clone();
    let lines: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!((lines[0]["verified"].as_bool(), lines[0]["body"]["shard"].as_str()), (Some(true), Some("s-sub")));
    assert_eq!(stderr.matches("rejected").count(), 3, "the empty probe, the forged and the replayed: {stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}

/// The tests that break s50 take turns.
static S50: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Another shardtop acting on a shard (a `shardtop promote` or `checksum --method table` from a
/// shell while `serve` or the office LCD watches) raises no alert about the states it causes:
/// its beacon, shardtop's action lock on the servers, holds the shard's findings in every watcher
/// until the lock goes and the shard settles. The same fault without the beacon fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_elsewhere_raises_no_alert_about_what_it_changes() {
    let sb = sandbox_or_skip!();
    let for_ = Duration::from_secs(2);
    let Watched { turn: _turn, dead: _dead, heard, am, mut w, .. } = watched(&sb, "s50", for_, true).await;

    // The beacon an action raises, with the documented admin account over TCP.
    let admin = account(&sb, "ADMIN");
    let members: Vec<Addr> = ["s50-m", "s50-r1", "s50-r2"].iter().map(|n| addr(&sb, n)).collect();
    let beacon = Beacon::raise(&members, &admin).await;
    assert_eq!(beacon.lit(), 3, "the admin account takes the lock on every member");
    sb.exec("s50-r1", "STOP SLAVE SQL_THREAD").await;
    w.run_for(for_ + 3 * INTERVAL).await;
    let held = w.fleet.shards[0].hold.as_ref().map(|h| (h.label(), h.held.iter().any(|p| p.rule == "sql_thread")));
    assert_eq!(
        held,
        Some(("another shardtop is acting on this shard", true)),
        "the stopped SQL thread is seen, and held"
    );
    assert_eq!((w.alerts.engine().firing(), w.alerts.engine().pending()), (0, 0));
    sb.exec("s50-r1", "START SLAVE SQL_THREAD").await;
    beacon.lower().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.fleet.shards[0].hold.is_some() {
        assert!(Instant::now() < deadline, "the hold lets go once the lock is gone and the shard settled");
        w.run_for(Duration::from_millis(250)).await;
    }
    w.run_for(for_ + INTERVAL).await;
    assert!(webhook_told(&heard, "sql_thread").is_empty(), "no webhook");
    assert!(
        am.alerts().await.iter().all(|a| !has_labels(a, &[("shard", "s50"), ("rule", "sql_thread")])),
        "nothing in Alertmanager"
    );
    assert_eq!(w.alerts.engine().firing(), 0);

    // The control: the same fault with no beacon fires once `for` has passed.
    sb.exec("s50-r1", "STOP SLAVE SQL_THREAD").await;
    let deadline = Instant::now() + for_ + Duration::from_secs(10);
    while w.alerts.engine().firing() == 0 {
        assert!(Instant::now() < deadline, "without the beacon the stopped SQL thread fires");
        w.run_for(Duration::from_millis(250)).await;
    }
    assert!(w.fleet.shards[0].hold.is_none());
    sb.exec("s50-r1", "START SLAVE SQL_THREAD").await;
    w.until_healthy().await;
}
