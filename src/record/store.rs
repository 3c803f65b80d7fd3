//! The recording file: one SQLite database (WAL mode), versioned by its `meta` table. Samples live
//! in zstd-compressed blocks (`codec`); events and action steps are plain rows anyone can query
//! with `sqlite3`. Each block is committed in a transaction of its own, so a killed recorder
//! loses at most the block it was filling, and the file always opens. Layout: docs/recording.md.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::wire::Layout;
use crate::fleet::Health;

/// The `format` value in `meta`: tells a recording from any other SQLite file.
pub const FORMAT: &str = "shardtop-recording";
/// The format this build writes.
pub const VERSION: u32 = 5;
/// The oldest format this build reads. Version 0 never shipped (it names the development
/// format before `meta` carried a version): such files are refused, not guessed at.
pub const MIN_VERSION: u32 = 1;

/// zstd level for blocks. The blocks of an hour of the real poller on the 180-server sandbox,
/// recompressed: level 3 5.12 B per instance-sample, 9 4.68, 12 4.59, 13 4.57, 15 ~4.39 (the
/// target is 4.6). Level 13 compresses at ~17 MB/s: ~90 ms per 30 s block of a busy
/// 1,000-instance fleet polled every second, ~0.3 % of a core; decompression (seeks) costs the
/// same at any level. Level 15 would be twice that for 4 % less (docs/recording.md).
const ZSTD_LEVEL: i32 = 13;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("{path}: no such recording")]
    Missing { path: String },
    #[error("{path}: not a shardtop recording ({why})")]
    NotARecording { path: String, why: String },
    #[error(
        "{path}: recorded in format version {version} by a newer shardtop; this one reads versions \
         {MIN_VERSION}–{VERSION}: replay it with a newer shardtop"
    )]
    TooNew { path: String, version: u32 },
    #[error(
        "{path}: recorded in format version {version}, older than this shardtop reads ({MIN_VERSION}–{VERSION}); \
         no converter exists: replay it with the shardtop that recorded it"
    )]
    TooOld { path: String, version: u32 },
    #[error("{path}: block {block}: {why}")]
    Corrupt { path: String, block: i64, why: String },
    /// The machine refused a thread for reading (`each_block_ahead`, a seek's stages).
    #[error("{path}: could not start the {what} thread: {source}")]
    Thread { path: String, what: &'static str, source: std::io::Error },
    #[error(
        "{path}: recorded in format version {version}; this shardtop appends only to version {VERSION} \
         files: record to a new file (this one still replays)"
    )]
    NotAppendable { path: String, version: u32 },
    #[error(
        "{path}: recorded in format version {version}; `record export` cuts version 3–{VERSION} files only: \
         replay it (this shardtop still reads it), or cut it with the shardtop that recorded it"
    )]
    NotExportable { path: String, version: u32 },
}

/// One event row: a fleet event, or a step of an action.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub at_ms: i64,
    pub severity: Health,
    pub shard: String,
    /// The health rule that fired or cleared; `action:<name>` for action steps; empty for other news.
    pub rule: String,
    pub message: String,
}

pub fn severity_name(h: Health) -> &'static str {
    match h {
        Health::Ok => "ok",
        Health::Unknown => "unknown",
        Health::Warning => "warning",
        Health::Critical => "critical",
    }
}

fn severity_from(s: &str) -> Health {
    match s {
        "ok" => Health::Ok,
        "warning" => Health::Warning,
        "critical" => Health::Critical,
        _ => Health::Unknown,
    }
}

/// A finished block, before compression.
pub struct RawBlock<'a> {
    /// Starts a chain (format version 3): it decodes without the blocks before it.
    pub keyframe: bool,
    /// The chain it continues (its keyframe's id); ignored for a keyframe.
    pub chain: Option<i64>,
    pub t0_ms: i64,
    pub t1_ms: i64,
    pub records: u32,
    pub samples: u32,
    pub bytes: &'a [u8],
}

/// A stored block, decompressed.
pub struct Block {
    pub id: i64,
    pub session: i64,
    pub t0_ms: i64,
    pub t1_ms: i64,
    pub data: Vec<u8>,
}

#[path = "store_read.rs"]
mod read;

/// A stored block, decompressed into a buffer that the next block reuses.
pub struct BlockRef<'a> {
    pub id: i64,
    pub session: i64,
    pub t0_ms: i64,
    pub t1_ms: i64,
    pub data: &'a [u8],
}

