//! `shardtop webhook-receiver`: verifies shardtop's signed webhooks and prints what arrives.

use std::io::Write;
use std::path::Path;

use tokio::sync::mpsc;

use super::{CmdResult, CommandError};
use crate::alerts::receiver::{self, Received};
use crate::secret::Secret;

pub async fn webhook_receiver(
    listen: &str,
    secret_env: Option<&str>,
    secret_file: Option<&Path>,
    tolerance: i64,
) -> CmdResult {
    let secret = match (secret_env, secret_file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            CommandError::new(2, format!("webhook-receiver: --secret-env names {var}, which is not set"))
        })?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| CommandError::new(2, format!("webhook-receiver: cannot read {}: {e}", path.display())))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, None) => return Err(CommandError::new(2, "webhook-receiver: give --secret-env or --secret-file")),
    };
    if secret.is_empty() {
        return Err(CommandError::new(2, "webhook-receiver: the secret is empty"));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CommandError::new(1, format!("webhook-receiver: cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| listen.to_string());
    eprintln!("webhook-receiver: listening on {local}");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(receiver::serve(listener, receiver::router(Secret::new(secret), tolerance, tx)));
    while let Some(r) = rx.recv().await {
        match r {
            Received::Verified { delivery, duplicate, body } => {
                let line =
                    serde_json::json!({ "verified": true, "delivery": delivery, "duplicate": duplicate, "body": body });
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Received::Rejected { reason } => eprintln!("webhook-receiver: rejected: {reason}"),
        }
    }
    server.abort();
    Ok(0)
}
