//! Health rules: small pure functions from observed state to findings.
//!
//! Each rule looks at one instance (or one shard) and returns problems; the
//! worst problem decides the colour. Nothing here does I/O or reads a clock:
//! `now` is passed in, so every rule is unit-testable.

use std::time::Duration;

use serde::Serialize;

use super::death::MasterState;
use super::feed::FeedStats;
use super::model::{History, Instance, Role};
use super::status::{InstanceStatus, IoState, ReplicationStatus};
use crate::mysql::Addr;

/// Nagios-style health. Ordered by how loudly it should be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Ok,
    /// No data yet: not polled, or the data is too old to judge.
    Unknown,
    Warning,
    Critical,
}

impl Health {
    /// Exit code for `snapshot` (Nagios plugin convention).
    pub fn exit_code(self) -> i32 {
        match self {
            Health::Ok => 0,
            Health::Warning => 1,
            Health::Critical => 2,
            Health::Unknown => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Unknown => "UNKNOWN",
            Health::Warning => "WARN",
            Health::Critical => "CRIT",
        }
    }
}

/// What a rule found. `rule` is a stable identifier (for JSON consumers and
/// for telling a new problem from one that persists).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub severity: Health,
    pub rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<Addr>,
    pub message: String,
}

impl Problem {
    fn new(severity: Health, rule: &'static str, instance: &Addr, message: String) -> Self {
        Problem { severity, rule, instance: Some(instance.clone()), message }
    }
}

/// The thresholds the rules need.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub lag_warn: Duration,
    pub lag_crit: Duration,
    pub feed_p99_warn: Duration,
    pub feed_p99_crit: Duration,
    /// Warn when a shard's QPS falls this many percent below its recent baseline.
    pub qps_drop_percent: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lag_warn: Duration::from_secs(10),
            lag_crit: Duration::from_secs(60),
            feed_p99_warn: Duration::from_millis(50),
            feed_p99_crit: Duration::from_millis(100),
            qps_drop_percent: 50.0,
        }
    }
}

/// Every rule id a finding can carry (`Problem::rule`): what `[alerts.rules]` may name.
pub const RULE_IDS: &[&str] = &[
    "unreachable",
    "no_data",
    "master_unreachable",
    "master_dead",
    "master_read_only",
    "writable_replica",
    "not_replicating",
    "multiple_writable",
    "io_thread",
    "sql_thread",
    "lag",
    "feed_latency",
    "feed_error",
    "qps_drop",
    "wrong_source",
    "other_shard_source",
    "no_writable_master",
    "zombie_master",
    "circular_replication",
    "upstream_undeclared",
    "upstream_mismatch",
    "upstream_missing",
    "no_binlog",
    "server_id_collision",
    "server_uuid_collision",
    "errant_gtid",
    "replication_filter",
    "version_skew",
    "no_promotion_candidate",
    "semi_sync_fallback",
];

/// Fewer feed samples than this say nothing about a 99th percentile.
pub const MIN_FEED_SAMPLES: u64 = 5;
/// QPS points needed before a drop is judged: a baseline and a recent stretch.
pub const QPS_BASELINE_POINTS: usize = 12;
/// How many of the latest points are "now" (smooths one slow sweep away).
pub const QPS_RECENT_POINTS: usize = 3;
/// Below this baseline a shard is idle, and a "drop" is noise.
pub const QPS_DROP_FLOOR: f64 = 50.0;

/// All findings for one instance.
pub fn instance_problems(inst: &Instance, limits: &Limits) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(err) = &inst.error {
        let what = if inst.role == Role::Master { "master unreachable" } else { "unreachable" };
        out.push(Problem::new(Health::Critical, "unreachable", &inst.addr, format!("{what}: {err}")));
        return out;
    }
    let Some(status) = &inst.status else {
        out.push(Problem::new(Health::Unknown, "no_data", &inst.addr, "not polled yet".into()));
        return out;
    };
    match inst.role {
        Role::Master => master_rules(&inst.addr, status, &mut out),
        Role::Replica => replica_rules(&inst.addr, status, &mut out),
    }
    for link in &status.replication {
        link_rules(&inst.addr, status, link, limits, &mut out);
    }
    out
}

