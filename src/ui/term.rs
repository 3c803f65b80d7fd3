//! The terminal's modes, and giving them back: on quit, on a signal, on a panic, and around a
//! suspension (Ctrl-Z, SIGTSTP), after which the TUI takes the terminal again and redraws.

use std::io;

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

/// The normal screen, cooked mode, the cursor shown, no mouse reports. Best effort: every step
/// is tried, the first failure is returned.
pub fn leave(mouse: bool) -> io::Result<()> {
    let mut out = io::stdout();
    let mouse = if mouse { execute!(out, DisableMouseCapture) } else { Ok(()) };
    let raw = disable_raw_mode();
    let screen = execute!(out, LeaveAlternateScreen, Show);
    mouse.and(raw).and(screen)
}

/// Back after a suspension: raw mode, the alternate screen, the mouse if it was on. The caller
/// repaints (the screen there is whatever the shell left).
pub fn enter(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    if mouse {
        let _ = execute!(io::stdout(), EnableMouseCapture);
    }
    Ok(())
}

/// On a panic, the terminal first (ratatui's own hook leaves the cursor hidden and the mouse
/// reporting), then the message, on the normal screen where it stays readable.
pub fn install_panic_hook(mouse: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = leave(mouse);
        previous(info);
    }));
}

/// Ctrl-Z (a key in raw mode) or SIGTSTP: give the terminal back and stop, as a shell's job
/// control expects; when continued (`fg`, SIGCONT), take it again. SIGSTOP rather than SIGTSTP:
/// SIGTSTP is caught here, and the kernel drops it for a process group without a shell.
pub fn suspend(mouse: bool) -> io::Result<()> {
    leave(mouse)?;
    // SAFETY: raise() only sends a signal to this process; it touches no memory.
    let stopped = unsafe { libc::raise(libc::SIGSTOP) };
    if stopped != 0 {
        log::warn!(target: "shardtop", "cannot suspend: {}", io::Error::last_os_error());
    }
    enter(mouse)
}

/// A test-only hook (`SHARDTOP_TEST_PANIC=1`): panic after the first frame, for the pty tests that
/// check the terminal is restored and the message readable.
pub fn test_panic_requested() -> bool {
    std::env::var_os("SHARDTOP_TEST_PANIC").is_some_and(|v| v == "1")
}
