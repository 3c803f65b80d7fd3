//! The terminal UI: state (`app`), drawing (`views`), and the loop that ties
//! them to the terminal, the poller and the clock.

pub mod app;
pub mod keys;
pub mod theme;
pub mod views;

use std::io;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use log::{error, info, warn};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::fleet::{Event, Health};
use crate::poll::Update;
use app::{App, Message};

/// Log a fleet event to the events pane.
pub fn log_event(e: &Event) {
    match e.severity {
        Health::Critical => error!(target: "fleet", "{}: {}", e.shard, e.message),
        Health::Warning => warn!(target: "fleet", "{}: {}", e.shard, e.message),
        _ => info!(target: "fleet", "{}: {}", e.shard, e.message),
    }
}

/// Run the TUI until the user quits or a signal arrives. The terminal is
/// restored on every way out, panics included (ratatui's panic hook).
/// `side` carries everything besides probe samples (feed rounds, metrics
/// polls); once all its senders are gone it is simply never ready again.
pub async fn run(
    mut app: App,
    mut updates: mpsc::Receiver<Update>,
    mut side: mpsc::Receiver<Message>,
    fps: u32,
) -> io::Result<()> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return Err(io::Error::other("stdout is not a terminal: the TUI needs one (for scripts, use `shardtop snapshot`)"));
    }
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Half-initialised (raw mode on, no alternate screen): undo what was done.
            let _ = ratatui::try_restore();
            return Err(e);
        }
    };
    let result = event_loop(&mut terminal, &mut app, &mut updates, &mut side, fps).await;
    ratatui::try_restore()?;
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    updates: &mut mpsc::Receiver<Update>,
    side: &mut mpsc::Receiver<Message>,
    fps: u32,
) -> io::Result<()> {
    let mut side_open = true;
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut term_events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_millis(250));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // Frames are capped: a burst of poll results costs one redraw, not hundreds.
    let frame_gap = Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 60)));
    let mut last_draw = Instant::now() - frame_gap;
    loop {
        if app.dirty && last_draw.elapsed() >= frame_gap {
            tui_logger::move_events();
            let mut rows = 0;
            terminal.draw(|f| rows = views::draw(app, f))?;
            app.page_rows = rows;
            app.dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = last_draw + frame_gap;
        tokio::select! {
            ev = term_events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => { app.update(Message::Key(k)); }
                Some(Ok(TermEvent::Resize(..))) => { app.update(Message::Resize); }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            u = updates.recv() => {
                let Some(u) = u else { return Ok(()) };
                for e in app.update(Message::Sample(u)) { log_event(&e); }
                // Take whatever else already arrived: one redraw for the lot.
                while let Ok(u) = updates.try_recv() {
                    for e in app.update(Message::Sample(u)) { log_event(&e); }
                }
            }
            m = side.recv(), if side_open => match m {
                Some(m) => { for e in app.update(m) { log_event(&e); } }
                None => side_open = false,
            },
            _ = clock.tick() => { app.update(Message::Tick(chrono::Utc::now())); }
            _ = tokio::time::sleep_until(next_frame), if app.dirty => {}
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
        if app.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::app::tests::demo_app;
    use super::app::{App, View};
    use super::views;
    use crate::sim::script;

    fn render(app: &App, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        term.draw(|f| {
            views::draw(app, f);
        })
        .expect("draw");
        let buf = term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    #[test]
    fn overview_healthy_80x24() {
        let mut app = demo_app(8.0);
        app.show_events = false;
        insta::assert_snapshot!(render(&app, 80, 24));
    }

    #[test]
    fn overview_incidents_80x24() {
        let app = demo_app(60.0);
        insta::assert_snapshot!(render(&app, 80, 24));
    }

    #[test]
    fn overview_incidents_200x60() {
        let app = demo_app(60.0);
        insta::assert_snapshot!(render(&app, 200, 60));
    }

    #[test]
    fn detail_broken_replica_80x24() {
        let mut app = demo_app(40.0);
        app.view = View::Detail(script::BROKEN_SHARD);
        app.detail_selected = 2;
        app.show_events = false;
        insta::assert_snapshot!(render(&app, 80, 24));
    }

    #[test]
    fn detail_dead_master_200x60() {
        let mut app = demo_app(60.0);
        app.view = View::Detail(script::DEAD_SHARD);
        insta::assert_snapshot!(render(&app, 200, 60));
    }

    #[test]
    fn help_overlay_lists_every_binding() {
        let mut app = demo_app(8.0);
        app.show_help = true;
        let screen = render(&app, 80, 24);
        for b in super::keys::BINDINGS {
            assert!(screen.contains(b.desc), "help lacks {:?}\n{screen}", b.desc);
        }
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn filter_prompt_and_empty_result() {
        let mut app = demo_app(8.0);
        app.filter = "nosuch".into();
        app.editing_filter = true;
        let screen = render(&app, 80, 24);
        assert!(screen.contains("no shard matches the filter"), "{screen}");
        assert!(screen.contains("filter: nosuch"), "{screen}");
    }

    #[test]
    fn detail_charts_show_lag_qps_and_feed_with_thresholds() {
        let mut app = demo_app(90.0);
        app.view = View::Detail(script::SLOW_FEED_SHARD);
        app.show_events = false;
        let screen = render(&app, 200, 60);
        for want in [" lag db-users-04", " QPS ", " feed p99 (direct) ", "warn 10s", "warn 50ms", "now"] {
            assert!(screen.contains(want), "no {want:?} in\n{screen}");
        }
        // The slow spell is over the warning line: drawn above it, and named in the problems.
        assert!(screen.contains("feed p99 ") && screen.contains("over 50ms"), "{screen}");
        // Narrow but tall: the charts stack.
        let screen = render(&app, 100, 60);
        let rows = |s: &str, what: &str| s.lines().position(|l| l.contains(what));
        assert!(rows(&screen, " QPS ─") > rows(&screen, " lag db"), "{screen}");
        assert!(rows(&screen, " feed p99 (direct) ─") > rows(&screen, " QPS ─"), "{screen}");
    }

    #[test]
    fn overview_shows_feed_p99_and_the_fan_out() {
        let app = demo_app(90.0);
        let screen = render(&app, 80, 24);
        assert!(screen.contains("P99"), "{screen}");
        let row = screen.lines().find(|l| l.contains("users-04")).unwrap_or_default();
        assert!(row.contains("ms") && row.contains("WARN"), "the slow feed's shard: {row}");
        assert!(screen.lines().nth(1).is_some_and(|l| l.contains("feed p99 ")), "fan-out in the title:\n{screen}");
    }

    #[test]
    fn a_metrics_source_down_is_shown_and_external_figures_name_their_source() {
        use crate::fleet::Source;
        use crate::fleet::external::{Figure, MetricsUpdate, SourceState};
        let mut app = demo_app(10.0);
        app.fleet.sources = vec![SourceState::new("prom-eu", Source::Prometheus)];
        let update = |values, error: Option<&str>| MetricsUpdate {
            source: 0,
            kind: Source::Prometheus,
            at: app.now,
            values,
            error: error.map(Into::into),
            notes: Vec::new(),
            backfill: Vec::new(),
        };
        let ok = update(vec![(0, Figure::Qps, 4321.0), (0, Figure::FeedP99, 12.0)], None);
        let down = update(vec![], Some("qps: no answer within the timeout"));
        app.update(super::app::Message::Metrics(ok));
        app.view = View::Detail(0);
        let screen = render(&app, 120, 40);
        assert!(screen.contains("prometheus qps 4.3k") && screen.contains("prometheus feed p99 12ms"), "{screen}");
        app.view = View::Overview;
        assert!(!render(&app, 80, 24).contains("down"));
        app.update(super::app::Message::Metrics(down));
        let screen = render(&app, 80, 24);
        assert!(screen.lines().nth(1).is_some_and(|l| l.contains("▼ prom-eu down")), "{screen}");
    }

    #[test]
    fn tiny_terminal_does_not_panic() {
        let mut app = demo_app(60.0);
        for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10)] {
            render(&app, w, h);
            app.show_help = true;
            render(&app, w, h);
            app.view = View::Detail(0);
            render(&app, w, h);
            app.show_help = false;
        }
    }
}
