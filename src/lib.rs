//! shardtop: a terminal operations dashboard for sharded MySQL/MariaDB fleets.

pub mod fleet;
pub mod secret;
