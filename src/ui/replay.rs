//! Replaying a recording through the live model: the recorded messages go through the same
//! `deliver` as in the session that recorded them, so health, anomalies, topology and charts are
//! the model's own conclusions, not a second implementation of them.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::Utc;

use super::app::{App, Message};
use super::theme::Theme;
use crate::poll::SlotMap;
use crate::record::reader::{Decoded, Recorded, Recording};
use crate::record::store::StoreError;
use crate::record::typed::Samples;
use crate::record::wire::from_ms;

/// A seek rebuilds the model from this long before the moment: rates, master death and the
/// events' holds settle within a few polls, and the charts show this much history at once.
pub const WARMUP: Duration = Duration::from_secs(60);

/// The model fed from a recording, at a moment of it.
pub struct Replay {
    pub app: App,
    pub session: i64,
    /// The last moment fed to the model (ms since the epoch).
    pub at_ms: i64,
    slots: SlotMap,
    /// Messages read but not yet fed, up to `ahead_to`: playback reads the store a chunk at a
    /// time, not on every frame.
    ahead: VecDeque<(i64, Recorded)>,
    ahead_to: i64,
}

/// Playback reads this much of the recording at once.
const READ_AHEAD_MS: i64 = 10_000;

impl Replay {
    /// The model as it stood at `t_ms`: a fresh one for the session that covers it, fed the
    /// recording from `WARMUP` before.
    pub fn at(rec: &Recording, t_ms: i64, theme: Theme) -> Result<Replay, StoreError> {
        let session =
            rec.session_at(t_ms).ok_or_else(|| corrupt(rec, "no recorder session: the recording is empty".into()))?;
        let layout = &session.layout;
        let mut app = App::new(layout.fleet(), theme, layout.source.clone(), layout.poll_interval());
        if let Some(f) = layout.feed_interval_ms {
            app.feed_interval = Duration::from_millis(f);
        }
        app.read_only = true;
        let from = (t_ms - WARMUP.as_millis() as i64).max(session.started_ms);
        let mut r = Replay {
            app,
            session: session.id,
            at_ms: from - 1,
            slots: SlotMap::default(),
            ahead: VecDeque::new(),
            ahead_to: from - 1,
        };
        r.advance(rec, t_ms)?;
        Ok(r)
    }

    /// Feed everything recorded after the current moment up to `t_ms` (forward only).
    pub fn advance(&mut self, rec: &Recording, t_ms: i64) -> Result<(), StoreError> {
        if t_ms <= self.at_ms {
            return Ok(());
        }
        let mut second = self.at_ms.div_euclid(1000);
        if t_ms > self.ahead_to && self.ahead.is_empty() && t_ms - self.at_ms > READ_AHEAD_MS {
            second = self.seek_ahead(rec, t_ms, second)?;
            self.ahead_to = t_ms;
        } else if t_ms > self.ahead_to {
            // Playback reads a chunk ahead.
            let to = t_ms.max(self.ahead_to + READ_AHEAD_MS);
            self.ahead.extend(rec.read(self.session, self.ahead_to + 1, to)?);
            self.ahead_to = to;
        }
        while self.ahead.front().is_some_and(|(at, _)| *at <= t_ms) {
            let Some((at, m)) = self.ahead.pop_front() else { break };
            feed(&mut self.app, &mut self.slots, &mut second, at, m);
        }
        super::deliver(&mut self.app, &mut self.slots, Message::Tick(from_ms(t_ms)));
        self.at_ms = t_ms;
        Ok(())
    }

