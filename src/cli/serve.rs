//! `shardtop serve`'s flags.

use std::path::PathBuf;

use clap::Args;

use super::ConfigFlag;

/// `shardtop serve`: where to listen, and who may ask.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on; anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:9105", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// File holding the bearer token that may read and start actions (default: $SHARDTOP_SERVE_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// File holding a bearer token that may only read (default: $SHARDTOP_SERVE_READ_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub read_token_file: Option<PathBuf>,
    /// File of named tokens, one per line: `NAME read|act TOKEN` (`#` comments). The name is who
    /// the audit log says ran an action started with that token; `act` may start actions.
    #[arg(long, value_name = "PATH")]
    pub tokens_file: Option<PathBuf>,
    /// TLS certificate chain (PEM, leaf first); with --tls-key, serve HTTPS.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Own only partition K of N of the config's shards (by a hash of the shard name): N collectors,
    /// one config, disjoint shards.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<crate::serve::partition::Partition>,
    /// Serve a simulated fleet of this many shards (master + 2 replicas each, the demo's incidents)
    /// instead of the config's: no server needed.
    #[arg(long, value_name = "SHARDS", value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub demo: Option<u16>,
    /// Record every sample, event and marker to this recording, as `shardtop record` does
    /// (default: `[record] path` when the config sets one; otherwise serve records nothing).
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigFlag,
}
