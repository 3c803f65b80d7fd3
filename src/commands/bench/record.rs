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
    /// Every sample at the round's start, in slot order, 0.8 ms, no feed rounds (the bench before
    /// poller-like arrivals).
    pub regular: bool,
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
    let feed = (!plan.regular).then_some((Duration::from_secs(1), crate::fleet::model::DEFAULT_FEED_WINDOW));
    let layout = Layout::of(&app.fleet, "bench", plan.interval, feed);
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
    let mut poller = Poller::new(instances, plan.interval, plan.regular);
    let mut feed_next = 0.0;
    for k in 0..=sweeps {
        let t = k as f64 * step;
        // The samples are made outside the clock: only what the recorder does is timed.
        let rounds = if plan.regular { Vec::new() } else { poller.feed_rounds(sim, &mut feed_next, t + step) };
        let samples = poller.round(sim, t);
        let at = from_ms(EPOCH_MS + (t * 1000.0) as i64);
        let started = cpu_now();
        let mut feeds = rounds.iter().peekable();
        for (slot, sample) in samples {
            while let Some(r) = feeds.next_if(|r| r.at <= sample.at) {
                rec.feed(r);
            }
            rec.sample(*slot, sample);
        }
        feeds.for_each(|r| rec.feed(r));
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

/// The simulated poller: each round's samples as `shardtop`'s poller delivers them. Poller-like
/// (the default): instance k of n probed at `poll::spread_offset` into the interval (50 slots),
/// after a timer wake-up of 0–2 ms, taking its own typical time (0.4–2.5 ms) times a noise of
/// 0.7–1.6, one probe in a hundred 5–80 ms; stamped at its completion, delivered in completion
/// order. A feed round every second (each shard's master, 0.5–5 ms, 0–20 rows).
struct Poller {
    regular: bool,
    interval: Duration,
    rng: u64,
    base_ms: Vec<f64>,
    samples: Vec<(crate::poll::Slot, crate::fleet::status::Sample)>,
    user: u64,
}

impl Poller {
    fn new(instances: usize, interval: Duration, regular: bool) -> Poller {
        let mut p = Poller {
            regular,
            interval,
            rng: 0x2545_F491_4F6C_DD1D,
            base_ms: Vec::new(),
            samples: Vec::with_capacity(instances),
            user: 0,
        };
        p.base_ms = (0..instances).map(|_| 0.4 + 2.1 * p.uniform()).collect();
        p
    }

    fn uniform(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn round(&mut self, sim: &SimFleet, t: f64) -> &[(crate::poll::Slot, crate::fleet::status::Sample)] {
        use crate::fleet::status::Sample;
        use crate::poll::Slot;
        self.samples.clear();
        let n = sim.shards * (sim.replicas + 1);
        let wake = if self.regular { 0.0 } else { 2.0 * self.uniform() };
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                let k = s * (sim.replicas + 1) + i;
                let result = crate::sim::scale::status_at(sim, s, i, t % crate::sim::CYCLE_SECS);
                let (at_ms, took_ms) = if self.regular {
                    (t * 1000.0, 0.8)
                } else {
                    let slow = self.uniform() < 0.01;
                    let took =
                        if slow { 5.0 + 75.0 * self.uniform() } else { self.base_ms[k] * (0.7 + 0.9 * self.uniform()) };
                    let offset = crate::poll::spread_offset(self.interval, k, n).as_secs_f64() * 1000.0;
                    (t * 1000.0 + offset + wake + took, took)
                };
                let at = from_ms(EPOCH_MS + at_ms as i64);
                let elapsed = Duration::from_secs_f64(took_ms / 1000.0);
                self.samples.push((Slot { shard: s, instance: i }, Sample { at, elapsed, result }));
            }
        }
        if !self.regular {
            // Completion order (a stable sort: equal milliseconds keep slot order).
            self.samples.sort_by_key(|(_, s)| s.at);
        }
        &self.samples
    }

    /// The feed rounds due before `until` seconds, one a second from `next`.
    fn feed_rounds(&mut self, sim: &SimFleet, next: &mut f64, until: f64) -> Vec<crate::fleet::FeedRound> {
        use crate::fleet::{FeedResult, FeedRound};
        let mut out = Vec::new();
        while *next < until {
            self.user = self.user.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let results = (0..sim.shards)
                .map(|s| {
                    let took = 0.5 + 4.5 * self.uniform();
                    let rows = (self.uniform() * 21.0) as usize;
                    Some(FeedResult {
                        instance: sim.addr(s, 0),
                        elapsed: Duration::from_secs_f64(took / 1000.0),
                        outcome: Ok(rows),
                    })
                })
                .collect();
            let at = from_ms(EPOCH_MS + (*next * 1000.0) as i64 + 6);
            out.push(FeedRound { at, user_id: self.user >> 20, results });
            *next += 1.0;
        }
        out
    }
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
        if std::env::var_os("SHARDTOP_BENCH_SPLIT").is_some() {
            // The same window read and decoded alone: how much of a seek is the recording's part.
            let started = Instant::now();
            let session = rec.session_at(t).map(|s| s.id).unwrap_or_default();
            rec.read(session, t - warm, t).map_err(|e| e.to_string())?;
            read += started.elapsed();
            split(&rec, session, t - warm, t)?;
        }
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
         max {:.1} ms (CPU time: p50 {:.1} ms, p99 {:.1} ms){}\n",
        path.display(),
        (t1 - t0) as f64 / 3.6e6,
        sizes(&totals, file, step),
        times.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        ms(at(&cpu_times, 0.5)),
        ms(at(&cpu_times, 0.99)),
        if read.is_zero() {
            String::new()
        } else {
            format!(
                "; of which reading and decoding the recording (alone, in wall time) {:.0} % on average",
                100.0 * read.as_secs_f64() / total.as_secs_f64().max(1e-9)
            )
        },
    ))
}

