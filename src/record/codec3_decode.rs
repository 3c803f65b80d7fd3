//! Format version 3's chains read back: `ChainDecoder` keeps what the encoder kept, block after
//! block, and hands each wanted sample out as its instance's values and what changed since its
//! last one (`SampleView`), with the JSON tree built or patched only when asked for.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::codec::{self, CorruptBlock, Item, Reader, Record, SEP, TAG_SAMPLE, unflatten, unzigzag};
use super::{Inst, KEYFRAME, T_SAME, corrupt, step_to};
use sorted::Head;

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

/// A block's streams after its key definitions.
struct Streams<'a> {
    nrecords: u64,
    head: Reader<'a>,
    times: Reader<'a>,
    slots: Reader<'a>,
    counts: Reader<'a>,
    changes: Reader<'a>,
    opaque: Reader<'a>,
    values: Vec<Reader<'a>>,
}

impl Streams<'_> {
    /// Every stream read to its end (the value columns are not checked: versions 3 and 4 never
    /// did).
    fn check_done(&self) -> Result<(), CorruptBlock> {
        let s = self;
        if !s.head.done()
            || !s.times.done()
            || !s.slots.done()
            || !s.counts.done()
            || !s.changes.done()
            || !s.opaque.done()
        {
            return Err(corrupt("bytes left over after the block's records"));
        }
        Ok(())
    }
}

/// The next change of the changes stream: its key id and type.
pub(super) fn change(changes: &mut Reader<'_>) -> Result<(usize, u8), CorruptBlock> {
    let id = usize::try_from(changes.varint()?).map_err(|_| corrupt("key id"))?;
    Ok((id, changes.u8()?))
}

