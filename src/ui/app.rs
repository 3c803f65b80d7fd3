// long-file: the model and its whole update, one match over every message and key; its effects are data the loop carries out.
//! The TUI's state and how messages change it (the Elm architecture's model
//! and update). Views only read this; nothing here draws.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent};

use super::color::ColorDepth;
use super::kiosk::{self, Kiosk};
use super::theme::Theme;
use crate::fleet::{Addr, Event, Fleet};
use crate::keymap::{Action, Keymap};
use crate::poll::{Slot, Update};

mod nav;
mod relayout;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Health,
    Name,
    Lag,
    Qps,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Health => "health",
            SortKey::Name => "name",
            SortKey::Lag => "lag",
            SortKey::Qps => "qps",
        }
    }

    fn next(self) -> SortKey {
        match self {
            SortKey::Health => SortKey::Name,
            SortKey::Name => SortKey::Lag,
            SortKey::Lag => SortKey::Qps,
            SortKey::Qps => SortKey::Health,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Overview,
    /// Detail of the shard with this index in `fleet.shards`.
    Detail(usize),
    /// The replication tree of one shard, or of every shard the overview shows.
    Topology(Option<usize>),
    /// The tactical display: big-number tiles, the health grid, hour-long charts (kiosk).
    Wall,
}

/// Work the event loop does for the action dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionEffect {
    /// Read and check, change nothing; answers with `ActionMsg::Planned`.
    Plan(super::action::ActionKind),
    Run(super::action::ActionKind),
    /// Stop a running checksum between chunks.
    Stop,
}

/// What an update asks of the world; the event loop carries these out, so `update` itself
/// does no I/O and is tested by what it returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Fleet events for the events pane.
    Events(Vec<Event>),
    /// Servers discovery added to the model: the poller starts probing each at its slot.
    AddInstances(Vec<(Slot, Addr)>),
    /// A promotion from this session put `instance` of `shard` first (the new master) and the old
    /// master in its place: the poller's results for the two must follow (`poll::SlotMap`).
    SwapMaster { shard: usize, instance: usize },
    /// Start or stop an action for the dialog.
    Action(ActionEffect),
    /// Step back from live into the session's recording (`ui::travel`).
    TimeTravel,
}

/// Everything that can happen. (A poll result is the big one; messages live
/// for one trip through the channel, so its size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Message {
    Key(KeyEvent),
    Sample(Update),
    /// A round of the feed latency probe.
    Feed(crate::fleet::FeedRound),
    /// A poll of a `[[metrics]]` source.
    Metrics(crate::fleet::external::MetricsUpdate),
    /// A clock tick: ages and the clock move on.
    Tick(DateTime<Utc>),
    Resize,
    /// Only arrives with `--mouse` / `[ui] mouse`.
    Mouse(MouseEvent),
    /// Progress of a running action (promotion, checksum).
    Action(super::action::ActionMsg),
    /// The deploy markers' store as it now is (`ui::markers`).
    Markers(Vec<super::wall::Marker>),
    /// A read of a `[[markers]]` source.
    SourceMarkers(crate::metrics::markers::MarkerUpdate),
    /// A read of an application panel.
    Panel(crate::metrics::panel::PanelUpdate),
    /// The wall's history from before this session (the demo's simulated last hour).
    WallHistory(Vec<super::wall::Point>),
    /// The fleet around the same time yesterday, read from a recording (`ui::yesterday`).
    WallYesterday(Vec<super::wall::Point>),
    /// A remote viewer's collector lists other shards now (`app::relayout`).
    Relayout(crate::fleet::relayout::Relayout),
}

impl From<crate::fleet::relayout::Relayout> for Message {
    fn from(r: crate::fleet::relayout::Relayout) -> Self {
        Message::Relayout(r)
    }
}

impl From<crate::metrics::markers::MarkerUpdate> for Message {
    fn from(u: crate::metrics::markers::MarkerUpdate) -> Self {
        Message::SourceMarkers(u)
    }
}

impl From<crate::metrics::panel::PanelUpdate> for Message {
    fn from(u: crate::metrics::panel::PanelUpdate) -> Self {
        Message::Panel(u)
    }
}

impl From<Update> for Message {
    fn from(u: Update) -> Self {
        Message::Sample(u)
    }
}

impl From<crate::fleet::FeedRound> for Message {
    fn from(r: crate::fleet::FeedRound) -> Self {
        Message::Feed(r)
    }
}

impl From<crate::fleet::external::MetricsUpdate> for Message {
    fn from(u: crate::fleet::external::MetricsUpdate) -> Self {
        Message::Metrics(u)
    }
}

