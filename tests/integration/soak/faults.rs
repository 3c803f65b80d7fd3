//! The faults the soak injects, how each is done to a real server and undone, and the seeded
//! order they come in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::proxy::{Mode, Proxy};
use crate::common::Sandbox;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    FreezeReplica,
    FreezeMaster,
    KillReplica,
    StopSlave,
    RestartMaster,
    FlushStatus,
    BlackHole,
    Slow,
    TooManyConnections,
    KillConnections,
    PasswordChanged,
    DnsGone,
}

/// What the dashboard should make of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An event naming it once, then one saying it is over.
    Alarm,
    /// Nothing: the data stays fresh and no event is raised (shardtop reconnects, rates survive).
    Quiet,
}

/// Which member of the shard a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    Master,
    /// The replica shardtop reaches through the proxy.
    Proxied,
    /// The replica shardtop reaches by a host name (the hosts file).
    Named,
}

impl Member {
    pub fn suffix(self) -> &'static str {
        match self {
            Member::Master => "m",
            Member::Proxied => "r1",
            Member::Named => "r2",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::FreezeReplica,
        Kind::FreezeMaster,
        Kind::KillReplica,
        Kind::StopSlave,
        Kind::RestartMaster,
        Kind::FlushStatus,
        Kind::BlackHole,
        Kind::Slow,
        Kind::TooManyConnections,
        Kind::KillConnections,
        Kind::PasswordChanged,
        Kind::DnsGone,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::FreezeReplica => "SIGSTOP/SIGCONT replica",
            Kind::FreezeMaster => "SIGSTOP/SIGCONT master",
            Kind::KillReplica => "SIGKILL + start replica",
            Kind::StopSlave => "STOP/START SLAVE",
            Kind::RestartMaster => "master restart (stop, start)",
            Kind::FlushStatus => "FLUSH STATUS",
            Kind::BlackHole => "black hole (proxy)",
            Kind::Slow => "slow link (proxy, +100 ms each way)",
            Kind::TooManyConnections => "max_connections exhausted",
            Kind::KillConnections => "shardtop's connections KILLed",
            Kind::PasswordChanged => "monitoring password changed",
            Kind::DnsGone => "host name stops resolving",
        }
    }

    pub fn expect(self) -> Expect {
        match self {
            Kind::FlushStatus | Kind::Slow | Kind::KillConnections => Expect::Quiet,
            _ => Expect::Alarm,
        }
    }

    /// The members this fault may hit.
    pub fn members(self) -> &'static [Member] {
        use Member::*;
        match self {
            Kind::FreezeMaster | Kind::RestartMaster => &[Master],
            Kind::FreezeReplica | Kind::KillReplica | Kind::StopSlave => &[Proxied, Named],
            Kind::BlackHole | Kind::Slow => &[Proxied],
            Kind::DnsGone => &[Named],
            Kind::FlushStatus | Kind::TooManyConnections | Kind::KillConnections | Kind::PasswordChanged => {
                &[Master, Proxied, Named]
            }
        }
    }

    /// The master is hit: the whole shard's events are the fault's (its replicas' links too).
    pub fn hits_whole_shard(self) -> bool {
        matches!(self, Kind::FreezeMaster | Kind::RestartMaster)
    }
}

/// splitmix64: a small seeded generator, so a run's order can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.range(0, i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// One planned fault of a shard's lane.
#[derive(Clone, Debug)]
pub struct Planned {
    pub kind: Kind,
    pub member: Member,
    pub hold: Duration,
    /// Quiet time after it recovered, before the lane's next fault.
    pub gap: Duration,
}

/// A lane's faults: every kind once in a shuffled deck, then another deck, … (`n` in all).
pub fn plan_lane(rng: &mut Rng, n: usize) -> Vec<Planned> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut deck = Kind::ALL.to_vec();
        rng.shuffle(&mut deck);
        for kind in deck.into_iter().take(n - out.len()) {
            let members = kind.members();
            let member = members[rng.range(0, members.len() as u64) as usize];
            let hold = Duration::from_millis(rng.range(3_000, 6_000));
            let gap = Duration::from_millis(rng.range(1_000, 3_000));
            out.push(Planned { kind, member, hold, gap });
        }
    }
    out
}

/// The hosts file the watcher resolves names with (bind-mounted over /etc/hosts in its own
/// mount namespace): one name per line, removed and put back in place (same inode).
pub struct Hosts {
    pub path: PathBuf,
    names: Vec<String>,
    removed: Mutex<BTreeSet<String>>,
}