/// One change applied to an instance's values: its new value from the key's column, and what the
/// next sample handed out is told changed.
#[inline(always)]
fn apply(inst: &mut Inst, id: usize, t: u8, column: &mut Reader<'_>) -> Result<(), CorruptBlock> {
    // Grown to the keys this instance has, not to the chain's: a feed round's keys (thousands,
    // one set per shard) would otherwise cost every instance their room.
    inst.grow(id + 1);
    let had = inst.last[id].is_some();
    if t == T_SAME {
        let other = usize::try_from(column.varint()?).map_err(|_| corrupt("key id"))?;
        let none = || corrupt("same as a key with no value");
        if other == id {
            let v = inst.last[id].as_ref().ok_or_else(none)?;
            inst.steps[id] = step_to(Some(v), v);
        } else {
            let mut dst = inst.last[id].take();
            let src = inst.last.get(other).and_then(Option::as_ref).ok_or_else(none)?;
            inst.steps[id] = step_to(dst.as_ref(), src);
            // A GTID set is the same in two or three keys a sample: copied into the key's own
            // string where it has room (no allocation).
            match (&mut dst, src) {
                (Some(Value::String(d)), Value::String(s)) => d.clone_from(s),
                (d, s) => *d = Some(s.clone()),
            }
            inst.last[id] = dst;
        }
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
    Ok(())
}

impl Inst {
    /// After its sample was handed out: the next one is told what changed since this one; a
    /// tree not brought up to this one is of no use to it.
    fn handed_out(&mut self) {
        if !self.fresh {
            self.tree = None;
        }
        self.fresh = false;
        self.reshaped = false;
        self.touched.clear();
    }
}

/// Reads the blocks of a chain in order, keeping what the encoder kept.
pub struct ChainDecoder {
    /// Headers in columns (version 4) rather than interleaved (version 3).
    columns: bool,
    /// Changes and values round by round in the fleet's order (version 5).
    sorted: bool,
    /// Version 4: each slot's shard and instance, by slot number.
    slots: Vec<(u32, u32)>,
    /// Shared: a sample handed on whole carries its keys (`SampleView::pairs`).
    keys: Vec<Arc<str>>,
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
    /// Version 5's room, kept from block to block: the records' headers, the samples in the
    /// streams' order (header indices) and in slot rank order on the way there, the counting
    /// sort's buckets, each slot's samples so far in the block, each slot's rank in (shard,
    /// instance) order, and where each change's value starts in its column.
    heads: Vec<Head>,
    order: Vec<usize>,
    by_rank: Vec<usize>,
    buckets: Vec<usize>,
    gens: Vec<usize>,
    ranks: Vec<usize>,
    offsets: Vec<usize>,
}

impl Default for ChainDecoder {
    fn default() -> Self {
        ChainDecoder::with_version(5)
    }
}

impl ChainDecoder {
    /// A decoder of format `version`'s chains (3, 4 or 5).
    pub fn with_version(version: u32) -> Self {
        ChainDecoder {
            columns: version >= 4,
            sorted: version >= 5,
            slots: Vec::new(),
            keys: Vec::new(),
            paths: Vec::new(),
            parents: HashMap::new(),
            inst: Vec::new(),
            slot_of: HashMap::new(),
            started: false,
            chain: 0,
            heads: Vec::new(),
            order: Vec::new(),
            by_rank: Vec::new(),
            buckets: Vec::new(),
            gens: Vec::new(),
            ranks: Vec::new(),
            offsets: Vec::new(),
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
        self.decode_flat(buf, want, |mut f| emit(f.item()?))
    }

    /// Every record of one block (decompressed), in order, to `emit`, a wanted sample as its
    /// instance's values and which of them changed since its last one handed out: a reader that
    /// keeps its own typed copy of each instance updates only those (a seek's 30,000 samples
    /// need no JSON tree each), and asks for the tree when it cannot.
    pub fn decode_flat(
        &mut self,
        buf: &[u8],
        want: impl FnMut(i64) -> bool,
        emit: impl FnMut(Flat<'_>) -> Result<(), CorruptBlock>,
    ) -> Result<(), CorruptBlock> {
        let mut r = Reader::new(buf);
        let flags = r.u8()?;
        if flags & KEYFRAME != 0 {
            self.chain += 1;
            self.keys.clear();
            self.slots.clear();
            self.ranks.clear();
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
            self.keys.push(Arc::from(key));
        }
        let nrecords = r.varint()?;
        let head = Reader::new(r.bytes()?);
        let (times, slots, counts) = if self.columns {
            (Reader::new(r.bytes()?), Reader::new(r.bytes()?), Reader::new(r.bytes()?))
        } else {
            (Reader::new(&[]), Reader::new(&[]), Reader::new(&[]))
        };
        let changes = Reader::new(r.bytes()?);
        let opaque = Reader::new(r.bytes()?);
        let nvalues = usize::try_from(r.varint()?).map_err(|_| corrupt("column count"))?;
        if nvalues != self.keys.len() {
            return Err(corrupt(format!("{nvalues} value columns for {} keys", self.keys.len())));
        }
        let mut values = Vec::with_capacity(nvalues);
        for _ in 0..nvalues {
            values.push(Reader::new(r.bytes()?));
        }
        let streams = Streams { nrecords, head, times, slots, counts, changes, opaque, values };
        if self.sorted { self.decode_sorted(streams, want, emit) } else { self.decode_in_order(streams, want, emit) }
    }

    /// Versions 3 and 4: each sample's changes follow the records' order.
    fn decode_in_order(
        &mut self,
        mut s: Streams<'_>,
        mut want: impl FnMut(i64) -> bool,
        mut emit: impl FnMut(Flat<'_>) -> Result<(), CorruptBlock>,
    ) -> Result<(), CorruptBlock> {
        let nrecords = s.nrecords;
        let Streams { head, times, slots, counts, changes, opaque, values, .. } = &mut s;
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
            for _ in 0..n {
                let (id, t) = change(changes)?;
                let column = values.get_mut(id).ok_or_else(|| corrupt("undefined key"))?;
                apply(inst, id, t, column)?;
            }
            if want(at) {
                let (chain, keys, paths) = (self.chain, &self.keys, &self.paths);
                emit(Flat::Sample(SampleView { at_ms: at, shard, instance, chain, keys, paths, inst: &mut *inst }))?;
                inst.handed_out();
            }
        }
        s.check_done()
    }
}

/// A record as `ChainDecoder::decode_flat` hands it out.
pub enum Flat<'a> {
    Sample(SampleView<'a>),
    Opaque { tag: u8, at_ms: i64, payload: &'a [u8] },
}

impl Flat<'_> {
    /// The record as an `Item`: a sample as its JSON tree (`SampleView::tree`).
    pub fn item(&mut self) -> Result<Item<'_>, CorruptBlock> {
        Ok(match self {
            Flat::Opaque { tag, at_ms, payload } => Item::Opaque { tag: *tag, at_ms: *at_ms, payload },
            Flat::Sample(v) => {
                let (at_ms, shard, instance) = (v.at_ms, v.shard, v.instance);
                Item::Sample { at_ms, shard, instance, value: v.tree()? }
            }
        })
    }
}

/// One instance's sample as the chain holds it: its values by key id, which changed since its
/// last sample handed out, and the JSON tree on demand.
pub struct SampleView<'a> {
    pub at_ms: i64,
    pub shard: u32,
    pub instance: u32,
    /// Which chain of the decoder's this is (key ids are the chain's own).
    pub chain: u64,
    keys: &'a [Arc<str>],
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
        self.keys.get(id).map(|k| &**k)
    }

    /// Key `id`'s value in this sample.
    pub fn value(&self, id: usize) -> Option<&Value> {
        self.inst.last.get(id).and_then(Option::as_ref)
    }

    /// The sample's keys and values (what `tree` is built of), for a reader that builds the tree
    /// elsewhere: a seek hands an instance's first sample on so, off the decoding thread.
    pub fn pairs(&self) -> Vec<(Arc<str>, Value)> {
        let keys = self.keys.iter().zip(&self.inst.last);
        keys.filter_map(|(k, v)| Some((Arc::clone(k), v.clone()?))).collect()
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
                let pairs = inst.last.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (&*keys[i], v)));
                inst.tree = Some(unflatten(pairs)?);
            }
            inst.fresh = true;
        }
        inst.tree.as_ref().ok_or_else(|| corrupt("no tree"))
    }
}

#[path = "codec3_sorted.rs"]
mod sorted;
