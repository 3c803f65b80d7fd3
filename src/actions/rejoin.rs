//! After a failover: fence a former master that came back writable (a zombie), and rejoin it
//! as a replica of the shard's new master — only when its history is a prefix of the new
//! master's. Otherwise it holds transactions nobody else has (written after the last
//! replica received anything, or by a client that reached it since): the run refuses and names
//! them, to inspect or undo by hand.

use std::time::{Duration, Instant};

use super::audit::AuditLog;
use super::runner::{self, Executor, Journal, OnFailure, RunError, Step};
use super::server::{Accounts, dialect_of, exec, follow, on_server};
use super::{Check, PlannedStep, Progress};
use crate::fleet::status::InstanceStatus;
use crate::mysql::gtid::{History, MariaGtid};
use crate::mysql::{Addr, Dialect};

#[derive(Clone, Debug)]
pub struct Request {
    pub shard: String,
    /// The former master to fence or rejoin.
    pub instance: Addr,
    /// The shard's members as the config names them (the former master among them).
    pub members: Vec<Addr>,
    /// The shard's master now; `None`: the one writable member that replicates from nobody.
    pub master: Option<Addr>,
    /// Only fence (read-only), do not attach.
    pub fence_only: bool,
    pub dry_run: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RejoinStep {
    Fence { instance: Addr },
    Follow { instance: Addr, master: Addr },
    Verify { instance: Addr },
}

impl Step for RejoinStep {
    fn name(&self) -> &'static str {
        match self {
            RejoinStep::Fence { .. } => "fence",
            RejoinStep::Follow { .. } => "follow",
            RejoinStep::Verify { .. } => "verify",
        }
    }

    fn describe(&self) -> String {
        match self {
            RejoinStep::Fence { instance } => format!("make {instance} read-only (super_read_only on MySQL)"),
            RejoinStep::Follow { instance, master } => {
                format!("make {instance} a replica of {master}, positioned by its own GTID history")
            }
            RejoinStep::Verify { instance } => format!("see both replication threads of {instance} running"),
        }
    }

    fn on_failure(&self) -> OnFailure {
        match self {
            // Read-only is the safe state: nothing to undo.
            RejoinStep::Fence { .. } | RejoinStep::Follow { .. } => OnFailure::RollBack,
            RejoinStep::Verify { .. } => OnFailure::Warn,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub master: Option<Addr>,
    pub checks: Vec<Check>,
    pub plan: Vec<PlannedStep>,
    pub executed: Vec<&'static str>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RejoinError {
    #[error("{0}")]
    Refused(String),
    #[error("step {step} failed: {message}")]
    Failed { step: &'static str, message: String },
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
}

impl From<RunError> for RejoinError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Failed { step, message, .. } => RejoinError::Failed { step, message },
            RunError::Audit(e) => RejoinError::Audit(e),
        }
    }
}

async fn read(a: &Addr, acc: &Accounts) -> Result<InstanceStatus, String> {
    super::server::read(a, &acc.admin_opts()).await
}

/// A server's own GTID history: MariaDB `gtid_binlog_pos` (what it wrote or logged), MySQL
/// `gtid_executed`.
fn history(s: &InstanceStatus) -> Result<History, String> {
    let text = match s.flavor {
        crate::fleet::status::Flavor::MariaDb => s.gtid.binlog_pos.as_deref(),
        crate::fleet::status::Flavor::MySql => s.gtid.executed.as_deref(),
    };
    History::parse(s.flavor, text.unwrap_or("")).map_err(|e| e.to_string())
}

/// Whether `old` may follow `new`: `Err` lists what `old` holds that `new` lacks.
pub fn prefix_check(old: &History, new: &History) -> Result<(), String> {
    let extra = old.missing_from(new);
    if extra.is_empty() {
        return Ok(());
    }
    let n: u64 = extra.iter().map(|m| m.count).sum();
    Err(lacks(n, extra.iter().map(|m| m.what.clone()).collect()))
}

fn lacks(n: u64, what: Vec<String>) -> String {
    format!(
        "it holds {n} transaction{} the master lacks: {}; inspect them (and undo or replay them on the master) \
         before rejoining it",
        if n == 1 { "" } else { "s" },
        what.join("; ")
    )
}

