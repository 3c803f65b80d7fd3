//! The headless model loop: inputs in as they arrive, a sweep closed every poll interval.
//! What the TUI's `App::update` does to the fleet for a sample, a feed round, a metrics poll and
//! a tick, without the screen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{ActionNews, Input, Sweep, SweepConsumer};
use crate::fleet::{Event, Fleet, Health};
use crate::poll::{AddInstance, Slot, SlotMap};
use crate::record::{Recorder, StoreError};

/// How often the collector takes in what arrived: the poller starts probes in groups this far
/// apart (`poll::SPREAD_SLOTS` per second), so a group's answers are applied together, at most
/// this late. A sweep takes in everything before it closes, whatever the timing.
pub const DRAIN: Duration = Duration::from_millis(20);

/// What the HTTP handlers read: the model, and how the loop is doing.
pub struct Shared {
    fleet: Mutex<Fleet>,
    /// Sweeps closed so far.
    pub sweeps: AtomicU64,
    /// When the last sweep closed (Unix milliseconds; 0 before the first).
    pub last_sweep_ms: AtomicU64,
    pub started: DateTime<Utc>,
    pub interval: Duration,
}

impl Shared {
    pub fn new(fleet: Fleet, interval: Duration) -> Arc<Shared> {
        Arc::new(Shared {
            fleet: Mutex::new(fleet),
            sweeps: AtomicU64::new(0),
            last_sweep_ms: AtomicU64::new(0),
            started: Utc::now(),
            interval,
        })
    }

    /// The model, locked. A handler that panicked while holding it left plain data behind: go on.
    pub fn fleet(&self) -> MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds since the last sweep closed; `None` before the first.
    pub fn since_last_sweep(&self, now: DateTime<Utc>) -> Option<f64> {
        let ms = self.last_sweep_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| (now.timestamp_millis() as f64 - ms as f64).max(0.0) / 1000.0)
    }
}

/// The loop's parts: the shared model, the consumers, and the poller to hand discovered servers to.
pub struct Collector {
    shared: Arc<Shared>,
    consumers: Vec<Box<dyn SweepConsumer>>,
    poller: Option<Box<dyn AddInstance + Send>>,
    /// Events since the last sweep.
    pending: Vec<Event>,
    /// Where the poller's results belong once promotions reordered a shard's instances.
    slots: SlotMap,
    /// Records every input and event (`serve --record`, `[record] path`).
    recorder: Option<Recorder>,
}

impl Collector {
    pub fn new(shared: Arc<Shared>, poller: Option<Box<dyn AddInstance + Send>>) -> Collector {
        Collector {
            shared,
            consumers: Vec::new(),
            poller,
            pending: Vec::new(),
            slots: SlotMap::default(),
            recorder: None,
        }
    }

    /// Record every input, in the order applied, and the events they raise (as the TUI's
    /// `--record` does), with the sweeps as the clock. A failing store stops the recording, said
    /// once in the log, never the collector.
    pub fn record(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    fn recording(&mut self, result: Result<(), StoreError>) {
        if let Err(e) = result {
            log::error!(target: "record", "recording stopped: {e}");
            self.recorder = None;
        }
    }

    /// Run `consumer` at the end of every sweep, after those added before it.
    pub fn add_consumer(&mut self, consumer: Box<dyn SweepConsumer>) {
        self.consumers.push(consumer);
    }

    /// Apply one input to the model; servers discovery found start being probed.
    pub fn apply(&mut self, input: Input) {
        let at = match &input {
            Input::Sample(u) => u.sample.at,
            Input::Feed(r) => r.at,
            Input::Metrics(u) => u.at,
            Input::Action(_) => chrono::Utc::now(),
        };
        if let Some(r) = self.recorder.as_mut() {
            // Samples under the slot the model files them at (promotions move servers).
            match &input {
                Input::Sample(u) => r.sample(self.slots.route(u.slot), &u.sample),
                Input::Feed(f) => r.feed(f),
                Input::Metrics(u) => r.metrics(u),
                Input::Action(_) => {}
            }
        }
        let before = self.pending.len();
        let mut fleet = self.shared.fleet();
        match input {
            Input::Sample(u) => {
                let Slot { shard, instance } = self.slots.route(u.slot);
                let events = fleet.apply(shard, instance, u.sample);
                self.pending.extend(events);
                self.pending.extend(fleet.vanished(shard));
                for f in fleet.discover_from(shard, instance) {
                    self.pending.push(f.event(&fleet));
                    if let Some(p) = self.poller.as_mut() {
                        p.add_instance(Slot { shard: f.shard, instance: f.instance }, &f.addr);
                    }
                }
            }
            Input::Feed(round) => self.pending.extend(fleet.apply_feed(&round)),
            Input::Metrics(u) => self.pending.extend(fleet.apply_metrics(&u)),
            Input::Action(news) => {
                let interval = self.shared.interval;
                match news {
                    ActionNews::Ended { shard } => fleet.end_action(shard, chrono::Utc::now(), interval),
                    ActionNews::Promoted { shard, new_master } => {
                        let s = fleet.shards.iter().position(|sh| sh.name == shard);
                        if let Some((s, c)) = s.and_then(|s| Some((s, fleet.promoted(s, &new_master)?))) {
                            // The poller keeps its slots; its results follow the servers.
                            self.slots.swap(s, 0, c);
                        }
                    }
                }
            }
        }
        drop(fleet);
        if let Some(r) = self.recorder.as_mut() {
            r.events(at, &self.pending[before..]);
        }
    }

    /// Close a sweep at `now`: release settled holds, then hand the model and the sweep's events
    /// to every consumer.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        let mut fleet = self.shared.fleet();
        if fleet.shards.iter().any(|s| s.hold.is_some()) {
            let released = fleet.release_holds(now);
            if let Some(r) = self.recorder.as_mut() {
                r.events(now, &released);
            }
            self.pending.extend(released);
        }
        let number = self.shared.sweeps.fetch_add(1, Ordering::Relaxed) + 1;
        let events = std::mem::take(&mut self.pending);
        let sweep = Sweep { number, at: now, fleet: &fleet, events: &events };
        for c in &mut self.consumers {
            c.on_sweep(&sweep);
        }
        drop(fleet);
        self.shared.last_sweep_ms.store(now.timestamp_millis().max(1) as u64, Ordering::Relaxed);
        if let Some(r) = self.recorder.as_mut() {
            let result = r.tick(now);
            self.recording(result);
        }
    }

