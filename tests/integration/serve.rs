//! `shardtop serve` for real: the collector polling sandbox shards, a real Prometheus (Debian's)
//! scraping its `/metrics` with a bearer token, and the values read back through Prometheus'
//! query API against what was done to the servers; tokens, TLS (certificates made by openssl
//! here) and secrets on every endpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{Sandbox, eventually, note};

/// Remote viewers' actions through the viewer-side runner (`serve/remote.rs`).
mod remote;

/// A remote viewer laid out anew when its collector comes back with other shards (`serve/relayout.rs`).
mod relayout;

/// A child process killed when the test ends, however it ends.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Thresholds these tests' own side effects cannot cross: the health they expect is the
/// replication's alone. (A slow feed round on a busy machine would warn, and so would the QPS of
/// an idle shard halving when another test's collector stops probing it.)
const RELAXED: &str = "[thresholds]\nfeed_p99_warn = \"5s\"\nfeed_p99_crit = \"10s\"\nqps_drop_percent = 100\n";

/// A port nobody listens on now, in this module's range (30500–30999).
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = 30500 + (std::process::id() % 400) as u16;
    for _ in 0..500 {
        let p = start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 500;
        let p = if p > 30999 { p - 500 } else { p };
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in 30500-30999");
}

/// `shardtop serve` on `config`, with `args` and `env`, logging to a file in `dir`; waits for
/// `/healthz` (plain HTTP) unless the args ask for TLS.
fn start_serve(sb: &Sandbox, dir: &Path, config: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let stderr = dir.join(format!("serve-{port}.log"));
    let mut cmd = Command::new(sb.bin());
    cmd.arg("serve").arg("--config").arg(config).args(["--listen", &format!("127.0.0.1:{port}")]).args(args);
    cmd.env_remove("SHARDTOP_SERVE_TOKEN").env_remove("SHARDTOP_SERVE_READ_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("serve log"))
        .spawn()
        .expect("start shardtop serve");
    let proc = Proc { child, stderr };
    if !args.contains(&"--tls-cert") {
        let url = format!("http://127.0.0.1:{port}/healthz");
        eventually(Duration::from_secs(15), "serve answers /healthz", || match status_of(&url) {
            Ok(200) => Ok(()),
            other => Err(format!("{other:?}; log: {}", proc.log())),
        });
    }
    proc
}

/// A collector polling `shard` with its actions on (audited to `dir/audit.jsonl`) and the
/// viewers' tokens `tokens` (`NAME read|act TOKEN` lines): (the collector, its base URL, the audit
/// log).
fn acting_collector(sb: &Sandbox, dir: &Path, shard: &str, tokens: &str) -> (Proc, String, PathBuf) {
    let (audit, file) = (dir.join("audit.jsonl"), dir.join("tokens"));
    std::fs::write(&file, tokens).expect("tokens");
    let cfg = sb.config_with(&[shard], true, &format!("{}\n{RELAXED}", sb.actions_section(&audit, "")));
    let port = free_port();
    let serve = start_serve(sb, dir, &cfg, port, &["--tokens-file", file.to_str().expect("utf-8")], &[]);
    (serve, format!("http://127.0.0.1:{port}"), audit)
}

/// The body of GET `url` with the bearer `token`.
async fn body_of(client: &reqwest::Client, url: &str, token: &str) -> String {
    client.get(url).bearer_auth(token).send().await.expect("GET").text().await.expect("body")
}

/// The status of a plain-HTTP GET (for readiness checks, from sync code).
fn status_of(url: &str) -> Result<u16, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(format!("no status in {buf:?}"))
}

/// A Prometheus scraping `targets` every second with the bearer token in `token_file`. With
/// `honor_labels`, as for any exporter that speaks for other servers: the series keep their own
/// `instance` (the MySQL server), not the collector's address.
fn start_prometheus(dir: &Path, targets: &[u16], token_file: &Path) -> (Proc, String) {
    let port = free_port();
    let targets: Vec<String> = targets.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let yml = dir.join(format!("prometheus-{port}.yml"));
    std::fs::write(
        &yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: shardtop\n    honor_labels: true\n    authorization:\n      type: Bearer\n      credentials_file: {}\n\
             \x20   static_configs:\n      - targets: [{}]\n",
            token_file.display(),
            targets.join(", ")
        ),
    )
    .expect("prometheus.yml");
    let stderr = dir.join(format!("prometheus-{port}.log"));
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", yml.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join(format!("tsdb-{port}")).display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("prometheus log"))
        .spawn()
        .expect("start prometheus (Debian package `prometheus`; scripts/setup installs it)");
    (Proc { child, stderr }, format!("http://127.0.0.1:{port}"))
}

