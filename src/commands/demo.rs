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
    app.panels = demo_panels().into_iter().map(crate::ui::panels::Panel::new).collect();
    let (tx, rx) = mpsc::channel::<Message>(4096);
    // Beyond the scripted eight shards, incidents hit a share of the fleet at once (sim::scale).
    let probes = crate::sim::scale::probes(&sim);
    let _poller = Poller::spawn(probes, Schedule { interval, concurrency: 256 }, tx.clone());
    // The wall's charts start with an hour behind them, as if the demo had been running.
    let history_tx = tx.clone();
    let history_sim = sim.clone();
    let now = chrono::Utc::now();
    tokio::task::spawn_blocking(move || {
        let points = wall_history(&history_sim, now);
        let _ = history_tx.blocking_send(Message::WallHistory(points));
    });
    let panels_task = tokio::spawn(run_demo_panels(now, tx.clone()));
    // The channel is empty yet: this cannot be refused.
    let _ = tx.try_send(Message::SourceMarkers(demo_marker(now)));
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
    // The session's history in memory, for time travel (`T`).
    let layout = crate::record::wire::Layout::of(
        &app.fleet,
        "demo",
        interval,
        Some((DEMO_FEED_INTERVAL, Duration::from_secs(60))),
    );
    let tape = crate::ui::tape::Tape::history(&layout, None, chrono::Utc::now());
    // The simulated fleet is whole from the start: nothing for discovery to add.
    let result = crate::ui::run(app, rx, profile, crate::ui::Session { tape, ..Default::default() }).await;
    feed_task.abort();
    panels_task.abort();
    result.map_err(|e| CommandError::new(3, format!("terminal: {e}")))?;
    Ok(0)
}

/// The last hour before `now` as the simulated fleet would have drawn it on the wall: its script
/// played from the start of a cycle through an hour (the live demo then starts a cycle again),
/// sampled every 10 s (every minute above 100 shards, to stay under a second or so), in a fleet
/// of its own so nothing of it reaches the live model but the wall's points.
pub fn wall_history(sim: &SimFleet, now: chrono::DateTime<chrono::Utc>) -> Vec<crate::ui::wall::Point> {
    use crate::fleet::status::Sample;
    const HOUR: i64 = 3600;
    let step = if sim.shards > 100 { 60 } else { crate::ui::wall::BUCKET_SECS };
    let mut fleet = Fleet::new(sim.layout(), Limits::default());
    let mut points = Vec::new();
    for k in 0..=HOUR / step {
        let t = (k * step) as f64;
        let at = now - chrono::Duration::seconds(HOUR - k * step);
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                let sample = Sample {
                    at,
                    elapsed: Duration::from_millis(2),
                    result: crate::sim::scale::status_at(sim, s, i, t),
                };
                fleet.apply(s, i, sample);
            }
        }
        // A feed round at each point, so the fan-out's p99 has samples from then (a round costs
        // most of the time here: one each keeps the hour under a second in a release build).
        let mut round = sim.feed_round(t, k as u64);
        round.at = at;
        fleet.apply_feed(&round);
        // The first sweep has no rates yet (they come from counter deltas).
        if k > 0 {
            points.push(crate::ui::wall::Point::of(at, &fleet));
        }
    }
    points.pop(); // `now` itself is the live demo's
    points
}

/// The demo's application panels, as a shop's `[[panel]]`s would read its statsd counters from
/// Graphite. Simulated: their figures come from [`demo_panel_value`], never from a server.
fn demo_panels() -> Vec<config::PanelConfig> {
    let panel = |title: &str, unit: &str, warn, crit, lower| config::PanelConfig {
        title: title.into(),
        source: config::MetricsKind::Graphite,
        url: "http://demo.invalid".into(),
        query: format!("simulated {title}"),
        unit: unit.into(),
        warn,
        crit,
        lower_is_worse: lower,
        reduce: config::Reduce::Sum,
        compare: Some(config::PanelConfig::DEFAULT_COMPARE),
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        line: 0,
    };
    let panels = vec![
        panel("logins/s", "/s", Some(150.0), Some(50.0), true),
        panel("orders/min", "", Some(40.0), Some(15.0), true),
        panel("page load", "ms", Some(800.0), Some(1500.0), false),
    ];
    debug_assert_eq!(panels.len(), DEMO_PANELS);
    panels
}

/// A deploy 20 minutes before the demo starts, as a `[[markers]]` source would report it: a line
/// on the wall's charts and the before/after callout.
fn demo_marker(now: chrono::DateTime<chrono::Utc>) -> crate::metrics::markers::MarkerUpdate {
    crate::metrics::markers::MarkerUpdate {
        source: 0,
        name: "demo deploys".into(),
        result: Ok(vec![(now - chrono::Duration::minutes(20), "deploy web 2026.12.07-1 (simulated)".into())]),
    }
}

/// How many application panels the demo shows.
const DEMO_PANELS: usize = 3;

