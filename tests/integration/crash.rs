//! Issue 17 §5: a promotion killed (SIGKILL, `SHARDTOP_TEST_CRASH_AFTER=<step>`) right after
//! each of its steps in turn, under acknowledged writes, then run again. Every case must end
//! with one writable master and every replica streaming from it, no acknowledged write lost,
//! and an audit log that tells both runs.
//!
//! Shard s55, promoted once per step: each iteration starts from wherever the last one left the
//! shard (its master and two replicas, as checked at its end) and promotes the master's first
//! replica, so the shard's servers take turns and no rebuild is needed between iterations.
//! Shard s56: a replica to repoint goes down during the switch; failovers killed after each step
//! in turn, the catch-up from a more advanced replica included.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::common::Sandbox;

const SHARD: &str = "s55";
const DOWN_SHARD: &str = "s56";
/// The steps of a promotion of a GTID shard with a hook, in order (checked against `--dry-run`).
const STEPS: [&str; 8] = ["freeze", "verify_frozen", "catch_up", "promote", "hook", "repoint", "old_master", "marker"];
/// Steps after which the switch has happened (the candidate is writable).
const AFTER_SWITCH: [&str; 5] = ["promote", "hook", "repoint", "old_master", "marker"];
const APP_USER: &str = "crash_app";
const APP_PASSWORD: &str = "crash-app-pw";

/// The member names of a shard.
fn members_of(shard: &str) -> [String; 3] {
    [format!("{shard}-m"), format!("{shard}-r1"), format!("{shard}-r2")]
}

async fn read_only(sb: &Sandbox, name: &str) -> bool {
    sb.value(name, "SELECT @@read_only").await.as_deref() == Some("1")
}

/// The member that is writable, and the others, in the order of `members()`.
async fn layout(sb: &Sandbox) -> (String, Vec<String>) {
    layout_of(sb, SHARD).await
}

async fn layout_of(sb: &Sandbox, shard: &str) -> (String, Vec<String>) {
    let mut master = Vec::new();
    let mut replicas = Vec::new();
    for n in members_of(shard) {
        if read_only(sb, &n).await { replicas.push(n) } else { master.push(n) }
    }
    assert_eq!(master.len(), 1, "{shard}: writable members {master:?}");
    (master.remove(0), replicas)
}

fn config(sb: &Sandbox, master: &str, replicas: &[String], audit: &std::path::Path, hook: &str) -> tempfile::TempPath {
    config_of(sb, SHARD, master, replicas, audit, hook)
}

fn config_of(
    sb: &Sandbox,
    shard: &str,
    master: &str,
    replicas: &[String],
    audit: &std::path::Path,
    hook: &str,
) -> tempfile::TempPath {
    config_raw(sb, shard, master, replicas, audit, &format!("post_promote_hook = \"{hook}\""))
}

/// A config for `shard` as the monitoring account, with actions and `extra` keys in `[actions]`.
fn config_raw(
    sb: &Sandbox,
    shard: &str,
    master: &str,
    replicas: &[String],
    audit: &std::path::Path,
    extra: &str,
) -> tempfile::TempPath {
    let monitor = (sb.var("SANDBOX_MONITOR_USER"), sb.var("SANDBOX_MONITOR_PASSWORD_FILE"));
    let text = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[defaults]\nuser = \"{}\"\npassword_file = \"{}\"\n\n\
         [[shard]]\nname = \"{shard}\"\nmaster = \"{}\"\nreplicas = [{}]\n\n{}",
        monitor.0,
        monitor.1,
        sb.addr(master),
        replicas.iter().map(|r| format!("\"{}\"", sb.addr(r))).collect::<Vec<_>>().join(", "),
        sb.actions_section(audit, extra),
    );
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp config");
    std::io::Write::write_all(&mut f, text.as_bytes()).expect("write config");
    f.into_temp_path()
}

fn promote(
    sb: &Sandbox,
    cfg: &std::path::Path,
    args: &[&str],
    crash_after: Option<&str>,
) -> (std::process::ExitStatus, String) {
    promote_shard(sb, SHARD, cfg, args, crash_after)
}

/// `shardtop promote --shard SHARD --yes ARGS`, killed after `crash_after` when given.
fn promote_shard(
    sb: &Sandbox,
    shard: &str,
    cfg: &std::path::Path,
    args: &[&str],
    crash_after: Option<&str>,
) -> (std::process::ExitStatus, String) {
    let all: Vec<&str> = ["--shard", shard, "--yes"].into_iter().chain(args.iter().copied()).collect();
    shardtop(sb, "promote", cfg, &all, crash_after)
}

