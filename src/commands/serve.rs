//! `shardtop serve`: the TUI's wiring (poller, discovery, heartbeat writer, feed probe, metrics
//! sources) driving the headless collector, and its HTTP endpoint. Consumers of each sweep (the
//! stream, the event log, the alerts engine; a recorder next) are added in `consumers`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::heartbeat::write_loop;
use super::polling::Polling;
use super::{CmdResult, CommandError, load_config};
use crate::cli::{Cli, ServeArgs};
use crate::config;
use crate::fleet::{Addr, Fleet, Limits};
use crate::poll::{AddInstance, Poller, Schedule, Slot};
use crate::probe::HeartbeatSpec;
use crate::serve::access::{self, Tokens};
use crate::serve::collector::EventLog;
use crate::serve::http::{AppState, router, serve as serve_http};
use crate::serve::partition::Partition;
use crate::serve::stream::{Hub, Publisher};
use crate::serve::{Collector, Input, Shared, SweepConsumer};
use crate::sim::SimFleet;

pub async fn serve(cli: &Cli, args: &ServeArgs) -> CmdResult {
    log_to_stderr();
    let tokens = Tokens::load(args.token_file.as_deref(), args.read_token_file.as_deref(), args.tokens_file.as_deref())
        .map_err(|e| CommandError::new(2, e.to_string()))?;
    access::check_exposure(args.listen, &tokens).map_err(|e| CommandError::new(2, e.to_string()))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(access::tls_config(cert, key).map_err(|e| CommandError::new(2, e.to_string()))?)
        }
        _ => None,
    };
    if !args.listen.ip().is_loopback() && tls.is_none() {
        log::warn!(target: "serve", "listening on {} without TLS: tokens cross the network in clear unless a proxy in front provides TLS", args.listen);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CommandError::new(2, format!("cannot listen on {}: {e}", args.listen)))?;
    let (tx, rx) = mpsc::channel::<Input>(4096);
    let mut tasks = tokio::task::JoinSet::new();
    let ((fleet, interval, poller), cfg, recorder) = match args.demo {
        Some(shards) => {
            let (fleet, interval, poller) = demo_inputs(shards.into(), tx.clone(), &mut tasks, args.partition)?;
            let recorder = match &args.record {
                Some(path) => Some(demo_recorder(&fleet, interval, path)?),
                None => None,
            };
            ((fleet, interval, poller), None, recorder)
        }
        None => {
            let (inputs, cfg, recorder) = config_inputs(cli, args, tx.clone(), &mut tasks)?;
            (inputs, Some(cfg), recorder)
        }
    };
    let alerts = cfg.as_ref().and_then(|c| c.alerts.clone());

    let shared = Shared::new(fleet, interval);
    let hub = Hub::new();
    let mut collector = Collector::new(shared.clone(), Some(poller));
    if let Some(r) = recorder {
        log::info!(target: "record", "recording to {}", r.path().display());
        collector.record(r);
    }
    let mut alerts = alerts.map(|a| {
        let sinks = a.alertmanager.len() + a.webhooks.len();
        log::info!(target: "alerts", "alerts to {sinks} sink(s), firing after {}", config::format_duration(a.for_));
        crate::alerts::Alerts::start(&a)
    });
    let sinks = alerts.as_mut().map(crate::alerts::Alerts::take_sinks);
    let outcomes = alerts.as_ref().and_then(crate::alerts::Alerts::outbox);
    for c in consumers(&hub, alerts) {
        collector.add_consumer(c);
    }
    let actions = cfg.filter(|c| c.actions.enabled).map(|c| remote_actions(c, outcomes, tx));
    if actions.is_some() {
        log::info!(target: "serve", "actions: POST /api/v1/actions, for tokens with the `act` grant");
    }
    let state = AppState { shared, hub, tokens: Arc::new(tokens), actions };
    let scheme = if tls.is_some() { "https" } else { "http" };
    log::info!(target: "serve", "serving {scheme}://{}/metrics, /api/v1/snapshot, /api/v1/stream, /healthz", args.listen);
    let http = serve_http(listener, router(state), tls, std::future::pending());
    // On a worker, not this thread: the worker that fires its timers runs it, with no wake-up
    // of a thread parked in `block_on` for each.
    let mut collector = tokio::spawn(collector.run(rx, std::future::pending()));
    tokio::select! {
        _ = &mut collector => {
            return Err(CommandError::new(3, "the collector's inputs ended"));
        }
        () = http => {}
        r = stop_signal() => {
            r.map_err(|e| CommandError::new(3, format!("signals: {e}")))?;
            log::info!(target: "serve", "stopping");
        }
    }
    collector.abort();
    let _ = collector.await;
    if let Some(s) = sinks {
        // The engine went with the collector; what the sinks still hold gets a moment to go out.
        s.drain(ALERTS_GRACE).await;
    }
    Ok(0)
}

/// How long stopping waits for undelivered notifications.
const ALERTS_GRACE: Duration = Duration::from_secs(3);

/// The alerts engine, evaluated at the end of every sweep.
struct AlertsConsumer(crate::alerts::Alerts);

impl SweepConsumer for AlertsConsumer {
    fn name(&self) -> &str {
        "alerts"
    }

    fn on_sweep(&mut self, sweep: &crate::serve::Sweep<'_>) {
        self.0.observe(sweep.fleet, sweep.at);
    }
}

