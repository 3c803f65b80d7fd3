//! The server side of the MySQL protocol, just enough for the probe: handshake v10
//! with `mysql_native_password` (any password is accepted), COM_QUERY with text
//! result sets (several per query for multi-statements), COM_PING, COM_INIT_DB,
//! COM_QUIT, OK and ERR packets. No TLS, no prepared statements, classic EOF
//! packets (CLIENT_DEPRECATE_EOF is not offered). One listener per instance.
//!
//! Hand-written rather than on `opensrv-mysql`: the probe needs multiple result sets
//! per COM_QUERY and exact control over hangs and dead servers, and the protocol
//! subset is a few hundred lines with no new dependency.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::state::{Reply, ResultSet, WireFleet};

/// How the simulated servers behave beyond their state.
#[derive(Clone, Debug)]
pub struct WireOptions {
    /// Added before every query's answer.
    pub latency: Duration,
    /// Per instance index: accepts connections, then never says a word.
    pub hung: Vec<bool>,
    /// Sim time zero.
    pub start: Instant,
    /// Tests: answer as at this sim time, always.
    pub frozen_at: Option<f64>,
}

impl WireOptions {
    pub fn new(latency: Duration, hung: Vec<bool>) -> Self {
        WireOptions { latency, hung, start: Instant::now(), frozen_at: None }
    }

    fn now(&self) -> f64 {
        self.frozen_at.unwrap_or_else(|| self.start.elapsed().as_secs_f64())
    }

    fn is_hung(&self, k: usize) -> bool {
        self.hung.get(k).copied().unwrap_or(false)
    }
}

/// Which of `n` instances hang for `percent` %: `round(n × percent / 100)` of them, evenly spread.
pub fn hung_instances(n: usize, percent: f64) -> Vec<bool> {
    let count = ((n as f64) * percent.clamp(0.0, 100.0) / 100.0).round() as usize;
    (0..n).map(|k| count > 0 && (k * count) / n != ((k + 1) * count) / n).collect()
}

/// Raises this process's open-file limit to its hard limit (one listener and one
/// connection per simulated instance add up). Returns (soft, hard) after the change.
pub fn raise_nofile_limit() -> (u64, u64) {
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (0, 0);
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

/// One listener per address (port 0: any free port), in order.
pub async fn bind_all(addrs: impl IntoIterator<Item = std::net::SocketAddr>) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for addr in addrs {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        out.push(listener);
    }
    Ok(out)
}

struct Shared {
    fleet: Arc<WireFleet>,
    opts: WireOptions,
    next_id: AtomicU32,
}

/// Serves instance `k` on each `(k, listener)` until the returned set is dropped.
pub fn serve(fleet: Arc<WireFleet>, opts: WireOptions, listeners: Vec<(usize, TcpListener)>) -> JoinSet<()> {
    let shared = Arc::new(Shared { fleet, opts, next_id: AtomicU32::new(1) });
    let mut tasks = JoinSet::new();
    for (k, listener) in listeners {
        let shared = shared.clone();
        tasks.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    // Out of descriptors, most likely: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A client going away mid-packet is its business.
                    let _ = connection(sock, k, &shared).await;
                });
            }
        });
    }
    tasks
}

const CHARSET_UTF8MB4: u8 = 45;
const STATUS_AUTOCOMMIT: u16 = 0x0002;
const STATUS_MORE_RESULTS: u16 = 0x0008;
const CAPABILITIES: u32 = 0x0000_0001 // LONG_PASSWORD
    | 0x0000_0002 // FOUND_ROWS
    | 0x0000_0004 // LONG_FLAG
    | 0x0000_0008 // CONNECT_WITH_DB
    | 0x0000_0200 // PROTOCOL_41
    | 0x0000_2000 // TRANSACTIONS
    | 0x0000_8000 // SECURE_CONNECTION
    | 0x0001_0000 // MULTI_STATEMENTS
    | 0x0002_0000 // MULTI_RESULTS
    | 0x0004_0000 // PS_MULTI_RESULTS
    | 0x0008_0000 // PLUGIN_AUTH
    | 0x0010_0000 // CONNECT_ATTRS
    | 0x0020_0000; // PLUGIN_AUTH_LENENC_CLIENT_DATA
