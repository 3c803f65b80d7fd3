//! Drawing. Every function here reads the `App` and writes to a frame; none
//! changes state or does I/O.

mod action;
mod charts;
mod detail;
mod events;
mod help;
mod kiosk;
pub(crate) mod overview;
pub mod panels;
mod replay;
mod summary;
pub(crate) mod topology;
mod wall;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, View};
use super::summary::Summary;
use super::theme::health_symbol;
use crate::fleet::Health;
use crate::keymap::Action;

/// The screen line of the first row of the detail view's table (header line,
/// the table's top border, the column header), for mouse clicks; the
/// overview's starts below its summary.
pub const TABLE_FIRST_ROW: usize = 3;

/// The symbol for shards with no fresh data.
pub const STALE_SYMBOL: &str = "○";

/// What a frame drew, for the keys and clicks that follow it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Rows (lines in the topology) one screen of the current list holds, for paging.
    pub page: usize,
    /// Screen line of the list's first row, for mouse clicks.
    pub table_top: usize,
    /// Rows or lines built for the list: what is on screen, however long the list.
    pub built: usize,
}

/// Draw the whole screen.
pub fn draw(app: &App, frame: &mut Frame) -> Drawn {
    let area = frame.area();
    // The theme's `text` role is the base every view draws on.
    frame.buffer_mut().set_style(area, app.theme.text);
    // The wall shows its own events, in large type.
    let events_h =
        if app.show_events && area.height >= 16 && app.view != View::Wall { (area.height / 4).clamp(5, 12) } else { 0 };
    let header_h = if app.kiosk.is_some() { kiosk::banner_height(area) } else { 1 };
    let timeline_h = u16::from(app.replay.is_some() && area.height >= 8);
    let [header, body, events_area, timeline, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Min(3),
        Constraint::Length(events_h),
        Constraint::Length(timeline_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let summary = Summary::of(app);
    if app.kiosk.is_some() {
        kiosk::draw_banner(app, &summary, frame, header);
    } else {
        draw_header(app, &summary, frame, header);
    }
    let drawn = match app.view {
        View::Overview => overview::draw(app, &summary, frame, body),
        View::Detail(i) => {
            let page = detail::draw(app, frame, body, i);
            Drawn { page, table_top: body.y as usize + 2, built: page }
        }
        View::Topology(_) => topology::draw(app, frame, body),
        View::Wall => {
            wall::draw(app, frame, body);
            Drawn::default()
        }
    };
    match &app.replay {
        Some(bar) => {
            if events_h > 0 {
                replay::draw_events(app, bar, frame, events_area);
            }
            if timeline_h > 0 {
                replay::draw_timeline(app, bar, frame, timeline);
            }
            replay::draw_footer(app, bar, frame, footer);
        }
        None => {
            if events_h > 0 {
                events::draw(app, frame, events_area);
            }
            draw_footer(app, frame, footer);
        }
    }
    if app.show_help {
        help::draw(app, frame, area);
    }
    if let Some(d) = &app.dialog {
        action::draw(app, d, frame, area);
    }
    app.color_depth.apply(frame.buffer_mut());
    drawn
}

/// Pane and popup borders: box drawing, or plain ASCII under `--ascii` (fonts and terminals
/// without line-drawing characters show them as garbage or nothing).
pub(crate) fn borders(app: &App) -> ratatui::symbols::border::Set<'static> {
    const ASCII: ratatui::symbols::border::Set<'static> = ratatui::symbols::border::Set {
        top_left: "+",
        top_right: "+",
        bottom_left: "+",
        bottom_right: "+",
        vertical_left: "|",
        vertical_right: "|",
        horizontal_top: "-",
        horizontal_bottom: "-",
    };
    if app.ascii { ASCII } else { ratatui::symbols::border::PLAIN }
}

/// A `w`×`h` box centred in `area`, cleared, and its bordered, titled block (help, action dialogs).
pub(crate) fn popup<'a>(
    app: &App,
    frame: &mut Frame,
    area: Rect,
    (w, h): (u16, u16),
    title: Span<'a>,
) -> (Rect, ratatui::widgets::Block<'a>) {
    let rect = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    frame.render_widget(ratatui::widgets::Clear, rect);
    let block = ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .border_style(app.theme.border)
        .border_set(borders(app))
        .title(title);
    (rect, block)
}