/// Inserts rows with increasing ids into the server the routing file names, re-reading it after
/// any error (as an application behind a router would); returns the ids it got an answer for.
async fn writer(sb: Arc<Sandbox>, routing: std::path::PathBuf, first_id: u64, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut acked = Vec::new();
    let mut id = first_id;
    let mut conn: Option<mysql_async::Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            let addr = std::fs::read_to_string(&routing).unwrap_or_default();
            conn =
                match tokio::time::timeout(Duration::from_secs(1), sb.connect_as(addr.trim(), APP_USER, APP_PASSWORD))
                    .await
                {
                    Ok(Ok(c)) => Some(c),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
        }
        let Some(c) = conn.as_mut() else { continue };
        let sql = format!("INSERT INTO social.photos (id, user_id, caption) VALUES ({id}, 55, 'crash')");
        match tokio::time::timeout(Duration::from_secs(2), c.query_drop(sql)).await {
            Ok(Ok(())) => {
                acked.push(id);
                id += 1;
            }
            // An earlier try committed but its answer was lost.
            Ok(Err(mysql_async::Error::Server(e))) if e.code == 1062 => {
                acked.push(id);
                id += 1;
            }
            _ => {
                conn = None;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    acked
}

/// One writable master (`master`), every other member a read-only replica of it with both
/// threads running and everything it has applied.
async fn converged(sb: &Sandbox, master: &str) -> Result<(), String> {
    converged_of(sb, SHARD, master).await
}

async fn converged_of(sb: &Sandbox, shard: &str, master: &str) -> Result<(), String> {
    let (writable, replicas) = layout_of(sb, shard).await;
    if writable != master {
        return Err(format!("{writable} is writable, not {master}"));
    }
    let pos = sb.value(master, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in &replicas {
        let row = sb.replica_status(r).await.ok_or_else(|| format!("{r} replicates from nobody"))?;
        let port = row.get::<String, _>("Master_Port").unwrap_or_default();
        let threads = (
            row.get::<String, _>("Slave_IO_Running").unwrap_or_default(),
            row.get::<String, _>("Slave_SQL_Running").unwrap_or_default(),
        );
        if port != sb.port(master).to_string() || threads != ("Yes".into(), "Yes".into()) {
            return Err(format!("{r}: source port {port}, threads {threads:?}"));
        }
        if !reached(sb, r, &pos).await {
            return Err(format!("{r} did not reach {pos}"));
        }
    }
    Ok(())
}

/// Whether `replica` applied everything up to the GTID position `pos` (waiting up to 10 s).
async fn reached(sb: &Sandbox, replica: &str, pos: &str) -> bool {
    sb.value(replica, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")).await.as_deref() == Some("0")
}

/// Every one of `replicas` applied everything `master` wrote so far.
async fn assert_have_all_of(sb: &Sandbox, master: &str, replicas: &[String], context: &str) {
    let pos = sb.value(master, "SELECT @@gtid_binlog_pos").await.unwrap_or_default();
    for r in replicas {
        assert!(reached(sb, r, &pos).await, "{context}: {r} did not get {master}'s writes ({pos})");
    }
}

/// The application's account on the shard (created on `master`, replicated to the others).
async fn create_app_user(sb: &Sandbox, master: &str) {
    sb.exec(
        master,
        &format!(
            "CREATE USER IF NOT EXISTS {APP_USER}@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'; \
             GRANT SELECT, INSERT ON social.* TO {APP_USER}@'127.0.0.1'"
        ),
    )
    .await;
}

/// Where a case keeps its files: a temporary directory, the routing file the application reads
/// its master from, and the post-promotion hook that rewrites it.
struct Routing {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    hook: String,
}

impl Routing {
    fn new() -> Routing {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("routing");
        let hook = crate::common::routing_hook(&file);
        Routing { dir, file, hook }
    }

    /// The `[actions]` keys of a failover case: the routing hook after the promotion, and a
    /// fencing hook that succeeds.
    fn failover_hooks(&self) -> String {
        format!("post_promote_hook = \"{}\"\npre_failover_hook = \"true\"", self.hook)
    }

    /// Point the application at `name`.
    fn point_at(&self, sb: &Sandbox, name: &str) {
        std::fs::write(&self.file, sb.addr(name)).expect("routing");
    }

    /// Whom the application writes to now (the hook's last word).
    fn current(&self) -> String {
        std::fs::read_to_string(&self.file).expect("routing")
    }
}

/// The application writing through the routing file, from `first_id` on, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

impl Load {
    fn start(sb: &Arc<Sandbox>, routing: &Routing, first_id: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(writer(sb.clone(), routing.file.clone(), first_id, stop.clone()));
        Load { stop, task }
    }

    /// Let it write `ms` longer, then stop it: the ids it got an answer for.
    async fn stop_after(self, ms: u64) -> Vec<u64> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer")
    }
}

/// The application writes to `master` for `ms` from `first_id` on, then pauses; once `replicas`
/// have all it was told, `master` is SIGKILLed and the application writes on through the routing
/// file (whatever it names next). What it got acknowledged before the kill, and the load after it.
async fn writes_then_kill(
    sb: &Arc<Sandbox>,
    routing: &Routing,
    master: &str,
    replicas: &[String],
    first_id: u64,
    ms: u64,
) -> (Vec<u64>, Load) {
    routing.point_at(sb, master);
    let acked = Load::start(sb, routing, first_id).stop_after(ms).await;
    assert!(!acked.is_empty(), "no write was acknowledged before the kill");
    assert_have_all_of(sb, master, replicas, "before the kill").await;
    sandbox_cmd(sb, "kill", master);
    let next = acked.last().map_or(first_id, |l| l + 1);
    (acked, Load::start(sb, routing, next))
}

/// The first of a block of ids from `base` (to `base` + 999,999) no earlier run of the test used
/// (the writer counts a duplicate as acknowledged).
async fn unused_ids(sb: &Sandbox, master: &str, base: u64) -> u64 {
    let sql = format!("SELECT MAX(id) FROM social.photos WHERE id BETWEEN {base} AND {}", base + 999_999);
    let last: Option<String> = sb.value(master, &sql).await;
    last.and_then(|v| v.parse::<u64>().ok()).map_or(base, |l| l + 1_000)
}

/// Every acknowledged id (`acked`, ascending) is on every member of `shard`.
async fn assert_acked_everywhere(sb: &Sandbox, shard: &str, acked: &[u64], context: &str) {
    let (lo, hi) = (acked[0], acked[acked.len() - 1]);
    for n in members_of(shard) {
        let have = sb.value(&n, &format!("SELECT COUNT(*) FROM social.photos WHERE id BETWEEN {lo} AND {hi}")).await;
        assert_eq!(have, Some(acked.len().to_string()), "{context}: {n} lacks acknowledged writes");
    }
}

/// The audit log's entries, as JSON (a log not written yet has none).
fn audit_entries(audit: &std::path::Path) -> Vec<serde_json::Value> {
    let trail = std::fs::read_to_string(audit).unwrap_or_default();
    trail.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The runs the audit log names (of `action` only, when given), in the order they first appear.
fn audit_runs(audit: &std::path::Path, action: Option<&str>) -> Vec<String> {
    let mut runs = Vec::new();
    for j in audit_entries(audit) {
        if action.is_some_and(|a| j["action"] != a) {
            continue;
        }
        if let Some(r) = j["run"].as_str().filter(|r| !runs.iter().any(|x| x == r)) {
            runs.push(r.to_string());
        }
    }
    runs
}

/// `(step, phase)` of every entry (of `run` only, when given), in order.
fn audit_steps(audit: &std::path::Path, run: Option<&str>) -> Vec<(String, String)> {
    audit_entries(audit)
        .iter()
        .filter(|j| run.is_none_or(|r| j["run"] == r))
        .filter_map(|j| Some((j["step"].as_str()?.to_string(), j["phase"].as_str()?.to_string())))
        .collect()
}

/// Both runs together promoted once: no second master.
fn assert_one_promotion(audit: &std::path::Path) {
    let steps = audit_steps(audit, None);
    let promotions = steps.iter().filter(|(s, p)| s == "promote" && p == "ok").count();
    assert_eq!(promotions, 1, "one promotion in all: {steps:?}");
}

/// The run killed after `step` recorded that step as its last one done.
fn assert_died_after(audit: &std::path::Path, step: &str, context: &str) {
    let trail = std::fs::read_to_string(audit).unwrap_or_default();
    let last_ok = trail.lines().rfind(|l| l.contains("\"phase\":\"ok\"")).unwrap_or_default();
    assert!(last_ok.contains(&format!("\"step\":\"{step}\"")), "{context}: the audit log ends with {last_ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_killed_after_any_step_is_finished_by_the_next_run_without_losing_a_write() {
    let sb = Arc::new(sandbox_or_skip!());
    let (master, _) = layout(&sb).await;
    create_app_user(&sb, &master).await;
    let routing = Routing::new();
    let mut matrix = Vec::new();
    for (k, step) in STEPS.iter().enumerate() {
        let (master, replicas) = layout(&sb).await;
        converged(&sb, &master).await.unwrap_or_else(|e| panic!("before crashing after {step}: {e}"));
        let candidate = replicas[0].clone();
        let audit = routing.dir.path().join(format!("audit-{step}.jsonl"));
        let cfg = config(&sb, &master, &replicas, &audit, &routing.hook);
        if k == 0 {
            let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate), "--dry-run"], None);
            assert!(status.success(), "{out}");
            for s in STEPS {
                assert!(out.contains(s), "the plan has no step {s}:\n{out}");
            }
        }
        routing.point_at(&sb, &master);
        let load = Load::start(&sb, &routing, 90_000_000 + k as u64 * 1_000_000);
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The run that dies.
        let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate)], Some(step));
        assert_eq!(status.signal(), Some(9), "crash after {step}: the run was not killed:\n{out}");
        assert_died_after(&audit, step, &format!("crash after {step}"));

        // The next run: before the switch it finds the master frozen and says so; told to go on,
        // it promotes; after the switch it finishes what the dead run left.
        let started = Instant::now();
        let (status, out) = promote(&sb, &cfg, &["--to", &sb.addr(&candidate)], None);
        let outcome = if AFTER_SWITCH.contains(step) {
            assert!(status.success(), "crash after {step}: the next run did not finish it:\n{out}");
            "finished by the next run"
        } else {
            assert_eq!(status.code(), Some(1), "crash after {step}: the next run should refuse:\n{out}");
            assert!(out.contains("previous promotion may have been interrupted"), "crash after {step}:\n{out}");
            let (status, out) =
                promote(&sb, &cfg, &["--to", &sb.addr(&candidate), "--force-check", "master_writable"], None);
            assert!(status.success(), "crash after {step}: --force-check master_writable did not finish:\n{out}");
            "detected as interrupted; finished with --force-check master_writable"
        };
        let took = started.elapsed();
        let acked = load.stop_after(300).await;
        assert!(!acked.is_empty(), "crash after {step}: no write was acknowledged");

        // Converged: the candidate is the one writable master, every other member streams from it,
        // and every acknowledged write is on all three.
        converged(&sb, &candidate).await.unwrap_or_else(|e| panic!("crash after {step}: {e}"));
        assert_eq!(routing.current(), sb.addr(&candidate), "crash after {step}");
        assert_acked_everywhere(&sb, SHARD, &acked, &format!("crash after {step}")).await;
        // The audit log tells both runs.
        let runs = audit_runs(&audit, None);
        assert!(runs.len() >= 2, "crash after {step}: the audit log names {} run(s): {runs:?}", runs.len());
        matrix.push(format!(
            "| {step} | killed (SIGKILL) | {outcome} | {} acknowledged writes, none lost | {:.1} s |",
            acked.len(),
            took.as_secs_f64()
        ));
    }
    println!(
        "| crashed after | run | next run | writes | to converge |\n|---|---|---|---|---:|\n{}",
        matrix.join("\n")
    );
}

