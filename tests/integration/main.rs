//! The integration tests, as one binary: each module below was a binary of its own, and each
//! linked the whole crate (nine links of ~100–200 MB on every change). The modules against the
//! sandbox share it through `common`, each on its own shards.

// First, so that `sandbox_or_skip!` is in scope in every module below.
#[macro_use]
mod common;

mod alerts;
mod checksum;
mod cli;
mod crash;
mod failover;
mod failover_model;
mod metrics;
mod prometheus;
mod promote;
mod rates_feed;
mod record;
mod sandbox;
mod secrets;
mod serve;
mod sim;
mod soak;
mod terminal;
mod tls;
mod topology;
mod wall;
