//! Is the master dead, or only unreachable from here? Pure.
//!
//! A master shardtop cannot reach may be dead, hung (SIGSTOPped, swapping), or
//! behind a partition between shardtop and it. Only the first may be failed
//! over without asking: a hung or partitioned master still holds its replicas'
//! connections and may still take writes. As orchestrator does, the verdict is
//! holistic: the master must have failed at least `CONFIRM_PROBES` probes in a
//! row **and** every replica shardtop can reach must say its link to the master
//! is down (IO thread not running, or reconnecting).

use serde::Serialize;

use super::status::{InstanceStatus, IoState};
use crate::mysql::Addr;

/// Consecutive failed probes before a master can be called dead.
pub const CONFIRM_PROBES: u32 = 2;

/// What shardtop can say about a shard's master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MasterState {
    /// The last probe answered.
    Up,
    /// Unreachable from shardtop, but not yet for `CONFIRM_PROBES` probes in a row.
    Suspect { failures: u32 },
    /// Unreachable from shardtop, and not confirmed dead: `connected` replicas still stream
    /// from it (hung or partitioned), or no replica could be asked (`asked` = 0).
    Unreachable { failures: u32, connected: Vec<Addr>, asked: usize },
    /// Unreachable from shardtop and from every replica that could be asked.
    Dead { failures: u32, asked: usize },
}

impl MasterState {
    pub fn is_dead(&self) -> bool {
        matches!(self, MasterState::Dead { .. })
    }

    /// In words, for the overview, the detail view, events and refusals.
    pub fn describe(&self) -> String {
        match self {
            MasterState::Up => "master up".into(),
            MasterState::Suspect { failures } => {
                format!("master unreachable ({failures} failed probe{}), not yet confirmed", plural(*failures))
            }
            MasterState::Unreachable { connected, .. } if !connected.is_empty() => format!(
                "master unreachable, {} replica{} still connected: hung or partitioned, not confirmed dead",
                connected.len(),
                plural(connected.len() as u32)
            ),
            MasterState::Unreachable { .. } => {
                "master unreachable and no replica reachable to confirm it: not confirmed dead".into()
            }
            MasterState::Dead { asked, .. } => format!(
                "master dead: unreachable, and {asked} replica{} lost {}",
                plural(*asked as u32),
                if *asked == 1 { "its link" } else { "their links" }
            ),
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Does this replica still stream from `master`? `None`: it does not replicate from it.
pub fn connected_to(status: &InstanceStatus, master: &Addr) -> Option<bool> {
    let link = status.replication.iter().find(|l| &l.source == master)?;
    Some(link.io_state == IoState::Running && link.last_io_errno == 0)
}

/// The verdict on `master`, which failed its last `failures` probes in a row (0 when the last
/// one answered), from what its replicas said: `(address, status)` with `None` for a replica
/// shardtop could not read. Replicas of other sources are ignored.
pub fn master_state(master: &Addr, failures: u32, replicas: &[(Addr, Option<&InstanceStatus>)]) -> MasterState {
    if failures == 0 {
        return MasterState::Up;
    }
    if failures < CONFIRM_PROBES {
        return MasterState::Suspect { failures };
    }
    let mut asked = 0;
    let mut connected = Vec::new();
    for (addr, status) in replicas {
        let Some(s) = status else { continue };
        match connected_to(s, master) {
            Some(true) => {
                asked += 1;
                connected.push(addr.clone());
            }
            Some(false) => asked += 1,
            None => {}
        }
    }
    if asked == 0 || !connected.is_empty() {
        MasterState::Unreachable { failures, connected, asked }
    } else {
        MasterState::Dead { failures, asked }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::test_support::replica_status;

    fn master() -> Addr {
        Addr::new("master", 3306)
    }

    /// A replica of `master` whose IO thread is in `io` (with `errno` as its last IO error).
    fn replica(io: IoState, errno: u32) -> InstanceStatus {
        let mut s = replica_status(Some(0));
        s.replication[0].io_state = io;
        s.replication[0].last_io_errno = errno;
        s
    }

    #[test]
    fn one_failed_probe_is_only_a_suspicion() {
        let r = replica(IoState::Connecting, 2003);
        let v = master_state(&master(), 1, &[(Addr::new("r1", 3306), Some(&r))]);
        assert_eq!(v, MasterState::Suspect { failures: 1 });
        assert!(!v.is_dead());
        assert_eq!(master_state(&master(), 0, &[]), MasterState::Up);
    }

    #[test]
    fn dead_when_every_reachable_replica_lost_its_link() {
        let (a, b) = (replica(IoState::Connecting, 2013), replica(IoState::Stopped, 0));
        let v = master_state(
            &master(),
            2,
            &[(Addr::new("r1", 3306), Some(&a)), (Addr::new("r2", 3306), Some(&b)), (Addr::new("r3", 3306), None)],
        );
        assert_eq!(v, MasterState::Dead { failures: 2, asked: 2 });
        assert_eq!(v.describe(), "master dead: unreachable, and 2 replicas lost their links");
    }

    #[test]
    fn a_replica_still_streaming_means_hung_or_partitioned() {
        let (up, down) = (replica(IoState::Running, 0), replica(IoState::Connecting, 2003));
        let v = master_state(&master(), 3, &[(Addr::new("r1", 3306), Some(&up)), (Addr::new("r2", 3306), Some(&down))]);
        assert_eq!(v, MasterState::Unreachable { failures: 3, connected: vec![Addr::new("r1", 3306)], asked: 2 });
        assert_eq!(
            v.describe(),
            "master unreachable, 1 replica still connected: hung or partitioned, not confirmed dead"
        );
        // An IO thread that says Running but reports a connect error is reconnecting, not connected.
        let retrying = replica(IoState::Running, 2003);
        let v = master_state(&master(), 2, &[(Addr::new("r1", 3306), Some(&retrying))]);
        assert!(v.is_dead(), "{v:?}");
    }

    #[test]
    fn nobody_to_ask_is_not_a_confirmation() {
        let mut other = replica(IoState::Connecting, 2003);
        other.replication[0].source = Addr::new("elsewhere", 3306);
        let v = master_state(&master(), 5, &[(Addr::new("r1", 3306), None), (Addr::new("r2", 3306), Some(&other))]);
        assert_eq!(v, MasterState::Unreachable { failures: 5, connected: vec![], asked: 0 });
        assert!(v.describe().contains("no replica reachable to confirm"), "{}", v.describe());
    }
}
