//! The help overlay, generated from the active keymap (defaults plus `[keys]`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::fleet::Health;
use crate::keymap::Action;
use crate::ui::app::App;
use crate::ui::theme::health_symbol;

/// Width of the keys column.
const KEYS_W: usize = 19;

/// Bindings that share a line when the screen is short.
const PAIRS: [(Action, Action); 4] = [
    (Action::Up, Action::Down),
    (Action::PageUp, Action::PageDown),
    (Action::Top, Action::Bottom),
    (Action::Sort, Action::SortReverse),
];

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let listed: Vec<&crate::keymap::Entry> = app.keymap.entries.iter().filter(|e| !e.keys.is_empty()).collect();
    let keys = |e: &crate::keymap::Entry| e.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" ");
    // On a screen too short for a line each, the pairs (up/down, page up/down, first/last) share one.
    let short = listed.len() + 2 > area.height as usize && area.width < 100;
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < listed.len() {
        let e = listed[i];
        let pair = listed.get(i + 1).filter(|n| short && PAIRS.contains(&(e.action, n.action)));
        match pair {
            Some(n) => {
                entries.push((format!("{} / {}", keys(e), keys(n)), format!("{} / {}", e.desc, n.desc)));
                i += 2;
            }
            None => {
                entries.push((keys(e), e.desc.clone()));
                i += 1;
            }
        }
    }
    // One column when it fits the height; else two side by side (short terminals, long keymaps).
    let columns = if entries.len() + 2 > area.height as usize && area.width >= 100 { 2 } else { 1 };
    let per_column = entries.len().div_ceil(columns);
    let col_w = 62usize.min((area.width as usize).saturating_sub(2) / columns);
    let lines: Vec<Line> = (0..per_column)
        .map(|row| {
            let mut spans = Vec::new();
            for c in 0..columns {
                let Some((keys, desc)) = entries.get(c * per_column + row) else { continue };
                let desc_w = col_w.saturating_sub(KEYS_W + 2);
                let desc: String = desc.chars().take(desc_w).collect();
                spans.push(Span::styled(format!(" {keys:<KEYS_W$} "), t.accent));
                spans.push(Span::raw(if c + 1 < columns { format!("{desc:<desc_w$}") } else { desc }));
            }
            Line::from(spans)
        })
        .collect();
    // The legend sits in the bottom border, so every key line fits 80×24.
    let mut legend: Vec<Span> = [Health::Ok, Health::Warning, Health::Critical, Health::Unknown]
        .into_iter()
        .map(|h| Span::styled(format!(" {} {}", health_symbol(h), h.label()), t.health(h)))
        .collect();
    legend.push(Span::styled(format!(" {} stale ", super::STALE_SYMBOL), t.warn));
    let w = ((col_w * columns) as u16 + 2).min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let (popup, block) = super::popup(app, frame, area, (w, h), Span::styled(" Keys (any key closes) ", t.title));
    let block = block.title_bottom(Line::from(legend));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
