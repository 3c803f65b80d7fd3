//! Which replica takes over from a dead master: pure.
//!
//! Every replica is judged on what it *holds* (applied plus received into its
//! relay log): MariaDB `gtid_current_pos` with `Gtid_IO_Pos`, MySQL
//! `gtid_executed` with `Retrieved_Gtid_Set`, or, without GTIDs, how far into
//! the master's binlog its IO thread read. Replicas that cannot lead are set
//! aside with the reason (broken SQL thread, no binlog or log_slave_updates, a
//! newer version than the rest, errant transactions, `promotion = "never"`).
//! The candidate is the operator's (`--to`), else the most preferred eligible
//! one, else the most advanced. A candidate that holds less than the most
//! advanced replica first catches up from it (never silently losing what it
//! has), as Vitess' emergency reparent promotes through an intermediate source.

use std::cmp::Ordering;

pub use crate::fleet::promotion::Promotion;
use crate::fleet::status::{Flavor, GtidMode, InstanceStatus};
use crate::mysql::gtid::{History, MariaGtid, Missing};
use crate::mysql::{Addr, Dialect};

/// How far a replica got in the dead master's history.
#[derive(Clone, Debug, PartialEq)]
pub enum Holds {
    Gtid(History),
    /// file:position: how far its IO thread read in the master's binlog.
    File {
        file: String,
        pos: u64,
    },
}

impl Holds {
    /// Whether this has everything `other` has (`None`: not comparable).
    pub fn contains(&self, other: &Holds) -> Option<bool> {
        match (self, other) {
            (Holds::Gtid(a), Holds::Gtid(b)) => Some(a.contains(b)),
            (Holds::File { .. }, Holds::File { .. }) => Some(self.file_order(other)? != Ordering::Less),
            _ => None,
        }
    }

    fn file_order(&self, other: &Holds) -> Option<Ordering> {
        match (self, other) {
            (Holds::File { file: f1, pos: p1 }, Holds::File { file: f2, pos: p2 }) => {
                Some(binlog_number(f1).cmp(&binlog_number(f2)).then(p1.cmp(p2)))
            }
            _ => None,
        }
    }

    /// What this holds that `other` lacks.
    pub fn missing_from(&self, other: &Holds) -> Vec<Missing> {
        match (self, other) {
            (Holds::Gtid(a), Holds::Gtid(b)) => a.missing_from(b),
            (Holds::File { file, pos }, Holds::File { .. }) if self.file_order(other) == Some(Ordering::Greater) => {
                vec![Missing { what: format!("binlog events up to {file}:{pos}"), count: 0 }]
            }
            _ => Vec::new(),
        }
    }

    fn weight(&self) -> u64 {
        match self {
            Holds::Gtid(h) => h.weight(),
            Holds::File { file, pos } => binlog_number(file).saturating_mul(1 << 40).saturating_add(*pos),
        }
    }
}

impl std::fmt::Display for Holds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holds::Gtid(h) => write!(f, "{h}"),
            Holds::File { file, pos } => write!(f, "{file}:{pos}"),
        }
    }
}

/// `mysql-bin.000042` → 42: binlog files are numbered in order.
fn binlog_number(file: &str) -> u64 {
    file.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// What a replica holds of `master`'s history; `Err` says why it cannot be read.
pub fn holds(s: &InstanceStatus, master: &Addr) -> Result<Holds, String> {
    let link = s.replication.iter().find(|l| &l.source == master).ok_or("does not replicate from the master")?;
    if link.gtid_mode == GtidMode::No {
        return Ok(Holds::File { file: link.source_log_file.clone(), pos: link.read_source_log_pos });
    }
    let applied = match s.flavor {
        Flavor::MariaDb => s.gtid.current_pos.as_deref().or(s.gtid.slave_pos.as_deref()),
        Flavor::MySql => s.gtid.executed.as_deref(),
    }
    .unwrap_or("");
    let parse = |text: &str| History::parse(s.flavor, text).map_err(|e| format!("cannot read its GTIDs: {e}"));
    Ok(Holds::Gtid(parse(applied)?.union(&parse(&link.retrieved_gtid_set)?)))
}

/// One replica, judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub addr: Addr,
    pub promotion: Promotion,
    pub holds: Option<Holds>,
    /// Why it cannot lead; `None`: eligible.
    pub excluded: Option<String>,
    /// A semi-sync replica: it acknowledged every write the master acknowledged.
    pub semi_sync: bool,
}

/// The choice, and everything needed to explain it.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub candidate: Addr,
    /// A replica that holds more than the candidate: the candidate applies it first.
    pub catch_up_from: Option<Addr>,
    pub judged: Vec<Judged>,
}

