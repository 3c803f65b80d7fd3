//! TLS against a real server (issue 17 §2): the shard `scripts/sandbox up --tls` starts with
//! `require_secure_transport=ON` (s33 in `scripts/test`'s sandbox), its certificate signed by the
//! sandbox's CA for IP 127.0.0.1 only. `required` and `verify_identity` with the right CA work; a
//! wrong CA, a host name the certificate does not hold, and `disabled` fail saying it is TLS, and
//! why — through the prober, and through `shardtop snapshot`, which names the server.

use std::sync::Arc;
use std::time::Duration;

use shardtop::fleet::Addr;
use shardtop::probe::{ProbeOptions, Prober, Tls};
use shardtop::secret::Secret;

use crate::common::Sandbox;

const SHARD: &str = "s33";

fn opts(sb: &Sandbox, tls: Tls) -> Arc<ProbeOptions> {
    let pw = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password file");
    Arc::new(ProbeOptions {
        user: sb.var("SANDBOX_MONITOR_USER").to_string(),
        password: Some(Secret::new(pw.trim_end())),
        tls,
        timeout: Duration::from_secs(3),
        heartbeat: None,
    })
}

/// One probe of `host`:(the TLS shard's master's port); the error's message, or `None` when it answered.
async fn probe(sb: &Sandbox, host: &str, tls: Tls) -> Option<String> {
    let port = sb.port(&format!("{SHARD}-m"));
    let mut p = Prober::new(Addr::new(host, port), opts(sb, tls));
    let sample = p.probe().await;
    p.close(Duration::from_secs(1)).await;
    sample.result.err().map(|e| e.message)
}

/// The sandbox's CA files; a sandbox started without `--tls` fails the test, saying so.
fn cas(sb: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let (Some(ca), Some(other)) = (sb.try_var("SANDBOX_TLS_CA"), sb.try_var("SANDBOX_TLS_OTHER_CA")) else {
        panic!("the sandbox was started without --tls (scripts/test starts it with --tls)");
    };
    assert_eq!(sb.try_var("SANDBOX_TLS_REQUIRED_SHARD").as_deref(), Some(SHARD), "the sandbox's TLS shard");
    (ca.into(), other.into())
}

/// The tests here share s33 and may run at once, except the one that counts s33-m's connections:
/// it runs alone (the others' probes and promotion counted as its reconnects: 26–34 in 4 s).
static S33: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// s33 shared with the other tests of this module (not with the one that counts connections).
fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    S33.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn tls_modes_against_a_server_that_requires_tls() {
    let sb = sandbox_or_skip!();
    let _s33 = shared();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(tls_modes(&sb));
}

async fn tls_modes(sb: &Sandbox) {
    let (ca, other) = cas(sb);
    assert_eq!(probe(sb, "127.0.0.1", Tls::Required).await, None, "tls = required");
    assert_eq!(
        probe(sb, "127.0.0.1", Tls::VerifyIdentity { ca: Some(ca.clone()) }).await,
        None,
        "verify_identity with the sandbox's CA"
    );
    let wrong_ca = probe(sb, "127.0.0.1", Tls::VerifyIdentity { ca: Some(other) }).await.unwrap_or_default();
    assert!(
        wrong_ca.starts_with("connect: TLS: the server's certificate is not signed by a trusted CA: check tls_ca"),
        "wrong CA: {wrong_ca}"
    );
    assert!(!wrong_ca.contains("MySQL protocol"), "{wrong_ca}");
    let wrong_name = probe(sb, "localhost", Tls::VerifyIdentity { ca: Some(ca) }).await.unwrap_or_default();
    assert!(
        wrong_name.starts_with("connect: TLS: the server's certificate does not hold the host name"),
        "host name not in the certificate: {wrong_name}"
    );
    let plain = probe(sb, "127.0.0.1", Tls::Disabled).await.unwrap_or_default();
    assert!(plain.contains("the server requires TLS (require_secure_transport=ON)"), "tls = disabled: {plain}");
}

#[test]
fn snapshot_names_the_server_and_the_tls_reason() {
    let sb = sandbox_or_skip!();
    let _s33 = shared();
    let (_, other) = cas(&sb);
    let extra = format!("\n[defaults]\ntls = \"verify_identity\"\ntls_ca = \"{}\"\n", other.display());
    let cfg = sb.config(&[SHARD], false);
    // The generated config has a [defaults] section: add the TLS keys to it.
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text.replacen("[defaults]\n", &extra[1..], 1);
    std::fs::write(&cfg, text).expect("write config");
    let (code, json) = sb.snapshot(&cfg, &[]);
    assert_ne!(code, 0, "{json}");
    let master = sb.addr(&format!("{SHARD}-m"));
    let text = json.to_string();
    assert!(text.contains(&master), "the server is named: {text}");
    assert!(text.contains("TLS: the server's certificate is not signed by a trusted CA"), "{text}");
}

