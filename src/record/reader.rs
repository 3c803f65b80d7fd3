//! Reading a recording back: sessions, the messages of a time window in order, events.

use std::path::Path;

use super::codec::{self, Item, TAG_FEED, TAG_METRICS, TAG_PROMOTED};
use super::codec3::{ChainDecoder, Flat};
use super::store::{BlockRef, EventRow, Session, Store, StoreError};
use super::typed::{Fields, Part, Samples};
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

/// A recorded message as `Recording::each_decoded` hands it out: ready, or a sample still to be
/// brought forward from its instance's last one (`finish`).
#[derive(Debug)]
pub enum Decoded {
    /// Boxed: a seek moves 30,000 of these between threads, nearly all samples' small parts.
    Ready(Box<Recorded>),
    Sample {
        shard: u32,
        instance: u32,
        part: Part,
    },
}

impl Decoded {
    /// The message, with `samples` keeping each instance's last sample (one `Samples` for all
    /// the messages of one `each_decoded`, in order).
    pub fn finish(self, samples: &mut Samples) -> Result<Recorded, String> {
        match self {
            Decoded::Ready(m) => Ok(*m),
            Decoded::Sample { shard, instance, part } => {
                let sample = samples.sample((shard, instance), part)?;
                Ok(Recorded::Sample(Update {
                    slot: Slot { shard: shard as usize, instance: instance as usize },
                    sample,
                }))
            }
        }
    }
}

pub struct Recording {
    store: Store,
    sessions: Vec<Session>,
}

/// One decoded record as the model's message; `None` for a kind of record this build does not
/// know (a newer minor version's: skipped, not fatal).
fn recorded(item: Item<'_>) -> Result<Option<(i64, Recorded)>, String> {
    Ok(Some(match item {
        Item::Sample { at_ms, shard: wire::FEED_SHARD, value, .. } => {
            (at_ms, Recorded::Feed(wire::feed_from_value(at_ms, value)?))
        }
        Item::Sample { at_ms, shard, instance, value } => {
            let sample = wire::sample_from(at_ms, value)?;
            let slot = Slot { shard: shard as usize, instance: instance as usize };
            (at_ms, Recorded::Sample(Update { slot, sample }))
        }
        Item::Opaque { tag: TAG_FEED, at_ms, payload } => (at_ms, Recorded::Feed(wire::feed_from(at_ms, payload)?)),
        Item::Opaque { tag: TAG_METRICS, at_ms, payload } => {
            (at_ms, Recorded::Metrics(wire::metrics_from(at_ms, payload)?))
        }
        Item::Opaque { tag: TAG_PROMOTED, at_ms, payload } => {
            let p = serde_json::from_slice(payload).map_err(|e| format!("promotion: {e}"))?;
            (at_ms, Recorded::Promoted(p))
        }
        Item::Opaque { .. } => return Ok(None),
    }))
}

