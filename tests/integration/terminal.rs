//! The terminal is always given back (issue 17 §6): `shardtop demo` in a real pseudo-terminal,
//! ended by SIGTERM, SIGHUP, SIGINT, suspended by Ctrl-Z and SIGTSTP then continued (it redraws),
//! and made to panic (`SHARDTOP_TEST_PANIC=1`). After each: the alternate screen left, the cursor
//! shown, raw mode off (`stty -a` on the same pty), and the panic's message on the normal screen.
//! No sandbox: the demo's simulated fleet; and the live TUI on servers that do not answer, made to
//! panic with a password in its environment (issue 17 §8: none in the panic's output).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENTER_ALT: &str = "\x1b[?1049h";
const LEAVE_ALT: &str = "\x1b[?1049l";
const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

/// `shardtop demo` on a 100×30 pty (`common::pty`).
struct Pty {
    pty: crate::common::pty::Pty,
}

impl Pty {
    fn spawn(env: &[(&str, &str)]) -> Pty {
        Pty::spawn_args(&["demo"], env)
    }

    /// `shardtop ARGS` on the pty.
    fn spawn_args(args: &[&str], env: &[(&str, &str)]) -> Pty {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_shardtop"));
        Pty { pty: crate::common::pty::Pty::spawn(bin, args, env, 30, 100) }
    }

    fn text(&self) -> String {
        self.pty.raw()
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
        assert_eq!(unsafe { libc::kill(self.pty.pid, sig) }, 0, "kill {sig}");
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        (&self.pty.master).write_all(bytes).expect("write to the pty");
    }

    /// Waits for the child to stop (`stopped`) or to end; returns the wait status.
    fn wait(&self, stopped: bool) -> libc::c_int {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status of our own child into `status`.
            let rc = unsafe { libc::waitpid(self.pty.pid, &mut status, libc::WNOHANG | libc::WUNTRACED) };
            if rc == self.pty.pid && (libc::WIFSTOPPED(status) == stopped) {
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
            .stdin(Stdio::from(self.pty.slave.try_clone().expect("dup slave")))
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
        // A test that failed leaves no process behind.
        self.pty.kill();
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
