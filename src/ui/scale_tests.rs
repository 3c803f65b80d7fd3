//! A thousand shards: what is built per frame, where the cursor goes, and the
//! screens an engineer sees at 80×24 and 200×60 (snapshots of a deterministic
//! fleet with fleet-wide incidents, `app::tests::scale_app`). Behaviour only:
//! how fast a frame is, `shardtop bench --terminal --shards 1000` measures.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::app::tests::{STALE_SHARD, scale_app};
use super::app::{App, Message, SortKey, View};
use super::color::ColorDepth;
use super::kiosk::Kiosk;
use super::theme::Theme;
use super::views::{self, Drawn};

/// Draw as the event loop does: the frame's page size and table position go back to the app.
fn draw(app: &mut App, w: u16, h: u16) -> (Buffer, Drawn) {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let mut drawn = Drawn::default();
    term.draw(|f| drawn = views::draw(app, f)).expect("draw");
    app.page_rows = drawn.page;
    app.table_top = drawn.table_top;
    (term.backend().buffer().clone(), drawn)
}

use super::terminal_tests::text;

/// The overview's table rows (they start with the health symbol; the summary's lines with a space).
/// The overview's shard rows: a health symbol and word, then a shard name.
fn table_rows(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace().skip(1);
            matches!(words.next(), Some("OK" | "WARN" | "CRIT" | "UNKNOWN"))
                && words.next().is_some_and(|name| name.starts_with("users-"))
        })
        .collect()
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    text(&draw(app, w, h).0)
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// The screen line the selection bar is on (the theme's selection reverses it).
fn selected_line(buf: &Buffer) -> Option<String> {
    let y = (0..buf.area.height).find(|&y| buf[(0, y)].modifier.contains(Modifier::REVERSED))?;
    Some((0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect())
}

fn selected_name(app: &App) -> String {
    app.selected_shard_index().map(|i| app.fleet.shards[i].name.clone()).unwrap_or_default()
}

#[test]
fn only_the_rows_on_screen_are_built() {
    let mut app = scale_app(60.0);
    for (w, h) in [(80, 24), (200, 60)] {
        let (buf, drawn) = draw(&mut app, w, h);
        let rows_on_screen = table_rows(&text(&buf)).len();
        assert!(drawn.built <= drawn.page, "{drawn:?}");
        assert_eq!(drawn.built, rows_on_screen, "{w}x{h}: {drawn:?}");
        assert!(drawn.built < 60, "{w}x{h}: {} rows built for 1,000 shards", drawn.built);
    }
    app.view = View::Topology(None);
    for (w, h) in [(80, 24), (200, 60)] {
        let (buf, drawn) = draw(&mut app, w, h);
        // What a frame does: the window, then its lines. A few trees, not a thousand.
        let topo = super::topo::Topo::new(&app);
        let first = app.topo_window(&topo, drawn.page);
        assert_eq!(topo.lines(first, drawn.page).len(), drawn.built);
        assert!(topo.built() <= drawn.page / 5 + 2, "{} trees built", topo.built());
        let all = super::topo::Topo::new(&app);
        assert_eq!(all.distance((0, 0), all.last().expect("lines"), usize::MAX) + 1, 5000, "lines in all");
        assert!(drawn.built <= drawn.page && drawn.built > 0, "{drawn:?}");
        let body =
            text(&buf).lines().filter(|l| l.starts_with("● ") || l.starts_with("✖ ") || l.starts_with("  ")).count();
        assert!(body >= drawn.built.saturating_sub(1), "{w}x{h}: {drawn:?}");
    }
}

#[test]
fn the_cursor_stays_on_screen_while_paging_through_a_thousand_shards() {
    let mut app = scale_app(60.0);
    app.sort = SortKey::Name;
    let (_, first) = draw(&mut app, 80, 24);
    assert!(first.page >= 8, "{first:?}");
    let mut last = String::new();
    for k in 0..120 {
        let code = match k {
            0..40 => KeyCode::PageDown,
            40 => KeyCode::End,
            41..60 => KeyCode::PageUp,
            60 => KeyCode::Home,
            61..90 => KeyCode::Char('j'),
            _ => KeyCode::Char('k'),
        };
        key(&mut app, code);
        let (buf, _) = draw(&mut app, 80, 24);
        let name = selected_name(&app);
        let bar = selected_line(&buf).unwrap_or_default();
        assert!(
            bar.contains(&format!(" {name} ")),
            "after {code:?} #{k}: {name} not under the bar {bar:?}\n{}",
            text(&buf)
        );
        last = name;
    }
    assert_eq!(last, "users-01", "j 29 times and k 30 times from the top");
    key(&mut app, KeyCode::End);
    assert_eq!(selected_name(&app), "users-1000", "names sort by their numbers");
    // Paging moves a screenful: the row under the cursor changes by one page of rows.
    key(&mut app, KeyCode::Home);
    let page = draw(&mut app, 80, 24).1.page;
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected_row(&app.visible_shards()), page);
}

