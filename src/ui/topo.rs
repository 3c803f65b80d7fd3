//! The topology view's lines, built a shard at a time. A thousand shards'
//! trees are some 6,000 lines; a frame needs the twenty on screen and a key
//! the few around the cursor, so a tree is built only when a line of it is
//! asked for. A block is a shard's name line (all-shards view) and its tree;
//! a position is (block, line in block). Servers are numbered over the whole
//! view in drawing order; every server not gone appears exactly once.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::app::{App, View};
use crate::fleet::topology::{self, NodeKind, TreeRow};
use crate::fleet::{Addr, Health, Shard};

/// (block, line in block).
pub type Pos = (usize, usize);

/// One line of the topology view.
#[derive(Clone, Debug)]
pub enum TopoLine {
    /// A shard's name and headline (the all-shards view only).
    Shard(usize),
    /// A node of shard `.0`'s replication tree.
    Node(usize, TreeRow),
}

/// A shard's lines.
#[derive(Debug)]
pub struct Block {
    pub shard: usize,
    pub lines: Vec<TopoLine>,
    /// Its servers in drawing order: (instance, line in block).
    pub targets: Vec<(usize, usize)>,
}

pub struct Topo<'a> {
    app: &'a App,
    /// The shards drawn, in order: one, or the overview's rows.
    pub shards: Vec<usize>,
    single: bool,
    /// `starts[b]`: the number of block `b`'s first server; the last entry is the total.
    starts: Vec<usize>,
    blocks: RefCell<HashMap<usize, Rc<Block>>>,
    /// Who replicates from each address (the replicas' hosts), for binlog clients nobody accounts for.
    sources: OnceCell<HashMap<&'a Addr, Vec<&'a str>>>,
}

