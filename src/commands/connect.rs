//! `shardtop --connect URL`: the TUI over a `serve` collector's stream, with no database
//! account on this machine. Each shard shows the health its collector judged, its worst lag,
//! QPS and feed p99; the collector's events fill the events pane. Read-only: actions run on the
//! collector (`POST /api/v1/actions`), not from this TUI, which says so when an action key is pressed.

use std::path::Path;

use tokio::sync::mpsc;

use super::{CmdResult, CommandError, init_event_log, terminal_options};
use crate::cli::Cli;
use crate::config;
use crate::fleet::external::SourceState;
use crate::fleet::{Fleet, Limits, Shard, Source};
use crate::serve::viewer::{self, Remote};
use crate::ui::app::{App, Message};
use crate::ui::theme::{Theme, ThemeLoader};

/// Where a viewer's token comes from when no file is named.
pub const TOKEN_ENV: &str = "SHARDTOP_CONNECT_TOKEN";

pub async fn connect(cli: &Cli, url: &str, token_file: Option<&Path>, ca: Option<&Path>) -> CmdResult {
    let token = match token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| CommandError::new(1, format!("--connect-token-file {}: {e}", p.display())))?
                .trim()
                .to_string(),
        ),
        None => std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
    };
    let remote = Remote::new(url, token, ca).map_err(|e| CommandError::new(1, e.to_string()))?;
    let (first, events) = remote.first().await.map_err(|e| CommandError::new(1, e.to_string()))?;
    let shards: Vec<Shard> =
        viewer::layout(&first).into_iter().map(|(name, master)| Shard::new(name, master, [], None)).collect();
    let mut fleet = Fleet::new(shards, Limits::default());
    fleet.sources = vec![SourceState::new(remote.name(), Source::Collector)];
    let fleet = fleet.metrics_only();
    // Frames come each sweep that changed something, else a keep-alive: data older than three
    // keep-alives is stale (`App::stale_after`).
    let mut app = App::new(fleet, Theme::plain(), remote.name(), crate::serve::http::KEEP_ALIVE);
    let keymap = config::keymap_path();
    let mut options = terminal_options(cli);
    // Nothing to act on from here: the servers are the collector's.
    options.read_only = true;
    let profile = crate::ui::profile::configure(
        &mut app,
        &options,
        &config::UiConfig::default(),
        &[],
        &ThemeLoader::system(),
        keymap.as_deref(),
    )
    .map_err(|e| CommandError::new(1, e.to_string()))?;
    app.actions_elsewhere = Some(format!(
        "remote viewer: actions are not available in this TUI; they run on the collector: POST {}/api/v1/actions \
         with a token that may act (docs/serve.md)",
        url.trim_end_matches('/')
    ));
    init_event_log();
    log::info!(target: "fleet", "viewing {} shards from the collector at {}", first.len(), remote.name());
    let (tx, rx) = mpsc::channel::<Message>(256);
    let reader = tokio::spawn(viewer::run(remote, first, events, tx));
    let result = crate::ui::run(app, rx, profile, crate::ui::Session::default()).await;
    reader.abort();
    result.map_err(|e| CommandError::new(1, format!("terminal: {e}")))?;
    Ok(0)
}
