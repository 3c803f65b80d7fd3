//! The TUI's actions (promotion, checksum) run with the config's accounts and settings, and the
//! requests both front ends build from the config (`promote_parts`, `checksum_parts`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::CommandError;
use super::discovery::with_discovered;
use crate::config::Config;
use crate::fleet::Addr;
use crate::setup::probe_options;

/// The config as this session knows it: a promotion made from the TUI moves its shard's master
/// here, so the next action on that shard, the heartbeat writer and the feed probe follow the
/// servers' real roles.
pub(super) type SessionConfig = Arc<tokio::sync::watch::Sender<Arc<Config>>>;

/// Runs the TUI's actions with the config's accounts and settings.
pub(super) struct ConfigRunner {
    pub(super) cfg: SessionConfig,
    /// Where the actions' outcomes are notified (`[alerts]`), read off their audit logs.
    pub(super) outcomes: Option<crate::alerts::Outbox>,
    /// Who starts these actions when not the person at this terminal (a remote viewer's token
    /// name): the audit log names them.
    pub(super) by: Option<String>,
}

/// Where an action's progress goes, where its outcome is notified, and who started it.
type Reply = (mpsc::UnboundedSender<crate::ui::action::ActionMsg>, Option<crate::alerts::Outbox>, Option<String>);

/// `cfg` with `new_master` as the master of `shard`: the old master joins the replicas (a
/// promotion makes it one) and the new one leaves them. A shard whose replicas are discovered
/// (none listed) keeps discovering them, now from the new master.
pub fn with_new_master(cfg: &Config, shard: &str, new_master: &Addr) -> Config {
    let mut cfg = cfg.clone();
    if let Some(sc) = cfg.shards.iter_mut().find(|s| s.name == shard)
        && sc.master != *new_master
    {
        let old = std::mem::replace(&mut sc.master, new_master.clone());
        if !sc.replicas.is_empty() {
            sc.replicas.retain(|r| r != new_master);
            sc.replicas.insert(0, old);
        }
    }
    cfg
}

impl crate::ui::action::ActionRunner for ConfigRunner {
    fn start(
        &self,
        kind: crate::ui::action::ActionKind,
        shard: String,
        dry_run: bool,
        stop: Arc<std::sync::atomic::AtomicBool>,
        tx: mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
    ) {
        use crate::ui::action::ActionKind;
        let cfg = self.cfg.borrow().clone();
        match kind {
            ActionKind::Promote { candidate, .. } => {
                tokio::spawn(tui_promote(
                    cfg,
                    self.cfg.clone(),
                    shard,
                    candidate,
                    dry_run,
                    (tx, self.outcomes.clone(), self.by.clone()),
                ));
            }
            ActionKind::Failover { candidate, replicas, seen, .. } => {
                tokio::spawn(tui_failover(
                    cfg,
                    self.cfg.clone(),
                    shard,
                    (candidate, replicas, seen),
                    dry_run,
                    (tx, self.outcomes.clone(), self.by.clone()),
                ));
            }
            ActionKind::Fence { instance, .. } => {
                let reply = (tx, self.outcomes.clone(), self.by.clone());
                tokio::spawn(tui_fence_or_rejoin(cfg, shard, instance, true, dry_run, reply));
            }
            ActionKind::Rejoin { instance, .. } => {
                let reply = (tx, self.outcomes.clone(), self.by.clone());
                tokio::spawn(tui_fence_or_rejoin(cfg, shard, instance, false, dry_run, reply));
            }
            ActionKind::Checksum { .. } => {
                tokio::spawn(tui_checksum(cfg, shard, dry_run, stop, (tx, self.outcomes.clone(), self.by.clone())));
            }
        }
    }
}

