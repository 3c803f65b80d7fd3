//! `shardtop demo --replay`: the replay TUI on a recording of the simulated fleet's scripted
//! incidents — no server, nothing to record first. The recording is made on the spot (a second
//! or so: the simulator played through the recorder as `shardtop record` feeds it) into a
//! temporary file, or into `--out PATH` to keep it for `shardtop replay PATH`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{CmdResult, CommandError};
use crate::cli::Cli;
use crate::fleet::{Fleet, Limits};
use crate::poll::{Slot, SlotMap, Update};
use crate::record::recorder::DEFAULT_BLOCK_SPAN;
use crate::record::wire::{Layout, from_ms, ms};
use crate::record::{RecordOptions, Recorder, Recording, StoreError};
use crate::sim::SimFleet;
use crate::ui::app::{App, Message};
use crate::ui::tape::Tape;
use crate::ui::theme::Theme;

/// Two turns of the script: every incident twice, so `>` has somewhere to jump after the first.
pub const CYCLES: u32 = 2;
/// The demo polls every second and probes the feed four times a second, as `shardtop demo` does.
const POLL: Duration = Duration::from_secs(1);
const FEED_EVERY_MS: i64 = 250;
/// The deploy marker the recording carries, a minute and a half in (as `shardtop mark` would).
pub const DEMO_MARKER: &str = "deploy users-api 2026.12.07-1 (demo)";

/// Record `CYCLES` turns of the script of `sim`, ending at `end`, to a new recording at `path`.
/// Returns the recorded span (ms since the epoch).
pub fn record_script(sim: &SimFleet, path: &Path, end: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
    let secs = (crate::sim::CYCLE_SECS as i64) * i64::from(CYCLES);
    let t0 = ms(end) - secs * 1000;
    let mut app = App::new(Fleet::new(sim.layout(), Limits::default()), Theme::plain(), "demo", POLL);
    let feed = Some((Duration::from_millis(FEED_EVERY_MS as u64), Duration::from_secs(60)));
    let layout = Layout::of(&app.fleet, "demo", POLL, feed);
    let opts = RecordOptions {
        path: path.to_path_buf(),
        retention: None,
        block_span: DEFAULT_BLOCK_SPAN,
        audit_log: None,
        markers: None,
    };
    let mut rec = Recorder::start(opts, &layout, from_ms(t0))?;
    rec.marker(from_ms(t0 + 90_000), DEMO_MARKER);
    let mut tape = Tape::new(rec);
    let mut slots = SlotMap::default();
    for step in 0..=(secs * 1000 / FEED_EVERY_MS) {
        let off = step * FEED_EVERY_MS;
        let t = off as f64 / 1000.0;
        let at = from_ms(t0 + off);
        let mut round = sim.feed_round(t, step as u64);
        round.at = at;
        crate::ui::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Feed(round));
        if off % 1000 == 0 {
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let result = crate::sim::scale::status_at(sim, s, i, t);
                    let sample = crate::fleet::status::Sample { at, elapsed: Duration::from_micros(900), result };
                    let msg = Message::Sample(Update { slot: Slot { shard: s, instance: i }, sample });
                    crate::ui::deliver_recorded(&mut app, &mut slots, &mut tape, msg);
                }
            }
        }
        crate::ui::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Tick(at));
        tape.tick(at);
    }
    tape.flush()?;
    Ok((t0, ms(end)))
}

pub async fn demo_replay(cli: &Cli, shards: u16, replicas: u16, out: Option<&PathBuf>) -> CmdResult {
    let sim = SimFleet { shards: shards.into(), replicas: replicas.into(), ..SimFleet::default() };
    let path = match out {
        Some(p) if p.exists() => {
            return Err(CommandError::new(2, format!("--out {}: the file exists; name a new one", p.display())));
        }
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("shardtop-demo-{}.db", std::process::id())),
    };
    let result = record_and_replay(cli, &sim, &path, out.is_some()).await;
    if out.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    result
}

async fn record_and_replay(cli: &Cli, sim: &SimFleet, path: &Path, keep: bool) -> CmdResult {
    record_script(sim, path, Utc::now()).map_err(|e| CommandError::new(1, format!("demo recording: {e}")))?;
    if keep {
        eprintln!("shardtop: recorded the demo's scripted incidents to {}", path.display());
    }
    let rec = Recording::open(path).map_err(|e| CommandError::new(1, e.to_string()))?;
    let span = rec
        .span()
        .map_err(|e| CommandError::new(1, e.to_string()))?
        .ok_or_else(|| CommandError::new(1, "the demo recording is empty"))?;
    super::replay_tui::run(cli, None, 1, rec, span).await
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::sim::script;
    use crate::ui::replay::{Bar, Replay};

    /// The recording holds the script's incidents (the stopped SQL thread, the dead master, the
    /// marker), and the replay TUI shows them at their moments.
    #[test]
    fn the_demo_recording_holds_the_scripted_incidents_and_the_replay_shows_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.db");
        let end = from_ms(1_764_000_240_000);
        let span = record_script(&SimFleet::default(), &path, end).expect("record");
        assert_eq!(span, (1_764_000_000_000, 1_764_000_240_000));
        let rec = Recording::open(&path).expect("open");
        assert_eq!(rec.span().expect("span"), Some(span));
        let events = rec.events(i64::MIN, i64::MAX).expect("events");
        let broken = &SimFleet::default().layout()[script::BROKEN_SHARD].name;
        let dead = &SimFleet::default().layout()[script::DEAD_SHARD].name;
        let sql: Vec<_> = events.iter().filter(|e| &e.shard == broken && e.message.contains("SQL thread")).collect();
        assert!(sql.len() >= 2, "the SQL thread incident, once a cycle: {events:#?}");
        assert!(events.iter().any(|e| &e.shard == dead && e.severity == crate::fleet::Health::Critical), "{events:#?}");
        assert!(events.iter().any(|e| e.rule == "marker" && e.message == DEMO_MARKER));

        // At 90 s into the first cycle: the incidents are on screen, the marker in the events.
        let at = span.0 + 90_000;
        let mut r = Replay::at(&rec, at, Theme::plain()).expect("replay");
        r.app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!());
        assert_eq!(r.app.fleet.health(), crate::fleet::Health::Critical);
        r.app.replay = Some(Bar {
            start_ms: span.0,
            end_ms: span.1,
            at_ms: at,
            speed: 1,
            playing: false,
            events,
            prompt: None,
            note: None,
            travel: false,
        });
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        term.draw(|f| {
            crate::ui::views::draw(&r.app, f);
        })
        .expect("draw");
        let screen: String = term
            .backend()
            .buffer()
            .content()
            .chunks(120)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect();
        assert!(screen.starts_with(" REPLAY 16:01:30 ×1"), "{screen}");
        for want in [broken.as_str(), dead.as_str(), "marker: deploy users-api", "CRIT"] {
            assert!(screen.contains(want), "no {want:?} in\n{screen}");
        }
    }
}