/// Where a seek's reading time goes (with `SHARDTOP_BENCH_SPLIT` set), in CPU time: fetching
/// and decompressing the blocks, decoding the values of the chain's blocks before the window and
/// of the window's, rebuilding the window's trees, and turning them into samples.
fn split(rec: &Recording, session: i64, from: i64, to: i64) -> Result<(), String> {
    use crate::record::codec3::ChainDecoder;
    let e = |e: crate::record::codec::CorruptBlock| e.0;
    let cpu = || super::sweep::usage().0;
    let started = cpu();
    let blocks = rec.store().blocks(session, from, to).map_err(|e| e.to_string())?;
    let fetch = cpu() - started;
    let prefix = blocks.iter().take_while(|b| b.t1_ms < from).count();
    let started = cpu();
    let mut d = ChainDecoder::with_version(rec.store().version());
    for b in &blocks[..prefix] {
        d.decode_each(&b.data, |_| false, |_| Ok(())).map_err(e)?;
    }
    let before = cpu() - started;
    let started = cpu();
    for b in &blocks[prefix..] {
        d.decode_each(&b.data, |_| false, |_| Ok(())).map_err(e)?;
    }
    let window = cpu() - started;
    let started = cpu();
    let mut d = ChainDecoder::with_version(rec.store().version());
    let mut n = 0u32;
    for b in &blocks {
        d.decode_each(
            &b.data,
            |at| at >= from && at <= to,
            |_| {
                n += 1;
                Ok(())
            },
        )
        .map_err(e)?;
    }
    let trees = cpu() - started;
    let started = cpu();
    rec.each(session, from, to, |_, _| {}).map_err(|e| e.to_string())?;
    let each = cpu() - started;
    eprintln!(
        "split (CPU): fetch {fetch:.0?}; values of {prefix} blocks before {before:.0?}, of {} in the window \
         {window:.0?}; all + {n} trees {trees:.0?}; all + samples {each:.0?}",
        blocks.len() - prefix
    );
    Ok(())
}