pub struct App {
    pub fleet: Fleet,
    pub theme: Theme,
    /// Where the data comes from, for the title ("demo", a config path).
    pub source: String,
    pub poll_interval: Duration,
    /// Time between feed probe rounds (spaces the feed chart's points).
    pub feed_interval: Duration,
    pub now: DateTime<Utc>,
    /// Offset for the clock in the header (local time; UTC in tests).
    pub clock_offset: chrono::FixedOffset,
    pub view: View,
    pub sort: SortKey,
    pub sort_reverse: bool,
    pub filter: String,
    pub editing_filter: bool,
    /// Selected row in the overview (index into `visible_shards()`) while
    /// the cursor follows no shard; see `selected_row`.
    pub selected: usize,
    /// Once the user picks a row, the cursor follows that shard (index into
    /// `fleet.shards`) when rows reorder; until then it stays on row
    /// `selected`, the top (worst) one.
    pub follow: Option<usize>,
    /// Only shards that need a look (not OK, or stale), in the overview and the topology.
    pub problems_only: bool,
    /// First overview row on screen: the table scrolls only as far as keeps the cursor in view.
    pub overview_scroll: usize,
    /// First topology line on screen: (shard, line of its block).
    pub topo_scroll: Option<(usize, usize)>,
    /// Screen line of the current table's first row (after the last frame), for mouse clicks.
    pub table_top: usize,
    /// Selected instance in the detail view.
    pub detail_selected: usize,
    pub show_help: bool,
    pub show_events: bool,
    /// Rows the last frame could show, for page up/down.
    pub page_rows: usize,
    pub quit: bool,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    /// Selected server in the topology view (its number in drawing order) while
    /// the cursor follows no server.
    pub topo_selected: usize,
    /// The server the topology cursor is on, (shard, instance), once placed there:
    /// it stays on it when shards reorder.
    pub topo_follow: Option<(usize, usize)>,
    /// What the terminal shows; applied to every frame.
    pub color_depth: ColorDepth,
    pub keymap: Keymap,
    /// No action (promotion, checksum, …) may start: `--read-only`, and always in kiosk mode.
    pub read_only: bool,
    /// Kiosk mode: rotating views, big banner; implies read-only.
    pub kiosk: Option<Kiosk>,
    /// Plain ASCII for trends (no block characters), for terminals and fonts without them.
    pub ascii: bool,
    /// Repaint the whole screen on the next frame (Ctrl-l: the screen got garbled).
    pub repaint: bool,
    /// `[actions] enabled` in the config: promotion and checksum may be offered.
    pub actions_configured: bool,
    /// Why actions are not offered here, when it is not `--read-only` or kiosk mode (a remote
    /// viewer: they run on the collector).
    pub actions_elsewhere: Option<String>,
    /// The collector a remote viewer's actions run on, when its token may act (`remote_action`).
    pub actions_remote: Option<String>,
    /// The open action dialog, if any.
    pub dialog: Option<super::action::ActionDialog>,
    /// The wall's hour of fleet figures, last events and feed bottlenecks.
    pub wall: super::wall::Wall,
    /// Application panels on the wall (`[[panel]]`).
    pub panels: Vec<super::panels::Panel>,
    /// Deploy markers by origin; `wall.markers` is their merge.
    pub marker_sets: super::panels::MarkerSets,
    /// Replaying a recording (`shardtop replay`): the timeline, speed and recorded events.
    pub replay: Option<super::replay::Bar>,
    /// Effects of the update under way, returned by `update`.
    effects: Vec<Effect>,
}

impl App {
    pub fn new(fleet: Fleet, theme: Theme, source: impl Into<String>, poll_interval: Duration) -> App {
        App {
            fleet,
            theme,
            source: source.into(),
            poll_interval,
            feed_interval: Duration::from_secs(1),
            now: Utc::now(),
            clock_offset: *chrono::Local::now().offset(),
            view: View::Overview,
            sort: SortKey::Health,
            sort_reverse: false,
            filter: String::new(),
            editing_filter: false,
            selected: 0,
            follow: None,
            problems_only: false,
            overview_scroll: 0,
            topo_scroll: None,
            table_top: super::views::TABLE_FIRST_ROW,
            detail_selected: 0,
            show_help: false,
            show_events: true,
            page_rows: 10,
            quit: false,
            dirty: true,
            topo_selected: 0,
            topo_follow: None,
            color_depth: ColorDepth::TrueColor,
            keymap: Keymap::defaults(),
            read_only: false,
            kiosk: None,
            ascii: false,
            repaint: false,
            actions_configured: false,
            actions_elsewhere: None,
            actions_remote: None,
            dialog: None,
            wall: super::wall::Wall::default(),
            panels: Vec::new(),
            marker_sets: super::panels::MarkerSets::default(),
            replay: None,
            effects: Vec::new(),
        }
    }

    /// Every action key must check this first: never in `--read-only` or kiosk mode.
    pub fn actions_allowed(&self) -> bool {
        !self.read_only && self.kiosk.is_none()
    }

    /// An action is writing to servers: quitting now would leave it half done.
    pub fn action_running(&self) -> bool {
        self.dialog.as_ref().is_some_and(|d| d.phase == super::action::Phase::Running)
    }

    /// Open the dialog for `kind` if actions may run here; otherwise say why in the events pane.
    fn open_action(&mut self, kind: super::action::ActionKind, shard: usize) {
        let Some(name) = self.fleet.shards.get(shard).map(|s| s.name.clone()) else { return };
        if let Some(why) = &self.actions_elsewhere {
            log::warn!(target: "actions", "{why}");
            self.dialog = Some(super::remote_action::unavailable(kind, name, why));
            return;
        }
        if !self.actions_allowed() {
            log::warn!(target: "actions", "read-only session (--read-only or --kiosk): actions are not available");
            return;
        }
        if !self.actions_configured {
            log::warn!(target: "actions", "actions are disabled: set [actions] enabled = true in the config to promote or checksum");
            return;
        }
        let mut dialog = super::action::ActionDialog::new(kind.clone(), name);
        dialog.on = self.actions_remote.clone();
        self.dialog = Some(dialog);
        self.effects.push(Effect::Action(ActionEffect::Plan(kind)));
    }

    /// The failover the shard `s` needs, when its master is down (suspect, unreachable or dead).
    fn failover_kind(&self, s: usize) -> Option<super::action::ActionKind> {
        let sh = self.fleet.shards.get(s)?;
        let candidate = match self.view {
            View::Detail(d) if d == s => sh
                .instances
                .get(self.detail_selected)
                .filter(|i| i.role == crate::fleet::Role::Replica)
                .map(|i| i.addr.clone()),
            _ => None,
        };
        super::action::failover_of(sh, s, candidate)
    }

