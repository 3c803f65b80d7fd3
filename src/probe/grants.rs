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

/// `SHOW GRANTS` of the account in `opts` on `addr`, judged by `beyond_watching`.
pub async fn check(addr: &Addr, opts: &ProbeOptions) -> Result<Vec<String>, String> {
    let mut conn = connect(addr, opts).await.map_err(|e| e.message)?;
    let rows: Result<Vec<String>, _> = conn.query("SHOW GRANTS").await;
    let _ = conn.disconnect().await;
    // The driver's error text quotes no grant line; the password never reaches it.
    rows.map(|g| beyond_watching(&g)).map_err(|e| format!("SHOW GRANTS: {e}"))
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
