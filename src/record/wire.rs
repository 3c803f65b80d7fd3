//! The live types as recorded: a probe's `Sample` as a JSON tree for the block codec, feed rounds
//! and metrics readings as small JSON documents, and the fleet's layout. Each has its way back.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fleet::external::{Figure, MetricsUpdate};
use crate::fleet::status::{InstanceStatus, ProbeError, Sample};
use crate::fleet::{Addr, FeedResult, FeedRound, Fleet, Limits, Shard, Source};

pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Format versions 1–3 kept a probe's duration to 10 µs (`"e"`, in 10 µs units). That was
/// noise that cost nearly 2 bytes every sample.
pub(super) const ELAPSED_UNIT_US: u64 = 10;

/// Version 4 keeps it to two significant figures, and to 0.1 ms at least (`"p"`, a code): 0.1 ms
/// steps below 10 ms, 1 ms steps to 100 ms, 10 ms steps to 1 s, and so on.
const P_UNIT_US: u64 = 100;

/// A duration as version 4's code: below 100, that many 0.1 ms; from 100 on, in 90s, a mantissa
/// of 10–99 at 1 ms, 10 ms, 100 ms… (the 90 codes from 100 are 10–99 ms, the next 90 100–990 ms).
pub fn elapsed_code(d: Duration) -> u64 {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut scale = P_UNIT_US;
    let mut code_base = 0u64;
    loop {
        // Rounded to the nearest step; a mantissa that rounds up to 100 goes to the next decade.
        let q = us / scale + u64::from(us % scale >= scale.div_ceil(2));
        if q < 100 || scale > u64::MAX / 100 {
            return if code_base == 0 { q } else { code_base + q.min(99) - 10 };
        }
        code_base = if code_base == 0 { 100 } else { code_base + 90 };
        scale = scale.saturating_mul(10);
    }
}

/// The duration a version 4 code stands for.
pub fn elapsed_from_code(c: u64) -> Duration {
    if c < 100 {
        return Duration::from_micros(c * P_UNIT_US);
    }
    let decade = ((c - 100) / 90 + 1).min(16) as u32;
    let mantissa = (c - 100) % 90 + 10;
    Duration::from_micros(mantissa.saturating_mul(P_UNIT_US).saturating_mul(10u64.saturating_pow(decade)))
}

/// `{"p": elapsed (a code, `elapsed_code`), "ok": status}` or `{"p": …, "err": error}`; the time
/// is the record's own.
pub fn sample_value(s: &Sample) -> Value {
    let p = elapsed_code(s.elapsed);
    match &s.result {
        Ok(st) => json!({ "p": p, "ok": serde_json::to_value(st).unwrap_or(Value::Null) }),
        Err(err) => json!({ "p": p, "err": serde_json::to_value(err).unwrap_or(Value::Null) }),
    }
}

/// A sample of any version: `"p"` (version 4) or `"e"` (versions 1–3).
pub fn sample_from(at_ms: i64, v: &Value) -> Result<Sample, String> {
    let elapsed = match v.get("p").and_then(Value::as_u64) {
        Some(p) => elapsed_from_code(p),
        None => Duration::from_micros(v.get("e").and_then(Value::as_u64).unwrap_or(0).saturating_mul(ELAPSED_UNIT_US)),
    };
    let result = match (v.get("ok"), v.get("err")) {
        (Some(ok), _) => Ok(InstanceStatus::deserialize(ok).map_err(|e| format!("status: {e}"))?),
        (None, Some(err)) => Err(ProbeError::deserialize(err).map_err(|e| format!("probe error: {e}"))?),
        (None, None) => return Err("a sample with neither a status nor an error".into()),
    };
    Ok(Sample { at: from_ms(at_ms), elapsed, result })
}

#[derive(Serialize, Deserialize)]
struct FeedResultRec {
    instance: Addr,
    elapsed_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rows: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ProbeError>,
}

#[derive(Serialize, Deserialize)]
struct FeedRoundRec {
    user_id: u64,
    results: Vec<Option<FeedResultRec>>,
}

