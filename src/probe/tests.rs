//! Prober tests. The first group needs no database: batches are assembled from
//! recorded fixtures, and the network cases use throw-away local sockets.
//!
//! The `live_*` tests are `#[ignore]`d: they need a running server. Run them with
//!
//! ```sh
//! SHARDTOP_TEST_ADDR=127.0.0.1:24407 SHARDTOP_TEST_USER=monitor SHARDTOP_TEST_PASSWORD=... \
//! SHARDTOP_TEST_HEARTBEAT=percona.heartbeat SHARDTOP_TEST_PID=<mariadbd pid> \
//!   cargo test --lib probe::tests::live -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `SHARDTOP_TEST_PID` (optional) lets `live_sigstop_times_out_then_reconnects`
//! freeze the server with SIGSTOP and resume it with SIGCONT, and the benchmark
//! read the server's CPU time. `SHARDTOP_TEST_WRITER_ADDR`, `_USER`, `_PASSWORD`
//! (optional: the master, an account with INSERT and DELETE on the heartbeat
//! table) enable `live_write_heartbeat_then_probe_reads_it`. The monitoring
//! account needs REPLICATION CLIENT / SLAVE MONITOR and SELECT on the heartbeat
//! table. With the project's sandbox (`scripts/sandbox up --shards 1 --replicas 1`):
//!
//! ```sh
//! . /tmp/shardtop-sandbox/sandbox.env
//! export SHARDTOP_TEST_ADDR=$SANDBOX_INSTANCE_s1_r1 SHARDTOP_TEST_USER=$SANDBOX_MONITOR_USER \
//!   SHARDTOP_TEST_PASSWORD=$(cat $SANDBOX_MONITOR_PASSWORD_FILE) SHARDTOP_TEST_HEARTBEAT=percona.heartbeat \
//!   SHARDTOP_TEST_PID=$(cat $SANDBOX_INSTANCE_s1_r1_PIDFILE) SHARDTOP_TEST_WRITER_ADDR=$SANDBOX_INSTANCE_s1_m \
//!   SHARDTOP_TEST_WRITER_USER=$SANDBOX_ADMIN_USER SHARDTOP_TEST_WRITER_PASSWORD=$(cat $SANDBOX_ADMIN_PASSWORD_FILE)
//! ```

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::{Error, ServerError};

use super::parse::{RowMap, parse_vertical};
use super::*;
use crate::fleet::status::{Flavor, GtidMode, IoState};

fn row(pairs: &[(&str, &str)]) -> RowMap<'static> {
    pairs.iter().map(|(n, v)| (*n, if *v == "NULL" { None } else { Some(v.to_string()) })).collect()
}

fn fixture(name: &str) -> Vec<RowMap<'static>> {
    let path = format!("{}/tests/fixtures/probe/{name}", env!("CARGO_MANIFEST_DIR"));
    parse_vertical(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn mariadb() -> Dialect {
    Dialect::detect("10.11.19-MariaDB-0+deb12u1-log", "Debian 12").unwrap()
}

fn heartbeat_spec() -> HeartbeatSpec {
    HeartbeatSpec { table: "percona.heartbeat".into(), utc: true }
}

/// What the MariaDB replica of the fixture answers to a whole probe batch.
fn mariadb_batch() -> Batch<'static> {
    let vars = row(&[
        ("version", "10.11.19-MariaDB-0+deb12u1-log"),
        ("version_comment", "Debian 12"),
        ("server_id", "3401"),
        ("read_only", "1"),
        ("log_bin", "1"),
        ("log_slave_updates", "1"),
        ("binlog_format", "ROW"),
        ("gtid_binlog_pos", "1-3400-14"),
        ("gtid_current_pos", "1-3400-14"),
        ("gtid_slave_pos", "1-3400-14"),
    ]);
    let mut status: Vec<RowMap<'static>> = [("Questions", "1200"), ("Uptime", "600"), ("Threads_running", "2")]
        .iter()
        .map(|(n, v)| row(&[("Variable_name", n), ("Value", v)]))
        .collect();
    // The semi-sync status rides along in the same statement (a master's, as recorded).
    status.extend(fixture("mariadb-10.11-semi-sync-status.txt"));
    let semi_sync_vars = fixture("mariadb-10.11-semi-sync-variables.txt");
    let binlog = row(&[("File", "bin.000001"), ("Position", "3977"), ("Binlog_Do_DB", ""), ("Binlog_Ignore_DB", "")]);
    let heartbeat = vec![
        row(&[("server_id", "3390"), ("ts", "2026-11-26T15:32:09.000001"), ("lag_us", "250000")]),
        row(&[("server_id", "3400"), ("ts", "2026-11-26T15:32:08.000001"), ("lag_us", "1250000")]),
    ];
    Batch {
        sets: vec![
            vec![vars],
            status,
            fixture("mariadb-10.11-show-all-slaves-status.txt"),
            vec![binlog],
            semi_sync_vars,
            heartbeat,
        ],
        failed: None,
    }
}