    /// A seek's stretch, up to `t_ms`, as a pipeline of four threads, each handing the next
    /// batches as they come: this one reads and decompresses the blocks; one decodes them; one
    /// brings each sample forward from its instance's last one (`typed`); one feeds the model.
    /// Each stage is a fifth to a third of a seek, so on two cores none waits for the others for
    /// long. Returns the last second fed.
    fn seek_ahead(&mut self, rec: &Recording, t_ms: i64, mut second: i64) -> Result<i64, StoreError> {
        const BATCH: usize = 512;
        type Batch<T> = Vec<(i64, T)>;
        let (app, slots) = (&mut self.app, &mut self.slots);
        let (session, from) = (self.session, self.ahead_to + 1);
        let gone = |which: &str| format!("the {which} thread stopped");
        std::thread::scope(|scope| {
            let (to_samples, decoded) = std::sync::mpsc::sync_channel::<Batch<Decoded>>(4);
            let (to_model, finished) = std::sync::mpsc::sync_channel::<Batch<Recorded>>(4);
            let thread = |name: &str| std::thread::Builder::new().name(format!("seek-{name}"));
            let refused = |what, source| StoreError::Thread { path: rec.store().path().to_string(), what, source };
            let samples = thread("samples").spawn_scoped(scope, move || -> Result<(), String> {
                let mut samples = Samples::default();
                for batch in decoded {
                    let batch = batch.into_iter().map(|(at, d)| Ok((at, d.finish(&mut samples)?)));
                    to_model.send(batch.collect::<Result<_, String>>()?).map_err(|_| gone("model's"))?;
                }
                Ok(())
            });
            let samples = samples.map_err(|e| refused("samples'", e))?;
            let model = thread("model").spawn_scoped(scope, move || {
                for batch in finished {
                    for (at, m) in batch {
                        feed(app, slots, &mut second, at, m);
                    }
                }
                second
            });
            let model = model.map_err(|e| refused("model's", e))?;
            let mut batch = Vec::with_capacity(BATCH);
            let read = rec.each_decoded(session, from, t_ms, |at, d| {
                batch.push((at, d));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    to_samples.send(full).map_err(|_| gone("samples'"))?;
                }
                Ok(())
            });
            let read = read.and_then(|()| to_samples.send(batch).map_err(|_| corrupt(rec, gone("samples'"))));
            drop(to_samples);
            // The later stages' own errors first: the earlier ones then only say that they stopped.
            let made = join(samples).map_err(|why| corrupt(rec, why));
            let second = join(model);
            made?;
            read.map(|()| second)
        })
    }

    /// When the next recorded message after the current moment is (for stepping one sample).
    pub fn next_time(&mut self, rec: &Recording, limit_ms: i64) -> Result<Option<i64>, StoreError> {
        if self.ahead.is_empty() && self.ahead_to < limit_ms {
            let to = (self.ahead_to + READ_AHEAD_MS).min(limit_ms);
            self.ahead.extend(rec.read(self.session, self.ahead_to + 1, to)?);
            self.ahead_to = to;
        }
        Ok(self.ahead.front().map(|(at, _)| *at))
    }

    /// Move to `t_ms`: forward by feeding what lies between, backward (or far forward, or into
    /// another session) by rebuilding from the warm-up before it.
    pub fn seek(&mut self, rec: &Recording, t_ms: i64) -> Result<(), StoreError> {
        let same_session = rec.session_at(t_ms).is_some_and(|s| s.id == self.session);
        if same_session && t_ms >= self.at_ms && t_ms - self.at_ms <= WARMUP.as_millis() as i64 {
            return self.advance(rec, t_ms);
        }
        let mut fresh = Replay::at(rec, t_ms, self.app.theme.clone())?;
        carry_view(&self.app, &mut fresh.app);
        fresh.app.replay = self.app.replay.take();
        *self = fresh;
        Ok(())
    }
}

/// A scoped thread's result (its panic goes on in this thread).
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// What is wrong with `rec` as a whole (not one block of it).
fn corrupt(rec: &Recording, why: String) -> StoreError {
    StoreError::Corrupt { path: rec.store().path().to_string(), block: 0, why }
}

/// One recorded message to the model, after a tick when the recorded clock passed a second (the
/// clock as it moved for the live model: holds are released by ticks).
fn feed(app: &mut App, slots: &mut SlotMap, second: &mut i64, at: i64, m: Recorded) {
    if at.div_euclid(1000) != *second {
        *second = at.div_euclid(1000);
        super::deliver(app, slots, Message::Tick(from_ms(at)));
    }
    let msg = match m {
        Recorded::Sample(u) => Message::Sample(u),
        Recorded::Feed(f) => Message::Feed(f),
        Recorded::Metrics(u) => Message::Metrics(u),
        Recorded::Promoted(p) => {
            Message::Action(super::action::ActionMsg::Promoted { shard: p.shard, new_master: p.new_master })
        }
    };
    super::deliver(app, slots, msg);
}