/// Judge every replica: `(address, status or None when unreachable, promotion rule, semi-sync)`.
pub fn judge(master: &Addr, replicas: &[(Addr, Option<&InstanceStatus>, Promotion, bool)]) -> Vec<Judged> {
    let versions: Vec<(u16, u16)> = replicas
        .iter()
        .filter_map(|(_, s, _, _)| {
            Dialect::detect(&s.as_ref()?.version, "").map(|d| (d.version.major, d.version.minor))
        })
        .collect();
    let oldest = versions.iter().min().copied();
    let mut out: Vec<Judged> = replicas
        .iter()
        .map(|(addr, status, promotion, semi_sync)| {
            let mut j = Judged {
                addr: addr.clone(),
                promotion: *promotion,
                holds: None,
                excluded: None,
                semi_sync: *semi_sync,
            };
            let Some(s) = status else {
                j.excluded = Some("unreachable".into());
                return j;
            };
            match holds(s, master) {
                Ok(h) => j.holds = Some(h),
                Err(e) => j.excluded = Some(e),
            }
            let link = s.replication.iter().find(|l| &l.source == master);
            let version = Dialect::detect(&s.version, "").map(|d| (d.version.major, d.version.minor));
            j.excluded = j.excluded.take().or_else(|| {
                if *promotion == Promotion::Never {
                    Some("promotion = \"never\" in the config".into())
                } else if let Some(l) = link.filter(|l| !l.sql_running || l.last_sql_errno != 0) {
                    Some(if l.last_sql_errno != 0 {
                        format!("SQL thread broken: {} {}", l.last_sql_errno, l.last_sql_error)
                    } else {
                        "SQL thread stopped: its relay log would not be applied".into()
                    })
                } else if !s.log_bin {
                    Some("log_bin OFF: replicas could not follow it".into())
                } else if !s.log_slave_updates {
                    Some("log_slave_updates OFF: its binlog lacks what it replicated".into())
                } else if version.zip(oldest).is_some_and(|(v, o)| v > o) {
                    Some(format!("{} is newer than the other replicas: they could not follow it", s.version))
                } else {
                    None
                }
            });
            j
        })
        .collect();
    // Errant: transactions written on the replica itself that no other member holds.
    let own: Vec<(usize, Vec<String>)> = replicas
        .iter()
        .enumerate()
        .filter_map(|(i, (_, s, _, _))| Some((i, own_writes(s.as_ref()?, replicas, i))))
        .filter(|(_, e)| !e.is_empty())
        .collect();
    for (i, errant) in own {
        if out[i].excluded.is_none() {
            out[i].excluded = Some(format!("errant transactions written on it: {}", errant.join(", ")));
        }
    }
    out
}

/// GTIDs a replica wrote itself (its own server_id / server_uuid) that no other replica holds.
fn own_writes(s: &InstanceStatus, all: &[(Addr, Option<&InstanceStatus>, Promotion, bool)], me: usize) -> Vec<String> {
    match s.flavor {
        Flavor::MariaDb => {
            // `gtid_binlog_state` keeps the last GTID per (domain, server_id): a write of this
            // server's own is errant unless another member holds it too (it was a master once).
            let state = |s: &InstanceStatus| -> Vec<MariaGtid> {
                s.topo
                    .gtid_binlog_state
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            };
            state(s)
                .into_iter()
                .filter(|g| g.server_id == s.server_id)
                .filter(|g| {
                    !all.iter().enumerate().any(|(j, (_, o, _, _))| {
                        j != me
                            && o.is_some_and(|o| {
                                state(o)
                                    .iter()
                                    .any(|t| t.domain == g.domain && t.server_id == g.server_id && t.seq >= g.seq)
                            })
                    })
                })
                .map(|g| g.to_string())
                .collect()
        }
        Flavor::MySql => {
            let Some(uuid) = s.server_uuid.as_deref() else { return Vec::new() };
            let parse = |t: &str| crate::mysql::gtid::GtidSet::parse(t).ok();
            let Some(mine) = parse(s.gtid.executed.as_deref().unwrap_or("")) else { return Vec::new() };
            let others = all
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != me)
                .filter_map(|(_, (_, o, _, _))| parse(o.as_ref()?.gtid.executed.as_deref().unwrap_or("")))
                .fold(crate::mysql::gtid::GtidSet::default(), |acc, set| acc.union(&set));
            let errant = mine.errant_from(&others, Some(uuid));
            let errant = errant.subtract(&others);
            if errant.is_empty() { Vec::new() } else { vec![errant.to_string()] }
        }
    }
}

