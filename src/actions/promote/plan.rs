//! A promotion's plan as typed steps: what `--dry-run` prints, what the TUI
//! shows, what runs (`exec`) and what the audit log records are this one value.

use std::time::Duration;

use super::{OldMaster, Request};
use crate::actions::runner::{OnFailure, Step};
use crate::mysql::Addr;

#[derive(Clone, Debug, PartialEq)]
pub enum PromoteStep {
    /// Set the master read-only, fence accounts that read_only does not stop.
    Freeze { master: Addr },
    /// The master's binlog position no longer moves.
    VerifyFrozen { master: Addr },
    /// The candidate applies everything the frozen master wrote.
    CatchUp { candidate: Addr, timeout: Duration, gtid: bool },
    /// The point of no return: the candidate becomes the master.
    Promote { candidate: Addr, upstream: Option<Addr> },
    /// The post-promotion hook (routing).
    Hook { command: String },
    /// Direct replicas of the old master follow the new one.
    Repoint { replicas: Vec<Addr>, to: Addr },
    /// A replica left out of the new topology.
    Detach { replica: Addr },
    /// The old master becomes a read-only replica (or stays standalone); accounts the freeze
    /// fenced are unlocked once routing points at the new master.
    OldMaster { master: Addr, to: Addr, mode: OldMaster },
    /// Accounts an interrupted run fenced on the old master (finishing path).
    Unfence { master: Addr, accounts: Vec<String> },
    /// A marker row written on the new master reaches every follower.
    Marker { followers: usize },
    /// An earlier run stopped after the point of no return; this one finishes it.
    Finish { what: String },
}

impl Step for PromoteStep {
    fn name(&self) -> &'static str {
        match self {
            PromoteStep::Freeze { .. } => "freeze",
            PromoteStep::VerifyFrozen { .. } => "verify_frozen",
            PromoteStep::CatchUp { .. } => "catch_up",
            PromoteStep::Promote { .. } => "promote",
            PromoteStep::Hook { .. } => "hook",
            PromoteStep::Repoint { .. } => "repoint",
            PromoteStep::Detach { .. } => "detach",
            PromoteStep::OldMaster { .. } => "old_master",
            PromoteStep::Unfence { .. } => "unfence",
            PromoteStep::Marker { .. } => "marker",
            PromoteStep::Finish { .. } => "finish",
        }
    }

    fn describe(&self) -> String {
        match self {
            PromoteStep::Freeze { master } => {
                format!("set {master} read-only; stop sessions of accounts read_only does not stop")
            }
            PromoteStep::VerifyFrozen { master } => format!("check that {master}'s binlog position no longer moves"),
            PromoteStep::CatchUp { candidate, timeout, gtid } => format!(
                "wait up to {:.0} s for {candidate} to apply everything ({}); roll back on timeout",
                timeout.as_secs_f64(),
                if *gtid { "GTID wait" } else { "MASTER_POS_WAIT" }
            ),
            PromoteStep::Promote { candidate, upstream } => format!(
                "stop and reset replication on {candidate}{}, make it writable",
                upstream.as_ref().map(|u| format!(", point it at the upstream {u}")).unwrap_or_default()
            ),
            PromoteStep::Hook { command } => format!("run the post-promotion hook (routing): {command}"),
            PromoteStep::Repoint { replicas, to } => format!("point {} at {to}", join(replicas)),
            PromoteStep::Detach { replica } => format!("stop and reset replication on {replica}"),
            PromoteStep::OldMaster { master, to, mode: OldMaster::Replica } => {
                format!("make {master} a read-only replica of {to}")
            }
            PromoteStep::OldMaster { master, mode: OldMaster::Detach, .. } => {
                format!("leave {master} read-only and standalone")
            }
            PromoteStep::Unfence { master, accounts } => {
                format!("unlock {} on {master}, fenced by the interrupted run", accounts.join(", "))
            }
            PromoteStep::Marker { .. } => {
                "write a marker row on the new master and see it arrive on every replica".into()
            }
            PromoteStep::Finish { what } => what.clone(),
        }
    }

    /// Up to and including `promote`, a failure rolls everything back; after it,
    /// going back would lose what the new master took: warn and go on.
    fn on_failure(&self) -> OnFailure {
        match self {
            PromoteStep::Freeze { .. }
            | PromoteStep::VerifyFrozen { .. }
            | PromoteStep::CatchUp { .. }
            | PromoteStep::Promote { .. } => OnFailure::RollBack,
            _ => OnFailure::Warn,
        }
    }

    fn warning(&self, error: &str) -> String {
        match self {
            PromoteStep::Hook { .. } => format!("post-promotion hook failed (the promotion stands): {error}"),
            PromoteStep::Detach { replica } => format!("detach {replica}: {error}"),
            PromoteStep::OldMaster { .. } => format!("old master: {error}"),
            _ => format!("{}: {error}", self.name()),
        }
    }
}