/// Panel `k`'s simulated value at unix time `t` (`sim_t`: the same moment on the sim's clock, which
/// the incidents follow): a daily rhythm with a ten-minute wave on it, and page load time over
/// its warning threshold while the demo's slow feed incident runs.
pub fn demo_panel_value(k: usize, t: f64, sim_t: f64) -> f64 {
    use std::f64::consts::TAU;
    let day = 1.0 + 0.3 * (TAU * t / 86_400.0).sin();
    let wave = 1.0 + 0.08 * (TAU * t / 600.0).sin();
    match k {
        0 => 420.0 * day * wave,
        1 => 85.0 * day * wave,
        _ => {
            let (from, to) = crate::sim::script::SLOW_FEED_WINDOW;
            let slow = (from..to).contains(&sim_t.rem_euclid(crate::sim::CYCLE_SECS));
            (if slow { 950.0 } else { 310.0 }) * wave
        }
    }
}

/// Panel `k`'s reading at `now` for a demo started at `start`: the value, the same time
/// yesterday (a tenth quieter, no slow page loads) and the last hour, 30 s apart.
pub fn demo_panel_reading(
    k: usize,
    start: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::metrics::panel::PanelReading {
    let t = now.timestamp_millis() as f64 / 1000.0;
    let since_start = (now - start).num_milliseconds() as f64 / 1000.0;
    let value = |at: f64| demo_panel_value(k, at, at - t + since_start);
    let history = (1..=120).map(|i| value(t - 3600.0 + 30.0 * f64::from(i))).collect();
    let before = if k == 2 { 310.0 } else { 0.9 * value(t - 86_400.0) };
    crate::metrics::panel::PanelReading { value: Some(value(t)), before: Some(before), history }
}

/// Every 2 s, each demo panel's reading, as `metrics::panel::run` would send a real one.
async fn run_demo_panels(start: chrono::DateTime<chrono::Utc>, tx: mpsc::Sender<Message>) {
    use crate::metrics::panel::PanelUpdate;
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now();
        for k in 0..DEMO_PANELS {
            let result = Ok(demo_panel_reading(k, start, now));
            if tx.send(Message::Panel(PanelUpdate { index: k, at: now, result })).await.is_err() {
                return;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_wall_starts_with_an_hour_of_history() {
        let sim = SimFleet::default();
        let now = chrono::TimeZone::timestamp_opt(&chrono::Utc, 1_764_000_000, 0).single().unwrap_or_default();
        let points = wall_history(&sim, now);
        assert_eq!(points.len(), 359);
        assert!(points.windows(2).all(|w| w[0].at < w[1].at) && points.last().is_some_and(|p| p.at < now));
        assert!(points.iter().all(|p| p.qps.is_some_and(|q| q > 1000.0) && p.p99.is_some()), "{:?}", &points[..3]);
        // The script's incidents show: a lag spike and shards in trouble every cycle.
        let worst = points.iter().filter_map(|p| p.lag).fold(0.0, f64::max);
        assert!(worst > 30.0, "worst lag {worst}");
        assert!(points.iter().any(|p| p.trouble >= 2.0) && points.iter().any(|p| p.trouble == 0.0));
        // Into a live wall: in front of what the session drew.
        let mut app = crate::ui::app::App::new(
            Fleet::new(sim.layout(), Limits::default()),
            crate::ui::theme::Theme::plain(),
            "demo",
            Duration::from_secs(1),
        );
        app.now = now;
        app.wall.observe(now, &app.fleet);
        app.update(Message::WallHistory(points));
        assert_eq!(app.wall.points.len(), 360);
        assert!(app.wall.span(0.0) >= 3580.0);
        // And a deploy 20 minutes back: on the charts, with its before/after.
        app.update(Message::SourceMarkers(demo_marker(now)));
        let m = app.wall.last_marker().cloned().expect("the demo's deploy");
        assert_eq!(m.at, now - chrono::Duration::minutes(20));
        let (before, after) =
            crate::ui::wall::before_after(&app.wall, crate::ui::wall::Metric::Qps, m.at, chrono::Duration::minutes(10));
        assert!(before.is_some() && after.is_some());
    }

    #[test]
    fn the_demo_shows_application_panels_with_no_config() {
        use crate::metrics::panel::PanelUpdate;
        use crate::ui::panels::Panel;
        let start = chrono::TimeZone::timestamp_opt(&chrono::Utc, 1_764_000_000, 0).single().unwrap_or_default();
        let mut panels: Vec<Panel> = demo_panels().into_iter().map(Panel::new).collect();
        assert_eq!(panels.len(), DEMO_PANELS);
        // Outside the slow feed incident every panel is within its thresholds; during it, page
        // load time is over its warning.
        let quiet = start + chrono::Duration::seconds(10);
        let slow = start + chrono::Duration::seconds(crate::sim::script::SLOW_FEED_WINDOW.0 as i64 + 2);
        for (k, p) in panels.iter_mut().enumerate() {
            let r = demo_panel_reading(k, start, quiet);
            assert_eq!(r.history.len(), 120);
            let (v, before) = (r.value.unwrap_or_default(), r.before.unwrap_or_default());
            assert!(v > 0.0 && before > 0.0 && v != before, "panel {k}: {v} vs {before}");
            assert_eq!(crate::ui::views::panels::judge(p, v), crate::fleet::Health::Ok, "{} at {v}", p.cfg.title);
            assert_eq!(p.apply(PanelUpdate { index: k, at: quiet, result: Ok(r) }), None);
            assert!(!p.is_stale(quiet));
        }
        let load = demo_panel_reading(2, start, slow).value.unwrap_or_default();
        assert_eq!(crate::ui::views::panels::judge(&panels[2], load), crate::fleet::Health::Warning, "{load}");
    }
}