/// Pick the candidate among `judged` (`wanted`: the operator's `--to`). `Err` says why none can lead.
pub fn choose(judged: Vec<Judged>, wanted: Option<&Addr>) -> Result<Choice, String> {
    let eligible: Vec<&Judged> = judged.iter().filter(|j| j.excluded.is_none() && j.holds.is_some()).collect();
    if eligible.is_empty() {
        let why: Vec<String> =
            judged.iter().map(|j| format!("{}: {}", j.addr, j.excluded.as_deref().unwrap_or("?"))).collect();
        return Err(format!("no replica can take over: {}", why.join("; ")));
    }
    // The most advanced: holds everything every other eligible replica holds.
    let holds = |j: &Judged| j.holds.clone().unwrap_or(Holds::File { file: String::new(), pos: 0 });
    let leader = eligible
        .iter()
        .copied()
        .find(|a| eligible.iter().all(|b| holds(a).contains(&holds(b)) == Some(true)))
        .ok_or_else(|| {
            let pairs: Vec<String> = eligible
                .iter()
                .map(|a| {
                    let extra: Vec<String> = eligible
                        .iter()
                        .filter(|b| b.addr != a.addr)
                        .flat_map(|b| holds(a).missing_from(&holds(b)))
                        .map(|m| m.what)
                        .collect();
                    format!(
                        "{} alone holds {}",
                        a.addr,
                        if extra.is_empty() { "nothing".into() } else { extra.join(", ") }
                    )
                })
                .collect();
            format!("the replicas' histories diverge, none holds all the others hold: {}", pairs.join("; "))
        })?;
    // Holds all the leader holds: no catch-up needed.
    let leads = |j: &Judged| holds(j).contains(&holds(leader)) == Some(true);
    let candidate: &Judged = match wanted {
        Some(w) => match judged.iter().find(|j| &j.addr == w) {
            None => return Err(format!("{w} is not a replica of this shard")),
            Some(j) if j.excluded.is_some() => {
                return Err(format!("{w} cannot take over: {}", j.excluded.as_deref().unwrap_or("?")));
            }
            Some(j) => j,
        },
        None => eligible
            .iter()
            .copied()
            .max_by(|a, b| {
                a.promotion
                    .cmp(&b.promotion)
                    .then(leads(a).cmp(&leads(b)))
                    .then(a.semi_sync.cmp(&b.semi_sync))
                    .then(holds(a).weight().cmp(&holds(b).weight()))
                    .then(b.addr.cmp(&a.addr))
            })
            .unwrap_or(leader),
    };
    let catch_up_from = (holds(candidate).contains(&holds(leader)) != Some(true)).then(|| leader.addr.clone());
    Ok(Choice { candidate: candidate.addr.clone(), catch_up_from, judged: judged.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::test_support::{link, replica_status};

    fn master() -> Addr {
        Addr::new("master", 3306)
    }

    /// A MariaDB replica of `master` that applied `applied` and received `received`.
    fn replica(server_id: u32, applied: &str, received: &str) -> InstanceStatus {
        let mut s = replica_status(None);
        s.server_id = server_id;
        s.gtid.current_pos = Some(applied.into());
        s.gtid.binlog_pos = Some(applied.into());
        s.topo.gtid_binlog_state = Some(applied.into());
        s.replication = vec![link(master(), None)];
        s.replication[0].gtid_mode = GtidMode::SlavePos;
        s.replication[0].retrieved_gtid_set = received.into();
        s
    }

    fn row<'a>(name: &str, s: &'a InstanceStatus) -> (Addr, Option<&'a InstanceStatus>, Promotion, bool) {
        (Addr::new(name, 3306), Some(s), Promotion::Neutral, false)
    }

    #[test]
    fn the_replica_holding_most_leads_including_its_relay_log() {
        // r1 applied less but received more than r2.
        let r1 = replica(2, "1-1-90", "1-1-120");
        let r2 = replica(3, "1-1-110", "1-1-110");
        let c = choose(judge(&master(), &[row("r1", &r1), row("r2", &r2)]), None).expect("a candidate");
        assert_eq!(c.candidate, Addr::new("r1", 3306));
        assert_eq!(c.catch_up_from, None);
    }

    #[test]
    fn a_wanted_or_preferred_replica_behind_catches_up_from_the_leader() {
        let r1 = replica(2, "1-1-120", "1-1-120");
        let r2 = replica(3, "1-1-100", "1-1-100");
        let judged = judge(&master(), &[row("r1", &r1), row("r2", &r2)]);
        let c = choose(judged.clone(), Some(&Addr::new("r2", 3306))).expect("a candidate");
        assert_eq!((c.candidate, c.catch_up_from), (Addr::new("r2", 3306), Some(Addr::new("r1", 3306))));
        let mut prefer = judged;
        prefer[1].promotion = Promotion::Prefer;
        let c = choose(prefer, None).expect("a candidate");
        assert_eq!((c.candidate, c.catch_up_from), (Addr::new("r2", 3306), Some(Addr::new("r1", 3306))));
    }

    #[test]
    fn exclusions_say_why() {
        let mut broken = replica(2, "1-1-120", "1-1-120");
        broken.replication[0].sql_running = false;
        broken.replication[0].last_sql_errno = 1062;
        broken.replication[0].last_sql_error = "Duplicate entry".into();
        let mut no_lsu = replica(3, "1-1-100", "1-1-100");
        no_lsu.log_slave_updates = false;
        let mut errant = replica(4, "1-4-101", "1-1-100");
        errant.topo.gtid_binlog_state = Some("1-1-100,1-4-101".into());
        let mut newer = replica(5, "1-1-100", "1-1-100");
        newer.version = "11.4.2-MariaDB".into();
        let ok = replica(6, "1-1-100", "1-1-100");
        let never = replica(7, "1-1-100", "1-1-100");
        let judged = judge(
            &master(),
            &[
                row("broken", &broken),
                row("no_lsu", &no_lsu),
                row("errant", &errant),
                row("newer", &newer),
                row("ok", &ok),
                (Addr::new("never", 3306), Some(&never), Promotion::Never, false),
                (Addr::new("down", 3306), None, Promotion::Neutral, false),
            ],
        );
        let why =
            |n: &str| judged.iter().find(|j| j.addr.host == n).and_then(|j| j.excluded.clone()).unwrap_or_default();
        assert_eq!(why("broken"), "SQL thread broken: 1062 Duplicate entry");
        assert!(why("no_lsu").starts_with("log_slave_updates OFF"), "{}", why("no_lsu"));
        assert_eq!(why("errant"), "errant transactions written on it: 1-4-101");
        assert!(why("newer").contains("newer than the other replicas"), "{}", why("newer"));
        assert_eq!(why("never"), "promotion = \"never\" in the config");
        assert_eq!(why("down"), "unreachable");
        assert_eq!(why("ok"), "");
        let c = choose(judged.clone(), None).expect("ok leads");
        assert_eq!(c.candidate, Addr::new("ok", 3306));
        let refused = choose(judged, Some(&Addr::new("broken", 3306))).err().unwrap_or_default();
        assert_eq!(refused, "broken:3306 cannot take over: SQL thread broken: 1062 Duplicate entry");
    }

    #[test]
    fn diverged_histories_are_refused_naming_what_each_alone_holds() {
        let a = replica(2, "1-1-100,2-9-5", "1-1-100,2-9-5");
        let b = replica(3, "1-1-101", "1-1-101");
        let err = choose(judge(&master(), &[row("a", &a), row("b", &b)]), None).err().unwrap_or_default();
        assert!(err.contains("histories diverge"), "{err}");
        assert!(err.contains("a:3306 alone holds domain 2: after seq 0 up to 2-9-5"), "{err}");
        assert!(err.contains("b:3306 alone holds domain 1: after seq 100 up to 1-1-101"), "{err}");
    }

    #[test]
    fn file_position_replicas_rank_by_what_their_io_thread_read() {
        let mut a = replica(2, "", "");
        a.replication[0].gtid_mode = GtidMode::No;
        a.replication[0].source_log_file = "mysql-bin.000009".into();
        a.replication[0].read_source_log_pos = 400;
        let mut b = a.clone();
        b.server_id = 3;
        b.replication[0].source_log_file = "mysql-bin.000010".into();
        b.replication[0].read_source_log_pos = 4;
        let c = choose(judge(&master(), &[row("a", &a), row("b", &b)]), None).expect("b leads");
        assert_eq!(c.candidate, Addr::new("b", 3306));
    }

    #[test]
    fn semi_sync_replicas_win_ties() {
        let a = replica(2, "1-1-100", "1-1-100");
        let b = replica(3, "1-1-100", "1-1-100");
        let rows = [row("a", &a), (Addr::new("b", 3306), Some(&b), Promotion::Neutral, true)];
        assert_eq!(choose(judge(&master(), &rows), None).map(|c| c.candidate), Ok(Addr::new("b", 3306)));
    }
}
