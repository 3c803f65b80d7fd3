//! Event storms: when a network blip or a fleet-wide outage makes one rule fire on dozens of
//! shards at once, one line each would scroll the events pane past reading (and past the few
//! other things that happened). Events wait here up to `WINDOW`; a rule that fired (or cleared)
//! on `GROUP_AT` or more shards in that time is logged as one line naming how many and which.

use std::time::Duration;

use tokio::time::Instant;

use crate::fleet::{Event, Health};

/// How long an event may wait to be grouped with others of its rule.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Shards one rule must reach within the window to be reported as one line.
pub const GROUP_AT: usize = 4;
/// Shards named on a grouped line; the rest are counted.
const NAMED: usize = 4;

#[derive(Default)]
pub struct Storm {
    pending: Vec<Event>,
    since: Option<Instant>,
}

impl Storm {
    pub fn push(&mut self, events: Vec<Event>, now: Instant) {
        if events.is_empty() {
            return;
        }
        self.since.get_or_insert(now);
        self.pending.extend(events);
    }

    /// When the waiting events are due; `None` when nothing waits.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|t| t + WINDOW)
    }

    /// Everything waiting, in arrival order, with each rule that reached `GROUP_AT` shards folded
    /// into one event where its first one stood.
    pub fn drain(&mut self) -> Vec<Event> {
        self.since = None;
        let pending = std::mem::take(&mut self.pending);
        let key = |e: &Event| (e.severity, e.rule);
        let mut out = Vec::new();
        let mut done: Vec<(Health, &'static str)> = Vec::new();
        for e in &pending {
            if e.rule.is_empty() {
                out.push(e.clone());
                continue;
            }
            if done.contains(&key(e)) {
                continue;
            }
            let group: Vec<&Event> = pending.iter().filter(|o| key(o) == key(e)).collect();
            let mut shards: Vec<&str> = Vec::new();
            for o in &group {
                if !shards.contains(&o.shard.as_str()) {
                    shards.push(&o.shard);
                }
            }
            if shards.len() < GROUP_AT {
                out.push(e.clone());
                continue;
            }
            done.push(key(e));
            out.push(grouped(e, &shards));
        }
        out
    }
}

fn grouped(first: &Event, shards: &[&str]) -> Event {
    let words = crate::ui::summary::rule_words(first.rule);
    let mut names = shards.iter().take(NAMED).copied().collect::<Vec<_>>().join(" ");
    if shards.len() > NAMED {
        names.push_str(&format!(" +{}", shards.len() - NAMED));
    }
    let message = if first.severity == Health::Ok {
        format!("recovered from {words}: {names}")
    } else {
        format!("{words}: {names}")
    };
    Event { shard: format!("{} shards", shards.len()), severity: first.severity, message, rule: first.rule }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(shard: &str, severity: Health, rule: &'static str) -> Event {
        Event { shard: shard.into(), severity, message: format!("{shard} {rule}"), rule }
    }

    #[test]
    fn a_rule_on_many_shards_is_one_line_and_the_rest_keep_their_order() {
        let mut storm = Storm::default();
        let t0 = Instant::now();
        assert_eq!(storm.due(), None);
        let mut events = vec![ev("users-01", Health::Warning, "sql_thread")];
        for n in 2..=7 {
            events.push(ev(&format!("users-{n:02}"), Health::Critical, "io_thread"));
        }
        events.push(Event { shard: "users-03".into(), severity: Health::Ok, message: "discovered x".into(), rule: "" });
        storm.push(events, t0);
        storm.push(vec![ev("users-09", Health::Critical, "io_thread")], t0 + Duration::from_millis(400));
        assert_eq!(storm.due(), Some(t0 + WINDOW), "the window runs from the first event");
        let out = storm.drain();
        let lines: Vec<String> = out.iter().map(|e| format!("{}: {}", e.shard, e.message)).collect();
        assert_eq!(
            lines,
            [
                "users-01: users-01 sql_thread",
                "7 shards: IO thread not running: users-02 users-03 users-04 users-05 +3",
                "users-03: discovered x",
            ]
        );
        assert_eq!(out[1].severity, Health::Critical);
        assert_eq!(storm.due(), None);
        assert!(storm.drain().is_empty());
    }

    #[test]
    fn few_shards_stay_one_line_each_and_recoveries_group_apart_from_alerts() {
        let mut storm = Storm::default();
        let t0 = Instant::now();
        let mut events: Vec<Event> = (1..=3).map(|n| ev(&format!("s{n}"), Health::Warning, "lag")).collect();
        events.extend((1..=5).map(|n| ev(&format!("r{n}"), Health::Ok, "lag")));
        // The same shard twice (two of its replicas) counts once.
        events.push(ev("s1", Health::Warning, "lag"));
        storm.push(events, t0);
        let out: Vec<String> = storm.drain().into_iter().map(|e| format!("{}: {}", e.shard, e.message)).collect();
        assert_eq!(
            out,
            [
                "s1: s1 lag",
                "s2: s2 lag",
                "s3: s3 lag",
                "5 shards: recovered from replication lag: r1 r2 r3 r4 +1",
                "s1: s1 lag"
            ]
        );
    }
}
