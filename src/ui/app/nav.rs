//! Moving about the lists: the cursor (keys and mouse), scrolling, the filter being typed, and the
//! jumps between problems. Part of the update (`App`), in its own file.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::{App, View};
use crate::fleet::Health;
use crate::ui::rows;
use crate::ui::topo::Topo;

impl App {
    /// Back to the overview from the all-shards topology, its cursor on the shard
    /// the topology's was on (once that was placed).
    pub(super) fn topology_to_overview(&mut self) {
        if self.topo_follow.is_some()
            && let Some((s, _)) = self.topology_cursor_target()
        {
            self.follow = Some(s);
        }
        self.view = View::Overview;
    }

    /// Remember where each list is scrolled to, as the views will draw it.
    pub(super) fn keep_cursor_in_view(&mut self) {
        let page = self.page_rows.max(1);
        match self.view {
            View::Overview => {
                let rows = self.visible_shards();
                self.overview_scroll = self.overview_offset(rows.len(), self.selected_row(&rows), page);
            }
            View::Topology(_) => {
                let topo = Topo::new(self);
                let (b, line) = self.topo_window(&topo, page);
                self.topo_scroll = topo.shards.get(b).map(|&s| (s, line));
            }
            View::Detail(_) | View::Wall => {}
        }
    }

    /// `n` / `N`: the cursor to the next (previous) shard with a problem in the overview,
    /// server with a problem in the topology, or instance in the detail view, going round.
    pub(super) fn jump_to_problem(&mut self, forward: bool) {
        match self.view {
            View::Overview => {
                let rows = self.visible_shards();
                let here = self.selected_row(&rows);
                let hit = |p: usize| self.is_problem(&self.fleet.shards[rows[p]]);
                if let Some(p) = rows::next_match(rows.len(), here, forward, hit) {
                    self.selected = p;
                    self.follow = Some(rows[p]);
                }
            }
            View::Topology(_) => {
                let found = {
                    let topo = Topo::new(self);
                    let next = self.topo_cursor(&topo).and_then(|k| topo.next_problem(k, forward));
                    next.map(|k| (k, topo.server(k), topo.pos_of(k).1))
                };
                if let Some((k, server, line)) = found {
                    self.topo_selected = k;
                    self.topo_follow = server;
                    // Show the shard it is in from its name line down, when it fits.
                    if line < self.page_rows.max(1) {
                        self.topo_scroll = server.map(|(s, _)| (s, 0));
                    }
                }
            }
            View::Detail(s) => {
                let Some(shard) = self.fleet.shards.get(s) else { return };
                let hit = |i: usize| shard.instances[i].health != Health::Ok;
                if let Some(i) = rows::next_match(shard.instances.len(), self.detail_selected, forward, hit) {
                    self.detail_selected = i;
                }
            }
            View::Wall => {}
        }
    }

    /// `p`: problems only, or every shard again. The cursor stays on its shard if it is still listed.
    pub(super) fn toggle_problems_only(&mut self) {
        self.problems_only = !self.problems_only;
        if !matches!(self.view, View::Overview | View::Topology(None)) {
            self.view = View::Overview;
        }
        let rows = self.visible_shards();
        if !self.follow.is_some_and(|id| rows.contains(&id)) {
            self.follow = None;
            self.selected = 0;
        }
        (self.topo_selected, self.topo_scroll) = (0, None);
    }

    /// The wheel moves the cursor; a click on a row selects it (a shard, or an instance in the detail view).
    pub(super) fn on_mouse(&mut self, m: MouseEvent) {
        if self.show_help || self.editing_filter {
            return;
        }
        match m.kind {
            MouseEventKind::ScrollDown => self.move_cursor(1),
            MouseEventKind::ScrollUp => self.move_cursor(-1),
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                // Both tables start below the header line, the block's top border and the column
                // header; each scrolls just enough to keep its selection in view.
                let Some(line) = (m.row as usize).checked_sub(self.table_top) else { return };
                let rows = self.visible_shards();
                let (first, len) = match self.view {
                    View::Overview => {
                        (self.overview_offset(rows.len(), self.selected_row(&rows), self.page_rows), rows.len())
                    }
                    View::Detail(i) => {
                        let len = self.fleet.shards.get(i).map_or(0, |s| s.instances.len());
                        ((self.detail_selected + 1).saturating_sub(self.page_rows.max(1)), len)
                    }
                    // The tree's rows are not a table: clicks there do nothing yet.
                    View::Topology(_) | View::Wall => return,
                };
                let pos = first + line;
                if line >= self.page_rows || pos >= len {
                    return;
                }
                match self.view {
                    View::Overview => {
                        self.selected = pos;
                        self.follow = Some(rows[pos]);
                    }
                    View::Detail(_) => self.detail_selected = pos,
                    View::Topology(_) | View::Wall => {}
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    pub(super) fn edit_filter(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => self.filter.clear(),
            KeyCode::Char(c) if !c.is_control() => self.filter.push(c),
            _ => {}
        }
        self.selected = 0;
        self.follow = None;
        self.overview_scroll = 0;
    }

    pub(super) fn move_cursor(&mut self, delta: isize) {
        let step = |pos: usize, len: usize| {
            (pos as isize).saturating_add(delta).clamp(0, len.saturating_sub(1) as isize) as usize
        };
        match self.view {
            View::Overview => {
                let rows = self.visible_shards();
                self.selected = step(self.selected_row(&rows), rows.len());
                self.follow = rows.get(self.selected).copied();
            }
            View::Detail(i) => {
                self.detail_selected =
                    step(self.detail_selected, self.fleet.shards.get(i).map_or(0, |s| s.instances.len()));
            }
            View::Wall => {}
            View::Topology(_) => {
                let moved = {
                    let topo = Topo::new(self);
                    let Some(k) = self.topo_cursor(&topo) else { return };
                    let last = topo.servers() - 1;
                    let page = self.page_rows.max(1);
                    // Pages go by lines (names and upstreams take lines too), the rest by servers.
                    let to = match delta {
                        d if d.abs() <= 1 => (k as isize + d).clamp(0, last as isize) as usize,
                        d if d <= isize::MIN / 4 => 0,
                        d if d >= isize::MAX / 4 => last,
                        d if d > 0 => topo.page_down(k, page),
                        _ => topo.page_up(k, page),
                    };
                    (to, topo.server(to))
                };
                (self.topo_selected, self.topo_follow) = moved;
            }
        }
    }

    pub(super) fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.visible_shards().len().saturating_sub(1));
    }
}