impl Block {
    /// The block as its borrowing form.
    pub fn as_ref(&self) -> BlockRef<'_> {
        BlockRef { id: self.id, session: self.session, t0_ms: self.t0_ms, t1_ms: self.t1_ms, data: &self.data }
    }
}

/// A recorder's run: the fleet layout it started from, and when.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub started_ms: i64,
    pub layout: Layout,
}

/// Sizes for `record`'s summary and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub blocks: i64,
    pub samples: i64,
    pub raw_bytes: i64,
    pub stored_bytes: i64,
}

pub struct Store {
    conn: Connection,
    path: String,
    /// The file's format version.
    version: u32,
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, layout TEXT NOT NULL);
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL REFERENCES sessions(id),
    t0_ms INTEGER NOT NULL,
    t1_ms INTEGER NOT NULL,
    records INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL,
    chain INTEGER NOT NULL
);
CREATE INDEX blocks_by_end ON blocks (t1_ms);
CREATE INDEX blocks_by_chain ON blocks (chain);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    severity TEXT NOT NULL,
    shard TEXT NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (at_ms);
";

impl Store {
    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Open a recording to append to, creating it (and its directory) when missing.
    pub fn create_or_open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::NotARecording {
                path: name.clone(),
                why: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite { path: name.clone(), source })?;
        let mut store = Store { conn, path: name, version: VERSION };
        let has_tables: bool = store
            .conn
            .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| store.not_sqlite(e))?;
        if has_tables {
            let version = store.check_format()?;
            store.version = version;
            if version != VERSION {
                return Err(StoreError::NotAppendable { path: store.path.clone(), version });
            }
            store.pragmas()?;
        } else {
            // auto_vacuum before anything writes the header (WAL mode does): retention then
            // gives pages back to the file system in place.
            store.conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;").map_err(|e| store.err(e))?;
            store.pragmas()?;
            store.init()?;
        }
        Ok(store)
    }

    /// Open an existing recording to read. It may be written to at the same time (WAL).
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        if !path.exists() {
            return Err(StoreError::Missing { path: name });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|source| StoreError::Sqlite { path: name.clone(), source })?;
        let mut store = Store { conn, path: name, version: VERSION };
        store.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| store.err(e))?;
        store.version = store.check_format()?;
        Ok(store)
    }

    /// A recording held in this process's memory (SQLite's `memdb`), shared by every connection
    /// opened on the same `name` while one stays open: the live TUI's history when it records
    /// to no file. Gone with the process.
    pub fn memory(name: &str) -> Result<Store, StoreError> {
        let mut store = Store::open_memory(name, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        let has_tables: bool = store
            .conn
            .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        if has_tables {
            store.version = store.check_format()?;
        } else {
            store.conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;").map_err(|e| store.err(e))?;
            store.init()?;
        }
        Ok(store)
    }

    /// Another connection on the in-memory recording `name` (which must exist), to read it.
    pub fn memory_read(name: &str) -> Result<Store, StoreError> {
        let mut store = Store::open_memory(name, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        store.version = store.check_format()?;
        Ok(store)
    }

    fn open_memory(name: &str, flags: OpenFlags) -> Result<Store, StoreError> {
        let label = format!("in-memory history {name}");
        // A memdb name that starts with '/' is shared by the process's connections.
        let uri = format!("file:/{name}?vfs=memdb");
        let flags = flags | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags)
            .map_err(|source| StoreError::Sqlite { path: label.clone(), source })?;
        let store = Store { conn, path: label, version: VERSION };
        store.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| store.err(e))?;
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file's format version (this build's `VERSION` for a file it created).
    pub fn version(&self) -> u32 {
        self.version
    }

    fn not_sqlite(&self, e: rusqlite::Error) -> StoreError {
        match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                StoreError::NotARecording { path: self.path.clone(), why: "not an SQLite database".into() }
            }
            e => self.err(e),
        }
    }

    fn pragmas(&self) -> Result<(), StoreError> {
        // WAL: readers (a replay, the live TUI's time travel) never block the recorder, and a
        // killed process loses nothing committed. NORMAL sync: a power cut may lose the last
        // blocks, never the file.
        self.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(|e| self.not_sqlite(e))
    }

    fn init(&self) -> Result<(), StoreError> {
        let sql = format!(
            "BEGIN; {SCHEMA}
             INSERT INTO meta VALUES ('format', '{FORMAT}'), ('version', '{VERSION}'),
                 ('created_by', 'shardtop {}'), ('codec', 'zstd');
             COMMIT;",
            env!("CARGO_PKG_VERSION")
        );
        self.conn.execute_batch(&sql).map_err(|e| self.err(e))
    }

    /// Refuses what this build cannot read; returns the file's format version.
    fn check_format(&self) -> Result<u32, StoreError> {
        let not = |why: &str| StoreError::NotARecording { path: self.path.clone(), why: why.into() };
        let has_meta: bool = self
            .conn
            .query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.not_sqlite(e))?;
        if !has_meta {
            return Err(not("an SQLite database without a meta table"));
        }
        let get = |k: &str| -> Result<Option<String>, StoreError> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))
        };
        if get("format")?.as_deref() != Some(FORMAT) {
            return Err(not("its meta table names no shardtop-recording format"));
        }
        let v = get("version")?.unwrap_or_default();
        let version: u32 = v.trim().parse().map_err(|_| not(&format!("bad format version {v:?}")))?;
        if version > VERSION {
            return Err(StoreError::TooNew { path: self.path.clone(), version });
        }
        if version < MIN_VERSION {
            return Err(StoreError::TooOld { path: self.path.clone(), version });
        }
        Ok(version)
    }

    pub fn begin_session(&self, started_ms: i64, layout: &Layout) -> Result<i64, StoreError> {
        let json = serde_json::to_string(layout).unwrap_or_default();
        self.conn
            .execute("INSERT INTO sessions (started_ms, layout) VALUES (?1, ?2)", params![started_ms, json])
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// One block and the events that came with it, in one transaction: all or nothing. Returns
    /// the chain the block is in (a keyframe's own id).
    pub fn append(
        &mut self,
        session: i64,
        block: Option<RawBlock<'_>>,
        events: &[EventRow],
    ) -> Result<Option<i64>, StoreError> {
        let mut chain = None;
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        if let Some(b) = block {
            let data = zstd::bulk::compress(b.bytes, ZSTD_LEVEL).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                block: 0,
                why: format!("compress: {e}"),
            })?;
            let continues = b.chain.filter(|_| !b.keyframe);
            tx.execute(
                "INSERT INTO blocks (session, t0_ms, t1_ms, records, samples, raw_bytes, codec, data, chain)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'zstd', ?7, ?8)",
                params![
                    session,
                    b.t0_ms,
                    b.t1_ms,
                    b.records,
                    b.samples,
                    b.bytes.len() as i64,
                    data,
                    continues.unwrap_or(0)
                ],
            )
            .map_err(err)?;
            let id = tx.last_insert_rowid();
            if continues.is_none() {
                tx.execute("UPDATE blocks SET chain = id WHERE id = ?1", [id]).map_err(err)?;
            }
            chain = Some(continues.unwrap_or(id));
        }
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO events (at_ms, severity, shard, rule, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for e in events {
                ins.execute(params![e.at_ms, severity_name(e.severity), e.shard, e.rule, e.message]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(chain)
    }

    /// Drop everything that ended before `cutoff_ms`, and give the pages back to the file system.
    /// Blocks go by whole chains (a chain's later blocks need its first), and never `keep_chain`,
    /// the one being appended to. Returns the blocks dropped.
    pub fn trim(
        &mut self,
        cutoff_ms: i64,
        keep_session: Option<i64>,
        keep_chain: Option<i64>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let n = tx
            .execute(
                "DELETE FROM blocks WHERE chain IN
                     (SELECT chain FROM blocks GROUP BY chain HAVING max(t1_ms) < ?1 AND chain != ?2)",
                [cutoff_ms, keep_chain.unwrap_or(-1)],
            )
            .map_err(err)?;
        tx.execute("DELETE FROM events WHERE at_ms < ?1", [cutoff_ms]).map_err(err)?;
        tx.execute(
            "DELETE FROM sessions WHERE id != ?1 AND id NOT IN (SELECT DISTINCT session FROM blocks)",
            [keep_session.unwrap_or(-1)],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        if n > 0 {
            // Each step of this pragma frees one page: run it to the end.
            let mut q = self.conn.prepare("PRAGMA incremental_vacuum").map_err(|e| self.err(e))?;
            let mut rows = q.query([]).map_err(|e| self.err(e))?;
            while rows.next().map_err(|e| StoreError::Sqlite { path: self.path.clone(), source: e })?.is_some() {}
        }
        Ok(n)
    }

    /// First and last moment recorded (blocks), if any.
    pub fn span(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.conn
            .query_row("SELECT min(t0_ms), max(t1_ms) FROM blocks", [], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
            })
            .map_err(|e| self.err(e))
    }

    pub fn sessions(&self) -> Result<Vec<Session>, StoreError> {
        let mut q =
            self.conn.prepare("SELECT id, started_ms, layout FROM sessions ORDER BY id").map_err(|e| self.err(e))?;
        let rows = q
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, started_ms, json) = row.map_err(|e| self.err(e))?;
            let layout = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                block: 0,
                why: format!("session {id}: layout: {e}"),
            })?;
            out.push(Session { id, started_ms, layout });
        }
        Ok(out)
    }

    /// Events with `from_ms <= at_ms <= to_ms`, in order.
    pub fn events(&self, from_ms: i64, to_ms: i64) -> Result<Vec<EventRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT at_ms, severity, shard, rule, message FROM events
                 WHERE at_ms >= ?1 AND at_ms <= ?2 ORDER BY at_ms, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map(params![from_ms, to_ms], |r| {
                Ok(EventRow {
                    at_ms: r.get(0)?,
                    severity: severity_from(&r.get::<_, String>(1)?),
                    shard: r.get(2)?,
                    rule: r.get(3)?,
                    message: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn totals(&self) -> Result<Totals, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(sum(samples), 0), coalesce(sum(raw_bytes), 0), coalesce(sum(length(data)), 0)
                 FROM blocks",
                [],
                |r| Ok(Totals { blocks: r.get(0)?, samples: r.get(1)?, raw_bytes: r.get(2)?, stored_bytes: r.get(3)? }),
            )
            .map_err(|e| self.err(e))
    }

    /// Copy what `[from_ms, to_ms]` needs into a new recording at `out`: the blocks that overlap
    /// it (whole: a block decodes only whole), the warm-up before it, their sessions, the events.
    pub fn export(&self, from_ms: i64, to_ms: i64, warmup_ms: i64, out: &Path) -> Result<Totals, StoreError> {
        if self.version < 3 {
            return Err(StoreError::NotExportable { path: self.path.clone(), version: self.version });
        }
        if out.exists() {
            return Err(StoreError::NotARecording {
                path: out.display().to_string(),
                why: "the file exists already: export writes a new file".into(),
            });
        }
        // The copy runs on the new file's connection (this one may be read-only), reading this
        // recording attached beside it.
        let dest = Store::create_or_open(out)?;
        // The blocks are copied as they are: the cut keeps the source's format version.
        if self.version != VERSION {
            dest.set_version(&self.version.to_string())?;
        }
        let attach = |source| StoreError::Sqlite { path: self.path.clone(), source };
        dest.conn.execute("ATTACH DATABASE ?1 AS src", [&self.path]).map_err(attach)?;
        let copy = format!(
            "BEGIN;
             INSERT INTO main.sessions SELECT * FROM src.sessions WHERE id IN
                 (SELECT session FROM src.blocks WHERE t1_ms >= {from} AND t0_ms <= {to_ms});
             INSERT INTO main.blocks (id, session, t0_ms, t1_ms, records, samples, raw_bytes, codec, data, chain)
                 SELECT id, session, t0_ms, t1_ms, records, samples, raw_bytes, codec, data, chain FROM src.blocks
                 WHERE t0_ms <= {to_ms} AND chain IN
                     (SELECT chain FROM src.blocks WHERE t1_ms >= {from} AND t0_ms <= {to_ms});
             INSERT INTO main.events (at_ms, severity, shard, rule, message)
                 SELECT at_ms, severity, shard, rule, message FROM src.events WHERE at_ms >= {from_ms} AND at_ms <= {to_ms}
                 ORDER BY at_ms, id;
             COMMIT;",
            from = from_ms - warmup_ms
        );
        let copied = dest.conn.execute_batch(&copy).map_err(|e| dest.err(e));
        if copied.is_err() {
            let _ = dest.conn.execute_batch("ROLLBACK;");
        }
        let _ = dest.conn.execute("DETACH DATABASE src", []);
        copied?;
        drop(dest);
        Store::open_read(out)?.totals()
    }

    /// For tests: a file that claims another format version.
    #[doc(hidden)]
    pub fn set_version_for_tests(&self, version: &str) -> Result<(), StoreError> {
        self.set_version(version)
    }

    fn set_version(&self, version: &str) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'version'", [version])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// Where `record` writes and `replay` reads by default.
pub fn default_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("shardtop").join("recording.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            source: "test".into(),
            poll_interval_ms: 2000,
            feed_interval_ms: None,
            feed_window_ms: None,
            lag_warn_ms: 10_000,
            lag_crit_ms: 60_000,
            feed_p99_warn_ms: 50,
            feed_p99_crit_ms: 200,
            qps_drop_percent: 50.0,
            metrics_only: false,
            sources: Vec::new(),
            shards: Vec::new(),
        }
    }

    fn block(t0: i64, t1: i64, bytes: &[u8]) -> RawBlock<'_> {
        RawBlock { keyframe: true, chain: None, t0_ms: t0, t1_ms: t1, records: 1, samples: 1, bytes }
    }

    #[test]
    fn blocks_events_and_sessions_round_trip_and_retention_trims_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("r.db");
        let mut s = Store::create_or_open(&path).unwrap();
        let session = s.begin_session(0, &layout()).unwrap();
        // Incompressible at any zstd level (xorshift), so the blocks dominate the file's size.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let big: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        for k in 0..10 {
            let ev = EventRow {
                at_ms: k * 1000 + 5,
                severity: Health::Warning,
                shard: "s1".into(),
                rule: "lag".into(),
                message: format!("lag {k}"),
            };
            s.append(session, Some(block(k * 1000, k * 1000 + 999, &big)), &[ev]).unwrap();
        }
        assert_eq!(s.span().unwrap(), Some((0, 9999)));
        let got = s.blocks(session, 2500, 4000).unwrap();
        assert_eq!(got.iter().map(|b| b.t0_ms).collect::<Vec<_>>(), vec![2000, 3000, 4000]);
        assert_eq!(got[0].data, big);
        assert_eq!(s.events(2000, 3999).unwrap().len(), 2);
        assert_eq!(s.sessions().unwrap()[0].layout, layout());
        let size = || {
            std::fs::metadata(&path).unwrap().len()
                + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len())
        };
        s.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        let av: i64 = s.conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(av, 2, "incremental");
        let before = size();
        assert_eq!(s.trim(8000, Some(session), None).unwrap(), 8);
        s.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        assert!(size() < before / 2, "{} → {}", before, size());
        assert_eq!(s.span().unwrap(), Some((8000, 9999)));
        assert_eq!(s.events(0, 99_999).unwrap().len(), 2);
    }

    #[test]
    fn a_block_whose_row_misstates_its_size_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let mut s = Store::create_or_open(&path).unwrap();
        let session = s.begin_session(0, &layout()).unwrap();
        let big = vec![7u8; 5000];
        for k in 0..3 {
            s.append(session, Some(block(k * 1000, k * 1000 + 999, &big)), &[]).unwrap();
        }
        // Blocks read one after another into one buffer come back whole.
        let mut seen = Vec::new();
        s.each_block(session, 0, 9999, |b| {
            seen.push((b.id, b.data.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|(_, d)| *d == big));
        for (raw, why) in [(4999, "decompress"), (5001, "decompressed to 5000 bytes, the row says 5001")] {
            s.conn.execute("UPDATE blocks SET raw_bytes = ?1 WHERE id = 2", [raw]).unwrap();
            let e = s.blocks(session, 0, 9999).err().unwrap().to_string();
            assert!(e.contains("r.db: block 2: ") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn other_files_and_other_versions_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database at all, just some text to fill a page").unwrap();
        let e = Store::open_read(&text).err().unwrap().to_string();
        assert!(e.contains("not a shardtop recording") && e.contains("notes.txt"), "{e}");
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x);").unwrap();
        let e = Store::create_or_open(&other).err().unwrap().to_string();
        assert!(e.contains("not a shardtop recording (an SQLite database without a meta table)"), "{e}");
        let e = Store::open_read(&dir.path().join("nope.db")).err().unwrap().to_string();
        assert!(e.ends_with("nope.db: no such recording"), "{e}");

        let path = dir.path().join("r.db");
        Store::create_or_open(&path).unwrap().set_version_for_tests("6").unwrap();
        let e = Store::open_read(&path).err().unwrap().to_string();
        assert!(e.contains("format version 6 by a newer shardtop; this one reads versions 1–5"), "{e}");
        assert!(Store::create_or_open(&path).is_err(), "never appends to a newer format");
        Store::create_or_open(&dir.path().join("r0.db")).unwrap().set_version_for_tests("0").unwrap();
        let e = Store::open_read(&dir.path().join("r0.db")).err().unwrap().to_string();
        assert!(e.contains("format version 0, older than this shardtop reads (1–5)"), "{e}");
        // Version 1 and 2 files replay, and are neither appended to nor cut by export.
        for old in ["1", "2"] {
            let path = dir.path().join(format!("r{old}.db"));
            Store::create_or_open(&path).unwrap().set_version_for_tests(old).unwrap();
            let read = Store::open_read(&path).unwrap();
            assert_eq!(read.version().to_string(), old);
            let e = Store::create_or_open(&path).err().unwrap().to_string();
            assert!(e.contains(&format!("version {old}; this shardtop appends only to version 5 files")), "{e}");
            let e = read.export(0, 1, 0, &dir.path().join("cut.db")).err().unwrap().to_string();
            assert!(
                e.contains(&format!("r{old}.db: recorded in format version {old}; `record export` cuts version 3–5")),
                "{e}"
            );
        }
        // A version 3 or 4 file replays and is cut into a file of its version; it is not appended to.
        for old in [3, 4] {
            let path = dir.path().join(format!("r{old}.db"));
            Store::create_or_open(&path).unwrap().set_version_for_tests(&old.to_string()).unwrap();
            let e = Store::create_or_open(&path).err().unwrap().to_string();
            assert!(e.contains(&format!("version {old}; this shardtop appends only to version 5 files")), "{e}");
            let read = Store::open_read(&path).unwrap();
            let cut = dir.path().join(format!("cut{old}.db"));
            read.export(0, 1, 0, &cut).unwrap();
            assert_eq!(Store::open_read(&cut).unwrap().version(), old);
        }
    }

    #[test]
    fn reads_start_at_the_chain_and_retention_drops_whole_chains_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(&dir.path().join("r.db")).unwrap();
        let session = s.begin_session(0, &layout()).unwrap();
        let mut chains = Vec::new();
        for k in 0..6i64 {
            // Chains of two blocks: 0-1, 2-3, 4-5.
            let keyframe = k % 2 == 0;
            let b = RawBlock { keyframe, chain: chains.last().copied(), ..block(k * 1000, k * 1000 + 999, b"x") };
            chains.push(s.append(session, Some(b), &[]).unwrap().unwrap());
        }
        assert_eq!(chains, vec![1, 1, 3, 3, 5, 5]);
        let t0s =
            |s: &Store, from, to| s.blocks(session, from, to).unwrap().iter().map(|b| b.t0_ms).collect::<Vec<_>>();
        assert_eq!(t0s(&s, 3500, 3600), vec![2000, 3000], "from the chain's keyframe");
        assert_eq!(t0s(&s, 2500, 4100), vec![2000, 3000, 4000]);
        assert_eq!(s.trim(1500, Some(session), None).unwrap(), 0, "the first chain ends after the cutoff");
        assert_eq!(s.trim(2500, Some(session), Some(1)).unwrap(), 0, "never the chain being written");
        assert_eq!(s.trim(2500, Some(session), None).unwrap(), 2);
        assert_eq!(s.span().unwrap(), Some((2000, 5999)));
        assert_eq!(t0s(&s, 0, 2100), vec![2000]);
    }

    #[test]
    fn export_cuts_the_blocks_of_a_window_with_their_session_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create_or_open(&dir.path().join("r.db")).unwrap();
        let session = s.begin_session(0, &layout()).unwrap();
        for k in 0..10 {
            let ev = EventRow {
                at_ms: k * 1000,
                severity: Health::Critical,
                shard: "s1".into(),
                rule: String::new(),
                message: "x".into(),
            };
            s.append(session, Some(block(k * 1000, k * 1000 + 999, b"abc")), &[ev]).unwrap();
        }
        let out = dir.path().join("incident.db");
        let t = s.export(5000, 6500, 1000, &out).unwrap();
        assert_eq!(t.blocks, 3, "4000 (warm-up), 5000, 6000");
        let cut = Store::open_read(&out).unwrap();
        assert_eq!(cut.span().unwrap(), Some((4000, 6999)));
        assert_eq!(cut.events(0, 99_999).unwrap().len(), 2);
        assert_eq!(cut.sessions().unwrap().len(), 1);
        assert!(s.export(0, 1, 0, &out).is_err(), "never overwrites");
    }
}
