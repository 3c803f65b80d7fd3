//! A remote viewer's shards as their collector sees them: each member's role, whether it
//! answers, its replication source and threads, lag, read_only and health, the master's state
//! and the findings — applied to a metrics-only model, so the detail and topology views show
//! instances and the action dialogs can offer them as targets. Nothing is judged here: the
//! collector judged it.

use chrono::{DateTime, Utc};

use super::death::MasterState;
use super::model::{Fleet, Instance, Role};
use super::status::{
    Counters, Flavor, GtidMode, GtidState, InstanceStatus, IoState, ProbeError, ProbeErrorKind, ReplicationStatus,
    TopologyFacts,
};
use super::{Addr, Health, Problem};

/// One server of a shard, as its collector last saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteMember {
    pub addr: Addr,
    pub master: bool,
    pub up: bool,
    pub health: Health,
    /// What it last said (kept while it is down); `None` before it ever answered.
    pub read_only: Option<bool>,
    pub source: Option<Addr>,
    pub io: Option<bool>,
    pub sql: Option<bool>,
    pub lag: Option<f64>,
}

/// One shard's members, master state and findings.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteShard {
    pub shard: usize,
    /// `up`, `suspect`, `unreachable` or `dead`.
    pub master_state: Option<String>,
    /// The shard's health as its collector judged it.
    pub health: Health,
    pub members: Vec<RemoteMember>,
    pub problems: Vec<Problem>,
}

/// The rule names the views and action keys look for, as the static names the model uses; any
/// other rule reads as `reported`.
const RULES: &[&str] = &[
    "zombie_master",
    "sql_thread",
    "io_thread",
    "lag",
    "unreachable",
    "master_dead",
    "master_unreachable",
    "master_read_only",
    "writable_replica",
    "not_replicating",
    "multiple_writable",
    "no_writable_master",
    "no_promotion_candidate",
    "feed_latency",
    "feed_error",
    "qps_drop",
    "errant_gtid",
    "circular_replication",
    "wrong_source",
    "other_shard_source",
    "replication_filter",
    "semi_sync_fallback",
    "server_id_collision",
    "server_uuid_collision",
    "stray",
    "upstream_mismatch",
    "upstream_missing",
    "upstream_undeclared",
    "version_skew",
    "no_binlog",
    "connecting",
    "stopped",
    "refused",
];

/// A rule's name as the model's static one.
pub fn rule_name(rule: &str) -> &'static str {
    RULES.iter().find(|r| **r == rule).copied().unwrap_or("reported")
}

fn status_of(m: &RemoteMember) -> Option<InstanceStatus> {
    let read_only = m.read_only?;
    let replication = m
        .source
        .clone()
        .map(|source| ReplicationStatus {
            channel: String::new(),
            source,
            source_server_id: None,
            io_state: if m.io == Some(true) { IoState::Running } else { IoState::Stopped },
            sql_running: m.sql == Some(true),
            seconds_behind: m.lag.map(|l| l.max(0.0) as u64),
            last_io_errno: 0,
            last_io_error: String::new(),
            last_sql_errno: 0,
            last_sql_error: String::new(),
            source_log_file: String::new(),
            read_source_log_pos: 0,
            relay_source_log_file: String::new(),
            exec_source_log_pos: 0,
            gtid_mode: GtidMode::No,
            retrieved_gtid_set: String::new(),
            executed_gtid_set: String::new(),
            sql_delay: 0,
        })
        .into_iter()
        .collect();
    Some(InstanceStatus {
        flavor: Flavor::MariaDb,
        version: String::new(),
        server_id: 0,
        server_uuid: None,
        read_only,
        super_read_only: None,
        log_bin: true,
        log_slave_updates: true,
        binlog_format: String::new(),
        gtid: GtidState::default(),
        binlog_file: None,
        binlog_pos: None,
        replication,
        counters: Counters::default(),
        heartbeat_lag: None,
        heartbeat_error: None,
        topo: TopologyFacts::default(),
        semi_sync: None,
    })
}

fn master_state(s: &str, replicas: usize) -> Option<MasterState> {
    Some(match s {
        "up" => MasterState::Up,
        "suspect" => MasterState::Suspect { failures: 1 },
        "unreachable" => MasterState::Unreachable { failures: 1, connected: Vec::new(), asked: 0 },
        "dead" => MasterState::Dead { failures: 1, asked: replicas },
        _ => return None,
    })
}

