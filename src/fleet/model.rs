//! Shards and instances as the dashboard knows them, updated one sample at a time.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::death::MasterState;
use super::external::{External, SourceState, external_problems};
use super::feed::{FeedStats, Source};
use super::health::{self, Health, Limits, Problem};
pub use super::hold::ActionHold;
use super::news::Event;
pub use super::rates::{CommandRates, HISTORY_LEN, History, RateTracker, Rates};
use super::status::{Discovery, InstanceStatus, ProbeError, Sample};
use super::topology::Index;
use crate::mysql::Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Replica,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub addr: Addr,
    pub role: Role,
    /// Last successful observation (kept while the server is unreachable, greyed out).
    pub status: Option<InstanceStatus>,
    /// Set when the latest probe failed.
    pub error: Option<ProbeError>,
    /// Consecutive probes that found the server unreachable (no connection, or no answer in
    /// time); 0 after any answer, a refused login or a failed query included. What
    /// `death::master_state` counts.
    pub failures: u32,
    /// When the first of those `failures` was seen (the sample's time); `None` while it answers.
    pub down_since: Option<DateTime<Utc>>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_probe: Option<DateTime<Utc>>,
    pub probe_ms: Option<f64>,
    pub qps: Option<f64>,
    pub qps_by_command: Option<CommandRates>,
    pub rates: RateTracker,
    pub qps_history: History,
    pub lag_history: History,
    pub problems: Vec<Problem>,
    pub health: Health,
    /// The last discovery reading (who replicates from this server) and when it was taken.
    pub discovery: Option<(DateTime<Utc>, Discovery)>,
    /// How shardtop learnt of this server when the config does not name it.
    pub discovered_via: Option<String>,
    /// A discovered server that went away (down, and named by nobody any more):
    /// still probed, in case it returns, but no longer judged or drawn.
    pub gone: bool,
}

impl Instance {
    pub fn new(addr: Addr, role: Role) -> Self {
        Instance {
            addr,
            role,
            status: None,
            error: None,
            failures: 0,
            down_since: None,
            last_ok: None,
            last_probe: None,
            probe_ms: None,
            qps: None,
            qps_by_command: None,
            rates: RateTracker::default(),
            qps_history: History::default(),
            lag_history: History::default(),
            problems: Vec::new(),
            health: Health::Unknown,
            discovery: None,
            discovered_via: None,
            gone: false,
        }
    }

    pub fn reachable(&self) -> bool {
        self.error.is_none() && self.status.is_some()
    }

    /// Lag of the primary link: heartbeat first, else Seconds_Behind_Master.
    pub fn lag(&self) -> Option<f64> {
        let s = self.status.as_ref()?;
        health::lag_seconds(s, s.primary_link()?)
    }

