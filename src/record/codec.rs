//! The block codec: what the recorder saw, as compact records that store changes, not values.
//!
//! A block is self-contained (it decodes without any other block), so a crash loses at most the
//! block being filled, and a seek decodes only the blocks it needs. Inside a block each value is
//! a *path* (`ok/counters/questions`) in a block-wide key table defined inline on first use; each
//! sample of an instance lists only the paths whose value changed since that instance's previous
//! sample in the block: integers as zigzag varint deltas, strings as the length of the prefix
//! they share with the previous value plus the new suffix (GTID positions and binlog coordinates
//! grow at the end). The first sample of each instance in a block is complete. The layout of the
//! bytes is documented in docs/recording.md; the block is then compressed with zstd.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

/// A record's kind, the first byte of each record.
pub const TAG_SAMPLE: u8 = 1;
pub const TAG_FEED: u8 = 2;
pub const TAG_METRICS: u8 = 3;
pub const TAG_PROMOTED: u8 = 4;

// A change's type byte.
pub(super) const T_REMOVED: u8 = 0;
const T_NULL: u8 = 1;
const T_FALSE: u8 = 2;
const T_TRUE: u8 = 3;
const T_INT_DELTA: u8 = 4;
const T_FLOAT: u8 = 5;
const T_STRING: u8 = 6;
const T_U64: u8 = 7;
const T_EMPTY_ARRAY: u8 = 8;
const T_EMPTY_OBJECT: u8 = 9;
/// Defines the next key id inline: the path's bytes follow; then the change's own type byte.
const T_DEFINE: u8 = 10;
/// A string whose digit runs moved and nothing else (a GTID set's sequence numbers, a log
/// position in a message): the runs' zigzag deltas (format version 2).
const T_NUMS: u8 = 11;
/// An integer whose step changed: zigzag of (this step minus its previous step), the step being
/// the difference from its previous value (format version 2). A counter at a steady rate costs
/// one small number.
const T_INT_DD: u8 = 12;

/// Separates a path's segments; array indices are written `#n`.
pub(super) const SEP: char = '/';

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("corrupt block: {0}")]
pub struct CorruptBlock(pub String);

fn corrupt(what: impl Into<String>) -> CorruptBlock {
    CorruptBlock(what.into())
}

/// One JSON tree as (path, scalar) pairs in document order. Empty arrays and objects are leaves.
pub fn flatten(v: &Value, out: &mut Vec<(String, Value)>) {
    fn walk(v: &Value, prefix: &mut String, out: &mut Vec<(String, Value)>) {
        let len = prefix.len();
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    if len > 0 {
                        prefix.push(SEP);
                    }
                    // Keys are struct field names: never the separator, never '#'-led.
                    prefix.push_str(k);
                    walk(child, prefix, out);
                    prefix.truncate(len);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, child) in a.iter().enumerate() {
                    if len > 0 {
                        prefix.push(SEP);
                    }
                    prefix.push('#');
                    prefix.push_str(&i.to_string());
                    walk(child, prefix, out);
                    prefix.truncate(len);
                }
            }
            leaf => out.push((prefix.clone(), leaf.clone())),
        }
    }
    walk(v, &mut String::new(), out);
}