/// The audit log a TUI action writes (none for a dry run); `None` when it cannot be opened, after
/// telling the dialog why.
fn audit_log(
    cfg: &Config,
    dry_run: bool,
    tx: &mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
    outcomes: Option<crate::alerts::Outbox>,
    by: Option<String>,
) -> Option<crate::actions::audit::AuditLog> {
    let path = if dry_run { None } else { Some(cfg.actions.audit_log.as_path()) };
    match crate::actions::audit::AuditLog::open(path) {
        Ok(a) => Some(match outcomes.map(|o| o.observer()) {
            Some(o) => a.by(by).observed(o),
            None => a.by(by),
        }),
        Err(e) => {
            let summary = format!("cannot open the audit log {}: {e}", cfg.actions.audit_log.display());
            let _ = tx.send(crate::ui::action::ActionMsg::Finished { ok: false, summary });
            None
        }
    }
}

/// An action's progress, forwarded to its dialog.
fn progress_to(
    tx: &mpsc::UnboundedSender<crate::ui::action::ActionMsg>,
) -> impl FnMut(&crate::actions::Progress) + Send + use<> {
    let tx = tx.clone();
    move |p: &crate::actions::Progress| {
        let _ = tx.send(crate::ui::action::ActionMsg::Progress(p.clone()));
    }
}

async fn tui_promote(
    cfg: Arc<Config>,
    session: SessionConfig,
    shard: String,
    candidate: Addr,
    dry_run: bool,
    (tx, outcomes, by): Reply,
) {
    use crate::ui::action::ActionMsg;
    let (mut req, accounts) = match promote_parts(&cfg, &shard, &candidate) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    req.dry_run = dry_run;
    let Some(mut audit) = audit_log(&cfg, dry_run, &tx, outcomes, by) else { return };
    let mut progress = progress_to(&tx);
    let result =
        crate::actions::promote::promote(&req, &accounts, &cfg.actions.lock_dir, &mut audit, &mut progress).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(o)) => {
            let mut summary = format!("{} is the master of {}: {}", req.candidate, req.shard, o.timing());
            for w in &o.warnings {
                summary.push_str(&format!("\nwarning: {w}"));
            }
            log::warn!(target: "actions", "{}", summary.lines().next().unwrap_or_default());
            if o.promoted {
                // This session follows the new roles; the file is the operator's (or the hook's).
                let current = session.borrow().clone();
                session.send_replace(Arc::new(with_new_master(&current, &req.shard, &req.candidate)));
                let _ = tx.send(ActionMsg::Promoted { shard: req.shard.clone(), new_master: req.candidate.clone() });
                log::warn!(
                    target: "actions",
                    "{}: this session now treats {} as the master; update the config ([[shard]] master = \"{}\") \
                     before the next start",
                    req.shard,
                    req.candidate,
                    req.candidate
                );
            }
            ActionMsg::Finished { ok: o.warnings.is_empty(), summary }
        }
        (false, Err(e)) => {
            log::error!(target: "actions", "promotion of {} failed: {e}", req.candidate);
            ActionMsg::Finished { ok: false, summary: e.to_string() }
        }
    };
    let _ = tx.send(msg);
}

async fn tui_checksum(
    cfg: Arc<Config>,
    shard: String,
    dry_run: bool,
    stop: Arc<std::sync::atomic::AtomicBool>,
    (tx, outcomes, by): Reply,
) {
    use crate::ui::action::ActionMsg;
    let (mut req, opts) = match checksum_parts(&cfg, &shard) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    req.dry_run = dry_run;
    let (replicas, warnings) =
        with_discovered(cfg.clone(), req.shard.clone(), req.master.clone(), req.replicas.clone()).await;
    req.replicas = replicas;
    for w in warnings {
        log::warn!(target: "actions", "{w}");
    }
    let events_tx = tx.clone();
    let mut events = move |e: &crate::actions::checksum::Event| {
        let _ = events_tx.send(ActionMsg::Checksum(e.clone()));
    };
    let Some(mut audit) = audit_log(&cfg, dry_run, &tx, outcomes, by) else { return };
    let result = crate::actions::checksum::run(&req, opts, stop, &mut audit, &mut events).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(r)) => {
            let mut summary = format!(
                "{} rows in {:.1} s ({:.0} rows/s), {} differing chunks{}",
                r.rows,
                r.seconds,
                r.rows_per_second,
                r.diffs.len(),
                if r.interrupted { "; stopped: continue with `shardtop checksum --resume`" } else { "" }
            );
            for why in &r.incomplete {
                summary.push_str(&format!("\nincomplete: {why}"));
            }
            for d in r.diffs.iter().take(12) {
                summary.push_str(&format!(
                    "\n{} rows {} vs {}",
                    d.place(),
                    d.this_cnt,
                    d.master_cnt.map_or("NULL".into(), |v| v.to_string())
                ));
            }
            log::info!(target: "actions", "checksum of {}: {}", req.shard, summary.lines().next().unwrap_or_default());
            ActionMsg::Finished { ok: r.exit_code() == 0, summary }
        }
        (false, Err(e)) => ActionMsg::Finished { ok: false, summary: e.to_string() },
    };
    let _ = tx.send(msg);
}

