//! One runner for every action that writes to servers.
//!
//! An action is a plan: a list of typed steps (`Step`), each with a name, a
//! description, a check, an act and a rollback. The same plan value is what
//! `--dry-run` prints, what the TUI dialog shows, what runs, and what the audit
//! log records, so the printed plan is the executed one. The runner executes
//! the steps in order, reports progress, writes the audit log and, when a step
//! before the point of no return fails, rolls back every step that ran, the
//! failed one included, in reverse order. Steps after the point of no return
//! (`OnFailure::Warn`) cannot be undone without losing writes: their failures
//! become warnings and the run goes on.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::audit::{AuditLog, Entry};
use super::{PlannedStep, Progress};
use crate::secret::Secret;

/// What a failed step means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Before the point of no return: undo everything and stop.
    RollBack,
    /// After it: report, and carry on with the next step.
    Warn,
}

/// One step of a plan, as data.
pub trait Step {
    /// Short, stable, machine-readable (`freeze`, `catch_up`): the audit log's `step`.
    fn name(&self) -> &'static str;
    /// In words, for the plan shown before anything runs.
    fn describe(&self) -> String;
    fn on_failure(&self) -> OnFailure;
    /// The warning a failed `Warn` step leaves in the outcome.
    fn warning(&self, error: &str) -> String {
        format!("{}: {error}", self.name())
    }
    fn planned(&self) -> PlannedStep {
        PlannedStep { name: self.name(), what: self.describe() }
    }
}

/// The plan in words: what `--dry-run`, the CLI and the TUI dialog show.
pub fn describe<S: Step>(plan: &[S]) -> Vec<PlannedStep> {
    plan.iter().map(Step::planned).collect()
}

