//! Planned switchover: make a replica the shard's master without losing or
//! duplicating a write.
//!
//! Preparation (not part of the plan, nothing written): lock the shard, read
//! every member fresh, check the candidate. Then the plan (`plan::switchover`),
//! run by the one action runner (`runner::execute`): freeze the old master and
//! stop writers that read_only does not stop → verify it is frozen → wait,
//! bounded, for the candidate to apply everything → promote the candidate
//! (taking over the upstream link) [the point of no return] → post-promotion
//! hook → repoint the other replicas → the old master a read-only replica →
//! a marker row reaches every replica. A failure up to the promotion rolls
//! back in reverse order: the old master is writable again and replication is
//! as it was. A run that finds an earlier one stopped after the point of no
//! return finishes it instead (`plan::finish`).

mod checks;
mod exec;
pub mod plan;

use std::time::Duration;

use mysql_async::Conn;

pub use self::checks::check_candidate;
use self::exec::PromoteExec;
use self::plan::PromoteStep;
use super::beacon::Beacon;
use super::runner::{self, Journal, RunError};
use super::server::{Coords, connect, dialect_of, first_value, read};
use super::{Check, PlannedStep, Progress, audit::AuditLog};
pub use crate::actions::server::Accounts;
use crate::fleet::status::{GtidMode, InstanceStatus};
use crate::mysql::replication::Position;
use crate::mysql::{Addr, Dialect};

/// What to do with the old master once the candidate took over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OldMaster {
    /// A read-only replica of the new master (the default).
    Replica,
    /// Read-only and standalone, e.g. to be retired.
    Detach,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub shard: String,
    pub master: Addr,
    pub replicas: Vec<Addr>,
    pub candidate: Addr,
    pub dry_run: bool,
    pub catchup_timeout: Duration,
    pub max_lag: Duration,
    /// Checks the operator overrides by name.
    pub force_checks: Vec<String>,
    pub old_master: OldMaster,
    /// Replicas to leave out of the new topology (replication stopped and reset).
    pub detach: Vec<Addr>,
    /// Kill sessions of accounts that read_only does not stop; when false, refuse instead.
    pub kill_unstoppable_writers: bool,
    pub hook: Option<String>,
    pub hook_timeout: Duration,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub run: String,
    /// The candidate is the master now.
    pub promoted: bool,
    pub rolled_back: bool,
    pub checks: Vec<Check>,
    pub plan: Vec<PlannedStep>,
    /// The names of the plan's steps that ran, in order: the plan, when nothing failed.
    pub executed: Vec<&'static str>,
    /// From the freeze of the old master to the new master taking writes.
    pub write_blocked: Option<Duration>,
    pub total: Duration,
    /// Problems after the point of no return (the promotion stands).
    pub warnings: Vec<String>,
}

impl Outcome {
    /// `writes blocked N ms, total M ms`, for every place that reports a promotion.
    pub fn timing(&self) -> String {
        format!(
            "writes blocked {:.0} ms, total {:.0} ms",
            self.write_blocked.unwrap_or_default().as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("{0}")]
    Refused(String),
    #[error("step {step} failed: {message}{}", if *.rolled_back { " — rolled back: the old master is writable and replication is as it was" } else { "" })]
    Failed { step: &'static str, message: String, rolled_back: bool },
    #[error("audit log: {0}")]
    Audit(std::io::Error),
}

impl From<std::io::Error> for PromoteError {
    fn from(e: std::io::Error) -> Self {
        PromoteError::Audit(e)
    }
}

impl From<RunError> for PromoteError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Failed { step, message, rolled_back } => PromoteError::Failed { step, message, rolled_back },
            RunError::Audit(e) => PromoteError::Audit(e),
        }
    }
}

/// Every member as read right now: the master first, then the replicas.
async fn read_members(req: &Request, acc: &Accounts) -> Vec<(Addr, Result<InstanceStatus, String>)> {
    let opts = acc.admin_opts();
    let read_one = |a: Addr| {
        let opts = opts.clone();
        async move {
            let s = read(&a, &opts).await;
            (a, s)
        }
    };
    // Replicas first, then the master: under load the master's position is then
    // at or past everything a replica applied, so read skew never looks errant.
    let mut reads = futures::future::join_all(req.replicas.iter().cloned().map(read_one)).await;
    reads.insert(0, read_one(req.master.clone()).await);
    reads
}

