//! What each step of a failover does to the servers, and how it is undone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Conn;

use super::Request;
use super::plan::FailoverStep;
use crate::actions::runner::{Executor, Journal};
use crate::actions::server::{
    Accounts, Coords, connect, demote, dialect_of, exec, first_value, follow, marker, on_server, read, read_coords,
    run_hook, take_over_semi_sync,
};
use crate::fleet::status::{GtidMode, InstanceStatus, ReplicationStatus};
use crate::mysql::replication::Position;
use crate::mysql::{Addr, Dialect};
use crate::probe::ProbeOptions;

pub(super) struct FailoverExec<'a> {
    pub req: &'a Request,
    pub acc: &'a Accounts,
    pub opts: Arc<ProbeOptions>,
    pub d: Dialect,
    pub candidate: Addr,
    /// The candidate replicates by GTID (file:position otherwise).
    pub gtid: bool,
    /// Replicas whose IO thread ran (or was reconnecting) before `stop_io`.
    pub io_was_running: Vec<Addr>,
    pub followers: Vec<Addr>,
    pub run: String,
    pub started: Instant,
    // Learned while running.
    pub cand: Option<Conn>,
    /// The candidate's link to the dead master once its IO thread stopped.
    pub final_link: Option<ReplicationStatus>,
    pub promote_attempted: bool,
    pub promoted: bool,
    pub writable_after: Option<Duration>,
    /// The new master's own binlog coordinates when it took over (file:position repoints).
    pub new_master_at: Option<Coords>,
    /// Its GTID position when it took over, before any write of its own (marker, hook, clients):
    /// what "may be lost" is measured against.
    pub took_over_at: Option<String>,
    /// Puts the candidate's semi-sync settings back, when the promotion switched them.
    pub semi_sync_undo: Option<String>,
    /// Replicas the repoint step could not move (named in its warnings): the marker does not
    /// wait for them.
    pub not_repointed: Vec<Addr>,
}

impl<'a> FailoverExec<'a> {
    /// A run on `req` that makes `candidate` the master (GTID replicas when `gtid`), then points
    /// `followers` at it, with nothing learned yet: which IO threads to restart on a rollback
    /// and whether the promotion already happened are the caller's to set (a fresh failover and
    /// the finishing of an interrupted one differ there).
    pub fn new(
        req: &'a Request,
        acc: &'a Accounts,
        d: Dialect,
        candidate: Addr,
        gtid: bool,
        followers: Vec<Addr>,
        run: String,
    ) -> Self {
        FailoverExec {
            req,
            acc,
            opts: acc.admin_opts(),
            d,
            candidate,
            gtid,
            io_was_running: Vec::new(),
            followers,
            run,
            started: Instant::now(),
            cand: None,
            final_link: None,
            promote_attempted: false,
            promoted: false,
            writable_after: None,
            new_master_at: None,
            took_over_at: None,
            semi_sync_undo: None,
            not_repointed: Vec::new(),
        }
    }
}

/// The server on `c` a replica of the dead `master` again by GTID, applying what it holds and
/// receiving nothing (as `stop_io` leaves replicas), whatever it followed before.
async fn back_under(c: &mut Conn, d: &Dialect, master: &Addr, acc: &Accounts, limit: Duration) -> Result<(), String> {
    exec(c, d.stop_replica(), limit).await?;
    let pos = d.gtid_positioning();
    exec(c, &d.change_source(master, &acc.repl_user, acc.repl_password.as_ref(), &pos, acc.repl_tls), limit).await?;
    exec(c, d.start_sql_thread(), limit).await
}

/// Replicas an earlier failover left following another replica of the shard, by GTID, in the
/// middle of its catch-up (its audit log says it began catching this one up from that one):
/// `(replica, the replica it follows)`. Anything else chained off a replica is left alone (and
/// judged a replica of nobody in the shard).
pub(super) fn interrupted_catch_ups(req: &Request, replicas: &[(Addr, Option<InstanceStatus>)]) -> Vec<(Addr, Addr)> {
    let of_master = |s: &InstanceStatus| s.replication.iter().any(|l| l.source == req.master);
    replicas
        .iter()
        .filter_map(|(a, s)| {
            let s = s.as_ref().filter(|s| s.read_only && !of_master(s))?;
            let [link] = s.replication.as_slice() else { return None };
            let from = replicas.iter().find(|(f, fs)| *f == link.source && fs.as_ref().is_some_and(of_master))?;
            (link.gtid_mode != GtidMode::No
                && crate::actions::audit::failover_catching_up(
                    &req.audit_log,
                    &req.shard,
                    &a.to_string(),
                    &from.0.to_string(),
                ))
            .then(|| (a.clone(), from.0.clone()))
        })
        .collect()
}

