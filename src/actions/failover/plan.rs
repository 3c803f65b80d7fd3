//! A failover's plan as typed steps, run by the same runner as a promotion.

use std::time::Duration;

use crate::actions::runner::{OnFailure, Step};
use crate::mysql::Addr;

#[derive(Clone, Debug, PartialEq)]
pub enum FailoverStep {
    /// An earlier run crashed after its promotion: what was found, recorded before finishing it.
    Finish { what: String },
    /// Every replica stops receiving: a master that comes back mid-switch feeds nobody.
    StopIo { replicas: Vec<Addr> },
    /// The candidate (and every other replica, best effort) applies all it received.
    ApplyRelay { candidate: Addr, timeout: Duration },
    /// The candidate replicates from a replica that holds more, until it has it all; then it is
    /// a replica of the dead master again (as `StopIo` left it), so a run that dies here leaves
    /// a candidate the next run can judge.
    CatchUp { candidate: Addr, from: Addr, timeout: Duration },
    /// The fencing hook (STONITH, router): a non-zero exit aborts before anything is writable.
    PreHook { command: String },
    /// The point of no return: the candidate becomes the master.
    Promote { candidate: Addr, upstream: Option<Addr> },
    /// The post-failover hook (routing).
    Hook { command: String },
    /// The other replicas follow the new master.
    Repoint { replicas: Vec<Addr>, to: Addr },
    /// A marker row written on the new master reaches every replica.
    Marker { followers: usize },
}

impl Step for FailoverStep {
    fn name(&self) -> &'static str {
        match self {
            FailoverStep::Finish { .. } => "finish",
            FailoverStep::StopIo { .. } => "stop_io",
            FailoverStep::ApplyRelay { .. } => "apply_relay",
            FailoverStep::CatchUp { .. } => "catch_up",
            FailoverStep::PreHook { .. } => "pre_hook",
            FailoverStep::Promote { .. } => "promote",
            FailoverStep::Hook { .. } => "hook",
            FailoverStep::Repoint { .. } => "repoint",
            FailoverStep::Marker { .. } => "marker",
        }
    }

    fn describe(&self) -> String {
        match self {
            FailoverStep::Finish { what } => what.clone(),
            FailoverStep::StopIo { replicas } => {
                format!("stop the IO thread of {}: nothing more arrives from the dead master", join(replicas))
            }
            FailoverStep::ApplyRelay { candidate, timeout } => {
                format!("wait up to {:.0} s for {candidate} to apply its whole relay log", timeout.as_secs_f64())
            }
            FailoverStep::CatchUp { candidate, from, timeout } => format!(
                "{candidate} replicates from {from}, which holds more, until it has it all (up to {:.0} s), then \
                 follows the dead master again, applying and not receiving",
                timeout.as_secs_f64()
            ),
            FailoverStep::PreHook { command } => {
                format!("run the pre-failover hook (fencing); a non-zero exit aborts: {command}")
            }
            FailoverStep::Promote { candidate, upstream } => format!(
                "stop and reset replication on {candidate}{}, make it writable",
                upstream.as_ref().map(|u| format!(", point it at the upstream {u}")).unwrap_or_default()
            ),
            FailoverStep::Hook { command } => format!("run the post-failover hook (routing): {command}"),
            FailoverStep::Repoint { replicas, to } => format!("point {} at {to}", join(replicas)),
            FailoverStep::Marker { .. } => {
                "write a marker row on the new master and see it arrive on every replica".into()
            }
        }
    }

    fn on_failure(&self) -> OnFailure {
        match self {
            FailoverStep::StopIo { .. }
            | FailoverStep::ApplyRelay { .. }
            | FailoverStep::CatchUp { .. }
            | FailoverStep::PreHook { .. }
            | FailoverStep::Promote { .. } => OnFailure::RollBack,
            _ => OnFailure::Warn,
        }
    }

    fn warning(&self, error: &str) -> String {
        match self {
            FailoverStep::Hook { .. } => format!("post-failover hook failed (the failover stands): {error}"),
            _ => format!("{}: {error}", self.name()),
        }
    }
}

