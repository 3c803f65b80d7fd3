//! Kiosk mode: a wall display nobody touches. Read-only, it rotates through
//! the views on its own, and shows a large fleet-health banner with the clock
//! and the age of the data.

use chrono::{DateTime, Utc};

use super::app::{App, View};
use crate::fleet::Health;

#[derive(Clone, Debug, PartialEq)]
pub struct Kiosk {
    /// How long each view stays up.
    pub rotate: chrono::Duration,
    /// When the current view went up.
    pub since: DateTime<Utc>,
}

impl Kiosk {
    pub fn new(rotate: std::time::Duration, now: DateTime<Utc>) -> Kiosk {
        let rotate = chrono::Duration::from_std(rotate).unwrap_or(chrono::Duration::seconds(15));
        Kiosk { rotate: rotate.max(chrono::Duration::seconds(1)), since: now }
    }

    /// Seconds until the next view, for the footer.
    pub fn remaining(&self, now: DateTime<Utc>) -> i64 {
        (self.since + self.rotate - now).num_seconds().max(0)
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
    let mut views = vec![View::Wall, View::Overview, View::Topology(None)];
    let mut bad: Vec<usize> =
        (0..app.fleet.shards.len()).filter(|&i| app.fleet.shards[i].health > Health::Ok).collect();
    bad.sort_by(|&a, &b| {
        let (x, y) = (&app.fleet.shards[a], &app.fleet.shards[b]);
        y.health.cmp(&x.health).then_with(|| super::rows::natural_cmp(&x.name, &y.name))
    });
    views.extend(bad.into_iter().take(MAX_SHARD_PAGES).map(View::Detail));
    views
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
    let Some(k) = &app.kiosk else { return false };
    // A shard that recovered leaves the rotation at once: the wall shows problems, not old news.
    let dropped_out = !rotation(app).contains(&app.view);
    if now - k.since < k.rotate && !dropped_out {
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

/// Seconds since the newest poll result arrived from any server: when the
/// poller or the network is gone, this grows and the screen says so.
pub fn data_age(app: &App) -> Option<f64> {
    let newest = app.fleet.shards.iter().flat_map(|s| s.instances.iter()).filter_map(|i| i.last_probe).max()?;
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
}
