// long-file: one clap enum of every subcommand with its flags and their help text, which is the CLI reference itself; split by subcommand it would scatter what --help and the man pages print.
//! The command line: clap types only. The value enums are this module's own; the commands turn
//! them into the library's types, so nothing below `commands` depends on the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod serve;
pub use serve::ServeArgs;
mod history;
pub use history::{RecordArgs, RecordCommand, ReplayArgs};

#[derive(Parser, Debug)]
#[command(name = "shardtop", version, about = "Terminal operations dashboard for sharded MySQL/MariaDB fleets")]
#[command(propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigFlag,

    #[command(flatten)]
    pub read_only: ReadOnlyFlag,

    #[command(flatten)]
    pub terminal: TerminalFlags,

    /// The TUI from a `shardtop serve` collector (http:// or https://HOST:PORT) instead of a config:
    /// no database account here. Token: --connect-token-file, else $SHARDTOP_CONNECT_TOKEN.
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,

    /// File holding the collector's bearer token (for --connect).
    #[arg(long, value_name = "PATH", requires = "connect")]
    pub connect_token_file: Option<PathBuf>,

    /// A CA certificate (PEM) to trust for the collector's TLS, besides the system's (for --connect).
    #[arg(long, value_name = "PATH", requires = "connect")]
    pub connect_ca: Option<PathBuf>,

    /// Record what this TUI session sees to a recording (see `shardtop record`; default: [record]).
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--config`: on the commands that read the config.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFlag {
    /// Config file (default: ./shardtop.toml, then ~/.config/shardtop/config.toml).
    #[arg(id = "config", long = "config", short = 'c', value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// `--read-only`: on the TUI, the demo and the actions' commands.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOnlyFlag {
    /// No actions (promotion, checksum) from this session.
    #[arg(id = "read_only", long = "read-only")]
    pub on: bool,
}

/// What only a TUI uses: on `shardtop` itself and on `shardtop demo`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
#[command(next_help_heading = "Terminal")]
pub struct TerminalFlags {
    /// Colour: auto (NO_COLOR and the terminal decide), never, or a depth.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Most frames per second the TUI draws (it draws only when something changed).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: Option<u32>,

    /// Theme: default, light, dark-truecolor, mono, lcd, one in ~/.config/shardtop/themes, or a file path.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,

    /// Wall-display mode: read-only, rotating views, a large health banner.
    #[arg(long)]
    pub kiosk: bool,

    /// Capture the mouse: click selects a row, the wheel scrolls (off by default, so the
    /// terminal's own text selection works).
    #[arg(long)]
    pub mouse: bool,

    /// Plain ASCII drawing: borders, trees, trends, charts and the kiosk banner (fonts or terminals without
    /// line-drawing and block characters).
    #[arg(long)]
    pub ascii: bool,
}

impl TerminalFlags {
    /// The first flag given, to name in an error where none applies.
    fn first_given(&self) -> Option<&'static str> {
        [
            (self.color != ColorChoice::Auto, "--color"),
            (self.fps.is_some(), "--fps"),
            (self.theme.is_some(), "--theme"),
            (self.kiosk, "--kiosk"),
            (self.mouse, "--mouse"),
            (self.ascii, "--ascii"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// These flags, with `outer`'s (written before the subcommand) where these leave one unset.
    fn or(self, outer: TerminalFlags) -> TerminalFlags {
        TerminalFlags {
            color: if self.color == ColorChoice::Auto { outer.color } else { self.color },
            fps: self.fps.or(outer.fps),
            theme: self.theme.or(outer.theme),
            kiosk: self.kiosk || outer.kiosk,
            mouse: self.mouse || outer.mouse,
            ascii: self.ascii || outer.ascii,
        }
    }
}

impl Default for TerminalFlags {
    fn default() -> Self {
        TerminalFlags { color: ColorChoice::Auto, fps: None, theme: None, kiosk: false, mouse: false, ascii: false }
    }
}

impl Cli {
    /// Flags written before a subcommand apply to it when it takes them (`shardtop --theme lcd
    /// demo`, `shardtop --config prod.toml snapshot`) and are a usage error when it does not
    /// (`shardtop --kiosk promote`): a flag that would do nothing is not silently dropped.
    /// Afterwards the top-level fields hold what is in effect, wherever it was written; the
    /// commands read only those.
    pub fn resolve(mut self) -> Result<Cli, clap::Error> {
        let Some(command) = self.command.as_mut() else {
            if self.connect.is_some() && self.config.path.is_some() {
                return Err(not_taken("--config", "--connect"));
            }
            return Ok(self);
        };
        let name = command.name();
        if self.connect.is_some() {
            return Err(not_taken("--connect", name));
        }
        if self.record.is_some() {
            return Err(not_taken("--record", name));
        }
        let (config, read_only, terminal) = command.session_flags();
        match config {
            Some(c) => self.config.path = c.path.take().or(self.config.path.take()),
            None if self.config.path.is_some() => return Err(not_taken("--config", name)),
            None => {}
        }
        match read_only {
            Some(r) => self.read_only.on |= r.on,
            None if self.read_only.on => return Err(not_taken("--read-only", name)),
            None => {}
        }
        match terminal {
            Some(t) => self.terminal = std::mem::take(t).or(std::mem::take(&mut self.terminal)),
            None => {
                if let Some(flag) = self.terminal.first_given() {
                    return Err(not_taken(flag, name));
                }
            }
        }
        Ok(self)
    }
}