fn join(addrs: &[Addr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The switchover: `direct` are the old master's direct replicas other than the candidate
/// (chained ones stay where they are), `upstream` the global master the old one replicates from.
pub fn switchover(req: &Request, gtid: bool, upstream: Option<&Addr>, direct: &[Addr]) -> Vec<PromoteStep> {
    let mut p = vec![
        PromoteStep::Freeze { master: req.master.clone() },
        PromoteStep::VerifyFrozen { master: req.master.clone() },
        PromoteStep::CatchUp { candidate: req.candidate.clone(), timeout: req.catchup_timeout, gtid },
        PromoteStep::Promote { candidate: req.candidate.clone(), upstream: upstream.cloned() },
    ];
    // Routing first, so writers find the new master as soon as it takes writes.
    if let Some(h) = &req.hook {
        p.push(PromoteStep::Hook { command: h.clone() });
    }
    let moved: Vec<Addr> = direct.iter().filter(|a| !req.detach.contains(a)).cloned().collect();
    if !moved.is_empty() {
        p.push(PromoteStep::Repoint { replicas: moved.clone(), to: req.candidate.clone() });
    }
    for a in &req.detach {
        p.push(PromoteStep::Detach { replica: a.clone() });
    }
    p.push(PromoteStep::OldMaster { master: req.master.clone(), to: req.candidate.clone(), mode: req.old_master });
    let followers = moved.len() + usize::from(req.old_master == OldMaster::Replica);
    p.push(PromoteStep::Marker { followers });
    p
}

/// Finishing a switch an earlier run left after its point of no return: `stranded` still
/// replicate from the old master; `old_master_follows` is false when the old master already
/// replicates from the candidate; `fenced` are accounts the crashed run left locked.
pub fn finish(
    req: &Request,
    what: String,
    stranded: &[Addr],
    old_master_follows: bool,
    fenced: Vec<String>,
    followers: usize,
) -> Vec<PromoteStep> {
    let mut p = vec![PromoteStep::Finish { what }];
    if let Some(h) = &req.hook {
        p.push(PromoteStep::Hook { command: h.clone() });
    }
    if !stranded.is_empty() {
        p.push(PromoteStep::Repoint { replicas: stranded.to_vec(), to: req.candidate.clone() });
    }
    if old_master_follows {
        p.push(PromoteStep::OldMaster { master: req.master.clone(), to: req.candidate.clone(), mode: req.old_master });
    }
    if !fenced.is_empty() {
        p.push(PromoteStep::Unfence { master: req.master.clone(), accounts: fenced });
    }
    p.push(PromoteStep::Marker { followers });
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::runner::describe;

    fn req() -> Request {
        super::super::tests::req()
    }

    #[test]
    fn the_switchover_runs_in_order_and_only_its_first_four_steps_roll_back() {
        let p = switchover(&req(), true, Some(&Addr::new("global", 3306)), &[Addr::new("db2", 3306)]);
        let names: Vec<_> = describe(&p).iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["freeze", "verify_frozen", "catch_up", "promote", "repoint", "old_master", "marker"]);
        assert!(p[3].describe().contains("point it at the upstream global:3306"));
        let rolls_back: Vec<_> = p.iter().filter(|s| s.on_failure() == OnFailure::RollBack).map(Step::name).collect();
        assert_eq!(rolls_back, ["freeze", "verify_frozen", "catch_up", "promote"]);
        // No step that rolls back may follow one that cannot.
        let first_warn = p.iter().position(|s| s.on_failure() == OnFailure::Warn).unwrap_or(p.len());
        assert!(p[first_warn..].iter().all(|s| s.on_failure() == OnFailure::Warn));
    }

    #[test]
    fn hook_detach_and_a_standalone_old_master_are_planned_as_asked() {
        let mut r = req();
        r.hook = Some("/bin/route".into());
        r.detach = vec![Addr::new("db2", 3306)];
        r.old_master = OldMaster::Detach;
        let p = switchover(&r, false, None, &[Addr::new("db2", 3306)]);
        let names: Vec<_> = p.iter().map(Step::name).collect();
        assert_eq!(names, ["freeze", "verify_frozen", "catch_up", "promote", "hook", "detach", "old_master", "marker"]);
        assert!(p[2].describe().contains("MASTER_POS_WAIT"));
        assert_eq!(p[6].describe(), "leave master:3306 read-only and standalone");
        assert_eq!(p[7], PromoteStep::Marker { followers: 0 });
    }

    #[test]
    fn finishing_a_crashed_switch_never_rolls_back() {
        let p = finish(&req(), "finishing".into(), &[Addr::new("db2", 3306)], true, vec!["'a'@'h'".into()], 2);
        let names: Vec<_> = p.iter().map(Step::name).collect();
        assert_eq!(names, ["finish", "repoint", "old_master", "unfence", "marker"]);
        assert!(p.iter().all(|s| s.on_failure() == OnFailure::Warn));
    }
}
