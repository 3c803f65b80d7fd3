//! The polling side of a config, built one way for every command that watches the fleet (the
//! TUI, `record`, `serve`, `snapshot`): the monitoring account's options, the model laid out as
//! the config says, one prober per server, the feed prober and the metrics sources; then, for the
//! long-running commands, the poller on its thread and the sources' tasks sending to one channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{CommandError, metrics_clients};
use crate::config::Config;
use crate::fleet::external::MetricsUpdate;
use crate::fleet::{Addr, FeedRound, Fleet};
use crate::metrics::MetricsClient;
use crate::poll::{AddInstance, Poller, Schedule, Slot, Update};
use crate::probe::feed::FeedProber;
use crate::probe::{ProbeOptions, Prober};
use crate::setup::{fleet_for, is_metrics_only, layout, probe_options, probers};

/// What a config gives to poll, before anything runs.
pub struct Polling {
    pub opts: Arc<ProbeOptions>,
    /// The model as the config lays it out (discovery adds to it).
    pub fleet: Fleet,
    /// `[[metrics]]` and no database account: nothing is probed.
    pub metrics_only: bool,
    /// One prober per configured server (none when metrics-only), discovering every
    /// `[poll] discovery_interval`.
    pub probes: Vec<(Slot, Prober)>,
    /// The feed prober and its interval, when `[feed]` is configured.
    pub feed: Option<(FeedProber, Duration)>,
    /// One client per `[[metrics]]` source, with its interval.
    pub clients: Vec<(MetricsClient, Duration)>,
    pub schedule: Schedule,
    pub discovery_interval: Duration,
}

impl Polling {
    pub fn new(cfg: &Config) -> Result<Polling, CommandError> {
        let opts = probe_options(cfg);
        let shards = layout(cfg);
        let metrics_only = is_metrics_only(cfg);
        let mut probes = if metrics_only { Vec::new() } else { probers(&shards, &opts) };
        let discovery_interval = cfg.poll.discovery_interval;
        for (_, p) in &mut probes {
            p.set_discovery_interval(discovery_interval);
        }
        let feed = cfg.feed.as_ref().map(|f| (FeedProber::new(f, &shards, opts.clone()), f.interval));
        let clients = metrics_clients(cfg)?;
        let fleet = fleet_for(cfg, shards);
        let schedule = Schedule { interval: cfg.poll.interval, concurrency: cfg.poll.concurrency };
        Ok(Polling { opts, fleet, metrics_only, probes, feed, clients, schedule, discovery_interval })
    }

    /// Start probing every server on the poller's own thread, results to `tx`; what is returned
    /// starts probing the servers discovery adds. The model is left to the caller.
    pub fn start<M>(self, tx: &mpsc::Sender<M>) -> Result<(Fleet, Sources, Discovered<M>), CommandError>
    where
        M: From<Update> + Send + 'static,
    {
        let Polling { opts, fleet, probes, feed, clients, schedule, discovery_interval, .. } = self;
        let poller = Poller::spawn_threaded(probes, schedule, tx.clone())
            .map_err(|e| CommandError::new(3, format!("cannot start the polling thread: {e}")))?;
        Ok((fleet, Sources { feed, clients }, Discovered { poller, opts, discovery_interval }))
    }
}

/// The feed prober and the metrics sources, not started yet.
pub struct Sources {
    pub feed: Option<(FeedProber, Duration)>,
    pub clients: Vec<(MetricsClient, Duration)>,
}

impl Sources {
    /// Run the feed prober and every metrics source in `tasks`, sending to `tx`. `backfill`: the
    /// span of history the metrics sources fill charts with at start, at one point per poll
    /// interval (`None`: no history, as `serve` keeps none).
    pub fn spawn<M>(
        self,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::Sender<M>,
        feed_roles: Option<tokio::sync::watch::Receiver<Arc<Config>>>,
        backfill: Option<(Duration, Duration)>,
    ) where
        M: From<FeedRound> + From<MetricsUpdate> + Send + 'static,
    {
        if let Some((prober, interval)) = self.feed {
            tasks.spawn(crate::probe::feed::run(prober, interval, tx.clone(), feed_roles));
        }
        for (client, interval) in self.clients {
            tasks.spawn(crate::metrics::run(client, interval, backfill, tx.clone()));
        }
    }
}

/// The span of history the TUI's and `record`'s metrics sources fill at start: the QPS chart's
/// length at one point per poll interval.
pub fn chart_backfill(cfg: &Config) -> Option<(Duration, Duration)> {
    Some((cfg.poll.interval * crate::fleet::model::HISTORY_LEN as u32, cfg.poll.interval))
}

/// The poller as a model loop drives it: a server discovery adds is probed, with the monitoring
/// account, from its slot on.
pub struct Discovered<M> {
    pub poller: Poller<M>,
    pub opts: Arc<ProbeOptions>,
    pub discovery_interval: Duration,
}

impl<M: From<Update> + Send + 'static> AddInstance for Discovered<M> {
    fn add_instance(&mut self, slot: Slot, addr: &Addr) {
        let mut p = Prober::new(addr.clone(), self.opts.clone());
        p.set_discovery_interval(self.discovery_interval);
        self.poller.add(slot, p);
    }
}
