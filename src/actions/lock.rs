//! The local half of the per-shard lock: a lock file held with `flock`, so two
//! shardtops on one host cannot act on one shard. (The other half is an
//! advisory `GET_LOCK` on the master, for shardtops on different hosts.) The
//! kernel drops an flock when its holder dies, so a crash leaves no stale lock.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct ShardLock {
    path: PathBuf,
    _file: File,
}

impl ShardLock {
    /// Take the lock for `action` on `shard`, or say who holds it.
    pub fn acquire(dir: &Path, action: &str, shard: &str) -> Result<ShardLock, String> {
        let safe: String =
            shard.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let path = dir.join(format!("shardtop-{action}-{safe}.lock"));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!(
                "shard {shard} is locked by another shardtop ({}; lock file {})",
                holder.trim(),
                path.display()
            ));
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {} since {}", std::process::id(), chrono::Utc::now().to_rfc3339());
        Ok(ShardLock { path, _file: file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ShardLock::acquire(dir.path(), "promote", "s1").expect("first");
        let err = ShardLock::acquire(dir.path(), "promote", "s1").err().expect("refused");
        assert!(
            err.contains("locked by another shardtop") && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        // Another shard is independent.
        assert!(ShardLock::acquire(dir.path(), "promote", "s2").is_ok());
        drop(first);
        assert!(ShardLock::acquire(dir.path(), "promote", "s1").is_ok());
    }
}
