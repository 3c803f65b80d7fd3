//! The terminal experience as the user sees it: themes and colour depth on
//! the real views (snapshots with styles), kiosk, keymap in the help, mouse,
//! and what the renderer writes to the terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::{TerminalOptions, Viewport};

use super::app::tests::demo_app;
use super::app::{App, Message, View};
use super::color::ColorDepth;
use super::kiosk::Kiosk;
use super::render::ByteCounter;
use super::render::Renderer;
use super::theme::{SHIPPED, Theme};
use super::views;
use crate::keymap::{Action, KeySpec, Keymap, UserBinding};

/// The real views of `app` drawn on a `w`×`h` test terminal (shared by the UI's tests).
pub(crate) fn buffer(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| {
        views::draw(app, f);
    })
    .expect("draw");
    term.backend().buffer().clone()
}

fn drawn(app: &App, w: u16, h: u16) -> views::Drawn {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let mut drawn = views::Drawn::default();
    term.draw(|f| drawn = views::draw(app, f)).expect("draw");
    drawn
}

/// What `app` shows on a `w`×`h` terminal, as text (shared by the UI's tests).
pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
    text(&buffer(app, w, h))
}

/// A buffer's text, line by line, trailing blanks trimmed (shared by the UI's tests).
pub(crate) fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The incident overview with a theme at a depth, the cursor on the second row.
fn themed(theme: &str, depth: ColorDepth) -> App {
    let mut app = demo_app(60.0);
    app.theme = Theme::shipped(theme);
    if depth == ColorDepth::None {
        app.theme = app.theme.without_color();
    }
    app.color_depth = depth;
    app.selected = 1;
    app
}

#[test]
fn overview_in_every_theme_80x24() {
    for (name, _) in SHIPPED {
        let buf = buffer(&themed(name, ColorDepth::TrueColor), 80, 24);
        insta::assert_debug_snapshot!(format!("overview_theme_{name}"), buf);
    }
}

#[test]
fn dark_truecolor_downsampled_to_256_and_16() {
    for depth in [ColorDepth::Ansi256, ColorDepth::Ansi16] {
        let buf = buffer(&themed("dark-truecolor", depth), 80, 24);
        for cell in &buf.content {
            for c in [cell.fg, cell.bg] {
                match depth {
                    ColorDepth::Ansi256 => assert!(!matches!(c, Color::Rgb(..)), "{c:?} at 256 colours"),
                    _ => assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?} at 16 colours"),
                }
            }
        }
        insta::assert_debug_snapshot!(format!("overview_dark_truecolor_{}", depth.label()), buf);
    }
}

/// Under NO_COLOR no cell may carry a colour at all: crossterm turns any
/// colour change into a bare `ESC[m`, which would switch REVERSED off in the
/// middle of the selection bar. The selected row must still be reversed.
fn assert_colourless_with_a_selection_bar(buf: &Buffer, what: &str) {
    for cell in &buf.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{what}: a colour survived");
    }
    let screen = text(buf);
    // The table's row (rows start with the health symbol; the summary's lines with a space).
    let y = screen.lines().position(|l| !l.starts_with(' ') && l.contains("users-07")).expect("selected row") as u16;
    for x in 0..buf.area.width {
        assert!(
            buf[(x, y)].modifier.contains(Modifier::REVERSED),
            "{what}: column {x} of the selection is not reversed"
        );
    }
}

#[test]
fn mono_under_no_color() {
    let app = themed("mono", ColorDepth::None);
    let buf = buffer(&app, 80, 24);
    assert_colourless_with_a_selection_bar(&buf, "mono");
    // Health is told by symbol and word, not colour.
    let screen = text(&buf);
    for word in ["✖ CRIT", "● OK", "▲ 0 warn", "? 0 unknown"] {
        assert!(screen.contains(word), "{word}\n{screen}");
    }
    insta::assert_debug_snapshot!("overview_mono_no_color", buf);
}

#[test]
fn every_theme_keeps_its_selection_bar_under_no_color() {
    for (name, _) in SHIPPED {
        let mut app = themed(name, ColorDepth::None);
        // Widgets that colour cells themselves (the events pane) are stripped too.
        app.show_events = true;
        assert_colourless_with_a_selection_bar(&buffer(&app, 80, 24), name);
    }
}

#[test]
fn kiosk_banner_crit_80x24() {
    let mut app = themed("lcd", ColorDepth::Ansi16);
    app.selected = 0;
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    let buf = buffer(&app, 80, 24);
    let screen = text(&buf);
    assert!(screen.contains("KIOSK · read-only"), "{screen}");
    assert!(screen.contains("data 0s old"), "{screen}");
    assert!(screen.contains("16:01:00"), "the clock: {screen}");
    assert!(screen.contains("next in 15s"), "{screen}");
    // Kiosk hides the interactive hints.
    assert!(!screen.contains("filter"), "{screen}");
    insta::assert_debug_snapshot!("kiosk_banner_crit_80x24", buf);
}

