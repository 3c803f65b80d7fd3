//! The shared vocabulary of MySQL/MariaDB servers: addresses, flavour and
//! version, GTID positions and sets, and every statement shardtop sends per
//! dialect. Pure: no I/O. `probe`, `fleet`, `actions` and `sim` all build on
//! it; it imports none of them.

pub mod addr;
pub mod dialect;
pub mod gtid;
pub mod replication;
pub mod version;

pub use addr::Addr;
pub use dialect::{Dialect, Query};
pub use version::{Flavor, Version};
