//! What the monitoring account may do beyond watching (issue 17 §3): a read-only dashboard
//! should not carry a key that can drop a shard. Read from `SHOW GRANTS` (the account's own:
//! no privilege needed); only privilege names leave here, never the rest of a grant line
//! (which may hold a password hash).

use mysql_async::prelude::Queryable;

use super::{ProbeOptions, connect};
use crate::mysql::Addr;

/// Global privileges a monitoring account needs, or may hold for an optional feature
/// (`REPLICATION MASTER ADMIN` / `REPLICATION SLAVE`: the replica list for discovery).
const FOR_WATCHING: &[&str] = &[
    "USAGE",
    "SELECT",
    "PROCESS",
    "REPLICATION CLIENT",
    "SLAVE MONITOR",
    "REPLICA MONITOR",
    "BINLOG MONITOR",
    "REPLICATION MASTER ADMIN",
    "REPLICATION SLAVE",
    "SHOW DATABASES",
    "SHOW VIEW",
];

/// Privileges on one database or table a monitoring account uses (reading the heartbeat and feed tables).
const FOR_READING: &[&str] = &["USAGE", "SELECT", "SHOW VIEW"];

/// The privileges in `grants` (lines of `SHOW GRANTS`) that watching does not need, each with
/// where it applies: `["ALL PRIVILEGES on *.*", "INSERT on `social`.*"]`. Roles granted are
/// not expanded (their grants are the role's lines).
pub fn beyond_watching(grants: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for line in grants {
        let Some(rest) = line.trim().strip_prefix("GRANT ") else { continue };
        let Some((privs, rest)) = rest.split_once(" ON ") else { continue };
        let object = rest.split(" TO ").next().unwrap_or_default().trim();
        let global = object == "*.*";
        let allowed = if global { FOR_WATCHING } else { FOR_READING };
        for p in split_privileges(privs) {
            if !allowed.contains(&p.as_str()) {
                found.push(format!("{p} on {object}"));
            }
        }
        if rest.contains("WITH GRANT OPTION") {
            found.push(format!("GRANT OPTION on {object}"));
        }
    }
    found
}

/// `SELECT (a, b), INSERT` → `["SELECT", "INSERT"]`: column lists dropped, names upper-cased.
fn split_privileges(privs: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0usize, String::new());
    for c in privs.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ if depth == 0 => cur.push(c),
            _ => {}
        }
    }
    out.push(cur);
    out.into_iter().map(|p| p.trim().to_ascii_uppercase()).filter(|p| !p.is_empty()).collect()
}

/// What the configuration asks the monitoring account to read besides the server's state.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    /// `[heartbeat] table` as `db.table`.
    pub heartbeat: Option<String>,
    /// The tables the feed probe's query reads, as `db.table`.
    pub feed: Vec<String>,
}

impl Needs {
    pub fn of(cfg: &crate::config::Config) -> Needs {
        Needs {
            heartbeat: cfg.heartbeat.as_ref().map(|h| h.table.clone()),
            feed: cfg.feed.as_ref().map(|f| feed_tables(&f.query, f.database.as_deref())).unwrap_or_default(),
        }
    }
}

/// The tables a feed query names after `FROM` and `JOIN` (qualified with `database` when they
/// are not): `SELECT p.id FROM photos p JOIN followers f …` → `[db.photos, db.followers]`.
pub fn feed_tables(query: &str, database: Option<&str>) -> Vec<String> {
    let words: Vec<&str> = query.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').collect();
    let mut out: Vec<String> = Vec::new();
    for pair in words.windows(2) {
        let kw = pair[0].to_ascii_uppercase();
        if kw != "FROM" && kw != "JOIN" {
            continue;
        }
        let name = pair[1].replace('`', "");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.') {
            continue;
        }
        let full = match (name.contains('.'), database) {
            (true, _) => name,
            (false, Some(db)) => format!("{db}.{name}"),
            (false, None) => name,
        };
        if !out.contains(&full) {
            out.push(full);
        }
    }
    out
}