fn server_error(code: u16, message: &str) -> Error {
    Error::Server(ServerError { code, message: message.into(), state: "42000".into() })
}

#[test]
fn plan_is_one_batch_per_dialect() {
    let plan = Plan::new(mariadb(), Some(&heartbeat_spec()));
    let statements: Vec<&str> = plan.sql.split("; ").collect();
    assert_eq!(statements.len(), plan.steps.len());
    assert!(statements[0].starts_with("SELECT @@global.version AS version, "), "{}", statements[0]);
    assert!(statements[1].starts_with("SHOW GLOBAL STATUS WHERE Variable_name IN ("), "{}", statements[1]);
    assert_eq!(&statements[2..4], ["SHOW ALL REPLICAS STATUS", "SHOW BINLOG STATUS"]);
    assert!(
        statements[4].starts_with("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('rpl_semi_sync"),
        "{}",
        statements[4]
    );
    assert!(statements[5].starts_with("SELECT server_id, ts, TIMESTAMPDIFF("), "{}", statements[5]);
    let mysql = Plan::new(Dialect::detect("8.4.3", "").unwrap(), None);
    assert!(
        mysql.sql.contains("; SHOW REPLICA STATUS; SHOW BINARY LOG STATUS; SHOW GLOBAL VARIABLES"),
        "{}",
        mysql.sql
    );
    assert_eq!(mysql.steps.len(), 5);
}

#[test]
fn discovery_rides_along_and_a_refused_replica_list_is_no_failure() {
    let plan = Plan::with_discovery(mariadb(), Some(&heartbeat_spec()), true);
    let statements: Vec<&str> = plan.sql.split("; ").collect();
    assert_eq!(statements[5], crate::mysql::dialect::DUMP_THREADS_SQL);
    assert!(statements[6].starts_with("SELECT server_id, ts"), "heartbeat before the statement that may be refused");
    assert_eq!(statements[7], "SHOW REPLICA HOSTS");
    let mut batch = mariadb_batch();
    batch.sets.insert(5, vec![row(&[("HOST", "127.0.0.1:40001")]), row(&[("HOST", "127.0.0.1:40002")])]);
    batch.failed = Some((
        7,
        server_error(1227, "Access denied; you need (at least one of) the REPLICATION MASTER ADMIN privilege(s)"),
    ));
    assert!(plan.replica_hosts_refused(&batch));
    let status = plan.build(batch).unwrap_or_else(|f| panic!("{}", f.error));
    let d = status.topo.discovery.expect("discovery ran");
    assert_eq!((d.replica_hosts, d.dump_hosts), (None, vec!["127.0.0.1".to_string(), "127.0.0.1".to_string()]));
    assert_eq!(status.heartbeat_lag, Some(1.25), "the heartbeat still counts");
    // Without the replica list the plan never asks again on this connection.
    let plan = Plan::with_discovery(mariadb(), None, false);
    assert!(!plan.sql.contains("HOSTS"), "{}", plan.sql);
    // The usual probe carries no discovery.
    let plain =
        Plan::new(mariadb(), Some(&heartbeat_spec())).build(mariadb_batch()).unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(plain.topo.discovery, None);
}

