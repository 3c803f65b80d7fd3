//! `shardtop checksum`: the pt-table-checksum compatible consistency check from the command line.

use std::sync::Arc;
use std::time::Duration;

use super::action_runner::checksum_parts;
use super::discovery::with_discovered;
use super::{CmdResult, CommandError, load_config};
use crate::cli::{Cli, Format};

/// `shardtop checksum`: exit 0 consistent, 1 differences, 2 failed, 3 interrupted, 4 incomplete.
pub async fn checksum(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
    use crate::actions::Progress;
    use crate::actions::checksum::{self as ck, Event};
    use std::sync::atomic::{AtomicBool, Ordering};
    let crate::cli::Command::Checksum { shard, tables, databases, dry_run, resume, format, method, .. } = cmd else {
        return Err(CommandError::new(2, "internal: not a checksum command"));
    };
    let cfg = load_config(cli, 2)?.config;
    let act = &cfg.actions;
    if !dry_run && (cli.read_only.on || !act.enabled) {
        return Err(CommandError::new(
            2,
            if cli.read_only.on {
                "--read-only: the checksum writes its results to the servers; only --dry-run is allowed"
            } else {
                "actions are disabled: set [actions] enabled = true (with its admin account) to checksum; --dry-run works without"
            },
        ));
    }
    let (mut req, opts) = checksum_parts(&cfg, shard)?;
    let (replicas, warnings) =
        with_discovered(Arc::new(cfg.clone()), req.shard.clone(), req.master.clone(), req.replicas.clone()).await;
    req.replicas = replicas;
    for w in warnings {
        println!("warning: {w}");
    }
    req.tables = tables.clone();
    req.databases = databases.clone();
    req.resume = *resume;
    req.dry_run = *dry_run;
    let sc_name = req.shard.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.store(true, Ordering::Relaxed);
        }
    });
    let json = *format == Format::Json;
    let mut last_line = std::time::Instant::now() - Duration::from_secs(10);
    let mut last_pause: Option<String> = None;
    let mut paused_at: Option<std::time::Instant> = None;
    let started = std::time::Instant::now();
    let mut on_event = |e: &Event| {
        if json {
            return;
        }
        match e {
            Event::Plan { tables, steps } => {
                println!("tables ({}):", tables.len());
                for t in tables {
                    println!("  {}", t.describe());
                }
                if *dry_run {
                    println!("plan:");
                    for (i, s) in steps.iter().enumerate() {
                        println!("  {}. {} — {}", i + 1, s.name, s.what);
                    }
                }
            }
            Event::Chunk { db, tbl, done_rows, total_rows, .. } if last_line.elapsed() > Duration::from_secs(2) => {
                last_line = std::time::Instant::now();
                let secs = started.elapsed().as_secs_f64();
                let rate = *done_rows as f64 / secs.max(1e-9);
                let eta =
                    if rate > 0.0 && total_rows > done_rows { (*total_rows - *done_rows) as f64 / rate } else { 0.0 };
                println!("  {db}.{tbl}: {done_rows} of ~{total_rows} rows, {rate:.0} rows/s, ETA {eta:.0} s");
            }
            // A new reason at once; the same one again at most every 2 s.
            Event::Paused { reason }
                if last_pause.as_deref() != Some(reason.as_str()) || last_line.elapsed() > Duration::from_secs(2) =>
            {
                last_line = std::time::Instant::now();
                last_pause = Some(reason.clone());
                paused_at.get_or_insert(last_line);
                println!("  paused: {reason}");
            }
            Event::Resumed => {
                last_pause = None;
                if let Some(at) = paused_at.take() {
                    println!("  resumed after {:.1} s", at.elapsed().as_secs_f64());
                }
            }
            Event::Note { text } => println!("  note: {text}"),
            // Every table ends with its verdict; comparisons with their count.
            Event::Step(Progress::Finished { step: "table" | "compare", detail, .. }) => println!("  {detail}"),
            Event::Step(Progress::Failed { step, error, .. }) if *step != "prepare" => println!("  {step}: {error}"),
            _ => {}
        }
    };
    let audit_path = if *dry_run { None } else { Some(act.audit_log.as_path()) };
    let mut run = match super::AuditedRun::open(&cfg, audit_path) {
        Ok(a) => a,
        Err(e) => {
            println!("checksum failed: cannot open the audit log {}: {e}", act.audit_log.display());
            return Ok(2);
        }
    };
    if *method == crate::cli::ChecksumMethod::Table {
        let r = ck::run_table_method(&req, opts.clone(), &stop, &mut run.log, &mut on_event).await;
        run.finish().await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                println!("checksum failed: {e}");
                return Ok(2);
            }
        };
        if *dry_run {
            return Ok(0);
        }
        if json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            for (t, vals) in &r.tables {
                let v: Vec<String> =
                    vals.iter().map(|(a, c)| format!("{a}={}", c.map_or("NULL".into(), |c| c.to_string()))).collect();
                println!("  {t}: {}", v.join("  "));
            }
            if let Some(note) = &r.master_note {
                println!("note: {note}; the majority of the replicas decided");
            }
            for (t, who) in &r.differing {
                println!("DIFF {t}: {}", who.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
            }
            println!(
                "{}: {} tables compared at {}; replication held {:.1} s; {} differ{}",
                sc_name,
                r.tables.len(),
                r.position,
                r.held_seconds,
                r.differing.len(),
                if r.interrupted { "; interrupted" } else { "" }
            );
        }
        return Ok(if r.interrupted {
            3
        } else if r.differing.is_empty() {
            0
        } else {
            1
        });
    }
    let report = ck::run(&req, opts, stop, &mut run.log, &mut on_event).await;
    run.finish().await;
    let report = match report {
        Ok(r) => r,
        Err(ck::ChecksumError::Interrupted(why)) => {
            println!("checksum {why}; interrupted: continue with --resume");
            return Ok(3);
        }
        Err(e) => {
            println!("checksum failed: {e}");
            return Ok(2);
        }
    };
    if *dry_run {
        if !json {
            println!("dry run: nothing was written");
        }
        return Ok(0);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        for d in &report.diffs {
            println!("DIFF {}", d.describe());
        }
        for why in &report.incomplete {
            println!("INCOMPLETE {why}");
        }
        println!(
            "{}: {} rows in {:.1} s ({:.0} rows/s), {} differing chunks{}",
            report.shard,
            report.rows,
            report.seconds,
            report.rows_per_second,
            report.diffs.len(),
            if report.interrupted { "; interrupted: continue with --resume" } else { "" }
        );
    }
    Ok(report.exit_code())
}
