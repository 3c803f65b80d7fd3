//! `shardtop serve`: one headless collector — the TUI's poller, feed probe and metrics sources
//! feeding the same fleet model, with no terminal — and what it offers over HTTP: `/healthz`,
//! `/metrics` (Prometheus text), `/api/v1/snapshot` (the snapshot JSON) and `/api/v1/stream`
//! (model changes as server-sent events).
//!
//! The collector loop (`collector`) applies every input to the model as it arrives and, once per
//! poll interval, closes a *sweep*: held findings are released, and every [`SweepConsumer`] is
//! handed the model and the events of that sweep. That is where an alerter, a recorder or the
//! viewers' stream plug in (`Collector::add_consumer`).

pub mod access;
pub mod actions;
pub mod collector;
pub mod exposition;
pub mod http;
pub mod members;
pub mod partition;
pub mod remote_runner;
pub mod stream;
pub mod viewer;

use chrono::{DateTime, Utc};

use crate::fleet::external::MetricsUpdate;
use crate::fleet::{Event, FeedRound, Fleet};
use crate::poll::Update;

pub use collector::{Collector, Shared};

/// Everything the collector's model is fed: poll results, feed rounds, metrics polls, and the
/// course of the actions it runs for remote viewers.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Input {
    Sample(Update),
    Feed(FeedRound),
    Metrics(MetricsUpdate),
    Action(ActionNews),
}

/// An action the collector runs, as its model must know it once it is under way (its start is put
/// on the model directly: `Fleet::begin_action`): its end, and a promotion's new master.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionNews {
    /// It ended; the shard's findings are judged again once every member was probed after this.
    Ended { shard: usize },
    /// `new_master` is the master of shard `shard` now.
    Promoted { shard: String, new_master: crate::fleet::Addr },
}

impl From<Update> for Input {
    fn from(u: Update) -> Self {
        Input::Sample(u)
    }
}

impl From<FeedRound> for Input {
    fn from(r: FeedRound) -> Self {
        Input::Feed(r)
    }
}

impl From<MetricsUpdate> for Input {
    fn from(u: MetricsUpdate) -> Self {
        Input::Metrics(u)
    }
}

/// One closed sweep, as a consumer sees it: the model as it now is and what happened since the
/// last sweep.
pub struct Sweep<'a> {
    /// Counts from 1.
    pub number: u64,
    pub at: DateTime<Utc>,
    pub fleet: &'a Fleet,
    /// Findings that appeared or cleared (and other news: discovery, metrics sources), in order.
    pub events: &'a [Event],
}

/// Something run once per sweep on the collector's model: an alerter, a recorder, the stream.
///
/// Called on the collector's loop with the model locked, so it must be quick and must not block:
/// anything slow (HTTP to Alertmanager, disk) belongs on a task of its own, fed over a channel
/// from here.
pub trait SweepConsumer: Send {
    /// For logs: which consumer this is.
    fn name(&self) -> &str;

    fn on_sweep(&mut self, sweep: &Sweep<'_>);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use crate::fleet::status::Sample;
    use crate::fleet::test_support::{master_status, replica_status};
    use crate::fleet::{Addr, Fleet, Limits, Shard};
    use crate::poll::{Slot, Update};

    pub fn master() -> Addr {
        Addr::new("db-a", 3306)
    }

    /// Shard `s1`: a master and one replica.
    pub fn fleet() -> Fleet {
        Fleet::new(vec![Shard::new("s1", master(), [Addr::new("db-b", 3306)], None)], Limits::default())
    }

    /// A probe of instance `i` of shard `s`: the master answers; the replica, when asked, answers
    /// with its SQL thread stopped (`ok == false`) or running.
    pub fn sample(s: usize, i: usize, at: DateTime<Utc>, ok: bool) -> Update {
        let status = if i == 0 {
            master_status()
        } else {
            let mut st = replica_status(if ok { Some(0) } else { None });
            if let Some(l) = st.replication.first_mut() {
                l.source = master();
                l.sql_running = ok;
            }
            st
        };
        Update {
            slot: Slot { shard: s, instance: i },
            sample: Sample { at, elapsed: Duration::from_millis(3), result: Ok(status) },
        }
    }
}
