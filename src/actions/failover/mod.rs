//! Incident failover: a replica takes over from a **dead** master.
//!
//! Preparation (nothing written): lock the shard; read the master twice, a
//! moment apart, and every replica; the holistic verdict (`fleet::death`) must
//! say dead — unreachable from here and from every replica — or the run refuses
//! (a hung or partitioned master may still take writes); judge the replicas and
//! choose the candidate (`candidate`). Then the plan (`plan::failover`), run by
//! the one action runner: stop every IO thread → the candidate applies its
//! relay log → (catch up from a replica that holds more) → pre-failover hook
//! (fencing: a non-zero exit aborts) → promote [the point of no return] →
//! post-failover hook → repoint the others → marker. It ends with what may be
//! lost: the last position shardtop saw on the dead master against the new
//! master's.

pub mod candidate;
mod exec;
pub mod plan;

use std::time::Duration;

use self::candidate::{Choice, Judged, Promotion};
use self::exec::FailoverExec;
use self::plan::{FailoverStep, Shape};
use super::audit::AuditLog;
use super::beacon::Beacon;
use super::runner::{self, Journal, RunError};
use super::server::{Accounts, dialect_of, read};
use super::{Check, PlannedStep, Progress};
use crate::fleet::death::{self, MasterState};
use crate::fleet::status::{GtidMode, InstanceStatus, IoState};
use crate::mysql::Addr;
use crate::mysql::gtid::{History, Missing};

/// How long the CLI waits between its two reads of the master: enough to tell a restart
/// from a death, short enough not to slow an incident.
pub const SECOND_READ_AFTER: Duration = Duration::from_millis(150);

#[derive(Clone, Debug)]
pub struct Request {
    pub shard: String,
    pub master: Addr,
    pub replicas: Vec<Addr>,
    /// The operator's choice (`--to`); `None`: shardtop chooses.
    pub candidate: Option<Addr>,
    pub dry_run: bool,
    /// How long the candidate may take to apply its relay log.
    pub relay_timeout: Duration,
    /// How long a candidate behind another replica may take to catch up from it.
    pub catchup_timeout: Duration,
    /// Checks the operator overrides by name (`master_dead`).
    pub force_checks: Vec<String>,
    pub pre_hook: Option<String>,
    pub hook: Option<String>,
    pub hook_timeout: Duration,
    /// The global master the shard master replicated from (config), taken over by the new one.
    pub upstream: Option<Addr>,
    /// Per-instance promotion rules from the config.
    pub promotion: Vec<(Addr, Promotion)>,
    /// What the caller already knows (the TUI's model): the master's consecutive failed
    /// probes and the last GTID position it saw there. `None`: read here (the CLI).
    pub seen: Option<Seen>,
    /// The audit log earlier runs wrote to: how a failover that crashed after its promotion is
    /// recognised (read even by a dry run, which writes nothing).
    pub audit_log: std::path::PathBuf,
}

/// The TUI's memory of the master, which the CLI lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub failures: u32,
    pub last_gtid: Option<String>,
    /// The master ran semi-sync (status ON, AFTER_SYNC) at its last successful probe.
    pub semi_sync: bool,
}

/// What may have been lost, in words and figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loss {
    /// The last position shardtop saw on the dead master, when it saw one.
    pub last_seen: Option<String>,
    /// The new master's position when it took over.
    pub new_master: String,
    /// Transactions the dead master had at its last sighting that the new master lacks.
    pub missing: Vec<Missing>,
    pub summary: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub run: String,
    pub candidate: Option<Addr>,
    pub promoted: bool,
    pub verdict: Option<MasterState>,
    pub judged: Vec<Judged>,
    pub checks: Vec<Check>,
    pub plan: Vec<PlannedStep>,
    pub executed: Vec<&'static str>,
    /// From the start of the run to the new master taking writes.
    pub writable_after: Option<Duration>,
    pub total: Duration,
    pub loss: Loss,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("{0}")]
    Refused(String),
    #[error("step {step} failed: {message}{}", if *.rolled_back { " — rolled back: nothing is writable, the replicas are as they were" } else { "" })]
    Failed { step: &'static str, message: String, rolled_back: bool },
    #[error("audit log: {0}")]
    Audit(std::io::Error),
}

