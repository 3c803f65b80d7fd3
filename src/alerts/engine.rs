//! From the fleet model's findings, sweep after sweep, to alerts that fire once and resolve once.
//!
//! A finding (shard, instance, rule, severity) is *pending* from the first evaluation that sees
//! it; it *fires* once it has been seen continuously for its rule's `for`, and a pending one that
//! goes away before then is forgotten without a word (a flap shorter than `for` never fires). A
//! firing alert *resolves* once its finding has been away for `keep_firing_for` (0: at the first
//! evaluation without it). Pure: the clock is passed in.
//!
//! Three things keep an alert from lying:
//! - a shard held by an action of this session (`fleet::hold`) is frozen: nothing starts, fires or
//!   resolves there until the hold lets go, so a promotion's transient states never page anyone,
//!   and what outlives the action is pending from the release and fires `for` after it;
//! - a firing alert on a server that stopped answering is not resolved: the server's other
//!   findings vanish because nothing is known, not because they were fixed;
//! - a warning that escalates to critical keeps the warning alert firing (as two Prometheus rules
//!   `> warn` and `> crit` would), so escalation adds an alert and never resolves one.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::notification::{Notification, Status};
use crate::config::AlertsConfig;
use crate::fleet::{Fleet, Health};

/// An evaluation this much short of `for` counts as on time: hosts evaluate on a ticker (the TUI's
/// clock, `serve`'s sweeps), whose ticks land a few milliseconds early or late, and a finding
/// seen at one tick must fire at the tick `for` later, not one interval after that.
const TICK_SLACK: Duration = Duration::from_millis(100);

/// Rules that mean "nothing is known about this server now".
const SILENT_RULES: &[&str] = &["unreachable", "master_unreachable", "master_dead"];

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    shard: String,
    instance: Option<String>,
    rule: &'static str,
    severity: Health,
}

#[derive(Clone, Debug)]
struct Alert {
    since: DateTime<Utc>,
    /// When it fired; `None` while pending.
    fired: Option<DateTime<Utc>>,
    /// When its finding was last missing while firing (the `keep_firing_for` clock).
    missing_since: Option<DateTime<Utc>>,
    summary: String,
}

/// The alert state of the whole fleet.
pub struct Engine {
    cfg: AlertsConfig,
    alerts: HashMap<Key, Alert>,
}

pub fn severity_label(h: Health) -> &'static str {
    match h {
        Health::Critical => "critical",
        Health::Warning => "warning",
        Health::Unknown => "unknown",
        Health::Ok => "info",
    }
}

impl Engine {
    pub fn new(cfg: AlertsConfig) -> Self {
        Engine { cfg, alerts: HashMap::new() }
    }

    /// How many alerts fire now.
    pub fn firing(&self) -> usize {
        self.alerts.values().filter(|a| a.fired.is_some()).count()
    }

    /// How many are pending (seen, not yet for long enough).
    pub fn pending(&self) -> usize {
        self.alerts.values().filter(|a| a.fired.is_none()).count()
    }