/// The tree `flatten` took apart.
pub fn unflatten<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Result<Value, CorruptBlock> {
    let mut root = Value::Null;
    for (path, leaf) in pairs {
        let mut node = &mut root;
        for seg in path.split(SEP).filter(|s| !s.is_empty()) {
            node = if let Some(idx) = seg.strip_prefix('#') {
                let i: usize = idx.parse().map_err(|_| corrupt(format!("bad index in {path:?}")))?;
                if node.is_null() {
                    *node = Value::Array(Vec::new());
                }
                let Value::Array(a) = node else { return Err(corrupt(format!("{path:?}: not an array"))) };
                if a.len() <= i {
                    a.resize(i + 1, Value::Null);
                }
                &mut a[i]
            } else {
                if node.is_null() {
                    *node = Value::Object(Map::new());
                }
                let Value::Object(m) = node else { return Err(corrupt(format!("{path:?}: not an object"))) };
                // No key allocated for a segment the tree has already (most of them).
                if !m.contains_key(seg) {
                    m.insert(seg.to_string(), Value::Null);
                }
                m.get_mut(seg).ok_or_else(|| corrupt("lost a key"))?
            };
        }
        *node = leaf.clone();
    }
    Ok(root)
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads what the writer wrote, failing (never panicking) on a short or malformed block.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Where the next read starts.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// A reader of the same bytes from `pos` on.
    pub(super) fn at(&self, pos: usize) -> Reader<'a> {
        Reader { buf: self.buf, pos }
    }

    fn skip(&mut self, n: usize) -> Result<(), CorruptBlock> {
        self.pos = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| corrupt("truncated"))?;
        Ok(())
    }

    pub fn u8(&mut self) -> Result<u8, CorruptBlock> {
        let b = *self.buf.get(self.pos).ok_or_else(|| corrupt("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64, CorruptBlock> {
        // Most are one byte (key ids, small steps).
        if let Some(&b) = self.buf.get(self.pos).filter(|b| **b < 0x80) {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("varint too long"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], CorruptBlock> {
        let n = usize::try_from(self.varint()?).map_err(|_| corrupt("length"))?;
        let start = self.pos;
        self.skip(n)?;
        Ok(&self.buf[start..self.pos])
    }

    pub(super) fn str(&mut self) -> Result<&'a str, CorruptBlock> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("bad utf-8"))
    }

    fn f64(&mut self) -> Result<f64, CorruptBlock> {
        let end = self.pos + 8;
        let b: [u8; 8] =
            self.buf.get(self.pos..end).and_then(|s| s.try_into().ok()).ok_or_else(|| corrupt("truncated"))?;
        self.pos = end;
        Ok(f64::from_le_bytes(b))
    }
}

/// What the encoder and the decoder both track: the block's key table and each instance's last
/// values. Instances are keyed by their slot (shard, instance).
#[derive(Default)]
struct State {
    keys: Vec<String>,
    ids: HashMap<String, u32>,
    last: HashMap<(u32, u32), Vec<Option<Value>>>,
    /// Each integer's last step (its last change), per instance and key.
    steps: HashMap<(u32, u32), Vec<i64>>,
}

/// Builds one block's bytes (before compression).
#[derive(Default)]
pub struct BlockEncoder {
    state: State,
    pub buf: Vec<u8>,
    pub records: u32,
    last_ms: i64,
    pub first_ms: Option<i64>,
    scratch: Vec<(String, Value)>,
}

impl BlockEncoder {
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn last_ms(&self) -> i64 {
        self.last_ms
    }

    fn header(&mut self, tag: u8, at_ms: i64) {
        self.buf.push(tag);
        // Times as deltas from the previous record (the first from 0: the full time).
        let prev = if self.first_ms.is_none() { 0 } else { self.last_ms };
        put_varint(&mut self.buf, zigzag(at_ms - prev));
        self.first_ms.get_or_insert(at_ms);
        self.last_ms = at_ms;
        self.records += 1;
    }

    /// A record stored whole (feed rounds, metrics readings, promotions): rare and small.
    pub fn opaque(&mut self, tag: u8, at_ms: i64, payload: &[u8]) {
        self.header(tag, at_ms);
        put_bytes(&mut self.buf, payload);
    }

    /// One instance's sample, as the changes since its previous one in this block.
    pub fn sample(&mut self, at_ms: i64, shard: u32, instance: u32, value: &Value) {
        self.header(TAG_SAMPLE, at_ms);
        put_varint(&mut self.buf, u64::from(shard));
        put_varint(&mut self.buf, u64::from(instance));
        let mut pairs = std::mem::take(&mut self.scratch);
        pairs.clear();
        flatten(value, &mut pairs);
        let st = &mut self.state;
        let last = st.last.entry((shard, instance)).or_default();
        let steps = st.steps.entry((shard, instance)).or_default();
        let mut changes: Vec<u8> = Vec::with_capacity(64);
        let mut n = 0u64;
        let mut seen = vec![false; st.keys.len()];
        for (path, v) in pairs.drain(..) {
            let (id, define) = match st.ids.get(&path) {
                Some(&id) => (id, false),
                None => {
                    let id = st.keys.len() as u32;
                    st.ids.insert(path.clone(), id);
                    st.keys.push(path.clone());
                    (id, true)
                }
            };
            let i = id as usize;
            if seen.len() <= i {
                seen.resize(i + 1, false);
            }
            seen[i] = true;
            if last.len() <= i {
                last.resize(i + 1, None);
            }
            if steps.len() <= i {
                steps.resize(i + 1, 0);
            }
            if last[i].as_ref() == Some(&v) {
                continue;
            }
            n += 1;
            put_varint(&mut changes, u64::from(id));
            if define {
                changes.push(T_DEFINE);
                put_bytes(&mut changes, path.as_bytes());
            }
            encode_value(&mut changes, last[i].as_ref(), &v, &mut steps[i]);
            last[i] = Some(v);
        }
        // Paths this sample no longer has (an error replaced the status, an optional field went).
        for (i, slot) in last.iter_mut().enumerate() {
            if slot.is_some() && !seen.get(i).copied().unwrap_or(false) {
                n += 1;
                put_varint(&mut changes, i as u64);
                changes.push(T_REMOVED);
                *slot = None;
            }
        }
        put_varint(&mut self.buf, n);
        self.buf.extend_from_slice(&changes);
        self.scratch = pairs;
    }
}

pub(super) fn encode_value(out: &mut Vec<u8>, prev: Option<&Value>, v: &Value, step: &mut i64) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                match prev.and_then(Value::as_i64) {
                    Some(base) => {
                        let d = i.wrapping_sub(base);
                        out.push(T_INT_DD);
                        put_varint(out, zigzag(d.wrapping_sub(*step)));
                        *step = d;
                    }
                    None => {
                        out.push(T_INT_DELTA);
                        put_varint(out, zigzag(i));
                        *step = 0;
                    }
                }
            } else if let Some(u) = n.as_u64() {
                out.push(T_U64);
                put_varint(out, u);
            } else {
                out.push(T_FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            if let Some(deltas) = prev.and_then(Value::as_str).and_then(|p| number_deltas(p, s)) {
                out.push(T_NUMS);
                put_varint(out, deltas.len() as u64);
                for d in deltas {
                    put_varint(out, zigzag(d));
                }
                return;
            }
            let p = prev.and_then(Value::as_str).map_or(0, |p| common_prefix(p, s));
            out.push(T_STRING);
            put_varint(out, p as u64);
            put_bytes(out, &s.as_bytes()[p..]);
        }
        Value::Array(_) => out.push(T_EMPTY_ARRAY),
        Value::Object(_) => out.push(T_EMPTY_OBJECT),
    }
}

