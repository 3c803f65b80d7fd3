//! shardtop's own actions cause transient states that look like incidents: a poll a few
//! milliseconds into a promotion sees the master read-only, a circular link, the new master's
//! marker as "errant" on the old one and no healthy promotion candidate — each "recovered" a
//! poll later. While an action runs on a shard, and for one poll interval after, that shard's
//! findings are held to what they were when it began; what outlives the action is raised then,
//! once, and so is what cleared.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::death::MasterState;
use super::health::{self, Health, Problem};
use super::model::{Fleet, Shard};
use super::news::Event;

/// What a hold is called when the action is another process's: a member shows shardtop's action
/// lock (`mysql::dialect::ACTION_LOCK`) held by a connection this session does not own.
pub const ELSEWHERE: &str = "action elsewhere";

/// How long a hold of an action elsewhere waits after the lock goes: every member's next probe
/// decides, bounded by `SETTLE_ROUNDS_AT_MOST` of these (the poll interval is not known here).
const ELSEWHERE_SETTLE: Duration = Duration::from_secs(1);

/// A hold that never hears its action end (the task died) lets go after this long.
pub const MAX_HOLD: Duration = Duration::from_secs(300);

/// After the end, a hold waits for every member's next probe, but no longer than this many
/// settle intervals (a member that no longer answers is not waited for forever).
const SETTLE_ROUNDS_AT_MOST: u32 = 3;

/// An action of this session running on a shard.
#[derive(Clone, Debug)]
pub struct ActionHold {
    /// What runs, for the views ("promotion").
    pub what: &'static str,
    pub started: DateTime<Utc>,
    /// When the action ended, and how long its effects take to settle (a poll interval).
    pub ended: Option<(DateTime<Utc>, Duration)>,
    /// Findings and master verdict when the action began: what the operator was last told.
    pub(super) baseline: Vec<Problem>,
    pub(super) baseline_state: Option<MasterState>,
    /// Findings the rules raised since that are held back (the latest judgement's).
    pub held: Vec<Problem>,
}

impl ActionHold {
    pub fn new(what: &'static str, at: DateTime<Utc>, shard: &Shard) -> Self {
        ActionHold {
            what,
            started: at,
            ended: None,
            baseline: shard.all_problems().cloned().collect(),
            baseline_state: shard.master_state.clone(),
            held: Vec::new(),
        }
    }

    /// Still running (not just settling).
    pub fn in_progress(&self) -> bool {
        self.ended.is_none()
    }

    /// What the views say while the hold lasts.
    pub fn label(&self) -> &'static str {
        match self.what {
            "promotion" => "promotion in progress",
            "failover" => "failover in progress",
            ELSEWHERE => "another shardtop is acting on this shard",
            _ => "action in progress",
        }
    }

    /// Whether the hold may let go at `now`: the action ended at least a settle interval ago
    /// and every member was probed after the end (or it ended long enough ago that waiting more
    /// would only hide a real problem); or the action never said it ended, for `MAX_HOLD`.
    pub fn releasable(&self, now: DateTime<Utc>, shard: &Shard) -> bool {
        let since = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
        match self.ended {
            None => since(self.started) >= MAX_HOLD,
            Some((end, settle)) => {
                let waited = since(end);
                if waited < settle {
                    return false;
                }
                let probed_since =
                    shard.instances.iter().filter(|i| !i.gone).all(|i| i.last_probe.is_some_and(|p| p >= end));
                probed_since || waited >= settle.saturating_mul(SETTLE_ROUNDS_AT_MOST)
            }
        }
    }
}

impl Fleet {
    /// An action of this session (`what`: "promotion") starts on shard `s` at `at`: until it
    /// ends and settles, the shard's new findings are held and no event is raised for it.
    /// A second start while held keeps the first baseline.
    pub fn begin_action(&mut self, s: usize, what: &'static str, at: DateTime<Utc>) {
        let Some(sh) = self.shards.get_mut(s) else { return };
        match sh.hold.as_mut() {
            Some(h) => {
                h.what = what;
                h.ended = None;
            }
            None => sh.hold = Some(ActionHold::new(what, at, sh)),
        }
    }