/// MariaDB, per (domain, server_id) from `gtid_binlog_state`: a position list compares sequence
/// numbers only, so a former master's own write 1-10-141 looks "contained" in a new master's
/// 1-11-145 although the new master never had it. Every (domain, server) of the old server must
/// be on the new one at the same or a later sequence number.
pub fn maria_state_prefix_check(old_state: &str, new_state: &str) -> Result<(), String> {
    let parse = |t: &str| -> Vec<MariaGtid> { t.split(',').filter_map(|p| p.trim().parse().ok()).collect() };
    let new = parse(new_state);
    let mut count = 0;
    let mut what = Vec::new();
    for o in parse(old_state) {
        let have = new.iter().filter(|n| n.domain == o.domain && n.server_id == o.server_id).map(|n| n.seq).max();
        if have.is_none_or(|h| h < o.seq) {
            let after = have.unwrap_or(0);
            count += o.seq - after;
            what.push(format!("domain {} from server {}: after seq {after} up to {o}", o.domain, o.server_id));
        }
    }
    if what.is_empty() { Ok(()) } else { Err(lacks(count, what)) }
}

/// The verdict on `old` following `new`, with the most precise reading either flavour gives.
fn may_follow(old: &InstanceStatus, new: &InstanceStatus) -> Result<(), String> {
    if let (Some(o), Some(n)) = (&old.topo.gtid_binlog_state, &new.topo.gtid_binlog_state) {
        return maria_state_prefix_check(o, n);
    }
    match (history(old), history(new)) {
        (Ok(o), Ok(n)) => prefix_check(&o, &n),
        (Err(e), _) | (_, Err(e)) => Err(format!("cannot compare GTID histories: {e}")),
    }
}

struct RejoinExec<'a> {
    acc: &'a Accounts,
    d: Dialect,
}

impl Executor<RejoinStep> for RejoinExec<'_> {
    async fn act(&mut self, step: &RejoinStep, _: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit) = (self.d, self.acc.timeout);
        let opts = self.acc.admin_opts();
        match step {
            RejoinStep::Fence { instance } => {
                let r = on_server(instance, &opts, async |c| exec(c, d.set_read_only(true), limit).await).await;
                r.map(|()| "read-only".into())
            }
            RejoinStep::Follow { instance, master } => {
                let pos = d.former_master_gtid_positioning();
                let r = on_server(instance, &opts, async |c| follow(c, &d, master, self.acc, &pos, limit, true).await)
                    .await;
                r.map(|()| d.describe_change_source(master, &self.acc.repl_user, &pos))
            }
            RejoinStep::Verify { instance } => {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let s = read(instance, self.acc).await?;
                    let link = s.primary_link().cloned();
                    match link {
                        Some(l) if l.io_state == crate::fleet::status::IoState::Running && l.sql_running => {
                            return Ok(format!("streaming from {}", l.source));
                        }
                        Some(l) if Instant::now() > deadline => {
                            return Err(format!(
                                "not streaming after 10 s: IO {:?}, SQL {}; {}",
                                l.io_state,
                                if l.sql_running { "running" } else { "stopped" },
                                l.last_error().map(|(n, e)| format!("{n} {e}")).unwrap_or_default()
                            ));
                        }
                        None if Instant::now() > deadline => return Err("not a replica".into()),
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        }
    }
}