/// Run `step` on `a`, which `status` describes, in its dialect, over a connection of its own.
async fn on_read_server(
    a: &Addr,
    status: &InstanceStatus,
    opts: &ProbeOptions,
    step: impl AsyncFnOnce(&mut Conn, &Dialect) -> Result<(), String>,
) -> Result<(), String> {
    let d = dialect_of(status)?;
    on_server(a, opts, async |c| step(c, &d).await).await
}

/// Put `a`, which `status` describes, back under the dead master (what `catch_up` ends with).
pub(super) async fn reattach_interrupted(
    a: &Addr,
    status: &InstanceStatus,
    req: &Request,
    acc: &Accounts,
    opts: &Arc<ProbeOptions>,
) -> Result<(), String> {
    on_read_server(a, status, opts, async |c, d| back_under(c, d, &req.master, acc, acc.timeout).await).await
}

/// Make `a`, which `status` describes (read-only, replicating from nobody), writable: the end of
/// a promotion an earlier failover began and did not finish.
pub(super) async fn make_writable(
    a: &Addr,
    status: &InstanceStatus,
    acc: &Accounts,
    opts: &Arc<ProbeOptions>,
) -> Result<(), String> {
    on_read_server(a, status, opts, async |c, d| exec(c, d.set_read_only(false), acc.timeout).await).await
}