impl From<std::io::Error> for FailoverError {
    fn from(e: std::io::Error) -> Self {
        FailoverError::Audit(e)
    }
}

impl From<RunError> for FailoverError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Failed { step, message, rolled_back } => FailoverError::Failed { step, message, rolled_back },
            RunError::Audit(e) => FailoverError::Audit(e),
        }
    }
}

fn forced(req: &Request, name: &str) -> bool {
    req.force_checks.iter().any(|f| f == name)
}

/// The master read fresh: from the caller's memory of its failures, or from two reads a moment
/// apart. Returns the failures to count and what it answered, if it did.
async fn read_master(req: &Request, acc: &Accounts) -> (u32, Option<InstanceStatus>) {
    let opts = acc.admin_opts();
    match &req.seen {
        // The model's count, but a master that answers now is up whatever it says.
        Some(seen) => match read(&req.master, &opts).await {
            Ok(s) => (0, Some(s)),
            Err(_) => (seen.failures.max(1), None),
        },
        None => match read(&req.master, &opts).await {
            Ok(s) => (0, Some(s)),
            Err(_) => {
                tokio::time::sleep(SECOND_READ_AFTER).await;
                match read(&req.master, &opts).await {
                    Ok(s) => (0, Some(s)),
                    Err(_) => (2, None),
                }
            }
        },
    }
}

/// The verdict on the master. Its replicas are read after it, not beside it: a run started the
/// moment the master died (a script, an engineer quick on the key) reads them once they have had
/// the master's second read's moment to see their link drop, rather than catching one that has
/// not noticed yet and refusing as "still connected: not confirmed dead".
async fn verdict(
    req: &Request,
    acc: &Accounts,
) -> (MasterState, Option<InstanceStatus>, Vec<(Addr, Option<InstanceStatus>)>) {
    let (failures, master) = read_master(req, acc).await;
    let opts = acc.admin_opts();
    let replicas: Vec<(Addr, Option<InstanceStatus>)> = futures::future::join_all(req.replicas.iter().map(|a| {
        let opts = opts.clone();
        async move { (a.clone(), read(a, &opts).await.ok()) }
    }))
    .await;
    let views: Vec<(Addr, Option<&InstanceStatus>)> = replicas.iter().map(|(a, s)| (a.clone(), s.as_ref())).collect();
    (death::master_state(&req.master, failures, &views), master, replicas)
}

