//! The fleet in a few lines: shards by health, stale ones, total QPS, the
//! worst lag and where, and the problems grouped by kind ("40 shards: IO
//! thread not running"), so that one 80×24 screen tells the state of a
//! thousand shards. Pure: computed from the `App`, drawn by `views::summary`.

use super::app::App;
use super::rows::natural_cmp;
use crate::fleet::{Addr, Health, Problem, Shard};

/// Shards whose worst problem is of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub kind: &'static str,
    /// The worst of these shards' health.
    pub severity: Health,
    /// Indices into `fleet.shards`, by name.
    pub shards: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorstLag {
    pub secs: f64,
    pub shard: usize,
    /// The replica, when the lag was measured on one (not read from a metrics source).
    pub server: Option<Addr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub shards: usize,
    pub servers: usize,
    pub ok: usize,
    pub warn: usize,
    pub crit: usize,
    pub unknown: usize,
    /// Shards with no fresh data (counted in their last known health as well).
    pub stale: usize,
    pub qps: Option<f64>,
    pub worst_lag: Option<WorstLag>,
    /// Worst first, then the most shards.
    pub groups: Vec<Group>,
}

/// Whether a group lists shards this session is acting on (`fleet::hold`), not a problem.
pub fn is_action_group(g: &Group, app: &App) -> bool {
    g.shards
        .first()
        .and_then(|&s| app.fleet.shards.get(s))
        .and_then(|s| s.hold.as_ref())
        .is_some_and(|h| h.label() == g.kind)
}

/// The kind a stale shard is grouped under.
pub const STALE_KIND: &str = "no fresh data";

impl Summary {
    pub fn of(app: &App) -> Summary {
        let shards = &app.fleet.shards;
        let (ok, warn, crit, unknown) = app.fleet.counts();
        let mut groups: Vec<Group> = Vec::new();
        let mut stale = 0;
        let mut qps: Option<f64> = None;
        let mut worst_lag: Option<WorstLag> = None;
        let all_old = super::kiosk::data_age(app).is_some_and(|a| a > app.stale_after());
        for (s, shard) in shards.iter().enumerate() {
            if let Some(q) = shard.qps() {
                *qps.get_or_insert(0.0) += q;
            }
            if let Some(lag) = shard_worst_lag(s, shard)
                && worst_lag.as_ref().is_none_or(|w| lag.secs > w.secs)
            {
                worst_lag = Some(lag);
            }
            let stale_now = app.shard_stale(shard).is_some();
            stale += usize::from(stale_now);
            let primary = match primary_kind(shard) {
                Some(kind) => Some((kind, shard.health)),
                // Nothing from anywhere: the header says so, a group of every shard would not add to it.
                None if stale_now && !all_old => Some((STALE_KIND, Health::Unknown)),
                None => None,
            };
            if let Some((kind, severity)) = primary {
                match groups.iter_mut().find(|g| g.kind == kind) {
                    Some(g) => {
                        g.severity = g.severity.max(severity);
                        g.shards.push(s);
                    }
                    None => groups.push(Group { kind, severity, shards: vec![s] }),
                }
            }
        }
        // Shards this session is acting on come first, whatever their health: their findings are held.
        let mut acting: Vec<Group> = Vec::new();
        for (s, shard) in shards.iter().enumerate() {
            let Some(kind) = shard.hold.as_ref().map(|h| h.label()) else { continue };
            match acting.iter_mut().find(|g| g.kind == kind) {
                Some(g) => g.shards.push(s),
                None => acting.push(Group { kind, severity: Health::Ok, shards: vec![s] }),
            }
        }
        for g in &mut groups {
            g.shards.sort_by(|a, b| natural_cmp(&shards[*a].name, &shards[*b].name));
        }
        groups.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.shards.len().cmp(&a.shards.len()))
                .then(kind_rank(a.kind).cmp(&kind_rank(b.kind)))
        });
        for g in &mut acting {
            g.shards.sort_by(|a, b| natural_cmp(&shards[*a].name, &shards[*b].name));
        }
        groups.splice(0..0, acting);
        Summary {
            shards: shards.len(),
            servers: app.fleet.instance_count(),
            ok,
            warn,
            crit,
            unknown,
            stale,
            qps,
            worst_lag,
            groups,
        }
    }
}

