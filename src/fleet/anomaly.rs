//! Topology anomalies: what is wrong with the shape of a shard, not with one
//! server's numbers. Each rule is a small pure function over the fleet model
//! with a stable snake_case id; the findings are ordinary `Problem`s, so they
//! reach the overview, the detail view, the events pane and the snapshot.
//!
//! | rule                       | severity | finding                                                        |
//! |----------------------------|----------|----------------------------------------------------------------|
//! | `wrong_source`             | warning  | replica of a server that is neither the master nor a replica   |
//! | `other_shard_source`       | critical | replica of another shard's server                              |
//! | `no_writable_master`       | critical | master down and no member writable                              |
//! | `zombie_master`            | critical | a member other than the master is writable and replicates from no member (an old master back) |
//! | `circular_replication`     | critical | the master replicates from one of its own replicas             |
//! | `upstream_undeclared`      | warning  | the master replicates from a server not declared as upstream   |
//! | `upstream_mismatch`        | critical | the master replicates from something other than its upstream   |
//! | `upstream_missing`         | warning  | an upstream is declared but the master does not replicate      |
//! | `no_binlog`                | warning  | replica without log_bin / log_slave_updates (not promotable)   |
//! | `server_id_collision`      | critical | two servers of a replication tree share a server_id            |
//! | `server_uuid_collision`    | critical | two servers share a server_uuid (cloned datadir)               |
//! | `errant_gtid`              | warning  | replica has transactions its master never had                  |
//! | `replication_filter`       | warning  | replication filters set                                        |
//! | `version_skew`             | warning  | replica older than its source                                  |
//! | `no_promotion_candidate`   | warning  | no replica could take over from the master now                 |
//! | `semi_sync_fallback`       | warning  | the master's semi-sync is enabled but fell back to async       |
//!
//! Two writable masters in a shard (`multiple_writable`) is judged in `health`.

use super::health::{Health, Limits, Problem, fmt_secs, lag_seconds};
use super::model::{Instance, Shard};
use super::status::{InstanceStatus, IoState};
use super::topology::{Index, Source, resolve};
use crate::mysql::Addr;
use crate::mysql::Version;
use crate::mysql::gtid::{GtidSet, errant_in_binlog_state};

/// What the rules look at: one shard, with the rest of the fleet for reference.
pub struct Ctx<'a> {
    pub shards: &'a [Shard],
    pub me: usize,
    pub index: &'a Index,
    pub limits: &'a Limits,
}

impl<'a> Ctx<'a> {
    fn shard(&self) -> &'a Shard {
        &self.shards[self.me]
    }

    fn source(&self, link: &super::status::ReplicationStatus) -> Source {
        resolve(self.shard(), self.me, self.index, link)
    }

    /// Members still judged: all but discovered servers that went away.
    fn members(&self) -> impl Iterator<Item = &'a Instance> {
        self.shard().instances.iter().filter(|i| !i.gone)
    }

    /// Replicas (every member but the declared master) with their last known status.
    fn replicas(&self) -> impl Iterator<Item = (usize, &'a Instance, &'a InstanceStatus)> {
        self.shard()
            .instances
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, inst)| !inst.gone)
            .filter_map(|(i, inst)| Some((i, inst, inst.status.as_ref()?)))
    }

    /// Every member has been heard from (or failed) at least once: shard-wide rules wait for that.
    fn complete(&self) -> bool {
        self.members().all(|i| i.status.is_some() || i.error.is_some())
    }
}

fn at(severity: Health, rule: &'static str, addr: &Addr, message: String) -> Problem {
    Problem { severity, rule, instance: Some(addr.clone()), message }
}

fn shard_wide(severity: Health, rule: &'static str, message: String) -> Problem {
    Problem { severity, rule, instance: None, message }
}

/// Every anomaly of shard `ctx.me`.
pub fn check(ctx: &Ctx) -> Vec<Problem> {
    if ctx.me >= ctx.shards.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for rule in RULES {
        rule(ctx, &mut out);
    }
    out
}

type Rule = fn(&Ctx, &mut Vec<Problem>);

const RULES: &[Rule] = &[
    sources,
    no_writable_master,
    zombie_master,
    upstream,
    no_binlog,
    server_id_collision,
    server_uuid_collision,
    errant_gtid,
    replication_filter,
    version_skew,
    no_promotion_candidate,
    semi_sync_fallback,
];