/// A replica that goes down during the switch (the post-promotion hook stops it, after the point
/// of no return and before the repoint): the switch completes, names it, and does not wait for
/// its marker; started again and pointed at the new master, it catches up. Then a promotion
/// killed after its freeze whose old master hangs.
#[tokio::test]
async fn a_replica_down_during_the_switch_is_named_and_the_switch_completes() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let (master, replicas) = ready_down_shard(&sb).await;
    let (candidate, down) = (replicas[0].clone(), replicas[1].clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_of(
        &sb,
        DOWN_SHARD,
        &master,
        &replicas,
        &dir.path().join("audit.jsonl"),
        &sandbox_command(&sb, "stop", &down),
    );
    let started = Instant::now();
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    let took = started.elapsed();
    // Whatever happened, the replica runs again for the next test run.
    sandbox_cmd(&sb, "start", &down);
    assert!(status.success(), "{out}");
    assert_went_on_without(&sb, &out, &down, "switch");
    println!("switch with {down} down: {:.2} s", took.as_secs_f64());
    // The new master and the old one as a promotion leaves them.
    assert!(!read_only(&sb, &candidate).await && read_only(&sb, &master).await);
    let row = sb.replica_status(&master).await.expect("the old master replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&candidate).to_string()));
    // Back, and pointed at the new master as the warning says to: it catches up.
    replicate_from(&sb, &down, &candidate).await;
    sb.exec(&candidate, "INSERT INTO social.photos (user_id, caption) VALUES (56, 'after the switch')").await;
    assert_have_all_of(&sb, &candidate, &[master.clone(), down.clone()], "after the switch").await;

    // The next promotion is killed right after its freeze, and the frozen old master hangs
    // (SIGSTOP): the next run refuses within its timeout, naming the master, and changes nothing;
    // resumed, the master is found frozen (interrupted) and the switch is finished.
    let (master, replicas) = layout_of(&sb, DOWN_SHARD).await;
    let candidate = replicas[0].clone();
    let cfg = config_of(&sb, DOWN_SHARD, &master, &replicas, &dir.path().join("audit2.jsonl"), "true");
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], Some("freeze"));
    assert_eq!(status.signal(), Some(9), "{out}");
    sandbox_cmd(&sb, "freeze", &master);
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    sandbox_cmd(&sb, "thaw", &master);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("cannot read the master {}", sb.addr(&master))), "{out}");
    assert!(read_only(&sb, &master).await && read_only(&sb, &candidate).await, "nothing switched: {out}");
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("previous promotion may have been interrupted"), "{out}");
    let force = ["--to", &sb.addr(&candidate), "--force-check", "master_writable"];
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &force, None);
    assert!(status.success(), "{out}");
    let (writable, _) = layout_of(&sb, DOWN_SHARD).await;
    assert_eq!(writable, candidate);
    let row = sb.replica_status(&master).await.expect("the old master replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&candidate).to_string()));
}