/// What the TUI knows about a shard whose master is down: the operator's candidate, the
/// replicas (discovered ones included) and its memory of the master.
type FailoverInput = (Option<Addr>, Vec<Addr>, crate::actions::failover::Seen);

async fn tui_failover(
    cfg: Arc<Config>,
    session: SessionConfig,
    shard: String,
    (candidate, replicas, seen): FailoverInput,
    dry_run: bool,
    (tx, outcomes, by): Reply,
) {
    use crate::ui::action::ActionMsg;
    // The session's replicas stand in for the config's: the TUI also knows discovered ones.
    let mut session_cfg = (*cfg).clone();
    if let Some(sc) = session_cfg.shards.iter_mut().find(|s| s.name == shard)
        && sc.replicas.is_empty()
    {
        sc.replicas = replicas;
    }
    let (mut req, accounts) = match failover_parts(&session_cfg, &shard, candidate.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    req.dry_run = dry_run;
    req.seen = Some(seen);
    let Some(mut audit) = audit_log(&cfg, dry_run, &tx, outcomes, by) else { return };
    let mut progress = progress_to(&tx);
    let result =
        crate::actions::failover::failover(&req, &accounts, &cfg.actions.lock_dir, &mut audit, &mut progress).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(o)) => {
            let new_master = o.candidate.clone();
            let who = new_master.as_ref().map(ToString::to_string).unwrap_or_default();
            let mut summary = match o.writable_after {
                Some(w) => format!(
                    "{who} took over {}: writable after {:.0} ms; {}",
                    req.shard,
                    w.as_secs_f64() * 1e3,
                    o.loss.summary
                ),
                // An interrupted failover finished: an earlier run made it writable.
                None => format!("{who} took over {}: finished an interrupted failover; {}", req.shard, o.loss.summary),
            };
            for w in &o.warnings {
                summary.push_str(&format!("\nwarning: {w}"));
            }
            log::warn!(target: "actions", "{}", summary.lines().next().unwrap_or_default());
            if let (true, Some(new)) = (o.promoted, new_master) {
                let current = session.borrow().clone();
                session.send_replace(Arc::new(with_new_master(&current, &req.shard, &new)));
                let _ = tx.send(ActionMsg::Promoted { shard: req.shard.clone(), new_master: new.clone() });
                log::warn!(
                    target: "actions",
                    "{}: this session now treats {new} as the master; update the config ([[shard]] master = \"{new}\") \
                     before the next start",
                    req.shard
                );
            }
            ActionMsg::Finished { ok: o.warnings.is_empty(), summary }
        }
        (false, Err(e)) => ActionMsg::Finished { ok: false, summary: e.to_string() },
    };
    let _ = tx.send(msg);
}