/// A counter's next step (`T_INT_DD`, most of a chain's changes) applied to its value where it
/// lies: true when done, false for any other change (then `decode_value`).
#[inline]
pub(super) fn step_in_place(
    t: u8,
    slot: &mut Option<Value>,
    r: &mut Reader<'_>,
    step: &mut i64,
) -> Result<bool, CorruptBlock> {
    if t != T_INT_DD {
        return Ok(false);
    }
    let Some(Value::Number(n)) = slot else { return Ok(false) };
    let Some(base) = n.as_i64() else { return Ok(false) };
    let d = step.wrapping_add(unzigzag(r.varint()?));
    *step = d;
    *n = Number::from(base.wrapping_add(d));
    Ok(true)
}

/// One change's new value (`None`: removed), from its type byte and the key's previous value and
/// step.
pub(super) fn decode_value(
    t: u8,
    r: &mut Reader<'_>,
    prev: Option<Value>,
    step: &mut i64,
) -> Result<Option<Value>, CorruptBlock> {
    Ok(match t {
        T_REMOVED => None,
        T_NULL => Some(Value::Null),
        T_FALSE => Some(Value::Bool(false)),
        T_TRUE => Some(Value::Bool(true)),
        T_INT_DELTA => {
            // Version 1 deltas every integer from its previous value; version 2 only the
            // first (from 0), and starts its step again.
            let base = prev.as_ref().and_then(Value::as_i64).unwrap_or(0);
            *step = 0;
            Some(Value::from(base.wrapping_add(unzigzag(r.varint()?))))
        }
        T_INT_DD => {
            let base = prev.as_ref().and_then(Value::as_i64).ok_or_else(|| corrupt("a step on no integer"))?;
            let d = step.wrapping_add(unzigzag(r.varint()?));
            *step = d;
            Some(Value::from(base.wrapping_add(d)))
        }
        T_U64 => Some(Value::from(r.varint()?)),
        T_FLOAT => Some(Number::from_f64(r.f64()?).map_or(Value::Null, Value::Number)),
        T_STRING => {
            let keep = usize::try_from(r.varint()?).map_err(|_| corrupt("prefix"))?;
            let suffix = r.str()?;
            let p = prev.as_ref().and_then(Value::as_str).unwrap_or("");
            let head = p.get(..keep).ok_or_else(|| corrupt("string prefix"))?;
            let mut s = String::with_capacity(head.len() + suffix.len());
            s.push_str(head);
            s.push_str(suffix);
            Some(Value::String(s))
        }
        T_NUMS => {
            let n = usize::try_from(r.varint()?).map_err(|_| corrupt("count"))?;
            if n > MAX_DELTAS {
                return Err(corrupt("too many number deltas"));
            }
            let Some(Value::String(mut p)) = prev else { return Err(corrupt("number deltas on no string")) };
            let (mut read, mut failed) = (0, None);
            let out = apply_deltas_with(&mut p, || {
                if read == n {
                    return None;
                }
                read += 1;
                r.varint().map(unzigzag).map_err(|e| failed = Some(e)).ok()
            });
            if let Some(e) = failed {
                return Err(e);
            }
            if read != n {
                return Err(corrupt("number deltas do not match the string"));
            }
            out?;
            Some(Value::String(p))
        }
        T_EMPTY_ARRAY => Some(Value::Array(Vec::new())),
        T_EMPTY_OBJECT => Some(Value::Object(Map::new())),
        other => return Err(corrupt(format!("unknown value type {other}"))),
    })
}

