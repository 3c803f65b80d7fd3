//! Reading a recording back: sessions, the messages of a time window in order, events.

use std::path::Path;

use super::codec::{self, Record, TAG_FEED, TAG_METRICS, TAG_PROMOTED};
use super::store::{EventRow, Session, Store, StoreError};
use super::wire::{self, Promoted};
use crate::fleet::FeedRound;
use crate::fleet::external::MetricsUpdate;
use crate::poll::{Slot, Update};

/// One recorded message for the model, as the live session received it. (Each lives for one
/// trip into the model, like the UI's `Message`: its size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Recorded {
    Sample(Update),
    Feed(FeedRound),
    Metrics(MetricsUpdate),
    Promoted(Promoted),
}

pub struct Recording {
    store: Store,
    sessions: Vec<Session>,
}

impl Recording {
    pub fn open(path: &Path) -> Result<Recording, StoreError> {
        Recording::from_store(Store::open_read(path)?)
    }

    pub fn from_store(store: Store) -> Result<Recording, StoreError> {
        let sessions = store.sessions()?;
        Ok(Recording { store, sessions })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// First and last recorded moment; `None` for a recording without a block yet.
    pub fn span(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.store.span()
    }

    /// The recorder run that covers `t_ms`: the last one started at or before it (else the first).
    pub fn session_at(&self, t_ms: i64) -> Option<&Session> {
        self.sessions.iter().rev().find(|s| s.started_ms <= t_ms).or_else(|| self.sessions.first())
    }

    /// Where `session` ends: the next session's start.
    pub fn session_end(&self, session: i64) -> Option<i64> {
        self.sessions.iter().find(|s| s.id > session).map(|s| s.started_ms)
    }

    /// Every message of `session` with `from_ms <= at <= to_ms`, in recorded order.
    pub fn read(&self, session: i64, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, Recorded)>, StoreError> {
        let mut out = Vec::new();
        for b in self.store.blocks(session, from_ms, to_ms)? {
            let corrupt = |why: String| StoreError::Corrupt { path: self.store.path().to_string(), block: b.id, why };
            let records = codec::decode_block(&b.data, |at| at >= from_ms && at <= to_ms).map_err(|e| corrupt(e.0))?;
            for r in records {
                let m = match r {
                    Record::Sample { at_ms, shard, instance, value } => {
                        let sample = wire::sample_from(at_ms, value).map_err(corrupt)?;
                        let slot = Slot { shard: shard as usize, instance: instance as usize };
                        (at_ms, Recorded::Sample(Update { slot, sample }))
                    }
                    Record::Opaque { tag: TAG_FEED, at_ms, payload } => {
                        (at_ms, Recorded::Feed(wire::feed_from(at_ms, &payload).map_err(corrupt)?))
                    }
                    Record::Opaque { tag: TAG_METRICS, at_ms, payload } => {
                        (at_ms, Recorded::Metrics(wire::metrics_from(at_ms, &payload).map_err(corrupt)?))
                    }
                    Record::Opaque { tag: TAG_PROMOTED, at_ms, payload } => {
                        let p = serde_json::from_slice(&payload).map_err(|e| corrupt(format!("promotion: {e}")))?;
                        (at_ms, Recorded::Promoted(p))
                    }
                    // A newer minor kind of record this build does not know: skipped, not fatal.
                    Record::Opaque { .. } => continue,
                };
                out.push(m);
            }
        }
        // Blocks hold records in arrival order; a window across blocks stays ordered by block.
        Ok(out)
    }

    /// The times at which anything was recorded in `[from_ms, to_ms]` (for stepping sample by sample).
    pub fn times(&self, session: i64, from_ms: i64, to_ms: i64) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        for b in self.store.blocks(session, from_ms, to_ms)? {
            let records = codec::decode_block(&b.data, |at| at >= from_ms && at <= to_ms)
                .map_err(|e| StoreError::Corrupt { path: self.store.path().to_string(), block: b.id, why: e.0 })?;
            out.extend(records.iter().map(Record::at_ms));
        }
        Ok(out)
    }

    pub fn events(&self, from_ms: i64, to_ms: i64) -> Result<Vec<EventRow>, StoreError> {
        self.store.events(from_ms, to_ms)
    }
}
