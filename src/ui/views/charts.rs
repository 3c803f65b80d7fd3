//! Line charts of a shard's recent history (lag, QPS, feed p99), each with its
//! threshold drawn, for the shard detail.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition};

use super::fmt_rate;
use crate::fleet::health::{fmt_ms, qps_drop_line};
use crate::fleet::model::History;
use crate::fleet::{Instance, Shard};
use crate::ui::app::App;
use crate::ui::theme::Theme;

/// The one place that picks how charts are drawn. Block cells and dots render
/// on any terminal font over SSH; braille (denser) often does not.
pub const DATA_MARKER: Marker = Marker::Block;
/// Thresholds are dotted, so they stay apart from the data without colour.
pub const LIMIT_MARKER: Marker = Marker::Dot;

/// Rows the charts want; below this the detail shows none.
pub const MIN_HEIGHT: u16 = 8;

/// One chart's data: points oldest first, spaced `step` apart, ending now.
pub(super) struct Series<'a> {
    pub title: String,
    pub points: Vec<(f64, f64)>,
    /// (label, value, style) threshold lines.
    pub limits: Vec<(String, f64, Style)>,
    pub fmt: &'a dyn Fn(f64) -> String,
    /// Deploy markers: seconds before now, drawn as vertical lines.
    pub markers: Vec<f64>,
    /// The x axis reaches back this far (seconds) even while the data does not yet.
    pub span: Option<f64>,
}

/// The warn and crit threshold lines of a chart, labelled in its own units.
pub(super) fn limit_lines(warn: f64, crit: f64, fmt: &dyn Fn(f64) -> String, t: &Theme) -> Vec<(String, f64, Style)> {
    vec![(format!("warn {}", fmt(warn)), warn, t.warn), (format!("crit {}", fmt(crit)), crit, t.crit)]
}

fn points(h: &History, step: Duration) -> Vec<(f64, f64)> {
    let n = h.len();
    let s = step.as_secs_f64();
    h.iter().enumerate().map(|(i, v)| (-((n - 1 - i) as f64) * s, v)).collect()
}

/// Lag of the selected instance (or the shard's worst replica when the master
/// is selected), the shard's QPS, and its feed p99, side by side or stacked.
pub fn draw(app: &App, frame: &mut Frame, area: Rect, shard: &Shard, inst: &Instance) {
    let t = &app.theme;
    let lag_inst = if inst.lag_history.is_empty() {
        shard.replicas().iter().max_by(|a, b| a.lag().unwrap_or(0.0).total_cmp(&b.lag().unwrap_or(0.0)))
    } else {
        Some(inst)
    };
    let lim = &app.fleet.limits;
    let secs = |v: f64| super::fmt_lag(Some(v));
    let rate = |v: f64| fmt_rate(Some(v));
    let ms = |v: f64| fmt_ms(v);
    let empty = History::default();
    let lag_hist = lag_inst.map_or(&empty, |i| &i.lag_history);
    let series = [
        Series {
            title: format!(" lag {} ", lag_inst.map(|i| i.addr.to_string()).unwrap_or_default()),
            points: points(lag_hist, app.poll_interval),
            limits: limit_lines(lim.lag_warn.as_secs_f64(), lim.lag_crit.as_secs_f64(), &secs, t),
            fmt: &secs,
            markers: Vec::new(),
            span: None,
        },
        Series {
            title: " QPS ".into(),
            points: points(&shard.qps_history, app.poll_interval),
            limits: qps_drop_line(&shard.qps_history, lim)
                .map(|v| vec![(format!("drop {}", rate(v)), v, t.warn)])
                .unwrap_or_default(),
            fmt: &rate,
            markers: Vec::new(),
            span: None,
        },
        Series {
            title: format!(" feed p99 ({}) ", shard.feed.source.label()),
            points: points(&shard.feed.p99_history, app.feed_interval),
            limits: limit_lines(lim.feed_p99_warn.as_secs_f64() * 1e3, lim.feed_p99_crit.as_secs_f64() * 1e3, &ms, t),
            fmt: &ms,
            markers: Vec::new(),
            span: None,
        },
    ];
    let areas: [Rect; 3] = if area.width >= 150 {
        Layout::horizontal([Constraint::Ratio(1, 3); 3]).spacing(2).areas(area)
    } else if area.height >= MIN_HEIGHT * 3 {
        Layout::vertical([Constraint::Ratio(1, 3); 3]).areas(area)
    } else {
        // Short and narrow: the two that matter most on call, side by side; lag fits in the table.
        let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).spacing(2).areas(area);
        [Rect::default(), a, b]
    };
    for (s, a) in series.iter().zip(areas) {
        if a.width >= 20 && a.height >= 4 {
            draw_one(app, frame, a, s);
        }
    }
}

