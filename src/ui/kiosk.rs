//! Kiosk mode: a wall display nobody touches. Read-only, it rotates through
//! the views on its own, and shows a large fleet-health banner with the clock
//! and the age of the data.

use chrono::{DateTime, Utc};

use super::app::{App, View};
use crate::config::{KioskConfig, KioskView};
use crate::fleet::Health;

#[derive(Clone, Debug, PartialEq)]
pub struct Kiosk {
    /// How long each view stays up unless the playlist says otherwise.
    pub rotate: chrono::Duration,
    /// When the current view went up.
    pub since: DateTime<Utc>,
    /// `[kiosk] views`: what to show, in order, and for how long.
    pub playlist: Vec<(KioskView, Option<std::time::Duration>)>,
    /// A shard that turned critical holds the first view up until it clears (at most [`MAX_HOLD`]).
    pub held_for: Option<usize>,
    /// When the hold began.
    pub held_since: Option<DateTime<Utc>>,
    /// After a hold that ran out, no new one before this: the playlist goes round once first.
    pub quiet_until: Option<DateTime<Utc>>,
    /// The shards critical at the last tick (`None` before the first: what is already broken
    /// when the wall starts pre-empts nothing).
    pub critical: Option<Vec<usize>>,
}

impl Kiosk {
    pub fn new(rotate: std::time::Duration, now: DateTime<Utc>) -> Kiosk {
        let rotate = chrono::Duration::from_std(rotate).unwrap_or(chrono::Duration::seconds(15));
        Kiosk {
            rotate: rotate.max(chrono::Duration::seconds(1)),
            since: now,
            playlist: KioskConfig::default().views,
            held_for: None,
            held_since: None,
            quiet_until: None,
            critical: None,
        }
    }

    /// How long `view` stays up: its playlist entry's duration, else `rotate`.
    pub fn dwell(&self, view: View) -> chrono::Duration {
        let kind = match view {
            View::Wall => KioskView::Wall,
            View::Overview => KioskView::Overview,
            View::Topology(_) => KioskView::Topology,
            View::Detail(_) => KioskView::Unhealthy,
        };
        self.playlist
            .iter()
            .find(|(v, _)| *v == kind)
            .and_then(|(_, d)| d.and_then(|d| chrono::Duration::from_std(d).ok()))
            .unwrap_or(self.rotate)
            .max(chrono::Duration::seconds(1))
    }

    /// Seconds until the next view, for the footer.
    pub fn remaining_for(&self, view: View, now: DateTime<Utc>) -> i64 {
        (self.since + self.dwell(view) - now).num_seconds().max(0)
    }

    /// Seconds until the next view with the default duration (kept for callers without a view).
    pub fn remaining(&self, now: DateTime<Utc>) -> i64 {
        (self.since + self.rotate - now).num_seconds().max(0)
    }
}

/// Use the config's playlist; the kiosk starts on its first view.
pub fn set_playlist(app: &mut App, views: &[(KioskView, Option<std::time::Duration>)]) {
    if views.is_empty() {
        return;
    }
    if let Some(k) = &mut app.kiosk {
        k.playlist = views.to_vec();
    } else {
        return;
    }
    if let Some(first) = rotation(app).first().copied() {
        app.view = first;
    }
}

/// At most this many shard pages in a rotation: with forty shards down the
/// overview (and its summary of them all) must still come round every few
/// minutes, not every ten.
pub const MAX_SHARD_PAGES: usize = 8;

/// The views kiosk mode rotates through, in order: the wall, the overview, the topology, then each
/// unhealthy shard's detail, worst first, up to [`MAX_SHARD_PAGES`]. New
/// fleet-wide views (topology, charts) go right after the overview.
pub fn rotation(app: &App) -> Vec<View> {
    let default = KioskConfig::default().views;
    let playlist = app.kiosk.as_ref().map_or(&default, |k| &k.playlist);
    let mut views = Vec::new();
    for (v, _) in playlist {
        match v {
            KioskView::Wall => views.push(View::Wall),
            KioskView::Overview => views.push(View::Overview),
            KioskView::Topology => views.push(View::Topology(None)),
            KioskView::Unhealthy => {
                let mut bad: Vec<usize> =
                    (0..app.fleet.shards.len()).filter(|&i| app.fleet.shards[i].health > Health::Ok).collect();
                bad.sort_by(|&a, &b| {
                    let (x, y) = (&app.fleet.shards[a], &app.fleet.shards[b]);
                    y.health.cmp(&x.health).then_with(|| super::rows::natural_cmp(&x.name, &y.name))
                });
                views.extend(bad.into_iter().take(MAX_SHARD_PAGES).map(View::Detail));
            }
        }
    }
    if views.is_empty() {
        // Only "unhealthy" and nothing is: the overview says so.
        views.push(View::Overview);
    }
    views
}

