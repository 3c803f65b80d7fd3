//! `shardtop fence` and `shardtop rejoin`: a former master after a failover, read-only at once,
//! then a replica of the new master when its history allows it.

use super::action_runner::promote_parts;
use super::promote::{open_audit, print_progress, stop_after_plan};
use super::{CmdResult, CommandError, load_config};
use crate::actions::rejoin::{self as rj, RejoinError};
use crate::cli::Cli;
use crate::fleet::Addr;

pub async fn fence(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    let crate::cli::Command::Fence { shard, instance, dry_run, yes, .. } = cmd else {
        return Err(CommandError::new(1, "internal: not a fence command"));
    };
    run(cli, shard, instance, None, true, *dry_run, *yes).await
}

pub async fn rejoin(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    let crate::cli::Command::Rejoin { shard, instance, master, dry_run, yes, .. } = cmd else {
        return Err(CommandError::new(1, "internal: not a rejoin command"));
    };
    run(cli, shard, instance, master.clone(), false, *dry_run, *yes).await
}

async fn run(
    cli: &Cli,
    shard: &str,
    instance: &Addr,
    master: Option<Addr>,
    fence_only: bool,
    dry_run: bool,
    yes: bool,
) -> CmdResult {
    let verb = if fence_only { "fence" } else { "rejoin" };
    let cfg = load_config(cli, 1)?.config;
    let act = &cfg.actions;
    if !dry_run {
        if cli.read_only.on {
            return Err(CommandError::new(
                1,
                format!("--read-only: {verb} writes to a server; only --dry-run is allowed"),
            ));
        }
        if !act.enabled {
            return Err(CommandError::new(
                1,
                format!("actions are disabled: set [actions] enabled = true to {verb}; --dry-run works without"),
            ));
        }
    }
    // The same shard lookup and accounts as a promotion.
    let (pr, accounts) = promote_parts(&cfg, shard, instance)?;
    let members: Vec<Addr> = std::iter::once(pr.master).chain(pr.replicas).collect();
    if !members.contains(instance) {
        return Err(CommandError::new(1, format!("{instance} is not a member of shard {shard} in the config")));
    }
    let mut req = rj::Request {
        shard: shard.to_string(),
        instance: instance.clone(),
        members,
        master,
        fence_only,
        dry_run: true,
    };
    let mut print = |p: &crate::actions::Progress| print_progress(p);
    let mut none = crate::actions::audit::AuditLog::open(None).map_err(|e| CommandError::new(1, e.to_string()))?;
    if let Err(e) = rj::rejoin(&req, &accounts, &act.lock_dir, &mut none, &mut print).await {
        println!("{e}");
        return Ok(1);
    }
    if let Some(code) = stop_after_plan(dry_run, yes, shard)? {
        return Ok(code);
    }
    req.dry_run = false;
    let mut run = open_audit(&cfg, act)?;
    let result = rj::rejoin(&req, &accounts, &act.lock_dir, &mut run.log, &mut print).await;
    run.finish().await;
    match result {
        Ok(o) => {
            for w in &o.warnings {
                println!("warning: {w}");
            }
            match &o.master {
                Some(m) => {
                    println!("{instance} rejoined {shard} as a replica of {m} (audit: {})", act.audit_log.display())
                }
                None => println!("{instance} fenced: read-only (audit: {})", act.audit_log.display()),
            }
            Ok(0)
        }
        Err(e @ RejoinError::Refused(_)) => {
            println!("{e}");
            Ok(1)
        }
        Err(e) => {
            println!("{e}");
            Ok(2)
        }
    }
}
