//! An action's beacon: `GET_LOCK('shardtop.action', 0)` held on each server a run may change, for
//! as long as it runs. Every shardtop watching those servers (another engineer's terminal, the
//! office LCD, `serve` and the alerts it sends) reads the lock back in its probe
//! (`IS_USED_LOCK`) and holds that shard's transient findings (`fleet::hold`) instead of raising
//! alarms about a change someone planned. The server drops the lock when the connection goes, so
//! a run that dies leaves nothing behind.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::mysql::Addr;
use crate::mysql::dialect::ACTION_LOCK;
use crate::probe::{self, ProbeOptions};

/// The beacon never delays an action by more than this: a server that does not answer in time (a
/// hung replica) is left out; the action reaches it, or not, on its own terms.
const RAISE_WITHIN: Duration = Duration::from_millis(300);

/// The lock held on the servers that answered; lowered by `lower`, or by the drop of the
/// connections (the end of the run, or of the process).
#[must_use = "the beacon shines while it is kept"]
pub struct Beacon {
    conns: Vec<Conn>,
}

impl Beacon {
    /// Take the lock on every server in `servers` that answers within `RAISE_WITHIN`, all at once.
    /// Best effort: a server already showing it (another run, or this process's other connection)
    /// or one that cannot be reached is skipped.
    pub async fn raise(servers: &[Addr], opts: &Arc<ProbeOptions>) -> Beacon {
        let limit = RAISE_WITHIN.min(opts.timeout);
        let sql = format!("SELECT GET_LOCK('{ACTION_LOCK}', 0)");
        let conns = futures::future::join_all(servers.iter().map(|a| {
            let sql = sql.clone();
            async move {
                let take = async {
                    let mut c = probe::connect(a, opts).await.ok()?;
                    let got: Option<Option<i64>> = c.query_first(sql).await.ok()?;
                    if got.flatten() == Some(1) { Some(c) } else { None }
                };
                tokio::time::timeout(limit, take).await.ok().flatten()
            }
        }))
        .await;
        Beacon { conns: conns.into_iter().flatten().collect() }
    }

    /// How many servers show the lock.
    pub fn lit(&self) -> usize {
        self.conns.len()
    }

    /// Release the lock everywhere now (the run has ended), bounded like the raise.
    pub async fn lower(self) {
        let sql = format!("DO RELEASE_LOCK('{ACTION_LOCK}')");
        futures::future::join_all(self.conns.into_iter().map(|mut c| {
            let sql = sql.clone();
            async move {
                let _ = tokio::time::timeout(RAISE_WITHIN, async {
                    let _ = c.query_drop(sql).await;
                    let _ = c.disconnect().await;
                })
                .await;
            }
        }))
        .await;
    }
}
