//! The terminal UI: state (`app`), drawing (`views`), and the loop that ties
//! them to the terminal, the poller and the clock.

pub mod action;
pub mod app;
pub mod color;
pub mod kiosk;
pub mod markers;
pub mod panels;
pub mod profile;
pub mod remote_action;
pub mod render;
pub mod replay;
pub mod replay_run;
pub mod rows;
pub mod storm;
pub mod summary;
pub mod tape;
pub mod term;
pub mod theme;
pub mod topo;
pub mod travel;
pub mod views;
pub mod wall;
pub mod yesterday;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod scale_tests;
#[cfg(test)]
mod terminal_tests;

use std::io;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use log::{error, info, warn};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::fleet::{Event, Health};
use crate::poll::{AddInstance, SlotMap};
use app::{ActionEffect, App, Effect, Message};

/// Log a fleet event to the events pane.
pub fn log_event(e: &Event) {
    match e.severity {
        Health::Critical => error!(target: "fleet", "{}: {}", e.shard, e.message),
        Health::Warning => warn!(target: "fleet", "{}: {}", e.shard, e.message),
        _ => info!(target: "fleet", "{}: {}", e.shard, e.message),
    }
}

/// Something outside the UI that follows the model (the alerts engine): told of the fleet on
/// every tick of the loop's clock, after the results that arrived were applied.
pub trait FleetObserver {
    fn observe(&mut self, fleet: &crate::fleet::Fleet, now: chrono::DateTime<chrono::Utc>);
}

/// What a TUI session is attached to besides its inbound messages; all optional (the demo and a
/// remote viewer have none of them).
#[derive(Default)]
pub struct Session<'a> {
    /// Starts the actions the dialog asks for.
    pub runner: Option<std::sync::Arc<dyn action::ActionRunner>>,
    /// Probes the servers discovery adds.
    pub poller: Option<Box<dyn AddInstance>>,
    /// Follows the model after every tick (alerts).
    pub observer: Option<&'a mut dyn FleetObserver>,
    /// Records what the session sees (`--record`).
    pub tape: tape::Tape,
}

/// Run the TUI until the user quits or a signal arrives. The terminal is
/// restored on every way out, panics included (ratatui's panic hook).
/// `inbound` carries everything that happens outside the terminal, as `Message`s: poll results,
/// feed rounds, metrics polls.
pub async fn run(
    mut app: App,
    mut inbound: mpsc::Receiver<Message>,
    profile: profile::Profile,
    mut session: Session<'_>,
) -> io::Result<()> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return Err(io::Error::other(
            "stdout is not a terminal: the TUI needs one (for scripts, use `shardtop snapshot`)",
        ));
    }
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Half-initialised (raw mode on, no alternate screen): undo what was done.
            let _ = ratatui::try_restore();
            return Err(e);
        }
    };
    // An explicit --color depth beats NO_COLOR, which crossterm would otherwise apply on its own.
    crossterm::style::force_color_output(app.color_depth != color::ColorDepth::None);
    term::install_panic_hook(profile.mouse);
    if profile.mouse {
        // Best effort: a terminal that refuses just has no mouse.
        let _ = crossterm::execute!(io::stdout(), crossterm::event::EnableMouseCapture);
    }
    // The poller is dropped (its probes stopped) only after the terminal is restored.
    let result = event_loop(&mut terminal, &mut app, &mut inbound, &profile, &mut session).await;
    term::leave(profile.mouse)?;
    if let Err(e) = session.tape.flush() {
        eprintln!("shardtop: the recording's last block was not saved: {e}");
    }
    result
}

/// When a message happened, for the events it raises: a sample's or a round's own time.
pub fn message_time(m: &Message) -> chrono::DateTime<chrono::Utc> {
    match m {
        Message::Sample(u) => u.sample.at,
        Message::Feed(r) => r.at,
        Message::Metrics(u) => u.at,
        Message::Tick(t) => *t,
        _ => chrono::Utc::now(),
    }
}

