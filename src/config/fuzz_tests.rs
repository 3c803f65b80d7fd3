//! The config and keymap files never make shardtop panic (issue 17 §4): mutations of
//! `config.example.toml` (keys uncommented, values replaced by any type, lines deleted,
//! duplicated, swapped, the file cut short) and of a keymap file. Cases: `SHARDTOP_FUZZ_CASES`.

use proptest::prelude::*;

use super::testing::fixture_env;
use crate::fuzz_tests::{Edit, config, edit, mutate};

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
