//! `shardtop replay PATH [--at TIME]` in the terminal: not built yet (issue 15, step 4).

use super::{CmdResult, CommandError};
use crate::cli::{Cli, ReplayArgs};
use crate::record::Recording;

pub async fn run(_cli: &Cli, _args: &ReplayArgs, _rec: Recording, _span: (i64, i64)) -> CmdResult {
    Err(CommandError::new(
        1,
        "the replay TUI is not built yet: use --snapshot-at TIME or --events (shardtop replay --help)",
    ))
}
