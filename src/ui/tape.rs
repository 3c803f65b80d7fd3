//! The recorder as the UI loop (and `shardtop record`, which runs the same model headless) feeds
//! it: each message before the model takes it, each event the model raises, the clock.

use chrono::{DateTime, Utc};

use super::action::ActionMsg;
use super::app::Message;
use crate::fleet::Event;
use crate::record::wire::{Layout, Promoted};
use crate::record::{RecordOptions, Recorder, Recording, StoreError};

/// How much of the session the in-memory history keeps (about 50 MB at 1,000 instances polled
/// every second: docs/recording.md).
pub const HISTORY: std::time::Duration = std::time::Duration::from_secs(3600);

/// In-memory histories are named per process and per tape (tests run several at once).
fn next_history_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub struct Tape {
    rec: Option<Recorder>,
}

impl Tape {
    pub fn new(rec: Recorder) -> Tape {
        Tape { rec: Some(rec) }
    }

    /// No recording.
    pub fn off() -> Tape {
        Tape { rec: None }
    }

    /// The session's history in memory, for time travel when the TUI records to no file: the
    /// last `HISTORY` of it, gone when the TUI quits. When memory cannot hold it, no history.
    pub fn history(layout: &Layout, audit_log: Option<std::path::PathBuf>, now: DateTime<Utc>) -> Tape {
        let name = format!("shardtop-history-{}-{}", std::process::id(), next_history_id());
        let opts = RecordOptions {
            path: std::path::PathBuf::from("(in-memory history)"),
            retention: Some(HISTORY),
            block_span: crate::record::recorder::DEFAULT_BLOCK_SPAN,
            audit_log,
            markers: Some(super::markers::default_path()),
        };
        match Recorder::in_memory(&name, opts, layout, now) {
            Ok(rec) => Tape::new(rec),
            Err(e) => {
                log::warn!(target: "record", "no history for time travel: {e}");
                Tape::off()
            }
        }
    }

    /// The recording as it now stands, to travel back in: the block being filled is committed
    /// first. `None` without a recording.
    pub fn reader(&mut self) -> Option<Result<Recording, StoreError>> {
        let rec = self.rec.as_mut()?;
        Some(rec.flush().and_then(|()| rec.reader()))
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