/// The master's finding while it does not answer, once its verdict is known: the stable rule
/// `master_unreachable` (suspect, or unreachable but not confirmed dead) or `master_dead`,
/// critical either way, the verdict in words then the last probe's error. `None` when the master
/// answered (a refused login or a failed query stays `instance_problems`' `unreachable`).
pub fn master_down(inst: &Instance, state: &MasterState) -> Option<Problem> {
    let err = inst.error.as_ref()?;
    let rule = match state {
        MasterState::Up => return None,
        MasterState::Dead { .. } => "master_dead",
        MasterState::Suspect { .. } | MasterState::Unreachable { .. } => "master_unreachable",
    };
    Some(Problem::new(Health::Critical, rule, &inst.addr, format!("{}; last probe: {err}", state.describe())))
}

fn master_rules(addr: &Addr, s: &InstanceStatus, out: &mut Vec<Problem>) {
    if s.read_only {
        out.push(Problem::new(
            Health::Critical,
            "master_read_only",
            addr,
            "master is read-only: the shard cannot take writes".into(),
        ));
    }
}

fn replica_rules(addr: &Addr, s: &InstanceStatus, out: &mut Vec<Problem>) {
    if s.writable() {
        out.push(Problem::new(
            Health::Warning,
            "writable_replica",
            addr,
            "replica is writable (read_only=OFF): a stray write would diverge it".into(),
        ));
    }
    if s.replication.is_empty() {
        out.push(Problem::new(
            Health::Critical,
            "not_replicating",
            addr,
            "replica has no replication configured".into(),
        ));
    }
}

fn link_rules(addr: &Addr, s: &InstanceStatus, link: &ReplicationStatus, limits: &Limits, out: &mut Vec<Problem>) {
    let channel = if link.channel.is_empty() { String::new() } else { format!(" [{}]", link.channel) };
    if !link.sql_running {
        let why = match (link.last_sql_errno, link.last_sql_error.as_str()) {
            (0, "") => String::new(),
            (no, text) => format!(": error {no}: {text}"),
        };
        out.push(Problem::new(Health::Critical, "sql_thread", addr, format!("SQL thread stopped{channel}{why}")));
    }
    match link.io_state {
        IoState::Running => {}
        state => {
            let verb = if state == IoState::Connecting { "connecting" } else { "stopped" };
            let why = match (link.last_io_errno, link.last_io_error.as_str()) {
                (0, "") => String::new(),
                (no, text) => format!(": error {no}: {text}"),
            };
            out.push(Problem::new(
                Health::Critical,
                "io_thread",
                addr,
                format!("IO thread {verb}{channel} (source {}){why}", link.source),
            ));
        }
    }
    if let Some(lag) = lag_seconds(s, link) {
        let level = if lag >= limits.lag_crit.as_secs_f64() {
            Some((Health::Critical, limits.lag_crit))
        } else if lag >= limits.lag_warn.as_secs_f64() {
            Some((Health::Warning, limits.lag_warn))
        } else {
            None
        };
        if let Some((severity, limit)) = level {
            out.push(Problem::new(
                severity,
                "lag",
                addr,
                format!("lag {}{channel} over {}", fmt_secs(lag), fmt_secs(limit.as_secs_f64())),
            ));
        }
    }
}

/// True lag: the heartbeat when we have it (it keeps growing while replication
/// is stopped), else Seconds_Behind_Master (a hint: NULL when the SQL thread
/// stops, 0 while the IO thread is behind).
pub fn lag_seconds(s: &InstanceStatus, link: &ReplicationStatus) -> Option<f64> {
    s.heartbeat_lag.or(link.seconds_behind.map(|v| v as f64))
}

/// Findings that need the whole shard.
pub fn shard_problems(instances: &[Instance]) -> Vec<Problem> {
    let mut out = Vec::new();
    // A writable server that replicates from a member of the shard is a
    // writable replica (a warning of its own); one that does not is acting
    // as a master. Two of those: writes split between them.
    let members: Vec<&Addr> = instances.iter().map(|i| &i.addr).collect();
    let acting_masters: Vec<&Addr> = instances
        .iter()
        .filter(|i| i.error.is_none())
        .filter(|i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.writable() && !s.replication.iter().any(|l| members.contains(&&l.source)))
        })
        .map(|i| &i.addr)
        .collect();
    if acting_masters.len() > 1 {
        let list: Vec<String> = acting_masters.iter().map(|a| a.to_string()).collect();
        out.push(Problem {
            severity: Health::Critical,
            rule: "multiple_writable",
            instance: None,
            message: format!(
                "{} writable masters (not replicating from this shard): {}",
                acting_masters.len(),
                list.join(", ")
            ),
        });
    }
    out
}