#[test]
fn scrolling_back_up_keeps_the_window_until_the_cursor_leaves_it() {
    let mut app = scale_app(60.0);
    app.sort = SortKey::Name;
    draw(&mut app, 80, 24);
    for _ in 0..3 {
        key(&mut app, KeyCode::PageDown);
    }
    let before = screen(&mut app, 80, 24);
    key(&mut app, KeyCode::Char('k'));
    let after = screen(&mut app, 80, 24);
    assert_eq!(table_rows(&before), table_rows(&after), "one row up inside the window scrolls nothing");
}

#[test]
fn problems_only_lists_the_shards_that_need_a_look() {
    let mut app = scale_app(60.0);
    let all = app.visible_shards().len();
    key(&mut app, KeyCode::Char('p'));
    assert!(app.problems_only);
    let rows = app.visible_shards();
    assert!(rows.len() > 50 && rows.len() < 150, "{} of {all}", rows.len());
    assert!(rows.iter().all(|&i| app.is_problem(&app.fleet.shards[i])));
    assert!(rows.contains(&STALE_SHARD), "a stale shard needs a look even when its last state was OK");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains(&format!("Shards ({} of 1000, problems only)", rows.len())), "{s}");
    assert!(s.lines().last().is_some_and(|l| l.contains("p all shards")), "{s}");
    insta::assert_snapshot!("scale_problems_only_80x24", s);
    // Back to all; the cursor's shard is still there.
    key(&mut app, KeyCode::Char('j'));
    let on = selected_name(&app);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.visible_shards().len(), all);
    assert_eq!(selected_name(&app), on);
}

#[test]
fn n_and_shift_n_jump_between_shards_with_problems() {
    let mut app = scale_app(60.0);
    app.sort = SortKey::Name;
    let mut seen = Vec::new();
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('n'));
        seen.push(selected_name(&app));
    }
    assert_eq!(seen, ["users-05", "users-07", "users-10", "users-14"]);
    key(&mut app, KeyCode::Char('N'));
    assert_eq!(selected_name(&app), "users-10");
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Char('N'));
    let wrapped = selected_name(&app);
    assert!(app.is_problem(&app.fleet.shards[app.selected_shard_index().expect("row")]));
    assert!(app.selected_row(&app.visible_shards()) > 900, "N from the top goes round to the last problem: {wrapped}");
    let s = screen(&mut app, 80, 24);
    let (buf, _) = draw(&mut app, 80, 24);
    assert!(selected_line(&buf).is_some_and(|l| l.contains(&wrapped)), "{s}");
    insta::assert_snapshot!("scale_jump_to_last_problem_80x24", s);
}

#[test]
fn the_topology_jumps_to_servers_with_problems_and_shows_their_shard() {
    let mut app = scale_app(60.0);
    app.sort = SortKey::Name;
    app.show_events = false;
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.view, View::Topology(None));
    draw(&mut app, 80, 24);
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.topology_cursor_target(), Some((4, 2)), "users-05's broken replica");
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.topology_cursor_target(), Some((6, 0)), "users-07's dead master");
    // Far down the list: the shard's name line is on screen above the cursor.
    for _ in 0..10 {
        key(&mut app, KeyCode::Char('n'));
    }
    let (buf, drawn) = draw(&mut app, 80, 24);
    let s = text(&buf);
    let (shard, inst) = app.topology_cursor_target().expect("cursor");
    let name = &app.fleet.shards[shard].name;
    let addr = app.fleet.shards[shard].instances[inst].addr.to_string();
    assert!(selected_line(&buf).is_some_and(|l| l.contains(&addr)), "{addr}\n{s}");
    let name_line = s.lines().position(|l| !l.starts_with(' ') && l.split_whitespace().nth(1) == Some(name.as_str()));
    let bar_line = s.lines().position(|l| l.contains(&addr));
    assert!(name_line.is_some() && name_line < bar_line, "{name} above {addr}\n{s}");
    assert!(drawn.built <= drawn.page);
    insta::assert_snapshot!("scale_topology_jump_80x24", s);
    // Paging in the topology moves by a screen of lines and keeps the cursor in view.
    for _ in 0..30 {
        key(&mut app, KeyCode::PageDown);
        let (buf, _) = draw(&mut app, 80, 24);
        let (shard, inst) = app.topology_cursor_target().expect("cursor");
        let addr = app.fleet.shards[shard].instances[inst].addr.to_string();
        assert!(selected_line(&buf).is_some_and(|l| l.contains(&addr)), "{addr}\n{}", text(&buf));
    }
}

