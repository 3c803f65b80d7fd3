//! How many rows the next chunk takes. Each chunk aims at the target chunk
//! time from the rate the last one ran at; near the end of a table the chunks
//! taper, because replicas run each chunk only after the master finished it:
//! the run ends when they finish the last one, so a small last chunk is a short
//! final wait.

/// The fewest and most rows a chunk takes.
const MIN_ROWS: f64 = 100.0;
const MAX_ROWS: f64 = 2_000_000.0;
/// Tapered chunks are not smaller than this share of a full one.
const TAPER_FLOOR: f64 = 0.1;

/// The next chunk's size, after a chunk of `rows` that took `took_s` seconds, aiming at
/// `target_s`, with about `remaining` rows of the table left (from the table's estimate).
pub(super) fn next_chunk_size(current: u64, rows: u64, took_s: f64, target_s: f64, remaining: u64) -> u64 {
    if rows == 0 || took_s <= 0.0 {
        return current;
    }
    let ideal = (rows as f64 / took_s * target_s).clamp(MIN_ROWS, MAX_ROWS);
    let left = remaining as f64;
    let size = if left > 0.0 && left < 2.0 * ideal { (left / 2.0).max(ideal * TAPER_FLOOR) } else { ideal };
    size.max(MIN_ROWS) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_aim_at_the_target_time_and_taper_at_the_end() {
        // 1000 rows in 2 ms, aiming at 500 ms: 250k rows next.
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, 1_000_000), 250_000);
        // Far from the end: the full size, within bounds.
        assert_eq!(next_chunk_size(1000, 1000, 0.000_001, 0.5, 10_000_000), 2_000_000);
        assert_eq!(next_chunk_size(1000, 10, 1.0, 0.5, 10_000_000), 100);
        // Near it: half of what is left, down to a tenth of a full chunk.
        assert_eq!(next_chunk_size(250_000, 250_000, 0.5, 0.5, 300_000), 150_000);
        assert_eq!(next_chunk_size(250_000, 250_000, 0.5, 0.5, 20_000), 25_000);
        // Nothing measured: unchanged; an estimate already passed: the full size.
        assert_eq!(next_chunk_size(5000, 0, 0.0, 0.5, 100), 5000);
        assert_eq!(next_chunk_size(1000, 1000, 0.002, 0.5, 0), 250_000);
    }
}
