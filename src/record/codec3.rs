//! Format version 3's block codec: blocks that continue a chain, and columns inside a block.
//!
//! Version 2 made every block self-contained: each instance's first sample in a block was
//! complete, and at 15 samples an instance a block that first sample was most of the bytes.
//! Version 3 keeps the key table and each instance's last values (and integer steps) from one
//! block to the next: a *chain* starts with a keyframe block (from nothing, so its first sample of
//! each instance is complete) and its later blocks hold only changes. A crash still loses at most
//! the block being filled (the blocks before it are committed and decode), and a reader decodes a
//! chain from its keyframe (the `chain` column says which).
//!
//! Inside a block the bytes are split into streams — the records' headers, the changes' key ids
//! and types, the opaque payloads, and one stream of values per key — so that what zstd sees next
//! to each other is alike: one counter's step changes one after another, rather than a record's
//! mix of ids, types, times and values. The value encodings are version 2's (`codec`). The bytes
//! are documented in docs/recording.md.

use std::collections::HashMap;

use serde_json::Value;

use super::codec::{self, CorruptBlock, TAG_SAMPLE, flatten, put_varint, zigzag};

/// The first byte's bit: this block starts a chain.
const KEYFRAME: u8 = 1;
/// A change's type (version 3): the same value as another key's in this sample; its column holds
/// that key's id. A GTID set is often in three keys at once (`gtid/binlog_pos`, `current_pos`,
/// `slave_pos`), a replica's read and executed positions are often one.
const T_SAME: u8 = 13;

/// An integer's step after it became `new` from `prev`, as both sides keep it after a `T_SAME`.
fn step_to(prev: Option<&Value>, new: &Value) -> i64 {
    match (prev.and_then(Value::as_i64), new.as_i64()) {
        (Some(p), Some(n)) => n.wrapping_sub(p),
        _ => 0,
    }
}

