//! The binary as a user runs it: help, version, argument errors, exit codes.

use assert_cmd::Command;
use predicates::prelude::*;

fn shardtop() -> Command {
    let mut c = Command::cargo_bin("shardtop").expect("binary built");
    c.env_remove("NO_COLOR").env("HOME", env!("CARGO_TARGET_TMPDIR"));
    c
}

#[test]
fn version_and_help() {
    shardtop().arg("--version").assert().success().stdout(predicate::str::starts_with("shardtop "));
    shardtop().arg("--help").assert().success().stdout(
        predicate::str::contains("demo")
            .and(predicate::str::contains("snapshot"))
            .and(predicate::str::contains("check-config")),
    );
    for sub in ["demo", "snapshot", "check-config", "heartbeat"] {
        shardtop().args([sub, "--help"]).assert().success().stdout(predicate::str::contains("Usage: shardtop"));
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    shardtop().args(["demo", "--shards", "0"]).assert().code(2).stderr(predicate::str::contains("--shards"));
    shardtop().args(["--fps", "500", "demo"]).assert().code(2).stderr(predicate::str::contains("--fps"));
    // A monitoring check must not report a typo as CRITICAL.
    shardtop()
        .args(["snapshot", "--format", "xml"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("possible values"));
    shardtop().arg("frobnicate").assert().code(2);
}

fn fixture(path: &str) -> String {
    format!("{}/tests/fixtures/config/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_config_reports_each_problem_with_its_line() {
    shardtop()
        .args(["check-config", "--offline", "--config", &fixture("invalid/bad_durations.toml")])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("bad_durations.toml:7:12: error: poll.interval: bad duration")
                .and(predicate::str::contains("bad_durations.toml:8:11: error: poll.timeout"))
                .and(predicate::str::contains("hint:")),
        );
}

#[test]
fn check_config_accepts_a_valid_file_offline() {
    // minimal.toml names no user: it comes from ~/.my.cnf, as the mysql client does it.
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join(".my.cnf"), "[client]\nuser = monitor\npassword = \"s3cret-marker\"\n")
        .expect("my.cnf");
    shardtop()
        .args(["check-config", "--offline", "--config", &fixture("valid/minimal.toml")])
        .env("HOME", home.path())
        .assert()
        .success()
        .stdout(
            predicate::str::contains(": ok: 1 shards, 1 servers, user monitor (password from ~/.my.cnf)")
                .and(predicate::str::contains("s3cret-marker").not()),
        );
}

#[test]
fn a_bad_config_stops_every_command_with_a_clear_error() {
    let bad = fixture("invalid/unknown_key.toml");
    // snapshot is a monitoring check: no data is UNKNOWN.
    shardtop()
        .args(["snapshot", "--config", &bad])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("unknown_key.toml:").and(predicate::str::contains("unknown key")));
    shardtop().args(["--config", &bad]).assert().code(1).stderr(predicate::str::contains("unknown key"));
    shardtop()
        .args(["snapshot", "--config", "/nonexistent/shardtop.toml"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("/nonexistent/shardtop.toml").and(predicate::str::contains("cannot read")));
}

#[test]
fn no_config_anywhere_points_to_demo() {
    let empty = tempfile::tempdir().expect("tempdir");
    shardtop()
        .current_dir(empty.path())
        .env("HOME", empty.path())
        .arg("snapshot")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no config file").and(predicate::str::contains("shardtop demo")));
}

#[test]
fn the_tui_without_a_terminal_says_so_instead_of_hanging() {
    shardtop()
        .arg("demo")
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a terminal").and(predicate::str::contains("shardtop snapshot")));
}

#[test]
fn a_bad_theme_is_a_clear_error_before_the_terminal_is_touched() {
    // An unknown name lists what exists and where user themes live.
    shardtop()
        .args(["--theme", "drak-truecolor", "demo"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no theme named \"drak-truecolor\"")
                .and(predicate::str::contains("default, light, dark-truecolor, mono, lcd"))
                .and(predicate::str::contains(".config/shardtop/themes/drak-truecolor.toml"))
                .and(predicate::str::contains("did you mean \"dark-truecolor\"")),
        );
    // A broken user theme names its file, line and key.
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join(".config/shardtop/themes");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("wall.toml"), "parent = \"lcd\"\n[styles]\ncrit = { fg = \"reddish\" }\n").expect("write");
    shardtop()
        .args(["--theme", "wall", "demo"])
        .env("HOME", home.path())
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wall.toml:3:15: styles.crit.fg: unknown colour \"reddish\""));
    // The same theme, fixed, gets as far as wanting a terminal.
    std::fs::write(dir.join("wall.toml"), "parent = \"lcd\"\n[styles]\ncrit = { fg = \"#ff2020\" }\n").expect("write");
    shardtop()
        .args(["--theme", "wall", "--kiosk", "demo"])
        .env("HOME", home.path())
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a terminal"));
    // By path, from the config's [ui] theme too.
    let cfg = home.path().join("shardtop.toml");
    std::fs::write(&cfg, "[defaults]\nuser = \"monitor\"\n[ui]\ntheme = \"/nonexistent/t.toml\"\n[[shard]]\nname = \"s1\"\nmaster = \"127.0.0.1:1\"\n").expect("write");
    shardtop()
        .args(["--config", cfg.to_str().expect("utf-8 path")])
        .env("HOME", home.path())
        .env("USER", "monitor")
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("theme /nonexistent/t.toml: cannot read the theme file"));
}