/// Run a failover (or, with `dry_run`, only its checks and plan).
pub async fn failover(
    req: &Request,
    acc: &Accounts,
    lock_dir: &std::path::Path,
    audit: &mut AuditLog,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Outcome, FailoverError> {
    let mut journal = Journal::new("failover", &req.shard, audit, progress, acc.secrets());
    let mut outcome = Outcome { run: journal.run.clone(), ..Outcome::default() };
    // One lock for every action that changes a shard's topology.
    let _lock = if req.dry_run { None } else { Some(journal.lock_shard(lock_dir)?.map_err(FailoverError::Refused)?) };
    // Watchers of the replicas hold this shard's findings while the run lasts (the master is dead).
    let _beacon = if req.dry_run { None } else { Some(Beacon::raise(&req.replicas, &acc.admin_opts()).await) };

    let t = journal.start("read", "read every member fresh; the master twice".into())?;
    let opts = acc.admin_opts();
    let (state, master_status, replicas) = verdict(req, acc).await;
    let up = replicas.iter().filter(|(_, s)| s.is_some()).count();
    journal.done("read", t, format!("{}; {up} of {} replicas read", state.describe(), replicas.len()))?;
    outcome.verdict = Some(state.clone());

    let mut checks = Vec::new();
    let dead_forced = !state.is_dead() && forced(req, "master_dead");
    checks.push(Check { name: "master_dead", ok: state.is_dead(), detail: state.describe(), forced: dead_forced });
    if master_status.as_ref().is_some_and(|s| !s.read_only) && !dead_forced {
        let msg = format!(
            "refused: the master {} answers and is writable: this is no incident for failover; use `shardtop promote` \
             for a planned switchover",
            req.master
        );
        return Err(FailoverError::Refused(msg));
    }
    // A failover an earlier run began and did not finish: a replica it promoted takes writes and
    // follows the dead master no more. Promoting another would make two masters: finish instead.
    if let Some((addr, status)) = replicas.iter().find_map(|(a, s)| {
        s.as_ref().filter(|s| !s.read_only && s.replication.iter().all(|l| l.source != req.master)).map(|s| (a, s))
    }) {
        return finish_interrupted(req, acc, journal, outcome, addr, status, &replicas).await;
    }
    if dead_forced && req.pre_hook.is_none() {
        return Err(FailoverError::Refused(format!(
            "refused: {}; --force-check master_dead needs a pre-failover hook ([actions] pre_failover_hook) that \
             fences {} (STONITH, router): it may still take writes",
            state.describe(),
            req.master
        )));
    }

    // A candidate an earlier failover left following another replica in the middle of its
    // catch-up: back under the dead master first, as the step's end or its rollback would have
    // put it; else it would be judged a replica of nobody and refused (or passed over).
    let mut replicas = replicas;
    if state.is_dead() || dead_forced {
        for (a, from) in exec::interrupted_catch_ups(req, &replicas) {
            let what = format!("{a} follows {from}: an earlier failover stopped in the middle of its catch-up");
            let Some(slot) = replicas.iter_mut().find(|(x, _)| *x == a) else { continue };
            let Some(status) = slot.1.clone() else { continue };
            if req.dry_run {
                checks.push(Check {
                    name: "interrupted_catch_up",
                    ok: true,
                    detail: format!("{what}; the run puts it back under {} first", req.master),
                    forced: false,
                });
                // Judged as the run will leave it: applying, not receiving, under the dead master.
                if let Some(l) = slot.1.as_mut().and_then(|s| s.replication.first_mut()) {
                    l.source = req.master.clone();
                    l.sql_running = true;
                    l.io_state = IoState::Stopped;
                }
                continue;
            }
            let t = journal.start("reattach", format!("{what}; back under the dead master {}", req.master))?;
            match exec::reattach_interrupted(&a, &status, req, acc, &opts).await {
                Ok(()) => {
                    slot.1 = read(&a, &opts).await.ok();
                    journal.done("reattach", t, format!("{a} is a replica of {} again, not receiving", req.master))?;
                }
                Err(e) => {
                    journal.entry("reattach", "failed", None, &e)?;
                    journal.warn(format!("reattach {a}: {e}"));
                }
            }
        }
    }

    // A candidate an earlier failover reset (`RESET SLAVE ALL`) and crashed before making
    // writable: read-only, replicating from nobody. It holds everything the run judged; the
    // others were left not receiving. Finish that promotion rather than choose again (another
    // choice would leave it stranded, `--to` it would refuse it); no server takes writes yet.
    if (state.is_dead() || dead_forced)
        && let Some((a, status)) = replicas.iter().find_map(|(a, s)| {
            s.as_ref()
                .filter(|s| {
                    s.read_only
                        && s.replication.is_empty()
                        && super::audit::failover_promoting(&req.audit_log, &req.shard, &a.to_string())
                })
                .map(|s| (a.clone(), s.clone()))
        })
    {
        let what = format!(
            "{a} is read-only and replicates from nobody: an earlier failover reset it and stopped before making it \
             writable (its audit log says so)"
        );
        if req.dry_run {
            checks.push(Check {
                name: "interrupted_promotion",
                ok: true,
                detail: format!("{what}; the run makes it writable and finishes the failover"),
                forced: false,
            });
            journal.progress(&Progress::Checks(checks.clone()));
            outcome.checks = checks;
            outcome.candidate = Some(a);
            outcome.total = journal.elapsed();
            return Ok(outcome);
        }
        let t = journal.start("promote", format!("{what}; make it writable"))?;
        if let Err(e) = exec::make_writable(&a, &status, acc, &opts).await {
            journal.entry("promote", "failed", None, &e)?;
            return Err(FailoverError::Refused(format!("refused: {what}; making it writable failed: {e}")));
        }
        // Its `ok` detail is what `finish_interrupted` looks for in the audit log.
        journal.done("promote", t, format!("{a} is the master: finished the promotion an earlier failover began"))?;
        let mut replicas = replicas;
        if let Some(slot) = replicas.iter_mut().find(|(x, _)| *x == a) {
            slot.1 = read(&a, &opts).await.ok();
        }
        let Some(status) = replicas.iter().find(|(x, _)| *x == a).and_then(|(_, s)| s.clone()) else {
            return Err(FailoverError::Refused(format!("{a} was made writable and could not be read back")));
        };
        return finish_interrupted(req, acc, journal, outcome, &a, &status, &replicas).await;
    }

    // Judge and choose.
    let rule = |a: &Addr| req.promotion.iter().find(|(x, _)| x == a).map(|(_, p)| *p).unwrap_or_default();
    let rows: Vec<(Addr, Option<&InstanceStatus>, Promotion, bool)> =
        replicas.iter().map(|(a, s)| (a.clone(), s.as_ref(), rule(a), false)).collect();
    let judged = candidate::judge(&req.master, &rows);
    outcome.judged = judged.clone();
    let choice = candidate::choose(judged, req.candidate.as_ref());
    checks.push(Check {
        name: "candidate",
        ok: choice.is_ok(),
        detail: match &choice {
            Ok(c) => describe_choice(c),
            Err(e) => e.clone(),
        },
        forced: false,
    });
    if let Ok(c) = &choice {
        let needs_tls = crate::actions::server::requires_secure_transport(&c.candidate, acc).await;
        let tls = crate::actions::server::replication_tls_check(
            &c.candidate,
            needs_tls,
            acc.repl_tls,
            forced(req, "replication_tls"),
        );
        checks.push(tls);
    }
    // What may be lost, as far as can be said before anything runs.
    if let Ok(c) = &choice
        && let Some(cand) = replicas.iter().find(|(a, _)| *a == c.candidate).and_then(|(_, s)| s.as_ref())
    {
        let estimate = loss(req, c, cand, None);
        checks.push(Check { name: "may_be_lost", ok: true, detail: estimate.summary, forced: false });
    }
    journal.progress(&Progress::Checks(checks.clone()));
    outcome.checks = checks.clone();
    let blocking: Vec<String> =
        checks.iter().filter(|c| c.blocks()).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    let choice = match choice {
        Ok(c) if blocking.is_empty() => c,
        _ => {
            let msg = format!("refused: {}", blocking.join("; "));
            if !req.dry_run {
                journal.entry("check", "failed", None, &msg)?;
            }
            return Err(FailoverError::Refused(msg));
        }
    };
    outcome.candidate = Some(choice.candidate.clone());
    let cand_status = replicas
        .iter()
        .find(|(a, _)| *a == choice.candidate)
        .and_then(|(_, s)| s.clone())
        .ok_or_else(|| FailoverError::Refused(format!("{} could not be read", choice.candidate)))?;
    let dialect = dialect_of(&cand_status).map_err(FailoverError::Refused)?;
    let gtid =
        cand_status.replication.iter().find(|l| l.source == req.master).is_some_and(|l| l.gtid_mode != GtidMode::No);
    let reachable: Vec<Addr> = replicas.iter().filter(|(_, s)| s.is_some()).map(|(a, _)| a.clone()).collect();
    let plan = plan::failover(&Shape {
        candidate: &choice.candidate,
        replicas: &reachable,
        catch_up_from: choice.catch_up_from.as_ref(),
        upstream: req.upstream.as_ref(),
        pre_hook: req.pre_hook.as_deref(),
        hook: req.hook.as_deref(),
        relay_timeout: req.relay_timeout,
        catchup_timeout: req.catchup_timeout,
    });
    outcome.plan = runner::describe(&plan);
    journal.progress(&Progress::Plan(outcome.plan.clone()));
    if req.dry_run {
        outcome.loss = loss(req, &choice, &cand_status, None);
        outcome.total = journal.elapsed();
        return Ok(outcome);
    }
    journal.entry("check", "ok", None, &format!("{}; candidate {}", state.describe(), choice.candidate))?;

    let io_was_running = replicas
        .iter()
        .filter(|(_, s)| {
            s.as_ref()
                .and_then(|s| s.replication.iter().find(|l| l.source == req.master))
                .is_some_and(|l| l.io_state != IoState::Stopped)
        })
        .map(|(a, _)| a.clone())
        .collect();
    let followers: Vec<Addr> = reachable.iter().filter(|a| **a != choice.candidate).cloned().collect();
    let mut ex = FailoverExec {
        io_was_running,
        ..FailoverExec::new(req, acc, dialect, choice.candidate.clone(), gtid, followers, journal.run.clone())
    };
    let result = runner::execute::<FailoverStep, _>(&plan, &mut ex, &mut journal, None).await;
    outcome.promoted = ex.promoted;
    outcome.writable_after = ex.writable_after;
    let ran = result?;
    outcome.executed = ran.steps;
    outcome.loss = loss(req, &choice, &cand_status, ex.took_over_at.as_deref());
    journal.entry("loss", "ok", None, &outcome.loss.summary)?;
    outcome.warnings = journal.take_warnings();
    outcome.total = journal.elapsed();
    let summary = format!(
        "{} is the master of {} after the failover; writable after {:.0} ms, total {:.0} ms; {} warnings",
        choice.candidate,
        req.shard,
        outcome.writable_after.unwrap_or_default().as_secs_f64() * 1e3,
        outcome.total.as_secs_f64() * 1e3,
        outcome.warnings.len()
    );
    journal.entry("outcome", "ok", Some(outcome.total), &summary)?;
    Ok(outcome)
}

/// `new_master`, a replica of the shard, takes writes and no longer replicates from the dead
/// master: an earlier failover crashed after promoting it (its audit log must say so, else this
/// is a writable server nobody explained, and the run refuses). Going back would lose what the
/// new master took since; finish instead: the routing hook, the replicas still attached to the
/// dead master, the marker.
async fn finish_interrupted(
    req: &Request,
    acc: &Accounts,
    mut journal: Journal<'_>,
    mut outcome: Outcome,
    new_master: &Addr,
    status: &InstanceStatus,
    replicas: &[(Addr, Option<InstanceStatus>)],
) -> Result<Outcome, FailoverError> {
    let audit_path = req.audit_log.clone();
    if !super::audit::failover_promoted(&audit_path, &req.shard, &new_master.to_string()) {
        let msg = format!(
            "refused: {new_master} takes writes and does not replicate from {}, and the audit log {} records no \
             failover that promoted it: find out who made it writable before promoting another (two masters)",
            req.master,
            audit_path.display()
        );
        if !req.dry_run {
            journal.entry("check", "failed", None, &msg)?;
        }
        return Err(FailoverError::Refused(msg));
    }
    let stranded: Vec<Addr> = replicas
        .iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| s.replication.iter().any(|l| l.source == req.master)))
        .map(|(a, _)| a.clone())
        .collect();
    let unreachable: Vec<String> = replicas.iter().filter(|(_, s)| s.is_none()).map(|(a, _)| a.to_string()).collect();
    let followers: Vec<Addr> =
        replicas.iter().filter(|(a, s)| s.is_some() && a != new_master).map(|(a, _)| a.clone()).collect();
    let gtid = replicas.iter().filter(|(a, _)| stranded.contains(a)).all(|(_, s)| {
        s.as_ref().is_some_and(|s| s.replication.iter().any(|l| l.source == req.master && l.gtid_mode != GtidMode::No))
    });
    let dialect = dialect_of(status).map_err(FailoverError::Refused)?;
    let what = format!(
        "{new_master} takes writes and {} follows the dead master {}: an earlier failover stopped after promoting \
         it (its audit log says so); finishing it{}",
        if stranded.is_empty() { "no replica".to_string() } else { format!("{} still", stranded.len()) },
        req.master,
        if unreachable.is_empty() { String::new() } else { format!("; unreachable now: {}", unreachable.join(", ")) }
    );
    let plan = plan::finish(new_master, what.clone(), &stranded, req.hook.as_deref(), followers.len());
    outcome.candidate = Some(new_master.clone());
    outcome.plan = runner::describe(&plan);
    journal.progress(&Progress::Plan(outcome.plan.clone()));
    if req.dry_run {
        outcome.total = journal.elapsed();
        return Ok(outcome);
    }
    journal.entry("check", "ok", None, &what)?;
    // Promoted by the earlier run: nothing here may undo that.
    let mut ex = FailoverExec {
        promote_attempted: true,
        promoted: true,
        ..FailoverExec::new(req, acc, dialect, new_master.clone(), gtid, followers, journal.run.clone())
    };
    let ran = runner::execute::<FailoverStep, _>(&plan, &mut ex, &mut journal, None).await?;
    outcome.promoted = true;
    outcome.executed = ran.steps;
    outcome.loss = Loss {
        new_master: status.gtid.display().to_string(),
        summary: format!(
            "not measured by this run: the run that promoted {new_master} stopped before it compared the dead \
             master's last position with the new master's; when {} is back, `shardtop rejoin` names any \
             transactions the new master lacks",
            req.master
        ),
        ..Loss::default()
    };
    journal.entry("loss", "ok", None, &outcome.loss.summary)?;
    outcome.warnings = journal.take_warnings();
    outcome.total = journal.elapsed();
    journal.entry("outcome", "ok", Some(outcome.total), &format!("finished the failover to {new_master}"))?;
    Ok(outcome)
}

