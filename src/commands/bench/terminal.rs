//! `shardtop bench --terminal`: what the TUI costs the terminal link. The real
//! `App`, `update` and renderer draw a simulated fleet on simulated time into
//! a crossterm backend that counts bytes instead of writing them, so the
//! figures are what an SSH session would carry. Frame render time is wall
//! time per frame (render, diff, encode); "updates" is the wall time per second
//! the UI spends taking in poll results, which at 1,000 shards is 3,000 a second.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::cli::{Activity, Screen};
use crate::fleet::status::Sample;
use crate::fleet::{Fleet, Limits};
use crate::poll::{Slot, Update};
use crate::sim::SimFleet;
use crate::ui::app::{App, Message, View};
use crate::ui::color::ColorDepth;
use crate::ui::render::{ByteCounter, Renderer};
use crate::ui::theme::Theme;

fn activity_label(activity: Activity) -> &'static str {
    match activity {
        Activity::Idle => "idle",
        Activity::Few => "few",
        Activity::Busy => "busy",
    }
}

fn screen_label(screen: Screen) -> &'static str {
    match screen {
        Screen::Overview => "overview",
        Screen::Topology => "topology",
        Screen::Wall => "wall",
    }
}

fn screen_view(screen: Screen) -> View {
    match screen {
        Screen::Overview => View::Overview,
        Screen::Topology => View::Topology(None),
        Screen::Wall => View::Wall,
    }
}

/// Simulated seconds before measuring, so trend sparklines have filled up.
const WARM_UP: u32 = 20;

/// How many shards move in [`Activity::Few`].
const FEW: usize = 5;

#[derive(Clone, Debug)]
pub struct TerminalStats {
    pub screen: Screen,
    pub activity: Activity,
    pub fps: u32,
    pub seconds: u32,
    /// Bytes written in the measured seconds (after the first paint and a warm-up).
    pub bytes: usize,
    pub first_paint: usize,
    pub frames_written: usize,
    /// Wall time of each frame drawn (written or found identical), sorted.
    pub frame_times: Vec<Duration>,
    /// Wall time the UI spent taking in poll results (`App::update`) in the measured seconds.
    pub update_time: Duration,
}

impl TerminalStats {
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / f64::from(self.seconds.max(1))
    }

    fn pct(&self, p: f64) -> Duration {
        let n = self.frame_times.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.frame_times[(((n - 1) as f64) * p).round() as usize]
    }

    pub fn render(&self) -> String {
        format!(
            "{:<8} {:<5} fps {:>2}  {:>8.0} B/s  ({} B in {} s; first paint {} B; {} frames written)  \
             frame p50 {:.2} ms  p99 {:.2} ms  updates {:.1} ms/s\n",
            screen_label(self.screen),
            activity_label(self.activity),
            self.fps,
            self.bytes_per_sec(),
            self.bytes,
            self.seconds,
            self.first_paint,
            self.frames_written,
            self.pct(0.5).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.update_time.as_secs_f64() * 1e3 / f64::from(self.seconds.max(1)),
        )
    }
}