    fn dialog_key(&mut self, key: KeyEvent) {
        use super::action::Effect as Dialog;
        let Some(d) = self.dialog.as_mut() else { return };
        match d.on_key(key) {
            Dialog::None => {}
            Dialog::Run => {
                // Its transient states (a read-only master for a few ms, a circular link) are
                // the action's, not incidents: the shard's findings are held until it settles.
                match d.kind {
                    super::action::ActionKind::Promote { shard, .. } => {
                        self.fleet.begin_action(shard, "promotion", self.now)
                    }
                    super::action::ActionKind::Failover { shard, .. } => {
                        self.fleet.begin_action(shard, "failover", self.now)
                    }
                    _ => {}
                }
                self.effects.push(Effect::Action(ActionEffect::Run(d.kind.clone())));
            }
            Dialog::Stop => self.effects.push(Effect::Action(ActionEffect::Stop)),
            Dialog::Close => self.dialog = None,
        }
    }

    /// Apply a message; returns what the world must do about it (events to show, servers to
    /// probe, slots to swap, actions to start). Nothing else leaves the model.
    pub fn update(&mut self, msg: Message) -> Vec<Effect> {
        let events = self.apply(msg);
        if !events.is_empty() {
            self.wall.note_events(self.now, &events);
            self.effects.push(Effect::Events(events));
        }
        std::mem::take(&mut self.effects)
    }

    /// The model's part of `update`: returns the fleet events; other effects go to `self.effects`.
    fn apply(&mut self, msg: Message) -> Vec<Event> {
        match msg {
            Message::Key(key) => {
                if key.kind != KeyEventKind::Release {
                    self.on_key(key);
                    self.dirty = true;
                }
                Vec::new()
            }
            Message::Sample(u) => {
                // The cursor follows its shard by identity (`follow`), so rows that reorder cost
                // nothing here: at a thousand shards this runs 3,000 times a second.
                let Slot { shard, instance } = u.slot;
                let at = u.sample.at;
                let mut events = self.fleet.apply(shard, instance, u.sample);
                if self.wall.is_new_bucket(at) || self.wall.points.back().is_some_and(|p| p.qps.is_none()) {
                    self.wall.observe(at, &self.fleet);
                }
                events.extend(self.fleet.vanished(shard));
                let found = self.fleet.discover_from(shard, instance);
                if !found.is_empty() {
                    let mut add = Vec::with_capacity(found.len());
                    for f in found {
                        events.push(f.event(&self.fleet));
                        add.push((Slot { shard: f.shard, instance: f.instance }, f.addr));
                    }
                    self.effects.push(Effect::AddInstances(add));
                }
                self.dirty = true;
                events
            }
            Message::Feed(round) => {
                self.dirty = true;
                self.wall.note_round(&round);
                let events = self.fleet.apply_feed(&round);
                self.wall.observe(round.at, &self.fleet);
                events
            }
            Message::Metrics(u) => {
                self.dirty = true;
                self.fleet.apply_metrics(&u)
            }
            Message::Markers(m) => {
                self.marker_sets.local = m;
                self.set_markers();
                Vec::new()
            }
            Message::SourceMarkers(u) => {
                let event = self.marker_sets.apply(u);
                self.set_markers();
                event.into_iter().collect()
            }
            Message::WallHistory(points) => {
                self.wall.backfill(points);
                self.dirty = true;
                Vec::new()
            }
            Message::WallYesterday(points) => {
                self.wall.yesterday = points;
                self.dirty = true;
                Vec::new()
            }
            Message::Relayout(r) => self.relayout(&r.shards),
            Message::Panel(u) => {
                self.dirty = true;
                match self.panels.get_mut(u.index) {
                    Some(p) => p.apply(u).into_iter().collect(),
                    None => Vec::new(),
                }
            }
            Message::Tick(now) => {
                // Redraw when the clock's second changes: ages and the clock show seconds.
                if now.timestamp() != self.now.timestamp() {
                    self.dirty = true;
                }
                self.now = now;
                self.wall.observe(now, &self.fleet);
                if kiosk::tick(self, now) {
                    self.dirty = true;
                }
                let holds = |f: &Fleet| f.shards.iter().filter(|s| s.hold.is_some()).count();
                let held = holds(&self.fleet);
                let events = if held > 0 { self.fleet.release_holds(now) } else { Vec::new() };
                if holds(&self.fleet) != held {
                    self.dirty = true;
                }
                events
            }
            Message::Resize => {
                self.dirty = true;
                Vec::new()
            }
            Message::Mouse(m) => {
                if self.dialog.is_none() {
                    self.on_mouse(m);
                }
                Vec::new()
            }
            Message::Action(crate::ui::action::ActionMsg::Promoted { shard, new_master }) => {
                self.follow_promotion(&shard, &new_master);
                self.dirty = true;
                Vec::new()
            }
            Message::Action(m) => {
                if let Some(d) = self.dialog.as_mut() {
                    let ended = match (&d.kind, &d.phase, &m) {
                        (
                            super::action::ActionKind::Promote { shard, .. }
                            | super::action::ActionKind::Failover { shard, .. },
                            super::action::Phase::Running,
                            super::action::ActionMsg::Finished { .. },
                        ) => Some(*shard),
                        _ => None,
                    };
                    d.on_msg(m);
                    if let Some(shard) = ended {
                        self.fleet.end_action(shard, self.now, self.poll_interval);
                    }
                    self.dirty = true;
                }
                Vec::new()
            }
        }
    }

