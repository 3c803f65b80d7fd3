use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

use super::*;
use crate::record::codec::{Record, TAG_FEED};

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
        8 => (any::<i64>(), prop_oneof![3 => 0u32..3, 1 => Just(u32::MAX)], 0u32..3, sample())
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
    fn any_chain_of_samples_round_trips(ops in prop::collection::vec(op(), 0..60), version in 3u32..=5) {
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
        let mut other = ChainDecoder::with_version(3 + (version - 2) % 3);
        for (b, _) in &blocks {
            let _ = other.decode(&b.bytes, |_| true);
        }
    }

    /// Any bytes: an error or records, never a panic.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), version in 3u32..=5) {
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
    for version in [3, 4, 5] {
        let mut enc = ChainEncoder::with_version(version);
        enc.sample(5, 0, 0, &json!({"a": "hello", "b": 7}));
        enc.sample(6, 1, 0, &json!({"a": "hello", "b": 8}));
        enc.sample(7, 0, 0, &json!({"a": "hello, world", "b": 9}));
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
        blocks_wanted in any::<u64>(),
        version in 3u32..=5,
    ) {
        let want = |at: i64| at.rem_euclid(every) == 0;
        let mut dec = ChainDecoder::with_version(version);
        // Whole blocks skipped, as a seek decodes the blocks before its window (version 5
        // decodes them in the streams' order, not the records').
        let mut by_block = ChainDecoder::with_version(version);
        for (k, (b, all)) in encode(&ops, version).into_iter().enumerate() {
            let expected: Vec<Record> = all.iter().filter(|r| want(r.at_ms())).cloned().collect();
            prop_assert_eq!(dec.decode(&b.bytes, want).unwrap(), expected);
            let wanted = blocks_wanted >> (k % 64) & 1 == 1;
            let expected = if wanted { all } else { Vec::new() };
            prop_assert_eq!(by_block.decode(&b.bytes, |_| wanted).unwrap(), expected);
        }
    }
}

/// A block's streams (versions 4 and 5): head, times, slots, counts, changes, opaque, then the
/// value columns.
fn streams(block: &[u8]) -> Vec<Vec<u8>> {
    let mut r = crate::record::codec::Reader::new(block);
    r.u8().unwrap();
    r.varint().unwrap();
    for _ in 0..r.varint().unwrap() {
        r.bytes().unwrap();
    }
    r.varint().unwrap();
    let mut out: Vec<Vec<u8>> = (0..6).map(|_| r.bytes().unwrap().to_vec()).collect();
    for _ in 0..r.varint().unwrap() {
        out.push(r.bytes().unwrap().to_vec());
    }
    assert!(r.done());
    out
}

