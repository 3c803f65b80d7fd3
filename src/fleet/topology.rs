//! The replication graph: who replicates from whom, and in what state. Pure:
//! built from what the instances report about their sources, never from the
//! config's idea of who should replicate from whom.

use std::collections::HashMap;

use serde::Serialize;

use super::health::{Health, Limits, lag_seconds};
use super::model::{Instance, Shard};
use super::status::{IoState, ReplicationStatus};
use crate::mysql::Addr;

/// Where every watched server is: address → (shard index, instance index).
pub type Index = HashMap<Addr, (usize, usize)>;

/// State of one replication link, worst first when several apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Both threads run and lag is under the warning threshold.
    Streaming,
    /// Both threads run; lag at or over the warning threshold.
    Lagging,
    /// The IO thread is trying to reach its source.
    Connecting,
    /// The IO thread is stopped.
    IoStopped,
    /// The SQL thread is stopped (an error, or by hand).
    SqlStopped,
    /// The replica does not answer: its last known link is shown.
    Unknown,
}

impl LinkState {
    pub fn of(inst: &Instance, link: &ReplicationStatus, limits: &Limits) -> LinkState {
        if inst.error.is_some() {
            return LinkState::Unknown;
        }
        if !link.sql_running {
            return LinkState::SqlStopped;
        }
        match link.io_state {
            IoState::Stopped => return LinkState::IoStopped,
            IoState::Connecting => return LinkState::Connecting,
            IoState::Running => {}
        }
        let lag = inst.status.as_ref().and_then(|s| lag_seconds(s, link));
        match lag {
            Some(l) if l >= limits.lag_warn.as_secs_f64() => LinkState::Lagging,
            _ => LinkState::Streaming,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LinkState::Streaming => "streaming",
            LinkState::Lagging => "lagging",
            LinkState::Connecting => "IO connecting",
            LinkState::IoStopped => "IO stopped",
            LinkState::SqlStopped => "SQL stopped",
            LinkState::Unknown => "unknown",
        }
    }

    /// The colour a link is drawn in.
    pub fn health(self) -> Health {
        match self {
            LinkState::Streaming => Health::Ok,
            LinkState::Lagging => Health::Warning,
            LinkState::Unknown => Health::Unknown,
            _ => Health::Critical,
        }
    }
}

/// What a replication source turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An instance of the same shard (index into `Shard::instances`).
    Member(usize),
    /// The shard's declared upstream.
    Upstream,
    /// An instance of another shard.
    OtherShard { shard: usize, instance: usize },
    /// Nobody shardtop watches.
    Unknown,
}

/// Finds the server a link points at: by address first, then — since a
/// replica names its source as it was told (`10.0.0.5` where the config says
/// `db5.example`) — by the source's server id among the shard's members.
pub fn resolve(shard: &Shard, me: usize, index: &Index, link: &ReplicationStatus) -> Source {
    if let Some(i) = shard.instances.iter().position(|i| i.addr == link.source) {
        return Source::Member(i);
    }
    if shard.upstream.as_ref() == Some(&link.source) {
        return Source::Upstream;
    }
    if let Some(&(s, i)) = index.get(&link.source).filter(|(s, _)| *s != me) {
        return Source::OtherShard { shard: s, instance: i };
    }
    if let Some(id) = link.source_server_id {
        let mut matches =
            shard.instances.iter().enumerate().filter(|(_, i)| i.status.as_ref().is_some_and(|s| s.server_id == id));
        if let (Some((i, _)), None) = (matches.next(), matches.next()) {
            return Source::Member(i);
        }
    }
    Source::Unknown
}

/// One edge source → replica, for the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    pub source: Addr,
    pub replica: Addr,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    pub state: LinkState,
    pub lag_seconds: Option<f64>,
    /// `member`, `upstream`, `other_shard` or `unknown`.
    pub source_kind: &'static str,
    /// The shard the source belongs to, when it is another shard's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_shard: Option<String>,
}

