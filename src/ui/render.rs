//! One frame to the terminal, and only when it differs from what is already
//! there. ratatui diffs cells, but even an empty diff writes colour and
//! attribute resets; skipping identical frames makes an unchanged screen cost
//! zero bytes, which matters over SSH and is what `shardtop bench --terminal`
//! measures.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;

use super::app::App;
use super::views;

#[derive(Default)]
pub struct Renderer {
    /// What the terminal shows now.
    last: Option<Buffer>,
    cursor_hidden: bool,
}

impl Renderer {
    /// Draw `app`; returns whether anything was written to the terminal.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>, app: &mut App) -> io::Result<bool>
    where
        B::Error: Into<io::Error>,
    {
        terminal.autoresize().map_err(Into::into)?;
        let mut frame = terminal.get_frame();
        let drawn = views::draw(app, &mut frame);
        app.page_rows = drawn.page;
        app.table_top = drawn.table_top;
        let changed = self.last.as_ref() != Some(&*terminal.current_buffer_mut());
        if changed {
            terminal.flush().map_err(Into::into)?;
            if !self.cursor_hidden {
                terminal.hide_cursor().map_err(Into::into)?;
                self.cursor_hidden = true;
            }
            self.last = Some(terminal.current_buffer_mut().clone());
            terminal.backend_mut().flush().map_err(Into::into)?;
        }
        terminal.swap_buffers();
        app.dirty = false;
        Ok(changed)
    }

    /// After a suspension (the shell had the screen): clear it and draw every cell next time,
    /// without `Terminal::clear`, whose cursor position query a terminal may not answer.
    pub fn redraw_all<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> io::Result<()>
    where
        B::Error: Into<io::Error>,
    {
        terminal.backend_mut().clear_region(ratatui::backend::ClearType::All).map_err(Into::into)?;
        terminal.current_buffer_mut().reset();
        terminal.swap_buffers();
        self.invalidate();
        Ok(())
    }

    /// Forget what is on screen (after something else wrote to it, or after a suspension showed
    /// the cursor).
    pub fn invalidate(&mut self) {
        self.last = None;
        self.cursor_hidden = false;
    }
}

/// A terminal that only counts the bytes it is given: what an SSH session would carry, for
/// `shardtop bench --terminal` and the tests that hold the UI to it.
#[derive(Clone, Default)]
pub struct ByteCounter(pub Rc<Cell<usize>>);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.set(self.0.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
