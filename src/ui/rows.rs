//! What the overview lists (and the topology draws), in which order, and
//! which slice of it a screen shows. At a thousand shards a frame must not
//! build a row per shard: the overview asks here for the window around the
//! cursor and builds only that (the topology: `topo`).

use std::cmp::Ordering;
use std::fmt::Write;

use super::app::{App, SortKey};
use super::summary::problem_kind;
use crate::fleet::{Health, Shard};

impl App {
    /// Indices into `fleet.shards` of the rows the overview shows: filtered,
    /// problems only if asked, sorted.
    pub fn visible_shards(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        let mut buf = String::new();
        let shards = &self.fleet.shards;
        let mut rows: Vec<usize> = (0..shards.len())
            .filter(|&i| !self.problems_only || self.is_problem(&shards[i]))
            .filter(|&i| needle.is_empty() || self.matches_filter(&shards[i], &needle, &mut buf))
            .collect();
        let by_name = |a: &usize, b: &usize| natural_cmp(&shards[*a].name, &shards[*b].name);
        rows.sort_by(|a, b| {
            let (x, y) = (&shards[*a], &shards[*b]);
            let primary = match self.sort {
                SortKey::Name => Ordering::Equal,
                SortKey::Health => y.health.cmp(&x.health),
                SortKey::Lag => cmp_desc(x.worst_lag(), y.worst_lag()),
                SortKey::Qps => cmp_desc(x.qps(), y.qps()),
            };
            primary.then_with(|| by_name(a, b))
        });
        if self.sort_reverse {
            rows.reverse();
        }
        rows
    }

    /// Seconds since any of the shard's servers last answered or failed; `None` before the first poll.
    pub fn shard_data_age(&self, shard: &Shard) -> Option<f64> {
        let polled = shard.instances.iter().filter_map(|i| i.last_probe).max()?;
        Some((self.now - polled).num_milliseconds().max(0) as f64 / 1000.0)
    }

    /// The shard's data age when it is too old to trust (the poller or the network is gone).
    pub fn shard_stale(&self, shard: &Shard) -> Option<f64> {
        self.shard_data_age(shard).filter(|a| *a > self.stale_after())
    }

    /// Needs a look: not OK, or nothing fresh from it.
    pub fn is_problem(&self, shard: &Shard) -> bool {
        shard.health != Health::Ok || self.shard_stale(shard).is_some()
    }

    /// `needle` is lower case. Name, server address, health word, `stale`, and
    /// the shard's problems (their text and their kind as the summary names it).
    fn matches_filter(&self, shard: &Shard, needle: &str, buf: &mut String) -> bool {
        let health = match shard.health {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Critical => "critical",
            Health::Unknown => "unknown",
        };
        contains_ignore_case(&shard.name, needle)
            || health.starts_with(needle)
            || ("stale".starts_with(needle) && self.shard_stale(shard).is_some())
            || shard.instances.iter().any(|i| {
                buf.clear();
                let _ = write!(buf, "{}", i.addr);
                buf.contains(needle)
            })
            || shard.all_problems().filter(|p| p.severity != Health::Ok).any(|p| {
                contains_ignore_case(&p.message, needle) || contains_ignore_case(problem_kind(p, shard), needle)
            })
    }

    /// The overview row the cursor is on: its shard's row while it follows one, else row `selected`.
    pub fn selected_row(&self, rows: &[usize]) -> usize {
        match self.follow.and_then(|id| rows.iter().position(|&i| i == id)) {
            Some(pos) => pos,
            None => self.selected.min(rows.len().saturating_sub(1)),
        }
    }

    pub fn selected_shard_index(&self) -> Option<usize> {
        let rows = self.visible_shards();
        rows.get(self.selected_row(&rows)).copied()
    }

    /// First overview row on a screen of `height` rows.
    pub fn overview_offset(&self, rows: usize, cursor: usize, height: usize) -> usize {
        scroll_offset(self.overview_scroll, cursor, cursor, height, rows)
    }
}

/// The first of `len` positions starting after `from` (or before it, `forward`
/// false), going round the end, for which `hit` holds.
pub fn next_match(len: usize, from: usize, forward: bool, hit: impl Fn(usize) -> bool) -> Option<usize> {
    (1..=len).map(|k| if forward { (from + k) % len } else { (from + len * 2 - k) % len }).find(|&p| hit(p))
}

