//! A webhook receiver that verifies shardtop's signatures: what `shardtop webhook-receiver` runs,
//! and a model for the receiving side of an integration (check the timestamp, recompute the HMAC
//! over the raw body, compare in constant time, deduplicate retries by delivery id).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

use super::signing::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, VerifyError, verify};
use crate::secret::Secret;

/// What arrived, verified or not.
#[derive(Debug, Clone)]
pub enum Received {
    /// A notification whose signature holds; `duplicate` when its delivery id was seen before
    /// (a retry whose first attempt did arrive).
    Verified {
        delivery: String,
        duplicate: bool,
        body: serde_json::Value,
    },
    Rejected {
        reason: String,
    },
}

struct St {
    secret: Secret,
    tolerance: i64,
    seen: Mutex<HashSet<String>>,
    out: UnboundedSender<Received>,
}

/// The receiver's routes (any path, POST), reporting to `out`.
pub fn router(secret: Secret, tolerance_secs: i64, out: UnboundedSender<Received>) -> Router {
    let st = Arc::new(St { secret, tolerance: tolerance_secs, seen: Mutex::new(HashSet::new()), out });
    Router::new().route("/", post(receive)).route("/{*path}", post(receive)).with_state(st)
}

/// Serve `router` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

async fn receive(State(st): State<Arc<St>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    match verify(&st.secret, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body, now, st.tolerance) {
        Err(e) => {
            let status = match e {
                VerifyError::NoTimestamp | VerifyError::BadTimestamp | VerifyError::BadSignatureFormat => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::UNAUTHORIZED,
            };
            let _ = st.out.send(Received::Rejected { reason: e.to_string() });
            (status, e.to_string())
        }
        Ok(()) => match serde_json::from_slice::<serde_json::Value>(&body) {
            Err(e) => {
                let reason = format!("signed, but not JSON: {e}");
                let _ = st.out.send(Received::Rejected { reason: reason.clone() });
                (StatusCode::BAD_REQUEST, reason)
            }
            Ok(body) => {
                let delivery = header(DELIVERY_HEADER).unwrap_or_default().to_string();
                let duplicate = !st.seen.lock().map(|mut s| s.insert(delivery.clone())).unwrap_or(true);
                let _ = st.out.send(Received::Verified { delivery, duplicate, body });
                (StatusCode::NO_CONTENT, String::new())
            }
        },
    }
}