/// Feed latency over the thresholds, or a feed query that fails (shard-wide findings).
pub fn feed_problems(feed: &FeedStats, limits: &Limits) -> Vec<Problem> {
    let mut out = Vec::new();
    let shard_problem = |severity, rule, message| Problem { severity, rule, instance: None, message };
    if let Some(e) = feed.last_error.as_ref().filter(|e| e.kind != super::status::ProbeErrorKind::Timeout) {
        out.push(shard_problem(Health::Warning, "feed_error", format!("feed query fails: {e}")));
    }
    let Some(s) = feed.summary.filter(|s| s.samples >= MIN_FEED_SAMPLES || s.samples == 0) else { return out };
    let (warn, crit) = (limits.feed_p99_warn.as_secs_f64() * 1e3, limits.feed_p99_crit.as_secs_f64() * 1e3);
    let level = if s.p99 >= crit {
        Some((Health::Critical, crit))
    } else if s.p99 >= warn {
        Some((Health::Warning, warn))
    } else {
        None
    };
    if let Some((severity, limit)) = level {
        let n = if s.samples > 0 { format!(" ({} samples)", s.samples) } else { String::new() };
        out.push(shard_problem(
            severity,
            "feed_latency",
            format!("feed p99 {} over {}{n}", fmt_ms(s.p99), fmt_ms(limit)),
        ));
    }
    out
}

/// A shard's QPS fell `qps_drop_percent` or more below its recent baseline
/// (the median of the earlier points in `history`): traffic went elsewhere,
/// or clients cannot reach it.
pub fn qps_drop(history: &History, limits: &Limits) -> Vec<Problem> {
    let (Some(baseline), Some(line)) = (qps_baseline(history), qps_drop_line(history, limits)) else {
        return Vec::new();
    };
    let points: Vec<f64> = history.iter().collect();
    let recent = &points[points.len() - QPS_RECENT_POINTS..];
    let now = recent.iter().sum::<f64>() / recent.len() as f64;
    if now > line {
        return Vec::new();
    }
    let fell = (1.0 - now / baseline) * 100.0;
    vec![Problem {
        severity: Health::Warning,
        rule: "qps_drop",
        instance: None,
        message: format!("QPS {now:.0} is {fell:.0}% below its recent {baseline:.0}"),
    }]
}

/// The median of the points before the recent ones; `None` while the history
/// is short or the shard idles (below [`QPS_DROP_FLOOR`]).
pub fn qps_baseline(history: &History) -> Option<f64> {
    if history.len() < QPS_BASELINE_POINTS {
        return None;
    }
    let mut before: Vec<f64> = history.iter().take(history.len() - QPS_RECENT_POINTS).collect();
    // The middle one as a sort would place it, without the sort (every shard's judgement asks).
    let mid = before.len() / 2;
    let (_, &mut baseline, _) = before.select_nth_unstable_by(mid, f64::total_cmp);
    (baseline >= QPS_DROP_FLOOR).then_some(baseline)
}

/// The QPS at or under which the drop rule fires (for charts).
pub fn qps_drop_line(history: &History, limits: &Limits) -> Option<f64> {
    qps_baseline(history).map(|b| b * (1.0 - limits.qps_drop_percent / 100.0))
}

/// Milliseconds for humans: `4.2ms`, `85ms`, `1.2s`.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

/// Worst severity among problems; `Ok` when there are none.
pub fn worst(problems: &[Problem]) -> Health {
    problems.iter().map(|p| p.severity).max().unwrap_or(Health::Ok)
}

