//! Finding servers the config does not name: the replicas a server lists in
//! `SHOW REPLICA HOSTS`, and the sources replicas report (a relay in a chain).
//! Followed to any depth, since every server found is probed and then looked
//! at in turn. Pure: the fleet model grows; the caller starts probing the new
//! instances.
//!
//! Binlog Dump threads in the processlist name a replica's host but not its
//! port, so they identify nobody; `topology::unidentified` shows them as such.

use super::health::Health;
use super::model::{Fleet, Instance, Role};
use super::news::Event;
use super::topology::{Source, resolve};
use crate::mysql::Addr;

/// A server found and added to the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub shard: usize,
    /// Its index in the shard's instances (appended: existing indices stay valid).
    pub instance: usize,
    pub addr: Addr,
    pub via: String,
}

impl Fleet {
    /// Adds a replica found at run time to shard `shard`; `None` if the
    /// address is already watched or the shard does not exist.
    pub fn add_instance(&mut self, shard: usize, addr: Addr, via: String) -> Option<usize> {
        if self.index.contains_key(&addr) || self.shards.iter().any(|s| s.upstream.as_ref() == Some(&addr)) {
            return None;
        }
        let sh = self.shards.get_mut(shard)?;
        let mut inst = Instance::new(addr.clone(), Role::Replica);
        inst.discovered_via = Some(via);
        sh.instances.push(inst);
        let i = sh.instances.len() - 1;
        self.index.insert(addr, (shard, i));
        self.judge(shard);
        Some(i)
    }

    /// What instance (`shard`, `instance`) points at that nobody watches yet, added to its shard.
    pub fn discover_from(&mut self, shard: usize, instance: usize) -> Vec<Found> {
        let mut found = Vec::new();
        for (addr, via) in self.candidates(shard, instance) {
            if let Some(i) = self.add_instance(shard, addr.clone(), via.clone()) {
                found.push(Found { shard, instance: i, addr, via });
            }
        }
        found
    }

    /// Discovered members of `shard` that went away — down, and no longer named
    /// by any member (replica list, or a replica's source) — stop being judged
    /// and drawn; one that answers again is back. Returns the events to log.
    pub fn vanished(&mut self, shard: usize) -> Vec<Event> {
        let Some(sh) = self.shards.get(shard) else { return Vec::new() };
        let named = |addr: &Addr| {
            sh.instances.iter().filter(|m| m.reachable()).any(|m| {
                let listed = m
                    .discovery
                    .as_ref()
                    .and_then(|(_, d)| d.replica_hosts.as_ref())
                    .is_some_and(|hosts| hosts.iter().any(|h| h.addr.as_ref() == Some(addr)));
                listed || m.status.as_ref().is_some_and(|s| s.replication.iter().any(|l| &l.source == addr))
            })
        };
        let mut changes = Vec::new();
        for (i, inst) in sh.instances.iter().enumerate() {
            if inst.discovered_via.is_none() {
                continue;
            }
            let down = inst.error.is_some();
            if !inst.gone && down && !named(&inst.addr) {
                changes.push((i, true));
            } else if inst.gone && !down && inst.status.is_some() {
                changes.push((i, false));
            }
        }
        let name = sh.name.clone();
        let mut events = Vec::new();
        for (i, gone) in changes {
            let inst = &mut self.shards[shard].instances[i];
            inst.gone = gone;
            let message = if gone {
                format!("{} vanished: it does not answer and no member names it any more", inst.addr)
            } else {
                format!("{} is back", inst.addr)
            };
            events.push(Event { shard: name.clone(), severity: Health::Ok, message, rule: "" });
        }
        if !events.is_empty() {
            self.judge(shard);
        }
        events
    }

    /// `discover_from` for every instance.
    pub fn discover_all(&mut self) -> Vec<Found> {
        let mut found = Vec::new();
        for s in 0..self.shards.len() {
            let mut i = 0;
            while i < self.shards[s].instances.len() {
                found.extend(self.discover_from(s, i));
                i += 1;
            }
        }
        found
    }

