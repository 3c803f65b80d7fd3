//! Talking to servers on behalf of actions: statements with a deadline, binlog
//! coordinates, sessions that read_only does not stop, account fencing,
//! repointing replicas, the marker write, hooks. Shared by promotion and
//! failover; every statement text comes from `crate::mysql`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::actions::Check;
use crate::fleet::status::InstanceStatus;
use crate::mysql::replication::Position;
use crate::mysql::{Addr, Dialect};
use crate::probe::{self, ProbeOptions, Prober};
use crate::secret::Secret;

/// The admin and replication accounts an action works with.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub admin_user: String,
    pub admin_password: Option<Secret>,
    pub repl_user: String,
    pub repl_password: Option<Secret>,
    /// Repointed replicas connect to their source over TLS (`[actions] replication_tls`).
    pub repl_tls: bool,
    pub tls: probe::Tls,
    /// For connecting and for each ordinary statement.
    pub timeout: Duration,
}

impl Accounts {
    /// Every secret, for scrubbing what is logged or shown.
    pub fn secrets(&self) -> Vec<Secret> {
        [&self.admin_password, &self.repl_password].into_iter().flatten().cloned().collect()
    }

    /// Connection options of the admin account.
    pub fn admin_opts(&self) -> Arc<ProbeOptions> {
        Arc::new(ProbeOptions {
            user: self.admin_user.clone(),
            password: self.admin_password.clone(),
            tls: self.tls.clone(),
            timeout: self.timeout,
            heartbeat: None,
        })
    }
}

/// Whether `new_master` makes every client use TLS (`require_secure_transport`), read as the
/// admin account; `None` when it cannot be told (no such variable before MariaDB 10.5.2).
pub async fn requires_secure_transport(new_master: &Addr, acc: &Accounts) -> Option<bool> {
    let opts = acc.admin_opts();
    let mut c = probe::connect(new_master, &opts).await.ok()?;
    let v: Option<Option<String>> =
        first_value(&mut c, "SELECT @@GLOBAL.require_secure_transport", acc.timeout).await.ok();
    let _ = tokio::time::timeout(Duration::from_millis(200), c.disconnect()).await;
    v.flatten().map(|v| v == "1" || v.eq_ignore_ascii_case("ON"))
}

/// The `replication_tls` check of a promotion or failover: replicas repointed at a new master
/// that requires TLS must connect with MASTER_SSL=1, or they stop replicating after the switch.
pub fn replication_tls_check(new_master: &Addr, required: Option<bool>, repl_tls: bool, forced: bool) -> Check {
    let (ok, detail) = match (required, repl_tls) {
        (_, true) => (true, "replicas connect to their new source over TLS (MASTER_SSL=1)".to_string()),
        (Some(true), false) => (
            false,
            format!(
                "{new_master} requires TLS of every client (require_secure_transport=ON), replicas included: set \
                 [actions] replication_tls = true, or they stop replicating after the switch"
            ),
        ),
        (Some(false), false) => (true, format!("{new_master} does not require TLS")),
        (None, false) => (true, format!("cannot tell whether {new_master} requires TLS")),
    };
    Check { name: "replication_tls", ok, detail, forced: forced && !ok }
}

pub(crate) async fn exec(conn: &mut Conn, sql: &str, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, conn.query_drop(sql)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
    }
}

pub(crate) async fn first_value<T: mysql_async::prelude::FromValue + Send + 'static>(
    conn: &mut Conn,
    sql: &str,
    limit: Duration,
) -> Result<Option<T>, String> {
    match tokio::time::timeout(limit, conn.query_first::<T, _>(sql)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
    }
}

/// On a semi-sync shard, switch the new master's source side on (lossless) before it takes
/// writes, so acknowledged writes stay safe after the switch too. `Ok(Some(undo))` when it did
/// (the statement that puts the settings back); `Ok(None)` when there was nothing to do.
pub(crate) async fn take_over_semi_sync(
    conn: &mut Conn,
    d: &Dialect,
    shard_semi_sync: bool,
    limit: Duration,
) -> Result<Option<String>, String> {
    let vars: Vec<(String, String)> = match tokio::time::timeout(limit, conn.query(d.semi_sync_variables_sql())).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
    };
    let Some((sql, undo)) = d.semi_sync_takeover(&vars, shard_semi_sync) else { return Ok(None) };
    exec(conn, &sql, limit).await?;
    Ok(Some(undo))
}

