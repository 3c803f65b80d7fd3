//! `shardtop record`: the fleet polled as the TUI polls it, headless, every message and event
//! appended to a recording; `record export` cuts a window of one into a new file.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use super::polling::{Polling, chart_backfill};
use super::{CmdResult, CommandError, load_config};
use crate::cli::{Cli, RecordArgs, RecordCommand};
use crate::config::{self, Config};
use crate::poll::SlotMap;
use crate::record::recorder::DEFAULT_BLOCK_SPAN;
use crate::record::wire::Layout;
use crate::record::{RecordOptions, Recorder, Store};
use crate::ui::app::{App, Effect, Message};
use crate::ui::tape::Tape;
use crate::ui::theme::Theme;

/// Where the recording goes: the command line's path, else `[record] path`, else the default.
pub fn recording_path(given: Option<&PathBuf>, cfg: Option<&Config>) -> PathBuf {
    given.cloned().or_else(|| cfg.and_then(|c| c.record.path.clone())).unwrap_or_else(crate::record::default_path)
}

/// The source name shown in the header: the config file's name.
pub fn source_name(cfg: &Config) -> String {
    cfg.source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned())
}

/// Start recording `app`'s fleet as it stands (before its first sample).
pub fn start_recorder(
    cfg: &Config,
    fleet: &crate::fleet::Fleet,
    path: PathBuf,
    retention: Option<Duration>,
    block: Option<Duration>,
) -> Result<Recorder, CommandError> {
    let feed = cfg.feed.as_ref().map(|f| (f.interval, f.window));
    let layout = Layout::of(fleet, &source_name(cfg), cfg.poll.interval, feed);
    let opts = RecordOptions {
        path,
        retention: Some(retention.unwrap_or(cfg.record.retention)),
        block_span: block.unwrap_or(DEFAULT_BLOCK_SPAN),
        audit_log: Some(cfg.actions.audit_log.clone()),
        markers: Some(crate::ui::markers::default_path()),
    };
    Recorder::start(opts, &layout, Utc::now()).map_err(|e| CommandError::new(1, format!("cannot record: {e}")))
}

/// The TUI's recording: `--record PATH`, or `[record] tui = true`; else the session's history
/// in memory (for time travel), with the config's poll interval and feed window.
pub fn tui_tape(cli: &Cli, cfg: &Config, app: &App) -> Result<Tape, CommandError> {
    let path = match (&cli.record, cfg.record.tui) {
        (Some(p), _) => p.clone(),
        (None, true) => recording_path(None, Some(cfg)),
        (None, false) => {
            let feed = cfg.feed.as_ref().map(|f| (f.interval, f.window));
            let layout = Layout::of(&app.fleet, &source_name(cfg), cfg.poll.interval, feed);
            return Ok(Tape::history(&layout, Some(cfg.actions.audit_log.clone()), Utc::now()));
        }
    };
    let rec = start_recorder(cfg, &app.fleet, path, None, None)?;
    log::info!(target: "record", "recording to {}", rec.path().display());
    Ok(Tape::new(rec))
}