/// `wrong_source`, `other_shard_source`: replicas attached somewhere they should not be.
fn sources(ctx: &Ctx, out: &mut Vec<Problem>) {
    for (_, inst, status) in ctx.replicas() {
        for link in &status.replication {
            match ctx.source(link) {
                Source::Member(_) => {}
                Source::OtherShard { shard, instance } => {
                    let other = &ctx.shards[shard];
                    let what = if instance == 0 { "the master" } else { "a replica" };
                    out.push(at(
                        Health::Critical,
                        "other_shard_source",
                        &inst.addr,
                        format!(
                            "replicates from {}, {what} of shard {}: it receives another shard's writes",
                            link.source, other.name
                        ),
                    ));
                }
                Source::Upstream => out.push(at(
                    Health::Warning,
                    "wrong_source",
                    &inst.addr,
                    format!("replicates from the upstream {} directly, not from the shard's master", link.source),
                )),
                Source::Unknown => out.push(at(
                    Health::Warning,
                    "wrong_source",
                    &inst.addr,
                    format!(
                        "replicates from {}, which is neither the shard's master nor one of its replicas",
                        link.source
                    ),
                )),
            }
        }
    }
}

/// `no_writable_master`: the master is down and nobody took over.
fn no_writable_master(ctx: &Ctx, out: &mut Vec<Problem>) {
    let shard = ctx.shard();
    let Some(master) = shard.instances.first() else { return };
    if !ctx.complete() || master.error.is_none() {
        // A reachable read-only master is `master_read_only` already.
        return;
    }
    let writable = ctx.members().any(|i| i.reachable() && i.status.as_ref().is_some_and(|s| s.writable()));
    if !writable {
        // On the master, after its `unreachable`: the dead master stays the headline.
        out.push(at(
            Health::Critical,
            "no_writable_master",
            &master.addr,
            "no writable server in the shard: the master is down and no replica was promoted".into(),
        ));
    }
}

/// Writable and replicating from no member of the shard: taking writes of its own.
fn acting_as_master(ctx: &Ctx, inst: &Instance) -> bool {
    let Some(s) = inst.status.as_ref().filter(|_| inst.error.is_none()) else { return false };
    s.writable() && !s.replication.iter().any(|l| matches!(ctx.source(l), Source::Member(_)))
}

/// `zombie_master`: a member that is not the shard's master, yet writable and replicating from
/// no member — an old master restarted after a failover, most often, taking writes the shard's
/// master never sees. Critical at once. Judged only while the master answers as a writable master:
/// otherwise who the master is is unknown (a replica promoted by hand looks the same). Its
/// `writable_replica`, `not_replicating` and `multiple_writable` findings give way to it
/// (`Shard::evaluate`).
fn zombie_master(ctx: &Ctx, out: &mut Vec<Problem>) {
    let shard = ctx.shard();
    let Some(master) = shard.instances.first().filter(|m| acting_as_master(ctx, m)) else { return };
    let since = shard.master_changed_at.map(|at| format!(" since failover at {}", at.format("%H:%M:%S UTC")));
    for (_, inst, _) in ctx.replicas().filter(|(_, inst, _)| acting_as_master(ctx, inst)) {
        out.push(at(
            Health::Critical,
            "zombie_master",
            &inst.addr,
            format!(
                "is writable and not the master of {}{} (the master is {}): writes it takes never reach the shard; fence it",
                shard.name,
                since.as_deref().unwrap_or_default(),
                master.addr
            ),
        ));
    }
}

/// `circular_replication`, `upstream_undeclared`, `upstream_mismatch`, `upstream_missing`:
/// the master's own source. A broken or lagging upstream link is reported by
/// the link rules (`io_thread`, `sql_thread`, `lag`) on the master.
fn upstream(ctx: &Ctx, out: &mut Vec<Problem>) {
    let shard = ctx.shard();
    let Some(master) = shard.instances.first() else { return };
    let Some(status) = &master.status else { return };
    if status.replication.is_empty() {
        if let Some(up) = &shard.upstream {
            out.push(at(
                Health::Warning,
                "upstream_missing",
                &master.addr,
                format!("upstream {up} is declared but the master does not replicate from anything"),
            ));
        }
        return;
    }
    for link in &status.replication {
        match (ctx.source(link), &shard.upstream) {
            (Source::Upstream, _) => {}
            (Source::Member(i), _) => out.push(at(
                Health::Critical,
                "circular_replication",
                &master.addr,
                format!(
                    "master replicates from its own replica {}: circular replication, writes may loop or diverge",
                    shard.instances[i].addr
                ),
            )),
            (src, None) => {
                let other = match src {
                    Source::OtherShard { shard, .. } => format!(" (a server of shard {})", ctx.shards[shard].name),
                    _ => String::new(),
                };
                out.push(at(
                    Health::Warning,
                    "upstream_undeclared",
                    &master.addr,
                    format!(
                        "master replicates from {}{other}, not declared: set upstream = \"{}\" on the shard if that is intended",
                        link.source, link.source
                    ),
                ))
            }
            (_, Some(up)) => out.push(at(
                Health::Critical,
                "upstream_mismatch",
                &master.addr,
                format!("master replicates from {}, not from its declared upstream {up}", link.source),
            )),
        }
    }
}

