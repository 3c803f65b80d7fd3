//! Secrets never appear in output (issue 17 §8): every command run against real servers with the
//! sandbox's passwords (24 random characters each: monitoring, admin, replication) and a
//! distinctive wrong one, and every output, every written file (the audit log, the lock
//! directory) and the TUI's screen searched for them: zero hits.
//!
//! Shards: s30 (promoted for real, and back; failed over, fenced, rejoined, promoted back), s31
//! (snapshot, checksum dry run and real, heartbeat, record, serve, the TUI screen), s32 (read with
//! a wrong password: the refused login's messages).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shardtop::fleet::{Addr, Fleet, Limits, Shard};
use shardtop::probe::{ProbeOptions, Prober, Tls};
use shardtop::secret::Secret;

use crate::common::Sandbox;

/// A password no server knows: it must not show in the refusal it causes either.
const WRONG: &str = "Wr0ng-Pa55-SECRET-7f3a9c";
const WRONG_ENV: &str = "SHARDTOP_TEST_WRONG_PASSWORD";

struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn of(sb: &Sandbox) -> Secrets {
        let mut list = vec![("wrong password".to_string(), WRONG.to_string())];
        for (what, key) in [
            ("monitoring password", "SANDBOX_MONITOR_PASSWORD_FILE"),
            ("admin password", "SANDBOX_ADMIN_PASSWORD_FILE"),
            ("replication password", "SANDBOX_REPL_PASSWORD_FILE"),
        ] {
            let pw = std::fs::read_to_string(sb.var(key)).expect("password file").trim_end().to_string();
            assert!(pw.len() >= 12, "{what} too short to search for");
            list.push((what.to_string(), pw));
        }
        Secrets(list)
    }

    /// Every secret found in `text`, as "the admin password in promote's output".
    fn leaks(&self, text: &str, place: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, pw)| text.contains(pw.as_str()))
            .map(|(what, _)| format!("the {what} in {place}"))
            .collect()
    }
}