    fn set_markers(&mut self) {
        let m = self.marker_sets.merged();
        self.dirty = self.dirty || m != self.wall.markers;
        self.wall.markers = m;
    }

    /// A promotion from this session made `new_master` the master of `shard`: the model puts it
    /// first (roles, rules and views follow at once, without a restart or a config edit), and asks
    /// for the poller's slots of the two servers to be swapped the same way.
    fn follow_promotion(&mut self, shard: &str, new_master: &Addr) {
        let Some(s) = self.fleet.shards.iter().position(|sh| sh.name == shard) else { return };
        let Some(c) = self.fleet.promoted(s, new_master) else { return };
        self.effects.push(Effect::SwapMaster { shard: s, instance: c });
    }

    fn on_key(&mut self, key: KeyEvent) {
        // An open dialog takes every key (typing the confirmation, Esc).
        if self.dialog.is_some() {
            self.dialog_key(key);
            return;
        }
        if self.editing_filter {
            self.edit_filter(key);
            return;
        }
        let Some(action) = self.keymap.action_for(&key) else { return };
        if self.show_help {
            // Any navigation key closes help; quit still quits.
            match action {
                Action::Quit => self.quit = true,
                _ => self.show_help = false,
            }
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.show_help = true,
            Action::ToggleEvents => self.show_events = !self.show_events,
            Action::Redraw => self.repaint = true,
            Action::Promote => {
                let shard = match self.view {
                    View::Detail(s) | View::Topology(Some(s)) => Some(s),
                    View::Overview => self.selected_shard_index(),
                    View::Topology(None) | View::Wall => None,
                };
                // A shard whose master does not answer gets the failover plan instead: its checks
                // say whether the master is confirmed dead.
                if let Some((s, kind)) = shard.and_then(|s| self.failover_kind(s).map(|k| (s, k))) {
                    self.open_action(kind, s);
                } else if let View::Detail(s) = self.view {
                    let target = self.fleet.shards.get(s).and_then(|sh| sh.instances.get(self.detail_selected));
                    match target {
                        Some(i) if i.role == crate::fleet::Role::Replica => {
                            let candidate = i.addr.clone();
                            self.open_action(super::action::ActionKind::Promote { shard: s, candidate }, s);
                        }
                        _ => log::warn!(target: "actions", "select a replica in the shard detail to promote it"),
                    }
                } else {
                    log::warn!(target: "actions", "promotion starts from a replica in the shard detail (Enter on a shard)");
                }
            }
            Action::Fence | Action::Rejoin => {
                let target = match self.view {
                    View::Detail(s) => {
                        self.fleet.shards.get(s).and_then(|sh| sh.instances.get(self.detail_selected)).map(|i| (s, i))
                    }
                    _ => None,
                };
                match target {
                    Some((s, i))
                        if i.role == crate::fleet::Role::Replica
                            || i.problems.iter().any(|p| p.rule == "zombie_master") =>
                    {
                        let instance = i.addr.clone();
                        let kind = match action {
                            Action::Rejoin => super::action::ActionKind::Rejoin { shard: s, instance },
                            _ => super::action::ActionKind::Fence { shard: s, instance },
                        };
                        self.open_action(kind, s);
                    }
                    _ => log::warn!(
                        target: "actions",
                        "select a server other than the master in the shard detail to {} it",
                        action.name()
                    ),
                }
            }
            Action::Checksum => {
                let shard = match self.view {
                    View::Detail(s) | View::Topology(Some(s)) => Some(s),
                    View::Overview => self.selected_shard_index(),
                    View::Topology(None) | View::Wall => None,
                };
                if let Some(s) = shard {
                    self.open_action(super::action::ActionKind::Checksum { shard: s }, s);
                }
            }
            Action::Up => self.move_cursor(-1),
            Action::Down => self.move_cursor(1),
            Action::PageUp => self.move_cursor(-(self.page_rows.max(1) as isize)),
            Action::PageDown => self.move_cursor(self.page_rows.max(1) as isize),
            Action::Top => self.move_cursor(isize::MIN / 2),
            Action::Bottom => self.move_cursor(isize::MAX / 2),
            Action::NextProblem => self.jump_to_problem(true),
            Action::PrevProblem => self.jump_to_problem(false),
            Action::ProblemsOnly => self.toggle_problems_only(),
            Action::Open => match self.view {
                View::Overview => {
                    if let Some(idx) = self.selected_shard_index() {
                        self.view = View::Detail(idx);
                        self.detail_selected = 0;
                    }
                }
                View::Topology(_) => {
                    if let Some((s, i)) = self.topology_cursor_target() {
                        self.view = View::Detail(s);
                        self.detail_selected = i;
                    }
                }
                View::Detail(_) | View::Wall => {}
            },
            Action::Topology => match self.view {
                View::Overview | View::Wall => {
                    // The cursor's shard, if the user has put the cursor somewhere; else the top.
                    let at = self.follow.and_then(|_| self.selected_shard_index());
                    self.view = View::Topology(None);
                    (self.topo_selected, self.topo_follow, self.topo_scroll) = (0, at.map(|s| (s, 0)), None);
                }
                View::Detail(s) => {
                    self.view = View::Topology(Some(s));
                    (self.topo_selected, self.topo_scroll) = (0, None);
                    self.topo_follow = Some((s, self.detail_selected));
                }
                View::Topology(Some(s)) => self.view = View::Detail(s),
                View::Topology(None) => self.topology_to_overview(),
            },
            // A replay is in the past already; the loop opens the recording (an effect).
            Action::TimeTravel => {
                if self.replay.is_none() {
                    self.effects.push(Effect::TimeTravel);
                }
            }
            // The wall outside kiosk mode too; the same key goes back to the overview.
            Action::Wall => {
                self.view = if self.view == View::Wall { View::Overview } else { View::Wall };
            }
            Action::Back => match self.view {
                View::Detail(_) => self.view = View::Overview,
                View::Topology(None) => self.topology_to_overview(),
                View::Topology(Some(s)) => self.view = View::Detail(s),
                View::Overview => {
                    self.filter.clear();
                    self.clamp_selection();
                }
                View::Wall => self.view = View::Overview,
            },
            Action::Filter => {
                self.view = View::Overview;
                self.editing_filter = true;
            }
            Action::Sort => self.sort = self.sort.next(),
            Action::SortReverse => self.sort_reverse = !self.sort_reverse,
        }
        self.keep_cursor_in_view();
    }