    /// One evaluation at `now`: what fired and what resolved since the last one.
    pub fn evaluate(&mut self, fleet: &Fleet, now: DateTime<Utc>) -> Vec<Notification> {
        let mut held: HashSet<&str> = HashSet::new();
        let mut silent: HashSet<(&str, String)> = HashSet::new();
        let mut active: HashMap<Key, String> = HashMap::new();
        for sh in &fleet.shards {
            if sh.hold.is_some() {
                held.insert(sh.name.as_str());
                continue;
            }
            for p in sh.all_problems() {
                let instance = p.instance.as_ref().map(ToString::to_string);
                if SILENT_RULES.contains(&p.rule)
                    && let Some(i) = &instance
                {
                    silent.insert((sh.name.as_str(), i.clone()));
                }
                if p.severity < self.cfg.min_severity || p.severity == Health::Unknown {
                    continue;
                }
                if self.cfg.for_rule(p.rule).is_none() {
                    continue;
                }
                let key = Key { shard: sh.name.clone(), instance, rule: p.rule, severity: p.severity };
                active.entry(key).or_insert_with(|| p.message.clone());
            }
        }
        let mut out = Vec::new();
        // Findings seen now: start pending, fire when due, or carry on firing.
        for (key, summary) in &active {
            let wait = self.cfg.for_rule(key.rule).unwrap_or(Duration::MAX);
            let alert = self.alerts.entry(key.clone()).or_insert_with(|| Alert {
                since: now,
                fired: None,
                missing_since: None,
                summary: summary.clone(),
            });
            alert.summary.clone_from(summary);
            alert.missing_since = None;
            if alert.fired.is_none() && elapsed(alert.since, now) + TICK_SLACK >= wait {
                alert.fired = Some(now);
                out.push(notification(key, alert, Status::Firing, None));
            }
        }
        // The rest: forgotten while pending, kept while unknown or escalated, resolved when gone.
        let mut gone = Vec::new();
        for (key, alert) in &mut self.alerts {
            if active.contains_key(key) || held.contains(key.shard.as_str()) {
                continue;
            }
            let escalated = active.keys().any(|k| {
                k.shard == key.shard && k.instance == key.instance && k.rule == key.rule && k.severity > key.severity
            });
            let unknown = key.instance.as_ref().is_some_and(|i| {
                !SILENT_RULES.contains(&key.rule) && silent.contains(&(key.shard.as_str(), i.clone()))
            });
            if alert.fired.is_some() && (escalated || unknown) {
                alert.missing_since = None;
                continue;
            }
            if alert.fired.is_none() {
                gone.push(key.clone());
                continue;
            }
            let missing = *alert.missing_since.get_or_insert(now);
            if elapsed(missing, now) >= self.cfg.keep_firing_for {
                out.push(notification(key, alert, Status::Resolved, Some(now)));
                gone.push(key.clone());
            }
        }
        for k in gone {
            self.alerts.remove(&k);
        }
        out.sort_by(|a, b| (&a.shard, &a.fingerprint).cmp(&(&b.shard, &b.fingerprint)));
        out
    }
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

fn notification(key: &Key, alert: &Alert, status: Status, ends_at: Option<DateTime<Utc>>) -> Notification {
    let severity = severity_label(key.severity);
    Notification {
        kind: "anomaly",
        status,
        shard: key.shard.clone(),
        instance: key.instance.clone(),
        rule: key.rule.to_string(),
        severity,
        summary: alert.summary.clone(),
        since: alert.since,
        starts_at: alert.fired.unwrap_or(alert.since),
        ends_at,
        fingerprint: Notification::fingerprint_of(&key.shard, key.instance.as_deref(), key.rule, severity),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::fleet::status::{ProbeError, ProbeErrorKind, Sample};
    use crate::fleet::test_support::{link, master_status};
    use crate::fleet::{Addr, Limits, Shard};

    fn a(h: &str) -> Addr {
        Addr::new(h, 3306)
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).single().unwrap_or_default()
    }

    fn fleet() -> Fleet {
        Fleet::new(vec![Shard::new("s0", a("m"), [a("r1")], None)], Limits::default())
    }

    fn cfg(for_secs: u64) -> AlertsConfig {
        AlertsConfig { for_: Duration::from_secs(for_secs), ..AlertsConfig::default() }
    }

    /// One sweep at `s` seconds: the master fine, r1 with its SQL thread running or not and `lag`.
    fn sweep(f: &mut Fleet, s: i64, sql_running: bool, lag: u64) {
        let m = master_status();
        let mut r = master_status();
        r.server_id = 2;
        r.read_only = true;
        let mut l = link(a("m"), if sql_running { Some(lag) } else { None });
        l.sql_running = sql_running;
        if !sql_running {
            l.last_sql_errno = 1062;
            l.last_sql_error = "Duplicate entry".into();
        }
        r.replication = vec![l];
        for (i, st) in [m, r].into_iter().enumerate() {
            f.apply(0, i, Sample { at: t(s), elapsed: Duration::from_millis(1), result: Ok(st) });
        }
    }

    fn down(f: &mut Fleet, s: i64) {
        let e = ProbeError { kind: ProbeErrorKind::Refused, message: "connection refused".into() };
        f.apply(0, 1, Sample { at: t(s), elapsed: Duration::from_millis(1), result: Err(e) });
    }

    fn rules(n: &[Notification]) -> Vec<(Status, &str, &str)> {
        n.iter().map(|n| (n.status, n.rule.as_str(), n.severity)).collect()
    }

    #[test]
    fn fires_once_after_for_and_resolves_once() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(30));
        sweep(&mut f, 0, true, 0);
        assert!(e.evaluate(&f, t(0)).is_empty());
        sweep(&mut f, 1, false, 0);
        let mut told = Vec::new();
        for s in 1..=40 {
            sweep(&mut f, s, false, 0);
            let n = e.evaluate(&f, t(s));
            if !n.is_empty() {
                told.push((s, n));
            }
        }
        assert_eq!(told.len(), 1, "{told:#?}");
        let (at, n) = &told[0];
        assert_eq!(*at, 31, "30 s after it was first seen");
        assert_eq!(rules(n), [(Status::Firing, "sql_thread", "critical")]);
        assert_eq!((n[0].shard.as_str(), n[0].instance.as_deref()), ("s0", Some("r1:3306")));
        assert_eq!((n[0].since, n[0].starts_at, n[0].ends_at), (t(1), t(31), None));
        assert_eq!((e.firing(), e.pending()), (1, 0));
        sweep(&mut f, 41, true, 0);
        let n = e.evaluate(&f, t(41));
        assert_eq!(rules(&n), [(Status::Resolved, "sql_thread", "critical")]);
        assert_eq!(n[0].ends_at, Some(t(41)));
        assert_eq!(n[0].fingerprint, "s0/r1:3306/sql_thread/critical");
        sweep(&mut f, 42, true, 0);
        assert!(e.evaluate(&f, t(42)).is_empty(), "resolved once");
        assert_eq!((e.firing(), e.pending()), (0, 0));
    }

    #[test]
    fn a_tick_a_few_ms_early_still_fires_on_time() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(5));
        sweep(&mut f, 0, false, 0);
        assert!(e.evaluate(&f, t(0)).is_empty());
        let early = t(5) - chrono::Duration::milliseconds(3);
        assert_eq!(rules(&e.evaluate(&f, early)), [(Status::Firing, "sql_thread", "critical")]);
        let mut e = Engine::new(cfg(5));
        assert!(e.evaluate(&f, t(0)).is_empty());
        assert!(e.evaluate(&f, t(4)).is_empty(), "a whole second early is early");
    }

    #[test]
    fn a_flap_shorter_than_for_never_fires() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(30));
        for s in 0..200 {
            // 20 s broken, 5 s fine, over and over.
            sweep(&mut f, s, s % 25 >= 20, 0);
            assert!(e.evaluate(&f, t(s)).is_empty(), "at {s}");
        }
    }

    #[test]
    fn keep_firing_for_damps_a_flapping_recovery() {
        let mut f = fleet();
        let mut e = Engine::new(AlertsConfig { keep_firing_for: Duration::from_secs(10), ..cfg(5) });
        let mut told = Vec::new();
        for s in 0..100 {
            // Broken from 0 to 60 with one good sweep every 8 s, then fine.
            let broken = s < 60 && s % 8 != 7;
            sweep(&mut f, s, !broken, 0);
            told.extend(e.evaluate(&f, t(s)).into_iter().map(|n| (s, n.status)));
        }
        assert_eq!(told, [(5, Status::Firing), (70, Status::Resolved)]);
    }

    #[test]
    fn per_rule_for_and_off() {
        let mut f = fleet();
        let mut c = cfg(30);
        c.rules.insert("sql_thread".into(), Some(Duration::from_secs(2)));
        let mut e = Engine::new(c.clone());
        sweep(&mut f, 0, false, 0);
        assert!(e.evaluate(&f, t(0)).is_empty());
        assert_eq!(rules(&e.evaluate(&f, t(2))), [(Status::Firing, "sql_thread", "critical")]);
        c.rules.insert("sql_thread".into(), None);
        let mut e = Engine::new(c);
        assert!(e.evaluate(&f, t(0)).is_empty() && e.evaluate(&f, t(100)).is_empty() && e.pending() == 0);
    }

    #[test]
    fn escalation_adds_the_critical_alert_and_keeps_the_warning() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(5));
        let mut told = Vec::new();
        for s in 0..40 {
            let lag = match s {
                0..10 => 20,  // warning (10 s < lag < 60 s)
                10..20 => 90, // critical
                20..30 => 20, // back to warning
                _ => 0,
            };
            sweep(&mut f, s, true, lag);
            told.extend(e.evaluate(&f, t(s)).into_iter().map(|n| (s, n.status, n.severity)));
        }
        assert_eq!(
            told,
            [
                (5, Status::Firing, "warning"),
                (15, Status::Firing, "critical"),
                (20, Status::Resolved, "critical"),
                (30, Status::Resolved, "warning"),
            ]
        );
    }

    #[test]
    fn a_server_that_stops_answering_does_not_resolve_its_alerts() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(0));
        sweep(&mut f, 0, false, 0);
        assert_eq!(rules(&e.evaluate(&f, t(0))), [(Status::Firing, "sql_thread", "critical")]);
        down(&mut f, 1);
        let n = e.evaluate(&f, t(1));
        assert_eq!(rules(&n), [(Status::Firing, "unreachable", "critical")], "sql_thread not resolved");
        sweep(&mut f, 2, true, 0);
        let n = e.evaluate(&f, t(2));
        assert_eq!(
            rules(&n),
            [(Status::Resolved, "sql_thread", "critical"), (Status::Resolved, "unreachable", "critical")]
        );
    }

    #[test]
    fn a_held_shard_is_frozen_and_what_outlives_the_action_fires_after() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(5));
        sweep(&mut f, 0, true, 0);
        f.begin_action(0, "promotion", t(1));
        // The action's transient states: held by the model, frozen here.
        for s in 1..20 {
            sweep(&mut f, s, false, 0);
            assert!(e.evaluate(&f, t(s)).is_empty(), "at {s}");
        }
        f.end_action(0, t(20), Duration::from_secs(1));
        sweep(&mut f, 22, false, 0);
        f.release_holds(t(22));
        assert!(f.shards[0].hold.is_none());
        // It outlived the action: pending from the release, firing `for` later.
        assert!(e.evaluate(&f, t(22)).is_empty());
        assert_eq!(rules(&e.evaluate(&f, t(27))), [(Status::Firing, "sql_thread", "critical")]);
    }

    #[test]
    fn a_firing_alert_is_not_resolved_by_a_hold() {
        let mut f = fleet();
        let mut e = Engine::new(cfg(0));
        sweep(&mut f, 0, false, 0);
        assert_eq!(e.evaluate(&f, t(0)).len(), 1);
        f.begin_action(0, "checksum", t(1));
        sweep(&mut f, 2, true, 0);
        assert!(e.evaluate(&f, t(2)).is_empty(), "frozen while held");
        f.end_action(0, t(3), Duration::from_secs(1));
        sweep(&mut f, 5, true, 0);
        f.release_holds(t(5));
        assert_eq!(rules(&e.evaluate(&f, t(5))), [(Status::Resolved, "sql_thread", "critical")]);
    }

    #[test]
    fn min_severity_critical_ignores_warnings() {
        let mut f = fleet();
        let mut e = Engine::new(AlertsConfig { min_severity: Health::Critical, ..cfg(0) });
        sweep(&mut f, 0, true, 20);
        assert!(e.evaluate(&f, t(0)).is_empty());
        sweep(&mut f, 1, true, 90);
        assert_eq!(rules(&e.evaluate(&f, t(1))), [(Status::Firing, "lag", "critical")]);
    }
}
