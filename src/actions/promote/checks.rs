//! The candidate checks of a promotion, on a fresh read of every member: pure.

use super::Request;
use crate::actions::Check;
use crate::fleet::health::lag_seconds;
use crate::fleet::status::{Flavor, InstanceStatus, IoState};
use crate::mysql::gtid::{GtidSet, MariaGtidList, errant};
use crate::mysql::{Addr, Dialect};

/// Evaluate the candidate against the old master and the other members.
pub fn check_candidate(
    req: &Request,
    master: &InstanceStatus,
    cand: &InstanceStatus,
    others: &[(Addr, Option<InstanceStatus>)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, ok: bool, detail: String| {
        let forced = !ok && req.force_checks.iter().any(|f| f == name);
        out.push(Check { name, ok, detail, forced });
    };
    let link = cand.primary_link();
    check(
        "direct_replica",
        link.is_some_and(|l| l.source == req.master),
        match link {
            Some(l) if l.source == req.master => format!("replicates from the master {}", req.master),
            Some(l) => format!("replicates from {}, not from the master {}", l.source, req.master),
            None => "is not a replica".into(),
        },
    );
    let running = link.is_some_and(|l| l.io_state == IoState::Running && l.sql_running);
    check(
        "threads_running",
        running,
        match link {
            Some(l) => format!("IO {:?}, SQL {}", l.io_state, if l.sql_running { "running" } else { "stopped" }),
            None => "no replication".into(),
        },
    );
    check(
        "log_bin",
        cand.log_bin,
        format!("log_bin {}", if cand.log_bin { "ON" } else { "OFF: replicas could not follow it" }),
    );
    check(
        "log_slave_updates",
        cand.log_slave_updates,
        format!(
            "log_slave_updates {}",
            if cand.log_slave_updates { "ON" } else { "OFF: its binlog lacks what it replicated" }
        ),
    );
    check(
        "binlog_format",
        cand.binlog_format.eq_ignore_ascii_case(&master.binlog_format),
        format!("candidate {}, master {}", cand.binlog_format, master.binlog_format),
    );
    let ver = |s: &InstanceStatus| Dialect::detect(&s.version, "").map(|d| d.version);
    check(
        "version",
        cand.flavor == master.flavor
            && ver(cand).zip(ver(master)).is_some_and(|(c, m)| (c.major, c.minor) >= (m.major, m.minor)),
        format!(
            "candidate {} {}, master {} {}",
            cand.flavor.name(),
            cand.version,
            master.flavor.name(),
            master.version
        ),
    );
    let clash: Vec<String> = std::iter::once((&req.master, Some(master)))
        .chain(others.iter().map(|(a, s)| (a, s.as_ref())))
        .filter(|(_, s)| s.is_some_and(|s| s.server_id == cand.server_id))
        .map(|(a, _)| a.to_string())
        .collect();
    check(
        "server_id_unique",
        clash.is_empty(),
        if clash.is_empty() {
            format!("server_id {}", cand.server_id)
        } else {
            format!("server_id {} also on {}", cand.server_id, clash.join(", "))
        },
    );
    let errant_list = errant_gtids(master, cand);
    check(
        "errant_gtids",
        errant_list.as_ref().is_ok_and(|e| e.is_empty()),
        match &errant_list {
            Ok(e) if e.is_empty() => "none".into(),
            Ok(e) => format!("transactions the master does not have: {}", e.join(", ")),
            Err(e) => format!("cannot compare GTIDs: {e}"),
        },
    );
    let lag = link.and_then(|l| lag_seconds(cand, l));
    check(
        "lag",
        lag.is_some_and(|l| l <= req.max_lag.as_secs_f64()),
        match lag {
            Some(l) => format!("{l:.1} s (limit {:.0} s)", req.max_lag.as_secs_f64()),
            None => "unknown (Seconds_Behind_Master is NULL)".into(),
        },
    );
    check(
        "master_writable",
        !master.read_only,
        if master.read_only {
            "the master is read-only: a previous promotion may have been interrupted; check the shard, then \
             SET GLOBAL read_only=OFF on it or --force-check master_writable to finish the switch"
                .into()
        } else {
            "writable".into()
        },
    );
    let unreachable: Vec<String> =
        others.iter().filter(|(a, s)| s.is_none() && !req.detach.contains(a)).map(|(a, _)| a.to_string()).collect();
    check(
        "replicas_reachable",
        unreachable.is_empty(),
        if unreachable.is_empty() {
            "all".into()
        } else {
            format!("cannot reach {} (--detach them to go on)", unreachable.join(", "))
        },
    );
    out
}

fn errant_gtids(master: &InstanceStatus, cand: &InstanceStatus) -> Result<Vec<String>, String> {
    match master.flavor {
        Flavor::MariaDb => {
            let m = MariaGtidList::parse(master.gtid.binlog_pos.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let c = MariaGtidList::parse(cand.gtid.current_pos.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            Ok(errant(&c, &m).iter().map(|g| g.to_string()).collect())
        }
        Flavor::MySql => {
            let m = GtidSet::parse(master.gtid.executed.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let c = GtidSet::parse(cand.gtid.executed.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let diff = c.subtract(&m);
            Ok(if diff.is_empty() { Vec::new() } else { vec![diff.to_string()] })
        }
    }
}

/// Whether `cand` holds every transaction `master` has: `None` when the positions cannot be read.
pub fn has_everything(master: &InstanceStatus, cand: &InstanceStatus) -> Option<bool> {
    match master.flavor {
        Flavor::MariaDb => {
            let m = MariaGtidList::parse(master.gtid.binlog_pos.as_deref().unwrap_or("")).ok()?;
            let c = MariaGtidList::parse(cand.gtid.current_pos.as_deref().unwrap_or("")).ok()?;
            Some(c.contains(&m))
        }
        Flavor::MySql => {
            let m = GtidSet::parse(master.gtid.executed.as_deref().unwrap_or("")).ok()?;
            let c = GtidSet::parse(cand.gtid.executed.as_deref().unwrap_or("")).ok()?;
            Some(m.is_subset(&c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::req;
    use super::*;
    use crate::fleet::test_support::{master_status, replica_status};

    fn failing(checks: &[Check]) -> Vec<&'static str> {
        checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    fn other() -> Vec<(Addr, Option<InstanceStatus>)> {
        let mut s = replica_status(Some(0));
        s.server_id = 3;
        vec![(Addr::new("db2", 3306), Some(s))]
    }

    #[test]
    fn a_healthy_direct_replica_passes_every_check() {
        let c = check_candidate(&req(), &master_status(), &replica_status(Some(0)), &other());
        assert!(failing(&c).is_empty(), "{c:#?}");
        assert_eq!(c.len(), 11);
    }

    #[test]
    fn each_failure_explains_itself() {
        let m = master_status();
        let mut cand = replica_status(Some(120));
        cand.log_slave_updates = false;
        cand.replication[0].sql_running = false;
        cand.server_id = 3;
        cand.gtid.current_pos = Some("1-2-101".into());
        let c = check_candidate(&req(), &m, &cand, &other());
        assert_eq!(
            failing(&c),
            vec!["threads_running", "log_slave_updates", "server_id_unique", "errant_gtids", "lag"]
        );
        let errant = c.iter().find(|c| c.name == "errant_gtids").map(|c| c.detail.clone()).unwrap_or_default();
        assert_eq!(errant, "transactions the master does not have: 1-2-101");
        let clash = c.iter().find(|c| c.name == "server_id_unique").map(|c| c.detail.clone()).unwrap_or_default();
        assert_eq!(clash, "server_id 3 also on db2:3306");
    }

    #[test]
    fn a_chained_replica_is_not_a_direct_replica_and_force_is_by_name() {
        let mut cand = replica_status(Some(0));
        cand.replication[0].source = Addr::new("db2", 3306);
        let mut r = req();
        let c = check_candidate(&r, &master_status(), &cand, &other());
        assert_eq!(failing(&c), vec!["direct_replica"]);
        assert!(c[0].blocks());
        r.force_checks = vec!["direct_replica".into()];
        let c = check_candidate(&r, &master_status(), &cand, &other());
        assert!(c[0].forced && !c[0].blocks());
    }

    #[test]
    fn unknown_lag_and_read_only_master_block() {
        let mut m = master_status();
        m.read_only = true;
        let c = check_candidate(&req(), &m, &replica_status(None), &[(Addr::new("db2", 3306), None)]);
        assert_eq!(failing(&c), vec!["lag", "master_writable", "replicas_reachable"]);
    }
}
