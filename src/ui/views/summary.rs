//! The overview's summary band: the fleet's load and worst lag on one line
//! (the header has the counts by health),
//! then a line per kind of problem with how many shards have it and which.
//! A thousand shards with forty of them in trouble read as a handful of lines.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{STALE_SYMBOL, fmt_lag, fmt_rate};
use crate::ui::app::App;
use crate::ui::summary::{Group, STALE_KIND, Summary};
use crate::ui::theme::health_symbol;

/// Lines the band takes in a body this tall: none on tiny screens, else the
/// fleet line and a line per kind of problem, up to 3 (up to 6 from 30 lines).
pub fn height(summary: &Summary, area: Rect) -> u16 {
    if area.height < 10 {
        return 0;
    }
    let room = if area.height >= 30 { 6 } else { 3 };
    1 + summary.groups.len().min(room) as u16
}

pub fn draw(app: &App, summary: &Summary, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let mut fleet = vec![Span::styled(" QPS ", t.muted), Span::raw(fmt_rate(summary.qps))];
    if let Some(w) = &summary.worst_lag {
        let style = if w.secs >= app.fleet.limits.lag_crit.as_secs_f64() {
            t.crit
        } else if w.secs >= app.fleet.limits.lag_warn.as_secs_f64() {
            t.warn
        } else {
            t.text
        };
        fleet.push(Span::styled(" · worst lag ", t.muted));
        fleet.push(Span::styled(fmt_lag(Some(w.secs)), style));
        // Where, once it matters: which replica is 2 s behind changes every second (and costs
        // bytes over SSH) and says nothing.
        if w.secs >= app.fleet.limits.lag_warn.as_secs_f64() {
            let shard = app.fleet.shards.get(w.shard).map_or("", |s| s.name.as_str());
            let server = w.server.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
            fleet.push(Span::raw(format!(" {shard}{server}")));
        }
    }
    let mut lines = vec![Line::from(fleet)];
    let room = area.height as usize - 1;
    let groups = &summary.groups;
    // When the kinds outnumber the lines, the last line names the rest.
    let shown = if groups.len() > room { room.saturating_sub(1) } else { groups.len() };
    let count_w = groups.iter().map(|g| g.shards.len().to_string().len()).max().unwrap_or(1);
    let kind_w = groups.iter().take(shown).map(|g| g.kind.len()).max().unwrap_or(0);
    for g in &groups[..shown] {
        lines.push(group_line(app, g, count_w, kind_w, area.width as usize));
    }
    if shown < groups.len() && room > 0 {
        let rest: Vec<String> = groups[shown..].iter().map(|g| format!("{} {}", g.shards.len(), g.kind)).collect();
        lines.push(Line::styled(format!(" + {}", rest.join(" · ")), t.muted));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// ` ✖ 48 shards  IO thread not running   users-07 users-10 users-35 … +41`
fn group_line(app: &App, g: &Group, count_w: usize, kind_w: usize, width: usize) -> Line<'static> {
    let t = &app.theme;
    let (symbol, style): (&str, Style) = if g.kind == STALE_KIND {
        (STALE_SYMBOL, t.warn)
    } else if crate::ui::summary::is_action_group(g, app) {
        (if app.ascii { "*" } else { "◆" }, t.accent)
    } else {
        (health_symbol(g.severity), t.health(g.severity))
    };
    let noun = if g.shards.len() == 1 { "shard " } else { "shards" };
    let head = format!(" {symbol} {:>count_w$} {noun}  {:<kind_w$}  ", g.shards.len(), g.kind);
    let mut left = width.saturating_sub(head.chars().count());
    let mut names = String::new();
    for (k, &s) in g.shards.iter().enumerate() {
        let name = app.fleet.shards.get(s).map_or("", |x| x.name.as_str());
        let more = g.shards.len() - k - 1;
        // Room for this name, and for the "+N" that would follow it.
        let tail = if more > 0 { format!(" +{more}").len() } else { 0 };
        if name.len() + 1 + tail > left {
            let rest = g.shards.len() - k;
            names.push_str(&format!("+{rest}"));
            break;
        }
        names.push_str(name);
        names.push(' ');
        left -= name.len() + 1;
    }
    Line::from(vec![Span::styled(head, style), Span::raw(names.trim_end().to_string())])
}