impl Fleet {
    /// Apply what a collector says of each shard's members (taken at `at`). A shard's members
    /// are put in the collector's order (its master first); servers keep their histories.
    pub fn apply_remote(&mut self, at: DateTime<Utc>, shards: &[RemoteShard]) {
        for rs in shards {
            let Some(sh) = self.shards.get_mut(rs.shard) else { continue };
            if rs.members.is_empty() {
                continue;
            }
            let mut old = std::mem::take(&mut sh.instances);
            let ordered = rs.members.iter().filter(|m| m.master).chain(rs.members.iter().filter(|m| !m.master));
            for m in ordered {
                let role = if m.master { Role::Master } else { Role::Replica };
                let mut inst = match old.iter().position(|i| i.addr == m.addr) {
                    Some(k) => old.swap_remove(k),
                    None => Instance::new(m.addr.clone(), role),
                };
                inst.role = role;
                inst.last_probe = Some(at);
                if let Some(st) = status_of(m) {
                    inst.status = Some(st);
                }
                if m.up {
                    (inst.error, inst.failures, inst.down_since, inst.last_ok) = (None, 0, None, Some(at));
                    if let Some(l) = m.lag {
                        inst.lag_history.push(l);
                    }
                } else {
                    inst.error = Some(ProbeError {
                        kind: ProbeErrorKind::Other,
                        message: "down, as its collector sees it".into(),
                    });
                    inst.failures = inst.failures.max(1);
                    inst.down_since = inst.down_since.or(Some(at));
                }
                inst.problems = rs.problems.iter().filter(|p| p.instance.as_ref() == Some(&m.addr)).cloned().collect();
                inst.health = m.health;
                sh.instances.push(inst);
            }
            let replicas = sh.instances.len().saturating_sub(1);
            sh.master_state = rs.master_state.as_deref().and_then(|s| master_state(s, replicas));
            // The collector's findings in its own words, and its verdict.
            sh.problems = rs.problems.iter().filter(|p| p.instance.is_none()).cloned().collect();
            sh.health = rs.health;
            let shard = rs.shard;
            self.index.retain(|_, (s, _)| *s != shard);
            for (i, inst) in self.shards[shard].instances.iter().enumerate() {
                self.index.entry(inst.addr.clone()).or_insert((shard, i));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Limits, Shard};

    fn member(addr: &str, master: bool, up: bool) -> RemoteMember {
        RemoteMember {
            addr: addr.parse().expect("addr"),
            master,
            up,
            health: if up { Health::Ok } else { Health::Critical },
            read_only: Some(!master),
            source: (!master).then(|| Addr::new("db1", 3306)),
            io: Some(true),
            sql: Some(!addr.starts_with("db3")),
            lag: Some(4.0),
        }
    }

    #[test]
    fn members_become_instances_with_roles_threads_and_the_masters_state() {
        let mut f =
            Fleet::new(vec![Shard::new("s1", Addr::new("db1", 3306), [], None)], Limits::default()).metrics_only();
        let problem = Problem {
            severity: Health::Critical,
            rule: rule_name("sql_thread"),
            instance: Some(Addr::new("db3", 3306)),
            message: "SQL thread stopped".into(),
        };
        let rs = RemoteShard {
            shard: 0,
            master_state: Some("dead".into()),
            health: Health::Critical,
            members: vec![
                member("db2:3306", false, true),
                member("db1:3306", true, false),
                member("db3:3306", false, true),
            ],
            problems: vec![problem.clone()],
        };
        let at = Utc::now();
        f.apply_remote(at, &[rs]);
        let sh = &f.shards[0];
        let addrs: Vec<String> = sh.instances.iter().map(|i| i.addr.to_string()).collect();
        assert_eq!(addrs, ["db1:3306", "db2:3306", "db3:3306"], "the master first");
        assert_eq!(sh.instances[0].role, Role::Master);
        assert!(!sh.instances[0].reachable() && sh.instances[1].reachable());
        assert_eq!(sh.instances[1].lag(), Some(4.0));
        let link = sh.instances[2].status.as_ref().and_then(|s| s.primary_link()).expect("link");
        assert_eq!(
            (link.source.to_string(), link.io_state, link.sql_running),
            ("db1:3306".into(), IoState::Running, false)
        );
        assert_eq!(sh.instances[2].problems, vec![problem]);
        assert!(sh.master_state.as_ref().is_some_and(MasterState::is_dead));
        assert_eq!(f.index.get(&Addr::new("db3", 3306)), Some(&(0, 2)));
        assert_eq!(sh.replicas_up(), 1, "db3's SQL thread is stopped");
        assert_eq!(rule_name("something_new"), "reported");
    }
}
