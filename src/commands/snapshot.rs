//! `shardtop snapshot`: one poll of the whole fleet, printed; the exit code is a monitoring check's.

use std::time::Duration;

use super::discovery::discover;
use super::polling::Polling;
use super::{CmdResult, load_config};
use crate::cli::{Cli, Format};
use crate::poll;
use crate::setup::close_all;
use crate::snapshot::Report;

pub async fn snapshot(cli: &Cli, format: Format, rate_window: Duration) -> CmdResult {
    // Any failure before we have data is UNKNOWN for a monitoring check.
    let loaded = load_config(cli, 3)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let cfg = loaded.config;
    let Polling { opts, mut fleet, metrics_only, mut probes, mut feed, clients, .. } = Polling::new(&cfg)?;
    let started = tokio::time::Instant::now();
    // The sources are asked while the servers are: each costs at most its timeout.
    let (first, polled) = tokio::join!(
        poll::sweep_once(&mut probes, cfg.poll.concurrency),
        futures::future::join_all(clients.iter().map(|(c, _)| c.poll()))
    );
    for u in first {
        fleet.apply(u.slot.shard, u.slot.instance, u.sample);
    }
    let discovery = discover(&mut fleet, &mut probes, &opts, cfg.poll.concurrency, started).await;
    for u in &polled {
        fleet.apply_metrics(u);
    }
    // Feed rounds run while the rate window passes: one per feed interval, at least one.
    if let Some((prober, interval)) = feed.as_mut() {
        let deadline = started + rate_window;
        loop {
            let round_started = tokio::time::Instant::now();
            fleet.apply_feed(&prober.round().await);
            if round_started + *interval >= deadline {
                break;
            }
            tokio::time::sleep_until(round_started + *interval).await;
        }
    }
    if !rate_window.is_zero() && !metrics_only {
        // Rates need two readings of the counters; the second sweep reuses the connections.
        tokio::time::sleep_until(started + rate_window).await;
        for u in poll::sweep_once(&mut probes, cfg.poll.concurrency).await {
            fleet.apply(u.slot.shard, u.slot.instance, u.sample);
        }
    }
    close_all(&mut probes).await;
    if let Some((prober, _)) = feed.as_mut() {
        prober.close(Duration::from_millis(200)).await;
    }
    let mut report = Report::new(&fleet, chrono::Utc::now());
    report.discovery = Some(discovery);
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", report.to_table()),
    }
    Ok(report.exit_code() as u8)
}