const SCRAMBLE: &[u8; 20] = b"shardtop-sim-scrambl";

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;
const COM_RESET_CONNECTION: u8 = 0x1f;

async fn connection(mut sock: TcpStream, k: usize, shared: &Shared) -> io::Result<()> {
    let opts = &shared.opts;
    if opts.is_hung(k) {
        // Never answer; hold the socket until the client gives up.
        let mut sink = [0u8; 256];
        while sock.read(&mut sink).await? > 0 {}
        return Ok(());
    }
    if shared.fleet.status(k, opts.now()).is_err() {
        return Ok(()); // scripted dead: the connection closes at once
    }
    sock.set_nodelay(true)?;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let mut out = Out::default();
    out.packet(&handshake(shared.fleet.flavor.version(), id));
    sock.write_all(&out.take()).await?;
    let (seq, _response) = read_packet(&mut sock).await?;
    out.seq = seq.wrapping_add(1);
    out.packet(&ok_packet());
    sock.write_all(&out.take()).await?;

    loop {
        let (_, payload) = read_packet(&mut sock).await?;
        out.seq = 1;
        match payload.first().copied() {
            None | Some(COM_QUIT) => return Ok(()),
            Some(COM_PING | COM_INIT_DB | COM_RESET_CONNECTION) => out.packet(&ok_packet()),
            Some(COM_QUERY) => {
                if !opts.latency.is_zero() {
                    tokio::time::sleep(opts.latency).await;
                }
                let sql = String::from_utf8_lossy(&payload[1..]);
                let Some(replies) = shared.fleet.answer(k, opts.now(), &sql) else {
                    return Ok(()); // died since connecting
                };
                write_replies(&mut out, &replies);
            }
            Some(other) => out.packet(&err_packet(1047, "08S01", &format!("unknown command {other:#04x}"))),
        }
        sock.write_all(&out.take()).await?;
    }
}

