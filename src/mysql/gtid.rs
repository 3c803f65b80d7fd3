//! GTID positions of both flavours, parsed so they can be compared properly.
//!
//! MariaDB keeps one position per replication domain (`1-3400-11,100-3390-7`):
//! shards and their global upstream write in different domains, so positions
//! are compared domain by domain, never as one string.
//!
//! MySQL keeps sets of transaction ranges per source UUID (and, from 8.3/8.4,
//! per tag: `uuid:1-5:billing:1-3`), combined with `GTID_SUBTRACT`-style set
//! arithmetic.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GtidError {
    #[error("bad MariaDB GTID {0:?}: expected domain-server_id-sequence, e.g. 1-3400-11")]
    BadMariaGtid(String),
    #[error("MariaDB GTID list names domain {domain} twice ({first} and {second})")]
    DuplicateDomain { domain: u32, first: String, second: String },
    #[error("bad UUID {0:?} in GTID set")]
    BadUuid(String),
    #[error("bad tag {0:?} in GTID set: expected a letter or _ then up to 31 letters, digits or _")]
    BadTag(String),
    #[error("bad transaction range {0:?} in GTID set: expected N or N-M with 1 <= N <= M < 2^63")]
    BadInterval(String),
    #[error("{0:?} in GTID set has no transaction range")]
    NoInterval(String),
}

// ---------------------------------------------------------------- MariaDB

/// One MariaDB GTID: the last event group of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MariaGtid {
    pub domain: u32,
    pub server_id: u32,
    pub seq: u64,
}

impl std::str::FromStr for MariaGtid {
    type Err = GtidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || GtidError::BadMariaGtid(s.to_string());
        let mut parts = s.trim().split('-');
        let mut next = || parts.next().filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let domain = next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let server_id = next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let seq = next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MariaGtid { domain, server_id, seq })
    }
}

impl fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server_id, self.seq)
    }
}

/// A MariaDB GTID position (`@@gtid_binlog_pos`, `@@gtid_current_pos`,
/// `@@gtid_slave_pos`, `Gtid_IO_Pos`): at most one GTID per domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MariaGtidList {
    by_domain: BTreeMap<u32, MariaGtid>,
}

impl MariaGtidList {
    /// Parses a comma-separated list; the empty string (no transactions yet)
    /// is the empty list. Whitespace and newlines around entries are ignored.
    pub fn parse(s: &str) -> Result<Self, GtidError> {
        let mut list = MariaGtidList::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let gtid: MariaGtid = part.parse()?;
            if let Some(first) = list.by_domain.insert(gtid.domain, gtid) {
                return Err(GtidError::DuplicateDomain {
                    domain: gtid.domain,
                    first: first.to_string(),
                    second: gtid.to_string(),
                });
            }
        }
        Ok(list)
    }

    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    pub fn get(&self, domain: u32) -> Option<MariaGtid> {
        self.by_domain.get(&domain).copied()
    }

    /// The GTIDs in domain order.
    pub fn iter(&self) -> impl Iterator<Item = MariaGtid> + '_ {
        self.by_domain.values().copied()
    }

    /// Whether this position has everything `other` has: every domain of
    /// `other` is present here at the same or a later sequence number.
    pub fn contains(&self, other: &MariaGtidList) -> bool {
        other.iter().all(|theirs| self.get(theirs.domain).is_some_and(|ours| ours.seq >= theirs.seq))
    }
}

impl FromIterator<MariaGtid> for MariaGtidList {
    /// Keeps the highest sequence number per domain.
    fn from_iter<I: IntoIterator<Item = MariaGtid>>(iter: I) -> Self {
        let mut list = MariaGtidList::default();
        for gtid in iter {
            let slot = list.by_domain.entry(gtid.domain).or_insert(gtid);
            if gtid.seq > slot.seq {
                *slot = gtid;
            }
        }
        list
    }
}

impl fmt::Display for MariaGtidList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, gtid) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{gtid}")?;
        }
        Ok(())
    }
}

