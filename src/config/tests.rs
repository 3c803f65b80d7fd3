//! Config tests: the public API end to end, the fixture files, the example
//! config, and secrets never leaking.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::problem::backticked;
use super::schema::{RawConfig, SECTIONS};
use super::testing::*;
use super::*;
use crate::fleet::Addr;
use crate::secret::Secret;

// ---- defaults and values ----

#[test]
fn minimal_config_gets_every_default() {
    let env = bare_env();
    let loaded = ok(&format!("[defaults]\nuser = \"monitor\"\n{SHARD}"), &env);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.thresholds, Thresholds::default());
    assert_eq!(c.ui, UiConfig::default());
    assert_eq!(c.heartbeat, None);
    assert_eq!(c.source, None);
    assert_eq!(c.defaults.user, "monitor");
    assert_eq!(c.defaults.password, None);
    assert_eq!(c.defaults.password_source, "none");
    assert_eq!(c.defaults.tls, TlsMode::Disabled);
    assert_eq!(
        c.shards,
        vec![ShardConfig {
            name: "s1".into(),
            master: Addr::new("db1", 3306),
            replicas: vec![],
            upstream: None,
            promotion: vec![]
        }]
    );
    assert_eq!(c.poll.interval, Duration::from_secs(2));
    assert_eq!(c.poll.timeout, Duration::from_secs(1));
    assert_eq!(c.poll.concurrency, 64);
    assert_eq!(c.ui.fps, 10);
    assert_eq!(c.ui.kiosk_rotate, Duration::from_secs(15));
    assert_eq!(c.thresholds.feed_p99_crit, Duration::from_millis(100));
}

#[test]
fn full_fixture_has_every_value() {
    let text = read_fixture("valid/full.toml");
    let c = ok(&text, &fixture_env()).config;
    let ms = Duration::from_millis;
    assert_eq!(
        c.poll,
        PollConfig { interval: ms(3000), timeout: ms(1500), concurrency: 32, discovery_interval: ms(30_000) }
    );
    assert_eq!(c.defaults.user, "monitor");
    assert_eq!(c.defaults.password_source, "env SHARDTOP_PASSWORD");
    assert_eq!(c.defaults.password.as_ref().map(Secret::expose), Some("fixture-env-secret"));
    assert_eq!(c.defaults.tls, TlsMode::VerifyIdentity);
    assert_eq!(c.defaults.tls_ca, Some(PathBuf::from("/etc/shardtop/ca.pem")));
    assert_eq!(
        c.thresholds,
        Thresholds {
            lag_warn: ms(5000),
            lag_crit: ms(30_000),
            feed_p99_warn: ms(40),
            feed_p99_crit: ms(80),
            qps_drop_percent: 35.5
        }
    );
    assert_eq!(
        c.heartbeat,
        Some(HeartbeatConfig { table: "percona.heartbeat".into(), utc: false, write: true, interval: ms(500) })
    );
    assert_eq!(c.ui, UiConfig { theme: "high-contrast".into(), kiosk_rotate: ms(60_000), fps: 30, mouse: true });
    {
        use crate::keymap::{Action, KeySpec, UserBinding};
        let k = |s: &str| KeySpec::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.keys,
            vec![
                UserBinding { on: vec![k("x")], run: Some(Action::Quit), desc: Some("leave".into()) },
                UserBinding { on: vec![k("Ctrl-d"), k("Space")], run: Some(Action::PageDown), desc: None },
                UserBinding { on: vec![k("e")], run: None, desc: None },
            ]
        );
    }
    assert_eq!(c.shards.len(), 3);
    let users01 = &c.shards[1];
    assert_eq!(users01.name, "users-01");
    assert_eq!(users01.replicas[2], Addr::new("2001:db8::13", 3306));
    assert_eq!(users01.upstream, Some(Addr::new("global-db1.example.com", 3306)));
    assert_eq!(c.shards[2].master, Addr::new("10.0.2.10", 3306));
    assert!(c.shards[2].replicas.is_empty());
}

