use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::fleet::status::{ProbeError, ProbeErrorKind};
use crate::fleet::test_support::{link, master_status, replica_status};
use crate::mysql::Addr;
use crate::record::codec3::{ChainDecoder, ChainEncoder, Flat};
use crate::record::wire::sample_value;

/// One thing that happens to a server between two probes.
#[derive(Clone, Debug)]
enum Change {
    Writes(u64),
    Lag(Option<u64>),
    HeartbeatLag(Option<f64>),
    Heartbeat(Option<String>),
    IoState(u8),
    SqlError(u32),
    Gtid(Option<String>),
    Version(String),
    SecondLink(bool),
    Failed,
    Recovered,
    Uuid(Option<String>),
    Elapsed(u64),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0u64..5000).prop_map(Change::Writes),
        2 => proptest::option::of(0u64..100).prop_map(Change::Lag),
        1 => proptest::option::of(-1.0f64..100.0).prop_map(Change::HeartbeatLag),
        1 => proptest::option::of("[a-z ]{0,12}").prop_map(Change::Heartbeat),
        1 => (0u8..4).prop_map(Change::IoState),
        1 => (0u32..2000).prop_map(Change::SqlError),
        1 => proptest::option::of("[0-9]-[0-9]{1,3}-[0-9]{1,6}(,[0-9]-[0-9]-[0-9]{1,4})?").prop_map(Change::Gtid),
        1 => "10\\.(6|11)\\.[0-9]-MariaDB".prop_map(Change::Version),
        1 => any::<bool>().prop_map(Change::SecondLink),
        1 => Just(Change::Failed),
        2 => Just(Change::Recovered),
        1 => proptest::option::of("[0-9a-f]{8}").prop_map(Change::Uuid),
        2 => (0u64..2_000_000).prop_map(Change::Elapsed),
    ]
}

fn ok(s: &mut Sample) -> &mut InstanceStatus {
    if s.result.is_err() {
        s.result = Ok(replica_status(Some(0)));
    }
    s.result.as_mut().expect("ok")
}

fn apply_change(s: &mut Sample, c: &Change) {
    match c {
        Change::Writes(n) => {
            let st = ok(s);
            st.counters.questions += n;
            st.counters.com_insert += n / 3;
            st.counters.uptime += 2;
            st.binlog_pos = st.binlog_pos.map(|p| p + n * 100);
            if let Some(r) = st.replication.first_mut() {
                r.read_source_log_pos += n * 100;
                r.exec_source_log_pos += n * 90;
                r.executed_gtid_set = format!("0-1-{}", r.exec_source_log_pos);
            }
        }
        Change::Lag(l) => {
            if let Some(r) = ok(s).replication.first_mut() {
                r.seconds_behind = *l;
            }
        }
        Change::HeartbeatLag(l) => ok(s).heartbeat_lag = *l,
        Change::Heartbeat(e) => ok(s).heartbeat_error = e.clone(),
        Change::IoState(k) => {
            if let Some(r) = ok(s).replication.first_mut() {
                r.io_state = [IoState::Running, IoState::Connecting, IoState::Stopped, IoState::Running][*k as usize];
                r.sql_running = *k != 3;
            }
        }
        Change::SqlError(e) => {
            if let Some(r) = ok(s).replication.first_mut() {
                r.last_sql_errno = *e;
                r.last_sql_error = if *e == 0 { String::new() } else { format!("error {e}") };
            }
        }
        Change::Gtid(g) => ok(s).gtid.slave_pos = g.clone(),
        Change::Version(v) => ok(s).version = v.clone(),
        Change::SecondLink(on) => {
            let st = ok(s);
            st.replication.truncate(1);
            if *on {
                st.replication.push(link(Addr::new("other", 3307), Some(3)));
            }
        }
        Change::Failed => {
            s.result = Err(ProbeError { kind: ProbeErrorKind::Timeout, message: "no answer in 1s".into() })
        }
        Change::Recovered => {
            ok(s);
        }
        Change::Uuid(u) => ok(s).server_uuid = u.clone(),
        Change::Elapsed(us) => s.elapsed = Duration::from_micros(*us),
    }
}

/// Both sides in one, as a reader on one thread uses them.
#[derive(Default)]
struct Typed {
    fields: Fields,
    samples: Samples,
}

impl Typed {
    fn sample(&mut self, v: &mut SampleView<'_>) -> Result<Sample, String> {
        let part = self.fields.part(v)?;
        self.samples.sample((v.shard, v.instance), part)
    }
}