/// s56's tests one at a time: the replica-down promotion and the failover matrix share the shard.
static DOWN_SHARD_LOCK: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

/// The steps of a failover of a GTID shard with both hooks and no catch-up, in order.
const FAILOVER_STEPS: [&str; 7] = ["stop_io", "apply_relay", "pre_hook", "promote", "hook", "repoint", "marker"];
const FAILOVER_AFTER_SWITCH: [&str; 4] = ["promote", "hook", "repoint", "marker"];

fn shardtop(
    sb: &Sandbox,
    verb: &str,
    cfg: &std::path::Path,
    args: &[&str],
    crash_after: Option<&str>,
) -> (std::process::ExitStatus, String) {
    let mut cmd = std::process::Command::new(sb.bin());
    cmd.arg(verb).arg("--config").arg(cfg).args(args);
    match crash_after {
        Some(step) => cmd.env("SHARDTOP_TEST_CRASH_AFTER", step),
        None => cmd.env_remove("SHARDTOP_TEST_CRASH_AFTER"),
    };
    let out = cmd.output().expect("run shardtop");
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `scripts/sandbox VERB NAME` (kill, start, stop, freeze, thaw), which must succeed.
fn sandbox_cmd(sb: &Sandbox, verb: &str, name: &str) {
    crate::common::sandbox_script(sb, verb, &[name]);
}

/// The shell command `scripts/sandbox VERB NAME`, for a hook to run (a replica that goes down
/// during the switch, a master that hangs).
fn sandbox_command(sb: &Sandbox, verb: &str, name: &str) -> String {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    format!("{} {verb} {name} --dir {}", script.display(), sb.var("SANDBOX_DIR"))
}

/// Point `replica` at `master` by GTID and start it (what the warnings tell the operator to do
/// by hand).
async fn replicate_from(sb: &Sandbox, replica: &str, master: &str) {
    let repl = std::fs::read_to_string(sb.var("SANDBOX_REPL_PASSWORD_FILE")).expect("repl password");
    sb.exec(
        replica,
        &format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{}', \
             MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos; START SLAVE",
            sb.port(master),
            sb.var("SANDBOX_REPL_USER"),
            repl.trim()
        ),
    )
    .await;
}

/// The `what` (switch or failover) whose output is `out` went on without the replica `down`
/// (down since the hook): it names it as not repointed, and its marker did not wait for it.
fn assert_went_on_without(sb: &Sandbox, out: &str, down: &str, what: &str) {
    let down = sb.addr(down);
    assert!(
        out.contains(&format!("repoint {down}: connect")),
        "the {what} names the replica it could not repoint:\n{out}"
    );
    assert!(out.contains(&format!("not looked for on {down} (not repointed)")), "{out}");
    assert!(!out.contains("not seen within"), "the marker waited for a replica known to be down:\n{out}");
}

/// s56 as `ready_down_shard` leaves it, and converged: its master and replicas.
async fn converged_down_shard(sb: &Sandbox) -> (String, Vec<String>) {
    let (master, replicas) = ready_down_shard(sb).await;
    converged_of(sb, DOWN_SHARD, &master).await.unwrap_or_else(|e| panic!("before: {e}"));
    (master, replicas)
}

/// The old `master`, started again, rejoins under `new` (the shard's third member is `other`):
/// the shard converges under `new`. Its audit goes to `audit`.
async fn rejoin_under(sb: &Sandbox, audit: &std::path::Path, master: &str, new: &str, other: &str, context: &str) {
    let after = config_raw(sb, DOWN_SHARD, new, &[master.to_string(), other.to_string()], audit, "");
    let rejoin = ["--shard", DOWN_SHARD, "--instance", &sb.addr(master), "--master", &sb.addr(new), "--yes"];
    let (status, out) = shardtop(sb, "rejoin", &after, &rejoin, None);
    assert!(status.success(), "{context}: the old master did not rejoin:\n{out}");
    converged_of(sb, DOWN_SHARD, new).await.unwrap_or_else(|e| panic!("{context}: {e}"));
}

/// The layout of s56 when its master may be down: the writable members among those that answer.
async fn answering_layout(sb: &Sandbox, shard: &str, down: &str) -> (String, Vec<String>) {
    let mut master = Vec::new();
    let mut replicas = Vec::new();
    for n in members_of(shard).into_iter().filter(|n| n != down) {
        if read_only(sb, &n).await { replicas.push(n) } else { master.push(n) }
    }
    assert_eq!(master.len(), 1, "{shard}: writable members {master:?} (besides {down})");
    (master.remove(0), replicas)
}

