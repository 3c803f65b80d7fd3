//! The terminal is always given back (issue 17 §6): `shardtop demo` in a real pseudo-terminal,
//! ended by SIGTERM, SIGHUP, SIGINT, suspended by Ctrl-Z and SIGTSTP then continued (it redraws),
//! and made to panic (`SHARDTOP_TEST_PANIC=1`). After each: the alternate screen left, the cursor
//! shown, raw mode off (`stty -a` on the same pty), and the panic's message on the normal screen.
//! No sandbox: the demo's simulated fleet; and the live TUI on servers that do not answer, made to
//! panic with a password in its environment (issue 17 §8: none in the panic's output).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENTER_ALT: &str = "\x1b[?1049h";
const LEAVE_ALT: &str = "\x1b[?1049l";
const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// `shardtop demo` on a 100×30 pty: its master side, read into `out` by a thread.
struct Pty {
    master: std::fs::File,
    slave: OwnedFd,
    pid: libc::pid_t,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(env: &[(&str, &str)]) -> Pty {
        Pty::spawn_args(&["demo"], env)
    }

    /// `shardtop ARGS` on the pty.
    fn spawn_args(args: &[&str], env: &[(&str, &str)]) -> Pty {
        let (mut master, mut slave): (libc::c_int, libc::c_int) = (-1, -1);
        let size = libc::winsize { ws_row: 30, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors into the variables given; no name buffer, no termios.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both were just opened and are owned here alone.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = || Stdio::from(slave.try_clone().expect("dup pty"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardtop"));
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
        let child = cmd.spawn().expect("start shardtop demo in a pty");
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
        // The child is reaped with waitpid below (std's Child would not see it stop).
        std::mem::forget(child);
        Pty { master, slave, pid, out }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().map(|o| o.clone()).unwrap_or_default()).into_owned()
    }

    /// Waits until the output from byte `from` on holds `what`.
    fn wait_for(&self, from: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().get(from..).is_some_and(|t| t.contains(what)) {
            assert!(Instant::now() < deadline, "no {what:?} in the output after byte {from}:\n{:?}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn len(&self) -> usize {
        self.text().len()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill only sends a signal.
        assert_eq!(unsafe { libc::kill(self.pid, sig) }, 0, "kill {sig}");
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
    }

    /// Waits for the child to stop (`stopped`) or to end; returns the wait status.
    fn wait(&self, stopped: bool) -> libc::c_int {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status of our own child into `status`.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG | libc::WUNTRACED) };
            if rc == self.pid && (libc::WIFSTOPPED(status) == stopped) {
                return status;
            }
            assert!(rc >= 0, "waitpid: {}", std::io::Error::last_os_error());
            assert!(Instant::now() < deadline, "shardtop did not {}", if stopped { "stop" } else { "exit" });
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal as shardtop left it: normal screen, cursor shown, cooked mode with echo.
    fn assert_restored(&self, when: &str) {
        // Whatever it wrote last goes out before the check.
        std::thread::sleep(Duration::from_millis(200));
        let out = self.text();
        let last = |s: &str| out.rfind(s);
        assert!(last(ENTER_ALT).is_some(), "{when}: never entered the alternate screen");
        assert!(last(LEAVE_ALT) > last(ENTER_ALT), "{when}: alternate screen not left:\n{out:?}");
        assert!(last(SHOW_CURSOR) >= last(HIDE_CURSOR), "{when}: cursor left hidden:\n{out:?}");
        let stty = Command::new("stty")
            .arg("-a")
            .stdin(Stdio::from(self.slave.try_clone().expect("dup slave")))
            .output()
            .expect("run stty -a");
        let settings = String::from_utf8_lossy(&stty.stdout);
        let flags: Vec<&str> = settings.split(|c: char| c.is_whitespace() || c == ';').collect();
        for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(flags.contains(&flag), "{when}: raw mode still on ({flag} off): {settings}");
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid on our own child; a test that failed leaves no process behind.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
        let _ = self.master.as_raw_fd();
    }
}

fn ended_by(sig: libc::c_int) {
    let pty = Pty::spawn(&[]);
    pty.wait_for(0, "demo");
    pty.signal(sig);
    let status = pty.wait(false);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "signal {sig}: wait status {status}");
    pty.assert_restored(&format!("after signal {sig}"));
}

#[test]
fn sigterm_restores_the_terminal() {
    ended_by(libc::SIGTERM);
}

#[test]
fn sighup_restores_the_terminal() {
    ended_by(libc::SIGHUP);
}

#[test]
fn sigint_restores_the_terminal() {
    ended_by(libc::SIGINT);
}

#[test]
fn ctrl_z_and_sigtstp_give_the_terminal_back_and_fg_redraws() {
    let mut pty = Pty::spawn(&[]);
    pty.wait_for(0, "demo");
    for (how, suspend) in [("Ctrl-Z", None), ("SIGTSTP", Some(libc::SIGTSTP))] {
        match suspend {
            None => pty.type_bytes(b"\x1a"),
            Some(sig) => pty.signal(sig),
        }
        pty.wait(true);
        pty.assert_restored(&format!("stopped by {how}"));
        // `fg`: continued, it takes the terminal again and draws the whole screen.
        let from = pty.len();
        pty.signal(libc::SIGCONT);
        pty.wait_for(from, ENTER_ALT);
        pty.wait_for(from, "demo");
        pty.wait_for(from, HIDE_CURSOR);
        assert!(!pty.text()[from..].contains("\x1b[6n"), "a query the terminal may not answer");
    }
    pty.type_bytes(b"q");
    let status = pty.wait(false);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "wait status {status}");
    pty.assert_restored("after q");
}

#[test]
fn a_panic_restores_the_terminal_and_its_message_is_readable() {
    let pty = Pty::spawn(&[("SHARDTOP_TEST_PANIC", "1"), ("RUST_BACKTRACE", "0")]);
    let status = pty.wait(false);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 101, "wait status {status}");
    pty.assert_restored("after a panic");
    let out = pty.text();
    let normal = out.rfind(LEAVE_ALT).map_or("", |i| &out[i..]);
    assert!(normal.contains("test panic (SHARDTOP_TEST_PANIC=1)"), "no panic message on the normal screen:\n{out:?}");
}

