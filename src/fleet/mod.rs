//! The fleet model: shards, instances, topology and health. Pure: no I/O.

pub mod anomaly;
pub mod death;
pub mod discovery;
pub mod external;
pub mod feed;
pub mod health;
pub mod hold;
pub mod latency;
pub mod model;
mod news;
pub mod promotion;
pub mod rates;
pub mod relayout;
pub mod remote;
pub mod status;
#[cfg(test)]
pub mod test_support;
pub mod topology;
mod verdict;

pub use crate::mysql::Addr;
pub use feed::{FeedResult, FeedRound, Source};
pub use health::{Health, Limits, Problem};
pub use model::{CommandRates, Fleet, Instance, Role, Shard};
pub use news::Event;
