//! The wall: the kiosk's tactical display. A band of big-number tiles (fleet QPS, worst lag,
//! feed fan-out p99, shards in trouble), each with its trend, threshold colour and change
//! against the previous period; the callouts (a spike and the shards driving it, the fan-out's
//! bottleneck); a grid with one cell per shard, always in the same place, the worst labelled;
//! the last hour's charts with their thresholds and deploy markers; the last events in large
//! type. Every part shrinks with the screen, from 80×24 to 320×90 and beyond.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use tui_big_text::{BigText, PixelSize};

use super::charts::{Series, draw_one, limit_lines};
use super::{fmt_lag, fmt_rate, trend};
use crate::fleet::Health;
use crate::fleet::health::fmt_ms;
use crate::ui::app::App;
use crate::ui::theme::health_symbol;
use crate::ui::wall::{self, Metric, SpikeRule};

/// Minutes either side of the last marker the before/after panel compares.
const BEFORE_AFTER_MINUTES: i64 = 10;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let tall = area.height >= 30;
    let tiles_h = if tall { 7 } else { 4 };
    let mut all = tiles(app);
    all.extend(super::panels::tiles(app));
    let (per_row, band_rows) = band(all.len(), area);
    let events_h = match area.height {
        h if h >= 50 => 8,
        h if h >= 30 => 5,
        _ => 0,
    };
    let mut calls = callouts(app);
    let hidden = all.len().saturating_sub(per_row * band_rows);
    if hidden > 0 {
        let names: Vec<&str> = all[all.len() - hidden..].iter().map(|t| t.label.as_str()).collect();
        calls.push(Line::styled(
            format!(" {hidden} more panels need a bigger screen: {}", names.join(", ")),
            app.theme.muted,
        ));
    }
    let calls_h = (calls.len() as u16).min(if tall { 3 } else { 1 });
    let grid_cols = area.width.saturating_sub(label_width(area)).max(10);
    let trouble = app.fleet.shards.iter().filter(|s| s.health > Health::Ok).count();
    let grid_rows = grid_rows(app.fleet.shards.len(), trouble, grid_cols, area.height);
    let [tiles, calls_area, grid, charts, events] = Layout::vertical([
        Constraint::Length(tiles_h * band_rows as u16),
        Constraint::Length(calls_h),
        Constraint::Length(grid_rows + 1),
        Constraint::Fill(1),
        Constraint::Length(events_h),
    ])
    .areas(area);
    let rows = Layout::vertical(vec![Constraint::Length(tiles_h); band_rows]).split(tiles);
    for (r, &row) in rows.iter().enumerate() {
        let from = (r * per_row).min(all.len());
        draw_tiles(app, frame, row, &all[from..(from + per_row).min(all.len())], per_row);
    }
    let lines: Vec<Line> = calls.into_iter().take(calls_h as usize).collect();
    frame.render_widget(Paragraph::new(lines), calls_area);
    draw_grid(app, frame, grid);
    draw_charts(app, frame, charts, 300.0);
    if events_h > 0 {
        draw_events(app, frame, events);
    }
    // Nothing new from any server or source: the whole wall greys, and says so in large type
    // over its charts (in kiosk mode the banner says STALE too).
    if let Some(age) = crate::ui::kiosk::data_age(app).filter(|a| *a > app.stale_after()) {
        frame.buffer_mut().set_style(area, app.theme.muted);
        stale_notice(app, frame, charts, age);
    }
}

/// "NO NEW DATA 45s" in the large font across the middle of `area` (bold text when the font
/// does not fit or under `--ascii`).
fn stale_notice(app: &App, frame: &mut Frame, area: Rect, age: f64) {
    let text = format!("NO NEW DATA {}", fmt_lag(Some(age.floor())));
    let big = !app.ascii && area.height >= 6 && 4 * text.len() as u16 + 4 <= area.width;
    let (w, h) = if big { (4 * text.len() as u16 + 4, 6) } else { ((text.len() as u16 + 4).min(area.width), 3) };
    if area.height < h {
        return;
    }
    let at = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    frame.render_widget(ratatui::widgets::Clear, at);
    let block = Block::default().borders(Borders::ALL).border_set(super::borders(app)).border_style(app.theme.warn);
    let inner = block.inner(at);
    frame.render_widget(block, at);
    let style = app.theme.warn.add_modifier(Modifier::BOLD);
    if big {
        let inner = inner.inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 });
        frame.render_widget(
            BigText::builder().pixel_size(PixelSize::Quadrant).style(style).lines(vec![Line::from(text)]).build(),
            inner,
        );
    } else {
        frame.render_widget(
            Paragraph::new(Span::styled(text, style)).alignment(ratatui::layout::Alignment::Center),
            inner,
        );
    }
}