/// Issue 17 §5 for failover: the master of s56 is SIGKILLed (its replicas have everything it
/// acknowledged: the application pauses for the kill, then writes on through the routing file
/// the hook maintains), `failover` is killed right after each of its steps in turn, then run
/// again. Before the promotion the next run fails over as if nothing had happened; after it,
/// it finds the new master and finishes (hook, the replicas still on the dead master, marker).
/// Then the old master is started and rejoins as a replica of the new one. Every case ends with
/// one writable master, both other members streaming from it, every acknowledged write on all
/// three, and both runs in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_killed_after_any_step_is_finished_by_the_next_run_without_losing_a_write() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = Arc::new(sandbox_or_skip!());
    let (master, _) = ready_down_shard(&sb).await;
    create_app_user(&sb, &master).await;
    let routing = Routing::new();
    let mut matrix = Vec::new();
    for (k, step) in FAILOVER_STEPS.iter().enumerate() {
        let (master, replicas) = layout_of(&sb, DOWN_SHARD).await;
        converged_of(&sb, DOWN_SHARD, &master).await.unwrap_or_else(|e| panic!("before crashing after {step}: {e}"));
        let audit = routing.dir.path().join(format!("failover-{step}.jsonl"));
        let cfg = config_raw(&sb, DOWN_SHARD, &master, &replicas, &audit, &routing.failover_hooks());

        // The application writes to the master; it pauses, the replicas have all it was told,
        // the master dies, and the application writes on through the routing file.
        let (mut acked, during) =
            writes_then_kill(&sb, &routing, &master, &replicas, 95_000_000 + k as u64 * 1_000_000, 300).await;

        if k == 0 {
            let (status, out) = shardtop(&sb, "failover", &cfg, &["--shard", DOWN_SHARD, "--dry-run"], None);
            assert!(status.success(), "{out}");
            for s in FAILOVER_STEPS {
                assert!(out.contains(s), "the failover plan has no step {s}:\n{out}");
            }
        }
        // The run that dies.
        let (status, out) = shardtop(&sb, "failover", &cfg, &["--shard", DOWN_SHARD, "--yes"], Some(step));
        assert_eq!(status.signal(), Some(9), "crash after {step}: the failover was not killed:\n{out}");
        assert_died_after(&audit, step, &format!("crash after {step}"));

        // The next run.
        let started = Instant::now();
        let (status, out) = shardtop(&sb, "failover", &cfg, &["--shard", DOWN_SHARD, "--yes"], None);
        let took = started.elapsed();
        assert!(status.success(), "crash after {step}: the next run did not finish the failover:\n{out}");
        let outcome = if FAILOVER_AFTER_SWITCH.contains(step) {
            assert!(out.contains("finished the interrupted failover"), "crash after {step}:\n{out}");
            "found the new master; finished it"
        } else {
            assert!(out.contains("failed over"), "crash after {step}:\n{out}");
            "failed over again"
        };
        let (new, others) = answering_layout(&sb, DOWN_SHARD, &master).await;
        assert_eq!(routing.current(), sb.addr(&new), "crash after {step}");
        acked.extend(during.stop_after(300).await);

        // The old master comes back and rejoins under the new one.
        sandbox_cmd(&sb, "start", &master);
        let context = format!("crash after {step}");
        rejoin_under(&sb, &audit, &master, &new, &others[0], &context).await;
        assert_acked_everywhere(&sb, DOWN_SHARD, &acked, &context).await;
        let trail = std::fs::read_to_string(&audit).expect("audit");
        let runs = audit_runs(&audit, Some("failover"));
        assert!(runs.len() >= 2, "{context}: the audit log names {} failover run(s):\n{trail}", runs.len());
        if FAILOVER_AFTER_SWITCH.contains(step) {
            assert!(trail.contains("an earlier failover stopped after promoting"), "{context}:\n{trail}");
        }
        matrix.push(format!(
            "| {step} | killed (SIGKILL) | {outcome} | {} acknowledged writes, none lost | {:.1} s |",
            acked.len(),
            took.as_secs_f64()
        ));
    }
    println!(
        "| failover crashed after | run | next run | writes | next run took |\n|---|---|---|---|---:|\n{}",
        matrix.join("\n")
    );
}

/// Issue 17 §3 on s56 (here for its shard): the sandbox's monitoring account (exactly the grants
/// README.md documents) checks clean; an account without the required privileges is refused
/// naming every one it lacks, per server; one without the optional ones is probed and told what
/// each missing one costs.
#[tokio::test]
async fn check_config_names_each_missing_privilege_per_server() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "lp-test-pw\n").expect("password file");
    // Whichever member the other tests of s56 left as its master, in the config's order.
    let (master, replicas) = ready_down_shard(&sb).await;
    let members = [master.clone(), replicas[0].clone(), replicas[1].clone()];
    let config = |user: &str, pwfile: &str| {
        let addrs: Vec<String> = members.iter().map(|m| sb.addr(m)).collect();
        let text = format!(
            "[poll]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[defaults]\nuser = \"{user}\"\npassword_file = \"{pwfile}\"\n\n\
             [heartbeat]\ntable = \"percona.heartbeat\"\n\n[feed]\ndatabase = \"social\"\nuser_id_range = [1, 50]\n\n\
             [[shard]]\nname = \"{DOWN_SHARD}\"\nmaster = \"{}\"\nreplicas = [\"{}\", \"{}\"]\n",
            addrs[0], addrs[1], addrs[2]
        );
        let path = dir.path().join(format!("{user}.toml"));
        std::fs::write(&path, text).expect("config");
        path
    };
    let check = |cfg: &std::path::Path| {
        let out = std::process::Command::new(sb.bin()).arg("check-config").arg("--config").arg(cfg).output();
        let out = out.expect("run check-config");
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let server_lines = |out: &str| -> Vec<String> {
        out.lines().filter(|l| l.starts_with("  ok") || l.starts_with("  FAIL")).map(str::to_string).collect()
    };

    // The sandbox's monitoring account: nothing missing, nothing more than watching. A heartbeat
    // row, as pt-heartbeat writes it, for the heartbeat read to find.
    sb.exec(
        &master,
        "REPLACE INTO percona.heartbeat (ts, server_id) \
         VALUES (DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f'), @@server_id)",
    )
    .await;
    assert_have_all_of(&sb, &master, &replicas, "the heartbeat row").await;
    let cfg = config(sb.var("SANDBOX_MONITOR_USER"), sb.var("SANDBOX_MONITOR_PASSWORD_FILE"));
    let (code, out) = check(&cfg);
    assert_eq!(code, Some(0), "{out}");
    let lines = server_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("  ok") && !l.contains("missing") && !l.contains("warning")), "{out}");

    // Accounts of this test only, on each server (not binlogged).
    let accounts = [
        // No SLAVE MONITOR, no BINLOG MONITOR, no heartbeat: the probe cannot work.
        ("lp_bare", "GRANT PROCESS ON *.* TO lp_bare@'127.0.0.1'; GRANT SELECT ON social.* TO lp_bare@'127.0.0.1'"),
        // The required ones only: watching works, two features are degraded.
        ("lp_min", "GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO lp_min@'127.0.0.1'"),
    ];
    for m in &members {
        for (user, grants) in &accounts {
            sb.exec(
                m,
                &format!(
                    "SET SESSION sql_log_bin = 0; DROP USER IF EXISTS {user}@'127.0.0.1'; \
                     CREATE USER {user}@'127.0.0.1' IDENTIFIED BY 'lp-test-pw'; {grants}"
                ),
            )
            .await;
        }
    }
    let pw = pwfile.display().to_string();
    let (code, out) = check(&config("lp_bare", &pw));
    assert_eq!(code, Some(1), "{out}");
    let lines = server_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    for (l, m) in lines.iter().zip(&members) {
        assert!(l.starts_with("  FAIL") && l.contains(&sb.addr(m)), "{l}");
        for p in ["SLAVE MONITOR (", "BINLOG MONITOR (", "SELECT on percona.heartbeat ("] {
            assert!(l.contains(p), "{m}: {p} not named: {l}");
        }
    }
    let (_, out) = check(&config("lp_min", &pw));
    let lines = server_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    for l in &lines {
        assert!(l.starts_with("  ok"), "the probe works without the optional privileges: {l}");
        for p in [
            "PROCESS (the master's Binlog Dump threads",
            "SELECT on percona.heartbeat (heartbeat lag",
            "SELECT on social.photos (the feed probe",
            "SELECT on social.followers (the feed probe",
        ] {
            assert!(l.contains(p), "{p} not named: {l}");
        }
        assert!(!l.contains("SLAVE MONITOR (") && !l.contains("lp-test-pw"), "{l}");
    }
    // The same account watched: every server probed, the two features' failures said, not hidden.
    let (code, json) = sb.snapshot(&config("lp_min", &pw), &[]);
    assert_eq!(code, 1, "a warning (the feed), not unknown or critical: {json}");
    let shard = &json["shards"][0];
    for i in shard["instances"].as_array().expect("instances") {
        assert_eq!(i["reachable"], true, "{i}");
        let hb = i["heartbeat_error"].as_str().unwrap_or_default();
        assert!(hb.contains("needs SELECT on percona.heartbeat"), "{i}");
    }
    let feed = shard["feed_latency_ms"]["last_error"].as_str().unwrap_or_default();
    assert!(feed.contains("may not use the connection's database: grant it SELECT"), "{shard}");
    for m in &members {
        for (user, _) in &accounts {
            sb.exec(m, &format!("SET SESSION sql_log_bin = 0; DROP USER IF EXISTS {user}@'127.0.0.1'")).await;
        }
    }
}