/// What the user was looking at survives a rebuild of the model (and the step from live into
/// time travel).
pub fn carry_view(from: &App, to: &mut App) {
    to.view = from.view;
    to.sort = from.sort;
    to.sort_reverse = from.sort_reverse;
    to.filter = from.filter.clone();
    to.follow = from.follow;
    to.selected = from.selected;
    to.problems_only = from.problems_only;
    to.detail_selected = from.detail_selected;
    to.show_events = from.show_events;
    to.color_depth = from.color_depth;
    to.keymap = from.keymap.clone();
    to.ascii = from.ascii;
    to.clock_offset = from.clock_offset;
    to.marker_sets = from.marker_sets.clone();
    to.wall.markers = from.wall.markers.clone();
    to.dirty = true;
}

/// Now, in the recording's clock (for the live TUI's "back to live").
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// What the replay shows besides the model: where it is on the timeline, how fast it plays, and
/// the recorded events up to the moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub start_ms: i64,
    pub end_ms: i64,
    pub at_ms: i64,
    /// ×1 … ×64.
    pub speed: u32,
    pub playing: bool,
    /// Every recorded event (time order); the pane shows those up to `at_ms`.
    pub events: Vec<crate::record::EventRow>,
    /// Typing a time to go to (`:`).
    pub prompt: Option<String>,
    /// The last thing worth saying (a bad time typed, the end reached).
    pub note: Option<String>,
    /// Time travel in the live TUI (`T`), not `shardtop replay`: `L` goes back to live.
    pub travel: bool,
}

impl Bar {
    /// The deploy markers among the recorded events, for the wall's charts.
    pub fn markers(&self) -> Vec<super::wall::Marker> {
        self.events
            .iter()
            .filter(|e| e.rule == crate::record::recorder::MARKER_RULE)
            .map(|e| super::wall::Marker { at: from_ms(e.at_ms), text: e.message.clone() })
            .collect()
    }

    /// The events up to the moment, newest last.
    pub fn events_so_far(&self) -> &[crate::record::EventRow] {
        let n = self.events.partition_point(|e| e.at_ms <= self.at_ms);
        &self.events[..n]
    }

    /// The next (or previous) event worth a jump: a warning or worse, an action step or a deploy
    /// marker, strictly
    /// after (before) the moment, past the same second.
    pub fn jump_target(&self, forward: bool) -> Option<i64> {
        use crate::fleet::Health;
        let worth = |e: &&crate::record::EventRow| {
            matches!(e.severity, Health::Warning | Health::Critical)
                || e.rule.starts_with("action:")
                || e.rule == crate::record::recorder::MARKER_RULE
        };
        if forward {
            self.events.iter().filter(worth).map(|e| e.at_ms).find(|&t| t > self.at_ms + 999)
        } else {
            self.events.iter().filter(worth).map(|e| e.at_ms).rev().find(|&t| t < self.at_ms - 999)
        }
    }
}

/// What a key asks of the replay, decided without I/O (tested on its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Not a replay key: the model's keymap has it (views, rows, help, quit).
    Pass,
    Handled,
    Seek(i64),
    Step,
    /// Leave time travel: back to the live fleet.
    Live,
}

