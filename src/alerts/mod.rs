//! Alerts that reach people: the fleet model's findings that held for their `for` (`engine`),
//! and the outcomes of actions (`outcome`), sent to Alertmanager and to signed webhooks
//! (`sinks`, `signing`). Grouping, silences, inhibition and routing to Slack, PagerDuty or e-mail
//! are Alertmanager's job, not shardtop's.
//!
//! Hosted by whatever runs the poller (the TUI, `serve`): it calls [`Alerts::observe`] with the
//! model after applying results, and hands [`Alerts::outbox`] to the actions it runs.

pub mod engine;
pub mod notification;
pub mod outcome;
pub mod receiver;
pub mod signing;
pub mod sinks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinSet;

pub use engine::Engine;
pub use notification::{Notification, Status};

use crate::config::AlertsConfig;
use crate::fleet::Fleet;

/// Where notifications go: one channel per sink. Cloned into whatever produces notifications.
#[derive(Clone, Default)]
pub struct Outbox {
    sinks: Vec<UnboundedSender<Notification>>,
}

impl Outbox {
    pub fn send(&self, n: Notification) {
        for s in &self.sinks {
            let _ = s.send(n.clone());
        }
    }

    /// An audit-log observer that notifies the run's outcome when the log closes.
    pub fn observer(&self) -> Box<dyn crate::actions::audit::AuditObserver> {
        Box::new(outcome::OutcomeObserver::new(self.clone()))
    }
}

/// The engine and its sinks' tasks.
pub struct Alerts {
    engine: Engine,
    outbox: Outbox,
    stats: Vec<(String, Arc<sinks::SinkStats>)>,
    tasks: JoinSet<()>,
    closing: tokio::sync::watch::Sender<bool>,
    timeout: Duration,
    actions: bool,
}

impl Alerts {
    /// Start the sinks on the current tokio runtime.
    pub fn start(cfg: &AlertsConfig) -> Alerts {
        let (closing, closing_rx) = tokio::sync::watch::channel(false);
        let policy = sinks::Policy::from_config(cfg, closing_rx);
        let client = reqwest::Client::builder().build().unwrap_or_default();
        let mut tasks = JoinSet::new();
        let mut outbox = Outbox::default();
        let mut stats = Vec::new();
        for base in &cfg.alertmanager {
            let (tx, rx) = mpsc::unbounded_channel();
            outbox.sinks.push(tx);
            let name = reqwest::Url::parse(base)
                .ok()
                .and_then(|u| Some(format!("alertmanager {}:{}", u.host_str()?, u.port_or_known_default()?)))
                .unwrap_or_else(|| "alertmanager".into());
            let s = Arc::new(sinks::SinkStats::default());
            stats.push((name.clone(), s.clone()));
            tasks.spawn(sinks::alertmanager(
                name,
                base.clone(),
                cfg.repeat_interval,
                policy.clone(),
                client.clone(),
                s,
                rx,
            ));
        }
        for w in &cfg.webhooks {
            let (tx, rx) = mpsc::unbounded_channel();
            outbox.sinks.push(tx);
            let s = Arc::new(sinks::SinkStats::default());
            stats.push((w.name.clone(), s.clone()));
            tasks.spawn(sinks::webhook(w.clone(), policy.clone(), client.clone(), s, rx));
        }
        Alerts {
            engine: Engine::new(cfg.clone()),
            outbox,
            stats,
            tasks,
            closing,
            timeout: cfg.timeout,
            actions: cfg.actions,
        }
    }

    /// One evaluation of the model at `now`; what fired or resolved is sent. Returns how many.
    pub fn observe(&mut self, fleet: &Fleet, now: DateTime<Utc>) -> usize {
        let out = self.engine.evaluate(fleet, now);
        for n in &out {
            log::info!(
                target: "alerts",
                "{} {} {}{}: {}",
                n.shard,
                n.rule,
                if n.status == Status::Firing { "firing" } else { "resolved" },
                n.instance.as_ref().map(|i| format!(" on {i}")).unwrap_or_default(),
                n.summary
            );
        }
        let count = out.len();
        for n in out {
            self.outbox.send(n);
        }
        count
    }

    /// For actions' audit logs: `None` when `[alerts] actions = false`.
    pub fn outbox(&self) -> Option<Outbox> {
        self.actions.then(|| self.outbox.clone())
    }

    /// Each sink's counters, in config order (Alertmanagers first), by name.
    pub fn stats(&self) -> &[(String, Arc<sinks::SinkStats>)] {
        &self.stats
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stop taking notifications and give the sinks up to `grace` to deliver what they hold
    /// (what is left then is lost with the process: retries need it running).
    pub async fn shutdown(mut self, grace: Duration) {
        let sinks = self.take_sinks();
        drop(self);
        sinks.drain(grace).await;
    }

    /// The sinks' tasks, for a host that hands the engine to a loop it does not get back (`serve`'s
    /// sweep consumers): once that loop and every outbox are dropped, [`Sinks::drain`] flushes.
    pub fn take_sinks(&mut self) -> Sinks {
        Sinks { tasks: std::mem::take(&mut self.tasks), closing: self.closing.clone(), timeout: self.timeout }
    }
}

/// The sinks' delivery tasks, apart from the engine.
pub struct Sinks {
    tasks: JoinSet<()>,
    closing: tokio::sync::watch::Sender<bool>,
    /// One attempt's limit (`[alerts] timeout`).
    timeout: Duration,
}

impl Sinks {
    /// The host stops: the sinks go on retrying for up to `grace` (they end when every outbox is
    /// gone and their queues are empty); then each makes one last attempt at what it still holds,
    /// at once, and what fails goes to the dead-letter file rather than away with the process.
    pub async fn drain(mut self, grace: Duration) {
        if tokio::time::timeout(grace, all_done(&mut self.tasks)).await.is_err() {
            let _ = self.closing.send(true);
            let last = self.timeout + Duration::from_secs(1);
            let _ = tokio::time::timeout(last, all_done(&mut self.tasks)).await;
        }
        self.tasks.abort_all();
    }
}

async fn all_done(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}
