//! Fleet-wide incidents for simulated fleets larger than the scripted eight:
//! what a thousand shards look like on a bad day. The first eight shards keep
//! the demo's script ([`super::script`]); beyond them each incident hits a
//! fixed share of the shards at once, so the overview has groups to sum up
//! ("40 shards: IO thread not running"), and the problems-only view and the
//! jumps to the next problem have something to do. Like
//! [`SimFleet::status_at`], a pure function of shard, instance and time.
//!
//! Only `demo` and the UI's tests and benchmarks use this; the wire
//! simulator and the poller benchmarks keep the plain script.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{CYCLE_SECS, SimFleet, within};
use crate::fleet::status::{InstanceStatus, IoState, ProbeError, ProbeErrorKind, Sample};
use crate::poll::{Probe, Slot};

/// Which shards an incident hits (`s % every == at`, from the ninth shard
/// on) and when, within each cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub every: usize,
    pub at: usize,
    pub window: (f64, f64),
}

/// The shards the script plays on; the spread incidents leave them alone.
pub const SCRIPTED: usize = 8;

impl Spread {
    pub fn hits(&self, s: usize, t: f64) -> bool {
        s >= SCRIPTED && s % self.every == self.at && within(t.rem_euclid(CYCLE_SECS), self.window)
    }
}

/// A rack loses its link to the masters: replica b's IO thread keeps reconnecting.
pub const IO_OUTAGE: Spread = Spread { every: 25, at: 9, window: (20.0, 100.0) };
/// A batch job: replica c falls 20–70 s behind.
pub const LAGGING: Spread = Spread { every: 40, at: 13, window: (10.0, 110.0) };
/// Replica c's SQL thread stops on a duplicate key.
pub const SQL_STOPPED: Spread = Spread { every: 97, at: 40, window: (40.0, 90.0) };
/// The master dies; its replicas lose their IO link.
pub const MASTER_DOWN: Spread = Spread { every: 150, at: 77, window: (55.0, 95.0) };

/// What instance `i` of shard `s` reports `t` seconds in: the script's state,
/// with the fleet-wide incidents on top.
pub fn status_at(sim: &SimFleet, s: usize, i: usize, t: f64) -> Result<InstanceStatus, ProbeError> {
    let master = sim.addr(s, 0);
    if i == 0 && MASTER_DOWN.hits(s, t) {
        return Err(ProbeError {
            kind: ProbeErrorKind::Refused,
            message: format!("connect to {master}: connection refused"),
        });
    }
    let mut status = sim.status_at(s, i, t)?;
    let cut_off = (i == 1 && IO_OUTAGE.hits(s, t)) || MASTER_DOWN.hits(s, t);
    // A replica that lost its link acknowledges nothing, and its master counts one client less.
    let semi_sync = status.semi_sync.as_mut();
    if let Some(m) = semi_sync.and_then(|ss| ss.master.as_mut()).filter(|_| i == 0 && IO_OUTAGE.hits(s, t)) {
        m.clients = m.clients.saturating_sub(1);
    }
    if let Some(r) = status.semi_sync.as_mut().and_then(|ss| ss.replica.as_mut()).filter(|_| cut_off) {
        r.active = false;
    }
    let Some(link) = status.replication.first_mut().filter(|_| i > 0) else { return Ok(status) };
    if cut_off {
        link.io_state = IoState::Connecting;
        link.seconds_behind = None;
        link.last_io_errno = 2003;
        link.last_io_error = format!(
            "error reconnecting to master 'repl@{master}' - retry-time: 60  maximum-retries: 86400  message: \
             Can't connect to server on '{}' (110)",
            master.host
        );
    }
    if i == 2 && LAGGING.hits(s, t) && link.io_state == IoState::Running {
        let lag = 45.0 + 25.0 * (t / 9.0 + s as f64).sin();
        link.seconds_behind = Some(lag.round() as u64);
    }
    if i == 2 && SQL_STOPPED.hits(s, t) {
        link.sql_running = false;
        link.seconds_behind = None;
        link.last_sql_errno = 1062;
        link.last_sql_error = format!(
            "Could not execute Write_rows_v1 event on table social.photos; Duplicate entry '{}-3' for key 'PRIMARY', \
             Error_code: 1062",
            7000 + s
        );
    }
    Ok(status)
}

/// Probes for every instance of `sim`, answering from [`status_at`], all on one clock.
pub fn probes(sim: &SimFleet) -> Vec<(Slot, ScaleProbe)> {
    let world = Arc::new((sim.clone(), Instant::now()));
    let mut out = Vec::new();
    for shard in 0..sim.shards {
        for instance in 0..=sim.replicas {
            out.push((Slot { shard, instance }, ScaleProbe { world: world.clone(), shard, instance }));
        }
    }
    out
}

/// One simulated server of a large fleet, as the poller sees it.
pub struct ScaleProbe {
    world: Arc<(SimFleet, Instant)>,
    shard: usize,
    instance: usize,
}

impl Probe for ScaleProbe {
    async fn probe(&mut self) -> Sample {
        let started = Instant::now();
        let (sim, start) = &*self.world;
        tokio::time::sleep(sim.latency.min(Duration::from_secs(1))).await;
        let result = status_at(sim, self.shard, self.instance, start.elapsed().as_secs_f64());
        Sample { at: Utc::now(), elapsed: started.elapsed(), result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, Health};

    fn fleet_at(shards: usize, ts: &[f64]) -> Fleet {
        let sim = SimFleet { shards, ..SimFleet::default() };
        crate::sim::tests::feed_fleet(&sim, ts, |s, i, t| status_at(&sim, s, i, t))
    }

    #[test]
    fn the_scripted_eight_are_untouched() {
        let sim = SimFleet::default();
        for s in 0..sim.shards {
            for i in 0..=sim.replicas {
                for t in [0.0, 30.0, 60.0, 90.0] {
                    assert_eq!(
                        format!("{:?}", status_at(&sim, s, i, t)),
                        format!("{:?}", sim.status_at(s, i, t)),
                        "shard {s} instance {i} at {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_incident_hits_its_share_of_a_large_fleet() {
        let f = fleet_at(1000, &[58.0, 60.0]);
        let with = |rule: &str| f.shards.iter().filter(|s| s.all_problems().any(|p| p.rule == rule)).count();
        // 40 IO outages, plus the dead masters' replicas, plus the script's dead master.
        assert_eq!(with("io_thread"), 40 + 7 + 1);
        assert_eq!(with("sql_thread"), 10 + 1);
        assert_eq!(with("lag"), 25);
        assert_eq!(f.shards.iter().filter(|s| s.master().error.is_some()).count(), 7 + 1);
        // Between the windows the large fleet is healthy again, bar the script.
        let f = fleet_at(1000, &[113.0, 115.0]);
        assert!(f.shards[8..].iter().all(|s| s.health == Health::Ok));
    }
}