/// Does the work of the steps of one kind of plan.
pub trait Executor<S: Step + Sync>: Send {
    /// A precondition, on the state right before the step: failing it fails the
    /// step without acting.
    fn check(&mut self, _step: &S, _journal: &mut Journal<'_>) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
    /// Do it; `Ok` carries what was done, in words.
    fn act(&mut self, step: &S, journal: &mut Journal<'_>) -> impl Future<Output = Result<String, String>> + Send;
    /// Undo `act` (also after an `act` that failed partway, so it must be safe
    /// whatever part ran). `Ok(None)`: nothing to undo.
    fn rollback(
        &mut self,
        _step: &S,
        _journal: &mut Journal<'_>,
    ) -> impl Future<Output = Result<Option<String>, String>> + Send {
        async { Ok(None) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("step {step} failed: {message}{}", if *.rolled_back { " — rolled back" } else { "" })]
    Failed { step: &'static str, message: String, rolled_back: bool },
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
}

/// What ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Executed {
    /// The names of the steps that ran, in order (a failed `Warn` step included).
    pub steps: Vec<&'static str>,
}

/// Where a run reports: the audit log (scrubbed of secrets) and whoever shows
/// progress. Executors use it for entries of their own (accounts locked, the
/// coordinates of a switch) and for warnings.
pub struct Journal<'a> {
    pub run: String,
    action: &'static str,
    shard: String,
    audit: &'a mut AuditLog,
    progress: &'a mut (dyn FnMut(&Progress) + Send),
    secrets: Vec<Secret>,
    warnings: Vec<String>,
    /// Accounts the next `done` entry carries (see `attach_accounts`).
    attached: Vec<String>,
    started: Instant,
}

impl<'a> Journal<'a> {
    pub fn new(
        action: &'static str,
        shard: &str,
        audit: &'a mut AuditLog,
        progress: &'a mut (dyn FnMut(&Progress) + Send),
        secrets: Vec<Secret>,
    ) -> Self {
        let run = format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3f"), std::process::id());
        Journal {
            run,
            action,
            shard: shard.to_string(),
            audit,
            progress,
            secrets,
            warnings: Vec::new(),
            attached: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn audit_path(&self) -> &std::path::Path {
        self.audit.path()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every secret of the run replaced, so no password reaches a log, an error or a screen.
    pub fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in &self.secrets {
            t = s.scrub(&t);
        }
        t
    }

    pub fn progress(&mut self, p: &Progress) {
        (self.progress)(p);
    }

    pub fn warn(&mut self, text: String) {
        let text = self.scrub(&text);
        self.warnings.push(text);
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// One audit entry of this run.
    pub fn entry(
        &mut self,
        step: &str,
        phase: &'static str,
        took: Option<Duration>,
        detail: &str,
    ) -> std::io::Result<()> {
        self.record(step, phase, took, detail, Vec::new(), None)
    }

    /// An entry that carries accounts or coordinates, read back by a run finishing a crashed one.
    pub fn record(
        &mut self,
        step: &str,
        phase: &'static str,
        took: Option<Duration>,
        detail: &str,
        accounts: Vec<String>,
        coords: Option<String>,
    ) -> std::io::Result<()> {
        let entry = Entry {
            duration_ms: took.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            accounts,
            coords,
            ..Entry::new(&self.run, self.action, &self.shard, step, phase, &self.scrub(detail))
        };
        self.audit.write(&entry)
    }

    pub fn start(&mut self, step: &'static str, what: String) -> std::io::Result<Instant> {
        let what = self.scrub(&what);
        (self.progress)(&Progress::Started { step, what: what.clone() });
        self.entry(step, "start", None, &what)?;
        Ok(Instant::now())
    }

    pub fn done(&mut self, step: &'static str, t: Instant, detail: String) -> std::io::Result<()> {
        let took = t.elapsed();
        let detail = self.scrub(&detail);
        (self.progress)(&Progress::Finished { step, took, detail: detail.clone() });
        let accounts = std::mem::take(&mut self.attached);
        self.record(step, "ok", Some(took), &detail, accounts, None)
    }

    /// The step in progress locked or unlocked these accounts: its `ok` entry names them, so a
    /// later run finishing a crashed one knows what is still locked.
    pub fn attach_accounts(&mut self, accounts: Vec<String>) {
        self.attached = accounts;
    }

    /// The shard's lock for an action that changes its topology (one lock for all of them:
    /// promotion, failover, fence, rejoin), as an audited `lock` step. `Ok(Err(why))`: another
    /// run holds it.
    pub fn lock_shard(
        &mut self,
        lock_dir: &std::path::Path,
    ) -> std::io::Result<Result<super::lock::ShardLock, String>> {
        let shard = self.shard.clone();
        let t = self.start("lock", format!("lock shard {shard} (lock file in {})", lock_dir.display()))?;
        Ok(match super::lock::ShardLock::acquire(lock_dir, "promote", &shard) {
            Ok(l) => {
                self.done("lock", t, l.path().display().to_string())?;
                Ok(l)
            }
            Err(e) => {
                self.fail("lock", t, &e);
                Err(e)
            }
        })
    }

    /// A failed step; the audit write is best effort (the failure is reported either way).
    pub fn fail(&mut self, step: &'static str, t: Instant, error: &str) {
        let took = t.elapsed();
        let error = self.scrub(error);
        (self.progress)(&Progress::Failed { step, took, error: error.clone() });
        let _ = self.entry(step, "failed", Some(took), &error);
    }
}

/// Execute `plan` in order. `stop`, when set between steps that can still be
/// rolled back, ends the run as a failure of the next step (and rolls back);
/// past the point of no return the run finishes, whatever `stop` says.
pub async fn execute<S, E>(
    plan: &[S],
    exec: &mut E,
    journal: &mut Journal<'_>,
    stop: Option<&AtomicBool>,
) -> Result<Executed, RunError>
where
    S: Step + Sync,
    E: Executor<S>,
{
    let mut ran = Executed::default();
    for (i, step) in plan.iter().enumerate() {
        let name = step.name();
        let t = journal.start(name, step.describe())?;
        let stopped = step.on_failure() == OnFailure::RollBack && stop.is_some_and(|s| s.load(Ordering::Relaxed));
        let result = if stopped {
            Err("interrupted before this step".to_string())
        } else {
            match exec.check(step, journal).await {
                Ok(()) => exec.act(step, journal).await,
                Err(e) => Err(format!("check failed: {e}")),
            }
        };
        match result {
            Ok(detail) => {
                journal.done(name, t, detail)?;
                crash_if_asked(name);
                run_if_asked(name);
                ran.steps.push(name);
            }
            Err(e) => {
                let e = journal.scrub(&e);
                journal.fail(name, t, &e);
                match step.on_failure() {
                    OnFailure::Warn => {
                        journal.warn(step.warning(&e));
                        ran.steps.push(name);
                    }
                    OnFailure::RollBack => {
                        // The failed step may have done part of its work: it is undone too.
                        let rolled_back = if stopped {
                            roll_back(&plan[..i], exec, journal).await?
                        } else {
                            roll_back(&plan[..=i], exec, journal).await?
                        };
                        return Err(RunError::Failed { step: name, message: e, rolled_back });
                    }
                }
            }
        }
    }
    Ok(ran)
}

/// The variable of the test-only crash hook (`crash_if_asked`).
pub const CRASH_AFTER_ENV: &str = "SHARDTOP_TEST_CRASH_AFTER";

/// Test-only hook: with `SHARDTOP_TEST_CRASH_AFTER=<step>` (a step's name as the audit log writes
/// it, e.g. `freeze`), the process kills itself with SIGKILL right after that step is done and
/// audited, as a crash there would leave things (`tests/integration/crash.rs`). A step may also
/// call it with `<step>:<point>` for a crash in its middle. Not for production.
pub(crate) fn crash_if_asked(step: &str) {
    if std::env::var_os(CRASH_AFTER_ENV).is_some_and(|v| v == step) {
        // SAFETY: kill(2) of our own pid; no memory is involved.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// The variables of the test-only fault hook (`run_if_asked`).
pub const RUN_AFTER_ENV: &str = "SHARDTOP_TEST_RUN_AFTER";
pub const RUN_CMD_ENV: &str = "SHARDTOP_TEST_RUN_CMD";

/// Test-only hook: with `SHARDTOP_TEST_RUN_AFTER=<step>` and `SHARDTOP_TEST_RUN_CMD=<command>`,
/// the command runs (`sh -c`, to its end) right after that step is done and audited, before the
/// next one starts: a fault at an exact point of a run (`tests/integration/crash.rs` SIGSTOPs
/// the old master right after the freeze). Not for production.
fn run_if_asked(step: &str) {
    if std::env::var_os(RUN_AFTER_ENV).is_some_and(|v| v == step)
        && let Some(cmd) = std::env::var_os(RUN_CMD_ENV)
    {
        let _ = std::process::Command::new("sh").arg("-c").arg(cmd).status();
    }
}

/// Undo `steps` in reverse order; every undo is tried even when one fails.
/// One `rollback` audit entry and progress message tell the whole story.
async fn roll_back<S, E>(steps: &[S], exec: &mut E, journal: &mut Journal<'_>) -> Result<bool, RunError>
where
    S: Step + Sync,
    E: Executor<S>,
{
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for step in steps.iter().rev() {
        match exec.rollback(step, journal).await {
            Ok(Some(d)) => done.push(d),
            Ok(None) => {}
            Err(e) => failed.push(format!("{}: {e}", step.name())),
        }
    }
    let ok = failed.is_empty();
    let detail = if ok {
        if done.is_empty() { "nothing to undo".to_string() } else { done.join("; ") }
    } else {
        format!("ROLLBACK FAILED: {}", failed.join("; "))
    };
    let detail = journal.scrub(&detail);
    journal.progress(&Progress::RolledBack { detail: detail.clone() });
    journal.entry("rollback", if ok { "ok" } else { "failed" }, None, &detail)?;
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of a toy plan.
    #[derive(Debug)]
    struct Toy {
        name: &'static str,
        fails: bool,
        check_fails: bool,
        on_failure: OnFailure,
    }

    fn step(name: &'static str) -> Toy {
        Toy { name, fails: false, check_fails: false, on_failure: OnFailure::RollBack }
    }

    impl Step for Toy {
        fn name(&self) -> &'static str {
            self.name
        }
        fn describe(&self) -> String {
            format!("do {}", self.name)
        }
        fn on_failure(&self) -> OnFailure {
            self.on_failure
        }
    }

    /// Records every call, in order.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl Executor<Toy> for Recorder {
        async fn check(&mut self, step: &Toy, _: &mut Journal<'_>) -> Result<(), String> {
            self.calls.push(format!("check {}", step.name));
            if step.check_fails { Err("not ready".into()) } else { Ok(()) }
        }
        async fn act(&mut self, step: &Toy, _: &mut Journal<'_>) -> Result<String, String> {
            self.calls.push(format!("act {}", step.name));
            if step.fails { Err(format!("{} broke (password hunter2)", step.name)) } else { Ok("done".into()) }
        }
        async fn rollback(&mut self, step: &Toy, _: &mut Journal<'_>) -> Result<Option<String>, String> {
            self.calls.push(format!("undo {}", step.name));
            Ok(Some(format!("{} undone", step.name)))
        }
    }

    struct Harness {
        dir: tempfile::TempDir,
        progress: Vec<Progress>,
    }

    impl Harness {
        fn new() -> Self {
            Harness { dir: tempfile::tempdir().expect("temp dir"), progress: Vec::new() }
        }

        fn run(
            &mut self,
            plan: &[Toy],
            stop: Option<&AtomicBool>,
        ) -> (Vec<String>, Result<Executed, RunError>, Vec<String>) {
            let path = self.dir.path().join("audit.jsonl");
            let mut audit = AuditLog::open(Some(&path)).expect("audit log");
            let progress = &mut self.progress;
            let mut sink = |p: &Progress| progress.push(p.clone());
            let mut journal = Journal::new("toy", "s1", &mut audit, &mut sink, vec![Secret::new("hunter2")]);
            let mut rec = Recorder::default();
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let result = rt.block_on(execute(plan, &mut rec, &mut journal, stop));
            let warnings = journal.take_warnings();
            drop(journal);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let entries: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| format!("{} {}", v["step"].as_str().unwrap_or("?"), v["phase"].as_str().unwrap_or("?")))
                .collect();
            assert!(!text.contains("hunter2"), "a secret reached the audit log: {text}");
            let _ = rec.calls.len();
            (rec.calls, result, [entries, warnings].concat())
        }
    }

    #[test]
    fn runs_every_step_in_plan_order_and_audits_each() {
        let plan = [step("a"), step("b"), step("c")];
        let mut h = Harness::new();
        let (calls, result, audit) = h.run(&plan, None);
        let ran = result.expect("runs");
        assert_eq!(ran.steps, describe(&plan).iter().map(|p| p.name).collect::<Vec<_>>());
        assert_eq!(calls, ["check a", "act a", "check b", "act b", "check c", "act c"]);
        assert_eq!(audit, ["a start", "a ok", "b start", "b ok", "c start", "c ok"]);
        assert_eq!(h.progress.len(), 6);
    }

    #[test]
    fn a_failure_before_the_point_of_no_return_undoes_everything_in_reverse() {
        let plan = [step("a"), step("b"), Toy { fails: true, ..step("c") }, step("d")];
        let mut h = Harness::new();
        let (calls, result, audit) = h.run(&plan, None);
        match result {
            Err(RunError::Failed { step, message, rolled_back }) => {
                assert_eq!((step, rolled_back), ("c", true));
                assert_eq!(message, "c broke (password ***)");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(calls, ["check a", "act a", "check b", "act b", "check c", "act c", "undo c", "undo b", "undo a"]);
        assert_eq!(audit, ["a start", "a ok", "b start", "b ok", "c start", "c failed", "rollback ok"]);
        assert!(h.progress.contains(&Progress::RolledBack { detail: "c undone; b undone; a undone".into() }));
    }

    #[test]
    fn a_failed_check_acts_not_but_still_rolls_back() {
        let plan = [step("a"), Toy { check_fails: true, ..step("b") }];
        let mut h = Harness::new();
        let (calls, result, _) = h.run(&plan, None);
        assert!(matches!(result, Err(RunError::Failed { step: "b", .. })), "{result:?}");
        assert_eq!(calls, ["check a", "act a", "check b", "undo b", "undo a"]);
    }

    #[test]
    fn past_the_point_of_no_return_failures_warn_and_the_run_goes_on() {
        let plan = [
            step("a"),
            Toy { on_failure: OnFailure::Warn, fails: true, ..step("b") },
            Toy { on_failure: OnFailure::Warn, ..step("c") },
        ];
        let mut h = Harness::new();
        let (calls, result, audit) = h.run(&plan, None);
        assert_eq!(result.expect("runs").steps, ["a", "b", "c"]);
        assert!(!calls.iter().any(|c| c.starts_with("undo")), "{calls:?}");
        assert_eq!(audit, ["a start", "a ok", "b start", "b failed", "c start", "c ok", "b: b broke (password ***)"]);
    }

    #[test]
    fn a_stop_request_rolls_back_before_the_point_of_no_return_only() {
        let stop = AtomicBool::new(true);
        let plan = [step("a"), step("b")];
        let mut h = Harness::new();
        let (calls, result, _) = h.run(&plan, Some(&stop));
        assert!(matches!(result, Err(RunError::Failed { step: "a", .. })), "{result:?}");
        assert!(calls.is_empty(), "nothing acted, nothing to undo: {calls:?}");

        let plan = [Toy { on_failure: OnFailure::Warn, ..step("a") }, Toy { on_failure: OnFailure::Warn, ..step("b") }];
        let (calls, result, _) = h.run(&plan, Some(&stop));
        assert_eq!(result.expect("finishes").steps, ["a", "b"]);
        assert_eq!(calls, ["check a", "act a", "check b", "act b"]);
    }
}
