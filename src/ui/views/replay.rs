//! What a replay adds to the screen: the "REPLAY 03:12:07 ×4" banner, the timeline with the
//! recorded incidents on it, the recorded events up to the moment, and the replay keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::fleet::Health;
use crate::record::wire::from_ms;
use crate::ui::app::App;
use crate::ui::replay::Bar;

fn clock(app: &App, ms: i64) -> String {
    from_ms(ms).with_timezone(&app.clock_offset).format("%H:%M:%S").to_string()
}

/// The header's first words: unmistakably not live.
pub fn banner(app: &App, bar: &Bar) -> Span<'static> {
    if bar.travel {
        let style = app.theme.crit.add_modifier(ratatui::style::Modifier::REVERSED | ratatui::style::Modifier::BOLD);
        let dash = if app.ascii { "-" } else { "—" };
        return Span::styled(format!(" TIME TRAVEL {} {dash} press L for live ", clock(app, bar.at_ms)), style);
    }
    let state = if bar.playing { "▶" } else { "⏸" };
    let state = if app.ascii { if bar.playing { ">" } else { "||" } } else { state };
    Span::styled(format!(" REPLAY {} ×{} {state} ", clock(app, bar.at_ms), bar.speed), app.theme.selection)
}

fn is_marker(e: &crate::record::EventRow) -> bool {
    e.rule == crate::record::recorder::MARKER_RULE
}

/// One line: start, a bar with incident marks and the cursor, end.
pub fn draw_timeline(app: &App, bar: &Bar, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (left, right) = (format!(" {} ", clock(app, bar.start_ms)), format!(" {} ", clock(app, bar.end_ms)));
    let width = (area.width as usize).saturating_sub(left.len() + right.len());
    if width < 4 {
        return;
    }
    let span = (bar.end_ms - bar.start_ms).max(1) as f64;
    let col = |ms: i64| {
        (((ms - bar.start_ms) as f64 / span) * (width - 1) as f64).round().clamp(0.0, (width - 1) as f64) as usize
    };
    let mut cells: Vec<(char, ratatui::style::Style)> = vec![(if app.ascii { '-' } else { '─' }, t.muted); width];
    // The loudest mark wins a cell: critical over warning over an action step.
    let mut rank = vec![0u8; width];
    for e in &bar.events {
        let (r, style) = match e.severity {
            Health::Critical => (3, t.crit),
            Health::Warning => (2, t.warn),
            _ if e.rule.starts_with("action:") || is_marker(e) => (1, t.accent),
            _ => continue,
        };
        let k = col(e.at_ms);
        if r > rank[k] {
            rank[k] = r;
            cells[k] = (if app.ascii { '|' } else { '┃' }, style);
        }
    }
    cells[col(bar.at_ms)] = (if app.ascii { '#' } else { '●' }, t.title);
    let mut spans = vec![Span::styled(left, t.muted)];
    spans.extend(cells.into_iter().map(|(c, s)| Span::styled(c.to_string(), s)));
    spans.push(Span::styled(right, t.muted));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The recorded events up to the moment, newest at the bottom, as the live pane shows them.
pub fn draw_events(app: &App, bar: &Bar, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(" Events (recorded) ", t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let so_far = bar.events_so_far();
    let rows = inner.height as usize;
    let lines: Vec<Line> = so_far[so_far.len().saturating_sub(rows)..]
        .iter()
        .map(|e| {
            if is_marker(e) {
                return Line::from(Span::styled(format!("{}:M: marker: {}", clock(app, e.at_ms), e.message), t.accent));
            }
            let (level, style) = match e.severity {
                Health::Critical => ("E", t.crit),
                Health::Warning => ("W", t.warn),
                _ => ("I", t.ok),
            };
            Line::from(Span::styled(format!("{}:{level}:{}: {}", clock(app, e.at_ms), e.shard, e.message), style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The replay keys (the model's own — views, rows, help, quit — work as live).
pub fn draw_footer(app: &App, bar: &Bar, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let line = if let Some(p) = &bar.prompt {
        Line::from(vec![
            Span::styled(" go to: ", t.accent),
            Span::raw(p.clone()),
            Span::styled("█", t.accent),
            Span::styled("  03:12:07 · end-5m · start+90s · Enter go · Esc cancel", t.muted),
        ])
    } else {
        let mut spans = Vec::new();
        if let Some(n) = &bar.note {
            spans.push(Span::styled(format!(" {n} "), t.warn));
        }
        if bar.travel {
            spans.push(Span::styled(" L", t.accent));
            spans.push(Span::styled(" live ", t.muted));
        }
        let keys = [
            ("space", if bar.playing { "pause" } else { "play" }),
            ("+/-", "speed"),
            (".", "step"),
            ("[ ]", "±1m"),
            ("{ }", "±10m"),
            ("< >", "event"),
            (":", "go to"),
            ("?", "help"),
            ("q", "quit"),
        ];
        for (k, what) in keys {
            spans.push(Span::styled(format!(" {k}"), t.accent));
            spans.push(Span::styled(format!(" {what} "), t.muted));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
