//! Kiosk mode's banner: the fleet's health in letters readable from across a
//! room, with the shard counts, the clock and the age of the data beside it.
//! When no data has arrived for a while the banner greys out and says how old
//! what it shows is, so a wall display never looks fine while blind.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tui_big_text::{BigText, PixelSize};

use super::fmt_lag;
use crate::fleet::Health;
use crate::ui::app::{App, View};
use crate::ui::kiosk;
use crate::ui::summary::Summary;
use crate::ui::theme::health_symbol;

/// Rows the banner takes for a screen this tall.
pub fn banner_height(screen: Rect) -> u16 {
    match screen.height {
        h if h >= 40 => 9,
        h if h >= 16 => 5,
        _ => 2,
    }
}

/// The data is stale: nothing has come from any server for this many seconds.
fn stale_age(app: &App) -> Option<f64> {
    match kiosk::data_age(app) {
        Some(a) if a > app.stale_after() => Some(a),
        _ => None,
    }
}

pub fn draw_banner(app: &App, summary: &Summary, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let fleet = app.fleet.health();
    let stale = stale_age(app);
    let word = match (stale, fleet) {
        (Some(_), _) => "STALE",
        (None, Health::Ok) => "OK",
        (None, Health::Warning) => "WARN",
        (None, Health::Critical) => "CRIT",
        (None, Health::Unknown) => "UNKN",
    };
    let style = if stale.is_some() { t.muted } else { t.health(fleet) };
    // 8×8 glyphs: full size needs 8 rows, half height 4 (half blocks, so not with --ascii).
    let size = match area.height {
        h if h >= 9 => Some(PixelSize::Full),
        h if h >= 5 && !app.ascii => Some(PixelSize::HalfHeight),
        _ => None,
    };
    let big_w = if size.is_some() { 8 * word.len() as u16 + 2 } else { 0 };
    let [big, side] =
        Layout::horizontal([Constraint::Length(big_w.min(area.width / 2)), Constraint::Fill(1)]).areas(area);
    if let Some(size) = size {
        let text = BigText::builder().pixel_size(size).style(style).lines(vec![Line::from(word)]).build();
        let inner = big.inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 });
        frame.render_widget(text, inner);
        if app.ascii {
            for pos in inner.positions() {
                let cell = &mut frame.buffer_mut()[pos];
                if cell.symbol() == "█" {
                    cell.set_symbol("#");
                }
            }
        }
    }

    let (ok, warn, crit, unknown) = (summary.ok, summary.warn, summary.crit, summary.unknown);
    let mut counts =
        vec![Span::styled(format!("{} {} ", health_symbol(fleet), fleet.label()), style.add_modifier(Modifier::BOLD))];
    for (n, h) in [(crit, Health::Critical), (warn, Health::Warning), (unknown, Health::Unknown), (ok, Health::Ok)] {
        let s = if n == 0 || stale.is_some() { t.muted } else { t.health(h) };
        counts.push(Span::styled(format!(" {} {} {}", health_symbol(h), n, h.label().to_lowercase()), s));
    }
    if summary.stale > 0 && stale.is_none() {
        counts.push(Span::styled(format!(" {} {} stale", super::STALE_SYMBOL, summary.stale), t.warn));
    }
    let clock = app.now.with_timezone(&app.clock_offset).format("%H:%M:%S").to_string();
    let age = match (kiosk::data_age(app), stale) {
        (None, _) => Span::styled("no data yet", t.unknown),
        (Some(a), Some(_)) => {
            Span::styled(format!("NO NEW DATA FOR {} — what you see is old", fmt_lag(Some(a.floor()))), t.warn)
        }
        (Some(a), None) => Span::styled(format!("data {} old", fmt_lag(Some(a.floor()))), t.muted),
    };
    let mut lines = vec![
        Line::from(vec![Span::styled(format!("{clock}  "), t.title), Span::styled(app.source.clone(), t.muted)]),
        Line::from(counts),
        Line::from(age),
    ];
    if let Some(k) = &app.kiosk {
        let views = kiosk::rotation(app);
        let pos = views.iter().position(|v| *v == app.view).map_or_else(|| "-".to_string(), |p| (p + 1).to_string());
        lines.push(Line::styled(
            match k.held_for.and_then(|s| app.fleet.shards.get(s)) {
                Some(s) => format!("{} · held while {} is critical · read-only", view_name(app), s.name),
                None => format!(
                    "{} · view {pos}/{} · next in {}s · read-only",
                    view_name(app),
                    views.len(),
                    k.remaining_for(app.view, app.now)
                ),
            },
            t.muted,
        ));
    }
    // Small screens: the first lines matter most (clock, counts, age).
    lines.truncate(side.height as usize);
    frame.render_widget(Paragraph::new(lines).style(Style::default()), side);
}

fn view_name(app: &App) -> String {
    match app.view {
        View::Overview => "overview".into(),
        View::Wall => "wall".into(),
        View::Detail(i) => app.fleet.shards.get(i).map_or_else(|| "shard".into(), |s| format!("shard {}", s.name)),
        View::Topology(None) => "topology".into(),
        View::Topology(Some(i)) => {
            app.fleet.shards.get(i).map_or_else(|| "topology".into(), |s| format!("topology {}", s.name))
        }
    }
}
