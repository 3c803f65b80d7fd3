//! The fleet overview: the summary band, then one row per shard. Only the
//! rows on screen are built, so a thousand shards cost what a screenful does.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::detail::feed_health;
use super::{Drawn, fmt_lag, fmt_rate, fresh_or_muted, summary, trend};
use crate::fleet::health::fmt_ms;
use crate::keymap::Action;
use crate::ui::app::App;
use crate::ui::summary::Summary;
use crate::ui::theme::health_symbol;

/// Spare lines below the table from which the overview draws the fleet's charts there.
const CHARTS_MIN: u16 = 12;

pub fn draw(app: &App, summary: &Summary, frame: &mut Frame, area: Rect) -> Drawn {
    let t = &app.theme;
    let [band, area] =
        Layout::vertical([Constraint::Length(summary::height(summary, area)), Constraint::Fill(1)]).areas(area);
    summary::draw(app, summary, frame, band);
    let rows_idx = app.visible_shards();
    // A big terminal and a short list: the fleet's last hour below the table, not blank lines.
    let needed = rows_idx.len() as u16 + 3;
    let area = if area.height >= needed + CHARTS_MIN {
        let [table, charts] = Layout::vertical([Constraint::Length(needed), Constraint::Fill(1)]).areas(area);
        super::wall::draw_charts(app, frame, charts, 60.0);
        table
    } else {
        area
    };
    let mut narrowed = Vec::new();
    if app.problems_only {
        narrowed.push("problems only".to_string());
    }
    if !app.filter.is_empty() {
        narrowed.push(format!("filter \"{}\"", app.filter));
    }
    let title = if narrowed.is_empty() {
        format!(" Shards ({}) ", rows_idx.len())
    } else {
        format!(" Shards ({} of {}, {}) ", rows_idx.len(), app.fleet.shards.len(), narrowed.join(", "))
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
    let mut block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Line::from(title));
    let table_top = area.y as usize + 2;
    if rows_idx.is_empty() {
        let msg = if app.fleet.shards.is_empty() {
            "no shards configured".to_string()
        } else if app.filter.is_empty() {
            let key =
                app.keymap.first_key(Action::ProblemsOnly).map(|k| format!(" ({k} shows all)")).unwrap_or_default();
            format!("no shard has a problem: all {} are OK{key}", app.fleet.shards.len())
        } else {
            "no shard matches the filter (Esc clears it)".to_string()
        };
        frame.render_widget(Paragraph::new(Line::styled(format!("  {msg}"), t.muted)).block(block), area);
        return Drawn { page: 0, table_top, built: 0 };
    }
    // Top border and column header; the rest is rows.
    let height = area.height.saturating_sub(2) as usize;
    let cursor = app.selected_row(&rows_idx);
    let first = app.overview_offset(rows_idx.len(), cursor, height);
    let window = &rows_idx[first.min(rows_idx.len())..(first + height).min(rows_idx.len())];
    if window.len() < rows_idx.len() {
        let at = format!(" {}–{} of {} ", first + 1, first + window.len(), rows_idx.len());
        block = block.title(Line::styled(at, t.muted).right_aligned());
    }
    let wide = area.width >= 110;
    // Below 100 columns the master's address (in the detail and topology views) gives way to
    // the problem, which is what the row is read for.
    let master_w: u16 = if wide {
        24
    } else if area.width >= 100 {
        20
    } else {
        0
    };
    let trend_w = if wide { 16 } else { 0 };
    let feed_w = if wide { 12 } else { 0 };
    let mut header = vec!["HEALTH", "SHARD"];
    let mut widths = vec![Constraint::Length(7), Constraint::Length(name_width(app))];
    if master_w > 0 {
        header.push("MASTER");
        widths.push(Constraint::Length(master_w));
    }
    header.extend(["REPL", "LAG", "QPS"]);
    widths.extend([Constraint::Length(5), Constraint::Length(6), Constraint::Length(5)]);
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
    // What is left for the problem (every other column is fixed, one space between columns).
    let fixed: u16 = widths.iter().map(|c| if let Constraint::Length(n) = c { *n } else { 0 }).sum();
    let problem_w = area.width.saturating_sub(fixed + widths.len() as u16) as usize;
    widths.push(Constraint::Fill(1));
    let cols = Cols { master: master_w > 0, trend_w, feed_w, problem_w };
    let rows: Vec<Row> = window.iter().map(|&i| shard_row(app, i, &cols)).collect();
    let built = rows.len();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header))
        .block(block)
        .row_highlight_style(t.selection)
        .column_spacing(1);
    let mut state = TableState::default().with_selected(cursor.checked_sub(first));
    frame.render_stateful_widget(table, area, &mut state);
    Drawn { page: height, table_top, built }
}

