//! `shardtop --connect URL`: the TUI over a `serve` collector's stream, with no database
//! account on this machine. Each shard shows the health its collector judged, its worst lag,
//! QPS and feed p99, and its servers (role, threads, source, lag, read_only); the collector's
//! events fill the events pane. Actions run on the collector (`POST /api/v1/actions`) when it
//! says this viewer's token may act (`GET /api/v1/access`): the same dialogs as the local TUI,
//! planned and run there (`serve::remote_runner`). Otherwise an action key says why not.

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
    let access = remote.access().await.map_err(|e| CommandError::new(1, e.to_string()))?;
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
    // Nothing to act on from here unless the collector lets this token act.
    options.read_only |= !access.may_act;
    let profile = crate::ui::profile::configure(
        &mut app,
        &options,
        &config::UiConfig::default(),
        &[],
        &ThemeLoader::system(),
        keymap.as_deref(),
    )
    .map_err(|e| CommandError::new(1, e.to_string()))?;
    let grant = crate::ui::remote_action::Grant {
        identity: access.identity.clone(),
        may_act: access.may_act,
        why_not: access.why_not.clone(),
    };
    crate::ui::remote_action::configure(&mut app, remote.name(), &grant);
    init_event_log();
    log::info!(target: "fleet", "viewing {} shards from the collector at {}", first.len(), remote.name());
    match (&access.identity, access.may_act) {
        (Some(who), true) => log::info!(target: "actions", "actions run on the collector, audited as {who}"),
        _ => log::info!(
            target: "actions",
            "actions unavailable: {}",
            access.why_not.as_deref().unwrap_or("the collector does not allow them")
        ),
    }
    let runner: std::sync::Arc<dyn crate::ui::action::ActionRunner> =
        std::sync::Arc::new(crate::serve::remote_runner::RemoteRunner { remote: remote.clone() });
    let (tx, rx) = mpsc::channel::<Message>(256);
    let reader = tokio::spawn(viewer::run(remote, first, events, tx));
    let session = crate::ui::Session { runner: Some(runner), ..crate::ui::Session::default() };
    let result = crate::ui::run(app, rx, profile, session).await;
    reader.abort();
    result.map_err(|e| CommandError::new(1, format!("terminal: {e}")))?;
    Ok(0)
}
