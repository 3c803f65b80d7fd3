//! What each step of a promotion does to the servers, and how it is undone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Conn;

use super::plan::PromoteStep;
use super::{Accounts, OldMaster, Request};
use crate::actions::runner::{Executor, Journal};
use crate::actions::server::{
    Coords, connect, demote, describe_coords, detach, exec, first_value, follow, marker, open_write_transactions,
    probe_link, read_coords, repoint, run_hook, set_accounts_locked, take_over_semi_sync, unstoppable_writers, wait_on,
};
use crate::fleet::status::{GtidMode, ReplicationStatus};
use crate::mysql::replication::Position;
use crate::mysql::{Addr, Dialect};
use crate::probe::ProbeOptions;

/// Everything a promotion learns and carries between steps.
pub(super) struct PromoteExec<'a> {
    pub req: &'a Request,
    pub acc: &'a Accounts,
    pub opts: Arc<ProbeOptions>,
    pub d: Dialect,
    /// The candidate replicates by GTID.
    pub gtid: bool,
    /// The old master's own upstream link (a shard master replicating from a global master).
    pub upstream: Option<ReplicationStatus>,
    /// `GET_LOCK` name held on the old master for the run.
    pub lock_name: String,
    pub master: Option<Conn>,
    pub cand: Option<Conn>,
    /// Replicas that replicate by file:position: each must reach `wait_coords` before it is
    /// repointed at `file_start`.
    pub file_pos_replicas: Vec<Addr>,
    pub wait_coords: Option<Coords>,
    pub file_start: Option<Position>,
    /// Who must see the marker row.
    pub followers: Vec<Addr>,
    /// The run ID, for the marker row.
    pub run: String,
    // Learned while running.
    pub locked_accounts: Vec<String>,
    pub stopped_upstream: bool,
    pub freeze_started: Option<Instant>,
    pub frozen_at: Option<Coords>,
    pub promote_attempted: bool,
    pub write_blocked: Option<Duration>,
    pub promoted: bool,
    /// Replicas the repoint step could not move: named there, and not waited for by the marker.
    pub not_repointed: Vec<Addr>,
    /// Puts the candidate's semi-sync settings back, when the promotion switched them.
    pub semi_sync_undo: Option<String>,
}

impl<'a> PromoteExec<'a> {
    /// A run on `req` with nothing learned yet: connections, replicas and positions are the
    /// caller's to set (a fresh switch and the finishing of an interrupted one differ there).
    pub fn new(req: &'a Request, acc: &'a Accounts, d: Dialect, run: String) -> Self {
        PromoteExec {
            req,
            acc,
            opts: acc.admin_opts(),
            d,
            gtid: true,
            upstream: None,
            lock_name: format!("shardtop.promote.{}", req.shard).replace('\'', ""),
            master: None,
            cand: None,
            file_pos_replicas: Vec::new(),
            wait_coords: None,
            file_start: None,
            followers: Vec::new(),
            run,
            locked_accounts: Vec::new(),
            stopped_upstream: false,
            freeze_started: None,
            frozen_at: None,
            promote_attempted: false,
            write_blocked: None,
            promoted: false,
            not_repointed: Vec::new(),
            semi_sync_undo: None,
        }
    }
}

