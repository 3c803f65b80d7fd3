//! `record` and `replay`: their clap types.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{ConfigFlag, Format, TerminalFlags, parse_duration};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub command: Option<RecordCommand>,
    /// The recording to append to (default: [record] path, else ~/.local/share/shardtop/recording.db).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Keep this much history; older blocks are dropped in place (default: [record] retention, else 48h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Close a block after this much time: the most a killed recorder loses (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub block: Option<Duration>,
    /// Stop after this long (default: until interrupted).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Print nothing but errors (events are recorded, not printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub config: ConfigFlag,
}

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Cut a window of a recording into a new, small file (to attach to a ticket).
    Export {
        /// The recording to cut from (default: [record] path, else ~/.local/share/shardtop/recording.db).
        #[arg(value_name = "RECORDING")]
        recording: Option<PathBuf>,
        /// Start of the window: 2026-12-07T03:10:00Z, "2026-12-07 03:10", 03:10, start, end-10m…
        #[arg(long, value_name = "TIME")]
        from: String,
        #[arg(long, value_name = "TIME", default_value = "end")]
        to: String,
        /// The new file (must not exist).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[command(flatten)]
        config: ConfigFlag,
    },
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The recording (default: [record] path, else ~/.local/share/shardtop/recording.db).
    #[arg(value_name = "RECORDING")]
    pub recording: Option<PathBuf>,
    /// Open the replay at this moment (default: the start). 2026-12-07T03:12:07Z, 03:12:07,
    /// start+5m, end-10m…
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print the fleet at this moment, as `snapshot` would have (no TUI); exit code as `snapshot`'s.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["events", "at"])]
    pub snapshot_at: Option<String>,
    /// Output of --snapshot-at and --events.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// List the recorded events (fleet events, anomalies, action steps) between --from and --to.
    #[arg(long, conflicts_with = "at")]
    pub events: bool,
    #[arg(long, value_name = "TIME", default_value = "start", requires = "events")]
    pub from: String,
    #[arg(long, value_name = "TIME", default_value = "end", requires = "events")]
    pub to: String,
    /// Playback speed at start (×1, ×2, ×4 … ×64).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub speed: u32,
    #[command(flatten)]
    pub config: ConfigFlag,
    #[command(flatten)]
    pub terminal: TerminalFlags,
}