#[test]
fn durations_fixture_reads_every_form() {
    let c = ok(&read_fixture("valid/durations.toml"), &fixture_env()).config;
    let ms = Duration::from_millis;
    assert_eq!(c.poll.interval, ms(2000));
    assert_eq!(c.poll.timeout, ms(500));
    assert_eq!(c.thresholds.lag_warn, ms(1500));
    assert_eq!(c.thresholds.lag_crit, ms(120_000));
    assert_eq!(c.thresholds.feed_p99_warn, ms(50));
    assert_eq!(c.thresholds.feed_p99_crit, ms(100));
    assert_eq!(c.ui.kiosk_rotate, ms(3_600_000));
    assert_eq!(c.heartbeat.map(|h| (h.utc, h.write, h.interval)), Some((true, false, ms(1000))));
}

#[test]
fn a_bom_is_tolerated() {
    let text = format!("\u{feff}[defaults]\nuser = \"u\"\n{SHARD}");
    assert_eq!(ok(&text, &bare_env()).config.shards.len(), 1);
}

#[test]
fn problems_come_in_file_order_with_whole_file_ones_last() {
    let e = err("[ui]\nfps = 0\n[poll]\nconcurrency = 0\n", &bare_env());
    let lines: Vec<_> = e.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(2), Some(4), None, None], "{e}");
    assert!(e.to_string().lines().count() == 4);
    assert!(has(&e, None, "no user: set [defaults] user"));
    assert!(has(&e, None, "no shards"));
}

#[test]
fn display_matches_the_documented_format() {
    let e = err(&format!("[poll]\n    intervall = 3\n{SHARD}"), &bare_env());
    assert_eq!(e.to_string(), "t.toml:2:5: error: unknown key `intervall` in [poll] (hint: did you mean `interval`?)");
}

#[test]
fn unknown_keys_without_a_close_match_list_the_known_ones() {
    let e = err(&format!("[ui]\ncolours = 3\n{SHARD}"), &bare_env());
    assert!(has(&e, Some(2), "the keys in [ui] are theme, kiosk_rotate, fps"), "{e}");
    let e = err(&format!("[[shards]]\nname = \"x\"\n{SHARD}"), &bare_env());
    assert!(has(&e, Some(1), "unknown section [shards] (hint: did you mean [[shard]]?)"), "{e}");
    let e = err(&format!("{SHARD}[[poll]]\ninterval = 1\n"), &bare_env());
    assert!(has(&e, Some(4), "[[poll]] must be written [poll]: it is a single table"), "{e}");
    let e = err(&format!("poll = [{{ interval = 1 }}]\n{SHARD}"), &bare_env());
    assert!(has(&e, Some(1), "wrong type for `poll`"), "{e}");
}

/// `SECTIONS` drives "did you mean"; it must list exactly what serde accepts.
#[test]
fn known_keys_match_the_schema() {
    for (section, keys) in SECTIONS {
        let text = match *section {
            "" => "zzz_unknown = 1\n".to_string(),
            "shard" | "metrics" | "alerts.webhook" | "panel" | "markers" => format!("[[{section}]]\nzzz_unknown = 1\n"),
            s => format!("[{s}]\nzzz_unknown = 1\n"),
        };
        let Err(e) = toml::from_str::<RawConfig>(&text) else { panic!("{section}: accepted an unknown key") };
        let tail = e.message().split_once(", expected").map(|t| t.1).unwrap_or("");
        let mut got = backticked(tail);
        let mut want = keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "[{section}]");

        let problem = err(&text, &bare_env()).problems.remove(0);
        let place = if section.is_empty() { "top-level".to_string() } else { schema::section_header(section) };
        assert!(problem.message.contains(&place), "{problem}");
    }
}

const MARKER: &str = "Zq7-marker-do-not-print";

fn assert_no_marker(text: &str) {
    assert!(!text.contains(MARKER), "the password leaked into:\n{text}");
}

fn assert_error_is_clean(e: &ConfigError) {
    assert_no_marker(&e.to_string());
    assert_no_marker(&format!("{e:?}"));
    for p in &e.problems {
        assert_no_marker(&p.to_string());
    }
}

