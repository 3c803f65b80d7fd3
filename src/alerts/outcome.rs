//! Action outcomes, read off the audit trail every action already writes: an observer on the
//! run's `AuditLog` keeps its entries and, when the log closes (the run is over), turns them into
//! one notification. No action knows about alerts, and nothing an action does escapes the trail.

use super::Outbox;
use super::notification::{Notification, Status};
use crate::actions::audit::{AuditObserver, Entry};

/// Collects one run's entries and notifies its outcome when the audit log closes.
pub struct OutcomeObserver {
    outbox: Outbox,
    entries: Vec<Entry>,
}

impl OutcomeObserver {
    pub fn new(outbox: Outbox) -> Self {
        OutcomeObserver { outbox, entries: Vec::new() }
    }
}

impl AuditObserver for OutcomeObserver {
    fn entry(&mut self, e: &Entry) {
        self.entries.push(e.clone());
    }

    fn closed(&mut self) {
        for n in summarize(&std::mem::take(&mut self.entries)) {
            self.outbox.send(n);
        }
    }
}

/// One notification per run in `entries` (in the order the runs began).
pub fn summarize(entries: &[Entry]) -> Vec<Notification> {
    let mut runs: Vec<&str> = Vec::new();
    for e in entries {
        if !runs.contains(&e.run.as_str()) {
            runs.push(&e.run);
        }
    }
    runs.into_iter()
        .filter_map(|run| {
            let mine: Vec<&Entry> = entries.iter().filter(|e| e.run == run).collect();
            one_run(&mine)
        })
        .collect()
}

fn one_run(entries: &[&Entry]) -> Option<Notification> {
    let first = entries.first()?;
    let last = entries.last()?;
    let find = |f: &dyn Fn(&Entry) -> bool| entries.iter().rev().find(|e| f(e)).copied();
    let failed = find(&|e| e.phase == "failed" && e.step != "rollback");
    let (severity, verdict, detail) =
        if let Some(o) = find(&|e| (e.step == "outcome" && e.phase == "ok") || e.phase == "outcome") {
            let doubtful = failed.is_some() || checksum_found_something(o);
            (if doubtful { "warning" } else { "info" }, "succeeded", o.detail.clone())
        } else if let Some(i) = find(&|e| e.phase == "interrupted") {
            ("warning", "interrupted", i.detail.clone())
        } else if let Some(r) = find(&|e| e.step == "rollback") {
            let why = failed.map(|f| format!("{} failed: {}; ", f.step, f.detail)).unwrap_or_default();
            if r.phase == "ok" {
                ("warning", "failed and rolled back", format!("{why}undone: {}", r.detail))
            } else {
                ("critical", "failed and its ROLLBACK FAILED", format!("{why}{}", r.detail))
            }
        } else if let Some(f) = failed {
            ("warning", "failed", format!("{} failed: {}", f.step, f.detail))
        } else {
            ("warning", "ended without an outcome", format!("last step {} {}", last.step, last.phase))
        };
    let rule = format!("action_{}", first.action);
    let by = first.by.as_ref().map(|b| format!(" (started by {b} through shardtop serve)")).unwrap_or_default();
    let summary = format!("{} of {}{by} {verdict}: {detail}", first.action, first.shard);
    Some(Notification {
        kind: "action",
        status: Status::Firing,
        shard: first.shard.clone(),
        instance: None,
        fingerprint: Notification::fingerprint_of(&first.shard, None, &rule, &first.run),
        rule,
        severity,
        summary,
        since: first.ts,
        starts_at: last.ts,
        ends_at: None,
    })
}

/// A checksum that found differing chunks, or could not compare everything.
fn checksum_found_something(o: &Entry) -> bool {
    if o.action != "checksum" {
        return false;
    }
    let differing = o
        .detail
        .split(", ")
        .find_map(|part| part.strip_suffix(" differing chunks").or(part.strip_suffix(" differing chunk")))
        .and_then(|n| n.split_whitespace().last()?.parse::<u64>().ok());
    differing != Some(0) || o.detail.contains("incomplete")
}

#[cfg(test)]
mod tests {

    use super::*;

    fn e(run: &str, action: &'static str, step: &str, phase: &'static str, detail: &str) -> Entry {
        Entry::new(run, action, "s48", step, phase, detail)
    }

    fn verdicts(entries: &[Entry]) -> Vec<(String, &'static str, String)> {
        summarize(entries).into_iter().map(|n| (n.rule, n.severity, n.summary)).collect()
    }

    #[test]
    fn a_promotion_that_went_well_is_info() {
        let log = [
            e("r1", "promote", "lock", "ok", ""),
            e("r1", "promote", "freeze", "ok", ""),
            e("r1", "promote", "outcome", "ok", "db2:3306 is the master of s48; 0 warnings"),
        ];
        assert_eq!(
            verdicts(&log),
            [(
                "action_promote".into(),
                "info",
                "promote of s48 succeeded: db2:3306 is the master of s48; 0 warnings".into()
            )]
        );
    }

    #[test]
    fn failures_rollbacks_and_warnings() {
        let rolled = [
            e("r2", "promote", "catch_up", "failed", "timeout after 10 s"),
            e("r2", "promote", "rollback", "ok", "db1 writable again"),
        ];
        let v = verdicts(&rolled);
        assert_eq!(v[0].1, "warning");
        assert!(
            v[0].2.contains("failed and rolled back: catch_up failed: timeout after 10 s; undone: db1 writable again"),
            "{v:?}"
        );
        let broken = [
            e("r3", "failover", "promote", "failed", "x"),
            e("r3", "failover", "rollback", "failed", "ROLLBACK FAILED: y"),
        ];
        assert_eq!(verdicts(&broken)[0].1, "critical");
        let warned =
            [e("r4", "failover", "repoint", "failed", "db3 down"), e("r4", "failover", "outcome", "ok", "done")];
        assert_eq!(verdicts(&warned)[0].1, "warning", "a step after the point of no return failed");
        let refused = [e("r5", "promote", "check", "failed", "refused: lag 42 s")];
        assert_eq!(verdicts(&refused)[0].2, "promote of s48 failed: check failed: refused: lag 42 s");
    }

    #[test]
    fn checksum_outcomes() {
        let clean = [
            e("c1", "checksum", "run", "start", ""),
            e("c1", "checksum", "run", "outcome", "1000 rows in 1.0 s, 0 differing chunks"),
        ];
        assert_eq!(verdicts(&clean)[0].1, "info");
        let diff = [e("c2", "checksum", "run", "outcome", "1000 rows in 1.0 s, 2 differing chunks")];
        assert_eq!(verdicts(&diff)[0].1, "warning");
        let one = [e("c3", "checksum", "run", "outcome", "10 rows in 1.0 s, 1 differing chunk")];
        assert_eq!(verdicts(&one)[0].1, "warning");
        let stopped = [e("c4", "checksum", "run", "interrupted", "continue with --resume")];
        assert_eq!(verdicts(&stopped)[0].1, "warning");
        let two_runs = [clean[0].clone(), diff[0].clone(), clean[1].clone()];
        assert_eq!(summarize(&two_runs).len(), 2);
    }
}