impl FailoverExec<'_> {
    fn limit(&self) -> Duration {
        self.acc.timeout
    }

    async fn cand(&mut self) -> Result<&mut Conn, String> {
        if self.cand.is_none() {
            self.cand = Some(connect(&self.candidate, &self.opts).await?);
        }
        self.cand.as_mut().ok_or_else(|| "no connection to the candidate".to_string())
    }

    async fn stop_io(&mut self, replicas: &[Addr], journal: &mut Journal<'_>) -> Result<String, String> {
        let mut stopped = Vec::new();
        for a in replicas {
            let done = on_server(a, &self.opts, async |c| exec(c, self.d.stop_io_thread(), self.limit()).await).await;
            match done {
                Ok(()) => stopped.push(a.to_string()),
                // The candidate must not receive anything more; another replica that cannot be
                // reached receives nothing either, and follows the new master later.
                Err(e) if *a == self.candidate => return Err(format!("{a}: {e}")),
                Err(e) => journal.warn(format!("stop_io {a}: {e}")),
            }
        }
        Ok(format!("stopped on {}", stopped.join(", ")))
    }

    async fn restart_io(&mut self) -> Result<Option<String>, String> {
        let mut failed = Vec::new();
        for a in &self.io_was_running {
            let done = on_server(a, &self.opts, async |c| exec(c, self.d.start_io_thread(), self.limit()).await).await;
            if let Err(e) = done {
                failed.push(format!("{a}: {e}"));
            }
        }
        if failed.is_empty() {
            Ok(Some("IO threads running again".into()))
        } else {
            Err(format!("could not restart the IO thread of {}", failed.join("; ")))
        }
    }

    /// Wait until `a` has applied everything its relay log holds from the dead master.
    async fn apply_relay_of(&self, a: &Addr, timeout: Duration) -> Result<ReplicationStatus, String> {
        let s = read(a, &self.opts).await?;
        let link = s
            .replication
            .iter()
            .find(|l| l.source == self.req.master)
            .cloned()
            .ok_or_else(|| format!("{a} no longer replicates from {}", self.req.master))?;
        let secs = timeout.as_secs_f64();
        let (sql, gtid_wait) = match link.gtid_mode {
            GtidMode::No => (self.d.wait_for_pos(&link.source_log_file, link.read_source_log_pos, secs), false),
            _ => {
                let applied = match s.flavor {
                    crate::fleet::status::Flavor::MariaDb => s.gtid.slave_pos.clone().unwrap_or_default(),
                    crate::fleet::status::Flavor::MySql => s.gtid.executed.clone().unwrap_or_default(),
                };
                let received =
                    if link.retrieved_gtid_set.is_empty() { applied } else { link.retrieved_gtid_set.clone() };
                if received.is_empty() {
                    return Ok(link);
                }
                (self.d.wait_for_gtid(&received, secs), true)
            }
        };
        let waited: Option<i64> =
            on_server(a, &self.opts, async |c| first_value(c, &sql, timeout + self.limit()).await).await?;
        if self.d.wait_succeeded(gtid_wait, waited) {
            Ok(link)
        } else {
            Err(format!("{a} did not apply its relay log within {secs:.1} s"))
        }
    }

    async fn catch_up(&mut self, from: &Addr, timeout: Duration) -> Result<String, String> {
        if !self.gtid {
            return Err(format!(
                "file:position replicas cannot catch up from one another: fail over to {from} (--to), or repoint by hand"
            ));
        }
        // The source first applies all it received, then the candidate takes all the source has.
        self.apply_relay_of(from, timeout).await?;
        let (d, limit, acc) = (self.d, self.limit(), self.acc);
        let pos: Option<String> =
            on_server(from, &self.opts, async |c| first_value(c, d.gtid_position_sql(), limit).await).await?;
        let pos = pos.unwrap_or_default();
        let secs = timeout.as_secs_f64();
        let master = self.req.master.clone();
        let cand = self.cand().await?;
        follow(cand, &d, from, acc, &d.gtid_positioning(), limit, false).await?;
        crate::actions::runner::crash_if_asked("catch_up:following");
        let waited: Option<i64> = first_value(cand, &d.wait_for_gtid(&pos, secs), timeout + limit).await?;
        let _ = exec(cand, d.stop_replica(), limit).await;
        if !d.wait_succeeded(true, waited) {
            return Err(format!("did not reach {from}'s position {pos} within {secs:.1} s"));
        }
        // Back under the dead master as `stop_io` left it (applying, not receiving): a run that
        // dies after this step leaves a replica of the master that holds everything, which the
        // next run judges and promotes; one left following `from` would be refused as a replica
        // of nobody in the shard.
        back_under(cand, &d, &master, acc, limit).await?;
        Ok(format!("has everything {from} has ({pos}); a replica of {master} again, not receiving"))
    }

    /// The candidate back under the dead master, as it was.
    async fn reattach(&mut self) -> Result<Option<String>, String> {
        let (d, limit, acc) = (self.d, self.limit(), self.acc);
        let master = self.req.master.clone();
        let pos = match (&self.final_link, self.gtid) {
            (Some(l), false) => Position::File { file: l.relay_source_log_file.clone(), pos: l.exec_source_log_pos },
            _ => d.gtid_positioning(),
        };
        let undo = self.semi_sync_undo.take();
        let cand = self.cand().await?;
        demote(cand, &d, &master, acc, &pos, limit).await?;
        if let Some(sql) = undo {
            exec(cand, &sql, limit).await?;
        }
        self.promoted = false;
        Ok(Some(format!("{} read-only and a replica of {master} again", self.candidate)))
    }

    fn hook_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SHARDTOP_SHARD", self.req.shard.clone()),
            ("SHARDTOP_NEW_MASTER", self.candidate.to_string()),
            ("SHARDTOP_OLD_MASTER", self.req.master.to_string()),
            ("SHARDTOP_REASON", "failover".to_string()),
        ]
    }

    async fn promote(&mut self, upstream: Option<&Addr>, journal: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit, acc, gtid) = (self.d, self.limit(), self.acc, self.gtid);
        let shard_semi_sync = self.req.seen.as_ref().is_some_and(|s| s.semi_sync);
        self.promote_attempted = true;
        let candidate = self.candidate.clone();
        self.cand().await?;
        let Some(mut cand) = self.cand.take() else { return Err("no connection to the candidate".into()) };
        let mut semi_sync_undo = None;
        let result = async {
            exec(&mut cand, d.stop_replica(), limit).await?;
            exec(&mut cand, d.reset_replica_all(), limit).await?;
            crate::actions::runner::crash_if_asked("promote:reset");
            let mut detail = String::new();
            match upstream {
                // Its gtid_slave_pos / gtid_executed hold the upstream's transactions it got
                // through the dead master (log_slave_updates): GTID positioning resumes the link.
                Some(u) if gtid => {
                    let pos = d.gtid_positioning();
                    exec(
                        &mut cand,
                        &d.change_source(u, &acc.repl_user, acc.repl_password.as_ref(), &pos, acc.repl_tls),
                        limit,
                    )
                    .await?;
                    exec(&mut cand, d.start_replica(), limit).await?;
                    detail = format!(
                        "; took over the upstream link ({})",
                        d.describe_change_source(u, &acc.repl_user, &pos)
                    );
                }
                Some(u) => journal.warn(format!(
                    "the upstream link to {u} was not taken over: the dead master's position in {u}'s binlog is \
                     unknown (file:position); point {candidate} at {u} by hand"
                )),
                None => {}
            }
            let at: Option<String> = first_value(&mut cand, d.gtid_position_sql(), limit).await?;
            // Before the first write: the writes it acknowledges stay on a replica too.
            match take_over_semi_sync(&mut cand, &d, shard_semi_sync, limit).await {
                Ok(Some(undo)) => {
                    semi_sync_undo = Some(undo);
                    detail.push_str("; semi-sync on (AFTER_SYNC)");
                }
                Ok(None) => {}
                Err(e) => journal
                    .warn(format!("semi-sync not switched on at {candidate}: {e}; it takes writes asynchronously")),
            }
            exec(&mut cand, d.set_read_only(false), limit).await?;
            Ok::<(String, Option<String>), String>((detail, at))
        }
        .await;
        self.semi_sync_undo = semi_sync_undo;
        if let Ok((detail, at)) = &result {
            self.took_over_at = at.clone();
            self.writable_after = Some(self.started.elapsed());
            self.promoted = true;
            self.new_master_at = read_coords(&mut cand, &d, limit).await.ok();
            self.cand = Some(cand);
            return Ok(format!("{candidate} is the master{detail}"));
        }
        self.cand = Some(cand);
        result.map(|(d, _)| d)
    }

    async fn repoint(&mut self, replicas: &[Addr], to: &Addr, journal: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit, acc) = (self.d, self.limit(), self.acc);
        let mut moved = Vec::new();
        for a in replicas {
            let pos = if self.gtid {
                d.gtid_positioning()
            } else {
                // file:pos: only a replica that applied exactly what the new master applied may
                // start at the new master's own coordinates.
                match (self.apply_relay_of(a, self.req.relay_timeout).await, &self.final_link, &self.new_master_at) {
                    (Ok(l), Some(c), Some(Coords { file: Some(f), pos: Some(p), .. }))
                        if l.relay_source_log_file == c.relay_source_log_file
                            && l.exec_source_log_pos == c.exec_source_log_pos =>
                    {
                        Position::File { file: f.clone(), pos: *p }
                    }
                    (r, _, _) => {
                        self.not_repointed.push(a.clone());
                        journal.warn(format!(
                            "{a} not repointed: it did not stop where {to} stopped in the dead master's binlog{}; \
                             repoint it by hand",
                            r.err().map(|e| format!(" ({e})")).unwrap_or_default()
                        ));
                        continue;
                    }
                }
            };
            let done = on_server(a, &self.opts, async |c| follow(c, &d, to, acc, &pos, limit, false).await).await;
            match done {
                Ok(()) => moved.push(format!("{a} ({})", d.describe_change_source(to, &acc.repl_user, &pos))),
                Err(e) => {
                    self.not_repointed.push(a.clone());
                    journal.warn(format!("repoint {a}: {e}"));
                }
            }
        }
        if moved.is_empty() { Err("no replica was repointed".into()) } else { Ok(moved.join(", ")) }
    }
}