impl PromoteExec<'_> {
    fn limit(&self) -> Duration {
        self.acc.timeout
    }

    async fn master(&mut self) -> Result<&mut Conn, String> {
        if self.master.is_none() {
            self.master = Some(connect(&self.req.master, &self.opts).await?);
        }
        self.master.as_mut().ok_or_else(|| "no connection to the old master".to_string())
    }

    async fn cand(&mut self) -> Result<&mut Conn, String> {
        if self.cand.is_none() {
            self.cand = Some(connect(&self.req.candidate, &self.opts).await?);
        }
        self.cand.as_mut().ok_or_else(|| "no connection to the candidate".to_string())
    }

    /// Where a repointed replica (or the old master) starts on the new master.
    fn position_for(&self, a: &Addr, former_master: bool) -> Position {
        match &self.file_start {
            Some(start) if former_master || self.file_pos_replicas.contains(a) => start.clone(),
            _ if former_master => self.d.former_master_gtid_positioning(),
            _ => self.d.gtid_positioning(),
        }
    }

    async fn freeze(&mut self, journal: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit, req) = (self.d, self.limit(), self.req);
        let admin = self.acc.admin_user.clone();
        self.freeze_started = Some(Instant::now());
        // Before anything can fail: a rollback restarts the upstream link (a START of a running
        // link is only a warning).
        let has_upstream = self.upstream.is_some();
        self.stopped_upstream = has_upstream;
        let master = self.master().await?;
        let writers = unstoppable_writers(master, &d, &admin, limit).await?;
        if !writers.sessions.is_empty() && !req.kill_unstoppable_writers {
            return Err(format!(
                "sessions of accounts that read_only does not stop are connected: {}; stop them or allow killing them",
                writers.sessions.iter().map(|w| w.1.clone()).collect::<Vec<_>>().join(", ")
            ));
        }
        // Killing alone is not enough: such a writer reconnects and writes to the frozen
        // master, and those writes never reach the new one. Lock the accounts until the switch
        // is done.
        set_accounts_locked(master, &writers.accounts, true, limit).await?;
        self.locked_accounts = writers.accounts.clone();
        if !self.locked_accounts.is_empty() {
            // On disk before anything else can fail: a crash from here on leaves them locked,
            // and the run that finishes this one reads this entry to unlock them.
            let detail = format!("locked {} on {}", self.locked_accounts.join(", "), req.master);
            journal
                .record("fence", "ok", None, &detail, self.locked_accounts.clone(), None)
                .map_err(|e| format!("audit log: {e}"))?;
        }
        let master = self.master().await?;
        // read_only waits for transactions that have written to commit; bound that wait,
        // then end the ones still open (or refuse, naming them).
        exec(master, "SET SESSION lock_wait_timeout = 2", limit).await?;
        let mut killed_trx = Vec::new();
        let freeze_limit = limit.max(Duration::from_secs(3));
        if let Err(first) = exec(master, d.set_read_only(true), freeze_limit).await {
            let open = open_write_transactions(master, limit).await?;
            if open.is_empty() {
                return Err(first);
            }
            if !req.kill_unstoppable_writers {
                let who: Vec<String> = open.iter().map(|o| o.1.clone()).collect();
                return Err(format!(
                    "open write transactions hold the freeze: {}; end them or allow killing them",
                    who.join(", ")
                ));
            }
            for (id, w) in open {
                if exec(master, &format!("KILL CONNECTION {id}"), limit).await.is_ok() {
                    killed_trx.push(w);
                }
            }
            exec(master, d.set_read_only(true), freeze_limit).await?;
        }
        if has_upstream {
            // The upstream link would keep writing to the frozen master.
            exec(master, d.stop_replica(), limit).await?;
        }
        let mut killed = Vec::new();
        for (id, who) in unstoppable_writers(master, &d, &admin, limit).await?.sessions {
            if exec(master, &format!("KILL CONNECTION {id}"), limit).await.is_ok() {
                killed.push(who);
            }
        }
        let mut detail = "read_only ON".to_string();
        if !self.locked_accounts.is_empty() {
            detail.push_str(&format!("; locked {} until the switch is done", self.locked_accounts.join(", ")));
        }
        if !killed.is_empty() {
            detail.push_str(&format!("; killed {}", killed.join(", ")));
        }
        if !killed_trx.is_empty() {
            detail.push_str(&format!("; killed open transactions of {}", killed_trx.join(", ")));
        }
        Ok(detail)
    }

    /// The old master writable again, its upstream link running, its accounts unlocked.
    async fn unfreeze(&mut self) -> Result<Option<String>, String> {
        let (d, limit) = (self.d, self.limit());
        let restart_upstream = self.stopped_upstream;
        let accounts = self.locked_accounts.clone();
        let lock = format!("DO RELEASE_LOCK('{}')", self.lock_name);
        let addr = self.req.master.clone();
        let stays = |e: String| format!("the master {addr} may still be read-only (frozen): {e}");
        let master = self.master().await.map_err(stays)?;
        let mut result = async {
            exec(master, d.set_read_only(false), limit).await?;
            if restart_upstream {
                exec(master, d.start_replica(), limit).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = set_accounts_locked(master, &accounts, false, limit).await {
            result = result.and(Err(format!("unlocking {}: {e}", accounts.join(", "))));
        }
        let _ = exec(master, &lock, limit).await;
        result.map(|()| Some(format!("{addr} writable again"))).map_err(stays)
    }

    async fn verify_frozen(&mut self) -> Result<String, String> {
        let (d, limit) = (self.d, self.limit());
        let addr = self.req.master.clone();
        let named = |e: String| format!("the master {addr}: {e}");
        let master = self.master().await.map_err(named)?;
        let mut last = read_coords(master, &d, limit).await.map_err(named)?;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = read_coords(master, &d, limit).await.map_err(named)?;
            if now == last {
                let detail = format!("at {}", describe_coords(&last));
                self.frozen_at = Some(last);
                return Ok(detail);
            }
            last = now;
        }
        Err("writes keep arriving on the frozen master".into())
    }

    async fn catch_up(&mut self, timeout: Duration) -> Result<String, String> {
        let (d, limit, gtid) = (self.d, self.limit(), self.gtid);
        let Some(last) = self.frozen_at.clone() else { return Err("the freeze was not verified".into()) };
        let secs = timeout.as_secs_f64();
        let (sql, gtid_wait) = match (&last.file, last.pos) {
            _ if gtid => (d.wait_for_gtid(&last.gtid, secs), true),
            (Some(f), Some(p)) => (d.wait_for_pos(f, p, secs), false),
            _ => return Err("the master reports no binlog coordinates".into()),
        };
        let candidate = self.req.candidate.clone();
        let waited: Option<i64> = first_value(self.cand().await?, &sql, timeout + limit).await?;
        if !d.wait_succeeded(gtid_wait, waited) {
            return Err(format!("{candidate} did not apply everything within {secs:.1} s"));
        }
        Ok(format!("caught up with {}", describe_coords(&last)))
    }

    async fn promote(&mut self, journal: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit) = (self.d, self.limit());
        self.promote_attempted = true;
        let cand_coords = read_coords(self.cand().await?, &d, limit).await;
        if let Ok(Coords { file: Some(f), pos: Some(p), .. }) = &cand_coords {
            // On disk before the switch: a run finishing a crash needs it for file:pos replicas.
            journal
                .record("switch", "ok", None, &self.req.candidate.to_string(), Vec::new(), Some(format!("{f}:{p}")))
                .map_err(|e| format!("audit log: {e}"))?;
            if !self.gtid {
                self.file_start = Some(Position::File { file: f.clone(), pos: *p });
            }
        }
        let upstream_pos = match &self.upstream {
            Some(l) if l.gtid_mode != GtidMode::No => Some(d.gtid_positioning()),
            Some(l) => {
                // file:pos: where the frozen master's SQL thread stopped in the upstream's binlog.
                let now = probe_link(&self.req.master, &self.opts).await.unwrap_or_else(|| l.clone());
                Some(Position::File { file: now.relay_source_log_file.clone(), pos: now.exec_source_log_pos })
            }
            None => None,
        };
        let upstream = self.upstream.as_ref().map(|l| l.source.clone());
        let acc = self.acc;
        let cand = self.cand().await?;
        exec(cand, d.stop_replica(), limit).await?;
        exec(cand, d.reset_replica_all(), limit).await?;
        if let (Some(source), Some(pos)) = (&upstream, &upstream_pos) {
            exec(cand, &d.change_source(source, &acc.repl_user, acc.repl_password.as_ref(), pos, acc.repl_tls), limit)
                .await?;
            exec(cand, d.start_replica(), limit).await?;
        }
        // Before the first write on a semi-sync shard: what it acknowledges is on a replica too.
        let semi = match take_over_semi_sync(cand, &d, false, limit).await {
            Ok(undo) => undo,
            Err(e) => {
                journal.warn(format!(
                    "semi-sync not switched on at {}: {e}; it takes writes asynchronously",
                    self.req.candidate
                ));
                None
            }
        };
        let detail = if semi.is_some() { "; semi-sync on (AFTER_SYNC)" } else { "" };
        self.semi_sync_undo = semi;
        let cand = self.cand().await?;
        exec(cand, d.set_read_only(false), limit).await?;
        self.write_blocked = self.freeze_started.map(|t| t.elapsed());
        self.promoted = true;
        Ok(format!("{} is the master{detail}", self.req.candidate))
    }

    /// Past the freeze and catch-up, the safest state is the old master back in charge: the
    /// candidate read-only again and replicating from it where it stood.
    async fn demote_candidate(&mut self) -> Result<Option<String>, String> {
        if !self.promote_attempted {
            return Ok(None);
        }
        let (d, limit, acc) = (self.d, self.limit(), self.acc);
        let master = self.req.master.clone();
        let pos = match (self.gtid, &self.frozen_at) {
            (true, _) => d.gtid_positioning(),
            (false, Some(Coords { file: Some(f), pos: Some(p), .. })) => Position::File { file: f.clone(), pos: *p },
            (false, _) => d.gtid_positioning(),
        };
        let undo = self.semi_sync_undo.take();
        let cand = self.cand().await?;
        demote(cand, &d, &master, acc, &pos, limit).await?;
        if let Some(sql) = undo {
            exec(cand, &sql, limit).await?;
        }
        self.promoted = false;
        Ok(Some(format!("{} replicates from {master} again", self.req.candidate)))
    }

    async fn hook(&mut self, command: &str) -> Result<String, String> {
        let env = [
            ("SHARDTOP_SHARD", self.req.shard.clone()),
            ("SHARDTOP_NEW_MASTER", self.req.candidate.to_string()),
            ("SHARDTOP_OLD_MASTER", self.req.master.to_string()),
            ("SHARDTOP_REASON", "switchover".to_string()),
        ];
        run_hook(command, &env, self.req.hook_timeout).await
    }

    async fn repoint(&mut self, replicas: &[Addr], to: &Addr, journal: &mut Journal<'_>) -> Result<String, String> {
        let mut moved = Vec::new();
        for a in replicas {
            if self.file_pos_replicas.contains(a)
                && let Some(c) = self.wait_coords.as_ref().or(self.frozen_at.as_ref())
            {
                // file:pos: the replica must stand exactly where the new master stood.
                if let Err(e) = wait_on(a, &self.opts, &self.d, c, self.req.catchup_timeout).await {
                    journal.warn(format!("{a}: {e}; not repointed"));
                    self.not_repointed.push(a.clone());
                    continue;
                }
            }
            let pos = self.position_for(a, false);
            match repoint(a, &self.opts, &self.d, to, self.acc, &pos, false).await {
                Ok(()) => moved.push(format!("{a} ({})", self.d.describe_change_source(to, &self.acc.repl_user, &pos))),
                Err(e) => {
                    journal.warn(format!("repoint {a}: {e}"));
                    self.not_repointed.push(a.clone());
                }
            }
        }
        if moved.is_empty() { Err("no replica was repointed".into()) } else { Ok(moved.join(", ")) }
    }

    async fn old_master(&mut self, to: &Addr, mode: OldMaster, journal: &mut Journal<'_>) -> Result<String, String> {
        let (d, limit, acc) = (self.d, self.limit(), self.acc);
        let pos = self.position_for(&self.req.master.clone(), true);
        let frozen_at = self.frozen_at.clone();
        let lock = format!("DO RELEASE_LOCK('{}')", self.lock_name);
        let master_addr = self.req.master.clone();
        let accounts = self.locked_accounts.clone();
        let master = self.master().await?;
        // Anything the old master wrote after the freeze never reached the new one.
        if let Some(frozen) = &frozen_at
            && let Ok(now) = read_coords(master, &d, limit).await
            && now.gtid != frozen.gtid
        {
            journal.warn(format!(
                "the old master {master_addr} took writes after the freeze (now at {}, frozen at {}): they are not \
                 on the new master",
                now.gtid, frozen.gtid
            ));
        }
        let result = match mode {
            OldMaster::Replica => follow(master, &d, to, acc, &pos, limit, true)
                .await
                .map(|()| format!("read-only replica ({})", d.describe_change_source(to, &acc.repl_user, &pos))),
            OldMaster::Detach => {
                exec(master, d.stop_replica(), limit).await.ok();
                exec(master, d.reset_replica_all(), limit).await.map(|()| "read-only, standalone".to_string())
            }
        };
        let _ = exec(master, &lock, limit).await;
        // The fence comes off only now: routing points at the new master and the old one is a
        // replica, so a reconnecting privileged writer goes where it should.
        if !accounts.is_empty() {
            match set_accounts_locked(master, &accounts, false, limit).await {
                Ok(()) => {
                    let detail = format!("unlocked {} on {master_addr}", accounts.join(", "));
                    journal
                        .record("unfence", "ok", None, &detail, accounts, None)
                        .map_err(|e| format!("audit log: {e}"))?;
                }
                Err(e) => journal.warn(format!("could not unlock {} on {master_addr}: {e}", accounts.join(", "))),
            }
        }
        result
    }

    async fn unfence(&mut self, accounts: &[String], journal: &mut Journal<'_>) -> Result<String, String> {
        let limit = self.limit();
        let master = self.master().await?;
        set_accounts_locked(master, accounts, false, limit).await?;
        let detail = format!("unlocked {}", accounts.join(", "));
        journal.attach_accounts(accounts.to_vec());
        Ok(detail)
    }

    async fn marker(&mut self) -> Result<String, String> {
        // A replica the repoint step could not reach (named there) would only make this step
        // wait its whole limit for a row it cannot get.
        let (followers, skipped): (Vec<Addr>, Vec<Addr>) =
            self.followers.iter().cloned().partition(|f| !self.not_repointed.contains(f));
        let (opts, shard, run, limit) = (self.opts.clone(), self.req.shard.clone(), self.run.clone(), self.limit());
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

impl Executor<PromoteStep> for PromoteExec<'_> {
    async fn act(&mut self, step: &PromoteStep, journal: &mut Journal<'_>) -> Result<String, String> {
        match step {
            PromoteStep::Freeze { .. } => self.freeze(journal).await,
            PromoteStep::VerifyFrozen { .. } => self.verify_frozen().await,
            PromoteStep::CatchUp { timeout, .. } => self.catch_up(*timeout).await,
            PromoteStep::Promote { .. } => self.promote(journal).await,
            PromoteStep::Hook { command } => self.hook(command).await,
            PromoteStep::Repoint { replicas, to } => self.repoint(replicas, to, journal).await,
            PromoteStep::Detach { replica } => {
                detach(replica, &self.opts, &self.d).await.map(|()| "replication stopped and reset".into())
            }
            PromoteStep::OldMaster { to, mode, .. } => self.old_master(to, *mode, journal).await,
            PromoteStep::Unfence { accounts, .. } => self.unfence(accounts, journal).await,
            PromoteStep::Marker { .. } => self.marker().await,
            PromoteStep::Finish { .. } => Ok("resuming after the point of no return".into()),
        }
    }

    async fn rollback(&mut self, step: &PromoteStep, _: &mut Journal<'_>) -> Result<Option<String>, String> {
        match step {
            PromoteStep::Freeze { .. } => self.unfreeze().await,
            PromoteStep::Promote { .. } => self.demote_candidate().await,
            _ => Ok(None),
        }
    }
}