    /// Follow actions of other processes on shard `s` from what its members last said: a member
    /// showing shardtop's action lock holds the shard (unless this session's own action already
    /// does); once no member shows it, that hold ends and settles like any other.
    pub(super) fn follow_action_elsewhere(&mut self, s: usize, at: DateTime<Utc>) {
        let Some(sh) = self.shards.get(s) else { return };
        let locked = sh
            .instances
            .iter()
            // A member that stopped answering is not holding anything it said before.
            .filter(|i| !i.gone && i.error.is_none())
            .any(|i| i.status.as_ref().is_some_and(|st| st.topo.action_lock.is_some()));
        match (&sh.hold, locked) {
            (None, true) => self.begin_action(s, ELSEWHERE, at),
            // A second action elsewhere while the first settles: held again until it ends.
            (Some(h), true) if h.what == ELSEWHERE && !h.in_progress() => self.begin_action(s, ELSEWHERE, at),
            (Some(h), false) if h.what == ELSEWHERE && h.in_progress() => self.end_action(s, at, ELSEWHERE_SETTLE),
            _ => {}
        }
    }

    /// The action on shard `s` ended at `at`; its effects settle within `settle` (a poll interval).
    pub fn end_action(&mut self, s: usize, at: DateTime<Utc>, settle: std::time::Duration) {
        if let Some(h) = self.shards.get_mut(s).and_then(|sh| sh.hold.as_mut()) {
            h.ended = Some((at, settle));
        }
    }

    /// Let go of the holds that may end at `now`: each shard's findings are judged in full again
    /// and compared with those before its action, so what outlived the action is raised once
    /// and what cleared says so; transient states in between make no event at all.
    pub fn release_holds(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let mut events = Vec::new();
        for s in 0..self.shards.len() {
            events.extend(self.release_hold(s, now));
        }
        events
    }

    pub(super) fn release_hold(&mut self, s: usize, now: DateTime<Utc>) -> Vec<Event> {
        let Some(sh) = self.shards.get_mut(s) else { return Vec::new() };
        if !sh.hold.as_ref().is_some_and(|h| h.releasable(now, sh)) {
            return Vec::new();
        }
        let Some(hold) = sh.hold.take() else { return Vec::new() };
        self.judge(s);
        let Some(sh) = self.shards.get(s) else { return Vec::new() };
        super::news::changes(sh, hold.baseline_state.as_ref(), &hold.baseline, false)
    }
}

/// What changed on a re-judged shard, given its master's verdict and findings before: the
/// master's verdict first (it is the cause of what its replicas report), then the findings that
/// appeared or cleared. Nothing while the shard is held.
pub(super) fn news(sh: &Shard, was: Option<&MasterState>, before: &[Problem], first_sample: bool) -> Vec<Event> {
    if sh.hold.is_some() {
        return Vec::new();
    }
    super::news::changes(sh, was, before, first_sample)
}

