//! `shardtop bench --record`: what recording costs, on the simulated fleet — bytes per
//! instance-sample, the recorder's CPU per second of polling, and the time to seek to a moment
//! and draw it (docs/recording.md).

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

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
}

pub fn report(plan: &Plan) -> Result<String, String> {
    let sim = SimFleet { shards: plan.shards, ..SimFleet::default() };
    let instances = plan.shards * (sim.replicas + 1);
    let path = std::env::temp_dir().join(format!("shardtop-bench-record-{}.db", std::process::id()));
    let result = measure(plan, &sim, instances, &path);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

fn measure(plan: &Plan, sim: &SimFleet, instances: usize, path: &std::path::Path) -> Result<String, String> {
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
    let step = plan.interval.as_secs_f64();
    let sweeps = (f64::from(plan.seconds) / step).floor() as usize;
    let mut recording = Duration::ZERO;
    for k in 0..=sweeps {
        let t = k as f64 * step;
        let at = from_ms(EPOCH_MS + (t * 1000.0) as i64);
        // The samples are made outside the clock: only what the recorder does is timed.
        let mut samples = Vec::with_capacity(instances);
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                let result = crate::sim::scale::status_at(sim, s, i, t % crate::sim::CYCLE_SECS);
                let sample = crate::fleet::status::Sample { at, elapsed: Duration::from_micros(800), result };
                samples.push((crate::poll::Slot { shard: s, instance: i }, sample));
            }
        }
        let started = Instant::now();
        for (slot, sample) in &samples {
            rec.sample(*slot, sample);
        }
        rec.tick(at).map_err(|e| e.to_string())?;
        recording += started.elapsed();
    }
    let started = Instant::now();
    rec.flush().map_err(|e| e.to_string())?;
    recording += started.elapsed();
    let totals = rec.totals().map_err(|e| e.to_string())?;
    drop(rec);
    let file = std::fs::metadata(path).map_or(0, |m| m.len());
    let per_sample = totals.stored_bytes as f64 / totals.samples.max(1) as f64;
    let per_day_1000 = per_sample * 1000.0 * 86_400.0 / step / 1e6;
    let cpu = recording.as_secs_f64() / (sweeps.max(1) as f64 * step);
    // Seek: a fresh model at a moment (the warm-up minute replayed) and one 200x60 frame.
    let recording_file = Recording::open(path).map_err(|e| e.to_string())?;
    let mut seeks = Vec::new();
    let span_ms = i64::from(plan.seconds) * 1000;
    for n in 0..plan.seeks {
        // Spread over the recording, deterministic.
        let t = EPOCH_MS + 60_000.min(span_ms) + (n as i64 * 7919 * 1000) % (span_ms - 60_000.min(span_ms)).max(1);
        let started = Instant::now();
        let r = Replay::at(&recording_file, t, Theme::plain()).map_err(|e| e.to_string())?;
        let mut term = Terminal::new(TestBackend::new(200, 60)).map_err(|e| e.to_string())?;
        term.draw(|f| {
            crate::ui::views::draw(&r.app, f);
        })
        .map_err(|e| e.to_string())?;
        seeks.push(started.elapsed());
    }
    seeks.sort();
    let pct = |p: f64| seeks.get(((seeks.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
    Ok(format!(
        "recording {instances} simulated instances every {}s for {}s ({} samples)\n\
         stored: {} bytes in {} blocks (file {} bytes), {:.2} bytes per instance-sample (before zstd {:.1}); \
         {:.0} MB per 1,000 instances per day at this interval\n\
         recorder CPU: {:.2} ms per second of polling = {:.2} % of a core\n\
         seek and draw (200x60), {} seeks: p50 {:.1} ms, p99 {:.1} ms\n",
        step,
        plan.seconds,
        totals.samples,
        totals.stored_bytes,
        totals.blocks,
        file,
        per_sample,
        totals.raw_bytes as f64 / totals.samples.max(1) as f64,
        per_day_1000,
        cpu * 1000.0,
        cpu * 100.0,
        seeks.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    ))
}
