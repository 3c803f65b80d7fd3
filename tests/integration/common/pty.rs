//! A program in a pseudo-terminal, as a terminal emulator runs it: its own session with the pty as
//! its controlling terminal, everything it writes collected by a thread. The terminal tests
//! (`terminal`) and the remote TUI's (`serve`) start shardtop so.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A child on a pty: the master side (type into it), the slave side (ask it, as `stty` does), the
/// child's pid (reaped by its owner: std's `Child` would not see it stop) and its output so far.
pub struct Pty {
    pub master: File,
    pub slave: OwnedFd,
    pub pid: libc::pid_t,
    out: Arc<Mutex<Vec<u8>>>,
}

/// The descriptor is not inherited by the processes the tests start later (servers, other TUIs):
/// one that held this pty's slave open would keep its reader from ever seeing the end.
fn close_on_exec(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a descriptor we own, setting only its close-on-exec flag.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    assert_eq!(rc, 0, "fcntl FD_CLOEXEC: {}", std::io::Error::last_os_error());
}

impl Pty {
    /// `bin ARGS` with `env` (and TERM=xterm-256color) on a `rows`×`cols` pty.
    pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)], rows: u16, cols: u16) -> Pty {
        let (mut master, mut slave): (libc::c_int, libc::c_int) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors into the variables given; no name buffer, no termios.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both were just opened and are owned here alone.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        close_on_exec(&master);
        close_on_exec(&slave);
        // The child's copies: made close-on-exec too, and put on its 0, 1 and 2 (which are not).
        let stdio = || Stdio::from(slave.try_clone().expect("dup pty"));
        let mut cmd = Command::new(bin);
        cmd.args(args).env("TERM", "xterm-256color").stdin(stdio()).stdout(stdio()).stderr(stdio());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec: a new session, with the pty
        // (its stdin) as its controlling terminal, as a terminal emulator starts a shell.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {} in a pty: {e}", bin.display()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let (sink, mut reader) = (out.clone(), master.try_clone().expect("dup master"));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().map(|mut o| o.extend_from_slice(&buf[..n])).ok();
            }
        });
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // Reaped with waitpid by the owner (std's Child would not see it stop).
        std::mem::forget(child);
        Pty { master, slave, pid, out }
    }

    /// Every byte written so far, as text.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().map(|o| o.clone()).unwrap_or_default()).into_owned()
    }

    /// SIGKILL the child and reap it (for `Drop`: a test that failed leaves no process behind).
    pub fn kill(&self) {
        // SAFETY: kill and waitpid on our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// What a `rows`×`cols` terminal shows after `raw`: the part of a terminal a ratatui program
/// uses (cursor moves, clears, text; colours and modes are skipped). One cell a character: the
/// program moves the cursor after a wide one.
pub fn screen_of(raw: &str, rows: usize, cols: usize) -> String {
    let mut grid = vec![vec![' '; cols]; rows];
    let (mut r, mut c) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\x1b' if chars.next_if_eq(&'[').is_some() => {
                let mut params = String::new();
                let mut fin = ' ';
                for p in chars.by_ref() {
                    if p.is_ascii_alphabetic() || p == '~' || p == '@' {
                        fin = p;
                        break;
                    }
                    params.push(p);
                }
                let n: Vec<usize> = params.split(';').map(|v| v.parse().unwrap_or(1)).collect();
                let at = |i: usize| n.get(i).copied().unwrap_or(1).max(1);
                match fin {
                    'H' | 'f' => (r, c) = (at(0) - 1, at(1) - 1),
                    'A' => r = r.saturating_sub(at(0)),
                    'B' => r += at(0),
                    'C' => c += at(0),
                    'D' => c = c.saturating_sub(at(0)),
                    'G' => c = at(0) - 1,
                    'J' if params == "2" || params == "3" => grid.iter_mut().for_each(|l| l.fill(' ')),
                    'J' => {
                        for (i, line) in grid.iter_mut().enumerate().skip(r) {
                            line[if i == r { c.min(cols) } else { 0 }..].fill(' ');
                        }
                    }
                    'K' => {
                        if let Some(line) = grid.get_mut(r) {
                            line[c.min(cols)..].fill(' ');
                        }
                    }
                    // Entering or leaving the alternate screen starts it blank.
                    'h' | 'l' if params == "?1049" => grid.iter_mut().for_each(|l| l.fill(' ')),
                    _ => {}
                }
            }
            '\x1b' => {
                chars.next();
            }
            '\r' => c = 0,
            '\n' => r += 1,
            ch if ch.is_control() => {}
            ch => {
                if let Some(cell) = grid.get_mut(r).and_then(|l| l.get_mut(c)) {
                    *cell = ch;
                }
                c += 1;
            }
        }
    }
    grid.iter().map(|l| l.iter().collect::<String>().trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// The screen is what the TUI's diffs leave, which its bytes may not spell: a row that said s45
/// and now says s46 is written as one "6" at its place (as ratatui writes it).
#[test]
fn a_row_rewritten_in_place_reads_whole_on_the_screen_and_not_in_the_bytes() {
    let raw = "\x1b[?1049h\x1b[2J\x1b[1;1H? UNKNO s45 127.0.0.1:24132\x1b[2;1Hno data yet\x1b[1;1H\x1b[1m●\x1b[1;3HOK   \x1b[1;11H6\x1b[1;27H5\x1b[22m\x1b[2;1H\x1b[Kback";
    let screen = screen_of(raw, 3, 40);
    assert_eq!(screen, "● OK    s46 127.0.0.1:24135\nback\n");
    assert!(!raw.contains("s46") && raw.contains("no data yet"));
}