/// A failover whose other replica goes down during the switch (the post-failover hook stops it,
/// after the point of no return and before the repoint): the failover completes, names the
/// replica, and does not wait for its marker; back and pointed at the new master, it catches up,
/// and the old master rejoins.
#[tokio::test]
async fn a_replica_down_during_a_failover_is_named_and_the_failover_completes() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let (master, replicas) = converged_down_shard(&sb).await;
    let (candidate, down) = (replicas[0].clone(), replicas[1].clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("post_promote_hook = \"{}\"", sandbox_command(&sb, "stop", &down));
    let cfg = config_raw(&sb, DOWN_SHARD, &master, &replicas, &audit, &extra);
    sandbox_cmd(&sb, "kill", &master);
    let started = Instant::now();
    let (status, out) =
        shardtop(&sb, "failover", &cfg, &["--shard", DOWN_SHARD, "--to", &sb.addr(&candidate), "--yes"], None);
    let took = started.elapsed();
    sandbox_cmd(&sb, "start", &down);
    sandbox_cmd(&sb, "start", &master);
    assert!(status.success(), "{out}");
    assert_went_on_without(&sb, &out, &down, "failover");
    println!("failover with {down} down: {:.2} s", took.as_secs_f64());
    assert!(!read_only(&sb, &candidate).await, "{candidate} is the master");

    // Back, the replica is pointed at the new master as the warning says; the old master rejoins.
    replicate_from(&sb, &down, &candidate).await;
    rejoin_under(&sb, &audit, &master, &candidate, &down, "after").await;
}

/// Issue 17 §5, the failover step the matrix above cannot reach (its replicas are level): a
/// failover to a candidate that lags the other replica, killed right after its `catch_up`. s56's
/// second replica stops receiving (IO thread) while the application writes, so the first one
/// holds acknowledged writes the candidate lacks; the master is SIGKILLed, `failover --to` the
/// lagging one is killed once it has caught up, then run again with the same arguments. It must
/// promote that candidate (once: no second master), with every write the advanced replica had;
/// the old master rejoins; the audit log tells both runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_killed_after_its_catch_up_is_finished_by_the_next_run_without_losing_a_write() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = Arc::new(sandbox_or_skip!());
    killed_in_catch_up(sb, "catch_up").await;
}

/// The same, killed in the middle of `catch_up` (`catch_up:following`: the candidate follows the
/// advanced replica and has not yet been put back under the dead master). The next run finds it
/// following that replica, recognises the interrupted catch-up from the audit log, puts it back
/// under the dead master (`reattach`), and fails over to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_killed_in_the_middle_of_its_catch_up_is_finished_by_the_next_run() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = Arc::new(sandbox_or_skip!());
    killed_in_catch_up(sb, "catch_up:following").await;
}

