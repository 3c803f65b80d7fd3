//! A simulated fleet for `shardtop demo`, tests and benchmarks.
//!
//! Every instance's state is a pure function of the time since the demo
//! started, so tests can ask "what does shard 5 look like at t=40 s" without
//! waiting. A repeating script of incidents shows every state a real fleet
//! can be in: a lag spike, a replica whose SQL thread breaks on a duplicate
//! key, a master that dies (and its replicas losing their IO link), and a
//! replica left writable.

use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::fleet::status::*;
use crate::fleet::{Addr, Shard};
use crate::poll::{Probe, Slot};

mod feed;
pub mod scale;
pub mod state;
pub mod wire;

/// The incident script repeats with this period.
pub const CYCLE_SECS: f64 = 120.0;

/// What happens when, within one cycle (seconds).
pub mod script {
    /// Shard index 2: replica 1 lags, peaking at 95 s.
    pub const LAG_SHARD: usize = 2;
    pub const LAG_WINDOW: (f64, f64) = (15.0, 60.0);
    /// Shard index 4: replica 2's SQL thread stops on a duplicate key.
    pub const BROKEN_SHARD: usize = 4;
    pub const BROKEN_WINDOW: (f64, f64) = (30.0, 75.0);
    /// Shard index 6: the master dies.
    pub const DEAD_SHARD: usize = 6;
    pub const DEAD_WINDOW: (f64, f64) = (50.0, 95.0);
    /// Shard index 1: replica 2 is left writable.
    pub const WRITABLE_SHARD: usize = 1;
    pub const WRITABLE_WINDOW: (f64, f64) = (20.0, 40.0);
    /// Shard index 3 is chained: replica 2 replicates from replica 1 (a relay), always.
    pub const CHAINED_SHARD: usize = 3;
    /// Shard index 5: replica 2 is re-pointed to shard index 4's master by mistake.
    pub const MISPOINTED_SHARD: usize = 5;
    pub const MISPOINTED_WINDOW: (f64, f64) = (85.0, 110.0);
    /// Shard index 3: the feed read slows to 55–85 ms (over the 50 ms p99 target).
    pub const SLOW_FEED_SHARD: usize = 3;
    pub const SLOW_FEED_WINDOW: (f64, f64) = (75.0, 85.0);
    /// Shard index 7: a traffic surge, its request rate six times the usual (the wall's spike).
    pub const SURGE_SHARD: usize = 7;
    pub const SURGE_WINDOW: (f64, f64) = (95.0, 115.0);
    pub const SURGE_FACTOR: f64 = 6.0;
}

/// The global master every shard master replicates from (GTID domain 100).
pub const UPSTREAM: &str = "db-global-01";

#[derive(Clone, Debug)]
pub struct SimFleet {
    pub shards: usize,
    pub replicas: usize,
    /// Simulated round-trip time of a probe.
    pub latency: Duration,
}

impl Default for SimFleet {
    fn default() -> Self {
        SimFleet { shards: 8, replicas: 2, latency: Duration::from_millis(2) }
    }
}

/// The surge's extra traffic on shard `s` up to `t`, in seconds of its usual rate: the counter
/// is the rate's integral, so the surge adds (factor − 1) × the time spent in it so far.
fn surge_seconds(s: usize, t: f64) -> f64 {
    if s != script::SURGE_SHARD {
        return 0.0;
    }
    let (a, b) = script::SURGE_WINDOW;
    let cycles = (t / CYCLE_SECS).floor();
    let inside = (t - cycles * CYCLE_SECS - a).clamp(0.0, b - a);
    (cycles * (b - a) + inside) * (script::SURGE_FACTOR - 1.0)
}

fn within(t: f64, w: (f64, f64)) -> bool {
    t >= w.0 && t < w.1
}

impl SimFleet {
    pub fn shard_name(&self, s: usize) -> String {
        format!("users-{:02}", s + 1)
    }

    pub fn addr(&self, s: usize, i: usize) -> Addr {
        let letter = (b'a' + (i % 26) as u8) as char;
        Addr::new(format!("db-users-{:02}{letter}", s + 1), 3306)
    }