fn corrupt(what: impl Into<String>) -> CorruptBlock {
    CorruptBlock(what.into())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One instance's last values (by key id) and integer steps, carried along a chain; for the
/// decoder, also which values changed since the instance's last sample handed out, and that
/// sample as a tree when it was asked for one.
#[derive(Default)]
struct Inst {
    last: Vec<Option<Value>>,
    steps: Vec<i64>,
    tree: Option<Value>,
    /// `tree` is the sample being handed out (not one before it).
    fresh: bool,
    /// A path came or went since the last sample handed out: rebuild it whole.
    reshaped: bool,
    /// Keys whose value changed since the last sample handed out (the paths stay the same).
    touched: Vec<usize>,
}

impl Inst {
    fn grow(&mut self, n: usize) {
        if self.last.len() < n {
            self.last.resize(n, None);
            self.steps.resize(n, 0);
        }
    }
}

/// A finished block: its bytes (before zstd) and what the `blocks` row says of it.
pub struct Finished {
    pub bytes: Vec<u8>,
    pub t0_ms: i64,
    pub t1_ms: i64,
    pub records: u32,
    pub keyframe: bool,
}

/// A sample of the block being filled (version 5): where its changes and values lie in the
/// arrival-order streams, written out in `(number in the block, slot)` order when it closes.
struct Pending {
    /// The sample's number for its instance in the block, its shard and instance.
    order: (u32, u32, u32),
    /// Its change count.
    n: u64,
    changes: std::ops::Range<usize>,
    pieces: std::ops::Range<usize>,
}

/// Builds the blocks of a chain, one after another.
pub struct ChainEncoder {
    /// Headers in columns (version 4) rather than interleaved (version 3).
    columns: bool,
    /// Changes and values round by round in the fleet's order, headers in arrival order (version 5).
    sorted: bool,
    keys: Vec<String>,
    ids: HashMap<String, u32>,
    inst: HashMap<(u32, u32), Inst>,
    /// The key table's length when this block started: keys from here on are defined in it.
    block_keys_from: usize,
    keyframe: bool,
    /// Version 3: the whole headers; version 4: their tags only.
    head: Vec<u8>,
    /// Version 4's header columns: time steps, slots, change counts.
    times: Vec<u8>,
    slots: Vec<u8>,
    counts: Vec<u8>,
    /// Version 4: each instance's slot in the chain.
    slot_ids: HashMap<(u32, u32), u32>,
    /// Version 5: each slot's samples so far in the block being filled.
    gens: Vec<u32>,
    /// Version 5: the block's samples, and each value's bytes as (key, its column's range).
    pending: Vec<Pending>,
    pieces: Vec<(usize, std::ops::Range<usize>)>,
    changes: Vec<u8>,
    opaque: Vec<u8>,
    values: Vec<Vec<u8>>,
    records: u32,
    first_ms: Option<i64>,
    last_ms: i64,
    scratch: Vec<(String, Value)>,
    seen: Vec<bool>,
}

impl Default for ChainEncoder {
    fn default() -> Self {
        ChainEncoder::with_version(5)
    }
}

impl ChainEncoder {
    /// An encoder writing format `version`'s blocks (3, 4 or 5; 5 is what a recorder writes).
    pub fn with_version(version: u32) -> Self {
        ChainEncoder {
            columns: version >= 4,
            sorted: version >= 5,
            keys: Vec::new(),
            ids: HashMap::new(),
            inst: HashMap::new(),
            block_keys_from: 0,
            keyframe: true,
            head: Vec::new(),
            times: Vec::new(),
            slots: Vec::new(),
            counts: Vec::new(),
            slot_ids: HashMap::new(),
            gens: Vec::new(),
            pending: Vec::new(),
            pieces: Vec::new(),
            changes: Vec::new(),
            opaque: Vec::new(),
            values: Vec::new(),
            records: 0,
            first_ms: None,
            last_ms: 0,
            scratch: Vec::new(),
            seen: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The first record's time in the block being filled.
    pub fn first_ms(&self) -> Option<i64> {
        self.first_ms
    }

    /// Bytes in the block being filled so far (before zstd).
    pub fn pending_bytes(&self) -> usize {
        self.head.len()
            + self.times.len()
            + self.slots.len()
            + self.counts.len()
            + self.changes.len()
            + self.opaque.len()
            + self.values.iter().map(Vec::len).sum::<usize>()
    }

    /// The next block starts a new chain (a keyframe): forget the key table and the last values.
    /// Only between blocks: what was added to the block being filled is kept as a keyframe's.
    pub fn restart(&mut self) {
        if !self.is_empty() {
            return;
        }
        let version = match (self.columns, self.sorted) {
            (false, _) => 3,
            (true, false) => 4,
            (true, true) => 5,
        };
        *self = ChainEncoder { scratch: std::mem::take(&mut self.scratch), ..ChainEncoder::with_version(version) };
    }

    fn header(&mut self, tag: u8, at_ms: i64) {
        self.head.push(tag);
        let prev = if self.first_ms.is_none() { 0 } else { self.last_ms };
        let times = if self.columns { &mut self.times } else { &mut self.head };
        put_varint(times, zigzag(at_ms.wrapping_sub(prev)));
        self.first_ms.get_or_insert(at_ms);
        self.last_ms = at_ms;
        self.records += 1;
    }

    /// A record stored whole (feed rounds, metrics readings, promotions).
    pub fn opaque(&mut self, tag: u8, at_ms: i64, payload: &[u8]) {
        self.header(tag, at_ms);
        put_bytes(&mut self.opaque, payload);
    }

    /// One instance's sample, as its changes since the instance's previous sample in the chain.
    pub fn sample(&mut self, at_ms: i64, shard: u32, instance: u32, value: &Value) {
        self.header(TAG_SAMPLE, at_ms);
        let (changes_from, pieces_from) = (self.changes.len(), self.pieces.len());
        let mut order = (0, shard, instance);
        if self.columns {
            // A slot seen before in the chain is its number; a new one is the next number, then
            // its shard and instance.
            let next = self.slot_ids.len() as u32;
            let slot = *self.slot_ids.entry((shard, instance)).or_insert(next);
            put_varint(&mut self.slots, u64::from(slot));
            if slot == next {
                put_varint(&mut self.slots, u64::from(shard));
                put_varint(&mut self.slots, u64::from(instance));
            }
            if self.sorted {
                let s = slot as usize;
                if self.gens.len() <= s {
                    self.gens.resize(s + 1, 0);
                }
                order.0 = self.gens[s];
                self.gens[s] += 1;
            }
        } else {
            put_varint(&mut self.head, u64::from(shard));
            put_varint(&mut self.head, u64::from(instance));
        }
        let mut pairs = std::mem::take(&mut self.scratch);
        pairs.clear();
        flatten(value, &mut pairs);
        let inst = self.inst.entry((shard, instance)).or_default();
        self.seen.clear();
        let mut n = 0u64;
        let mut tmp = Vec::with_capacity(16);
        let mut changed: Vec<usize> = Vec::new();
        for (path, v) in pairs.drain(..) {
            let id = match self.ids.get(&path) {
                Some(&id) => id as usize,
                None => {
                    let id = self.keys.len();
                    self.ids.insert(path.clone(), id as u32);
                    self.keys.push(path);
                    self.values.push(Vec::new());
                    id
                }
            };
            if self.seen.len() <= id {
                self.seen.resize(id + 1, false);
            }
            self.seen[id] = true;
            inst.grow(id + 1);
            if inst.last[id].as_ref() == Some(&v) {
                continue;
            }
            n += 1;
            put_varint(&mut self.changes, id as u64);
            tmp.clear();
            let mut step = inst.steps[id];
            codec::encode_value(&mut tmp, inst.last[id].as_ref(), &v, &mut step);
            let same = (tmp.len() > 2 && (v.is_string() || v.is_number()))
                .then(|| changed.iter().copied().find(|&o| inst.last[o].as_ref() == Some(&v)))
                .flatten();
            let column = &mut self.values[id];
            let from = column.len();
            if let Some(other) = same {
                inst.steps[id] = step_to(inst.last[id].as_ref(), &v);
                self.changes.push(T_SAME);
                put_varint(column, other as u64);
            } else {
                // The type byte goes with the key id; the value's bytes to the key's own column.
                inst.steps[id] = step;
                self.changes.push(tmp[0]);
                column.extend_from_slice(&tmp[1..]);
            }
            if self.sorted && column.len() > from {
                self.pieces.push((id, from..column.len()));
            }
            inst.last[id] = Some(v);
            changed.push(id);
        }
        // Paths this sample no longer has (an error replaced the status, an optional field went).
        for (i, slot) in inst.last.iter_mut().enumerate() {
            if slot.is_some() && !self.seen.get(i).copied().unwrap_or(false) {
                n += 1;
                put_varint(&mut self.changes, i as u64);
                self.changes.push(codec::T_REMOVED);
                *slot = None;
            }
        }
        if self.sorted {
            let (changes, pieces) = (changes_from..self.changes.len(), pieces_from..self.pieces.len());
            self.pending.push(Pending { order, n, changes, pieces });
        } else {
            put_varint(if self.columns { &mut self.counts } else { &mut self.head }, n);
        }
        self.scratch = pairs;
    }

    /// Version 5: the block's change counts, changes and value columns written round by round in the fleet's
    /// order (each sample's number for its instance in the block, then shard and instance; not
    /// the slot, numbered in the keyframe's arrival order). Each instance's samples keep their
    /// order, so its values still follow from its own earlier ones; what changes is that an
    /// instance's values come after the same neighbour's every round (a shard's master and
    /// replicas step alike), as zstd finds them best, whatever order the samples arrived in.
    fn sort_streams(&mut self) {
        self.pending.sort_unstable_by_key(|p| p.order);
        let mut changes = Vec::with_capacity(self.changes.len());
        let mut values: Vec<Vec<u8>> = self.values.iter().map(|v| Vec::with_capacity(v.len())).collect();
        for p in &self.pending {
            put_varint(&mut self.counts, p.n);
            changes.extend_from_slice(&self.changes[p.changes.clone()]);
            for (id, range) in &self.pieces[p.pieces.clone()] {
                values[*id].extend_from_slice(&self.values[*id][range.clone()]);
            }
        }
        self.changes = changes;
        self.values = values;
        self.pending.clear();
        self.pieces.clear();
        self.gens.iter_mut().for_each(|g| *g = 0);
    }

    /// The block being filled, closed: its bytes, and the encoder ready for the chain's next
    /// block. `None` when nothing was added.
    pub fn finish(&mut self) -> Option<Finished> {
        let t0_ms = self.first_ms?;
        if self.sorted {
            self.sort_streams();
        }
        let mut out = Vec::with_capacity(self.pending_bytes() + 64);
        out.push(if self.keyframe { KEYFRAME } else { 0 });
        put_varint(&mut out, self.block_keys_from as u64);
        let defs = &self.keys[self.block_keys_from..];
        put_varint(&mut out, defs.len() as u64);
        for k in defs {
            put_bytes(&mut out, k.as_bytes());
        }
        put_varint(&mut out, u64::from(self.records));
        put_bytes(&mut out, &self.head);
        if self.columns {
            put_bytes(&mut out, &self.times);
            put_bytes(&mut out, &self.slots);
            put_bytes(&mut out, &self.counts);
        }
        put_bytes(&mut out, &self.changes);
        put_bytes(&mut out, &self.opaque);
        put_varint(&mut out, self.values.len() as u64);
        for v in &mut self.values {
            put_bytes(&mut out, v);
            v.clear();
        }
        let done = Finished { bytes: out, t0_ms, t1_ms: self.last_ms, records: self.records, keyframe: self.keyframe };
        self.head.clear();
        self.times.clear();
        self.slots.clear();
        self.counts.clear();
        self.changes.clear();
        self.opaque.clear();
        self.records = 0;
        self.first_ms = None;
        self.keyframe = false;
        self.block_keys_from = self.keys.len();
        Some(done)
    }
}

#[path = "codec3_decode.rs"]
mod decode;
pub use decode::{ChainDecoder, Flat, SampleView};

#[cfg(test)]
#[path = "codec3_tests.rs"]
mod tests;