    /// Apply what has arrived, in order; `false` once every sender is gone.
    fn drain(&mut self, inputs: &mut mpsc::Receiver<Input>) -> bool {
        loop {
            match inputs.try_recv() {
                Ok(m) => self.apply(m),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Apply inputs every `DRAIN` and close a sweep every interval (with everything that arrived
    /// before it), until the inputs end or `stop` resolves.
    ///
    /// Inputs are taken in batches rather than awaited one by one: waiting on the channel made
    /// the poller's thread wake this one for each of a thousand results a second (a futex wake
    /// and two context switches each, a fifth of the collector's CPU at 1,000 instances).
    pub async fn run(mut self, mut inputs: mpsc::Receiver<Input>, stop: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.shared.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate: the first sweep closes one interval in.
        ticker.tick().await;
        let mut drain = tokio::time::interval(DRAIN.min(self.shared.interval));
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = drain.tick() => if !self.drain(&mut inputs) { return },
                _ = ticker.tick() => {
                    if !self.drain(&mut inputs) {
                        return;
                    }
                    self.sweep(Utc::now());
                }
                () = &mut stop => return,
            }
        }
    }
}

/// Fleet events to the log (stderr for `serve`), one line each.
pub struct EventLog;

impl SweepConsumer for EventLog {
    fn name(&self) -> &str {
        "event-log"
    }

    fn on_sweep(&mut self, sweep: &Sweep<'_>) {
        for e in sweep.events {
            match e.severity {
                Health::Critical => log::error!(target: "fleet", "{}: {}", e.shard, e.message),
                Health::Warning => log::warn!(target: "fleet", "{}: {}", e.shard, e.message),
                _ => log::info!(target: "fleet", "{}: {}", e.shard, e.message),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tests::{fleet, sample};

    struct Count(Arc<Mutex<Vec<(u64, usize)>>>);

    impl SweepConsumer for Count {
        fn name(&self) -> &str {
            "count"
        }
        fn on_sweep(&mut self, sweep: &Sweep<'_>) {
            self.0.lock().expect("lock").push((sweep.number, sweep.events.len()));
        }
    }

    #[test]
    fn consumers_get_each_sweeps_events_once() {
        let shared = Shared::new(fleet(), Duration::from_secs(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut c = Collector::new(shared.clone(), None);
        c.add_consumer(Box::new(Count(seen.clone())));
        let now = Utc::now();
        c.apply(Input::Sample(sample(0, 0, now, true)));
        c.apply(Input::Sample(sample(0, 1, now, false)));
        c.sweep(now);
        c.sweep(now + chrono::Duration::seconds(1));
        let got = seen.lock().expect("lock").clone();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 1);
        assert!(got[0].1 >= 1, "the stopped SQL thread is news: {got:?}");
        assert_eq!(got[1], (2, 0), "and only once");
        assert_eq!(shared.sweeps.load(Ordering::Relaxed), 2);
        assert!(shared.since_last_sweep(now + chrono::Duration::seconds(2)).is_some());
    }

    #[test]
    fn a_promotion_run_here_is_held_then_followed() {
        use crate::fleet::Addr;
        let shared = Shared::new(fleet(), Duration::from_secs(1));
        let mut c = Collector::new(shared.clone(), None);
        let now = Utc::now();
        c.apply(Input::Sample(sample(0, 0, now, true)));
        c.apply(Input::Sample(sample(0, 1, now, true)));
        c.sweep(now);
        shared.fleet().begin_action(0, "promotion", now);
        // A transient state of the action: held, so no event and no finding for the alerts.
        c.apply(Input::Sample(sample(0, 1, now, false)));
        assert_eq!(shared.fleet().shards[0].all_problems().count(), 0, "held");
        assert!(c.pending.is_empty(), "no event while held: {:?}", c.pending);
        let new = Addr::new("db-b", 3306);
        c.apply(Input::Action(ActionNews::Promoted { shard: "s1".into(), new_master: new.clone() }));
        assert_eq!(shared.fleet().shards[0].master().addr, new, "the model follows");
        assert_eq!(
            c.slots.route(Slot { shard: 0, instance: 1 }),
            Slot { shard: 0, instance: 0 },
            "and the poller's slot"
        );
        c.apply(Input::Action(ActionNews::Ended { shard: 0 }));
        assert!(shared.fleet().shards[0].hold.as_ref().is_some_and(|h| !h.in_progress()), "settling");
    }
}