pub fn feed_bytes(r: &FeedRound) -> Vec<u8> {
    let rec = FeedRoundRec {
        user_id: r.user_id,
        results: r
            .results
            .iter()
            .map(|x| {
                x.as_ref().map(|x| FeedResultRec {
                    instance: x.instance.clone(),
                    elapsed_us: x.elapsed.as_micros() as u64,
                    rows: x.outcome.as_ref().ok().copied(),
                    error: x.outcome.as_ref().err().cloned(),
                })
            })
            .collect(),
    };
    serde_json::to_vec(&rec).unwrap_or_default()
}

pub fn feed_from(at_ms: i64, b: &[u8]) -> Result<FeedRound, String> {
    let rec: FeedRoundRec = serde_json::from_slice(b).map_err(|e| format!("feed round: {e}"))?;
    Ok(FeedRound {
        at: from_ms(at_ms),
        user_id: rec.user_id,
        results: rec
            .results
            .into_iter()
            .map(|x| {
                x.map(|x| FeedResult {
                    instance: x.instance,
                    elapsed: Duration::from_micros(x.elapsed_us),
                    outcome: match (x.rows, x.error) {
                        (_, Some(e)) => Err(e),
                        (rows, None) => Ok(rows.unwrap_or(0)),
                    },
                })
            })
            .collect(),
    })
}

/// Format version 4 records a feed round as a sample of this pseudo-instance (shard `u32::MAX`,
/// instance 0), so that the chain codec stores only what changed since the previous round, key by
/// key (versions 1–3 stored each round whole, as JSON: 1.7 bytes per instance-sample).
pub const FEED_SHARD: u32 = u32::MAX;

#[derive(Serialize, Deserialize)]
struct FeedResultTree {
    i: Addr,
    /// The duration as `elapsed_code`: two significant figures, like a probe's.
    p: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<ProbeError>,
}

#[derive(Serialize, Deserialize)]
struct FeedRoundTree {
    u: u64,
    r: Vec<Option<FeedResultTree>>,
}

/// A feed round as version 4's tree: `{"u": user id, "r": [null | {"i": instance, "p": duration
/// code, "n": rows, "x": error}]}`.
pub fn feed_value(r: &FeedRound) -> Value {
    let tree = FeedRoundTree {
        u: r.user_id,
        r: r.results
            .iter()
            .map(|x| {
                x.as_ref().map(|x| FeedResultTree {
                    i: x.instance.clone(),
                    p: elapsed_code(x.elapsed),
                    n: x.outcome.as_ref().ok().copied(),
                    x: x.outcome.as_ref().err().cloned(),
                })
            })
            .collect(),
    };
    serde_json::to_value(tree).unwrap_or(Value::Null)
}

pub fn feed_from_value(at_ms: i64, v: &Value) -> Result<FeedRound, String> {
    let tree = FeedRoundTree::deserialize(v).map_err(|e| format!("feed round: {e}"))?;
    Ok(FeedRound {
        at: from_ms(at_ms),
        user_id: tree.u,
        results: tree
            .r
            .into_iter()
            .map(|x| {
                x.map(|x| FeedResult {
                    instance: x.i,
                    elapsed: elapsed_from_code(x.p),
                    outcome: match (x.n, x.x) {
                        (_, Some(e)) => Err(e),
                        (rows, None) => Ok(rows.unwrap_or(0)),
                    },
                })
            })
            .collect(),
    })
}

fn figure_name(f: Figure) -> &'static str {
    f.key()
}

fn figure_from(s: &str) -> Result<Figure, String> {
    match s {
        "qps" => Ok(Figure::Qps),
        "lag" => Ok(Figure::Lag),
        "feed_p99" => Ok(Figure::FeedP99),
        "health" => Ok(Figure::Health),
        other => Err(format!("unknown figure {other:?}")),
    }
}