#[test]
fn builds_instance_status_from_a_batch() {
    let plan = Plan::new(mariadb(), Some(&heartbeat_spec()));
    let status = plan.build(mariadb_batch()).unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(status.flavor, Flavor::MariaDb);
    assert_eq!(status.version, "10.11.19-MariaDB-0+deb12u1-log");
    assert_eq!((status.server_id, status.read_only, status.super_read_only), (3401, true, None));
    assert_eq!((status.log_bin, status.log_slave_updates, status.binlog_format.as_str()), (true, true, "ROW"));
    assert_eq!(status.gtid.display(), "1-3400-14");
    assert_eq!((status.binlog_file.as_deref(), status.binlog_pos), (Some("bin.000001"), Some(3977)));
    assert_eq!((status.counters.questions, status.counters.uptime, status.counters.com_select), (1200, 600, 0));
    assert_eq!(status.replication.len(), 2);
    let link = status.primary_link().unwrap();
    assert_eq!(
        (link.source.to_string(), link.io_state, link.gtid_mode),
        ("127.0.0.1:24406".into(), IoState::Running, GtidMode::SlavePos)
    );
    assert_eq!(status.replication[1].last_error().map(|(n, _)| n), Some(1396));
    // The default channel's source is server 3400: its heartbeat row, not the newer one of the upstream.
    assert_eq!((status.heartbeat_lag, status.heartbeat_error), (Some(1.25), None));
    let semi_sync = status.semi_sync.expect("semi-sync read in the same round trip");
    let master = semi_sync.master.expect("master side");
    assert_eq!((master.enabled, master.active, master.clients, master.timeout_ms), (true, true, 2, Some(1000)));
}

#[test]
fn a_server_without_semi_sync_reports_none() {
    let mut batch = mariadb_batch();
    batch.sets[1].retain(|r| !r.get_name("Variable_name").flatten().unwrap_or_default().starts_with("Rpl_"));
    batch.sets[4].clear();
    let status = Plan::new(mariadb(), Some(&heartbeat_spec())).build(batch).unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(status.semi_sync, None);
    assert_eq!(status.counters.questions, 1200, "the counters are read as before");
}

#[test]
fn denied_statement_fails_the_probe_naming_the_privilege() {
    let plan = Plan::new(mariadb(), None);
    let mut batch = mariadb_batch();
    batch.sets.truncate(2);
    batch.failed = Some((
        2,
        server_error(
            1227,
            "Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation",
        ),
    ));
    let failure = plan.build(batch).err().unwrap();
    assert_eq!(failure.error.kind, ProbeErrorKind::Query);
    assert!(!failure.drop_connection, "the server answered; keep the connection");
    assert!(
        failure.error.message.starts_with(
            "SHOW ALL REPLICAS STATUS: access denied; the monitoring account needs SLAVE MONITOR (a.k.a. REPLICA MONITOR) (ERROR 1227"
        ),
        "{}",
        failure.error.message
    );
}

#[test]
fn missing_heartbeat_table_is_not_a_probe_failure() {
    let plan = Plan::new(mariadb(), Some(&heartbeat_spec()));
    let mut batch = mariadb_batch();
    batch.sets.truncate(5);
    batch.failed = Some((5, server_error(1146, "Table 'percona.heartbeat' doesn't exist")));
    let status = plan.build(batch).unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(status.heartbeat_lag, None);
    assert_eq!(
        status.heartbeat_error.as_deref(),
        Some("percona.heartbeat: ERROR 1146 (42000): Table 'percona.heartbeat' doesn't exist")
    );
    let mut batch = mariadb_batch();
    batch.sets[5].clear();
    let status = plan.build(batch).unwrap_or_else(|f| panic!("{}", f.error));
    assert!(status.heartbeat_error.unwrap().contains("has no rows"));
}

#[test]
fn unexpected_output_names_statement_channel_column_and_value() {
    let plan = Plan::new(mariadb(), None);
    let mut batch = mariadb_batch();
    batch.sets.truncate(4);
    let global = batch.sets[2].iter_mut().find(|r| r.get_name("Connection_name") == Some(Some("global"))).unwrap();
    let mut broken = RowMap::new();
    for (name, value) in global.iter() {
        let value = if name == "Slave_IO_Running" { Some("Perhaps") } else { value };
        broken.push(name.to_string(), value.map(|v| v.to_string().into()));
    }
    *global = broken;
    let failure = plan.build(batch).err().unwrap();
    assert_eq!(
        failure.error.message,
        "SHOW ALL REPLICAS STATUS, channel \"global\": unexpected output: column Slave_IO_Running: \
         expected Yes, No, Connecting or Preparing, got \"Perhaps\""
    );
}

