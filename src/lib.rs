//! shardtop: a terminal operations dashboard for sharded MySQL/MariaDB fleets.

pub mod actions;
pub mod alerts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod fleet;
pub mod keymap;
pub mod metrics;
pub mod mysql;
pub mod poll;
pub mod probe;
pub mod record;
pub mod secret;
pub mod serve;
pub mod setup;
pub mod sim;
pub mod snapshot;
pub mod ui;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod layout_tests;
