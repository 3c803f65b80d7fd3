//! The feed latency probe: the configured read, against every shard at once,
//! for one sampled user per round, on connections of its own.
//!
//! Rounds run one after another, so no server ever has more than one probe
//! query in flight; each server's part is bounded by the feed timeout, so a
//! hung shard makes its own result a timeout and delays nobody else's. The
//! fleet model turns rounds into percentiles (`fleet::feed`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::errors::{connect_error, connection_lost, probe_error, query_error};
use super::{ProbeOptions, connection_opts};
use crate::config::{FeedConfig, FeedTargets, UserSample};
use crate::fleet::status::{ProbeError, ProbeErrorKind};
use crate::fleet::{Addr, FeedResult, FeedRound, Shard};

/// Prepared statements kept per connection: the probe uses one.
const STMT_CACHE: usize = 4;

/// Where one shard's part of a round goes.
struct Target {
    /// The servers asked in turn (one per round).
    addrs: Vec<Addr>,
    next: usize,
    conns: HashMap<Addr, Conn>,
}

pub struct FeedProber {
    kind: FeedTargets,
    query: String,
    database: Option<String>,
    sample: UserSample,
    timeout: Duration,
    opts: Arc<ProbeOptions>,
    targets: Vec<Target>,
    round: u64,
}

impl FeedProber {
    /// One target per shard, in the layout's order.
    pub fn new(cfg: &FeedConfig, shards: &[Shard], opts: Arc<ProbeOptions>) -> Self {
        let targets = shards
            .iter()
            .map(|s| {
                let replicas: Vec<Addr> = s.replicas().iter().map(|i| i.addr.clone()).collect();
                Target { addrs: target_addrs(cfg.targets, &s.master().addr, replicas), next: 0, conns: HashMap::new() }
            })
            .collect();
        FeedProber {
            kind: cfg.targets,
            query: cfg.query.clone(),
            database: cfg.database.clone(),
            sample: cfg.sample.clone(),
            timeout: cfg.timeout,
            opts,
            targets,
            round: 0,
        }
    }

    /// The shards' masters or replicas changed (a promotion from this session): ask the new ones,
    /// in the same shard order, keeping the connections to servers still asked.
    pub fn retarget(&mut self, shards: &[crate::config::ShardConfig]) {
        for (t, s) in self.targets.iter_mut().zip(shards) {
            let addrs = target_addrs(self.kind, &s.master, s.replicas.clone());
            if addrs != t.addrs {
                t.conns.retain(|a, _| addrs.contains(a));
                t.addrs = addrs;
                t.next = 0;
            }
        }
    }

    /// One round: every shard asked for the same user at once, each bounded by the timeout.
    pub async fn round(&mut self) -> FeedRound {
        let user_id = self.sample.pick(self.round);
        self.round += 1;
        let (query, timeout, opts, db) = (&self.query, self.timeout, &self.opts, self.database.as_deref());
        let results = futures::future::join_all(self.targets.iter_mut().map(|t| async move {
            let addr = t.addrs.get(t.next % t.addrs.len().max(1)).cloned()?;
            t.next = t.next.wrapping_add(1);
            Some(ask(t, addr, Ask { query, db, user_id, timeout }, opts).await)
        }))
        .await;
        FeedRound { at: Utc::now(), user_id, results }
    }

    /// Says goodbye to the servers that answer, waiting at most `limit`.
    pub async fn close(&mut self, limit: Duration) {
        let conns: Vec<Conn> = self.targets.iter_mut().flat_map(|t| t.conns.drain().map(|(_, c)| c)).collect();
        let _ = tokio::time::timeout(limit, futures::future::join_all(conns.into_iter().map(Conn::disconnect))).await;
    }
}

/// Runs rounds every `interval` until the receiver goes away.
/// Who a shard's feed asks: its replicas in turn, or its master.
fn target_addrs(kind: FeedTargets, master: &Addr, replicas: Vec<Addr>) -> Vec<Addr> {
    match kind {
        FeedTargets::Replicas if !replicas.is_empty() => replicas,
        _ => vec![master.clone()],
    }
}