/// The replica's GTIDs its source does not have, domain by domain: a domain
/// the source has never seen, a sequence beyond the source's, or the same
/// sequence written by another server (the histories diverged). Compare the
/// replica's `gtid_current_pos` with the source's `gtid_binlog_pos`.
pub fn errant(replica: &MariaGtidList, source: &MariaGtidList) -> Vec<MariaGtid> {
    replica
        .iter()
        .filter(|ours| match source.get(ours.domain) {
            None => true,
            Some(theirs) => ours.seq > theirs.seq || (ours.seq == theirs.seq && ours.server_id != theirs.server_id),
        })
        .collect()
}

/// Errant transactions from two `@@gtid_binlog_state` readings (the last GTID
/// per domain *and* server id, so a replica's local write stays visible after
/// newer events from its source pass it). The readings are taken at different
/// moments, so only what that cannot explain counts: a (domain, server_id)
/// pair the source has never logged, or the replica's own writes beyond what
/// the source has of them.
pub fn errant_in_binlog_state(
    replica: &str,
    source: &str,
    replica_server_id: u32,
) -> Result<Vec<MariaGtid>, GtidError> {
    let parse = |s: &str| -> Result<Vec<MariaGtid>, GtidError> {
        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::parse).collect()
    };
    let theirs = parse(source)?;
    Ok(parse(replica)?
        .into_iter()
        .filter(|ours| match theirs.iter().find(|t| t.domain == ours.domain && t.server_id == ours.server_id) {
            None => true,
            Some(t) => ours.server_id == replica_server_id && ours.seq > t.seq,
        })
        .collect())
}

// ---------------------------------------------------------------- MySQL

/// Transaction numbers are 1 ..= 2^63-1 (MySQL's `GNO_END`), so `end + 1` never overflows.
const GNO_MAX: u64 = i64::MAX as u64;

/// Source of a MySQL GTID: the originating server's UUID plus an optional
/// tag (8.3+), kept lowercase as the server prints them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Sid {
    uuid: u128,
    tag: String,
}

/// A closed range `start ..= end` of transaction numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: u64,
    end: u64,
}

/// A MySQL GTID set (`@@gtid_executed`, `Retrieved_Gtid_Set`, …), normalised:
/// ranges sorted and merged, so equal sets compare equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GtidSet {
    sids: BTreeMap<Sid, Vec<Interval>>,
}

impl GtidSet {
    /// Parses MySQL's text form: `uuid:1-5:11-18,uuid2:1-3`, tagged
    /// `uuid:1-5:tag:1-3` (a tag applies to the ranges after it), whitespace and
    /// newlines between elements, upper- or lowercase UUIDs, an empty string
    /// for the empty set.
    pub fn parse(s: &str) -> Result<Self, GtidError> {
        let mut set = GtidSet::default();
        for element in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut tokens = element.split(':').map(str::trim);
            let uuid_text = tokens.next().unwrap_or_default();
            let uuid = parse_uuid(uuid_text).ok_or_else(|| GtidError::BadUuid(uuid_text.to_string()))?;
            let mut sid = Sid { uuid, tag: String::new() };
            let mut ranges_for_sid = 0;
            for token in tokens {
                if token.starts_with(|c: char| c.is_ascii_digit()) {
                    let interval = parse_interval(token).ok_or_else(|| GtidError::BadInterval(token.to_string()))?;
                    set.insert(sid.clone(), interval);
                    ranges_for_sid += 1;
                } else {
                    if ranges_for_sid == 0 && !sid.tag.is_empty() {
                        return Err(GtidError::NoInterval(format!("{uuid_text}:{}", sid.tag)));
                    }
                    sid.tag = parse_tag(token).ok_or_else(|| GtidError::BadTag(token.to_string()))?;
                    ranges_for_sid = 0;
                }
            }
            if ranges_for_sid == 0 {
                return Err(GtidError::NoInterval(element.to_string()));
            }
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }

