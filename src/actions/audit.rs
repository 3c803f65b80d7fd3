//! The audit trail: one JSON object per line, appended and flushed per step,
//! so a crash mid-action leaves every step that ran on disk. Entries carry
//! descriptions, never statements, so no password can reach the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    /// One id per run, to group its steps.
    pub run: String,
    pub action: &'static str,
    pub shard: String,
    pub step: String,
    /// `start`, `ok`, `failed`, `skipped`, `rollback`, `outcome`.
    pub phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub detail: String,
    /// Accounts a step locked (`fence`) or unlocked (`unfence`), as `'user'@'host'`: how a later
    /// run finishing a crashed one knows what to unlock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// `switch` entries: the new master's own binlog coordinates (`file:pos`) when it took over,
    /// where file:position replicas (and the old master) must start from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coords: Option<String>,
    /// Who started the run, when not the person at this terminal: the name of the token a remote
    /// viewer presented to `shardtop serve`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Entry {
    /// An entry stamped now, with no duration, accounts, coordinates or remote author (set those
    /// with struct update syntax where a step has them).
    pub fn new(run: &str, action: &'static str, shard: &str, step: &str, phase: &'static str, detail: &str) -> Self {
        Entry {
            ts: Utc::now(),
            run: run.into(),
            action,
            shard: shard.into(),
            step: step.into(),
            phase,
            duration_ms: None,
            detail: detail.into(),
            accounts: Vec::new(),
            coords: None,
            by: None,
        }
    }
}

/// The fields of a recorded entry that `fenced_accounts` reads back.
#[derive(Deserialize)]
struct Recorded {
    #[serde(default)]
    run: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    shard: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    coords: Option<String>,
}

/// The binlog coordinates the last promotion of `shard` to `candidate` recorded when the
/// candidate took over (its `switch` entry): where a run finishing it repoints file:position
/// replicas. `None` when there is no such entry (or no readable log).
pub fn switch_coords(path: &Path, shard: &str, candidate: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let entry = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Recorded>(l).ok())
        .filter(|r| r.action == "promote" && r.shard == shard && r.step == "switch" && r.phase == "ok")
        .rfind(|r| r.detail == candidate)?;
    let coords = entry.coords?;
    let (file, pos) = coords.rsplit_once(':')?;
    Some((file.to_string(), pos.parse().ok()?))
}

/// Whether a failover of `shard` recorded promoting `candidate` (its `promote` step done): how a
/// later run tells a new master an interrupted failover made from a replica someone made
/// writable by hand. `false` without a readable log.
pub fn failover_promoted(path: &Path, shard: &str, candidate: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let prefix = format!("{candidate} is the master");
    text.lines().filter_map(|l| serde_json::from_str::<Recorded>(l).ok()).any(|r| {
        r.action == "failover"
            && r.shard == shard
            && r.step == "promote"
            && r.phase == "ok"
            && r.detail.starts_with(&prefix)
    })
}

/// The readable entries of failovers of `shard`, in order; `None` without a readable log.
fn failover_entries(path: &Path, shard: &str) -> Option<Vec<Recorded>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| serde_json::from_str::<Recorded>(l).ok())
            .filter(|r| r.action == "failover" && r.shard == shard)
            .collect(),
    )
}

/// Whether `run` wrote its outcome or a rollback.
fn run_ended(entries: &[Recorded], run: &str) -> bool {
    entries.iter().any(|r| r.run == run && matches!(r.step.as_str(), "outcome" | "rollback"))
}

/// Whether a failover of `shard` began catching `candidate` up from `from` (its `catch_up` step
/// started; the step's description names both) and never ended (no outcome, no rollback): how a
/// later run tells a candidate a crash in the middle of that step left following another replica
/// from one chained there by hand. `false` without a readable log.
pub fn failover_catching_up(path: &Path, shard: &str, candidate: &str, from: &str) -> bool {
    let Some(entries) = failover_entries(path, shard) else { return false };
    let prefix = format!("{candidate} replicates from {from},");
    let ended = |run: &str| run_ended(&entries, run);
    entries
        .iter()
        .any(|r| r.step == "catch_up" && r.phase == "start" && r.detail.starts_with(&prefix) && !ended(&r.run))
}

