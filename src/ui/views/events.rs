//! The events pane: state changes as they happen, via tui-logger.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget};

use crate::ui::app::App;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .border_set(super::borders(app))
        .title(Span::styled(" Events ", t.title));
    let widget = TuiLoggerWidget::default()
        .block(block)
        .output_timestamp(Some("%H:%M:%S".into()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false)
        .style_error(t.crit)
        .style_warn(t.warn)
        .style_info(t.ok)
        .style_debug(t.muted);
    frame.render_widget(widget, area);
}