/// Compact seconds for humans: `850ms`, `12s`, `4m05s`, `2h13m`.
pub fn fmt_secs(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round() as u64);
    }
    let s = secs.round() as u64;
    match s {
        0..=99 => format!("{s}s"),
        100..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::status::{ProbeError, ProbeErrorKind};
    use crate::fleet::test_support::{master_status, replica_status};

    fn inst(role: Role, status: Option<InstanceStatus>) -> Instance {
        let mut i = Instance::new(Addr::new("db1", 3306), role);
        i.status = status;
        i
    }

    fn rules(i: &Instance) -> Vec<(&'static str, Health)> {
        instance_problems(i, &Limits::default()).iter().map(|p| (p.rule, p.severity)).collect()
    }

    #[test]
    fn healthy_master_and_replica_have_no_problems() {
        assert!(rules(&inst(Role::Master, Some(master_status()))).is_empty());
        assert!(rules(&inst(Role::Replica, Some(replica_status(Some(0))))).is_empty());
    }

    #[test]
    fn not_yet_polled_is_unknown() {
        assert_eq!(rules(&inst(Role::Replica, None)), vec![("no_data", Health::Unknown)]);
    }

    #[test]
    fn unreachable_is_critical_and_names_the_error() {
        let mut i = inst(Role::Master, Some(master_status()));
        i.error = Some(ProbeError { kind: ProbeErrorKind::Refused, message: "connection refused".into() });
        let p = instance_problems(&i, &Limits::default());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].severity, Health::Critical);
        assert_eq!(p[0].message, "master unreachable: connection refused");
    }

    #[test]
    fn stopped_sql_thread_is_critical_with_error_text() {
        let mut s = replica_status(None);
        s.replication[0].sql_running = false;
        s.replication[0].last_sql_errno = 1062;
        s.replication[0].last_sql_error = "Duplicate entry '7' for key 'PRIMARY'".into();
        let p = instance_problems(&inst(Role::Replica, Some(s)), &Limits::default());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].severity, Health::Critical);
        assert_eq!(p[0].message, "SQL thread stopped: error 1062: Duplicate entry '7' for key 'PRIMARY'");
    }

    #[test]
    fn io_thread_connecting_is_critical() {
        let mut s = replica_status(Some(0));
        s.replication[0].io_state = IoState::Connecting;
        s.replication[0].last_io_errno = 2003;
        s.replication[0].last_io_error = "Can't connect".into();
        let p = instance_problems(&inst(Role::Replica, Some(s)), &Limits::default());
        assert_eq!(p[0].rule, "io_thread");
        assert_eq!(p[0].message, "IO thread connecting (source master:3306): error 2003: Can't connect");
    }

    #[test]
    fn lag_crosses_warn_then_crit() {
        let lim = Limits::default();
        assert!(rules(&inst(Role::Replica, Some(replica_status(Some(9))))).is_empty());
        assert_eq!(rules(&inst(Role::Replica, Some(replica_status(Some(10))))), vec![("lag", Health::Warning)]);
        let p = instance_problems(&inst(Role::Replica, Some(replica_status(Some(75)))), &lim);
        assert_eq!((p[0].severity, p[0].message.as_str()), (Health::Critical, "lag 75s over 60s"));
    }

    #[test]
    fn heartbeat_lag_wins_over_seconds_behind_master() {
        // SBM says 0 while the IO thread is behind; the heartbeat knows better.
        let mut s = replica_status(Some(0));
        s.heartbeat_lag = Some(30.0);
        assert_eq!(rules(&inst(Role::Replica, Some(s))), vec![("lag", Health::Warning)]);
    }

    #[test]
    fn null_seconds_behind_is_not_zero_lag() {
        let s = replica_status(None);
        assert_eq!(lag_seconds(&s, &s.replication[0]), None);
    }

    #[test]
    fn read_only_master_is_critical() {
        let mut s = master_status();
        s.read_only = true;
        assert_eq!(rules(&inst(Role::Master, Some(s))), vec![("master_read_only", Health::Critical)]);
    }

    #[test]
    fn writable_replica_is_a_warning() {
        let mut s = replica_status(Some(0));
        s.read_only = false;
        assert_eq!(rules(&inst(Role::Replica, Some(s))), vec![("writable_replica", Health::Warning)]);
    }

    #[test]
    fn replica_without_replication_is_critical() {
        let mut s = master_status();
        s.read_only = true;
        assert_eq!(rules(&inst(Role::Replica, Some(s))), vec![("not_replicating", Health::Critical)]);
    }

    #[test]
    fn two_writable_masters_in_a_shard_is_critical() {
        let m = inst(Role::Master, Some(master_status()));
        // A writable replica still replicating from the master: a warning elsewhere, not a second master.
        let mut s = replica_status(Some(0));
        s.read_only = false;
        let mut r = inst(Role::Replica, Some(s.clone()));
        r.addr = Addr::new("db2", 3306);
        let mut master = m.clone();
        master.addr = Addr::new("master", 3306);
        assert!(shard_problems(&[master.clone(), r.clone()]).is_empty());
        // The same replica detached from the master: two servers take writes.
        s.replication.clear();
        r.status = Some(s);
        let p = shard_problems(&[master.clone(), r]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].message, "2 writable masters (not replicating from this shard): master:3306, db2:3306");
        assert!(shard_problems(&[master]).is_empty());
    }

    #[test]
    fn worst_orders_by_severity() {
        assert_eq!(worst(&[]), Health::Ok);
        let p = |s| Problem { severity: s, rule: "x", instance: None, message: String::new() };
        assert_eq!(worst(&[p(Health::Warning), p(Health::Unknown)]), Health::Warning);
        assert_eq!(worst(&[p(Health::Warning), p(Health::Critical)]), Health::Critical);
    }

    fn feed_with(latencies_ms: &[u64]) -> FeedStats {
        use chrono::TimeZone;
        let mut f = FeedStats::new(Duration::from_secs(60));
        let at = chrono::Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        for &ms in latencies_ms {
            f.window.record(at, Duration::from_millis(ms));
        }
        f.summary = f.window.summary(at);
        f
    }

    fn rule_levels(p: Vec<Problem>) -> Vec<(&'static str, Health)> {
        p.iter().map(|p| (p.rule, p.severity)).collect()
    }

    #[test]
    fn feed_p99_warn_then_crit() {
        let lim = Limits::default();
        assert!(feed_problems(&feed_with(&[3; 50]), &lim).is_empty());
        let mut slow = vec![3; 95];
        slow.extend([60; 5]);
        assert_eq!(rule_levels(feed_problems(&feed_with(&slow), &lim)), vec![("feed_latency", Health::Warning)]);
        let p = feed_problems(&feed_with(&[150; 10]), &lim);
        assert_eq!(
            (p[0].severity, p[0].message.as_str()),
            (Health::Critical, "feed p99 150ms over 100ms (10 samples)")
        );
    }

    #[test]
    fn feed_rules_need_enough_samples_and_report_query_errors() {
        let lim = Limits::default();
        assert!(feed_problems(&feed_with(&[500; 4]), &lim).is_empty(), "4 samples are no p99");
        let mut f = feed_with(&[2; 10]);
        f.last_error =
            Some(ProbeError { kind: ProbeErrorKind::Query, message: "Table 'social.photos' doesn't exist".into() });
        let p = feed_problems(&f, &lim);
        assert_eq!(rule_levels(p.clone()), vec![("feed_error", Health::Warning)]);
        assert!(p[0].message.contains("social.photos"));
        // A timeout is a slow answer, judged by the latency rule, not a query error.
        f.last_error = Some(ProbeError { kind: ProbeErrorKind::Timeout, message: "no answer".into() });
        assert!(feed_problems(&f, &lim).is_empty());
    }

    fn history(points: &[f64]) -> History {
        let mut h = History::default();
        points.iter().for_each(|&p| h.push(p));
        h
    }

    #[test]
    fn qps_drop_against_the_recent_median() {
        let lim = Limits::default();
        let mut steady = vec![1000.0, 1100.0, 900.0, 1050.0, 950.0, 1000.0, 1020.0, 980.0, 1000.0];
        steady.extend([990.0, 1010.0, 1000.0]);
        assert!(qps_drop(&history(&steady), &lim).is_empty());
        let mut dropped = steady[..9].to_vec();
        dropped.extend([400.0, 420.0, 380.0]);
        let p = qps_drop(&history(&dropped), &lim);
        assert_eq!(rule_levels(p.clone()), vec![("qps_drop", Health::Warning)]);
        assert_eq!(p[0].message, "QPS 400 is 60% below its recent 1000");
        // One slow sweep among the recent points is smoothed away.
        let mut blip = steady[..9].to_vec();
        blip.extend([300.0, 1000.0, 1000.0]);
        assert!(qps_drop(&history(&blip), &lim).is_empty());
        // 40% down is under the default 50%; a stricter limit catches it.
        let mut down40 = steady[..9].to_vec();
        down40.extend([600.0; 3]);
        assert!(qps_drop(&history(&down40), &lim).is_empty());
        assert_eq!(qps_drop(&history(&down40), &Limits { qps_drop_percent: 30.0, ..lim.clone() }).len(), 1);
    }

    #[test]
    fn qps_drop_ignores_idle_shards_and_short_history() {
        let lim = Limits::default();
        let mut idle = vec![20.0; 9];
        idle.extend([1.0; 3]);
        assert!(qps_drop(&history(&idle), &lim).is_empty());
        assert!(qps_drop(&history(&[1000.0, 1000.0, 10.0, 10.0, 10.0]), &lim).is_empty());
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(fmt_ms(4.25), "4.2ms");
        assert_eq!(fmt_ms(85.4), "85ms");
        assert_eq!(fmt_ms(1234.0), "1.2s");
    }

    #[test]
    fn formats_seconds() {
        assert_eq!(fmt_secs(0.25), "250ms");
        assert_eq!(fmt_secs(12.0), "12s");
        assert_eq!(fmt_secs(245.0), "4m05s");
        assert_eq!(fmt_secs(7980.0), "2h13m");
    }
}