/// The non-negotiable: a password never reaches Debug output or any message.
#[test]
fn the_password_never_leaks() {
    let env = bare_env().with_file("/secret/pw", &format!("{MARKER}\n"), 0o644).with_var("PW", MARKER).with_file(
        "/home/nobody/.my.cnf",
        &format!("[client]\nuser=u\npassword={MARKER}\n"),
        0o644,
    );
    let from_file = format!("[defaults]\nuser = \"u\"\npassword_file = \"/secret/pw\"\n{SHARD}");
    let from_env = format!("[defaults]\nuser = \"u\"\npassword_env = \"PW\"\n{SHARD}");
    let from_cnf = format!("[defaults]\nuser = \"other\"\n{SHARD}");

    for text in [&from_file, &from_env, &from_cnf] {
        let loaded = ok(text, &env);
        // Not vacuous: the secret really was read...
        assert_eq!(loaded.config.defaults.password.as_ref().map(Secret::expose), Some(MARKER));
        // ...and is nowhere to be seen.
        assert_no_marker(&format!("{loaded:?}"));
        assert_no_marker(&format!("{:#?}", loaded.config));
        for w in &loaded.warnings {
            assert_no_marker(&w.to_string());
        }

        // Failing variants: validation errors after the password was read.
        let failing = [
            format!("{text}[thresholds]\nlag_warn = \"2m\"\n"),
            format!("{text}[[shard]]\nname = \"s1\"\nmaster = \"db1:3306\"\n"),
            format!("{text}[poll]\ntimeout = \"9s\"\nconcurrency = 0\n"),
            format!("{text}[ui]\nfps = \"sixty\"\n"),
        ];
        for bad in &failing {
            assert_error_is_clean(&err(bad, &env));
        }
    }

    // Both sources set: an error, and neither secret shown.
    let both = format!("[defaults]\nuser = \"u\"\npassword_env = \"PW\"\npassword_file = \"/secret/pw\"\n{SHARD}");
    assert_error_is_clean(&err(&both, &env));

    // Someone pastes the password itself into password_env: not echoed.
    let pasted = format!("[defaults]\nuser = \"u\"\npassword_env = \"{MARKER}\"\n{SHARD}");
    let e = err(&pasted, &bare_env());
    assert!(has(&e, Some(3), "never the password itself"), "{e}");
    assert_error_is_clean(&e);

    // A password written into the config is refused without echoing it.
    let inline = format!("[defaults]\nuser = \"u\"\npassword = \"{MARKER}\"\n{SHARD}");
    assert_error_is_clean(&err(&inline, &bare_env()));
}

// ---- fixtures ----

fn fixtures(kind: &str) -> Vec<(String, String)> {
    let dir = fixture_dir(kind);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    out.sort();
    out
}

/// `# expect: LINE[:COL]: substring` lines; LINE `-` means "no line".
fn expectations(name: &str, text: &str) -> Vec<(Option<usize>, Option<usize>, String)> {
    let found: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect:"))
        .map(|rest| {
            let (place, needle) =
                rest.trim_start().split_once(": ").unwrap_or_else(|| panic!("{name}: bad expect line {rest:?}"));
            let mut parts = place.split(':');
            let num = |s: Option<&str>| s.and_then(|s| s.parse::<usize>().ok());
            let (line, col) = (num(parts.next()), num(parts.next()));
            assert!(line.is_some() || place == "-", "{name}: bad location {place:?}");
            (line, col, needle.to_string())
        })
        .collect();
    assert!(!found.is_empty(), "{name}: no `# expect:` lines");
    found
}

fn check_expected(name: &str, text: &str, problems: &[Problem]) {
    let file = format!("fixtures/{name}");
    for (line, col, needle) in expectations(name, text) {
        let hit = problems
            .iter()
            .any(|p| p.line == line && (col.is_none() || p.column == col) && p.to_string().contains(&needle));
        let all: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
        assert!(hit, "{file}: no problem at {line:?}:{col:?} containing {needle:?}; got:\n{}", all.join("\n"));
    }
}

