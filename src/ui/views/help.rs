//! The help overlay, generated from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::app::App;
use crate::ui::keys::BINDINGS;
use crate::ui::theme::health_symbol;
use crate::fleet::Health;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| Line::from(vec![Span::styled(format!(" {:<18}", b.keys.join(" ")), t.accent), Span::raw(b.desc)]))
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
