//! What each subcommand does, wired from the parts in the library.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::{Cli, ColorChoice};
use crate::fleet::{Fleet, Limits};
use crate::poll::{Poller, Schedule};
use crate::sim::SimFleet;
use crate::ui::app::App;
use crate::ui::theme::Theme;

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

/// Colour is on unless `--color never` or `NO_COLOR` (any non-empty value) says otherwise.
pub fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        _ => true,
    }
}

fn init_event_log() {
    // A second init (tests, re-entry) is harmless: the first logger stays.
    let _ = tui_logger::init_logger(log::LevelFilter::Info);
    tui_logger::set_default_level(log::LevelFilter::Info);
}

pub async fn demo(cli: &Cli, shards: u16, replicas: u16) -> CmdResult {
    let sim = SimFleet { shards: shards.into(), replicas: replicas.into(), ..SimFleet::default() };
    let interval = Duration::from_secs(1);
    let fleet = Fleet::new(sim.layout(), Limits::default());
    let app = App::new(fleet, Theme::default_theme(color_enabled(cli.color)), "demo", interval);
    let (tx, rx) = mpsc::channel(4096);
    let _poller = Poller::spawn(sim.probes(), Schedule { interval, concurrency: 256 }, tx);
    init_event_log();
    log::info!(target: "fleet", "demo: {} simulated shards; incidents repeat every {}s", shards, crate::sim::CYCLE_SECS);
    crate::ui::run(app, rx, cli.fps.unwrap_or(10))
        .await
        .map_err(|e| CommandError::new(3, format!("terminal: {e}")))?;
    Ok(0)
}

pub async fn tui(_cli: &Cli) -> CmdResult {
    Err(CommandError::new(3, "the live TUI needs a config; not wired yet"))
}

pub async fn snapshot(_cli: &Cli, _format: crate::cli::Format, _window: Duration) -> CmdResult {
    Err(CommandError::new(3, "not wired yet"))
}

pub async fn check_config(_cli: &Cli, _offline: bool) -> CmdResult {
    Err(CommandError::new(3, "not wired yet"))
}

pub async fn heartbeat(_cli: &Cli, _shards: &[String]) -> CmdResult {
    Err(CommandError::new(3, "not wired yet"))
}