/// Fence `instance` (read-only), or rejoin it as a replica of the shard's master (`fence_only`
/// false): the shard's members are the session config's, which follows this session's promotions.
async fn tui_fence_or_rejoin(
    cfg: Arc<Config>,
    shard: String,
    instance: Addr,
    fence_only: bool,
    dry_run: bool,
    (tx, outcomes, by): Reply,
) {
    use crate::actions::rejoin as rj;
    use crate::ui::action::ActionMsg;
    let (pr, accounts) = match promote_parts(&cfg, &shard, &instance) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(ActionMsg::Planned(Err(e.message)));
            return;
        }
    };
    let req = rj::Request {
        shard: shard.clone(),
        instance: instance.clone(),
        members: std::iter::once(pr.master).chain(pr.replicas).collect(),
        master: None,
        fence_only,
        dry_run,
    };
    let Some(mut audit) = audit_log(&cfg, dry_run, &tx, outcomes, by) else { return };
    let mut progress = progress_to(&tx);
    let result = rj::rejoin(&req, &accounts, &cfg.actions.lock_dir, &mut audit, &mut progress).await;
    let msg = match (dry_run, result) {
        (true, Ok(_)) => ActionMsg::Planned(Ok(())),
        (true, Err(e)) => ActionMsg::Planned(Err(e.to_string())),
        (false, Ok(o)) => {
            let mut summary = match &o.master {
                Some(m) if !fence_only => format!("{instance} rejoined {shard} as a replica of {m}"),
                _ => format!("{instance} is read-only"),
            };
            log::warn!(target: "actions", "{shard}: {summary}");
            for w in &o.warnings {
                summary.push_str(&format!("\nwarning: {w}"));
            }
            ActionMsg::Finished { ok: o.warnings.is_empty(), summary }
        }
        (false, Err(e)) => ActionMsg::Finished { ok: false, summary: e.to_string() },
    };
    let _ = tx.send(msg);
}

/// A promotion request for `shard` with the config's defaults, and the accounts it uses.
pub fn promote_parts(
    cfg: &Config,
    shard: &str,
    candidate: &Addr,
) -> Result<(crate::actions::promote::Request, crate::actions::promote::Accounts), CommandError> {
    use crate::actions::promote as pr;
    let act = &cfg.actions;
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else {
        let names: Vec<&str> = cfg.shards.iter().map(|s| s.name.as_str()).collect();
        return Err(CommandError::new(1, format!("no shard named {shard:?}; the config has {}", names.join(", "))));
    };
    // A dry run only reads: without an admin account it reads as the monitor.
    let (admin_user, admin_password) = if act.user.is_empty() {
        (cfg.defaults.user.clone(), cfg.defaults.password.clone())
    } else {
        (act.user.clone(), act.password.clone())
    };
    let accounts = pr::Accounts {
        admin_user,
        admin_password,
        repl_user: act.replication_user.clone(),
        repl_password: act.replication_password.clone(),
        repl_tls: act.replication_tls,
        tls: probe_options(cfg).tls.clone(),
        timeout: cfg.poll.timeout.max(Duration::from_secs(2)),
    };
    let req = pr::Request {
        shard: sc.name.clone(),
        master: sc.master.clone(),
        replicas: sc.replicas.clone(),
        candidate: candidate.clone(),
        dry_run: true,
        catchup_timeout: act.catchup_timeout,
        max_lag: cfg.thresholds.lag_warn,
        force_checks: Vec::new(),
        old_master: pr::OldMaster::Replica,
        detach: Vec::new(),
        kill_unstoppable_writers: true,
        hook: act.post_promote_hook.clone(),
        hook_timeout: act.hook_timeout,
    };
    Ok((req, accounts))
}

