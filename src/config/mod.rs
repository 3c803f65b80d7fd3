//! Configuration: the TOML schema, its defaults, and validation that reports
//! every problem with file, line, column and a hint.
//!
//! Two stages: serde fills loosely typed raw structs that keep each value's
//! span (`schema`, `sections/`), then `validate` turns them into [`Config`],
//! each section checked in its own file under `sections/`. The raw stage
//! stops at the first TOML or type error (serde cannot go on), but the
//! validation stage collects every problem, so `check-config` shows them all
//! in one run instead of one per edit.

mod duration;
mod env;
mod mycnf;
mod password;
mod problem;
mod schema;
mod sections;
mod validate;

#[cfg(test)]
pub(crate) mod fuzz_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use duration::{DurationError, format_duration, parse_duration};
pub use env::{Env, SystemEnv};
pub use problem::{ConfigError, Problem, Severity};
pub use sections::actions::ActionsConfig;
pub use sections::alerts::{AlertsConfig, WebhookConfig};
pub use sections::checksum::ChecksumConfig;
pub use sections::defaults::{ConnDefaults, TlsMode};
pub use sections::feed::{FeedConfig, FeedTargets, UserSample};
pub use sections::heartbeat::HeartbeatConfig;
pub use sections::kiosk::{KioskConfig, KioskView};
pub use sections::markers::MarkerSourceConfig;
pub use sections::metrics::{MetricsConfig, MetricsKind};
pub use sections::panel::{PanelConfig, Reduce};
pub use sections::poll::{DEFAULT_DISCOVERY_INTERVAL, PollConfig};
pub use sections::record::RecordConfig;
pub use sections::shard::ShardConfig;
pub use sections::thresholds::Thresholds;
pub use sections::ui::UiConfig;

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
    /// Application panels on the wall (`[[panel]]`), in file order.
    pub panels: Vec<PanelConfig>,
    /// Where deploy markers come from besides `shardtop mark` (`[[markers]]`).
    pub markers: Vec<MarkerSourceConfig>,
    pub shards: Vec<ShardConfig>,
    pub ui: UiConfig,
    pub kiosk: KioskConfig,
    pub actions: ActionsConfig,
    pub checksum: ChecksumConfig,
    /// `[keys] bind`: overrides of the default key bindings, in file order.
    pub keys: Vec<crate::keymap::UserBinding>,
    /// Alerts to Alertmanager and webhooks; off without an `[alerts]` section.
    pub alerts: Option<AlertsConfig>,
    /// `[record]`: the fleet history's file and retention.
    pub record: RecordConfig,
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
