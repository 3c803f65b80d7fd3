//! A remote viewer's collector lists other shards now (restarted with another config): the model
//! takes the new list (`Fleet::relayout`), and everything here that names a shard by its index —
//! the cursor, the view, the topology's cursor and scroll, the open dialog, the wall's slowest
//! shards, the kiosk's hold — follows its shard by name, or lets go when the shard is gone. One
//! event says what changed. Part of the update (`App`), in its own file.

use super::{App, View};
use crate::fleet::relayout::LayoutDiff;
use crate::fleet::{Addr, Event, Health};
use crate::ui::action::{ActionKind, Phase};

impl App {
    /// Lay the fleet out as `layout` (the shards of the collector's `full` frame, in its order).
    pub(super) fn relayout(&mut self, layout: &[(String, Addr)]) -> Vec<Event> {
        let diff = LayoutDiff::between(&self.fleet.layout(), layout);
        // The frames that follow address shards in the collector's order: take it even when
        // nothing else changed.
        let map = self.fleet.relayout(layout);
        let to = |s: usize| map.get(s).copied().flatten();
        self.follow = self.follow.and_then(to);
        self.view = match self.view {
            View::Detail(s) => to(s).map_or(View::Overview, View::Detail),
            View::Topology(Some(s)) => to(s).map_or(View::Overview, |n| View::Topology(Some(n))),
            v => v,
        };
        if !matches!(self.view, View::Detail(_)) {
            self.detail_selected = 0;
        }
        self.topo_follow = self.topo_follow.and_then(|(s, i)| Some((to(s)?, i)));
        self.topo_scroll = self.topo_scroll.and_then(|(s, l)| Some((to(s)?, l)));
        self.wall.slowest = self.wall.slowest.iter().filter_map(|&s| to(s)).collect();
        if let Some(k) = self.kiosk.as_mut() {
            k.held_for = k.held_for.and_then(to);
            k.critical = k.critical.take().map(|c| c.into_iter().filter_map(to).collect());
        }
        if let Some(d) = self.dialog.as_mut() {
            let s = shard_of(&mut d.kind);
            match to(*s) {
                Some(n) => *s = n,
                // Its run goes on (on the collector, by the shard's name) to its end; the model has
                // no shard left to hold.
                None if d.phase == Phase::Running => *s = usize::MAX,
                None => self.dialog = None,
            }
        }
        self.dirty = true;
        if diff.is_empty() {
            return Vec::new();
        }
        let severity = if diff.removed.is_empty() && diff.moved.is_empty() { Health::Ok } else { Health::Warning };
        let collector = self.fleet.sources.first().map_or_else(|| "collector".to_string(), |s| s.name.clone());
        vec![Event { shard: collector, severity, message: diff.describe(layout.len()), rule: "" }]
    }
}

