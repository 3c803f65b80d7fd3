//! `shardtop bench`: sweeps against the configured or a simulated fleet, the real poller against
//! the wire simulator (`--wire`), or the TUI's terminal output (`--terminal`).

use std::time::Duration;

use super::{CmdResult, CommandError, load_config};
use crate::cli::Cli;
use crate::probe::feed::FeedProber;
use crate::setup::{close_all, layout, probe_options, probers};
use crate::sim::SimFleet;

mod record;
mod sweep;
mod terminal;
mod wire;

pub async fn bench(cli: &Cli, sweeps: usize, sim: Option<usize>) -> CmdResult {
    let stats = match sim {
        Some(shards) => {
            let sim = SimFleet { shards, latency: Duration::ZERO, ..SimFleet::default() };
            let mut probes = sim.probes();
            sweep::run(&mut probes, 256, sweeps).await
        }
        None => {
            let cfg = load_config(cli, 1)?.config;
            let opts = probe_options(&cfg);
            let shards = layout(&cfg);
            let mut probes = probers(&shards, &opts);
            let stats = sweep::run(&mut probes, cfg.poll.concurrency, sweeps).await;
            close_all(&mut probes).await;
            if let Some(f) = &cfg.feed {
                let mut prober = FeedProber::new(f, &shards, opts.clone());
                print!("{}", sweep::feed_rounds(&mut prober, sweeps).await);
                prober.close(Duration::from_millis(200)).await;
            }
            stats
        }
    };
    print!("{}", stats.render());
    print!("{}", sweep::series_memory(sim.unwrap_or(8).min(64)));
    Ok(0)
}

pub async fn bench_wire(sizes: &[usize], intervals: usize, out: Option<&std::path::Path>, base_port: u16) -> CmdResult {
    let table = wire::report(sizes, intervals.max(1), base_port)
        .await
        .map_err(|e| CommandError::new(1, format!("bench --wire: {e}")))?;
    print!("{table}");
    if let Some(path) = out {
        std::fs::write(path, &table)
            .map_err(|e| CommandError::new(1, format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(0)
}

/// `bench --terminal`, at `fps` or at 10 and 2.
pub fn bench_terminal(
    fps: Option<u32>,
    shards: &[usize],
    sizes: &[(u16, u16)],
    screens: &[crate::cli::Screen],
    activities: &[crate::cli::Activity],
    seconds: u32,
) -> CmdResult {
    let fps: Vec<u32> = fps.map_or_else(|| vec![10, 2], |f| vec![f]);
    let shards: Vec<usize> = shards.iter().map(|&n| n.max(1)).collect();
    let plan = terminal::Plan { shards: &shards, sizes, screens, activities, fps: &fps, seconds };
    let report = terminal::report(&plan).map_err(|e| CommandError::new(1, format!("bench: {e}")))?;
    print!("{report}");
    Ok(0)
}

pub use record::Plan as RecordBench;

/// `bench --record`: bytes per instance-sample, recorder CPU and seek time on a simulated fleet.
pub fn bench_record(plan: RecordBench) -> CmdResult {
    let plan = record::Plan { shards: plan.shards.max(1), seeks: plan.seeks.max(1), ..plan };
    let report = record::report(&plan).map_err(|e| CommandError::new(1, format!("bench --record: {e}")))?;
    print!("{report}");
    Ok(0)
}