/// Version 5 writes a block's changes and values round by round in the fleet's order, whatever order
/// the samples came in, and hands the records back in the order they came.
#[test]
fn version_5_writes_the_values_round_by_round_and_hands_records_out_as_they_came() {
    let value = |i: u32, round: i64| {
        let mut v = json!({"q": 1000 * i64::from(i) + 7 * round * round, "gtid": format!("0-1-{}", 100 + round * i64::from(i))});
        if (round + i64::from(i)) % 4 == 0 {
            v["err"] = json!("timeout");
        }
        v
    };
    let orders = [[0u32, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]];
    // Three blocks of five rounds; the first round in order (it numbers the keys alike), the
    // others in another order each when `shuffled`; instance 3 misses round 7; a payload now and then.
    let make = |shuffled: bool| {
        let mut enc = ChainEncoder::with_version(5);
        let (mut blocks, mut records) = (Vec::new(), Vec::new());
        for block in 0..3i64 {
            let mut these = Vec::new();
            for round in block * 5..block * 5 + 5 {
                let order = if shuffled { orders[round as usize % 4] } else { orders[0] };
                for (k, &i) in order.iter().enumerate().filter(|&(_, &i)| round != 7 || i != 3) {
                    let at = 2000 * round + k as i64;
                    enc.sample(at, 0, i, &value(i, round));
                    these.push(Record::Sample { at_ms: at, shard: 0, instance: i, value: value(i, round) });
                }
                if round % 3 == 1 {
                    enc.opaque(TAG_FEED, 2000 * round + 9, b"feed");
                    these.push(Record::Opaque { tag: TAG_FEED, at_ms: 2000 * round + 9, payload: b"feed".to_vec() });
                }
            }
            blocks.push(enc.finish().unwrap());
            records.push(these);
        }
        (blocks, records)
    };
    let (shuffled, came) = make(true);
    let (in_order, _) = make(false);
    let mut dec = ChainDecoder::with_version(5);
    for (b, want) in shuffled.iter().zip(&came) {
        assert_eq!(&dec.decode(&b.bytes, |_| true).unwrap(), want);
    }
    for (a, b) in shuffled.iter().zip(&in_order) {
        let (a, b) = (streams(&a.bytes), streams(&b.bytes));
        // The slots differ (the order the samples came in); the change counts, the changes and
        // the values do not.
        assert_ne!(a[2], b[2]);
        assert_eq!(a[3..], b[3..]);
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

/// Not a check: bytes per instance-sample of versions 3 to 5 on the simulator's samples, with
/// and without what the real poller adds (scattered arrival times and order, noisy probe
/// durations, a feed round every poll). `cargo test --lib -- --ignored --nocapture v3_to_v5`.
#[test]
#[ignore]
fn v3_to_v5_bytes_per_instance_sample() {
    use crate::record::wire::{FEED_SHARD, feed_bytes, feed_value, sample_value};
    let sim = crate::sim::SimFleet { shards: 334, ..crate::sim::SimFleet::default() };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for realistic in [false, true] {
        let mut rounds = Vec::new();
        for r in 0..150u64 {
            let t = r as f64 * 2.0;
            let mut round = Vec::new();
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let (at, us) = if realistic { (rand(400) as i64, 300 + rand(2700)) } else { (0, 800) };
                    let result = crate::sim::scale::status_at(&sim, s, i, t % crate::sim::CYCLE_SECS);
                    let sample = crate::fleet::status::Sample {
                        at: crate::record::wire::from_ms(r as i64 * 2000 + at),
                        elapsed: std::time::Duration::from_micros(us),
                        result,
                    };
                    round.push((r as i64 * 2000 + at, s as u32, i as u32, sample));
                }
            }
            round.sort_by_key(|x| x.0);
            let feed = realistic.then(|| sim.feed_round(t, r));
            rounds.push((r as i64 * 2000, round, feed));
        }
        for version in [3u32, 4, 5] {
            let mut enc = ChainEncoder::with_version(version);
            let (mut bytes, mut samples) = (0usize, 0usize);
            for (k, (t, round, feed)) in rounds.iter().enumerate() {
                if let Some(f) = feed {
                    if version == 3 {
                        enc.opaque(TAG_FEED, *t, &feed_bytes(f));
                    } else {
                        enc.sample(*t, FEED_SHARD, 0, &feed_value(f));
                    }
                }
                for (at, s, i, sample) in round {
                    let mut v = sample_value(sample);
                    if version == 3 {
                        let p = v.as_object_mut().unwrap().remove("p");
                        v["e"] = json!(sample.elapsed.as_micros() as u64 / 10);
                        assert!(p.is_some());
                    }
                    enc.sample(*at, *s, *i, &v);
                }
                if (k + 1) % 15 == 0 {
                    let b = enc.finish().unwrap();
                    // The keyframe block is left out: continuing blocks are what a chain is made of.
                    if !b.keyframe {
                        bytes += zstd::bulk::compress(&b.bytes, 3).unwrap().len();
                        samples += 15 * round.len();
                    }
                }
            }
            println!(
                "{} v{version}: {:.2} B per instance-sample (continuing blocks)",
                if realistic { "poller-like" } else { "bench-like " },
                bytes as f64 / samples as f64
            );
        }
    }
}