#[test]
fn every_valid_fixture_loads_cleanly() {
    let all = fixtures("valid");
    assert!(all.len() >= 3);
    for (name, text) in all {
        match parse(&text, &name, &fixture_env()) {
            Ok(l) => assert!(l.warnings.is_empty(), "{name}: unexpected warnings {:?}", l.warnings),
            Err(e) => panic!("{name} should load:\n{e}"),
        }
    }
}

#[test]
fn every_invalid_fixture_reports_what_it_expects() {
    let all = fixtures("invalid");
    assert!(all.len() >= 15);
    for (name, text) in all {
        match parse(&text, &name, &fixture_env()) {
            Ok(l) => panic!("{name} should fail, loaded {l:?}"),
            Err(e) => {
                assert!(e.problems.iter().all(|p| p.file == name));
                check_expected(&name, &text, &e.problems);
            }
        }
    }
}

#[test]
fn every_warning_fixture_loads_with_its_warnings() {
    for (name, text) in fixtures("warn") {
        match parse(&text, &name, &fixture_env()) {
            Ok(l) => {
                assert!(l.warnings.iter().all(|p| p.severity == Severity::Warning));
                check_expected(&name, &text, &l.warnings);
            }
            Err(e) => panic!("{name} should load with warnings:\n{e}"),
        }
    }
}

/// Every message and position the fixtures produce, verbatim: a change to any
/// wording or line number shows up as a snapshot diff to accept on purpose.
#[test]
fn every_fixture_output_is_pinned() {
    let mut out = String::new();
    for kind in ["valid", "invalid", "warn"] {
        for (name, text) in fixtures(kind) {
            out.push_str(&format!("== {kind}/{name}\n"));
            let problems = match parse(&text, &name, &fixture_env()) {
                Ok(l) => l.warnings,
                Err(e) => e.problems,
            };
            for p in problems {
                out.push_str(&format!("{p}\n"));
            }
        }
    }
    insta::assert_snapshot!("config_fixture_problems", out);
}

#[test]
fn the_example_config_parses() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
        .unwrap_or_else(|e| panic!("config.example.toml: {e}"));
    let env = bare_env().with_var("SHARDTOP_PASSWORD", "example");
    let loaded = ok(&text, &env);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.defaults.password_source, "env SHARDTOP_PASSWORD");
    assert_eq!(c.shards.len(), 3);
    assert!(c.shards.iter().any(|s| s.upstream.is_some()));
    assert!(c.shards.iter().any(|s| s.replicas.is_empty()));
    // Its documented values are the real defaults.
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.thresholds, Thresholds::default());
    assert_eq!(c.ui, UiConfig::default());
    assert_eq!(c.heartbeat.map(|h| (h.utc, h.write, h.interval)), Some((true, false, Duration::from_secs(1))));
}

/// Every key in the schema appears in the example, so it stays complete.
#[test]
fn the_example_config_mentions_every_key() {
    let text = read_fixture("../../../config.example.toml");
    for (section, keys) in SECTIONS {
        for key in *keys {
            let written = if section.is_empty() {
                text.contains(&schema::section_header(key))
            } else {
                text.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{key} =")))
                    || text.contains(&format!("[{section}.{key}]"))
            };
            assert!(written, "config.example.toml does not document {section}.{key}");
        }
    }
}

// ---- files on disk ----

#[cfg(unix)]
#[test]
fn load_reads_relative_paths_from_the_config_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("shardtop.toml");
    let pw = dir.path().join("pw");
    std::fs::write(&config, format!("[defaults]\nuser = \"u\"\npassword_file = \"pw\"\n{SHARD}")).unwrap();
    std::fs::write(&pw, "disk secret\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();

    let loaded = load(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.source.as_deref(), Some(config.as_path()));
    assert_eq!(loaded.config.defaults.password.as_ref().map(Secret::expose), Some("disk secret"));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].to_string().contains("(mode 0640)"), "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].file, config.display().to_string());
}