/// Rounds every `interval` until the receiver is gone. `roles`, when given, carries the
/// session's config after a promotion: the prober follows the new master.
pub async fn run<T: From<FeedRound>>(
    mut prober: FeedProber,
    interval: Duration,
    tx: mpsc::Sender<T>,
    mut roles: Option<tokio::sync::watch::Receiver<Arc<crate::config::Config>>>,
) {
    let mut ticker = tokio::time::interval(interval);
    // A slow round (timeouts) delays the next one instead of bunching them up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(rx) = roles.as_mut()
            && rx.has_changed().unwrap_or(false)
        {
            let cfg = rx.borrow_and_update().clone();
            prober.retarget(&cfg.shards);
        }
        let round = prober.round().await;
        if tx.send(round.into()).await.is_err() {
            return;
        }
    }
}

fn feed_opts(addr: &Addr, opts: &ProbeOptions, db: Option<&str>) -> Opts {
    OptsBuilder::from_opts(connection_opts(addr, opts))
        .stmt_cache_size(Some(STMT_CACHE))
        .db_name(db.map(str::to_string))
        .into()
}

/// What one server is asked in a round.
struct Ask<'a> {
    query: &'a str,
    db: Option<&'a str>,
    user_id: u64,
    timeout: Duration,
}

/// One server's part of a round. The clock runs for the query only (a
/// reconnect is not feed latency), but connect and query share one deadline.
async fn ask(t: &mut Target, addr: Addr, a: Ask<'_>, opts: &ProbeOptions) -> FeedResult {
    let Ask { query, db, user_id, timeout } = a;
    let deadline = Instant::now() + timeout;
    let timed_out = |what: &str| {
        probe_error(
            ProbeErrorKind::Timeout,
            format!("feed query: no answer within {:.1} s ({what})", timeout.as_secs_f64()),
        )
    };
    if !t.conns.contains_key(&addr) {
        match tokio::time::timeout_at(deadline, Conn::new(feed_opts(&addr, opts, db))).await {
            Ok(Ok(conn)) => {
                t.conns.insert(addr.clone(), conn);
            }
            Ok(Err(e)) => return failed(addr, timeout, scrub(connect_error(&e, &opts.user, &opts.tls), opts)),
            Err(_) => return failed(addr, timeout, timed_out("connecting")),
        }
    }
    let Some(conn) = t.conns.get_mut(&addr) else {
        return failed(addr, Duration::ZERO, probe_error(ProbeErrorKind::Other, "no connection"));
    };
    let mut started = Instant::now();
    let outcome = tokio::time::timeout_at(deadline, async {
        // Prepared once per connection (the statement cache), like an application's feed read.
        let stmt = conn.prep(query).await?;
        let params =
            if stmt.num_params() == 1 { Params::Positional(vec![Value::UInt(user_id)]) } else { Params::Empty };
        started = Instant::now();
        conn.exec::<Row, _, _>(&stmt, params).await
    })
    .await;
    let elapsed = started.elapsed();
    match outcome {
        Ok(Ok(rows)) => FeedResult { instance: addr, elapsed, outcome: Ok(rows.len()) },
        Ok(Err(e)) => {
            if connection_lost(&e) {
                drop_conn(t, &addr);
            }
            let err = query_error(&e, "feed query", Some("SELECT on the tables feed.query reads"));
            FeedResult { instance: addr, elapsed, outcome: Err(scrub(err, opts)) }
        }
        Err(_) => {
            // The server may answer later on this connection: never reuse it.
            drop_conn(t, &addr);
            FeedResult { instance: addr, elapsed: timeout, outcome: Err(timed_out("waiting for rows")) }
        }
    }
}

fn failed(addr: Addr, elapsed: Duration, e: ProbeError) -> FeedResult {
    FeedResult { instance: addr, elapsed, outcome: Err(e) }
}

/// Forgets a connection without waiting for a possibly hung server.
fn drop_conn(t: &mut Target, addr: &Addr) {
    if let Some(conn) = t.conns.remove(addr) {
        let _ = conn.disconnect().now_or_never();
    }
}