/// The server's position: what a frozen master must stop changing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Coords {
    pub gtid: String,
    pub file: Option<String>,
    pub pos: Option<u64>,
}

pub(crate) async fn read_coords(conn: &mut Conn, d: &Dialect, limit: Duration) -> Result<Coords, String> {
    let gtid: Option<String> = first_value(conn, d.gtid_position_sql(), limit).await?;
    let row: Option<mysql_async::Row> = match tokio::time::timeout(limit, conn.query_first(d.binlog_status_sql())).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer".into()),
    };
    let file = row.as_ref().and_then(|r| r.get_opt::<String, _>("File").and_then(Result::ok));
    let pos = row.as_ref().and_then(|r| r.get_opt::<u64, _>("Position").and_then(Result::ok));
    Ok(Coords { gtid: gtid.unwrap_or_default(), file, pos })
}

pub(crate) fn describe_coords(c: &Coords) -> String {
    match (&c.file, c.pos) {
        (Some(f), Some(p)) if c.gtid.is_empty() => format!("{f}:{p}"),
        (Some(f), Some(p)) => format!("gtid {} ({f}:{p})", c.gtid),
        _ => format!("gtid {}", c.gtid),
    }
}

pub(crate) async fn connect(a: &Addr, opts: &ProbeOptions) -> Result<Conn, String> {
    probe::connect(a, opts).await.map_err(|e| e.message)
}

/// Run `step` over a connection of its own to `a`, closed afterwards whatever the step returned.
pub(crate) async fn on_server<T>(
    a: &Addr,
    opts: &ProbeOptions,
    step: impl AsyncFnOnce(&mut Conn) -> Result<T, String>,
) -> Result<T, String> {
    let mut c = connect(a, opts).await?;
    let done = step(&mut c).await;
    let _ = c.disconnect().await;
    done
}

/// The statements `status`'s server understands (its version as last read).
pub(crate) fn dialect_of(status: &InstanceStatus) -> Result<Dialect, String> {
    Dialect::detect(&status.version, "").ok_or_else(|| format!("unknown server version {:?}", status.version))
}

/// A fresh read of one server.
pub(crate) async fn read(a: &Addr, opts: &Arc<ProbeOptions>) -> Result<InstanceStatus, String> {
    let mut p = Prober::new(a.clone(), opts.clone());
    let s = p.probe().await;
    p.close(Duration::from_millis(100)).await;
    s.result.map_err(|e| e.to_string())
}

/// Sessions and accounts that read_only does not stop.
#[derive(Default)]
pub(crate) struct Writers {
    /// (connection id, "user@host (id N)")
    pub sessions: Vec<(u64, String)>,
    /// The accounts (`'user'@'host'`, as the server quotes them) those sessions log in with.
    pub accounts: Vec<String>,
}

pub(crate) async fn unstoppable_writers(
    conn: &mut Conn,
    d: &Dialect,
    admin: &str,
    limit: Duration,
) -> Result<Writers, String> {
    let privs = d.read_only_bypass_privileges();
    if privs.is_empty() {
        return Ok(Writers::default());
    }
    let list = privs.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(",");
    let sql =
        format!("SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ({list})");
    let grantees: Vec<String> = match tokio::time::timeout(limit, conn.query::<String, _>(sql)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading privileges: {e}")),
        Err(_) => return Err("reading privileges: no answer".into()),
    };
    // GRANTEE is 'user'@'host'; sessions are matched by user name (conservative).
    let user_of = |g: &String| g.strip_prefix('\'').and_then(|r| r.split_once("'@")).map(|(u, _)| u.to_string());
    let users: HashSet<String> = grantees.iter().filter_map(user_of).collect();
    let rows: Vec<(u64, String, String, String)> = match tokio::time::timeout(
        limit,
        conn.query("SELECT ID, USER, HOST, COMMAND FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"),
    )
    .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading the processlist: {e}")),
        Err(_) => return Err("reading the processlist: no answer".into()),
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(_, user, _, cmd)| {
            users.contains(user)
                && user != admin
                && !matches!(
                    cmd.as_str(),
                    "Binlog Dump" | "Binlog Dump GTID" | "Daemon" | "Slave_IO" | "Slave_SQL" | "Slave_worker"
                )
        })
        .collect();
    let active: HashSet<&String> = rows.iter().map(|r| &r.1).collect();
    let accounts = grantees
        .iter()
        .filter(|g| user_of(g).is_some_and(|u| active.contains(&u)))
        // Only the server's own quoting is ever put back into a statement.
        .filter(|g| g.len() < 300 && g.matches('\'').count() == 4 && !g.contains(['\\', ';']))
        .cloned()
        .collect();
    let sessions = rows
        .into_iter()
        .map(|(id, user, host, _)| (id, format!("{user}@{} (id {id})", host.split(':').next().unwrap_or(&host))))
        .collect();
    Ok(Writers { sessions, accounts })
}

