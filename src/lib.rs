//! shardtop: a terminal operations dashboard for sharded MySQL/MariaDB fleets.

pub mod cli;
pub mod commands;
pub mod config;
pub mod fleet;
pub mod poll;
pub mod secret;
pub mod sim;
pub mod snapshot;
pub mod ui;