/// Which optional columns a row has, and how wide the problem may be.
struct Cols {
    master: bool,
    /// 0 on narrow screens (no trend columns).
    trend_w: usize,
    feed_w: usize,
    problem_w: usize,
}

/// `text` cut to `width` characters, with an ellipsis when something was cut, so a clipped
/// "lag 84s over 60s" never reads as "lag 84s over 6".
fn fit(text: String, width: usize, ascii: bool) -> String {
    if text.chars().count() <= width {
        return text;
    }
    let mark = if ascii { "~" } else { "…" };
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push_str(mark);
    cut
}

/// One shard's row.
fn shard_row(app: &App, i: usize, cols: &Cols) -> Row<'static> {
    let (trend_w, feed_w) = (cols.trend_w, cols.feed_w);
    let t = &app.theme;
    let s = &app.fleet.shards[i];
    let m = s.master();
    let age = m.age(app.now);
    // The same problem the summary counts the shard under.
    let mut problem = crate::ui::summary::headline(s).map(|p| p.message.clone()).unwrap_or_default();
    // This session's own action: its transient findings are held (`fleet::hold`), and the row says why.
    if let Some(h) = &s.hold {
        let held = match h.held.len() {
            0 => String::new(),
            n => format!(" ({n} transient finding{} held)", if n == 1 { "" } else { "s" }),
        };
        let what = format!("{}{held}", h.label());
        problem = if problem.is_empty() { what } else { format!("{what} · {problem}") };
    }
    // No poll result at all lately (the poller or the network is gone): the row is
    // last known state, so it greys out and says how old it is.
    let stale = app.shard_stale(s);
    let hs = if stale.is_some() { t.muted } else { t.health(s.health) };
    let nums = if stale.is_some() { t.muted } else { Style::default() };
    if let Some(a) = stale {
        let old = format!("data {} old", fmt_lag(Some(a.floor())));
        problem = if problem.is_empty() { old } else { format!("{old} · {problem}") };
    }
    let mut cells = vec![
        Cell::from(format!("{} {}", health_symbol(s.health), s.health.label())).style(hs),
        Cell::from(s.name.clone()),
    ];
    if cols.master {
        cells.push(Cell::from(m.addr.to_string()).style(fresh_or_muted(app, age, t.text)));
    }
    cells.extend([
        Cell::from(format!("{}/{}", s.replicas_up(), s.replicas().len())).style(nums),
        Cell::from(fmt_lag(s.worst_lag())).style(nums),
        Cell::from(fmt_rate(s.qps())).style(nums),
    ]);
    if trend_w > 0 {
        cells.push(Cell::from(trend(app, s.qps_history.iter(), trend_w)).style(t.accent));
    }
    let p99 = s.feed.p99();
    let p99_style = p99.map_or(t.muted, |p| t.health(feed_health(app, p)));
    cells.push(Cell::from(p99.map_or("—".into(), fmt_ms)).style(p99_style));
    if feed_w > 0 {
        cells.push(Cell::from(trend(app, s.feed.p99_history.iter(), feed_w)).style(t.accent));
    }
    cells.push(Cell::from(fit(problem, cols.problem_w, app.ascii)).style(hs));
    Row::new(cells)
}

fn name_width(app: &App) -> u16 {
    app.fleet.shards.iter().map(|s| s.name.chars().count()).max().unwrap_or(5).clamp(5, 24) as u16
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_cut_problem_says_it_was_cut() {
        assert_eq!(fit("lag 84s over 60s".into(), 20, false), "lag 84s over 60s");
        assert_eq!(fit("lag 84s over 60s".into(), 16, false), "lag 84s over 60s");
        assert_eq!(fit("lag 84s over 60s".into(), 14, false), "lag 84s over …");
        assert_eq!(fit("lag 84s over 60s".into(), 14, true), "lag 84s over ~");
        assert_eq!(fit("SQL thread stopped".into(), 1, false), "…");
        assert_eq!(fit("x".into(), 0, false), "…");
    }
}