/// Transactions other than ours that have written and not committed:
/// (connection id, "user@host (id N, M rows, S s open)").
pub(crate) async fn open_write_transactions(conn: &mut Conn, limit: Duration) -> Result<Vec<(u64, String)>, String> {
    let sql = "SELECT t.trx_mysql_thread_id, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), t.trx_rows_modified, \
               COALESCE(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0) \
               FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
               WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND t.trx_rows_modified > 0";
    let rows: Vec<(u64, String, String, u64, i64)> = match tokio::time::timeout(limit, conn.query(sql)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(format!("reading open transactions: {e}")),
        Err(_) => return Err("reading open transactions: no answer".into()),
    };
    Ok(rows
        .into_iter()
        .map(|(id, user, host, n, secs)| {
            (id, format!("{user}@{} (id {id}, {n} rows, {secs} s open)", host.split(':').next().unwrap_or(&host)))
        })
        .collect())
}

/// Lock or unlock accounts on this server only (not binlogged: the candidate must not inherit it).
pub(crate) async fn set_accounts_locked(
    conn: &mut Conn,
    accounts: &[String],
    locked: bool,
    limit: Duration,
) -> Result<(), String> {
    if accounts.is_empty() {
        return Ok(());
    }
    exec(conn, "SET SESSION sql_log_bin = 0", limit).await?;
    let verb = if locked { "LOCK" } else { "UNLOCK" };
    for a in accounts {
        exec(conn, &format!("ALTER USER {a} ACCOUNT {verb}"), limit).await?;
    }
    Ok(())
}

pub(crate) async fn probe_link(a: &Addr, opts: &Arc<ProbeOptions>) -> Option<crate::fleet::status::ReplicationStatus> {
    read(a, opts).await.ok()?.primary_link().cloned()
}

pub(crate) async fn wait_on(
    a: &Addr,
    opts: &ProbeOptions,
    d: &Dialect,
    c: &Coords,
    timeout: Duration,
) -> Result<(), String> {
    on_server(a, opts, async |conn| {
        let (Some(f), Some(p)) = (&c.file, c.pos) else { return Err("no coordinates".into()) };
        let v: Option<i64> =
            first_value(conn, &d.wait_for_pos(f, p, timeout.as_secs_f64()), timeout + opts.timeout).await?;
        if d.wait_succeeded(false, v) { Ok(()) } else { Err(format!("did not reach {f}:{p} in time")) }
    })
    .await
}

/// Make the server on `c` replicate from `to`, starting at `pos`. `former_master`: its old
/// source (the upstream link it had) is reset first, and stopping a replica it may not be is no
/// error.
pub(crate) async fn follow(
    c: &mut Conn,
    d: &Dialect,
    to: &Addr,
    acc: &Accounts,
    pos: &Position,
    limit: Duration,
    former_master: bool,
) -> Result<(), String> {
    if former_master {
        exec(c, d.stop_replica(), limit).await.ok();
        exec(c, d.reset_replica_all(), limit).await?;
    } else {
        exec(c, d.stop_replica(), limit).await?;
    }
    exec(c, &d.change_source(to, &acc.repl_user, acc.repl_password.as_ref(), pos, acc.repl_tls), limit).await?;
    exec(c, d.start_replica(), limit).await?;
    Ok(())
}

