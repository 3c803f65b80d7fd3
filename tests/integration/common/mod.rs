//! Access to the MariaDB sandbox that `scripts/test` starts (`scripts/sandbox up`).
//!
//! Tests find it through `SHARDTOP_SANDBOX_ENV` (the `sandbox.env` file the
//! script writes). Without it they fail, saying so: a test that passes without
//! checking anything looks like a green run. `SHARDTOP_SKIP_SANDBOX=1` skips
//! them instead, with a note on the terminal.
//!
//! Shards are handed out to test modules so they can run in parallel: which
//! module owns which is a table (`shards.rs`), and every accessor below that
//! takes an instance or shard name checks it against the table, so a test that
//! reaches into another module's shard fails at once, naming the owner.

pub mod pty;
pub mod shards;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mysql_async::prelude::Queryable;

use shards::Use;

/// The sandbox as one test module sees it: only its own shards, and the shared ones to read.
#[derive(Clone)]
pub struct Sandbox {
    vars: HashMap<String, String>,
    /// The test module (`shards::module_name`), whose shards these accessors hand out.
    module: &'static str,
}

/// Get the sandbox for the calling module; without one, fail, or return from the test (skipped)
/// when `SHARDTOP_SKIP_SANDBOX=1` asks for that.
macro_rules! sandbox_or_skip {
    () => {
        match $crate::common::Sandbox::get(module_path!()) {
            Some(s) => s,
            None => return,
        }
    };
}

impl Sandbox {
    /// The sandbox for the tests of `module_path` (their `module_path!()`), which get the shards
    /// `shards::OWNERS` gives their module.
    pub fn get(module_path: &'static str) -> Option<Sandbox> {
        if let Err(e) = shards::check_table(shards::SHARED, shards::OWNERS, shards::SANDBOX_SHARDS) {
            panic!("tests/integration/common/shards.rs: {e}");
        }
        let Some(path) = std::env::var_os("SHARDTOP_SANDBOX_ENV") else {
            if let Err(e) = without_sandbox(std::env::var("SHARDTOP_SKIP_SANDBOX").ok().as_deref()) {
                panic!("{e}");
            }
            static NOTED: std::sync::Once = std::sync::Once::new();
            NOTED.call_once(|| {
                note("SHARDTOP_SKIP_SANDBOX=1: the tests against the sandbox are skipped (each passes without checking anything)");
            });
            return None;
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        Some(Sandbox { vars, module: shards::module_name(module_path) })
    }

    /// Panics unless this module may use `instance` (or a whole shard) as `how`.
    fn check(&self, instance: &str, how: Use) {
        if let Err(e) = shards::check_use(shards::SHARED, shards::OWNERS, self.module, instance, how) {
            panic!("{e}");
        }
    }

    pub fn try_var(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| panic!("sandbox.env has no {key}"))
    }

    fn key(name: &str) -> String {
        format!("SANDBOX_INSTANCE_{}", name.replace('-', "_"))
    }

    /// `s1-m` → `127.0.0.1:23306`.
    pub fn addr(&self, name: &str) -> String {
        self.check(name, Use::Read);
        self.var(&Self::key(name)).to_string()
    }

    pub fn port(&self, name: &str) -> u16 {
        self.addr(name).rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
    }

    /// The server's process id, to signal it.
    pub fn pid(&self, name: &str) -> i32 {
        self.check(name, Use::Disturb);
        let file = self.var(&format!("{}_PIDFILE", Self::key(name)));
        std::fs::read_to_string(file).expect("pid file").trim().parse().expect("pid")
    }