/// Run a promotion (or, with `dry_run`, only its checks and plan).
pub async fn promote(
    req: &Request,
    acc: &Accounts,
    lock_dir: &std::path::Path,
    audit: &mut AuditLog,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Outcome, PromoteError> {
    let mut journal = Journal::new("promote", &req.shard, audit, progress, acc.secrets());
    let mut outcome = Outcome { run: journal.run.clone(), ..Outcome::default() };

    if req.candidate == req.master {
        return Err(PromoteError::Refused(format!("{} is already the master of {}", req.candidate, req.shard)));
    }
    if !req.replicas.contains(&req.candidate) {
        return Err(PromoteError::Refused(format!(
            "{} is not a replica of shard {} in the config",
            req.candidate, req.shard
        )));
    }

    let _lock = if req.dry_run { None } else { Some(journal.lock_shard(lock_dir)?.map_err(PromoteError::Refused)?) };
    // Watchers of these servers hold this shard's findings while the run lasts.
    let members: Vec<Addr> = std::iter::once(req.master.clone()).chain(req.replicas.iter().cloned()).collect();
    let _beacon = if req.dry_run { None } else { Some(Beacon::raise(&members, &acc.admin_opts()).await) };

    let t = journal.start("read", "read every member fresh".into())?;
    let reads = read_members(req, acc).await;
    let master_status = match &reads[0].1 {
        Ok(s) => s.clone(),
        Err(e) => {
            let msg = format!("cannot read the master {}: {e}", req.master);
            journal.fail("read", t, &msg);
            return Err(PromoteError::Refused(msg));
        }
    };
    let cand_status = match reads.iter().find(|(a, _)| *a == req.candidate).map(|(_, r)| r) {
        Some(Ok(s)) => s.clone(),
        Some(Err(e)) => {
            let msg = format!("cannot read the candidate {}: {e}", req.candidate);
            journal.fail("read", t, &msg);
            return Err(PromoteError::Refused(msg));
        }
        None => return Err(PromoteError::Refused("candidate missing from the read".into())),
    };
    let others: Vec<(Addr, Option<InstanceStatus>)> = reads[1..]
        .iter()
        .filter(|(a, _)| *a != req.candidate)
        .map(|(a, r)| (a.clone(), r.as_ref().ok().cloned()))
        .collect();
    journal.done("read", t, format!("{} members", reads.len()))?;

    let dialect = dialect_of(&master_status).map_err(PromoteError::Refused)?;

    // A switch that an earlier run began and did not finish.
    if master_status.read_only
        && !cand_status.read_only
        && cand_status.primary_link().is_none_or(|l| l.source != req.master)
    {
        return finish_interrupted(req, acc, journal, outcome, dialect, &master_status, &others).await;
    }

    let mut checks = check_candidate(req, &master_status, &cand_status, &others);
    let needs_tls = crate::actions::server::requires_secure_transport(&req.candidate, acc).await;
    let forced = req.force_checks.iter().any(|f| f == "replication_tls");
    checks.push(crate::actions::server::replication_tls_check(&req.candidate, needs_tls, acc.repl_tls, forced));
    journal.progress(&Progress::Checks(checks.clone()));
    outcome.checks = checks.clone();
    let gtid = cand_status.primary_link().is_some_and(|l| l.gtid_mode != GtidMode::No);
    let upstream = master_status.primary_link().cloned();
    // Replicas chained below another replica stay where they are.
    let direct: Vec<Addr> = others
        .iter()
        .filter(|(_, s)| s.as_ref().and_then(|s| s.primary_link()).is_none_or(|l| l.source == req.master))
        .map(|(a, _)| a.clone())
        .collect();
    let plan = plan::switchover(req, gtid, upstream.as_ref().map(|l| &l.source), &direct);
    outcome.plan = runner::describe(&plan);
    journal.progress(&Progress::Plan(outcome.plan.clone()));
    let blocking: Vec<String> =
        checks.iter().filter(|c| c.blocks()).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    if !blocking.is_empty() {
        let msg = format!("refused, candidate checks failed: {}", blocking.join("; "));
        if !req.dry_run {
            journal.entry("check", "failed", None, &msg)?;
        }
        return Err(PromoteError::Refused(msg));
    }
    if req.dry_run {
        outcome.total = journal.elapsed();
        return Ok(outcome);
    }
    journal.entry("check", "ok", None, &format!("{} checks passed", checks.len()))?;

    let opts = acc.admin_opts();
    let mut master =
        connect(&req.master, &opts).await.map_err(|e| PromoteError::Refused(format!("{}: {e}", req.master)))?;
    let cand =
        connect(&req.candidate, &opts).await.map_err(|e| PromoteError::Refused(format!("{}: {e}", req.candidate)))?;
    let lock_name = format!("shardtop.promote.{}", req.shard).replace('\'', "");
    take_server_lock(&mut master, &lock_name, req, acc).await?;
    let moved: Vec<Addr> = direct.iter().filter(|a| !req.detach.contains(a)).cloned().collect();
    let mut followers = moved.clone();
    if req.old_master == OldMaster::Replica {
        followers.push(req.master.clone());
    }
    let mut ex = PromoteExec {
        opts,
        gtid,
        upstream,
        lock_name,
        master: Some(master),
        cand: Some(cand),
        file_pos_replicas: if gtid { Vec::new() } else { moved },
        followers,
        ..PromoteExec::new(req, acc, dialect, journal.run.clone())
    };
    let result = runner::execute(&plan, &mut ex, &mut journal, None).await;
    outcome.write_blocked = ex.write_blocked;
    outcome.promoted = ex.promoted;
    let ran = result?;
    outcome.executed = ran.steps;
    outcome.warnings = journal.take_warnings();
    outcome.total = journal.elapsed();
    let summary = format!(
        "{} is the master of {}; {}; {} warnings",
        req.candidate,
        req.shard,
        outcome.timing().replace(", ", "; "),
        outcome.warnings.len()
    );
    journal.entry("outcome", "ok", Some(outcome.total), &summary)?;
    Ok(outcome)
}

/// Two shardtops on two machines share no lock file: the old master's `GET_LOCK` is the lock
/// they share.
async fn take_server_lock(
    master: &mut Conn,
    lock_name: &str,
    req: &Request,
    acc: &Accounts,
) -> Result<(), PromoteError> {
    let got: Option<i64> = first_value(master, &format!("SELECT GET_LOCK('{lock_name}', 0)"), acc.timeout)
        .await
        .map_err(|e| PromoteError::Refused(format!("GET_LOCK on {}: {e}", req.master)))?;
    if got != Some(1) {
        return Err(PromoteError::Refused(format!(
            "shard {} is being promoted by another shardtop (GET_LOCK busy on {})",
            req.shard, req.master
        )));
    }
    Ok(())
}

/// The old master is frozen and the candidate already takes writes: an earlier
/// run crashed after the point of no return. Going back would lose what the new
/// master took since; finish instead: routing, the other replicas, the old
/// master, the accounts it fenced, the marker.
async fn finish_interrupted(
    req: &Request,
    acc: &Accounts,
    mut journal: Journal<'_>,
    mut outcome: Outcome,
    dialect: Dialect,
    master: &InstanceStatus,
    others: &[(Addr, Option<InstanceStatus>)],
) -> Result<Outcome, PromoteError> {
    let file_pos: Vec<Addr> = others
        .iter()
        .filter_map(|(a, s)| s.as_ref()?.primary_link().filter(|l| l.gtid_mode == GtidMode::No).map(|_| a.clone()))
        .collect();
    let what = format!(
        "{} is read-only and {} takes writes: an earlier promotion stopped after the switch; finishing it",
        req.master, req.candidate
    );
    // Only a candidate that has everything the old master wrote may be the one an earlier run promoted.
    if let Some(missing) = candidate_lacks(req, acc, master).await {
        return Err(PromoteError::Refused(missing));
    }
    // file:pos replicas start from the new master's own coordinates at the switch, which the
    // crashed run recorded before making it writable.
    let switch_at = super::audit::switch_coords(journal.audit_path(), &req.shard, &req.candidate.to_string());
    let file_start = match (&switch_at, file_pos.is_empty()) {
        (_, true) => None,
        (Some((f, p)), false) => Some(Position::File { file: f.clone(), pos: *p }),
        (None, false) if req.dry_run => None,
        (None, false) => {
            let names: Vec<String> = file_pos.iter().map(ToString::to_string).collect();
            return Err(PromoteError::Refused(format!(
                "{what}, but {} replicate by file:position and the audit log {} has no coordinates of the switch \
                 to {}: repoint them by hand",
                names.join(", "),
                journal.audit_path().display(),
                req.candidate
            )));
        }
    };
    let stranded: Vec<Addr> = others
        .iter()
        .filter(|(a, s)| {
            !req.detach.contains(a) && s.as_ref().and_then(|s| s.primary_link()).is_some_and(|l| l.source == req.master)
        })
        .map(|(a, _)| a.clone())
        .collect();
    let mut followers: Vec<Addr> = others.iter().map(|(a, _)| a.clone()).filter(|a| !req.detach.contains(a)).collect();
    if req.old_master == OldMaster::Replica {
        followers.push(req.master.clone());
    }
    let old_master_follows =
        req.old_master == OldMaster::Replica && master.primary_link().is_none_or(|l| l.source != req.candidate);
    // The accounts the interrupted run locked on the old master (its `fence` entry, with no
    // `unfence` or rollback after it) are unlocked now that routing points at the new master.
    let fenced = match super::audit::fenced_accounts(journal.audit_path(), &req.shard) {
        Ok(a) => a,
        Err(e) => {
            journal.warn(format!(
                "cannot read the audit log {} ({e}): accounts an interrupted run fenced may still be locked on {}; \
                 ALTER USER … ACCOUNT UNLOCK them there",
                journal.audit_path().display(),
                req.master
            ));
            Vec::new()
        }
    };
    let plan = plan::finish(req, what, &stranded, old_master_follows, fenced, followers.len());
    outcome.plan = runner::describe(&plan);
    journal.progress(&Progress::Plan(outcome.plan.clone()));
    if req.dry_run {
        return Ok(outcome);
    }
    let mut ex = PromoteExec {
        gtid: file_pos.is_empty(),
        // The frozen old master's binlog end: a file:pos replica must have applied up to it,
        // so that it stands where the new master stood at the switch.
        wait_coords: Some(Coords { gtid: String::new(), file: master.binlog_file.clone(), pos: master.binlog_pos }),
        file_pos_replicas: file_pos,
        file_start,
        followers,
        promoted: true,
        ..PromoteExec::new(req, acc, dialect, journal.run.clone())
    };
    let ran = runner::execute::<PromoteStep, _>(&plan, &mut ex, &mut journal, None).await?;
    outcome.executed = ran.steps;
    outcome.promoted = true;
    outcome.warnings = journal.take_warnings();
    outcome.total = journal.elapsed();
    journal.entry("outcome", "ok", Some(outcome.total), &format!("finished the switch to {}", req.candidate))?;
    Ok(outcome)
}

/// `Some(reason)` when the candidate lacks transactions the old master has.
async fn candidate_lacks(req: &Request, acc: &Accounts, master: &InstanceStatus) -> Option<String> {
    let cand = match read(&req.candidate, &acc.admin_opts()).await {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot read {}: {e}", req.candidate)),
    };
    (!checks::has_everything(master, &cand)?).then(|| {
        format!(
            "refused: {} is writable and not replicating, but lacks transactions the old master {} has; \
             it is not the result of an interrupted promotion",
            req.candidate, req.master
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn req() -> Request {
        Request {
            shard: "s1".into(),
            master: Addr::new("master", 3306),
            replicas: vec![Addr::new("db1", 3306), Addr::new("db2", 3306)],
            candidate: Addr::new("db1", 3306),
            dry_run: true,
            catchup_timeout: Duration::from_secs(10),
            max_lag: Duration::from_secs(10),
            force_checks: Vec::new(),
            old_master: OldMaster::Replica,
            detach: Vec::new(),
            kill_unstoppable_writers: true,
            hook: None,
            hook_timeout: Duration::from_secs(5),
        }
    }
}