async fn killed_in_catch_up(sb: Arc<Sandbox>, crash_at: &str) {
    let midway = crash_at != "catch_up";
    let (master, replicas) = converged_down_shard(&sb).await;
    create_app_user(&sb, &master).await;
    let (ahead, behind) = (replicas[0].clone(), replicas[1].clone());
    let routing = Routing::new();
    let audit = routing.dir.path().join("failover-catch_up.jsonl");
    let cfg = config_raw(&sb, DOWN_SHARD, &master, &replicas, &audit, &routing.failover_hooks());

    // The candidate stops receiving; the application's writes reach the other replica only.
    sb.exec(&behind, "STOP SLAVE IO_THREAD").await;
    let first = unused_ids(&sb, &master, 97_000_000).await;
    let (mut acked, during) = writes_then_kill(&sb, &routing, &master, std::slice::from_ref(&ahead), first, 500).await;
    let count = |n: String, lo: u64, hi: u64| {
        let sb = sb.clone();
        async move { sb.value(&n, &format!("SELECT COUNT(*) FROM social.photos WHERE id BETWEEN {lo} AND {hi}")).await }
    };
    let (lo, hi) = (acked[0], acked[acked.len() - 1]);
    assert_eq!(count(behind.clone(), lo, hi).await.as_deref(), Some("0"), "{behind} should lag");

    // The run that dies after (or in the middle of) the candidate's catch-up from the advanced
    // replica.
    let to = ["--shard", DOWN_SHARD, "--to", &sb.addr(&behind), "--yes"];
    let (status, out) = shardtop(&sb, "failover", &cfg, &to, Some(crash_at));
    assert_eq!(status.signal(), Some(9), "{crash_at}: the failover was not killed:\n{out}");
    assert!(out.contains(&format!("catches up first from {}", sb.addr(&ahead))), "{out}");
    assert_died_after(&audit, if midway { "apply_relay" } else { "catch_up" }, crash_at);
    assert!(read_only(&sb, &ahead).await && read_only(&sb, &behind).await, "nothing is promoted yet");
    let source = sb.replica_status(&behind).await.and_then(|r| r.get::<String, _>("Master_Port"));
    let expected = if midway { sb.port(&ahead) } else { sb.port(&master) };
    assert_eq!(source, Some(expected.to_string()), "{crash_at}: whom {behind} follows after the dead run");
    if !midway {
        assert_eq!(count(behind.clone(), lo, hi).await, Some(acked.len().to_string()), "{behind} caught up");
    }

    if midway {
        // Planned first: the interrupted catch-up is named, the candidate judged as it will be.
        let dry = ["--shard", DOWN_SHARD, "--to", &sb.addr(&behind), "--dry-run"];
        let (status, out) = shardtop(&sb, "failover", &cfg, &dry, None);
        assert!(status.success(), "{out}");
        assert!(out.contains("interrupted_catch_up") && out.contains("stopped in the middle of its catch-up"), "{out}");
    }

    // The next run, as the operator typed it again.
    let started = Instant::now();
    let (status, out) = shardtop(&sb, "failover", &cfg, &to, None);
    let took = started.elapsed();
    assert!(status.success(), "the next run did not finish the failover:\n{out}");
    assert!(out.contains("failed over"), "{out}");
    let (new, others) = answering_layout(&sb, DOWN_SHARD, &master).await;
    assert_eq!(new, behind, "the candidate the operator chose is the master:\n{out}");
    assert_eq!(others, vec![ahead.clone()]);
    assert_eq!(routing.current(), sb.addr(&new));
    acked.extend(during.stop_after(300).await);

    // The old master comes back and rejoins; every acknowledged write is on all three.
    sandbox_cmd(&sb, "start", &master);
    rejoin_under(&sb, &audit, &master, &new, &ahead, "after").await;
    assert_acked_everywhere(&sb, DOWN_SHARD, &acked, "after").await;

    // The audit log: two failover runs, the first ending at its catch-up, one promotion only.
    let trail = std::fs::read_to_string(&audit).expect("audit");
    let failover_runs = audit_runs(&audit, Some("failover"));
    assert_eq!(failover_runs.len(), 2, "{trail}");
    let steps_of = |run: &str| audit_steps(&audit, Some(run));
    let first_run = steps_of(&failover_runs[0]);
    assert!(first_run.contains(&("catch_up".into(), if midway { "start" } else { "ok" }.into())), "{first_run:?}");
    assert!(!first_run.iter().any(|(s, _)| s == "promote"), "{first_run:?}");
    let second_run = steps_of(&failover_runs[1]);
    assert!(second_run.contains(&("promote".into(), "ok".into())), "{second_run:?}");
    if midway {
        assert!(second_run.contains(&("reattach".into(), "ok".into())), "{second_run:?}");
    } else {
        assert!(!second_run.iter().any(|(s, _)| s == "catch_up"), "it had caught up already: {second_run:?}");
    }
    assert_one_promotion(&audit);
    println!(
        "| {crash_at} | killed (SIGKILL) | {} | {} acknowledged writes, none lost | {:.1} s |",
        if midway {
            "reattached to the dead master; failed over to the same candidate"
        } else {
            "failed over to the same candidate"
        },
        acked.len(),
        took.as_secs_f64()
    );
}

/// Issue 17 §5, the window inside `promote`: killed (`promote:reset`) after `RESET SLAVE ALL` on
/// the candidate and before it is writable, which leaves it read-only and replicating from
/// nobody. The same `failover --to` again recognises the half-promoted candidate from the audit
/// log (its promote started, the run never ended), makes it writable and finishes (hook, repoint,
/// marker): one master, no write lost, one `promote ok` in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_killed_between_reset_and_writable_is_finished_by_the_next_run() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = Arc::new(sandbox_or_skip!());
    let (master, replicas) = converged_down_shard(&sb).await;
    create_app_user(&sb, &master).await;
    let (other, cand) = (replicas[0].clone(), replicas[1].clone());
    let routing = Routing::new();
    let audit = routing.dir.path().join("failover-promote-reset.jsonl");
    let cfg = config_raw(&sb, DOWN_SHARD, &master, &replicas, &audit, &routing.failover_hooks());

    let first = unused_ids(&sb, &master, 98_000_000).await;
    let (mut acked, during) = writes_then_kill(&sb, &routing, &master, &replicas, first, 300).await;

    let to = ["--shard", DOWN_SHARD, "--to", &sb.addr(&cand), "--yes"];
    let (status, out) = shardtop(&sb, "failover", &cfg, &to, Some("promote:reset"));
    assert_eq!(status.signal(), Some(9), "the failover was not killed:\n{out}");
    assert!(read_only(&sb, &cand).await && read_only(&sb, &other).await, "nothing is writable yet");
    assert!(sb.replica_status(&cand).await.is_none(), "{cand} should replicate from nobody after the reset");

    let dry = ["--shard", DOWN_SHARD, "--to", &sb.addr(&cand), "--dry-run"];
    let (status, out) = shardtop(&sb, "failover", &cfg, &dry, None);
    assert!(status.success(), "{out}");
    assert!(out.contains("interrupted_promotion") && out.contains("reset it and stopped before making it"), "{out}");
    assert!(read_only(&sb, &cand).await, "a dry run changes nothing");

    let (status, out) = shardtop(&sb, "failover", &cfg, &to, None);
    assert!(status.success(), "the next run did not finish the promotion:\n{out}");
    let (new, others) = answering_layout(&sb, DOWN_SHARD, &master).await;
    assert_eq!(new, cand, "the half-promoted candidate is the master:\n{out}");
    assert_eq!(others, vec![other.clone()], "one master only:\n{out}");
    assert_eq!(routing.current(), sb.addr(&new));
    acked.extend(during.stop_after(300).await);

    sandbox_cmd(&sb, "start", &master);
    rejoin_under(&sb, &audit, &master, &new, &other, "after").await;
    assert_acked_everywhere(&sb, DOWN_SHARD, &acked, "after").await;
    assert_one_promotion(&audit);
    println!(
        "| promote:reset | killed (SIGKILL) | made writable; failover finished | {} acknowledged writes, none lost |",
        acked.len()
    );
}