#[derive(Serialize, Deserialize)]
struct MetricsRec {
    source: usize,
    kind: Source,
    values: Vec<(usize, String, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    backfill: Vec<(usize, String, Vec<f64>)>,
}

pub fn metrics_bytes(u: &MetricsUpdate) -> Vec<u8> {
    let rec = MetricsRec {
        source: u.source,
        kind: u.kind,
        values: u.values.iter().map(|(s, f, v)| (*s, figure_name(*f).to_string(), *v)).collect(),
        error: u.error.clone(),
        notes: u.notes.clone(),
        backfill: u.backfill.iter().map(|(s, f, v)| (*s, figure_name(*f).to_string(), v.clone())).collect(),
    };
    serde_json::to_vec(&rec).unwrap_or_default()
}

pub fn metrics_from(at_ms: i64, b: &[u8]) -> Result<MetricsUpdate, String> {
    let rec: MetricsRec = serde_json::from_slice(b).map_err(|e| format!("metrics reading: {e}"))?;
    let values =
        rec.values.into_iter().map(|(s, f, v)| figure_from(&f).map(|f| (s, f, v))).collect::<Result<_, _>>()?;
    let backfill =
        rec.backfill.into_iter().map(|(s, f, v)| figure_from(&f).map(|f| (s, f, v))).collect::<Result<_, _>>()?;
    Ok(MetricsUpdate {
        source: rec.source,
        kind: rec.kind,
        at: from_ms(at_ms),
        values,
        error: rec.error,
        notes: rec.notes,
        backfill,
        remote: Vec::new(),
    })
}

/// A promotion the recording session carried out itself: the model puts the new master first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Promoted {
    pub shard: String,
    pub new_master: Addr,
}

/// What a replay needs to rebuild the fleet model as the recorder had it when it started: the
/// configured shards, thresholds, feed window and metrics sources. No account, no password.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Layout {
    /// Where the recording came from (the config file's name, "demo").
    pub source: String,
    pub poll_interval_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_window_ms: Option<u64>,
    pub lag_warn_ms: u64,
    pub lag_crit_ms: u64,
    pub feed_p99_warn_ms: u64,
    pub feed_p99_crit_ms: u64,
    pub qps_drop_percent: f64,
    pub metrics_only: bool,
    /// `[[metrics]]` sources in config order: (name, kind).
    #[serde(default)]
    pub sources: Vec<(String, Source)>,
    pub shards: Vec<ShardLayout>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardLayout {
    pub name: String,
    pub master: Addr,
    #[serde(default)]
    pub replicas: Vec<Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Addr>,
}

impl Layout {
    /// The layout of a fleet model as it stands before its first sample.
    pub fn of(fleet: &Fleet, source: &str, poll_interval: Duration, feed: Option<(Duration, Duration)>) -> Layout {
        let l = &fleet.limits;
        Layout {
            source: source.to_string(),
            poll_interval_ms: poll_interval.as_millis() as u64,
            feed_interval_ms: feed.map(|f| f.0.as_millis() as u64),
            feed_window_ms: feed.map(|f| f.1.as_millis() as u64),
            lag_warn_ms: l.lag_warn.as_millis() as u64,
            lag_crit_ms: l.lag_crit.as_millis() as u64,
            feed_p99_warn_ms: l.feed_p99_warn.as_millis() as u64,
            feed_p99_crit_ms: l.feed_p99_crit.as_millis() as u64,
            qps_drop_percent: l.qps_drop_percent,
            metrics_only: fleet.shards.iter().any(|s| s.metrics_only),
            sources: fleet.sources.iter().map(|s| (s.name.clone(), s.kind)).collect(),
            shards: fleet
                .shards
                .iter()
                .map(|s| ShardLayout {
                    name: s.name.clone(),
                    master: s.master().addr.clone(),
                    replicas: s.instances.iter().skip(1).map(|i| i.addr.clone()).collect(),
                    upstream: s.upstream.clone(),
                })
                .collect(),
        }
    }

