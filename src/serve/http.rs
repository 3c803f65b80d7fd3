//! The collector's HTTP side (axum on hyper, rustls when configured): `/healthz` for anyone,
//! and behind the token `/metrics`, `/api/v1/snapshot` and `/api/v1/stream`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::broadcast::Receiver;
use tokio_rustls::rustls::ServerConfig;

use super::access::{Grant, Tokens};
use super::collector::Shared;
use super::exposition;
use super::stream::Hub;

/// What every handler reads.
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub hub: Arc<Hub>,
    pub tokens: Arc<Tokens>,
    /// Actions for remote viewers; `None` when the collector's config leaves them off.
    pub actions: Option<Arc<super::actions::RemoteActions>>,
}

/// How many poll intervals without a sweep make the collector unhealthy.
const STALL_INTERVALS: f64 = 3.0;

pub fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/access", get(super::actions::access))
        .route("/api/v1/actions", post(super::actions::start))
        .route("/api/v1/actions/{id}/stop", post(super::actions::stop))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new().route("/healthz", get(healthz)).merge(guarded).fallback(not_found).with_state(state)
}

/// 401 for a missing or wrong token; the grant is left in the request for handlers that need it.
async fn require_token(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let auth = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    match state.tokens.caller(auth) {
        Some(caller) => {
            req.extensions_mut().insert(caller.grant);
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => {
            let mut r =
                (StatusCode::UNAUTHORIZED, "401 unauthorized: a valid bearer token is required\n").into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"shardtop\""));
            r
        }
    }
}

/// 200 while sweeps close on time (or the first is still due), 503 when the loop has stalled.
async fn healthz(State(state): State<AppState>) -> Response {
    let now = chrono::Utc::now();
    let limit = state.shared.interval.as_secs_f64() * STALL_INTERVALS;
    let stalled = match state.shared.since_last_sweep(now) {
        Some(age) => age > limit,
        None => (now - state.shared.started).num_milliseconds() as f64 / 1000.0 > limit,
    };
    if stalled {
        (StatusCode::SERVICE_UNAVAILABLE, "stalled: no sweep closed lately\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let now = chrono::Utc::now();
    let process = exposition::Process {
        sweeps: state.shared.sweeps.load(std::sync::atomic::Ordering::Relaxed),
        since_last_sweep: state.shared.since_last_sweep(now),
    };
    let body = exposition::render(&state.shared.fleet(), now, &process);
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], body).into_response()
}

async fn snapshot(State(state): State<AppState>) -> Response {
    let body = crate::snapshot::Report::new(&state.shared.fleet(), chrono::Utc::now()).to_json();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// How often the stream says it is alive when nothing changed: a viewer tells a quiet fleet
/// from a collector that stopped answering by it (a comment line, a few bytes).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Server-sent events: a `full` frame (once the collector's first sweep has closed: keep-alives
/// until then), then a `changes` frame per sweep that changed something; a viewer too slow to
/// keep up gets a new `full` frame instead of the ones it missed.
async fn stream(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let hub = state.hub.clone();
    let s = futures::stream::unfold((hub, None::<Receiver<Arc<str>>>), |(hub, rx)| async move {
        let Some(mut rx) = rx else {
            hub.first_sweep().await;
            let (full, rx) = hub.subscribe();
            return Some((Ok(SseEvent::default().event("full").data(full)), (hub, Some(rx))));
        };
        match rx.recv().await {
            Ok(frame) => Some((Ok(SseEvent::default().event("changes").data(&*frame)), (hub, Some(rx)))),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                let (full, fresh) = hub.subscribe();
                Some((Ok(SseEvent::default().event("full").data(full)), (hub, Some(fresh))))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(s).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "404 not found: /healthz, /metrics, /api/v1/snapshot, /api/v1/stream, /api/v1/access, POST /api/v1/actions\n",
    )
        .into_response()
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `router` on `listener` (over TLS when `tls` is set) until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: say so, breathe, go on.
                    log::warn!(target: "serve", "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new();
            let result = match acceptor {
                Some(a) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(tcp)).await {
                    Ok(Ok(tls)) => http.serve_connection(TokioIo::new(tls), service).await,
                    Ok(Err(e)) => {
                        log::info!(target: "serve", "{peer}: TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                },
                None => http.serve_connection(TokioIo::new(tcp), service).await,
            };
            if let Err(e) = result.map_err(|e| e.to_string()) {
                log::debug!(target: "serve", "{peer}: {e}");
            }
        });
    }
}

/// The grant of the request being served (set by `require_token`).
pub fn grant_of(req: &Request) -> Grant {
    req.extensions().get::<Grant>().copied().unwrap_or(Grant::Read)
}