/// Whether a failover of `shard` began promoting `candidate` (its `promote` step started) in a run
/// that never ended (no outcome, no rollback), and no later failover of the shard finished: how a
/// later run tells a candidate a crash between `RESET SLAVE ALL` and making it writable left
/// read-only with no replication from one someone reset by hand. `false` without a readable log.
pub fn failover_promoting(path: &Path, shard: &str, candidate: &str) -> bool {
    let Some(entries) = failover_entries(path, shard) else { return false };
    let prefix = format!("stop and reset replication on {candidate},");
    let ended = |run: &str| run_ended(&entries, run);
    entries.iter().enumerate().any(|(i, r)| {
        r.step == "promote"
            && r.phase == "start"
            && r.detail.starts_with(&prefix)
            && !ended(&r.run)
            && !entries[i + 1..].iter().any(|l| l.step == "outcome" && l.phase == "ok")
    })
}

/// The accounts promotions of `shard` locked (`fence`) and nothing unlocked since: no later
/// `unfence` of that account (by any run: an unlock is an unlock) and no successful `rollback` of
/// the run that locked it. A crashed run leaves them locked on the old master. Unreadable lines are
/// skipped (the log is append-only and may end mid-line after a crash); a missing file means
/// nothing was fenced.
pub fn fenced_accounts(path: &Path, shard: &str) -> std::io::Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut open: Vec<(String, Vec<String>)> = Vec::new();
    for r in text.lines().filter_map(|l| serde_json::from_str::<Recorded>(l).ok()) {
        if r.action != "promote" || r.shard != shard || r.phase != "ok" {
            continue;
        }
        match r.step.as_str() {
            "fence" => match open.iter_mut().find(|(run, _)| *run == r.run) {
                Some((_, accounts)) => accounts.extend(r.accounts),
                None => open.push((r.run, r.accounts)),
            },
            "unfence" => {
                for (_, accounts) in &mut open {
                    accounts.retain(|a| !r.accounts.contains(a));
                }
            }
            "rollback" => {
                let unlocked: Vec<String> =
                    open.iter().filter(|(run, _)| *run == r.run).flat_map(|(_, a)| a.clone()).collect();
                for (_, accounts) in &mut open {
                    accounts.retain(|a| !unlocked.contains(a));
                }
            }
            _ => {}
        }
    }
    let mut all: Vec<String> = open.into_iter().flat_map(|(_, a)| a).collect();
    all.sort();
    all.dedup();
    Ok(all)
}

/// Someone who hears every entry a run writes (the alerts' outcome notifier), and when the log
/// is closed (the run is over). Only entries that reached the file are heard: a dry run's none.
pub trait AuditObserver: Send {
    fn entry(&mut self, e: &Entry);
    fn closed(&mut self) {}
}

pub struct AuditLog {
    path: PathBuf,
    file: Option<File>,
    observer: Option<Box<dyn AuditObserver>>,
    by: Option<String>,
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if let Some(o) = self.observer.as_mut() {
            o.closed();
        }
    }
}