    /// A fresh fleet model, as the recorder's was before its first sample.
    pub fn fleet(&self) -> Fleet {
        let ms = Duration::from_millis;
        let limits = Limits {
            lag_warn: ms(self.lag_warn_ms),
            lag_crit: ms(self.lag_crit_ms),
            feed_p99_warn: ms(self.feed_p99_warn_ms),
            feed_p99_crit: ms(self.feed_p99_crit_ms),
            qps_drop_percent: self.qps_drop_percent,
        };
        let shards = self
            .shards
            .iter()
            .map(|s| Shard::new(s.name.clone(), s.master.clone(), s.replicas.iter().cloned(), s.upstream.clone()))
            .collect();
        let mut fleet = Fleet::new(shards, limits);
        if let Some(w) = self.feed_window_ms {
            fleet = fleet.with_feed_window(ms(w));
        }
        fleet.sources =
            self.sources.iter().map(|(n, k)| crate::fleet::external::SourceState::new(n.clone(), *k)).collect();
        if self.metrics_only { fleet.metrics_only() } else { fleet }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::test_support;

    #[test]
    fn a_sample_round_trips_with_its_discovery_facts() {
        let mut st = test_support::replica_status(Some(3));
        st.topo.discovery = Some(crate::fleet::status::Discovery {
            replica_hosts: Some(vec![crate::fleet::status::ReplicaHost { server_id: 7, addr: None }]),
            dump_hosts: vec!["10.0.0.7".into()],
        });
        let s = Sample { at: from_ms(1_700_000_000_123), elapsed: Duration::from_micros(1234), result: Ok(st) };
        let back = sample_from(1_700_000_000_123, &sample_value(&s)).unwrap();
        assert_eq!(back.at, s.at);
        assert_eq!(back.elapsed, Duration::from_micros(1200), "version 4 keeps 0.1 ms here");
        assert_eq!(back.result, s.result);
        let err = Sample {
            at: s.at,
            elapsed: Duration::from_secs(1),
            result: Err(ProbeError { kind: crate::fleet::status::ProbeErrorKind::Timeout, message: "slow".into() }),
        };
        assert_eq!(sample_from(0, &sample_value(&err)).unwrap().result, err.result);
    }

    /// The one precision format version 4 reduces on purpose: a probe's duration comes back to
    /// two significant figures (and 0.1 ms at least), rounded to the nearest.
    #[test]
    fn a_probe_duration_keeps_two_significant_figures() {
        let back = |us: u64| elapsed_from_code(elapsed_code(Duration::from_micros(us))).as_micros() as u64;
        for (us, want) in [
            (0, 0),
            (49, 0),
            (50, 100),
            (1234, 1200),
            (9949, 9900),
            (9950, 10_000),
            (12_345, 12_000),
            (99_499, 99_000),
            (99_500, 100_000),
            (123_456, 120_000),
            (1_234_567, 1_200_000),
            (30_000_000, 30_000_000),
        ] {
            assert_eq!(back(us), want, "{us} µs");
        }
        let mut last = 0;
        for us in (0..5_000_000u64).step_by(997) {
            let (code, got) = (elapsed_code(Duration::from_micros(us)), back(us));
            // Within half a step: 0.05 ms, or 5 % of the figure's leading digits' unit.
            let err = got.abs_diff(us);
            assert!(err <= 50 || err * 20 <= us, "{us} µs came back as {got}");
            assert!(code >= last, "codes grow with the duration: {us} µs");
            last = code;
        }
        // Extremes saturate, never panic.
        let _ = elapsed_from_code(elapsed_code(Duration::MAX));
        let _ = elapsed_from_code(u64::MAX);
        // Versions 1–3 stored 10 µs units under "e"; they read back as they were.
        let err = ProbeError { kind: crate::fleet::status::ProbeErrorKind::Timeout, message: "slow".into() };
        let old = json!({"e": 123, "err": serde_json::to_value(err).unwrap()});
        assert_eq!(sample_from(0, &old).unwrap().elapsed, Duration::from_micros(1230));
    }

    #[test]
    fn metrics_and_feed_round_trip() {
        let u = MetricsUpdate {
            source: 1,
            kind: Source::Graphite,
            at: from_ms(5000),
            values: vec![(0, Figure::Qps, 12.5), (2, Figure::FeedP99, 40.0)],
            error: None,
            notes: vec!["n".into()],
            backfill: vec![(0, Figure::Lag, vec![1.0, 2.0])],
            remote: Vec::new(),
        };
        let back = metrics_from(5000, &metrics_bytes(&u)).unwrap();
        assert_eq!((back.values, back.backfill, back.notes), (u.values, u.backfill, u.notes));
        let r = FeedRound {
            at: from_ms(7000),
            user_id: 42,
            results: vec![
                None,
                Some(FeedResult {
                    instance: "db2:3306".parse().unwrap(),
                    elapsed: Duration::from_micros(900),
                    outcome: Ok(10),
                }),
            ],
        };
        let back = feed_from(7000, &feed_bytes(&r)).unwrap();
        assert_eq!(back.user_id, 42);
        assert!(back.results[0].is_none());
        assert_eq!(back.results[1].as_ref().map(|x| x.outcome.clone()), Some(Ok(10)));
    }

    /// Version 4's feed rounds: samples of the feed's pseudo-instance in the chain, exact but for
    /// the durations' two significant figures; a round that repeats the last costs next to nothing.
    #[test]
    fn feed_rounds_round_trip_through_the_chain() {
        use crate::record::codec::Record;
        use crate::record::codec3::{ChainDecoder, ChainEncoder};
        let round = |k: u64| FeedRound {
            at: from_ms(7000 + 2000 * k as i64),
            user_id: 42 + k % 2,
            results: vec![
                None,
                Some(FeedResult {
                    instance: "db2:3306".parse().unwrap(),
                    elapsed: Duration::from_micros(912),
                    outcome: Ok(10),
                }),
                Some(FeedResult {
                    instance: "db3:3307".parse().unwrap(),
                    elapsed: Duration::from_micros(20_000 + 1111 * k),
                    outcome: if k == 2 {
                        Err(ProbeError { kind: crate::fleet::status::ProbeErrorKind::Timeout, message: "slow".into() })
                    } else {
                        Ok(k as usize)
                    },
                }),
            ],
        };
        let mut enc = ChainEncoder::default();
        let mut sizes = Vec::new();
        for k in 0..5 {
            let before = enc.pending_bytes();
            enc.sample(7000 + 2000 * k as i64, FEED_SHARD, 0, &feed_value(&round(k)));
            sizes.push(enc.pending_bytes() - before);
        }
        assert!(sizes[4] * 3 < sizes[0], "a later round costs its changes only: {sizes:?}");
        let b = enc.finish().unwrap();
        let back = ChainDecoder::default().decode(&b.bytes, |_| true).unwrap();
        assert_eq!(back.len(), 5);
        for (k, rec) in back.iter().enumerate() {
            let Record::Sample { at_ms, shard: FEED_SHARD, value, .. } = rec else { panic!("{rec:?}") };
            let got = feed_from_value(*at_ms, value).unwrap();
            let want = round(k as u64);
            assert_eq!((got.at, got.user_id), (want.at, want.user_id));
            assert!(got.results[0].is_none());
            for (g, w) in got.results.iter().zip(&want.results).skip(1) {
                let (g, w) = (g.as_ref().unwrap(), w.as_ref().unwrap());
                assert_eq!((&g.instance, &g.outcome), (&w.instance, &w.outcome));
                assert_eq!(g.elapsed, elapsed_from_code(elapsed_code(w.elapsed)), "two significant figures");
            }
        }
        assert_eq!(
            feed_from_value(0, &back_first(&back)).unwrap().results[1].as_ref().unwrap().elapsed.as_micros(),
            900
        );
    }

    fn back_first(records: &[crate::record::codec::Record]) -> Value {
        match &records[0] {
            crate::record::codec::Record::Sample { value, .. } => value.clone(),
            other => panic!("{other:?}"),
        }
    }
}