fn options(timeout: Duration) -> Arc<ProbeOptions> {
    Arc::new(ProbeOptions {
        user: "monitor".into(),
        password: Some(Secret::new("s3cret-pw")),
        tls: Tls::Disabled,
        timeout,
        heartbeat: None,
    })
}

#[test]
fn probes_can_run_on_spawned_tasks() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let mut p = Prober::new(Addr::new("127.0.0.1", 1), options(Duration::from_secs(1)));
    assert_send(&async move { p.probe().await });
}

#[test]
fn backoff_grows_and_caps() {
    let mut p = Prober::new(Addr::new("127.0.0.1", 1), options(Duration::from_secs(1)));
    let mut delays = vec![];
    for failures in 0..9 {
        p.failures = failures;
        delays.push(p.next_attempt_delay().as_millis());
    }
    assert_eq!(delays, [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    p.failures = u32::MAX;
    assert_eq!(p.next_attempt_delay(), Duration::from_secs(30));
}

#[tokio::test]
async fn refused_port_fails_fast() {
    let port = {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut p = Prober::new(Addr::new("127.0.0.1", port), options(Duration::from_secs(2)));
    let sample = p.probe().await;
    let err = sample.result.unwrap_err();
    assert_eq!(err.kind, ProbeErrorKind::Refused, "{}", err.message);
    assert!(sample.elapsed < Duration::from_millis(500), "{:?}", sample.elapsed);
    assert_eq!(p.next_attempt_delay(), Duration::from_millis(500));
    assert_eq!(p.probe().await.result.unwrap_err().kind, ProbeErrorKind::Refused);
    assert_eq!(p.next_attempt_delay(), Duration::from_secs(1));
}

#[test]
fn a_first_connection_failure_asks_for_a_quick_confirmation() {
    use crate::poll::Probe as _;
    let mut p = Prober::new(Addr::new("127.0.0.1", 1), options(Duration::from_secs(1)));
    let asks: Vec<Option<Duration>> = (0..3)
        .map(|failures| {
            p.failures = failures;
            p.confirm_after()
        })
        .collect();
    assert_eq!(asks, [None, Some(CONFIRM_AFTER), None]);
}

#[tokio::test]
async fn silent_server_times_out_on_time() {
    // Accepts connections (the kernel does) but never sends a handshake, like a frozen mysqld.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeout = Duration::from_millis(300);
    let mut p = Prober::new(Addr::new("127.0.0.1", port), options(timeout));
    for _ in 0..2 {
        let started = Instant::now();
        let sample = p.probe().await;
        let err = sample.result.unwrap_err();
        assert_eq!(err.kind, ProbeErrorKind::Timeout);
        assert_eq!(err.message, "no answer within 0.3 s (connecting and logging in)");
        assert!(started.elapsed() < timeout + Duration::from_millis(50), "{:?}", started.elapsed());
    }
    hold.abort();
}

#[tokio::test]
async fn garbage_server_is_an_error_not_a_panic() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"\x05\x00\x00\x00HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let mut p = Prober::new(Addr::new("127.0.0.1", port), options(Duration::from_secs(1)));
    let err = p.probe().await.result.unwrap_err();
    println!("{err:?}");
    assert!(matches!(err.kind, ProbeErrorKind::Other | ProbeErrorKind::Refused), "{err:?}");
    serve.abort();
}

// ---------------------------------------------------------------- live server

struct Live {
    addr: Addr,
    opts: ProbeOptions,
    pid: Option<String>,
}

fn live() -> Option<Live> {
    let addr = std::env::var("SHARDTOP_TEST_ADDR").ok()?.parse().ok()?;
    let opts = ProbeOptions {
        user: std::env::var("SHARDTOP_TEST_USER").unwrap_or_else(|_| "monitor".into()),
        password: std::env::var("SHARDTOP_TEST_PASSWORD").ok().map(Secret::new),
        tls: Tls::Disabled,
        timeout: Duration::from_secs(1),
        heartbeat: std::env::var("SHARDTOP_TEST_HEARTBEAT").ok().map(|table| HeartbeatSpec { table, utc: true }),
    };
    Some(Live { addr, opts, pid: std::env::var("SHARDTOP_TEST_PID").ok() })
}

fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, pid]).status().unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test]
#[ignore = "needs a server: set SHARDTOP_TEST_ADDR etc. (see the top of this file)"]
async fn live_probe_reads_everything() {
    let Some(live) = live() else { return };
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    let first = p.probe().await;
    let status = first.result.unwrap_or_else(|e| panic!("{e}"));
    println!("{status:#?}\nfirst probe (connect + detect + batch): {:?}", first.elapsed);
    let again = p.probe().await;
    println!("second probe (one round trip): {:?}", again.elapsed);
    assert!(again.result.is_ok());
    println!("dialect: {}", p.dialect().unwrap());
}