/// Undo a promotion: the server on `c` read-only again and a replica of `master` from `pos`
/// (best effort up to the reset, which may find nothing to stop or reset).
pub(crate) async fn demote(
    c: &mut Conn,
    d: &Dialect,
    master: &Addr,
    acc: &Accounts,
    pos: &Position,
    limit: Duration,
) -> Result<(), String> {
    let _ = exec(c, d.set_read_only(true), limit).await;
    let _ = exec(c, d.stop_replica(), limit).await;
    let _ = exec(c, d.reset_replica_all(), limit).await;
    exec(c, &d.change_source(master, &acc.repl_user, acc.repl_password.as_ref(), pos, acc.repl_tls), limit).await?;
    exec(c, d.start_replica(), limit).await
}

/// `follow` over a connection of its own.
pub(crate) async fn repoint(
    a: &Addr,
    opts: &ProbeOptions,
    d: &Dialect,
    to: &Addr,
    acc: &Accounts,
    pos: &Position,
    former_master: bool,
) -> Result<(), String> {
    on_server(a, opts, async |c| follow(c, d, to, acc, pos, opts.timeout, former_master).await).await
}

pub(crate) async fn detach(a: &Addr, opts: &ProbeOptions, d: &Dialect) -> Result<(), String> {
    on_server(a, opts, async |c| {
        exec(c, d.stop_replica(), opts.timeout).await?;
        exec(c, d.reset_replica_all(), opts.timeout).await
    })
    .await
}

/// Write a marker on the new master and wait until every follower has it.
pub(crate) async fn marker(
    new_master: &mut Conn,
    followers: &[Addr],
    opts: &ProbeOptions,
    shard: &str,
    run: &str,
    limit: Duration,
) -> Result<(), String> {
    exec(new_master, "CREATE DATABASE IF NOT EXISTS percona", limit).await?;
    exec(
        new_master,
        "CREATE TABLE IF NOT EXISTS percona.shardtop_marker (shard VARCHAR(64) NOT NULL PRIMARY KEY, run VARCHAR(64) NOT NULL, ts DATETIME(6) NOT NULL)",
        limit,
    )
    .await?;
    let q = |s: &str| s.replace(['\\', '\''], "");
    exec(
        new_master,
        &format!("REPLACE INTO percona.shardtop_marker VALUES ('{}', '{}', NOW(6))", q(shard), q(run)),
        limit,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut missing: Vec<Addr> = followers.to_vec();
    let sql = format!("SELECT run FROM percona.shardtop_marker WHERE shard = '{}'", q(shard));
    while !missing.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for a in missing {
            let got = on_server(&a, opts, async |c| first_value::<String>(c, &sql, limit).await).await;
            let seen = got.ok().flatten().as_deref() == Some(run);
            if !seen {
                still.push(a);
            }
        }
        missing = still;
        if !missing.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not seen within 10 s on {}", missing.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")))
    }
}

/// Run a hook command through `sh -c` with `env`, at most `timeout`; `Ok` with the tail of its
/// stdout, `Err` with its status and the tail of its stderr.
pub(crate) async fn run_hook(cmd: &str, env: &[(&str, String)], timeout: Duration) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Err(_) => Err(format!("still running after {:.0} s: killed", timeout.as_secs_f64())),
        Ok(Err(e)) => Err(format!("cannot run: {e}")),
        Ok(Ok(out)) => {
            let tail = |b: &[u8]| {
                let s = String::from_utf8_lossy(b);
                let s = s.trim();
                s.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect::<String>()
            };
            if out.status.success() {
                Ok(format!("exit 0 {}", tail(&out.stdout)))
            } else {
                Err(format!("{}: {}", out.status, tail(&out.stderr)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_master_that_requires_tls_needs_replication_tls() {
        let a = Addr::new("db2", 3306);
        let c = replication_tls_check(&a, Some(true), false, false);
        assert!(!c.ok && c.blocks() && c.detail.contains("[actions] replication_tls = true"), "{c:?}");
        assert!(!replication_tls_check(&a, Some(true), false, true).blocks(), "--force-check replication_tls");
        assert!(replication_tls_check(&a, Some(true), true, false).ok);
        assert!(replication_tls_check(&a, Some(false), false, false).ok);
        assert!(replication_tls_check(&a, None, false, false).ok, "an old server without the variable");
    }
}