    pub fn signal(&self, name: &str, sig: &str) {
        let ok = std::process::Command::new("kill").args([&format!("-{sig}"), &self.pid(name).to_string()]).status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "kill -{sig} {name}");
    }

    pub fn password(&self, key: &str) -> String {
        std::fs::read_to_string(self.var(key)).expect("password file").trim_end().to_string()
    }

    /// The replica names of a shard: `s1-r1`, `s1-r2`, …
    pub fn replicas(&self, shard: &str) -> Vec<String> {
        self.check(shard, Use::Read);
        let n: usize = self.var("SANDBOX_REPLICAS").parse().expect("replica count");
        (1..=n).map(|i| format!("{shard}-r{i}")).collect()
    }

    /// A config file for just these shards, as the monitoring account (or the
    /// admin account with `admin`), with a 1 s interval and timeout.
    pub fn config(&self, shards: &[&str], admin: bool) -> tempfile::TempPath {
        self.config_with(shards, admin, "")
    }

    /// An `[actions]` section enabling actions with the sandbox's admin and
    /// replication accounts, plus `extra` keys.
    pub fn actions_section(&self, audit: &std::path::Path, extra: &str) -> String {
        format!(
            "[actions]\nenabled = true\naudit_log = \"{}\"\nuser = \"{}\"\npassword_file = \"{}\"\n\
             replication_user = \"{}\"\nreplication_password_file = \"{}\"\nlock_dir = \"{}\"\n{extra}\n",
            audit.display(),
            self.var("SANDBOX_ADMIN_USER"),
            self.var("SANDBOX_ADMIN_PASSWORD_FILE"),
            self.var("SANDBOX_REPL_USER"),
            self.var("SANDBOX_REPL_PASSWORD_FILE"),
            audit.parent().map_or_else(|| std::env::temp_dir().display().to_string(), |p| p.display().to_string()),
        )
    }

    /// Like `config`, with `extra` TOML appended after the shards: keys of the
    /// last shard (`upstream = …`) or sections (`[actions]`, `[feed]`).
    pub fn config_with(&self, shards: &[&str], admin: bool, extra: &str) -> tempfile::TempPath {
        // The admin account can change the servers; the monitoring one only reads them.
        for s in shards {
            self.check(s, if admin { Use::Disturb } else { Use::Read });
        }
        let (user, pwfile) = if admin {
            (self.var("SANDBOX_ADMIN_USER"), self.var("SANDBOX_ADMIN_PASSWORD_FILE"))
        } else {
            (self.var("SANDBOX_MONITOR_USER"), self.var("SANDBOX_MONITOR_PASSWORD_FILE"))
        };
        let mut text = format!(
            "[poll]\ninterval = \"1s\"\ntimeout = \"1s\"\n\n[defaults]\nuser = \"{user}\"\npassword_file = \"{pwfile}\"\n\n\
             [heartbeat]\ntable = \"percona.heartbeat\"\ninterval = \"200ms\"\n\n"
        );
        for s in shards {
            let replicas: Vec<String> = self.replicas(s).iter().map(|r| format!("\"{}\"", self.addr(r))).collect();
            text.push_str(&format!(
                "[[shard]]\nname = \"{s}\"\nmaster = \"{}\"\nreplicas = [{}]\n\n",
                self.addr(&format!("{s}-m")),
                replicas.join(", ")
            ));
        }
        text.push_str(extra);
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp config");
        f.write_all(text.as_bytes()).expect("write config");
        f.into_temp_path()
    }

    /// The harness's own key to an instance: the admin user over the instance's socket, where the
    /// sandbox grants it everything (`shardtop_admin@localhost`) — over TCP, what shardtop uses, it
    /// has only the grants README.md documents for actions (`scripts/sandbox`, `setup_grants`).
    pub fn admin_opts(&self, name: &str) -> mysql_async::Opts {
        self.check(name, Use::Disturb);
        self.harness_opts(name).into()
    }

    fn harness_opts(&self, name: &str) -> mysql_async::OptsBuilder {
        let builder = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port(name))
            .user(Some(self.var("SANDBOX_ADMIN_USER")))
            .pass(Some(self.password("SANDBOX_ADMIN_PASSWORD_FILE")))
            .prefer_socket(false);
        match self.try_var(&format!("{}_SOCKET", Self::key(name))) {
            Some(socket) => builder.socket(Some(socket)),
            None => builder,
        }
    }

    pub async fn admin(&self, name: &str) -> mysql_async::Conn {
        self.check(name, Use::Disturb);
        self.admin_unchecked(name).await
    }

    /// An admin connection for the accessors that check the use themselves.
    async fn admin_unchecked(&self, name: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(self.harness_opts(name))
            .await
            .unwrap_or_else(|e| panic!("admin connection to {name}: {e}"))
    }

    /// A connection as any account. By address (e.g. one a routing file names), so not checked
    /// against the shard table: the test got the address from `addr`, which is.
    pub async fn connect_as(
        &self,
        addr: &str,
        user: &str,
        password: &str,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        let (host, port) = addr.rsplit_once(':').expect("host:port");
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(port.parse().expect("port"))
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false);
        mysql_async::Conn::new(opts).await
    }

    /// The first column of the first row, as text (NULL → None).
    pub async fn value(&self, name: &str, sql: &str) -> Option<String> {
        self.check(name, Use::Read);
        let mut c = self.admin_unchecked(name).await;
        let v: Option<Option<String>> = c.query_first(sql).await.unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
        let _ = c.disconnect().await;
        v.flatten()
    }

    /// `SHOW SLAVE STATUS` of one instance: `None` when it replicates from nobody.
    pub async fn replica_status(&self, name: &str) -> Option<mysql_async::Row> {
        self.check(name, Use::Read);
        let mut c = self.admin_unchecked(name).await;
        let row = c.query_first("SHOW SLAVE STATUS").await.unwrap_or_else(|e| panic!("{name}: SHOW SLAVE STATUS: {e}"));
        let _ = c.disconnect().await;
        row
    }

    /// The binlog file and position of one instance (`SHOW MASTER STATUS`; binary logging is on everywhere).
    pub async fn binlog_coords(&self, name: &str) -> (String, u64) {
        self.check(name, Use::Read);
        let mut c = self.admin_unchecked(name).await;
        let row: mysql_async::Row = c
            .query_first("SHOW MASTER STATUS")
            .await
            .unwrap_or_else(|e| panic!("{name}: SHOW MASTER STATUS: {e}"))
            .unwrap_or_else(|| panic!("{name} logs no binlog"));
        let _ = c.disconnect().await;
        (row.get::<String, _>("File").expect("file"), row.get::<u64, _>("Position").expect("pos"))
    }

    /// Run statements as admin on one instance.
    pub async fn exec(&self, name: &str, sql: &str) {
        let mut c = self.admin(name).await;
        c.query_drop(sql).await.unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
        let _ = c.disconnect().await;
    }

    pub fn bin(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_shardtop"))
    }

    /// `shardtop snapshot --format json` on a config; returns (exit code, parsed JSON).
    pub fn snapshot(&self, config: &std::path::Path, extra: &[&str]) -> (i32, serde_json::Value) {
        let out = std::process::Command::new(self.bin())
            .args(["snapshot", "--format", "json", "--config"])
            .arg(config)
            .args(extra)
            .output()
            .expect("run shardtop");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("snapshot output is not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code().unwrap_or(-1), json)
    }
}