    /// Unwatched addresses instance (`s`, `i`) names, with how it named them.
    fn candidates(&self, s: usize, i: usize) -> Vec<(Addr, String)> {
        let Some(shard) = self.shards.get(s) else { return Vec::new() };
        let Some(inst) = shard.instances.get(i) else { return Vec::new() };
        let mut out: Vec<(Addr, String)> = Vec::new();
        // A replica's source: a relay the config left out. (The master's source is its upstream.)
        if i > 0 {
            for link in inst.status.iter().flat_map(|st| &st.replication) {
                if resolve(shard, s, &self.index, link) == Source::Unknown {
                    out.push((link.source.clone(), format!("source of {}", inst.addr)));
                }
            }
        }
        // Replicas registered with it, by report_host:report_port.
        let hosts = inst.discovery.as_ref().and_then(|(_, d)| d.replica_hosts.as_ref());
        for h in hosts.into_iter().flatten() {
            let Some(addr) = &h.addr else { continue };
            if self.index.contains_key(addr) {
                continue;
            }
            // Known under another name (a replica reporting its IP where the config has its host name)?
            let known_id =
                shard.instances.iter().any(|x| x.status.as_ref().is_some_and(|st| st.server_id == h.server_id));
            if !known_id {
                out.push((addr.clone(), format!("replica list of {}", inst.addr)));
            }
        }
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

impl Found {
    /// The line for the events pane.
    pub fn event(&self, fleet: &Fleet) -> Event {
        let shard = fleet.shards.get(self.shard).map(|s| s.name.clone()).unwrap_or_default();
        Event { shard, severity: Health::Ok, message: format!("discovered {} ({})", self.addr, self.via), rule: "" }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fleet::Limits;
    use crate::fleet::Shard;
    use crate::fleet::status::{Discovery, ReplicaHost, Sample};
    use crate::fleet::test_support::{link, master_status, replica_status};

    fn a(host: &str) -> Addr {
        Addr::new(host, 3306)
    }

    fn sample(status: crate::fleet::status::InstanceStatus) -> Sample {
        Sample { at: chrono::Utc::now(), elapsed: Duration::from_millis(1), result: Ok(status) }
    }

    fn with_hosts(
        mut st: crate::fleet::status::InstanceStatus,
        hosts: &[(&str, u32)],
    ) -> crate::fleet::status::InstanceStatus {
        st.topo.discovery = Some(Discovery {
            replica_hosts: Some(hosts.iter().map(|(h, id)| ReplicaHost { server_id: *id, addr: Some(a(h)) }).collect()),
            dump_hosts: hosts.iter().map(|(h, _)| h.to_string()).collect(),
        });
        st
    }

    #[test]
    fn master_only_config_finds_a_chain_to_any_depth() {
        let mut f = Fleet::new(vec![Shard::new("s1", a("m"), [], None)], Limits::default());
        f.apply(0, 0, sample(with_hosts(master_status(), &[("relay", 2)])));
        let found = f.discover_from(0, 0);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].instance, &found[0].addr, found[0].via.as_str()),
            (1, &a("relay"), "replica list of m:3306")
        );
        assert_eq!(f.shards[0].instances[1].discovered_via.as_deref(), Some("replica list of m:3306"));
        // The relay, once probed, lists the leaf.
        let mut relay = with_hosts(replica_status(Some(0)), &[("leaf", 3)]);
        relay.replication[0] = link(a("m"), Some(0));
        f.apply(0, 1, sample(relay));
        let found = f.discover_from(0, 1);
        assert_eq!(found.iter().map(|x| (x.instance, x.addr.host.as_str())).collect::<Vec<_>>(), vec![(2, "leaf")]);
        // Nothing new the second time round.
        assert!(f.discover_all().is_empty());
        assert_eq!(f.index.get(&a("leaf")), Some(&(0, 2)));
    }

