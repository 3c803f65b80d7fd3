//! The model's verdict on a shard's master: its own failed probes, weighed with what its
//! replicas last said about their link to it, and when they said it.

use chrono::{DateTime, Utc};

use super::death::{self, MasterState};
use super::model::{Instance, Shard};
use super::status::InstanceStatus;
use super::topology::{self, Index};
use crate::mysql::Addr;

/// The verdict on shard `s`'s master: `death::master_state` over its consecutive failures and
/// what its reachable replicas last said about their link to it — if they said it late enough.
/// "Still connected" counts only when read after the master's first failed probe (right after a
/// SIGKILL a replica's previous reading still streams); "lost the link" counts when read after
/// the master's last answer. Until every replica of it has a reading that counts, the master
/// stays suspect, rather than passing through "hung or partitioned" on stale word.
pub(super) fn master_verdict(shards: &[Shard], s: usize, index: &Index) -> Option<MasterState> {
    let sh = shards.get(s)?;
    let master = sh.instances.first()?;
    if sh.metrics_only || master.last_probe.is_none() {
        return None;
    }
    if master.failures == 0 {
        return Some(MasterState::Up);
    }
    // A replica names its source as it was told (10.0.0.5 where the config says db5): a link
    // that resolves to the master is asked as if it named the master's address.
    let mut renamed: Vec<(usize, InstanceStatus)> = Vec::new();
    for (k, inst) in sh.instances.iter().enumerate().skip(1) {
        let Some(st) = inst.status.as_ref().filter(|_| inst.error.is_none() && !inst.gone) else { continue };
        let misnamed = |l: &super::status::ReplicationStatus| {
            l.source != master.addr && topology::resolve(sh, s, index, l) == topology::Source::Member(0)
        };
        if st.replication.iter().any(misnamed) {
            let mut st = st.clone();
            st.replication.iter_mut().filter(|l| misnamed(l)).for_each(|l| l.source = master.addr.clone());
            renamed.push((k, st));
        }
    }
    let read_after = |inst: &Instance, t: Option<DateTime<Utc>>| match (inst.last_ok, t) {
        (Some(read), Some(t)) => read >= t,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let mut pending = false;
    let replicas: Vec<(Addr, Option<&InstanceStatus>)> = sh
        .instances
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, inst)| !inst.gone)
        .map(|(k, inst)| {
            // A replica that does not answer cannot be asked; its last word may be stale.
            let status = match renamed.iter().find(|(r, _)| *r == k) {
                Some((_, st)) => Some(st),
                None => inst.status.as_ref().filter(|_| inst.error.is_none()),
            };
            let status = status.filter(|st| {
                let counts = match death::connected_to(st, &master.addr) {
                    None => true, // not its replica: not asked anyway
                    Some(true) => read_after(inst, master.down_since),
                    Some(false) => read_after(inst, master.last_ok),
                };
                pending |= !counts;
                counts
            });
            (inst.addr.clone(), status)
        })
        .collect();
    let verdict = death::master_state(&master.addr, master.failures, &replicas);
    match verdict {
        // Replicas that had lost their link to a master confirmed dead stream from it again: it
        // came back (a restart), and shardtop's next probe of it will say so. Until that probe,
        // "hung or partitioned" would be wrong (the soak saw it between a restart's "dead" and
        // "recovered"): the verdict stands. Probed after their word and still failing, it is hung.
        MasterState::Unreachable { ref connected, .. }
            if !connected.is_empty()
                && sh.master_state.as_ref().is_some_and(MasterState::is_dead)
                && !probed_after(master, sh.instances.iter().filter(|i| connected.contains(&i.addr))) =>
        {
            sh.master_state.clone()
        }
        // A fresh reading of a replica still streaming from it is enough to say so.
        MasterState::Unreachable { ref connected, .. } if !connected.is_empty() => Some(verdict),
        MasterState::Unreachable { failures, .. } | MasterState::Dead { failures, .. } if pending => {
            Some(MasterState::Suspect { failures })
        }
        _ => Some(verdict),
    }
}

/// Whether `master` was probed after the latest reading of every one of `replicas`.
fn probed_after<'a>(master: &Instance, replicas: impl Iterator<Item = &'a Instance>) -> bool {
    let newest = replicas.filter_map(|r| r.last_ok).max();
    match (master.last_probe, newest) {
        (Some(probed), Some(read)) => probed >= read,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}