impl Hosts {
    pub fn new(path: &Path, names: Vec<String>) -> Hosts {
        let h = Hosts { path: path.to_path_buf(), names, removed: Mutex::new(BTreeSet::new()) };
        h.write();
        h
    }

    fn write(&self) {
        let removed = self.removed.lock().expect("lock");
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for n in self.names.iter().filter(|n| !removed.contains(*n)) {
            text.push_str(&format!("127.0.0.1 {n}\n"));
        }
        // Truncate and write the same file: a bind mount follows the inode, not the name.
        std::fs::write(&self.path, text).expect("write the soak's hosts file");
    }

    pub fn set(&self, name: &str, resolves: bool) {
        {
            let mut removed = self.removed.lock().expect("lock");
            if resolves {
                removed.remove(name);
            } else {
                removed.insert(name.to_string());
            }
        }
        self.write();
    }
}

/// Everything a fault needs: the sandbox, the proxies and hosts file shardtop goes through,
/// and the accounts.
pub struct World {
    pub sb: Sandbox,
    /// By instance name (`s51-r1`).
    pub proxies: Vec<(String, Proxy)>,
    pub hosts: Hosts,
    /// By instance name: the host name shardtop uses for it.
    pub names: Vec<(String, String)>,
    pub monitor_user: String,
    pub monitor_password: String,
    pub filler_user: String,
    pub filler_password: String,
}

/// What undoing a fault needs.
pub enum Undo {
    Nothing,
    Thaw(String),
    Start(String),
    StartSlave(String),
    Proxy(String),
    Connections { admin: mysql_async::Conn, fillers: Vec<mysql_async::Conn>, max_connections: u64 },
    Password(String),
    Name(String),
}

impl World {
    fn proxy(&self, name: &str) -> &Proxy {
        &self.proxies.iter().find(|(n, _)| n == name).expect("a proxied instance").1
    }

    fn host_name(&self, name: &str) -> &str {
        &self.names.iter().find(|(n, _)| n == name).expect("a named instance").1
    }

    /// Does `kind` to instance `name`; returns how to undo it.
    pub async fn inject(&self, kind: Kind, name: &str) -> Undo {
        match kind {
            Kind::FreezeReplica | Kind::FreezeMaster => {
                sandbox(&self.sb, "freeze", name).await;
                Undo::Thaw(name.into())
            }
            Kind::KillReplica => {
                sandbox(&self.sb, "kill", name).await;
                Undo::Start(name.into())
            }
            Kind::StopSlave => {
                self.sb.exec(name, "STOP SLAVE").await;
                Undo::StartSlave(name.into())
            }
            Kind::RestartMaster => {
                // A clean shutdown now, the start when the fault ends: down for the hold.
                sandbox(&self.sb, "stop", name).await;
                Undo::Start(name.into())
            }
            Kind::FlushStatus => {
                // Plain FLUSH STATUS on a master (it may replicate); on a replica, kept local so
                // it writes no transaction of its own there.
                let sql = if name.ends_with("-m") { "FLUSH STATUS" } else { "FLUSH LOCAL STATUS" };
                self.sb.exec(name, sql).await;
                Undo::Nothing
            }
            Kind::BlackHole => {
                self.proxy(name).set(Mode::BlackHole);
                Undo::Proxy(name.into())
            }
            Kind::Slow => {
                self.proxy(name).set(Mode::Latency(Duration::from_millis(100)));
                Undo::Proxy(name.into())
            }
            Kind::TooManyConnections => self.exhaust(name).await,
            Kind::KillConnections => {
                self.kill_monitor(name).await;
                Undo::Nothing
            }
            Kind::PasswordChanged => {
                self.set_password(name, "soak-not-the-password").await;
                self.kill_monitor(name).await;
                Undo::Password(name.into())
            }
            Kind::DnsGone => {
                self.hosts.set(self.host_name(name), false);
                self.kill_monitor(name).await;
                Undo::Name(name.into())
            }
        }
    }

    pub async fn undo(&self, undo: Undo) {
        match undo {
            Undo::Nothing => {}
            Undo::Thaw(name) => sandbox(&self.sb, "thaw", &name).await,
            Undo::Start(name) => sandbox(&self.sb, "start", &name).await,
            Undo::StartSlave(name) => self.sb.exec(&name, "START SLAVE").await,
            Undo::Proxy(name) => self.proxy(&name).set(Mode::Forward),
            Undo::Connections { mut admin, fillers, max_connections } => {
                admin
                    .query_drop(format!("SET GLOBAL max_connections = {max_connections}"))
                    .await
                    .expect("restore max_connections");
                for c in fillers {
                    let _ = c.disconnect().await;
                }
                let _ = admin.disconnect().await;
            }
            Undo::Password(name) => {
                let password = self.monitor_password.clone();
                self.set_password(&name, &password).await;
            }
            Undo::Name(name) => self.hosts.set(self.host_name(&name), true),
        }
    }

