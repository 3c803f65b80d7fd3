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

use super::codec::{
    self, CorruptBlock, Item, Reader, Record, SEP, TAG_SAMPLE, flatten, put_varint, unflatten, unzigzag, zigzag,
};

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

/// A path's segment, parsed once per key.
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Seg>> {
    path.split(SEP)
        .filter(|s| !s.is_empty())
        .map(|seg| match seg.strip_prefix('#') {
            Some(i) => i.parse().ok().map(Seg::Index),
            None => Some(Seg::Key(seg.to_string())),
        })
        .collect()
}

/// A key's path, parsed once: the segments up to its leaf's parent, the parent's number (keys
/// with the same parent share it), and the leaf.
struct Path {
    up: Vec<Seg>,
    parent: usize,
    leaf: Seg,
}

/// The node at `segs` under `tree`.
fn walk<'a>(tree: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    let mut node = tree;
    for s in segs {
        node = match s {
            Seg::Key(k) => node.as_object_mut()?.get_mut(k.as_str())?,
            Seg::Index(i) => node.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(node)
}

/// Set the leaves of the keys `touched` in `tree` to their values in `last`; false when the tree
/// lacks one of them. Keys come in id order, which is mostly path order: a run of keys under one
/// parent (`ok/counters/…`) walks to the parent once (the walk's map lookups were a tenth of a
/// seek).
fn patch_all(tree: &mut Value, touched: &[usize], paths: &[Option<Path>], last: &[Option<Value>]) -> bool {
    let mut k = 0;
    while let Some(&first) = touched.get(k) {
        let Some(Some(p)) = paths.get(first) else { return false };
        let Some(parent) = walk(tree, &p.up) else { return false };
        let group = p.parent;
        while let Some(&id) = touched.get(k) {
            let Some(Some(q)) = paths.get(id) else { return false };
            if q.parent != group {
                break;
            }
            let Some(Some(v)) = last.get(id) else { return false };
            let leaf = match &q.leaf {
                Seg::Key(key) => parent.as_object_mut().and_then(|m| m.get_mut(key.as_str())),
                Seg::Index(i) => parent.as_array_mut().and_then(|a| a.get_mut(*i)),
            };
            match leaf {
                Some(n) => *n = v.clone(),
                None => return false,
            }
            k += 1;
        }
    }
    true
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

/// Builds the blocks of a chain, one after another.
pub struct ChainEncoder {
    /// Headers in columns (version 4) rather than interleaved (version 3).
    columns: bool,
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
        ChainEncoder::with_version(4)
    }
}

impl ChainEncoder {
    /// An encoder writing format `version`'s blocks (3 or 4; 4 is what a recorder writes).
    pub fn with_version(version: u32) -> Self {
        ChainEncoder {
            columns: version >= 4,
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
        let version = if self.columns { 4 } else { 3 };
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
            if let Some(other) = same {
                inst.steps[id] = step_to(inst.last[id].as_ref(), &v);
                self.changes.push(T_SAME);
                put_varint(&mut self.values[id], other as u64);
            } else {
                // The type byte goes with the key id; the value's bytes to the key's own column.
                inst.steps[id] = step;
                self.changes.push(tmp[0]);
                self.values[id].extend_from_slice(&tmp[1..]);
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
        put_varint(if self.columns { &mut self.counts } else { &mut self.head }, n);
        self.scratch = pairs;
    }

    /// The block being filled, closed: its bytes, and the encoder ready for the chain's next
    /// block. `None` when nothing was added.
    pub fn finish(&mut self) -> Option<Finished> {
        let t0_ms = self.first_ms?;
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

/// Reads the blocks of a chain in order, keeping what the encoder kept.
pub struct ChainDecoder {
    /// Headers in columns (version 4) rather than interleaved (version 3).
    columns: bool,
    /// Version 4: each slot's shard and instance, by slot number.
    slots: Vec<(u32, u32)>,
    keys: Vec<String>,
    paths: Vec<Option<Path>>,
    /// Each parent path's number, for `Path::parent`.
    parents: HashMap<String, usize>,
    /// Each instance's values, by its slot (version 4's own numbers; version 3's in order of
    /// appearance, `slot_of`).
    inst: Vec<Inst>,
    slot_of: HashMap<(u32, u32), usize>,
    started: bool,
    /// How many keyframes this decoder has read: key ids mean something else after each.
    chain: u64,
}

impl Default for ChainDecoder {
    fn default() -> Self {
        ChainDecoder::with_version(4)
    }
}

impl ChainDecoder {
    /// A decoder of format `version`'s chains (3 or 4).
    pub fn with_version(version: u32) -> Self {
        ChainDecoder {
            columns: version >= 4,
            slots: Vec::new(),
            keys: Vec::new(),
            paths: Vec::new(),
            parents: HashMap::new(),
            inst: Vec::new(),
            slot_of: HashMap::new(),
            started: false,
            chain: 0,
        }
    }

    /// Every record of one block (decompressed), in order, owned.
    pub fn decode(&mut self, buf: &[u8], want: impl FnMut(i64) -> bool) -> Result<Vec<Record>, CorruptBlock> {
        let mut out = Vec::new();
        self.decode_each(buf, want, |item| {
            out.push(item.to_record());
            Ok(())
        })?;
        Ok(out)
    }

    /// Every record of one block (decompressed), in order, to `emit`. `want` picks which samples
    /// to rebuild as JSON: the others are decoded (the chain needs their values) but not
    /// materialised. An instance's tree is kept and patched where only values changed.
    pub fn decode_each(
        &mut self,
        buf: &[u8],
        want: impl FnMut(i64) -> bool,
        mut emit: impl FnMut(Item<'_>) -> Result<(), CorruptBlock>,
    ) -> Result<(), CorruptBlock> {
        self.decode_flat(buf, want, |item| match item {
            Flat::Opaque { tag, at_ms, payload } => emit(Item::Opaque { tag, at_ms, payload }),
            Flat::Sample(mut v) => {
                let (at_ms, shard, instance) = (v.at_ms, v.shard, v.instance);
                let value = v.tree()?;
                emit(Item::Sample { at_ms, shard, instance, value })
            }
        })
    }

    /// Every record of one block (decompressed), in order, to `emit`, a wanted sample as its
    /// instance's values and which of them changed since its last one handed out: a reader that
    /// keeps its own typed copy of each instance updates only those (a seek's 30,000 samples
    /// need no JSON tree each), and asks for the tree when it cannot.
    pub fn decode_flat(
        &mut self,
        buf: &[u8],
        mut want: impl FnMut(i64) -> bool,
        mut emit: impl FnMut(Flat<'_>) -> Result<(), CorruptBlock>,
    ) -> Result<(), CorruptBlock> {
        let mut r = Reader::new(buf);
        let flags = r.u8()?;
        if flags & KEYFRAME != 0 {
            self.chain += 1;
            self.keys.clear();
            self.slots.clear();
            self.paths.clear();
            self.parents.clear();
            self.inst.clear();
            self.slot_of.clear();
            self.started = true;
        } else if !self.started {
            return Err(corrupt("a block that continues a chain read without the chain's first block"));
        }
        let keys_from = r.varint()?;
        if keys_from != self.keys.len() as u64 {
            return Err(corrupt(format!("defines keys from {keys_from}, the chain has {}", self.keys.len())));
        }
        let ndefs = r.varint()?;
        if ndefs > buf.len() as u64 {
            return Err(corrupt("key count"));
        }
        for _ in 0..ndefs {
            let key = r.str()?;
            let path = segments(key).and_then(|mut up| {
                let leaf = up.pop()?;
                let (parent, _) = key.rsplit_once(SEP).unwrap_or(("", key));
                let n = self.parents.len();
                let parent = *self.parents.entry(parent.to_string()).or_insert(n);
                Some(Path { up, parent, leaf })
            });
            self.paths.push(path);
            self.keys.push(key.to_string());
        }
        let nrecords = r.varint()?;
        let mut head = Reader::new(r.bytes()?);
        let (mut times, mut slots, mut counts) = if self.columns {
            (Reader::new(r.bytes()?), Reader::new(r.bytes()?), Reader::new(r.bytes()?))
        } else {
            (Reader::new(&[]), Reader::new(&[]), Reader::new(&[]))
        };
        let mut changes = Reader::new(r.bytes()?);
        let mut opaque = Reader::new(r.bytes()?);
        let nvalues = usize::try_from(r.varint()?).map_err(|_| corrupt("column count"))?;
        if nvalues != self.keys.len() {
            return Err(corrupt(format!("{nvalues} value columns for {} keys", self.keys.len())));
        }
        let mut values = Vec::with_capacity(nvalues);
        for _ in 0..nvalues {
            values.push(Reader::new(r.bytes()?));
        }
        let mut at = 0i64;
        for k in 0..nrecords {
            let tag = head.u8()?;
            let d = unzigzag(if self.columns { times.varint()? } else { head.varint()? });
            at = if k == 0 { d } else { at.wrapping_add(d) };
            if tag != TAG_SAMPLE {
                let payload = opaque.bytes()?;
                if want(at) {
                    emit(Flat::Opaque { tag, at_ms: at, payload })?;
                }
                continue;
            }
            let (shard, instance, n, slot) = if self.columns {
                let slot = usize::try_from(slots.varint()?).map_err(|_| corrupt("slot"))?;
                if slot == self.slots.len() {
                    let shard = u32::try_from(slots.varint()?).map_err(|_| corrupt("shard"))?;
                    let instance = u32::try_from(slots.varint()?).map_err(|_| corrupt("instance"))?;
                    self.slots.push((shard, instance));
                }
                let &(shard, instance) = self.slots.get(slot).ok_or_else(|| corrupt("undefined slot"))?;
                (shard, instance, counts.varint()?, slot)
            } else {
                let shard = u32::try_from(head.varint()?).map_err(|_| corrupt("shard"))?;
                let instance = u32::try_from(head.varint()?).map_err(|_| corrupt("instance"))?;
                let next = self.slot_of.len();
                (shard, instance, head.varint()?, *self.slot_of.entry((shard, instance)).or_insert(next))
            };
            if self.inst.len() <= slot {
                self.inst.resize_with(slot + 1, Inst::default);
            }
            let inst = &mut self.inst[slot];
            inst.grow(self.keys.len());
            for _ in 0..n {
                let id = usize::try_from(changes.varint()?).map_err(|_| corrupt("key id"))?;
                let t = changes.u8()?;
                let column = values.get_mut(id).ok_or_else(|| corrupt("undefined key"))?;
                let had = inst.last[id].is_some();
                if t == T_SAME {
                    let other = usize::try_from(column.varint()?).map_err(|_| corrupt("key id"))?;
                    let v = inst
                        .last
                        .get(other)
                        .cloned()
                        .flatten()
                        .ok_or_else(|| corrupt("same as a key with no value"))?;
                    inst.steps[id] = step_to(inst.last[id].as_ref(), &v);
                    inst.last[id] = Some(v);
                } else if !codec::step_in_place(t, &mut inst.last[id], column, &mut inst.steps[id])? {
                    let prev = inst.last[id].take();
                    inst.last[id] = codec::decode_value(t, column, prev, &mut inst.steps[id])?;
                }
                let has = inst.last[id].is_some();
                if had != has || inst.touched.len() > 4 * inst.last.len() + 64 {
                    inst.reshaped = true;
                    inst.touched.clear();
                } else if has && !inst.reshaped {
                    inst.touched.push(id);
                }
            }
            if want(at) {
                let view = SampleView {
                    at_ms: at,
                    shard,
                    instance,
                    chain: self.chain,
                    keys: &self.keys,
                    paths: &self.paths,
                    inst,
                };
                emit(Flat::Sample(view))?;
                // The next sample handed out is told what changed since this one; a tree not
                // brought up to this one is of no use to it.
                if !inst.fresh {
                    inst.tree = None;
                }
                inst.fresh = false;
                inst.reshaped = false;
                inst.touched.clear();
            }
        }
        if !head.done() || !times.done() || !slots.done() || !counts.done() || !changes.done() || !opaque.done() {
            return Err(corrupt("bytes left over after the block's records"));
        }
        Ok(())
    }
}

/// A record as `ChainDecoder::decode_flat` hands it out.
pub enum Flat<'a> {
    Sample(SampleView<'a>),
    Opaque { tag: u8, at_ms: i64, payload: &'a [u8] },
}

/// One instance's sample as the chain holds it: its values by key id, which changed since its
/// last sample handed out, and the JSON tree on demand.
pub struct SampleView<'a> {
    pub at_ms: i64,
    pub shard: u32,
    pub instance: u32,
    /// Which chain of the decoder's this is (key ids are the chain's own).
    pub chain: u64,
    keys: &'a [String],
    paths: &'a [Option<Path>],
    inst: &'a mut Inst,
}

impl SampleView<'_> {
    /// The keys whose values changed since this instance's last sample handed out, in the order
    /// they changed (a key may repeat); `None` when a path came or went, or when this is its
    /// first: then only the whole tree says what the sample is.
    pub fn touched(&self) -> Option<&[usize]> {
        (!self.inst.reshaped).then_some(self.inst.touched.as_slice())
    }

    /// Key `id`'s path (`ok/counters/questions`).
    pub fn key(&self, id: usize) -> Option<&str> {
        self.keys.get(id).map(String::as_str)
    }

    /// Key `id`'s value in this sample.
    pub fn value(&self, id: usize) -> Option<&Value> {
        self.inst.last.get(id).and_then(Option::as_ref)
    }

    /// The sample as a JSON tree: the instance's last tree patched where only values changed,
    /// else rebuilt.
    pub fn tree(&mut self) -> Result<&Value, CorruptBlock> {
        let inst = &mut *self.inst;
        if !inst.fresh {
            let patched = match inst.tree.as_mut() {
                Some(tree) if !inst.reshaped => patch_all(tree, &inst.touched, self.paths, &inst.last),
                _ => false,
            };
            if !patched {
                let keys = self.keys;
                let pairs = inst.last.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (keys[i].as_str(), v)));
                inst.tree = Some(unflatten(pairs)?);
            }
            inst.fresh = true;
        }
        inst.tree.as_ref().ok_or_else(|| corrupt("no tree"))
    }
}

#[cfg(test)]
#[path = "codec3_tests.rs"]
mod tests;