/// How remote viewers' actions run here: the TUI's runner on this collector's config (followed
/// through its promotions), each run audited under the token's name and its outcome notified.
fn remote_actions(
    cfg: config::Config,
    outcomes: Option<crate::alerts::Outbox>,
    inputs: mpsc::Sender<Input>,
) -> Arc<crate::serve::actions::RemoteActions> {
    use super::action_runner::{ConfigRunner, SessionConfig};
    let session: SessionConfig = Arc::new(tokio::sync::watch::channel(Arc::new(cfg)).0);
    let runner_for = move |by: String| -> Box<dyn crate::ui::action::ActionRunner> {
        Box::new(ConfigRunner { cfg: session.clone(), outcomes: outcomes.clone(), by: Some(by) })
    };
    Arc::new(crate::serve::actions::RemoteActions {
        runner_for: Box::new(runner_for),
        inputs,
        running: Default::default(),
    })
}

/// What a config-driven collector runs: its inputs, its config (this partition's shards), and its
/// recorder when `--record` or `[record] path` asks for one.
type ConfigInputs = ((Fleet, Duration, Box<dyn AddInstance + Send>), config::Config, Option<crate::record::Recorder>);

/// `serve --demo --record PATH`: the simulated fleet recorded (with the deploy markers).
fn demo_recorder(
    fleet: &Fleet,
    interval: Duration,
    path: &std::path::Path,
) -> Result<crate::record::Recorder, CommandError> {
    let layout = crate::record::wire::Layout::of(fleet, "demo", interval, None);
    let opts = crate::record::RecordOptions {
        path: path.to_path_buf(),
        retention: Some(config::RecordConfig::DEFAULT_RETENTION),
        block_span: crate::record::recorder::DEFAULT_BLOCK_SPAN,
        audit_log: None,
        markers: Some(crate::ui::markers::default_path()),
    };
    crate::record::Recorder::start(opts, &layout, chrono::Utc::now())
        .map_err(|e| CommandError::new(1, format!("cannot record: {e}")))
}

/// The fleet, poll interval and poller of the config (this partition's shards of it), with the
/// heartbeat writer, feed probe and metrics sources it asks for started in `tasks`.
fn config_inputs(
    cli: &Cli,
    args: &ServeArgs,
    tx: mpsc::Sender<Input>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<ConfigInputs, CommandError> {
    let loaded = load_config(cli, 2)?;
    for w in &loaded.warnings {
        log::warn!(target: "config", "{w}");
    }
    let mut cfg = loaded.config;
    if let Some(p) = args.partition {
        let total = cfg.shards.len();
        cfg.shards.retain(|s| p.owns(&s.name));
        log::info!(target: "serve", "partition {p}: {} of the config's {total} shards", cfg.shards.len());
    }
    let polling = Polling::new(&cfg)?;
    let recorder = match args.record.clone().or_else(|| cfg.record.path.clone()) {
        Some(path) => Some(super::record::start_recorder(&cfg, &polling.fleet, path, None, None)?),
        None => None,
    };
    let opts = polling.opts.clone();
    log::info!(target: "serve", "polling {} servers every {}", polling.probes.len(), config::format_duration(cfg.poll.interval));
    let (fleet, sources, poller) = polling.start(&tx)?;
    if let Some(hb) = cfg.heartbeat.as_ref().filter(|h| h.write) {
        let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
        for s in &cfg.shards {
            let master = s.master.clone();
            tasks.spawn(write_loop(move || master.clone(), opts.clone(), spec.clone(), hb.interval, false));
        }
    }
    sources.spawn(tasks, &tx, None, None);
    let inputs = (fleet, cfg.poll.interval, Box::new(poller) as Box<_>);
    Ok((inputs, cfg, recorder))
}

/// The demo's simulated fleet (its incidents included) instead of servers: probed every second.
fn demo_inputs(
    shards: usize,
    tx: mpsc::Sender<Input>,
    tasks: &mut tokio::task::JoinSet<()>,
    partition: Option<Partition>,
) -> Result<(Fleet, Duration, Box<dyn AddInstance + Send>), CommandError> {
    if partition.is_some() {
        return Err(CommandError::new(2, "--partition splits a config's shards; --demo has no config"));
    }
    let sim = SimFleet { shards, replicas: 2, ..SimFleet::default() };
    let interval = Duration::from_secs(1);
    let fleet = Fleet::new(sim.layout(), Limits::default());
    let probes = crate::sim::scale::probes(&sim);
    log::info!(target: "serve", "demo: {} simulated servers every 1s", probes.len());
    let poller = Poller::spawn_threaded(probes, Schedule { interval, concurrency: 256 }, tx.clone())
        .map_err(|e| CommandError::new(3, format!("cannot start the polling thread: {e}")))?;
    tasks.spawn(sim.run_feed(interval, tx));
    Ok((fleet, interval, Box::new(Simulated { _poller: poller })))
}

/// The simulated fleet is whole from the start: discovery adds nothing to probe.
struct Simulated {
    _poller: Poller<Input>,
}

impl AddInstance for Simulated {
    fn add_instance(&mut self, _: Slot, _: &Addr) {}
}

/// What runs once per sweep, in order: the event log, the viewers' stream, then the alerts engine
/// when `[alerts]` is configured. A recorder is added here.
fn consumers(hub: &Arc<Hub>, alerts: Option<crate::alerts::Alerts>) -> Vec<Box<dyn SweepConsumer>> {
    let mut all: Vec<Box<dyn SweepConsumer>> = vec![Box::new(EventLog), Box::new(Publisher::new(hub.clone()))];
    all.extend(alerts.map(|a| Box::new(AlertsConsumer(a)) as Box<dyn SweepConsumer>));
    all
}

async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Log lines to stderr: `2026-12-07T06:40:00Z WARN fleet: s44: …`.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
            eprintln!("{now} {} {}: {}", r.level(), r.target(), r.args());
        }
    }

    fn flush(&self) {}
}

static STDERR_LOG: StderrLog = StderrLog;

fn log_to_stderr() {
    // A logger already set (tests) stays.
    if log::set_logger(&STDERR_LOG).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