/// Every replication link of a shard's members, as they report them.
pub fn edges(shards: &[Shard], me: usize, index: &Index, limits: &Limits) -> Vec<Edge> {
    let Some(shard) = shards.get(me) else { return Vec::new() };
    let mut out = Vec::new();
    for inst in &shard.instances {
        let Some(status) = &inst.status else { continue };
        for link in &status.replication {
            let (kind, other) = match resolve(shard, me, index, link) {
                Source::Member(_) => ("member", None),
                Source::Upstream => ("upstream", None),
                Source::OtherShard { shard, .. } => ("other_shard", shards.get(shard).map(|s| s.name.clone())),
                Source::Unknown => ("unknown", None),
            };
            out.push(Edge {
                source: link.source.clone(),
                replica: inst.addr.clone(),
                channel: link.channel.clone(),
                state: LinkState::of(inst, link, limits),
                lag_seconds: lag_seconds(status, link),
                source_kind: kind,
                source_shard: other,
            });
        }
    }
    out
}

/// Binlog clients of one member that shardtop cannot name: a Binlog Dump
/// thread shows the replica's host but not its server port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unidentified {
    /// The member they replicate from.
    pub source: Addr,
    pub host: String,
    pub count: usize,
}

/// For each member with a recent discovery, the dump threads left over once
/// every watched server replicating from it (in any shard) is accounted for,
/// per host. `pointers` counts, per source address, the watched servers whose
/// link points at it, by host.
pub fn unidentified(shard: &Shard, pointers: &HashMap<Addr, HashMap<String, usize>>) -> Vec<Unidentified> {
    let mut out = Vec::new();
    for inst in &shard.instances {
        if inst.error.is_some() {
            continue;
        }
        let Some((_, d)) = &inst.discovery else { continue };
        let mut dumps: Vec<(String, usize)> = Vec::new();
        for h in &d.dump_hosts {
            match dumps.iter_mut().find(|(x, _)| x == h) {
                Some((_, n)) => *n += 1,
                None => dumps.push((h.clone(), 1)),
            }
        }
        let known = pointers.get(&inst.addr);
        let mut unmatched_known: usize = 0;
        let mut left: Vec<(String, usize)> = Vec::new();
        for (host, n) in dumps {
            let k = known.and_then(|m| m.get(&host)).copied().unwrap_or(0);
            if n > k {
                left.push((host, n - k));
            }
        }
        // Watched replicas whose host is spelt differently (a name where the processlist shows an IP)
        // still account for one dump thread each.
        if let Some(m) = known {
            let d_hosts = &d.dump_hosts;
            unmatched_known = m.iter().filter(|(h, _)| !d_hosts.contains(h)).map(|(_, n)| n).sum();
        }
        for (host, mut n) in left {
            let used = unmatched_known.min(n);
            n -= used;
            unmatched_known -= used;
            if n > 0 {
                out.push(Unidentified { source: inst.addr.clone(), host, count: n });
            }
        }
    }
    out
}

/// Per source address: how many watched servers replicate from it, by their host.
pub fn pointers(shards: &[Shard]) -> HashMap<Addr, HashMap<String, usize>> {
    let mut out: HashMap<Addr, HashMap<String, usize>> = HashMap::new();
    for inst in shards.iter().flat_map(|s| s.instances.iter()) {
        let Some(status) = &inst.status else { continue };
        for link in &status.replication {
            *out.entry(link.source.clone()).or_default().entry(inst.addr.host.clone()).or_default() += 1;
        }
    }
    out
}