fn scrub(mut e: ProbeError, opts: &ProbeOptions) -> ProbeError {
    if let Some(p) = &opts.password {
        e.message = p.scrub(&e.message);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FeedConfig, FeedTargets, UserSample};

    fn cfg(targets: FeedTargets) -> FeedConfig {
        FeedConfig {
            query: FeedConfig::DEFAULT_QUERY.into(),
            database: None,
            sample: UserSample::Ids(vec![4, 8]),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(100),
            targets,
            window: Duration::from_secs(60),
        }
    }

    fn shards() -> Vec<Shard> {
        vec![
            Shard::new("a", Addr::new("a-m", 3306), [Addr::new("a-r1", 3306), Addr::new("a-r2", 3306)], None),
            Shard::new("b", Addr::new("b-m", 3306), [], None),
        ]
    }

    #[test]
    fn after_a_promotion_the_feed_asks_the_new_master_or_the_new_replicas() {
        use crate::config::ShardConfig;
        let addrs = |p: &FeedProber| -> Vec<Vec<String>> {
            p.targets.iter().map(|t| t.addrs.iter().map(|a| a.to_string()).collect()).collect()
        };
        let promoted = vec![
            ShardConfig {
                name: "a".into(),
                master: Addr::new("a-r1", 3306),
                replicas: vec![Addr::new("a-m", 3306), Addr::new("a-r2", 3306)],
                upstream: None,
                promotion: vec![],
            },
            ShardConfig {
                name: "b".into(),
                master: Addr::new("b-m", 3306),
                replicas: vec![],
                upstream: None,
                promotion: vec![],
            },
        ];
        let mut p = FeedProber::new(&cfg(FeedTargets::Master), &shards(), opts());
        p.retarget(&promoted);
        assert_eq!(addrs(&p), vec![vec!["a-r1:3306"], vec!["b-m:3306"]]);
        let mut p = FeedProber::new(&cfg(FeedTargets::Replicas), &shards(), opts());
        p.retarget(&promoted);
        assert_eq!(addrs(&p), vec![vec!["a-m:3306", "a-r2:3306"], vec!["b-m:3306"]]);
    }

    fn opts() -> Arc<ProbeOptions> {
        Arc::new(ProbeOptions {
            user: "m".into(),
            password: None,
            tls: crate::probe::Tls::Disabled,
            timeout: Duration::from_millis(100),
            heartbeat: None,
        })
    }

    #[test]
    fn targets_are_masters_or_replicas_in_turn() {
        let p = FeedProber::new(&cfg(FeedTargets::Master), &shards(), opts());
        let addrs: Vec<Vec<String>> =
            p.targets.iter().map(|t| t.addrs.iter().map(|a| a.to_string()).collect()).collect();
        assert_eq!(addrs, vec![vec!["a-m:3306"], vec!["b-m:3306"]]);
        let p = FeedProber::new(&cfg(FeedTargets::Replicas), &shards(), opts());
        let addrs: Vec<Vec<String>> =
            p.targets.iter().map(|t| t.addrs.iter().map(|a| a.to_string()).collect()).collect();
        // A shard without listed replicas is still asked, at its master.
        assert_eq!(addrs, vec![vec!["a-r1:3306", "a-r2:3306"], vec!["b-m:3306"]]);
    }

    #[tokio::test]
    async fn a_round_against_nothing_listening_reports_every_shard_and_rotates() {
        // Ports from bound-then-closed listeners: refused at once.
        let port =
            || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1);
        let shards = vec![
            Shard::new(
                "a",
                Addr::new("127.0.0.1", port()),
                [Addr::new("127.0.0.1", port()), Addr::new("127.0.0.1", port())],
                None,
            ),
            Shard::new("b", Addr::new("127.0.0.1", port()), [], None),
        ];
        let mut p = FeedProber::new(&cfg(FeedTargets::Replicas), &shards, opts());
        let r1 = p.round().await;
        let r2 = p.round().await;
        assert_eq!((r1.user_id, r2.user_id), (4, 8), "user ids in turn");
        assert_eq!(r1.results.len(), 2);
        let first = |r: &FeedRound, i: usize| r.results[i].as_ref().map(|x| x.instance.clone());
        assert_ne!(first(&r1, 0), first(&r2, 0), "replicas in turn");
        assert_eq!(first(&r1, 1), first(&r2, 1));
        for r in r1.results.iter().chain(&r2.results).flatten() {
            let e = r.outcome.as_ref().expect_err("nothing listens");
            assert_eq!(e.kind, ProbeErrorKind::Refused, "{e:?}");
        }
    }
}