/// The shard index an action names.
fn shard_of(kind: &mut ActionKind) -> &mut usize {
    match kind {
        ActionKind::Promote { shard, .. }
        | ActionKind::Failover { shard, .. }
        | ActionKind::Fence { shard, .. }
        | ActionKind::Rejoin { shard, .. }
        | ActionKind::Checksum { shard } => shard,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::fleet::external::{Figure, MetricsUpdate, SourceState};
    use crate::fleet::relayout::Relayout;
    use crate::fleet::{Fleet, Limits, Shard, Source};
    use crate::ui::app::{Effect, Message};
    use crate::ui::theme::Theme;

    fn master(name: &str) -> Addr {
        Addr::new(format!("{name}-m"), 3306)
    }

    fn layout(names: &[&str]) -> Vec<(String, Addr)> {
        names.iter().map(|n| (n.to_string(), master(n))).collect()
    }

    /// Every shard's health as a collector frame gives it, in `names`' order.
    fn figures(app: &mut App, names: &[&str], health: impl Fn(&str) -> f64) {
        let values =
            names.iter().enumerate().flat_map(|(k, n)| [(k, Figure::Health, health(n)), (k, Figure::Qps, 100.0)]);
        app.update(Message::Metrics(MetricsUpdate {
            source: 0,
            kind: Source::Collector,
            at: app.now,
            values: values.collect(),
            error: None,
            notes: Vec::new(),
            backfill: Vec::new(),
            remote: Vec::new(),
        }));
    }

    /// A viewer of collector `c:9105` watching s1–s3, s2 critical.
    fn viewer() -> App {
        let names = ["s1", "s2", "s3"];
        let shards = names.iter().map(|n| Shard::new(*n, master(n), [], None)).collect();
        let mut fleet = Fleet::new(shards, Limits::default());
        fleet.sources = vec![SourceState::new("c:9105", Source::Collector)];
        let mut app = App::new(fleet.metrics_only(), Theme::plain(), "c:9105", Duration::from_secs(5));
        app.clock_offset = chrono::FixedOffset::east_opt(0).unwrap_or(app.clock_offset);
        app.now = Utc.timestamp_opt(1_764_000_000, 0).single().unwrap_or_default();
        figures(&mut app, &names, |n| if n == "s2" { 2.0 } else { 0.0 });
        app
    }

    fn names(app: &App) -> Vec<String> {
        app.visible_shards().iter().map(|&s| app.fleet.shards[s].name.clone()).collect()
    }

    fn relayout(app: &mut App, names: &[&str]) -> Vec<Event> {
        app.update(Message::Relayout(Relayout { shards: layout(names) }))
            .into_iter()
            .flat_map(|e| match e {
                Effect::Events(e) => e,
                _ => Vec::new(),
            })
            .collect()
    }

    fn selected(app: &App) -> Option<String> {
        app.selected_shard_index().map(|s| app.fleet.shards[s].name.clone())
    }

    #[test]
    fn the_cursor_stays_on_its_shard_by_name_and_one_event_says_what_changed() {
        let mut app = viewer();
        assert_eq!(names(&app), ["s2", "s1", "s3"], "the critical one first");
        app.update(Message::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
        assert_eq!(selected(&app).as_deref(), Some("s1"));
        let events = relayout(&mut app, &["s4", "s1", "s2", "s5"]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].message, "the collector now watches 4 shards: +s4 +s5 −s3");
        assert_eq!((events[0].shard.as_str(), events[0].severity), ("c:9105", Health::Warning));
        assert_eq!(selected(&app).as_deref(), Some("s1"), "the cursor follows s1 to its new index");
        assert_eq!(app.fleet.shards[2].health, Health::Critical, "s2 keeps its figures");
        // The frames address shards in the new order.
        figures(&mut app, &["s4", "s1", "s2", "s5"], |n| if n == "s5" { 1.0 } else { 0.0 });
        assert_eq!(names(&app), ["s5", "s1", "s2", "s4"]);
        assert_eq!(selected(&app).as_deref(), Some("s1"));
        // The same shards again: nothing to say.
        assert!(relayout(&mut app, &["s4", "s1", "s2", "s5"]).is_empty());
    }

    #[test]
    fn a_detail_of_a_removed_shard_goes_back_to_the_overview_and_a_kept_one_follows() {
        let mut app = viewer();
        app.view = View::Detail(2);
        relayout(&mut app, &["s3", "s1"]);
        assert_eq!(app.view, View::Detail(0), "s3's detail, at s3's new index");
        app.view = View::Topology(Some(1));
        relayout(&mut app, &["s3"]);
        assert_eq!(app.view, View::Overview, "s1 is gone");
        app.follow = Some(0);
        relayout(&mut app, &["s9"]);
        assert_eq!(app.follow, None);
        assert_eq!(selected(&app).as_deref(), Some("s9"));
    }

    fn render(app: &App, w: u16, h: u16) -> String {
        crate::ui::terminal_tests::screen(app, w, h)
    }

    #[test]
    fn the_overview_after_a_relayout_80x24() {
        let mut app = viewer();
        relayout(&mut app, &["s1", "s2", "s4", "s5"]);
        figures(&mut app, &["s1", "s2", "s4", "s5"], |n| if n == "s2" { 2.0 } else { 0.0 });
        let screen = render(&app, 80, 24);
        for want in ["s1", "s2", "s4", "s5"] {
            assert!(screen.contains(want), "{want}:\n{screen}");
        }
        assert!(!screen.contains("s3 "), "s3 is gone:\n{screen}");
        insta::assert_snapshot!(screen);
    }
}