    /// Data older than this is shown as stale.
    pub fn stale_after(&self) -> f64 {
        (self.poll_interval.as_secs_f64() * 3.0).max(3.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fleet::{Health, Limits};
    use crate::poll::Slot;
    use crate::sim::{SimFleet, script};
    use crossterm::event::{KeyCode, KeyModifiers};

    pub(crate) fn demo_app(t: f64) -> App {
        let sim = SimFleet::default();
        let mut app =
            App::new(Fleet::new(sim.layout(), Limits::default()), Theme::plain(), "demo", Duration::from_secs(2));
        app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or(app.clock_offset);
        let epoch = chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000, 0).single().unwrap_or_default();
        app.now = epoch + chrono::Duration::milliseconds((t * 1000.0) as i64);
        // Half a minute of sweeps (2 s apart) and feed rounds (0.5 s apart) up to `t`, for trends and charts.
        let sweeps: Vec<f64> = (0..=15).map(|k| t - 30.0 + 2.0 * k as f64).filter(|&x| x >= 0.0).collect();
        for n in 0..=60u64 {
            let tt = t - 30.0 + 0.5 * n as f64;
            if tt < 0.0 {
                continue;
            }
            let mut round = sim.feed_round(tt, n);
            round.at = epoch + chrono::Duration::milliseconds((tt * 1000.0) as i64);
            app.update(Message::Feed(round));
        }
        app.feed_interval = Duration::from_millis(500);
        for tt in sweeps {
            for s in 0..sim.shards {
                for i in 0..=sim.replicas {
                    let at = epoch + chrono::Duration::milliseconds((tt * 1000.0) as i64);
                    let sample = crate::fleet::status::Sample {
                        at,
                        elapsed: Duration::from_millis(2),
                        result: sim.status_at(s, i, tt),
                    };
                    app.update(Message::Sample(Update { slot: Slot { shard: s, instance: i }, sample }));
                }
            }
        }
        app
    }

    /// The shard `scale_app` leaves without fresh data.
    pub(crate) const STALE_SHARD: usize = 500;

    /// A thousand shards `t` seconds into the demo, with the fleet-wide incidents of
    /// `sim::scale`, and shard [`STALE_SHARD`] silent for the last ten seconds.
    /// Deterministic, for snapshots; the fleet is built once and cloned.
    pub(crate) fn scale_app(t: f64) -> App {
        use std::sync::Mutex;
        static BUILT: Mutex<Vec<(u64, Fleet)>> = Mutex::new(Vec::new());
        let sim = SimFleet { shards: 1000, ..SimFleet::default() };
        let epoch = chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000, 0).single().unwrap_or_default();
        let at = |tt: f64| epoch + chrono::Duration::milliseconds((tt * 1000.0) as i64);
        let mut app =
            App::new(Fleet::new(Vec::new(), Limits::default()), Theme::plain(), "demo", Duration::from_secs(2));
        app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or(app.clock_offset);
        app.now = at(t);
        app.feed_interval = Duration::from_millis(500);
        let cached = BUILT.lock().ok().and_then(|b| b.iter().find(|(k, _)| *k == t.to_bits()).map(|(_, f)| f.clone()));
        if let Some(fleet) = cached {
            app.fleet = fleet;
            return app;
        }
        app.fleet = Fleet::new(sim.layout(), Limits::default());
        for n in 0..6u64 {
            let tt = t - 2.5 + 0.5 * n as f64;
            let mut round = sim.feed_round(tt, n);
            round.at = at(tt);
            app.update(Message::Feed(round));
        }
        for tt in [t - 12.0, t - 10.0, t - 2.0, t] {
            for s in 0..sim.shards {
                if s == STALE_SHARD && tt > t - 10.0 {
                    continue;
                }
                for i in 0..=sim.replicas {
                    let result = crate::sim::scale::status_at(&sim, s, i, tt);
                    let sample = crate::fleet::status::Sample { at: at(tt), elapsed: Duration::from_millis(2), result };
                    app.update(Message::Sample(Update { slot: Slot { shard: s, instance: i }, sample }));
                }
            }
        }
        if let Ok(mut b) = BUILT.lock() {
            b.push((t.to_bits(), app.fleet.clone()));
        }
        app
    }

    fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn names(app: &App) -> Vec<String> {
        app.visible_shards().iter().map(|&i| app.fleet.shards[i].name.clone()).collect()
    }