    /// Number of transactions in the set (saturating).
    pub fn count(&self) -> u64 {
        self.sids.values().flatten().fold(0u64, |n, i| n.saturating_add(i.end - i.start + 1))
    }

    /// Everything in either set.
    pub fn union(&self, other: &GtidSet) -> GtidSet {
        let mut out = self.clone();
        for (sid, intervals) in &other.sids {
            for &interval in intervals {
                out.insert(sid.clone(), interval);
            }
        }
        out
    }

    /// What `self` has and `other` lacks: `GTID_SUBTRACT(self, other)`.
    pub fn subtract(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::default();
        for (sid, ours) in &self.sids {
            let rest = match other.sids.get(sid) {
                Some(theirs) => subtract_intervals(ours, theirs),
                None => ours.clone(),
            };
            if !rest.is_empty() {
                out.sids.insert(sid.clone(), rest);
            }
        }
        out
    }

    /// Errant transactions of a replica (`self`) against its source's set.
    /// The readings are taken at different moments, so only what that cannot
    /// explain counts: transactions of servers (UUIDs) the source has never
    /// seen, and the replica's own (`own_uuid`) beyond what the source has.
    pub fn errant_from(&self, source: &GtidSet, own_uuid: Option<&str>) -> GtidSet {
        let own = own_uuid.and_then(parse_uuid);
        let mut out = self.subtract(source);
        out.sids.retain(|sid, _| Some(sid.uuid) == own || !source.sids.keys().any(|s| s.uuid == sid.uuid));
        out
    }

    /// Whether every transaction of `self` is in `other`: `GTID_SUBSET(self, other)`.
    pub fn is_subset(&self, other: &GtidSet) -> bool {
        self.subtract(other).is_empty()
    }

    /// Adds one range, keeping the ranges of its source sorted and merged
    /// (adjacent ranges join, as MySQL prints `1-5` for `1-3,4-5`).
    fn insert(&mut self, sid: Sid, interval: Interval) {
        let intervals = self.sids.entry(sid).or_default();
        intervals.push(interval);
        intervals.sort_by_key(|i| i.start);
        let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
        for &next in intervals.iter() {
            match merged.last_mut() {
                Some(last) if next.start <= last.end + 1 => last.end = last.end.max(next.end),
                _ => merged.push(next),
            }
        }
        *intervals = merged;
    }
}

/// Both lists sorted, disjoint and non-adjacent.
fn subtract_intervals(ours: &[Interval], theirs: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut j = 0;
    for &interval in ours {
        let mut start = interval.start;
        // Skip their ranges wholly before this one.
        while j < theirs.len() && theirs[j].end < start {
            j += 1;
        }
        let mut k = j;
        while start <= interval.end {
            match theirs.get(k) {
                Some(cut) if cut.start <= interval.end => {
                    if cut.start > start {
                        out.push(Interval { start, end: cut.start - 1 });
                    }
                    if cut.end >= interval.end {
                        start = interval.end + 1;
                    } else {
                        start = start.max(cut.end + 1);
                        k += 1;
                    }
                }
                _ => {
                    out.push(Interval { start, end: interval.end });
                    break;
                }
            }
        }
    }
    out
}

fn parse_uuid(s: &str) -> Option<u128> {
    let hex: String = match s.len() {
        36 => {
            let b = s.as_bytes();
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
            s.chars().filter(|&c| c != '-').collect()
        }
        32 => s.to_string(),
        _ => return None,
    };
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

fn parse_tag(s: &str) -> Option<String> {
    let mut chars = s.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| s.to_ascii_lowercase())
}

fn parse_interval(s: &str) -> Option<Interval> {
    let number = |t: &str| -> Option<u64> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u64>().ok().filter(|&n| (1..=GNO_MAX).contains(&n))
    };
    let (start, end) = match s.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(s)?;
            (n, n)
        }
    };
    (start <= end).then_some(Interval { start, end })
}

