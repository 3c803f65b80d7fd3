//! Time travel in the live TUI: `T` steps back from live into the session's recording (the
//! `--record` file, or the in-memory history) and shows it with the replay's machinery — the
//! timeline, the keys to play, step and seek, the recorded events — under a "TIME TRAVEL 03:12:07
//! — press L for live" banner; `L` returns to live. The live model goes on taking poll results
//! (and the recording goes on) underneath; it is shown again as it is by then.

use std::time::Duration;

use crossterm::event::KeyEvent;

use super::app::{App, Message};
use super::replay::{Bar, Control, Replay, carry_view, on_key};
use crate::record::Recording;

/// Where time travel starts: this long before the last recorded moment, paused.
pub const STEP_BACK: Duration = Duration::from_secs(60);

/// The recorded past the user is looking at, and the recording it is read from.
pub struct Travel {
    pub replay: Replay,
    rec: Recording,
}

/// What a key did to time travel.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    /// Back to the live fleet.
    Live,
}

impl Travel {
    /// Step back from `live` into `rec`: `STEP_BACK` before its last moment, paused, in the view
    /// the user was in.
    pub fn enter(rec: Recording, live: &App) -> Result<Travel, String> {
        let (start, end) =
            rec.span().map_err(|e| e.to_string())?.ok_or("nothing recorded yet: time travel needs some history")?;
        let at = (end - STEP_BACK.as_millis() as i64).max(start);
        let mut replay = Replay::at(&rec, at, live.theme.clone()).map_err(|e| e.to_string())?;
        carry_view(live, &mut replay.app);
        // The past is read-only: no action starts from it.
        replay.app.read_only = true;
        replay.app.actions_configured = false;
        replay.app.page_rows = live.page_rows;
        let events = rec.events(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
        replay.app.replay = Some(Bar {
            start_ms: start,
            end_ms: end,
            at_ms: replay.at_ms,
            speed: 1,
            playing: false,
            events,
            prompt: None,
            note: None,
            travel: true,
        });
        Ok(Travel { replay, rec })
    }

    /// The model shown while travelling.
    pub fn app(&mut self) -> &mut App {
        &mut self.replay.app
    }

    /// A key: the replay's keys move in time, `L` goes back to live, the rest drive the views.
    pub fn key(&mut self, k: KeyEvent) -> Outcome {
        let app = &mut self.replay.app;
        let control = match app.replay.as_mut() {
            Some(bar) if !app.show_help && !app.editing_filter => on_key(bar, k),
            _ => Control::Pass,
        };
        let done = match control {
            Control::Live => return Outcome::Live,
            Control::Pass => {
                // A read-only past: the effects (an action, another time travel) have no taker.
                let _ = app.update(Message::Key(k));
                Ok(())
            }
            Control::Handled => Ok(()),
            Control::Seek(t) => self.replay.seek(&self.rec, t),
            Control::Step => {
                let end = self.replay.app.replay.as_ref().map_or(self.replay.at_ms, |b| b.end_ms);
                match self.replay.next_time(&self.rec, end) {
                    Ok(Some(t)) => self.replay.advance(&self.rec, t),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        self.settle(done.err().map(|e| e.to_string()));
        Outcome::Stay
    }

    /// Wall-clock time passed: while playing, the past moves on at its speed, up to the last
    /// moment recorded when time travel began.
    pub fn tick(&mut self, elapsed: Duration) {
        let Some(bar) = self.replay.app.replay.as_mut() else { return };
        if !bar.playing {
            return;
        }
        let mut target = self.replay.at_ms + elapsed.as_millis() as i64 * i64::from(bar.speed);
        if target >= bar.end_ms {
            target = bar.end_ms;
            bar.playing = false;
            bar.note = Some("the end of the history: L for live".into());
        }
        let done = self.replay.advance(&self.rec, target);
        self.settle(done.err().map(|e| e.to_string()));
    }

    fn settle(&mut self, error: Option<String>) {
        let at = self.replay.at_ms;
        let app = &mut self.replay.app;
        if let Some(bar) = app.replay.as_mut() {
            bar.at_ms = at;
            if let Some(e) = error {
                bar.playing = false;
                bar.note = Some(e);
            }
        }
        app.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::fleet::{Fleet, Limits};
    use crate::poll::{Slot, SlotMap, Update};
    use crate::record::wire::{Layout, from_ms};
    use crate::sim::{SimFleet, script};
    use crate::ui::app::{Effect, View};
    use crate::ui::tape::Tape;
    use crate::ui::theme::Theme;

    const EPOCH: i64 = 1_764_000_000_000;

    /// The live TUI's model on the demo fleet for `secs`, its session in the in-memory history
    /// as the TUI keeps it without `--record`.
    fn live(secs: i64) -> (App, Tape) {
        let sim = SimFleet::default();
        let fleet = Fleet::new(sim.layout(), Limits::default());
        let mut app = App::new(fleet, Theme::plain(), "demo", Duration::from_secs(1));
        app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!());
        let layout = Layout::of(&app.fleet, "demo", Duration::from_secs(1), None);
        let mut tape = Tape::history(&layout, None, from_ms(EPOCH));
        assert!(tape.is_on(), "the in-memory history opens");
        let mut slots = SlotMap::default();
        for t in 0..=secs {
            let at = from_ms(EPOCH + t * 1000);
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let sample = crate::fleet::status::Sample {
                        at,
                        elapsed: Duration::from_millis(2),
                        result: sim.status_at(s, i, t as f64),
                    };
                    let msg = Message::Sample(Update { slot: Slot { shard: s, instance: i }, sample });
                    super::super::deliver_recorded(&mut app, &mut slots, &mut tape, msg);
                }
            }
            super::super::deliver_recorded(&mut app, &mut slots, &mut tape, Message::Tick(at));
            tape.tick(at);
        }
        (app, tape)
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn screen(app: &App, w: u16, h: u16) -> String {
        crate::ui::terminal_tests::screen(app, w, h)
    }

    #[test]
    fn t_asks_for_time_travel_and_a_replay_does_not() {
        let (mut app, _) = live(1);
        assert_eq!(app.update(Message::Key(key('T'))), vec![Effect::TimeTravel]);
        app.replay = Some(Bar {
            start_ms: 0,
            end_ms: 1,
            at_ms: 0,
            speed: 1,
            playing: false,
            events: Vec::new(),
            prompt: None,
            note: None,
            travel: false,
        });
        assert!(app.update(Message::Key(key('T'))).is_empty());
    }

    /// 90 s of the demo: the SQL thread of users-05 stops at 30 s (`sim::script`). Travel back,
    /// go to before it, see it healthy under the banner; `L` is live again, and the live model
    /// went on meanwhile.
    #[test]
    fn travel_back_to_a_recorded_moment_and_return_to_live() {
        let (mut app, mut tape) = live(90);
        app.view = View::Detail(script::BROKEN_SHARD);
        let rec = tape.reader().expect("a recording").expect("readable");
        let mut travel = Travel::enter(rec, &app).expect("enter");
        assert_eq!(travel.replay.at_ms, EPOCH + 30_000, "a minute before the last moment");
        assert_eq!(travel.app().view, View::Detail(script::BROKEN_SHARD), "the view comes along");
        assert!(travel.app().read_only);

        // Back to 20 s with `:`: before the incident.
        travel.key(key(':'));
        for c in "start+20s".chars() {
            travel.key(key(c));
        }
        assert_eq!(travel.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), Outcome::Stay);
        assert_eq!(travel.replay.at_ms, EPOCH + 20_000);
        let broken = |a: &App| a.fleet.shards[script::BROKEN_SHARD].health;
        assert_eq!(broken(travel.app()), crate::fleet::Health::Ok);
        let past = screen(travel.app(), 80, 24);
        assert!(past.starts_with(" TIME TRAVEL 16:00:20 — press L for live "), "{past}");
        assert!(past.contains(" L live "), "{past}");
        insta::assert_snapshot!(past);

        // `]` one minute on, `{` ten back (clamped to the start), then 50 s: the SQL thread is
        // stopped (30 s to 75 s).
        travel.key(key(']'));
        assert_eq!(travel.replay.at_ms, EPOCH + 80_000);
        travel.key(key('{'));
        assert_eq!(travel.replay.at_ms, EPOCH);
        travel.key(key(':'));
        for c in "start+50s".chars() {
            travel.key(key(c));
        }
        travel.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(travel.replay.at_ms, EPOCH + 50_000);
        assert_eq!(broken(travel.app()), crate::fleet::Health::Critical);
        // Views move as live; `q` and `T` do nothing harmful there.
        travel.key(key('t'));
        assert_eq!(travel.app().view, View::Topology(Some(script::BROKEN_SHARD)));
        assert_eq!(travel.key(key('L')), Outcome::Live);

        // Live again: no banner, the live clock.
        let now = screen(&app, 80, 24);
        assert!(now.starts_with(" shardtop "), "{now}");
        assert!(!now.contains("TIME TRAVEL"));
    }

    #[test]
    fn playing_stops_at_the_end_of_the_history() {
        let (app, mut tape) = live(70);
        let rec = tape.reader().expect("a recording").expect("readable");
        let mut travel = Travel::enter(rec, &app).expect("enter");
        travel.key(key(' '));
        travel.key(key('+'));
        travel.tick(Duration::from_secs(20));
        assert_eq!(travel.replay.at_ms, EPOCH + 10_000 + 40_000);
        travel.tick(Duration::from_secs(20));
        let bar = travel.app().replay.clone().expect("bar");
        assert_eq!((bar.at_ms, bar.playing), (EPOCH + 70_000, false));
        assert!(bar.note.is_some_and(|n| n.contains("L for live")));
    }

    #[test]
    fn without_history_there_is_nowhere_to_go() {
        let mut tape = Tape::off();
        assert!(tape.reader().is_none());
        let (app, _) = live(0);
        let layout = Layout::of(&app.fleet, "demo", Duration::from_secs(1), None);
        let mut empty = Tape::history(&layout, None, from_ms(EPOCH));
        let rec = empty.reader().expect("history").expect("readable");
        let e = Travel::enter(rec, &app).err().unwrap_or_default();
        assert!(e.contains("nothing recorded yet"), "{e}");
    }
}
