//! The fleet overview: one row per shard.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::detail::feed_health;
use super::{fmt_lag, fmt_rate, fresh_or_muted, trend};
use crate::fleet::health::fmt_ms;
use crate::ui::app::App;
use crate::ui::theme::health_symbol;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) -> usize {
    let t = &app.theme;
    let rows_idx = app.visible_shards();
    let title = if app.filter.is_empty() {
        format!(" Shards ({}) ", rows_idx.len())
    } else {
        format!(" Shards ({} of {}, filter \"{}\") ", rows_idx.len(), app.fleet.shards.len(), app.filter)
    };
    let mut title = vec![Span::styled(title, t.title)];
    // The promise the dashboard watches: the whole fan-out's p99 (each round's slowest shard).
    if let Some(p99) = app.fleet.fanout.p99() {
        title.push(Span::styled("feed p99 ", t.muted));
        title.push(Span::styled(format!("{} ", fmt_ms(p99)), t.health(feed_health(app, p99))));
    }
    // A source that is down is stated, not hidden: its figures are gone from the rows.
    for src in app.fleet.sources.iter().filter(|s| s.up == Some(false)) {
        title.push(Span::styled(format!("▼ {} down ", src.name), t.warn));
    }
    if app.fleet.shards.first().is_some_and(|s| s.metrics_only) {
        title.push(Span::styled("metrics-only ", t.muted));
    }
    let block = Block::default().borders(Borders::TOP).border_style(t.border).title(Line::from(title));
    if rows_idx.is_empty() {
        let msg = if app.fleet.shards.is_empty() {
            "no shards configured"
        } else {
            "no shard matches the filter (Esc clears it)"
        };
        frame.render_widget(Paragraph::new(Line::styled(format!("  {msg}"), t.muted)).block(block), area);
        return 0;
    }
    let wide = area.width >= 110;
    let trend_w = if wide { 16 } else { 0 };
    let feed_w = if wide { 12 } else { 0 };
    let rows = rows_idx.iter().map(|&i| {
        let s = &app.fleet.shards[i];
        let m = s.master();
        let age = m.age(app.now);
        let mut problem = s.headline().map(|p| p.message.clone()).unwrap_or_default();
        // No poll result at all lately (the poller or the network is gone): the row is
        // last known state, so it greys out and says how old it is.
        let polled = s.instances.iter().filter_map(|i| i.last_probe).max();
        let polled_age = polled.map(|p| (app.now - p).num_milliseconds().max(0) as f64 / 1000.0);
        let stale = polled_age.filter(|a| *a > app.stale_after());
        let hs = if stale.is_some() { t.muted } else { t.health(s.health) };
        let nums = if stale.is_some() { t.muted } else { Style::default() };
        if let Some(a) = stale {
            let old = format!("data {} old", fmt_lag(Some(a.floor())));
            problem = if problem.is_empty() { old } else { format!("{old} · {problem}") };
        }
        let mut cells = vec![
            Cell::from(format!("{} {}", health_symbol(s.health), s.health.label())).style(hs),
            Cell::from(s.name.clone()),
            Cell::from(m.addr.to_string()).style(fresh_or_muted(app, age, t.text)),
            Cell::from(format!("{}/{}", s.replicas_up(), s.replicas().len())).style(nums),
            Cell::from(fmt_lag(s.worst_lag())).style(nums),
            Cell::from(fmt_rate(s.qps())).style(nums),
        ];
        if wide {
            cells.push(Cell::from(trend(app, s.qps_history.iter(), trend_w)).style(t.accent));
        }
        let p99 = s.feed.p99();
        let p99_style = p99.map_or(t.muted, |p| t.health(feed_health(app, p)));
        cells.push(Cell::from(p99.map_or("—".into(), fmt_ms)).style(p99_style));
        if wide {
            cells.push(Cell::from(trend(app, s.feed.p99_history.iter(), feed_w)).style(t.accent));
        }
        cells.push(Cell::from(problem).style(hs));
        Row::new(cells)
    });
    let mut header = vec!["HEALTH", "SHARD", "MASTER", "REPL", "LAG", "QPS"];
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(name_width(app)),
        Constraint::Length(if wide { 24 } else { 20 }),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
    ];
    if wide {
        header.push("TREND");
        widths.push(Constraint::Length(trend_w as u16));
    }
    header.push("P99");
    widths.push(Constraint::Length(6));
    if wide {
        header.push("FEED");
        widths.push(Constraint::Length(feed_w as u16));
    }
    header.push("PROBLEM");
    widths.push(Constraint::Fill(1));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .block(block)
        .row_highlight_style(t.selection)
        .column_spacing(1);
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
    area.height.saturating_sub(2) as usize
}

fn name_width(app: &App) -> u16 {
    app.fleet.shards.iter().map(|s| s.name.chars().count()).max().unwrap_or(5).clamp(5, 24) as u16
}
