//! Format version 5's blocks read back: the headers first (the records' order, each sample's
//! slot), then the change counts, changes and values in the streams' order — round by round in
//! the fleet's order — applied in the records' order (split from codec3_decode.rs: the layout
//! test's 600 lines).

use super::{ChainDecoder, Flat, SampleView, Streams, apply, change};
use crate::record::codec::{self, CorruptBlock, TAG_SAMPLE, unzigzag};
use crate::record::codec3::{Inst, T_SAME, corrupt};

/// A record's header (version 5), read before any sample's changes: the changes come in another
/// order, the records are handed out in this one.
#[derive(Clone, Copy)]
pub(super) struct Head {
    at: i64,
    tag: u8,
    wanted: bool,
    slot: usize,
    /// The sample's number for its instance in the block.
    nth: usize,
    /// The sample's change count.
    n: usize,
    /// Where its changes start in the changes stream, and its first value's index in `offsets`.
    changes_at: usize,
    first: usize,
}

impl ChainDecoder {
    /// Version 5: the headers give the records' order and each sample's slot; the change counts,
    /// the changes and values come round by round in the fleet's order (each sample's number for
    /// its instance in the block, then shard and instance). A block with nothing wanted is decoded in that
    /// order straight away (an instance's values depend only on its own samples, whose order it
    /// keeps): a seek's blocks before its window. Otherwise a first pass over the changes finds
    /// where each sample's values lie, and a second applies them in the records' order and hands
    /// the wanted ones out.
    pub(super) fn decode_sorted(
        &mut self,
        mut s: Streams<'_>,
        mut want: impl FnMut(i64) -> bool,
        mut emit: impl FnMut(Flat<'_>) -> Result<(), CorruptBlock>,
    ) -> Result<(), CorruptBlock> {
        let mut heads = std::mem::take(&mut self.heads);
        let mut offsets = std::mem::take(&mut self.offsets);
        heads.clear();
        offsets.clear();
        self.gens.clear();
        self.gens.resize(self.slots.len(), 0);
        let (mut at, mut any, mut rounds) = (0i64, false, 0);
        for k in 0..s.nrecords {
            let tag = s.head.u8()?;
            let d = unzigzag(s.times.varint()?);
            at = if k == 0 { d } else { at.wrapping_add(d) };
            let wanted = want(at);
            any |= wanted;
            let mut h = Head { at, tag, wanted, slot: 0, nth: 0, n: 0, changes_at: 0, first: 0 };
            if tag == TAG_SAMPLE {
                let slot = usize::try_from(s.slots.varint()?).map_err(|_| corrupt("slot"))?;
                if slot == self.slots.len() {
                    let shard = u32::try_from(s.slots.varint()?).map_err(|_| corrupt("shard"))?;
                    let instance = u32::try_from(s.slots.varint()?).map_err(|_| corrupt("instance"))?;
                    self.slots.push((shard, instance));
                    self.gens.push(0);
                }
                let nth = self.gens.get_mut(slot).ok_or_else(|| corrupt("undefined slot"))?;
                (h.slot, h.nth) = (slot, *nth);
                *nth += 1;
                rounds = rounds.max(*nth);
            }
            heads.push(h);
        }
        self.sort(&heads, rounds);
        let order = std::mem::take(&mut self.order);
        if self.inst.len() < self.slots.len() {
            self.inst.resize_with(self.slots.len(), Inst::default);
        }
        let Streams { counts, changes, opaque, values, .. } = &mut s;
        if !any {
            for &k in &order {
                let n = counts.varint()?;
                let inst = &mut self.inst[heads[k].slot];
                for _ in 0..n {
                    let (id, t) = change(changes)?;
                    let column = values.get_mut(id).ok_or_else(|| corrupt("undefined key"))?;
                    apply(inst, id, t, column)?;
                }
            }
            for _ in heads.iter().filter(|h| h.tag != TAG_SAMPLE) {
                opaque.bytes()?;
            }
        } else {
            for &k in &order {
                let h = &mut heads[k];
                h.n = usize::try_from(counts.varint()?).map_err(|_| corrupt("change count"))?;
                (h.changes_at, h.first) = (changes.pos(), offsets.len());
                for _ in 0..h.n {
                    let (id, t) = change(changes)?;
                    let column = values.get_mut(id).ok_or_else(|| corrupt("undefined key"))?;
                    offsets.push(column.pos());
                    if t == T_SAME {
                        column.varint()?;
                    } else {
                        codec::skip_value(t, column)?;
                    }
                }
            }
            for h in &heads {
                if h.tag != TAG_SAMPLE {
                    let payload = opaque.bytes()?;
                    if h.wanted {
                        emit(Flat::Opaque { tag: h.tag, at_ms: h.at, payload })?;
                    }
                    continue;
                }
                let inst = &mut self.inst[h.slot];
                let mut ch = changes.at(h.changes_at);
                for &off in &offsets[h.first..h.first + h.n] {
                    let (id, t) = change(&mut ch)?;
                    let mut column = values.get(id).ok_or_else(|| corrupt("undefined key"))?.at(off);
                    apply(inst, id, t, &mut column)?;
                }
                if h.wanted {
                    let (shard, instance) = self.slots[h.slot];
                    let (chain, keys, paths) = (self.chain, &self.keys, &self.paths);
                    let view = SampleView { at_ms: h.at, shard, instance, chain, keys, paths, inst: &mut *inst };
                    emit(Flat::Sample(view))?;
                    inst.handed_out();
                }
            }
        }
        (self.heads, self.order, self.offsets) = (heads, order, offsets);
        s.check_done()
    }

    /// `self.order`: the samples among `heads` in the streams' order — by their number for their
    /// instance in the block (below `rounds`), then shard and instance — by two counting sorts
    /// (a block's 15,000 samples in a few passes; a comparison sort was 3 % of a seek).
    fn sort(&mut self, heads: &[Head], rounds: usize) {
        let nslots = self.slots.len();
        if self.ranks.len() != nslots {
            let mut by_addr: Vec<usize> = (0..nslots).collect();
            by_addr.sort_unstable_by_key(|&i| self.slots[i]);
            self.ranks.resize(nslots, 0);
            for (rank, &slot) in by_addr.iter().enumerate() {
                self.ranks[slot] = rank;
            }
        }
        let samples = || heads.iter().enumerate().filter(|(_, h)| h.tag == TAG_SAMPLE);
        // By rank first; a slot's samples come in their order, so this is (rank, number) order.
        let b = &mut self.buckets;
        b.clear();
        b.resize(nslots + 1, 0);
        for (_, h) in samples() {
            b[self.ranks[h.slot] + 1] += 1;
        }
        for i in 1..b.len() {
            b[i] += b[i - 1];
        }
        self.by_rank.clear();
        self.by_rank.resize(b[nslots], 0);
        for (k, h) in samples() {
            let at = &mut b[self.ranks[h.slot]];
            self.by_rank[*at] = k;
            *at += 1;
        }
        // Then by number, keeping the rank order within each.
        b.clear();
        b.resize(rounds + 1, 0);
        for &k in &self.by_rank {
            b[heads[k].nth + 1] += 1;
        }
        for i in 1..b.len() {
            b[i] += b[i - 1];
        }
        self.order.clear();
        self.order.resize(self.by_rank.len(), 0);
        for &k in &self.by_rank {
            let at = &mut b[heads[k].nth];
            self.order[*at] = k;
            *at += 1;
        }
    }
}
