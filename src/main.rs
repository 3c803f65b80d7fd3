use std::process::ExitCode;

use clap::Parser;

use shardtop::cli::{Cli, Command};
use shardtop::commands;

/// Thousands of connections each allocate and free small buffers every probe: mimalloc keeps
/// that cheaper and less fragmented than the system allocator (see docs/bench-scale.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse().and_then(Cli::resolve) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `snapshot` is a monitoring check: a usage error is UNKNOWN (3), not CRITICAL (2).
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if std::env::args().any(|a| a == "snapshot") => 3,
                _ => 2,
            };
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shardtop: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            None => match &cli.connect {
                Some(url) => {
                    commands::connect(&cli, url, cli.connect_token_file.as_deref(), cli.connect_ca.as_deref()).await
                }
                None => commands::tui(&cli).await,
            },
            Some(Command::Demo { shards, replicas, replay: true, out, .. }) => {
                commands::demo_replay(&cli, *shards, *replicas, out.as_ref()).await
            }
            Some(Command::Demo { shards, replicas, .. }) => commands::demo(&cli, *shards, *replicas).await,
            Some(Command::Snapshot { format, rate_window, .. }) => {
                commands::snapshot(&cli, *format, *rate_window).await
            }
            Some(Command::CheckConfig { offline, .. }) => commands::check_config(&cli, *offline).await,
            Some(Command::Heartbeat { shard, .. }) => commands::heartbeat(&cli, shard).await,
            Some(Command::Serve(args)) => commands::serve(&cli, args).await,
            Some(Command::Bench { wire: Some(sizes), sweeps, out, wire_base_port, .. }) => {
                commands::bench_wire(sizes, *sweeps, out.as_deref(), *wire_base_port).await
            }
            Some(Command::Bench {
                record: true, sim, seconds, interval, sweeps, recording, keyframe, regular, ..
            }) => {
                let plan = commands::RecordBench {
                    shards: sim.unwrap_or(334),
                    seconds: *seconds,
                    interval: *interval,
                    seeks: *sweeps,
                    keep: recording.clone(),
                    keyframe: *keyframe,
                    regular: *regular,
                };
                commands::bench_record(plan)
            }
            Some(Command::Bench { terminal: true, sim, shards, size, screen, activity, seconds, fps, .. }) => {
                let shards = if shards.is_empty() { vec![sim.unwrap_or(100)] } else { shards.clone() };
                commands::bench_terminal(*fps, &shards, size, screen, activity, *seconds)
            }
            Some(Command::Bench { sweeps, sim, .. }) => commands::bench(&cli, *sweeps, *sim).await,
            Some(Command::Sim(args)) => commands::sim(args).await,
            Some(c @ Command::Promote { .. }) => commands::promote(&cli, c).await,
            Some(c @ Command::Failover { .. }) => commands::failover(&cli, c).await,
            Some(c @ Command::Fence { .. }) => commands::fence(&cli, c).await,
            Some(c @ Command::Rejoin { .. }) => commands::rejoin(&cli, c).await,
            Some(c @ Command::Checksum { .. }) => commands::checksum(&cli, c).await,
            Some(Command::Completions { shell }) => commands::completions(*shell),
            Some(Command::Man { command }) => commands::man(command.as_deref()),
            Some(Command::Mark { text, file }) => commands::mark(text, file.as_deref()),
            Some(Command::Watch { status_every, duration, .. }) => {
                commands::watch(&cli, *status_every, *duration).await
            }
            Some(Command::WebhookReceiver { listen, secret_env, secret_file, tolerance }) => {
                commands::webhook_receiver(listen, secret_env.as_deref(), secret_file.as_deref(), *tolerance).await
            }
            Some(Command::Record(args)) => commands::record(&cli, args).await,
            Some(Command::Replay(args)) => commands::replay(&cli, args).await,
        }
    });
    // Don't wait for probes stuck on hung servers: they hold nothing we need.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("shardtop: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