/// A decoder's `want`: the k-th record is wanted when `want[k]` is.
fn picker(want: &[bool]) -> impl FnMut(i64) -> bool + '_ {
    let mut k = 0;
    move |_| {
        k += 1;
        want[k - 1]
    }
}

/// Every wanted sample of the chain, once by `Typed` and once from the tree.
fn both_ways(blocks: &[Vec<u8>], want: &[bool], version: u32) -> (Vec<Sample>, Vec<Sample>) {
    let (mut typed, mut tree) = (Vec::new(), Vec::new());
    let mut t = Typed::default();
    let mut d = ChainDecoder::with_version(version);
    let mut pick = picker(want);
    for b in blocks {
        d.decode_flat(b, &mut pick, |f| {
            if let Flat::Sample(mut v) = f {
                typed.push(t.sample(&mut v).expect("typed"));
            }
            Ok(())
        })
        .expect("decodes");
    }
    let mut d = ChainDecoder::with_version(version);
    let mut pick = picker(want);
    for b in blocks {
        d.decode_each(b, &mut pick, |item| {
            if let crate::record::codec::Item::Sample { at_ms, value, .. } = item {
                tree.push(wire::sample_from(at_ms, value).expect("from the tree"));
            }
            Ok(())
        })
        .expect("decodes");
    }
    (typed, tree)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever happens to three servers, in whatever order, across blocks and keyframes, with
    /// any samples skipped: the typed samples are the tree's, and the samples recorded, in the
    /// order they were recorded (version 5 stores a block's values in another).
    #[test]
    fn typed_samples_are_the_trees(
        steps in proptest::collection::vec((0usize..3, proptest::collection::vec(change(), 0..4), any::<bool>(), 0u8..10), 1..120),
        version in 4u32..=5,
    ) {
        let mut servers: Vec<Sample> = (0..3)
            .map(|k| Sample {
                at: from_ms(0),
                elapsed: Duration::from_millis(1),
                result: Ok(if k == 0 { master_status() } else { replica_status(Some(0)) }),
            })
            .collect();
        let mut enc = ChainEncoder::with_version(version);
        let (mut blocks, mut want, mut expected) = (Vec::new(), Vec::new(), Vec::new());
        for (n, (who, changes, wanted, cut)) in steps.iter().enumerate() {
            let s = &mut servers[*who];
            for c in changes {
                apply_change(s, c);
            }
            let (at, value) = (1_700_000_000_000 + 500 * n as i64, sample_value(s));
            enc.sample(at, 0, *who as u32, &value);
            want.push(*wanted);
            if *wanted {
                // As recorded: the probe's duration to two significant figures.
                expected.push(wire::sample_from(at, &value).expect("a sample"));
            }
            // Now and then a block ends; more rarely a chain.
            if *cut < 2 {
                blocks.extend(enc.finish().map(|f| f.bytes));
                if *cut == 0 {
                    enc.restart();
                }
            }
        }
        blocks.extend(enc.finish().map(|f| f.bytes));
        let (typed, tree) = both_ways(&blocks, &want, version);
        prop_assert_eq!(&typed, &expected);
        prop_assert_eq!(typed, tree);
    }
}

/// A counter moved and nothing else: the second sample is that one key, set on the first.
#[test]
fn a_moved_counter_is_one_key_set_on_the_last_sample() {
    let mut s = Sample { at: from_ms(0), elapsed: Duration::from_millis(1), result: Ok(master_status()) };
    let mut enc = ChainEncoder::default();
    enc.sample(1000, 0, 0, &sample_value(&s));
    ok(&mut s).counters.questions = 77;
    enc.sample(2000, 0, 0, &sample_value(&s));
    let block = enc.finish().expect("a block").bytes;
    let mut t = Typed::default();
    let mut got = Vec::new();
    let mut trees = Vec::new();
    ChainDecoder::default()
        .decode_flat(
            &block,
            |_| true,
            |f| {
                if let Flat::Sample(mut v) = f {
                    trees.push(v.touched().map(<[usize]>::len));
                    got.push(t.sample(&mut v).expect("typed"));
                }
                Ok(())
            },
        )
        .expect("decodes");
    assert_eq!(trees, [None, Some(1)], "the first sample is whole; the second changes one key");
    assert_eq!(got[1].result.as_ref().expect("ok").counters.questions, 77);
    assert_eq!(got[1].at, from_ms(2000));
    assert_eq!(t.samples.last.len(), 1);
}