#[test]
fn kiosk_banner_greys_out_when_no_data_arrives() {
    let mut app = themed("lcd", ColorDepth::Ansi16);
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    app.now += chrono::Duration::seconds(45);
    let buf = buffer(&app, 80, 24);
    let screen = text(&buf);
    assert!(screen.contains("NO NEW DATA FOR 45s"), "{screen}");
    // The big letters are drawn in the muted style, not the health colour.
    let muted_fg = app.theme.muted.fg.expect("lcd muted has a colour");
    let big: Vec<_> =
        (0..5).flat_map(|y| (0..30).map(move |x| (x, y))).filter(|&(x, y)| buf[(x, y)].symbol() != " ").collect();
    assert!(!big.is_empty());
    assert!(big.iter().all(|&(x, y)| buf[(x, y)].fg == muted_fg), "stale banner still in health colours");
    insta::assert_snapshot!("kiosk_stale_80x24", screen);
}

#[test]
fn kiosk_big_banner_200x60() {
    let mut app = themed("default", ColorDepth::Ansi16);
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    insta::assert_snapshot!("kiosk_200x60", text(&buffer(&app, 200, 60)));
}

#[test]
fn kiosk_and_read_only_forbid_actions() {
    let mut app = demo_app(10.0);
    assert!(app.actions_allowed());
    app.read_only = true;
    assert!(!app.actions_allowed());
    app.read_only = false;
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    assert!(!app.actions_allowed());
}

#[test]
fn help_lists_the_active_keymap() {
    let mut app = demo_app(8.0);
    let k = |s: &str| KeySpec::parse(s).expect("key");
    app.keymap = Keymap::with_overrides(&[
        UserBinding { on: vec![k("x")], run: Some(Action::Quit), desc: Some("leave now".into()) },
        UserBinding { on: vec![k("e")], run: None, desc: None },
    ])
    .0;
    app.show_help = true;
    let screen = text(&buffer(&app, 80, 24));
    assert!(screen.contains("q Ctrl-c x") && screen.contains("leave now"), "{screen}");
    assert!(!screen.contains("show / hide the events pane"), "an unbound action is not listed\n{screen}");
    // The footer hints follow the keymap too.
    app.show_help = false;
    app.keymap = Keymap::with_overrides(&[UserBinding { on: vec![k("F1")], run: Some(Action::Help), desc: None }]).0;
    app.keymap
        .entries
        .iter_mut()
        .filter(|e| e.action == Action::Help)
        .for_each(|e| e.keys.retain(|k| k.to_string() == "F1"));
    let screen = text(&buffer(&app, 80, 24));
    assert!(screen.lines().last().is_some_and(|l| l.starts_with(" F1 help")), "{screen}");
}

#[test]
fn user_keys_drive_the_app() {
    let mut app = demo_app(10.0);
    let k = |s: &str| KeySpec::parse(s).expect("key");
    app.keymap =
        Keymap::with_overrides(&[UserBinding { on: vec![k("Ctrl-d")], run: Some(Action::Bottom), desc: None }]).0;
    app.update(Message::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)));
    assert_eq!(app.selected, 7);
}