/// A record `recorded` makes whole, to `f` as ready (skipped when this build does not know it).
fn ready(item: Item<'_>, f: &mut impl FnMut(i64, Decoded) -> Result<(), String>) -> Result<(), String> {
    match recorded(item)? {
        Some((at, m)) => f(at, Decoded::Ready(Box::new(m))),
        None => Ok(()),
    }
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

    /// The records of `session` with `from_ms <= at <= to_ms`, block by block, in recorded order:
    /// versions 3 to 5 decode each chain from its first block, older versions each block on its own.
    fn records(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(Item<'_>) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        if self.store.version() >= 3 {
            return self.flat(session, from_ms, to_ms, |mut f| each(f.item().map_err(|e| e.0)?));
        }
        let path = self.store.path();
        self.store.each_block(session, from_ms, to_ms, |b| {
            let records = codec::decode_block(b.data, |at| at >= from_ms && at <= to_ms);
            let why = match records {
                Ok(records) => match records.iter().try_for_each(|r| each(r.item())) {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => e.0,
            };
            Err(StoreError::Corrupt { path: path.to_string(), block: b.id, why })
        })
    }

    /// The records of `session` with `from_ms <= at <= to_ms` of a chained recording (versions 3
    /// to 5), each chain decoded from its first block, a sample as `codec3` holds it.
    fn flat(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(Flat<'_>) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        let mut chain = ChainDecoder::with_version(self.store.version());
        let path = self.store.path();
        self.store.each_block(session, from_ms, to_ms, |b| flat_block(path, &mut chain, b, from_ms..=to_ms, &mut each))
    }

    /// `flat`, decoding on a thread of its own while this one reads the next blocks.
    fn flat_ahead(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(Flat<'_>) -> Result<(), String> + Send,
    ) -> Result<(), StoreError> {
        let mut chain = ChainDecoder::with_version(self.store.version());
        let path = self.store.path();
        self.store
            .each_block_ahead(session, from_ms, to_ms, |b| flat_block(path, &mut chain, b, from_ms..=to_ms, &mut each))
    }

    /// Every message of `session` with `from_ms <= at <= to_ms`, in recorded order.
    pub fn read(&self, session: i64, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, Recorded)>, StoreError> {
        let mut out = Vec::new();
        self.each(session, from_ms, to_ms, |at, m| out.push((at, m)))?;
        Ok(out)
    }

    /// Every message of `session` with `from_ms <= at <= to_ms`, in recorded order, to `f` as it
    /// is decoded (a seek feeds the model so, without holding a minute of samples at once). A
    /// chained recording's samples are brought forward from each instance's last one
    /// (`typed`), not rebuilt from a tree each.
    pub fn each(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut f: impl FnMut(i64, Recorded) + Send,
    ) -> Result<(), StoreError> {
        let mut samples = Samples::default();
        self.each_decoded(session, from_ms, to_ms, |at, d| {
            f(at, d.finish(&mut samples)?);
            Ok(())
        })
    }

    /// `each`'s messages with a sample still a `Part` of it: the decoding here, the typed sample
    /// wherever `Decoded::finish` runs (a seek finishes them on its samples' thread). From
    /// version 3 on, `f` runs on a thread of its own, beside the one that reads the blocks.
    pub fn each_decoded(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut f: impl FnMut(i64, Decoded) -> Result<(), String> + Send,
    ) -> Result<(), StoreError> {
        if self.store.version() < 3 {
            return self.records(session, from_ms, to_ms, |item| ready(item, &mut f));
        }
        let mut fields = Fields::default();
        self.flat_ahead(session, from_ms, to_ms, |mut item| match &mut item {
            Flat::Sample(v) if v.shard != wire::FEED_SHARD => {
                let part = fields.part(v)?;
                f(v.at_ms, Decoded::Sample { shard: v.shard, instance: v.instance, part })
            }
            // Feed rounds, metrics readings, promotions: whole, from their trees or payloads.
            _ => ready(item.item().map_err(|e| e.0)?, &mut f),
        })
    }

    /// The times at which anything was recorded in `[from_ms, to_ms]` (for stepping sample by sample).
    pub fn times(&self, session: i64, from_ms: i64, to_ms: i64) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        self.records(session, from_ms, to_ms, |item| {
            out.push(item.at_ms());
            Ok(())
        })?;
        Ok(out)
    }

    pub fn events(&self, from_ms: i64, to_ms: i64) -> Result<Vec<EventRow>, StoreError> {
        self.store.events(from_ms, to_ms)
    }
}

/// One block of a chained recording through `chain`, its records in `window` to `each`.
fn flat_block(
    path: &str,
    chain: &mut ChainDecoder,
    b: BlockRef<'_>,
    window: std::ops::RangeInclusive<i64>,
    each: &mut impl FnMut(Flat<'_>) -> Result<(), String>,
) -> Result<(), StoreError> {
    let mut failed = None;
    chain
        .decode_flat(
            b.data,
            |at| window.contains(&at),
            |f| {
                each(f).map_err(|e| {
                    failed = Some(e.clone());
                    codec::CorruptBlock(e)
                })
            },
        )
        .map_err(|e| StoreError::Corrupt { path: path.to_string(), block: b.id, why: failed.unwrap_or(e.0) })
}
