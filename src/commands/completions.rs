//! `shardtop completions bash|zsh|fish`: a completion script generated from the clap definition,
//! so it knows every subcommand, flag and value the binary does.

use clap::CommandFactory;

use super::{CmdResult, CommandError};
use crate::cli::{Cli, CompletionShell};

pub fn completions(shell: CompletionShell) -> CmdResult {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "shardtop", &mut script);
    write_stdout(&script)
}

/// All of it or an error: a cut-off script or page (closed pipe, full disk) must not pass for one.
pub(super) fn write_stdout(bytes: &[u8]) -> CmdResult {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| CommandError::new(1, format!("stdout: {e}")))?;
    Ok(0)
}