fn not_taken(flag: &str, command: &str) -> clap::Error {
    use clap::CommandFactory;
    let what = if flag == "--config" || flag == "--read-only" {
        "it does nothing there"
    } else if flag == "--connect" {
        "it is for the TUI alone: `shardtop --connect URL`"
    } else if flag == "--record" {
        "it records the TUI's session; `shardtop record` records without one"
    } else {
        "it is a TUI flag, for `shardtop` and `shardtop demo`"
    };
    Cli::command().error(
        clap::error::ErrorKind::ArgumentConflict,
        format!("{flag} does not apply to `shardtop {command}`: {what}"),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Never,
    #[value(name = "16")]
    Ansi16,
    #[value(name = "256")]
    Ansi256,
    Truecolor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChecksumMethod {
    Chunk,
    Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OldMasterChoice {
    /// A read-only replica of the new master.
    Replica,
    /// Read-only and standalone.
    Detach,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// How much the fleet moves in `bench --terminal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Activity {
    /// Samples keep arriving, but every value shown stays the same.
    Idle,
    /// A few shards' request rates move each second; the rest are steady.
    Few,
    /// The demo as it runs: every shard's rate moves each second, incidents come and go.
    Busy,
}

/// The screen `bench --terminal` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Screen {
    /// The fleet overview: one row per shard.
    Overview,
    /// The topology of every shard.
    Topology,
    /// The kiosk's wall (tiles, health grid, charts), under the kiosk banner.
    Wall,
}

/// The server a simulated instance pretends to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimFlavor {
    /// MariaDB 10.11: `Master_*` columns, `domain-server-seq` GTIDs.
    Mariadb,
    /// MySQL 8.4: `Source_*` columns, `uuid:1-n` GTID sets, no `SHOW MASTER STATUS`.
    Mysql84,
}

/// The shells `shardtop completions` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// By default instance k of a `bench --wire` fleet listens on this port + k: below the ephemeral
/// range (32768+) for 10,000, and clear of the sandboxes (23306…).
pub const WIRE_BASE_PORT: u16 = 11000;

#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Simulated instances, rounded up to whole shards of a master and two replicas;
    /// one more port serves the global upstream the shard masters replicate from.
    #[arg(long, default_value_t = 30)]
    pub instances: usize,
    /// Instance k listens on 127.0.0.1:(base-port + k). Keep the range below the
    /// ephemeral ports (often 32768+).
    #[arg(long, default_value_t = 20000)]
    pub base_port: u16,
    #[arg(long, value_enum, default_value = "mariadb")]
    pub flavor: SimFlavor,
    /// Share of instances (evenly spread) that accept connections and never answer.
    #[arg(long, default_value_t = 0.0)]
    pub hang_percent: f64,
    /// Delay before each answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Write a shardtop config for this fleet here.
    #[arg(long, value_name = "PATH")]
    pub config_out: Option<PathBuf>,
    /// Serve only instances FROM..FROM+COUNT of the fleet (splitting a large fleet across processes).
    #[arg(long, hide = true, value_name = "FROM")]
    pub serve_from: Option<usize>,
    #[arg(long, hide = true, value_name = "COUNT")]
    pub serve_count: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The TUI on a simulated fleet with scripted incidents: no server needed.
    Demo {
        /// Number of simulated shards.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=10000))]
        shards: u16,
        /// Replicas per shard.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=20))]
        replicas: u16,
        /// Replay a recording of the scripted incidents instead (made on the spot, no servers):
        /// the replay TUI with its timeline, incident jumps and recorded events.
        #[arg(long)]
        replay: bool,
        /// With --replay: keep the recording at PATH (a new file), for `shardtop replay PATH`.
        #[arg(long, value_name = "PATH", requires = "replay")]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
        #[command(flatten)]
        terminal: TerminalFlags,
    },
    /// Poll the whole fleet once and print it. Exit 0 ok, 1 warning, 2 critical, 3 unknown.
    Snapshot {
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Time between the two sweeps that request rates are computed from; 0 skips rates.
        #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
        rate_window: std::time::Duration,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Validate the config (every problem with its line), then connect to each server and
    /// check the monitoring account's privileges.
    CheckConfig {
        /// Only validate the file; do not connect.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Measure sweeps (wall time, CPU) against the configured fleet, or the simulated one.
    Bench {
        /// Measured sweeps (after one warm-up sweep).
        #[arg(long, default_value_t = 50)]
        sweeps: usize,
        /// Use a simulated fleet of this many shards instead of the config.
        #[arg(long, value_name = "SHARDS")]
        sim: Option<usize>,
        /// Measure the real poller against the MySQL-wire simulator (in child processes) at
        /// these fleet sizes, e.g. 100,1000,10000, each without and with 1 % hung instances;
        /// --sweeps is then the number of measured poll intervals.
        #[arg(long, value_name = "N,N,…", value_delimiter = ',')]
        wire: Option<Vec<usize>>,
        /// With --wire: also write the table (markdown) to this file.
        #[arg(long, value_name = "PATH", requires = "wire")]
        out: Option<std::path::PathBuf>,
        /// With --wire: simulated instance k listens on 127.0.0.1:(PORT + k). Keep the range below
        /// the ephemeral ports (often 32768+).
        #[arg(long, value_name = "PORT", default_value_t = WIRE_BASE_PORT, requires = "wire")]
        wire_base_port: u16,
        /// Measure the TUI instead: bytes written to the terminal per second (idle, a few
        /// values moving, busy) and frame render time, on a simulated fleet (--shards, or
        /// --sim, default 100) at --fps (default: 10 and 2).
        #[arg(long)]
        terminal: bool,
        /// Fleet sizes for --terminal, e.g. 100,1000.
        #[arg(long, value_name = "N,N,…", value_delimiter = ',', requires = "terminal", conflicts_with = "sim")]
        shards: Vec<usize>,
        /// Terminal sizes for --terminal, e.g. 80x24,200x60.
        #[arg(long, default_value = "200x60", value_name = "COLSxROWS,…", value_delimiter = ',', value_parser = parse_size)]
        size: Vec<(u16, u16)>,
        /// Screens for --terminal.
        #[arg(long, value_enum, value_name = "SCREEN,…", value_delimiter = ',', default_value = "overview")]
        screen: Vec<Screen>,
        /// Fleet activity for --terminal.
        #[arg(long, value_enum, value_name = "ACTIVITY,…", value_delimiter = ',', default_value = "idle,few,busy")]
        activity: Vec<Activity>,
        /// Simulated seconds per --terminal or --record run.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400))]
        seconds: u32,
        /// With --terminal: the frame rate measured (default: 10 and 2).
        #[arg(long, value_name = "N", requires = "terminal", value_parser = clap::value_parser!(u32).range(1..=60))]
        fps: Option<u32>,
        /// Measure recording instead: a simulated fleet (--sim shards, default 334: 1,002 instances)
        /// recorded for --seconds at --interval; bytes per instance-sample, the recorder's CPU, and
        /// --sweeps seeks (rebuild the model at a moment and draw it).
        #[arg(long, conflicts_with_all = ["terminal", "wire"])]
        record: bool,
        /// With --record: the poll interval simulated.
        #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration, requires = "record")]
        interval: std::time::Duration,
        /// With --record: keep the recording at PATH; when PATH exists already, record nothing and
        /// measure the seeks on it (a 24-hour recording is made once, measured many times).
        #[arg(long, value_name = "PATH", requires = "record")]
        recording: Option<std::path::PathBuf>,
        /// With --record: a new chain (a keyframe block) after this much recorded time.
        #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration, requires = "record")]
        keyframe: std::time::Duration,
        /// With --record: the samples as regular as they can be (every instance's sample at the
        /// round's start, in slot order, every probe 0.8 ms, no feed rounds), as before; by
        /// default they arrive as the poller's do (instances spread over the interval, noisy
        /// probe durations, completion order, a feed round every second).
        #[arg(long, requires = "record")]
        regular: bool,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Serve a simulated fleet over the MySQL protocol on loopback (one port per instance),
    /// for benchmarks and trying shardtop without servers. Runs until Ctrl-C.
    Sim(SimArgs),
    /// Planned switchover: make a replica the shard's master (plan first, then confirm).
    Promote {
        /// The shard, by name.
        #[arg(long)]
        shard: String,
        /// The replica to promote, HOST:PORT as in the config.
        #[arg(long, value_name = "HOST:PORT")]
        to: crate::fleet::Addr,
        /// Show the checks and the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// How long to wait for the candidate to catch up (default: [actions] catchup_timeout).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Go on although this check fails (repeatable), e.g. --force-check lag.
        #[arg(long = "force-check", value_name = "NAME")]
        force_checks: Vec<String>,
        /// What the old master becomes.
        #[arg(long, value_enum, default_value_t = OldMasterChoice::Replica)]
        old_master: OldMasterChoice,
        /// Leave this replica out of the new topology (repeatable).
        #[arg(long, value_name = "HOST:PORT")]
        detach: Vec<crate::fleet::Addr>,
        /// Refuse, instead of killing them, when sessions of accounts that read_only does not stop are connected.
        #[arg(long)]
        no_kill: bool,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
    },
    /// Incident failover: a replica takes over from a dead master (confirmed dead, fenced by the
    /// pre-failover hook, plan first, then confirmed). Exit 0 failed over, 1 refused (nothing
    /// changed), 2 failed and rolled back, 3 failed and the rollback failed too.
    Failover {
        /// The shard, by name.
        #[arg(long)]
        shard: String,
        /// The replica to promote, HOST:PORT; default: the most advanced eligible one (honouring
        /// the config's promotion rules).
        #[arg(long, value_name = "HOST:PORT")]
        to: Option<crate::fleet::Addr>,
        /// Show the verdict, the candidates and the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// How long the candidate may take to apply its relay log, and to catch up from a replica
        /// holding more (default: [actions] catchup_timeout).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Go on although this check fails, e.g. --force-check master_dead for a master that is
        /// unreachable but not confirmed dead (needs a pre-failover hook that fences it).
        #[arg(long = "force-check", value_name = "NAME")]
        force_checks: Vec<String>,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
    },
    /// Make a former master that came back writable read-only (a zombie after a failover).
    /// Exit 0 fenced, 1 refused, 2 failed.
    Fence {
        #[arg(long)]
        shard: String,
        /// The server to fence, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        instance: crate::fleet::Addr,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
    },
    /// Make a former master a read-only replica of the shard's master, when everything it wrote is
    /// on that master; otherwise refuse, naming the transactions the master lacks.
    /// Exit 0 rejoined, 1 refused (nothing changed), 2 failed.
    Rejoin {
        #[arg(long)]
        shard: String,
        /// The former master, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        instance: crate::fleet::Addr,
        /// The shard's master now (default: the one writable member that replicates from nobody).
        #[arg(long, value_name = "HOST:PORT")]
        master: Option<crate::fleet::Addr>,
        /// Show the check and the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
    },
    /// Consistency check of a shard's replicas against its master (pt-table-checksum compatible).
    /// Exit 0 consistent, 1 differences found, 2 failed, 3 interrupted (continue with --resume),
    /// 4 incomplete (no differences, but a table was skipped or a replica not compared).
    Checksum {
        #[arg(long)]
        shard: String,
        /// Only these tables (db.table, comma-separated).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// Only tables in these databases (comma-separated).
        #[arg(long, value_delimiter = ',')]
        databases: Vec<String>,
        /// Show the tables and how they would be chunked; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Continue an interrupted run from its last finished chunk.
        #[arg(long)]
        resume: bool,
        /// chunk: pt-table-checksum's online method; table: stop the replicas at one position and
        /// compare CHECKSUM TABLE (quick, replication is held while it runs).
        #[arg(long, value_enum, default_value_t = ChecksumMethod::Chunk)]
        method: ChecksumMethod,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        read_only: ReadOnlyFlag,
    },
    /// Headless collector: one poller for everyone, serving /metrics (Prometheus), /api/v1/snapshot,
    /// /api/v1/stream (server-sent events) and /healthz until stopped.
    Serve(ServeArgs),
    /// Write pt-heartbeat-compatible rows to every shard master until stopped.
    Heartbeat {
        /// Only these shards (comma-separated names).
        #[arg(long, value_delimiter = ',')]
        shard: Vec<String>,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Print a shell completion script: `shardtop completions bash > /etc/bash_completion.d/shardtop`.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Record a deploy (or any) marker the kiosk's charts show: `shardtop mark "deploy web 2026.12.07-1"`.
    /// Appended as a JSON line to $SHARDTOP_MARKERS, else ~/.local/state/shardtop/markers.jsonl.
    Mark {
        /// What happened, e.g. "deploy web 2026.12.07-1".
        #[arg(value_name = "TEXT")]
        text: String,
        /// The markers file (default: $SHARDTOP_MARKERS, else the state directory's markers.jsonl).
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// Test tooling, hidden: the TUI's model (poller, fleet, events) without a terminal, printing
    /// every event and a status line per interval as JSON lines on stdout until SIGTERM/SIGINT or
    /// --seconds. The fault-injection soak (scripts/soak, tests/integration/soak.rs) reads it.
    #[command(hide = true)]
    Watch {
        /// Time between status lines.
        #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
        status_every: std::time::Duration,
        /// Stop after this long (default: run until SIGTERM or SIGINT).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Receive shardtop's signed webhooks and verify them: each verified notification is printed
    /// as a JSON line; a wrong signature or a stale timestamp is refused (401) and said on stderr.
    /// The secret comes from an environment variable or a file, never from the command line.
    WebhookReceiver {
        /// Where to listen.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9199")]
        listen: String,
        /// The environment variable holding the shared secret.
        #[arg(long, value_name = "VAR", conflicts_with = "secret_file", required_unless_present = "secret_file")]
        secret_env: Option<String>,
        /// A file holding the shared secret.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<std::path::PathBuf>,
        /// How far the timestamp may be from this clock, in seconds (replay protection).
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        tolerance: i64,
    },
    /// Record the fleet headless: every sample, event, anomaly, action step and metrics reading,
    /// to an SQLite file that `replay` reads (docs/recording.md).
    Record(RecordArgs),
    /// Replay a recording in the TUI (read-only, with seek and jump to incident), or print the
    /// fleet at a moment (--snapshot-at) or the events of a window (--events).
    Replay(ReplayArgs),
    /// Print the man page (roff): `shardtop man > shardtop.1`, or one subcommand's page.
    Man {
        /// A subcommand, e.g. promote (default: shardtop itself).
        #[arg(value_name = "SUBCOMMAND")]
        command: Option<String>,
    },
}

impl Command {
    /// As typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo { .. } => "demo",
            Command::Snapshot { .. } => "snapshot",
            Command::CheckConfig { .. } => "check-config",
            Command::Bench { .. } => "bench",
            Command::Sim(_) => "sim",
            Command::Promote { .. } => "promote",
            Command::Failover { .. } => "failover",
            Command::Fence { .. } => "fence",
            Command::Rejoin { .. } => "rejoin",
            Command::Checksum { .. } => "checksum",
            Command::Heartbeat { .. } => "heartbeat",
            Command::Serve(_) => "serve",
            Command::Completions { .. } => "completions",
            Command::Man { .. } => "man",
            Command::Mark { .. } => "mark",
            Command::Watch { .. } => "watch",
            Command::WebhookReceiver { .. } => "webhook-receiver",
            Command::Record(_) => "record",
            Command::Replay(_) => "replay",
        }
    }

    /// The session flags this subcommand takes, where it takes them.
    fn session_flags(&mut self) -> (Option<&mut ConfigFlag>, Option<&mut ReadOnlyFlag>, Option<&mut TerminalFlags>) {
        match self {
            Command::Demo { config, read_only, terminal, .. } => (Some(config), Some(read_only), Some(terminal)),
            Command::Record(RecordArgs { command: Some(RecordCommand::Export { config, .. }), .. }) => {
                (Some(config), None, None)
            }
            Command::Record(a) => (Some(&mut a.config), None, None),
            Command::Replay(a) => (Some(&mut a.config), None, Some(&mut a.terminal)),
            Command::Promote { config, read_only, .. }
            | Command::Failover { config, read_only, .. }
            | Command::Fence { config, read_only, .. }
            | Command::Rejoin { config, read_only, .. }
            | Command::Checksum { config, read_only, .. } => (Some(config), Some(read_only), None),
            Command::Snapshot { config, .. }
            | Command::CheckConfig { config, .. }
            | Command::Bench { config, .. }
            | Command::Heartbeat { config, .. }
            | Command::Watch { config, .. }
            | Command::Serve(ServeArgs { config, .. }) => (Some(config), None, None),
            Command::Sim(_)
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Mark { .. }
            | Command::WebhookReceiver { .. } => (None, None, None),
        }
    }
}

/// `80x24`: columns by rows.
fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("{s:?}: write COLSxROWS, e.g. 80x24"))?;
    let n = |v: &str| v.trim().parse::<u16>().ok().filter(|n| (10..=1000).contains(n));
    match (n(w), n(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{s:?}: columns and rows from 10 to 1000, e.g. 80x24")),
    }
}

/// `500ms`, `2s`, `1.5s`, `1m`, or a bare number of seconds: the config's syntax.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Issue 17 §8: `--help` shows an argument's environment variable *with its value*, so no
    /// argument may read one (a password there would be on every help screen). Secrets come
    /// from the files and variables the config names, read by shardtop itself.
    #[test]
    fn no_argument_of_any_command_reads_the_environment() {
        fn walk(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if let Some(env) = a.get_env() {
                    found.push(format!("{path} {}: {env:?}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let cli = Cli::command();
        let mut found = Vec::new();
        walk(&cli, "shardtop", &mut found);
        assert!(found.is_empty(), "arguments read from the environment (shown with their values by --help): {found:?}");
        // The walk reaches every command, the hidden ones included.
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        for n in ["promote", "failover", "rejoin", "fence", "serve", "watch", "record", "replay"] {
            assert!(names.contains(&n), "{n} not in {names:?}");
        }
    }
}
