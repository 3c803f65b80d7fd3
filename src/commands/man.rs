//! `shardtop man [SUBCOMMAND]`: the man page (roff) generated from the clap definition, so it
//! lists what `--help` does.

use clap::CommandFactory;

use super::completions::write_stdout;
use super::{CmdResult, CommandError};
use crate::cli::Cli;

pub fn man(subcommand: Option<&str>) -> CmdResult {
    let mut cmd = Cli::command();
    // Built, a subcommand knows its page name (shardtop-promote), its usage (shardtop promote …)
    // and the version.
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name).cloned() else {
                let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                return Err(CommandError::new(2, format!("no subcommand {name:?}: one of {}", names.join(", "))));
            };
            sub
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff).map_err(|e| CommandError::new(1, format!("man: {e}")))?;
    write_stdout(&roff)
}