pub async fn record(cli: &Cli, args: &RecordArgs) -> CmdResult {
    if let Some(RecordCommand::Export { recording, from, to, out, .. }) = &args.command {
        return export(cli, recording.as_ref(), from, to, out);
    }
    let loaded = load_config(cli, 1)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let cfg = loaded.config;
    let polling = Polling::new(&cfg)?;
    let mut app = App::new(polling.fleet.clone(), Theme::plain(), source_name(&cfg), cfg.poll.interval);
    app.read_only = true;
    let path = recording_path(args.out.as_ref(), Some(&cfg));
    let rec = start_recorder(&cfg, &app.fleet, path.clone(), args.retention, args.block)?;
    let mut tape = Tape::new(rec);
    let (tx, mut rx) = mpsc::channel::<Message>(4096);
    let (_, sources, mut poller) = polling.start(&tx)?;
    let mut tasks = tokio::task::JoinSet::new();
    sources.spawn(&mut tasks, &tx, None, chart_backfill(&cfg));
    drop(tx);
    if !args.quiet {
        eprintln!(
            "recording {} servers every {} to {} (Ctrl-C stops)",
            poller.poller.len(),
            config::format_duration(cfg.poll.interval),
            path.display()
        );
    }
    let stop = stop_signal(args.duration);
    tokio::pin!(stop);
    let mut clock = tokio::time::interval(Duration::from_millis(250));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut slots = SlotMap::default();
    let mut result = Ok(());
    loop {
        let effects = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => crate::ui::deliver_recorded(&mut app, &mut slots, &mut tape, m),
                None => break,
            },
            _ = clock.tick() => {
                let now = Utc::now();
                let effects = crate::ui::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Tick(now));
                tape.tick(now);
                if !tape.is_on() {
                    result = Err(CommandError::new(1, "the recording failed (see above)"));
                    break;
                }
                effects
            }
            _ = &mut stop => break,
        };
        for e in effects {
            match e {
                Effect::Events(events) if !args.quiet => {
                    for ev in events {
                        println!(
                            "{} {:<4} {}: {}",
                            app.now.format("%H:%M:%S"),
                            ev.severity.label(),
                            ev.shard,
                            ev.message
                        );
                    }
                }
                Effect::AddInstances(found) => {
                    for (slot, addr) in &found {
                        crate::poll::AddInstance::add_instance(&mut poller, *slot, addr);
                    }
                }
                _ => {}
            }
        }
    }
    tasks.abort_all();
    tape.flush().map_err(|e| CommandError::new(1, format!("the last block was not saved: {e}")))?;
    if let Some(rec) = tape.into_recorder()
        && !args.quiet
        && let Ok(t) = rec.totals()
    {
        eprintln!(
            "{}: {} samples in {} blocks, {} bytes ({:.1} bytes per instance-sample)",
            path.display(),
            t.samples,
            t.blocks,
            t.stored_bytes,
            t.stored_bytes as f64 / t.samples.max(1) as f64
        );
    }
    result.map(|()| 0)
}

/// SIGINT, SIGTERM or SIGHUP, or the end of `--duration`.
async fn stop_signal(duration: Option<Duration>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        return std::future::pending().await;
    };
    let until = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
        _ = until => {}
    }
}

fn export(cli: &Cli, recording: Option<&PathBuf>, from: &str, to: &str, out: &std::path::Path) -> CmdResult {
    // The config only names the default recording: without one, the default path.
    let cfg = cli.config.path.as_ref().map(|_| load_config(cli, 1)).transpose()?.map(|l| l.config);
    let path = recording_path(recording, cfg.as_ref());
    let store = Store::open_read(&path).map_err(|e| CommandError::new(1, e.to_string()))?;
    let span = store
        .span()
        .map_err(|e| CommandError::new(1, e.to_string()))?
        .ok_or_else(|| CommandError::new(1, format!("{}: nothing recorded yet", path.display())))?;
    let t = |s: &str, what: &str| {
        crate::record::time::parse(s, span).map_err(|e| CommandError::new(2, format!("--{what}: {e}")))
    };
    let (from_ms, to_ms) = (t(from, "from")?, t(to, "to")?);
    if from_ms > to_ms {
        return Err(CommandError::new(2, format!("--from {from} is after --to {to}")));
    }
    let warmup = crate::ui::replay::WARMUP.as_millis() as i64;
    let totals = store.export(from_ms, to_ms, warmup, out).map_err(|e| CommandError::new(1, e.to_string()))?;
    println!(
        "{}: {} blocks, {} samples, {} bytes (with {} s of warm-up before --from)",
        out.display(),
        totals.blocks,
        totals.samples,
        std::fs::metadata(out).map_or(totals.stored_bytes as u64, |m| m.len()),
        warmup / 1000
    );
    Ok(0)
}