/// A privilege the monitoring account lacks: which, what for, and what happens without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub privilege: String,
    /// In words: what it is for and what happens without it.
    pub effect: &'static str,
    /// Without it the probe of this server fails; otherwise one feature is degraded.
    pub required: bool,
    /// It only lets discovery list replicas (`SHOW REPLICA HOSTS`), which check-config reports from
    /// the server's own answer instead.
    pub replica_list: bool,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.privilege, self.effect)
    }
}

/// The privileges of `SHOW GRANTS` lines: global ones, and per `db` or `db.table` (backticks
/// dropped). Roles granted are not expanded.
#[derive(Default)]
struct Held {
    global: Vec<String>,
    scoped: Vec<(String, Vec<String>)>,
    roles: bool,
}

fn held(grants: &[String]) -> Held {
    let mut h = Held::default();
    for line in grants {
        let Some(rest) = line.trim().strip_prefix("GRANT ") else { continue };
        let Some((privs, rest)) = rest.split_once(" ON ") else {
            h.roles = true;
            continue;
        };
        let object = rest.split(" TO ").next().unwrap_or_default().trim().replace('`', "");
        let privs = split_privileges(privs);
        if object == "*.*" {
            h.global.extend(privs);
        } else {
            let object = object.strip_suffix(".*").map(str::to_string).unwrap_or(object);
            h.scoped.push((object, privs));
        }
    }
    h
}

impl Held {
    fn global_has(&self, any_of: &[&str]) -> bool {
        self.global.iter().any(|p| p == "ALL PRIVILEGES" || p == "ALL" || any_of.contains(&p.as_str()))
    }

    /// SELECT on `db.table`: globally, on its database, or on the table (any of its columns).
    fn can_select(&self, table: &str) -> bool {
        let db = table.split('.').next().unwrap_or(table);
        self.global_has(&["SELECT"])
            || self.scoped.iter().any(|(object, privs)| {
                (object.eq_ignore_ascii_case(db) || object.eq_ignore_ascii_case(table))
                    && privs.iter().any(|p| p == "SELECT" || p == "ALL PRIVILEGES" || p == "ALL")
            })
    }
}

const REPLICA_LIST: &str =
    "optional: SHOW REPLICA HOSTS, so discovery names replicas by port; without it they are seen by host only";

/// The privileges watching needs (or a feature uses) that `grants` (lines of `SHOW GRANTS`) do not
/// give, on a server of `dialect`. Required ones fail the probe without them (its replication or
/// binlog status is refused); the others each degrade one feature, which check-config names.
pub fn missing_for_watching(grants: &[String], dialect: &crate::mysql::Dialect, needs: &Needs) -> Vec<Missing> {
    use crate::mysql::{Flavor, Version};
    let h = held(grants);
    let mut out = Vec::new();
    let mut need = |privilege: String, effect: &'static str, required: bool| {
        out.push(Missing { privilege, effect, required, replica_list: false });
    };
    let (maria, v) = (dialect.flavor == Flavor::MariaDb, dialect.version);
    // The replication status (SHOW REPLICA STATUS) and the binlog position (SHOW BINLOG STATUS).
    if maria && v >= Version::new(10, 5, 9) {
        if !h.global_has(&["SLAVE MONITOR", "REPLICA MONITOR", "SUPER"]) {
            need("SLAVE MONITOR".into(), "SHOW SLAVE STATUS: the probe fails without it", true);
        }
    } else if maria && v >= Version::new(10, 5, 2) {
        if !h.global_has(&["REPLICATION SLAVE ADMIN", "SUPER"]) {
            need("REPLICATION SLAVE ADMIN".into(), "SHOW SLAVE STATUS: the probe fails without it", true);
        }
    } else if !h.global_has(&["REPLICATION CLIENT", "SUPER"]) {
        need("REPLICATION CLIENT".into(), "replication and binlog status: the probe fails without it", true);
    }
    if maria && v >= Version::new(10, 5, 2) && !h.global_has(&["BINLOG MONITOR", "REPLICATION CLIENT", "SUPER"]) {
        need("BINLOG MONITOR".into(), "SHOW BINLOG STATUS: the probe fails without it", true);
    }
    if !h.global_has(&["PROCESS"]) {
        need(
            "PROCESS".into(),
            "the master's Binlog Dump threads: replicas not listed and not in SHOW REPLICA HOSTS go unseen",
            false,
        );
    }
    let replica_hosts: &[&str] = if maria && v >= Version::new(10, 5, 2) {
        &["REPLICATION MASTER ADMIN", "SUPER"]
    } else {
        &["REPLICATION SLAVE", "SUPER"]
    };
    if !h.global_has(replica_hosts) {
        need(replica_hosts[0].into(), REPLICA_LIST, false);
    }
    if let Some(t) = &needs.heartbeat
        && !h.can_select(t)
    {
        need(format!("SELECT on {t}"), "heartbeat lag: without it lag comes from Seconds_Behind_Master only", false);
    }
    for t in &needs.feed {
        if !h.can_select(t) {
            need(format!("SELECT on {t}"), "the feed probe's read: its latency is not measured on this server", false);
        }
    }
    for m in &mut out {
        m.replica_list = m.effect == REPLICA_LIST;
    }
    if h.roles && !out.is_empty() {
        for m in &mut out {
            m.effect = if m.required {
                "not in SHOW GRANTS (a role may give it): the probe fails without it"
            } else {
                "not in SHOW GRANTS (a role may give it)"
            };
        }
    }
    out
}

