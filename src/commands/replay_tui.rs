//! `shardtop replay PATH [--at TIME]` in the terminal: the TUI, read-only, fed from the recording.

use super::{CmdResult, CommandError, terminal_options};
use crate::cli::Cli;
use crate::record::Recording;
use crate::ui::replay::{Bar, Replay};
use crate::ui::theme::{Theme, ThemeLoader};

pub async fn run(cli: &Cli, at: Option<&str>, speed: u32, rec: Recording, span: (i64, i64)) -> CmdResult {
    let at = match at {
        Some(t) => crate::record::time::parse(t, span).map_err(|e| CommandError::new(1, format!("--at: {e}")))?,
        None => span.0,
    }
    .clamp(span.0, span.1);
    let mut r = Replay::at(&rec, at, Theme::plain()).map_err(|e| CommandError::new(1, e.to_string()))?;
    let events = rec.events(i64::MIN, i64::MAX).map_err(|e| CommandError::new(1, e.to_string()))?;
    // The look of the user's dashboard: [ui]/[keys] of --config when given, defaults otherwise.
    let cfg = match &cli.config.path {
        Some(_) => Some(super::load_config(cli, 1)?.config),
        None => None,
    };
    let (ui, keys) = cfg.map(|c| (c.ui, c.keys)).unwrap_or_default();
    let keymap = crate::config::keymap_path();
    let profile = crate::ui::profile::configure(
        &mut r.app,
        &terminal_options(cli),
        &ui,
        &keys,
        &ThemeLoader::system(),
        keymap.as_deref(),
    )
    .map_err(|e| CommandError::new(1, e.to_string()))?;
    // Never an action from a replay, whatever the config says.
    r.app.read_only = true;
    r.app.actions_configured = false;
    r.app.replay = Some(Bar {
        start_ms: span.0,
        end_ms: span.1,
        at_ms: r.at_ms,
        speed,
        playing: false,
        events,
        prompt: None,
        note: None,
        travel: false,
    });
    if let Some(bar) = r.app.replay.as_ref() {
        // The deploy markers recorded (`shardtop mark`) on the wall's charts.
        let markers = bar.markers();
        r.app.update(crate::ui::app::Message::Markers(markers));
    }
    crate::ui::replay_run::run(r, rec, profile).await.map_err(|e| CommandError::new(1, format!("terminal: {e}")))?;
    Ok(0)
}
