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
        self.each_block(session, from_ms, to_ms, |b| {
            out.push(Block { id: b.id, session: b.session, t0_ms: b.t0_ms, t1_ms: b.t1_ms, data: b.data.to_vec() });
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
        let mut buf = Vec::new();
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
            buf.clear();
            buf.reserve(size);
            let n = z.decompress_to_buffer(data, &mut buf).map_err(|e| corrupt(format!("decompress: {e}")))?;
            if n != size {
                return Err(corrupt(format!("decompressed to {n} bytes, the row says {size}")));
            }
            f(BlockRef { id, session, t0_ms, t1_ms, data: &buf })?;
        }
        Ok(())
    }
}