    /// The fleet layout, for the model.
    pub fn layout(&self) -> Vec<Shard> {
        (0..self.shards)
            .map(|s| {
                let replicas = (1..=self.replicas).map(|i| self.addr(s, i));
                Shard::new(self.shard_name(s), self.addr(s, 0), replicas, Some(Addr::new(UPSTREAM, 3306)))
            })
            .collect()
    }

    fn base_qps(&self, s: usize, i: usize) -> f64 {
        let shard = 1500.0 + 700.0 * ((s * 7) % 11) as f64;
        if i == 0 { shard } else { shard * 0.6 }
    }

    /// Questions since start: the integral of a slowly waving rate, so rates
    /// computed from deltas move smoothly.
    fn questions(&self, s: usize, i: usize, t: f64) -> u64 {
        let base = self.base_qps(s, i);
        let phase = s as f64;
        let w = TAU / 60.0;
        let wave = 0.3 * ((phase).cos() - (w * t + phase).cos()) / w;
        (base * (t + wave + surge_seconds(s, t))).max(0.0) as u64
    }

    /// The replicas streaming from shard `s`'s master at `t` (each a semi-sync client): its direct
    /// replicas but the chained leaf and the mispointed one, plus the one mispointed to it.
    fn direct_replicas(&self, s: usize, t: f64) -> u32 {
        let c = t.rem_euclid(CYCLE_SECS);
        let leaves_it = |r: usize| {
            (s == script::CHAINED_SHARD && r == 2)
                || (s == script::MISPOINTED_SHARD && r == 2 && within(c, script::MISPOINTED_WINDOW))
        };
        let own = (1..=self.replicas).filter(|&r| !leaves_it(r)).count() as u32;
        let borrowed = s + 1 == script::MISPOINTED_SHARD && self.replicas >= 2 && within(c, script::MISPOINTED_WINDOW);
        own + u32::from(borrowed)
    }

    /// Semi-sync as the demo fleet runs it (MariaDB, built in): the master side on masters
    /// (lossless AFTER_SYNC, 1 s timeout), the replica side on replicas; unset sides keep
    /// MariaDB's defaults.
    fn semi_sync(&self, s: usize, i: usize, t: f64) -> SemiSync {
        let defaults = SemiSyncMaster {
            enabled: false,
            active: false,
            clients: 0,
            no_tx: 0,
            wait_point: Some(WaitPoint::AfterCommit),
            timeout_ms: Some(10_000),
        };
        if i == 0 {
            let clients = self.direct_replicas(s, t);
            let master = SemiSyncMaster {
                enabled: true,
                active: true,
                clients,
                wait_point: Some(WaitPoint::AfterSync),
                timeout_ms: Some(1_000),
                ..defaults
            };
            return SemiSync { master: Some(master), replica: Some(SemiSyncReplica::default()) };
        }
        // Acknowledging while its IO thread streams (set where the script breaks the link).
        SemiSync { master: Some(defaults), replica: Some(SemiSyncReplica { enabled: true, active: true }) }
    }

