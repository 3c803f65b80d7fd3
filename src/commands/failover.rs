//! `shardtop failover`: a replica takes over from a dead master, from the command line. The
//! verdict, the candidates and the plan first (a dry run of the same request), then confirmed.

use super::action_runner::failover_parts;
use super::promote::{open_audit, print_progress, stop_after_plan};
use super::{CmdResult, CommandError, load_config};
use crate::actions::failover::{self as fo, FailoverError};
use crate::cli::Cli;

/// Exit 0 failed over, 1 refused (nothing changed), 2 failed and rolled back, 3 failed and the
/// rollback failed too (look at the shard).
pub async fn failover(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    let crate::cli::Command::Failover { shard, to, dry_run, yes, timeout, force_checks, .. } = cmd else {
        return Err(CommandError::new(1, "internal: not a failover command"));
    };
    let cfg = load_config(cli, 1)?.config;
    let act = &cfg.actions;
    if !dry_run {
        if cli.read_only.on {
            return Err(CommandError::new(1, "--read-only: failover writes to servers; only --dry-run is allowed"));
        }
        if !act.enabled {
            return Err(CommandError::new(
                1,
                "actions are disabled: set [actions] enabled = true (with its admin and replication accounts) to \
                 fail over; --dry-run works without",
            ));
        }
    }
    let (mut req, accounts) = failover_parts(&cfg, shard, to.as_ref())?;
    if let Some(t) = timeout {
        req.relay_timeout = *t;
        req.catchup_timeout = *t;
    }
    req.force_checks = force_checks.clone();
    let mut print = |p: &crate::actions::Progress| print_progress(p);
    // Always the plan first: a dry run of the same request.
    let mut none = crate::actions::audit::AuditLog::open(None).map_err(|e| CommandError::new(1, e.to_string()))?;
    if let Err(e) = fo::failover(&req, &accounts, &act.lock_dir, &mut none, &mut print).await {
        println!("{e}");
        return Ok(1);
    }
    if let Some(code) = stop_after_plan(*dry_run, *yes, shard)? {
        return Ok(code);
    }
    req.dry_run = false;
    let mut run = open_audit(&cfg, act)?;
    let result = fo::failover(&req, &accounts, &act.lock_dir, &mut run.log, &mut print).await;
    run.finish().await;
    match result {
        Ok(o) => {
            for w in &o.warnings {
                println!("warning: {w}");
            }
            println!("{}", o.loss.summary);
            let to = o.candidate.map(|c| c.to_string()).unwrap_or_default();
            match o.writable_after {
                Some(w) => println!(
                    "failed over {} to {to}: writable after {:.0} ms, total {:.0} ms (audit: {})",
                    req.shard,
                    w.as_secs_f64() * 1e3,
                    o.total.as_secs_f64() * 1e3,
                    act.audit_log.display()
                ),
                // An interrupted failover finished: the earlier run made it writable.
                None => println!(
                    "finished the interrupted failover of {} to {to}: total {:.0} ms (audit: {})",
                    req.shard,
                    o.total.as_secs_f64() * 1e3,
                    act.audit_log.display()
                ),
            }
            Ok(0)
        }
        Err(e @ FailoverError::Refused(_)) => {
            println!("{e}");
            Ok(1)
        }
        Err(e @ FailoverError::Failed { rolled_back: true, .. }) => {
            println!("{e}");
            Ok(2)
        }
        Err(e) => {
            println!("{e}");
            Ok(3)
        }
    }
}
