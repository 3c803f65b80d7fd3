//! `shardtop` with no subcommand: the TUI over the configured fleet, with its pollers, the
//! discovery hand-off, the heartbeat writer, the feed probe, the metrics sources and the actions.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::action_runner::{ConfigRunner, SessionConfig};
use super::heartbeat::write_loop;
use super::polling::{Polling, chart_backfill};
use super::{CmdResult, CommandError, init_event_log, load_config, terminal_options};
use crate::cli::Cli;
use crate::config;
use crate::probe::HeartbeatSpec;
use crate::ui::app::{App, Message};
use crate::ui::theme::{Theme, ThemeLoader};

pub async fn tui(cli: &Cli) -> CmdResult {
    let loaded = load_config(cli, 1)?;
    let cfg = loaded.config;
    let polling = Polling::new(&cfg)?;
    let (opts, metrics_only, servers, sources) =
        (polling.opts.clone(), polling.metrics_only, polling.probes.len(), polling.clients.len());
    // Everything for the UI (poll results, feed rounds, metrics polls) arrives as one message type.
    let (tx, rx) = mpsc::channel::<Message>(4096);
    let (fleet, sources_to_run, poller) = polling.start(&tx)?;
    // The file name only: the header has 80 columns to share.
    let source = cfg
        .source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut app = App::new(fleet, Theme::plain(), source, cfg.poll.interval);
    app.actions_configured = cfg.actions.enabled;
    let keymap = config::keymap_path();
    let profile = crate::ui::profile::configure(
        &mut app,
        &terminal_options(cli),
        &cfg.ui,
        &cfg.keys,
        &ThemeLoader::system(),
        keymap.as_deref(),
    )
    .map_err(|e| CommandError::new(1, e.to_string()))?;
    if let Some(f) = &cfg.feed {
        app.feed_interval = f.interval;
    }
    crate::ui::kiosk::set_playlist(&mut app, &cfg.kiosk.views);
    app.panels = cfg.panels.iter().cloned().map(crate::ui::panels::Panel::new).collect();
    init_event_log();
    let tape = super::record::tui_tape(cli, &cfg, &app)?;
    for w in loaded.warnings.iter().map(ToString::to_string).chain(profile.warnings.iter().cloned()) {
        log::warn!(target: "config", "{w}");
    }
    if metrics_only {
        log::info!(target: "fleet", "metrics-only: no database account, figures from {sources} metrics source(s)");
    } else {
        log::info!(target: "fleet", "polling {servers} servers every {}", config::format_duration(cfg.poll.interval));
    }
    let poller = Box::new(poller);
    let session: SessionConfig = Arc::new(tokio::sync::watch::channel(Arc::new(cfg.clone())).0);
    // The built-in heartbeat writer runs only when the config asks for it.
    let mut writers = tokio::task::JoinSet::new();
    if let Some(hb) = cfg.heartbeat.as_ref().filter(|h| h.write) {
        let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
        for (i, s) in cfg.shards.iter().enumerate() {
            let roles = session.subscribe();
            let (name, configured) = (s.name.clone(), s.master.clone());
            // By index: a promotion changes a shard's master, never the shards' order. Every writer
            // asks every second, so no search through a thousand shards each time.
            let master = move || {
                let cfg = roles.borrow();
                cfg.shards.get(i).filter(|x| x.name == name).map_or_else(|| configured.clone(), |x| x.master.clone())
            };
            writers.spawn(write_loop(master, opts.clone(), spec.clone(), hb.interval, false));
        }
        log::info!(target: "fleet", "writing heartbeats to {} on {} masters", hb.table, cfg.shards.len());
    }
    if let Some((_, interval)) = &sources_to_run.feed {
        log::info!(target: "fleet", "feed probe every {} on {} shards", config::format_duration(*interval), cfg.shards.len());
    }
    for (client, interval) in &sources_to_run.clients {
        log::info!(target: "fleet", "reading {} every {}", client.config().name, config::format_duration(*interval));
    }
    // Charts start filled: QPS one point per poll interval, as the poller would have drawn it.
    sources_to_run.spawn(&mut writers, &tx, Some(session.subscribe()), chart_backfill(&cfg));
    if !cfg.panels.is_empty() {
        log::info!(target: "fleet", "{} application panel(s) on the wall", cfg.panels.len());
        writers.spawn(crate::metrics::panel::run(cfg.panels.clone(), tx.clone()));
    }
    if !cfg.markers.is_empty() {
        writers.spawn(crate::metrics::markers::run(cfg.markers.clone(), tx.clone()));
    }
    // The wall's tiles compare with the same time yesterday where the fleet is recorded.
    let recording = super::record::recording_path(cli.record.as_ref(), Some(&cfg));
    writers.spawn(crate::ui::yesterday::run(recording, tx.clone()));
    drop(tx);
    let mut alerts = cfg.alerts.as_ref().map(|a| {
        let sinks = a.alertmanager.len() + a.webhooks.len();
        log::info!(target: "alerts", "alerts to {sinks} sink(s), firing after {}", config::format_duration(a.for_));
        AlertsObserver(crate::alerts::Alerts::start(a))
    });
    let outcomes = alerts.as_ref().and_then(|a| a.0.outbox());
    let runner: Arc<dyn crate::ui::action::ActionRunner> = Arc::new(ConfigRunner { cfg: session, outcomes, by: None });
    let observer = alerts.as_mut().map(|a| a as &mut dyn crate::ui::FleetObserver);
    let result = crate::ui::run(
        app,
        rx,
        profile,
        crate::ui::Session { runner: Some(runner), poller: Some(poller), observer, tape },
    )
    .await;
    if let Some(a) = alerts {
        // What the sinks still hold gets a moment to go out; the terminal is already restored.
        a.0.shutdown(ALERTS_GRACE).await;
    }
    result.map_err(|e| CommandError::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

/// How long quitting waits for undelivered notifications.
const ALERTS_GRACE: Duration = Duration::from_secs(3);

/// The alerts engine, evaluated on the TUI loop's clock.
struct AlertsObserver(crate::alerts::Alerts);

impl crate::ui::FleetObserver for AlertsObserver {
    fn observe(&mut self, fleet: &crate::fleet::Fleet, now: chrono::DateTime<chrono::Utc>) {
        self.0.observe(fleet, now);
    }
}