/// Members that have replicas of their own (relays).
fn has_replicas(ctx: &Ctx, i: usize) -> bool {
    let shard = ctx.shard();
    shard
        .instances
        .iter()
        .filter_map(|x| x.status.as_ref())
        .flat_map(|s| &s.replication)
        .any(|l| ctx.source(l) == Source::Member(i))
}

/// `no_binlog`: a replica that cannot be promoted (and, as a relay, passes nothing on).
fn no_binlog(ctx: &Ctx, out: &mut Vec<Problem>) {
    for (i, inst, s) in ctx.replicas() {
        if s.log_bin && s.log_slave_updates {
            continue;
        }
        let what = if !s.log_bin { "binary log off (log_bin=OFF)" } else { "log_slave_updates=OFF" };
        let (severity, why) = if has_replicas(ctx, i) {
            (Health::Critical, "its own replicas receive none of the master's writes")
        } else {
            (Health::Warning, "it cannot be promoted without losing the other replicas")
        };
        out.push(at(severity, "no_binlog", &inst.addr, format!("{what}: {why}")));
    }
}

/// Groups of two or more members sharing a key, in member order.
fn collisions<'a, K: PartialEq + Clone>(items: impl Iterator<Item = (K, &'a Addr)>) -> Vec<(K, Vec<&'a Addr>)> {
    let mut groups: Vec<(K, Vec<&Addr>)> = Vec::new();
    for (k, a) in items {
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(a),
            None => groups.push((k, vec![a])),
        }
    }
    groups.retain(|(_, v)| v.len() > 1);
    groups
}

fn list(addrs: &[&Addr]) -> String {
    addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}

/// `server_id_collision`: two servers of one replication tree with one server_id;
/// a replica ignores events carrying its own id, and a source drops one of two
/// replicas with the same id. The upstream counts, through the id the master reports for it.
fn server_id_collision(ctx: &Ctx, out: &mut Vec<Problem>) {
    let shard = ctx.shard();
    let mut ids: Vec<(u32, &Addr)> =
        ctx.members().filter_map(|i| Some((i.status.as_ref()?.server_id, &i.addr))).collect();
    let upstream_id = shard.instances.first().and_then(|m| {
        let link = m.status.as_ref()?.primary_link()?;
        Some((link.source_server_id?, &link.source))
    });
    // A source that is itself a member is already counted (as the master's own
    // replica in a circular setup); counting it again would collide with itself.
    ids.extend(upstream_id.filter(|(_, a)| !ids.iter().any(|(_, m)| m == a)));
    for (id, addrs) in collisions(ids.into_iter()) {
        out.push(shard_wide(
            Health::Critical,
            "server_id_collision",
            format!("server_id {id} is used by {}: replication between them skips or drops events", list(&addrs)),
        ));
    }
}

/// `server_uuid_collision`: a cloned datadir kept its `auto.cnf`; replication refuses to start.
fn server_uuid_collision(ctx: &Ctx, out: &mut Vec<Problem>) {
    let uuids = ctx.members().filter_map(|i| Some((i.status.as_ref()?.server_uuid.clone()?, &i.addr)));
    for (uuid, addrs) in collisions(uuids) {
        out.push(shard_wide(
            Health::Critical,
            "server_uuid_collision",
            format!(
                "server_uuid {uuid} is shared by {} (a cloned datadir?): replication between them refuses to start",
                list(&addrs)
            ),
        ));
    }
}

