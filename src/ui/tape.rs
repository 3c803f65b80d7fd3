//! The recorder as the UI loop (and `shardtop record`, which runs the same model headless) feeds
//! it: each message before the model takes it, each event the model raises, the clock.

use chrono::{DateTime, Utc};

use super::action::ActionMsg;
use super::app::Message;
use crate::fleet::Event;
use crate::record::wire::Promoted;
use crate::record::{Recorder, StoreError};

pub struct Tape {
    rec: Option<Recorder>,
}

impl Tape {
    pub fn new(rec: Recorder) -> Tape {
        Tape { rec: Some(rec) }
    }

    /// No recording (the TUI without `--record`).
    pub fn off() -> Tape {
        Tape { rec: None }
    }

    pub fn is_on(&self) -> bool {
        self.rec.is_some()
    }

    /// A message, as it arrives (before `deliver` routes it: the recording keeps the poller's slot).
    pub fn message(&mut self, m: &Message, now: DateTime<Utc>) {
        let Some(r) = self.rec.as_mut() else { return };
        match m {
            Message::Sample(u) => r.sample(u.slot, &u.sample),
            Message::Feed(f) => r.feed(f),
            Message::Metrics(u) => r.metrics(u),
            Message::Action(ActionMsg::Promoted { shard, new_master }) => {
                r.promoted(now, &Promoted { shard: shard.clone(), new_master: new_master.clone() })
            }
            _ => {}
        }
    }

    pub fn events(&mut self, at: DateTime<Utc>, events: &[Event]) {
        if let Some(r) = self.rec.as_mut() {
            r.events(at, events);
        }
    }

    /// The clock: closes blocks, applies retention. A failing store stops the recording (said
    /// once, in the events pane), never the dashboard.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let result = self.rec.as_mut().map_or(Ok(()), |r| r.tick(now));
        self.stop_on(result);
    }

    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.rec.as_mut().map_or(Ok(()), Recorder::flush)
    }

    fn stop_on(&mut self, result: Result<(), StoreError>) {
        if let Err(e) = result {
            log::error!(target: "record", "recording stopped: {e}");
            self.rec = None;
        }
    }

    pub fn into_recorder(self) -> Option<Recorder> {
        self.rec
    }
}

impl Default for Tape {
    fn default() -> Tape {
        Tape::off()
    }
}