fn draw_header(app: &App, summary: &Summary, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (ok, warn, crit, unknown) = (summary.ok, summary.warn, summary.crit, summary.unknown);
    let fleet = app.fleet.health();
    let mut spans = match &app.replay {
        Some(bar) => vec![replay::banner(app, bar), Span::raw(" ")],
        None => vec![Span::styled(" shardtop ", t.title)],
    };
    spans.extend([
        Span::styled(format!("{} ", app.source), t.muted),
        Span::styled(format!("{} {} ", health_symbol(fleet), fleet.label()), t.health(fleet)),
        Span::raw(if app.ascii { "| " } else { "│ " }),
    ]);
    let mut counts: Vec<(usize, Span)> =
        [(ok, Health::Ok), (warn, Health::Warning), (crit, Health::Critical), (unknown, Health::Unknown)]
            .into_iter()
            .map(|(n, h)| {
                let style = if n == 0 { t.muted } else { t.health(h) };
                (n, Span::styled(format!("{} {} {}  ", health_symbol(h), n, h.label().to_lowercase()), style))
            })
            .collect();
    // When nothing arrives from anywhere the right-hand side says so; a count of every shard adds nothing.
    let all_old = super::kiosk::data_age(app).is_some_and(|a| a > app.stale_after());
    if summary.stale > 0 && !all_old {
        counts.push((summary.stale, Span::styled(format!("{STALE_SYMBOL} {} stale  ", summary.stale), t.warn)));
    }
    // Short of room (80 columns, a large fleet's numbers), the zeros go before the clock does.
    let width = |spans: &[Span], counts: &[(usize, Span)]| -> usize {
        spans.iter().map(|s| s.width()).sum::<usize>() + counts.iter().map(|(_, s)| s.width()).sum::<usize>()
    };
    if width(&spans, &counts) + 10 > area.width as usize {
        counts.retain(|(n, _)| *n > 0);
    }
    spans.extend(counts.into_iter().map(|(_, s)| s));
    let clock = app.now.with_timezone(&app.clock_offset).format("%H:%M:%S").to_string();
    let mut size = format!("{} shards · {} servers", summary.shards, summary.servers);
    let mut size_style = t.muted;
    // Nothing new from any server: say how old the screen is rather than look fine.
    if let Some(age) = super::kiosk::data_age(app).filter(|a| *a > app.stale_after()) {
        size = format!("no new data for {}", fmt_lag(Some(age.floor())));
        size_style = t.warn;
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let right = format!("{size}  {clock} ");
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    if pad > 0 {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(right, size_style));
    } else if (area.width as usize) > used + clock.len() + 1 {
        spans.push(Span::raw(" ".repeat(area.width as usize - used - clock.len() - 1)));
        spans.push(Span::styled(clock, t.muted));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", t.accent),
            Span::raw(app.filter.clone()),
            Span::styled("█", t.accent),
            Span::styled("  Enter apply · Esc clear", t.muted),
        ])
    } else {
        let mut spans = Vec::new();
        // First, so that it is never cut off: the screen is old.
        if let Some(age) = super::kiosk::data_age(app).filter(|a| *a > app.stale_after()) {
            spans.push(Span::styled(format!(" no new data for {} ", fmt_lag(Some(age.floor()))), t.warn));
        }
        if app.kiosk.is_some() {
            // A wall display: nothing to do but read it (and leave).
            spans.push(Span::styled(" KIOSK · read-only ", t.title));
            for (k, what) in
                hints(app, &[(Action::Help, "help".into(), 0), (Action::Quit, "quit".into(), 1)], usize::MAX)
            {
                spans.push(Span::styled(format!(" {k}"), t.accent));
                spans.push(Span::styled(format!(" {what} "), t.muted));
            }
            return frame.render_widget(Paragraph::new(Line::from(spans)), area);
        }
        // (action, label, priority): when the line is too narrow, the least important go first.
        let problems = if app.problems_only { "all shards" } else { "problems" };
        let wanted: Vec<(Action, String, u8)> = match app.view {
            View::Overview => vec![
                (Action::Help, "help".into(), 0),
                (Action::Filter, "filter".into(), 3),
                (Action::ProblemsOnly, problems.into(), 1),
                (Action::NextProblem, "next problem".into(), 2),
                (Action::Sort, format!("sort:{}", app.sort.label()), 5),
                (Action::Open, "detail".into(), 6),
                (Action::Topology, "topology".into(), 7),
                (Action::Wall, "wall".into(), 9),
                (Action::ToggleEvents, "events".into(), 8),
                (Action::Quit, "quit".into(), 4),
            ],
            View::Detail(_) => vec![
                (Action::Help, "help".into(), 0),
                (Action::Back, "back".into(), 1),
                (Action::Topology, "topology".into(), 2),
                (Action::NextProblem, "next problem".into(), 4),
                (Action::ToggleEvents, "events".into(), 5),
                (Action::Quit, "quit".into(), 3),
            ],
            View::Wall => vec![
                (Action::Help, "help".into(), 0),
                (Action::Back, "overview".into(), 1),
                (Action::Topology, "topology".into(), 2),
                (Action::Quit, "quit".into(), 3),
            ],
            View::Topology(_) => vec![
                (Action::Help, "help".into(), 0),
                (Action::NextProblem, "next problem".into(), 2),
                (Action::ProblemsOnly, problems.into(), 3),
                (Action::Open, "detail".into(), 4),
                (Action::Back, "back".into(), 1),
                (Action::ToggleEvents, "events".into(), 6),
                (Action::Quit, "quit".into(), 5),
            ],
        };
        let filter = (!app.filter.is_empty()).then(|| Span::styled(format!(" filter: {} ", app.filter), t.warn));
        let used: usize = spans.iter().chain(&filter).map(|s| s.width()).sum();
        for (k, what) in hints(app, &wanted, (area.width as usize).saturating_sub(used)) {
            spans.push(Span::styled(format!(" {k}"), t.accent));
            spans.push(Span::styled(format!(" {what} "), t.muted));
        }
        spans.extend(filter);

        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The footer's hints that fit in `width` columns, in the order given: each
/// names the active keymap's first key for its action; unbound actions are left out,
/// and when the line is too narrow the hints with the highest priority number go.
fn hints(app: &App, wanted: &[(Action, String, u8)], width: usize) -> Vec<(String, String)> {
    let mut keep: Vec<(String, String, u8)> = wanted
        .iter()
        .filter_map(|(action, what, prio)| {
            let k = app.keymap.first_key(*action)?;
            Some((if k == "Enter" { "⏎".to_string() } else { k }, what.clone(), *prio))
        })
        .collect();
    let cost = |h: &(String, String, u8)| h.0.chars().count() + h.1.chars().count() + 3;
    while keep.iter().map(cost).sum::<usize>() > width && !keep.is_empty() {
        let worst = keep.iter().enumerate().max_by_key(|(_, h)| h.2).map_or(0, |(i, _)| i);
        keep.remove(worst);
    }
    keep.into_iter().map(|(k, what, _)| (k, what)).collect()
}

/// `12.3k`, `950`, `1.2M`: rates in at most five characters.
pub fn fmt_rate(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 999_500.0 => format!("{:.1}M", v / 1e6),
        Some(v) if v >= 9_950.0 => format!("{:.0}k", v / 1e3),
        Some(v) if v >= 999.5 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

/// Lag and ages: whole seconds as `12s`, sub-second heartbeat lag as `0.4s`.
pub fn fmt_lag(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v <= 0.0 => "0s".into(),
        Some(v) if v < 10.0 && v.fract() != 0.0 => format!("{v:.1}s"),
        Some(v) => crate::fleet::health::fmt_secs(v),
    }
}

/// A one-line trend from the last `width` values, in eighth blocks.
pub fn sparkline(values: impl DoubleEndedIterator<Item = f64> + ExactSizeIterator, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = values.len().saturating_sub(width);
    let v: Vec<f64> = values.skip(skip).collect();
    let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    v.iter()
        .map(|&x| {
            let f = if hi > lo { (x - lo) / (hi - lo) } else { 0.5 };
            BARS[((f * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// The trend sparkline in the app's character set: eighth blocks, or ASCII
/// with `--ascii` (no braille or half-blocks are used anywhere).
pub fn trend(app: &App, values: impl DoubleEndedIterator<Item = f64> + ExactSizeIterator, width: usize) -> String {
    let line = sparkline(values, width);
    if !app.ascii {
        return line;
    }
    const ASCII: [char; 8] = ['_', '.', '-', '~', '=', '+', '*', '#'];
    line.chars().map(|c| ASCII[(c as u32).saturating_sub('▁' as u32).min(7) as usize]).collect()
}

/// Style for data that may be stale: greyed out when older than the app's limit.
pub fn fresh_or_muted(app: &App, age: Option<f64>, style: Style) -> Style {
    match age {
        Some(a) if a > app.stale_after() => app.theme.muted,
        None => app.theme.muted,
        _ => style,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_fit_five_chars() {
        assert_eq!(fmt_rate(None), "—");
        assert_eq!(fmt_rate(Some(950.4)), "950");
        assert_eq!(fmt_rate(Some(1234.0)), "1.2k");
        assert_eq!(fmt_rate(Some(12_345.0)), "12k");
        assert_eq!(fmt_rate(Some(2_500_000.0)), "2.5M");
    }

    #[test]
    fn lag_shows_seconds() {
        assert_eq!(fmt_lag(None), "—");
        assert_eq!(fmt_lag(Some(0.0)), "0s");
        assert_eq!(fmt_lag(Some(0.35)), "0.3s");
        assert_eq!(fmt_lag(Some(7.0)), "7s");
        assert_eq!(fmt_lag(Some(125.0)), "2m05s");
    }

    #[test]
    fn ascii_trend_has_eight_levels_in_order() {
        let mut app = crate::ui::app::tests::demo_app(8.0);
        let v = (0..8).map(f64::from);
        assert_eq!(trend(&app, v.clone(), 8), "▁▂▃▄▅▆▇█");
        app.ascii = true;
        assert_eq!(trend(&app, v, 8), "_.-~=+*#");
    }

    #[test]
    fn sparkline_scales_to_range_and_width() {
        assert_eq!(sparkline([1.0, 2.0, 3.0].into_iter(), 10), "▁▅█");
        assert_eq!(sparkline([0.0, 1.0, 2.0, 3.0].into_iter(), 2), "▁█");
        assert_eq!(sparkline([5.0, 5.0].into_iter(), 4), "▅▅");
        assert_eq!(sparkline(std::iter::empty::<f64>(), 4), "");
    }
}
