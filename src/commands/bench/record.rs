//! `shardtop bench --record`: what recording costs, on the simulated fleet — bytes per
//! instance-sample, the recorder's CPU per second of polling, and the time to seek to a moment
//! and draw it (docs/recording.md). `--recording PATH` keeps the recording, and measures only the
//! seeks of one that exists: a 24-hour, 1,000-instance recording is made once (in simulated
//! time, as fast as the recorder goes) and measured many times.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::record::store::Totals;
use crate::record::wire::{Layout, from_ms};
use crate::record::{RecordOptions, Recorder, Recording};
use crate::sim::SimFleet;
use crate::ui::app::App;
use crate::ui::replay::Replay;
use crate::ui::theme::Theme;

const EPOCH_MS: i64 = 1_764_000_000_000;

pub struct Plan {
    pub shards: usize,
    pub seconds: u32,
    pub interval: Duration,
    pub seeks: usize,
    /// Keep the recording here (and only measure seeks when it exists).
    pub keep: Option<PathBuf>,
    pub keyframe: Duration,
}

pub fn report(plan: &Plan) -> Result<String, String> {
    let sim = SimFleet { shards: plan.shards, ..SimFleet::default() };
    let instances = plan.shards * (sim.replicas + 1);
    if let Some(path) = plan.keep.as_deref() {
        let mut out = String::new();
        if !path.exists() {
            out += &record(plan, &sim, instances, path)?;
        }
        return Ok(out + &seeks(plan, path)?);
    }
    let path = std::env::temp_dir().join(format!("shardtop-bench-record-{}.db", std::process::id()));
    let result = record(plan, &sim, instances, &path).and_then(|r| Ok(r + &seeks(plan, &path)?));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

fn record(plan: &Plan, sim: &SimFleet, instances: usize, path: &Path) -> Result<String, String> {
    let fleet = crate::fleet::Fleet::new(sim.layout(), crate::fleet::Limits::default());
    let app = App::new(fleet, Theme::plain(), "bench", plan.interval);
    let layout = Layout::of(&app.fleet, "bench", plan.interval, None);
    let opts = RecordOptions {
        path: path.to_path_buf(),
        retention: None,
        block_span: crate::record::recorder::DEFAULT_BLOCK_SPAN,
        audit_log: None,
        markers: None,
    };
    let mut rec = Recorder::start(opts, &layout, from_ms(EPOCH_MS)).map_err(|e| e.to_string())?;
    rec.set_keyframe_span(plan.keyframe);
    let step = plan.interval.as_secs_f64();
    let sweeps = (f64::from(plan.seconds) / step).floor() as usize;
    // CPU time (this process's, around the recorder's calls only), not wall time: the machine
    // may be busy with other work, which would count in a wall-clock figure.
    let mut recording = Duration::ZERO;
    let cpu_now = || super::sweep::usage().0;
    let wall = Instant::now();
    let mut samples = Vec::with_capacity(instances);
    for k in 0..=sweeps {
        let t = k as f64 * step;
        let at = from_ms(EPOCH_MS + (t * 1000.0) as i64);
        // The samples are made outside the clock: only what the recorder does is timed.
        samples.clear();
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                let result = crate::sim::scale::status_at(sim, s, i, t % crate::sim::CYCLE_SECS);
                let sample = crate::fleet::status::Sample { at, elapsed: Duration::from_micros(800), result };
                samples.push((crate::poll::Slot { shard: s, instance: i }, sample));
            }
        }
        let started = cpu_now();
        for (slot, sample) in &samples {
            rec.sample(*slot, sample);
        }
        rec.tick(at).map_err(|e| e.to_string())?;
        recording += cpu_now().saturating_sub(started);
        if k > 0 && (t as u64).is_multiple_of(3600) && t.fract() == 0.0 {
            eprintln!("bench --record: {} simulated hours recorded in {:.0?}", t as u64 / 3600, wall.elapsed());
        }
    }
    let started = cpu_now();
    rec.flush().map_err(|e| e.to_string())?;
    recording += cpu_now().saturating_sub(started);
    let totals = rec.totals().map_err(|e| e.to_string())?;
    drop(rec);
    let file = std::fs::metadata(path).map_or(0, |m| m.len());
    let cpu = recording.as_secs_f64() / (sweeps.max(1) as f64 * step);
    Ok(format!(
        "recording {instances} simulated instances every {step}s for {}s ({} samples, made in {:.1?})\n{}\
         recorder CPU (user + system): {:.2} ms per second of polling = {:.2} % of a core\n",
        plan.seconds,
        totals.samples,
        wall.elapsed(),
        sizes(&totals, file, step),
        cpu * 1000.0,
        cpu * 100.0,
    ))
}