/// The most number deltas one `T_NUMS` change may carry (a bound on corrupt input).
const MAX_DELTAS: usize = 4096;

/// Past one change's value bytes, as `step_in_place` or `decode_value` would read them, without
/// decoding it (format version 5 finds where each sample's values lie before applying them).
pub(super) fn skip_value(t: u8, r: &mut Reader<'_>) -> Result<(), CorruptBlock> {
    match t {
        T_REMOVED | T_NULL | T_FALSE | T_TRUE | T_EMPTY_ARRAY | T_EMPTY_OBJECT => {}
        T_INT_DELTA | T_INT_DD | T_U64 => {
            r.varint()?;
        }
        T_FLOAT => r.skip(8)?,
        T_STRING => {
            r.varint()?;
            r.bytes()?;
        }
        T_NUMS => {
            let n = usize::try_from(r.varint()?).map_err(|_| corrupt("count"))?;
            if n > MAX_DELTAS {
                return Err(corrupt("too many number deltas"));
            }
            for _ in 0..n {
                r.varint()?;
            }
        }
        other => return Err(corrupt(format!("unknown value type {other}"))),
    }
    Ok(())
}

/// A string cut into its text between numbers and its numbers (decimal digit runs that read
/// back the same: no leading zero, at most 18 digits); `None` when a run would not.
fn numbers(s: &str) -> Option<(Vec<&str>, Vec<i64>)> {
    let b = s.as_bytes();
    let (mut text, mut nums) = (Vec::new(), Vec::new());
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let (j, n) = number_at(b, i);
            text.push(&s[start..i]);
            nums.push(n?);
            (i, start) = (j, j);
        } else {
            i += 1;
        }
    }
    text.push(&s[start..]);
    Some((text, nums))
}

