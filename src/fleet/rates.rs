//! Per-instance trends and rates from counter deltas: bounded histories, and
//! rates that never go negative across a restart or `FLUSH STATUS`.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::status::Counters;

/// How many points each per-instance history keeps (bounded: memory does not
/// grow with uptime).
pub const HISTORY_LEN: usize = 120;

/// A fixed-size ring of recent values.
#[derive(Clone, Debug, Default)]
pub struct History {
    points: VecDeque<f64>,
}

impl History {
    pub fn push(&mut self, v: f64) {
        if self.points.len() == HISTORY_LEN {
            self.points.pop_front();
        }
        self.points.push_back(v);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = f64> + ExactSizeIterator + '_ {
        self.points.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Heap bytes held (the ring's allocation, not just the points in it).
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<f64>()
    }
}

/// Statements per second by command, from the `Com_*` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CommandRates {
    pub select: f64,
    pub insert: f64,
    pub update: f64,
    pub delete: f64,
    pub replace: f64,
}

impl CommandRates {
    pub(super) fn add(&self, o: &CommandRates) -> CommandRates {
        CommandRates {
            select: self.select + o.select,
            insert: self.insert + o.insert,
            update: self.update + o.update,
            delete: self.delete + o.delete,
            replace: self.replace + o.replace,
        }
    }
}

/// Rates computed from two successive counter readings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// `Questions` per second (statements sent by clients, probes included).
    pub qps: f64,
    pub by_command: CommandRates,
}

/// Queries per second from successive `Questions` counters.
#[derive(Clone, Debug, Default)]
pub struct RateTracker {
    prev: Option<(DateTime<Utc>, Counters)>,
}

impl RateTracker {
    /// The rate since the previous sample, over the real elapsed time (a missed
    /// sweep widens the window, it does not inflate the rate). `None` on the
    /// first sample and after a restart (Uptime went down, or a counter did).
    pub fn update(&mut self, at: DateTime<Utc>, c: &Counters) -> Option<f64> {
        self.rates(at, c).map(|r| r.qps)
    }

    /// [`update`](Self::update) with the per-command split. A reset of any
    /// counter (restart, `FLUSH STATUS`) yields `None` rather than a negative
    /// or absurd rate.
    pub fn rates(&mut self, at: DateTime<Utc>, c: &Counters) -> Option<Rates> {
        let prev = self.prev.replace((at, c.clone()));
        let (then, p) = prev?;
        let dt = (at - then).num_microseconds()? as f64 / 1e6;
        if dt <= 0.0 || c.uptime < p.uptime {
            return None;
        }
        let rate = |now: u64, before: u64| now.checked_sub(before).map(|d| d as f64 / dt);
        Some(Rates {
            qps: rate(c.questions, p.questions)?,
            by_command: CommandRates {
                select: rate(c.com_select, p.com_select)?,
                insert: rate(c.com_insert, p.com_insert)?,
                update: rate(c.com_update, p.com_update)?,
                delete: rate(c.com_delete, p.com_delete)?,
                replace: rate(c.com_replace, p.com_replace)?,
            },
        })
    }
}
