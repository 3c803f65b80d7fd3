//! Scheduling probes: every instance on its own task, bounded concurrency,
//! results sent as messages. A hung server costs its own task one timeout and
//! nobody else anything. Also what the UI loop hands the poller: servers that
//! discovery adds (`AddInstance`), and where each slot's results belong once a
//! promotion has reordered a shard (`SlotMap`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::fleet::Addr;
use crate::fleet::status::Sample;

/// Something that can be asked for one observation of one server: a real
/// server (`probe::Prober`) or a simulated one (`sim::SimProbe`).
pub trait Probe: Send + 'static {
    /// One observation. Implementations bound their own time (the per-server timeout).
    fn probe(&mut self) -> impl Future<Output = Sample> + Send;

    /// How long to wait before trying again after failures (reconnect backoff).
    fn next_attempt_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// After a first failure, probe again this soon instead of an interval later: a master is
    /// only called dead after two failed probes in a row (`fleet::death`), and waiting a whole
    /// interval for the second would double the time to confirm it. `None`: no hurry.
    fn confirm_after(&self) -> Option<Duration> {
        None
    }
}

/// Where a probe's result belongs in the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub shard: usize,
    pub instance: usize,
}

#[derive(Debug)]
pub struct Update {
    pub slot: Slot,
    pub sample: Sample,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub interval: Duration,
    pub concurrency: usize,
}

/// Running poll tasks; dropping it stops them. Results go out as `M`: the `Update` itself, or
/// the message type of whoever reads them (the UI's one inbound `Message`).
pub struct Poller<M = Update> {
    // Dropped first: aborts the tasks, then the thread (if any) stops its runtime.
    tasks: JoinSet<()>,
    runtime: Handle,
    _thread: Option<PollThread>,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<M>,
    interval: Duration,
}

/// A thread of its own running a single-threaded runtime for the probes.
///
/// On the shared multi-threaded runtime, thousands of connections' wake-ups
/// bounce between worker threads (futex wake-ups, and the driver's global
/// buffer pool's atomics contended by both), and a burst of answers competes
/// with the UI for the same workers. On one thread of its own, the poller's
/// work stays on one core's caches and the UI's runtime stays free.
struct PollThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// How long stopping waits for probes' tasks to wind down (a hung server's
/// connection is dropped, never waited for).
const THREAD_SHUTDOWN: Duration = Duration::from_millis(100);

impl PollThread {
    fn start() -> std::io::Result<(PollThread, Handle)> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("shardtop-poll".into()).spawn(move || {
            // Returns when `stop` is sent or dropped.
            let _ = runtime.block_on(stopped);
            runtime.shutdown_timeout(THREAD_SHUTDOWN);
        })?;
        Ok((PollThread { stop: Some(stop), thread: Some(thread) }, handle))
    }
}

