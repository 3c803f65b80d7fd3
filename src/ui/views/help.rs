//! The help overlay, generated from the active keymap (defaults plus `[keys]`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::fleet::Health;
use crate::ui::app::App;
use crate::ui::theme::health_symbol;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = app
        .keymap
        .entries
        .iter()
        .filter(|e| !e.keys.is_empty())
        .map(|e| {
            let keys: Vec<String> = e.keys.iter().map(|k| k.to_string()).collect();
            Line::from(vec![Span::styled(format!(" {:<19} ", keys.join(" ")), t.accent), Span::raw(e.desc.clone())])
        })
        .collect();
    lines.push(Line::raw(""));
    let legend: Vec<Span> = [Health::Ok, Health::Warning, Health::Critical, Health::Unknown]
        .into_iter()
        .map(|h| Span::styled(format!(" {} {}", health_symbol(h), h.label()), t.health(h)))
        .collect();
    lines.push(Line::from(legend));
    let w = 60.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(" Keys (any key closes) ", t.title));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
