//! The wall's application panels and deploy markers against real sources (issue 19): a private
//! Graphite from the Debian packages graphite-carbon and graphite-web (`scripts/graphite`, on
//! free loopback ports, fed with the plaintext protocol and the events API), and a private
//! Prometheus. The readers get exact values (now, the same time yesterday, several series folded);
//! then `shardtop --kiosk` in tmux on sandbox shards s57/s58 shows them on the wall, and shows
//! the panel DOWN when Graphite stops, while the rest of the wall goes on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use shardtop::config::{MarkerSourceConfig, MetricsKind, PanelConfig, Reduce};
use shardtop::metrics::{markers, panel};

use crate::common::{eventually, note};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// graphite-carbon and graphite-web, started by `scripts/graphite` in a temporary directory and
/// stopped when dropped.
struct Graphite {
    dir: tempfile::TempDir,
    url: String,
    carbon: u16,
}

impl Graphite {
    fn start() -> Option<Graphite> {
        if !Path::new("/usr/bin/carbon-cache").exists() || !Path::new("/usr/share/graphite-web").exists() {
            note("skipped: graphite-carbon / graphite-web not installed (scripts/setup installs them)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (carbon, cache, web) = (free_port(), free_port(), free_port());
        let out = Command::new(repo().join("scripts/graphite"))
            .arg("up")
            .arg(dir.path())
            .args(["--carbon-port", &carbon.to_string(), "--cache-port", &cache.to_string()])
            .args(["--web-port", &web.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/graphite");
        assert!(out.status.success(), "scripts/graphite up failed: {}", String::from_utf8_lossy(&out.stdout));
        Some(Graphite { dir, url: format!("http://127.0.0.1:{web}"), carbon })
    }

    /// Plaintext protocol: one `path value timestamp` line each.
    fn feed(&self, lines: &[(String, f64, i64)]) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.carbon)).expect("connect to carbon");
        let text: String = lines.iter().map(|(p, v, t)| format!("{p} {v} {t}\n")).collect();
        s.write_all(text.as_bytes()).expect("send to carbon");
    }

    fn event(&self, what: &str, tags: &str) {
        let body = serde_json::json!({ "what": what, "tags": tags, "data": "shardtop test" }).to_string();
        let out = Command::new("curl")
            .args(["-fsS", "--max-time", "5", "-X", "POST", "-d", &body, &format!("{}/events/", self.url)])
            .output()
            .expect("curl");
        assert!(out.status.success(), "POST /events/: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        let _ = Command::new(repo().join("scripts/graphite")).arg("down").arg(self.dir.path()).output();
    }
}

impl Drop for Graphite {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Two hosts' logins every 10 s over the last ten minutes: 60 and 60 now, 50 and 50 a day ago.
fn feed_logins(g: &Graphite) {
    let t = now() / 10 * 10;
    let mut lines = Vec::new();
    for k in 0..60 {
        for host in ["web1", "web2"] {
            lines.push((format!("test.web.{host}.logins"), 60.0, t - 600 + 10 * k));
            lines.push((format!("test.web.{host}.logins"), 50.0, t - 86_400 - 600 + 10 * k));
        }
    }
    g.feed(&lines);
}

fn graphite_panel(url: &str) -> PanelConfig {
    PanelConfig {
        title: "logins/s".into(),
        source: MetricsKind::Graphite,
        url: url.into(),
        query: "test.web.*.logins".into(),
        unit: "/s".into(),
        warn: None,
        crit: None,
        lower_is_worse: false,
        reduce: Reduce::Sum,
        compare: Some(PanelConfig::DEFAULT_COMPARE),
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        line: 1,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("http client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphite_panel_reads_now_yesterday_and_the_hour_and_events_become_markers() {
    let Some(g) = Graphite::start() else { return };
    feed_logins(&g);
    g.event("deploy web 2026.12.07-1", "deploy web");
    g.event("cache flushed", "ops");
    let cfg = graphite_panel(&g.url);
    let client = http();
    // Carbon writes what it was sent within a few seconds, one series after another: read until
    // both hosts' points are in. Two hosts summed; yesterday through timeShift(…, "1d").
    let mut last = None;
    for _ in 0..60 {
        let r = panel::read(&client, &cfg).await;
        let done = r.as_ref().is_ok_and(|r| {
            (r.value, r.before) == (Some(120.0), Some(100.0))
                && r.history.len() >= 55
                && r.history.iter().all(|&v| v == 120.0)
        });
        last = Some(r);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let r = last.and_then(Result::ok).expect("a reading");
    assert_eq!((r.value, r.before), (Some(120.0), Some(100.0)), "{r:?}");
    assert!(r.history.len() >= 55 && r.history.iter().all(|&v| v == 120.0), "{:?}", r.history);
    let max = panel::read(&client, &PanelConfig { reduce: Reduce::Max, ..cfg.clone() }).await.expect("read");
    assert_eq!((max.value, max.before), (Some(60.0), Some(50.0)));
    // A target graphite-web cannot parse is an error with its words, not a panic or a zero.
    let bad = panel::read(&client, &PanelConfig { query: "nosuchfunc(test.web.*.logins)".into(), ..cfg.clone() }).await;
    assert!(bad.as_ref().is_err_and(|e| e.0.starts_with("HTTP 400: ") && e.0.contains("unknown function")), "{bad:?}");

    let events = MarkerSourceConfig {
        name: "[[markers]] #1 (graphite)".into(),
        source: MetricsKind::Graphite,
        url: g.url.clone(),
        tags: vec!["deploy".into()],
        query: None,
        text_label: None,
        text: "deploy".into(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(2),
    };
    let found = markers::read(&client, &events).await.expect("events");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "deploy web 2026.12.07-1");
    assert!((found[0].0.timestamp() - now()).abs() < 60, "{found:?}");
    let all = markers::read(&client, &MarkerSourceConfig { tags: Vec::new(), ..events.clone() }).await.expect("events");
    assert_eq!(all.len(), 2, "{all:?}");

    // Down: the reader says so within its timeout.
    g.stop();
    let down = panel::read(&client, &cfg).await;
    assert!(down.as_ref().is_err_and(|e| e.0.contains("cannot connect")), "{down:?}");
    assert!(markers::read(&client, &events).await.is_err());
}

/// A private Prometheus with nothing to scrape: the panels' queries compute from time itself.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start() -> Option<Prometheus> {
        let Ok(bin) = which("prometheus") else {
            note("skipped: prometheus not installed (scripts/setup installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  evaluation_interval: 15s\nscrape_configs: []\n").expect("write config");
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let url = format!("http://127.0.0.1:{port}");
        let p = Prometheus { child, url, _dir: dir };
        eventually(Duration::from_secs(30), "prometheus ready", || {
            let ok = Command::new("curl").args(["-fsS", "--max-time", "1", &format!("{}/-/ready", p.url)]).output();
            ok.ok().filter(|o| o.status.success()).map(|_| ()).ok_or_else(|| "not ready".to_string())
        });
        Some(p)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Result<PathBuf, ()> {
    let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().map_err(|_| ())?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if path.is_empty() { Err(()) } else { Ok(PathBuf::from(path)) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_panel_compares_a_day_back_and_a_query_gives_markers() {
    let Some(p) = Prometheus::start() else { return };
    let client = http();
    // time() needs no stored data: evaluated a day back it is exactly 86,400 less.
    let cfg = PanelConfig {
        title: "clock".into(),
        source: MetricsKind::Prometheus,
        query: "vector(time())".into(),
        url: p.url.clone(),
        ..graphite_panel("")
    };
    let r = panel::read(&client, &cfg).await.expect("prometheus panel");
    let (now_v, before) = (r.value.expect("value"), r.before.expect("a day back"));
    assert_eq!(now_v - before, 86_400.0, "{r:?}");
    assert!((now_v - now() as f64).abs() < 60.0, "{r:?}");
    // The hour at 30 s steps.
    assert!((119..=121).contains(&r.history.len()), "{}", r.history.len());
    assert!(r.history.windows(2).all(|w| w[1] - w[0] == 30.0), "{:?}", &r.history[..3]);
    // Two series folded: sum and max.
    let two =
        PanelConfig { query: "vector(1) or label_replace(vector(2), \"x\", \"y\", \"\", \"\")".into(), ..cfg.clone() };
    assert_eq!(panel::read(&client, &two).await.expect("read").value, Some(3.0));
    let two = PanelConfig { reduce: Reduce::Max, ..two };
    assert_eq!(panel::read(&client, &two).await.expect("read").value, Some(2.0));
    // A query Prometheus rejects: its error, named.
    let bad = panel::read(&client, &PanelConfig { query: "sum(".into(), ..cfg.clone() }).await;
    assert!(bad.as_ref().is_err_and(|e| e.0.contains("bad_data")), "{bad:?}");

    // Markers: the first 15 s of every ten minutes is "deploying", with a version label.
    let q = "label_replace(vector(time()) % 600 < 15, \"version\", \"v$1\", \"\", \"(.*)\")";
    let src = MarkerSourceConfig {
        name: "[[markers]] #1 (prometheus)".into(),
        source: MetricsKind::Prometheus,
        url: p.url.clone(),
        tags: Vec::new(),
        query: Some(q.into()),
        text_label: Some("version".into()),
        text: "deploy".into(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(2),
    };
    let found = markers::read(&client, &src).await.expect("markers");
    assert!((5..=7).contains(&found.len()), "six ten-minute marks in an hour: {found:?}");
    for (at, text) in &found {
        // The range's steps fall a fraction past whole seconds: the first step inside each mark.
        assert!((0..15).contains(&(at.timestamp() % 600)), "{found:?}");
        assert_eq!(text, "deploy v", "{found:?}");
    }

    // Prometheus goes away: the panel's read says so, and its tile is DOWN with the reason and
    // the host, its last value kept greyed (as the Graphite test shows on a real wall).
    let host = p.url.trim_start_matches("http://").to_string();
    drop(p);
    // SIGKILL is asynchronous: wait (bounded) for the port to close.
    let mut down = panel::read(&client, &cfg).await;
    for _ in 0..50 {
        if down.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        down = panel::read(&client, &cfg).await;
    }
    assert!(down.as_ref().is_err_and(|e| e.0.contains("cannot connect")), "{down:?}");
    let mut tile = shardtop::ui::panels::Panel::new(cfg.clone());
    let at = chrono::Utc::now();
    tile.apply(panel::PanelUpdate { index: 0, at, result: Ok(r) });
    let event = tile.apply(panel::PanelUpdate { index: 0, at, result: down.map_err(|e| e.0) });
    assert!(event.is_some_and(|e| e.message.contains(&format!("prometheus {host} down"))), "{tile:?}");
    assert!(tile.reading.is_some() && tile.error.is_some(), "{tile:?}");
}

/// The screen of a tmux pane.
fn capture(session: &str) -> String {
    let out = Command::new("tmux").args(["capture-pane", "-p", "-t", session]).output().expect("tmux capture-pane");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Tmux(String);

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.0]).output();
    }
}

#[test]
fn the_kiosk_wall_shows_graphite_panels_and_deploys_and_a_dead_graphite_without_stalling() {
    let sb = sandbox_or_skip!();
    if which("tmux").is_err() {
        note("skipped: tmux not installed (scripts/setup installs it)");
        return;
    }
    let Some(g) = Graphite::start() else { return };
    feed_logins(&g);
    g.event("deploy web 2026.12.07-1", "deploy");
    let markers_file = tempfile::NamedTempFile::new().expect("markers file");
    let extra = format!(
        "[kiosk]\nviews = [\"wall\"]\n\n\
         [[panel]]\ntitle = \"logins/s\"\nsource = \"graphite\"\nurl = \"{url}\"\ntarget = \"test.web.*.logins\"\n\
         unit = \"/s\"\nwarn = 50\ncrit = 10\nworse = \"lower\"\ninterval = \"2s\"\ntimeout = \"1s\"\n\n\
         [[markers]]\nsource = \"graphite\"\nurl = \"{url}\"\ntags = [\"deploy\"]\ninterval = \"2s\"\ntimeout = \"1s\"\n",
        url = g.url
    );
    let cfg = sb.config_with(&["s57", "s58"], false, &extra);
    let session = format!("shardtop-wall-{}", std::process::id());
    let cmd = format!(
        "SHARDTOP_MARKERS={} {} --kiosk --config {}",
        markers_file.path().display(),
        sb.bin().display(),
        cfg.display()
    );
    let ok = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "60", &cmd])
        .env_remove("TMUX")
        .status()
        .expect("tmux new-session");
    assert!(ok.success());
    let _guard = Tmux(session.clone());
    let screen = eventually(Duration::from_secs(30), "the panel and the deploy on the wall", || {
        let s = capture(&session);
        let want = ["logins/s", "▲+20% vs yesterday", "\"deploy web 2026.12.07-1\"", "FLEET QPS"];
        if want.iter().all(|w| s.contains(w)) { Ok(s) } else { Err(s) }
    });
    assert!(screen.contains("2 shards") && !screen.contains("cannot connect"), "{screen}");
    // Graphite goes away: the tile says where and why; the wall goes on (its clock moves).
    g.stop();
    let screen = eventually(Duration::from_secs(30), "the panel DOWN", || {
        let s = capture(&session);
        // The tile's note (the host after it may not fit a 200-column wall's tile).
        let tile = s.lines().find(|l| l.contains("logins/s")).is_some();
        if tile && s.contains("cannot connect") { Ok(s) } else { Err(s) }
    });
    let clock = |s: &str| {
        s.lines()
            .next()
            .and_then(|l| l.split_whitespace().find(|w| w.len() == 8 && w.contains(':')).map(str::to_string))
    };
    let before = clock(&screen);
    eventually(Duration::from_secs(10), "the wall keeps drawing", || {
        let s = capture(&session);
        if clock(&s) != before && s.contains("cannot connect") { Ok(()) } else { Err(s) }
    });
}

/// A remote viewer's wall (`--connect`) when its collector stops answering: `shardtop serve` on
/// s57/s58 is stopped (SIGSTOP: its connections stay open, nothing comes, not even keep-alives),
/// the kiosk says STALE and how old the data is in large type; continued, the wall is live again.
#[test]
fn a_connected_wall_goes_stale_when_its_collector_stops_answering() {
    let sb = sandbox_or_skip!();
    if which("tmux").is_err() {
        note("skipped: tmux not installed (scripts/setup installs it)");
        return;
    }
    let cfg = sb.config_with(&["s57", "s58"], false, "");
    let port = free_port();
    let log = tempfile::NamedTempFile::new().expect("serve log");
    let mut serve = Command::new(sb.bin())
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("SHARDTOP_SERVE_TOKEN")
        .env_remove("SHARDTOP_SERVE_READ_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("start shardtop serve");
    struct Serve<'a>(&'a mut std::process::Child);
    impl Drop for Serve<'_> {
        fn drop(&mut self) {
            // SAFETY: a plain signal to the child this test started.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGCONT) };
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = serve.id() as libc::pid_t;
    let _serve = Serve(&mut serve);
    eventually(Duration::from_secs(15), "serve listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ()).map_err(|e| e.to_string())
    });
    let session = format!("shardtop-wall-connect-{}", std::process::id());
    let cmd = format!("{} --connect http://127.0.0.1:{port} --kiosk", sb.bin().display());
    let ok = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "60", &cmd])
        .env_remove("TMUX")
        .env_remove("SHARDTOP_CONNECT_TOKEN")
        .status()
        .expect("tmux new-session");
    assert!(ok.success());
    let _guard = Tmux(session.clone());
    eventually(Duration::from_secs(30), "the connected wall, live", || {
        let s = capture(&session);
        if s.contains("FLEET QPS") && s.contains("data ") && !s.contains("NO NEW DATA") { Ok(()) } else { Err(s) }
    });
    // SAFETY: a plain signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let screen = eventually(Duration::from_secs(45), "the wall says its data is stale", || {
        let s = capture(&session);
        if s.contains("NO NEW DATA FOR") { Ok(s) } else { Err(s) }
    });
    // The banner's word in large type: five letters of the big font (columns 35-41 are past
    // any four-letter word: OK, WARN, CRIT), left of the banner's text.
    let wide = screen.lines().take(9).any(|l| l.chars().skip(35).take(6).any(|c| c != ' '));
    assert!(wide, "STALE in large type:\n{screen}");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    eventually(Duration::from_secs(60), "the wall is live again", || {
        let s = capture(&session);
        if !s.contains("NO NEW DATA") && s.contains("data ") { Ok(()) } else { Err(s) }
    });
}