/// Columns for the labels of the worst shards beside the grid.
fn label_width(area: Rect) -> u16 {
    match area.width {
        w if w >= 200 => 48,
        w if w >= 120 => 36,
        _ => 26,
    }
}

/// Rows the grid gets: all the shards one cell each when they fit in about a quarter of
/// the screen, else as many rows as that holds (cells then stand for several shards); at least
/// a row for each of the worst shards' labels beside it (up to three), and no empty rows.
fn grid_rows(shards: usize, trouble: usize, cols: u16, height: u16) -> u16 {
    let budget = (height / 4).max(3);
    let need = shards.div_ceil(cols.max(1) as usize).max(1) as u16;
    need.max(trouble.min(3) as u16).clamp(1, budget)
}

/// Narrowest tile: a value in the large font and "▲+12% vs 15m ago" below it.
const MIN_TILE_W: u16 = 28;

/// Tiles a band row holds, and how many rows: the four fleet tiles and then the panels, as many
/// a row as keep each [`MIN_TILE_W`] wide (at least the four), in at most a row more than the
/// fleet's on a short screen, two more on a tall one.
fn band(n: usize, area: Rect) -> (usize, usize) {
    let per_row = ((area.width / MIN_TILE_W) as usize).max(4).min(n.max(4));
    let max_rows = match area.height {
        h if h >= 45 => 3,
        h if h >= 16 => 2,
        _ => 1,
    };
    (per_row, n.div_ceil(per_row).clamp(1, max_rows))
}

pub(super) struct Tile {
    pub(super) label: String,
    pub(super) value: String,
    pub(super) style: Style,
    pub(super) trend: Vec<f64>,
    /// "+12% vs yesterday", "+12% vs 15m ago", or what the value is out of.
    pub(super) note: String,
    pub(super) note_style: Style,
    pub(super) trend_style: Style,
}

pub(super) fn level(v: f64, warn: f64, crit: f64) -> Health {
    if v >= crit {
        Health::Critical
    } else if v >= warn {
        Health::Warning
    } else {
        Health::Ok
    }
}

/// Up, down or level, for a relative change (+0.12 is 12 % up).
pub(super) fn arrow(app: &App, c: f64) -> &'static str {
    if c > 0.005 {
        if app.ascii { "^" } else { "▲" }
    } else if c < -0.005 {
        if app.ascii { "v" } else { "▼" }
    } else {
        "="
    }
}

/// "▲+12% vs yesterday" (from a recording) or "▲+12% vs 15m ago" (the period before).
fn change_note(app: &App, m: Metric) -> String {
    match wall::change(&app.wall, m) {
        Some((c, baseline)) => {
            let against = match baseline {
                wall::Baseline::Yesterday => "yesterday".to_string(),
                wall::Baseline::Period(p) => {
                    let secs = p.num_seconds();
                    if secs >= 60 { format!("{}m ago", secs / 60) } else { format!("{secs}s ago") }
                }
            };
            format!("{}{:+.0}% vs {against}", arrow(app, c), c * 100.0)
        }
        None => "no earlier period yet".into(),
    }
}

