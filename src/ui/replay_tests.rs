//! Record the demo's simulated fleet through the recorder as `shardtop record` feeds it, then
//! replay it: the replayed model must agree with the live one, and the replay views are pinned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Message, View};
use super::replay::{Bar, Replay};
use super::tape::Tape;
use super::theme::Theme;
use crate::fleet::{Fleet, Limits};
use crate::poll::{Slot, SlotMap, Update};
use crate::record::wire::Layout;
use crate::record::{RecordOptions, Recorder, Recording};
use crate::sim::{SimFleet, script};

pub(crate) const EPOCH: i64 = 1_764_000_000_000;

pub(crate) fn at(t: f64) -> DateTime<Utc> {
    crate::record::wire::from_ms(EPOCH + (t * 1000.0) as i64)
}

/// The demo fleet polled every 2 s (feed every 0.5 s) for `secs`, recorded to `path` in 10 s
/// blocks; returns the live model as it stood at the end.
pub(crate) fn record_demo(path: &Path, secs: f64) -> App {
    let sim = SimFleet::default();
    let mut app = App::new(Fleet::new(sim.layout(), Limits::default()), Theme::plain(), "demo", Duration::from_secs(2));
    let layout = Layout::of(&app.fleet, "demo", Duration::from_secs(2), None);
    let opts = RecordOptions {
        path: path.to_path_buf(),
        retention: None,
        block_span: Duration::from_secs(10),
        audit_log: None,
        markers: None,
    };
    let mut tape = Tape::new(Recorder::start(opts, &layout, at(0.0)).expect("recorder"));
    let mut slots = SlotMap::default();
    let mut n = 0u64;
    let mut t = 0.0;
    while t <= secs {
        if (t * 2.0).fract() == 0.0 {
            let mut round = sim.feed_round(t, n);
            round.at = at(t);
            n += 1;
            super::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Feed(round));
        }
        if t % 2.0 == 0.0 {
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let sample = crate::fleet::status::Sample {
                        at: at(t),
                        elapsed: Duration::from_millis(2),
                        result: sim.status_at(s, i, t),
                    };
                    let msg = Message::Sample(Update { slot: Slot { shard: s, instance: i }, sample });
                    super::deliver_recorded(&mut app, &mut slots, &mut tape, msg);
                }
            }
        }
        super::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Tick(at(t)));
        tape.tick(at(t));
        t += 0.5;
    }
    tape.flush().expect("flush");
    app
}

fn recording(secs: f64) -> (tempfile::TempDir, PathBuf, App) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.db");
    let live = record_demo(&path, secs);
    (dir, path, live)
}

fn report(app: &App, t: f64) -> serde_json::Value {
    serde_json::from_str(&crate::snapshot::Report::new(&app.fleet, at(t)).to_json()).expect("json")
}

/// What a replay must reproduce exactly: health, roles, threads, lag, problems (not the rates'
/// smoothing, which depends on how much history the model had).
fn states(r: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in r["shards"].as_array().into_iter().flatten() {
        out.push(format!("{} {} {}", s["name"], s["health"], s["master"]));
        for i in s["instances"].as_array().into_iter().flatten() {
            out.push(format!(
                "  {} {} ro={} io={} sql={} lag={} health={} problems={}",
                i["addr"],
                i["role"],
                i["read_only"],
                i["io_running"],
                i["sql_running"],
                i["lag_seconds"],
                i["health"],
                i["problems"]
            ));
        }
    }
    out
}

#[test]
fn a_replayed_moment_agrees_with_the_live_model_and_seeks_both_ways() {
    let (_dir, path, live) = recording(90.0);
    let rec = Recording::open(&path).expect("open");
    assert_eq!(rec.span().expect("span"), Some((EPOCH, EPOCH + 90_000)));
    let r = Replay::at(&rec, EPOCH + 90_000, Theme::plain()).expect("replay");
    assert_eq!(states(&report(&r.app, 90.0)), states(&report(&live, 90.0)));
    let worst = r.app.fleet.health();
    assert_eq!(worst, crate::fleet::Health::Critical, "the demo's incidents are replayed");

    // Back to 20 s (before the incidents), then forward again: the same as straight there.
    let mut r = r;
    r.seek(&rec, EPOCH + 20_000).expect("seek back");
    let fresh = Replay::at(&rec, EPOCH + 20_000, Theme::plain()).expect("fresh");
    assert_eq!(states(&report(&r.app, 20.0)), states(&report(&fresh.app, 20.0)));
    r.seek(&rec, EPOCH + 90_000).expect("seek forward");
    assert_eq!(states(&report(&r.app, 90.0)), states(&report(&live, 90.0)));
    // Events were recorded with the moments they were raised.
    let events = rec.events(EPOCH, EPOCH + 90_000).expect("events");
    assert!(events.iter().any(|e| e.shard == "users-05" && e.message.contains("SQL thread")), "{events:?}");
    assert!(events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
}

#[test]
fn stepping_plays_one_recorded_message_at_a_time() {
    let (_dir, path, _) = recording(20.0);
    let rec = Recording::open(&path).expect("open");
    let mut r = Replay::at(&rec, EPOCH + 4_000, Theme::plain()).expect("replay");
    let next = r.next_time(&rec, EPOCH + 20_000).expect("next").expect("a message");
    assert_eq!(next, EPOCH + 4_500, "the next feed round");
    r.advance(&rec, next).expect("advance");
    assert_eq!(r.at_ms, next);
}

fn replay_screen(t: f64, view: View, w: u16, h: u16) -> String {
    let (_dir, path, _) = recording(90.0);
    let rec = Recording::open(&path).expect("open");
    let mut r = Replay::at(&rec, EPOCH + (t * 1000.0) as i64, Theme::plain()).expect("replay");
    r.app.clock_offset = chrono::FixedOffset::east_opt(0).expect("utc");
    r.app.view = view;
    r.app.replay = Some(Bar {
        start_ms: EPOCH,
        end_ms: EPOCH + 90_000,
        at_ms: r.at_ms,
        speed: 4,
        playing: true,
        events: rec.events(i64::MIN, i64::MAX).expect("events"),
        prompt: None,
        note: None,
        travel: false,
    });
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| {
        super::views::draw(&r.app, f);
    })
    .expect("draw");
    super::terminal_tests::text(term.backend().buffer())
}

#[test]
fn replay_overview_80x24() {
    let screen = replay_screen(60.0, View::Overview, 80, 24);
    assert!(screen.starts_with(" REPLAY 16:01:00 ×4 ▶"), "{screen}");
    assert!(screen.contains("Events (recorded)") && screen.contains("space pause"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn replay_overview_200x60() {
    insta::assert_snapshot!(replay_screen(60.0, View::Overview, 200, 60));
}

#[test]
fn replay_detail_of_the_broken_replica_200x60() {
    insta::assert_snapshot!(replay_screen(60.0, View::Detail(script::BROKEN_SHARD), 200, 60));
}

#[test]
fn replay_topology_80x24() {
    insta::assert_snapshot!(replay_screen(90.0, View::Topology(None), 80, 24));
}