#[tokio::test]
#[ignore = "needs a server: set SHARDTOP_TEST_ADDR etc. (see the top of this file)"]
async fn live_wrong_password_is_auth_without_the_password() {
    let Some(mut live) = live() else { return };
    let wrong = "Wr0ng-P4ss!-probe";
    live.opts.password = Some(Secret::new(wrong));
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    let err = p.probe().await.result.unwrap_err();
    println!("{err:?}");
    assert_eq!(err.kind, ProbeErrorKind::Auth);
    assert!(!err.message.contains(wrong));
}

#[tokio::test]
#[ignore = "needs a server and its pid: set SHARDTOP_TEST_ADDR, SHARDTOP_TEST_PID etc."]
async fn live_sigstop_times_out_then_reconnects() {
    let Some(live) = live() else { return };
    let Some(pid) = live.pid.clone() else { return };
    let timeout = live.opts.timeout;
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    assert!(p.probe().await.result.is_ok(), "healthy first");

    signal(&pid, "-STOP");
    // Mid-conversation on the kept connection, then while connecting anew.
    let mut outcomes = vec![];
    for _ in 0..2 {
        let started = Instant::now();
        let sample = p.probe().await;
        let took = started.elapsed();
        outcomes.push((sample.result.map(|_| ()), took));
    }
    signal(&pid, "-CONT");
    for (result, took) in &outcomes {
        println!("while stopped: {result:?} after {took:?}");
        assert_eq!(result.as_ref().unwrap_err().kind, ProbeErrorKind::Timeout);
        assert!(*took < timeout + Duration::from_millis(50), "{took:?}");
    }
    assert!(p.next_attempt_delay() > Duration::ZERO);

    let started = Instant::now();
    let sample = p.probe().await;
    println!("after SIGCONT: ok={} after {:?}", sample.result.is_ok(), started.elapsed());
    assert!(sample.result.is_ok(), "{:?}", sample.result.err());
    assert_eq!(p.next_attempt_delay(), Duration::ZERO);
}

/// Round trip and CPU of a persistent-connection probe; prints, asserts little.
/// Client CPU is this test's thread (the runtime is single-threaded); server
/// CPU is read from /proc when `SHARDTOP_TEST_PID` is set.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a server: set SHARDTOP_TEST_ADDR etc.; a measurement, not a check"]
async fn live_bench_1000_probes() {
    let Some(live) = live() else { return };
    let server_pid = live.pid.clone();
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    assert!(p.probe().await.result.is_ok());
    let client_cpu = || -> Duration {
        // Nanoseconds on CPU, first field of schedstat.
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        Duration::from_nanos(stat.split(' ').next().and_then(|f| f.parse().ok()).unwrap_or(0))
    };
    let server_cpu = || -> Duration {
        // utime + stime of the server process, in clock ticks (100 Hz).
        let Some(pid) = &server_pid else { return Duration::ZERO };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name, from `state` (field 3) on: utime is field 14, stime 15.
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split(' ').collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    };
    let n = 1000;
    let (client0, server0, wall0) = (client_cpu(), server_cpu(), Instant::now());
    let mut elapsed: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        let sample = p.probe().await;
        assert!(sample.result.is_ok());
        elapsed.push(sample.elapsed);
    }
    let (client1, server1, wall1) = (client_cpu(), server_cpu(), Instant::now());
    elapsed.sort();
    println!(
        "{n} probes: wall {:?}, median {:?}, p99 {:?}, max {:?}; CPU per probe: client {:?}, server {:?}",
        wall1 - wall0,
        elapsed[n / 2],
        elapsed[n * 99 / 100],
        elapsed[n - 1],
        (client1 - client0) / n as u32,
        (server1 - server0) / n as u32,
    );
}

