//! What each subcommand does, wired from the parts in the library.

use std::time::Duration;

use tokio::sync::mpsc;

use std::sync::Arc;

use crate::cli::{Cli, ColorChoice, Format};
use crate::config::{self, Config, TlsMode};
use crate::feed::FeedProber;
use crate::metrics::MetricsClient;
use crate::fleet::{Addr, Fleet, Limits, Shard};
use crate::heartbeat;
use crate::poll::{self, Poller, Schedule, Slot};
use crate::probe::{HeartbeatSpec, ProbeOptions, Prober, Tls};
use crate::snapshot::Report;
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

/// The demo's feed probe runs four rounds a second, so its percentiles move visibly.
const DEMO_FEED_INTERVAL: Duration = Duration::from_millis(250);

pub async fn demo(cli: &Cli, shards: u16, replicas: u16) -> CmdResult {
    let sim = SimFleet { shards: shards.into(), replicas: replicas.into(), ..SimFleet::default() };
    let interval = Duration::from_secs(1);
    let fleet = Fleet::new(sim.layout(), Limits::default());
    let mut app = App::new(fleet, Theme::default_theme(color_enabled(cli.color)), "demo", interval);
    app.feed_interval = DEMO_FEED_INTERVAL;
    let (tx, rx) = mpsc::channel(4096);
    let _poller = Poller::spawn(sim.probes(), Schedule { interval, concurrency: 256 }, tx);
    let (feed_tx, feed_rx) = mpsc::channel::<crate::ui::app::Message>(64);
    let feed_task = tokio::spawn(sim.clone().run_feed(DEMO_FEED_INTERVAL, feed_tx));
    init_event_log();
    log::info!(target: "fleet", "demo: {} simulated shards; incidents repeat every {}s", shards, crate::sim::CYCLE_SECS);
    let result = crate::ui::run(app, rx, feed_rx, cli.fps.unwrap_or(10)).await;
    feed_task.abort();
    result.map_err(|e| CommandError::new(3, format!("terminal: {e}")))?;
    Ok(0)
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
    let probes = if metrics_only { Vec::new() } else { probers(&shards, &opts) };
    let feed_prober = cfg.feed.as_ref().map(|f| (FeedProber::new(f, &shards, opts.clone()), f.interval));
    let clients = metrics_clients(&cfg)?;
    let fleet = fleet_for(&cfg, shards);
    // The file name only: the header has 80 columns to share.
    let source = cfg
        .source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut app = App::new(fleet, Theme::default_theme(color_enabled(cli.color)), source, cfg.poll.interval);
    if let Some(f) = &cfg.feed {
        app.feed_interval = f.interval;
    }
    init_event_log();
    for w in &loaded.warnings {
        log::warn!(target: "config", "{w}");
    }
    if metrics_only {
        log::info!(target: "fleet", "metrics-only: no database account, figures from {} metrics source(s)", clients.len());
    } else {
        log::info!(target: "fleet", "polling {} servers every {}", probes.len(), config::format_duration(cfg.poll.interval));
    }
    let (tx, rx) = mpsc::channel(4096);
    let _poller = Poller::spawn(probes, Schedule { interval: cfg.poll.interval, concurrency: cfg.poll.concurrency }, tx);
    // The built-in heartbeat writer runs only when the config asks for it.
    let mut writers = tokio::task::JoinSet::new();
    if let Some(hb) = cfg.heartbeat.as_ref().filter(|h| h.write) {
        let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
        for s in &cfg.shards {
            writers.spawn(heartbeat::write_loop(s.master.clone(), opts.clone(), spec.clone(), hb.interval, false));
        }
        log::info!(target: "fleet", "writing heartbeats to {} on {} masters", hb.table, cfg.shards.len());
    }
    let (side_tx, side_rx) = mpsc::channel::<crate::ui::app::Message>(64);
    if let Some((prober, interval)) = feed_prober {
        log::info!(target: "fleet", "feed probe every {} on {} shards", config::format_duration(interval), cfg.shards.len());
        writers.spawn(crate::feed::run(prober, interval, side_tx.clone()));
    }
    for (client, interval) in clients {
        log::info!(target: "fleet", "reading {} every {}", client.config().name, config::format_duration(interval));
        // Charts start filled: QPS one point per poll interval, as the poller would have drawn it.
        let span = cfg.poll.interval * crate::fleet::model::HISTORY_LEN as u32;
        writers.spawn(crate::metrics::run(client, interval, Some((span, cfg.poll.interval)), side_tx.clone()));
    }
    drop(side_tx);
    crate::ui::run(app, rx, side_rx, cli.fps.unwrap_or(cfg.ui.fps))
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
    // Say goodbye to the servers that answer; don't wait on the ones that don't.
    futures::future::join_all(probes.iter_mut().map(|(_, p)| p.close(Duration::from_millis(200)))).await;
    if let Some((prober, _)) = feed.as_mut() {
        prober.close(Duration::from_millis(200)).await;
    }
    let report = Report::new(&fleet, chrono::Utc::now());
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", report.to_table()),
    }
    Ok(report.exit_code() as u8)
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
    futures::future::join_all(probes.iter_mut().map(|(_, p)| p.close(Duration::from_millis(200)))).await;
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
                println!("  ok    {name}: {} values for {} of {} shards", u.values.len(), shards.len(), cfg.shards.len());
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
        return Err(CommandError::new(1, "no [heartbeat] section in the config: set `table` (e.g. \"percona.heartbeat\")"));
    };
    if let Some(bad) = only.iter().find(|n| !cfg.shards.iter().any(|s| &s.name == *n)) {
        return Err(CommandError::new(1, format!("no shard named {bad:?} in the config")));
    }
    let opts = probe_options(&cfg);
    let spec = HeartbeatSpec { table: hb.table.clone(), utc: hb.utc };
    let masters: Vec<Addr> =
        cfg.shards.iter().filter(|s| only.is_empty() || only.contains(&s.name)).map(|s| s.master.clone()).collect();
    eprintln!("writing heartbeats to {} every {} on {} masters", hb.table, config::format_duration(hb.interval), masters.len());
    let mut tasks = tokio::task::JoinSet::new();
    for addr in masters {
        let (opts, spec) = (opts.clone(), spec.clone());
        tasks.spawn(heartbeat::write_loop(addr, opts, spec, hb.interval, true));
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
            futures::future::join_all(probes.iter_mut().map(|(_, p)| p.close(Duration::from_millis(200)))).await;
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