impl Drop for PollThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<M: From<Update> + Send + 'static> Poller<M> {
    /// Start polling. The first probe of every instance runs at once (bounded by
    /// `concurrency`) so the screen fills quickly; later ones are spread over
    /// the interval in `SPREAD_SLOTS` groups, so a large fleet neither probes in
    /// one burst nor wakes the process once per instance.
    ///
    /// The tasks run on the caller's runtime (tests with paused time, the demo).
    pub fn spawn<P: Probe>(probes: Vec<(Slot, P)>, schedule: Schedule, tx: mpsc::Sender<M>) -> Poller<M> {
        Poller::spawn_with(probes, schedule, tx, Handle::current(), None)
    }

    /// Like `spawn`, with the probes on a thread and runtime of their own (see
    /// `PollThread`): what the TUI and the benchmark use against real servers.
    pub fn spawn_threaded<P: Probe>(
        probes: Vec<(Slot, P)>,
        schedule: Schedule,
        tx: mpsc::Sender<M>,
    ) -> std::io::Result<Poller<M>> {
        let (thread, handle) = PollThread::start()?;
        Ok(Poller::spawn_with(probes, schedule, tx, handle, Some(thread)))
    }

    fn spawn_with<P: Probe>(
        probes: Vec<(Slot, P)>,
        schedule: Schedule,
        tx: mpsc::Sender<M>,
        runtime: Handle,
        thread: Option<PollThread>,
    ) -> Poller<M> {
        let sem = Arc::new(Semaphore::new(schedule.concurrency.max(1)));
        let n = probes.len().max(1);
        let start = Instant::now();
        let mut poller =
            Poller { tasks: JoinSet::new(), runtime, _thread: thread, sem, tx, interval: schedule.interval };
        for (k, (slot, probe)) in probes.into_iter().enumerate() {
            poller.start(slot, probe, start, spread_offset(schedule.interval, k, n));
        }
        poller
    }

    /// Start polling one more instance (found by discovery), at once and then every interval.
    pub fn add<P: Probe>(&mut self, slot: Slot, probe: P) {
        self.start(slot, probe, Instant::now(), Duration::ZERO);
    }

    fn start<P: Probe>(&mut self, slot: Slot, mut probe: P, start: Instant, offset: Duration) {
        let sem = self.sem.clone();
        let tx = self.tx.clone();
        let interval = self.interval;
        self.tasks.spawn_on(
            async move {
                let mut ticker = tokio::time::interval_at(start + interval + offset, interval);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut not_before = start;
                let mut confirming = false;
                loop {
                    if confirming || Instant::now() >= not_before {
                        let sample = {
                            let Ok(_permit) = sem.acquire().await else { return };
                            probe.probe().await
                        };
                        not_before = Instant::now() + retry_delay(probe.next_attempt_delay(), interval);
                        // One quick confirmation per failure streak; then the interval rule.
                        let confirm = probe.confirm_after().filter(|_| !confirming);
                        if tx.send(M::from(Update { slot, sample })).await.is_err() {
                            return; // the UI is gone
                        }
                        if let Some(soon) = confirm {
                            confirming = true;
                            tokio::time::sleep(soon).await;
                            continue;
                        }
                        confirming = false;
                    }
                    ticker.tick().await;
                }
            },
            &self.runtime,
        );
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// How long after a failed probe the next may start: the probe's backoff, but never so long
/// that a tick is skipped for it (under half an interval). A server that is down is tried every
/// interval like the others, so its return shows within an interval: a backoff doubling to 30 s
/// kept a server that was back looking down for as long (the soak measured 4.7 s after a 5.6 s
/// password change). A hung server's try still costs only its own task one timeout.
fn retry_delay(backoff: Duration, interval: Duration) -> Duration {
    backoff.min(interval / 2)
}

/// The poller as the UI loop drives it: start probing a server that discovery added to the
/// model at `slot` (the model's index: new servers go after the ones it has).
pub trait AddInstance {
    fn add_instance(&mut self, slot: Slot, addr: &Addr);
}

/// Where each poller slot's results belong in the model once promotions from this session have
/// reordered shards: the poller keeps its slots (each task holds its server's connection), the
/// model puts a shard's new master first. Applied where results are received, in order with the
/// model's own swap, so a result already in flight never lands on the other server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotMap {
    /// Per shard whose instances were swapped: the model's index of each slot's instance.
    shards: HashMap<usize, Vec<usize>>,
}

impl SlotMap {
    /// The model's slot for results the poller sends for `slot`.
    pub fn route(&self, slot: Slot) -> Slot {
        let instance = self.shards.get(&slot.shard).and_then(|m| m.get(slot.instance)).copied();
        Slot { shard: slot.shard, instance: instance.unwrap_or(slot.instance) }
    }

