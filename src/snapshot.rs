//! `shardtop snapshot`: the fleet at one moment, as JSON for scripts or a
//! table for people, with a Nagios-style exit code.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::fleet::death::MasterState;
use crate::fleet::external::SourceState;
use crate::fleet::feed::FeedStats;
use crate::fleet::status::IoState;
use crate::fleet::topology::{self, Edge, Unidentified};
use crate::fleet::{Addr, Fleet, Health, Instance, Problem, Role};
use crate::fleet::{CommandRates, Source};

#[derive(Serialize, Debug)]
pub struct Report {
    pub taken_at: DateTime<Utc>,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryReport>,
    /// The whole scatter-gather (each round's slowest shard); null without a feed probe.
    pub feed_fanout_ms: Option<FeedLatency>,
    /// `[[metrics]]` sources: up, or down and why.
    pub metrics_sources: Vec<SourceState>,
    pub shards: Vec<ShardReport>,
}

/// How the fleet was completed from what the servers said.
#[derive(Serialize, Debug, Default)]
pub struct DiscoveryReport {
    /// Probe-then-discover rounds that found something.
    pub rounds: usize,
    /// Servers the config did not name.
    pub found: Vec<FoundReport>,
    /// From the first probe until nothing new was found.
    pub elapsed_ms: f64,
}

#[derive(Serialize, Debug)]
pub struct FoundReport {
    pub shard: String,
    pub addr: Addr,
    pub via: String,
}

/// The replication graph of a shard, as the servers report it.
#[derive(Serialize, Debug)]
pub struct TopologyReport {
    pub edges: Vec<Edge>,
    /// Binlog clients known by host only (no `report_host`/port readable).
    pub unidentified: Vec<Unidentified>,
}

/// Feed latency percentiles over the probe's window, in milliseconds.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FeedLatency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Probe rounds in the window (0 when an external source gave only the p99).
    pub samples: u64,
    /// Rows the last successful round returned (a feed read that finds nothing is suspect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rows: Option<usize>,
    /// Why the last round failed on this shard, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where each of a shard's figures came from.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Sources {
    pub qps: Source,
    pub lag: Source,
    pub feed_latency: Source,
}

#[derive(Serialize, Debug)]
pub struct ShardReport {
    pub name: String,
    pub health: Health,
    pub master: Addr,
    /// The verdict on the master (`state`: up, suspect, unreachable, dead), null before its first probe.
    pub master_state: Option<MasterStateReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Addr>,
    pub qps: Option<f64>,
    pub qps_by_command: Option<CommandRates>,
    pub feed_latency_ms: Option<FeedLatency>,
    pub sources: Sources,
    pub replicas_up: usize,
    pub replicas_total: usize,
    pub worst_lag_seconds: Option<f64>,
    pub instances: Vec<InstanceReport>,
    pub topology: TopologyReport,
    /// Every finding in the shard, shard-wide and per instance.
    pub problems: Vec<Problem>,
}

/// `MasterState` as JSON — `{"state": "dead", "failures": 2, "asked": 2, "description": "…"}`;
/// `unreachable` also lists the replicas still `connected` to it (hung or partitioned).
#[derive(Serialize, Debug)]
pub struct MasterStateReport {
    #[serde(flatten)]
    pub state: MasterState,
    pub description: String,
}

impl From<&MasterState> for MasterStateReport {
    fn from(state: &MasterState) -> Self {
        MasterStateReport { state: state.clone(), description: state.describe() }
    }
}

#[derive(Serialize, Debug)]
pub struct InstanceReport {
    pub addr: Addr,
    pub role: Role,
    /// The server this one replicates from (primary channel), if any.
    pub source: Option<Addr>,
    pub reachable: bool,
    pub version: Option<String>,
    pub server_id: Option<u32>,
    pub read_only: Option<bool>,
    pub io_running: Option<IoState>,
    pub sql_running: Option<bool>,
    /// Seconds_Behind_Master as reported: null when the server says NULL.
    pub lag_seconds: Option<u64>,
    pub heartbeat_lag_seconds: Option<f64>,
    /// Why the heartbeat could not be read (no rows, no such table, SELECT refused: the server is
    /// still watched, lag comes from Seconds_Behind_Master); absent when it was read or not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_error: Option<String>,
    /// Semi-sync as the server reports it (`master`: enabled, active, clients, no_tx, wait_point,
    /// timeout_ms; `replica`: enabled, active); null when it reports none (no plugin) or is unread.
    pub semi_sync: Option<crate::fleet::status::SemiSync>,
    pub qps: Option<f64>,
    pub qps_by_command: Option<CommandRates>,
    pub gtid: Option<String>,
    pub binlog_file: Option<String>,
    pub binlog_pos: Option<u64>,
    pub last_error: Option<String>,
    /// When the data was last fresh.
    pub observed_at: Option<DateTime<Utc>>,
    pub probe_ms: Option<f64>,
    pub health: Health,
    pub problems: Vec<Problem>,
    /// How shardtop found this server when the config does not name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovered_via: Option<String>,
}