/// The longest a critical shard holds the first view. On a big fleet some shard is nearly always
/// critical, or turning so: without a limit the rest of the playlist would never come round.
pub const MAX_HOLD: chrono::Duration = chrono::Duration::minutes(5);

/// A shard that turned critical since the last tick pre-empts the rotation: the first view
/// (the wall, by default) goes up and stays until that shard is no longer critical, or for
/// [`MAX_HOLD`]; a hold that ran out lets the playlist go round once before the next.
/// Returns whether the view changed.
fn preempt(app: &mut App, now: DateTime<Utc>) -> Option<bool> {
    let critical: Vec<usize> =
        (0..app.fleet.shards.len()).filter(|&i| app.fleet.shards[i].health == Health::Critical).collect();
    let views = rotation(app);
    let first = views.first().copied().unwrap_or(View::Overview);
    let round =
        app.kiosk.as_ref().map(|k| views.iter().map(|v| k.dwell(*v)).fold(chrono::Duration::zero(), |a, b| a + b))?;
    let k = app.kiosk.as_mut()?;
    let before = k.critical.replace(critical.clone());
    if let Some(s) = k.held_for {
        let ran_out = k.held_since.is_some_and(|t| now - t >= MAX_HOLD);
        if critical.contains(&s) && !ran_out {
            return Some(false); // held: no rotation
        }
        k.held_for = None;
        k.held_since = None;
        if ran_out {
            k.quiet_until = Some(now + round);
        }
        k.since = now - k.rotate - chrono::Duration::seconds(1); // move on at once
        return None;
    }
    let before = before?;
    if k.quiet_until.is_some_and(|q| now < q) {
        return None;
    }
    let new = critical.iter().copied().find(|s| !before.contains(s))?;
    k.held_for = Some(new);
    k.held_since = Some(now);
    k.since = now;
    let changed = app.view != first;
    app.view = first;
    Some(changed)
}

/// The view after `current` in the rotation. A view that dropped out of the
/// rotation (its shard recovered) continues from the start.
pub fn next_view(app: &App, current: View) -> View {
    let views = rotation(app);
    match views.iter().position(|v| *v == current) {
        Some(i) => views[(i + 1) % views.len()],
        None => views[0],
    }
}

/// On each clock tick: move on when the current view has been up long enough.
/// Returns whether the view changed.
pub fn tick(app: &mut App, now: DateTime<Utc>) -> bool {
    if let Some(changed) = preempt(app, now) {
        return changed;
    }
    let Some(k) = &app.kiosk else { return false };
    // A shard that recovered leaves the rotation at once: the wall shows problems, not old news.
    let dropped_out = !rotation(app).contains(&app.view);
    if now - k.since < k.dwell(app.view) && !dropped_out {
        return false;
    }
    let next = next_view(app, app.view);
    app.view = next;
    app.selected = 0;
    app.follow = None;
    app.overview_scroll = 0;
    (app.topo_selected, app.topo_follow, app.topo_scroll) = (0, None, None);
    // On a shard's page, the instance with the worst problem, so its details are what shows.
    app.detail_selected = match next {
        View::Detail(i) => app.fleet.shards.get(i).map_or(0, |s| {
            let worst = s.instances.iter().map(|x| x.health).max();
            s.instances.iter().position(|x| Some(x.health) == worst).unwrap_or(0)
        }),
        View::Overview | View::Topology(_) | View::Wall => 0,
    };
    if let Some(k) = &mut app.kiosk {
        k.since = now;
    }
    true
}

