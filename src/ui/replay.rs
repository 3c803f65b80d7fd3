//! Replaying a recording through the live model: the recorded messages go through the same
//! `deliver` as in the session that recorded them, so health, anomalies, topology and charts are
//! the model's own conclusions, not a second implementation of them.

use std::time::Duration;

use chrono::Utc;

use super::app::{App, Message};
use super::theme::Theme;
use crate::poll::SlotMap;
use crate::record::reader::{Recorded, Recording};
use crate::record::store::StoreError;
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
}

impl Replay {
    /// The model as it stood at `t_ms`: a fresh one for the session that covers it, fed the
    /// recording from `WARMUP` before.
    pub fn at(rec: &Recording, t_ms: i64, theme: Theme) -> Result<Replay, StoreError> {
        let session = rec.session_at(t_ms).ok_or_else(|| StoreError::Corrupt {
            path: rec.store().path().to_string(),
            block: 0,
            why: "no recorder session: the recording is empty".into(),
        })?;
        let layout = &session.layout;
        let mut app = App::new(layout.fleet(), theme, layout.source.clone(), layout.poll_interval());
        if let Some(f) = layout.feed_interval_ms {
            app.feed_interval = Duration::from_millis(f);
        }
        app.read_only = true;
        let from = (t_ms - WARMUP.as_millis() as i64).max(session.started_ms);
        let mut r = Replay { app, session: session.id, at_ms: from - 1, slots: SlotMap::default() };
        r.advance(rec, t_ms)?;
        Ok(r)
    }

    /// Feed everything recorded after the current moment up to `t_ms` (forward only).
    pub fn advance(&mut self, rec: &Recording, t_ms: i64) -> Result<(), StoreError> {
        if t_ms <= self.at_ms {
            return Ok(());
        }
        let messages = rec.read(self.session, self.at_ms + 1, t_ms)?;
        let mut second = self.at_ms.div_euclid(1000);
        for (at, m) in messages {
            // The clock as it moved for the live model: holds are released by ticks.
            if at.div_euclid(1000) != second {
                second = at.div_euclid(1000);
                super::deliver(&mut self.app, &mut self.slots, Message::Tick(from_ms(at)));
            }
            let msg = match m {
                Recorded::Sample(u) => Message::Sample(u),
                Recorded::Feed(f) => Message::Feed(f),
                Recorded::Metrics(u) => Message::Metrics(u),
                Recorded::Promoted(p) => {
                    Message::Action(super::action::ActionMsg::Promoted { shard: p.shard, new_master: p.new_master })
                }
            };
            super::deliver(&mut self.app, &mut self.slots, msg);
        }
        super::deliver(&mut self.app, &mut self.slots, Message::Tick(from_ms(t_ms)));
        self.at_ms = t_ms;
        Ok(())
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
        *self = fresh;
        Ok(())
    }
}

/// What the user was looking at survives a rebuild of the model.
fn carry_view(from: &App, to: &mut App) {
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
    to.dirty = true;
}

/// Now, in the recording's clock (for the live TUI's "back to live").
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