async fn read_packet(sock: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    sock.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    sock.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

/// Packets of one response, framed with their sequence numbers.
#[derive(Default)]
struct Out {
    buf: Vec<u8>,
    seq: u8,
}

impl Out {
    fn packet(&mut self, payload: &[u8]) {
        // Our payloads stay far below the 16 MiB frame limit.
        let len = payload.len() as u32;
        self.buf.extend_from_slice(&len.to_le_bytes()[..3]);
        self.buf.push(self.seq);
        self.buf.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

fn handshake(version: &str, connection_id: u32) -> Vec<u8> {
    let mut p = vec![10u8];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&connection_id.to_le_bytes());
    p.extend_from_slice(&SCRAMBLE[..8]);
    p.push(0);
    p.extend_from_slice(&(CAPABILITIES as u16).to_le_bytes());
    p.push(CHARSET_UTF8MB4);
    p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend_from_slice(&((CAPABILITIES >> 16) as u16).to_le_bytes());
    p.push(21); // scramble length + 1
    p.extend_from_slice(&[0u8; 10]);
    p.extend_from_slice(&SCRAMBLE[8..]);
    p.push(0);
    p.extend_from_slice(b"mysql_native_password\0");
    p
}

fn ok_packet() -> Vec<u8> {
    let mut p = vec![0x00, 0, 0];
    p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p
}

fn err_packet(code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(&state.as_bytes()[..5.min(state.len())]);
    p.extend_from_slice(message.as_bytes());
    p
}

fn eof_packet(status: u16) -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p
}

fn lenenc_int(p: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => p.push(n as u8),
        251..=0xffff => {
            p.push(0xfc);
            p.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            p.push(0xfd);
            p.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            p.push(0xfe);
            p.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn lenenc_str(p: &mut Vec<u8>, s: &str) {
    lenenc_int(p, s.len() as u64);
    p.extend_from_slice(s.as_bytes());
}

fn column_definition(name: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + 2 * name.len());
    lenenc_str(&mut p, "def");
    lenenc_str(&mut p, ""); // schema
    lenenc_str(&mut p, ""); // table
    lenenc_str(&mut p, ""); // org_table
    lenenc_str(&mut p, name);
    lenenc_str(&mut p, name);
    p.push(0x0c);
    p.extend_from_slice(&u16::from(CHARSET_UTF8MB4).to_le_bytes());
    p.extend_from_slice(&1024u32.to_le_bytes()); // display length
    p.push(0xfd); // MYSQL_TYPE_VAR_STRING
    p.extend_from_slice(&0u16.to_le_bytes()); // flags
    p.push(0); // decimals
    p.extend_from_slice(&[0, 0]);
    p
}

fn write_result_set(out: &mut Out, set: &ResultSet, more: bool) {
    let mut count = Vec::new();
    lenenc_int(&mut count, set.columns.len() as u64);
    out.packet(&count);
    for name in &set.columns {
        out.packet(&column_definition(name));
    }
    out.packet(&eof_packet(STATUS_AUTOCOMMIT));
    let mut row_buf = Vec::new();
    for row in &set.rows {
        row_buf.clear();
        for value in row {
            match value {
                None => row_buf.push(0xfb),
                Some(v) => lenenc_str(&mut row_buf, v),
            }
        }
        out.packet(&row_buf);
    }
    let status = if more { STATUS_AUTOCOMMIT | STATUS_MORE_RESULTS } else { STATUS_AUTOCOMMIT };
    out.packet(&eof_packet(status));
}

fn write_replies(out: &mut Out, replies: &[Reply]) {
    if replies.is_empty() {
        out.packet(&ok_packet());
        return;
    }
    for (index, reply) in replies.iter().enumerate() {
        let more = index + 1 < replies.len();
        match reply {
            // A result set without columns would be an OK packet; every statement we answer has columns.
            Reply::Rows(set) if !set.columns.is_empty() => write_result_set(out, set, more),
            Reply::Rows(_) => {
                let mut p = ok_packet();
                if more {
                    p[3..5].copy_from_slice(&(STATUS_AUTOCOMMIT | STATUS_MORE_RESULTS).to_le_bytes());
                }
                out.packet(&p);
            }
            Reply::Error { code, state, message } => out.packet(&err_packet(*code, state, message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hung_instances_are_exactly_the_share_asked_for_and_spread() {
        let hung = hung_instances(1000, 1.0);
        assert_eq!(hung.iter().filter(|&&h| h).count(), 10);
        let first = hung.iter().position(|&h| h).unwrap();
        assert!(first < 100, "spread, not bunched at the end: {first}");
        assert!(hung_instances(10, 0.0).iter().all(|&h| !h));
        assert_eq!(hung_instances(10, 100.0).iter().filter(|&&h| h).count(), 10);
    }

    #[test]
    fn length_encoded_integers_use_the_shortest_form() {
        let enc = |n| {
            let mut p = Vec::new();
            lenenc_int(&mut p, n);
            p
        };
        assert_eq!(enc(250), vec![250]);
        assert_eq!(enc(251), vec![0xfc, 251, 0]);
        assert_eq!(enc(0x1_0000), vec![0xfd, 0, 0, 1]);
        assert_eq!(enc(1 << 24).len(), 9);
    }
}

/// The real probe against the wire sim: what it parses is what the sim holds.
#[cfg(test)]
mod probe_tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::fleet::Addr;
    use crate::fleet::status::{InstanceStatus, ProbeErrorKind};
    use crate::probe::{ProbeOptions, Prober, Tls};
    use crate::sim::script;
    use crate::sim::state::{PER_SHARD, WireFlavor};

    const T: f64 = 40.0; // the lag spike and the broken replica are both on

    async fn start(flavor: WireFlavor, shards: usize, hung: &[usize]) -> (Arc<WireFleet>, JoinSet<()>) {
        let n = shards * PER_SHARD + 1;
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let listeners = bind_all(std::iter::repeat_n(any, n)).await.expect("bind loopback");
        let addrs = listeners
            .iter()
            .map(|l| {
                let a = l.local_addr().expect("bound");
                Addr::new(a.ip().to_string(), a.port())
            })
            .collect();
        let fleet = Arc::new(WireFleet::new(shards, flavor, addrs));
        let mut opts = WireOptions::new(Duration::ZERO, (0..n).map(|k| hung.contains(&k)).collect());
        opts.frozen_at = Some(T);
        let tasks = serve(fleet.clone(), opts, listeners.into_iter().enumerate().collect());
        (fleet, tasks)
    }

    fn prober(addr: &Addr, timeout: Duration) -> Prober {
        let opts =
            ProbeOptions { user: "monitor".into(), password: None, tls: Tls::Disabled, timeout, heartbeat: None };
        Prober::new(addr.clone(), Arc::new(opts))
    }

    /// What the probe cannot learn from the wire (the sim keeps no processlist of its own).
    fn comparable(mut s: InstanceStatus) -> InstanceStatus {
        s.topo.discovery = None;
        s
    }

    async fn probe_matches_state(flavor: WireFlavor) {
        let shards = 5; // up to the broken-replica shard
        let (fleet, _tasks) = start(flavor, shards, &[]).await;
        for k in 0..=fleet.instances() {
            let mut p = prober(&fleet.addrs[k], Duration::from_secs(5));
            let sample = p.probe().await;
            let got = sample.result.unwrap_or_else(|e| panic!("{flavor:?} instance {k}: {e:?}"));
            let want = fleet.status(k, T).expect("up");
            assert_eq!(comparable(got.clone()), comparable(want), "{flavor:?} instance {k}");
            assert_eq!(p.dialect(), Some(flavor.dialect()));
            // Discovery rode along on the first probe: a master lists its two replicas.
            if k % PER_SHARD == 0 && k < fleet.instances() && k != 3 * PER_SHARD {
                let hosts = got.topo.discovery.and_then(|d| d.replica_hosts).unwrap_or_default();
                assert_eq!(hosts.len(), 2, "{flavor:?} master {k}: {hosts:?}");
            }
        }
        // Spot checks on what matters, in case both sides were wrong the same way.
        let lagging = fleet.status(script::LAG_SHARD * PER_SHARD + 1, T).unwrap();
        let mut p = prober(&fleet.addrs[script::LAG_SHARD * PER_SHARD + 1], Duration::from_secs(5));
        let got = p.probe().await.result.unwrap();
        assert!(got.read_only && got.primary_link().unwrap().seconds_behind.unwrap() > 30);
        assert_eq!(got.gtid, lagging.gtid);
        assert!(got.counters.questions > 10_000);
        let broken = script::BROKEN_SHARD * PER_SHARD + 2;
        let got = prober(&fleet.addrs[broken], Duration::from_secs(5)).probe().await.result.unwrap();
        let link = got.primary_link().unwrap();
        assert!(!link.sql_running && link.last_sql_errno == 1062, "{link:?}");
        // A second probe on the kept connection sees the same frozen state.
        let again = p.probe().await.result.unwrap();
        assert_eq!(again.counters, lagging.counters);
    }

    #[tokio::test]
    async fn the_real_probe_reads_the_mariadb_sims_state() {
        probe_matches_state(WireFlavor::Mariadb).await;
    }

    #[tokio::test]
    async fn the_real_probe_reads_the_mysql84_sims_state() {
        probe_matches_state(WireFlavor::Mysql84).await;
    }

    #[tokio::test]
    async fn a_hung_instance_times_out_within_the_probe_timeout_and_others_answer() {
        let (fleet, _tasks) = start(WireFlavor::Mariadb, 1, &[1]).await;
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let sample = prober(&fleet.addrs[1], timeout).probe().await;
        let err = sample.result.expect_err("hung");
        assert_eq!(err.kind, ProbeErrorKind::Timeout, "{err:?}");
        // Bounded by the timeout (generous slack for a loaded machine; this is not a timing claim).
        assert!(started.elapsed() < timeout * 10, "{:?}", started.elapsed());
        assert!(prober(&fleet.addrs[0], timeout * 10).probe().await.result.is_ok());
    }
}
