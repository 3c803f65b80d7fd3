//! Configuration: the TOML schema, its defaults, and validation that reports
//! every problem with file, line, column and a hint.
//!
//! Two stages: serde fills loosely typed raw structs that keep each value's
//! span (`schema`), then `validate` turns them into [`Config`]. The raw stage
//! stops at the first TOML or type error (serde cannot go on), but the
//! validation stage collects every problem, so `check-config` shows them all
//! in one run instead of one per edit.

mod duration;
mod env;
mod mycnf;
mod problem;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fleet::Addr;
use crate::secret::Secret;

pub use duration::{DurationError, format_duration, parse_duration};
pub use env::{Env, SystemEnv};
pub use problem::{ConfigError, Problem, Severity};

/// The validated configuration. Every field has its default filled in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The file it was loaded from; `None` when parsed from a string or defaulted.
    pub source: Option<PathBuf>,
    pub poll: PollConfig,
    pub defaults: ConnDefaults,
    pub thresholds: Thresholds,
    pub heartbeat: Option<HeartbeatConfig>,
    /// The feed latency probe; off without a `[feed]` section.
    pub feed: Option<FeedConfig>,
    /// External sources (`[[metrics]]`), in file order.
    pub metrics: Vec<MetricsConfig>,
    pub shards: Vec<ShardConfig>,
    pub ui: UiConfig,
    pub actions: ActionsConfig,
    pub checksum: ChecksumConfig,
    /// `[keys] bind`: overrides of the default key bindings, in file order.
    pub keys: Vec<crate::keymap::UserBinding>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// Time between the starts of two sweeps.
    pub interval: Duration,
    /// Per-server limit for one poll; never longer than `interval`.
    pub timeout: Duration,
    /// Servers polled at once.
    pub concurrency: usize,
    /// How often a probe also asks who replicates from the server (processlist, replica hosts).
    pub discovery_interval: Duration,
}

/// Discovery (who replicates from this server) changes rarely: it rides
/// along with a probe at most this often, keeping the usual probe cheap.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            concurrency: 64,
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
        }
    }
}

/// Actions that write to servers (promotion, checksum): off unless enabled,
/// and done with their own admin account, never the monitoring one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsConfig {
    pub enabled: bool,
    /// JSON-lines audit trail of every step of every action.
    pub audit_log: PathBuf,
    /// The admin account (SUPER / READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, …).
    pub user: String,
    pub password: Option<Secret>,
    /// The account replicas use to connect to their new source after a promotion.
    pub replication_user: String,
    pub replication_password: Option<Secret>,
    /// How long a promotion waits for the candidate to apply everything.
    pub catchup_timeout: Duration,
    /// Run after a successful promotion (routing / dbconfig update), via `sh -c`.
    pub post_promote_hook: Option<String>,
    pub hook_timeout: Duration,
    /// Where per-shard lock files live, so two shardtops cannot act on one shard.
    pub lock_dir: PathBuf,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            enabled: false,
            audit_log: PathBuf::from("shardtop-audit.jsonl"),
            user: String::new(),
            password: None,
            replication_user: String::new(),
            replication_password: None,
            catchup_timeout: Duration::from_secs(10),
            post_promote_hook: None,
            hook_timeout: Duration::from_secs(30),
            lock_dir: std::env::temp_dir(),
        }
    }
}

/// The consistency check (pt-table-checksum compatible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumConfig {
    /// Result table, `db.table`, in pt-table-checksum's layout.
    pub table: String,
    /// Chunk size adapts so one chunk takes about this long on the master.
    pub chunk_time: Duration,
    /// Pause while any replica lags more than this.
    pub max_lag: Duration,
    /// Pause while the master runs more than this many threads.
    pub max_threads_running: u64,
}

impl Default for ChecksumConfig {
    fn default() -> Self {
        ChecksumConfig {
            table: "percona.checksums".into(),
            chunk_time: Duration::from_millis(500),
            max_lag: Duration::from_secs(1),
            max_threads_running: 25,
        }
    }
}

