//! What changed on a re-judged shard, as events for the operator: the master's verdict first
//! (it is the cause of what its replicas report), then the findings that appeared or cleared.
//! A finding whose message alone changed (lag 12 s → 13 s) is no news.

use super::death::MasterState;
use super::health::{Health, Problem};
use super::model::Shard;

/// A change worth telling the operator about.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub shard: String,
    pub severity: Health,
    pub message: String,
    /// The health rule that fired (or cleared, at `Health::Ok`); empty for other news
    /// (discovery, metrics sources). Events of one rule on many shards are grouped by it.
    pub rule: &'static str,
}

/// What changed on `sh`, given its master's verdict (`was`) and its findings (`before`) when it
/// was last judged. `first_sample`: an instance's first reading, which tells what it finds but
/// nothing recovered.
pub(super) fn changes(sh: &Shard, was: Option<&MasterState>, before: &[Problem], first_sample: bool) -> Vec<Event> {
    let after: Vec<&Problem> = sh.all_problems().collect();
    let mut events: Vec<Event> = master_event(sh, was, before).into_iter().collect();
    events.extend(diff_events(&sh.name, before, &after, first_sample));
    events
}

/// Problems are the same finding when rule, instance and severity match; the
/// message may change (lag 12s → 13s) without being news.
pub(super) fn same(a: &Problem, b: &Problem) -> bool {
    a.rule == b.rule && a.instance == b.instance && a.severity == b.severity
}

/// The rules that carry the master's verdict: their events follow the verdict (`master_event`),
/// not the diff of problems, so a suspicion that is confirmed is one new event, not a new one
/// plus a "recovered".
const MASTER_STATE_RULES: &[&str] = &["master_unreachable", "master_dead"];

/// Which verdicts are worth an event when one turns into another: the failure count and
/// the exact list of connected replicas change without being news.
fn verdict_kind(state: Option<&MasterState>) -> u8 {
    match state {
        None | Some(MasterState::Up) => 0,
        Some(MasterState::Suspect { .. }) => 1,
        Some(MasterState::Unreachable { connected, .. }) if !connected.is_empty() => 2,
        Some(MasterState::Unreachable { .. }) => 3,
        Some(MasterState::Dead { .. }) => 4,
    }
}

/// One event when the master's verdict changed: its new finding, or that it recovered.
fn master_event(sh: &Shard, was: Option<&MasterState>, before: &[Problem]) -> Option<Event> {
    if verdict_kind(was) == verdict_kind(sh.master_state.as_ref()) {
        return None;
    }
    let master = &sh.master().addr;
    let finding = |p: &&Problem| MASTER_STATE_RULES.contains(&p.rule) && p.instance.as_ref() == Some(master);
    if let Some(p) = sh.all_problems().find(finding) {
        return Some(Event { shard: sh.name.clone(), severity: p.severity, message: describe(p), rule: p.rule });
    }
    let p = before.iter().find(finding)?;
    Some(Event {
        shard: sh.name.clone(),
        severity: Health::Ok,
        message: format!("{master} recovered (was: {})", p.message),
        rule: p.rule,
    })
}

fn diff_events(shard: &str, before: &[Problem], after: &[&Problem], first_sample: bool) -> Vec<Event> {
    let mut events = Vec::new();
    // The master's verdict has events of its own (`master_event`).
    let before: Vec<&Problem> = before.iter().filter(|p| !MASTER_STATE_RULES.contains(&p.rule)).collect();
    let after: Vec<&Problem> = after.iter().copied().filter(|p| !MASTER_STATE_RULES.contains(&p.rule)).collect();
    for p in after.iter().filter(|p| !before.iter().any(|b| same(b, p))) {
        // "not polled yet" is how every instance starts: not news.
        if p.severity == Health::Unknown {
            continue;
        }
        events.push(Event { shard: shard.into(), severity: p.severity, message: describe(p), rule: p.rule });
    }
    if first_sample {
        return events;
    }
    for p in before.iter().filter(|b| !after.iter().any(|a| same(a, b))) {
        // An escalation or de-escalation of the same rule is reported by its new level.
        let still = after.iter().any(|a| a.rule == p.rule && a.instance == p.instance);
        if still || p.severity == Health::Unknown {
            continue;
        }
        // The message is the problem's last reading: say it is over, not that it holds.
        let message = match &p.instance {
            Some(a) => format!("{a} recovered (was: {})", p.message),
            None => format!("recovered (was: {})", p.message),
        };
        events.push(Event { shard: shard.into(), severity: Health::Ok, message, rule: p.rule });
    }
    events
}

fn describe(p: &Problem) -> String {
    match &p.instance {
        Some(a) => format!("{a} {}", p.message),
        None => p.message.clone(),
    }
}