    /// KILLs every connection of the monitoring account on `name`.
    pub async fn kill_monitor(&self, name: &str) {
        let mut c = self.sb.admin(name).await;
        kill_user(&mut c, &self.monitor_user).await;
        let _ = c.disconnect().await;
    }

    /// Sets the monitoring account's password on this server only (not written to its binlog).
    async fn set_password(&self, name: &str, password: &str) {
        let mut c = self.sb.admin(name).await;
        c.query_drop("SET SESSION sql_log_bin = 0").await.expect("sql_log_bin");
        for host in ["127.0.0.1", "localhost"] {
            c.query_drop(alter_user(&self.monitor_user, host, password))
                .await
                .unwrap_or_else(|e| panic!("{name}: ALTER USER: {e}"));
        }
        let _ = c.disconnect().await;
    }

    /// Lowers max_connections and fills it with idle connections of another account, with
    /// shardtop's own connection killed, so its reconnect meets "Too many connections". One admin
    /// connection, opened first, does the rest and the undoing (a second one would not get in).
    async fn exhaust(&self, name: &str) -> Undo {
        let mut admin = self.sb.admin(name).await;
        let max_connections: u64 =
            admin.query_first("SELECT @@max_connections").await.expect("max_connections").expect("a value");
        admin.query_drop("SET GLOBAL max_connections = 10").await.expect("lower max_connections");
        let mut fillers = Vec::new();
        for _ in 0..3 {
            kill_user(&mut admin, &self.monitor_user).await;
            loop {
                match self.sb.connect_as(&self.sb.addr(name), &self.filler_user, &self.filler_password).await {
                    Ok(c) => fillers.push(c),
                    Err(mysql_async::Error::Server(e)) if e.code == 1040 => break,
                    Err(e) => panic!("{name}: filler connection: {e}"),
                }
                assert!(fillers.len() < 50, "{name}: max_connections = 10 but 50 connections got in");
            }
            let left: Option<u64> = admin
                .exec_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE user = ?", (&self.monitor_user,))
                .await
                .expect("processlist");
            if left == Some(0) {
                break;
            }
        }
        Undo::Connections { admin, fillers, max_connections }
    }
}

/// KILLs every connection of `user` on the server of `c`.
async fn kill_user(c: &mut mysql_async::Conn, user: &str) {
    let ids: Vec<u64> =
        c.exec("SELECT id FROM information_schema.PROCESSLIST WHERE user = ?", (user,)).await.expect("processlist");
    for id in ids {
        // Gone already: fine.
        let _ = c.query_drop(format!("KILL CONNECTION {id}")).await;
    }
}

/// `ALTER USER` (which takes no placeholders) with the password as a quoted literal.
pub fn alter_user(user: &str, host: &str, password: &str) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    format!("ALTER USER '{}'@'{}' IDENTIFIED BY '{}'", quote(user), quote(host), quote(password))
}

/// `scripts/sandbox VERB NAME --dir DIR`, which must succeed.
pub async fn sandbox(sb: &Sandbox, verb: &str, name: &str) {
    if let Err(e) = try_sandbox(sb, verb, name).await {
        panic!("{e}");
    }
}

/// `scripts/sandbox VERB NAME --dir DIR`; the error says what it printed.
pub async fn try_sandbox(sb: &Sandbox, verb: &str, name: &str) -> Result<(), String> {
    let _ = sb.admin_opts(name); // only this module's servers (a stopped one has no pid file)
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let out = tokio::process::Command::new(script)
        .args([verb, name, "--dir", sb.var("SANDBOX_DIR")])
        .output()
        .await
        .expect("run scripts/sandbox");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("sandbox {verb} {name}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_plan_and_every_kind_comes_in_each_deck() {
        let a = plan_lane(&mut Rng::new(7), 30);
        let b = plan_lane(&mut Rng::new(7), 30);
        let kinds = |p: &[Planned]| p.iter().map(|f| f.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&a), kinds(&b));
        let first: BTreeSet<Kind> = a[..Kind::ALL.len()].iter().map(|f| f.kind).collect();
        assert_eq!(first.len(), Kind::ALL.len());
        assert!(a.iter().all(|f| f.kind.members().contains(&f.member)));
        assert_ne!(kinds(&a), kinds(&plan_lane(&mut Rng::new(8), 30)));
    }
}