/// How to log in to every server (the monitoring account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnDefaults {
    pub user: String,
    pub password: Option<Secret>,
    /// Where the password came from, for messages: `env NAME`, `file PATH`,
    /// `~/.my.cnf` or `none`. Never the password itself.
    pub password_source: String,
    pub tls: TlsMode,
    /// CA bundle for `VerifyIdentity`; system roots when `None`.
    pub tls_ca: Option<PathBuf>,
}

impl Default for ConnDefaults {
    fn default() -> Self {
        ConnDefaults {
            user: String::new(),
            password: None,
            password_source: "none".into(),
            tls: TlsMode::Disabled,
            tls_ca: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsMode {
    #[default]
    Disabled,
    /// Encrypted, but the server certificate is not verified.
    Required,
    /// Encrypted and verified against `tls_ca` or the system roots, host name included.
    VerifyIdentity,
}

impl TlsMode {
    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Required => "required",
            TlsMode::VerifyIdentity => "verify_identity",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub lag_warn: Duration,
    pub lag_crit: Duration,
    pub feed_p99_warn: Duration,
    pub feed_p99_crit: Duration,
    /// Warn when a shard's QPS falls by at least this percentage (0 < x <= 100).
    pub qps_drop_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lag_warn: Duration::from_secs(10),
            lag_crit: Duration::from_secs(60),
            feed_p99_warn: Duration::from_millis(50),
            feed_p99_crit: Duration::from_millis(100),
            qps_drop_percent: 50.0,
        }
    }
}

/// A pt-heartbeat-compatible table, for true lag (Seconds_Behind_Master lies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// `db.table`, both parts checked to be plain identifiers, so safe to splice into SQL.
    pub table: String,
    /// Timestamps are written in UTC (pt-heartbeat `--utc`).
    pub utc: bool,
    /// Run shardtop's own writer on each master; off so a monitor never writes unless asked.
    pub write: bool,
    pub interval: Duration,
}

impl HeartbeatConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
}

/// The fan-out feed probe: the same read on every shard, per round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// A SELECT with at most one `?`, bound to the sampled user id.
    pub query: String,
    /// The default database of the probe's connections, for unqualified table names.
    pub database: Option<String>,
    pub sample: UserSample,
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// Per server and round; never longer than `interval`.
    pub timeout: Duration,
    pub targets: FeedTargets,
    /// How far back the percentiles look.
    pub window: Duration,
}

impl FeedConfig {
    /// The feed read of SPEC.md: a user's friends' latest photos.
    pub const DEFAULT_QUERY: &str = "SELECT p.id FROM photos p JOIN followers f ON f.friend_id = p.user_id \
                                     WHERE f.user_id = ? ORDER BY p.id DESC LIMIT 10";
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    pub const DEFAULT_RANGE: (u64, u64) = (1, 1000);
}

/// Which user ids the probe asks for, in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSample {
    Ids(Vec<u64>),
    /// Inclusive.
    Range(u64, u64),
}