#[test]
fn terminal_flags_are_documented() {
    shardtop().arg("--help").assert().success().stdout(
        predicate::str::contains("--theme")
            .and(predicate::str::contains("--kiosk"))
            .and(predicate::str::contains("--read-only"))
            .and(predicate::str::contains("--mouse"))
            .and(predicate::str::contains("--color")),
    );
}

#[test]
fn check_config_checks_the_theme_it_names() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join("shardtop.toml");
    std::fs::write(
        &cfg,
        "[defaults]\nuser = \"monitor\"\n[ui]\ntheme = \"mnoo\"\n[[shard]]\nname = \"s1\"\nmaster = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    shardtop()
        .args(["check-config", "--offline", "--config", cfg.to_str().expect("utf-8 path")])
        .env("HOME", home.path())
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("no theme named \"mnoo\"").and(predicate::str::contains("did you mean \"mono\"")),
        );
}

#[test]
fn a_bad_keymap_file_is_a_clear_error() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join(".config/shardtop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("keymap.toml"), "[keys]\nbind = [{ on = \"Ctrl-Hyper-x\", run = \"quit\" }]\n")
        .expect("write");
    shardtop()
        .arg("demo")
        .env("HOME", home.path())
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("keymap.toml:2:").and(predicate::str::contains("unknown key \"Ctrl-Hyper-x\"")),
        );
    let cfg = home.path().join("shardtop.toml");
    std::fs::write(&cfg, "[defaults]\nuser = \"monitor\"\n[[shard]]\nname = \"s1\"\nmaster = \"127.0.0.1:1\"\n")
        .expect("write");
    shardtop()
        .args(["check-config", "--offline", "--config", cfg.to_str().expect("utf-8 path")])
        .env("HOME", home.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("keymap.toml:2:"));
}

#[test]
fn bench_record_keeps_its_recording_and_measures_seeks_on_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let run_at = |path: &std::path::Path, extra: &[&str], expect_recording: bool| {
        let out = shardtop()
            .args(["bench", "--record", "--sim", "2", "--seconds", "90", "--sweeps", "3", "--keyframe", "40s"])
            .args(extra)
            .arg("--recording")
            .arg(path)
            .timeout(std::time::Duration::from_secs(120))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).expect("utf-8");
        assert_eq!(out.contains("recording 6 simulated instances every 2s for 90s"), expect_recording, "{out}");
        assert!(out.contains("bytes per instance-sample"), "{out}");
        assert!(out.contains("seek and draw (200x60), 3 seeks at random moments: p50"), "{out}");
    };
    let run = |expect_recording: bool| run_at(&path, &[], expect_recording);
    run(true);
    assert!(path.exists(), "kept");
    // The second run records nothing: it measures the seeks of the kept recording.
    run(false);
    // Samples as regular as they can be (the bench before poller-like arrivals).
    run_at(&dir.path().join("regular.db"), &["--regular"], true);
}

#[test]
fn bench_terminal_reports_bytes_and_frame_time() {
    shardtop()
        .args(["bench", "--terminal", "--sim", "10", "--seconds", "2", "--size", "80x24", "--fps", "10"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("terminal 80x24, 10 simulated shards")
                .and(predicate::str::is_match(r"idle\s+fps 10\s+\d+ B/s").expect("regex"))
                .and(predicate::str::contains("busy"))
                .and(predicate::str::contains("frame p50")),
        );
    shardtop()
        .args(["bench", "--terminal", "--size", "80by24"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("COLSxROWS"));
}

#[test]
fn the_demo_uses_the_configs_ui_section() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join("shardtop.toml");
    let text =
        "[defaults]\nuser = \"monitor\"\n[ui]\ntheme = \"lcdd\"\n[[shard]]\nname = \"s1\"\nmaster = \"127.0.0.1:1\"\n";
    std::fs::write(&cfg, text).expect("write");
    // Named with --config: its [ui] theme is used, so a wrong one is an error.
    shardtop()
        .args(["--config", cfg.to_str().expect("utf-8 path"), "demo"])
        .env("HOME", home.path())
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no theme named \"lcdd\"").and(predicate::str::contains("did you mean \"lcd\"")),
        );
    // A default config that does not load (here: a password variable that is not set) does not stop the
    // demo, which needs no servers: it gets as far as wanting a terminal.
    let dir = home.path().join(".config/shardtop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let broken = "[defaults]\nuser = \"monitor\"\npassword_env = \"SHARDTOP_TEST_UNSET_PW\"\n[[shard]]\nname = \"s1\"\nmaster = \"127.0.0.1:1\"\n";
    std::fs::write(dir.join("config.toml"), broken).expect("write");
    shardtop()
        .arg("demo")
        .env("HOME", home.path())
        .env_remove("SHARDTOP_TEST_UNSET_PW")
        .current_dir(home.path().join(".config"))
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a terminal"));
}

