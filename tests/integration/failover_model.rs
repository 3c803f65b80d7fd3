//! The model's verdict on a master against real servers (the sandbox `scripts/test` starts):
//! SIGKILLed is suspect, then dead within a poll interval and a probe timeout; SIGSTOPped is
//! only unreachable, its replicas still connected; resumed, it is up again.
//!
//! Shards: s26 (its master is killed) and s27 (its master is frozen), which `scripts/test` starts
//! for this module; both are restarted or resumed at the end, panic or not. The
//! real prober, poller and fleet model are driven here, not the CLI.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shardtop::fleet::death::MasterState;
use shardtop::fleet::{Addr, Event, Fleet, Limits, Shard};
use shardtop::poll::{Poller, Schedule, Slot, Update};
use shardtop::probe::{ProbeOptions, Prober, Tls};
use shardtop::secret::Secret;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::common::Sandbox;

const KILLED: &str = "s26";
const FROZEN: &str = "s27";
const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);

fn addr(sb: &Sandbox, name: &str) -> Addr {
    let text = sb.addr(name);
    let (host, port) = text.rsplit_once(':').expect("host:port");
    Addr::new(host, port.parse().expect("port"))
}

/// `scripts/sandbox VERB NAME --dir DIR` (kill, freeze, thaw, start), which must succeed.
fn sandbox(sb: &Sandbox, verb: &str, name: &str) {
    sb.pid(name); // only this module's servers
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let out = std::process::Command::new(script)
        .args([verb, name, "--dir", sb.var("SANDBOX_DIR")])
        .output()
        .expect("run scripts/sandbox");
    assert!(out.status.success(), "sandbox {verb} {name}: {}", String::from_utf8_lossy(&out.stderr));
}

fn shard(sb: &Sandbox, name: &str) -> Shard {
    let replicas: Vec<Addr> = sb.replicas(name).iter().map(|r| addr(sb, r)).collect();
    Shard::new(name, addr(sb, &format!("{name}-m")), replicas, None)
}

/// Brings the killed master back and resumes the frozen one, whatever happened.
struct Restore<'a>(&'a Sandbox);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| sandbox(self.0, "thaw", &format!("{FROZEN}-m")));
        let _ = std::panic::catch_unwind(|| sandbox(self.0, "start", &format!("{KILLED}-m")));
    }
}

/// The fleet as the poller feeds it, with every event it reported per shard.
struct Watch {
    fleet: Fleet,
    rx: mpsc::Receiver<Update>,
    events: Vec<Event>,
}

impl Watch {
    /// Applies updates until `done` holds for the fleet, or `limit` passes; returns when it held.
    async fn until(&mut self, limit: Duration, what: &str, done: impl Fn(&Fleet) -> bool) -> Instant {
        let deadline = Instant::now() + limit;
        while !done(&self.fleet) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(u)) => {
                    let ev = self.fleet.apply(u.slot.shard, u.slot.instance, u.sample);
                    self.events.extend(ev);
                }
                _ => panic!("{what}: not within {limit:?}; states {:?}", self.states()),
            }
        }
        Instant::now()
    }

    fn state(&self, s: usize) -> Option<MasterState> {
        self.fleet.shards[s].master_state.clone()
    }

    fn states(&self) -> Vec<Option<MasterState>> {
        (0..self.fleet.shards.len()).map(|s| self.state(s)).collect()
    }

    /// The master-verdict events of shard `name`, as (rule, severity).
    fn verdict_events(&self, name: &str) -> Vec<(&'static str, shardtop::fleet::Health)> {
        self.events
            .iter()
            .filter(|e| e.shard == name && matches!(e.rule, "master_unreachable" | "master_dead"))
            .map(|e| (e.rule, e.severity))
            .collect()
    }
}