/// Runs `shardtop ARGS` (with the wrong password in the environment); returns exit code and all output.
fn run(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(sb.bin())
        .args(args)
        .env(WRONG_ENV, WRONG)
        .env("NO_COLOR", "1")
        .output()
        .expect("run shardtop");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Runs `shardtop ARGS` for `secs`, then SIGTERM; all output.
fn run_for(sb: &Sandbox, args: &[&str], secs: u64) -> String {
    let child = std::process::Command::new(sb.bin())
        .args(args)
        .env(WRONG_ENV, WRONG)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start shardtop");
    std::thread::sleep(Duration::from_secs(secs));
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = child.wait_with_output().expect("wait");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A config for one shard with `master` and `replicas` named explicitly (after a promotion).
fn config(dir: &Path, name: &str, text: String) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn addr(sb: &Sandbox, name: &str) -> Addr {
    let text = sb.addr(name);
    let (host, port) = text.rsplit_once(':').expect("host:port");
    Addr::new(host, port.parse().expect("port"))
}

/// The TUI's screen (overview, detail, events pane) after a poll of s31 with the right password
/// and of s32 with the wrong one, drawn as the terminal would show it.
async fn tui_screens(sb: &Sandbox) -> String {
    use shardtop::ui::app::{App, Message, View};
    let good = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password file");
    let user = sb.var("SANDBOX_MONITOR_USER").to_string();
    let opts = |pw: &str| {
        Arc::new(ProbeOptions {
            user: user.clone(),
            password: Some(Secret::new(pw.trim_end())),
            tls: Tls::Disabled,
            timeout: Duration::from_secs(2),
            heartbeat: None,
        })
    };
    let shard = |name: &str| {
        let replicas: Vec<Addr> = sb.replicas(name).iter().map(|r| addr(sb, r)).collect();
        Shard::new(name, addr(sb, &format!("{name}-m")), replicas, None)
    };
    let shards = vec![shard("s31"), shard("s32")];
    let mut app = App::new(
        Fleet::new(shards.clone(), Limits::default()),
        shardtop::ui::theme::Theme::plain(),
        "secrets",
        Duration::from_secs(1),
    );
    let mut text = String::new();
    for (s, sh) in shards.iter().enumerate() {
        let o = if s == 0 { opts(&good) } else { opts(WRONG) };
        for (i, inst) in sh.instances.iter().enumerate() {
            let mut p = Prober::new(inst.addr.clone(), o.clone());
            let sample = p.probe().await;
            text.push_str(&format!("{:?}\n", sample.result.as_ref().err()));
            let slot = shardtop::poll::Slot { shard: s, instance: i };
            for e in app.update(Message::Sample(shardtop::poll::Update { slot, sample })) {
                text.push_str(&format!("{e:?}\n"));
            }
            p.close(Duration::from_secs(1)).await;
        }
    }
    for view in [View::Overview, View::Detail(0), View::Detail(1)] {
        app.view = view;
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50)).expect("test terminal");
        term.draw(|f| {
            shardtop::ui::views::draw(&app, f);
        })
        .expect("draw");
        let buf = term.backend().buffer().clone();
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    text
}

/// s30's tests one at a time: both change its topology.
static S30_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_output_or_written_file_holds_a_password() {
    let _serial = S30_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let secrets = Secrets::of(&sb);
    // The search finds what it looks for.
    for (what, pw) in &secrets.0 {
        assert_eq!(secrets.leaks(&format!("password={pw};"), "x"), [format!("the {what} in x")]);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let actions = sb.actions_section(&audit, "");
    let mut leaks = Vec::new();
    let mut seen = |what: &str, text: &str| leaks.extend(secrets.leaks(text, what));

    // Reading: snapshot in both formats, check-config, the TUI's screens.
    let monitor = sb.config_with(&["s31"], false, &actions);
    let m = monitor.to_str().expect("utf-8 path");
    for args in [
        vec!["snapshot", "--format", "table", "--config", m],
        vec!["snapshot", "--format", "json", "--config", m],
        vec!["check-config", "--config", m],
        vec!["checksum", "--shard", "s31", "--dry-run", "--config", m],
    ] {
        let (code, out) = run(&sb, &args);
        assert!(code >= 0 && !out.is_empty(), "{args:?} died or said nothing: {out}");
        seen(&args.join(" "), &out);
    }
    seen("heartbeat", &run_for(&sb, &["heartbeat", "--config", m], 2));

    // A refused login, with the wrong password from the environment.
    let wrong = std::fs::read_to_string(&monitor)
        .expect("config")
        .replace("[[shard]]\nname = \"s31\"", "[[shard]]\nname = \"s32\"");
    let wrong = wrong
        .replace(&sb.addr("s31-m"), &sb.addr("s32-m"))
        .replace(&sb.addr("s31-r1"), &sb.addr("s32-r1"))
        .replace(&sb.addr("s31-r2"), &sb.addr("s32-r2"));
    let pwfile = format!("password_file = \"{}\"", sb.var("SANDBOX_MONITOR_PASSWORD_FILE"));
    let wrong = wrong.replacen(&pwfile, &format!("password_env = \"{WRONG_ENV}\""), 1);
    assert!(wrong.contains(WRONG_ENV) && wrong.contains(&sb.addr("s32-m")), "{wrong}");
    let wrong = config(dir.path(), "wrong.toml", wrong);
    let w = wrong.to_str().expect("utf-8 path");
    for args in [
        vec!["snapshot", "--format", "table", "--config", w],
        vec!["snapshot", "--format", "json", "--config", w],
        vec!["check-config", "--config", w],
    ] {
        let (code, out) = run(&sb, &args);
        assert_ne!(code, 0, "{args:?} with a wrong password passed: {out}");
        assert!(out.contains("refused") || out.contains("denied"), "{args:?}: no refused login in {out}");
        seen(&format!("{} (wrong password)", args.join(" ")), &out);
    }

    // Acting: a promotion planned, run, and run back; its audit log.
    let admin = sb.config_with(&["s30"], false, &actions);
    let a = admin.to_str().expect("utf-8 path");
    let (old, new) = (sb.addr("s30-m"), sb.addr("s30-r1"));
    let (code, out) = run(&sb, &["promote", "--shard", "s30", "--to", &new, "--dry-run", "--config", a]);
    assert_eq!(code, 0, "{out}");
    seen("promote --dry-run", &out);
    let (code, out) = run(&sb, &["promote", "--shard", "s30", "--to", &new, "--yes", "--config", a]);
    assert_eq!(code, 0, "{out}");
    seen("promote", &out);
    let back =
        std::fs::read_to_string(&admin).expect("config").replace(&old, "OLD").replace(&new, &old).replace("OLD", &new);
    let back = config(dir.path(), "back.toml", back);
    let (code, out) =
        run(&sb, &["promote", "--shard", "s30", "--to", &old, "--yes", "--config", back.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "promoting back: {out}");
    seen("promote (back)", &out);

    // Help on every command.
    for cmd in ["", "snapshot", "check-config", "promote", "checksum", "heartbeat", "demo", "failover"] {
        let args: Vec<&str> = if cmd.is_empty() { vec!["--help"] } else { vec![cmd, "--help"] };
        let (_, out) = run(&sb, &args);
        seen(&format!("{cmd} --help"), &out);
    }

    // The TUI's screens and the model's events.
    let screens = tui_screens(&sb).await;
    assert!(screens.contains("s32") && screens.contains("Access denied"), "{screens}");
    seen("the TUI's screens", &screens);

    // Every file written: the audit log, the lock directory, the configs (which hold file names only).
    let mut written = Vec::new();
    files(dir.path(), &mut written);
    assert!(written.contains(&audit), "no audit log in {written:?}");
    for f in written {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        seen(&f.display().to_string(), &text);
    }
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
}

/// Least privilege (issue 17 §3): `check-config` says nothing of the sandbox's monitoring account
/// (the documented grants), and warns, per server, of one that can change servers (here the
/// admin account, with its documented grants, made the monitoring one), and of the admin account doubling as
/// the monitoring one — naming privileges, never quoting a grant line.
#[test]
fn check_config_warns_of_a_monitoring_account_that_can_do_more_than_watch() {
    let sb = sandbox_or_skip!();
    let secrets = Secrets::of(&sb);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let actions = sb.actions_section(&audit, "");
    let monitor = sb.config_with(&["s31"], false, &actions);
    // (Exit 1 when the heartbeat table has no rows yet: not what this test is about.)
    let (code, out) = run(&sb, &["check-config", "--config", monitor.to_str().expect("utf-8")]);
    assert!(code == 0 || out.contains("heartbeat"), "{out}");
    assert!(
        !out.contains("warning") && out.matches("  ok    s31").count() == 3,
        "the documented grants are enough: {out}"
    );
    let admin = sb.config_with(&["s31"], true, &actions);
    let (_, out) = run(&sb, &["check-config", "--config", admin.to_str().expect("utf-8")]);
    let user = sb.var("SANDBOX_ADMIN_USER");
    assert!(out.contains(&format!("the admin account for actions ({user}) is also the monitoring account")), "{out}");
    // The sandbox's admin account has the grants README.md documents for actions (scripts/sandbox).
    let per_server = format!("warning: the monitoring account {user} can do more than watch: ");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(&per_server)).collect();
    assert_eq!(lines.len(), 3, "each server of s31: {out}");
    for l in lines {
        assert!(l.contains("SUPER on *.*") && l.contains("READ_ONLY ADMIN on *.*"), "{l}");
        assert!(l.contains("INSERT on `percona`.*"), "{l}");
    }
    assert!(!out.contains("IDENTIFIED") && !out.contains("PASSWORD '"), "{out}");
    assert!(secrets.leaks(&out, "check-config").is_empty(), "{out}");
}

/// `GET path` on `127.0.0.1:port`: the whole answer, headers and body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The rest of issue 17 §8: a real checksum, `serve` (its HTTP answers and its recording),
/// `record`, and on s30 a real failover (its master killed), `fence` and `rejoin` of the old
/// master — every output and written file searched for the sandbox's passwords: zero hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_serve_and_record_hold_no_password() {
    let _serial = S30_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let secrets = Secrets::of(&sb);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let mut leaks = Vec::new();
    let mut seen = |what: &str, text: &str| leaks.extend(secrets.leaks(text, what));

    let actions = sb.actions_section(&audit, "");
    let monitor = sb.config_with(&["s31"], false, &actions);
    let m = monitor.to_str().expect("utf-8 path");
    let (code, out) = run(&sb, &["checksum", "--shard", "s31", "--config", m]);
    assert!(matches!(code, 0 | 1 | 4), "checksum failed: {out}");
    seen("checksum", &out);
    let rec = dir.path().join("record.db");
    let (code, out) = run(&sb, &["record", "--duration", "2s", "--out", rec.to_str().expect("utf-8"), "--config", m]);
    assert_eq!(code, 0, "record: {out}");
    seen("record", &out);

    // serve: its HTTP answers, its output, its recording.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let served = dir.path().join("serve.db");
    let child = std::process::Command::new(sb.bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--record"])
        .arg(&served)
        .args(["--config", m])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut answers = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        answers = http_get(port, "/api/v1/snapshot");
        if answers.contains("s31") {
            break;
        }
    }
    assert!(answers.contains("s31"), "serve never answered with s31: {answers}");
    std::thread::sleep(Duration::from_secs(2));
    for path in ["/api/v1/snapshot", "/metrics", "/healthz"] {
        let answer = http_get(port, path);
        seen(&format!("serve {path}"), &answer);
        answers.push_str(&answer);
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = child.wait_with_output().expect("wait serve");
    seen("serve", &format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));

    // A real failover of s30 (its master killed), then fence and rejoin of the old master.
    let master = "s30-m".to_string();
    let replicas = ["s30-r1".to_string(), "s30-r2".to_string()];
    let actions = sb.actions_section(&audit, "pre_failover_hook = \"true\"");
    let cfg = sb.config_with(&["s30"], false, &actions);
    let c = cfg.to_str().expect("utf-8 path");
    assert!(
        std::process::Command::new("scripts/sandbox")
            .args(["kill", &master, "--dir"])
            .arg(sb.var("SANDBOX_DIR"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("sandbox kill")
            .success()
    );
    let new = sb.addr(&replicas[0]);
    let (code, out) = run(&sb, &["failover", "--shard", "s30", "--to", &new, "--yes", "--config", c]);
    seen("failover", &out);
    let started = std::process::Command::new("scripts/sandbox")
        .args(["start", &master, "--dir"])
        .arg(sb.var("SANDBOX_DIR"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("sandbox start");
    assert!(code == 0 && started.success(), "failover: {out}");
    let after = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace(&sb.addr(&master), "OLD")
        .replace(&new, &sb.addr(&master))
        .replace("OLD", &new);
    let after = config(dir.path(), "after.toml", after);
    let a = after.to_str().expect("utf-8 path");
    let old = sb.addr(&master);
    let (_, out) = run(&sb, &["fence", "--shard", "s30", "--instance", &old, "--yes", "--config", a]);
    seen("fence", &out);
    let (code, out) =
        run(&sb, &["rejoin", "--shard", "s30", "--instance", &old, "--master", &new, "--yes", "--config", a]);
    seen("rejoin", &out);
    assert_eq!(code, 0, "rejoin: {out}");
    // Back as it was: the old master promoted again.
    let (code, out) = run(&sb, &["promote", "--shard", "s30", "--to", &old, "--yes", "--config", a]);
    seen("promote (back)", &out);
    assert_eq!(code, 0, "promoting back: {out}");

    // The recordings as replay reads them (their samples are stored in blocks): events and the
    // fleet at the end, in JSON.
    for db in [&rec, &served] {
        let d = db.to_str().expect("utf-8 path");
        for args in [
            vec!["replay", d, "--events", "--format", "json"],
            vec!["replay", d, "--snapshot-at", "end", "--format", "json"],
        ] {
            let (_, out) = run(&sb, &args);
            // A healthy fleet's short recording may hold no event; the fleet names its shard.
            assert!(out.contains("s31") || args.contains(&"--events"), "{args:?}: {out}");
            seen(&args.join(" "), &out);
        }
    }

    let mut written = Vec::new();
    files(dir.path(), &mut written);
    assert!(written.contains(&audit) && written.contains(&rec) && written.contains(&served), "{written:?}");
    for f in written {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        seen(&f.display().to_string(), &text);
    }
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
}