/// `deliver`, with the recording told first of the message and then of the events it raised.
pub fn deliver_recorded(app: &mut App, slots: &mut SlotMap, tape: &mut tape::Tape, msg: Message) -> Vec<Effect> {
    if !tape.is_on() {
        return deliver(app, slots, msg);
    }
    let at = message_time(&msg);
    tape.message(&msg, at);
    let effects = deliver(app, slots, msg);
    for e in &effects {
        if let Effect::Events(events) = e {
            tape.events(at, events);
        }
    }
    effects
}

/// One message into the model, as the loop delivers it: a poll result goes to the instance its
/// slot means now (`SlotMap`), and a swap the model makes (a promotion) is applied to the map at
/// once, before the next result. Returns the other effects for the loop to carry out.
pub fn deliver(app: &mut App, slots: &mut SlotMap, msg: Message) -> Vec<Effect> {
    let msg = match msg {
        Message::Sample(mut u) => {
            u.slot = slots.route(u.slot);
            Message::Sample(u)
        }
        m => m,
    };
    let mut effects = app.update(msg);
    effects.retain(|e| match e {
        Effect::SwapMaster { shard, instance } => {
            slots.swap(*shard, 0, *instance);
            false
        }
        _ => true,
    });
    effects
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    inbound: &mut mpsc::Receiver<Message>,
    profile: &profile::Profile,
    session: &mut Session<'_>,
) -> io::Result<()> {
    let runner = session.runner.take();
    let mut observer = session.observer.take();
    let poller = &mut session.poller;
    let tape = &mut session.tape;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (action_tx, mut action_rx) = mpsc::unbounded_channel::<action::ActionMsg>();
    let mut stop_flag = Arc::new(AtomicBool::new(false));
    // A signal while an action writes to servers waits for it to finish.
    let mut quit_when_idle = false;
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigtstp = signal(SignalKind::from_raw(libc::SIGTSTP))?;
    let test_panic = term::test_panic_requested();
    let fps = profile.fps;
    let mut term_events = EventStream::new();
    // Events wait up to a second, so one rule firing on many shards is one line (`storm`).
    let mut storm = storm::Storm::default();
    let mut clock = tokio::time::interval(Duration::from_millis(250));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // Frames are capped: a burst of poll results costs one redraw, not hundreds.
    let frame_gap = Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 60)));
    let mut last_draw = Instant::now() - frame_gap;
    let mut renderer = render::Renderer::default();
    let mut slots = SlotMap::default();
    let mut effects = Vec::new();
    let markers_path = markers::default_path();
    let mut markers_seen = None;
    // Time travel (`T`): the recorded past shown instead of the live model, which goes on.
    let mut travel: Option<travel::Travel> = None;
    let mut last_clock = Instant::now();
    loop {
        let shown: &mut App = match travel.as_mut() {
            Some(t) => t.app(),
            None => app,
        };
        if shown.repaint {
            terminal.clear()?;
            renderer.invalidate();
            shown.repaint = false;
        }
        let dirty = shown.dirty;
        if dirty && last_draw.elapsed() >= frame_gap {
            tui_logger::move_events();
            renderer.draw(terminal, shown)?;
            last_draw = Instant::now();
            if test_panic {
                panic!("test panic (SHARDTOP_TEST_PANIC=1): the terminal must be restored and this readable");
            }
        }
        let next_frame = last_draw + frame_gap;
        let dirty = travel.as_mut().map_or(app.dirty, |t| t.app().dirty);
        tokio::select! {
            ev = term_events.next() => match ev {
                // Raw mode makes Ctrl-Z a key: suspend as the shell's job control would.
                Some(Ok(TermEvent::Key(k))) if is_suspend(&k) => {
                    term::suspend(profile.mouse)?;
                    renderer.redraw_all(terminal)?;
                    app.dirty = true;
                }
                Some(Ok(TermEvent::Key(k))) => match travel.as_mut() {
                    Some(t) => {
                        let live = k.kind != crossterm::event::KeyEventKind::Release
                            && t.key(k) == travel::Outcome::Live;
                        app.quit |= t.app().quit;
                        if live || app.quit {
                            travel = None;
                            app.dirty = true;
                        }
                    }
                    None => effects.extend(deliver(app, &mut slots, Message::Key(k))),
                },
                Some(Ok(TermEvent::Resize(..))) => {
                    if let Some(t) = travel.as_mut() {
                        t.app().update(Message::Resize);
                    }
                    effects.extend(deliver(app, &mut slots, Message::Resize));
                }
                Some(Ok(TermEvent::Mouse(m))) => {
                    if travel.is_none() {
                        effects.extend(deliver(app, &mut slots, Message::Mouse(m)));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            m = inbound.recv() => {
                let Some(m) = m else { return Ok(()) };
                effects.extend(deliver_recorded(app, &mut slots, tape, m));
                // Take whatever else already arrived: one redraw for the lot.
                while let Ok(m) = inbound.try_recv() {
                    effects.extend(deliver_recorded(app, &mut slots, tape, m));
                }
            }
            m = action_rx.recv() => {
                if let Some(m) = m {
                    effects.extend(deliver_recorded(app, &mut slots, tape, Message::Action(m)));
                }
            }
            _ = tokio::time::sleep_until(storm.due().unwrap_or_else(Instant::now)), if storm.due().is_some() => {
                for e in storm.drain() { log_event(&e); }
                app.dirty = true;
            }
            _ = clock.tick() => {
                let now = chrono::Utc::now();
                // Deploy markers: the store is re-read when it changed (checked every few seconds).
                if now.timestamp() % 5 == 0 {
                    let m = markers::modified(&markers_path);
                    if m != markers_seen {
                        markers_seen = m;
                        match markers::read(&markers_path, now) {
                            Ok(list) => effects.extend(deliver(app, &mut slots, Message::Markers(list))),
                            Err(e) => log::warn!(target: "markers", "{}: {e}", markers_path.display()),
                        }
                    }
                }
                effects.extend(deliver_recorded(app, &mut slots, tape, Message::Tick(now)));
                tape.tick(now);
                if let Some(t) = travel.as_mut() {
                    t.tick(last_clock.elapsed());
                }
                last_clock = Instant::now();
                if let Some(o) = observer.as_deref_mut() {
                    o.observe(&app.fleet, now);
                }
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => {}
            _ = sigterm.recv() => quit_when_idle = true,
            _ = sighup.recv() => quit_when_idle = true,
            _ = sigint.recv() => quit_when_idle = true,
            _ = sigtstp.recv() => {
                term::suspend(profile.mouse)?;
                renderer.redraw_all(terminal)?;
                app.dirty = true;
            }
        }
        for effect in effects.drain(..) {
            match effect {
                Effect::Events(events) => storm.push(events, Instant::now()),
                Effect::AddInstances(found) => {
                    for (slot, addr) in &found {
                        if let Some(p) = poller.as_mut() {
                            p.add_instance(*slot, addr);
                        }
                    }
                }
                // Applied by `deliver`; never reaches here.
                Effect::SwapMaster { .. } => {}
                Effect::TimeTravel => match tape.reader() {
                    None => warn!(target: "record", "no history to travel back in (it could not be kept: see above)"),
                    Some(Err(e)) => warn!(target: "record", "time travel: {e}"),
                    Some(Ok(rec)) => match travel::Travel::enter(rec, app) {
                        Ok(t) => travel = Some(t),
                        Err(e) => warn!(target: "record", "time travel: {e}"),
                    },
                },
                Effect::Action(action) => {
                    let Some(r) = runner.as_ref() else { continue };
                    let shard = app.dialog.as_ref().map(|d| d.shard_name.clone()).unwrap_or_default();
                    match action {
                        ActionEffect::Plan(kind) => {
                            r.start(kind, shard, true, Arc::new(AtomicBool::new(false)), action_tx.clone())
                        }
                        ActionEffect::Run(kind) => {
                            stop_flag = Arc::new(AtomicBool::new(false));
                            r.start(kind, shard, false, stop_flag.clone(), action_tx.clone());
                        }
                        ActionEffect::Stop => stop_flag.store(true, Ordering::Relaxed),
                    }
                }
            }
        }
        if app.action_running() {
            if app.quit || quit_when_idle {
                warn!(target: "actions", "an action is writing to servers: shardtop quits when it is done");
                app.quit = false;
                quit_when_idle = true;
                app.dirty = true;
            }
            continue;
        }
        if app.quit || quit_when_idle {
            return Ok(());
        }
    }
}

/// Ctrl-Z, pressed (not released).
fn is_suspend(k: &crossterm::event::KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    k.kind != KeyEventKind::Release
        && k.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(k.code, KeyCode::Char('z' | 'Z'))
}

#[cfg(test)]
mod tests {

    use super::app::tests::demo_app;
    use super::app::{App, View};
    use crate::sim::script;

    fn render(app: &App, w: u16, h: u16) -> String {
        crate::ui::terminal_tests::screen(app, w, h)
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

    fn topology_app(t: f64, view: View) -> App {
        let mut app = demo_app(t);
        app.view = view;
        app.show_events = false;
        app
    }

    #[test]
    fn topology_healthy_80x24() {
        insta::assert_snapshot!(render(&topology_app(8.0, View::Topology(Some(0))), 80, 24));
    }

    #[test]
    fn topology_healthy_200x60() {
        insta::assert_snapshot!(render(&topology_app(8.0, View::Topology(Some(0))), 200, 60));
    }

    #[test]
    fn topology_chained_80x24() {
        insta::assert_snapshot!(render(&topology_app(8.0, View::Topology(Some(script::CHAINED_SHARD))), 80, 24));
    }

    #[test]
    fn topology_chained_200x60() {
        insta::assert_snapshot!(render(&topology_app(8.0, View::Topology(Some(script::CHAINED_SHARD))), 200, 60));
    }

    #[test]
    fn topology_broken_80x24() {
        // A replica re-pointed to another shard's master.
        let screen = render(&topology_app(90.0, View::Topology(Some(script::MISPOINTED_SHARD))), 80, 24);
        assert!(screen.contains("server of shard users-05"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn topology_broken_200x60() {
        // Every shard at once: the dead master, the mispointed replica, the chain.
        let mut app = topology_app(90.0, View::Topology(None));
        app.show_events = true;
        insta::assert_snapshot!(render(&app, 200, 60));
    }

    #[test]
    fn topology_ascii_fallback_has_no_box_drawing() {
        let mut app = topology_app(8.0, View::Topology(Some(script::CHAINED_SHARD)));
        app.ascii = true;
        let screen = render(&app, 80, 24);
        let body: String = screen.lines().skip(2).take(5).collect::<Vec<_>>().join("\n");
        assert!(body.contains("`- ") && !body.contains('└') && !body.contains('├'), "{body}");
    }

    #[test]
    fn promotion_dialog_shows_failing_checks_plan_and_prompt_80x24() {
        use crate::actions::{Check, PlannedStep, Progress};
        use crate::ui::action::{ActionDialog, ActionKind, ActionMsg};
        let mut app = demo_app(8.0);
        let mut d = ActionDialog::new(
            ActionKind::Promote { shard: 0, candidate: app.fleet.shards[0].instances[1].addr.clone() },
            "users-01",
        );
        let check = |name, ok, detail: &str| Check { name, ok, detail: detail.into(), forced: false };
        d.on_msg(ActionMsg::Progress(Progress::Checks(vec![
            check("direct_replica", true, "replicates from the master"),
            check("lag", false, "42.0 s (limit 10 s)"),
        ])));
        d.on_msg(ActionMsg::Progress(Progress::Plan(vec![
            PlannedStep { name: "freeze", what: "set db-users-01a:3306 read-only".into() },
            PlannedStep { name: "promote", what: "make db-users-01b:3306 writable".into() },
        ])));
        d.on_msg(ActionMsg::Planned(Ok(())));
        d.typed = "users".into();
        app.dialog = Some(d);
        let screen = render(&app, 80, 24);
        assert!(screen.contains("Type the shard name (users-01)"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    /// The demo's dying master: `P` on its shard offers the failover plan (not a promotion),
    /// with what this session knows of the master, and the dialog shows the verdict, the
    /// candidate, what may be lost and the plan the runner would execute.
    #[test]
    fn failover_dialog_on_the_demos_dead_master_80x24() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

        use crate::actions::failover::plan::{Shape, failover};
        use crate::actions::runner::describe;
        use crate::actions::{Check, Progress};
        use crate::ui::action::{ActionKind, ActionMsg};
        use crate::ui::app::{ActionEffect, Effect, Message};
        // 15 s after the master died: the last 30 s of sweeps saw it alive, then dead.
        let mut app = demo_app(65.0);
        app.actions_configured = true;
        app.view = View::Detail(script::DEAD_SHARD);
        let shard = &app.fleet.shards[script::DEAD_SHARD];
        assert!(shard.master_state.as_ref().is_some_and(|m| m.is_dead()), "{:?}", shard.master_state);
        let replicas: Vec<_> = shard.replicas().iter().map(|i| i.addr.clone()).collect();
        let effects = app.update(Message::Key(KeyEvent::new(KeyCode::Char('P'), KeyModifiers::NONE)));
        let Some(ActionKind::Failover { shard: s, candidate, replicas: known, seen }) =
            app.dialog.as_ref().map(|d| d.kind.clone())
        else {
            panic!("P on a dead master opens the failover dialog: {:?}", app.dialog.as_ref().map(|d| &d.kind))
        };
        assert_eq!((s, candidate, &known), (script::DEAD_SHARD, None, &replicas));
        assert!(seen.failures >= 2 && seen.last_gtid.is_some(), "{seen:?}");
        assert!(matches!(effects.as_slice(), [Effect::Action(ActionEffect::Plan(ActionKind::Failover { .. }))]));

        let plan = failover(&Shape {
            candidate: &replicas[0],
            replicas: &replicas,
            catch_up_from: None,
            upstream: None,
            pre_hook: Some("/usr/local/bin/fence-master"),
            hook: None,
            relay_timeout: std::time::Duration::from_secs(10),
            catchup_timeout: std::time::Duration::from_secs(10),
        });
        let check = |name, detail: &str| Check { name, ok: true, detail: detail.into(), forced: false };
        let Some(d) = app.dialog.as_mut() else { panic!("no dialog") };
        d.on_msg(ActionMsg::Progress(Progress::Checks(vec![
            check("master_dead", "master dead: unreachable, and 2 replicas lost their links"),
            check("candidate", &format!("{} (holds 7-700-1234)", replicas[0])),
            check("may_be_lost", "nothing known lost: the new master holds the last position seen"),
        ])));
        d.on_msg(ActionMsg::Progress(Progress::Plan(describe(&plan))));
        d.on_msg(ActionMsg::Planned(Ok(())));
        let screen = render(&app, 80, 24);
        assert!(screen.contains("Fail over users-07") && screen.contains("stop the IO thread"), "{screen}");
        assert!(screen.contains("may_be_lost") && screen.contains("nothing known lost"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn help_overlay_lists_every_binding() {
        let mut app = demo_app(8.0);
        app.show_help = true;
        let screen = render(&app, 80, 24);
        for b in crate::keymap::BINDINGS {
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
        let row = screen.lines().find(|l| !l.starts_with(' ') && l.contains("users-04")).unwrap_or_default();
        assert!(row.contains("ms") && row.contains("WARN"), "the slow feed's shard: {row}");
        let title = screen.lines().find(|l| l.starts_with(" Shards (")).unwrap_or_default();
        assert!(title.contains("feed p99 "), "fan-out in the title:\n{screen}");
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
            remote: Vec::new(),
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
        let title = screen.lines().find(|l| l.starts_with(" Shards (")).unwrap_or_default();
        assert!(title.contains("▼ prom-eu down"), "{screen}");
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
            app.view = View::Topology(None);
            render(&app, w, h);
            app.show_help = false;
        }
    }
}
