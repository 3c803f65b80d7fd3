//! `shardtop demo`: the TUI on a simulated fleet with scripted incidents; no server needed.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{CmdResult, CommandError, init_event_log, load_config, terminal_options};
use crate::cli::Cli;
use crate::config;
use crate::fleet::{Fleet, Limits};
use crate::poll::{Poller, Schedule};
use crate::sim::SimFleet;
use crate::ui::app::{App, Message};
use crate::ui::theme::{Theme, ThemeLoader};

/// The demo's feed probe runs four rounds a second, so its percentiles move visibly.
const DEMO_FEED_INTERVAL: Duration = Duration::from_millis(250);

pub async fn demo(cli: &Cli, shards: u16, replicas: u16) -> CmdResult {
    let sim = SimFleet { shards: shards.into(), replicas: replicas.into(), ..SimFleet::default() };
    let interval = Duration::from_secs(1);
    let fleet = Fleet::new(sim.layout(), Limits::default());
    let mut app = App::new(fleet, Theme::plain(), "demo", interval);
    let keymap = config::keymap_path();
    let (ui, keys, config_note) = demo_ui_config(cli)?;
    let profile = crate::ui::profile::configure(
        &mut app,
        &terminal_options(cli),
        &ui,
        &keys,
        &ThemeLoader::system(),
        keymap.as_deref(),
    )
    .map_err(|e| CommandError::new(1, e.to_string()))?;
    app.feed_interval = DEMO_FEED_INTERVAL;
    let (tx, rx) = mpsc::channel::<Message>(4096);
    // Beyond the scripted eight shards, incidents hit a share of the fleet at once (sim::scale).
    let probes = crate::sim::scale::probes(&sim);
    let _poller = Poller::spawn(probes, Schedule { interval, concurrency: 256 }, tx.clone());
    let feed_task = tokio::spawn(sim.clone().run_feed(DEMO_FEED_INTERVAL, tx));
    init_event_log();
    log::info!(target: "fleet", "demo: {} simulated shards; incidents repeat every {}s", shards, crate::sim::CYCLE_SECS);
    if usize::from(shards) > crate::sim::scale::SCRIPTED {
        use crate::keymap::Action;
        let key = |a| app.keymap.first_key(a).unwrap_or_else(|| "?".into());
        let (only, next) = (key(Action::ProblemsOnly), key(Action::NextProblem));
        log::info!(target: "fleet", "demo: outages hit many shards at once ({only}: problems only, {next}: next)");
    }
    for w in config_note.iter().chain(&profile.warnings) {
        log::warn!(target: "config", "{w}");
    }
    // The simulated fleet is whole from the start: nothing for discovery to add.
    let result = crate::ui::run(app, rx, profile, None, None, crate::ui::tape::Tape::off()).await;
    feed_task.abort();
    result.map_err(|e| CommandError::new(3, format!("terminal: {e}")))?;
    Ok(0)
}

/// The demo looks like the user's own dashboard: the `[ui]` and `[keys]` of the config named by
/// `--config` (an error there is an error), or of the default config when it loads (when it does
/// not, the demo runs with defaults and says why in the event log: it needs no servers or
/// passwords, so it must not fail for want of them).
fn demo_ui_config(
    cli: &Cli,
) -> Result<(config::UiConfig, Vec<crate::keymap::UserBinding>, Option<String>), CommandError> {
    if cli.config.path.is_some() {
        let cfg = load_config(cli, 1)?.config;
        return Ok((cfg.ui, cfg.keys, None));
    }
    let Some(path) = config::default_path() else { return Ok(Default::default()) };
    match config::load(&path) {
        Ok(loaded) => Ok((loaded.config.ui, loaded.config.keys, None)),
        Err(e) => {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            let note = format!("{}: not used by the demo (ui defaults instead): {first}", path.display());
            Ok((config::UiConfig::default(), Vec::new(), Some(note)))
        }
    }
}