/// The first line of a window of `height` lines over `len`, moved from `prev`
/// only as far as needed to show `cursor` (as ratatui's `TableState` scrolls,
/// so short lists never scroll at all). Scrolling up, the window shows `top`
/// (the start of the cursor's block) too when both fit.
pub fn scroll_offset(prev: usize, top: usize, cursor: usize, height: usize, len: usize) -> usize {
    if height == 0 {
        return cursor;
    }
    let off = prev.min(len.saturating_sub(height));
    if cursor >= off + height {
        cursor + 1 - height
    } else if cursor < off {
        if cursor - top.min(cursor) < height { top.min(cursor) } else { cursor }
    } else {
        off
    }
}

/// Names with numbers in numeric order: `users-9` before `users-10`, `users-100` before `users-1000`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (lx, ly) = (run(x), run(y));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|&&c| c == b'0').count();
                    s[zeros..].to_vec()
                };
                let (nx, ny) = (trim(&x[..lx]), trim(&y[..ly]));
                let ord = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(&ny)).then_with(|| lx.cmp(&ly));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[lx..];
                y = &y[ly..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// `needle` in `hay`, ASCII letters in any case (`needle` is lower case); no allocation.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    n.is_empty() || hay.as_bytes().windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Bigger first; unknown (`None`) last.
fn cmp_desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_their_numbers() {
        let mut names = vec!["users-100", "users-1000", "users-10", "users-09", "users-2", "users-1", "admin"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["admin", "users-1", "users-2", "users-09", "users-10", "users-100", "users-1000"]);
        assert_eq!(natural_cmp("db-2b", "db-2a"), Ordering::Greater);
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Greater, "equal numbers: the shorter spelling first");
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
    }

    #[test]
    fn scrolling_moves_only_as_far_as_the_cursor_needs() {
        // Short lists never scroll.
        for cursor in 0..8 {
            assert_eq!(scroll_offset(0, cursor, cursor, 10, 8), 0);
        }
        // Down past the bottom: the cursor sits on the last line.
        assert_eq!(scroll_offset(0, 12, 12, 10, 1000), 3);
        // Back up inside the window: nothing moves.
        assert_eq!(scroll_offset(3, 5, 5, 10, 1000), 3);
        // Above the window: the cursor on the first line.
        assert_eq!(scroll_offset(30, 7, 7, 10, 1000), 7);
        // A remembered offset past the end (rows went away) comes back.
        assert_eq!(scroll_offset(995, 999, 999, 10, 1000), 990);
        assert_eq!(scroll_offset(500, 3, 3, 10, 20), 3);
        // Up into a block: its start too when it fits, else the cursor on the first line.
        assert_eq!(scroll_offset(50, 40, 43, 10, 1000), 40);
        assert_eq!(scroll_offset(50, 20, 43, 10, 1000), 43);
        // Down into a block: one line at a time, never a jump to show its start.
        assert_eq!(scroll_offset(0, 8, 12, 10, 1000), 3);
        // No room at all: no panic.
        assert_eq!(scroll_offset(5, 7, 7, 0, 100), 7);
    }

    #[test]
    fn next_match_goes_round() {
        let bad = [false, true, false, false, true];
        let hit = |p: usize| bad[p];
        assert_eq!(next_match(5, 1, true, hit), Some(4));
        assert_eq!(next_match(5, 4, true, hit), Some(1), "wraps past the end");
        assert_eq!(next_match(5, 1, false, hit), Some(4), "wraps past the start");
        assert_eq!(next_match(5, 4, false, hit), Some(1));
        assert_eq!(next_match(5, 0, true, |_| false), None);
        assert_eq!(next_match(0, 0, true, |_| true), None);
        // The only match is where the cursor is: it stays.
        assert_eq!(next_match(5, 1, true, |p| p == 1), Some(1));
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ignore_case("IO thread connecting", "io thread"));
        assert!(contains_ignore_case("users-07", ""));
        assert!(!contains_ignore_case("users-07", "users-08"));
    }
}