impl Executor<FailoverStep> for FailoverExec<'_> {
    async fn act(&mut self, step: &FailoverStep, journal: &mut Journal<'_>) -> Result<String, String> {
        match step {
            FailoverStep::Finish { what } => Ok(what.clone()),
            FailoverStep::StopIo { replicas } => self.stop_io(replicas, journal).await,
            FailoverStep::ApplyRelay { candidate, timeout } => {
                let link = self.apply_relay_of(candidate, *timeout).await?;
                let at = if link.gtid_mode == GtidMode::No {
                    format!("{}:{}", link.relay_source_log_file, link.exec_source_log_pos)
                } else {
                    link.retrieved_gtid_set.clone()
                };
                self.final_link = Some(link);
                Ok(format!("applied everything it received ({at})"))
            }
            FailoverStep::CatchUp { from, timeout, .. } => self.catch_up(from, *timeout).await,
            FailoverStep::PreHook { command } => run_hook(command, &self.hook_env(), self.req.hook_timeout).await,
            FailoverStep::Promote { upstream, .. } => self.promote(upstream.as_ref(), journal).await,
            FailoverStep::Hook { command } => run_hook(command, &self.hook_env(), self.req.hook_timeout).await,
            FailoverStep::Repoint { replicas, to } => self.repoint(replicas, to, journal).await,
            FailoverStep::Marker { .. } => {
                let (opts, shard, run, limit) =
                    (self.opts.clone(), self.req.shard.clone(), self.run.clone(), self.limit());
                // A replica the repoint step could not reach (named there) would only make this
                // step wait its whole limit for a row it cannot get.
                let (followers, skipped): (Vec<Addr>, Vec<Addr>) =
                    self.followers.iter().cloned().partition(|f| !self.not_repointed.contains(f));
                let cand = self.cand().await?;
                marker(cand, &followers, &opts, &shard, &run, limit).await?;
                let seen = format!("seen on {} replicas", followers.len());
                if skipped.is_empty() {
                    Ok(seen)
                } else {
                    let names: Vec<String> = skipped.iter().map(ToString::to_string).collect();
                    Ok(format!("{seen}; not looked for on {} (not repointed)", names.join(", ")))
                }
            }
        }
    }

    async fn rollback(&mut self, step: &FailoverStep, _: &mut Journal<'_>) -> Result<Option<String>, String> {
        match step {
            FailoverStep::StopIo { .. } => self.restart_io().await,
            FailoverStep::CatchUp { .. } | FailoverStep::Promote { .. } => {
                if matches!(step, FailoverStep::Promote { .. }) && !self.promote_attempted {
                    return Ok(None);
                }
                self.reattach().await
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::audit::{AuditLog, Entry};
    use crate::fleet::test_support::{link, replica_status};

    fn request(audit_log: &std::path::Path) -> Request {
        Request {
            shard: "s1".into(),
            master: Addr::new("master", 3306),
            replicas: vec![Addr::new("a", 3306), Addr::new("b", 3306)],
            candidate: Some(Addr::new("b", 3306)),
            dry_run: false,
            relay_timeout: Duration::from_secs(1),
            catchup_timeout: Duration::from_secs(1),
            force_checks: Vec::new(),
            pre_hook: None,
            hook: None,
            hook_timeout: Duration::from_secs(1),
            upstream: None,
            promotion: Vec::new(),
            seen: None,
            audit_log: audit_log.to_path_buf(),
        }
    }

    /// `b` following `a`, which follows the master.
    fn chained() -> Vec<(Addr, Option<InstanceStatus>)> {
        let mut b = replica_status(Some(0));
        b.replication = vec![link(Addr::new("a", 3306), Some(0))];
        vec![(Addr::new("a", 3306), Some(replica_status(Some(0)))), (Addr::new("b", 3306), Some(b))]
    }

    fn began_catch_up(path: &std::path::Path, detail: &str) {
        let mut log = AuditLog::open(Some(path)).expect("open");
        log.write(&Entry::new("r1", "failover", "s1", "catch_up", "start", detail)).expect("write");
    }

    #[test]
    fn only_a_catch_up_the_audit_log_records_as_begun_is_taken_for_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let req = request(&path);
        let (a, b) = (Addr::new("a", 3306), Addr::new("b", 3306));
        // Chained by hand: no record, left alone.
        assert_eq!(interrupted_catch_ups(&req, &chained()), vec![]);
        began_catch_up(&path, "b:3306 replicates from a:3306, which holds more, until it has it all");
        assert_eq!(interrupted_catch_ups(&req, &chained()), vec![(b.clone(), a.clone())]);

        // Not when it is writable, still follows the master too, follows a server outside the
        // shard or one that does not follow the master, or replicates by file:position.
        let mut writable = chained();
        writable[1].1.as_mut().expect("b").read_only = false;
        let mut also_master = chained();
        also_master[1].1.as_mut().expect("b").replication.push(link(req.master.clone(), Some(0)));
        let mut outside = chained();
        outside[1].1.as_mut().expect("b").replication[0].source = Addr::new("elsewhere", 3306);
        let mut orphan_source = chained();
        orphan_source[0].1.as_mut().expect("a").replication.clear();
        let mut file_pos = chained();
        file_pos[1].1.as_mut().expect("b").replication[0].gtid_mode = GtidMode::No;
        let mut unread = chained();
        unread[0].1 = None;
        for (what, replicas) in [
            ("writable", writable),
            ("also the master's", also_master),
            ("outside the shard", outside),
            ("source not the master's", orphan_source),
            ("file:position", file_pos),
            ("source unread", unread),
        ] {
            assert_eq!(interrupted_catch_ups(&req, &replicas), vec![], "{what}");
        }
    }
}