    /// What instance `i` of shard `s` reports `t` seconds into the demo.
    pub fn status_at(&self, s: usize, i: usize, t: f64) -> Result<InstanceStatus, ProbeError> {
        let c = t.rem_euclid(CYCLE_SECS);
        let master_dead = s == script::DEAD_SHARD && within(c, script::DEAD_WINDOW);
        if i == 0 && master_dead {
            return Err(ProbeError {
                kind: ProbeErrorKind::Refused,
                message: format!("connect to {}: connection refused", self.addr(s, 0)),
            });
        }
        let domain = s + 1;
        let server_id = (domain * 100 + i) as u32;
        let master_seq = self.questions(s, 0, t) / 20;
        let mut status = InstanceStatus {
            flavor: Flavor::MariaDb,
            version: "10.11.6-MariaDB-log".into(),
            server_id,
            server_uuid: None,
            read_only: i != 0,
            super_read_only: None,
            log_bin: true,
            log_slave_updates: true,
            binlog_format: "ROW".into(),
            gtid: GtidState::default(),
            binlog_file: Some("mysql-bin.000042".into()),
            binlog_pos: Some(4 + master_seq * 310),
            replication: Vec::new(),
            counters: Counters {
                uptime: 864_000 + t as u64,
                questions: self.questions(s, i, t),
                // Masters take the writes; replicas serve reads (and apply row events, which are not statements).
                com_select: self.questions(s, i, t) * if i == 0 { 70 } else { 95 } / 100,
                com_insert: if i == 0 { self.questions(s, i, t) * 12 / 100 } else { 0 },
                com_update: if i == 0 { self.questions(s, i, t) * 8 / 100 } else { 0 },
                com_delete: if i == 0 { self.questions(s, i, t) * 2 / 100 } else { 0 },
                com_replace: if i == 0 { self.questions(s, i, t) / 100 } else { 0 },
                threads_running: 2 + (t as u64 + i as u64) % 5,
                threads_connected: 40 + (s as u64 * 3) % 17,
            },
            heartbeat_lag: None,
            heartbeat_error: None,
            topo: TopologyFacts::default(),
            semi_sync: Some(self.semi_sync(s, i, t)),
        };
        // Everyone carries the global master's domain 100 as well.
        let global_seq = (t * 3.0) as u64;
        if i == 0 {
            let pos = format!("{domain}-{server_id}-{master_seq},100-1-{global_seq}");
            status.gtid = GtidState { binlog_pos: Some(pos.clone()), current_pos: Some(pos), ..Default::default() };
            status.replication.push(ReplicationStatus {
                channel: String::new(),
                source: Addr::new(UPSTREAM, 3306),
                source_server_id: Some(1),
                io_state: IoState::Running,
                sql_running: true,
                seconds_behind: Some(0),
                last_io_errno: 0,
                last_io_error: String::new(),
                last_sql_errno: 0,
                last_sql_error: String::new(),
                source_log_file: "global-bin.000007".into(),
                read_source_log_pos: 4 + global_seq * 280,
                relay_source_log_file: "global-bin.000007".into(),
                exec_source_log_pos: 4 + global_seq * 280,
                gtid_mode: GtidMode::SlavePos,
                retrieved_gtid_set: String::new(),
                executed_gtid_set: String::new(),
                sql_delay: 0,
            });
            return Ok(status);
        }
        // Replicas: a little natural lag, plus the scripted incidents.
        let mut lag = (0.8 + 0.8 * (t / 7.0 + (s * 3 + i) as f64).sin()).max(0.0);
        if s == script::LAG_SHARD && i == 1 && within(c, script::LAG_WINDOW) {
            let (a, b) = script::LAG_WINDOW;
            let peak = a + (b - a) * 2.0 / 3.0;
            lag += if c < peak { 95.0 * (c - a) / (peak - a) } else { 95.0 * (b - c) / (b - peak) };
        }
        let mut link = ReplicationStatus {
            channel: String::new(),
            source: self.addr(s, 0),
            source_server_id: Some((domain * 100) as u32),
            io_state: IoState::Running,
            sql_running: true,
            seconds_behind: Some(lag.round() as u64),
            last_io_errno: 0,
            last_io_error: String::new(),
            last_sql_errno: 0,
            last_sql_error: String::new(),
            source_log_file: "mysql-bin.000042".into(),
            read_source_log_pos: 4 + master_seq * 310,
            relay_source_log_file: "mysql-bin.000042".into(),
            exec_source_log_pos: 4 + master_seq.saturating_sub((lag * 50.0) as u64) * 310,
            gtid_mode: GtidMode::SlavePos,
            retrieved_gtid_set: String::new(),
            executed_gtid_set: String::new(),
            sql_delay: 0,
        };
        let mut applied = master_seq.saturating_sub((lag * 50.0) as u64);
        if s == script::BROKEN_SHARD && i == 2 && within(c, script::BROKEN_WINDOW) {
            link.sql_running = false;
            link.seconds_behind = None;
            link.last_sql_errno = 1062;
            link.last_sql_error = format!(
                "Could not execute Write_rows_v1 event on table social.following; Duplicate entry '{}-77' for key 'PRIMARY', Error_code: 1062",
                1000 + s
            );
            applied = self.questions(s, 0, script::BROKEN_WINDOW.0 + t - c) / 20;
        }
        if master_dead {
            if let Some(r) = status.semi_sync.as_mut().and_then(|ss| ss.replica.as_mut()) {
                r.active = false;
            }
            link.io_state = IoState::Connecting;
            link.seconds_behind = None;
            link.last_io_errno = 2003;
            link.last_io_error = format!(
                "error reconnecting to master 'repl@{}' - retry-time: 60  maximum-retries: 86400  message: Can't connect to server on '{}' (111)",
                self.addr(s, 0),
                self.addr(s, 0).host
            );
            applied = self.questions(s, 0, script::DEAD_WINDOW.0 + t - c) / 20;
        }
        if s == script::WRITABLE_SHARD && i == 2 && within(c, script::WRITABLE_WINDOW) {
            status.read_only = false;
        }
        if s == script::CHAINED_SHARD && i == 2 {
            link.source = self.addr(s, 1);
            link.source_server_id = Some((domain * 100 + 1) as u32);
        }
        if s == script::MISPOINTED_SHARD && i == 2 && within(c, script::MISPOINTED_WINDOW) {
            let other = script::MISPOINTED_SHARD - 1;
            link.source = self.addr(other, 0);
            link.source_server_id = Some(((other + 1) * 100) as u32);
        }
        let pos = format!("{domain}-{}-{applied},100-1-{global_seq}", domain * 100);
        status.gtid = GtidState {
            binlog_pos: Some(pos.clone()),
            current_pos: Some(pos.clone()),
            slave_pos: Some(pos),
            ..Default::default()
        };
        status.replication.push(link);
        Ok(status)
    }