    /// The model swapped instances `a` and `b` of `shard` (a promotion: the new master first).
    pub fn swap(&mut self, shard: usize, a: usize, b: usize) {
        let map = self.shards.entry(shard).or_default();
        let needed = a.max(b) + 1;
        if map.len() < needed {
            let from = map.len();
            map.extend(from..needed);
        }
        for m in map.iter_mut() {
            if *m == a {
                *m = b;
            } else if *m == b {
                *m = a;
            }
        }
    }
}

/// Probes are started in this many groups per interval: with 1,000 instances
/// every second, 20 start together every 20 ms, so one wake-up of the process
/// sends 20 queries and one `epoll_wait` tends to return their answers
/// together, instead of a thousand wake-ups a second.
pub const SPREAD_SLOTS: usize = 50;

/// When, within the interval, instance `k` of `n` is probed.
pub fn spread_offset(interval: Duration, k: usize, n: usize) -> Duration {
    let slots = SPREAD_SLOTS.min(n.max(1));
    let slot = k * slots / n.max(1);
    interval.mul_f64(slot as f64 / slots as f64)
}

/// Probe every instance once, at most `concurrency` at a time. Results come
/// back in completion order.
pub async fn sweep_once<P: Probe>(probes: &mut [(Slot, P)], concurrency: usize) -> Vec<Update> {
    // A named async fn rather than a closure over `iter_mut`: the future stays
    // provably `Send`, so sweeps can run inside spawned tasks (TUI actions).
    async fn one<P: Probe>(slot: Slot, p: &mut P) -> Update {
        Update { slot, sample: p.probe().await }
    }
    let mut out = Vec::with_capacity(probes.len());
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut rest = probes.iter_mut();
    loop {
        while pending.len() < concurrency.max(1) {
            let Some((slot, p)) = rest.next() else { break };
            pending.push(one(*slot, p));
        }
        match pending.next().await {
            Some(u) => out.push(u),
            None => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::status::{ProbeError, ProbeErrorKind};

    /// A probe that answers after `delay`, or times out after `timeout` when
    /// the delay is longer, as a real prober does.
    struct Fake {
        delay: Duration,
        timeout: Duration,
    }

    impl Probe for Fake {
        async fn probe(&mut self) -> Sample {
            let started = Instant::now();
            let slept = self.delay.min(self.timeout);
            tokio::time::sleep(slept).await;
            let result = if self.delay > self.timeout {
                Err(ProbeError { kind: ProbeErrorKind::Timeout, message: "timeout".into() })
            } else {
                Err(ProbeError { kind: ProbeErrorKind::Other, message: "answered".into() })
            };
            Sample { at: chrono::Utc::now(), elapsed: started.elapsed(), result }
        }
    }

    fn slot(i: usize) -> Slot {
        Slot { shard: i, instance: 0 }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_server_does_not_delay_the_others() {
        let timeout = Duration::from_secs(1);
        let mut probes = vec![(slot(0), Fake { delay: Duration::from_secs(3600), timeout })];
        probes.extend((1..10).map(|i| (slot(i), Fake { delay: Duration::from_millis(5), timeout })));
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let _poller = Poller::spawn(probes, Schedule { interval: Duration::from_secs(2), concurrency: 4 }, tx);
        let t0 = Instant::now();
        let mut got = Vec::new();
        while got.len() < 10 {
            let u = rx.recv().await.expect("poller alive");
            got.push((u.slot.shard, t0.elapsed(), u.sample.result.unwrap_err().kind));
        }
        // Nine fast answers arrive before the hung server's timeout.
        let fast: Vec<_> = got.iter().filter(|g| g.0 != 0).collect();
        assert_eq!(fast.len(), 9);
        assert!(fast.iter().all(|g| g.1 < timeout), "{got:?}");
        let hung = got.iter().find(|g| g.0 == 0).expect("hung server reported");
        assert_eq!(hung.2, ProbeErrorKind::Timeout);
        assert!(hung.1 >= timeout && hung.1 < timeout + Duration::from_millis(50), "{hung:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn polls_every_interval() {
        let fast = Fake { delay: Duration::from_millis(1), timeout: Duration::from_secs(1) };
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let _poller =
            Poller::spawn(vec![(slot(0), fast)], Schedule { interval: Duration::from_secs(2), concurrency: 1 }, tx);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..4 {
            rx.recv().await.expect("poller alive");
            times.push(t0.elapsed().as_millis() / 100);
        }
        // Rounded to 100 ms: probes finish at ~0, 2, 4, 6 s.
        assert_eq!(times, vec![0, 20, 40, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_added_probe_is_polled_at_once_then_every_interval() {
        let fast = || Fake { delay: Duration::from_millis(1), timeout: Duration::from_secs(1) };
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let mut poller =
            Poller::spawn(vec![(slot(0), fast())], Schedule { interval: Duration::from_secs(2), concurrency: 1 }, tx);
        assert_eq!(rx.recv().await.map(|u| u.slot.shard), Some(0));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t0 = Instant::now();
        poller.add(slot(7), fast());
        assert_eq!(poller.len(), 2);
        let mut added = Vec::new();
        while added.len() < 2 {
            let u = rx.recv().await.expect("poller alive");
            if u.slot.shard == 7 {
                added.push(t0.elapsed().as_millis() / 100);
            }
        }
        assert_eq!(added, vec![0, 20]);
    }

    /// Fails its first two probes (asking for a confirmation after the first), then answers.
    struct Flaky {
        probes: u32,
    }

    impl Probe for Flaky {
        async fn probe(&mut self) -> Sample {
            self.probes += 1;
            let result = if self.probes <= 2 {
                Err(ProbeError { kind: ProbeErrorKind::Refused, message: "refused".into() })
            } else {
                Err(ProbeError { kind: ProbeErrorKind::Other, message: "answered".into() })
            };
            Sample { at: chrono::Utc::now(), elapsed: Duration::ZERO, result }
        }

        fn confirm_after(&self) -> Option<Duration> {
            // Asks after every failure: the poller confirms once per streak all the same.
            (self.probes <= 2).then_some(Duration::from_millis(150))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_failure_is_confirmed_at_once_then_the_interval_rules() {
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let schedule = Schedule { interval: Duration::from_secs(2), concurrency: 1 };
        let _poller = Poller::spawn(vec![(slot(0), Flaky { probes: 0 })], schedule, tx);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..4 {
            rx.recv().await.expect("poller alive");
            times.push(t0.elapsed().as_millis() / 50);
        }
        // Rounded to 50 ms: the failure at 0, its confirmation 150 ms later, then every 2 s.
        assert_eq!(times, vec![0, 3, 40, 80]);
    }

    /// Always down (refused), with a reconnect backoff that has grown to 30 s.
    struct Down;

    impl Probe for Down {
        async fn probe(&mut self) -> Sample {
            let result = Err(ProbeError { kind: ProbeErrorKind::Refused, message: "refused".into() });
            Sample { at: chrono::Utc::now(), elapsed: Duration::ZERO, result }
        }

        fn next_attempt_delay(&self) -> Duration {
            Duration::from_secs(30)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_is_down_is_still_tried_every_interval() {
        // Regression (issue 17 soak): the backoff made a server back from an outage look down
        // for up to 30 s more.
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let schedule = Schedule { interval: Duration::from_secs(2), concurrency: 1 };
        let _poller = Poller::spawn(vec![(slot(0), Down)], schedule, tx);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..4 {
            rx.recv().await.expect("poller alive");
            times.push(t0.elapsed().as_millis() / 100);
        }
        assert_eq!(times, vec![0, 20, 40, 60]);
        assert_eq!(retry_delay(Duration::from_millis(500), Duration::from_secs(5)), Duration::from_millis(500));
    }

    /// Answers with the name of the thread it ran on.
    struct WhereAmI;

    impl Probe for WhereAmI {
        async fn probe(&mut self) -> Sample {
            let name = std::thread::current().name().unwrap_or("?").to_string();
            let result = Err(ProbeError { kind: ProbeErrorKind::Other, message: name });
            Sample { at: chrono::Utc::now(), elapsed: Duration::ZERO, result }
        }
    }

    #[tokio::test]
    async fn a_threaded_poller_probes_on_its_own_thread_and_stops_when_dropped() {
        let (tx, mut rx) = mpsc::channel::<Update>(64);
        let schedule = Schedule { interval: Duration::from_millis(20), concurrency: 2 };
        let probes = vec![(slot(0), WhereAmI), (slot(1), WhereAmI)];
        let poller = Poller::spawn_threaded(probes, schedule, tx).expect("thread starts");
        let mut seen = [0; 2];
        while seen.iter().any(|&n| n < 3) {
            let u = rx.recv().await.expect("poller alive");
            assert_eq!(u.sample.result.unwrap_err().message, "shardtop-poll");
            seen[u.slot.shard] += 1;
        }
        drop(poller);
        // Every task (and its sender) is gone with the thread: the channel closes.
        while rx.recv().await.is_some() {}
    }

    #[test]
    fn slots_follow_swaps_and_swapping_back_restores_them() {
        let at = |instance| Slot { shard: 0, instance };
        let mut map = SlotMap::default();
        assert_eq!(map.route(at(1)), at(1));
        map.swap(0, 0, 2);
        assert_eq!((map.route(at(0)), map.route(at(2)), map.route(at(1))), (at(2), at(0), at(1)));
        // Another shard, and servers added later, keep their slots.
        assert_eq!(map.route(Slot { shard: 1, instance: 0 }), Slot { shard: 1, instance: 0 });
        assert_eq!(map.route(at(5)), at(5));
        // A second promotion of the shard swaps the model's places again, wherever the slots are now.
        map.swap(0, 0, 1);
        assert_eq!((map.route(at(0)), map.route(at(1)), map.route(at(2))), (at(2), at(0), at(1)));
        map.swap(0, 0, 1);
        map.swap(0, 0, 2);
        assert_eq!((map.route(at(0)), map.route(at(1)), map.route(at(2))), (at(0), at(1), at(2)));
    }

    #[test]
    fn probes_are_spread_over_the_interval_in_groups() {
        let interval = Duration::from_secs(1);
        let n = 1000;
        let offsets: Vec<Duration> = (0..n).map(|k| spread_offset(interval, k, n)).collect();
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "offsets never go back");
        assert!(offsets.iter().all(|&o| o < interval));
        let mut groups = offsets.clone();
        groups.dedup();
        assert_eq!(groups.len(), SPREAD_SLOTS);
        // Even groups, 20 ms apart, 20 instances each.
        assert_eq!(groups[1] - groups[0], Duration::from_millis(20));
        assert!(groups.iter().all(|g| offsets.iter().filter(|&o| o == g).count() == n / SPREAD_SLOTS));
        // A small fleet gets one slot per instance; a single instance starts at once.
        let small: Vec<Duration> = (0..4).map(|k| spread_offset(interval, k, 4)).collect();
        assert_eq!(small, [0, 250, 500, 750].map(Duration::from_millis));
        assert_eq!(spread_offset(interval, 0, 1), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn sweep_once_returns_every_instance() {
        let mut probes: Vec<_> = (0..20)
            .map(|i| (slot(i), Fake { delay: Duration::from_millis(10), timeout: Duration::from_secs(1) }))
            .collect();
        let t0 = Instant::now();
        let got = sweep_once(&mut probes, 5).await;
        assert_eq!(got.len(), 20);
        let mut shards: Vec<_> = got.iter().map(|u| u.slot.shard).collect();
        shards.sort();
        assert_eq!(shards, (0..20).collect::<Vec<_>>());
        // 20 probes, 5 at a time, 10 ms each: 4 rounds.
        assert_eq!(t0.elapsed().as_millis() / 10, 4);
    }
}