impl Report {
    pub fn new(fleet: &Fleet, taken_at: DateTime<Utc>) -> Report {
        let pointers = topology::pointers(&fleet.shards);
        Report {
            taken_at,
            health: fleet.health(),
            discovery: None,
            feed_fanout_ms: feed_latency(&fleet.fanout),
            metrics_sources: fleet.sources.clone(),
            shards: fleet
                .shards
                .iter()
                .enumerate()
                .map(|(k, s)| ShardReport {
                    name: s.name.clone(),
                    health: s.health,
                    master: s.master().addr.clone(),
                    master_state: s.master_state.as_ref().map(MasterStateReport::from),
                    upstream: s.upstream.clone(),
                    qps: s.qps().map(round1),
                    qps_by_command: s.qps_by_command().map(round_rates),
                    feed_latency_ms: feed_latency(&s.feed),
                    sources: Sources {
                        qps: s.qps_with_source().map_or(Source::Direct, |q| q.1),
                        lag: s.worst_lag_with_source().map_or(Source::Direct, |l| l.1),
                        feed_latency: s.feed.source,
                    },
                    replicas_up: s.replicas_up(),
                    replicas_total: s.replicas().len(),
                    worst_lag_seconds: s.worst_lag(),
                    instances: s.instances.iter().map(instance_report).collect(),
                    topology: TopologyReport {
                        edges: topology::edges(&fleet.shards, k, &fleet.index, &fleet.limits),
                        unidentified: topology::unidentified(s, &pointers),
                    },
                    problems: s.all_problems().cloned().collect(),
                })
                .collect(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.health.exit_code()
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A compact table: one line per instance, grouped by shard, problems below.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let (mut ok, mut warn, mut crit, mut unk) = (0, 0, 0, 0);
        for s in &self.shards {
            match s.health {
                Health::Ok => ok += 1,
                Health::Warning => warn += 1,
                Health::Critical => crit += 1,
                Health::Unknown => unk += 1,
            }
        }
        let _ = writeln!(
            out,
            "{} {} shards: {ok} ok, {warn} warning, {crit} critical, {unk} unknown  ({})",
            self.health.label(),
            self.shards.len(),
            self.taken_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:<7} {:<24} {:<3} {:<4} {:<3} {:>6} {:>6} {:>7}  GTID",
            "HEALTH", "SHARD", "ROLE", "ADDRESS", "RO", "IO", "SQL", "LAG", "HB", "QPS"
        );
        for s in &self.shards {
            for i in &s.instances {
                let io = match i.io_running {
                    None => "-",
                    Some(IoState::Running) => "Yes",
                    Some(IoState::Connecting) => "Conn",
                    Some(IoState::Stopped) => "No",
                };
                let opt = |v: Option<bool>| match v {
                    None => "-",
                    Some(true) => "yes",
                    Some(false) => "no",
                };
                let sql = match i.sql_running {
                    None => "-",
                    Some(true) => "Yes",
                    Some(false) => "No",
                };
                let _ = writeln!(
                    out,
                    "{:<8} {:<16} {:<7} {:<24} {:<3} {:<4} {:<3} {:>6} {:>6} {:>7}  {}",
                    i.health.label(),
                    s.name,
                    if i.role == Role::Master { "master" } else { "replica" },
                    i.addr.to_string(),
                    opt(i.read_only),
                    io,
                    sql,
                    i.lag_seconds.map_or("-".into(), |v| format!("{v}s")),
                    i.heartbeat_lag_seconds.map_or("-".into(), |v| format!("{v:.1}s")),
                    i.qps.map_or("-".into(), |v| format!("{v:.0}")),
                    i.gtid.as_deref().unwrap_or("-"),
                );
            }
        }
        // The links worth a second look: not straight from the shard's master.
        let mut links = Vec::new();
        for s in &self.shards {
            for e in s.topology.edges.iter().filter(|e| e.source != s.master) {
                let whose = match (e.source_kind, &e.source_shard) {
                    (_, Some(other)) => format!("server of shard {other}"),
                    ("upstream", _) => "upstream".to_string(),
                    ("member", _) => "chained".to_string(),
                    _ => "not watched".to_string(),
                };
                links.push(format!("  {:<16} {} -> {}  {} ({whose})", s.name, e.source, e.replica, e.state.label()));
            }
            for u in &s.topology.unidentified {
                links.push(format!(
                    "  {:<16} {} -> {} binlog client(s) on {}, port unknown",
                    s.name, u.source, u.count, u.host
                ));
            }
        }
        if !links.is_empty() {
            let _ = writeln!(out, "\nLinks not from the shard's master:");
            for l in links {
                let _ = writeln!(out, "{l}");
            }
        }
        // Shard figures that came from elsewhere than the servers themselves.
        for s in self.shards.iter().filter(|s| s.sources.qps != Source::Direct || s.sources.lag != Source::Direct) {
            let _ = writeln!(
                out,
                "{:<8} {:<16} qps {} ({}), worst lag {} ({})",
                s.health.label(),
                s.name,
                s.qps.map_or("-".into(), |v| format!("{v:.0}")),
                s.sources.qps.label(),
                s.worst_lag_seconds.map_or("-".into(), |v| format!("{v:.0}s")),
                s.sources.lag.label(),
            );
        }
        for src in self.metrics_sources.iter().filter(|s| s.up == Some(false)) {
            let _ = writeln!(out, "metrics source {} down: {}", src.name, src.error.as_deref().unwrap_or("?"));
        }
        // A feature degraded on a server that is still watched (a missing privilege, say).
        let notes: Vec<String> = self
            .shards
            .iter()
            .flat_map(|s| s.instances.iter().map(move |i| (s, i)))
            .filter_map(|(s, i)| {
                Some(format!("  {:<16} {} heartbeat: {}", s.name, i.addr, i.heartbeat_error.as_ref()?))
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nNotes:");
            for n in notes {
                let _ = writeln!(out, "{n}");
            }
        }
        let problems: Vec<_> = self.shards.iter().flat_map(|s| s.problems.iter().map(move |p| (s, p))).collect();
        if !problems.is_empty() {
            let _ = writeln!(out, "\nProblems:");
            for (s, p) in problems {
                let who = p.instance.as_ref().map(|a| format!(" {a}")).unwrap_or_default();
                let _ = writeln!(out, "  {:<8} {}{who}: {}", p.severity.label(), s.name, p.message);
            }
        }
        out
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round_rates(r: CommandRates) -> CommandRates {
    CommandRates {
        select: round1(r.select),
        insert: round1(r.insert),
        update: round1(r.update),
        delete: round1(r.delete),
        replace: round1(r.replace),
    }
}

fn feed_latency(f: &FeedStats) -> Option<FeedLatency> {
    let last_error = f.last_error.as_ref().map(|e| e.message.clone());
    if f.summary.is_none() && last_error.is_none() {
        return None;
    }
    let known = |v: f64| (!v.is_nan()).then_some(v);
    Some(FeedLatency {
        p50: f.summary.and_then(|s| known(s.p50)),
        p95: f.summary.and_then(|s| known(s.p95)),
        p99: f.summary.and_then(|s| known(s.p99)),
        samples: f.summary.map_or(0, |s| s.samples),
        last_rows: f.last_rows,
        last_error,
    })
}

fn instance_report(i: &Instance) -> InstanceReport {
    let s = i.status.as_ref();
    let link = s.and_then(|s| s.primary_link());
    let last_error = i
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .or_else(|| link.and_then(|l| l.last_error()).map(|(no, text)| format!("{no}: {text}")));
    InstanceReport {
        addr: i.addr.clone(),
        role: i.role,
        source: link.map(|l| l.source.clone()),
        reachable: i.reachable(),
        version: s.map(|s| s.version.clone()),
        server_id: s.map(|s| s.server_id),
        read_only: s.map(|s| s.read_only),
        io_running: link.map(|l| l.io_state),
        sql_running: link.map(|l| l.sql_running),
        lag_seconds: link.and_then(|l| l.seconds_behind),
        heartbeat_lag_seconds: s.and_then(|s| s.heartbeat_lag),
        heartbeat_error: s.and_then(|s| s.heartbeat_error.clone()),
        semi_sync: s.and_then(|s| s.semi_sync.clone()),
        qps: i.qps.map(round1),
        qps_by_command: i.qps_by_command.map(round_rates),
        gtid: s.map(|s| s.gtid.display().to_string()).filter(|g| !g.is_empty()),
        binlog_file: s.and_then(|s| s.binlog_file.clone()),
        binlog_pos: s.and_then(|s| s.binlog_pos),
        last_error,
        observed_at: i.last_ok,
        probe_ms: i.probe_ms.map(round1),
        health: i.health,
        problems: i.problems.clone(),
        discovered_via: i.discovered_via.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fleet::Limits;
    use crate::fleet::status::Sample;
    use crate::sim::{SimFleet, script};

    fn fleet_at(t: f64) -> Fleet {
        let sim = SimFleet::default();
        let mut fleet = Fleet::new(sim.layout(), Limits::default());
        let epoch = chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000, 0).single().unwrap_or_default();
        for tt in [t - 1.0, t] {
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let at = epoch + chrono::Duration::milliseconds((tt * 1000.0) as i64);
                    fleet.apply(
                        s,
                        i,
                        Sample { at, elapsed: Duration::from_millis(2), result: sim.status_at(s, i, tt) },
                    );
                }
            }
        }
        fleet
    }

    #[test]
    fn healthy_fleet_exits_zero_with_full_json() {
        let f = fleet_at(5.0);
        let r = Report::new(&f, Utc::now());
        assert_eq!(r.exit_code(), 0);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("valid json");
        assert_eq!(v["shards"].as_array().map(Vec::len), Some(8));
        let inst = &v["shards"][0]["instances"][1];
        for key in [
            "addr",
            "role",
            "source",
            "reachable",
            "read_only",
            "io_running",
            "sql_running",
            "lag_seconds",
            "heartbeat_lag_seconds",
            "qps",
            "gtid",
            "last_error",
            "health",
            "problems",
        ] {
            assert!(inst.get(key).is_some(), "missing {key} in {inst}");
        }
        assert_eq!(inst["role"], "replica");
        assert_eq!(inst["source"], "db-users-01a:3306");
        assert_eq!(v["shards"][0]["master"], "db-users-01a:3306");
        let edges = v["shards"][0]["topology"]["edges"].as_array().cloned().unwrap_or_default();
        // The master's link to the global upstream, then one per replica.
        assert_eq!(edges.len(), 3, "{edges:?}");
        assert_eq!(
            (edges[0]["source"].as_str(), edges[0]["source_kind"].as_str()),
            (Some("db-global-01:3306"), Some("upstream"))
        );
        assert_eq!(edges[1]["source"], "db-users-01a:3306");
        assert_eq!(edges[1]["replica"], "db-users-01b:3306");
        assert_eq!(edges[1]["state"], "streaming");
        assert_eq!(edges[1]["source_kind"], "member");
        assert!(v["taken_at"].is_string());
    }

    #[test]
    fn rates_feed_latency_and_sources_per_shard() {
        let mut f = fleet_at(5.0);
        let sim = SimFleet::default();
        let epoch = chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000, 0).single().unwrap_or_default();
        for n in 0..20 {
            let mut r = sim.feed_round(5.0 + n as f64 * 0.5, n);
            r.at = epoch + chrono::Duration::milliseconds(5000 + n as i64 * 500);
            f.apply_feed(&r);
        }
        let v: serde_json::Value = serde_json::from_str(&Report::new(&f, Utc::now()).to_json()).expect("json");
        let s0 = &v["shards"][0];
        assert!(s0["qps"].as_f64().is_some_and(|q| q > 0.0), "{s0}");
        for k in ["select", "insert", "update", "delete", "replace"] {
            assert!(s0["qps_by_command"][k].is_number(), "qps_by_command.{k} in {s0}");
        }
        let feed = &s0["feed_latency_ms"];
        assert_eq!(feed["samples"], 20);
        let (p50, p95, p99) = (feed["p50"].as_f64(), feed["p95"].as_f64(), feed["p99"].as_f64());
        assert!(matches!((p50, p95, p99), (Some(a), Some(b), Some(c)) if a > 0.0 && a <= b && b <= c), "{feed}");
        assert_eq!(s0["sources"], serde_json::json!({"qps": "direct", "lag": "direct", "feed_latency": "direct"}));
        assert_eq!(v["feed_fanout_ms"]["samples"], 20);
        assert!(v["feed_fanout_ms"]["p99"].as_f64() >= p99, "the fan-out is at least the slowest shard");
        // Without a probe, no numbers are made up.
        let v: serde_json::Value =
            serde_json::from_str(&Report::new(&fleet_at(5.0), Utc::now()).to_json()).expect("json");
        assert!(v["shards"][0]["feed_latency_ms"].is_null() && v["feed_fanout_ms"].is_null());
    }

    #[test]
    fn critical_fleet_exits_two_and_names_the_error() {
        let f = fleet_at(40.0);
        let r = Report::new(&f, Utc::now());
        assert_eq!(r.exit_code(), 2);
        let broken = &r.shards[script::BROKEN_SHARD].instances[2];
        let edge = r.shards[script::BROKEN_SHARD].topology.edges.iter().find(|e| e.replica == broken.addr);
        assert_eq!(edge.map(|e| e.state), Some(topology::LinkState::SqlStopped));
        assert_eq!(broken.sql_running, Some(false));
        assert_eq!(broken.lag_seconds, None, "NULL stays null");
        assert!(broken.last_error.as_deref().unwrap_or("").contains("Duplicate entry"));
        let table = r.to_table();
        assert!(table.starts_with("CRIT 8 shards"), "{table}");
        assert!(table.contains("SQL thread stopped: error 1062"), "{table}");
        assert!(
            table.contains("users-04         db-users-04b:3306 -> db-users-04c:3306  streaming (chained)"),
            "{table}"
        );
        assert!(table.contains("db-global-01:3306 -> db-users-01a:3306  streaming (upstream)"), "{table}");
    }

    #[test]
    fn master_state_says_dead_or_unconfirmed() {
        // Dead since 50 s into the script: two failed probes, both replicas cut off.
        let v: serde_json::Value =
            serde_json::from_str(&Report::new(&fleet_at(60.0), Utc::now()).to_json()).expect("json");
        let dead = &v["shards"][script::DEAD_SHARD]["master_state"];
        assert_eq!(
            *dead,
            serde_json::json!({
                "state": "dead",
                "failures": 2,
                "asked": 2,
                "description": "master dead: unreachable, and 2 replicas lost their links"
            })
        );
        assert_eq!(v["shards"][0]["master_state"], serde_json::json!({"state": "up", "description": "master up"}));
        let rules: Vec<&str> = v["shards"][script::DEAD_SHARD]["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["rule"].as_str())
            .collect();
        assert!(rules.contains(&"master_dead"), "{rules:?}");
        // A hung master whose replicas still stream from it: unreachable, naming them.
        let mut f = fleet_at(5.0);
        let at = chrono::Utc::now();
        for _ in 0..2 {
            let err = crate::fleet::status::ProbeError {
                kind: crate::fleet::status::ProbeErrorKind::Timeout,
                message: "no answer within 1.0 s".into(),
            };
            f.apply(1, 0, Sample { at, elapsed: Duration::from_secs(1), result: Err(err) });
        }
        // Not confirmed either way until the replicas are read again, after the master went quiet.
        let v: serde_json::Value = serde_json::from_str(&Report::new(&f, Utc::now()).to_json()).expect("json");
        assert_eq!(v["shards"][1]["master_state"]["state"], "suspect");
        let sim = SimFleet::default();
        for i in 1..=2 {
            f.apply(1, i, Sample { at, elapsed: Duration::from_millis(2), result: sim.status_at(1, i, 5.0) });
        }
        let v: serde_json::Value = serde_json::from_str(&Report::new(&f, Utc::now()).to_json()).expect("json");
        let hung = &v["shards"][1]["master_state"];
        assert_eq!(hung["state"], "unreachable");
        assert_eq!(hung["connected"], serde_json::json!(["db-users-02b:3306", "db-users-02c:3306"]));
        // Semi-sync per instance: the demo masters wait for their replicas, losslessly.
        let v: serde_json::Value =
            serde_json::from_str(&Report::new(&fleet_at(5.0), Utc::now()).to_json()).expect("json");
        assert_eq!(
            v["shards"][0]["instances"][0]["semi_sync"]["master"],
            serde_json::json!({"enabled": true, "active": true, "clients": 2, "no_tx": 0, "wait_point": "AFTER_SYNC", "timeout_ms": 1000})
        );
        assert_eq!(
            v["shards"][0]["instances"][1]["semi_sync"]["replica"],
            serde_json::json!({"enabled": true, "active": true})
        );
        let unpolled = Fleet::new(SimFleet::default().layout(), Limits::default());
        assert!(Report::new(&unpolled, Utc::now()).shards[0].master_state.is_none(), "no verdict before a probe");
    }

    #[test]
    fn warning_only_exits_one() {
        // 4 s into the lag spike, before any other incident: lag over warn only.
        let f = fleet_at(19.0);
        let r = Report::new(&f, Utc::now());
        assert_eq!(r.shards[script::LAG_SHARD].health, Health::Warning);
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn unpolled_fleet_is_unknown() {
        let f = Fleet::new(SimFleet::default().layout(), Limits::default());
        assert_eq!(Report::new(&f, Utc::now()).exit_code(), 3);
    }
}
