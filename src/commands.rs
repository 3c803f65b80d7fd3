//! What each subcommand does, wired from the parts in the library.

use std::time::Duration;

use tokio::sync::mpsc;

use std::sync::Arc;

use crate::cli::{Cli, ColorChoice, Format};
use crate::config::{self, Config, TlsMode};
use crate::feed::FeedProber;
use crate::fleet::{Addr, Fleet, Limits, Shard};
use crate::heartbeat;
use crate::metrics::MetricsClient;
use crate::poll::{self, Poller, Schedule, Slot};
use crate::probe::{HeartbeatSpec, ProbeOptions, Prober, Tls};
use crate::sim::SimFleet;
use crate::snapshot::Report;
use crate::ui::app::App;
use crate::ui::theme::{Theme, ThemeLoader};

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

/// Colour is on unless `--color never`, `NO_COLOR` (any non-empty value) or `TERM=dumb` says otherwise.
pub fn color_enabled(choice: ColorChoice) -> bool {
    crate::ui::color::ColorDepth::detect(choice) != crate::ui::color::ColorDepth::None
}

fn init_event_log() {
    // A second init (tests, re-entry) is harmless: the first logger stays.
    let _ = tui_logger::init_logger(log::LevelFilter::Info);
    tui_logger::set_default_level(log::LevelFilter::Info);
}

/// The demo's feed probe runs four rounds a second, so its percentiles move visibly.
const DEMO_FEED_INTERVAL: Duration = Duration::from_millis(250);