/// Seconds since the newest poll result arrived from any server, or the newest answer from a
/// metrics source or a remote collector (`--connect`): when the poller, the sources or the
/// network are gone, this grows and the screen says so.
pub fn data_age(app: &App) -> Option<f64> {
    let probed = app.fleet.shards.iter().flat_map(|s| s.instances.iter()).filter_map(|i| i.last_probe).max();
    let answered = app.fleet.sources.iter().filter_map(|s| s.last_ok).max();
    let newest = probed.max(answered)?;
    Some(((app.now - newest).num_milliseconds().max(0) as f64) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::script;
    use crate::ui::app::tests::demo_app;

    #[test]
    fn rotation_is_wall_overview_topology_then_unhealthy_shards_worst_first() {
        let app = demo_app(60.0);
        let views = rotation(&app);
        assert_eq!(views[..3], [View::Wall, View::Overview, View::Topology(None)]);
        let shards: Vec<usize> =
            views[3..].iter().map(|v| if let View::Detail(i) = v { *i } else { usize::MAX }).collect();
        assert!(shards.contains(&script::DEAD_SHARD) && shards.contains(&script::BROKEN_SHARD), "{shards:?}");
        assert!(shards.iter().all(|&i| app.fleet.shards[i].health > Health::Ok));
        let healths: Vec<Health> = shards.iter().map(|&i| app.fleet.shards[i].health).collect();
        assert!(healths.windows(2).all(|w| w[0] >= w[1]), "{healths:?}");
        // A healthy fleet shows the wall, the overview and the topology only.
        assert_eq!(rotation(&demo_app(8.0)), vec![View::Wall, View::Overview, View::Topology(None)]);
    }

    #[test]
    fn tick_rotates_after_the_interval_and_wraps() {
        let mut app = demo_app(60.0);
        let t0 = app.now;
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(10), t0));
        app.view = View::Wall;
        let views = rotation(&app);
        assert!(views.len() >= 4);
        assert!(!tick(&mut app, t0 + chrono::Duration::seconds(9)));
        assert_eq!(app.view, View::Wall);
        let mut t = t0;
        for expected in views.iter().skip(1).chain(std::iter::once(&View::Wall)) {
            t += chrono::Duration::seconds(10);
            assert!(tick(&mut app, t));
            assert_eq!(app.view, *expected);
            if let View::Detail(i) = app.view {
                let shard = &app.fleet.shards[i];
                assert_eq!(
                    shard.instances[app.detail_selected].health, shard.health,
                    "{} shows its worst instance",
                    shard.name
                );
            }
        }
    }

    #[test]
    fn a_recovered_shard_drops_out_at_once_and_rotation_restarts() {
        let mut app = demo_app(60.0);
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
        app.view = View::Detail(0); // shard 0 is healthy: not in the rotation
        assert_eq!(next_view(&app, app.view), View::Wall);
        let soon = app.now + chrono::Duration::seconds(1);
        assert!(tick(&mut app, soon), "long before the interval is up");
        assert_eq!(app.view, View::Wall);
    }

    #[test]
    fn a_large_outage_shows_the_worst_shards_and_comes_back_to_the_overview_soon() {
        let app = crate::ui::app::tests::scale_app(60.0);
        let views = rotation(&app);
        assert_eq!(views.len(), 3 + MAX_SHARD_PAGES, "{views:?}");
        for v in &views[3..] {
            let View::Detail(i) = *v else { panic!("{v:?}") };
            assert_eq!(app.fleet.shards[i].health, Health::Critical, "{}", app.fleet.shards[i].name);
        }
    }

    #[test]
    fn the_playlist_sets_the_order_and_each_views_time() {
        let mut app = demo_app(8.0);
        let t0 = app.now;
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(10), t0));
        set_playlist(
            &mut app,
            &[(KioskView::Overview, None), (KioskView::Wall, Some(std::time::Duration::from_secs(60)))],
        );
        assert_eq!(rotation(&app), vec![View::Overview, View::Wall]);
        assert_eq!(app.view, View::Overview);
        assert!(tick(&mut app, t0 + chrono::Duration::seconds(10)));
        assert_eq!(app.view, View::Wall);
        assert!(!tick(&mut app, t0 + chrono::Duration::seconds(69)), "the wall stays a minute");
        assert!(tick(&mut app, t0 + chrono::Duration::seconds(70)));
        assert_eq!(app.view, View::Overview);
        // Only the unhealthy pages, and none is: the overview.
        set_playlist(&mut app, &[(KioskView::Unhealthy, None)]);
        assert_eq!(rotation(&app), vec![View::Overview]);
    }

    #[test]
    fn a_shard_turning_critical_holds_the_first_view_until_it_clears() {
        let mut app = demo_app(60.0);
        let t0 = app.now;
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(10), t0));
        app.view = View::Topology(None);
        // What is broken when the wall starts pre-empts nothing.
        assert!(!tick(&mut app, t0 + chrono::Duration::seconds(1)));
        assert_eq!(app.kiosk.as_ref().and_then(|k| k.held_for), None);
        // Now the dead shard is new.
        if let Some(k) = &mut app.kiosk {
            k.critical = Some(Vec::new());
        }
        assert!(tick(&mut app, t0 + chrono::Duration::seconds(2)));
        assert_eq!(app.view, View::Wall);
        let held = app.kiosk.as_ref().and_then(|k| k.held_for).expect("held");
        assert_eq!(app.fleet.shards[held].health, Health::Critical);
        assert!(!tick(&mut app, t0 + chrono::Duration::seconds(300)), "held while critical");
        assert_eq!(app.view, View::Wall);
        let screen = crate::ui::terminal_tests::text(&{
            let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).expect("terminal");
            term.draw(|f| {
                crate::ui::views::draw(&app, f);
            })
            .expect("draw");
            term.backend().buffer().clone()
        });
        assert!(screen.contains(&format!("held while {} is critical", app.fleet.shards[held].name)), "{screen}");
        // It clears: the rotation moves on at once.
        app.fleet.shards[held].health = Health::Ok;
        assert!(tick(&mut app, t0 + chrono::Duration::seconds(301)));
        assert_eq!(app.kiosk.as_ref().and_then(|k| k.held_for), None);
        assert_eq!(app.view, View::Overview);
    }

    #[test]
    fn a_hold_lasts_at_most_max_hold_then_the_playlist_goes_round_once() {
        let mut app = demo_app(60.0);
        let t0 = app.now;
        let sec = chrono::Duration::seconds;
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(10), t0));
        app.view = View::Overview;
        if let Some(k) = &mut app.kiosk {
            k.critical = Some(Vec::new());
        }
        assert!(tick(&mut app, t0 + sec(1)));
        assert_eq!(app.view, View::Wall);
        let held = app.kiosk.as_ref().and_then(|k| k.held_for).expect("held");
        assert!(!tick(&mut app, t0 + sec(1) + MAX_HOLD - sec(1)), "still held");
        // Still critical, but the hold ran out: the playlist moves on, and goes round.
        assert!(tick(&mut app, t0 + sec(1) + MAX_HOLD));
        assert_eq!(app.fleet.shards[held].health, Health::Critical);
        assert_eq!(app.view, View::Overview);
        // Another shard turning critical now does not pre-empt the round.
        if let Some(k) = &mut app.kiosk {
            k.critical = Some(Vec::new());
        }
        let later = t0 + sec(3) + MAX_HOLD;
        tick(&mut app, later);
        assert_eq!(app.kiosk.as_ref().and_then(|k| k.held_for), None);
        assert_ne!(app.view, View::Wall);
        // After the round it may again.
        let round: i64 = rotation(&app).len() as i64 * 10;
        if let Some(k) = &mut app.kiosk {
            k.critical = Some(Vec::new());
        }
        tick(&mut app, later + sec(round + 1));
        assert!(app.kiosk.as_ref().and_then(|k| k.held_for).is_some());
        assert_eq!(app.view, View::Wall);
    }

    #[test]
    fn without_kiosk_tick_does_nothing() {
        let mut app = demo_app(60.0);
        let t = app.now + chrono::Duration::hours(1);
        assert!(!tick(&mut app, t));
        assert_eq!(app.view, View::Overview);
    }

    #[test]
    fn data_age_follows_the_newest_sample() {
        let mut app = demo_app(60.0);
        assert_eq!(data_age(&app), Some(0.0));
        app.now += chrono::Duration::seconds(42);
        assert_eq!(data_age(&app), Some(42.0));
    }

    #[test]
    fn a_remote_collector_or_metrics_source_that_stops_answering_ages_the_data() {
        use crate::fleet::external::{MetricsUpdate, SourceState};
        use crate::fleet::{Fleet, Limits, Shard, Source};
        let shards = vec![Shard::new("s1", "db1:3306".parse().expect("addr"), [], None)];
        let mut fleet = Fleet::new(shards, Limits::default());
        fleet.sources = vec![SourceState::new("collector:9105", Source::Collector)];
        let mut app =
            App::new(fleet.metrics_only(), crate::ui::theme::Theme::plain(), "c", std::time::Duration::from_secs(5));
        let t0 = app.now;
        assert_eq!(data_age(&app), None, "nothing heard yet");
        let update = |at, error: Option<&str>| MetricsUpdate {
            source: 0,
            kind: Source::Collector,
            at,
            values: vec![(0, crate::fleet::external::Figure::Qps, 10.0)],
            error: error.map(str::to_string),
            notes: Vec::new(),
            backfill: Vec::new(),
            remote: Vec::new(),
        };
        app.update(crate::ui::app::Message::Metrics(update(t0, None)));
        assert_eq!(data_age(&app), Some(0.0));
        // Silent, then lost: the age grows from the last answer, past the stale limit.
        app.update(crate::ui::app::Message::Metrics(update(t0 + chrono::Duration::seconds(15), Some("silent"))));
        app.now = t0 + chrono::Duration::seconds(20);
        assert_eq!(data_age(&app), Some(20.0));
        assert!(data_age(&app).is_some_and(|a| a > app.stale_after()));
    }
}