/// A version 4 chain (a keyframe and a block continuing it) as the version 4 encoder wrote it
/// before version 5: files of that version must keep replaying as they did.
#[rustfmt::skip]
const V4_CHAIN: [&[u8]; 2] = [
    &[1, 0, 4, 13, 111, 107, 47, 99, 111, 117, 110, 116, 101, 114, 115, 47, 113, 7, 111, 107, 47, 103, 116, 105, 100, 5, 111, 107, 47, 114, 111, 1, 112, 5, 5, 1, 1, 2, 1, 1, 11, 128, 160, 171, 254, 249, 98, 6, 2, 154, 31, 2, 8, 0, 0, 1, 1, 0, 0, 1, 0, 4, 4, 4, 3, 2, 26, 0, 4, 1, 6, 2, 3, 3, 4, 0, 4, 1, 6, 2, 3, 3, 4, 0, 12, 1, 11, 2, 2, 0, 12, 1, 11, 3, 2, 123, 125, 4, 4, 20, 40, 22, 4, 22, 0, 5, 48, 45, 49, 45, 53, 0, 5, 48, 45, 49, 45, 53, 3, 0, 0, 8, 3, 0, 0, 8, 0, 2, 16, 16],
    &[0, 4, 3, 4, 114, 47, 35, 48, 1, 117, 8, 101, 114, 114, 47, 107, 105, 110, 100, 4, 4, 1, 1, 1, 1, 10, 192, 222, 171, 254, 249, 98, 2, 2, 156, 31, 10, 0, 2, 255, 255, 255, 255, 15, 0, 1, 1, 4, 2, 2, 5, 5, 28, 0, 12, 1, 6, 4, 1, 5, 4, 6, 6, 3, 12, 0, 0, 1, 0, 2, 0, 0, 4, 1, 6, 2, 3, 3, 12, 6, 0, 0, 7, 2, 0, 100, 16, 5, 6, 44, 49, 45, 50, 45, 51, 0, 6, 48, 45, 49, 45, 49, 50, 0, 4, 192, 15, 255, 30, 0, 1, 14, 9, 0, 7, 116, 105, 109, 101, 111, 117, 116],
];

fn v4_chain_records() -> Vec<Vec<Record>> {
    let s = |q: i64, g: &str| json!({"p": 8, "ok": {"gtid": g, "counters": {"q": q}, "ro": q % 2 == 0}});
    vec![
        vec![
            Record::Sample { at_ms: 1_700_000_000_000, shard: 0, instance: 1, value: s(10, "0-1-5") },
            Record::Sample { at_ms: 1_700_000_000_003, shard: 0, instance: 0, value: s(20, "0-1-5") },
            Record::Opaque { tag: TAG_FEED, at_ms: 1_700_000_000_004, payload: b"{}".to_vec() },
            Record::Sample { at_ms: 1_700_000_002_001, shard: 0, instance: 0, value: s(31, "0-1-9") },
            Record::Sample { at_ms: 1_700_000_002_002, shard: 0, instance: 1, value: s(12, "0-1-9") },
        ],
        vec![
            Record::Sample { at_ms: 1_700_000_004_000, shard: 0, instance: 1, value: s(14, "0-1-9,1-2-3") },
            Record::Sample {
                at_ms: 1_700_000_004_001,
                shard: u32::MAX,
                instance: 0,
                value: json!({"u": 7, "r": [null]}),
            },
            Record::Sample {
                at_ms: 1_700_000_004_002,
                shard: 0,
                instance: 0,
                value: json!({"p": 1000, "err": {"kind": "timeout"}}),
            },
            Record::Sample { at_ms: 1_700_000_006_000, shard: 0, instance: 0, value: s(50, "0-1-12") },
        ],
    ]
}

#[test]
fn version_4_blocks_of_before_version_5_decode_as_they_did() {
    let mut enc = ChainEncoder::with_version(4);
    let mut dec = ChainDecoder::with_version(4);
    for (fixture, records) in V4_CHAIN.iter().zip(v4_chain_records()) {
        for r in &records {
            match r {
                Record::Sample { at_ms, shard, instance, value } => enc.sample(*at_ms, *shard, *instance, value),
                Record::Opaque { tag, at_ms, payload } => enc.opaque(*tag, *at_ms, payload),
            }
        }
        let b = enc.finish().unwrap();
        assert_eq!(&b.bytes[..], *fixture, "the version 4 encoder writes what it wrote");
        assert_eq!(dec.decode(fixture, |_| true).unwrap(), records);
    }
}