impl AuditLog {
    /// Open for appending (creating parent directories). A dry run passes `None`: nothing is written.
    pub fn open(path: Option<&Path>) -> std::io::Result<AuditLog> {
        let Some(path) = path else {
            return Ok(AuditLog { path: PathBuf::new(), file: None, observer: None, by: None });
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { path: path.to_path_buf(), file: Some(file), observer: None, by: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tell `observer` of every entry written from now on, and of the end of the run.
    pub fn observed(mut self, observer: Box<dyn AuditObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Every entry written from now on names `by` as who started the run.
    pub fn by(mut self, by: Option<String>) -> Self {
        self.by = by;
        self
    }

    /// Append one entry. A failing audit write is reported to the caller: an
    /// action must not go on without its trail.
    pub fn write(&mut self, e: &Entry) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        let stamped;
        let e = match (&self.by, &e.by) {
            (Some(by), None) => {
                stamped = Entry { by: Some(by.clone()), ..e.clone() };
                &stamped
            }
            _ => e,
        };
        let mut line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()?;
        if let Some(o) = self.observer.as_mut() {
            o.entry(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_done_promotion_is_recognised_until_a_run_finishes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert!(!failover_promoting(&path, "s1", "h:2"), "no log: nothing began");
        let mut log = AuditLog::open(Some(&path)).expect("open");
        let start = "stop and reset replication on h:2, make it writable";
        log.write(&Entry::new("r1", "failover", "s1", "promote", "start", start)).expect("write");
        assert!(failover_promoting(&path, "s1", "h:2"));
        assert!(!failover_promoting(&path, "s1", "h:22"), "another candidate");
        assert!(!failover_promoting(&path, "s2", "h:2"), "another shard");
        // A later run that failed its checks does not hide it; one that finished does.
        log.write(&Entry::new("r2", "failover", "s1", "check", "failed", "refused")).expect("write");
        assert!(failover_promoting(&path, "s1", "h:2"));
        log.write(&Entry::new("r3", "failover", "s1", "outcome", "ok", "finished")).expect("write");
        assert!(!failover_promoting(&path, "s1", "h:2"), "finished by r3");
        // A run that rolled back was not interrupted.
        let other = dir.path().join("rolled.jsonl");
        let mut log = AuditLog::open(Some(&other)).expect("open");
        log.write(&Entry::new("r4", "failover", "s1", "promote", "start", start)).expect("write");
        log.write(&Entry::new("r4", "failover", "s1", "rollback", "ok", "undone")).expect("write");
        assert!(!failover_promoting(&other, "s1", "h:2"));
    }

    #[test]
    fn a_catch_up_is_recognised_by_its_failover_shard_candidate_and_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert!(!failover_catching_up(&path, "s1", "h:2", "h:3"), "no log: nothing began");
        let mut log = AuditLog::open(Some(&path)).expect("open");
        for (action, shard, step, phase) in [
            ("failover", "s1", "catch_up", "start"),
            ("failover", "s2", "catch_up", "ok"),
            ("promote", "s3", "catch_up", "start"),
        ] {
            let detail = "h:2 replicates from h:3, which holds more, until it has it all";
            log.write(&Entry::new("r1", action, shard, step, phase, detail)).expect("write");
        }
        assert!(failover_catching_up(&path, "s1", "h:2", "h:3"));
        assert!(!failover_catching_up(&path, "s1", "h:3", "h:2"), "the other way round");
        // A run that ended (its outcome, or a rollback that put the candidate back) was not
        // interrupted.
        for step in ["outcome", "rollback"] {
            let other = dir.path().join(format!("{step}.jsonl"));
            let mut log = AuditLog::open(Some(&other)).expect("open");
            for (step, phase) in [("catch_up", "start"), (step, "ok")] {
                let detail = "h:2 replicates from h:3, which holds more";
                log.write(&Entry::new("r2", "failover", "s1", step, phase, detail)).expect("write");
            }
            assert!(!failover_catching_up(&other, "s1", "h:2", "h:3"), "{step}");
        }
        assert!(!failover_catching_up(&path, "s1", "h:2", "h:33"), "another source");
        assert!(!failover_catching_up(&path, "s2", "h:2", "h:3"), "only the step's start counts");
        assert!(!failover_catching_up(&path, "s3", "h:2", "h:3"), "a promotion's catch-up is another thing");
    }

    #[test]
    fn appends_one_json_object_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/audit.jsonl");
        for step in ["lock", "freeze"] {
            let mut log = AuditLog::open(Some(&path)).expect("open");
            let e = Entry { duration_ms: Some(1.5), ..Entry::new("r1", "promote", "s1", step, "ok", "") };
            log.write(&e).expect("write");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["step"], "freeze");
        assert_eq!(lines[0]["duration_ms"], 1.5);
    }

    #[test]
    fn a_run_started_remotely_names_who_started_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(Some(&path)).expect("open").by(Some("alice".into()));
        let e = Entry::new("r", "promote", "s", "lock", "ok", "");
        log.write(&e).expect("write");
        let mut local = AuditLog::open(Some(&path)).expect("open");
        local.write(&e).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines[0]["by"], "alice");
        assert!(lines[1].get("by").is_none(), "a local run has no `by`: {}", lines[1]);
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let mut log = AuditLog::open(None).expect("open");
        let e = Entry::new("r", "promote", "s", "x", "ok", "");
        assert!(log.write(&e).is_ok());
    }

    fn line(run: &str, shard: &str, step: &str, phase: &str, accounts: &[&str]) -> String {
        let e = Entry {
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            ..Entry::new(run, "promote", shard, step, if phase == "ok" { "ok" } else { "failed" }, "d")
        };
        serde_json::to_string(&e).expect("json")
    }

    #[test]
    fn fenced_accounts_are_those_no_later_step_unlocked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert_eq!(fenced_accounts(&path, "s1").expect("no file is no fence"), Vec::<String>::new());
        let lines = [
            // r1 finished: fenced, then unfenced.
            line("r1", "s1", "fence", "ok", &["'app'@'%'"]),
            line("r1", "s1", "unfence", "ok", &["'app'@'%'"]),
            // r2 rolled back (which unlocks).
            line("r2", "s1", "fence", "ok", &["'etl'@'10.%'"]),
            line("r2", "s1", "rollback", "ok", &[]),
            // r3 crashed after fencing two accounts; a failed unfence unlocked nothing.
            line("r3", "s1", "fence", "ok", &["'app'@'%'", "'batch'@'%'"]),
            line("r3", "s1", "unfence", "failed", &["'app'@'%'"]),
            // Another shard's crash is not this shard's business.
            line("r4", "s2", "fence", "ok", &["'other'@'%'"]),
            // r5 fenced 'etl' again and crashed; r6 (a later run that fenced it too) unlocked it.
            line("r5", "s1", "fence", "ok", &["'etl'@'10.%'"]),
            line("r6", "s1", "fence", "ok", &["'etl'@'10.%'"]),
            line("r6", "s1", "unfence", "ok", &["'etl'@'10.%'"]),
            // A torn last line from a crash mid-write.
            "{\"ts\":\"2026-11-26T".to_string(),
        ];
        std::fs::write(&path, lines.join("\n")).expect("write");
        assert_eq!(fenced_accounts(&path, "s1").expect("read"), vec!["'app'@'%'", "'batch'@'%'"]);
        assert_eq!(fenced_accounts(&path, "s2").expect("read"), vec!["'other'@'%'"]);
        assert!(fenced_accounts(&path, "s3").expect("read").is_empty());
    }