fn tiles(app: &App) -> Vec<Tile> {
    let t = &app.theme;
    let lim = &app.fleet.limits;
    let last = app.wall.points.back().copied().unwrap_or_else(|| wall::Point::of(app.now, &app.fleet));
    let qps_spike = wall::spike(&app.wall.values(Metric::Qps), SpikeRule::QPS);
    let p99_spike = wall::spike(&app.wall.values(Metric::P99), SpikeRule::P99);
    let trouble = app.fleet.shards.iter().filter(|s| s.health > Health::Ok).count();
    let worst = app.fleet.health();
    vec![
        Tile {
            label: "FLEET QPS".into(),
            value: fmt_rate(last.qps),
            style: if qps_spike.is_some() { t.warn } else { t.ok },
            trend: app.wall.values(Metric::Qps),
            note: change_note(app, Metric::Qps),
            note_style: t.muted,
            trend_style: t.accent,
        },
        Tile {
            label: "WORST LAG".into(),
            value: fmt_lag(last.lag),
            style: last
                .lag
                .map_or(t.muted, |v| t.health(level(v, lim.lag_warn.as_secs_f64(), lim.lag_crit.as_secs_f64()))),
            trend: app.wall.values(Metric::Lag),
            note: change_note(app, Metric::Lag),
            note_style: t.muted,
            trend_style: t.accent,
        },
        Tile {
            label: "FEED P99".into(),
            value: last.p99.map_or("—".into(), fmt_ms),
            style: last.p99.map_or(t.muted, |v| {
                let h = level(v, lim.feed_p99_warn.as_secs_f64() * 1e3, lim.feed_p99_crit.as_secs_f64() * 1e3);
                if h == Health::Ok && p99_spike.is_some() { t.warn } else { t.health(h) }
            }),
            trend: app.wall.values(Metric::P99),
            note: change_note(app, Metric::P99),
            note_style: t.muted,
            trend_style: t.accent,
        },
        Tile {
            label: "IN TROUBLE".into(),
            value: trouble.to_string(),
            style: t.health(if trouble == 0 { Health::Ok } else { worst }),
            trend: app.wall.values(Metric::Trouble),
            note: format!("of {} shards", app.fleet.shards.len()),
            note_style: t.muted,
            trend_style: t.accent,
        },
    ]
}

fn draw_tiles(app: &App, frame: &mut Frame, area: Rect, all: &[Tile], per_row: usize) {
    let t = &app.theme;
    let areas = Layout::horizontal(vec![Constraint::Ratio(1, per_row as u32); per_row]).spacing(1).split(area);
    for (tile, &a) in all.iter().zip(areas.iter()) {
        let block = Block::default()
            .borders(Borders::TOP)
            .border_style(t.border)
            .border_set(super::borders(app))
            .title(Span::styled(format!(" {} ", tile.label), t.title));
        let inner = block.inner(a);
        frame.render_widget(block, a);
        if inner.height == 0 || inner.width < 4 {
            continue;
        }
        let [value, spark, note] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
        big_value(app, frame, value, &tile.value, tile.style);
        let w = spark.width.saturating_sub(1) as usize;
        frame.render_widget(
            Paragraph::new(Span::styled(trend(app, tile.trend.iter().copied(), w), tile.trend_style)),
            spark,
        );
        frame.render_widget(Paragraph::new(Span::styled(tile.note.clone(), tile.note_style)), note);
    }
}

/// A value in the largest letters that fit: 8×4 half-blocks, 4×4 quadrants, or bold text
/// (always under `--ascii`: the big fonts are made of block characters).
fn big_value(app: &App, frame: &mut Frame, area: Rect, text: &str, style: Style) {
    let n = text.chars().count() as u16;
    let size = if app.ascii || area.height < 4 {
        None
    } else if 8 * n < area.width {
        Some(PixelSize::HalfHeight)
    } else if 4 * n < area.width {
        Some(PixelSize::Quadrant)
    } else {
        None
    };
    // The big font has no "—": a missing value is a dash.
    let glyphs = text.replace('—', "-");
    match size {
        Some(size) => {
            let big = BigText::builder().pixel_size(size).style(style).lines(vec![Line::from(glyphs)]).build();
            frame.render_widget(big, area);
        }
        None => frame
            .render_widget(Paragraph::new(Span::styled(text.to_string(), style.add_modifier(Modifier::BOLD))), area),
    }
}

