//! The config and keymap files never make shardtop panic (issue 17 §4): mutations of
//! `config.example.toml` (keys uncommented, values replaced by any type, lines deleted,
//! duplicated, swapped, the file cut short) and of a keymap file. Cases: `SHARDTOP_FUZZ_CASES`.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::testing::fixture_env;

// The runner settings and the text mutator, shared with the other fuzz targets (`crate::fuzz_tests`).

/// Cases per target: `SHARDTOP_FUZZ_CASES`, else 256.
pub(crate) fn cases() -> u32 {
    std::env::var("SHARDTOP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// The runner's settings for a fuzz target: no failure files (a panic found is turned into a named
/// test by hand), and long runs stay quiet.
pub(crate) fn config() -> Config {
    Config { cases: cases(), failure_persistence: None, max_shrink_iters: 4096, ..Config::default() }
}

/// One edit of a text file, by line.
#[derive(Clone, Debug)]
pub(crate) enum Edit {
    Delete(usize),
    Duplicate(usize),
    /// Replace what follows the first `=` of the line.
    Value(usize, String),
    Insert(usize, String),
    /// Drop a leading `#` (the example config documents most keys in comments).
    Uncomment(usize),
    Swap(usize, usize),
    /// Cut the text at this fraction of its length.
    Truncate(u16),
}

/// Values worth putting in a TOML file: each type, odd numbers, bad durations and addresses.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"\"".to_string()),
        "\"[0-9]{0,25}(ns|us|ms|s|m|h|d|x)?\"",
        "\"[a-z0-9.:\\-\\[\\]]{0,30}\"",
        any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
        any::<String>(),
        "\\[[0-9\", ]{0,20}\\]",
    ]
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        2 => (any::<usize>(), toml_value()).prop_map(|(l, v)| Edit::Value(l, v)),
        1 => (any::<usize>(), prop_oneof![toml_value(), "\\[\\[?[a-z_]{0,12}\\]\\]?", "[a-z_]{1,20} = .{0,20}"])
            .prop_map(|(l, v)| Edit::Insert(l, v)),
        3 => any::<usize>().prop_map(Edit::Uncomment),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => any::<u16>().prop_map(Edit::Truncate),
    ]
}

/// `text` with `edits` applied in turn.
pub(crate) fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            Edit::Duplicate(l) if !lines.is_empty() => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            Edit::Value(l, v) if !lines.is_empty() => {
                let line = &mut lines[l % n];
                if let Some(eq) = line.find('=') {
                    line.truncate(eq + 1);
                    line.push(' ');
                    line.push_str(v);
                }
            }
            Edit::Insert(l, v) => lines.insert(l % (lines.len() + 1), v.clone()),
            Edit::Uncomment(l) => {
                // The l-th commented line, counted among comments only.
                let comments: Vec<usize> =
                    (0..lines.len()).filter(|&i| lines[i].trim_start().starts_with('#')).collect();
                if !comments.is_empty() {
                    let i = comments[l % comments.len()];
                    let line = lines[i].trim_start().trim_start_matches('#').trim_start().to_string();
                    lines[i] = line;
                }
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Truncate(f) => {
                let text = lines.join("\n");
                let cut = text.len() * usize::from(*f) / usize::from(u16::MAX);
                let cut = (0..=cut).rev().find(|&c| text.is_char_boundary(c)).unwrap_or(0);
                lines = text[..cut].lines().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

const EXAMPLE: &str = include_str!("../../config.example.toml");

const KEYMAP: &str = "[keys]\nbind = [\n  { key = \"j\", action = \"down\" },\n  { key = \"ctrl-d\", action = \"page_down\" },\n  \
                      { key = \"F5\", action = \"redraw\" },\n]\n";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_config_example_mutations(edits in prop::collection::vec(edit(), 0..8)) {
        let text = mutate(EXAMPLE, &edits);
        let _ = super::parse(&text, "config.example.toml", &fixture_env());
    }

    #[test]
    fn fuzz_keymap_file_mutations(edits in prop::collection::vec(edit(), 0..6), key in any::<String>()) {
        let text = mutate(KEYMAP, &edits);
        let _ = super::validate::run_keymap(&text, "keymap.toml", &fixture_env());
        let one = format!("[keys]\nbind = [{{ key = {}, action = \"quit\" }}]\n", toml::Value::String(key));
        let _ = super::validate::run_keymap(&one, "keymap.toml", &fixture_env());
    }
}

/// Every edit kind applies to the example without a panic of its own (the mutator is sound).
#[test]
fn every_edit_applies() {
    let edits = [
        Edit::Delete(usize::MAX),
        Edit::Duplicate(3),
        Edit::Value(7, "x".into()),
        Edit::Insert(usize::MAX, "[[shard]]".into()),
        Edit::Uncomment(5),
        Edit::Swap(0, usize::MAX),
        Edit::Truncate(u16::MAX / 3),
    ];
    let text = mutate(EXAMPLE, &edits);
    assert!(!text.is_empty() && text.len() < EXAMPLE.len());
    assert_eq!(mutate("", &edits).lines().count(), 1, "only the inserted line");
}