fn shard_worst_lag(s: usize, shard: &Shard) -> Option<WorstLag> {
    let measured = shard
        .replicas()
        .iter()
        .filter_map(|r| Some((r.lag()?, &r.addr)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(secs, addr)| WorstLag { secs, shard: s, server: Some(addr.clone()) });
    measured.or_else(|| shard.external.lag.as_ref().map(|e| WorstLag { secs: e.value, shard: s, server: None }))
}

/// The health rules' and anomaly checks' `rule` ids as an engineer would say
/// them, causes before their effects: among groups of the same severity and
/// size, the summary lists them in this order.
const KINDS: &[(&str, &str)] = &[
    ("master_dead", "master dead"),
    ("zombie_master", "zombie master"),
    ("master_unreachable", "master unreachable"),
    ("no_writable_master", "no writable master"),
    ("multiple_writable", "two writable masters"),
    ("master_read_only", "master read-only"),
    ("circular_replication", "circular replication"),
    ("other_shard_source", "replica of another shard"),
    ("upstream_mismatch", "wrong upstream"),
    ("server_id_collision", "server_id collision"),
    ("server_uuid_collision", "server_uuid collision"),
    ("unreachable", "replica unreachable"),
    ("sql_thread", "SQL thread stopped"),
    ("io_thread", "IO thread not running"),
    ("not_replicating", "replica not replicating"),
    ("lag", "replication lag"),
    ("wrong_source", "replica of a non-member"),
    ("writable_replica", "writable replica"),
    ("semi_sync_fallback", "semi-sync fell back to async"),
    ("errant_gtid", "errant GTIDs"),
    ("feed_latency", "feed p99 over target"),
    ("feed_error", "feed query fails"),
    ("qps_drop", "QPS dropped"),
    ("upstream_undeclared", "undeclared upstream"),
    ("upstream_missing", "upstream not replicating"),
    ("no_binlog", "replica without binlog"),
    ("replication_filter", "replication filters"),
    ("version_skew", "version skew"),
    ("no_promotion_candidate", "no promotion candidate"),
    ("no_data", "no data yet"),
];

/// A rule's name in a few words (`io_thread` → "IO thread not running"); the rule itself when
/// it has none.
pub fn rule_words(rule: &'static str) -> &'static str {
    KINDS.iter().find(|(r, _)| *r == rule).map_or(rule, |(_, words)| words)
}

/// What kind of problem this is, in a few words, for grouping.
pub fn problem_kind(p: &Problem, shard: &Shard) -> &'static str {
    let rule = match p.rule {
        "unreachable" if p.instance.as_ref() == Some(&shard.master().addr) => "master_unreachable",
        rule => rule,
    };
    rule_words(rule)
}

/// The problem to show for a shard when there is room for one: of its worst
/// problems, the one nearest the cause (a dead master, not its replicas'
/// broken IO threads).
pub fn headline(shard: &Shard) -> Option<&Problem> {
    let worst = shard.all_problems().map(|p| p.severity).max()?;
    shard.all_problems().filter(|p| p.severity == worst).min_by_key(|p| kind_rank(problem_kind(p, shard)))
}

/// The kind a shard is counted under: its headline's. Each shard counts once,
/// so the groups add up to the shards in trouble.
pub fn primary_kind(shard: &Shard) -> Option<&'static str> {
    headline(shard).filter(|p| p.severity != Health::Ok).map(|p| problem_kind(p, shard))
}

