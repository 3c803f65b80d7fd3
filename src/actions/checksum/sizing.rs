//! How many rows the next chunk takes. Each chunk aims at the target chunk
//! time from the rate the last one ran at, and takes at most a tenth of the
//! table: a replica runs each chunk only after the master finished it, so even
//! a replica as fast as the master stays the largest chunk's time behind it from
//! that chunk on, and the run ends at least that long after the master's last
//! chunk. A 1M-row table at a 0.5 s target took 250k–440k-row chunks (0.3–0.5 s
//! each); in tenths the bound is ~0.1 s. (Measured with each server limited to
//! half a core: 0.62 s from the master's last chunk to the replicas' before,
//! 0.36–0.48 s after — those replicas ran a little slower than the master.)
//! Near the end of a table the chunks also taper, which shortens the final wait
//! when the replicas are faster than the master.

/// The fewest and most rows a chunk takes.
const MIN_ROWS: f64 = 100.0;
const MAX_ROWS: f64 = 2_000_000.0;
/// Tapered chunks are not smaller than this share of a full one.
const TAPER_FLOOR: f64 = 0.1;
/// A table is checked in at least this many chunks (the final wait is about one of them)…
const PIECES: f64 = 10.0;
/// …unless that makes them smaller than this: a small table's chunks take milliseconds anyway.
const MIN_PIECE_ROWS: f64 = 10_000.0;

/// The next chunk's size, after a chunk of `rows` that took `took_s` seconds, aiming at
/// `target_s`, in a table of about `table_rows` rows with about `remaining` of them left
/// (both from the table's estimate).
pub(super) fn next_chunk_size(
    current: u64,
    rows: u64,
    took_s: f64,
    target_s: f64,
    table_rows: u64,
    remaining: u64,
) -> u64 {
    if rows == 0 || took_s <= 0.0 {
        return current;
    }
    let piece = (table_rows as f64 / PIECES).max(MIN_PIECE_ROWS);
    let ideal = (rows as f64 / took_s * target_s).min(piece).clamp(MIN_ROWS, MAX_ROWS);
    let left = remaining as f64;
    let size = if left > 0.0 && left < 2.0 * ideal { (left / 2.0).max(ideal * TAPER_FLOOR) } else { ideal };
    size.max(MIN_ROWS) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: u64 = 100_000_000;

    #[test]
    fn chunks_aim_at_the_target_time_and_taper_at_the_end() {
        // 1000 rows in 2 ms, aiming at 500 ms: 250k rows next.
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, BIG, 10_000_000), 250_000);
        // Far from the end: the full size, within bounds.
        assert_eq!(next_chunk_size(1000, 1000, 0.000_001, 0.5, BIG, 10_000_000), 2_000_000);
        assert_eq!(next_chunk_size(1000, 10, 1.0, 0.5, BIG, 10_000_000), 100);
        // Near it: half of what is left, down to a tenth of a full chunk.
        assert_eq!(next_chunk_size(250_000, 250_000, 0.5, 0.5, BIG, 300_000), 150_000);
        assert_eq!(next_chunk_size(250_000, 250_000, 0.5, 0.5, BIG, 20_000), 25_000);
        // Nothing measured: unchanged; an estimate already passed: the full size.
        assert_eq!(next_chunk_size(5000, 0, 0.0, 0.5, BIG, 100), 5000);
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, BIG, 0), 250_000);
    }

    /// The replicas end about one largest chunk after the master: a 1M-row table whose
    /// rate would give 250k-row chunks is checked in tenths, a small one in 10k-row chunks.
    #[test]
    fn no_chunk_takes_more_than_a_tenth_of_the_table() {
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, 1_000_000, 999_000), 100_000);
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, 50_000, 49_000), 10_000);
        // A slow table is unaffected: its chunks are smaller than a tenth already.
        assert_eq!(next_chunk_size(1000, 1000, 0.05, 0.5, 1_000_000, 999_000), 10_000);
        // Tapering works within the tenth.
        assert_eq!(next_chunk_size(100_000, 100_000, 0.1, 0.5, 1_000_000, 120_000), 60_000);
    }
}
