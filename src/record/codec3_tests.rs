use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

use super::*;
use crate::record::codec::TAG_FEED;

#[derive(Clone, Debug)]
enum Op {
    Sample {
        at: i64,
        shard: u32,
        instance: u32,
        value: Value,
    },
    Opaque {
        at: i64,
        payload: Vec<u8>,
    },
    /// Close the block being filled.
    Close,
    /// Close it and start a new chain.
    Restart,
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        (i64::MAX as u64..=u64::MAX).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[a-z0-9:,.-]{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "0-1-100",
            "0-1-105,1-2-3",
            "0-1-106,1-2-3",
            "mysql-bin.000042",
            "007-1",
            "123456789012345678901234",
            "é-1-ü",
            ""
        ])
        .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "gtid", "q"]), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

fn sample() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(vec!["e", "ok", "err", "counters", "x"]), tree(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>()))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<i64>(), 0u32..3, 0u32..3, sample())
            .prop_map(|(at, shard, instance, value)| Op::Sample { at, shard, instance, value }),
        1 => (any::<i64>(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(at, payload)| Op::Opaque { at, payload }),
        2 => Just(Op::Close),
        1 => Just(Op::Restart),
    ]
}

fn expected(op: &Op) -> Option<Record> {
    match op {
        Op::Sample { at, shard, instance, value } => {
            Some(Record::Sample { at_ms: *at, shard: *shard, instance: *instance, value: value.clone() })
        }
        Op::Opaque { at, payload } => Some(Record::Opaque { tag: TAG_FEED, at_ms: *at, payload: payload.clone() }),
        Op::Close | Op::Restart => None,
    }
}

/// The blocks the ops make, each with the records expected back from it.
fn encode(ops: &[Op], version: u32) -> Vec<(Finished, Vec<Record>)> {
    let mut enc = ChainEncoder::with_version(version);
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for op in ops {
        match op {
            Op::Sample { at, shard, instance, value } => enc.sample(*at, *shard, *instance, value),
            Op::Opaque { at, payload } => enc.opaque(TAG_FEED, *at, payload),
            Op::Close | Op::Restart => {
                if let Some(b) = enc.finish() {
                    out.push((b, std::mem::take(&mut pending)));
                }
                if matches!(op, Op::Restart) {
                    enc.restart();
                }
            }
        }
        pending.extend(expected(op));
    }
    if let Some(b) = enc.finish() {
        out.push((b, pending));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Any sequence of samples — NULLs, missing and removed fields, huge and negative numbers,
    /// instances that appear and disappear, chains restarted anywhere — decodes exactly.
    #[test]
    fn any_chain_of_samples_round_trips(ops in prop::collection::vec(op(), 0..60), version in 3u32..=4) {
        let blocks = encode(&ops, version);
        let dec = || ChainDecoder::with_version(version);
        let mut dec1 = dec();
        for (b, want) in &blocks {
            prop_assert_eq!(&dec1.decode(&b.bytes, |_| true).unwrap(), want);
        }
        // From any keyframe on, a fresh decoder reads the rest of the recording exactly.
        for start in (0..blocks.len()).filter(|&k| blocks[k].0.keyframe) {
            let mut fresh = dec();
            for (b, want) in &blocks[start..] {
                prop_assert_eq!(&fresh.decode(&b.bytes, |_| true).unwrap(), want);
            }
        }
        // A block that continues a chain is refused on its own.
        for (b, _) in blocks.iter().filter(|(b, _)| !b.keyframe) {
            prop_assert!(dec().decode(&b.bytes, |_| true).is_err());
        }
        // A block with samples read as the other version is an error or other records, never
        // a panic (the file's version picks the decoder; this only checks robustness).
        let mut other = ChainDecoder::with_version(7 - version);
        for (b, _) in &blocks {
            let _ = other.decode(&b.bytes, |_| true);
        }
    }

    /// Any bytes: an error or records, never a panic.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), version in 3u32..=4) {
        let _ = ChainDecoder::with_version(version).decode(&bytes, |_| true);
    }
}

#[test]
fn the_first_block_is_a_keyframe_and_later_ones_carry_only_changes() {
    let s = |q: i64| json!({"ok": {"version": "10.11.6-MariaDB", "gtid": "0-1-100", "read_only": true, "q": q}});
    let mut enc = ChainEncoder::default();
    enc.sample(0, 0, 0, &s(1000));
    let first = enc.finish().unwrap();
    enc.sample(2000, 0, 0, &s(1010));
    enc.sample(4000, 0, 0, &s(1020));
    let second = enc.finish().unwrap();
    assert!(first.keyframe && !second.keyframe);
    assert!(second.bytes.len() < first.bytes.len() / 2, "{} vs {}", second.bytes.len(), first.bytes.len());
    let mut dec = ChainDecoder::default();
    dec.decode(&first.bytes, |_| true).unwrap();
    let got = dec.decode(&second.bytes, |at| at == 4000).unwrap();
    assert_eq!(got, vec![Record::Sample { at_ms: 4000, shard: 0, instance: 0, value: s(1020) }]);
    enc.restart();
    enc.sample(6000, 0, 0, &s(1030));
    let third = enc.finish().unwrap();
    assert!(third.keyframe);
    assert_eq!(ChainDecoder::default().decode(&third.bytes, |_| true).unwrap().len(), 1);
}