/// Under `--ascii` a chart is a trend line and its figures: ratatui's chart draws its axes and
/// legend with line-drawing characters and its points with blocks.
fn draw_ascii(app: &App, frame: &mut Frame, area: Rect, s: &Series) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(s.title.clone(), t.title));
    let width = area.width.saturating_sub(1) as usize;
    let trend = super::trend(app, s.points.iter().map(|p| p.1), width);
    let now = s.points.last().map_or_else(|| "—".to_string(), |p| (s.fmt)(p.1));
    let max = (s.fmt)(s.points.iter().map(|p| p.1).fold(0.0, f64::max));
    let mut figures = format!("now {now}  max {max}");
    for l in &s.limits {
        figures.push_str(&format!("  {}", l.0));
    }
    let lines = vec![Line::styled(trend, t.accent), Line::styled(figures, t.muted)];
    frame.render_widget(ratatui::widgets::Paragraph::new(lines).block(block), area);
}

pub(super) fn draw_one(app: &App, frame: &mut Frame, area: Rect, s: &Series) {
    let t = &app.theme;
    if app.ascii && !s.points.is_empty() {
        return draw_ascii(app, frame, area, s);
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(s.title.clone(), t.title));
    let x_min = s.points.first().map_or(-60.0, |p| p.0.min(-1.0)).min(s.span.map_or(-1.0, |v| -v));
    let data_max = s.points.iter().map(|p| p.1).fold(0.0, f64::max);
    // The lowest threshold always shows; higher ones when the data comes near them.
    let first_limit = s.limits.iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
    let y_max = (data_max.max(if first_limit.is_finite() { first_limit } else { 0.0 }) * 1.15).max(1.0);
    let lines: Vec<Vec<(f64, f64)>> =
        s.limits.iter().filter(|l| l.1 <= y_max).map(|l| vec![(x_min, l.1), (0.0, l.1)]).collect();
    let marks: Vec<Vec<(f64, f64)>> =
        s.markers.iter().filter(|&&x| x >= x_min).map(|&x| vec![(x, 0.0), (x, y_max)]).collect();
    let mut datasets = Vec::new();
    for pts in &marks {
        datasets.push(Dataset::default().marker(LIMIT_MARKER).graph_type(GraphType::Line).style(t.title).data(pts));
    }
    // One point a column: an hour of points in 70 columns joined by lines would fill them with
    // vertical strokes. Each column keeps its highest value, so a spike stays visible.
    let shown = per_column(&s.points, x_min, area.width.saturating_sub(8).max(1) as usize);
    datasets.push(Dataset::default().marker(DATA_MARKER).graph_type(GraphType::Line).style(t.accent).data(&shown));
    for (l, pts) in s.limits.iter().filter(|l| l.1 <= y_max).zip(&lines) {
        datasets.push(
            Dataset::default().name(l.0.clone()).marker(LIMIT_MARKER).graph_type(GraphType::Line).style(l.2).data(pts),
        );
    }
    let x_label = super::fmt_lag(Some(-x_min));
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .style(t.muted)
                .bounds([x_min, 0.0])
                .labels([Span::raw(format!("-{x_label}")), Span::raw("now")]),
        )
        .y_axis(Axis::default().style(t.muted).bounds([0.0, y_max]).labels([Span::raw("0"), Span::raw((s.fmt)(y_max))]))
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)));
    if s.points.is_empty() {
        let msg = ratatui::widgets::Paragraph::new(Span::styled("  no data yet", t.muted)).block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(t.border)
                .border_set(super::borders(app))
                .title(Span::styled(s.title.clone(), t.title)),
        );
        frame.render_widget(msg, area);
        return;
    }
    frame.render_widget(chart, area);
}

/// `points` (x from `x_min` to 0) reduced to at most `cols` points, one a column: its highest
/// value, at the newest x of the column's points.
fn per_column(points: &[(f64, f64)], x_min: f64, cols: usize) -> Vec<(f64, f64)> {
    if points.len() <= cols || x_min >= 0.0 {
        return points.to_vec();
    }
    let col = |x: f64| (((x - x_min) / -x_min) * cols as f64).floor().clamp(0.0, cols as f64 - 1.0) as usize;
    let mut out: Vec<(usize, f64, f64)> = Vec::with_capacity(cols);
    for &(x, y) in points {
        let c = col(x);
        match out.last_mut() {
            Some(last) if last.0 == c => {
                last.1 = x;
                last.2 = last.2.max(y);
            }
            _ => out.push((c, x, y)),
        }
    }
    out.into_iter().map(|(_, x, y)| (x, y)).collect()
}

#[cfg(test)]
mod tests {
    use super::per_column;

    #[test]
    fn an_hour_is_one_point_a_column_keeping_the_peaks() {
        let pts: Vec<(f64, f64)> =
            (0..360).map(|k| (-3590.0 + 10.0 * k as f64, if k == 100 { 50.0 } else { 1.0 })).collect();
        let shown = per_column(&pts, -3600.0, 60);
        assert_eq!(shown.len(), 60);
        assert!(shown.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(shown.iter().filter(|p| p.1 == 50.0).count(), 1, "the spike is kept");
        assert_eq!(shown.last().map(|p| p.0), Some(0.0), "ends now");
        // Fewer points than columns: as they are.
        assert_eq!(per_column(&pts[..10], -3600.0, 60), pts[..10].to_vec());
    }
}