/// An instant query's result: each series' labels and value.
async fn query(prom: &str, q: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
    let r = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let result = v["data"]["result"].as_array().ok_or(format!("no result: {v}"))?;
    Ok(result
        .iter()
        .map(|s| {
            let val = s["value"][1].as_str().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
            (s["metric"].clone(), val)
        })
        .collect())
}

/// Wait until `q` returns exactly the values `want` (sorted), through Prometheus.
async fn wait_for(prom: &str, q: &str, want: &[f64], what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        match query(prom, q).await {
            Ok(series) => {
                let mut got: Vec<f64> = series.iter().map(|s| s.1).collect();
                got.sort_by(f64::total_cmp);
                if got == want {
                    return;
                }
                last = format!("{series:?}");
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("{what}: `{q}` never gave {want:?}; last: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_serve_and_sees_the_stopped_sql_thread() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "scrape-token-4f1e\n").expect("token");
    sb.exec("s44-r1", "STOP SLAVE SQL_THREAD").await;
    let feed = "[feed]\ndatabase = \"social\"\nuser_id_range = [1, 50]\ninterval = \"500ms\"\ntimeout = \"400ms\"\n";
    let cfg = sb.config_with(&["s44", "s45"], false, &format!("{feed}\n{RELAXED}"));
    let port = free_port();
    let serve = start_serve(&sb, dir.path(), &cfg, port, &["--token-file", token.to_str().expect("utf-8")], &[]);
    let (prom, url) = start_prometheus(dir.path(), &[port], &token);

    let r1 = sb.addr("s44-r1");
    let r2 = sb.addr("s44-r2");
    // The scrape itself authenticates (no token: 401, and `up` would be 0).
    wait_for(&url, "up{job=\"shardtop\"}", &[1.0], "the scrape with the token").await;
    wait_for(
        &url,
        &format!("shardtop_replication_thread_running{{instance=\"{r1}\",thread=\"sql\"}}"),
        &[0.0],
        "s44-r1's stopped SQL thread",
    )
    .await;
    wait_for(
        &url,
        &format!("shardtop_replication_thread_running{{instance=\"{r1}\",thread=\"io\"}}"),
        &[1.0],
        "its IO thread",
    )
    .await;
    wait_for(&url, &format!("shardtop_replication_thread_running{{instance=\"{r2}\"}}"), &[1.0, 1.0], "s44-r2 runs")
        .await;
    wait_for(&url, "shardtop_shard_health{shard=\"s44\"}", &[2.0], "s44 is critical").await;
    wait_for(&url, "shardtop_shard_health{shard=\"s45\"}", &[0.0], "s45 is ok").await;
    wait_for(
        &url,
        &format!("shardtop_anomaly{{shard=\"s44\",rule=\"sql_thread\",instance=\"{r1}\"}}"),
        &[1.0],
        "the finding",
    )
    .await;
    // Seconds_Behind_Master is NULL with the SQL thread stopped: no lag series for it, one for the others.
    wait_for(&url, &format!("shardtop_replication_lag_seconds{{instance=\"{r1}\"}}"), &[], "no lag for s44-r1").await;
    wait_for(&url, "count(shardtop_replication_lag_seconds{shard=\"s45\",source=\"sbm\"})", &[2.0], "s45's lags").await;
    wait_for(&url, "count(shardtop_instance_up == 1)", &[6.0], "six servers up").await;
    wait_for(&url, "count(shardtop_probe_duration_seconds > 0)", &[6.0], "probe durations").await;
    wait_for(&url, "count(shardtop_last_sample_age_seconds < 5)", &[6.0], "fresh samples").await;
    wait_for(&url, "count(shardtop_queries_per_second >= 0)", &[6.0], "rates").await;
    // Each shard's and the whole fan-out's (no shard label).
    wait_for(&url, "count(shardtop_feed_latency_seconds{quantile=\"0.99\"} > 0)", &[3.0], "feed quantiles").await;

    // Started again: Prometheus sees it recover.
    sb.exec("s44-r1", "START SLAVE SQL_THREAD").await;
    wait_for(
        &url,
        &format!("shardtop_replication_thread_running{{instance=\"{r1}\",thread=\"sql\"}}"),
        &[1.0],
        "restarted",
    )
    .await;
    wait_for(&url, "shardtop_shard_health{shard=\"s44\"}", &[0.0], "s44 ok again").await;

    // The monitoring password is nowhere in what serve says.
    let password = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password");
    let password = password.trim();
    let client = reqwest::Client::new();
    for path in ["/metrics", "/api/v1/snapshot"] {
        let body = body_of(&client, &format!("http://127.0.0.1:{port}{path}"), "scrape-token-4f1e").await;
        assert!(!body.contains(password), "{path} shows the password");
    }
    assert!(!serve.log().contains(password));
    drop(prom);
    drop(serve);
}

/// A self-signed CA and a certificate for 127.0.0.1 it signed, made with openssl: (ca, cert, key).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (Debian `openssl`)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=shardtop test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(p("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tls_and_no_secret_in_any_answer() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = make_certs(dir.path());
    let full = dir.path().join("full.token");
    std::fs::write(&full, "full-token-7a2b\n").expect("token");
    // A wrong password that looks like one: every probe fails, and the errors are what is served.
    let wrong = dir.path().join("wrong.password");
    let secret = "Wr0ng-Pa55-9c3d";
    std::fs::write(&wrong, secret).expect("password");
    let good = sb.config(&["s46"], false);
    let text = std::fs::read_to_string(&good).expect("config");
    let monitor = sb.var("SANDBOX_MONITOR_PASSWORD_FILE");
    let cfg = dir.path().join("wrong.toml");
    std::fs::write(&cfg, text.replace(monitor, &wrong.display().to_string())).expect("config");
    let real_password = std::fs::read_to_string(monitor).expect("password").trim().to_string();

    let port = free_port();
    let args = [
        "--token-file",
        full.to_str().expect("utf-8"),
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ];
    let serve = start_serve(&sb, dir.path(), &cfg, port, &args, &[("SHARDTOP_SERVE_READ_TOKEN", "read-token-5e6f")]);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("ca")).expect("CA");
    let client = reqwest::Client::builder().add_root_certificate(ca).build().expect("client");
    let base = format!("https://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) if r.status() == 200 => break,
            other if tokio::time::Instant::now() > deadline => {
                panic!("no /healthz over TLS: {other:?}; {}", serve.log())
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    // Wait for the probes' errors to be in the model (one sweep).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut seen = String::new();
    let get = |path: &'static str, token: Option<&'static str>| {
        let mut r = client.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    for path in ["/metrics", "/api/v1/snapshot", "/api/v1/stream"] {
        for (token, want) in
            [(None, 401), (Some("wrong-token"), 401), (Some("full-token-7a2b"), 200), (Some("read-token-5e6f"), 200)]
        {
            let r = get(path, token).send().await.expect("GET");
            assert_eq!(r.status().as_u16(), want, "{path} with {token:?}");
            if want == 401 {
                assert!(r.headers().get("www-authenticate").is_some(), "{path}: 401 says how to authenticate");
            }
            let body = if path == "/api/v1/stream" && want == 200 {
                // The stream never ends: its first frame is enough.
                let mut r = r;
                let chunk =
                    tokio::time::timeout(Duration::from_secs(5), r.chunk()).await.expect("a frame").expect("body");
                String::from_utf8_lossy(&chunk.unwrap_or_default()).into_owned()
            } else {
                r.text().await.expect("body")
            };
            seen.push_str(&body);
        }
    }
    seen.push_str(&get("/nosuch", None).send().await.expect("GET").text().await.expect("body"));
    // The model has the failed logins to tell: the snapshot's errors are served, the password is not.
    assert!(seen.contains("\"last_error\""), "the probes' errors are in the snapshot");
    assert!(seen.contains("event: full"), "the stream's first frame");
    assert!(seen.contains("shardtop_instance_up{"), "{seen}");
    for s in [secret, real_password.as_str(), "full-token-7a2b", "read-token-5e6f"] {
        assert!(!seen.contains(s), "a secret in an answer");
        assert!(!serve.log().contains(s), "a secret in serve's log");
    }
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200), "plain HTTP on the TLS port");
    note(&format!("serve over TLS on {port}: 401 without or with a wrong token, 200 with either token"));
}

#[test]
fn exposed_without_a_token_is_refused_and_bad_tls_files_are_named() {
    let sb = sandbox_or_skip!();
    let cfg = sb.config(&["s47"], false);
    let out = Command::new(sb.bin())
        .args(["serve", "--listen", "0.0.0.0:30999", "--config"])
        .arg(&*cfg)
        .env_remove("SHARDTOP_SERVE_TOKEN")
        .env_remove("SHARDTOP_SERVE_READ_TOKEN")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0.0.0.0:30999") && err.contains("token"), "{err}");
    let out = Command::new(sb.bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:30998",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
            "--config",
        ])
        .arg(&*cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

/// Scale-out: two collectors on disjoint halves of the shards (`--partition 1/2` and `2/2`), one
/// Prometheus scraping both, and a metrics-only shardtop (no database account) reading the
/// `shardtop_*` series back: every shard, with the health its collector judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partitions_one_prometheus_and_a_metrics_only_view_of_the_union() {
    let sb = sandbox_or_skip!();
    // s46 must stay healthy here: the remote-actions test promotes it (and back).
    let _s46 = S46.lock().await;
    // And s47 is broken here on purpose, while the remote failover test wants it healthy.
    let _s47 = S47.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "partition-token-11aa\n").expect("token");
    sb.exec("s47-r1", "STOP SLAVE SQL_THREAD").await;
    let shards = ["s45", "s46", "s47"];
    let cfg = sb.config_with(&shards, false, RELAXED);
    let token_arg = token.to_str().expect("utf-8");
    let ports = [free_port(), free_port()];
    let collectors: Vec<Proc> = ports
        .iter()
        .enumerate()
        .map(|(k, &port)| {
            let part = format!("{}/2", k + 1);
            start_serve(&sb, dir.path(), &cfg, port, &["--token-file", token_arg, "--partition", &part], &[])
        })
        .collect();
    // Each collector has its own shards, and together all of them.
    let client = reqwest::Client::new();
    let mut owned: Vec<Vec<String>> = Vec::new();
    for port in ports {
        let snap: serde_json::Value = client
            .get(format!("http://127.0.0.1:{port}/api/v1/snapshot"))
            .bearer_auth("partition-token-11aa")
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON");
        let names =
            snap["shards"].as_array().expect("shards").iter().map(|s| s["name"].as_str().unwrap_or("").to_string());
        owned.push(names.collect());
    }
    assert!(owned.iter().all(|o| !o.is_empty()), "each half has shards: {owned:?}");
    let mut all: Vec<String> = owned.concat();
    all.sort();
    assert_eq!(all, shards, "disjoint halves whose union is the config: {owned:?}");

    let (prom, url) = start_prometheus(dir.path(), &ports, &token);
    wait_for(&url, "up{job=\"shardtop\"}", &[1.0, 1.0], "both collectors scraped").await;
    wait_for(&url, "shardtop_shard_health{shard=\"s47\"}", &[2.0], "s47 critical").await;
    wait_for(&url, "count(shardtop_shard_health == 0)", &[2.0], "s45 and s46 ok").await;

    // The metrics-only view: no database account anywhere (a HOME without ~/.my.cnf).
    let view = dir.path().join("view.toml");
    let mut text = format!(
        "[[metrics]]\nkind = \"prometheus\"\nurl = \"{url}\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n\
         qps = \"sum by (shard) (shardtop_queries_per_second)\"\n\
         lag = \"max by (shard) (shardtop_replication_lag_seconds)\"\n\
         health = \"max by (shard) (shardtop_shard_health)\"\n\n"
    );
    for s in shards {
        text.push_str(&format!("[[shard]]\nname = \"{s}\"\nmaster = \"{}\"\n\n", sb.addr(&format!("{s}-m"))));
    }
    std::fs::write(&view, text).expect("view config");
    let out = Command::new(sb.bin())
        .args(["snapshot", "--format", "json", "--config"])
        .arg(&view)
        .env("HOME", dir.path())
        .output()
        .expect("snapshot");
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // A remote viewer of the second collector (s45, s47): the TUI, no database account, in a pty.
    let viewer = TuiInPty::spawn(
        &sb.bin(),
        &["--connect", &format!("http://127.0.0.1:{}", ports[1]), "--color", "never"],
        &[("SHARDTOP_CONNECT_TOKEN", "partition-token-11aa"), ("HOME", dir.path().to_str().expect("utf-8"))],
    );
    let screen = viewer.wait_for(|t| t.contains("s47") && t.contains("CRIT") && t.contains("s45"));
    assert!(!screen.contains("s46"), "only the second collector's shards: {screen}");
    drop(viewer);
    sb.exec("s47-r1", "START SLAVE SQL_THREAD").await;
    let health = |name: &str| {
        let s = json["shards"].as_array().into_iter().flatten().find(|s| s["name"] == name);
        s.map(|s| {
            (s["health"].as_str().unwrap_or("").to_string(), s["sources"]["qps"].as_str().unwrap_or("").to_string())
        })
    };
    assert_eq!(health("s47"), Some(("critical".into(), "prometheus".into())), "{json:#}");
    assert_eq!(health("s45"), Some(("ok".into(), "prometheus".into())), "{json:#}");
    assert_eq!(health("s46"), Some(("ok".into(), "prometheus".into())), "{json:#}");
    assert_eq!(out.status.code(), Some(2), "the worst of the union is critical");
    drop(prom);
    drop(collectors);
}

/// `shardtop ARGS` in a 120×30 pseudo-terminal, read as its screen; killed when dropped.
struct TuiInPty {
    pty: crate::common::pty::Pty,
}

impl TuiInPty {
    fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> TuiInPty {
        TuiInPty { pty: crate::common::pty::Pty::spawn(bin, args, env, PTY_ROWS as u16, PTY_COLS as u16) }
    }

    /// Wait until `ok` holds for the screen, within 20 s; panics with the screen otherwise.
    fn wait_for(&self, ok: impl Fn(&str) -> bool) -> String {
        self.wait_for_screen(Duration::from_secs(20), ok)
            .unwrap_or_else(|screen| panic!("not on the TUI's screen in time; its screen:\n{screen}"))
    }

    /// The terminal's screen now, one line a row, as a person would read it: not the bytes
    /// written, since a TUI rewrites only the cells that changed (a row that turns from "s45"
    /// into "s46" is written as "6", so a word on the screen may never be in them).
    fn screen(&self) -> String {
        crate::common::pty::screen_of(&self.pty.raw(), PTY_ROWS, PTY_COLS)
    }

    /// Wait until `ok` holds for the screen (see `screen`); `Err` with the last screen after `limit`.
    fn wait_for_screen(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let s = self.screen();
            if ok(&s) {
                return Ok(s);
            }
            if std::time::Instant::now() >= deadline {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Keys typed into its terminal, one at a time as a person types.
    fn type_keys(&self, keys: &str) {
        use std::io::Write;
        for k in keys.chars() {
            (&self.pty.master).write_all(k.to_string().as_bytes()).expect("type into the pty");
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

/// The pty's size (`TuiInPty`).
const PTY_ROWS: usize = 30;
const PTY_COLS: usize = 120;

impl Drop for TuiInPty {
    fn drop(&mut self) {
        self.pty.kill();
    }
}

/// s46 is promoted (and back) by one test and expected healthy by another: one at a time.
static S46: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// s47 is broken on purpose by one test and fenced by another: one at a time.
static S47: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// POST an action; (status, body).
async fn act(client: &reqwest::Client, base: &str, token: &str, body: serde_json::Value) -> (u16, String) {
    let r = client.post(format!("{base}/api/v1/actions")).bearer_auth(token).json(&body).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// The last JSON line of an action's answer: `done` or `planned`.
fn last_line(body: &str) -> serde_json::Value {
    body.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_default()
}

/// Which server of s46 the others replicate from, by port: every member's view.
async fn s46_source(sb: &Sandbox) -> Vec<(String, Option<u16>)> {
    let mut out = Vec::new();
    for n in ["s46-m", "s46-r1", "s46-r2"] {
        let port = sb.replica_status(n).await.and_then(|r| r.get::<u16, _>("Master_Port"));
        out.push((n.to_string(), port));
    }
    out
}

/// Actions from remote viewers: a read-only token is refused (403) and nothing runs; a token that
/// may act promotes s46-r1 on the collector, the audit log there names the token, the collector's
/// model follows the new master without an incident event on the stream (the promotion's
/// transient states are held), and the same viewer promotes s46-m back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_viewers_act_through_the_collector_under_their_token_name() {
    let sb = sandbox_or_skip!();
    let _s46 = S46.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let viewers = "# viewers\nalice act alice-token-0123456789\nlcd read lcd-token-0123456789\n";
    let (serve, base, audit) = acting_collector(&sb, dir.path(), "s46", viewers);
    let client = reqwest::Client::new();
    let (m, r1) = (sb.addr("s46-m"), sb.addr("s46-r1"));
    let master_of = |snap: &serde_json::Value| -> String {
        snap["shards"][0]["instances"]
            .as_array()
            .and_then(|is| is.iter().find(|i| i["role"] == "master"))
            .and_then(|i| i["addr"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let snapshot = || async {
        let r = client.get(format!("{base}/api/v1/snapshot")).bearer_auth("lcd-token-0123456789").send().await;
        r.expect("GET").json::<serde_json::Value>().await.expect("JSON")
    };
    // Healthy and settled before anything is asked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let snap = snapshot().await;
        if snap["shards"][0]["health"] == "ok" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "s46 never ok: {snap:#}\n{}", serve.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let before = s46_source(&sb).await;

    // Read-only, unknown and missing tokens: refused, and nothing ran.
    let promote_r1 = serde_json::json!({"action": "promote", "shard": "s46", "to": r1});
    let (status, body) = act(&client, &base, "lcd-token-0123456789", promote_r1.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("lcd is a read-only token"), "{body}");
    let (status, _) = act(&client, &base, "nobody-0123456789", promote_r1.clone()).await;
    assert_eq!(status, 401);
    let (status, body) =
        act(&client, &base, "alice-token-0123456789", serde_json::json!({"action": "promote", "shard": "s46"})).await;
    assert_eq!(status, 400, "no `to`: {body}");
    let (status, body) = act(
        &client,
        &base,
        "alice-token-0123456789",
        serde_json::json!({"action": "promote", "shard": "nope", "to": r1}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(!audit.exists(), "nothing ran, nothing was audited");
    assert_eq!(s46_source(&sb).await, before, "nothing changed on the servers");

    // A dry run plans and writes nothing.
    let mut dry = promote_r1.clone();
    dry["dry_run"] = true.into();
    let (status, body) = act(&client, &base, "alice-token-0123456789", dry).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_line(&body)["planned"]["ok"], true, "{body}");
    assert!(body.contains("\"plan\""), "the plan is shown: {body}");
    assert!(!audit.exists(), "a dry run is not audited");

    // The stream, watched through the promotion: no incident may appear on s46.
    let mut stream =
        client.get(format!("{base}/api/v1/stream")).bearer_auth("lcd-token-0123456789").send().await.expect("stream");
    let (status, body) = act(&client, &base, "alice-token-0123456789", promote_r1).await;
    assert_eq!(status, 200, "{body}");
    let done = last_line(&body);
    assert_eq!(done["done"]["ok"], true, "promoted: {body}\n{}", serve.log());
    assert!(body.contains("\"promoted\""), "{body}");
    // On the servers: r1 is the master, m and r2 replicate from it.
    let r1_port = sb.port("s46-r1");
    let after = s46_source(&sb).await;
    assert_eq!(
        after,
        vec![("s46-m".into(), Some(r1_port)), ("s46-r1".into(), None), ("s46-r2".into(), Some(r1_port))],
        "{body}"
    );
    // The audit log on the collector names the viewer's token on every line of the run.
    let text = std::fs::read_to_string(&audit).expect("audit log");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["by"] == "alice" && l["action"] == "promote"), "{text}");
    // The collector follows: r1 is its master, s46 healthy, with no incident said in between.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let snap = snapshot().await;
        if master_of(&snap) == r1 && snap["shards"][0]["health"] == "ok" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the collector did not follow: {snap:#}\n{}", serve.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut frames = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(500), stream.chunk()).await {
        frames.push_str(&String::from_utf8_lossy(&chunk));
    }
    for line in frames.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let frame: serde_json::Value = serde_json::from_str(line).expect("frame");
        for e in frame["events"].as_array().into_iter().flatten() {
            assert!(
                e["severity"] != "warning" && e["severity"] != "critical",
                "an incident on the stream during the collector's own promotion: {e}\n{frames}"
            );
        }
    }

    // And back, by the same viewer: the collector's session knows r1 leads now.
    let (status, body) = act(
        &client,
        &base,
        "alice-token-0123456789",
        serde_json::json!({"action": "promote", "shard": "s46", "to": m}),
    )
    .await;
    assert_eq!((status, last_line(&body)["done"]["ok"].clone()), (200, true.into()), "{body}\n{}", serve.log());
    assert_eq!(s46_source(&sb).await, before, "s46 as it was: {body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let snap = snapshot().await;
        if master_of(&snap) == m && snap["shards"][0]["health"] == "ok" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not back: {snap:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(serve.log().contains("started by alice"), "{}", serve.log());
    for secret in ["alice-token-0123456789", "lcd-token-0123456789"] {
        assert!(!serve.log().contains(secret) && !text.contains(secret), "a token in a log");
    }
    note("remote promotion of s46 by token alice: refused for the read token, run and audited for alice, and back");
}

/// Failover and fence through the collector: a read token is refused (403); a failover while the
/// master answers is refused (409) before anything runs; a fence of s47-r2 runs on the collector,
/// every line of it audited under the token's name, and the shard stays healthy; a stop request
/// names a run by the id its first line gave, and one that has ended is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_failover_and_fence_are_refused_or_run_and_audited_on_the_collector() {
    let sb = sandbox_or_skip!();
    let _s47 = S47.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let viewers = "bob act bob-token-0123456789ab\nwall read wall-token-0123456789\n";
    let (serve, base, audit) = acting_collector(&sb, dir.path(), "s47", viewers);
    let client = reqwest::Client::new();
    let health = || async {
        let r = client.get(format!("{base}/api/v1/snapshot")).bearer_auth("wall-token-0123456789").send().await;
        let snap = r.expect("GET").json::<serde_json::Value>().await.expect("JSON");
        snap["shards"][0]["health"].as_str().unwrap_or("").to_string()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while health().await != "ok" {
        assert!(tokio::time::Instant::now() < deadline, "s47 never ok\n{}", serve.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let r2 = sb.addr("s47-r2");

    let failover = serde_json::json!({"action": "failover", "shard": "s47"});
    let (status, body) = act(&client, &base, "wall-token-0123456789", failover.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("wall is a read-only token"), "{body}");
    let (status, body) = act(&client, &base, "bob-token-0123456789ab", failover).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("failover is for a dead master"), "{body}");
    let (status, body) =
        act(&client, &base, "bob-token-0123456789ab", serde_json::json!({"action": "fence", "shard": "s47"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(!audit.exists(), "nothing ran, nothing was audited");

    let fence = serde_json::json!({"action": "fence", "shard": "s47", "instance": r2});
    let (status, body) = act(&client, &base, "wall-token-0123456789", fence.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = act(&client, &base, "bob-token-0123456789ab", fence).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_line(&body)["done"]["ok"], true, "fenced: {body}\n{}", serve.log());
    let id = body.lines().next().and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    let id = id.and_then(|v| v["id"].as_u64()).expect("the run's id first");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["by"] == "bob"), "every line names the viewer: {text}");
    assert_eq!(sb.value("s47-r2", "SELECT @@read_only").await.as_deref(), Some("1"));
    let running = sb.replica_status("s47-r2").await.and_then(|r| r.get::<String, _>("Slave_SQL_Running"));
    assert_eq!(running.as_deref(), Some("Yes"), "a fenced replica still replicates");

    let stop = |token: &'static str| {
        let url = format!("{base}/api/v1/actions/{id}/stop");
        let req = client.post(url).bearer_auth(token);
        async move { req.send().await.expect("POST").status().as_u16() }
    };
    assert_eq!(stop("wall-token-0123456789").await, 403, "a read token stops nothing");
    assert_eq!(stop("bob-token-0123456789ab").await, 404, "the run has ended");
    assert!(serve.log().contains("started by bob"), "{}", serve.log());
    note("remote failover refused (read token, master up); remote fence of s47-r2 audited as bob");
}