#[test]
fn load_reports_a_missing_file() {
    let e = load_with(Path::new("/nonexistent/shardtop.toml"), &bare_env()).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    let shown = e.to_string();
    assert!(shown.starts_with("/nonexistent/shardtop.toml: error: cannot read the config file: "), "{shown}");
    assert!(shown.contains("hint: copy config.example.toml"), "{shown}");
}

#[test]
fn default_path_prefers_the_current_directory() {
    let cwd = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default_path_in(cwd.path(), Some(home.path())), None);
    let user = home.path().join(".config/shardtop/config.toml");
    std::fs::create_dir_all(user.parent().unwrap_or(home.path())).unwrap();
    std::fs::write(&user, "").unwrap();
    assert_eq!(default_path_in(cwd.path(), Some(home.path())), Some(user));
    std::fs::write(cwd.path().join("shardtop.toml"), "").unwrap();
    assert_eq!(default_path_in(cwd.path(), Some(home.path())), Some(cwd.path().join("shardtop.toml")));
    assert_eq!(default_path_in(cwd.path(), None), Some(cwd.path().join("shardtop.toml")));
}

// ---- no input panics ----

/// Found by `scripts/fuzz` (fuzz_config_example_mutations): `feed.interval` of 3689348814741910324 s
/// overflowed `5 × interval` in the window check and panicked.
#[test]
fn regression_a_huge_feed_interval_is_an_error_not_a_panic() {
    let example = include_str!("../../config.example.toml");
    assert!(example.contains("\ninterval = \"1s\""), "the example's [feed] interval moved");
    let mut text = String::new();
    let mut in_feed = false;
    for line in example.lines() {
        in_feed = if line.starts_with('[') { line == "[feed]" } else { in_feed };
        if in_feed && line == "interval = \"1s\"" {
            text.push_str("interval = 3689348814741910324\n");
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(text.contains("interval = 3689348814741910324"), "the edit applied");
    let err = parse(&text, "config.example.toml", &fixture_env()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("feed.window") && err.contains("fewer than 5 rounds"), "{err}");
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = parse(&s, "p.toml", &fixture_env());
    }

    #[test]
    fn arbitrary_tomlish_text_never_panics(s in "[\\[\\]a-z_=\"'. \n0-9:#]{0,200}") {
        let _ = parse(&s, "p.toml", &fixture_env());
    }

    /// Well-formed TOML with arbitrary strings in every value reaches validation.
    #[test]
    fn arbitrary_values_never_panic(
        dur in any::<String>(),
        addr in any::<String>(),
        name in any::<String>(),
        table in any::<String>(),
        path in any::<String>(),
        num in any::<i64>(),
        float in any::<f64>(),
    ) {
        let (dur, addr, name, table, path) =
            (toml_string(&dur), toml_string(&addr), toml_string(&name), toml_string(&table), toml_string(&path));
        let float = if float.is_finite() { format!("{float:?}") } else { "nan".into() };
        let text = format!(
            "[poll]\ninterval = {dur}\ntimeout = {num}\nconcurrency = {num}\n\
             [defaults]\nuser = {name}\npassword_env = {name}\ntls = {name}\ntls_ca = {path}\n\
             [thresholds]\nlag_warn = {float}\nlag_crit = {dur}\nqps_drop_percent = {float}\n\
             [heartbeat]\ntable = {table}\ninterval = {float}\n\
             [ui]\ntheme = {name}\nkiosk_rotate = {dur}\nfps = {num}\n\
             [[shard]]\nname = {name}\nmaster = {addr}\nreplicas = [{addr}, {addr}]\nupstream = {addr}\n\
             [[shard]]\nname = {name}\nmaster = {addr}\n"
        );
        let _ = parse(&text, "p.toml", &fixture_env());
        let _ = parse(&format!("[defaults]\npassword_file = {path}\n"), "p.toml", &fixture_env());
    }

    #[test]
    fn addresses_never_panic(s in any::<String>()) {
        let _ = s.parse::<Addr>();
        let text = format!("[[shard]]\nname = \"s\"\nmaster = {}\n", toml_string(&s));
        let _ = parse(&text, "p.toml", &fixture_env());
    }
}