/// What `SHOW GRANTS` says of the monitoring account on one server.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Privileges beyond watching (`beyond_watching`).
    pub beyond: Vec<String>,
    /// Privileges watching needs or a feature uses that it lacks (`missing_for_watching`).
    pub missing: Vec<Missing>,
}

/// `SHOW GRANTS` of the account in `opts` on `addr` (and the server's version), judged both ways.
pub async fn check(addr: &Addr, opts: &ProbeOptions, needs: &Needs) -> Result<Report, String> {
    let mut conn = connect(addr, opts).await.map_err(|e| e.message)?;
    let version: Result<Option<(String, String)>, _> = conn.query_first("SELECT @@version, @@version_comment").await;
    let rows: Result<Vec<String>, _> = conn.query("SHOW GRANTS").await;
    let _ = conn.disconnect().await;
    // The driver's error text quotes no grant line; the password never reaches it.
    let rows = rows.map_err(|e| format!("SHOW GRANTS: {e}"))?;
    let (v, comment) = version.map_err(|e| format!("SELECT @@version: {e}"))?.unwrap_or_default();
    let dialect = crate::mysql::Dialect::detect(&v, &comment).ok_or_else(|| format!("unknown server version {v:?}"))?;
    Ok(Report { beyond: beyond_watching(&rows), missing: missing_for_watching(&rows, &dialect, needs) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_documented_monitoring_grants_are_fine() {
        let g = lines(&[
            "GRANT PROCESS, BINLOG MONITOR, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO `shardtop_monitor`@`127.0.0.1` \
             IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'",
            "GRANT SELECT ON `percona`.* TO `shardtop_monitor`@`127.0.0.1`",
            "GRANT SELECT (`ts`, `server_id`) ON `percona`.`heartbeat` TO `shardtop_monitor`@`127.0.0.1`",
        ]);
        assert_eq!(beyond_watching(&g), Vec::<String>::new());
    }

    fn maria() -> crate::mysql::Dialect {
        crate::mysql::Dialect::detect("10.11.19-MariaDB-0+deb12u1-log", "").expect("dialect")
    }

    fn needs() -> Needs {
        Needs {
            heartbeat: Some("percona.heartbeat".into()),
            feed: feed_tables(crate::config::FeedConfig::DEFAULT_QUERY, Some("social")),
        }
    }

    #[test]
    fn the_feed_query_names_its_tables() {
        assert_eq!(needs().feed, ["social.photos", "social.followers"]);
        assert_eq!(
            feed_tables("select x from `app`.`t1` a, t2 join (select 1) q left join t3 on 1", Some("d")),
            ["app.t1", "d.t3"]
        );
        assert_eq!(feed_tables("SELECT 1", None), Vec::<String>::new());
    }

    #[test]
    fn the_sandbox_monitoring_grants_miss_only_the_optional_replica_list() {
        // What scripts/sandbox grants, as MariaDB 10.11 shows it.
        let g = lines(&[
            "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO `shardtop_monitor`@`127.0.0.1` IDENTIFIED BY \
             PASSWORD '*CC734452A83FD741CE9CD1F49094CD2CA89B8862'",
            "GRANT SELECT ON `percona`.`heartbeat` TO `shardtop_monitor`@`127.0.0.1`",
            "GRANT SELECT ON `social`.`photos` TO `shardtop_monitor`@`127.0.0.1`",
            "GRANT SELECT ON `social`.`followers` TO `shardtop_monitor`@`127.0.0.1`",
        ]);
        let missing = missing_for_watching(&g, &maria(), &needs());
        let names: Vec<&str> = missing.iter().map(|m| m.privilege.as_str()).collect();
        assert_eq!(names, ["REPLICATION MASTER ADMIN"]);
        assert!(!missing[0].required && missing[0].effect.starts_with("optional"));
        assert_eq!(beyond_watching(&g), Vec::<String>::new());
    }

    #[test]
    fn each_missing_privilege_is_named_with_what_it_costs() {
        let g = lines(&[
            "GRANT USAGE ON *.* TO `m`@`%`",
            "GRANT SELECT ON `social`.* TO `m`@`%`",
            "GRANT SELECT (`ts`) ON `percona`.`other` TO `m`@`%`",
        ]);
        let missing = missing_for_watching(&g, &maria(), &needs());
        let got: Vec<(&str, bool)> = missing.iter().map(|m| (m.privilege.as_str(), m.required)).collect();
        assert_eq!(
            got,
            [
                ("SLAVE MONITOR", true),
                ("BINLOG MONITOR", true),
                ("PROCESS", false),
                ("REPLICATION MASTER ADMIN", false),
                ("SELECT on percona.heartbeat", false),
            ]
        );
        // ALL covers everything; MySQL and old MariaDB ask for REPLICATION CLIENT.
        let all = lines(&["GRANT ALL PRIVILEGES ON *.* TO `m`@`%`"]);
        assert_eq!(missing_for_watching(&all, &maria(), &needs()), Vec::new());
        let mysql = crate::mysql::Dialect::detect("8.4.3", "").expect("dialect");
        let names: Vec<String> =
            missing_for_watching(&g, &mysql, &Needs::default()).into_iter().map(|m| m.privilege).collect();
        assert_eq!(names, ["REPLICATION CLIENT", "PROCESS", "REPLICATION SLAVE"]);
    }

    #[test]
    fn with_a_role_granted_a_missing_privilege_may_come_from_it() {
        let g = lines(&["GRANT USAGE ON *.* TO `m`@`%`", "GRANT `monitoring` TO `m`@`%`"]);
        let missing = missing_for_watching(&g, &maria(), &Needs::default());
        assert!(!missing.is_empty() && missing.iter().all(|m| m.effect.contains("a role may give it")));
    }

    #[test]
    fn all_super_writes_and_grant_option_are_named_without_the_password_hash() {
        let g = lines(&[
            "GRANT ALL PRIVILEGES ON *.* TO `m`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF' WITH GRANT OPTION",
            "GRANT SUPER, PROCESS ON *.* TO `m`@`%`",
            "GRANT SELECT, INSERT, UPDATE (`a`, `b`), DELETE ON `social`.* TO `m`@`%`",
            "GRANT `dba_role` TO `m`@`%`",
        ]);
        let found = beyond_watching(&g);
        assert_eq!(
            found,
            [
                "ALL PRIVILEGES on *.*",
                "GRANT OPTION on *.*",
                "SUPER on *.*",
                "INSERT on `social`.*",
                "UPDATE on `social`.*",
                "DELETE on `social`.*"
            ]
        );
        assert!(found.iter().all(|f| !f.contains("PASSWORD") && !f.contains("0123")));
    }
}