/// `scripts/sandbox sql` over the server's Unix socket, which `require_secure_transport` allows
/// (the harness's own TCP connections are plain and would be refused): the output.
fn socket_sql(sb: &Sandbox, name: &str, sql: &str) -> String {
    let out = std::process::Command::new("scripts/sandbox")
        .args(["sql", name, sql, "--dir"])
        .arg(sb.var("SANDBOX_DIR"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scripts/sandbox sql");
    assert!(out.status.success(), "{name}: {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `shardtop ARGS`: (exit code, stdout and stderr).
fn shardtop(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin()).args(args).env("NO_COLOR", "1").output().expect("run shardtop");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The value of `field` in a `SHOW SLAVE STATUS\G` text.
fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
}

/// Everything that connects uses the same TLS settings as the poller — the feed probe, the
/// heartbeat writer, checksum and promotion — on the shard that refuses plain connections; and a
/// promotion there needs `[actions] replication_tls` (MASTER_SSL=1), refuses without it, and with
/// it leaves every replica streaming over TLS from the new master.
#[test]
fn actions_feed_and_heartbeat_use_tls_and_promotion_repoints_over_tls() {
    let sb = sandbox_or_skip!();
    let _s33 = shared();
    let _ = cas(&sb);
    let dir = tempfile::tempdir().expect("tempdir");
    let (m, r1, r2) = (format!("{SHARD}-m"), format!("{SHARD}-r1"), format!("{SHARD}-r2"));
    let (old, new) = (sb.addr(&m), sb.addr(&r1));
    // The admin account for everything here; TLS required of every connection.
    let write = |name: &str, repl_tls: bool, swap: bool| -> std::path::PathBuf {
        let actions = sb.actions_section(&dir.path().join("audit.jsonl"), &format!("replication_tls = {repl_tls}"));
        let extra = format!(
            "{actions}\n[feed]\ndatabase = \"social\"\nuser_id_range = [1, 50]\ninterval = \"1s\"\ntimeout = \"1s\"\n"
        );
        let cfg = sb.config_with(&[SHARD], true, &extra);
        let mut text = std::fs::read_to_string(&cfg).expect("config").replacen(
            "[defaults]\n",
            "[defaults]\ntls = \"required\"\n",
            1,
        );
        if swap {
            text = text.replace(&old, "OLD").replace(&new, &old).replace("OLD", &new);
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    };
    let plain = write("plain.toml", false, false);
    let with_tls = write("tls.toml", true, false);
    let back = write("back.toml", true, true);
    let arg = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();

    // No heartbeat row left by an earlier run (its age would read as lag).
    socket_sql(&sb, &m, "DELETE FROM percona.heartbeat");
    std::thread::sleep(Duration::from_millis(300));
    // The poller and the feed probe: a snapshot reads every server and runs feed rounds.
    let (code, json) = sb.snapshot(&plain, &[]);
    assert_eq!(code, 0, "{json:#}");
    for name in [&m, &r1, &r2] {
        let i = crate::common::instance(&json, &sb.addr(name));
        assert!(i["last_error"].is_null(), "{name} read over TLS: {i:#}");
    }
    assert!(json["feed_fanout_ms"]["samples"].as_u64().is_some_and(|n| n > 0), "the feed ran over TLS: {json:#}");

    // The heartbeat writer.
    let mut hb = std::process::Command::new(sb.bin())
        .args(["heartbeat", "--shard", SHARD, "--config", &arg(&plain)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start heartbeat");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = std::process::Command::new("kill").args(["-TERM", &hb.id().to_string()]).status();
    let _ = hb.wait();
    let rows = socket_sql(&sb, &m, "SELECT COUNT(*) FROM percona.heartbeat WHERE ts > NOW() - INTERVAL 30 SECOND");
    assert_eq!(rows.lines().last().map(str::trim), Some("1"), "the writer wrote over TLS: {rows}");
    // With the writer stopped its row only ages, which reads as growing lag (pt-heartbeat's
    // semantics): remove it, so the checksum's throttle reads Seconds_Behind_Master again.
    socket_sql(&sb, &m, "DELETE FROM percona.heartbeat");

    // Checksum: the master over TLS, then each replica.
    socket_sql(
        &sb,
        &m,
        "CREATE DATABASE IF NOT EXISTS social; USE social; DROP TABLE IF EXISTS social.tls_rows; \
         CREATE TABLE social.tls_rows (id INT PRIMARY KEY, v INT); INSERT INTO social.tls_rows SELECT seq, seq FROM seq_1_to_3000",
    );
    let pos = socket_sql(&sb, &m, "SELECT @@gtid_binlog_pos");
    let pos = pos.lines().last().unwrap_or_default().trim().to_string();
    for r in [&r1, &r2] {
        socket_sql(&sb, r, &format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"));
    }
    let (code, out) =
        shardtop(&sb, &["checksum", "--shard", SHARD, "--tables", "social.tls_rows", "--config", &arg(&plain)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{}: 0 differing chunks", sb.addr(&r2))), "{out}");

    // Promotion without replication_tls: refused by its check, nothing changed.
    let (code, out) = shardtop(&sb, &["promote", "--shard", SHARD, "--to", &new, "--yes", "--config", &arg(&plain)]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("replication_tls") && out.contains("require_secure_transport=ON"), "{out}");
    assert_eq!(field(&socket_sql(&sb, &r1, "SHOW SLAVE STATUS\\G"), "Slave_SQL_Running"), Some("Yes"), "unchanged");

    // With it: every replica, the old master included, streams from the new master over TLS.
    let (code, out) = shardtop(&sb, &["promote", "--shard", SHARD, "--to", &new, "--yes", "--config", &arg(&with_tls)]);
    assert_eq!(code, 0, "{out}");
    let new_port = sb.port(&r1).to_string();
    for r in [&m, &r2] {
        let st = socket_sql(&sb, r, "SHOW SLAVE STATUS\\G");
        assert_eq!(field(&st, "Master_Port"), Some(new_port.as_str()), "{r}: {st}");
        assert_eq!(field(&st, "Master_SSL_Allowed"), Some("Yes"), "{r}: {st}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let st = socket_sql(&sb, r, "SHOW SLAVE STATUS\\G");
            if field(&st, "Slave_IO_Running") == Some("Yes") && field(&st, "Slave_SQL_Running") == Some("Yes") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{r} does not stream from the new master: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // And back, so the shard is as the sandbox made it.
    let (code, out) = shardtop(&sb, &["promote", "--shard", SHARD, "--to", &old, "--yes", "--config", &arg(&back)]);
    assert_eq!(code, 0, "promoting back: {out}");
    let st = socket_sql(&sb, &r1, "SHOW SLAVE STATUS\\G");
    assert_eq!(field(&st, "Master_Port"), Some(sb.port(&m).to_string().as_str()), "{st}");
}

/// The server's `Connections` counter, read over its Unix socket (that read counts one more).
fn connections(sb: &Sandbox, name: &str) -> u64 {
    let out = socket_sql(
        sb,
        name,
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CONNECTIONS'",
    );
    out.lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("Connections of {name}: {out}"))
}

/// No reconnect storm: `shardtop record` polls s33 (interval 1 s) for 4 s with a wrong CA, then
/// with a host name the certificate does not hold. The master's `Connections` grows by about one
/// per interval (the first probe, its quick confirmation, one per interval after: at most 2 per
/// interval plus 3 is allowed; a retry loop would make hundreds), and what the recorder prints
/// names the server and the TLS reason.
#[test]
fn a_tls_failure_is_retried_once_per_interval_naming_the_server_and_the_reason() {
    let sb = sandbox_or_skip!();
    let _alone = S33.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (ca, other) = cas(&sb);
    let master = format!("{SHARD}-m");
    let port = sb.port(&master);
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("wrong CA", other, false, "TLS: the server's certificate is not signed by a trusted CA"),
        ("host name", ca, true, "TLS: the server's certificate does not hold the host name"),
    ];
    for (what, tls_ca, by_name, reason) in cases {
        let cfg = sb.config(&[SHARD], false);
        let text = std::fs::read_to_string(&cfg).expect("config");
        let keys = format!("[defaults]\ntls = \"verify_identity\"\ntls_ca = \"{}\"\n", tls_ca.display());
        let mut text = text.replacen("[defaults]\n", &keys, 1);
        let named = if by_name { format!("localhost:{port}") } else { format!("127.0.0.1:{port}") };
        text = text.replace(&format!("127.0.0.1:{port}"), &named);
        std::fs::write(&cfg, text).expect("write config");
        let out_db = dir.path().join(format!("{}.db", what.replace(' ', "-")));
        let before = connections(&sb, &master);
        let out = std::process::Command::new(sb.bin())
            .args(["record", "--duration", "4s", "--out"])
            .arg(&out_db)
            .arg("-c")
            .arg(&cfg)
            .env("NO_COLOR", "1")
            .output()
            .expect("run shardtop record");
        let after = connections(&sb, &master);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // The second read counts itself; 4 intervals.
        let attempts = after - before - 1;
        println!("{what}: {attempts} connections to {master} in 4 s at a 1 s interval");
        assert!(attempts <= 2 * 4 + 3, "{what}: a reconnect storm: {attempts} connections in 4 s\n{text}");
        assert!(attempts >= 1, "{what}: the recorder never tried {master}\n{text}");
        assert!(text.contains(&named), "{what}: the server is not named:\n{text}");
        assert!(text.contains(reason), "{what}: the TLS reason is not given:\n{text}");
    }
}
