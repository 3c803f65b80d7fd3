//! `shardtop promote`: a planned switchover from the command line, plan first, then confirmed.

use super::action_runner::promote_parts;
use super::{CmdResult, CommandError, load_config};
use crate::cli::Cli;

/// `shardtop promote`: exit 0 promoted, 1 refused (nothing changed), 2 failed
/// and rolled back, 3 failed and the rollback failed too (look at the shard).
pub async fn promote(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    use crate::actions::promote::{self as pr, OldMaster};
    let crate::cli::Command::Promote {
        shard,
        to,
        dry_run,
        yes,
        timeout,
        force_checks,
        old_master,
        detach,
        no_kill,
        ..
    } = cmd
    else {
        return Err(CommandError::new(1, "internal: not a promote command"));
    };
    let cfg = load_config(cli, 1)?.config;
    let act = &cfg.actions;
    if !dry_run {
        if cli.read_only.on {
            return Err(CommandError::new(1, "--read-only: promotion writes to servers; only --dry-run is allowed"));
        }
        if !act.enabled {
            return Err(CommandError::new(
                1,
                "actions are disabled: set [actions] enabled = true (with its admin and replication accounts) to promote; --dry-run works without",
            ));
        }
    }
    let (mut req, accounts) = promote_parts(&cfg, shard, to)?;
    req.catchup_timeout = timeout.unwrap_or(act.catchup_timeout);
    req.force_checks = force_checks.clone();
    req.old_master = match old_master {
        crate::cli::OldMasterChoice::Replica => OldMaster::Replica,
        crate::cli::OldMasterChoice::Detach => OldMaster::Detach,
    };
    req.detach = detach.clone();
    req.kill_unstoppable_writers = !no_kill;
    let sc_name = req.shard.clone();
    let mut print = |p: &crate::actions::Progress| print_progress(p);
    // Always the plan first: a dry run of the same request.
    let mut none = crate::actions::audit::AuditLog::open(None).map_err(|e| CommandError::new(1, e.to_string()))?;
    if let Err(e) = pr::promote(&req, &accounts, &act.lock_dir, &mut none, &mut print).await {
        println!("{e}");
        return Ok(1);
    }
    if let Some(code) = stop_after_plan(*dry_run, *yes, &sc_name)? {
        return Ok(code);
    }
    req.dry_run = false;
    let mut run = open_audit(&cfg, act)?;
    let result = pr::promote(&req, &accounts, &act.lock_dir, &mut run.log, &mut print).await;
    run.finish().await;
    match result {
        Ok(o) => {
            for w in &o.warnings {
                println!("warning: {w}");
            }
            println!(
                "promoted {} to master of {}: {} (audit: {})",
                req.candidate,
                req.shard,
                o.timing(),
                act.audit_log.display()
            );
            Ok(0)
        }
        Err(e @ pr::PromoteError::Refused(_)) => {
            println!("{e}");
            Ok(1)
        }
        Err(e @ pr::PromoteError::Failed { rolled_back: true, .. }) => {
            println!("{e}");
            Ok(2)
        }
        Err(e) => {
            println!("{e}");
            Ok(3)
        }
    }
}

pub(super) fn print_progress(p: &crate::actions::Progress) {
    use crate::actions::Progress;
    match p {
        Progress::Checks(checks) => {
            println!("checks:");
            for c in checks {
                let mark = if c.ok {
                    "ok  "
                } else if c.forced {
                    "FORCED"
                } else {
                    "FAIL"
                };
                println!("  {mark:<6} {:<20} {}", c.name, c.detail);
            }
        }
        Progress::Plan(steps) => {
            println!("plan:");
            for (i, s) in steps.iter().enumerate() {
                println!("  {}. {:<14} {}", i + 1, s.name, s.what);
            }
        }
        Progress::Started { .. } => {}
        Progress::Finished { step, took, detail } => {
            println!("  ✓ {step:<14} {:>8.1} ms  {detail}", took.as_secs_f64() * 1e3)
        }
        Progress::Failed { step, took, error } => {
            println!("  ✖ {step:<14} {:>8.1} ms  {error}", took.as_secs_f64() * 1e3)
        }
        Progress::RolledBack { detail } => println!("  ↺ rolled back: {detail}"),
    }
}

/// After the plan was shown: `Some(exit code)` when the run ends there — a dry run, or not
/// confirmed — and `None` to go ahead.
pub(super) fn stop_after_plan(dry_run: bool, yes: bool, shard: &str) -> Result<Option<u8>, CommandError> {
    if dry_run {
        println!("dry run: nothing was changed");
        return Ok(Some(0));
    }
    if !yes && !confirm(shard)? {
        println!("not confirmed: nothing was changed");
        return Ok(Some(1));
    }
    Ok(None)
}

/// The audit log of `[actions]`, opened for appending, or why it cannot be.
pub(super) fn open_audit(
    cfg: &crate::config::Config,
    act: &crate::config::ActionsConfig,
) -> Result<super::AuditedRun, CommandError> {
    super::AuditedRun::open(cfg, Some(&act.audit_log))
        .map_err(|e| CommandError::new(1, format!("cannot open the audit log {}: {e}", act.audit_log.display())))
}

/// Ask for the shard name on the terminal; no terminal means no.
pub(super) fn confirm(shard: &str) -> Result<bool, CommandError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::new(1, "no terminal to confirm on: pass --yes to go ahead without asking"));
    }
    print!("type the shard name ({shard}) to go ahead: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CommandError::new(1, e.to_string()))?;
    Ok(line.trim() == shard)
}
