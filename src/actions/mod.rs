//! Actions that write to servers. Each is a list of named steps with a check,
//! an action and a rollback; the same steps drive `--dry-run`, the CLI output,
//! the TUI dialog and the audit log.

pub mod audit;
pub mod beacon;
pub mod checksum;
pub mod failover;
pub mod lock;
pub mod promote;
pub mod rejoin;
pub mod runner;
pub mod server;

use std::time::Duration;

use serde::Serialize;

/// A precondition, evaluated on a fresh read before anything is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, in words: why it passed or failed.
    pub detail: String,
    /// Failed, but the operator chose to go on (`--force-check NAME`).
    pub forced: bool,
}

impl Check {
    pub fn blocks(&self) -> bool {
        !self.ok && !self.forced
    }
}

/// One step of a plan, as shown before it runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedStep {
    pub name: &'static str,
    pub what: String,
}

/// What happens while an action runs, for whoever shows progress.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    Checks(Vec<Check>),
    Plan(Vec<PlannedStep>),
    Started { step: &'static str, what: String },
    Finished { step: &'static str, took: Duration, detail: String },
    Failed { step: &'static str, took: Duration, error: String },
    RolledBack { detail: String },
}
