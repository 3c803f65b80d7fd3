//! Drawing. Every function here reads the `App` and writes to a frame; none
//! changes state or does I/O.

mod charts;
mod detail;
mod events;
mod help;
mod overview;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, View};
use super::theme::health_symbol;
use crate::fleet::Health;

/// Draw the whole screen. Returns how many table rows fit, for paging.
pub fn draw(app: &App, frame: &mut Frame) -> usize {
    let area = frame.area();
    let events_h = if app.show_events && area.height >= 16 { (area.height / 4).clamp(5, 12) } else { 0 };
    let [header, body, events_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(events_h),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(app, frame, header);
    let rows = match app.view {
        View::Overview => overview::draw(app, frame, body),
        View::Detail(i) => detail::draw(app, frame, body, i),
    };
    if events_h > 0 {
        events::draw(app, frame, events_area);
    }
    draw_footer(app, frame, footer);
    if app.show_help {
        help::draw(app, frame, area);
    }
    rows
}

fn draw_header(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (ok, warn, crit, unknown) = app.fleet.counts();
    let fleet = app.fleet.health();
    let mut spans = vec![
        Span::styled(" shardtop ", t.title),
        Span::styled(format!("{} ", app.source), t.muted),
        Span::styled(format!("{} {} ", health_symbol(fleet), fleet.label()), t.health(fleet)),
        Span::raw("│ "),
    ];
    for (n, h) in [(ok, Health::Ok), (warn, Health::Warning), (crit, Health::Critical), (unknown, Health::Unknown)] {
        let style = if n == 0 { t.muted } else { t.health(h) };
        spans.push(Span::styled(format!("{} {} {}  ", health_symbol(h), n, h.label().to_lowercase()), style));
    }
    let clock = app.now.with_timezone(&app.clock_offset).format("%H:%M:%S").to_string();
    let summary = format!("{} shards · {} servers", app.fleet.shards.len(), app.fleet.instance_count());
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let right = format!("{summary}  {clock} ");
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    if pad > 0 {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(right, t.muted));
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
        let hint = |k: &str, what: &str, spans: &mut Vec<Span<'static>>| {
            spans.push(Span::styled(format!(" {k}"), t.accent));
            spans.push(Span::styled(format!(" {what} "), t.muted));
        };
        hint("?", "help", &mut spans);
        match app.view {
            View::Overview => {
                hint("/", "filter", &mut spans);
                hint("s", &format!("sort:{}", app.sort.label()), &mut spans);
                hint("⏎", "detail", &mut spans);
            }
            View::Detail(_) => hint("Esc", "back", &mut spans),
        }
        hint("e", "events", &mut spans);
        hint("q", "quit", &mut spans);
        if !app.filter.is_empty() {
            spans.push(Span::styled(format!(" filter: {} ", app.filter), t.warn));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
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
    fn sparkline_scales_to_range_and_width() {
        assert_eq!(sparkline([1.0, 2.0, 3.0].into_iter(), 10), "▁▅█");
        assert_eq!(sparkline([0.0, 1.0, 2.0, 3.0].into_iter(), 2), "▁█");
        assert_eq!(sparkline([5.0, 5.0].into_iter(), 4), "▅▅");
        assert_eq!(sparkline(std::iter::empty::<f64>(), 4), "");
    }
}