#[test]
fn mouse_click_selects_the_row_under_it_and_wheel_scrolls() {
    let mut app = demo_app(60.0);
    app.show_events = false;
    let buf = buffer(&app, 80, 24);
    let first = drawn(&app, 80, 24);
    (app.page_rows, app.table_top) = (first.page, first.table_top);
    let top = first.table_top as u16;
    assert!(top > 3, "the summary sits above the table: {first:?}");
    let screen = text(&buf);
    let click = |row: u16| {
        Message::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 10,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    for row in [top, top + 2, top + 6] {
        app.update(click(row));
        let clicked = screen.lines().nth(row as usize).expect("line");
        let name = &app.fleet.shards[app.selected_shard_index().expect("selection")].name;
        assert!(clicked.contains(name.as_str()), "clicked {clicked:?}, selected {name}");
    }
    // Below the last row: nothing changes.
    let before = app.selected;
    app.update(click(20));
    assert_eq!(app.selected, before);
    let wheel = |kind| Message::Mouse(MouseEvent { kind, column: 0, row: 0, modifiers: KeyModifiers::NONE });
    app.update(wheel(MouseEventKind::ScrollDown));
    assert_eq!(app.selected, before + 1);
    app.update(wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.selected, before);
    // In the detail view a click picks the instance on that line.
    app.view = View::Detail(0);
    app.detail_selected = 0;
    let detail = drawn(&app, 80, 24);
    (app.page_rows, app.table_top) = (detail.page, detail.table_top);
    assert_eq!((detail.page, detail.table_top), (3, 3));
    let screen = text(&buffer(&app, 80, 24));
    app.update(click(5));
    assert_eq!(app.view, View::Detail(0), "a click does not navigate");
    assert_eq!(app.detail_selected, 2);
    let addr = app.fleet.shards[0].instances[2].addr.to_string();
    assert!(screen.lines().nth(5).is_some_and(|l| l.contains(&addr)), "{screen}");
    app.update(click(6));
    assert_eq!(app.detail_selected, 2, "below the table");
}

#[test]
fn an_unchanged_screen_writes_nothing() {
    let counter = ByteCounter::default();
    let backend = CrosstermBackend::new(counter.clone());
    let mut term =
        Terminal::with_options(backend, TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, 80, 24)) })
            .expect("term");
    let mut app = demo_app(60.0);
    app.show_events = false;
    let mut r = Renderer::default();
    assert!(r.draw(&mut term, &mut app).expect("draw"));
    let first = counter.0.get();
    assert!(first > 1000, "the first frame paints the screen: {first} bytes");
    // Same state (a sample that changes nothing visible marks it dirty): zero bytes.
    assert!(!r.draw(&mut term, &mut app).expect("draw"));
    assert_eq!(counter.0.get(), first);
    // One value changes: a few bytes, not a repaint.
    app.now += chrono::Duration::seconds(1);
    assert!(r.draw(&mut term, &mut app).expect("draw"));
    let delta = counter.0.get() - first;
    assert!(delta > 0 && delta < 200, "a clock tick cost {delta} bytes");
}

#[test]
fn header_says_how_old_the_data_is_when_nothing_arrives() {
    let mut app = demo_app(60.0);
    assert!(!text(&buffer(&app, 100, 24)).contains("no new data"));
    app.now += chrono::Duration::seconds(125);
    let screen = text(&buffer(&app, 100, 24));
    assert!(screen.lines().next().is_some_and(|l| l.contains("no new data for 2m05s")), "{screen}");
    // At 80 columns the header has no room; the footer says it.
    let screen = text(&buffer(&app, 80, 24));
    assert!(screen.lines().last().is_some_and(|l| l.contains("no new data for 2m05s")), "{screen}");
}

#[test]
fn rows_without_fresh_data_grey_out_with_their_age() {
    let mut app = themed("default", ColorDepth::Ansi16);
    app.selected = 7;
    let fresh = buffer(&app, 80, 24);
    app.now += chrono::Duration::seconds(30);
    let stale = buffer(&app, 80, 24);
    let screen = text(&stale);
    let y = screen.lines().position(|l| !l.starts_with(' ') && l.contains("users-05")).expect("row") as u16;
    assert!(screen.lines().nth(y as usize).is_some_and(|l| l.contains("data 30s old")), "{screen}");
    let muted = app.theme.muted.fg;
    // HEALTH, REPL, LAG and QPS were in colour or plain; now they are muted.
    for x in [0u16, 17, 23, 30] {
        assert_eq!(stale[(x, y)].fg, muted.unwrap_or(Color::Reset), "column {x}");
    }
    assert_ne!(fresh[(0, y)].fg, stale[(0, y)].fg, "the health word greys out");
}

#[test]
fn kiosk_on_tiny_terminals_does_not_panic() {
    let mut app = themed("lcd", ColorDepth::Ansi16);
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (60, 16), (80, 40)] {
        buffer(&app, w, h);
        app.now += chrono::Duration::seconds(60);
        buffer(&app, w, h);
        app.now -= chrono::Duration::seconds(60);
    }
}

#[test]
fn ascii_kiosk_uses_no_block_characters() {
    let mut app = themed("mono", ColorDepth::None);
    app.ascii = true;
    app.show_events = false;
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    for (w, h) in [(80, 24), (200, 60)] {
        let screen = text(&buffer(&app, w, h));
        assert!(
            !screen.chars().any(|c| ('\u{2580}'..='\u{259f}').contains(&c)),
            "block characters at {w}x{h}:\n{screen}"
        );
        assert!(screen.contains("CRIT"), "{screen}");
    }
    // Tall enough for full-size letters: drawn with `#`.
    assert!(text(&buffer(&app, 200, 60)).lines().take(8).any(|l| l.contains("####")));
}

