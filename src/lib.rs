//! shardtop: a terminal operations dashboard for sharded MySQL/MariaDB fleets.

pub mod fleet;
pub mod poll;
pub mod secret;
pub mod sim;
pub mod ui;