/// A spike over the recent baseline and the shards driving it; the fan-out's bottleneck; the
/// before/after of the last marker. Most urgent first.
fn callouts(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let name = |s: usize| app.fleet.shards.get(s).map_or_else(|| format!("#{s}"), |x| x.name.clone());
    let mut out = Vec::new();
    let spike_word = if app.ascii { "! SPIKE" } else { "▲ SPIKE" };
    if let Some(s) = wall::spike(&app.wall.values(Metric::Qps), SpikeRule::QPS) {
        let d = wall::drivers(app.fleet.shards.iter().enumerate().map(|(i, s)| (i, &s.qps_history)), 3, 3);
        let who: Vec<String> = d.iter().map(|(i, share)| format!("{} {:.0} %", name(*i), share * 100.0)).collect();
        out.push(Line::from(vec![
            Span::styled(format!(" {spike_word} QPS "), t.warn.add_modifier(Modifier::BOLD | Modifier::REVERSED)),
            Span::styled(
                format!(
                    " {} = {:.1}× its baseline {}  driven by {}",
                    fmt_rate(Some(s.now)),
                    s.ratio(),
                    fmt_rate(Some(s.baseline)),
                    if who.is_empty() { "no single shard".into() } else { who.join(", ") }
                ),
                t.warn,
            ),
        ]));
    }
    if let Some(s) = wall::spike(&app.wall.values(Metric::P99), SpikeRule::P99) {
        let d = wall::drivers(app.fleet.shards.iter().enumerate().map(|(i, s)| (i, &s.feed.p99_history)), 3, 3);
        let who: Vec<String> = d.iter().map(|(i, share)| format!("{} {:.0} %", name(*i), share * 100.0)).collect();
        out.push(Line::from(vec![
            Span::styled(format!(" {spike_word} FEED P99 "), t.warn.add_modifier(Modifier::BOLD | Modifier::REVERSED)),
            Span::styled(
                format!(
                    " {} = {:.1}× its baseline {}  driven by {}",
                    fmt_ms(s.now),
                    s.ratio(),
                    fmt_ms(s.baseline),
                    if who.is_empty() { "no single shard".into() } else { who.join(", ") }
                ),
                t.warn,
            ),
        ]));
    }
    let b = wall::bottlenecks(&app.wall, 3);
    if let Some(&(first, share)) = b.first() {
        let mut text = format!(" {} is the slowest shard in {:.0} % of feed rounds", name(first), share * 100.0);
        for &(s, sh) in &b[1..] {
            text.push_str(&format!(" · {} {:.0} %", name(s), sh * 100.0));
        }
        let lagging = app
            .fleet
            .shards
            .iter()
            .filter_map(|s| s.worst_lag().map(|l| (s, l)))
            .filter(|(_, l)| *l > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((s, l)) = lagging {
            text.push_str(&format!(" │ most lag: {} {}", s.name, fmt_lag(Some(l))));
        }
        out.push(Line::from(vec![Span::styled(" BOTTLENECK ", t.header), Span::styled(text, t.text)]));
    }
    if let Some(m) = app.wall.last_marker() {
        let w = chrono::Duration::minutes(BEFORE_AFTER_MINUTES);
        let fmt_pair = |m_: Metric, f: &dyn Fn(f64) -> String| {
            let (b, a) = wall::before_after(&app.wall, m_, m.at, w);
            format!("{} → {}", b.map_or("—".into(), f), a.map_or("—".into(), f))
        };
        let ago = fmt_lag(Some((app.now - m.at).num_seconds().max(0) as f64));
        out.push(Line::from(vec![
            Span::styled(" DEPLOY ", t.title.add_modifier(Modifier::REVERSED)),
            Span::styled(
                format!(
                    " \"{}\" {ago} ago · {}m before → after: QPS {} · feed p99 {} · lag {}",
                    m.text,
                    BEFORE_AFTER_MINUTES,
                    fmt_pair(Metric::Qps, &|v| fmt_rate(Some(v))),
                    fmt_pair(Metric::P99, &fmt_ms),
                    fmt_pair(Metric::Lag, &|v| fmt_lag(Some(v))),
                ),
                t.text,
            ),
        ]));
    }
    out
}

/// The cell's look for a health: a symbol that tells it without colour, and problems in
/// reverse video so they stand out across a room.
fn cell(app: &App, h: Health, stale: bool) -> (&'static str, Style) {
    let t = &app.theme;
    if stale {
        return (if app.ascii { "o" } else { "○" }, t.warn);
    }
    let sym = match (h, app.ascii) {
        (Health::Ok, false) => "■",
        (Health::Ok, true) => ".",
        (Health::Warning, true) => "!",
        (Health::Critical, true) => "X",
        (h, _) => health_symbol(h),
    };
    let style = if h == Health::Ok { t.ok } else { t.health(h).add_modifier(Modifier::REVERSED | Modifier::BOLD) };
    (sym, style)
}

fn draw_grid(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let n = app.fleet.shards.len();
    let labels_w = label_width(area).min(area.width / 2);
    let [grid, labels] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(labels_w)]).spacing(1).areas(area);
    let rows = grid.height.saturating_sub(1).max(1) as usize;
    let cols = grid.width.max(1) as usize;
    // Wider cells when there is room (easier to read from afar), several shards a cell when not.
    let cw = if n * 3 <= rows * cols {
        3
    } else if n * 2 <= rows * cols {
        2
    } else {
        1
    };
    let per_cell = n.div_ceil(rows * (cols / cw)).max(1);
    let title = if per_cell > 1 {
        format!(" {n} shards · a cell is the worst of {per_cell} ")
    } else {
        format!(" {n} shards ")
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(title, t.title));
    frame.render_widget(block, grid);
    let per_row = cols / cw;
    let buf = frame.buffer_mut();
    for (k, chunk) in app.fleet.shards.chunks(per_cell).enumerate() {
        let (r, c) = (k / per_row.max(1), k % per_row.max(1));
        if r >= rows {
            break;
        }
        let worst = chunk.iter().map(|s| s.health).max().unwrap_or(Health::Unknown);
        let stale = worst == Health::Ok && chunk.iter().any(|s| app.shard_stale(s).is_some());
        let (sym, style) = cell(app, worst, stale);
        let (x, y) = (grid.x + (c * cw) as u16, grid.y + 1 + r as u16);
        buf[(x, y)].set_symbol(sym).set_style(style);
        if cw == 3 && worst != Health::Ok {
            buf[(x + 1, y)].set_symbol(" ").set_style(style);
        }
    }
    // The worst shards by name, with what is wrong.
    let mut bad: Vec<&crate::fleet::Shard> = app.fleet.shards.iter().filter(|s| s.health > Health::Ok).collect();
    bad.sort_by(|a, b| b.health.cmp(&a.health).then_with(|| crate::ui::rows::natural_cmp(&a.name, &b.name)));
    let shown = labels.height.saturating_sub(1) as usize;
    let mut lines = vec![Line::styled(
        if bad.is_empty() { "every shard OK".to_string() } else { format!("worst of {}", bad.len()) },
        t.title,
    )];
    for (k, s) in bad.iter().enumerate().take(shown) {
        if k + 1 == shown && bad.len() > shown {
            lines.push(Line::styled(format!("… and {} more", bad.len() - k), t.muted));
            break;
        }
        let problem = crate::ui::summary::headline(s).map(|p| p.message.as_str()).unwrap_or("");
        lines.push(Line::from(vec![
            Span::styled(format!("{} {} ", health_symbol(s.health), s.name), t.health(s.health)),
            Span::styled(problem.to_string(), t.text),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), labels);
}

/// The fleet's last hour: QPS, worst lag, feed p99 side by side (the wall's, and the overview's
/// when the table leaves room).
pub(super) fn draw_charts(app: &App, frame: &mut Frame, area: Rect, min_span: f64) {
    let t = &app.theme;
    let lim = &app.fleet.limits;
    let now = app.now;
    let markers: Vec<f64> = app.wall.markers.iter().map(|m| -((now - m.at).num_seconds() as f64)).collect();
    let secs = |v: f64| fmt_lag(Some(v));
    let rate = |v: f64| fmt_rate(Some(v));
    let ms = |v: f64| fmt_ms(v);
    let qps_pts = app.wall.series(Metric::Qps, now);
    let span = app.wall.span(min_span);
    // The spike line: half as much again over the baseline.
    let baseline = wall::spike_baseline(&app.wall.values(Metric::Qps), SpikeRule::QPS);
    let series = [
        Series {
            title: " fleet QPS ".into(),
            points: qps_pts,
            limits: baseline
                .map(|b| {
                    vec![(
                        format!("spike {}", rate(b * SpikeRule::QPS.min_ratio)),
                        b * SpikeRule::QPS.min_ratio,
                        t.warn,
                    )]
                })
                .unwrap_or_default(),
            fmt: &rate,
            markers: markers.clone(),
            span: Some(span),
        },
        Series {
            title: " worst lag ".into(),
            points: app.wall.series(Metric::Lag, now),
            limits: limit_lines(lim.lag_warn.as_secs_f64(), lim.lag_crit.as_secs_f64(), &secs, t),
            fmt: &secs,
            markers: markers.clone(),
            span: Some(span),
        },
        Series {
            title: " feed fan-out p99 ".into(),
            points: app.wall.series(Metric::P99, now),
            limits: limit_lines(lim.feed_p99_warn.as_secs_f64() * 1e3, lim.feed_p99_crit.as_secs_f64() * 1e3, &ms, t),
            fmt: &ms,
            markers,
            span: Some(span),
        },
    ];
    let areas = Layout::horizontal([Constraint::Ratio(1, 3); 3]).spacing(1).split(area);
    for (s, &a) in series.iter().zip(areas.iter()) {
        if a.width >= 16 && a.height >= 4 {
            draw_one(app, frame, a, s);
        }
    }
}

/// The last events, the newest in large letters when the screen has room.
fn draw_events(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(" last events ", t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let clock = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&app.clock_offset).format("%H:%M:%S").to_string();
    let mut newest_first = app.wall.events.iter().rev();
    let mut rest = inner;
    if inner.height >= 7
        && !app.ascii
        && let Some((at, e)) = newest_first.next()
    {
        let [big, below] = Layout::vertical([Constraint::Length(4), Constraint::Fill(1)]).areas(inner);
        // The big font is ASCII: other characters would be blanks.
        let text: String = format!("{} {}: {}", clock(*at), e.shard, e.message)
            .chars()
            .map(|c| if c.is_ascii() { c } else { '-' })
            .take(big.width as usize / 4)
            .collect();
        let style = t.health(e.severity);
        frame.render_widget(
            BigText::builder().pixel_size(PixelSize::Quadrant).style(style).lines(vec![Line::from(text)]).build(),
            big,
        );
        rest = below;
    }
    let lines: Vec<Line> = newest_first
        .take(rest.height as usize)
        .map(|(at, e)| {
            Line::from(vec![
                Span::styled(format!("{} ", clock(*at)), t.muted),
                Span::styled(
                    format!("{} {}: {}", health_symbol(e.severity), e.shard, e.message),
                    t.health(e.severity).add_modifier(Modifier::BOLD),
                ),
            ])
        })
        .collect();
    if lines.is_empty() && rest == inner {
        frame.render_widget(Paragraph::new(Span::styled("nothing has happened yet", t.muted)), rest);
    } else {
        frame.render_widget(Paragraph::new(lines), rest);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::buffer::Buffer;

    use crate::fleet::{Event, Health};
    use crate::ui::app::tests::{demo_app, scale_app};
    use crate::ui::app::{App, View};
    use crate::ui::kiosk::Kiosk;
    use crate::ui::terminal_tests::text;
    use crate::ui::wall::{BUCKET_SECS, HOUR_POINTS, Marker, Point};

    /// An hour behind the app's fleet: a wave, a lag spell 40 minutes ago, a feed p99 bump
    /// after the deploy 20 minutes ago, and a QPS spike in the last half minute driven by
    /// shard 7's history; feed rounds where shard 3 is the slowest most of the time.
    pub(crate) fn with_an_hour(mut app: App) -> App {
        let now = app.now;
        let base = crate::ui::wall::Point::of(now, &app.fleet).qps.unwrap_or(10_000.0);
        app.wall.points.clear();
        app.wall.slowest.clear();
        app.wall.events.clear();
        for k in 0..HOUR_POINTS as i64 {
            let at = now - chrono::Duration::seconds((HOUR_POINTS as i64 - 1 - k) * BUCKET_SECS);
            let ago = (HOUR_POINTS as i64 - 1 - k) * BUCKET_SECS;
            let wave = 1.0 + 0.1 * (k as f64 / 30.0).sin();
            let qps = if ago < 30 { base * 2.2 } else { base * wave };
            let lag = if (2300..2500).contains(&ago) { 25.0 } else { 0.4 };
            let p99 = if ago < 1200 { 31.0 } else { 18.0 } + (k % 7) as f64;
            let trouble = if (2300..2500).contains(&ago) { 3.0 } else { 1.0 };
            app.wall.push(Point { at, qps: Some(qps), lag: Some(lag), p99: Some(p99), trouble });
        }
        // Shard 7 (users-08) trebles its rate at the end: it drives the spike.
        if let Some(s) = app.fleet.shards.get_mut(7) {
            let q = s.qps().unwrap_or(3000.0);
            for _ in 0..20 {
                s.qps_history.push(q);
            }
            for _ in 0..3 {
                s.qps_history.push(q * 3.0);
            }
        }
        app.wall
            .markers
            .push(Marker { at: now - chrono::Duration::minutes(20), text: "deploy web 2026.12.07-1".into() });
        app.wall.slowest.extend([3, 3, 3, 7, 3, 2, 3, 3]);
        let ev = |shard: &str, severity, message: &str| Event {
            shard: shard.into(),
            severity,
            message: message.into(),
            rule: "",
        };
        app.wall
            .note_events(now - chrono::Duration::seconds(40), &[ev("users-02", Health::Warning, "lag 14s over 10s")]);
        app.wall.note_events(
            now - chrono::Duration::seconds(5),
            &[ev("users-06", Health::Critical, "master db-users-06a:3306 is dead")],
        );
        app.kiosk = Some(Kiosk::new(std::time::Duration::from_secs(30), now));
        app.view = View::Wall;
        app
    }

    fn buffer(app: &App, w: u16, h: u16) -> Buffer {
        crate::ui::terminal_tests::buffer(app, w, h)
    }

    #[test]
    fn the_wall_at_80x24_200x60_320x90() {
        let app = with_an_hour(scale_app(60.0));
        for (w, h) in [(80, 24), (200, 60), (320, 90)] {
            let screen = text(&buffer(&app, w, h));
            for word in ["FLEET QPS", "WORST LAG", "FEED P99", "IN TROUBLE", "1000 shards", "SPIKE"] {
                assert!(screen.contains(word), "{w}×{h}: {word}\n{screen}");
            }
            insta::assert_snapshot!(format!("wall_{w}x{h}"), screen);
        }
    }

    /// Three application panels: logins up on yesterday, orders under their critical floor, and
    /// page load time whose Graphite is down (its last value kept, greyed).
    pub(crate) fn with_panels(mut app: App) -> App {
        use crate::config::{MetricsKind, PanelConfig, Reduce};
        use crate::metrics::panel::{PanelReading, PanelUpdate};
        use crate::ui::panels::Panel;
        let cfg = |title: &str, source, unit: &str, warn, crit, lower| PanelConfig {
            title: title.into(),
            source,
            url: if source == MetricsKind::Graphite {
                "http://graphite:8080".into()
            } else {
                "http://prom:9090".into()
            },
            query: "q".into(),
            unit: unit.into(),
            warn,
            crit,
            lower_is_worse: lower,
            reduce: Reduce::Sum,
            compare: Some(PanelConfig::DEFAULT_COMPARE),
            interval: std::time::Duration::from_secs(10),
            timeout: std::time::Duration::from_secs(2),
            line: 1,
        };
        let wave = |base: f64| (0..120).map(|k| base * (1.0 + 0.2 * (k as f64 / 15.0).sin())).collect::<Vec<f64>>();
        let now = app.now;
        let mut panels = vec![
            Panel::new(cfg("logins/s", MetricsKind::Graphite, "/s", None, None, false)),
            Panel::new(cfg("orders/min", MetricsKind::Prometheus, "", Some(50.0), Some(20.0), true)),
            Panel::new(cfg("page load", MetricsKind::Graphite, "ms", Some(800.0), Some(1500.0), false)),
        ];
        let read = |index, value: f64, before, history| PanelUpdate {
            index,
            at: now,
            result: Ok(PanelReading { value: Some(value), before: Some(before), history }),
        };
        panels[0].apply(read(0, 1234.0, 1100.0, wave(1200.0)));
        panels[1].apply(read(1, 18.0, 61.0, wave(55.0)));
        panels[2].apply(read(2, 420.0, 400.0, wave(400.0)));
        panels[2].apply(PanelUpdate { index: 2, at: now, result: Err("cannot connect: Connection refused".into()) });
        app.panels = panels;
        app
    }

    #[test]
    fn application_panels_at_80x24_200x60_320x90() {
        let app = with_panels(with_an_hour(demo_app(60.0)));
        for (w, h) in [(80, 24), (200, 60), (320, 90)] {
            let buf = buffer(&app, w, h);
            let screen = text(&buf);
            for word in ["FLEET QPS", "logins/s", "orders/min", "page load", "cannot connect"] {
                assert!(screen.contains(word), "{w}×{h}: {word}\n{screen}");
            }
            if w >= 200 {
                assert!(screen.contains("cannot connect: Connection"), "{screen}");
                assert!(w < 320 || screen.contains("cannot connect: Connection refused (graphite"), "{screen}");
            } else {
                // Large type elsewhere: the letters are blocks there.
                assert!(screen.contains("DOWN"), "{screen}");
                assert!(screen.contains("▲+12% vs yesterday") && screen.contains("▼-70% vs yesterday"), "{screen}");
            }
            // The orders tile is critical (under its floor), in the critical colour.
            let y = screen.lines().position(|l| l.contains("orders/min")).expect("orders tile") as u16;
            let x = screen.lines().nth(y as usize).and_then(|l| l.chars().position(|c| c == 'o')).unwrap_or(0) as u16;
            let value_cell = (x..x + 20).map(|x| &buf[(x, y + 1)]).find(|c| c.symbol() != " ");
            assert_eq!(value_cell.map(|c| c.fg), app.theme.crit.fg.or(Some(ratatui::style::Color::Reset)), "{w}×{h}");
            insta::assert_snapshot!(format!("wall_panels_{w}x{h}"), screen);
        }
    }

    #[test]
    fn the_wall_names_the_spike_drivers_the_bottleneck_and_the_deploy() {
        let app = with_an_hour(demo_app(60.0));
        let screen = text(&buffer(&app, 200, 60));
        assert!(screen.contains("is the slowest shard in 75 % of feed rounds"), "{screen}");
        assert!(screen.contains("deploy web 2026.12.07-1"), "{screen}");
        assert!(screen.contains("SPIKE QPS") && screen.contains("driven by users-08 "), "{screen}");
        insta::assert_snapshot!("wall_demo_200x60", screen);
    }

    #[test]
    fn the_wall_without_colour_and_in_ascii() {
        let mut app = with_an_hour(scale_app(60.0));
        app.theme = app.theme.without_color();
        let buf = buffer(&app, 200, 60);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (ratatui::style::Color::Reset, ratatui::style::Color::Reset));
        }
        // Health is told by symbols in the grid.
        let screen = text(&buf);
        assert!(screen.contains('✖') && screen.contains('■'), "{screen}");
        app.ascii = true;
        let screen = text(&buffer(&app, 200, 60));
        assert!(screen.is_ascii() || screen.chars().all(|c| c.is_ascii() || "—✖▲●?→│·×…○".contains(c)), "{screen}");
        insta::assert_snapshot!("wall_ascii_200x60", screen);
    }

    #[test]
    fn a_stale_wall_greys_and_says_so() {
        let mut app = with_an_hour(demo_app(60.0));
        app.theme = crate::ui::theme::Theme::shipped("default");
        app.now += chrono::Duration::seconds(90);
        let buf = buffer(&app, 200, 60);
        let screen = text(&buf);
        assert!(screen.contains("NO NEW DATA FOR 90s"), "{screen}");
        // The wall says it in large type over its charts (the font's blocks, in a box), and so
        // it does outside kiosk mode (no banner there), at 80x24 too.
        let boxed = screen.lines().filter(|l| l.contains("│ ") && l.contains('▀')).count();
        assert!(boxed >= 2, "{screen}");
        app.kiosk = None;
        let outside = text(&buffer(&app, 200, 60));
        assert!(outside.lines().filter(|l| l.contains("│ ") && l.contains('▀')).count() >= 2, "{outside}");
        insta::assert_snapshot!("wall_stale_outside_kiosk_200x60", outside);
        let small = text(&buffer(&app, 80, 24));
        assert!(small.lines().filter(|l| l.contains("│ ") && l.contains('▀')).count() >= 2, "{small}");
        app.ascii = true;
        assert!(text(&buffer(&app, 80, 24)).contains("NO NEW DATA 90s"), "bold text under --ascii");
        // The body is in the muted style.
        let muted = app.theme.muted.fg;
        let y = screen.lines().position(|l| l.contains("FLEET QPS")).expect("tiles") as u16;
        assert_eq!(buf[(2, y)].fg, muted.unwrap_or_default());
    }
}