/// A fencing hook that fails after the lagging candidate caught up: the failover rolls back, and
/// the candidate is a replica of the dead master again (with what it fetched), nothing writable;
/// the master back, every member streams from it again.
#[tokio::test]
async fn a_failed_fence_after_a_catch_up_puts_the_candidate_back_under_the_master() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let (master, replicas) = converged_down_shard(&sb).await;
    let (ahead, behind) = (replicas[0].clone(), replicas[1].clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg = config_raw(&sb, DOWN_SHARD, &master, &replicas, &audit, "pre_failover_hook = \"false\"");
    sb.exec(&behind, "STOP SLAVE IO_THREAD").await;
    sb.exec(&master, "INSERT INTO social.photos (user_id, caption) VALUES (56, 'fence'), (56, 'fence')").await;
    assert_have_all_of(&sb, &master, std::slice::from_ref(&ahead), "before the kill").await;
    sandbox_cmd(&sb, "kill", &master);
    let to = ["--shard", DOWN_SHARD, "--to", &sb.addr(&behind), "--yes"];
    let (status, out) = shardtop(&sb, "failover", &cfg, &to, None);
    sandbox_cmd(&sb, "start", &master);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("step pre_hook failed") && out.contains("rolled back"), "{out}");
    assert!(read_only(&sb, &ahead).await && read_only(&sb, &behind).await, "nothing writable: {out}");
    let row = sb.replica_status(&behind).await.expect("the candidate replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&master).to_string()), "{out}");
    let steps = audit_steps(&audit, None);
    for want in [("catch_up", "ok"), ("pre_hook", "failed"), ("rollback", "ok")] {
        assert!(steps.contains(&(want.0.into(), want.1.into())), "{want:?} not in {steps:?}");
    }
    // The master is back (started read-only, as the sandbox starts every server) and still the
    // master: both replicas stream from it again, nothing lost.
    sb.exec(&master, "SET GLOBAL read_only = 0").await;
    for r in [&ahead, &behind] {
        sb.exec(r, "STOP SLAVE; START SLAVE").await;
    }
    converged_of(&sb, DOWN_SHARD, &master).await.unwrap_or_else(|e| panic!("after: {e}"));
}

/// Issue 17 §5, within one run: the old master hangs (SIGSTOP) right after the promotion froze
/// it (`SHARDTOP_TEST_RUN_AFTER=freeze`). The run fails within its timeouts naming the master,
/// promotes nothing, and leaves the candidate a replica of the old master; once the master
/// resumes, it is found frozen (an interrupted promotion) and the switch is finished with
/// `--force-check master_writable`.
#[tokio::test]
async fn a_master_that_hangs_right_after_the_freeze_fails_the_run_and_switches_nothing() {
    let _serial = DOWN_SHARD_LOCK.lock().await;
    let sb = sandbox_or_skip!();
    let (master, replicas) = converged_down_shard(&sb).await;
    let candidate = replicas[0].clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg = config_of(&sb, DOWN_SHARD, &master, &replicas, &audit, "true");
    let freeze = sandbox_command(&sb, "freeze", &master);
    let started = Instant::now();
    let out = std::process::Command::new(sb.bin())
        .arg("promote")
        .arg("--config")
        .arg(&cfg)
        .args(["--shard", DOWN_SHARD, "--to", &sb.addr(&candidate), "--yes"])
        .env("SHARDTOP_TEST_RUN_AFTER", "freeze")
        .env("SHARDTOP_TEST_RUN_CMD", &freeze)
        .env_remove("SHARDTOP_TEST_CRASH_AFTER")
        .output()
        .expect("run shardtop promote");
    let took = started.elapsed();
    sandbox_cmd(&sb, "thaw", &master);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("master hung after the freeze: exit {:?} after {:.1} s\n{text}", out.status.code(), took.as_secs_f64());
    // Exit 3: the rollback could not make the hung master writable again, and says so.
    assert_eq!(out.status.code(), Some(3), "{text}");
    let addr = sb.addr(&master);
    assert!(text.contains(&format!("step verify_frozen failed: the master {addr}: no answer")), "{text}");
    assert!(text.contains(&format!("the master {addr} may still be read-only (frozen)")), "{text}");
    assert!(read_only(&sb, &candidate).await, "nothing promoted:\n{text}");
    let row = sb.replica_status(&candidate).await.expect("the candidate replicates");
    assert_eq!(row.get::<String, _>("Master_Port"), Some(sb.port(&master).to_string()), "{text}");
    let trail = std::fs::read_to_string(&audit).expect("audit");
    assert!(trail.contains("\"step\":\"freeze\",\"phase\":\"ok\""), "{trail}");
    assert!(!trail.contains("\"step\":\"promote\",\"phase\":\"ok\""), "{trail}");

    // Resumed: whatever the rollback could not undo on the hung master is finished by the next
    // runs, as after a crash after the freeze.
    let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &["--to", &sb.addr(&candidate)], None);
    if !status.success() {
        assert_eq!(status.code(), Some(1), "{out}");
        assert!(out.contains("previous promotion may have been interrupted"), "{out}");
        let force = ["--to", &sb.addr(&candidate), "--force-check", "master_writable"];
        let (status, out) = promote_shard(&sb, DOWN_SHARD, &cfg, &force, None);
        assert!(status.success(), "{out}");
    }
    converged_of(&sb, DOWN_SHARD, &candidate).await.unwrap_or_else(|e| panic!("after: {e}"));
}

/// s56 as its tests expect it, whatever a failed earlier run left: every member running (a
/// killed master started again), and the replicas streaming from the writable one. Its master
/// and replicas.
async fn ready_down_shard(sb: &Sandbox) -> (String, Vec<String>) {
    for n in members_of(DOWN_SHARD) {
        sandbox_cmd(sb, "start", &n);
    }
    // A master killed and started again comes up read-only (as the sandbox starts every server):
    // the one member that replicates from nobody is the master.
    let mut writable = Vec::new();
    let mut sourceless = Vec::new();
    for n in members_of(DOWN_SHARD) {
        if !read_only(sb, &n).await {
            writable.push(n.clone());
        }
        if sb.replica_status(&n).await.is_none() {
            sourceless.push(n);
        }
    }
    if let ([], [only]) = (writable.as_slice(), sourceless.as_slice()) {
        sb.exec(only, "SET GLOBAL read_only = 0").await;
    }
    let (master, replicas) = layout_of(sb, DOWN_SHARD).await;
    heal(sb, &master, &replicas).await;
    (master, replicas)
}

/// What a failed run may leave: a replica whose IO thread is stopped, or one still following the
/// other replica. Each is pointed at `master` again and started.
async fn heal(sb: &Sandbox, master: &str, replicas: &[String]) {
    for r in replicas {
        let row = sb.replica_status(r).await;
        let port = row.as_ref().and_then(|r| r.get::<String, _>("Master_Port")).unwrap_or_default();
        if port == sb.port(master).to_string() {
            sb.exec(r, "START SLAVE").await;
        } else {
            replicate_from(sb, r, master).await;
        }
    }
}
