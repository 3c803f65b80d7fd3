//! `shardtop checksum`: the pt-table-checksum compatible consistency check from the command line.

use std::sync::Arc;
use std::time::Duration;

use super::action_runner::checksum_parts;
use super::discovery::with_discovered;
use super::{CmdResult, CommandError, load_config};
use crate::cli::{Cli, Format};

/// `shardtop checksum`: exit 0 consistent, 1 differences, 2 failed, 3 interrupted.
pub async fn checksum(cli: &Cli, cmd: &crate::cli::Command) -> CmdResult {
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
    let started = std::time::Instant::now();
    let mut on_event = |e: &Event| {
        if json {
            return;
        }
        match e {
            Event::Plan(plans) => {
                println!("tables ({}):", plans.len());
                for p in plans {
                    let how = match (&p.skip, &p.index) {
                        (Some(why), _) => format!("SKIP: {why}"),
                        (None, Some(i)) => format!("chunks over {i} ({})", p.key.join(", ")),
                        (None, None) => "whole table as one chunk (no usable key)".into(),
                    };
                    println!("  {}.{:<24} ~{:>9} rows  {how}", p.db, p.tbl, p.rows_estimate);
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
            Event::Paused { reason } if last_line.elapsed() > Duration::from_secs(2) => {
                last_line = std::time::Instant::now();
                println!("  paused: {reason}");
            }
            Event::TableDone { db, tbl, chunks, rows, took } => {
                println!("  ✓ {db}.{tbl}: {rows} rows in {chunks} chunks, {:.1} s", took.as_secs_f64())
            }
            _ => {}
        }
    };
    if *method == crate::cli::ChecksumMethod::Table {
        let r = match ck::run_table_method(&req, opts.clone(), &mut on_event).await {
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
            for (t, who) in &r.differing {
                println!("DIFF {t}: {}", who.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
            }
            println!(
                "{}: {} tables compared at {}; replication held {:.1} s; {} differ",
                sc_name,
                r.tables.len(),
                r.position,
                r.held_seconds,
                r.differing.len()
            );
        }
        return Ok(if r.differing.is_empty() { 0 } else { 1 });
    }
    let report = match ck::run(&req, opts, stop, &mut on_event).await {
        Ok(r) => r,
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
            println!(
                "DIFF {} rows {} vs master {} crc {} vs master {}",
                d.place(),
                d.this_cnt,
                d.master_cnt.map_or("NULL".into(), |v| v.to_string()),
                d.this_crc,
                d.master_crc.as_deref().unwrap_or("NULL")
            );
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
    Ok(if report.interrupted {
        3
    } else if report.diffs.is_empty() {
        0
    } else {
        1
    })
}
