//! What each subcommand does, wired from the parts in the library: one file per subcommand,
//! with what they share (the error type, loading the config, the event log) here.

mod action_runner;
mod bench;
mod check_config;
mod checksum;
mod completions;
mod connect;
mod demo;
mod demo_replay;
mod discovery;
mod failover;
mod heartbeat;
mod man;
mod mark;
mod polling;
mod promote;
mod record;
mod rejoin;
mod replay;
mod replay_tui;
mod serve;
mod sim;
mod snapshot;
mod tui;
mod watch;
mod webhook_receiver;

pub use action_runner::{checksum_parts, failover_parts, promote_parts, with_new_master};
pub use bench::{RecordBench, bench, bench_record, bench_terminal, bench_wire};
pub use check_config::check_config;
pub use checksum::checksum;
pub use completions::completions;
pub use connect::connect;
pub use demo::demo;
pub use demo_replay::demo_replay;
pub use discovery::shard_replicas;
pub use failover::failover;
pub use heartbeat::heartbeat;
pub use man::man;
pub use mark::mark;
pub use promote::promote;
pub use record::record;
pub use rejoin::{fence, rejoin};
pub use replay::replay;
pub use serve::serve;
pub use sim::sim;
pub use snapshot::snapshot;
pub use tui::tui;
pub use watch::watch;
pub use webhook_receiver::webhook_receiver;

use crate::cli::Cli;
use crate::config;

/// An action's audit log from the command line. With `[alerts]` configured (and its `actions`),
/// the run's outcome is notified when the log closes, and `finish` waits for the delivery.
pub(crate) struct AuditedRun {
    pub(crate) log: crate::actions::audit::AuditLog,
    alerts: Option<crate::alerts::Alerts>,
}

/// How long an action command waits, after its run, for its outcome to be delivered (retries
/// included); then one last attempt, and the dead-letter file.
const OUTCOME_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl AuditedRun {
    /// `path`: `None` for a dry run, which writes and notifies nothing.
    pub(crate) fn open(cfg: &config::Config, path: Option<&std::path::Path>) -> std::io::Result<AuditedRun> {
        let mut log = crate::actions::audit::AuditLog::open(path)?;
        let alerts = cfg.alerts.as_ref().filter(|a| a.actions && path.is_some()).map(crate::alerts::Alerts::start);
        if let Some(o) = alerts.as_ref().and_then(crate::alerts::Alerts::outbox) {
            log = log.observed(o.observer());
        }
        Ok(AuditedRun { log, alerts })
    }

    /// Close the log (its outcome goes out) and wait for the delivery.
    pub(crate) async fn finish(self) {
        let AuditedRun { log, alerts } = self;
        drop(log);
        if let Some(a) = alerts {
            a.shutdown(OUTCOME_GRACE).await;
        }
    }
}

/// A failed command: what to print and which exit code to return.
#[derive(Debug)]
pub struct CommandError {
    pub message: String,
    pub code: u8,
}

impl CommandError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CommandError { message: message.into(), code }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type CmdResult = Result<u8, CommandError>;

/// Where the TUI's event log is also written, line by line, when set (a wall display's history,
/// or what a remote viewer's stream reader said: lost, each reconnection attempt, back, re-laid out).
pub const LOG_FILE_ENV: &str = "SHARDTOP_LOG_FILE";

fn init_event_log() {
    // A second init (tests, re-entry) is harmless: the first logger stays.
    let _ = tui_logger::init_logger(log::LevelFilter::Info);
    tui_logger::set_default_level(log::LevelFilter::Info);
    let Some(path) = std::env::var_os(LOG_FILE_ENV).filter(|p| !p.is_empty()) else { return };
    let path = std::path::PathBuf::from(path);
    // Opened here first: tui-logger's own open panics on an error.
    let opened = std::fs::OpenOptions::new().create(true).append(true).open(&path);
    match (opened, path.to_str()) {
        (Ok(_), Some(name)) => tui_logger::set_log_file(
            tui_logger::TuiLoggerFile::new(name)
                .output_file(false)
                .output_line(false)
                .output_timestamp(Some("%Y-%m-%dT%H:%M:%S%z".into())),
        ),
        (Ok(_), None) => {
            log::warn!(target: "shardtop", "${LOG_FILE_ENV}: not UTF-8: the event log is not written to a file")
        }
        (Err(e), _) => {
            log::warn!(target: "shardtop", "${LOG_FILE_ENV} {}: {e}: the event log is not written there", path.display())
        }
    }
}

/// Load the config named by `--config`, or the default one. Errors carry `code`.
fn load_config(cli: &Cli, code: u8) -> Result<config::Loaded, CommandError> {
    let path = match &cli.config.path {
        Some(p) => p.clone(),
        None => config::default_path().ok_or_else(|| {
            CommandError::new(
                code,
                "no config file: pass --config PATH, or create ./shardtop.toml or ~/.config/shardtop/config.toml \
                 (see config.example.toml); `shardtop demo` runs without one",
            )
        })?,
    };
    config::load(&path).map_err(|e| CommandError::new(code, e.to_string().trim_end().to_string()))
}

/// The command line's say over the TUI's terminal (theme, colour, kiosk…), for `ui::profile`.
fn terminal_options(cli: &Cli) -> crate::ui::profile::TerminalOptions {
    use crate::cli::ColorChoice;
    use crate::ui::color::ColorDepth;
    crate::ui::profile::TerminalOptions {
        theme: cli.terminal.theme.clone(),
        color: match cli.terminal.color {
            ColorChoice::Auto => None,
            ColorChoice::Never => Some(ColorDepth::None),
            ColorChoice::Ansi16 => Some(ColorDepth::Ansi16),
            ColorChoice::Ansi256 => Some(ColorDepth::Ansi256),
            ColorChoice::Truecolor => Some(ColorDepth::TrueColor),
        },
        fps: cli.terminal.fps,
        kiosk: cli.terminal.kiosk,
        read_only: cli.read_only.on,
        mouse: cli.terminal.mouse,
        ascii: cli.terminal.ascii,
    }
}

/// `[[metrics]]` clients, or the command's UNKNOWN (3): a source that cannot even be set up.
fn metrics_clients(
    cfg: &config::Config,
) -> Result<Vec<(crate::metrics::MetricsClient, std::time::Duration)>, CommandError> {
    crate::setup::metrics_clients(cfg).map_err(|e| CommandError::new(3, e.to_string()))
}
