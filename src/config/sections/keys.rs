//! `[keys]`: the user's key bindings, in the config or in a keymap file.

use serde::Deserialize;
use toml::Spanned;

use crate::config::problem::closest;
use crate::config::validate::Checker;
use crate::keymap::{Action, KeySpec, Keymap, UNBIND, UserBinding};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawKeys {
    pub bind: Option<Vec<Spanned<RawBinding>>>,
}

/// `{ on = "x" | ["x", "y"], run = "action", desc = "…" }`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawBinding {
    pub on: Spanned<OneOrMany>,
    pub run: Spanned<String>,
    pub desc: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(in crate::config) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The keys of `[keys]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawKeys`.
pub(in crate::config) const KEYS: &[&str] = &["bind"];

impl Checker<'_> {
    /// `[keys] bind`: every key and action checked; conflicts between the
    /// user's own bindings are warnings (the later one wins).
    pub(in crate::config) fn keys(&mut self, raw: RawKeys) -> Vec<UserBinding> {
        let mut out = Vec::new();
        for b in raw.bind.unwrap_or_default() {
            let b = b.into_inner();
            let on_span = b.on.span();
            let names = match b.on.into_inner() {
                OneOrMany::One(k) => vec![k],
                OneOrMany::Many(ks) => ks,
            };
            if names.is_empty() {
                self.error(
                    Some(&on_span),
                    "keys.bind: `on` lists no key".into(),
                    "e.g. on = \"x\" or on = [\"x\", \"Ctrl-x\"]".to_string(),
                );
                continue;
            }
            let mut on = Vec::new();
            for n in &names {
                match KeySpec::parse(n) {
                    Ok(k) => on.push(k),
                    Err(e) => self.error(Some(&on_span), format!("keys.bind: {e}"), None),
                }
            }
            let run_span = b.run.span();
            let run = b.run.into_inner();
            let action = if run.trim() == UNBIND {
                None
            } else if let Some(a) = Action::from_name(&run) {
                Some(a)
            } else {
                let names = Action::names();
                let hint = match closest(&run, names.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => format!("actions: {}, or \"{UNBIND}\" to unbind", names.join(", ")),
                };
                self.error(Some(&run_span), format!("keys.bind: unknown action {run:?}"), hint);
                continue;
            };
            if on.len() == names.len() {
                out.push(UserBinding { on, run: action, desc: b.desc });
            }
        }
        let (_, conflicts) = Keymap::with_overrides(&out);
        for c in conflicts {
            self.warn(None, c, None);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_keymap;

    #[test]
    fn keymap_file_reads_keys_and_reports_problems_with_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keymap.toml");
        assert_eq!(
            load_keymap(&path).map(|(k, w)| (k.len(), w.len())).ok(),
            Some((0, 0)),
            "a missing file is no bindings"
        );
        std::fs::write(&path, "[keys]\nbind = [{ on = \"x\", run = \"quit\" }, { on = \"x\", run = \"help\" }]\n")
            .unwrap();
        let (keys, warnings) = load_keymap(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.len(), 2);
        assert!(warnings.iter().any(|w| w.message.contains("key x is bound twice")), "{warnings:?}");
        std::fs::write(&path, "[keys]\nbind = [\n  { on = \"x\", run = \"qiut\" },\n]\n").unwrap();
        let e = load_keymap(&path).unwrap_err().to_string();
        assert!(
            e.contains("keymap.toml:3:")
                && e.contains("unknown action \"qiut\"")
                && e.contains("did you mean \"quit\""),
            "{e}"
        );
        std::fs::write(&path, "[ui]\ntheme = \"x\"\n").unwrap();
        let e = load_keymap(&path).unwrap_err().to_string();
        assert!(e.contains("keymap.toml:1:") && e.contains("ui"), "{e}");
    }
}
