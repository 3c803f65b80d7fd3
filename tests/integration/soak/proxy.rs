//! A TCP proxy in front of one server, which shardtop connects through: it forwards, stops
//! forwarding (a black hole: connections stay open, bytes go nowhere, new connections are
//! accepted and then held), or forwards every chunk a fixed time after it arrived (latency, not
//! a bandwidth cap: a large answer is late by the delay, not by the delay per chunk).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the proxy does now; shared by its listener and every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    BlackHole,
    /// One-way latency added to every chunk, each direction.
    Latency(Duration),
}

/// `u64::MAX`: black hole; otherwise the added latency in microseconds (0: plain forwarding).
#[derive(Default)]
struct Shared(AtomicU64);

const BLACK_HOLE: u64 = u64::MAX;
/// How often a held connection looks whether forwarding resumed.
const POLL: Duration = Duration::from_millis(20);

impl Shared {
    fn set(&self, mode: Mode) {
        let v = match mode {
            Mode::Forward => 0,
            Mode::BlackHole => BLACK_HOLE,
            Mode::Latency(d) => d.as_micros().min(u128::from(BLACK_HOLE - 1)) as u64,
        };
        self.0.store(v, Ordering::SeqCst);
    }

    fn black_hole(&self) -> bool {
        self.0.load(Ordering::SeqCst) == BLACK_HOLE
    }

    fn latency(&self) -> Duration {
        match self.0.load(Ordering::SeqCst) {
            BLACK_HOLE => Duration::ZERO,
            us => Duration::from_micros(us),
        }
    }

    async fn wait_while_black_hole(&self) {
        while self.black_hole() {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A running proxy; dropping it stops the listener and every connection.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(serve(listener, upstream, shared.clone()));
        Ok(Proxy { port, shared, task })
    }

    pub fn set(&self, mode: Mode) {
        self.shared.set(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    // Connections are tasks of this set: aborting the listener's task drops them all.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                conns.spawn(connection(client, upstream, shared.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    // A black hole holds new connections too: accepted by the kernel, never answered.
    shared.wait_while_black_hole().await;
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pipe(cr, sw, shared.clone()), pipe(sr, cw, shared));
}

/// One direction: a reader stamps each chunk with its arrival, a writer sends it once the
/// latency has passed (and never during a black hole).
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = {
        let shared = shared.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                shared.wait_while_black_hole().await;
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((arrived, bytes)) = rx.recv().await {
            shared.wait_while_black_hole().await;
            tokio::time::sleep_until(arrived + shared.latency()).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(c: &mut TcpStream, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        match tokio::time::timeout(within, c.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(t.elapsed()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_holds_and_delays() {
        let proxy = Proxy::start(echo().await).await.unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert!(round_trip(&mut c, Duration::from_secs(2)).await.is_some());
        proxy.set(Mode::BlackHole);
        assert_eq!(round_trip(&mut c, Duration::from_millis(300)).await, None, "a black hole answers nothing");
        proxy.set(Mode::Latency(Duration::from_millis(100)));
        // The held ping comes back (late), then a new one takes two one-way delays.
        let mut held = [0u8; 4];
        c.read_exact(&mut held).await.unwrap();
        let rtt = round_trip(&mut c, Duration::from_secs(2)).await.expect("answered");
        assert!(rtt >= Duration::from_millis(200), "{rtt:?}");
        proxy.set(Mode::Forward);
        assert!(round_trip(&mut c, Duration::from_secs(2)).await.is_some());
    }
}
