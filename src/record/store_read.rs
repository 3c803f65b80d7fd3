//! Reading a recording's blocks back: one at a time into one buffer (a seek's path), or all at
//! once.

use rusqlite::params;

use super::{Block, BlockRef, Store, StoreError};

impl Store {
    /// The blocks of `session` that overlap `[from_ms, to_ms]`, oldest first, decompressed; from
    /// format version 3 on, from the first block of the chain of the first of them (what decoding
    /// them needs).
    pub fn blocks(&self, session: i64, from_ms: i64, to_ms: i64) -> Result<Vec<Block>, StoreError> {
        let mut out = Vec::new();
        // Each into a buffer of its own, kept (not decompressed into one and copied out).
        self.each_read(session, from_ms, to_ms, Vec::new, |b| {
            out.push(b);
            Ok(())
        })?;
        Ok(out)
    }

    /// The same blocks as [`blocks`](Self::blocks), one at a time, each decompressed into the
    /// same buffer: a seek reads several blocks of about a megabyte each, and fresh buffers cost
    /// their pages' faults every time (measured: 8 % of a seek).
    pub fn each_block(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut f: impl FnMut(BlockRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let buf = std::cell::Cell::new(Vec::new());
        self.each_read(
            session,
            from_ms,
            to_ms,
            || buf.take(),
            |b| {
                let r = f(b.as_ref());
                buf.set(b.data);
                r
            },
        )
    }

    /// `each_block`, with `f` on a thread of its own: this one reads and decompresses the next
    /// blocks meanwhile (two ahead at most, in buffers that `f`'s side hands back). A seek's
    /// decoding then does not wait for SQLite and zstd, about a millisecond a block.
    pub fn each_block_ahead(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut f: impl FnMut(BlockRef<'_>) -> Result<(), StoreError> + Send,
    ) -> Result<(), StoreError> {
        use std::sync::mpsc;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Block>(2);
            let (back, spare) = mpsc::channel::<Vec<u8>>();
            let thread = std::thread::Builder::new().name("seek-decode".into());
            let worker = thread.spawn_scoped(scope, move || -> Result<(), StoreError> {
                for b in rx {
                    f(b.as_ref())?;
                    // Gone only when this side is done.
                    let _ = back.send(b.data);
                }
                Ok(())
            });
            let worker =
                worker.map_err(|source| StoreError::Thread { path: self.path.clone(), what: "decoding", source })?;
            let stopped =
                || StoreError::Corrupt { path: self.path.clone(), block: 0, why: "the decoding thread stopped".into() };
            let read = self.each_read(
                session,
                from_ms,
                to_ms,
                || spare.try_recv().unwrap_or_default(),
                |b| tx.send(b).map_err(|_| stopped()),
            );
            drop(tx);
            // The decoding side's own error first: the reader's then only says that it stopped.
            worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
            read
        })
    }

    /// The blocks, each decompressed into a buffer from `buf` and handed to `f` with it.
    fn each_read(
        &self,
        session: i64,
        from_ms: i64,
        to_ms: i64,
        mut buf: impl FnMut() -> Vec<u8>,
        mut f: impl FnMut(Block) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = if self.version >= 3 {
            "SELECT id, session, t0_ms, t1_ms, codec, data, raw_bytes FROM blocks
             WHERE session = ?1 AND t0_ms <= ?3 AND id >=
                 (SELECT min(chain) FROM blocks WHERE session = ?1 AND t1_ms >= ?2 AND t0_ms <= ?3)
             ORDER BY id"
        } else {
            "SELECT id, session, t0_ms, t1_ms, codec, data, raw_bytes FROM blocks
             WHERE session = ?1 AND t1_ms >= ?2 AND t0_ms <= ?3 ORDER BY t0_ms, id"
        };
        let mut q = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let mut rows = q.query(params![session, from_ms, to_ms]).map_err(|e| self.err(e))?;
        let mut z = zstd::bulk::Decompressor::new().map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            block: 0,
            why: format!("decompress: {e}"),
        })?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let head = (|| -> rusqlite::Result<(i64, i64, i64, i64, String, i64)> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?))
            })();
            let (id, session, t0_ms, t1_ms, codec, raw) = head.map_err(|e| self.err(e))?;
            let corrupt = |why: String| StoreError::Corrupt { path: self.path.clone(), block: id, why };
            if codec != "zstd" {
                return Err(corrupt(format!("unknown codec {codec:?}")));
            }
            let data = r.get_ref(5).and_then(|v| v.as_blob().map_err(Into::into)).map_err(|e| self.err(e))?;
            // The row says the size: room for it (a wrong size is a corrupt block).
            let size = usize::try_from(raw).map_err(|_| corrupt(format!("raw size {raw}")))?;
            let mut data_buf = buf();
            data_buf.clear();
            data_buf.reserve(size);
            let n = z.decompress_to_buffer(data, &mut data_buf).map_err(|e| corrupt(format!("decompress: {e}")))?;
            if n != size {
                return Err(corrupt(format!("decompressed to {n} bytes, the row says {size}")));
            }
            f(Block { id, session, t0_ms, t1_ms, data: data_buf })?;
        }
        Ok(())
    }
}