fn healthy(f: &Fleet) -> bool {
    f.shards.iter().all(|s| s.master_state == Some(MasterState::Up) && s.replicas_up() == s.replicas().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_master_is_suspect_then_dead_and_a_frozen_one_only_unreachable() {
    use shardtop::fleet::Health::{Critical, Ok as Fine};
    let sb = sandbox_or_skip!();
    let password = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password file");
    let opts = Arc::new(ProbeOptions {
        user: sb.var("SANDBOX_MONITOR_USER").to_string(),
        password: Some(Secret::new(password.trim_end())),
        tls: Tls::Disabled,
        timeout: TIMEOUT,
        heartbeat: None,
    });
    let shards = vec![shard(&sb, KILLED), shard(&sb, FROZEN)];
    let probes: Vec<(Slot, Prober)> =
        shards
            .iter()
            .enumerate()
            .flat_map(|(s, shard)| {
                let opts = opts.clone();
                shard.instances.iter().enumerate().map(move |(i, inst)| {
                    (Slot { shard: s, instance: i }, Prober::new(inst.addr.clone(), opts.clone()))
                })
            })
            .collect();
    let (tx, rx) = mpsc::channel(256);
    let _poller = Poller::spawn(probes, Schedule { interval: INTERVAL, concurrency: 8 }, tx);
    let mut w = Watch { fleet: Fleet::new(shards, Limits::default()), rx, events: Vec::new() };
    w.until(Duration::from_secs(10), "both shards healthy", healthy).await;
    let _restore = Restore(&sb);

    // SIGKILL: suspect at the first failed probe, dead once confirmed and both replicas lost their link.
    let killed = Instant::now();
    sandbox(&sb, "kill", &format!("{KILLED}-m"));
    let suspect = w
        .until(INTERVAL + TIMEOUT, "s26 suspect", |f| {
            matches!(f.shards[0].master_state, Some(MasterState::Suspect { .. }))
        })
        .await;
    let dead = w
        .until(INTERVAL + TIMEOUT, "s26 dead", |f| f.shards[0].master_state.as_ref().is_some_and(MasterState::is_dead))
        .await;
    let to_dead = dead - killed;
    println!(
        "SIGKILL of {KILLED}-m: suspect after {:.0} ms, dead after {:.0} ms (interval {INTERVAL:?} + timeout {TIMEOUT:?})",
        (suspect - killed).as_secs_f64() * 1e3,
        to_dead.as_secs_f64() * 1e3
    );
    assert!(to_dead <= INTERVAL + TIMEOUT, "dead after {to_dead:?}");
    assert_eq!(w.state(0), Some(MasterState::Dead { failures: 2, asked: 2 }));
    let headline = w.fleet.shards[0].headline().map(|p| p.rule);
    assert_eq!(headline, Some("master_dead"), "{:?}", w.fleet.shards[0].problems);
    assert_eq!(w.verdict_events(KILLED), [("master_unreachable", Critical), ("master_dead", Critical)]);

    // SIGSTOP: the server and its connections stay; probes time out, replicas keep streaming.
    sandbox(&sb, "freeze", &format!("{FROZEN}-m"));
    let replicas: Vec<Addr> = w.fleet.shards[1].replicas().iter().map(|r| r.addr.clone()).collect();
    w.until(3 * (INTERVAL + TIMEOUT), "s27 unreachable", |f| {
        matches!(f.shards[1].master_state, Some(MasterState::Unreachable { .. }))
    })
    .await;
    match w.state(1) {
        Some(MasterState::Unreachable { connected, asked, .. }) => {
            assert_eq!((connected, asked), (replicas, 2), "both replicas still stream from the frozen master");
        }
        other => panic!("{other:?}"),
    }
    let problem = w.fleet.shards[1].headline().expect("a problem");
    assert_eq!(problem.rule, "master_unreachable");
    assert!(
        problem.message.starts_with("master unreachable, 2 replicas still connected: hung or partitioned"),
        "{}",
        problem.message
    );

    // SIGCONT: up again, and the events said each change once.
    sandbox(&sb, "thaw", &format!("{FROZEN}-m"));
    w.until(Duration::from_secs(10), "s27 up again", |f| f.shards[1].master_state == Some(MasterState::Up)).await;
    assert_eq!(
        w.verdict_events(FROZEN),
        [("master_unreachable", Critical), ("master_unreachable", Critical), ("master_unreachable", Fine)]
    );

    // The killed master restarted: up again, its replicas back on it.
    sandbox(&sb, "start", &format!("{KILLED}-m"));
    w.until(Duration::from_secs(15), "s26 back", healthy).await;
}