fn join(addrs: &[Addr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// What the plan is built from.
pub struct Shape<'a> {
    pub candidate: &'a Addr,
    /// Every reachable replica, the candidate included.
    pub replicas: &'a [Addr],
    pub catch_up_from: Option<&'a Addr>,
    pub upstream: Option<&'a Addr>,
    pub pre_hook: Option<&'a str>,
    pub hook: Option<&'a str>,
    pub relay_timeout: Duration,
    pub catchup_timeout: Duration,
}

/// What is left of a failover that crashed after its promotion (`candidate` takes writes): the
/// routing hook again (it may not have run), the replicas still attached to the dead master, the
/// marker. Nothing here can be undone, and nothing needs to be.
pub fn finish(
    candidate: &Addr,
    what: String,
    stranded: &[Addr],
    hook: Option<&str>,
    followers: usize,
) -> Vec<FailoverStep> {
    let mut p = vec![FailoverStep::Finish { what }];
    if let Some(h) = hook {
        p.push(FailoverStep::Hook { command: h.to_string() });
    }
    if !stranded.is_empty() {
        p.push(FailoverStep::Repoint { replicas: stranded.to_vec(), to: candidate.clone() });
    }
    p.push(FailoverStep::Marker { followers });
    p
}

pub fn failover(s: &Shape<'_>) -> Vec<FailoverStep> {
    let mut p = vec![
        FailoverStep::StopIo { replicas: s.replicas.to_vec() },
        FailoverStep::ApplyRelay { candidate: s.candidate.clone(), timeout: s.relay_timeout },
    ];
    if let Some(from) = s.catch_up_from {
        p.push(FailoverStep::CatchUp {
            candidate: s.candidate.clone(),
            from: from.clone(),
            timeout: s.catchup_timeout,
        });
    }
    if let Some(h) = s.pre_hook {
        p.push(FailoverStep::PreHook { command: h.to_string() });
    }
    p.push(FailoverStep::Promote { candidate: s.candidate.clone(), upstream: s.upstream.cloned() });
    if let Some(h) = s.hook {
        p.push(FailoverStep::Hook { command: h.to_string() });
    }
    let others: Vec<Addr> = s.replicas.iter().filter(|a| *a != s.candidate).cloned().collect();
    if !others.is_empty() {
        p.push(FailoverStep::Repoint { replicas: others.clone(), to: s.candidate.clone() });
    }
    p.push(FailoverStep::Marker { followers: others.len() });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_comes_before_anything_is_writable_and_only_the_promotion_commits() {
        let (c, r2, r1) = (Addr::new("c", 1), Addr::new("r2", 1), Addr::new("r1", 1));
        let replicas = [c.clone(), r2.clone()];
        let p = failover(&Shape {
            candidate: &c,
            replicas: &replicas,
            catch_up_from: Some(&r1),
            upstream: Some(&Addr::new("global", 1)),
            pre_hook: Some("fence.sh"),
            hook: Some("route.sh"),
            relay_timeout: Duration::from_secs(30),
            catchup_timeout: Duration::from_secs(60),
        });
        let names: Vec<_> = p.iter().map(Step::name).collect();
        assert_eq!(names, ["stop_io", "apply_relay", "catch_up", "pre_hook", "promote", "hook", "repoint", "marker"]);
        let last_rollback = p.iter().rposition(|s| s.on_failure() == OnFailure::RollBack);
        assert_eq!(last_rollback, Some(4), "promote is the last step that rolls back");
        assert_eq!(p[6], FailoverStep::Repoint { replicas: vec![r2], to: c });
        assert!(p[4].describe().contains("point it at the upstream global:1"));
    }

    #[test]
    fn a_lone_replica_needs_no_repoint() {
        let c = Addr::new("c", 1);
        let p = failover(&Shape {
            candidate: &c,
            replicas: std::slice::from_ref(&c),
            catch_up_from: None,
            upstream: None,
            pre_hook: None,
            hook: None,
            relay_timeout: Duration::from_secs(1),
            catchup_timeout: Duration::from_secs(1),
        });
        let names: Vec<_> = p.iter().map(Step::name).collect();
        assert_eq!(names, ["stop_io", "apply_relay", "promote", "marker"]);
    }

    #[test]
    fn finishing_an_interrupted_failover_runs_the_hook_again_repoints_the_stranded_and_undoes_nothing() {
        let (c, r2) = (Addr::new("c", 1), Addr::new("r2", 1));
        let p = finish(&c, "c takes writes".into(), std::slice::from_ref(&r2), Some("route.sh"), 1);
        let names: Vec<_> = p.iter().map(Step::name).collect();
        assert_eq!(names, ["finish", "hook", "repoint", "marker"]);
        assert!(p.iter().all(|s| s.on_failure() == OnFailure::Warn));
        assert_eq!(p[2], FailoverStep::Repoint { replicas: vec![r2], to: c.clone() });
        let p = finish(&c, "c takes writes".into(), &[], None, 0);
        assert_eq!(p.iter().map(Step::name).collect::<Vec<_>>(), ["finish", "marker"]);
    }
}