    /// Probes for every instance, all reading one shared clock.
    pub fn probes(&self) -> Vec<(Slot, SimProbe)> {
        let world = Arc::new(World { fleet: self.clone(), start: Instant::now() });
        let mut out = Vec::new();
        for shard in 0..self.shards {
            for instance in 0..=self.replicas {
                out.push((Slot { shard, instance }, SimProbe { world: world.clone(), shard, instance }));
            }
        }
        out
    }
}

struct World {
    fleet: SimFleet,
    start: Instant,
}

/// One simulated server, as the poller sees it.
pub struct SimProbe {
    world: Arc<World>,
    shard: usize,
    instance: usize,
}

impl Probe for SimProbe {
    async fn probe(&mut self) -> Sample {
        let started = Instant::now();
        tokio::time::sleep(self.world.fleet.latency).await;
        let t = self.world.start.elapsed().as_secs_f64();
        let result = self.world.fleet.status_at(self.shard, self.instance, t);
        Sample { at: Utc::now(), elapsed: started.elapsed(), result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, Health, Limits};

    /// The surge is a spike the wall calls out: the fleet's request rate 1.5× its usual (the
    /// wall's QPS rule), all of it from the surging shard, and the counters never go back.
    #[test]
    fn the_traffic_surge_lifts_the_fleet_qps_by_half_from_one_shard() {
        let sim = SimFleet::default();
        let rate = |s: usize, t: f64| {
            (0..=sim.replicas).map(|i| sim.questions(s, i, t + 1.0) - sim.questions(s, i, t)).sum::<u64>() as f64
        };
        let fleet = |t: f64| (0..sim.shards).map(|s| rate(s, t)).sum::<f64>();
        let (before, during) = (CYCLE_SECS * 3.0 + 90.0, CYCLE_SECS * 3.0 + 105.0);
        assert!(fleet(during) >= 1.5 * fleet(before), "{} vs {}", fleet(during), fleet(before));
        let surge = script::SURGE_SHARD;
        // Every rate rides a ±30 % wave: the surge stands out of it, the other shards stay in it.
        assert!(rate(surge, during) > 3.0 * rate(surge, before));
        for s in (0..sim.shards).filter(|&s| s != surge) {
            assert!(rate(s, during) < 1.9 * rate(s, before), "shard {s} stays in its wave");
        }
        for t in (0..2000).map(|k| k as f64 * 0.37) {
            assert!(sim.questions(surge, 0, t + 0.37) >= sim.questions(surge, 0, t), "a counter never goes back ({t})");
        }
    }

    /// Feed the model every instance's state, as `status` gives it, at times `ts` and return it.
    pub(crate) fn feed_fleet(
        sim: &SimFleet,
        ts: &[f64],
        status: impl Fn(usize, usize, f64) -> Result<InstanceStatus, ProbeError>,
    ) -> Fleet {
        let mut fleet = Fleet::new(sim.layout(), Limits::default());
        let epoch = Utc::now();
        for &t in ts {
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let at = epoch + chrono::Duration::milliseconds((t * 1000.0) as i64);
                    fleet.apply(s, i, Sample { at, elapsed: Duration::from_millis(2), result: status(s, i, t) });
                }
            }
        }
        fleet
    }

    fn fleet_at(ts: &[f64]) -> Fleet {
        let sim = SimFleet::default();
        feed_fleet(&sim, ts, |s, i, t| sim.status_at(s, i, t))
    }

    fn rules(f: &Fleet, s: usize) -> Vec<&'static str> {
        f.shards[s].all_problems().map(|p| p.rule).collect()
    }

    #[test]
    fn starts_healthy_with_rates() {
        let f = fleet_at(&[1.0, 3.0]);
        let all: Vec<_> = (0..f.shards.len()).map(|s| rules(&f, s)).collect();
        assert_eq!(f.health(), Health::Ok, "{all:?}");
        for s in &f.shards {
            let q = s.qps().expect("rate after two samples");
            assert!(q > 1000.0 && q < 30000.0, "{} qps {q}", s.name);
        }
    }

    #[test]
    fn lag_spike_goes_warn_crit_and_back() {
        let s = script::LAG_SHARD;
        assert_eq!(fleet_at(&[20.0]).shards[s].health, Health::Warning);
        let f = fleet_at(&[45.0]);
        assert_eq!(f.shards[s].health, Health::Critical);
        assert!(f.shards[s].worst_lag().unwrap_or(0.0) > 90.0);
        assert_eq!(fleet_at(&[65.0]).shards[s].health, Health::Ok);
    }

    #[test]
    fn broken_replica_shows_duplicate_key_error() {
        let f = fleet_at(&[40.0]);
        let sh = &f.shards[script::BROKEN_SHARD];
        assert_eq!(sh.health, Health::Critical);
        let p = sh.all_problems().find(|p| p.rule == "sql_thread").expect("sql_thread problem");
        assert!(p.message.contains("Duplicate entry"), "{}", p.message);
        assert_eq!(sh.replicas_up(), 1);
    }

    #[test]
    fn dead_master_breaks_the_shard_and_comes_back() {
        // One failed probe is a suspicion; the second, with both replicas cut off, a dead master.
        let r = rules(&fleet_at(&[60.0]), script::DEAD_SHARD);
        assert!(r.contains(&"master_unreachable") && r.contains(&"io_thread"), "{r:?}");
        let f = fleet_at(&[58.0, 60.0]);
        let sh = &f.shards[script::DEAD_SHARD];
        let r = rules(&f, script::DEAD_SHARD);
        assert!(r.contains(&"master_dead") && r.contains(&"io_thread"), "{r:?}");
        assert!(sh.master_state.as_ref().is_some_and(|m| m.is_dead()), "{:?}", sh.master_state);
        assert_eq!(sh.replicas_up(), 0);
        assert_eq!(fleet_at(&[100.0]).shards[script::DEAD_SHARD].health, Health::Ok);
    }

    #[test]
    fn chained_shard_draws_its_leaf_under_the_relay_and_stays_healthy() {
        let f = fleet_at(&[5.0, 7.0]);
        let s = script::CHAINED_SHARD;
        assert_eq!(f.shards[s].health, Health::Ok, "{:?}", rules(&f, s));
        let rows = crate::fleet::topology::tree(&f.shards, s, &f.index, &f.limits, &[]);
        let depths: Vec<usize> = rows.iter().map(|r| r.depth).collect();
        // upstream, master, relay, leaf
        assert_eq!(depths, vec![0, 1, 2, 3]);
    }

    #[test]
    fn mispointed_replica_is_another_shards_problem_for_a_while() {
        let r = rules(&fleet_at(&[90.0]), script::MISPOINTED_SHARD);
        assert!(r.contains(&"other_shard_source"), "{r:?}");
        assert!(rules(&fleet_at(&[115.0]), script::MISPOINTED_SHARD).is_empty());
    }

    #[test]
    fn writable_replica_is_flagged() {
        let r = rules(&fleet_at(&[25.0]), script::WRITABLE_SHARD);
        assert_eq!(r, vec!["writable_replica"]);
        assert_eq!(fleet_at(&[25.0]).shards[script::WRITABLE_SHARD].health, Health::Warning);
    }
}