#[test]
fn truncated_blocks_are_errors_not_panics() {
    for version in [3, 4] {
        let mut enc = ChainEncoder::with_version(version);
        enc.sample(5, 0, 0, &json!({"a": "hello", "b": 7}));
        enc.opaque(TAG_FEED, 6, b"xyz");
        let b = enc.finish().unwrap();
        for cut in 0..b.bytes.len() {
            let got = ChainDecoder::with_version(version).decode(&b.bytes[..cut], |_| true);
            assert!(got.is_err(), "version {version}, cut at {cut}");
        }
    }
}

#[test]
fn version_4_puts_the_headers_in_columns_and_names_an_instance_once_a_chain() {
    let s = |q: i64| json!({"q": q});
    let blocks = |version: u32| {
        let mut enc = ChainEncoder::with_version(version);
        let mut out = Vec::new();
        for block in 0..3i64 {
            for round in 0..5i64 {
                for (shard, instance) in [(900, 2), (901, 0), (7000, 1)] {
                    let t = 2000 * (block * 5 + round) + i64::from(shard % 7);
                    enc.sample(t, shard, instance, &s(t));
                }
            }
            out.push(enc.finish().unwrap());
        }
        out
    };
    let (v3, v4) = (blocks(3), blocks(4));
    let mut dec = ChainDecoder::with_version(4);
    let back: Vec<Record> = v4.iter().flat_map(|b| dec.decode(&b.bytes, |_| true).unwrap()).collect();
    let mut dec = ChainDecoder::with_version(3);
    let want: Vec<Record> = v3.iter().flat_map(|b| dec.decode(&b.bytes, |_| true).unwrap()).collect();
    assert_eq!(back, want);
    assert_eq!(back.len(), 45);
    // Later blocks name each instance by its slot number (one byte), not shard and instance.
    assert!(v4[1].bytes.len() < v3[1].bytes.len(), "{} vs {}", v4[1].bytes.len(), v3[1].bytes.len());
    // Each version's blocks read as the other's are refused or differ, never a panic.
    let mut dec = ChainDecoder::with_version(3);
    let misread: Vec<Record> = v4.iter().flat_map(|b| dec.decode(&b.bytes, |_| true).unwrap_or_default()).collect();
    assert_ne!(misread, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Samples skipped (not materialised) between wanted ones still come back exactly: the
    /// decoder's kept trees are patched with everything that changed meanwhile.
    #[test]
    fn skipped_samples_leave_the_wanted_ones_exact(
        ops in prop::collection::vec(op(), 0..60),
        every in 2i64..5,
        version in 3u32..=4,
    ) {
        let want = |at: i64| at.rem_euclid(every) == 0;
        let mut dec = ChainDecoder::with_version(version);
        for (b, all) in encode(&ops, version) {
            let expected: Vec<Record> = all.into_iter().filter(|r| want(r.at_ms())).collect();
            prop_assert_eq!(dec.decode(&b.bytes, want).unwrap(), expected);
        }
    }
}

#[test]
fn a_value_another_key_has_in_the_same_sample_costs_a_reference() {
    let g = |n: i64| format!("0-1-{n},1-2-{},3-4-{}", n * 7, n * 13);
    let s = |n: i64| json!({"binlog_pos": g(n), "current_pos": g(n), "slave_pos": g(n), "a": n << 40, "b": n << 40});
    let mut enc = ChainEncoder::default();
    let mut dec = ChainDecoder::default();
    for n in [1i64, 90, 1000, 5000, 5001] {
        enc.sample(n, 0, 0, &s(n));
        let b = enc.finish().unwrap();
        let back = dec.decode(&b.bytes, |_| true).unwrap();
        assert_eq!(back, vec![Record::Sample { at_ms: n, shard: 0, instance: 0, value: s(n) }]);
    }
    // Two of the three GTID sets and one integer refer to the first ones.
    let before = enc.pending_bytes();
    enc.sample(6000, 0, 0, &s(9000));
    assert!(enc.changes.iter().filter(|&&t| t == T_SAME).count() == 3, "{:?}", enc.changes);
    // Header, five changes, the GTID set's three number deltas and the integer's step: no second copy.
    assert!(enc.pending_bytes() - before < 48, "{}", enc.pending_bytes() - before);
}