fn sizes(totals: &Totals, file: u64, step: f64) -> String {
    let per_sample = totals.stored_bytes as f64 / totals.samples.max(1) as f64;
    format!(
        "stored: {} bytes in {} blocks (file {} bytes), {:.2} bytes per instance-sample (before zstd {:.1}); \
         {:.0} MB per 1,000 instances per day at this interval\n",
        totals.stored_bytes,
        totals.blocks,
        file,
        per_sample,
        totals.raw_bytes as f64 / totals.samples.max(1) as f64,
        per_sample * 1000.0 * 86_400.0 / step / 1e6,
    )
}

/// Seek to `plan.seeks` moments spread at random (a fixed seed) over the recording: a fresh
/// model rebuilt at the moment (the warm-up replayed) and one 200x60 frame drawn.
fn seeks(plan: &Plan, path: &Path) -> Result<String, String> {
    let rec = Recording::open(path).map_err(|e| e.to_string())?;
    let (t0, t1) = rec.span().map_err(|e| e.to_string())?.ok_or("an empty recording")?;
    let warm = crate::ui::replay::WARMUP.as_millis() as i64;
    let (from, to) = ((t0 + warm).min(t1), t1);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::new();
    // CPU time too: on a machine busy with other work the wall time is mostly waiting for a core.
    let mut cpu_times = Vec::new();
    let (mut read, mut total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..plan.seeks {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let t = from + (rng % (to - from + 1) as u64) as i64;
        let started = Instant::now();
        let cpu = super::sweep::usage().0;
        let r = Replay::at(&rec, t, Theme::plain()).map_err(|e| e.to_string())?;
        let mut term = Terminal::new(TestBackend::new(200, 60)).map_err(|e| e.to_string())?;
        term.draw(|f| {
            crate::ui::views::draw(&r.app, f);
        })
        .map_err(|e| e.to_string())?;
        let took = started.elapsed();
        cpu_times.push(super::sweep::usage().0.saturating_sub(cpu));
        times.push(took);
        total += took;
        // The same window read and decoded alone: how much of a seek is the recording's part.
        let started = Instant::now();
        let session = rec.session_at(t).map(|s| s.id).unwrap_or_default();
        rec.read(session, t - warm, t).map_err(|e| e.to_string())?;
        read += started.elapsed();
    }
    times.sort();
    cpu_times.sort();
    let at = |v: &[Duration], p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
    let pct = |p: f64| at(&times, p);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let totals = rec.store().totals().map_err(|e| e.to_string())?;
    let file = std::fs::metadata(path).map_or(0, |m| m.len());
    let step = plan.interval.as_secs_f64();
    Ok(format!(
        "{}: {:.1} h recorded\n{}seek and draw (200x60), {} seeks at random moments: p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms (CPU time: p50 {:.1} ms, p99 {:.1} ms); of which reading and decoding the recording {:.0} % \
         on average\n",
        path.display(),
        (t1 - t0) as f64 / 3.6e6,
        sizes(&totals, file, step),
        times.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        ms(at(&cpu_times, 0.5)),
        ms(at(&cpu_times, 0.99)),
        100.0 * read.as_secs_f64() / total.as_secs_f64().max(1e-9),
    ))
}