#[test]
fn ctrl_l_asks_for_a_full_repaint() {
    let mut app = demo_app(10.0);
    assert!(!app.repaint);
    app.update(Message::Key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL)));
    assert!(app.repaint);
    assert_eq!(app.view, View::Overview, "Ctrl-l is not `l` (open)");
}

#[test]
fn ascii_draws_no_line_drawing_or_block_characters_on_any_screen() {
    let mut app = themed("mono", ColorDepth::None);
    app.ascii = true;
    let press = |app: &mut App, code: KeyCode| app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    let not_ascii_art = |c: char| ('\u{2500}'..='\u{259f}').contains(&c);
    let mut screens = vec![("overview", text(&buffer(&app, 120, 40)))];
    press(&mut app, KeyCode::Enter);
    screens.push(("detail", text(&buffer(&app, 120, 40))));
    press(&mut app, KeyCode::Char('?'));
    screens.push(("help", text(&buffer(&app, 120, 40))));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('t'));
    screens.push(("topology", text(&buffer(&app, 120, 40))));
    for (name, screen) in &screens {
        assert!(!screen.chars().any(not_ascii_art), "{name}:\n{screen}");
    }
    // The panes still have their rules, in ASCII.
    assert!(screens[0].1.lines().any(|l| l.contains("Shards") && l.contains("-----")), "{}", screens[0].1);
    assert!(screens[2].1.contains("+ Keys (any key closes) ---"), "{}", screens[2].1);
    // Charts degrade to a trend line and their figures.
    assert!(screens[1].1.contains("now ") && screens[1].1.contains("max "), "{}", screens[1].1);
}

/// Issue 17 §7: the TUI's own promotion holds its shard's transient findings. The dialog's Run
/// starts the hold, the action's end starts the settling interval, the next sweep and tick let go;
/// meanwhile the overview row and the summary band say "promotion in progress" and no event is raised.
#[test]
fn a_promotion_from_the_dialog_holds_its_shards_transient_findings() {
    use super::action::ActionMsg;
    use super::app::Effect;
    use crate::fleet::status::Sample;
    use crate::poll::{Slot, Update};
    use crate::sim::SimFleet;
    let events = |effects: Vec<Effect>| -> Vec<crate::fleet::Event> {
        effects.into_iter().flat_map(|e| if let Effect::Events(e) = e { e } else { Vec::new() }).collect()
    };
    let mut app = demo_app(10.0);
    app.actions_configured = true;
    let press = |app: &mut App, code| app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    press(&mut app, KeyCode::Char('s')); // by name: users-01 first
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('P'));
    app.update(Message::Action(ActionMsg::Planned(Ok(()))));
    assert!(app.fleet.shards[0].hold.is_none(), "planning changes nothing");
    for c in "users-01".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert!(app.fleet.shards[0].hold.as_ref().is_some_and(|h| h.in_progress()));
    // The freeze, as the next poll sees it: a read-only master. Held, not raised.
    let sim = SimFleet::default();
    let mut frozen = sim.status_at(0, 0, 10.0).expect("master up");
    frozen.read_only = true;
    let sample = Sample { at: app.now, elapsed: std::time::Duration::from_millis(1), result: Ok(frozen) };
    let ev = events(app.update(Message::Sample(Update { slot: Slot { shard: 0, instance: 0 }, sample })));
    assert!(ev.iter().all(|e| e.shard != "users-01"), "{ev:?}");
    app.view = View::Overview;
    let screen = text(&buffer(&app, 170, 30));
    assert!(screen.contains("◆ 1 shard   promotion in progress  users-01"), "{screen}");
    assert!(screen.contains("promotion in progress (1 transient finding held)"), "{screen}");
    assert!(!screen.contains("master read-only"), "{screen}");
    // It ends (rolled back here), the next sweep finds the shard as it was: nothing to say.
    let end = app.now;
    app.update(Message::Action(ActionMsg::Finished { ok: false, summary: "rolled back".into() }));
    assert!(app.fleet.shards[0].hold.as_ref().is_some_and(|h| !h.in_progress()));
    let later = end + chrono::Duration::seconds(3);
    let mut ev = Vec::new();
    for i in 0..=sim.replicas {
        let sample =
            Sample { at: later, elapsed: std::time::Duration::from_millis(1), result: sim.status_at(0, i, 13.0) };
        ev.extend(events(app.update(Message::Sample(Update { slot: Slot { shard: 0, instance: i }, sample }))));
    }
    ev.extend(events(app.update(Message::Tick(later))));
    assert!(ev.iter().all(|e| e.shard != "users-01"), "{ev:?}");
    assert!(app.fleet.shards[0].hold.is_none());
    assert!(!text(&buffer(&app, 120, 30)).contains("in progress"));
}