#[test]
fn bench_terminal_measures_each_fleet_size_terminal_and_screen() {
    shardtop()
        .args(["bench", "--terminal", "--shards", "5,7", "--size", "80x24,100x30", "--screen", "overview,topology"])
        .args(["--activity", "busy", "--fps", "10", "--seconds", "1"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("terminal 80x24, 5 simulated shards")
                .and(predicate::str::contains("terminal 100x30, 7 simulated shards"))
                .and(
                    predicate::str::is_match(r"topology\s+busy\s+fps 10 .* frame p50 [0-9.]+ ms  p99 [0-9.]+ ms")
                        .expect("regex"),
                )
                .and(predicate::str::contains("idle").not()),
        );
}

/// Every subcommand a user can type (clap's own `help` aside).
const SUBCOMMANDS: [&str; 10] =
    ["demo", "snapshot", "check-config", "bench", "sim", "promote", "checksum", "heartbeat", "completions", "man"];

#[test]
fn tui_flags_are_offered_only_where_a_tui_runs() {
    let tui_only = ["--fps", "--theme", "--kiosk", "--mouse", "--ascii", "--color"];
    for sub in ["promote", "checksum", "snapshot", "check-config", "heartbeat", "bench", "sim"] {
        let help = shardtop().args([sub, "--help"]).assert().success().get_output().stdout.clone();
        let help = String::from_utf8_lossy(&help);
        for flag in tui_only {
            // bench has its own --fps, for --terminal.
            if sub == "bench" && flag == "--fps" {
                continue;
            }
            assert!(!help.contains(flag), "`{sub} --help` offers {flag}:\n{help}");
        }
    }
    for sub in ["promote", "checksum"] {
        shardtop()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("--config").and(predicate::str::contains("--read-only")));
    }
    shardtop().args(["demo", "--help"]).assert().success().stdout(
        predicate::str::contains("--fps")
            .and(predicate::str::contains("--theme"))
            .and(predicate::str::contains("--kiosk"))
            .and(predicate::str::contains("--ascii"))
            .and(predicate::str::contains("--color")),
    );
    // Written before a subcommand that has no use for it, a flag is a usage error, not ignored.
    shardtop()
        .args(["--kiosk", "promote", "--shard", "s1", "--to", "db2:3306"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--kiosk does not apply to `shardtop promote`"));
    shardtop().args(["promote", "--kiosk", "--shard", "s1", "--to", "db2:3306"]).assert().code(2);
    // … and for snapshot, a monitoring check, UNKNOWN.
    shardtop()
        .args(["--read-only", "snapshot"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--read-only does not apply to `shardtop snapshot`"));
    // Before a subcommand that takes it, it still applies: the theme here is looked up (and missing).
    shardtop()
        .args(["--theme", "drak-truecolor", "demo"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no theme named \"drak-truecolor\""));
    shardtop()
        .args(["demo", "--theme", "drak-truecolor"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no theme named \"drak-truecolor\""));
}

#[test]
fn completion_scripts_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = shardtop().args(["completions", shell]).assert().success().get_output().stdout.clone();
        let script = String::from_utf8_lossy(&out);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks {sub}:\n{script}");
        }
        // Flags and their values, not just the command names.
        for word in ["dry-run", "rate-window", "truecolor"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    // Each in its shell's own form.
    shardtop().args(["completions", "bash"]).assert().stdout(predicate::str::contains("complete -F _shardtop"));
    shardtop().args(["completions", "zsh"]).assert().stdout(predicate::str::starts_with("#compdef shardtop"));
    shardtop().args(["completions", "fish"]).assert().stdout(predicate::str::contains("complete -c shardtop"));
    shardtop().args(["completions", "tcsh"]).assert().code(2).stderr(predicate::str::contains("possible values"));
}

#[test]
fn man_pages_have_name_synopsis_and_the_subcommands() {
    let out = shardtop().arg("man").assert().success().get_output().stdout.clone();
    let page = String::from_utf8_lossy(&out);
    assert!(page.contains(".TH shardtop 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    assert!(page.contains("shardtop \\- Terminal operations dashboard"), "{page}");
    for sub in SUBCOMMANDS {
        // roff escapes the hyphen: check\-config.
        let sub = sub.replace('-', "\\-");
        assert!(page.contains(&format!("shardtop\\-{sub}(1)")), "no {sub} in SUBCOMMANDS:\n{page}");
    }
    // A subcommand's own page, with its flags; an unknown one is a usage error.
    shardtop().args(["man", "promote"]).assert().success().stdout(
        predicate::str::contains(".TH shardtop-promote 1")
            .and(predicate::str::contains("\\fBshardtop promote\\fR"))
            .and(predicate::str::contains("\\-\\-dry\\-run"))
            .and(predicate::str::contains("\\-\\-kiosk").not()),
    );
    shardtop().args(["man", "frobnicate"]).assert().code(2).stderr(predicate::str::contains("promote"));
}