/// One line of the drawn tree.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// The shard's upstream (declared, or found as its master's source).
    Upstream { addr: Addr, declared: bool },
    /// A source outside the shard: another shard's server, or nobody watched.
    Foreign { addr: Addr, shard: Option<String> },
    /// A member (index into `Shard::instances`).
    Instance(usize),
    /// Binlog clients known by host only.
    Unidentified { host: String, count: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub struct TreeRow {
    pub depth: usize,
    pub kind: NodeKind,
    /// The state of the link to the parent row, when this row replicates from it.
    pub link: Option<LinkState>,
    /// For box drawing: whether this row and each of its ancestors is the last of its siblings.
    pub last: Vec<bool>,
}

/// The shard as a forest, roots first: the upstream with the master below it
/// (or the master alone), then members attached to something outside the
/// shard under that foreign source, then members with no link at all.
/// Chained replicas sit under the member they replicate from. Cycles (two
/// members replicating from each other) are cut where they close.
pub fn tree(shards: &[Shard], me: usize, index: &Index, limits: &Limits, unknown: &[Unidentified]) -> Vec<TreeRow> {
    let Some(shard) = shards.get(me) else { return Vec::new() };
    let n = shard.instances.len();
    // parent[i]: the member i replicates from (primary link), if any.
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut outside: Vec<Option<(Source, Addr)>> = vec![None; n];
    let mut link_state: Vec<Option<LinkState>> = vec![None; n];
    for (i, inst) in shard.instances.iter().enumerate() {
        let Some(link) = inst.status.as_ref().and_then(|s| s.primary_link()) else { continue };
        link_state[i] = Some(LinkState::of(inst, link, limits));
        match resolve(shard, me, index, link) {
            Source::Member(j) if j != i => parent[i] = Some(j),
            Source::Member(_) => outside[i] = Some((Source::Unknown, link.source.clone())),
            other => outside[i] = Some((other, link.source.clone())),
        }
    }
    // The declared master is always a root: if it replicates from a member, that edge closes a cycle.
    if n > 0 {
        parent[0] = None;
    }
    let children = |p: usize| -> Vec<usize> { (0..n).filter(|&i| parent[i] == Some(p)).collect() };

    struct Walk<'a> {
        rows: Vec<TreeRow>,
        seen: Vec<bool>,
        unknown: &'a [Unidentified],
        shard: &'a Shard,
    }
    fn walk(
        w: &mut Walk,
        i: usize,
        depth: usize,
        last: Vec<bool>,
        link: Option<LinkState>,
        kids: &dyn Fn(usize) -> Vec<usize>,
        states: &[Option<LinkState>],
    ) {
        if w.seen[i] {
            return;
        }
        w.seen[i] = true;
        w.rows.push(TreeRow { depth, kind: NodeKind::Instance(i), link, last: last.clone() });
        let ks: Vec<usize> = kids(i).into_iter().filter(|&k| !w.seen[k]).collect();
        let addr = &w.shard.instances[i].addr;
        let extra: Vec<&Unidentified> = w.unknown.iter().filter(|u| &u.source == addr).collect();
        let total = ks.len() + extra.len();
        for (pos, &k) in ks.iter().enumerate() {
            let mut l = last.clone();
            l.push(pos + 1 == total);
            walk(w, k, depth + 1, l, states[k], kids, states);
        }
        for (pos, u) in extra.iter().enumerate() {
            let mut l = last.clone();
            l.push(ks.len() + pos + 1 == total);
            w.rows.push(TreeRow {
                depth: depth + 1,
                kind: NodeKind::Unidentified { host: u.host.clone(), count: u.count },
                link: None,
                last: l,
            });
        }
    }
    // Servers that went away are not drawn.
    let mut w = Walk { rows: Vec::new(), seen: shard.instances.iter().map(|i| i.gone).collect(), unknown, shard };
    if n == 0 {
        return w.rows;
    }
    // The master, under its upstream when it has one.
    let master_up = match &outside[0] {
        Some((Source::Upstream, a)) => Some((a.clone(), true)),
        Some((_, a)) => Some((a.clone(), false)),
        None => shard.upstream.clone().map(|a| (a, true)),
    };
    match master_up {
        Some((addr, declared)) => {
            let declared = declared && shard.upstream.as_ref() == Some(&addr);
            w.rows.push(TreeRow {
                depth: 0,
                kind: NodeKind::Upstream { addr, declared },
                link: None,
                last: vec![true],
            });
            walk(&mut w, 0, 1, vec![true, true], link_state[0], &children, &link_state);
        }
        None => walk(&mut w, 0, 0, vec![true], None, &children, &link_state),
    }
    // Members hanging off something outside the shard, grouped by that source.
    let mut foreign: Vec<(Addr, Option<String>, Vec<usize>)> = Vec::new();
    for i in 1..n {
        if w.seen[i] || parent[i].is_some() {
            continue;
        }
        if let Some((src, addr)) = &outside[i] {
            let shard_name = match src {
                Source::OtherShard { shard, .. } => shards.get(*shard).map(|s| s.name.clone()),
                _ => None,
            };
            match foreign.iter_mut().find(|(a, _, _)| a == addr) {
                Some((_, _, v)) => v.push(i),
                None => foreign.push((addr.clone(), shard_name, vec![i])),
            }
        }
    }
    for (addr, shard_name, members) in foreign {
        w.rows.push(TreeRow {
            depth: 0,
            kind: NodeKind::Foreign { addr, shard: shard_name },
            link: None,
            last: vec![true],
        });
        let count = members.len();
        for (pos, i) in members.into_iter().enumerate() {
            walk(&mut w, i, 1, vec![true, pos + 1 == count], link_state[i], &children, &link_state);
        }
    }
    // Whatever is left: not polled yet, not replicating, or in a cycle that excludes the master.
    for i in 0..n {
        if !w.seen[i] {
            walk(&mut w, i, 0, vec![true], None, &children, &link_state);
        }
    }
    w.rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::status::Discovery;
    use crate::fleet::test_support::{link, master_status, replica_status};
    use crate::fleet::{Fleet, Role};

    fn a(host: &str) -> Addr {
        Addr::new(host, 3306)
    }

    /// A shard whose instances report the given sources (None: the master, not replicating).
    fn shard(name: &str, members: &[(&str, Option<&str>)]) -> Shard {
        let mut s = Shard::new(name, a(members[0].0), members[1..].iter().map(|m| a(m.0)), None);
        for (inst, (_, src)) in s.instances.iter_mut().zip(members) {
            let mut st = match src {
                None => master_status(),
                Some(src) => {
                    let mut r = replica_status(Some(0));
                    r.replication[0] = link(a(src), Some(0));
                    r
                }
            };
            st.server_id =
                (inst.addr.host.len() * 7 + inst.addr.host.bytes().map(u32::from).sum::<u32>() as usize) as u32;
            inst.status = Some(st);
        }
        s
    }

    fn index(shards: &[Shard]) -> Index {
        Fleet::new(shards.to_vec(), Limits::default()).index
    }

    fn kinds(rows: &[TreeRow], s: &Shard) -> Vec<(usize, String)> {
        rows.iter()
            .map(|r| {
                let what = match &r.kind {
                    NodeKind::Upstream { addr, .. } => format!("up {addr}"),
                    NodeKind::Foreign { addr, shard } => format!("foreign {addr} {shard:?}"),
                    NodeKind::Instance(i) => s.instances[*i].addr.host.clone(),
                    NodeKind::Unidentified { host, count } => format!("{count}x{host}"),
                };
                (r.depth, what)
            })
            .collect()
    }

    #[test]
    fn chained_replica_sits_under_its_relay() {
        let s = shard("s1", &[("m", None), ("relay", Some("m")), ("leaf", Some("relay")), ("r2", Some("m"))]);
        let shards = vec![s];
        let rows = tree(&shards, 0, &index(&shards), &Limits::default(), &[]);
        let got = kinds(&rows, &shards[0]);
        assert_eq!(got, vec![(0, "m".into()), (1, "relay".into()), (2, "leaf".into()), (1, "r2".into())]);
        assert_eq!(rows[1].last, vec![true, false]);
        assert_eq!(rows[2].last, vec![true, false, true]);
        assert_eq!(rows[3].last, vec![true, true]);
        assert_eq!(rows[2].link, Some(LinkState::Streaming));
    }

    #[test]
    fn replica_of_another_shard_hangs_under_that_shards_master() {
        let s1 = shard("s1", &[("m1", None), ("r1", Some("m1"))]);
        let s2 = shard("s2", &[("m2", None), ("x", Some("m1")), ("r2", Some("m2"))]);
        let shards = vec![s1, s2];
        let idx = index(&shards);
        let rows = tree(&shards, 1, &idx, &Limits::default(), &[]);
        assert_eq!(
            kinds(&rows, &shards[1]),
            vec![(0, "m2".into()), (1, "r2".into()), (0, "foreign m1:3306 Some(\"s1\")".into()), (1, "x".into())]
        );
        let e = edges(&shards, 1, &idx, &Limits::default());
        let x = e.iter().find(|e| e.replica == a("x")).expect("edge");
        assert_eq!((x.source_kind, x.source_shard.as_deref()), ("other_shard", Some("s1")));
    }

    #[test]
    fn upstream_is_drawn_above_the_master() {
        let mut s = shard("s1", &[("m", Some("global")), ("r", Some("m"))]);
        s.upstream = Some(a("global"));
        let shards = vec![s];
        let rows = tree(&shards, 0, &index(&shards), &Limits::default(), &[]);
        assert_eq!(kinds(&rows, &shards[0]), vec![(0, "up global:3306".into()), (1, "m".into()), (2, "r".into())]);
        assert_eq!(rows[0].kind, NodeKind::Upstream { addr: a("global"), declared: true });
    }

    #[test]
    fn source_named_differently_is_matched_by_server_id() {
        let mut s = shard("s1", &[("m", None), ("r", Some("10.0.0.1"))]);
        let mid = s.instances[0].status.as_ref().map(|st| st.server_id);
        if let Some(st) = s.instances[1].status.as_mut() {
            st.replication[0].source_server_id = mid;
        }
        let shards = vec![s];
        assert_eq!(
            resolve(&shards[0], 0, &index(&shards), &shards[0].instances[1].status.as_ref().unwrap().replication[0]),
            Source::Member(0)
        );
    }

    #[test]
    fn cycle_is_cut_and_every_member_drawn_once() {
        // The master replicates from its own replica: master-master.
        let s = shard("s1", &[("m", Some("r")), ("r", Some("m"))]);
        let shards = vec![s];
        let rows = tree(&shards, 0, &index(&shards), &Limits::default(), &[]);
        assert_eq!(kinds(&rows, &shards[0]), vec![(0, "m".into()), (1, "r".into())]);
    }

    #[test]
    fn link_states_follow_threads_and_lag() {
        let lim = Limits::default();
        let mut i = Instance::new(a("r"), Role::Replica);
        let mut st = replica_status(Some(0));
        i.status = Some(st.clone());
        assert_eq!(LinkState::of(&i, &st.replication[0], &lim), LinkState::Streaming);
        st.replication[0].seconds_behind = Some(30);
        i.status = Some(st.clone());
        assert_eq!(LinkState::of(&i, &st.replication[0], &lim), LinkState::Lagging);
        st.replication[0].io_state = IoState::Connecting;
        assert_eq!(LinkState::of(&i, &st.replication[0], &lim), LinkState::Connecting);
        st.replication[0].sql_running = false;
        assert_eq!(LinkState::of(&i, &st.replication[0], &lim), LinkState::SqlStopped);
    }

    #[test]
    fn dump_threads_beyond_the_watched_replicas_are_unidentified() {
        let mut s = shard("s1", &[("m", None), ("10.0.0.2", Some("m"))]);
        let hosts = vec!["10.0.0.2".to_string(), "10.0.0.3".to_string(), "10.0.0.3".to_string()];
        s.instances[0].discovery = Some((chrono::Utc::now(), Discovery { replica_hosts: None, dump_hosts: hosts }));
        let shards = vec![s];
        let u = unidentified(&shards[0], &pointers(&shards));
        assert_eq!(u, vec![Unidentified { source: a("m"), host: "10.0.0.3".into(), count: 2 }]);
        let rows = tree(&shards, 0, &index(&shards), &Limits::default(), &u);
        assert_eq!(kinds(&rows, &shards[0]).last(), Some(&(1, "2x10.0.0.3".to_string())));
        // Every dump thread accounted for: nothing unidentified.
        let mut s = shards[0].clone();
        if let Some((_, d)) = s.instances[0].discovery.as_mut() {
            d.dump_hosts.truncate(1);
        }
        assert!(unidentified(&s, &pointers(&[s.clone()])).is_empty());
    }
}