/// Writes a heartbeat on the master with `write_heartbeat` and reads it back
/// through a probe of the replica. Needs `SHARDTOP_TEST_WRITER_ADDR` (the
/// master), `SHARDTOP_TEST_WRITER_USER` / `_PASSWORD` (INSERT, DELETE on the
/// heartbeat table) besides the variables above.
#[tokio::test]
#[ignore = "needs a master and a replica: set SHARDTOP_TEST_WRITER_ADDR etc."]
async fn live_write_heartbeat_then_probe_reads_it() {
    let Some(live) = live() else { return };
    let Some(spec) = live.opts.heartbeat.clone() else { return };
    let Some(master) = std::env::var("SHARDTOP_TEST_WRITER_ADDR").ok().and_then(|a| a.parse::<Addr>().ok()) else {
        return;
    };
    let writer = ProbeOptions {
        user: std::env::var("SHARDTOP_TEST_WRITER_USER").unwrap_or_default(),
        password: std::env::var("SHARDTOP_TEST_WRITER_PASSWORD").ok().map(Secret::new),
        ..live.opts.clone()
    };
    let mut conn = connect(&master, &writer).await.unwrap_or_else(|e| panic!("{e}"));
    write_heartbeat(&mut conn, &spec).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    let status = p.probe().await.result.unwrap_or_else(|e| panic!("{e}"));
    println!("heartbeat lag {:?}, error {:?}", status.heartbeat_lag, status.heartbeat_error);
    let lag = status.heartbeat_lag.unwrap_or(f64::MAX);
    assert!((0.0..1.0).contains(&lag), "{lag}");
    let _ = conn.disconnect().await;
}

/// A kept connection killed on the server (a DBA, pt-kill, a restart) costs
/// no failed sample: the probe reconnects within its time budget.
#[tokio::test]
#[ignore = "needs a server: set SHARDTOP_TEST_ADDR etc. (see the top of this file)"]
async fn live_killed_connection_reconnects_within_the_probe() {
    use mysql_async::prelude::Queryable;
    let Some(live) = live() else { return };
    let (addr, opts) = (live.addr.clone(), live.opts.clone());
    let mut p = Prober::new(live.addr, Arc::new(live.opts));
    assert!(p.probe().await.result.is_ok());
    // Any account may kill its own connections.
    let mut killer = connect(&addr, &opts).await.unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u64> = killer
        .query("SELECT id FROM information_schema.processlist WHERE user = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND id <> CONNECTION_ID()")
        .await
        .unwrap_or_default();
    assert!(!ids.is_empty(), "the prober's connection is listed");
    for id in ids {
        killer.query_drop(format!("KILL {id}")).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let sample = p.probe().await;
    println!("after KILL: {:?} in {:?}", sample.result.as_ref().map(|_| "ok"), sample.elapsed);
    assert!(sample.result.is_ok());
    assert_eq!(p.next_attempt_delay(), Duration::ZERO);
    let _ = killer.disconnect().await;
}

/// The driver frames every connection with tokio-util's `Framed`; shardtop patches its initial
/// buffer size (vendor/README.md) because one connection per server × 10,000 servers made those
/// buffers most of the poller's memory. Fails if the patch is dropped by accident.
#[test]
fn framed_buffers_start_small() {
    let (io, _peer) = tokio::io::duplex(64);
    let framed = tokio_util::codec::Framed::new(io, tokio_util::codec::BytesCodec::new());
    assert_eq!(framed.read_buffer().capacity(), 1024);
    assert_eq!(framed.write_buffer().capacity(), 1024);
}