/// Without a sandbox: `Ok` to skip the test (only when `SHARDTOP_SKIP_SANDBOX` is `1`), else why it fails.
fn without_sandbox(skip: Option<&str>) -> Result<(), String> {
    match skip {
        Some("1") => Ok(()),
        _ => Err("no sandbox: run scripts/test, or set SHARDTOP_SKIP_SANDBOX=1 to skip the sandbox tests \
                  (or start one with scripts/sandbox up and set SHARDTOP_SANDBOX_ENV to its sandbox.env)"
            .into()),
    }
}

/// A line on the terminal even while the test harness captures output: it captures `eprintln!`,
/// not writes to the stderr handle, and a skipped test must be seen, not just counted as passed.
/// An application behind a dbconfig: acknowledged inserts into `social.photos` (ids from
/// `first_id`) on whichever server the routing file names (a post-promotion hook rewrites it,
/// see `routing_hook`); on any error it re-reads the file and retries the same row, until
/// `stop` or 30 s. The ledger: each acknowledged id with the time of its acknowledgement.
pub async fn routed_writer(
    sb: Arc<Sandbox>,
    routing: PathBuf,
    user: String,
    password: String,
    first_id: u64,
    stop: Arc<AtomicBool>,
) -> Vec<(u64, Instant)> {
    let mut acked = Vec::new();
    let mut id = first_id;
    let mut conn: Option<mysql_async::Conn> = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if conn.is_none() {
            let addr = std::fs::read_to_string(&routing).unwrap_or_default();
            if !addr.contains(':') {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            conn = tokio::time::timeout(Duration::from_millis(500), sb.connect_as(addr.trim(), &user, &password))
                .await
                .ok()
                .and_then(Result::ok);
            if conn.is_none() {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sql =
            format!("INSERT INTO social.photos (id, user_id, caption, created_at) VALUES ({id}, 8, 'routed', NOW())");
        match tokio::time::timeout(Duration::from_secs(2), c.query_drop(sql)).await {
            Ok(Ok(())) => {
                acked.push((id, Instant::now()));
                id += 1;
            }
            // The row is there already: an earlier try committed but its answer was lost.
            Ok(Err(mysql_async::Error::Server(e))) if e.code == 1062 => {
                acked.push((id, Instant::now()));
                id += 1;
            }
            _ => {
                conn = None;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    acked
}

/// A post-promotion hook that points the application at the new master, as a router's
/// config update would: written to a temporary file and renamed, so a writer reading it
/// never sees it half-written (a plain `>` truncates first, and a reader caught between
/// truncate and write saw an empty address).
pub fn routing_hook(routing: &std::path::Path) -> String {
    let path = routing.display();
    format!("printf %s \\\"$SHARDTOP_NEW_MASTER\\\" > {path}.tmp && mv {path}.tmp {path}")
}

pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

/// The instance object for `addr` in a snapshot.
pub fn instance<'a>(json: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    json["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["instances"].as_array().into_iter().flatten())
        .find(|i| i["addr"] == addr)
        .unwrap_or_else(|| panic!("no instance {addr} in {json:#}"))
}

/// Retry `check` until it returns Some or `limit` passes (then panic with the last note).
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(note) if start.elapsed() > limit => panic!("{what}: not within {limit:?}: {note}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Statements run by the generator, per command.
#[derive(Default)]
pub struct Counts {
    pub insert: AtomicU64,
    pub select: AtomicU64,
    pub update: AtomicU64,
}

/// `connections` paced load connections (`generate`, one every 5 ms each) on one server, counting
/// into `counts` until `stop`.
pub fn spawn_load(
    opts: mysql_async::Opts,
    connections: u64,
    counts: &Arc<Counts>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..connections)
        .map(|id| tokio::spawn(generate(opts.clone(), Duration::from_millis(5), counts.clone(), stop.clone(), id)))
        .collect()
}

/// A paced load on one server: each connection runs an INSERT, a SELECT and an
/// UPDATE every `tick` until `stop`.
pub async fn generate(opts: mysql_async::Opts, tick: Duration, counts: Arc<Counts>, stop: Arc<AtomicBool>, id: u64) {
    let mut c = mysql_async::Conn::new(opts).await.expect("generator connection");
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        n += 1;
        c.exec_drop("INSERT INTO social.load (conn, n) VALUES (?, ?)", (id, n)).await.expect("insert");
        counts.insert.fetch_add(1, Ordering::Relaxed);
        let _: Option<u64> = c
            .exec_first("SELECT n FROM social.load WHERE conn = ? ORDER BY n DESC LIMIT 1", (id,))
            .await
            .expect("select");
        counts.select.fetch_add(1, Ordering::Relaxed);
        c.exec_drop("UPDATE social.load SET hits = hits + 1 WHERE conn = ? AND n = ?", (id, n)).await.expect("update");
        counts.update.fetch_add(1, Ordering::Relaxed);
    }
    let _ = c.disconnect().await;
}

/// `scripts/sandbox VERB ARGS --dir DIR` (kill, freeze, thaw, semi-sync), which must succeed.
pub fn sandbox_script(sb: &Sandbox, verb: &str, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let out = std::process::Command::new(script)
        .arg(verb)
        .args(args)
        .args(["--dir", sb.var("SANDBOX_DIR")])
        .output()
        .expect("run scripts/sandbox");
    assert!(out.status.success(), "sandbox {verb} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_for(module_path: &'static str) -> Sandbox {
        let vars = [("SANDBOX_INSTANCE_s1_m", "127.0.0.1:1"), ("SANDBOX_INSTANCE_s15_m", "127.0.0.1:2")];
        let vars = vars.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Sandbox { vars, module: shards::module_name(module_path) }
    }

    #[test]
    fn a_module_reaches_its_own_shards_and_the_shared_one() {
        assert_eq!(sandbox_for("integration::checksum").addr("s15-m"), "127.0.0.1:2");
        assert_eq!(sandbox_for("integration::promote").addr("s1-m"), "127.0.0.1:1");
    }

    #[test]
    fn no_sandbox_fails_unless_skipping_is_asked_for() {
        let e = without_sandbox(None).unwrap_err();
        assert!(
            e.starts_with("no sandbox: run scripts/test, or set SHARDTOP_SKIP_SANDBOX=1 to skip the sandbox tests"),
            "{e}"
        );
        assert!(without_sandbox(Some("0")).is_err());
        assert!(without_sandbox(Some("")).is_err());
        assert_eq!(without_sandbox(Some("1")), Ok(()));
    }

    #[test]
    #[should_panic(expected = "`promote` used s15-m, but s15 belongs to `checksum`")]
    fn another_modules_shard_is_refused() {
        sandbox_for("integration::promote").addr("s15-m");
    }

    #[test]
    #[should_panic(expected = "`sandbox` would disturb s1-m, but s1 is shared")]
    fn the_shared_shard_is_not_disturbed() {
        sandbox_for("integration::sandbox").pid("s1-m");
    }
}