/// A failover request for `shard` with the config's settings (`candidate`: the operator's
/// `--to`), and the accounts it uses. A dead master cannot name its replicas, so a shard whose
/// replicas are discovered must list them (or fail over from the TUI, which knows them).
pub fn failover_parts(
    cfg: &Config,
    shard: &str,
    candidate: Option<&Addr>,
) -> Result<(crate::actions::failover::Request, crate::actions::promote::Accounts), CommandError> {
    use crate::actions::failover as fo;
    // The same accounts and lookup as a promotion.
    let placeholder = candidate.cloned().unwrap_or_else(|| Addr::new("", 0));
    let (pr, accounts) = promote_parts(cfg, shard, &placeholder)?;
    if pr.replicas.is_empty() {
        return Err(CommandError::new(
            1,
            format!(
                "shard {shard}'s replicas are discovered from its master, which cannot be asked now: list them in                  the config ([[shard]] replicas = [...]), or fail over from the TUI, which knows them"
            ),
        ));
    }
    let sc = cfg.shards.iter().find(|s| s.name == shard);
    let act = &cfg.actions;
    let req = fo::Request {
        shard: pr.shard,
        master: pr.master,
        replicas: pr.replicas,
        candidate: candidate.cloned(),
        dry_run: true,
        relay_timeout: act.catchup_timeout,
        catchup_timeout: act.catchup_timeout,
        force_checks: Vec::new(),
        pre_hook: act.pre_failover_hook.clone(),
        hook: act.post_promote_hook.clone(),
        hook_timeout: act.hook_timeout,
        upstream: sc.and_then(|s| s.upstream.clone()),
        promotion: sc.map(|s| s.promotion.clone()).unwrap_or_default(),
        seen: None,
        audit_log: act.audit_log.clone(),
    };
    Ok((req, accounts))
}

/// A checksum request for `shard` with the config's settings, and the admin connection options.
pub fn checksum_parts(
    cfg: &Config,
    shard: &str,
) -> Result<(crate::actions::checksum::Request, Arc<crate::probe::ProbeOptions>), CommandError> {
    let act = &cfg.actions;
    let Some(sc) = cfg.shards.iter().find(|s| s.name == shard) else {
        return Err(CommandError::new(2, format!("no shard named {shard:?} in the config")));
    };
    let mut opts = (*probe_options(cfg)).clone();
    if !act.user.is_empty() {
        opts.user = act.user.clone();
        opts.password = act.password.clone();
    }
    opts.timeout = opts.timeout.max(Duration::from_secs(2));
    let req = crate::actions::checksum::Request {
        shard: sc.name.clone(),
        master: sc.master.clone(),
        replicas: sc.replicas.clone(),
        tables: Vec::new(),
        databases: Vec::new(),
        result_table: cfg.checksum.table.clone(),
        chunk_time: cfg.checksum.chunk_time,
        max_lag: cfg.checksum.max_lag,
        max_threads_running: cfg.checksum.max_threads_running,
        replica_timeout: cfg.checksum.replica_timeout,
        resume: false,
        dry_run: true,
    };
    Ok((req, Arc::new(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(replicas: &[&str]) -> Config {
        let mut c = Config::default();
        c.shards.push(crate::config::ShardConfig {
            name: "s1".into(),
            master: Addr::new("db1", 3306),
            replicas: replicas.iter().map(|r| Addr::new(*r, 3306)).collect(),
            upstream: None,
            promotion: vec![],
        });
        c
    }

    #[test]
    fn after_a_promotion_the_session_config_names_the_new_master() {
        let c = with_new_master(&cfg(&["db2", "db3"]), "s1", &Addr::new("db3", 3306));
        assert_eq!(c.shards[0].master, Addr::new("db3", 3306));
        assert_eq!(c.shards[0].replicas, vec![Addr::new("db1", 3306), Addr::new("db2", 3306)]);
        // Discovered replicas stay discovered, now from the new master.
        let c = with_new_master(&cfg(&[]), "s1", &Addr::new("db9", 3306));
        assert_eq!((c.shards[0].master.clone(), c.shards[0].replicas.len()), (Addr::new("db9", 3306), 0));
        // Another shard's name, or the master itself, changes nothing.
        assert_eq!(with_new_master(&cfg(&["db2"]), "s2", &Addr::new("db2", 3306)), cfg(&["db2"]));
        assert_eq!(with_new_master(&cfg(&["db2"]), "s1", &Addr::new("db1", 3306)), cfg(&["db2"]));
        // The next action's request starts from the new roles.
        let (req, _) = promote_parts(
            &with_new_master(&cfg(&["db2", "db3"]), "s1", &Addr::new("db2", 3306)),
            "s1",
            &Addr::new("db1", 3306),
        )
        .expect("parts");
        assert_eq!(
            (req.master, req.replicas),
            (Addr::new("db2", 3306), vec![Addr::new("db1", 3306), Addr::new("db3", 3306)])
        );
    }
}