impl<'a> Topo<'a> {
    pub fn new(app: &'a App) -> Topo<'a> {
        let (shards, single) = match app.view {
            View::Topology(Some(s)) => (vec![s], true),
            _ => (app.visible_shards(), false),
        };
        let mut starts = Vec::with_capacity(shards.len() + 1);
        let mut n = 0;
        for &s in &shards {
            starts.push(n);
            n += app.fleet.shards.get(s).map_or(0, |sh| sh.instances.iter().filter(|i| !i.gone).count());
        }
        starts.push(n);
        Topo { app, shards, single, starts, blocks: RefCell::default(), sources: OnceCell::new() }
    }

    /// Servers in the view.
    pub fn servers(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    pub fn block(&self, b: usize) -> Rc<Block> {
        if let Some(blk) = self.blocks.borrow().get(&b) {
            return blk.clone();
        }
        let fleet = &self.app.fleet;
        let s = self.shards[b];
        let mut blk = Block { shard: s, lines: Vec::new(), targets: Vec::new() };
        if let Some(shard) = fleet.shards.get(s) {
            let unknown = topology::unidentified(shard, &self.pointers_for(shard));
            let rows = topology::tree(&fleet.shards, s, &fleet.index, &fleet.limits, &unknown);
            if !self.single {
                blk.lines.push(TopoLine::Shard(s));
            }
            for row in rows {
                if let NodeKind::Instance(i) = row.kind {
                    blk.targets.push((i, blk.lines.len()));
                }
                blk.lines.push(TopoLine::Node(s, row));
            }
        }
        let blk = Rc::new(blk);
        self.blocks.borrow_mut().insert(b, blk.clone());
        blk
    }

    /// `topology::pointers` for this shard's servers only: which hosts replicate from
    /// them, so that the binlog clients left over can be shown as unidentified.
    fn pointers_for(&self, shard: &Shard) -> HashMap<Addr, HashMap<String, usize>> {
        let mut out: HashMap<Addr, HashMap<String, usize>> = HashMap::new();
        for inst in shard.instances.iter().filter(|i| i.discovery.is_some()) {
            let sources = self.sources.get_or_init(|| {
                let mut m: HashMap<&Addr, Vec<&str>> = HashMap::new();
                for i in self.app.fleet.shards.iter().flat_map(|s| s.instances.iter()) {
                    let Some(status) = &i.status else { continue };
                    for link in &status.replication {
                        m.entry(&link.source).or_default().push(&i.addr.host);
                    }
                }
                m
            });
            if let Some(hosts) = sources.get(&inst.addr) {
                let counts = out.entry(inst.addr.clone()).or_default();
                for h in hosts {
                    *counts.entry(h.to_string()).or_default() += 1;
                }
            }
        }
        out
    }

    /// Block and place within it of server `k`.
    pub fn locate(&self, k: usize) -> (usize, usize) {
        let b = self.starts.partition_point(|&x| x <= k).saturating_sub(1).min(self.shards.len().saturating_sub(1));
        (b, k - self.starts[b].min(k))
    }

    /// Server `k` as (shard, instance).
    pub fn server(&self, k: usize) -> Option<(usize, usize)> {
        if k >= self.servers() {
            return None;
        }
        let (b, j) = self.locate(k);
        let blk = self.block(b);
        blk.targets.get(j).map(|&(i, _)| (blk.shard, i))
    }

    /// The number of server `instance` of `shard`, if the view shows it.
    pub fn index_of(&self, shard: usize, instance: usize) -> Option<usize> {
        let b = self.shards.iter().position(|&s| s == shard)?;
        let j = self.block(b).targets.iter().position(|&(i, _)| i == instance)?;
        Some(self.starts[b] + j)
    }

    /// Where server `k` is drawn.
    pub fn pos_of(&self, k: usize) -> Pos {
        let (b, j) = self.locate(k);
        (b, self.block(b).targets.get(j).map_or(0, |t| t.1))
    }

    fn len(&self, b: usize) -> usize {
        self.block(b).lines.len()
    }

    /// The last line, if there is one.
    pub fn last(&self) -> Option<Pos> {
        let b = self.shards.len().checked_sub(1)?;
        Some((b, self.len(b).checked_sub(1)?))
    }

    /// `pos` moved `n` lines on; `None` past the end.
    pub fn forward(&self, pos: Pos, mut n: usize) -> Option<Pos> {
        let (mut b, mut l) = pos;
        while b < self.shards.len() {
            let len = self.len(b);
            if l + n < len {
                return Some((b, l + n));
            }
            n -= len.saturating_sub(l);
            b += 1;
            l = 0;
        }
        None
    }

    /// `pos` moved `n` lines back, stopping at the first line.
    pub fn backward(&self, pos: Pos, mut n: usize) -> Pos {
        let (mut b, mut l) = pos;
        loop {
            if n <= l {
                return (b, l - n);
            }
            n -= l + 1;
            if b == 0 {
                return (0, 0);
            }
            b -= 1;
            l = self.len(b).saturating_sub(1);
        }
    }

    /// Lines from `a` down to `z` (`a` ≤ `z`), counted no further than `cap`.
    pub fn distance(&self, a: Pos, z: Pos, cap: usize) -> usize {
        if a.0 == z.0 {
            return z.1.saturating_sub(a.1);
        }
        let mut d = self.len(a.0).saturating_sub(a.1);
        for b in a.0 + 1..z.0 {
            if d >= cap {
                return d;
            }
            d += self.len(b);
        }
        d + z.1
    }

    /// The first line on a screen of `height` lines: `prev` (the last frame's) moved only as
    /// far as shows `cursor`; scrolling up, the cursor's shard from its name line when both fit.
    pub fn window(&self, prev: Option<Pos>, cursor: Pos, height: usize) -> Pos {
        if height == 0 {
            return cursor;
        }
        let top = (cursor.0, 0);
        let up = if self.distance(top, cursor, height) < height { top } else { cursor };
        let Some(mut a) = prev else { return up };
        // The list got shorter: no empty lines at the bottom.
        if let Some(end) = self.last()
            && a <= end
            && self.distance(a, end, height) + 1 < height
        {
            a = self.backward(end, height - 1);
        }
        if cursor < a {
            up
        } else if self.distance(a, cursor, height) >= height {
            self.backward(cursor, height - 1)
        } else {
            a
        }
    }

    /// Up to `height` lines from `from`, with their positions.
    pub fn lines(&self, from: Pos, height: usize) -> Vec<(Pos, Rc<Block>)> {
        let mut out = Vec::new();
        let (mut b, mut l) = from;
        while out.len() < height && b < self.shards.len() {
            let blk = self.block(b);
            for line in l..blk.lines.len() {
                if out.len() == height {
                    break;
                }
                out.push(((b, line), blk.clone()));
            }
            b += 1;
            l = 0;
        }
        out
    }

    /// A page down from server `k`: the last server on or above the line a page
    /// further, and at least the next one.
    pub fn page_down(&self, k: usize, page: usize) -> usize {
        let last = self.servers().saturating_sub(1);
        let Some((tb, tl)) = self.forward(self.pos_of(k), page) else { return last };
        let above = self.block(tb).targets.iter().filter(|t| t.1 <= tl).count();
        (self.starts[tb] + above).saturating_sub(1).max(k + 1).min(last)
    }

    /// A page up from server `k`: the first server on or below the line a page
    /// back, and at least the one before.
    pub fn page_up(&self, k: usize, page: usize) -> usize {
        let (tb, tl) = self.backward(self.pos_of(k), page);
        let above = self.block(tb).targets.iter().filter(|t| t.1 < tl).count();
        (self.starts[tb] + above).min(k.saturating_sub(1))
    }

    /// The next (previous) server with a problem after (before) server `k`, going round;
    /// `k` itself when it is the only one.
    pub fn next_problem(&self, k: usize, forward: bool) -> Option<usize> {
        let n = self.shards.len();
        if self.servers() == 0 {
            return None;
        }
        let (b0, j0) = self.locate(k);
        for step in 0..=n {
            let b = if forward { (b0 + step) % n } else { (b0 + n - step % n) % n };
            if !self.may_have_problem(b) {
                continue;
            }
            let blk = self.block(b);
            let m = blk.targets.len();
            let js: Vec<usize> = match (step, forward) {
                (0, true) => (j0 + 1..m).collect(),
                (0, false) => (0..j0).rev().collect(),
                (s, true) if s == n => (0..=j0.min(m.saturating_sub(1))).collect(),
                (s, false) if s == n => (j0..m).rev().collect(),
                (_, true) => (0..m).collect(),
                (_, false) => (0..m).rev().collect(),
            };
            if let Some(j) = js.into_iter().find(|&j| self.app.target_has_problem(blk.shard, blk.targets[j].0, j == 0))
            {
                return Some(self.starts[b] + j);
            }
        }
        None
    }

    /// Cheap, without the tree: could any of block `b`'s servers be one the jump keys stop at?
    fn may_have_problem(&self, b: usize) -> bool {
        let Some(shard) = self.app.fleet.shards.get(self.shards[b]) else { return false };
        shard.instances.iter().any(|i| !i.gone && i.health != Health::Ok)
            || shard.problems.iter().any(|p| p.severity != Health::Ok)
            || self.app.shard_stale(shard).is_some()
    }

    /// Trees built so far (for tests: a frame builds only what it shows).
    pub fn built(&self) -> usize {
        self.blocks.borrow().len()
    }
}

impl App {
    /// The topology cursor's server number in `topo`: the server it follows, else number `topo_selected`.
    pub fn topo_cursor(&self, topo: &Topo) -> Option<usize> {
        let n = topo.servers().checked_sub(1)?;
        self.topo_follow.and_then(|(s, i)| topo.index_of(s, i)).or(Some(self.topo_selected.min(n)))
    }

    /// The topology's first line on a screen of `height` lines.
    pub fn topo_window(&self, topo: &Topo, height: usize) -> Pos {
        let Some(k) = self.topo_cursor(topo) else { return (0, 0) };
        let prev = self.topo_scroll.and_then(|(s, l)| {
            let b = topo.shards.iter().position(|&x| x == s)?;
            Some((b, l.min(topo.block(b).lines.len().saturating_sub(1))))
        });
        topo.window(prev, topo.pos_of(k), height)
    }

    /// The server under the topology cursor: (shard, instance).
    pub fn topology_cursor_target(&self) -> Option<(usize, usize)> {
        let topo = Topo::new(self);
        topo.server(self.topo_cursor(&topo)?)
    }

    /// Every server of the topology view in drawing order: (shard, instance). Builds every tree.
    pub fn topology_targets(&self) -> Vec<(usize, usize)> {
        let topo = Topo::new(self);
        (0..topo.servers()).filter_map(|k| topo.server(k)).collect()
    }

    /// A server the jump keys stop at in the topology: one with a problem, or
    /// the first server of a shard whose trouble is shard-wide (feed, two
    /// writable masters) or whose data is stale.
    pub fn target_has_problem(&self, s: usize, i: usize, first_of_shard: bool) -> bool {
        let Some(shard) = self.fleet.shards.get(s) else { return false };
        let own = shard.instances.get(i).is_some_and(|x| x.health != Health::Ok);
        let shard_wide = shard.problems.iter().any(|p| p.severity != Health::Ok) || self.shard_stale(shard).is_some();
        own || (first_of_shard && shard_wide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::app::tests::scale_app;

    #[test]
    fn moving_by_lines_crosses_blocks_both_ways() {
        let mut app = scale_app(60.0);
        app.view = View::Topology(None);
        let t = Topo::new(&app);
        // Every shard: its name, the upstream, master and two replicas.
        assert_eq!(t.forward((0, 0), 5), Some((1, 0)));
        assert_eq!(t.forward((0, 3), 4), Some((1, 2)));
        assert_eq!(t.backward((1, 2), 4), (0, 3));
        assert_eq!(t.backward((1, 2), 400), (0, 0));
        assert_eq!(t.distance((0, 3), (2, 1), 100), 2 + 5 + 1);
        assert_eq!(t.forward((999, 4), 1), None);
        assert_eq!(t.last(), Some((999, 4)));
        assert_eq!(t.servers(), 3000);
        assert_eq!(t.locate(3), (1, 0));
        assert_eq!(t.pos_of(4), (1, 3));
        assert!(t.built() < 10, "{} trees for a few moves", t.built());
    }

    #[test]
    fn the_window_scrolls_like_a_table() {
        let mut app = scale_app(60.0);
        app.view = View::Topology(None);
        let t = Topo::new(&app);
        // Nothing remembered: the cursor's shard from its name line.
        assert_eq!(t.window(None, (10, 3), 20), (10, 0));
        // Inside the window: it stays.
        assert_eq!(t.window(Some((10, 0)), (12, 4), 20), (10, 0));
        // Below it: the cursor on the last line.
        assert_eq!(t.window(Some((10, 0)), (14, 2), 20), (10, 3));
        // Above it: the cursor's shard from its name line.
        assert_eq!(t.window(Some((10, 0)), (8, 3), 20), (8, 0));
        // Near the end the window stops at the last line.
        assert_eq!(t.window(Some((999, 0)), (999, 4), 20), (996, 0));
    }

    #[test]
    fn empty_view() {
        let mut app = scale_app(60.0);
        app.view = View::Topology(None);
        app.filter = "nothing like this".into();
        let t = Topo::new(&app);
        assert_eq!((t.servers(), t.last(), t.next_problem(0, true)), (0, None, None));
        assert!(t.lines((0, 0), 10).is_empty());
    }
}