#[test]
fn the_filter_finds_shards_by_the_words_of_the_summary() {
    let mut app = scale_app(60.0);
    app.filter = "io thread".into();
    assert_eq!(app.visible_shards().len(), 48);
    app.filter = "stale".into();
    assert_eq!(app.visible_shards(), vec![STALE_SHARD]);
    app.filter = "users-1000".into();
    assert_eq!(app.visible_shards().len(), 1);
    app.filter = "DB-USERS-999B".into();
    assert_eq!(app.visible_shards().len(), 1);
}

#[test]
fn the_overview_of_a_thousand_shards_fits_80x24() {
    let mut app = scale_app(60.0);
    let s = screen(&mut app, 80, 24);
    // The header counts, the summary's groups, and the worst rows first.
    for want in ["Shards (1000)", "IO thread not running", "39 shards", "worst lag", "○ 1 stale", "1–"] {
        assert!(s.contains(want), "no {want:?} in\n{s}");
    }
    let footer = s.lines().last().unwrap_or_default();
    assert!(footer.contains("p problems") && footer.contains("n next problem"), "{footer}");
    assert!(footer.chars().count() <= 80, "{footer}");
    insta::assert_snapshot!("scale_overview_80x24", s);
}

#[test]
fn the_overview_of_a_thousand_shards_200x60() {
    let mut app = scale_app(60.0);
    insta::assert_snapshot!("scale_overview_200x60", screen(&mut app, 200, 60));
}

#[test]
fn the_topology_of_a_thousand_shards_problems_only_200x60() {
    let mut app = scale_app(60.0);
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.view, View::Topology(None), "p keeps the topology");
    let s = screen(&mut app, 200, 60);
    assert!(s.contains("of 1000 shards, problems only"), "{s}");
    insta::assert_snapshot!("scale_topology_problems_only_200x60", s);
}

#[test]
fn no_color_at_a_thousand_shards_keeps_symbols_words_and_the_selection_bar() {
    let mut app = scale_app(60.0);
    app.theme = Theme::shipped("mono").without_color();
    app.color_depth = ColorDepth::None;
    key(&mut app, KeyCode::Char('n'));
    let (buf, _) = draw(&mut app, 80, 24);
    for cell in &buf.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "a colour survived");
    }
    let s = text(&buf);
    for want in ["✖", "CRIT", "○ 1 stale", "IO thread not running"] {
        assert!(s.contains(want), "no {want:?} in\n{s}");
    }
    assert!(selected_line(&buf).is_some_and(|l| l.contains(&selected_name(&app))), "{s}");
    insta::assert_snapshot!("scale_mono_no_color_80x24", s);
}

#[test]
fn the_kiosk_at_a_thousand_shards_shows_the_summary_and_the_worst_first() {
    let mut app = scale_app(60.0);
    app.theme = Theme::shipped("lcd");
    app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(15), app.now));
    let s = screen(&mut app, 200, 60);
    assert!(s.contains("IO thread not running") && s.contains("overview · view 2/11"), "{s}");
    let first_row = table_rows(&s).first().copied().unwrap_or_default();
    assert!(first_row.contains("CRIT"), "{first_row}");
    insta::assert_snapshot!("scale_kiosk_200x60", s);
    // 80×24 still tells the story.
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("IO thread not running") && s.contains("CRIT"), "{s}");
}

#[test]
fn help_fits_80x24_with_every_binding() {
    let mut app = scale_app(60.0);
    app.show_help = true;
    let s = screen(&mut app, 80, 24);
    for b in crate::keymap::BINDINGS {
        assert!(s.contains(b.desc), "help lacks {:?}\n{s}", b.desc);
    }
    assert!(s.contains("○ stale"), "the legend: {s}");
}