pub async fn demo(cli: &Cli, shards: u16, replicas: u16) -> CmdResult {
    let sim = SimFleet { shards: shards.into(), replicas: replicas.into(), ..SimFleet::default() };
    let interval = Duration::from_secs(1);
    let fleet = Fleet::new(sim.layout(), Limits::default());
    let mut app = App::new(fleet, Theme::plain(), "demo", interval);
    let keymap = config::keymap_path();
    let (ui, keys, config_note) = demo_ui_config(cli)?;
    let profile = crate::ui::profile::configure(&mut app, cli, &ui, &keys, &ThemeLoader::system(), keymap.as_deref())
        .map_err(|e| CommandError::new(1, e.to_string()))?;
    app.feed_interval = DEMO_FEED_INTERVAL;
    let (tx, rx) = mpsc::channel(4096);
    // Beyond the scripted eight shards, incidents hit a share of the fleet at once (sim::scale).
    let _poller = Poller::spawn(crate::sim::scale::probes(&sim), Schedule { interval, concurrency: 256 }, tx);
    let (feed_tx, feed_rx) = mpsc::channel::<crate::ui::app::Message>(64);
    let feed_task = tokio::spawn(sim.clone().run_feed(DEMO_FEED_INTERVAL, feed_tx));
    init_event_log();
    log::info!(target: "fleet", "demo: {} simulated shards; incidents repeat every {}s", shards, crate::sim::CYCLE_SECS);
    if usize::from(shards) > crate::sim::scale::SCRIPTED {
        use crate::ui::keys::Action;
        let key = |a| app.keymap.first_key(a).unwrap_or_else(|| "?".into());
        let (only, next) = (key(Action::ProblemsOnly), key(Action::NextProblem));
        log::info!(target: "fleet", "demo: outages hit many shards at once ({only}: problems only, {next}: next)");
    }
    for w in config_note.iter().chain(&profile.warnings) {
        log::warn!(target: "config", "{w}");
    }
    let result = crate::ui::run(app, rx, feed_rx, profile, None).await;
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
) -> Result<(config::UiConfig, Vec<crate::ui::keys::UserBinding>, Option<String>), CommandError> {
    if cli.config.is_some() {
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

/// Load the config named by `--config`, or the default one. Errors carry `code`.
fn load_config(cli: &Cli, code: u8) -> Result<config::Loaded, CommandError> {
    let path = match &cli.config {
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

pub fn probe_options(cfg: &Config) -> Arc<ProbeOptions> {
    Arc::new(ProbeOptions {
        user: cfg.defaults.user.clone(),
        password: cfg.defaults.password.clone(),
        tls: match cfg.defaults.tls {
            TlsMode::Disabled => Tls::Disabled,
            TlsMode::Required => Tls::Required,
            TlsMode::VerifyIdentity => Tls::VerifyIdentity { ca: cfg.defaults.tls_ca.clone() },
        },
        timeout: cfg.poll.timeout,
        heartbeat: cfg.heartbeat.as_ref().map(|h| HeartbeatSpec { table: h.table.clone(), utc: h.utc }),
    })
}

pub fn limits(cfg: &Config) -> Limits {
    Limits {
        lag_warn: cfg.thresholds.lag_warn,
        lag_crit: cfg.thresholds.lag_crit,
        feed_p99_warn: cfg.thresholds.feed_p99_warn,
        feed_p99_crit: cfg.thresholds.feed_p99_crit,
        qps_drop_percent: cfg.thresholds.qps_drop_percent,
    }
}

/// The fleet model for a config: its shards, thresholds, feed window and metrics sources.
pub fn fleet_for(cfg: &Config, shards: Vec<Shard>) -> Fleet {
    let mut fleet = Fleet::new(shards, limits(cfg));
    if let Some(f) = &cfg.feed {
        fleet = fleet.with_feed_window(f.window);
    }
    fleet.sources = cfg
        .metrics
        .iter()
        .map(|m| {
            let kind = match m.kind {
                config::MetricsKind::Prometheus => crate::fleet::Source::Prometheus,
                config::MetricsKind::Graphite => crate::fleet::Source::Graphite,
            };
            crate::fleet::external::SourceState::new(m.name.clone(), kind)
        })
        .collect();
    if is_metrics_only(cfg) { fleet.metrics_only() } else { fleet }
}

/// `[[metrics]]` and no database account: nothing connects to a database.
pub fn is_metrics_only(cfg: &Config) -> bool {
    cfg.defaults.user.is_empty() && !cfg.metrics.is_empty()
}

/// One client per `[[metrics]]` source, with its interval.
pub fn metrics_clients(cfg: &Config) -> Result<Vec<(MetricsClient, Duration)>, CommandError> {
    let names: Vec<String> = cfg.shards.iter().map(|s| s.name.clone()).collect();
    cfg.metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            MetricsClient::new(i, m.clone(), names.clone())
                .map(|c| (c, m.interval))
                .map_err(|e| CommandError::new(3, e.to_string()))
        })
        .collect()
}

pub fn layout(cfg: &Config) -> Vec<Shard> {
    cfg.shards
        .iter()
        .map(|s| Shard::new(s.name.clone(), s.master.clone(), s.replicas.iter().cloned(), s.upstream.clone()))
        .collect()
}

/// One prober per instance, in the layout's order.
pub fn probers(shards: &[Shard], opts: &Arc<ProbeOptions>) -> Vec<(Slot, Prober)> {
    let mut out = Vec::new();
    for (shard, s) in shards.iter().enumerate() {
        for (instance, i) in s.instances.iter().enumerate() {
            out.push((Slot { shard, instance }, Prober::new(i.addr.clone(), opts.clone())));
        }
    }
    out
}

pub async fn tui(cli: &Cli) -> CmdResult {
    let loaded = load_config(cli, 1)?;
    let cfg = loaded.config;
    let opts = probe_options(&cfg);
    let shards = layout(&cfg);
    let metrics_only = is_metrics_only(&cfg);
    let mut probes = if metrics_only { Vec::new() } else { probers(&shards, &opts) };
    let discovery_interval = cfg.poll.discovery_interval;
    for (_, p) in &mut probes {
        p.set_discovery_interval(discovery_interval);
    }
    let feed_prober = cfg.feed.as_ref().map(|f| (FeedProber::new(f, &shards, opts.clone()), f.interval));
    let clients = metrics_clients(&cfg)?;
    let fleet = fleet_for(&cfg, shards);
    // The file name only: the header has 80 columns to share.
    let source = cfg
        .source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut app = App::new(fleet, Theme::plain(), source, cfg.poll.interval);
    app.actions_configured = cfg.actions.enabled;
    let keymap = config::keymap_path();
    let profile =
        crate::ui::profile::configure(&mut app, cli, &cfg.ui, &cfg.keys, &ThemeLoader::system(), keymap.as_deref())
            .map_err(|e| CommandError::new(1, e.to_string()))?;
    // Servers found by discovery are handed to the poller through this channel.
    let (found_tx, mut found_rx) = mpsc::unbounded_channel::<(Slot, Addr)>();
    app.on_discovered = Some(Box::new(move |slot, addr| {
        let _ = found_tx.send((slot, addr.clone()));
    }));
    if let Some(f) = &cfg.feed {
        app.feed_interval = f.interval;
    }
    init_event_log();
    for w in loaded.warnings.iter().map(ToString::to_string).chain(profile.warnings.iter().cloned()) {
        log::warn!(target: "config", "{w}");
    }
    if metrics_only {
        log::info!(target: "fleet", "metrics-only: no database account, figures from {} metrics source(s)", clients.len());
    } else {
        log::info!(target: "fleet", "polling {} servers every {}", probes.len(), config::format_duration(cfg.poll.interval));
    }
    let (tx, rx) = mpsc::channel(4096);
    let schedule = Schedule { interval: cfg.poll.interval, concurrency: cfg.poll.concurrency };
    let mut poller = Poller::spawn_threaded(probes, schedule, tx)
        .map_err(|e| CommandError::new(3, format!("cannot start the polling thread: {e}")))?;
    let found_opts = opts.clone();
    let _discovered = tokio::spawn(async move {
        while let Some((slot, addr)) = found_rx.recv().await {
            let mut p = Prober::new(addr, found_opts.clone());
            p.set_discovery_interval(discovery_interval);
            poller.add(slot, p);
        }
    });
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
            writers.spawn(heartbeat::write_loop(master, opts.clone(), spec.clone(), hb.interval, false));
        }
        log::info!(target: "fleet", "writing heartbeats to {} on {} masters", hb.table, cfg.shards.len());
    }
    let (side_tx, side_rx) = mpsc::channel::<crate::ui::app::Message>(64);
    if let Some((prober, interval)) = feed_prober {
        log::info!(target: "fleet", "feed probe every {} on {} shards", config::format_duration(interval), cfg.shards.len());
        writers.spawn(crate::feed::run(prober, interval, side_tx.clone(), Some(session.subscribe())));
    }
    for (client, interval) in clients {
        log::info!(target: "fleet", "reading {} every {}", client.config().name, config::format_duration(interval));
        // Charts start filled: QPS one point per poll interval, as the poller would have drawn it.
        let span = cfg.poll.interval * crate::fleet::model::HISTORY_LEN as u32;
        writers.spawn(crate::metrics::run(client, interval, Some((span, cfg.poll.interval)), side_tx.clone()));
    }
    drop(side_tx);
    let runner: Arc<dyn crate::ui::action::ActionRunner> = Arc::new(ConfigRunner { cfg: session });
    crate::ui::run(app, rx, side_rx, profile, Some(runner))
        .await
        .map_err(|e| CommandError::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

pub async fn snapshot(cli: &Cli, format: Format, rate_window: Duration) -> CmdResult {
    // Any failure before we have data is UNKNOWN for a monitoring check.
    let loaded = load_config(cli, 3)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let cfg = loaded.config;
    let opts = probe_options(&cfg);
    let shards = layout(&cfg);
    let metrics_only = is_metrics_only(&cfg);
    let mut probes = if metrics_only { Vec::new() } else { probers(&shards, &opts) };
    let mut feed = cfg.feed.as_ref().map(|f| (FeedProber::new(f, &shards, opts.clone()), f.interval));
    let clients = metrics_clients(&cfg)?;
    let mut fleet = fleet_for(&cfg, shards);
    let started = tokio::time::Instant::now();
    // The sources are asked while the servers are: each costs at most its timeout.
    let (first, polled) = tokio::join!(
        poll::sweep_once(&mut probes, cfg.poll.concurrency),
        futures::future::join_all(clients.iter().map(|(c, _)| c.poll()))
    );
    for u in first {
        fleet.apply(u.slot.shard, u.slot.instance, u.sample);
    }
    let discovery = discover(&mut fleet, &mut probes, &opts, cfg.poll.concurrency, started).await;
    for u in &polled {
        fleet.apply_metrics(u);
    }
    // Feed rounds run while the rate window passes: one per feed interval, at least one.
    if let Some((prober, interval)) = feed.as_mut() {
        let deadline = started + rate_window;
        loop {
            let round_started = tokio::time::Instant::now();
            fleet.apply_feed(&prober.round().await);
            if round_started + *interval >= deadline {
                break;
            }
            tokio::time::sleep_until(round_started + *interval).await;
        }
    }
    if !rate_window.is_zero() && !metrics_only {
        // Rates need two readings of the counters; the second sweep reuses the connections.
        tokio::time::sleep_until(started + rate_window).await;
        for u in poll::sweep_once(&mut probes, cfg.poll.concurrency).await {
            fleet.apply(u.slot.shard, u.slot.instance, u.sample);
        }
    }
    close_all(&mut probes).await;
    if let Some((prober, _)) = feed.as_mut() {
        prober.close(Duration::from_millis(200)).await;
    }
    let mut report = Report::new(&fleet, chrono::Utc::now());
    report.discovery = Some(discovery);
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", report.to_table()),
    }
    Ok(report.exit_code() as u8)
}

/// Every replica of `shard` the topology knows: the configured ones, and what
/// discovery finds below them (any port, chains included), with the source
/// each replicates from. The monitoring account reads; the caller acts.
pub async fn shard_replicas(cfg: Arc<Config>, shard: String) -> Vec<(Addr, Option<Addr>)> {
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else { return Vec::new() };
    let opts = probe_options(&cfg);
    let shards = vec![Shard::new(sc.name.clone(), sc.master.clone(), sc.replicas.iter().cloned(), sc.upstream.clone())];
    let mut probes = probers(&shards, &opts);
    let mut fleet = Fleet::new(shards, limits(&cfg));
    let started = tokio::time::Instant::now();
    for u in poll::sweep_once(&mut probes, cfg.poll.concurrency).await {
        fleet.apply(u.slot.shard, u.slot.instance, u.sample);
    }
    discover(&mut fleet, &mut probes, &opts, cfg.poll.concurrency, started).await;
    close_all(&mut probes).await;
    fleet.shards[0]
        .replicas()
        .iter()
        .map(|i| (i.addr.clone(), i.status.as_ref().and_then(|s| s.primary_link()).map(|l| l.source.clone())))
        .collect()
}

/// Say goodbye to the servers that answer; don't wait long on the ones that don't.
pub(crate) async fn close_all(probes: &mut [(Slot, Prober)]) {
    futures::future::join_all(probes.iter_mut().map(|(_, p)| p.close(Duration::from_millis(200)))).await;
}

/// Bounds the probe → discover → probe the new ones loop (a chain this deep is a mistake anyway).
const MAX_DISCOVERY_ROUNDS: usize = 8;

/// Completes the fleet from what the servers say (replica lists, replicas'
/// sources): probes what was found, and looks again, until nothing new turns up.
async fn discover(
    fleet: &mut Fleet,
    probes: &mut Vec<(Slot, Prober)>,
    opts: &Arc<ProbeOptions>,
    concurrency: usize,
    started: tokio::time::Instant,
) -> crate::snapshot::DiscoveryReport {
    let mut report = crate::snapshot::DiscoveryReport::default();
    for _ in 0..MAX_DISCOVERY_ROUNDS {
        let found = fleet.discover_all();
        if found.is_empty() {
            break;
        }
        report.rounds += 1;
        let mut fresh: Vec<(Slot, Prober)> = found
            .iter()
            .map(|f| (Slot { shard: f.shard, instance: f.instance }, Prober::new(f.addr.clone(), opts.clone())))
            .collect();
        for u in poll::sweep_once(&mut fresh, concurrency).await {
            fleet.apply(u.slot.shard, u.slot.instance, u.sample);
        }
        probes.extend(fresh);
        for f in found {
            let shard = fleet.shards.get(f.shard).map(|s| s.name.clone()).unwrap_or_default();
            report.found.push(crate::snapshot::FoundReport { shard, addr: f.addr, via: f.via });
        }
    }
    report.elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    report
}

pub async fn check_config(cli: &Cli, offline: bool) -> CmdResult {
    let path_hint = cli.config.clone().or_else(config::default_path);
    let loaded = match load_config(cli, 1) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            return Ok(1);
        }
    };
    for w in &loaded.warnings {
        println!("{w}");
    }
    let cfg = loaded.config;
    // The theme and the keymap file are part of the setup: a broken one would stop the TUI.
    if let Err(e) = ThemeLoader::system().load(&cfg.ui.theme) {
        println!("{e}");
        return Ok(1);
    }
    match config::keymap_path().map(|p| config::load_keymap(&p)).transpose() {
        Err(e) => {
            println!("{e}");
            return Ok(1);
        }
        Ok(found) => found.into_iter().flat_map(|(_, warnings)| warnings).for_each(|w| println!("{w}")),
    }
    let servers: usize = cfg.shards.iter().map(|s| 1 + s.replicas.len()).sum();
    if is_metrics_only(&cfg) {
        println!(
            "{}: ok: {} shards, metrics-only (no database user: no server is contacted), {} metrics source(s)",
            path_hint.map_or_else(|| "config".into(), |p| p.display().to_string()),
            cfg.shards.len(),
            cfg.metrics.len()
        );
        if offline {
            return Ok(0);
        }
        return check_sources(&cfg).await;
    }
    println!(
        "{}: ok: {} shards, {} servers, user {} (password from {})",
        path_hint.map_or_else(|| "config".into(), |p| p.display().to_string()),
        cfg.shards.len(),
        servers,
        cfg.defaults.user,
        cfg.defaults.password_source
    );
    if offline {
        return Ok(0);
    }
    let opts = probe_options(&cfg);
    let shards = layout(&cfg);
    let mut probes = probers(&shards, &opts);
    let mut results = poll::sweep_once(&mut probes, cfg.poll.concurrency).await;
    close_all(&mut probes).await;
    results.sort_by_key(|u| (u.slot.shard, u.slot.instance));
    let mut failures = 0;
    for u in results {
        let s = &shards[u.slot.shard];
        let addr = &s.instances[u.slot.instance].addr;
        match u.sample.result {
            Ok(st) => {
                let mut line = format!("  ok    {} {addr}: {} {}", s.name, st.flavor.name(), st.version);
                if let Some(e) = &st.heartbeat_error {
                    line.push_str(&format!("; heartbeat: {e}"));
                    failures += 1;
                }
                // A shard that leaves its replicas to discovery needs the replica list to name them.
                let refused = st.topo.discovery.as_ref().is_some_and(|d| d.replica_hosts.is_none());
                if s.instances.len() == 1 && refused {
                    let grant = match st.flavor {
                        crate::fleet::status::Flavor::MariaDb => "REPLICATION MASTER ADMIN",
                        crate::fleet::status::Flavor::MySql => "REPLICATION SLAVE",
                    };
                    line.push_str(&format!(
                        "; note: SHOW REPLICA HOSTS refused, so replicas are seen by host only: grant {grant} \
                         to discover them, or list them under replicas"
                    ));
                }
                println!("{line}");
            }
            Err(e) => {
                failures += 1;
                println!("  FAIL  {} {addr}: {e}", s.name);
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

/// Asks each `[[metrics]]` source once and says what it answered.
async fn check_sources(cfg: &Config) -> CmdResult {
    let clients = metrics_clients(cfg)?;
    let mut failures = 0;
    for (c, _) in &clients {
        let u = c.poll().await;
        let name = &c.config().name;
        match &u.error {
            Some(e) => {
                failures += 1;
                println!("  FAIL  {name}: {e}");
            }
            None => {
                let shards: std::collections::BTreeSet<usize> = u.values.iter().map(|v| v.0).collect();
                println!(
                    "  ok    {name}: {} values for {} of {} shards",
                    u.values.len(),
                    shards.len(),
                    cfg.shards.len()
                );
                for n in &u.notes {
                    println!("        note: {n}");
                }
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

pub async fn heartbeat(cli: &Cli, only: &[String]) -> CmdResult {
    let loaded = load_config(cli, 1)?;
    let cfg = loaded.config;
    let Some(hb) = cfg.heartbeat.clone() else {
        return Err(CommandError::new(
            1,
            "no [heartbeat] section in the config: set `table` (e.g. \"percona.heartbeat\")",
        ));
    };
    if let Some(bad) = only.iter().find(|n| !cfg.shards.iter().any(|s| &s.name == *n)) {
        return Err(CommandError::new(1, format!("no shard named {bad:?} in the config")));
    }
    let opts = probe_options(&cfg);
    let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
    let masters: Vec<Addr> =
        cfg.shards.iter().filter(|s| only.is_empty() || only.contains(&s.name)).map(|s| s.master.clone()).collect();
    eprintln!(
        "writing heartbeats to {} every {} on {} masters",
        hb.table,
        config::format_duration(hb.interval),
        masters.len()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for addr in masters {
        let (opts, spec) = (opts.clone(), spec.clone());
        tasks.spawn(heartbeat::write_loop(move || addr.clone(), opts, spec, hb.interval, true));
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| CommandError::new(1, e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(0)
}

pub async fn bench(cli: &Cli, sweeps: usize, sim: Option<usize>) -> CmdResult {
    let stats = match sim {
        Some(shards) => {
            let sim = SimFleet { shards, latency: Duration::ZERO, ..SimFleet::default() };
            let mut probes = sim.probes();
            crate::bench::run(&mut probes, 256, sweeps).await
        }
        None => {
            let cfg = load_config(cli, 1)?.config;
            let opts = probe_options(&cfg);
            let shards = layout(&cfg);
            let mut probes = probers(&shards, &opts);
            let stats = crate::bench::run(&mut probes, cfg.poll.concurrency, sweeps).await;
            close_all(&mut probes).await;
            if let Some(f) = &cfg.feed {
                let mut prober = FeedProber::new(f, &shards, opts.clone());
                print!("{}", crate::bench::feed_rounds(&mut prober, sweeps).await);
                prober.close(Duration::from_millis(200)).await;
            }
            stats
        }
    };
    print!("{}", stats.render());
    print!("{}", crate::bench::series_memory(sim.unwrap_or(8).min(64)));
    Ok(0)
}

/// The config as this session knows it: a promotion made from the TUI moves its shard's master
/// here, so the next action on that shard, the heartbeat writer and the feed probe follow the
/// servers' real roles.
type SessionConfig = Arc<tokio::sync::watch::Sender<Arc<Config>>>;

/// Runs the TUI's actions with the config's accounts and settings.
struct ConfigRunner {
    cfg: SessionConfig,
}

/// `cfg` with `new_master` as the master of `shard`: the old master joins the replicas (a
/// promotion makes it one) and the new one leaves them. A shard whose replicas are discovered
/// (none listed) keeps discovering them, now from the new master.
pub fn with_new_master(cfg: &Config, shard: &str, new_master: &Addr) -> Config {
    let mut cfg = cfg.clone();
    if let Some(sc) = cfg.shards.iter_mut().find(|s| s.name == shard)
        && sc.master != *new_master
    {
        let old = std::mem::replace(&mut sc.master, new_master.clone());
        if !sc.replicas.is_empty() {
            sc.replicas.retain(|r| r != new_master);
            sc.replicas.insert(0, old);
        }
    }
    cfg
}

impl crate::ui::action::ActionRunner for ConfigRunner {
    fn start(
        &self,
        kind: crate::ui::action::ActionKind,
        shard: String,
        dry_run: bool,
        stop: Arc<std::sync::atomic::AtomicBool>,
        tx: mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
    ) {
        use crate::ui::action::ActionKind;
        let cfg = self.cfg.borrow().clone();
        match kind {
            ActionKind::Promote { candidate, .. } => {
                tokio::spawn(tui_promote(cfg, self.cfg.clone(), shard, candidate, dry_run, tx));
            }
            ActionKind::Checksum { .. } => {
                tokio::spawn(tui_checksum(cfg, shard, dry_run, stop, tx));
            }
        }
    }
}

async fn tui_promote(
    cfg: Arc<Config>,
    session: SessionConfig,
    shard: String,
    candidate: Addr,
    dry_run: bool,
    tx: mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
) {
    use crate::actions::audit::AuditLog;
    use crate::ui::action::ActionMsg;
    let (mut req, accounts) = match promote_parts(&cfg, &shard, &candidate) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    req.dry_run = dry_run;
    let audit = if dry_run { None } else { Some(cfg.actions.audit_log.as_path()) };
    let mut audit = match AuditLog::open(audit) {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.send(ActionMsg::Finished { ok: false, summary: format!("cannot open the audit log: {e}") });
            return;
        }
    };
    let progress_tx = tx.clone();
    let mut progress = move |p: &crate::actions::Progress| {
        let _ = progress_tx.send(ActionMsg::Progress(p.clone()));
    };
    let result =
        crate::actions::promote::promote(&req, &accounts, &cfg.actions.lock_dir, &mut audit, &mut progress).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(o)) => {
            let mut summary = format!("{} is the master of {}: {}", req.candidate, req.shard, o.timing());
            for w in &o.warnings {
                summary.push_str(&format!("\nwarning: {w}"));
            }
            log::warn!(target: "actions", "{}", summary.lines().next().unwrap_or_default());
            if o.promoted {
                // This session follows the new roles; the file is the operator's (or the hook's).
                let current = session.borrow().clone();
                session.send_replace(Arc::new(with_new_master(&current, &req.shard, &req.candidate)));
                let _ = tx.send(ActionMsg::Promoted { shard: req.shard.clone(), new_master: req.candidate.clone() });
                log::warn!(
                    target: "actions",
                    "{}: this session now treats {} as the master; update the config ([[shard]] master = \"{}\") \
                     before the next start",
                    req.shard,
                    req.candidate,
                    req.candidate
                );
            }
            ActionMsg::Finished { ok: o.warnings.is_empty(), summary }
        }
        (false, Err(e)) => {
            log::error!(target: "actions", "promotion of {} failed: {e}", req.candidate);
            ActionMsg::Finished { ok: false, summary: e.to_string() }
        }
    };
    let _ = tx.send(msg);
}

async fn tui_checksum(
    cfg: Arc<Config>,
    shard: String,
    dry_run: bool,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tx: mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
) {
    use crate::ui::action::ActionMsg;
    let (mut req, opts) = match checksum_parts(&cfg, &shard) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    req.dry_run = dry_run;
    let (replicas, warnings) =
        with_discovered(cfg.clone(), req.shard.clone(), req.master.clone(), req.replicas.clone()).await;
    req.replicas = replicas;
    for w in warnings {
        log::warn!(target: "actions", "{w}");
    }
    let events_tx = tx.clone();
    let mut events = move |e: &crate::actions::checksum::Event| {
        let _ = events_tx.send(ActionMsg::Checksum(e.clone()));
    };
    let result = crate::actions::checksum::run(&req, opts, stop, &mut events).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(r)) => {
            let mut summary = format!(
                "{} rows in {:.1} s ({:.0} rows/s), {} differing chunks{}",
                r.rows,
                r.seconds,
                r.rows_per_second,
                r.diffs.len(),
                if r.interrupted { "; stopped: continue with `shardtop checksum --resume`" } else { "" }
            );
            for d in r.diffs.iter().take(12) {
                summary.push_str(&format!(
                    "\n{} rows {} vs {}",
                    d.place(),
                    d.this_cnt,
                    d.master_cnt.map_or("NULL".into(), |v| v.to_string())
                ));
            }
            log::info!(target: "actions", "checksum of {}: {}", req.shard, summary.lines().next().unwrap_or_default());
            ActionMsg::Finished { ok: r.diffs.is_empty() && !r.interrupted, summary }
        }
        (false, Err(e)) => ActionMsg::Finished { ok: false, summary: e.to_string() },
    };
    let _ = tx.send(msg);
}

/// A promotion request for `shard` with the config's defaults, and the accounts it uses.
pub fn promote_parts(
    cfg: &Config,
    shard: &str,
    candidate: &Addr,
) -> Result<(crate::actions::promote::Request, crate::actions::promote::Accounts), CommandError> {
    use crate::actions::promote as pr;
    let act = &cfg.actions;
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else {
        let names: Vec<&str> = cfg.shards.iter().map(|s| s.name.as_str()).collect();
        return Err(CommandError::new(1, format!("no shard named {shard:?}; the config has {}", names.join(", "))));
    };
    // A dry run only reads: without an admin account it reads as the monitor.
    let (admin_user, admin_password) = if act.user.is_empty() {
        (cfg.defaults.user.clone(), cfg.defaults.password.clone())
    } else {
        (act.user.clone(), act.password.clone())
    };
    let accounts = pr::Accounts {
        admin_user,
        admin_password,
        repl_user: act.replication_user.clone(),
        repl_password: act.replication_password.clone(),
        tls: probe_options(cfg).tls.clone(),
        timeout: cfg.poll.timeout.max(Duration::from_secs(2)),
    };
    let req = pr::Request {
        shard: sc.name.clone(),
        master: sc.master.clone(),
        replicas: sc.replicas.clone(),
        candidate: candidate.clone(),
        dry_run: true,
        catchup_timeout: act.catchup_timeout,
        max_lag: cfg.thresholds.lag_warn,
        force_checks: Vec::new(),
        old_master: pr::OldMaster::Replica,
        detach: Vec::new(),
        kill_unstoppable_writers: true,
        hook: act.post_promote_hook.clone(),
        hook_timeout: act.hook_timeout,
    };
    Ok((req, accounts))
}

/// The replicas a checksum compares: every one the topology knows. A chained
/// replica below a relay that logs rows gets the relay's checksums, not its
/// own (pt-table-checksum has the same limit): said, not hidden.
async fn with_discovered(
    cfg: Arc<Config>,
    shard: String,
    master: Addr,
    configured: Vec<Addr>,
) -> (Vec<Addr>, Vec<String>) {
    let found = shard_replicas(cfg, shard).await;
    let mut out = configured;
    let mut warnings = Vec::new();
    for (a, source) in found {
        if let Some(s) = source.filter(|s| *s != master) {
            warnings.push(format!(
                "{a} replicates from {s}, not the master: with row-based logging on {s}, its checksums are {s}'s"
            ));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    (out, warnings)
}

/// A checksum request for `shard` with the config's settings, and the admin connection options.
pub fn checksum_parts(
    cfg: &Config,
    shard: &str,
) -> Result<(crate::actions::checksum::Request, Arc<crate::probe::ProbeOptions>), CommandError> {
    let act = &cfg.actions;
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else {
        return Err(CommandError::new(2, format!("no shard named {shard:?} in the config")));
    };
    let mut opts = (*probe_options(cfg)).clone();
    if !act.user.is_empty() {
        opts.user = act.user.clone();
        opts.password = act.password.clone();
    }
    opts.timeout = opts.timeout.max(Duration::from_secs(2));
    let req = crate::actions::checksum::Request {
        shard: sc.name.clone(),
        master: sc.master.clone(),
        replicas: sc.replicas.clone(),
        tables: Vec::new(),
        databases: Vec::new(),
        result_table: cfg.checksum.table.clone(),
        chunk_time: cfg.checksum.chunk_time,
        max_lag: cfg.checksum.max_lag,
        max_threads_running: cfg.checksum.max_threads_running,
        replica_timeout: Duration::from_secs(60),
        resume: false,
        dry_run: true,
    };
    Ok((req, Arc::new(opts)))
}

/// `shardtop promote`: exit 0 promoted, 1 refused (nothing changed), 2 failed
/// and rolled back, 3 failed and the rollback failed too (look at the shard).
pub async fn promote(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    use crate::actions::promote::{self as pr, OldMaster};
    let crate::cli::Command::Promote { shard, to, dry_run, yes, timeout, force_checks, old_master, detach, no_kill } =
        cmd
    else {
        return Err(CommandError::new(1, "internal: not a promote command"));
    };
    let cfg = load_config(cli, 1)?.config;
    let act = &cfg.actions;
    if !dry_run {
        if cli.read_only {
            return Err(CommandError::new(1, "--read-only: promotion writes to servers; only --dry-run is allowed"));
        }
        if !act.enabled {
            return Err(CommandError::new(
                1,
                "actions are disabled: set [actions] enabled = true (with its admin and replication accounts) to promote; --dry-run works without",
            ));
        }
    }
    let (mut req, accounts) = promote_parts(&cfg, shard, to)?;
    req.catchup_timeout = timeout.unwrap_or(act.catchup_timeout);
    req.force_checks = force_checks.clone();
    req.old_master = match old_master {
        crate::cli::OldMasterChoice::Replica => OldMaster::Replica,
        crate::cli::OldMasterChoice::Detach => OldMaster::Detach,
    };
    req.detach = detach.clone();
    req.kill_unstoppable_writers = !no_kill;
    let sc_name = req.shard.clone();
    let mut print = |p: &crate::actions::Progress| print_progress(p);
    // Always the plan first: a dry run of the same request.
    let mut none = crate::actions::audit::AuditLog::open(None).map_err(|e| CommandError::new(1, e.to_string()))?;
    if let Err(e) = pr::promote(&req, &accounts, &act.lock_dir, &mut none, &mut print).await {
        println!("{e}");
        return Ok(1);
    }
    if *dry_run {
        println!("dry run: nothing was changed");
        return Ok(0);
    }
    if !yes && !confirm(&sc_name)? {
        println!("not confirmed: nothing was changed");
        return Ok(1);
    }
    req.dry_run = false;
    let mut audit = crate::actions::audit::AuditLog::open(Some(&act.audit_log))
        .map_err(|e| CommandError::new(1, format!("cannot open the audit log {}: {e}", act.audit_log.display())))?;
    match pr::promote(&req, &accounts, &act.lock_dir, &mut audit, &mut print).await {
        Ok(o) => {
            for w in &o.warnings {
                println!("warning: {w}");
            }
            println!(
                "promoted {} to master of {}: {} (audit: {})",
                req.candidate,
                req.shard,
                o.timing(),
                act.audit_log.display()
            );
            Ok(0)
        }
        Err(e @ pr::PromoteError::Refused(_)) => {
            println!("{e}");
            Ok(1)
        }
        Err(e @ pr::PromoteError::Failed { rolled_back: true, .. }) => {
            println!("{e}");
            Ok(2)
        }
        Err(e) => {
            println!("{e}");
            Ok(3)
        }
    }
}

fn print_progress(p: &crate::actions::Progress) {
    use crate::actions::Progress;
    match p {
        Progress::Checks(checks) => {
            println!("checks:");
            for c in checks {
                let mark = if c.ok {
                    "ok  "
                } else if c.forced {
                    "FORCED"
                } else {
                    "FAIL"
                };
                println!("  {mark:<6} {:<20} {}", c.name, c.detail);
            }
        }
        Progress::Plan(steps) => {
            println!("plan:");
            for (i, s) in steps.iter().enumerate() {
                println!("  {}. {:<14} {}", i + 1, s.name, s.what);
            }
        }
        Progress::Started { .. } => {}
        Progress::Finished { step, took, detail } => {
            println!("  ✓ {step:<14} {:>8.1} ms  {detail}", took.as_secs_f64() * 1e3)
        }
        Progress::Failed { step, took, error } => {
            println!("  ✖ {step:<14} {:>8.1} ms  {error}", took.as_secs_f64() * 1e3)
        }
        Progress::RolledBack { detail } => println!("  ↺ rolled back: {detail}"),
    }
}

/// Ask for the shard name on the terminal; no terminal means no.
fn confirm(shard: &str) -> Result<bool, CommandError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::new(1, "no terminal to confirm on: pass --yes to promote without asking"));
    }
    print!("type the shard name ({shard}) to go ahead: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CommandError::new(1, e.to_string()))?;
    Ok(line.trim() == shard)
}

/// `shardtop checksum`: exit 0 consistent, 1 differences, 2 failed, 3 interrupted.
pub async fn checksum(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    use crate::actions::checksum::{self as ck, Event};
    use std::sync::atomic::{AtomicBool, Ordering};
    let crate::cli::Command::Checksum { shard, tables, databases, dry_run, resume, format, method } = cmd else {
        return Err(CommandError::new(2, "internal: not a checksum command"));
    };
    let cfg = load_config(cli, 2)?.config;
    let act = &cfg.actions;
    if !dry_run && (cli.read_only || !act.enabled) {
        return Err(CommandError::new(
            2,
            if cli.read_only {
                "--read-only: the checksum writes its results to the servers; only --dry-run is allowed"
            } else {
                "actions are disabled: set [actions] enabled = true (with its admin account) to checksum; --dry-run works without"
            },
        ));
    }
    let (mut req, opts) = checksum_parts(&cfg, shard)?;
    let (replicas, warnings) =
        with_discovered(Arc::new(cfg.clone()), req.shard.clone(), req.master.clone(), req.replicas.clone()).await;
    req.replicas = replicas;
    for w in warnings {
        println!("warning: {w}");
    }
    req.tables = tables.clone();
    req.databases = databases.clone();
    req.resume = *resume;
    req.dry_run = *dry_run;
    let sc_name = req.shard.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.store(true, Ordering::Relaxed);
        }
    });
    let json = *format == Format::Json;
    let mut last_line = std::time::Instant::now() - Duration::from_secs(10);
    let started = std::time::Instant::now();
    let mut on_event = |e: &Event| {
        if json {
            return;
        }
        match e {
            Event::Plan(plans) => {
                println!("tables ({}):", plans.len());
                for p in plans {
                    let how = match (&p.skip, &p.index) {
                        (Some(why), _) => format!("SKIP: {why}"),
                        (None, Some(i)) => format!("chunks over {i} ({})", p.key.join(", ")),
                        (None, None) => "whole table as one chunk (no usable key)".into(),
                    };
                    println!("  {}.{:<24} ~{:>9} rows  {how}", p.db, p.tbl, p.rows_estimate);
                }
            }
            Event::Chunk { db, tbl, done_rows, total_rows, .. } if last_line.elapsed() > Duration::from_secs(2) => {
                last_line = std::time::Instant::now();
                let secs = started.elapsed().as_secs_f64();
                let rate = *done_rows as f64 / secs.max(1e-9);
                let eta =
                    if rate > 0.0 && total_rows > done_rows { (*total_rows - *done_rows) as f64 / rate } else { 0.0 };
                println!("  {db}.{tbl}: {done_rows} of ~{total_rows} rows, {rate:.0} rows/s, ETA {eta:.0} s");
            }
            Event::Paused { reason } if last_line.elapsed() > Duration::from_secs(2) => {
                last_line = std::time::Instant::now();
                println!("  paused: {reason}");
            }
            Event::TableDone { db, tbl, chunks, rows, took } => {
                println!("  ✓ {db}.{tbl}: {rows} rows in {chunks} chunks, {:.1} s", took.as_secs_f64())
            }
            _ => {}
        }
    };
    if *method == crate::cli::ChecksumMethod::Table {
        let r = match ck::run_table_method(&req, opts.clone(), &mut on_event).await {
            Ok(r) => r,
            Err(e) => {
                println!("checksum failed: {e}");
                return Ok(2);
            }
        };
        if *dry_run {
            return Ok(0);
        }
        if json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            for (t, vals) in &r.tables {
                let v: Vec<String> =
                    vals.iter().map(|(a, c)| format!("{a}={}", c.map_or("NULL".into(), |c| c.to_string()))).collect();
                println!("  {t}: {}", v.join("  "));
            }
            for (t, who) in &r.differing {
                println!("DIFF {t}: {}", who.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
            }
            println!(
                "{}: {} tables compared at {}; replication held {:.1} s; {} differ",
                sc_name,
                r.tables.len(),
                r.position,
                r.held_seconds,
                r.differing.len()
            );
        }
        return Ok(if r.differing.is_empty() { 0 } else { 1 });
    }
    let report = match ck::run(&req, opts, stop, &mut on_event).await {
        Ok(r) => r,
        Err(e) => {
            println!("checksum failed: {e}");
            return Ok(2);
        }
    };
    if *dry_run {
        if !json {
            println!("dry run: nothing was written");
        }
        return Ok(0);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        for d in &report.diffs {
            println!(
                "DIFF {} rows {} vs master {} crc {} vs master {}",
                d.place(),
                d.this_cnt,
                d.master_cnt.map_or("NULL".into(), |v| v.to_string()),
                d.this_crc,
                d.master_crc.as_deref().unwrap_or("NULL")
            );
        }
        println!(
            "{}: {} rows in {:.1} s ({:.0} rows/s), {} differing chunks{}",
            report.shard,
            report.rows,
            report.seconds,
            report.rows_per_second,
            report.diffs.len(),
            if report.interrupted { "; interrupted: continue with --resume" } else { "" }
        );
    }
    Ok(if report.interrupted {
        3
    } else if report.diffs.is_empty() {
        0
    } else {
        1
    })
}

pub async fn bench_wire(sizes: &[usize], intervals: usize, out: Option<&std::path::Path>, base_port: u16) -> CmdResult {
    let table = crate::bench_wire::report(sizes, intervals.max(1), base_port)
        .await
        .map_err(|e| CommandError::new(1, format!("bench --wire: {e}")))?;
    print!("{table}");
    if let Some(path) = out {
        std::fs::write(path, &table)
            .map_err(|e| CommandError::new(1, format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(0)
}

pub fn bench_terminal(
    cli: &Cli,
    shards: &[usize],
    sizes: &[(u16, u16)],
    screens: &[crate::bench_terminal::Screen],
    activities: &[crate::bench_terminal::Activity],
    seconds: u32,
) -> CmdResult {
    let fps: Vec<u32> = cli.fps.map_or_else(|| vec![10, 2], |f| vec![f]);
    let shards: Vec<usize> = shards.iter().map(|&n| n.max(1)).collect();
    let plan = crate::bench_terminal::Plan { shards: &shards, sizes, screens, activities, fps: &fps, seconds };
    let report = crate::bench_terminal::report(&plan).map_err(|e| CommandError::new(1, format!("bench: {e}")))?;
    print!("{report}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(replicas: &[&str]) -> Config {
        let mut c = Config::default();
        c.shards.push(config::ShardConfig {
            name: "s1".into(),
            master: Addr::new("db1", 3306),
            replicas: replicas.iter().map(|r| Addr::new(*r, 3306)).collect(),
            upstream: None,
        });
        c
    }

    #[test]
    fn after_a_promotion_the_session_config_names_the_new_master() {
        let c = with_new_master(&cfg(&["db2", "db3"]), "s1", &Addr::new("db3", 3306));
        assert_eq!(c.shards[0].master, Addr::new("db3", 3306));
        assert_eq!(c.shards[0].replicas, vec![Addr::new("db1", 3306), Addr::new("db2", 3306)]);
        // Discovered replicas stay discovered, now from the new master.
        let c = with_new_master(&cfg(&[]), "s1", &Addr::new("db9", 3306));
        assert_eq!((c.shards[0].master.clone(), c.shards[0].replicas.len()), (Addr::new("db9", 3306), 0));
        // Another shard's name, or the master itself, changes nothing.
        assert_eq!(with_new_master(&cfg(&["db2"]), "s2", &Addr::new("db2", 3306)), cfg(&["db2"]));
        assert_eq!(with_new_master(&cfg(&["db2"]), "s1", &Addr::new("db1", 3306)), cfg(&["db2"]));
        // The next action's request starts from the new roles.
        let (req, _) = promote_parts(
            &with_new_master(&cfg(&["db2", "db3"]), "s1", &Addr::new("db2", 3306)),
            "s1",
            &Addr::new("db1", 3306),
        )
        .expect("parts");
        assert_eq!(
            (req.master, req.replicas),
            (Addr::new("db2", 3306), vec![Addr::new("db1", 3306), Addr::new("db3", 3306)])
        );
    }
}