/// The replica's transactions its master never had, as text; `None` when
/// there are none or the positions cannot be compared.
pub fn errant(replica: &InstanceStatus, master: &InstanceStatus) -> Option<String> {
    if let (Some(r), Some(m)) = (&replica.topo.gtid_binlog_state, &master.topo.gtid_binlog_state) {
        let e = errant_in_binlog_state(r, m, replica.server_id).ok()?;
        return (!e.is_empty()).then(|| e.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    }
    if let (Some(r), Some(m)) = (&replica.gtid.executed, &master.gtid.executed) {
        let e = GtidSet::parse(r).ok()?.errant_from(&GtidSet::parse(m).ok()?, replica.server_uuid.as_deref());
        return (!e.is_empty()).then(|| e.to_string());
    }
    None
}

/// `errant_gtid`: transactions on a replica that did not come from the master
/// (a write on a writable replica, a leftover of an old topology). They block
/// a clean promotion and mean the data differs.
fn errant_gtid(ctx: &Ctx, out: &mut Vec<Problem>) {
    let Some(master) = ctx.shard().instances.first().and_then(|m| m.status.as_ref()) else { return };
    for (_, inst, s) in ctx.replicas() {
        if let Some(e) = errant(s, master) {
            out.push(at(
                Health::Warning,
                "errant_gtid",
                &inst.addr,
                format!("errant transactions not from the master: {e}"),
            ));
        }
    }
}

/// `replication_filter`: a filtered replica lacks data, silently.
fn replication_filter(ctx: &Ctx, out: &mut Vec<Problem>) {
    for inst in ctx.members() {
        let Some(s) = &inst.status else { continue };
        if !s.topo.filters.is_empty() {
            out.push(at(
                Health::Warning,
                "replication_filter",
                &inst.addr,
                format!(
                    "replication filters set ({}): it may lack data and is no safe promotion target",
                    s.topo.filters.join(", ")
                ),
            ));
        }
    }
}

/// `version_skew`: replicating from a newer server is unsupported (new event types, collations).
fn version_skew(ctx: &Ctx, out: &mut Vec<Problem>) {
    let shard = ctx.shard();
    for (_, inst, s) in ctx.replicas() {
        let Some(link) = s.primary_link() else { continue };
        let Source::Member(j) = ctx.source(link) else { continue };
        let Some(src) = shard.instances[j].status.as_ref() else { continue };
        // Most replicas run their source's very version: no need to read it.
        if src.flavor != s.flavor || src.version == s.version {
            continue;
        }
        if let (Some(mine), Some(theirs)) = (Version::parse(&s.version), Version::parse(&src.version))
            && mine < theirs
        {
            out.push(at(
                Health::Warning,
                "version_skew",
                &inst.addr,
                format!(
                    "runs {mine}, older than its source {} ({theirs}): replication from a newer version is unsupported",
                    link.source
                ),
            ));
        }
    }
}

/// Why replica `i` could not take over from the master now; `None` if it could.
pub fn not_a_candidate(ctx: &Ctx, i: usize) -> Option<String> {
    let shard = ctx.shard();
    let inst = shard.instances.get(i)?;
    if inst.error.is_some() {
        return Some("unreachable".into());
    }
    let Some(s) = &inst.status else { return Some("not polled yet".into()) };
    let Some(link) = s.primary_link() else { return Some("not replicating".into()) };
    if ctx.source(link) != Source::Member(0) {
        return Some(format!("not a direct replica of the master (source {})", link.source));
    }
    if link.io_state != IoState::Running || !link.sql_running {
        return Some("replication threads not running".into());
    }
    match lag_seconds(s, link) {
        None => return Some("lag unknown".into()),
        Some(l) if l >= ctx.limits.lag_warn.as_secs_f64() => return Some(format!("lag {}", fmt_secs(l))),
        Some(_) => {}
    }
    if !s.log_bin || !s.log_slave_updates {
        return Some("no binary log / log_slave_updates".into());
    }
    if !s.topo.filters.is_empty() {
        return Some("replication filters".into());
    }
    let master = shard.instances.first().and_then(|m| m.status.as_ref());
    if let Some(m) = master {
        if errant(s, m).is_some() {
            return Some("errant transactions".into());
        }
        // Most replicas run their master's very version: no need to read it.
        if s.version != m.version
            && let (Some(mine), Some(theirs)) = (Version::parse(&s.version), Version::parse(&m.version))
            && mine < theirs
        {
            return Some(format!("older version {mine}"));
        }
    }
    None
}

/// `no_promotion_candidate`: if the master failed now, no replica could take
/// over cleanly. Judged with two replicas or more: a lone replica's own
/// problems already say why it cannot.
fn no_promotion_candidate(ctx: &Ctx, out: &mut Vec<Problem>) {
    let n = ctx.shard().instances.len();
    if ctx.members().count() < 3 || !ctx.complete() {
        return;
    }
    let mut reasons = Vec::new();
    for i in (1..n).filter(|&i| !ctx.shard().instances[i].gone) {
        match not_a_candidate(ctx, i) {
            None => return,
            Some(why) => reasons.push(format!("{} {why}", ctx.shard().instances[i].addr)),
        }
    }
    out.push(shard_wide(
        Health::Warning,
        "no_promotion_candidate",
        format!("no healthy promotion candidate: {}", reasons.join("; ")),
    ));
}

/// `semi_sync_fallback`: the master is set up for semi-sync but stopped waiting for
/// acknowledgements (one timed out, or no semi-sync replica is connected): a commit now returns
/// before any replica has it, and a failover may lose it. Silent on the server's side.
fn semi_sync_fallback(ctx: &Ctx, out: &mut Vec<Problem>) {
    let Some(master) = ctx.shard().instances.first().filter(|m| m.error.is_none()) else { return };
    let Some(ss) = master.status.as_ref().and_then(|s| s.semi_sync.as_ref()?.master.as_ref()) else { return };
    if ss.fell_back() {
        let clients = if ss.clients == 1 {
            "1 semi-sync replica".to_string()
        } else {
            format!("{} semi-sync replicas", ss.clients)
        };
        out.push(at(
            Health::Warning,
            "semi_sync_fallback",
            &master.addr,
            format!(
                "semi-sync fell back to async: acknowledged writes are not safe on a replica ({clients}, {} commit{} unacknowledged)",
                ss.no_tx,
                if ss.no_tx == 1 { "" } else { "s" }
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Fleet;
    use crate::fleet::status::Flavor;
    use crate::fleet::test_support::{link, master_status, replica_status};

    fn a(host: &str) -> Addr {
        Addr::new(host, 3306)
    }

    /// A link to a server whose id the replica has not learnt (not one of the test ids).
    fn far(host: &str) -> crate::fleet::status::ReplicationStatus {
        let mut l = link(a(host), Some(0));
        l.source_server_id = None;
        l
    }

    /// Shard "s1": master m (server_id 1) and replicas of m with ids 2, 3, …
    fn fleet(replicas: &[&str]) -> Fleet {
        let s1 = Shard::new("s1", a("m"), replicas.iter().map(|r| a(r)), None);
        let s2 = Shard::new("s2", a("m2"), [a("r2")], None);
        let mut f = Fleet::new(vec![s1, s2], Limits::default());
        for (k, inst) in f.shards[0].instances.iter_mut().enumerate() {
            let mut st = if k == 0 { master_status() } else { replica_status(Some(0)) };
            st.server_id = k as u32 + 1;
            if k > 0 {
                st.replication[0] = link(a("m"), Some(0));
            }
            inst.status = Some(st);
        }
        f
    }

    fn status<'a>(f: &'a mut Fleet, host: &str) -> &'a mut InstanceStatus {
        let inst = f.shards[0].instances.iter_mut().find(|i| i.addr == a(host)).expect("member");
        inst.status.as_mut().expect("status")
    }

    fn found(f: &Fleet) -> Vec<(&'static str, Health, Option<String>)> {
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        check(&ctx).into_iter().map(|p| (p.rule, p.severity, p.instance.map(|a| a.host))).collect()
    }

    fn rules(f: &Fleet) -> Vec<&'static str> {
        found(f).into_iter().map(|(r, _, _)| r).collect()
    }

    #[test]
    fn healthy_shard_has_no_anomalies() {
        assert!(found(&fleet(&["r1", "r2"])).is_empty());
    }

    #[test]
    fn chained_replica_is_not_an_anomaly() {
        let mut f = fleet(&["relay", "leaf"]);
        status(&mut f, "leaf").replication[0] = link(a("relay"), Some(0));
        assert!(found(&f).is_empty(), "{:?}", found(&f));
    }

    #[test]
    fn replica_of_an_unknown_server_is_wrong_source() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").replication[0] = far("stray");
        assert_eq!(found(&f), vec![("wrong_source", Health::Warning, Some("r1".into()))]);
    }

    #[test]
    fn replica_of_another_shards_master_is_critical() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").replication[0] = far("m2");
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p = check(&ctx);
        assert_eq!((p[0].rule, p[0].severity), ("other_shard_source", Health::Critical));
        assert!(p[0].message.contains("the master of shard s2"), "{}", p[0].message);
    }

    #[test]
    fn dead_master_with_no_writable_replica() {
        let mut f = fleet(&["r1"]);
        f.shards[0].instances[0].error = Some(crate::fleet::status::ProbeError {
            kind: crate::fleet::status::ProbeErrorKind::Refused,
            message: "refused".into(),
        });
        assert!(rules(&f).contains(&"no_writable_master"), "{:?}", rules(&f));
        // Someone promoted r1: writable again.
        status(&mut f, "r1").read_only = false;
        assert!(!rules(&f).contains(&"no_writable_master"));
    }

    #[test]
    fn master_upstream_declared_undeclared_mismatched_missing() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "m").replication.push(far("global"));
        assert_eq!(found(&f), vec![("upstream_undeclared", Health::Warning, Some("m".into()))]);
        f.shards[0].upstream = Some(a("global"));
        assert!(found(&f).is_empty(), "a declared upstream is normal: {:?}", found(&f));
        f.shards[0].upstream = Some(a("other-global"));
        assert_eq!(found(&f), vec![("upstream_mismatch", Health::Critical, Some("m".into()))]);
        status(&mut f, "m").replication.clear();
        assert_eq!(found(&f), vec![("upstream_missing", Health::Warning, Some("m".into()))]);
    }

    #[test]
    fn broken_or_lagging_upstream_link_is_reported_on_the_master() {
        use crate::fleet::status::{IoState, Sample};
        let mut f = fleet(&["r1", "r2"]);
        f.shards[0].upstream = Some(a("global"));
        let mut m = f.shards[0].instances[0].status.clone().expect("status");
        let mut up = far("global");
        up.io_state = IoState::Connecting;
        m.replication.push(up);
        let at = chrono::Utc::now();
        let ev = f.apply(0, 0, Sample { at, elapsed: std::time::Duration::from_millis(1), result: Ok(m.clone()) });
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(ev[0].message.starts_with("m:3306 IO thread connecting (source global:3306)"), "{}", ev[0].message);
        m.replication[0].io_state = IoState::Running;
        m.replication[0].seconds_behind = Some(120);
        let ev = f.apply(0, 0, Sample { at, elapsed: std::time::Duration::from_millis(1), result: Ok(m) });
        assert!(ev.iter().any(|e| e.message == "m:3306 lag 2m00s over 60s"), "{ev:?}");
    }

    #[test]
    fn master_replicating_from_its_replica_is_circular() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "m").replication.push(far("r1"));
        assert_eq!(rules(&f), vec!["circular_replication"]);
    }

    #[test]
    fn replica_without_binlog_cannot_be_promoted_and_relay_passes_nothing() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").log_slave_updates = false;
        assert_eq!(found(&f), vec![("no_binlog", Health::Warning, Some("r1".into()))]);
        status(&mut f, "r2").replication[0] = link(a("r1"), Some(0));
        assert_eq!(found(&f)[0], ("no_binlog", Health::Critical, Some("r1".into())));
    }

    #[test]
    fn a_member_named_as_the_masters_source_does_not_collide_with_itself() {
        let mut f = fleet(&["r1", "r2"]);
        // The master replicates from its own replica r1 (after a switch the config has not caught up with).
        let r1 = f.shards[0].instances[1].addr.clone();
        let r1_id = status(&mut f, "r1").server_id;
        let m = f.shards[0].instances[0].status.as_mut().expect("master status");
        m.replication = vec![crate::fleet::test_support::link(r1, Some(0))];
        m.replication[0].source_server_id = Some(r1_id);
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        assert!(check(&ctx).iter().all(|p| p.rule != "server_id_collision"), "{:?}", check(&ctx));
    }

    #[test]
    fn server_id_collision_includes_the_upstream() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r2").server_id = 2;
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p = check(&ctx);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].message,
            "server_id 2 is used by r1:3306, r2:3306: replication between them skips or drops events"
        );
        status(&mut f, "r2").server_id = 3;
        f.shards[0].upstream = Some(a("global"));
        let mut up = far("global");
        up.source_server_id = Some(3);
        status(&mut f, "m").replication.push(up);
        assert_eq!(rules(&f), vec!["server_id_collision"]);
    }

    #[test]
    fn server_uuid_collision_is_critical() {
        let mut f = fleet(&["r1", "r2"]);
        for h in ["r1", "r2"] {
            status(&mut f, h).server_uuid = Some("3e11fa47-71ca-11e1-9e33-c80aa9429562".into());
        }
        assert_eq!(found(&f), vec![("server_uuid_collision", Health::Critical, None)]);
    }

    #[test]
    fn errant_gtid_mariadb_binlog_state() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "m").topo.gtid_binlog_state = Some("1-1-100".into());
        // r1 is behind: fine. r2 wrote locally (server_id 3) once, then applied more of the master.
        status(&mut f, "r1").topo.gtid_binlog_state = Some("1-1-90".into());
        status(&mut f, "r2").topo.gtid_binlog_state = Some("1-3-51,1-1-100".into());
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p = check(&ctx);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].rule, p[0].instance.as_ref()), ("errant_gtid", Some(&a("r2"))));
        assert_eq!(p[0].message, "errant transactions not from the master: 1-3-51");
        // Read a moment after the master: ahead in the master's own pair, which is no error.
        status(&mut f, "r2").topo.gtid_binlog_state = Some("1-1-104".into());
        assert!(found(&f).is_empty());
    }

    #[test]
    fn errant_gtid_mysql_sets() {
        let mut f = fleet(&["r1", "r2"]);
        let (m_uuid, r_uuid) = ("3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429563");
        for (h, uuid, executed) in
            [("m", m_uuid, format!("{m_uuid}:1-100")), ("r1", r_uuid, format!("{m_uuid}:1-103,{r_uuid}:1-2"))]
        {
            let s = status(&mut f, h);
            s.flavor = Flavor::MySql;
            s.server_uuid = Some(uuid.into());
            s.gtid.executed = Some(executed);
        }
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p = check(&ctx);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].message, format!("errant transactions not from the master: {r_uuid}:1-2"));
    }

    #[test]
    fn replication_filters_are_reported() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").topo.filters = vec!["Replicate_Ignore_DB=audit".into()];
        assert_eq!(found(&f), vec![("replication_filter", Health::Warning, Some("r1".into()))]);
    }

    #[test]
    fn replica_older_than_its_source() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").version = "10.6.16-MariaDB".into();
        assert_eq!(found(&f), vec![("version_skew", Health::Warning, Some("r1".into()))]);
        status(&mut f, "r1").version = "10.11.10-MariaDB".into();
        assert!(found(&f).is_empty(), "newer replica is fine");
    }

    #[test]
    fn no_promotion_candidate_names_each_reason() {
        let mut f = fleet(&["r1", "r2"]);
        status(&mut f, "r1").replication[0].sql_running = false;
        assert!(!rules(&f).contains(&"no_promotion_candidate"), "r2 can still take over");
        status(&mut f, "r2").replication[0].seconds_behind = Some(45);
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p: Vec<Problem> = check(&ctx).into_iter().filter(|p| p.rule == "no_promotion_candidate").collect();
        assert_eq!(
            p[0].message,
            "no healthy promotion candidate: r1:3306 replication threads not running; r2:3306 lag 45s"
        );
    }

    #[test]
    fn a_writable_member_replicating_from_nobody_is_a_zombie_master() {
        let mut f = fleet(&["r1", "r2"]);
        // The old master came back: writable, replicating from nobody.
        let r2 = status(&mut f, "r2");
        r2.read_only = false;
        r2.replication.clear();
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p: Vec<Problem> = check(&ctx).into_iter().filter(|p| p.rule == "zombie_master").collect();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].severity, p[0].instance.as_ref()), (Health::Critical, Some(&a("r2"))));
        assert_eq!(
            p[0].message,
            "is writable and not the master of s1 (the master is m:3306): writes it takes never reach the shard; fence it"
        );
        // After a failover this session made, it says since when.
        let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 26, 14, 3, 7).single();
        f.shards[0].master_changed_at = at;
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        let p = check(&ctx).into_iter().find(|p| p.rule == "zombie_master").expect("zombie");
        assert!(
            p.message.starts_with("is writable and not the master of s1 since failover at 14:03:07 UTC"),
            "{}",
            p.message
        );
        // Replicating from the upstream only is still no member: a zombie all the same.
        f.shards[0].upstream = Some(a("global"));
        status(&mut f, "r2").replication.push(far("global"));
        assert!(rules(&f).contains(&"zombie_master"), "{:?}", rules(&f));
    }

    #[test]
    fn no_zombie_while_the_master_is_unknown_or_the_member_replicates() {
        let mut f = fleet(&["r1", "r2"]);
        // A writable replica still replicating from the master: `writable_replica`, not a zombie.
        status(&mut f, "r1").read_only = false;
        assert!(!rules(&f).contains(&"zombie_master"));
        // Detached too, but the master is down: maybe the one promoted by hand. Who is master is unknown.
        status(&mut f, "r1").replication.clear();
        f.shards[0].instances[0].error = Some(crate::fleet::status::ProbeError {
            kind: crate::fleet::status::ProbeErrorKind::Refused,
            message: "refused".into(),
        });
        assert!(!rules(&f).contains(&"zombie_master"), "{:?}", rules(&f));
        // Never polled: unknown as well.
        f.shards[0].instances[0].error = None;
        f.shards[0].instances[0].status = None;
        assert!(!rules(&f).contains(&"zombie_master"), "{:?}", rules(&f));
        // A read-only master (mid-switchover) is not acting as one either.
        let mut m = master_status();
        m.read_only = true;
        f.shards[0].instances[0].status = Some(m);
        assert!(!rules(&f).contains(&"zombie_master"), "{:?}", rules(&f));
    }

    #[test]
    fn a_zombie_is_one_critical_finding_and_one_event() {
        use crate::fleet::status::Sample;
        let mut f = fleet(&["r1", "r2"]);
        let at = chrono::Utc::now();
        let one = |s: InstanceStatus| Sample { at, elapsed: std::time::Duration::from_millis(1), result: Ok(s) };
        for k in 0..3 {
            let s = f.shards[0].instances[k].status.clone().expect("status");
            f.apply(0, k, one(s));
        }
        let mut back = f.shards[0].instances[2].status.clone().expect("status");
        back.read_only = false;
        back.replication.clear();
        let ev = f.apply(0, 2, one(back));
        let ev: Vec<(&str, Health)> = ev.iter().map(|e| (e.rule, e.severity)).collect();
        assert_eq!(
            ev,
            [("zombie_master", Health::Critical)],
            "no writable_replica, not_replicating or multiple_writable too"
        );
        let all: Vec<&str> = f.shards[0].all_problems().map(|p| p.rule).collect();
        assert_eq!(all, ["zombie_master"]);
        assert_eq!(f.shards[0].headline().map(|p| p.rule), Some("zombie_master"));
    }

    #[test]
    fn semi_sync_falling_back_to_async_is_a_warning() {
        use crate::fleet::status::{SemiSync, SemiSyncMaster, WaitPoint};
        let mut f = fleet(&["r1", "r2"]);
        let on = SemiSyncMaster {
            enabled: true,
            active: true,
            clients: 2,
            no_tx: 0,
            wait_point: Some(WaitPoint::AfterSync),
            timeout_ms: Some(1000),
        };
        status(&mut f, "m").semi_sync = Some(SemiSync { master: Some(on.clone()), replica: None });
        assert!(found(&f).is_empty());
        let fell = SemiSyncMaster { active: false, clients: 0, no_tx: 3, ..on.clone() };
        status(&mut f, "m").semi_sync = Some(SemiSync { master: Some(fell.clone()), replica: None });
        assert_eq!(found(&f), vec![("semi_sync_fallback", Health::Warning, Some("m".into()))]);
        let ctx = Ctx { shards: &f.shards, me: 0, index: &f.index, limits: &f.limits };
        assert_eq!(
            check(&ctx)[0].message,
            "semi-sync fell back to async: acknowledged writes are not safe on a replica (0 semi-sync replicas, 3 commits unacknowledged)"
        );
        // Not enabled at all (async by choice), or on a replica: no finding.
        let off = SemiSyncMaster { enabled: false, ..fell.clone() };
        status(&mut f, "m").semi_sync = Some(SemiSync { master: Some(off), replica: None });
        assert!(found(&f).is_empty());
        status(&mut f, "m").semi_sync = None;
        status(&mut f, "r1").semi_sync = Some(SemiSync { master: Some(fell), replica: None });
        assert!(found(&f).is_empty(), "{:?}", found(&f));
    }

    #[test]
    fn shard_wide_rules_wait_for_every_member() {
        let mut f = fleet(&["r1", "r2"]);
        f.shards[0].instances[2].status = None;
        status(&mut f, "r1").replication[0].sql_running = false;
        assert!(!rules(&f).contains(&"no_promotion_candidate"));
    }
}