/// Issue 17 §8: a panic of the live TUI shows no password. The monitoring password is in the
/// environment (as `password_env` reads it), the servers do not answer, and the whole pty output,
/// panic message and backtrace included, is searched for it.
#[test]
fn a_panic_of_the_live_tui_shows_no_password() {
    const PASSWORD: &str = "pty-panic-secret-5d1e8c47a2";
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("shardtop.toml");
    std::fs::write(
        &cfg,
        "[defaults]\nuser = \"monitor\"\npassword_env = \"PTY_TEST_PASSWORD\"\n\n[[shard]]\nname = \"s1\"\n\
         master = \"127.0.0.1:1\"\nreplicas = [\"127.0.0.1:2\"]\n",
    )
    .expect("write config");
    let cfg = cfg.to_str().expect("utf-8 path");
    let pty = Pty::spawn_args(
        &["--config", cfg],
        &[("SHARDTOP_TEST_PANIC", "1"), ("RUST_BACKTRACE", "full"), ("PTY_TEST_PASSWORD", PASSWORD)],
    );
    let status = pty.wait(false);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 101, "wait status {status}");
    pty.assert_restored("after a panic of the live TUI");
    let out = pty.text();
    assert!(out.contains("test panic (SHARDTOP_TEST_PANIC=1)"), "it panicked (else this proves nothing):\n{out:?}");
    assert!(!out.contains(PASSWORD), "the password is in the terminal's output:\n{out:?}");
}
