//! Planned switchover: make a replica the shard's master without losing or
//! duplicating a write.
//!
//! lock → fresh read → checks → plan (dry run stops here) → freeze the old
//! master and stop writers that read_only does not stop → verify it is frozen
//! → wait, bounded, for the candidate to apply everything → [point of no
//! return] → promote the candidate (take over the upstream link) → repoint the
//! other replicas → make the old master a read-only replica → marker write
//! reaches every replica → post-promotion hook. Any failure before the point
//! of no return rolls back: the old master is writable again and replication
//! is as it was.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::audit::{AuditLog, Entry};
use super::lock::ShardLock;
use super::{Check, PlannedStep, Progress};
use crate::fleet::Addr;
use crate::fleet::health::lag_seconds;
use crate::fleet::status::{Flavor, GtidMode, InstanceStatus, IoState};
use crate::mysql::Dialect;
use crate::mysql::gtid::{GtidSet, MariaGtidList, errant};
use crate::mysql::replication::Position;
use crate::probe::{self, ProbeOptions, Prober, Tls};
use crate::secret::Secret;

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

/// The admin and replication accounts.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub admin_user: String,
    pub admin_password: Option<Secret>,
    pub repl_user: String,
    pub repl_password: Option<Secret>,
    pub tls: Tls,
    /// For connecting and for each ordinary statement.
    pub timeout: Duration,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub run: String,
    /// The candidate is the master now.
    pub promoted: bool,
    pub rolled_back: bool,
    pub checks: Vec<Check>,
    pub plan: Vec<PlannedStep>,
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

/// Everything the run learns and carries between steps.
struct Run<'a> {
    req: &'a Request,
    acc: &'a Accounts,
    id: String,
    audit: &'a mut AuditLog,
    progress: &'a mut (dyn FnMut(&Progress) + Send),
    started: Instant,
}

impl Run<'_> {
    fn audit(
        &mut self,
        step: &str,
        phase: &'static str,
        took: Option<Duration>,
        detail: &str,
    ) -> Result<(), PromoteError> {
        let entry = Entry {
            ts: Utc::now(),
            run: self.id.clone(),
            action: "promote",
            shard: self.req.shard.clone(),
            step: step.to_string(),
            phase,
            duration_ms: took.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            detail: self.scrub(detail),
            accounts: Vec::new(),
            coords: None,
        };
        self.audit.write(&entry).map_err(PromoteError::Audit)
    }

    /// Records accounts locked (`fence`) or unlocked (`unfence`) on `server`, by name, so a run
    /// that finishes a crashed one knows what is still locked.
    /// Records where the candidate's own binlog stood when it took over, so a run finishing a
    /// crashed one can repoint file:position replicas there.
    fn switch_coords(&mut self, file: &str, pos: u64) -> Result<(), PromoteError> {
        let entry = Entry {
            ts: Utc::now(),
            run: self.id.clone(),
            action: "promote",
            shard: self.req.shard.clone(),
            step: "switch".to_string(),
            phase: "ok",
            duration_ms: None,
            detail: self.req.candidate.to_string(),
            accounts: Vec::new(),
            coords: Some(format!("{file}:{pos}")),
        };
        self.audit.write(&entry).map_err(PromoteError::Audit)
    }

    fn accounts(&mut self, step: &'static str, accounts: &[String], server: &Addr) -> Result<(), PromoteError> {
        let verb = if step == "fence" { "locked" } else { "unlocked" };
        let entry = Entry {
            ts: Utc::now(),
            run: self.id.clone(),
            action: "promote",
            shard: self.req.shard.clone(),
            step: step.to_string(),
            phase: "ok",
            duration_ms: None,
            detail: format!("{verb} {} on {server}", accounts.join(", ")),
            accounts: accounts.to_vec(),
            coords: None,
        };
        self.audit.write(&entry).map_err(PromoteError::Audit)
    }

    fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in [&self.acc.admin_password, &self.acc.repl_password].into_iter().flatten() {
            t = s.scrub(&t);
        }
        t
    }

    fn start(&mut self, step: &'static str, what: String) -> Result<Instant, PromoteError> {
        (self.progress)(&Progress::Started { step, what: what.clone() });
        self.audit(step, "start", None, &what)?;
        Ok(Instant::now())
    }

    fn done(&mut self, step: &'static str, t: Instant, detail: String) -> Result<(), PromoteError> {
        let took = t.elapsed();
        (self.progress)(&Progress::Finished { step, took, detail: detail.clone() });
        self.audit(step, "ok", Some(took), &detail)
    }

    fn fail(&mut self, step: &'static str, t: Instant, error: &str) {
        let took = t.elapsed();
        let error = self.scrub(error);
        (self.progress)(&Progress::Failed { step, took, error: error.clone() });
        let _ = self.audit(step, "failed", Some(took), &error);
    }
}

fn admin_opts(acc: &Accounts) -> Arc<ProbeOptions> {
    Arc::new(ProbeOptions {
        user: acc.admin_user.clone(),
        password: acc.admin_password.clone(),
        tls: acc.tls.clone(),
        timeout: acc.timeout,
        heartbeat: None,
    })
}

async fn exec(conn: &mut Conn, sql: &str, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, conn.query_drop(sql)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
    }
}

async fn first_value<T: mysql_async::prelude::FromValue + Send + 'static>(
    conn: &mut Conn,
    sql: &str,
    limit: Duration,
) -> Result<Option<T>, String> {
    match tokio::time::timeout(limit, conn.query_first::<T, _>(sql)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
    }
}

/// The server's position: what a frozen master must stop changing.
#[derive(Clone, Debug, PartialEq)]
struct Coords {
    gtid: String,
    file: Option<String>,
    pos: Option<u64>,
}

async fn read_coords(conn: &mut Conn, d: &Dialect, limit: Duration) -> Result<Coords, String> {
    let gtid: Option<String> = first_value(conn, d.gtid_position_sql(), limit).await?;
    let row: Option<mysql_async::Row> = match tokio::time::timeout(limit, conn.query_first(d.binlog_status_sql())).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer".into()),
    };
    let file = row.as_ref().and_then(|r| r.get_opt::<String, _>("File").and_then(Result::ok));
    let pos = row.as_ref().and_then(|r| r.get_opt::<u64, _>("Position").and_then(Result::ok));
    Ok(Coords { gtid: gtid.unwrap_or_default(), file, pos })
}