impl UserSample {
    /// The id for round `n`: ids in turn, or a walk over the range that
    /// visits every id before repeating (a stride coprime with its length).
    pub fn pick(&self, n: u64) -> u64 {
        match self {
            UserSample::Ids(ids) => ids.get((n % ids.len().max(1) as u64) as usize).copied().unwrap_or(0),
            UserSample::Range(lo, hi) => {
                let span = hi.saturating_sub(*lo).saturating_add(1);
                let mut stride = (span / 2 + 1).max(1) | 1;
                while gcd(stride, span) != 1 {
                    stride += 2;
                }
                lo + ((n % span) as u128 * stride as u128 % span as u128) as u64
            }
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeedTargets {
    /// Each shard's master.
    #[default]
    Master,
    /// Each shard's replicas in turn (the master when it has none listed).
    Replicas,
}

/// A Prometheus or Graphite server to read shard figures from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// For messages and the UI; default "KIND HOST:PORT".
    pub name: String,
    pub kind: MetricsKind,
    /// Base URL, e.g. `http://prometheus:9090` (no credentials in it).
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Prometheus: the label whose value is the shard's name.
    pub shard_label: String,
    /// Graphite: the dot-separated node of a target that is the shard's name
    /// (0-based); `None`: any node equal to a shard name.
    pub shard_node: Option<usize>,
    /// Queries (PromQL, or Graphite targets) giving one value per shard; `None`: not read here.
    pub qps: Option<String>,
    pub lag: Option<String>,
    pub feed_p99: Option<String>,
}

impl MetricsConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_SHARD_LABEL: &str = "shard";

    /// mysqld_exporter's names, summed (QPS) or maxed (lag) per shard.
    pub fn default_prometheus_qps(label: &str) -> String {
        format!("sum by ({label}) (rate(mysql_global_status_questions[1m]))")
    }

    /// Heartbeat lag when the exporter collects it (`--collect.heartbeat`), else Seconds_Behind_Master/_Source.
    pub fn default_prometheus_lag(label: &str) -> String {
        format!(
            "max by ({label}) (mysql_heartbeat_now_timestamp_seconds - mysql_heartbeat_stored_timestamp_seconds) \
             or max by ({label}) (mysql_slave_status_seconds_behind_master) \
             or max by ({label}) (mysql_slave_status_seconds_behind_source)"
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsKind {
    Prometheus,
    Graphite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardConfig {
    pub name: String,
    pub master: Addr,
    /// Empty means: discover them from the master.
    pub replicas: Vec<Addr>,
    /// The global master this shard's master replicates from, if any.
    pub upstream: Option<Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    pub theme: String,
    /// Time each view stays up in kiosk mode.
    pub kiosk_rotate: Duration,
    /// Upper bound on redraws per second (SSH-friendly).
    pub fps: u32,
    /// Capture the mouse (click selects, wheel scrolls); off keeps the terminal's own text selection.
    pub mouse: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { theme: "default".into(), kiosk_rotate: Duration::from_secs(15), fps: 10, mouse: false }
    }
}

/// A valid configuration plus the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

/// Reads, parses and validates `path`, and resolves the password.
/// Relative paths inside the file (`password_file`, `tls_ca`) are taken
/// relative to the file's directory, so the config works from any cwd.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &SystemEnv)
}

/// [`load`] with the environment supplied, for tests.
pub fn load_with(path: &Path, env: &dyn Env) -> Result<Loaded, ConfigError> {
    let label = path.display().to_string();
    let text = env.read_file(path).map_err(|e| {
        let hint = (e.kind() == std::io::ErrorKind::NotFound)
            .then(|| "copy config.example.toml there, or pass --config PATH".to_string());
        ConfigError::from(Problem::new(
            Severity::Error,
            &label,
            None,
            format!("cannot read the config file: {e}"),
            hint,
        ))
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut loaded = validate::run(&text, &label, base, env)?;
    loaded.config.source = Some(path.to_path_buf());
    Ok(loaded)
}

/// The testable core: parses and validates `text`, naming `file_label` in
/// problems. Relative paths in it are relative to the current directory.
pub fn parse(text: &str, file_label: &str, env: &dyn Env) -> Result<Loaded, ConfigError> {
    validate::run(text, file_label, None, env)
}

/// Key bindings from a keymap file (`[keys] bind = [...]`, as in the config),
/// with the warnings found. A missing file is no bindings.
pub fn load_keymap(path: &Path) -> Result<(Vec<crate::keymap::UserBinding>, Vec<Problem>), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => {
            let label = path.display().to_string();
            return Err(
                Problem::new(Severity::Error, &label, None, format!("cannot read the keymap: {e}"), None).into()
            );
        }
    };
    validate::run_keymap(&text, &path.display().to_string(), &SystemEnv)
}

/// `~/.config/shardtop/keymap.toml`, read by the TUI before the config's own `[keys]`.
pub fn keymap_path() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".config").join("shardtop").join("keymap.toml"))
}

/// `./shardtop.toml` if it exists, else `~/.config/shardtop/config.toml` if it exists.
pub fn default_path() -> Option<PathBuf> {
    default_path_in(Path::new("."), dirs::home_dir().as_deref())
}

fn default_path_in(cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    if cwd.join("shardtop.toml").is_file() {
        // Relative, so messages read `shardtop.toml:12:5`.
        return Some(if cwd == Path::new(".") { PathBuf::from("shardtop.toml") } else { cwd.join("shardtop.toml") });
    }
    let user = home?.join(".config").join("shardtop").join("config.toml");
    user.is_file().then_some(user)
}