/// Where a kind comes in [`KINDS`] (unknown kinds and stale shards last).
fn kind_rank(kind: &str) -> usize {
    KINDS.iter().position(|(_, words)| *words == kind).unwrap_or(KINDS.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::script;
    use crate::ui::app::tests::{demo_app, scale_app};

    #[test]
    fn every_rule_has_words() {
        // The anomaly checks' rule ids, from the table in their module's docs, and the health rules'.
        let doc = include_str!("../fleet/anomaly.rs");
        let anomalies = doc.lines().filter_map(|l| l.strip_prefix("//! | `")?.split('`').next());
        let health = [
            "unreachable",
            "master_unreachable",
            "master_dead",
            "no_data",
            "master_read_only",
            "writable_replica",
            "not_replicating",
        ];
        let more = ["sql_thread", "io_thread", "lag", "multiple_writable", "feed_error", "feed_latency", "qps_drop"];
        let rules: Vec<&str> = anomalies.chain(health).chain(more).collect();
        assert!(rules.len() > 20, "{rules:?}");
        let shard = Shard::new("s", Addr::new("m", 1), [], None);
        for rule in rules {
            let rule: &'static str = Box::leak(rule.to_string().into_boxed_str());
            let p = Problem { severity: Health::Warning, rule, instance: None, message: String::new() };
            assert!(problem_kind(&p, &shard).contains(' '), "rule {rule:?} has no words in problem_kind");
        }
    }

    #[test]
    fn a_small_fleet_in_trouble() {
        let app = demo_app(60.0);
        let s = Summary::of(&app);
        assert_eq!((s.shards, s.servers, s.ok, s.crit, s.stale), (8, 24, 6, 2, 0));
        let kinds: Vec<_> = s.groups.iter().map(|g| (g.kind, g.shards.clone())).collect();
        // Each shard once, under the cause: the dead master, not its replicas' IO threads.
        assert_eq!(
            kinds,
            [("master dead", vec![script::DEAD_SHARD]), ("SQL thread stopped", vec![script::BROKEN_SHARD])],
        );
        assert!(s.qps.is_some_and(|q| q > 50_000.0), "{:?}", s.qps);
        let healthy = Summary::of(&demo_app(8.0));
        assert!(healthy.groups.is_empty(), "{:?}", healthy.groups);
        // The lag spike, and where.
        let spike = Summary::of(&demo_app(45.0));
        let lag = spike.worst_lag.expect("lag");
        assert_eq!(lag.shard, script::LAG_SHARD);
        assert!(lag.secs > 30.0 && lag.server.is_some(), "{lag:?}");
    }

    #[test]
    fn a_thousand_shards_group_by_kind_worst_and_largest_first() {
        let app = scale_app(60.0);
        let s = Summary::of(&app);
        assert_eq!(s.shards, 1000);
        let io = s.groups.iter().find(|g| g.kind == "IO thread not running").expect("io group");
        // 40 shards lose a replica's IO thread; one of them has a broken SQL thread too, and counts there.
        assert_eq!((io.shards.len(), io.severity), (39, Health::Critical));
        assert_eq!(s.groups[0].kind, "IO thread not running", "the largest critical group first: {:?}", s.groups);
        let names: Vec<&str> = io.shards.iter().take(3).map(|&i| app.fleet.shards[i].name.as_str()).collect();
        assert_eq!(names, ["users-10", "users-35", "users-60"], "by name, numbers in order");
        let dead = s.groups.iter().find(|g| g.kind == "master dead").expect("dead masters");
        assert_eq!(dead.shards.len(), 8, "their replicas' IO threads are not counted again");
        // Each shard in trouble once.
        let in_groups: usize = s.groups.iter().map(|g| g.shards.len()).sum();
        assert_eq!(in_groups, app.fleet.shards.iter().filter(|x| app.is_problem(x)).count());
        let sev: Vec<Health> = s.groups.iter().map(|g| g.severity).collect();
        assert!(sev.windows(2).all(|w| w[0] >= w[1]), "{sev:?}");
        // One shard stopped answering a while ago: stale, and grouped as such.
        let stale = s.groups.iter().find(|g| g.kind == STALE_KIND).expect("stale group");
        assert_eq!(stale.shards.len(), 1);
        assert_eq!(s.stale, 1);
        assert_eq!(s.ok + s.warn + s.crit + s.unknown, 1000);
    }
}