fn format_uuid(uuid: u128) -> String {
    let h = format!("{uuid:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl fmt::Display for GtidSet {
    /// MySQL's own order: by UUID, untagged ranges first, then tags alphabetically.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut current: Option<u128> = None;
        for (sid, intervals) in &self.sids {
            if current != Some(sid.uuid) {
                if current.is_some() {
                    f.write_str(",")?;
                }
                f.write_str(&format_uuid(sid.uuid))?;
                current = Some(sid.uuid);
            }
            if !sid.tag.is_empty() {
                write!(f, ":{}", sid.tag)?;
            }
            for i in intervals {
                if i.start == i.end {
                    write!(f, ":{}", i.start)?;
                } else {
                    write!(f, ":{}-{}", i.start, i.end)?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- either flavour

/// A server's GTID history in its flavour's form: what failover and rejoin compare, per
/// domain (MariaDB) or per source (MySQL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum History {
    Maria(MariaGtidList),
    MySql(GtidSet),
}

impl History {
    pub fn parse(flavor: super::Flavor, s: &str) -> Result<History, GtidError> {
        Ok(match flavor {
            super::Flavor::MariaDb => History::Maria(MariaGtidList::parse(s)?),
            super::Flavor::MySql => History::MySql(GtidSet::parse(s)?),
        })
    }

    /// Everything in either (MariaDB: the later position of each domain).
    pub fn union(&self, other: &History) -> History {
        match (self, other) {
            (History::Maria(a), History::Maria(b)) => History::Maria(a.iter().chain(b.iter()).collect()),
            (History::MySql(a), History::MySql(b)) => History::MySql(a.union(b)),
            // Different flavours never meet in one shard; keep what we have.
            _ => self.clone(),
        }
    }

    /// Whether this history has every transaction of `other`.
    pub fn contains(&self, other: &History) -> bool {
        match (self, other) {
            (History::Maria(a), History::Maria(b)) => a.contains(b),
            (History::MySql(a), History::MySql(b)) => b.is_subset(a),
            _ => false,
        }
    }

    /// What this history has that `other` lacks, one entry per domain (MariaDB: `domain 1:
    /// 1-3400-12..1-3400-15 (4 transactions)`) or per source (MySQL: the subtracted set), with
    /// the number of transactions.
    pub fn missing_from(&self, other: &History) -> Vec<Missing> {
        match (self, other) {
            (History::Maria(a), History::Maria(b)) => a
                .iter()
                .filter_map(|ours| {
                    let theirs = b.get(ours.domain).map_or(0, |g| g.seq);
                    (ours.seq > theirs).then(|| Missing {
                        what: format!("domain {}: after seq {theirs} up to {ours}", ours.domain),
                        count: ours.seq - theirs,
                    })
                })
                .collect(),
            (History::MySql(a), History::MySql(b)) => {
                let diff = a.subtract(b);
                if diff.is_empty() { Vec::new() } else { vec![Missing { count: diff.count(), what: diff.to_string() }] }
            }
            _ => Vec::new(),
        }
    }

    /// How far along this history is, to rank replicas that have no transactions the others
    /// lack: the sum of sequence numbers (MariaDB) or the number of transactions (MySQL).
    pub fn weight(&self) -> u64 {
        match self {
            History::Maria(a) => a.iter().fold(0u64, |n, g| n.saturating_add(g.seq)),
            History::MySql(a) => a.count(),
        }
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            History::Maria(a) => a.fmt(f),
            History::MySql(a) => a.fmt(f),
        }
    }
}

/// Transactions one history has and another lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "2174b383-5441-11e8-b90a-c80aa9429562";

    fn maria(s: &str) -> MariaGtidList {
        MariaGtidList::parse(s).unwrap()
    }

    fn set(s: &str) -> GtidSet {
        GtidSet::parse(s).unwrap()
    }

    #[test]
    fn parses_mariadb_lists() {
        let list = maria(" 1-3400-11,\n100-3390-7 ");
        assert_eq!(list.get(1), Some(MariaGtid { domain: 1, server_id: 3400, seq: 11 }));
        assert_eq!(list.get(100), Some(MariaGtid { domain: 100, server_id: 3390, seq: 7 }));
        assert_eq!(list.to_string(), "1-3400-11,100-3390-7");
        assert_eq!(maria("100-3390-7,1-3400-11").to_string(), "1-3400-11,100-3390-7");
        assert!(maria("").is_empty());
        assert!(maria(" \n").is_empty());
        assert_eq!(maria("0-1-18446744073709551615").get(0).map(|g| g.seq), Some(u64::MAX));
    }

    #[test]
    fn rejects_bad_mariadb_lists() {
        for bad in ["1-2", "1-2-3-4", "a-b-c", "1--3", "-1-2-3", "1-2-3x", "4294967296-1-1", "1 -2-3", "+1-2-3"] {
            assert!(MariaGtidList::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            MariaGtidList::parse("1-1-5,1-2-7"),
            Err(GtidError::DuplicateDomain { domain: 1, first: "1-1-5".into(), second: "1-2-7".into() })
        );
    }

    #[test]
    fn mariadb_positions_compare_per_domain() {
        let source = maria("1-3400-11,100-3390-7");
        // As one string "1-3400-9,100-3390-7" < "1-3400-11,…" would sort wrongly; per domain it is behind.
        assert!(source.contains(&maria("1-3400-9,100-3390-7")));
        assert!(!maria("1-3400-9,100-3390-7").contains(&source));
        assert!(source.contains(&maria("")));
        assert!(source.contains(&maria("1-3400-11")));
        assert!(!source.contains(&maria("2-3400-1")));
        assert!(!maria("1-3400-11").contains(&source), "missing domain 100");
        // A replica that applied from the global upstream ahead of the shard master is still fine per domain.
        assert!(maria("1-3400-11,100-3390-9").contains(&source));
    }

    #[test]
    fn finds_errant_mariadb_transactions() {
        let source = maria("1-3400-11,100-3390-7");
        assert_eq!(errant(&maria("1-3400-10,100-3390-7"), &source), vec![]);
        assert_eq!(errant(&maria(""), &source), vec![]);
        assert_eq!(
            errant(&maria("1-3401-12,100-3390-7,5-3401-1"), &source),
            vec![MariaGtid { domain: 1, server_id: 3401, seq: 12 }, MariaGtid { domain: 5, server_id: 3401, seq: 1 }]
        );
        // Same sequence number from another server: the histories diverged.
        assert_eq!(errant(&maria("1-3401-11"), &source), vec![MariaGtid { domain: 1, server_id: 3401, seq: 11 }]);
    }

    #[test]
    fn parses_mysql_sets() {
        let s = set("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,\n2174B383-5441-11E8-B90A-C80AA9429562:1-3");
        assert_eq!(s.to_string(), format!("{B}:1-3,{A}:1-5:11-18"));
        assert_eq!(s.count(), 5 + 8 + 3);
        assert_eq!(set(&format!("{A}:1-3:4-5:7:6")).to_string(), format!("{A}:1-7"));
        assert_eq!(set(&format!("{A}:5, {A}:1-4")).to_string(), format!("{A}:1-5"));
        assert_eq!(set("3e11fa4771ca11e19e33c80aa9429562:1").to_string(), format!("{A}:1"));
        assert!(set("").is_empty());
        assert!(set(" ,\n").is_empty());
    }

    #[test]
    fn parses_mysql_tagged_sets() {
        // MySQL 8.4 prints one UUID with its untagged ranges, then each tag with its ranges.
        let printed = format!("{A}:1-3:15-21:domain_1:1-3:domain_2:8-52");
        let s = set(&printed);
        assert_eq!(s.to_string(), printed);
        // The same set as the manual writes it, one element per tag, in any case.
        let written = set(&format!("{A}:Domain_2:8-52, {A}:domain_1:1-3,{A}:1-3:15-21"));
        assert_eq!(written, s);
        assert_eq!(s.subtract(&set(&format!("{A}:1-100"))).to_string(), format!("{A}:domain_1:1-3:domain_2:8-52"));
        assert!(set(&format!("{A}:domain_1:2")).is_subset(&s));
        assert!(!set(&format!("{A}:domain_3:2")).is_subset(&s));
    }

    #[test]
    fn rejects_bad_mysql_sets() {
        for bad in [
            "3e11fa47-71ca-11e1-9e33-c80aa9429562",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:0",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-1",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9223372036854775808",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:99999999999999999999999",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1:tag",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:x:1",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:9tag:1",
            "3e11fa47_71ca-11e1-9e33-c80aa9429562:1",
            "zz11fa47-71ca-11e1-9e33-c80aa9429562:1",
            "1-3400-11",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:a_tag_that_is_much_longer_than_32_chars:1",
        ] {
            assert!(GtidSet::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn mysql_set_arithmetic() {
        let executed = set(&format!("{A}:1-18,{B}:1-3"));
        let source = set(&format!("{A}:1-5:11-18"));
        assert_eq!(executed.subtract(&source).to_string(), format!("{B}:1-3,{A}:6-10"));
        assert_eq!(source.subtract(&executed), GtidSet::default());
        assert!(source.is_subset(&executed));
        assert!(!executed.is_subset(&source));
        assert_eq!(source.union(&set(&format!("{A}:6-10"))).to_string(), format!("{A}:1-18"));
        assert_eq!(
            set(&format!("{A}:1-10")).subtract(&set(&format!("{A}:2:4-5:9-12"))).to_string(),
            format!("{A}:1:3:6-8")
        );
        assert_eq!(set(&format!("{A}:1-3:7-9")).subtract(&set(&format!("{A}:2-8"))).to_string(), format!("{A}:1:9"));
    }

    fn arb_gtid_set() -> impl Strategy<Value = GtidSet> {
        let uuids = [A, B, "00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff"];
        let element = (0..uuids.len(), prop::sample::select(vec!["", "a", "billing_1", "_x"]), 1u64..60, 0u64..8);
        prop::collection::vec(element, 0..12).prop_map(move |elements| {
            elements.into_iter().fold(GtidSet::default(), |mut set, (u, tag, start, len)| {
                let uuid = parse_uuid(uuids[u]).unwrap_or_default();
                set.insert(Sid { uuid, tag: tag.to_string() }, Interval { start, end: start + len });
                set
            })
        })
    }

    fn arb_maria_list() -> impl Strategy<Value = MariaGtidList> {
        prop::collection::vec((0u32..5, any::<u32>(), any::<u64>()), 0..6).prop_map(|gtids| {
            gtids.into_iter().map(|(domain, server_id, seq)| MariaGtid { domain, server_id, seq }).collect()
        })
    }

    proptest! {
        #[test]
        fn mysql_parse_format_round_trip(a in arb_gtid_set()) {
            prop_assert_eq!(GtidSet::parse(&a.to_string()), Ok(a.clone()));
            // MySQL's multi-line layout parses to the same set.
            prop_assert_eq!(GtidSet::parse(&a.to_string().replace(',', ",\n")), Ok(a));
        }

        #[test]
        fn mysql_subtract_self_is_empty(a in arb_gtid_set()) {
            prop_assert!(a.subtract(&a).is_empty());
        }

        #[test]
        fn mysql_union_contains_both(a in arb_gtid_set(), b in arb_gtid_set()) {
            let u = a.union(&b);
            prop_assert!(a.is_subset(&u));
            prop_assert!(b.is_subset(&u));
            prop_assert_eq!(u.count(), a.count() + b.count() - a.subtract(&a.subtract(&b)).count());
        }

        #[test]
        fn mysql_subtract_removes_exactly_the_other(a in arb_gtid_set(), b in arb_gtid_set()) {
            let d = a.subtract(&b);
            prop_assert!(d.is_subset(&a));
            prop_assert!(d.subtract(&d.subtract(&b)).is_empty(), "nothing of b remains");
            prop_assert_eq!(d.union(&b), a.union(&b));
        }

        #[test]
        fn maria_parse_format_round_trip(a in arb_maria_list()) {
            prop_assert_eq!(MariaGtidList::parse(&a.to_string()), Ok(a.clone()));
            prop_assert!(a.contains(&a));
            prop_assert!(errant(&a, &a).is_empty());
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,120}") {
            let _ = GtidSet::parse(&s);
            let _ = MariaGtidList::parse(&s);
        }

        #[test]
        fn gtid_like_text_never_panics(s in "[0-9a-fA-F:,\\- \n_tg]{0,120}") {
            if let Ok(set) = GtidSet::parse(&s) {
                prop_assert_eq!(GtidSet::parse(&set.to_string()), Ok(set));
            }
            if let Ok(list) = MariaGtidList::parse(&s) {
                prop_assert_eq!(MariaGtidList::parse(&list.to_string()), Ok(list));
            }
        }
    }

    #[test]
    fn errant_from_binlog_state_ignores_reading_skew() {
        // The replica read after the master advanced: ahead in the master's own pair, not errant.
        assert_eq!(errant_in_binlog_state("1-100-57", "1-100-50", 101), Ok(vec![]));
        // A local write (server 101) the master never logged; another domain the master never saw.
        let e = errant_in_binlog_state("1-101-3,1-100-57,9-900-2", "1-100-57", 101).unwrap();
        assert_eq!(e.iter().map(|g| g.to_string()).collect::<Vec<_>>(), vec!["1-101-3", "9-900-2"]);
        // Its own writes the master has (it was master once) are errant only beyond that.
        assert_eq!(errant_in_binlog_state("1-101-3", "1-101-3,1-100-60", 101), Ok(vec![]));
        assert!(errant_in_binlog_state("1-x-3", "", 1).is_err());
    }

    #[test]
    fn errant_from_gtid_sets_keeps_unknown_and_own_sources_only() {
        let m = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let r = "4e11fa47-71ca-11e1-9e33-c80aa9429563";
        let master = GtidSet::parse(&format!("{m}:1-100")).unwrap();
        let replica = GtidSet::parse(&format!("{m}:1-105,{r}:1-2")).unwrap();
        assert_eq!(replica.errant_from(&master, Some(r)).to_string(), format!("{r}:1-2"));
        assert!(GtidSet::parse(&format!("{m}:1-105")).unwrap().errant_from(&master, Some(r)).is_empty());
    }

    #[test]
    fn histories_compare_per_domain_and_per_source() {
        use super::super::Flavor;
        let h = |f, s: &str| History::parse(f, s).expect("parses");
        let ahead = h(Flavor::MariaDb, "1-3400-15,100-3390-7");
        let behind = h(Flavor::MariaDb, "1-3400-11,100-3390-7");
        assert!(ahead.contains(&behind) && !behind.contains(&ahead));
        let missing = ahead.missing_from(&behind);
        assert_eq!(missing, vec![Missing { what: "domain 1: after seq 11 up to 1-3400-15".into(), count: 4 }]);
        assert!(behind.missing_from(&ahead).is_empty());
        assert!(ahead.weight() > behind.weight());
        // A domain only one side has counts in full.
        let other_domain = h(Flavor::MariaDb, "2-7-3");
        assert_eq!(other_domain.missing_from(&behind)[0].count, 3);
        assert_eq!(ahead.union(&other_domain).to_string(), "1-3400-15,2-7-3,100-3390-7");

        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mine = h(Flavor::MySql, &format!("{u}:1-10"));
        let theirs = h(Flavor::MySql, &format!("{u}:1-7"));
        assert!(mine.contains(&theirs));
        assert_eq!(mine.missing_from(&theirs), vec![Missing { what: format!("{u}:8-10"), count: 3 }]);
        assert_eq!(mine.weight(), 10);
        assert!(!mine.contains(&h(Flavor::MariaDb, "1-1-1")), "flavours never contain each other");
    }
}