/// The run of digits from `b[i]`: where it ends, and its number when the run reads back the
/// same as a number (no leading zero, at most 18 digits). Both sides of `T_NUMS` cut strings so.
fn number_at(b: &[u8], i: usize) -> (usize, Option<i64>) {
    let j = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let reads_back = j - i <= 18 && (j - i == 1 || b[i] != b'0');
    (j, reads_back.then(|| b[i..j].iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0'))))
}

/// How the numbers of `prev` moved to make `next`, when nothing else changed.
fn number_deltas(prev: &str, next: &str) -> Option<Vec<i64>> {
    let (pt, pn) = numbers(prev)?;
    let (nt, nn) = numbers(next)?;
    (pt == nt && !pn.is_empty()).then(|| nn.iter().zip(&pn).map(|(n, p)| n - p).collect())
}

/// `prev` with its numbers moved by `deltas`.
#[cfg(test)]
fn apply_deltas(prev: &str, deltas: &[i64]) -> Result<String, CorruptBlock> {
    let mut d = deltas.iter();
    let mut out = prev.to_string();
    apply_deltas_with(&mut out, || d.next().copied())?;
    if d.next().is_some() {
        return Err(corrupt("number deltas do not match the string"));
    }
    Ok(out)
}

/// `s` with its numbers moved by the deltas `next` gives as each number comes, in place: one
/// pass, no list of its pieces or of the deltas, and no new string (a seek applies this to every
/// GTID set of every sample; a number that keeps its width is overwritten where it is).
fn apply_deltas_with(s: &mut String, mut next: impl FnMut() -> Option<i64>) -> Result<(), CorruptBlock> {
    let mut i = 0;
    while i < s.len() {
        let b = s.as_bytes();
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let (j, n) = number_at(b, i);
        let n = n.ok_or_else(|| corrupt("number deltas on a string without numbers"))?;
        let d = next().ok_or_else(|| corrupt("number deltas do not match the string"))?;
        if d == 0 {
            // Most of a GTID set's numbers (domains, server ids, quiet streams) stay.
            i = j;
            continue;
        }
        let v = n.checked_add(d).filter(|v| *v >= 0).ok_or_else(|| corrupt("number delta out of range"))?;
        let mut digits = [0u8; 20];
        let k = put_number(&mut digits, v.unsigned_abs());
        let new = std::str::from_utf8(&digits[k..]).map_err(|_| corrupt("digits"))?;
        s.replace_range(i..j, new);
        i += new.len();
    }
    Ok(())
}

/// `n` in decimal at the end of `digits`; returns where it starts (no formatter: a seek writes a
/// few hundred thousand of them).
fn put_number(digits: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// Bytes two strings share at their start, cut at a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sample { at_ms: i64, shard: u32, instance: u32, value: Value },
    Opaque { tag: u8, at_ms: i64, payload: Vec<u8> },
}

impl Record {
    pub fn at_ms(&self) -> i64 {
        match self {
            Record::Sample { at_ms, .. } | Record::Opaque { at_ms, .. } => *at_ms,
        }
    }

    pub fn item(&self) -> Item<'_> {
        match self {
            Record::Sample { at_ms, shard, instance, value } => {
                Item::Sample { at_ms: *at_ms, shard: *shard, instance: *instance, value }
            }
            Record::Opaque { tag, at_ms, payload } => Item::Opaque { tag: *tag, at_ms: *at_ms, payload },
        }
    }
}

/// One decoded record, borrowed from the decoder (no copy of the sample's tree).
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    Sample { at_ms: i64, shard: u32, instance: u32, value: &'a Value },
    Opaque { tag: u8, at_ms: i64, payload: &'a [u8] },
}

impl Item<'_> {
    pub fn at_ms(&self) -> i64 {
        match self {
            Item::Sample { at_ms, .. } | Item::Opaque { at_ms, .. } => *at_ms,
        }
    }

    pub fn to_record(&self) -> Record {
        match *self {
            Item::Sample { at_ms, shard, instance, value } => {
                Record::Sample { at_ms, shard, instance, value: value.clone() }
            }
            Item::Opaque { tag, at_ms, payload } => Record::Opaque { tag, at_ms, payload: payload.to_vec() },
        }
    }
}

/// Every record of a block's (decompressed) bytes, in order. `want` picks which samples to
/// rebuild as JSON: the others are decoded (their deltas are needed) but not materialised.
pub fn decode_block(buf: &[u8], mut want: impl FnMut(i64) -> bool) -> Result<Vec<Record>, CorruptBlock> {
    let mut r = Reader::new(buf);
    let mut st = State::default();
    let mut out = Vec::new();
    let mut at = 0i64;
    let mut first = true;
    while !r.done() {
        let tag = r.u8()?;
        let d = unzigzag(r.varint()?);
        at = if first { d } else { at + d };
        first = false;
        if tag != TAG_SAMPLE {
            let payload = r.bytes()?.to_vec();
            if want(at) {
                out.push(Record::Opaque { tag, at_ms: at, payload });
            }
            continue;
        }
        let shard = u32::try_from(r.varint()?).map_err(|_| corrupt("shard"))?;
        let instance = u32::try_from(r.varint()?).map_err(|_| corrupt("instance"))?;
        let n = r.varint()?;
        let last = st.last.entry((shard, instance)).or_default();
        let steps = st.steps.entry((shard, instance)).or_default();
        for _ in 0..n {
            let id = usize::try_from(r.varint()?).map_err(|_| corrupt("key id"))?;
            let mut t = r.u8()?;
            if t == T_DEFINE {
                if id != st.keys.len() {
                    return Err(corrupt("key defined out of order"));
                }
                st.keys.push(r.str()?.to_string());
                t = r.u8()?;
            }
            if id >= st.keys.len() {
                return Err(corrupt("undefined key"));
            }
            if last.len() <= id {
                last.resize(id + 1, None);
            }
            if steps.len() <= id {
                steps.resize(id + 1, 0);
            }
            let prev = last[id].take();
            last[id] = decode_value(t, &mut r, prev, &mut steps[id])?;
        }
        if want(at) {
            let pairs = last.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (st.keys[i].as_str(), v)));
            out.push(Record::Sample { at_ms: at, shard, instance, value: unflatten(pairs)? });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flatten_and_unflatten_round_trip_nested_arrays_and_empties() {
        let v = json!({"a": {"b": [1, {"c": "x"}, []], "d": {}}, "e": null, "f": 1.5, "g": [[true]]});
        let mut pairs = Vec::new();
        flatten(&v, &mut pairs);
        let back = unflatten(pairs.iter().map(|(p, v)| (p.as_str(), v))).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn samples_round_trip_through_deltas_and_removed_fields() {
        let samples = [
            json!({"e": 120, "ok": {"gtid": "0-1-100", "counters": {"q": 1000}, "err": null, "list": ["a"]}}),
            json!({"e": 95, "ok": {"gtid": "0-1-102", "counters": {"q": 1012}, "err": null, "list": ["a", "b"]}}),
            json!({"e": 1000, "err": {"kind": "timeout", "message": "no answer"}}),
            json!({"e": 90, "ok": {"gtid": "0-1-102", "counters": {"q": u64::MAX}, "lag": 0.25, "list": []}}),
        ];
        let mut enc = BlockEncoder::default();
        for (k, s) in samples.iter().enumerate() {
            enc.sample(1_700_000_000_000 + 2000 * k as i64, 3, 1, s);
            enc.sample(1_700_000_000_500 + 2000 * k as i64, 0, 0, &json!({"e": k}));
        }
        enc.opaque(TAG_FEED, 1_700_000_009_000, b"{\"x\":1}");
        let recs = decode_block(&enc.buf, |_| true).unwrap();
        let mine: Vec<&Value> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Sample { shard: 3, value, .. } => Some(value),
                _ => None,
            })
            .collect();
        assert_eq!(mine, samples.iter().collect::<Vec<_>>());
        assert_eq!(recs[2].at_ms(), 1_700_000_002_000);
        assert!(matches!(&recs[8], Record::Opaque { tag: TAG_FEED, payload, .. } if payload == b"{\"x\":1}"));
    }

    #[test]
    fn an_unchanged_sample_costs_a_few_bytes() {
        let s = json!({"ok": {"version": "10.11.6-MariaDB", "gtid": "0-1-100", "read_only": true, "n": 5}});
        let mut enc = BlockEncoder::default();
        enc.sample(0, 0, 0, &s);
        let first = enc.buf.len();
        enc.sample(2000, 0, 0, &s);
        // tag, time delta (2 bytes), shard, instance, zero changes.
        assert_eq!(enc.buf.len() - first, 6);
    }

    #[test]
    fn truncated_or_garbage_blocks_are_errors_not_panics() {
        let mut enc = BlockEncoder::default();
        enc.sample(5, 0, 0, &json!({"a": "hello", "b": 7}));
        for cut in 0..enc.buf.len() {
            let _ = decode_block(&enc.buf[..cut], |_| true);
        }
        assert!(decode_block(&[1, 0, 0, 0, 1, 0, 99], |_| true).is_err());
        assert!(decode_block(&[1, 0, 0, 0, 1, 5, 4, 0], |_| true).is_err());
    }

    #[test]
    fn strings_whose_numbers_moved_cost_their_deltas() {
        let seq = ["4-400-108185,100-1-774", "4-400-108290,100-1-774", "4-400-108290,100-1-780", "7-1-1", "07-1-2", ""];
        let mut enc = BlockEncoder::default();
        let mut sizes = Vec::new();
        for (k, g) in seq.iter().enumerate() {
            let before = enc.buf.len();
            enc.sample(k as i64, 0, 0, &json!({ "gtid": g }));
            sizes.push(enc.buf.len() - before);
        }
        let back: Vec<Value> = decode_block(&enc.buf, |_| true)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Record::Sample { value, .. } => value["gtid"].clone(),
                Record::Opaque { .. } => Value::Null,
            })
            .collect();
        assert_eq!(back, seq.iter().map(|g| json!(g)).collect::<Vec<_>>());
        // tag, time, shard, instance, count, key, type, run count, six deltas (105 takes two bytes).
        assert!(sizes[1] <= 15 && sizes[2] <= 14, "{sizes:?}");
        assert_eq!(number_deltas("mysql-bin.000042", "mysql-bin.000043"), None, "leading zeros do not read back");
        assert_eq!(number_deltas("a1b", "a1c"), None);
        assert_eq!(apply_deltas("x-1", &[2]).unwrap(), "x-3");
        assert!(apply_deltas("x-1", &[-2]).is_err());
        assert!(apply_deltas("x", &[1]).is_err());
    }

    #[test]
    fn a_counter_at_a_steady_rate_costs_one_byte_a_sample() {
        let qs = [1_000_000i64, 1_005_000, 1_010_000, 1_015_000, 1_019_990, 7, 7, 12, -3];
        let mut enc = BlockEncoder::default();
        let mut sizes = Vec::new();
        for (k, q) in qs.iter().enumerate() {
            let before = enc.buf.len();
            enc.sample(k as i64, 0, 0, &json!({ "q": q }));
            sizes.push(enc.buf.len() - before);
        }
        // tag, time, shard, instance, count, key, type, step change.
        assert_eq!(&sizes[2..4], &[8, 8], "{sizes:?}");
        let back: Vec<Value> = decode_block(&enc.buf, |_| true)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Record::Sample { value, .. } => value["q"].clone(),
                Record::Opaque { .. } => Value::Null,
            })
            .collect();
        assert_eq!(back, qs.iter().map(|q| json!(q)).collect::<Vec<_>>());
    }

    #[test]
    fn varints_and_zigzag() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, zigzag(v));
            assert_eq!(unzigzag(Reader::new(&b).varint().unwrap()), v);
        }
    }
}