/// Run `seconds` of simulated time. Poll results arrive spread over each
/// one-second interval, as the poller's tasks deliver them; the loop draws
/// at most `fps` times a second and only when something is dirty, as the
/// real event loop does.
pub fn run(
    shards: usize,
    size: (u16, u16),
    screen: Screen,
    fps: u32,
    seconds: u32,
    activity: Activity,
) -> std::io::Result<TerminalStats> {
    let sim = SimFleet { shards, replicas: 2, latency: Duration::ZERO };
    let counter = ByteCounter::default();
    let options = TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, size.0, size.1)) };
    let mut terminal = Terminal::with_options(CrosstermBackend::new(counter.clone()), options)?;
    let mut app = App::new(
        Fleet::new(sim.layout(), Limits::default()),
        Theme::shipped("default"),
        "bench",
        Duration::from_secs(1),
    );
    app.color_depth = ColorDepth::Ansi16;
    // An engineer has touched the keys: the overview's cursor follows its shard when rows reorder.
    for code in [KeyCode::Down, KeyCode::Up] {
        app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    app.view = screen_view(screen);
    if screen == Screen::Wall {
        app.kiosk = Some(crate::ui::kiosk::Kiosk::new(Duration::from_secs(3600), app.now));
    }
    let epoch = Utc.timestamp_opt(1_764_000_000, 0).single().unwrap_or_default();
    if screen == Screen::Wall {
        // The wall's worst case: a full hour on its charts (the bench itself runs seconds).
        for k in 0..crate::ui::wall::HOUR_POINTS as i64 {
            let at = epoch - chrono::Duration::seconds((crate::ui::wall::HOUR_POINTS as i64 - k) * 10);
            let wave = (k as f64 / 20.0).sin();
            app.wall.push(crate::ui::wall::Point {
                at,
                qps: Some(1e6 * (1.0 + 0.2 * wave)),
                lag: Some(2.0 + wave),
                p99: Some(20.0 + 5.0 * wave),
                trouble: 3.0,
            });
        }
    }
    // Steady state, away from the incident windows at the start of the cycle.
    let t0 = 5.0;
    let instances: Vec<Slot> =
        (0..shards).flat_map(|shard| (0..=sim.replicas).map(move |instance| Slot { shard, instance })).collect();
    let sample = |slot: Slot, t: f64| -> Sample {
        let moving = match activity {
            Activity::Idle => false,
            Activity::Few => slot.shard < FEW,
            Activity::Busy => true,
        };
        let result = if moving {
            sim.status_at(slot.shard, slot.instance, t)
        } else {
            // The t0 picture with counters going up at a constant rate: the same QPS every time.
            sim.status_at(slot.shard, slot.instance, t0).map(|mut st| {
                // Offset so that the warm-up sweep before t0 still counts upwards.
                let dt = t - t0 + 10.0;
                st.counters.questions += (dt * 1000.0 * (slot.shard as f64 + 1.0)) as u64;
                st.counters.uptime += dt as u64;
                st
            })
        };
        Sample { at: epoch + chrono::Duration::milliseconds((t * 1000.0) as i64), elapsed: Duration::ZERO, result }
    };
    let mut renderer = Renderer::default();
    // Two sweeps so that rates exist, then the first paint.
    for t in [t0 - 1.0, t0] {
        for &slot in &instances {
            app.update(Message::Sample(Update { slot, sample: sample(slot, t) }));
        }
    }
    app.update(Message::Tick(epoch + chrono::Duration::milliseconds((t0 * 1000.0) as i64)));
    renderer.draw(&mut terminal, &mut app)?;
    let first_paint = counter.0.get();

    let steps_per_sec = fps.max(1) as usize;
    let per_step = instances.len().div_ceil(steps_per_sec);
    let mut frame_times = Vec::new();
    let mut frames_written = 0;
    let mut update_time = Duration::ZERO;
    let mut baseline = first_paint;
    for sec in 1..=WARM_UP + seconds {
        if sec == WARM_UP + 1 {
            // Trends have filled their width: from here on, only what moves costs bytes.
            baseline = counter.0.get();
            frame_times.clear();
            frames_written = 0;
            update_time = Duration::ZERO;
        }
        for step in 0..steps_per_sec {
            let t = t0 + f64::from(sec - 1) + (step + 1) as f64 / steps_per_sec as f64;
            // This step's share of the sweep that runs during this second.
            let started = Instant::now();
            for &slot in instances.iter().skip(step * per_step).take(per_step) {
                app.update(Message::Sample(Update { slot, sample: sample(slot, f64::from(sec) + t0) }));
            }
            update_time += started.elapsed();
            app.update(Message::Tick(epoch + chrono::Duration::milliseconds((t * 1000.0) as i64)));
            if app.dirty {
                let started = Instant::now();
                if renderer.draw(&mut terminal, &mut app)? {
                    frames_written += 1;
                }
                frame_times.push(started.elapsed());
            }
        }
    }
    frame_times.sort();
    Ok(TerminalStats {
        screen,
        activity,
        fps,
        seconds,
        bytes: counter.0.get() - baseline,
        first_paint,
        frames_written,
        frame_times,
        update_time,
    })
}

/// What one `bench --terminal` measures: every combination of these.
pub struct Plan<'a> {
    pub shards: &'a [usize],
    pub sizes: &'a [(u16, u16)],
    pub screens: &'a [Screen],
    pub activities: &'a [Activity],
    pub fps: &'a [u32],
    pub seconds: u32,
}

/// One block per fleet size and terminal size; a line per screen, fps and activity.
pub fn report(plan: &Plan) -> std::io::Result<String> {
    let mut out = String::new();
    for &shards in plan.shards {
        for &size in plan.sizes {
            out.push_str(&format!(
                "terminal {}x{}, {} simulated shards × 3 servers, {} s simulated per run\n",
                size.0, size.1, shards, plan.seconds
            ));
            for &screen in plan.screens {
                for &f in plan.fps {
                    for &a in plan.activities {
                        out.push_str(&run(shards, size, screen, f, plan.seconds, a)?.render());
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Behaviour, not timing: what is measured must be the right thing.
    #[test]
    fn idle_writes_only_the_clock_and_busy_writes_more() {
        let idle = run(20, (80, 24), Screen::Overview, 10, 5, Activity::Idle).expect("run");
        let busy = run(20, (80, 24), Screen::Overview, 10, 5, Activity::Busy).expect("run");
        assert!(idle.first_paint > 1000, "{idle:?}");
        // One frame a second: the clock's seconds. Nothing else changes.
        assert_eq!(idle.frames_written, 5, "{idle:?}");
        assert!(idle.bytes_per_sec() < 100.0, "{idle:?}");
        assert!(busy.bytes > idle.bytes * 3, "idle {} busy {}", idle.bytes, busy.bytes);
    }
}