/// Evaluate the candidate against the old master and the other members.
pub fn check_candidate(
    req: &Request,
    master: &InstanceStatus,
    cand: &InstanceStatus,
    others: &[(Addr, Option<InstanceStatus>)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, ok: bool, detail: String| {
        let forced = !ok && req.force_checks.iter().any(|f| f == name);
        out.push(Check { name, ok, detail, forced });
    };
    let link = cand.primary_link();
    check(
        "direct_replica",
        link.is_some_and(|l| l.source == req.master),
        match link {
            Some(l) if l.source == req.master => format!("replicates from the master {}", req.master),
            Some(l) => format!("replicates from {}, not from the master {}", l.source, req.master),
            None => "is not a replica".into(),
        },
    );
    let running = link.is_some_and(|l| l.io_state == IoState::Running && l.sql_running);
    check(
        "threads_running",
        running,
        match link {
            Some(l) => format!("IO {:?}, SQL {}", l.io_state, if l.sql_running { "running" } else { "stopped" }),
            None => "no replication".into(),
        },
    );
    check(
        "log_bin",
        cand.log_bin,
        format!("log_bin {}", if cand.log_bin { "ON" } else { "OFF: replicas could not follow it" }),
    );
    check(
        "log_slave_updates",
        cand.log_slave_updates,
        format!(
            "log_slave_updates {}",
            if cand.log_slave_updates { "ON" } else { "OFF: its binlog lacks what it replicated" }
        ),
    );
    check(
        "binlog_format",
        cand.binlog_format.eq_ignore_ascii_case(&master.binlog_format),
        format!("candidate {}, master {}", cand.binlog_format, master.binlog_format),
    );
    let ver = |s: &InstanceStatus| Dialect::detect(&s.version, "").map(|d| d.version);
    check(
        "version",
        cand.flavor == master.flavor
            && ver(cand).zip(ver(master)).is_some_and(|(c, m)| (c.major, c.minor) >= (m.major, m.minor)),
        format!(
            "candidate {} {}, master {} {}",
            cand.flavor.name(),
            cand.version,
            master.flavor.name(),
            master.version
        ),
    );
    let clash: Vec<String> = std::iter::once((&req.master, Some(master)))
        .chain(others.iter().map(|(a, s)| (a, s.as_ref())))
        .filter(|(_, s)| s.is_some_and(|s| s.server_id == cand.server_id))
        .map(|(a, _)| a.to_string())
        .collect();
    check(
        "server_id_unique",
        clash.is_empty(),
        if clash.is_empty() {
            format!("server_id {}", cand.server_id)
        } else {
            format!("server_id {} also on {}", cand.server_id, clash.join(", "))
        },
    );
    let errant_list = errant_gtids(master, cand);
    check(
        "errant_gtids",
        errant_list.as_ref().is_ok_and(|e| e.is_empty()),
        match &errant_list {
            Ok(e) if e.is_empty() => "none".into(),
            Ok(e) => format!("transactions the master does not have: {}", e.join(", ")),
            Err(e) => format!("cannot compare GTIDs: {e}"),
        },
    );
    let lag = link.and_then(|l| lag_seconds(cand, l));
    check(
        "lag",
        lag.is_some_and(|l| l <= req.max_lag.as_secs_f64()),
        match lag {
            Some(l) => format!("{l:.1} s (limit {:.0} s)", req.max_lag.as_secs_f64()),
            None => "unknown (Seconds_Behind_Master is NULL)".into(),
        },
    );
    check(
        "master_writable",
        !master.read_only,
        if master.read_only {
            "the master is read-only: a previous promotion may have been interrupted; check the shard, then \
             SET GLOBAL read_only=OFF on it or --force-check master_writable to finish the switch"
                .into()
        } else {
            "writable".into()
        },
    );
    let unreachable: Vec<String> =
        others.iter().filter(|(a, s)| s.is_none() && !req.detach.contains(a)).map(|(a, _)| a.to_string()).collect();
    check(
        "replicas_reachable",
        unreachable.is_empty(),
        if unreachable.is_empty() {
            "all".into()
        } else {
            format!("cannot reach {} (--detach them to go on)", unreachable.join(", "))
        },
    );
    out
}

fn errant_gtids(master: &InstanceStatus, cand: &InstanceStatus) -> Result<Vec<String>, String> {
    match master.flavor {
        Flavor::MariaDb => {
            let m = MariaGtidList::parse(master.gtid.binlog_pos.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let c = MariaGtidList::parse(cand.gtid.current_pos.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            Ok(errant(&c, &m).iter().map(|g| g.to_string()).collect())
        }
        Flavor::MySql => {
            let m = GtidSet::parse(master.gtid.executed.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let c = GtidSet::parse(cand.gtid.executed.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let diff = c.subtract(&m);
            Ok(if diff.is_empty() { Vec::new() } else { vec![diff.to_string()] })
        }
    }
}

/// The steps, in words, for the plan shown before anything is written.
fn plan(req: &Request, gtid: bool, upstream: Option<&Addr>, others: &[Addr]) -> Vec<PlannedStep> {
    let mut p = vec![
        PlannedStep {
            name: "freeze",
            what: format!("set {} read-only; stop sessions of accounts read_only does not stop", req.master),
        },
        PlannedStep {
            name: "verify_frozen",
            what: format!("check that {}'s binlog position no longer moves", req.master),
        },
        PlannedStep {
            name: "catch_up",
            what: format!(
                "wait up to {:.0} s for {} to apply everything ({}); roll back on timeout",
                req.catchup_timeout.as_secs_f64(),
                req.candidate,
                if gtid { "GTID wait" } else { "MASTER_POS_WAIT" }
            ),
        },
        PlannedStep {
            name: "promote",
            what: format!(
                "stop and reset replication on {}{}, make it writable",
                req.candidate,
                upstream.map(|u| format!(", point it at the upstream {u}")).unwrap_or_default()
            ),
        },
    ];
    if let Some(h) = &req.hook {
        p.push(PlannedStep { name: "hook", what: format!("run the post-promotion hook (routing): {h}") });
    }
    let moved: Vec<String> = others.iter().filter(|a| !req.detach.contains(a)).map(|a| a.to_string()).collect();
    if !moved.is_empty() {
        p.push(PlannedStep { name: "repoint", what: format!("point {} at {}", moved.join(", "), req.candidate) });
    }
    if !req.detach.is_empty() {
        let d: Vec<String> = req.detach.iter().map(|a| a.to_string()).collect();
        p.push(PlannedStep { name: "detach", what: format!("stop and reset replication on {}", d.join(", ")) });
    }
    p.push(PlannedStep {
        name: "old_master",
        what: match req.old_master {
            OldMaster::Replica => format!("make {} a read-only replica of {}", req.master, req.candidate),
            OldMaster::Detach => format!("leave {} read-only and standalone", req.master),
        },
    });
    p.push(PlannedStep {
        name: "marker",
        what: "write a marker row on the new master and see it arrive on every replica".into(),
    });
    p
}

/// Run a promotion (or, with `dry_run`, only its checks and plan).
pub async fn promote(
    req: &Request,
    acc: &Accounts,
    lock_dir: &std::path::Path,
    audit: &mut AuditLog,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Outcome, PromoteError> {
    let id = format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.3f"), std::process::id());
    let mut run = Run { req, acc, id: id.clone(), audit, progress, started: Instant::now() };
    let mut outcome = Outcome { run: id, ..Outcome::default() };

    if req.candidate == req.master {
        return Err(PromoteError::Refused(format!("{} is already the master of {}", req.candidate, req.shard)));
    }
    if !req.replicas.contains(&req.candidate) {
        return Err(PromoteError::Refused(format!(
            "{} is not a replica of shard {} in the config",
            req.candidate, req.shard
        )));
    }

    // ---- lock
    let _lock = if req.dry_run {
        None
    } else {
        let t = run.start("lock", format!("lock shard {} (lock file in {})", req.shard, lock_dir.display()))?;
        match ShardLock::acquire(lock_dir, "promote", &req.shard) {
            Ok(l) => {
                run.done("lock", t, l.path().display().to_string())?;
                Some(l)
            }
            Err(e) => {
                run.fail("lock", t, &e);
                return Err(PromoteError::Refused(e));
            }
        }
    };

    // ---- fresh read of every member
    let t = run.start("read", "read every member fresh".into())?;
    let opts = admin_opts(acc);
    let members: Vec<Addr> = std::iter::once(req.master.clone()).chain(req.replicas.iter().cloned()).collect();
    let read_one = |a: Addr| {
        let opts = opts.clone();
        async move {
            let mut p = Prober::new(a.clone(), opts);
            let s = p.probe().await;
            p.close(Duration::from_millis(100)).await;
            (a, s.result)
        }
    };
    // Replicas first, then the master: under load the master's position is then
    // at or past everything a replica applied, so read skew never looks errant.
    let mut reads = futures::future::join_all(req.replicas.iter().cloned().map(read_one)).await;
    reads.insert(0, read_one(req.master.clone()).await);
    let master_status = match &reads[0].1 {
        Ok(s) => s.clone(),
        Err(e) => {
            let msg = format!("cannot read the master {}: {e}", req.master);
            run.fail("read", t, &msg);
            return Err(PromoteError::Refused(msg));
        }
    };
    let cand_status = match reads.iter().find(|(a, _)| *a == req.candidate).map(|(_, r)| r) {
        Some(Ok(s)) => s.clone(),
        Some(Err(e)) => {
            let msg = format!("cannot read the candidate {}: {e}", req.candidate);
            run.fail("read", t, &msg);
            return Err(PromoteError::Refused(msg));
        }
        None => return Err(PromoteError::Refused("candidate missing from the read".into())),
    };
    let others: Vec<(Addr, Option<InstanceStatus>)> = reads[1..]
        .iter()
        .filter(|(a, _)| *a != req.candidate)
        .map(|(a, r)| (a.clone(), r.as_ref().ok().cloned()))
        .collect();
    run.done("read", t, format!("{} members", members.len()))?;

    // ---- a switch that an earlier run began and did not finish
    if master_status.read_only
        && !cand_status.read_only
        && cand_status.primary_link().is_none_or(|l| l.source != req.master)
    {
        return finish_interrupted(&mut run, outcome, &master_status, &others, &opts).await;
    }

    // ---- checks and plan
    let checks = check_candidate(req, &master_status, &cand_status, &others);
    (run.progress)(&Progress::Checks(checks.clone()));
    outcome.checks = checks.clone();
    let dialect = Dialect::detect(&master_status.version, "")
        .ok_or_else(|| PromoteError::Refused(format!("unknown server version {:?}", master_status.version)))?;
    let st = dialect;
    let cand_link = cand_status.primary_link().cloned();
    let gtid = cand_link.as_ref().is_some_and(|l| l.gtid_mode != GtidMode::No);
    // The master's own upstream link (a shard master replicating from a global master).
    let upstream_link = master_status.primary_link().cloned();
    let other_addrs: Vec<Addr> = others.iter().map(|(a, _)| a.clone()).collect();
    // Replicas chained below another replica stay where they are.
    let direct: Vec<Addr> = others
        .iter()
        .filter(|(_, s)| s.as_ref().and_then(|s| s.primary_link()).is_none_or(|l| l.source == req.master))
        .map(|(a, _)| a.clone())
        .collect();
    outcome.plan = plan(req, gtid, upstream_link.as_ref().map(|l| &l.source), &direct);
    (run.progress)(&Progress::Plan(outcome.plan.clone()));
    let blocking: Vec<String> =
        checks.iter().filter(|c| c.blocks()).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    if !blocking.is_empty() {
        let msg = format!("refused, candidate checks failed: {}", blocking.join("; "));
        if !req.dry_run {
            run.audit("check", "failed", None, &msg)?;
        }
        return Err(PromoteError::Refused(msg));
    }
    if req.dry_run {
        outcome.total = run.started.elapsed();
        return Ok(outcome);
    }
    run.audit("check", "ok", None, &format!("{} checks passed", checks.len()))?;
    let _ = other_addrs;

    // ---- connections for the writes
    let mut master =
        connect(&req.master, &opts).await.map_err(|e| PromoteError::Refused(format!("{}: {e}", req.master)))?;
    let mut cand =
        connect(&req.candidate, &opts).await.map_err(|e| PromoteError::Refused(format!("{}: {e}", req.candidate)))?;
    let lock_name = format!("shardtop.promote.{}", req.shard);
    let got: Option<i64> =
        first_value(&mut master, &format!("SELECT GET_LOCK('{}', 0)", lock_name.replace('\'', "")), acc.timeout)
            .await
            .map_err(|e| PromoteError::Refused(format!("GET_LOCK on {}: {e}", req.master)))?;
    if got != Some(1) {
        return Err(PromoteError::Refused(format!(
            "shard {} is being promoted by another shardtop (GET_LOCK busy on {})",
            req.shard, req.master
        )));
    }
    let limit = acc.timeout;

    // ---- freeze
    let t = run.start("freeze", format!("set {} read-only", req.master))?;
    let freeze_started = Instant::now();
    let was_replicating_upstream = upstream_link.is_some();
    let mut locked_accounts: Vec<String> = Vec::new();
    let frozen: Result<String, String> = async {
        let writers = unstoppable_writers(&mut master, &dialect, &acc.admin_user, limit).await?;
        if !writers.sessions.is_empty() && !req.kill_unstoppable_writers {
            return Err(format!(
                "sessions of accounts that read_only does not stop are connected: {}; stop them or allow killing them",
                writers.sessions.iter().map(|w| w.1.clone()).collect::<Vec<_>>().join(", ")
            ));
        }
        // Killing alone is not enough: such a writer reconnects and writes to the
        // frozen master, and those writes never reach the new one. Lock the
        // accounts here until the switch is done.
        set_accounts_locked(&mut master, &writers.accounts, true, limit).await?;
        locked_accounts = writers.accounts.clone();
        if !locked_accounts.is_empty() {
            // On disk before anything else can fail: a crash from here on leaves them locked,
            // and the run that finishes this one reads this entry to unlock them.
            run.accounts("fence", &locked_accounts, &req.master).map_err(|e| e.to_string())?;
        }
        // read_only waits for transactions that have written to commit; bound that wait,
        // then end the ones still open (or refuse, naming them).
        exec(&mut master, "SET SESSION lock_wait_timeout = 2", limit).await?;
        let mut killed_trx = Vec::new();
        if let Err(first) = exec(&mut master, st.set_read_only(true), limit.max(Duration::from_secs(3))).await {
            let open = open_write_transactions(&mut master, limit).await?;
            if open.is_empty() {
                return Err(first);
            }
            let who: Vec<String> = open.iter().map(|o| o.1.clone()).collect();
            if !req.kill_unstoppable_writers {
                return Err(format!(
                    "open write transactions hold the freeze: {}; end them or allow killing them",
                    who.join(", ")
                ));
            }
            for (id, w) in open {
                if exec(&mut master, &format!("KILL CONNECTION {id}"), limit).await.is_ok() {
                    killed_trx.push(w);
                }
            }
            exec(&mut master, st.set_read_only(true), limit.max(Duration::from_secs(3))).await?;
        }
        if was_replicating_upstream {
            // The upstream link would keep writing to the frozen master.
            exec(&mut master, st.stop_replica(), limit).await?;
        }
        let mut killed = Vec::new();
        for (id, who) in unstoppable_writers(&mut master, &dialect, &acc.admin_user, limit).await?.sessions {
            if exec(&mut master, &format!("KILL CONNECTION {id}"), limit).await.is_ok() {
                killed.push(who);
            }
        }
        let mut detail = "read_only ON".to_string();
        if !locked_accounts.is_empty() {
            detail.push_str(&format!("; locked {} until the switch is done", locked_accounts.join(", ")));
        }
        if !killed.is_empty() {
            detail.push_str(&format!("; killed {}", killed.join(", ")));
        }
        if !killed_trx.is_empty() {
            detail.push_str(&format!("; killed open transactions of {}", killed_trx.join(", ")));
        }
        Ok(detail)
    }
    .await;
    let mut rollback_needed = true;
    let result: Result<Coords, (&'static str, String)> = async {
        let detail = frozen.map_err(|e| ("freeze", e))?;
        run.done("freeze", t, detail).map_err(|e| ("freeze", e.to_string()))?;

        // ---- verify the freeze holds: the position stops moving
        let t = run
            .start("verify_frozen", "binlog position must stop moving".into())
            .map_err(|e| ("verify_frozen", e.to_string()))?;
        let mut last = read_coords(&mut master, &dialect, limit).await.map_err(|e| ("verify_frozen", e))?;
        let mut stable = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = read_coords(&mut master, &dialect, limit).await.map_err(|e| ("verify_frozen", e))?;
            if now == last {
                stable = true;
                break;
            }
            last = now;
        }
        if !stable {
            run.fail("verify_frozen", t, "writes keep arriving");
            return Err(("verify_frozen", "writes keep arriving on the frozen master".into()));
        }
        run.done("verify_frozen", t, format!("at {}", describe_coords(&last)))
            .map_err(|e| ("verify_frozen", e.to_string()))?;

        // ---- catch up
        let t = run
            .start("catch_up", format!("wait for {} to apply {}", req.candidate, describe_coords(&last)))
            .map_err(|e| ("catch_up", e.to_string()))?;
        let secs = req.catchup_timeout.as_secs_f64();
        let (sql, gtid_wait) = match (&last.file, last.pos) {
            _ if gtid => (st.wait_for_gtid(&last.gtid, secs), true),
            (Some(f), Some(p)) => (st.wait_for_pos(f, p, secs), false),
            _ => return Err(("catch_up", "the master reports no binlog coordinates".into())),
        };
        let waited: Option<i64> =
            first_value(&mut cand, &sql, req.catchup_timeout + limit).await.map_err(|e| ("catch_up", e))?;
        if !st.wait_succeeded(gtid_wait, waited) {
            let msg = format!("{} did not apply everything within {:.1} s", req.candidate, secs);
            run.fail("catch_up", t, &msg);
            return Err(("catch_up", msg));
        }
        run.done("catch_up", t, "caught up".into()).map_err(|e| ("catch_up", e.to_string()))?;
        Ok(last)
    }
    .await;

    let final_coords = match result {
        Ok(c) => c,
        Err((step, message)) => {
            if rollback_needed {
                let mut rb = rollback(&mut master, &st, was_replicating_upstream, limit).await;
                if let Err(e) = set_accounts_locked(&mut master, &locked_accounts, false, limit).await {
                    rb = rb.and(Err(format!("unlocking {}: {e}", locked_accounts.join(", "))));
                }
                let detail = match &rb {
                    Ok(()) => format!("{} writable again", req.master),
                    Err(e) => format!("ROLLBACK FAILED on {}: {e}", req.master),
                };
                (run.progress)(&Progress::RolledBack { detail: detail.clone() });
                run.audit("rollback", if rb.is_ok() { "ok" } else { "failed" }, None, &detail)?;
                let _ = exec(&mut master, &format!("DO RELEASE_LOCK('{lock_name}')"), limit).await;
                return Err(PromoteError::Failed { step, message: run.scrub(&message), rolled_back: rb.is_ok() });
            }
            return Err(PromoteError::Failed { step, message, rolled_back: false });
        }
    };
    rollback_needed = false;
    let _ = rollback_needed;

    // ---- point of no return: promote the candidate
    let t = run.start("promote", format!("make {} the master", req.candidate))?;
    let cand_coords = read_coords(&mut cand, &dialect, limit).await;
    if let Ok(Coords { file: Some(f), pos: Some(p), .. }) = &cand_coords {
        // On disk before the switch: a run finishing a crash needs it for file:pos replicas.
        run.switch_coords(f, *p)?;
    }
    let upstream_pos = match &upstream_link {
        Some(l) if l.gtid_mode != GtidMode::No => Some(dialect.gtid_positioning()),
        Some(l) => {
            // file:pos: where the frozen master's SQL thread stopped in the upstream's binlog.
            let now = probe_link(&req.master, &opts).await.unwrap_or_else(|| l.clone());
            Some(Position::File { file: now.relay_source_log_file.clone(), pos: now.exec_source_log_pos })
        }
        None => None,
    };
    let promoted: Result<(), String> = async {
        exec(&mut cand, st.stop_replica(), limit).await?;
        exec(&mut cand, st.reset_replica_all(), limit).await?;
        if let (Some(link), Some(pos)) = (&upstream_link, &upstream_pos) {
            exec(&mut cand, &st.change_source(&link.source, &acc.repl_user, acc.repl_password.as_ref(), pos), limit)
                .await?;
            exec(&mut cand, st.start_replica(), limit).await?;
        }
        exec(&mut cand, st.set_read_only(false), limit).await?;
        Ok(())
    }
    .await;
    if let Err(e) = promoted {
        run.fail("promote", t, &e);
        // Past the freeze and catch-up, the safest state is the old master back in charge.
        let mut rb = rollback_after_promote(
            &mut master,
            &mut cand,
            &st,
            &req.master,
            acc,
            gtid,
            &final_coords,
            was_replicating_upstream,
            limit,
        )
        .await;
        if let Err(e) = set_accounts_locked(&mut master, &locked_accounts, false, limit).await {
            rb = rb.and(Err(format!("unlocking {}: {e}", locked_accounts.join(", "))));
        }
        let detail = match &rb {
            Ok(()) => format!("{} writable again; {} replicates from it again", req.master, req.candidate),
            Err(x) => format!("ROLLBACK FAILED: {x}"),
        };
        (run.progress)(&Progress::RolledBack { detail: detail.clone() });
        run.audit("rollback", if rb.is_ok() { "ok" } else { "failed" }, None, &detail)?;
        return Err(PromoteError::Failed { step: "promote", message: run.scrub(&e), rolled_back: rb.is_ok() });
    }
    outcome.write_blocked = Some(freeze_started.elapsed());
    outcome.promoted = true;
    run.done("promote", t, format!("{} is the master", req.candidate))?;

    // ---- hook: routing first, so writers find the new master as soon as it takes writes
    hook_step(&mut run, &mut outcome).await?;
    // ---- repoint the others (direct replicas of the old master)
    let new_pos = if gtid {
        dialect.gtid_positioning()
    } else {
        match &cand_coords {
            Ok(Coords { file: Some(f), pos: Some(p), .. }) => Position::File { file: f.clone(), pos: *p },
            _ => Position::SlavePos,
        }
    };
    let to_move: Vec<Addr> = direct.iter().filter(|a| !req.detach.contains(a)).cloned().collect();
    if !to_move.is_empty() {
        let t = run.start("repoint", format!("point {} replicas at {}", to_move.len(), req.candidate))?;
        if !gtid {
            // file:pos: every replica must stand exactly where the candidate stood.
            for a in &to_move {
                if let Err(e) = wait_on(a, &opts, &st, &final_coords, req.catchup_timeout).await {
                    outcome.warnings.push(format!("{a}: {e}"));
                }
            }
        }
        let mut moved = Vec::new();
        for a in &to_move {
            match repoint(a, &opts, &st, &req.candidate, acc, &new_pos, false).await {
                Ok(()) => moved.push(a.to_string()),
                Err(e) => outcome.warnings.push(format!("repoint {a}: {}", run.scrub(&e))),
            }
        }
        run.done(
            "repoint",
            t,
            format!("{} ({})", moved.join(", "), st.describe_change_source(&req.candidate, &acc.repl_user, &new_pos)),
        )?;
    }
    for a in &req.detach {
        let t = run.start("detach", format!("detach {a}"))?;
        match detach(a, &opts, &st).await {
            Ok(()) => run.done("detach", t, "replication stopped and reset".into())?,
            Err(e) => {
                run.fail("detach", t, &e);
                outcome.warnings.push(format!("detach {a}: {e}"));
            }
        }
    }

    // ---- the old master
    let t = run.start("old_master", format!("{} after the switch", req.master))?;
    let old_pos = if gtid { dialect.former_master_gtid_positioning() } else { new_pos.clone() };
    // Anything the old master wrote after the freeze never reached the new one.
    if let Ok(now) = read_coords(&mut master, &dialect, limit).await
        && now.gtid != final_coords.gtid
    {
        outcome.warnings.push(format!(
            "the old master {} took writes after the freeze (now at {}, frozen at {}): they are not on the new master",
            req.master, now.gtid, final_coords.gtid
        ));
    }
    let old: Result<String, String> = async {
        if req.old_master == OldMaster::Replica {
            follow(&mut master, &st, &req.candidate, acc, &old_pos, limit, true).await?;
            Ok(format!("read-only replica ({})", st.describe_change_source(&req.candidate, &acc.repl_user, &old_pos)))
        } else {
            exec(&mut master, st.stop_replica(), limit).await.ok();
            exec(&mut master, st.reset_replica_all(), limit).await?;
            Ok("read-only, standalone".into())
        }
    }
    .await;
    let _ = exec(&mut master, &format!("DO RELEASE_LOCK('{lock_name}')"), limit).await;
    match old {
        Ok(d) => run.done("old_master", t, d)?,
        Err(e) => {
            run.fail("old_master", t, &e);
            outcome.warnings.push(format!("old master: {}", run.scrub(&e)));
        }
    }

    // The fence comes off only now: routing points at the new master and the
    // old one is a replica, so a reconnecting privileged writer goes where it should.
    if !locked_accounts.is_empty() {
        match set_accounts_locked(&mut master, &locked_accounts, false, limit).await {
            Ok(()) => run.accounts("unfence", &locked_accounts, &req.master)?,
            Err(e) => {
                outcome.warnings.push(format!("could not unlock {} on {}: {e}", locked_accounts.join(", "), req.master))
            }
        }
    }

    // ---- marker
    let t = run.start("marker", "marker row must reach every replica".into())?;
    let mut followers: Vec<Addr> = to_move.clone();
    if req.old_master == OldMaster::Replica {
        followers.push(req.master.clone());
    }
    match marker(&mut cand, &followers, &opts, &req.shard, &run.id.clone(), limit).await {
        Ok(()) => run.done("marker", t, format!("seen on {} replicas", followers.len()))?,
        Err(e) => {
            run.fail("marker", t, &e);
            outcome.warnings.push(format!("marker: {e}"));
        }
    }

    outcome.total = run.started.elapsed();
    let summary = format!(
        "{} is the master of {}; {}; {} warnings",
        req.candidate,
        req.shard,
        outcome.timing().replace(", ", "; "),
        outcome.warnings.len()
    );
    run.audit("outcome", "ok", Some(outcome.total), &summary)?;
    Ok(outcome)
}

/// The old master is frozen and the candidate already takes writes: an earlier
/// run crashed after the point of no return. Going back would lose what the new
/// master took since; finish instead: routing, the other replicas, the old
/// master, the marker. GTID shards only (file:pos coordinates of the crash
/// moment are gone).
async fn finish_interrupted(
    run: &mut Run<'_>,
    mut outcome: Outcome,
    master: &InstanceStatus,
    others: &[(Addr, Option<InstanceStatus>)],
    opts: &Arc<ProbeOptions>,
) -> Result<Outcome, PromoteError> {
    let req = run.req;
    let acc = run.acc;
    let file_pos = others
        .iter()
        .filter_map(|(a, s)| s.as_ref()?.primary_link().filter(|l| l.gtid_mode == GtidMode::No).map(|_| a.to_string()))
        .collect::<Vec<_>>();
    let what = format!(
        "{} is read-only and {} takes writes: an earlier promotion stopped after the switch; finishing it",
        req.master, req.candidate
    );
    // Only a candidate that has everything the old master wrote may be the one an earlier run promoted.
    let cand = candidate_lacks(run.req, run.acc, master).await;
    if let Some(missing) = cand {
        return Err(PromoteError::Refused(missing));
    }
    if req.dry_run {
        outcome.plan = vec![PlannedStep { name: "finish", what: what.clone() }];
        (run.progress)(&Progress::Plan(outcome.plan.clone()));
        return Ok(outcome);
    }
    // file:pos replicas start from the new master's own coordinates at the switch, which the
    // crashed run recorded before making it writable.
    let switch_at = super::audit::switch_coords(run.audit.path(), &req.shard, &req.candidate.to_string());
    let file_start = match (&switch_at, file_pos.is_empty()) {
        (_, true) => None,
        (Some((f, p)), false) => Some(Position::File { file: f.clone(), pos: *p }),
        (None, false) => {
            return Err(PromoteError::Refused(format!(
                "{what}, but {} replicate by file:position and the audit log {} has no coordinates of the switch \
                 to {}: repoint them by hand",
                file_pos.join(", "),
                run.audit.path().display(),
                req.candidate
            )));
        }
    };
    let t = run.start("finish", what)?;
    run.done("finish", t, "resuming after the point of no return".into())?;
    let dialect = Dialect::detect(&master.version, "")
        .ok_or_else(|| PromoteError::Refused(format!("unknown server version {:?}", master.version)))?;
    let st = dialect;
    hook_step(run, &mut outcome).await?;
    let pos = dialect.gtid_positioning();
    let stranded: Vec<Addr> = others
        .iter()
        .filter(|(a, s)| {
            !req.detach.contains(a) && s.as_ref().and_then(|s| s.primary_link()).is_some_and(|l| l.source == req.master)
        })
        .map(|(a, _)| a.clone())
        .collect();
    let mut followers: Vec<Addr> = others.iter().map(|(a, _)| a.clone()).filter(|a| !req.detach.contains(a)).collect();
    if !stranded.is_empty() {
        let t = run.start("repoint", format!("point {} replicas at {}", stranded.len(), req.candidate))?;
        // The frozen old master's binlog end: a file:pos replica must have applied up to it, so
        // that it stands where the new master stood at the switch.
        let frozen = Coords { gtid: String::new(), file: master.binlog_file.clone(), pos: master.binlog_pos };
        let mut moved = Vec::new();
        for a in &stranded {
            let here = match &file_start {
                Some(start) if file_pos.contains(&a.to_string()) => {
                    if let Err(e) = wait_on(a, opts, &st, &frozen, req.catchup_timeout).await {
                        outcome.warnings.push(format!("{a}: {e}; not repointed"));
                        continue;
                    }
                    start
                }
                _ => &pos,
            };
            match repoint(a, opts, &st, &req.candidate, acc, here, false).await {
                Ok(()) => moved.push(a.to_string()),
                Err(e) => outcome.warnings.push(format!("repoint {a}: {}", run.scrub(&e))),
            }
        }
        run.done("repoint", t, moved.join(", "))?;
    }
    if req.old_master == OldMaster::Replica && master.primary_link().is_none_or(|l| l.source != req.candidate) {
        let t = run.start("old_master", format!("make {} a read-only replica of {}", req.master, req.candidate))?;
        // A file:pos shard's old master follows by file:pos too, from the switch's coordinates
        // (its own writes ended at the freeze, and the new master had applied them all).
        let old_pos = match &file_start {
            Some(start) => start.clone(),
            None => dialect.former_master_gtid_positioning(),
        };
        match repoint(&req.master, opts, &st, &req.candidate, acc, &old_pos, true).await {
            Ok(()) => run.done("old_master", t, st.describe_change_source(&req.candidate, &acc.repl_user, &old_pos))?,
            Err(e) => {
                run.fail("old_master", t, &e);
                outcome.warnings.push(format!("old master: {}", run.scrub(&e)));
            }
        }
    }
    if req.old_master == OldMaster::Replica {
        followers.push(req.master.clone());
    }
    unfence_after_crash(run, &mut outcome, opts).await?;
    let t = run.start("marker", "marker row must reach every replica".into())?;
    match connect(&req.candidate, opts).await {
        Ok(mut c) => match marker(&mut c, &followers, opts, &req.shard, &run.id.clone(), acc.timeout).await {
            Ok(()) => run.done("marker", t, format!("seen on {} replicas", followers.len()))?,
            Err(e) => {
                run.fail("marker", t, &e);
                outcome.warnings.push(format!("marker: {e}"));
            }
        },
        Err(e) => {
            run.fail("marker", t, &e);
            outcome.warnings.push(format!("marker: {e}"));
        }
    }
    outcome.promoted = true;
    outcome.total = run.started.elapsed();
    run.audit("outcome", "ok", Some(outcome.total), &format!("finished the switch to {}", req.candidate))?;
    Ok(outcome)
}

/// The accounts an interrupted run locked on the old master (its `fence` entry in the audit
/// log, with no `unfence` or rollback after it) are unlocked now that routing points at the
/// new master, as the run itself would have done.
async fn unfence_after_crash(
    run: &mut Run<'_>,
    outcome: &mut Outcome,
    opts: &Arc<ProbeOptions>,
) -> Result<(), PromoteError> {
    let req = run.req;
    let accounts = match super::audit::fenced_accounts(run.audit.path(), &req.shard) {
        Ok(a) if a.is_empty() => return Ok(()),
        Ok(a) => a,
        Err(e) => {
            outcome.warnings.push(format!(
                "cannot read the audit log {} ({e}): accounts an interrupted run fenced may still be locked on {}; \
                 ALTER USER … ACCOUNT UNLOCK them there",
                run.audit.path().display(),
                req.master
            ));
            return Ok(());
        }
    };
    let t = run
        .start("unfence", format!("unlock {} on {}, fenced by the interrupted run", accounts.join(", "), req.master))?;
    let unlocked = async {
        let mut c = connect(&req.master, opts).await?;
        let r = set_accounts_locked(&mut c, &accounts, false, run.acc.timeout).await;
        let _ = c.disconnect().await;
        r
    }
    .await;
    match unlocked {
        Ok(()) => {
            (run.progress)(&Progress::Finished {
                step: "unfence",
                took: t.elapsed(),
                detail: format!("unlocked {}", accounts.join(", ")),
            });
            run.accounts("unfence", &accounts, &req.master)
        }
        Err(e) => {
            run.fail("unfence", t, &e);
            outcome.warnings.push(format!(
                "could not unlock {} on {}: {}",
                accounts.join(", "),
                req.master,
                run.scrub(&e)
            ));
            Ok(())
        }
    }
}

/// `Some(reason)` when the candidate lacks transactions the old master has.
async fn candidate_lacks(req: &Request, acc: &Accounts, master: &InstanceStatus) -> Option<String> {
    let mut p = Prober::new(req.candidate.clone(), admin_opts(acc));
    let s = p.probe().await;
    p.close(Duration::from_millis(100)).await;
    let cand = match s.result {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot read {}: {e}", req.candidate)),
    };
    let has_all = match master.flavor {
        Flavor::MariaDb => {
            let m = MariaGtidList::parse(master.gtid.binlog_pos.as_deref().unwrap_or("")).ok()?;
            let c = MariaGtidList::parse(cand.gtid.current_pos.as_deref().unwrap_or("")).ok()?;
            c.contains(&m)
        }
        Flavor::MySql => {
            let m = GtidSet::parse(master.gtid.executed.as_deref().unwrap_or("")).ok()?;
            let c = GtidSet::parse(cand.gtid.executed.as_deref().unwrap_or("")).ok()?;
            m.is_subset(&c)
        }
    };
    (!has_all).then(|| {
        format!(
            "refused: {} is writable and not replicating, but lacks transactions the old master {} has; \
             it is not the result of an interrupted promotion",
            req.candidate, req.master
        )
    })
}

fn describe_coords(c: &Coords) -> String {
    match (&c.file, c.pos) {
        (Some(f), Some(p)) if c.gtid.is_empty() => format!("{f}:{p}"),
        (Some(f), Some(p)) => format!("gtid {} ({f}:{p})", c.gtid),
        _ => format!("gtid {}", c.gtid),
    }
}

async fn connect(a: &Addr, opts: &ProbeOptions) -> Result<Conn, String> {
    probe::connect(a, opts).await.map_err(|e| e.message)
}

/// Sessions on `conn`'s server whose account can write through read_only:
/// (connection id, "user@host (id N)").
/// Sessions and accounts that read_only does not stop.
#[derive(Default)]
struct Writers {
    /// (connection id, "user@host (id N)")
    sessions: Vec<(u64, String)>,
    /// The accounts (`'user'@'host'`, as the server quotes them) those sessions log in with.
    accounts: Vec<String>,
}

async fn unstoppable_writers(conn: &mut Conn, d: &Dialect, admin: &str, limit: Duration) -> Result<Writers, String> {
    let privs = d.read_only_bypass_privileges();
    if privs.is_empty() {
        return Ok(Writers::default());
    }
    let list = privs.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(",");
    let sql =
        format!("SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ({list})");
    let grantees: Vec<String> = match tokio::time::timeout(limit, conn.query::<String, _>(sql)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading privileges: {e}")),
        Err(_) => return Err("reading privileges: no answer".into()),
    };
    // GRANTEE is 'user'@'host'; sessions are matched by user name (conservative).
    let user_of = |g: &String| g.strip_prefix('\'').and_then(|r| r.split_once("'@")).map(|(u, _)| u.to_string());
    let users: HashSet<String> = grantees.iter().filter_map(user_of).collect();
    let rows: Vec<(u64, String, String, String)> = match tokio::time::timeout(
        limit,
        conn.query("SELECT ID, USER, HOST, COMMAND FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"),
    )
    .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading the processlist: {e}")),
        Err(_) => return Err("reading the processlist: no answer".into()),
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(_, user, _, cmd)| {
            users.contains(user)
                && user != admin
                && !matches!(
                    cmd.as_str(),
                    "Binlog Dump" | "Binlog Dump GTID" | "Daemon" | "Slave_IO" | "Slave_SQL" | "Slave_worker"
                )
        })
        .collect();
    let active: HashSet<&String> = rows.iter().map(|r| &r.1).collect();
    let accounts = grantees
        .iter()
        .filter(|g| user_of(g).is_some_and(|u| active.contains(&u)))
        // Only the server's own quoting is ever put back into a statement.
        .filter(|g| g.len() < 300 && g.matches('\'').count() == 4 && !g.contains(['\\', ';']))
        .cloned()
        .collect();
    let sessions = rows
        .into_iter()
        .map(|(id, user, host, _)| (id, format!("{user}@{} (id {id})", host.split(':').next().unwrap_or(&host))))
        .collect();
    Ok(Writers { sessions, accounts })
}

/// Transactions other than ours that have written and not committed:
/// (connection id, "user@host (id N, M rows, S s open)").
async fn open_write_transactions(conn: &mut Conn, limit: Duration) -> Result<Vec<(u64, String)>, String> {
    let sql = "SELECT t.trx_mysql_thread_id, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), t.trx_rows_modified, \
               COALESCE(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0) \
               FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
               WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND t.trx_rows_modified > 0";
    let rows: Vec<(u64, String, String, u64, i64)> = match tokio::time::timeout(limit, conn.query(sql)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading open transactions: {e}")),
        Err(_) => return Err("reading open transactions: no answer".into()),
    };
    Ok(rows
        .into_iter()
        .map(|(id, user, host, n, secs)| {
            (id, format!("{user}@{} (id {id}, {n} rows, {secs} s open)", host.split(':').next().unwrap_or(&host)))
        })
        .collect())
}

/// Lock or unlock accounts on this server only (not binlogged: the candidate must not inherit it).
async fn set_accounts_locked(
    conn: &mut Conn,
    accounts: &[String],
    locked: bool,
    limit: Duration,
) -> Result<(), String> {
    if accounts.is_empty() {
        return Ok(());
    }
    exec(conn, "SET SESSION sql_log_bin = 0", limit).await?;
    let verb = if locked { "LOCK" } else { "UNLOCK" };
    for a in accounts {
        exec(conn, &format!("ALTER USER {a} ACCOUNT {verb}"), limit).await?;
    }
    Ok(())
}

async fn rollback(master: &mut Conn, st: &Dialect, restart_upstream: bool, limit: Duration) -> Result<(), String> {
    exec(master, st.set_read_only(false), limit).await?;
    if restart_upstream {
        exec(master, st.start_replica(), limit).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn rollback_after_promote(
    master: &mut Conn,
    cand: &mut Conn,
    st: &Dialect,
    master_addr: &Addr,
    acc: &Accounts,
    gtid: bool,
    coords: &Coords,
    restart_upstream: bool,
    limit: Duration,
) -> Result<(), String> {
    let _ = exec(cand, st.set_read_only(true), limit).await;
    let _ = exec(cand, st.stop_replica(), limit).await;
    let _ = exec(cand, st.reset_replica_all(), limit).await;
    let pos = if gtid {
        st.gtid_positioning()
    } else {
        match (&coords.file, coords.pos) {
            (Some(f), Some(p)) => Position::File { file: f.clone(), pos: p },
            _ => Position::SlavePos,
        }
    };
    exec(cand, &st.change_source(master_addr, &acc.repl_user, acc.repl_password.as_ref(), &pos), limit).await?;
    exec(cand, st.start_replica(), limit).await?;
    rollback(master, st, restart_upstream, limit).await
}

async fn probe_link(a: &Addr, opts: &Arc<ProbeOptions>) -> Option<crate::fleet::status::ReplicationStatus> {
    let mut p = Prober::new(a.clone(), opts.clone());
    let s = p.probe().await;
    p.close(Duration::from_millis(100)).await;
    s.result.ok()?.primary_link().cloned()
}

async fn wait_on(a: &Addr, opts: &ProbeOptions, st: &Dialect, c: &Coords, timeout: Duration) -> Result<(), String> {
    let mut conn = connect(a, opts).await?;
    let (Some(f), Some(p)) = (&c.file, c.pos) else { return Err("no coordinates".into()) };
    let v: Option<i64> =
        first_value(&mut conn, &st.wait_for_pos(f, p, timeout.as_secs_f64()), timeout + opts.timeout).await?;
    let _ = conn.disconnect().await;
    if st.wait_succeeded(false, v) { Ok(()) } else { Err(format!("did not reach {f}:{p} in time")) }
}

/// Make the server on `c` replicate from `to`, starting at `pos`. `former_master`: its old
/// source (the upstream link it had) is reset first, and stopping a replica it may not be is no
/// error.
async fn follow(
    c: &mut Conn,
    st: &Dialect,
    to: &Addr,
    acc: &Accounts,
    pos: &Position,
    limit: Duration,
    former_master: bool,
) -> Result<(), String> {
    if former_master {
        exec(c, st.stop_replica(), limit).await.ok();
        exec(c, st.reset_replica_all(), limit).await?;
    } else {
        exec(c, st.stop_replica(), limit).await?;
    }
    exec(c, &st.change_source(to, &acc.repl_user, acc.repl_password.as_ref(), pos), limit).await?;
    exec(c, st.start_replica(), limit).await?;
    Ok(())
}

/// `follow` over a connection of its own.
async fn repoint(
    a: &Addr,
    opts: &ProbeOptions,
    st: &Dialect,
    to: &Addr,
    acc: &Accounts,
    pos: &Position,
    former_master: bool,
) -> Result<(), String> {
    let mut c = connect(a, opts).await?;
    let done = follow(&mut c, st, to, acc, pos, opts.timeout, former_master).await;
    let _ = c.disconnect().await;
    done
}

async fn detach(a: &Addr, opts: &ProbeOptions, st: &Dialect) -> Result<(), String> {
    let mut c = connect(a, opts).await?;
    exec(&mut c, st.stop_replica(), opts.timeout).await?;
    exec(&mut c, st.reset_replica_all(), opts.timeout).await?;
    let _ = c.disconnect().await;
    Ok(())
}

/// Write a marker on the new master and wait until every follower has it.
async fn marker(
    new_master: &mut Conn,
    followers: &[Addr],
    opts: &ProbeOptions,
    shard: &str,
    run: &str,
    limit: Duration,
) -> Result<(), String> {
    exec(new_master, "CREATE DATABASE IF NOT EXISTS percona", limit).await?;
    exec(
        new_master,
        "CREATE TABLE IF NOT EXISTS percona.shardtop_marker (shard VARCHAR(64) NOT NULL PRIMARY KEY, run VARCHAR(64) NOT NULL, ts DATETIME(6) NOT NULL)",
        limit,
    )
    .await?;
    let q = |s: &str| s.replace(['\\', '\''], "");
    exec(
        new_master,
        &format!("REPLACE INTO percona.shardtop_marker VALUES ('{}', '{}', NOW(6))", q(shard), q(run)),
        limit,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut missing: Vec<Addr> = followers.to_vec();
    let sql = format!("SELECT run FROM percona.shardtop_marker WHERE shard = '{}'", q(shard));
    while !missing.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for a in missing {
            let seen = match connect(&a, opts).await {
                Ok(mut c) => {
                    let v: Option<String> = first_value(&mut c, &sql, limit).await.unwrap_or(None);
                    let _ = c.disconnect().await;
                    v.as_deref() == Some(run)
                }
                Err(_) => false,
            };
            if !seen {
                still.push(a);
            }
        }
        missing = still;
        if !missing.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not seen within 10 s on {}", missing.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")))
    }
}

/// The post-promotion hook as a step: a failure is reported, the promotion stands.
async fn hook_step(run: &mut Run<'_>, outcome: &mut Outcome) -> Result<(), PromoteError> {
    let req = run.req;
    let Some(h) = &req.hook else { return Ok(()) };
    let t = run.start("hook", h.clone())?;
    match run_hook(h, req, req.hook_timeout).await {
        Ok(out) => run.done("hook", t, out)?,
        Err(e) => {
            run.fail("hook", t, &e);
            outcome.warnings.push(format!("post-promotion hook failed (the promotion stands): {e}"));
        }
    }
    Ok(())
}

async fn run_hook(cmd: &str, req: &Request, timeout: Duration) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("SHARDTOP_SHARD", &req.shard)
        .env("SHARDTOP_NEW_MASTER", req.candidate.to_string())
        .env("SHARDTOP_OLD_MASTER", req.master.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Err(_) => Err(format!("still running after {:.0} s: killed", timeout.as_secs_f64())),
        Ok(Err(e)) => Err(format!("cannot run: {e}")),
        Ok(Ok(out)) => {
            let tail = |b: &[u8]| {
                let s = String::from_utf8_lossy(b);
                let s = s.trim();
                s.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect::<String>()
            };
            if out.status.success() {
                Ok(format!("exit 0 {}", tail(&out.stdout)))
            } else {
                Err(format!("{}: {}", out.status, tail(&out.stderr)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::test_support::{master_status, replica_status};

    fn req() -> Request {
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

    fn failing(checks: &[Check]) -> Vec<&'static str> {
        checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    fn other() -> Vec<(Addr, Option<InstanceStatus>)> {
        let mut s = replica_status(Some(0));
        s.server_id = 3;
        vec![(Addr::new("db2", 3306), Some(s))]
    }

    #[test]
    fn a_healthy_direct_replica_passes_every_check() {
        let c = check_candidate(&req(), &master_status(), &replica_status(Some(0)), &other());
        assert!(failing(&c).is_empty(), "{c:#?}");
        assert_eq!(c.len(), 11);
    }

    #[test]
    fn each_failure_explains_itself() {
        let m = master_status();
        let mut cand = replica_status(Some(120));
        cand.log_slave_updates = false;
        cand.replication[0].sql_running = false;
        cand.server_id = 3;
        cand.gtid.current_pos = Some("1-2-101".into());
        let c = check_candidate(&req(), &m, &cand, &other());
        assert_eq!(
            failing(&c),
            vec!["threads_running", "log_slave_updates", "server_id_unique", "errant_gtids", "lag"]
        );
        let errant = c.iter().find(|c| c.name == "errant_gtids").map(|c| c.detail.clone()).unwrap_or_default();
        assert_eq!(errant, "transactions the master does not have: 1-2-101");
        let clash = c.iter().find(|c| c.name == "server_id_unique").map(|c| c.detail.clone()).unwrap_or_default();
        assert_eq!(clash, "server_id 3 also on db2:3306");
    }

    #[test]
    fn a_chained_replica_is_not_a_direct_replica_and_force_is_by_name() {
        let mut cand = replica_status(Some(0));
        cand.replication[0].source = Addr::new("db2", 3306);
        let mut r = req();
        let c = check_candidate(&r, &master_status(), &cand, &other());
        assert_eq!(failing(&c), vec!["direct_replica"]);
        assert!(c[0].blocks());
        r.force_checks = vec!["direct_replica".into()];
        let c = check_candidate(&r, &master_status(), &cand, &other());
        assert!(c[0].forced && !c[0].blocks());
    }

    #[test]
    fn unknown_lag_and_read_only_master_block() {
        let mut m = master_status();
        m.read_only = true;
        let c = check_candidate(&req(), &m, &replica_status(None), &[(Addr::new("db2", 3306), None)]);
        assert_eq!(failing(&c), vec!["lag", "master_writable", "replicas_reachable"]);
    }

    #[test]
    fn plan_lists_steps_in_order() {
        let p = plan(&req(), true, Some(&Addr::new("global", 3306)), &[Addr::new("db2", 3306)]);
        let names: Vec<_> = p.iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["freeze", "verify_frozen", "catch_up", "promote", "repoint", "old_master", "marker"]);
        assert!(p[3].what.contains("point it at the upstream global:3306"));
    }
}