    #[test]
    fn a_failover_promotion_is_found_for_its_shard_and_candidate_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert!(!failover_promoted(&path, "s1", "db2:3306"), "no log");
        let entry = |action: &'static str, shard: &str, step: &str, phase: &'static str, detail: &str| {
            let e = Entry::new("r1", action, shard, step, phase, detail);
            serde_json::to_string(&e).expect("json")
        };
        let lines = [
            entry("failover", "s1", "promote", "start", "stop and reset replication on db3:3306"),
            entry("failover", "s1", "promote", "failed", "db3:3306 is the master? no"),
            entry("promote", "s1", "promote", "ok", "db4:3306 is the master"),
            entry("failover", "s2", "promote", "ok", "db5:3306 is the master"),
            entry("failover", "s1", "promote", "ok", "db2:3306 is the master; took over the upstream link"),
        ];
        std::fs::write(&path, format!("{}\n{{\"cut short", lines.join("\n"))).expect("write");
        assert!(failover_promoted(&path, "s1", "db2:3306"));
        for (shard, cand) in [("s1", "db3:3306"), ("s1", "db4:3306"), ("s1", "db5:3306"), ("s2", "db2:3306")] {
            assert!(!failover_promoted(&path, shard, cand), "{shard} {cand}");
        }
    }

    #[test]
    fn switch_coords_are_the_last_recorded_for_that_candidate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert_eq!(switch_coords(&path, "s1", "db2:3306"), None);
        let switch = |run: &str, shard: &str, cand: &str, coords: &str| {
            let e = Entry { coords: Some(coords.into()), ..Entry::new(run, "promote", shard, "switch", "ok", cand) };
            serde_json::to_string(&e).expect("json")
        };
        let lines = [
            switch("r1", "s1", "db2:3306", "bin.000007:1200"),
            switch("r2", "s1", "db3:3306", "bin.000001:400"),
            switch("r3", "s1", "db2:3306", "mysql-bin.000042:98765"),
            switch("r4", "s2", "db2:3306", "bin.000001:4"),
        ];
        std::fs::write(&path, lines.join("\n")).expect("write");
        assert_eq!(switch_coords(&path, "s1", "db2:3306"), Some(("mysql-bin.000042".into(), 98765)));
        assert_eq!(switch_coords(&path, "s1", "db3:3306"), Some(("bin.000001".into(), 400)));
        assert_eq!(switch_coords(&path, "s1", "db9:3306"), None);
    }
}