    /// Seconds since the data shown was fresh.
    pub fn age(&self, now: DateTime<Utc>) -> Option<f64> {
        self.last_ok.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0)
    }

    fn apply(&mut self, mut sample: Sample) {
        if let Ok(status) = &mut sample.result
            && let Some(d) = status.topo.discovery.take()
        {
            self.discovery = Some((sample.at, d));
        }
        self.last_probe = Some(sample.at);
        self.probe_ms = Some(sample.elapsed.as_secs_f64() * 1000.0);
        match sample.result {
            Ok(status) => {
                let rates = self.rates.rates(sample.at, &status.counters);
                self.qps = rates.map(|r| r.qps);
                self.qps_by_command = rates.map(|r| r.by_command);
                if let Some(q) = self.qps {
                    self.qps_history.push(q);
                }
                self.status = Some(status);
                self.error = None;
                self.failures = 0;
                self.down_since = None;
                self.last_ok = Some(sample.at);
                if let Some(lag) = self.lag() {
                    self.lag_history.push(lag);
                }
            }
            Err(e) => {
                self.failures = if e.unreachable() { self.failures.saturating_add(1) } else { 0 };
                self.down_since = if self.failures == 0 { None } else { self.down_since.or(Some(sample.at)) };
                self.error = Some(e);
                self.qps = None;
                self.qps_by_command = None;
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Shard {
    pub name: String,
    pub upstream: Option<Addr>,
    /// The declared master first, then replicas.
    pub instances: Vec<Instance>,
    /// Shard-wide findings (e.g. two writable servers); per-instance ones live on the instances.
    pub problems: Vec<Problem>,
    pub health: Health,
    pub qps_history: History,
    /// Feed probe latency against this shard.
    pub feed: FeedStats,
    /// Figures from `[[metrics]]` sources.
    pub external: External,
    /// Nothing is polled directly (no database account): judged on `external` alone.
    pub metrics_only: bool,
    /// Up, suspect, unreachable or dead: the holistic verdict on the master (`death`), from its
    /// consecutive failed probes and what its replicas last said. `None` until the master has
    /// been probed, and for metrics-only shards.
    pub master_state: Option<MasterState>,
    /// When this session made another server the master (a promotion or failover through
    /// [`Fleet::promoted`]); a writable former master is then a zombie "since failover at …".
    pub master_changed_at: Option<DateTime<Utc>>,
    /// An action of this session (a promotion) runs on the shard, or just ended: its transient
    /// findings are held (`hold`).
    pub hold: Option<ActionHold>,
}

/// How far back feed percentiles look unless configured otherwise.
pub const DEFAULT_FEED_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Shard {
    pub fn new(
        name: impl Into<String>,
        master: Addr,
        replicas: impl IntoIterator<Item = Addr>,
        upstream: Option<Addr>,
    ) -> Self {
        let mut instances = vec![Instance::new(master, Role::Master)];
        instances.extend(replicas.into_iter().map(|a| Instance::new(a, Role::Replica)));
        Shard {
            name: name.into(),
            upstream,
            instances,
            problems: Vec::new(),
            health: Health::Unknown,
            qps_history: History::default(),
            feed: FeedStats::new(DEFAULT_FEED_WINDOW),
            external: External::default(),
            metrics_only: false,
            master_state: None,
            master_changed_at: None,
            hold: None,
        }
    }

    pub fn master(&self) -> &Instance {
        &self.instances[0]
    }

    pub fn replicas(&self) -> &[Instance] {
        &self.instances[1..]
    }

    /// Replicas that answer and whose both threads run.
    pub fn replicas_up(&self) -> usize {
        self.replicas()
            .iter()
            .filter(|i| i.error.is_none())
            .filter_map(|i| i.status.as_ref()?.primary_link())
            .filter(|l| l.sql_running && l.io_state == super::status::IoState::Running)
            .count()
    }

    pub fn worst_lag(&self) -> Option<f64> {
        self.worst_lag_with_source().map(|(v, _)| v)
    }

    /// Measured lag when any replica reports one, else an external source's.
    pub fn worst_lag_with_source(&self) -> Option<(f64, Source)> {
        let direct = self.replicas().iter().filter_map(Instance::lag).reduce(f64::max);
        direct.map(|v| (v, Source::Direct)).or(self.external.lag.map(|e| (e.value, e.source)))
    }

    /// Sum of the instances' rates; `None` until at least one instance has a rate.
    pub fn qps(&self) -> Option<f64> {
        self.qps_with_source().map(|(v, _)| v)
    }

    /// The measured rate when there is one, else an external source's.
    pub fn qps_with_source(&self) -> Option<(f64, Source)> {
        let direct = self.instances.iter().filter_map(|i| i.qps).reduce(|a, b| a + b);
        direct.map(|v| (v, Source::Direct)).or(self.external.qps.map(|e| (e.value, e.source)))
    }

    /// Sum of the instances' per-command rates; `None` until one has a rate.
    pub fn qps_by_command(&self) -> Option<CommandRates> {
        self.instances.iter().filter_map(|i| i.qps_by_command).reduce(|a, b| a.add(&b))
    }

    /// Every finding: shard-wide first, then per instance.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().chain(self.instances.iter().flat_map(|i| i.problems.iter()))
    }

    /// The one problem to show when there is room for one: the worst, and
    /// among equals the first (shard-wide, then the master, then replicas).
    pub fn headline(&self) -> Option<&Problem> {
        self.all_problems().fold(None, |best: Option<&Problem>, p| match best {
            Some(b) if b.severity >= p.severity => Some(b),
            _ => Some(p),
        })
    }

    /// Re-judges every member; `anomalies` (from `anomaly::check`) go to the
    /// member they name, or stay shard-wide.
    pub(super) fn evaluate(&mut self, limits: &Limits, anomalies: Vec<Problem>) {
        if self.metrics_only {
            self.problems =
                external_problems(&self.external, limits.lag_warn.as_secs_f64(), limits.lag_crit.as_secs_f64());
            self.problems.extend(health::feed_problems(&self.feed, limits));
            self.problems.extend(health::qps_drop(&self.qps_history, limits));
            self.health = self.problems.iter().map(|p| p.severity).max().unwrap_or(Health::Ok);
            return;
        }
        for (k, inst) in self.instances.iter_mut().enumerate() {
            // The master's own failure is judged with its replicas' word: suspect, unreachable or dead.
            let down = (k == 0).then(|| self.master_state.as_ref().and_then(|st| health::master_down(inst, st)));
            inst.problems = match down.flatten() {
                _ if inst.gone => Vec::new(),
                Some(p) => vec![p],
                None => health::instance_problems(inst, limits),
            };
        }
        self.problems = health::shard_problems(&self.instances);
        // A zombie master says it best: the same server's writable-replica and not-replicating
        // findings, and the shard's two writable masters, would repeat it less well.
        let zombies: Vec<Addr> =
            anomalies.iter().filter(|p| p.rule == "zombie_master").filter_map(|p| p.instance.clone()).collect();
        if !zombies.is_empty() {
            self.problems.retain(|p| p.rule != "multiple_writable");
            for inst in self.instances.iter_mut().filter(|i| zombies.contains(&i.addr)) {
                inst.problems.retain(|p| !matches!(p.rule, "writable_replica" | "not_replicating"));
            }
        }
        for p in anomalies {
            match p.instance.as_ref().and_then(|a| self.instances.iter().position(|i| &i.addr == a)) {
                Some(i) => self.instances[i].problems.push(p),
                None => self.problems.push(p),
            }
        }
        for inst in &mut self.instances {
            inst.health = health::worst(&inst.problems);
        }
        self.problems.extend(health::feed_problems(&self.feed, limits));
        self.problems.extend(health::qps_drop(&self.qps_history, limits));
        self.health = self.all_problems().map(|p| p.severity).max().unwrap_or(Health::Ok);
    }
}

#[derive(Clone, Debug)]
pub struct Fleet {
    pub shards: Vec<Shard>,
    pub limits: Limits,
    /// Where each watched address is; kept up to date by `add_instance`.
    pub index: Index,
    /// The whole scatter-gather: each round's slowest shard.
    pub fanout: FeedStats,
    /// `[[metrics]]` sources, in config order.
    pub sources: Vec<SourceState>,
}

impl Fleet {
    pub fn new(shards: Vec<Shard>, limits: Limits) -> Self {
        let mut index = Index::new();
        for (s, shard) in shards.iter().enumerate() {
            for (i, inst) in shard.instances.iter().enumerate() {
                index.entry(inst.addr.clone()).or_insert((s, i));
            }
        }
        let mut fleet =
            Fleet { shards, limits, index, fanout: FeedStats::new(DEFAULT_FEED_WINDOW), sources: Vec::new() };
        for s in 0..fleet.shards.len() {
            fleet.judge(s);
        }
        fleet
    }

    /// A promotion made `new_master` the master of shard `s`: it takes the master's place (index 0,
    /// `Role::Master`) and the old master becomes a replica in its place, so roles are judged as
    /// the servers now are without editing the config. Returns the index the old master moved to
    /// (where the new master was), or `None` when `new_master` is not in the shard or already its
    /// master. Callers that address instances by index (the poller's slots) must swap the two.
    /// `at` is remembered as the shard's `master_changed_at`.
    pub fn promoted_at(&mut self, s: usize, new_master: &Addr, at: DateTime<Utc>) -> Option<usize> {
        let sh = self.shards.get_mut(s)?;
        let c = sh.instances.iter().position(|i| i.addr == *new_master).filter(|&c| c > 0)?;
        sh.instances.swap(0, c);
        sh.instances[0].role = Role::Master;
        sh.instances[0].discovered_via = None;
        sh.instances[0].gone = false;
        sh.instances[c].role = Role::Replica;
        sh.master_changed_at = Some(at);
        for (i, inst) in sh.instances.iter().enumerate().filter(|(i, _)| *i == 0 || *i == c) {
            self.index.insert(inst.addr.clone(), (s, i));
        }
        self.judge(s);
        Some(c)
    }

    /// Like [`promoted_at`](Self::promoted_at), at the current time.
    pub fn promoted(&mut self, s: usize, new_master: &Addr) -> Option<usize> {
        self.promoted_at(s, new_master, Utc::now())
    }

    /// Runs every rule on shard `s`: per-instance health, shard health, topology anomalies.
    pub(super) fn judge(&mut self, s: usize) {
        let verdict = super::verdict::master_verdict(&self.shards, s, &self.index);
        if let Some(sh) = self.shards.get_mut(s) {
            sh.master_state = verdict;
        }
        let found = super::anomaly::check(&super::anomaly::Ctx {
            shards: &self.shards,
            me: s,
            index: &self.index,
            limits: &self.limits,
        });
        if let Some(sh) = self.shards.get_mut(s) {
            sh.evaluate(&self.limits, found);
            super::hold::apply(sh);
        }
    }

    /// Record one probe result and re-judge its shard. Returns what changed:
    /// problems that appeared, and problems that cleared.
    pub fn apply(&mut self, shard: usize, instance: usize, sample: Sample) -> Vec<Event> {
        let Some(sh) = self.shards.get_mut(shard) else { return Vec::new() };
        let Some(inst) = sh.instances.get_mut(instance) else { return Vec::new() };
        let first_sample = inst.last_probe.is_none();
        let at = sample.at;
        inst.apply(sample);
        // Before judging: a state another process's action causes is held from its first sight.
        self.follow_action_elsewhere(shard, at);
        let Some(sh) = self.shards.get_mut(shard) else { return Vec::new() };
        let before: Vec<Problem> = sh.all_problems().cloned().collect();
        let was = sh.master_state.clone();
        self.judge(shard);
        let Some(sh) = self.shards.get_mut(shard) else { return Vec::new() };
        // Once per sweep, and only when every answering instance has a rate (a partial sum
        // right after start-up would chart as a dip, and feed the QPS-drop rule a false low).
        if instance == 0 && sh.instances.iter().all(|i| i.qps.is_some() || i.error.is_some()) {
            let total = sh.qps();
            if let Some(q) = total {
                sh.qps_history.push(q);
            }
        }
        if sh.hold.is_some() {
            // Held: news of this shard waits for the action to settle (`release_holds`).
            return self.release_hold(shard, at);
        }
        super::hold::news(sh, was.as_ref(), &before, first_sample)
    }

    /// Re-judge one shard after something other than a probe changed it (a feed round).
    pub(super) fn rejudge(&mut self, shard: usize) -> Vec<Event> {
        let Some(sh) = self.shards.get(shard) else { return Vec::new() };
        let before: Vec<Problem> = sh.all_problems().cloned().collect();
        let was = sh.master_state.clone();
        self.judge(shard);
        let Some(sh) = self.shards.get(shard) else { return Vec::new() };
        super::hold::news(sh, was.as_ref(), &before, false)
    }

    /// Nothing is polled directly: judge shards on external figures only.
    pub fn metrics_only(mut self) -> Self {
        for s in &mut self.shards {
            s.metrics_only = true;
            s.instances.iter_mut().for_each(|i| i.problems.clear());
            s.evaluate(&self.limits, Vec::new());
        }
        self
    }

    /// Use `window` for the feed percentiles (the default is a minute).
    pub fn with_feed_window(mut self, window: std::time::Duration) -> Self {
        for s in &mut self.shards {
            s.feed = FeedStats::new(window);
        }
        self.fanout = FeedStats::new(window);
        self
    }

    /// Worst health over the fleet.
    pub fn health(&self) -> Health {
        self.shards.iter().map(|s| s.health).max().unwrap_or(Health::Ok)
    }

    /// Shards per health, for the summary line: (ok, warning, critical, unknown).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let n = |h| self.shards.iter().filter(|s| s.health == h).count();
        (n(Health::Ok), n(Health::Warning), n(Health::Critical), n(Health::Unknown))
    }

    pub fn instance_count(&self) -> usize {
        self.shards.iter().map(|s| s.instances.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::fleet::status::Counters;
    use crate::fleet::status::ProbeErrorKind;
    use crate::fleet::test_support::{master_status, replica_status};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap_or_default()
    }

    fn ok(at: i64, s: InstanceStatus) -> Sample {
        Sample { at: t(at), elapsed: Duration::from_millis(3), result: Ok(s) }
    }

    fn counters(uptime: u64, questions: u64) -> Counters {
        Counters { uptime, questions, ..Counters::default() }
    }

    #[test]
    fn rate_uses_real_elapsed_time_and_resets_on_restart() {
        let mut r = RateTracker::default();
        assert_eq!(r.update(t(0), &counters(100, 1000)), None);
        assert_eq!(r.update(t(2), &counters(102, 3000)), Some(1000.0));
        // A missed sweep: 4 s elapsed, the rate stays per second.
        assert_eq!(r.update(t(6), &counters(106, 7000)), Some(1000.0));
        // Restart: uptime fell, no negative or huge rate.
        assert_eq!(r.update(t(8), &counters(1, 50)), None);
        assert_eq!(r.update(t(9), &counters(2, 150)), Some(100.0));
    }

    #[test]
    fn command_split_over_real_elapsed_time() {
        let mut r = RateTracker::default();
        let c = |uptime, q, sel, ins, upd, del, rep| Counters {
            uptime,
            questions: q,
            com_select: sel,
            com_insert: ins,
            com_update: upd,
            com_delete: del,
            com_replace: rep,
            ..Counters::default()
        };
        assert_eq!(r.rates(t(0), &c(100, 1000, 500, 100, 50, 10, 0)), None);
        let got = r.rates(t(4), &c(104, 5000, 2500, 900, 250, 50, 8)).expect("rates");
        assert_eq!(got.qps, 1000.0);
        assert_eq!(
            got.by_command,
            CommandRates { select: 500.0, insert: 200.0, update: 50.0, delete: 10.0, replace: 2.0 }
        );
        // FLUSH STATUS resets Com_* without a restart: no rate rather than a wrapped one.
        assert_eq!(r.rates(t(5), &c(105, 6000, 0, 0, 0, 0, 0)), None);
        assert_eq!(r.rates(t(6), &c(106, 6100, 40, 0, 0, 0, 0)).map(|x| x.by_command.select), Some(40.0));
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        for i in 0..HISTORY_LEN + 50 {
            h.push(i as f64);
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h.iter().next(), Some(50.0));
    }

    fn fleet() -> Fleet {
        let shard = Shard::new("s1", Addr::new("master", 3306), [Addr::new("db1", 3306)], None);
        Fleet::new(vec![shard], Limits::default())
    }

    #[test]
    fn starts_unknown_then_healthy() {
        let mut f = fleet();
        assert_eq!(f.health(), Health::Unknown);
        assert!(f.apply(0, 0, ok(0, master_status())).is_empty());
        assert!(f.apply(0, 1, ok(0, replica_status(Some(0)))).is_empty());
        assert_eq!(f.health(), Health::Ok);
        assert_eq!(f.shards[0].replicas_up(), 1);
    }

    #[test]
    fn reports_breakage_and_recovery_once() {
        let mut f = fleet();
        f.apply(0, 0, ok(0, master_status()));
        f.apply(0, 1, ok(0, replica_status(Some(0))));
        let mut broken = replica_status(None);
        broken.replication[0].sql_running = false;
        broken.replication[0].last_sql_errno = 1062;
        broken.replication[0].last_sql_error = "Duplicate entry".into();
        let ev = f.apply(0, 1, ok(1, broken.clone()));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].severity, Health::Critical);
        assert_eq!(ev[0].message, "db1:3306 SQL thread stopped: error 1062: Duplicate entry");
        assert!(f.apply(0, 1, ok(2, broken)).is_empty(), "a persisting problem is not news");
        let ev = f.apply(0, 1, ok(3, replica_status(Some(0))));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].severity, Health::Ok);
        assert!(ev[0].message.starts_with("db1:3306 recovered (was: SQL thread stopped"), "{}", ev[0].message);
    }

    #[test]
    fn lag_escalation_reports_the_new_level_only() {
        let mut f = fleet();
        f.apply(0, 0, ok(0, master_status()));
        f.apply(0, 1, ok(0, replica_status(Some(0))));
        let ev = f.apply(0, 1, ok(1, replica_status(Some(15))));
        assert_eq!((ev.len(), ev[0].severity), (1, Health::Warning));
        let ev = f.apply(0, 1, ok(2, replica_status(Some(90))));
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].severity, ev[0].message.as_str()), (Health::Critical, "db1:3306 lag 90s over 60s"));
        let ev = f.apply(0, 1, ok(3, replica_status(Some(1))));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].message, "db1:3306 recovered (was: lag 90s over 60s)");
    }

    #[test]
    fn unreachable_keeps_last_status_and_drops_rate() {
        let mut f = fleet();
        let mut s = master_status();
        s.counters = counters(10, 100);
        f.apply(0, 0, ok(0, s.clone()));
        s.counters = counters(11, 600);
        f.apply(0, 0, ok(1, s));
        assert_eq!(f.shards[0].instances[0].qps, Some(500.0));
        let err = ProbeError { kind: ProbeErrorKind::Timeout, message: "no answer within 1s".into() };
        let ev = f.apply(0, 0, Sample { at: t(2), elapsed: Duration::from_secs(1), result: Err(err) });
        let m = &f.shards[0].instances[0];
        assert!(m.status.is_some() && !m.reachable());
        assert_eq!(m.qps, None);
        assert_eq!(m.age(t(4)), Some(3.0));
        assert_eq!(
            ev[0].message,
            "master:3306 master unreachable (1 failed probe), not yet confirmed; last probe: no answer within 1s"
        );
        // A replica's problem of the same severity does not hide the dead master.
        let mut broken = replica_status(None);
        broken.replication[0].sql_running = false;
        f.apply(0, 1, ok(3, broken));
        assert_eq!(f.shards[0].headline().map(|p| p.rule), Some("master_unreachable"));
        assert_eq!(f.shards[0].health, Health::Critical);
    }

    fn down(at: i64, kind: ProbeErrorKind) -> Sample {
        let err = ProbeError { kind, message: "connect to master:3306: connection refused".into() };
        Sample { at: t(at), elapsed: Duration::from_millis(1), result: Err(err) }
    }

    /// A replica of `master:3306` whose IO thread lost the master (reconnecting, error 2003).
    fn cut_off(id: u32) -> InstanceStatus {
        let mut s = streaming(id);
        s.replication[0].seconds_behind = None;
        s.replication[0].io_state = crate::fleet::status::IoState::Connecting;
        s.replication[0].last_io_errno = 2003;
        s.replication[0].last_io_error = "error reconnecting to master".into();
        s
    }

    /// A healthy replica of `master:3306` with server_id `id`.
    fn streaming(id: u32) -> InstanceStatus {
        InstanceStatus { server_id: id, ..replica_status(Some(0)) }
    }

    /// Shard s1: `master:3306` with replicas db1 and db2, all healthy.
    fn two_replicas() -> Fleet {
        let shard = Shard::new("s1", Addr::new("master", 3306), [Addr::new("db1", 3306), Addr::new("db2", 3306)], None);
        let mut f = Fleet::new(vec![shard], Limits::default());
        f.apply(0, 0, ok(0, master_status()));
        f.apply(0, 1, ok(0, streaming(2)));
        f.apply(0, 2, ok(0, streaming(3)));
        f
    }

    fn verdict(f: &Fleet) -> Option<MasterState> {
        f.shards[0].master_state.clone()
    }

    fn summary(ev: &[Event]) -> Vec<(&'static str, Health)> {
        ev.iter().map(|e| (e.rule, e.severity)).collect()
    }

    #[test]
    fn master_goes_suspect_then_dead_with_one_event_each() {
        let mut f = two_replicas();
        assert_eq!(verdict(&f), Some(MasterState::Up));
        let ev = f.apply(0, 0, down(1, ProbeErrorKind::Refused));
        assert_eq!(verdict(&f), Some(MasterState::Suspect { failures: 1 }));
        assert_eq!(summary(&ev), [("master_unreachable", Health::Critical), ("no_writable_master", Health::Critical)]);
        assert!(
            ev[0].message.starts_with(
                "master:3306 master unreachable (1 failed probe), not yet confirmed; last probe: connect to"
            ),
            "{}",
            ev[0].message
        );
        // The replicas lose their link: their own findings, but the master stays the headline.
        let ev = f.apply(0, 1, ok(1, cut_off(2)));
        assert_eq!(summary(&ev), [("io_thread", Health::Critical)]);
        f.apply(0, 2, ok(1, cut_off(3)));
        assert_eq!(f.shards[0].headline().map(|p| p.rule), Some("master_unreachable"));
        assert_eq!(f.shards[0].instances[0].failures, 1);
        // Second failed probe, every replica cut off: dead. One event, and no "recovered" for the suspicion.
        let ev = f.apply(0, 0, down(2, ProbeErrorKind::Refused));
        assert_eq!(verdict(&f), Some(MasterState::Dead { failures: 2, asked: 2 }));
        assert_eq!(summary(&ev), [("master_dead", Health::Critical)], "{ev:?}");
        assert_eq!(
            ev[0].message,
            "master:3306 master dead: unreachable, and 2 replicas lost their links; last probe: connect to master:3306: connection refused"
        );
        let p = f.shards[0].headline().expect("headline");
        assert_eq!(
            (p.rule, p.severity, p.instance.as_ref()),
            ("master_dead", Health::Critical, Some(&Addr::new("master", 3306)))
        );
        assert_eq!(f.shards[0].health, Health::Critical);
        // Still dead: no news, however many probes fail, whichever member is probed.
        assert!(f.apply(0, 0, down(3, ProbeErrorKind::Timeout)).is_empty());
        assert!(f.apply(0, 1, ok(3, cut_off(2))).is_empty());
        assert_eq!(f.shards[0].instances[0].failures, 3);
    }

    #[test]
    fn a_replica_still_streaming_keeps_the_master_unconfirmed() {
        let mut f = two_replicas();
        f.apply(0, 0, down(1, ProbeErrorKind::Timeout));
        // Two failed probes, but the replicas were last read before the first: not yet confirmed
        // either way (their word is stale), and no news.
        assert!(f.apply(0, 0, down(2, ProbeErrorKind::Timeout)).iter().all(|e| e.rule != "master_unreachable"));
        assert_eq!(verdict(&f), Some(MasterState::Suspect { failures: 2 }));
        // Hung (SIGSTOP) or partitioned from shardtop: read again, a replica still streams from it.
        let ev = f.apply(0, 1, ok(2, streaming(2)));
        assert_eq!(
            verdict(&f),
            Some(MasterState::Unreachable { failures: 2, connected: vec![Addr::new("db1", 3306)], asked: 1 })
        );
        assert_eq!(summary(&ev), [("master_unreachable", Health::Critical)]);
        assert!(
            ev[0].message.starts_with(
                "master:3306 master unreachable, 1 replica still connected: hung or partitioned, not confirmed dead"
            ),
            "{}",
            ev[0].message
        );
        // The other one read again: both listed, and no news.
        assert!(f.apply(0, 2, ok(2, streaming(3))).is_empty());
        let connected = vec![Addr::new("db1", 3306), Addr::new("db2", 3306)];
        assert_eq!(verdict(&f), Some(MasterState::Unreachable { failures: 2, connected, asked: 2 }));
        // One replica loses its link: still unconfirmed, and not news for the master.
        let ev = f.apply(0, 1, ok(2, cut_off(2)));
        assert_eq!(summary(&ev), [("io_thread", Health::Critical)]);
        assert!(matches!(verdict(&f), Some(MasterState::Unreachable { ref connected, .. }) if connected.len() == 1));
        // A replica that stops answering is not asked (its last word is stale).
        f.apply(0, 2, down(3, ProbeErrorKind::Timeout));
        assert_eq!(verdict(&f), Some(MasterState::Dead { failures: 2, asked: 1 }));
    }

    #[test]
    fn a_reading_from_before_the_failure_is_no_word_of_a_hang() {
        let mut f = two_replicas();
        let mut news = Vec::new();
        // db1 loses its link after the master's last answer: that counts toward death.
        news.extend(f.apply(0, 1, ok(1, cut_off(2))));
        news.extend(f.apply(0, 0, down(2, ProbeErrorKind::Refused)));
        news.extend(f.apply(0, 0, down(3, ProbeErrorKind::Refused)));
        // db2 was last read streaming before the master failed: stale, so still only suspect.
        assert_eq!(verdict(&f), Some(MasterState::Suspect { failures: 2 }));
        news.extend(f.apply(0, 2, ok(3, cut_off(3))));
        assert_eq!(verdict(&f), Some(MasterState::Dead { failures: 2, asked: 2 }));
        let verdicts: Vec<_> = news.iter().filter(|e| e.rule.starts_with("master_")).map(|e| e.rule).collect();
        assert_eq!(verdicts, ["master_unreachable", "master_dead"], "no 'hung or partitioned' in between");
    }

    #[test]
    fn master_recovers_with_one_event_and_a_refused_login_is_no_failure() {
        let mut f = two_replicas();
        f.apply(0, 0, down(1, ProbeErrorKind::Refused));
        f.apply(0, 1, ok(1, cut_off(2)));
        f.apply(0, 2, ok(1, cut_off(3)));
        f.apply(0, 0, down(2, ProbeErrorKind::Refused));
        assert!(verdict(&f).is_some_and(|v| v.is_dead()));
        let ev = f.apply(0, 0, ok(3, master_status()));
        assert_eq!(verdict(&f), Some(MasterState::Up));
        assert_eq!(f.shards[0].instances[0].failures, 0);
        assert_eq!(summary(&ev), [("master_dead", Health::Ok), ("no_writable_master", Health::Ok)]);
        assert!(ev[0].message.starts_with("master:3306 recovered (was: master dead: "), "{}", ev[0].message);
        // The server answers but refuses the login: up, and the old `unreachable` finding says why.
        let ev = f.apply(0, 0, down(4, ProbeErrorKind::Auth));
        assert_eq!((verdict(&f), f.shards[0].instances[0].failures), (Some(MasterState::Up), 0));
        assert_eq!(summary(&ev)[0], ("unreachable", Health::Critical), "{ev:?}");
    }

    #[test]
    fn a_master_out_of_connections_is_up_and_says_why() {
        // Regression (issue 17 soak): "Too many connections" made the master "unreachable, 2
        // replicas still connected: hung or partitioned" although it answered.
        let mut f = two_replicas();
        let err = ProbeError { kind: ProbeErrorKind::Busy, message: "too many connections (ERROR 1040)".into() };
        let ev = f.apply(0, 0, Sample { at: t(1), elapsed: Duration::from_millis(1), result: Err(err.clone()) });
        f.apply(0, 0, Sample { at: t(2), elapsed: Duration::from_millis(1), result: Err(err) });
        assert_eq!((verdict(&f), f.shards[0].instances[0].failures), (Some(MasterState::Up), 0));
        assert_eq!(summary(&ev)[0], ("unreachable", Health::Critical), "{ev:?}");
        assert!(ev[0].message.contains("too many connections"), "{}", ev[0].message);
    }

    #[test]
    fn a_dead_master_whose_replicas_reconnect_stays_dead_until_probed_again() {
        // Regression (issue 17 soak): a restarted master went "dead", then "hung or partitioned,
        // not confirmed dead" when its replicas reconnected before shardtop's next probe of it,
        // then "recovered (was: … hung or partitioned …)".
        let mut f = two_replicas();
        let mut news = Vec::new();
        news.extend(f.apply(0, 0, down(1, ProbeErrorKind::Refused)));
        news.extend(f.apply(0, 1, ok(1, cut_off(2))));
        news.extend(f.apply(0, 2, ok(1, cut_off(3))));
        news.extend(f.apply(0, 0, down(2, ProbeErrorKind::Refused)));
        assert!(verdict(&f).is_some_and(|v| v.is_dead()));
        // Restarted: both replicas stream from it again before shardtop looks at it.
        news.extend(f.apply(0, 1, ok(3, streaming(2))));
        news.extend(f.apply(0, 2, ok(3, streaming(3))));
        assert!(verdict(&f).is_some_and(|v| v.is_dead()), "{:?}", verdict(&f));
        news.extend(f.apply(0, 0, ok(4, master_status())));
        assert_eq!(verdict(&f), Some(MasterState::Up));
        let verdicts: Vec<_> =
            news.iter().filter(|e| e.rule.starts_with("master_")).map(|e| (e.rule, e.severity)).collect();
        assert_eq!(
            verdicts,
            [("master_unreachable", Health::Critical), ("master_dead", Health::Critical), ("master_dead", Health::Ok)]
        );
        // Probed after their word and still failing: now it is hung or partitioned.
        let mut f = two_replicas();
        f.apply(0, 0, down(1, ProbeErrorKind::Refused));
        f.apply(0, 1, ok(1, cut_off(2)));
        f.apply(0, 2, ok(1, cut_off(3)));
        f.apply(0, 0, down(2, ProbeErrorKind::Refused));
        f.apply(0, 1, ok(3, streaming(2)));
        f.apply(0, 2, ok(3, streaming(3)));
        let ev = f.apply(0, 0, down(4, ProbeErrorKind::Timeout));
        assert!(matches!(verdict(&f), Some(MasterState::Unreachable { ref connected, .. }) if connected.len() == 2));
        assert_eq!(ev.iter().filter(|e| e.rule == "master_unreachable").count(), 1);
    }

    #[test]
    fn a_replica_naming_the_master_by_another_address_is_asked() {
        let mut f = two_replicas();
        let mut r = cut_off(2);
        // The replica was told 10.0.0.1 where the config says `master`: matched by server_id.
        r.replication[0].source = Addr::new("10.0.0.1", 3306);
        f.apply(0, 1, ok(1, r.clone()));
        f.apply(0, 2, ok(1, InstanceStatus { server_id: 3, ..r }));
        f.apply(0, 0, down(1, ProbeErrorKind::Refused));
        f.apply(0, 0, down(2, ProbeErrorKind::Refused));
        assert_eq!(verdict(&f), Some(MasterState::Dead { failures: 2, asked: 2 }));
    }

    #[test]
    fn the_old_master_back_writable_after_a_failover_is_a_zombie_at_once() {
        let mut f = two_replicas();
        f.apply(0, 0, down(1, ProbeErrorKind::Refused));
        f.apply(0, 1, ok(1, cut_off(2)));
        f.apply(0, 2, ok(1, cut_off(3)));
        f.apply(0, 0, down(2, ProbeErrorKind::Refused));
        // Failover to db1: it takes the master's place; db2 follows it.
        assert_eq!(f.promoted_at(0, &Addr::new("db1", 3306), t(3)), Some(1));
        assert_eq!(f.shards[0].master_changed_at, Some(t(3)));
        let mut new_master = master_status();
        new_master.server_id = 2;
        f.apply(0, 0, ok(4, new_master));
        let mut follows = streaming(3);
        follows.replication[0].source = Addr::new("db1", 3306);
        follows.replication[0].source_server_id = Some(2);
        f.apply(0, 2, ok(4, follows));
        // The old master restarts writable, replicating from nobody: one critical event, at once.
        let ev = f.apply(0, 1, ok(5, master_status()));
        // (And it answers again: its `unreachable` as a replica is over.)
        assert_eq!(summary(&ev), [("zombie_master", Health::Critical), ("unreachable", Health::Ok)], "{ev:?}");
        assert!(
            ev[0].message.starts_with(&format!(
                "master:3306 is writable and not the master of s1 since failover at {} (the master is db1:3306)",
                t(3).format("%H:%M:%S UTC")
            )),
            "{}",
            ev[0].message
        );
        assert_eq!(f.shards[0].headline().map(|p| p.rule), Some("zombie_master"));
        assert_eq!(verdict(&f), Some(MasterState::Up), "the verdict is on the new master");
    }

    #[test]
    fn never_probed_master_has_no_verdict() {
        let f = fleet();
        assert_eq!(verdict(&f), None);
    }

    #[test]
    fn out_of_range_indices_are_ignored() {
        let mut f = fleet();
        assert!(f.apply(5, 0, ok(0, master_status())).is_empty());
        assert!(f.apply(0, 9, ok(0, master_status())).is_empty());
    }
}