    #[test]
    fn worst_shards_sort_first_by_default() {
        let app = demo_app(60.0);
        let first = &app.fleet.shards[app.visible_shards()[0]];
        assert_eq!(first.health, Health::Critical);
        let healths: Vec<_> = app.visible_shards().iter().map(|&i| app.fleet.shards[i].health).collect();
        assert!(healths.windows(2).all(|w| w[0] >= w[1]), "{healths:?}");
    }

    #[test]
    fn w_opens_the_wall_outside_kiosk_mode_and_goes_back() {
        let mut app = demo_app(10.0);
        assert!(app.kiosk.is_none());
        key(&mut app, KeyCode::Enter);
        assert!(matches!(app.view, View::Detail(_)));
        key(&mut app, KeyCode::Char('w'));
        assert_eq!(app.view, View::Wall);
        key(&mut app, KeyCode::Char('w'));
        assert_eq!(app.view, View::Overview);
        key(&mut app, KeyCode::Char('w'));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.view, View::Overview);
    }

    #[test]
    fn sort_cycles_and_reverses() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('s'));
        assert_eq!(app.sort, SortKey::Name);
        assert_eq!(names(&app)[0], "users-01");
        key(&mut app, KeyCode::Char('S'));
        assert_eq!(names(&app)[0], "users-08");
    }

    #[test]
    fn filter_narrows_rows_and_esc_clears_it() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('/'));
        for c in "users-0".chars().chain("3".chars()) {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        assert_eq!(names(&app), vec!["users-03"]);
        // Typing `q` while editing is text, not quit.
        key(&mut app, KeyCode::Char('/'));
        key(&mut app, KeyCode::Char('q'));
        assert!(!app.quit);
        assert!(names(&app).is_empty());
        key(&mut app, KeyCode::Esc);
        assert_eq!(names(&app).len(), 8);
    }

    #[test]
    fn filter_by_health_word() {
        let mut app = demo_app(60.0);
        app.filter = "crit".into();
        let rows = app.visible_shards();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|&i| app.fleet.shards[i].health == Health::Critical));
    }

    #[test]
    fn open_detail_and_back() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('s')); // by name
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Enter);
        assert_eq!(app.view, View::Detail(1));
        key(&mut app, KeyCode::Char('G'));
        assert_eq!(app.detail_selected, 2);
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.view, View::Overview);
    }

    #[test]
    fn cursor_stays_in_bounds() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Up);
        assert_eq!(app.selected, 0);
        key(&mut app, KeyCode::End);
        assert_eq!(app.selected, 7);
        key(&mut app, KeyCode::PageDown);
        assert_eq!(app.selected, 7);
    }

    #[test]
    fn selection_follows_its_shard_when_rows_reorder() {
        let mut app = demo_app(10.0);
        let broken = app.fleet.shards[script::BROKEN_SHARD].name.clone();
        let pos = names(&app).iter().position(|n| *n == broken).expect("row");
        key(&mut app, KeyCode::Home);
        for _ in 0..pos {
            key(&mut app, KeyCode::Down);
        }
        assert_eq!(names(&app)[app.selected_row(&app.visible_shards())], broken);
        // The shard breaks and moves to the top; the cursor goes with it.
        break_sql_thread(&mut app);
        assert_eq!(names(&app)[app.selected_row(&app.visible_shards())], broken);
    }

    #[test]
    fn topology_cursor_follows_its_server_when_shards_reorder() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('t'));
        for _ in 0..30 {
            if app.topology_cursor_target() == Some((script::BROKEN_SHARD, 2)) {
                break;
            }
            key(&mut app, KeyCode::Down);
        }
        assert_eq!(app.topology_cursor_target(), Some((script::BROKEN_SHARD, 2)));
        // Its SQL thread breaks: the shard sorts first, and the cursor goes with it.
        break_sql_thread(&mut app);
        assert_eq!(app.visible_shards()[0], script::BROKEN_SHARD);
        assert_eq!(app.topology_cursor_target(), Some((script::BROKEN_SHARD, 2)));
    }

    #[test]
    fn in_the_detail_view_n_goes_to_the_server_with_a_problem() {
        let mut app = demo_app(40.0);
        app.view = View::Detail(script::BROKEN_SHARD);
        key(&mut app, KeyCode::Char('n'));
        assert_eq!(app.detail_selected, 2, "the replica whose SQL thread stopped");
        key(&mut app, KeyCode::Char('n'));
        assert_eq!(app.detail_selected, 2, "the only one: the cursor stays");
        key(&mut app, KeyCode::Home);
        key(&mut app, KeyCode::Char('N'));
        assert_eq!(app.detail_selected, 2, "backwards, going round");
        // A healthy shard: nowhere to go.
        app.view = View::Detail(0);
        app.detail_selected = 1;
        key(&mut app, KeyCode::Char('n'));
        assert_eq!(app.detail_selected, 1);
    }

    #[test]
    fn overview_and_topology_keep_each_others_place() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('s')); // by name
        for _ in 0..5 {
            key(&mut app, KeyCode::Down);
        }
        assert_eq!(app.selected_shard_index(), Some(5));
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.topology_cursor_target(), Some((5, 0)), "the selected shard's master");
        for _ in 0..4 {
            key(&mut app, KeyCode::Down);
        }
        assert_eq!(app.topology_cursor_target(), Some((6, 1)));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.selected_shard_index(), Some(6), "back on the shard the topology cursor was in");
        // An untouched cursor stays an untouched cursor.
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.follow, None);
    }

    /// The scripted shard's replica reports its SQL thread broken (the sim at t = 40 s).
    fn break_sql_thread(app: &mut App) {
        let sim = SimFleet::default();
        let sample = crate::fleet::status::Sample {
            at: Utc::now(),
            elapsed: Duration::from_millis(2),
            result: sim.status_at(script::BROKEN_SHARD, 2, 40.0),
        };
        app.update(Message::Sample(Update { slot: Slot { shard: script::BROKEN_SHARD, instance: 2 }, sample }));
    }

    #[test]
    fn untouched_cursor_stays_on_the_worst_row() {
        let mut app = demo_app(10.0);
        assert_eq!(app.selected, 0);
        break_sql_thread(&mut app);
        assert_eq!(app.selected, 0);
        assert_eq!(app.selected_shard_index(), Some(script::BROKEN_SHARD));
    }

    #[test]
    fn action_keys_open_a_dialog_only_when_allowed_and_enabled() {
        use super::super::action::{ActionKind, Phase};
        let mut app = demo_app(10.0);
        let mut effects = Vec::new();
        effects.extend(key(&mut app, KeyCode::Char('s'))); // by name: users-01 first
        effects.extend(key(&mut app, KeyCode::Enter));
        effects.extend(key(&mut app, KeyCode::Down)); // a replica
        // Actions not enabled in the config: nothing opens.
        effects.extend(key(&mut app, KeyCode::Char('P')));
        assert!(app.dialog.is_none() && effects.is_empty());
        // Enabled, but a read-only session: still nothing.
        app.actions_configured = true;
        app.read_only = true;
        effects.extend(key(&mut app, KeyCode::Char('P')));
        assert!(app.dialog.is_none());
        app.read_only = false;
        effects.extend(key(&mut app, KeyCode::Char('P')));
        let want = ActionKind::Promote { shard: 0, candidate: app.fleet.shards[0].instances[1].addr.clone() };
        assert_eq!(app.dialog.as_ref().map(|d| d.kind.clone()), Some(want.clone()));
        assert_eq!(effects, vec![Effect::Action(ActionEffect::Plan(want))]);
        // The dialog takes the keys: `q` is text in it, not quit.
        effects.clear();
        effects.extend(app.update(Message::Action(super::super::action::ActionMsg::Planned(Ok(())))));
        for c in "users-01".chars() {
            effects.extend(key(&mut app, KeyCode::Char(c)));
        }
        effects.extend(key(&mut app, KeyCode::Enter));
        assert_eq!(app.dialog.as_ref().map(|d| d.phase.clone()), Some(Phase::Running));
        assert!(app.action_running());
        assert!(matches!(effects.as_slice(), [Effect::Action(ActionEffect::Run(_))]));
        // The master cannot be promoted onto itself.
        let mut app = demo_app(10.0);
        app.actions_configured = true;
        key(&mut app, KeyCode::Char('s'));
        key(&mut app, KeyCode::Enter);
        key(&mut app, KeyCode::Char('P'));
        assert!(app.dialog.is_none());
        // Checksum from the overview, on the selected shard; a remote viewer says where actions run.
        let mut app = demo_app(10.0);
        app.actions_configured = true;
        key(&mut app, KeyCode::Char('s'));
        app.actions_elsewhere = Some("remote viewer: actions run on the collector".into());
        assert!(key(&mut app, KeyCode::Char('C')).is_empty(), "nothing is planned");
        assert!(
            matches!(app.dialog.as_ref().map(|d| &d.phase), Some(Phase::Done { ok: false, .. })),
            "but why is said"
        );
        key(&mut app, KeyCode::Esc);
        app.actions_elsewhere = None;
        key(&mut app, KeyCode::Char('C'));
        assert_eq!(app.dialog.as_ref().map(|d| d.kind.clone()), Some(ActionKind::Checksum { shard: 0 }));
        key(&mut app, KeyCode::Esc);
        assert!(app.dialog.is_none());
    }

    #[test]
    fn fence_opens_on_a_server_other_than_the_master_only() {
        use super::super::action::ActionKind;
        let mut app = demo_app(10.0);
        app.actions_configured = true;
        key(&mut app, KeyCode::Char('s'));
        key(&mut app, KeyCode::Enter); // users-01's detail, cursor on the master
        key(&mut app, KeyCode::Char('F'));
        assert!(app.dialog.is_none(), "the master is not fenced from here");
        key(&mut app, KeyCode::Down);
        let effects = key(&mut app, KeyCode::Char('F'));
        let want = ActionKind::Fence { shard: 0, instance: app.fleet.shards[0].instances[1].addr.clone() };
        assert_eq!(app.dialog.as_ref().map(|d| d.kind.clone()), Some(want.clone()));
        assert_eq!(effects, vec![Effect::Action(ActionEffect::Plan(want))]);
    }

    #[test]
    fn help_opens_and_any_key_closes() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('?'));
        assert!(app.show_help);
        key(&mut app, KeyCode::Char('j'));
        assert!(!app.show_help);
        assert_eq!(app.selected, 0, "the closing key is not also a move");
        key(&mut app, KeyCode::Char('q'));
        assert!(app.quit);
    }

    #[test]
    fn topology_from_detail_and_back_and_enter_opens_the_instance() {
        let mut app = demo_app(10.0);
        key(&mut app, KeyCode::Char('s')); // by name: row 0 is users-01
        key(&mut app, KeyCode::Enter);
        key(&mut app, KeyCode::Char('G'));
        assert_eq!((app.view, app.detail_selected), (View::Detail(0), 2));
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.view, View::Topology(Some(0)));
        assert_eq!(app.topology_cursor_target(), Some((0, 2)), "the cursor stays on the same server");
        key(&mut app, KeyCode::Char('g'));
        key(&mut app, KeyCode::Enter);
        assert_eq!((app.view, app.detail_selected), (View::Detail(0), 0));
        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.view, View::Detail(0));
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.view, View::Topology(None));
        assert_eq!(app.topology_targets().len(), app.fleet.instance_count());
        key(&mut app, KeyCode::End);
        assert_eq!(app.topo_selected, app.fleet.instance_count() - 1);
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.view, View::Overview);
    }

    #[test]
    fn a_promotion_from_this_session_moves_the_roles_and_the_pollers_slots_follow() {
        use crate::fleet::Role;
        use crate::fleet::status::Sample;
        use crate::ui::action::ActionMsg;
        // As the event loop delivers messages: poll results through the poller's slot map.
        let deliver = super::super::deliver;
        let mut slots = crate::poll::SlotMap::default();
        let mut app = demo_app(10.0);
        let shard = app.fleet.shards[0].name.clone();
        let old = app.fleet.shards[0].instances[0].addr.clone();
        let new = app.fleet.shards[0].instances[1].addr.clone();
        let promoted = ActionMsg::Promoted { shard: shard.clone(), new_master: new.clone() };
        // What the model asks of the poller: the two servers' results swap places.
        let swap = demo_app(10.0).update(Message::Action(promoted.clone()));
        assert_eq!(swap, vec![Effect::SwapMaster { shard: 0, instance: 1 }]);
        deliver(&mut app, &mut slots, Message::Action(promoted));
        let sh = &app.fleet.shards[0];
        assert_eq!((sh.master().addr.clone(), sh.master().role), (new.clone(), Role::Master));
        assert_eq!((sh.instances[1].addr.clone(), sh.instances[1].role), (old.clone(), Role::Replica));
        assert_eq!(app.fleet.index.get(&new), Some(&(0, 0)));
        assert_eq!(app.fleet.index.get(&old), Some(&(0, 1)));
        // The poller keeps probing the new master in its old slot (0, 1): the answer lands on the master.
        let sample =
            |at| Sample { at, elapsed: Duration::from_millis(1), result: SimFleet::default().status_at(0, 1, 15.0) };
        let at = app.now + chrono::Duration::seconds(5);
        deliver(
            &mut app,
            &mut slots,
            Message::Sample(Update { slot: Slot { shard: 0, instance: 1 }, sample: sample(at) }),
        );
        assert_eq!(app.fleet.shards[0].instances[0].last_probe, Some(at));
        assert_ne!(app.fleet.shards[0].instances[1].last_probe, Some(at));
        // Promoting back puts every slot where it was.
        deliver(&mut app, &mut slots, Message::Action(ActionMsg::Promoted { shard, new_master: old.clone() }));
        assert_eq!(app.fleet.shards[0].master().addr, old);
        let at = at + chrono::Duration::seconds(1);
        deliver(
            &mut app,
            &mut slots,
            Message::Sample(Update { slot: Slot { shard: 0, instance: 1 }, sample: sample(at) }),
        );
        assert_eq!(app.fleet.shards[0].instances[1].last_probe, Some(at));
        // An unknown shard or server changes nothing.
        deliver(
            &mut app,
            &mut slots,
            Message::Action(ActionMsg::Promoted { shard: "nope".into(), new_master: new.clone() }),
        );
        let shard = app.fleet.shards[0].name.clone();
        let elsewhere = ActionMsg::Promoted { shard, new_master: Addr::new("elsewhere", 3306) };
        deliver(&mut app, &mut slots, Message::Action(elsewhere));
        assert_eq!(app.fleet.shards[0].master().addr, old);
    }

    #[test]
    fn discovered_servers_are_handed_to_the_poller_and_logged() {
        let sim = SimFleet::default();
        let shard = crate::fleet::Shard::new("s1", sim.addr(0, 0), [], None);
        let mut app = App::new(Fleet::new(vec![shard], Limits::default()), Theme::plain(), "t", Duration::from_secs(1));
        let mut status = sim.status_at(0, 0, 1.0).expect("master up");
        status.topo.discovery = Some(crate::fleet::status::Discovery {
            replica_hosts: Some(vec![crate::fleet::status::ReplicaHost { server_id: 101, addr: Some(sim.addr(0, 1)) }]),
            dump_hosts: vec![sim.addr(0, 1).host],
        });
        let sample =
            crate::fleet::status::Sample { at: Utc::now(), elapsed: Duration::from_millis(1), result: Ok(status) };
        let effects = app.update(Message::Sample(Update { slot: Slot { shard: 0, instance: 0 }, sample }));
        let mut got = Vec::new();
        let mut events = Vec::new();
        for e in effects {
            match e {
                Effect::AddInstances(found) => got.extend(found),
                Effect::Events(e) => events.extend(e),
                _ => {}
            }
        }
        assert_eq!(got, vec![(Slot { shard: 0, instance: 1 }, sim.addr(0, 1))]);
        assert!(
            events.iter().any(|e| e.message == "discovered db-users-01b:3306 (replica list of db-users-01a:3306)"),
            "{events:?}"
        );
        assert_eq!(app.fleet.shards[0].instances.len(), 2);
    }

    #[test]
    fn tick_marks_dirty_only_when_the_second_changes() {
        let mut app = demo_app(10.0);
        app.dirty = false;
        let now = app.now;
        app.update(Message::Tick(now));
        assert!(!app.dirty);
        app.update(Message::Tick(now + chrono::Duration::seconds(1)));
        assert!(app.dirty);
    }
}