    #[test]
    fn a_replicas_unlisted_source_is_found() {
        let mut f = Fleet::new(vec![Shard::new("s1", a("m"), [a("leaf")], None)], Limits::default());
        let mut leaf = replica_status(Some(0));
        leaf.replication[0] = link(a("relay"), Some(0));
        f.apply(0, 1, sample(leaf));
        assert!(f.shards[0].all_problems().any(|p| p.rule == "wrong_source"));
        let found = f.discover_from(0, 1);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].via, "source of leaf:3306");
        // Now a member: the leaf's source is no longer a stranger.
        assert!(!f.shards[0].all_problems().any(|p| p.rule == "wrong_source"));
    }

    #[test]
    fn known_servers_and_upstreams_are_not_added_twice() {
        let s1 = Shard::new("s1", a("m"), [a("r1")], Some(a("global")));
        let s2 = Shard::new("s2", a("m2"), [], None);
        let mut f = Fleet::new(vec![s1, s2], Limits::default());
        // m2 lists r1 (it moved there) and the global master lists... itself, as a stand-in for a loop.
        f.apply(1, 0, sample(with_hosts(master_status(), &[("r1", 2), ("global", 9)])));
        assert!(f.discover_from(1, 0).is_empty());
        assert_eq!(f.instance_count(), 3);
        // A server known by id under another name is not added either.
        let mut r1 = replica_status(Some(0));
        r1.server_id = 7;
        f.apply(0, 1, sample(r1));
        f.apply(0, 0, sample(with_hosts(master_status(), &[("10.0.0.7", 7)])));
        assert!(f.discover_from(0, 0).is_empty());
    }

    #[test]
    fn a_discovered_server_that_leaves_vanishes_and_can_come_back() {
        let mut f = Fleet::new(vec![Shard::new("s1", a("m"), [], None)], Limits::default());
        f.apply(0, 0, sample(with_hosts(master_status(), &[("r", 2)])));
        f.discover_from(0, 0);
        f.apply(0, 1, sample(replica_status(Some(0))));
        assert!(f.vanished(0).is_empty(), "up and listed");
        // It is taken away: down, and the master's list no longer has it.
        let down = crate::fleet::status::ProbeError {
            kind: crate::fleet::status::ProbeErrorKind::Refused,
            message: "refused".into(),
        };
        f.apply(0, 1, Sample { at: chrono::Utc::now(), elapsed: Duration::from_millis(1), result: Err(down.clone()) });
        assert!(f.vanished(0).is_empty(), "still listed by the master: an outage, not a departure");
        assert_eq!(f.shards[0].health, Health::Critical);
        f.apply(0, 0, sample(with_hosts(master_status(), &[])));
        let ev = f.vanished(0);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].message, "r:3306 vanished: it does not answer and no member names it any more");
        assert!(f.shards[0].instances[1].gone);
        assert_eq!(f.shards[0].health, Health::Ok, "a departed server is not an outage");
        assert!(f.vanished(0).is_empty(), "said once");
        f.apply(0, 1, sample(replica_status(Some(0))));
        assert_eq!(f.vanished(0)[0].message, "r:3306 is back");
        assert!(!f.shards[0].instances[1].gone);
    }

    #[test]
    fn discovery_is_kept_between_probes() {
        let mut f = Fleet::new(vec![Shard::new("s1", a("m"), [], None)], Limits::default());
        f.apply(0, 0, sample(with_hosts(master_status(), &[("r", 2)])));
        f.apply(0, 0, sample(master_status()));
        let d = f.shards[0].instances[0].discovery.as_ref().map(|(_, d)| d.dump_hosts.clone());
        assert_eq!(d, Some(vec!["r".to_string()]));
        assert_eq!(f.discover_from(0, 0).len(), 1);
    }
}