/// Replay keys: space play/pause, + / - speed, . one sample, [ ] ±1 min, { } ±10 min,
/// < > previous/next event, : go to a time; in time travel, L back to live.
pub fn on_key(bar: &mut Bar, key: crossterm::event::KeyEvent) -> Control {
    use crossterm::event::KeyCode;
    let clamp = |t: i64| t.clamp(bar.start_ms, bar.end_ms);
    if let Some(p) = bar.prompt.as_mut() {
        match key.code {
            KeyCode::Esc => bar.prompt = None,
            KeyCode::Backspace => {
                p.pop();
            }
            KeyCode::Enter => {
                let text = bar.prompt.take().unwrap_or_default();
                return match crate::record::time::parse(&text, (bar.start_ms, bar.end_ms)) {
                    Ok(t) => {
                        bar.note = None;
                        Control::Seek(clamp(t))
                    }
                    Err(e) => {
                        bar.note = Some(e);
                        Control::Handled
                    }
                };
            }
            KeyCode::Char(c) => p.push(c),
            _ => {}
        }
        return Control::Handled;
    }
    let min = 60_000;
    match key.code {
        KeyCode::Char('L') if bar.travel => Control::Live,
        KeyCode::Char(' ') => {
            bar.playing = !bar.playing;
            Control::Handled
        }
        KeyCode::Char('+') | KeyCode::Char('=') => {
            bar.speed = (bar.speed * 2).min(64);
            Control::Handled
        }
        KeyCode::Char('-') => {
            bar.speed = (bar.speed / 2).max(1);
            Control::Handled
        }
        KeyCode::Char('.') => {
            bar.playing = false;
            Control::Step
        }
        KeyCode::Char(']') => Control::Seek(clamp(bar.at_ms + min)),
        KeyCode::Char('[') => Control::Seek(clamp(bar.at_ms - min)),
        KeyCode::Char('}') => Control::Seek(clamp(bar.at_ms + 10 * min)),
        KeyCode::Char('{') => Control::Seek(clamp(bar.at_ms - 10 * min)),
        KeyCode::Char('>') => match bar.jump_target(true) {
            Some(t) => Control::Seek(clamp(t)),
            None => {
                bar.note = Some("no later event".into());
                Control::Handled
            }
        },
        KeyCode::Char('<') => match bar.jump_target(false) {
            Some(t) => Control::Seek(clamp(t)),
            None => {
                bar.note = Some("no earlier event".into());
                Control::Handled
            }
        },
        KeyCode::Char(':') => {
            bar.prompt = Some(String::new());
            bar.playing = false;
            Control::Handled
        }
        _ => Control::Pass,
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::fleet::Health;
    use crate::record::EventRow;

    fn bar() -> Bar {
        let ev = |at_ms, severity, rule: &str| EventRow {
            at_ms,
            severity,
            shard: "s1".into(),
            rule: rule.into(),
            message: "m".into(),
        };
        Bar {
            start_ms: 0,
            end_ms: 3_600_000,
            at_ms: 600_000,
            speed: 1,
            playing: false,
            events: vec![
                ev(100_000, Health::Critical, "sql_thread"),
                ev(700_000, Health::Ok, "sql_thread"),
                ev(900_000, Health::Warning, "lag"),
                ev(1_200_000, Health::Ok, "action:promote"),
            ],
            prompt: None,
            note: None,
            travel: false,
        }
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn keys_move_play_and_jump_to_events() {
        let mut b = bar();
        assert_eq!(on_key(&mut b, key(' ')), Control::Handled);
        assert!(b.playing);
        on_key(&mut b, key('+'));
        on_key(&mut b, key('+'));
        assert_eq!(b.speed, 4);
        assert_eq!(on_key(&mut b, key(']')), Control::Seek(660_000));
        assert_eq!(on_key(&mut b, key('{')), Control::Seek(0), "clamped to the start");
        assert_eq!(on_key(&mut b, key('>')), Control::Seek(900_000), "the recovery at 700 s is not an incident");
        b.at_ms = 900_000;
        assert_eq!(on_key(&mut b, key('>')), Control::Seek(1_200_000), "action steps are");
        assert_eq!(on_key(&mut b, key('<')), Control::Seek(100_000));
        assert_eq!(on_key(&mut b, key('.')), Control::Step);
        assert!(!b.playing);
        assert_eq!(on_key(&mut b, key('j')), Control::Pass);
        assert_eq!(b.events_so_far().len(), 3);
        assert_eq!(on_key(&mut b, key('L')), Control::Pass, "a replay has no live to go back to");
        b.travel = true;
        assert_eq!(on_key(&mut b, key('L')), Control::Live);
    }

    #[test]
    fn go_to_a_typed_time_or_say_why_not() {
        let mut b = bar();
        on_key(&mut b, key(':'));
        for c in "start+90s".chars() {
            on_key(&mut b, key(c));
        }
        assert_eq!(on_key(&mut b, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), Control::Seek(90_000));
        on_key(&mut b, key(':'));
        on_key(&mut b, key('x'));
        assert_eq!(on_key(&mut b, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), Control::Handled);
        assert!(b.note.as_deref().is_some_and(|n| n.contains("bad time")), "{:?}", b.note);
    }
}