fn describe_choice(c: &Choice) -> String {
    let held = |a: &Addr| {
        c.judged
            .iter()
            .find(|j| &j.addr == a)
            .and_then(|j| j.holds.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    let mut s = format!("{} (holds {})", c.candidate, held(&c.candidate));
    if let Some(from) = &c.catch_up_from {
        s.push_str(&format!("; catches up first from {from} (holds {})", held(from)));
    }
    let excluded: Vec<String> =
        c.judged.iter().filter_map(|j| j.excluded.as_ref().map(|why| format!("{}: {why}", j.addr))).collect();
    if !excluded.is_empty() {
        s.push_str(&format!("; set aside: {}", excluded.join("; ")));
    }
    s
}

/// What may be lost: the dead master's last known position against what the new master holds.
/// `took_over_at`: the new master's GTID position when it took over (before its own writes);
/// `None` in a dry run, where what the candidate holds stands in.
fn loss(req: &Request, choice: &Choice, cand: &InstanceStatus, took_over_at: Option<&str>) -> Loss {
    let holds = choice.judged.iter().find(|j| j.addr == choice.candidate).and_then(|j| j.holds.clone());
    let new_text = match took_over_at {
        Some(at) => at.to_string(),
        None => holds.as_ref().map(ToString::to_string).unwrap_or_default(),
    };
    let last_seen = req.seen.as_ref().and_then(|s| s.last_gtid.clone());
    let parse = |t: &str| History::parse(cand.flavor, t).ok();
    let missing = match (last_seen.as_deref().and_then(parse), parse(&new_text)) {
        (Some(old), Some(new)) => old.missing_from(&new),
        _ => Vec::new(),
    };
    let semi_sync = req.seen.as_ref().is_some_and(|s| s.semi_sync)
        && choice.judged.iter().any(|j| j.addr == choice.candidate && j.semi_sync);
    let summary = if semi_sync {
        format!("semi-sync (AFTER_SYNC) with {} as a semi-sync replica: acknowledged writes are safe", choice.candidate)
    } else {
        match &last_seen {
            None => format!(
                "the dead master's last position is unknown to this run (no earlier probe): transactions it \
                 committed beyond {new_text} never reached a replica and are lost; without semi-sync, some may \
                 have been acknowledged"
            ),
            Some(seen) if missing.is_empty() => {
                format!("nothing known lost: the new master holds the last position seen on the dead master ({seen})")
            }
            Some(seen) => format!(
                "may be lost (seen on the dead master at {seen}, not on the new master): {}",
                missing.iter().map(|m| format!("{} ({} transactions)", m.what, m.count)).collect::<Vec<_>>().join("; ")
            ),
        }
    };
    Loss { last_seen, new_master: new_text, missing, summary }
}