/// Hold back the shard's findings that were not there when its action began (same rule, server
/// and severity), and re-derive the healths from what remains.
pub(super) fn apply(sh: &mut Shard) {
    let Some(hold) = sh.hold.as_mut() else { return };
    let known = |p: &Problem| hold.baseline.iter().any(|b| super::news::same(b, p));
    let mut held = Vec::new();
    let (keep, new): (Vec<Problem>, Vec<Problem>) = std::mem::take(&mut sh.problems).into_iter().partition(known);
    sh.problems = keep;
    held.extend(new);
    for inst in &mut sh.instances {
        let (keep, new): (Vec<Problem>, Vec<Problem>) = std::mem::take(&mut inst.problems).into_iter().partition(known);
        inst.problems = keep;
        held.extend(new);
        inst.health = health::worst(&inst.problems);
    }
    hold.held = held;
    sh.health = sh.all_problems().map(|p| p.severity).max().unwrap_or(Health::Ok);
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::fleet::status::{InstanceStatus, IoState, Sample};
    use crate::fleet::test_support::{link, master_status};
    use crate::fleet::{Addr, Event, Fleet, Limits};

    const INTERVAL: Duration = Duration::from_secs(2);

    fn a(h: &str) -> Addr {
        Addr::new(h, 3306)
    }

    /// Milliseconds into the scenario.
    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default() + chrono::Duration::milliseconds(ms)
    }

    fn server(id: u32, read_only: bool, source: Option<&str>, binlog_state: &str) -> InstanceStatus {
        let mut s = master_status();
        s.server_id = id;
        s.read_only = read_only;
        s.replication = source.map(|h| link(a(h), Some(0))).into_iter().collect();
        s.topo.gtid_binlog_state = Some(binlog_state.into());
        s
    }

    fn fleet() -> Fleet {
        Fleet::new(vec![Shard::new("s0", a("m"), [a("r1"), a("r2")], None)], Limits::default())
    }

    /// Probe the server named `host` (wherever the model has it now) at `ms`.
    fn probe(f: &mut Fleet, ms: i64, host: &str, s: InstanceStatus) -> Vec<Event> {
        let Some(i) = f.shards[0].instances.iter().position(|i| i.addr == a(host)) else { return Vec::new() };
        f.apply(0, i, Sample { at: t(ms), elapsed: Duration::from_millis(1), result: Ok(s) })
    }

    /// Healthy before the action: m the master, r1 and r2 streaming from it.
    fn healthy(f: &mut Fleet) {
        let mut ev = probe(f, 0, "m", server(1, false, None, "1-1-100"));
        ev.extend(probe(f, 0, "r1", server(2, true, Some("m"), "1-1-100")));
        ev.extend(probe(f, 0, "r2", server(3, true, Some("m"), "1-1-100")));
        assert!(ev.is_empty(), "{ev:?}");
        assert_eq!(f.health(), Health::Ok);
    }

    /// The polls a promotion of r1 in 39 ms meets (issue 17 §7), and the model's role swap:
    /// the old master frozen (read-only); the swap, with r1's last reading still that of a
    /// read-only replica of m; the old master repointed under r1, carrying r1's marker that the
    /// model's stale reading of r1 lacks (errant, it seems) while r1 still seems to replicate from
    /// it (circular); then everything settled. Returns every event raised on the way.
    fn promotion(f: &mut Fleet, hold: bool, r2_after: InstanceStatus) -> Vec<Event> {
        let mut ev = Vec::new();
        if hold {
            f.begin_action(0, "promotion", t(1_000));
        }
        ev.extend(probe(f, 1_010, "m", server(1, true, None, "1-1-101")));
        ev.extend(f.promoted_at(0, &a("r1"), t(1_030)).map(|_| Vec::new()).unwrap_or_default());
        ev.extend(probe(f, 1_035, "m", server(1, true, Some("r1"), "1-1-101,1-2-102")));
        ev.extend(probe(f, 1_036, "r2", server(3, true, Some("m"), "1-1-101")));
        if hold {
            f.end_action(0, t(1_039), INTERVAL);
        }
        // The next sweep, a poll interval later.
        ev.extend(probe(f, 3_000, "r1", server(2, false, None, "1-1-101,1-2-102")));
        ev.extend(probe(f, 3_000, "m", server(1, true, Some("r1"), "1-1-101,1-2-102")));
        ev.extend(probe(f, 3_000, "r2", r2_after));
        ev.extend(f.release_holds(t(3_100)));
        ev
    }

    fn rules(ev: &[Event]) -> Vec<(&'static str, Health)> {
        let mut r: Vec<_> = ev.iter().map(|e| (e.rule, e.severity)).collect();
        r.sort_by_key(|(rule, _)| *rule);
        r
    }

    fn settled_r2() -> InstanceStatus {
        server(3, true, Some("r1"), "1-1-101,1-2-102")
    }

    fn locked(mut s: InstanceStatus) -> InstanceStatus {
        s.topo.action_lock = Some(42);
        s
    }

    /// Another process (a `shardtop promote` from a shell) freezes the master for a moment: the
    /// members show shardtop's action lock, so this model holds the shard from the first sight and
    /// lets go once the lock is gone and every member was probed after: no event at all.
    #[test]
    fn an_action_elsewhere_is_held_while_its_lock_shows_and_settles_after() {
        let mut f = fleet();
        healthy(&mut f);
        let mut ev = probe(&mut f, 1_000, "m", locked(server(1, true, None, "1-1-101")));
        let hold = f.shards[0].hold.as_ref().map(|h| (h.label(), h.in_progress()));
        assert_eq!(hold, Some(("another shardtop is acting on this shard", true)));
        ev.extend(probe(&mut f, 1_010, "r1", locked(server(2, true, Some("m"), "1-1-101"))));
        ev.extend(probe(&mut f, 3_000, "m", server(1, false, None, "1-1-101")));
        assert!(f.shards[0].hold.as_ref().is_some_and(|h| h.in_progress()), "r1 still shows the lock");
        ev.extend(probe(&mut f, 3_000, "r1", server(2, true, Some("m"), "1-1-101")));
        assert!(f.shards[0].hold.as_ref().is_some_and(|h| !h.in_progress()), "no lock left: settling");
        ev.extend(probe(&mut f, 3_000, "r2", server(3, true, Some("m"), "1-1-101")));
        assert!(f.shards[0].hold.is_some(), "settles for a second at least");
        for host in ["m", "r1", "r2"] {
            let (id, ro, src) = match host {
                "m" => (1, false, None),
                "r1" => (2, true, Some("m")),
                _ => (3, true, Some("m")),
            };
            ev.extend(probe(&mut f, 4_100, host, server(id, ro, src, "1-1-101")));
        }
        assert!(f.shards[0].hold.is_none(), "released");
        assert!(ev.is_empty(), "{ev:?}");
        assert_eq!(f.health(), Health::Ok);
    }

    /// The same frozen master without the lock is news at once; and what outlives an action
    /// elsewhere is raised once it settles.
    #[test]
    fn without_the_lock_a_frozen_master_is_news_and_what_outlives_an_action_elsewhere_is_raised() {
        let mut f = fleet();
        healthy(&mut f);
        let ev = probe(&mut f, 1_000, "m", server(1, true, None, "1-1-101"));
        assert!(!ev.is_empty(), "a read-only master with no action anywhere is news");
        assert!(f.shards[0].hold.is_none());

        let mut f = fleet();
        healthy(&mut f);
        let mut ev = probe(&mut f, 1_000, "m", locked(server(1, true, None, "1-1-101")));
        ev.extend(probe(&mut f, 3_000, "m", server(1, true, None, "1-1-101")));
        ev.extend(probe(&mut f, 3_000, "r1", server(2, true, Some("m"), "1-1-101")));
        ev.extend(probe(&mut f, 3_000, "r2", server(3, true, Some("m"), "1-1-101")));
        assert!(ev.is_empty(), "held until it settles: {ev:?}");
        let mut after = Vec::new();
        for (host, id, src) in [("m", 1, None), ("r1", 2, Some("m")), ("r2", 3, Some("m"))] {
            after.extend(probe(&mut f, 4_100, host, server(id, true, src, "1-1-101")));
        }
        assert!(f.shards[0].hold.is_none());
        assert!(!after.is_empty(), "the master left read-only outlived the action: raised once");
        let again = probe(&mut f, 6_000, "m", server(1, true, None, "1-1-101"));
        assert!(again.is_empty(), "and not again: {again:?}");
    }

    /// A member that stopped answering does not keep a shard held on what it said before.
    #[test]
    fn a_lock_on_a_member_that_stopped_answering_does_not_hold() {
        let mut f = fleet();
        healthy(&mut f);
        probe(&mut f, 1_000, "m", locked(server(1, false, None, "1-1-100")));
        assert!(f.shards[0].hold.is_some());
        let i = f.shards[0].instances.iter().position(|i| i.addr == a("m")).unwrap_or(0);
        let err = crate::fleet::status::ProbeError {
            kind: crate::fleet::status::ProbeErrorKind::Refused,
            message: "gone".into(),
        };
        f.apply(0, i, Sample { at: t(2_000), elapsed: Duration::from_millis(1), result: Err(err) });
        assert!(f.shards[0].hold.as_ref().is_some_and(|h| !h.in_progress()), "the lock is not seen any more");
    }

    #[test]
    fn without_a_hold_the_promotion_raises_false_alarms() {
        // The scenario reproduces the report: read-only master, circular link, errant marker.
        let mut f = fleet();
        healthy(&mut f);
        let ev = promotion(&mut f, false, settled_r2());
        // (Some are raised by the role swap itself, which reports nothing; their recovery shows.)
        let told: Vec<_> = ev.iter().map(|e| e.rule).collect();
        for rule in ["master_read_only", "circular_replication", "errant_gtid", "no_promotion_candidate"] {
            assert!(told.contains(&rule), "{rule} missing from {ev:#?}");
        }
        assert_eq!(f.health(), Health::Ok, "each one recovered a poll later");
    }

    #[test]
    fn a_promotion_of_this_session_raises_no_event_for_its_own_transient_states() {
        let mut f = fleet();
        healthy(&mut f);
        let mut ev = Vec::new();
        f.begin_action(0, "promotion", t(1_000));
        // While it runs: the shard shows the action, its health stays what it was, nothing is raised.
        ev.extend(probe(&mut f, 1_010, "m", server(1, true, None, "1-1-101")));
        let sh = &f.shards[0];
        assert_eq!(sh.hold.as_ref().map(|h| (h.what, h.in_progress())), Some(("promotion", true)));
        assert_eq!(
            sh.hold.as_ref().map(|h| h.held.iter().map(|p| p.rule).collect::<Vec<_>>()),
            Some(vec!["master_read_only"])
        );
        assert_eq!((sh.health, f.health()), (Health::Ok, Health::Ok));
        f.shards[0].hold = None;
        // The whole sequence, start to release.
        let mut f = fleet();
        healthy(&mut f);
        ev.clear();
        ev.extend(promotion(&mut f, true, settled_r2()));
        assert!(ev.is_empty(), "{ev:#?}");
        assert!(f.shards[0].hold.is_none(), "released once every member was probed after the end");
        assert_eq!((f.shards[0].master().addr.clone(), f.health()), (a("r1"), Health::Ok));
    }

    #[test]
    fn an_anomaly_that_outlives_the_promotion_is_raised_once_after_it() {
        let mut f = fleet();
        healthy(&mut f);
        // r2 was never repointed: it still replicates from the old master, whose IO link broke.
        let mut stuck = server(3, true, Some("m"), "1-1-101");
        stuck.replication[0].io_state = IoState::Connecting;
        stuck.replication[0].last_io_errno = 2003;
        stuck.replication[0].last_io_error = "Can't connect to MySQL server on 'm'".into();
        let mut ev = Vec::new();
        f.begin_action(0, "promotion", t(1_000));
        ev.extend(probe(&mut f, 1_036, "r2", stuck.clone()));
        f.end_action(0, t(1_039), INTERVAL);
        // Within the interval after the end: still held.
        ev.extend(f.release_holds(t(2_000)));
        assert!(ev.is_empty(), "{ev:#?}");
        assert!(f.shards[0].hold.is_some());
        ev.extend(probe(&mut f, 3_100, "m", server(1, false, None, "1-1-101")));
        ev.extend(probe(&mut f, 3_100, "r1", server(2, true, Some("m"), "1-1-101")));
        ev.extend(probe(&mut f, 3_100, "r2", stuck.clone()));
        let raised = rules(&ev);
        assert!(raised.contains(&("io_thread", Health::Critical)), "{ev:#?}");
        assert!(raised.iter().all(|(_, h)| *h != Health::Ok), "nothing recovered that was never raised: {ev:#?}");
        assert!(f.shards[0].hold.is_none());
        // Raised once: the next poll is not news.
        assert!(probe(&mut f, 5_000, "r2", stuck).is_empty());
    }

    #[test]
    fn a_problem_that_cleared_during_the_action_says_so_at_the_release() {
        let mut f = fleet();
        healthy(&mut f);
        let mut lagging = server(3, true, Some("m"), "1-1-100");
        lagging.replication[0].seconds_behind = Some(20);
        assert_eq!(rules(&probe(&mut f, 500, "r2", lagging)), [("lag", Health::Warning)]);
        let ev = promotion(&mut f, true, settled_r2());
        assert_eq!(rules(&ev), [("lag", Health::Ok)], "{ev:#?}");
    }

    #[test]
    fn an_action_that_never_reports_its_end_lets_go_after_max_hold() {
        let mut f = fleet();
        healthy(&mut f);
        f.begin_action(0, "promotion", t(1_000));
        let ev = probe(&mut f, 1_010, "m", server(1, true, None, "1-1-100"));
        assert!(ev.is_empty());
        assert!(f.release_holds(t(1_000 + 299_000)).is_empty());
        let max = i64::try_from(MAX_HOLD.as_millis()).unwrap_or(i64::MAX);
        assert_eq!(rules(&f.release_holds(t(1_000 + max))), [("master_read_only", Health::Critical)]);
        assert!(f.shards[0].hold.is_none());
    }

    #[test]
    fn a_member_that_stops_answering_delays_the_release_three_intervals_at_most() {
        let mut f = fleet();
        healthy(&mut f);
        f.begin_action(0, "promotion", t(1_000));
        f.end_action(0, t(1_100), INTERVAL);
        // Nobody probed since the end: waits for the next sweep …
        assert!(f.release_holds(t(4_000)).is_empty());
        assert!(f.shards[0].hold.is_some());
        // … but not forever.
        assert!(f.release_holds(t(1_100 + 6_000)).is_empty());
        assert!(f.shards[0].hold.is_none());
    }
}