/// Fence (and, unless `fence_only`, rejoin) a former master.
pub async fn rejoin(
    req: &Request,
    acc: &Accounts,
    lock_dir: &std::path::Path,
    audit: &mut AuditLog,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Outcome, RejoinError> {
    let action = if req.fence_only { "fence" } else { "rejoin" };
    let mut journal = Journal::new(action, &req.shard, audit, progress, acc.secrets());
    let mut outcome = Outcome::default();
    let _lock = if req.dry_run { None } else { Some(journal.lock_shard(lock_dir)?.map_err(RejoinError::Refused)?) };
    let _beacon = if req.dry_run {
        None
    } else {
        Some(crate::actions::beacon::Beacon::raise(std::slice::from_ref(&req.instance), &acc.admin_opts()).await)
    };
    let old = read(&req.instance, acc).await.map_err(|e| RejoinError::Refused(format!("{}: {e}", req.instance)))?;
    let d = dialect_of(&old).map_err(RejoinError::Refused)?;
    let mut plan = vec![RejoinStep::Fence { instance: req.instance.clone() }];
    let mut checks = Vec::new();
    if !req.fence_only {
        // The master now: the one given, or the one writable member that replicates from nobody.
        let master = match &req.master {
            Some(m) => m.clone(),
            None => {
                let mut writable = Vec::new();
                for m in req.members.iter().filter(|m| **m != req.instance) {
                    if let Ok(s) = read(m, acc).await
                        && !s.read_only
                        && s.replication.is_empty()
                    {
                        writable.push(m.clone());
                    }
                }
                match writable.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(RejoinError::Refused(format!(
                            "no writable master found among the other members of {}: name it with --master HOST:PORT",
                            req.shard
                        )));
                    }
                    many => {
                        let names: Vec<String> = many.iter().map(ToString::to_string).collect();
                        return Err(RejoinError::Refused(format!(
                            "{} writable members of {} replicate from nobody ({}): name the master with --master",
                            many.len(),
                            req.shard,
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        if master == req.instance {
            return Err(RejoinError::Refused(format!("{} is the master of {}", req.instance, req.shard)));
        }
        let new = read(&master, acc).await.map_err(|e| RejoinError::Refused(format!("{master}: {e}")))?;
        let verdict = may_follow(&old, &new);
        checks.push(Check {
            name: "history_prefix",
            ok: verdict.is_ok(),
            detail: match &verdict {
                Ok(()) => format!("everything {} wrote is on {master}", req.instance),
                Err(e) => e.clone(),
            },
            forced: false,
        });
        journal.progress(&Progress::Checks(checks.clone()));
        if let Err(e) = verdict {
            let msg = format!("refused: {}: {e}", req.instance);
            if !req.dry_run {
                journal.entry("check", "failed", None, &msg)?;
            }
            outcome.checks = checks;
            return Err(RejoinError::Refused(msg));
        }
        plan.push(RejoinStep::Follow { instance: req.instance.clone(), master: master.clone() });
        plan.push(RejoinStep::Verify { instance: req.instance.clone() });
        outcome.master = Some(master);
    }
    outcome.checks = checks;
    outcome.plan = runner::describe(&plan);
    journal.progress(&Progress::Plan(outcome.plan.clone()));
    if req.dry_run {
        return Ok(outcome);
    }
    let mut ex = RejoinExec { acc, d };
    let ran = runner::execute(&plan, &mut ex, &mut journal, None).await?;
    outcome.executed = ran.steps;
    outcome.warnings = journal.take_warnings();
    journal.entry(
        "outcome",
        "ok",
        Some(journal.elapsed()),
        &format!("{} {}", req.instance, if req.fence_only { "fenced" } else { "rejoined" }),
    )?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::status::Flavor;

    #[test]
    fn a_history_that_is_a_prefix_may_rejoin_and_one_that_is_not_is_named() {
        let h = |s: &str| History::parse(Flavor::MariaDb, s).expect("gtid");
        assert_eq!(prefix_check(&h("35-3500-100"), &h("35-3501-140")), Ok(()));
        let err = prefix_check(&h("35-3500-150,9-1-3"), &h("35-3501-140,9-1-3")).err().unwrap_or_default();
        assert_eq!(
            err,
            "it holds 10 transactions the master lacks: domain 35: after seq 140 up to 35-3500-150; inspect them \
             (and undo or replay them on the master) before rejoining it"
        );
    }

    #[test]
    fn mariadb_compares_per_server_so_a_diverged_write_is_caught() {
        // The old master (server 10) wrote seq 141 that never left it; the new one (11) went on to 145.
        let err = maria_state_prefix_check("1-10-141", "1-10-140,1-11-145").err().unwrap_or_default();
        assert!(
            err.starts_with(
                "it holds 1 transaction the master lacks: domain 1 from server 10: after seq 140 up to 1-10-141"
            ),
            "{err}"
        );
        assert_eq!(maria_state_prefix_check("1-10-140,2-5-9", "1-10-140,1-11-145,2-5-9"), Ok(()));
    }

    #[test]
    fn fencing_comes_first_and_only_verification_may_fail_softly() {
        let (i, m) = (Addr::new("old", 1), Addr::new("new", 1));
        let plan = [
            RejoinStep::Fence { instance: i.clone() },
            RejoinStep::Follow { instance: i.clone(), master: m },
            RejoinStep::Verify { instance: i },
        ];
        let soft: Vec<_> = plan.iter().filter(|s| s.on_failure() == OnFailure::Warn).map(Step::name).collect();
        assert_eq!(soft, ["verify"]);
        assert_eq!(plan[0].describe(), "make old:1 read-only (super_read_only on MySQL)");
    }
}
