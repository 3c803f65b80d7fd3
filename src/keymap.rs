//! Key bindings as data: the defaults below, overridden by the keymap file and `[keys]` in the
//! config. The help overlay is generated from the active keymap, so what it lists is what the keys
//! do. Its own module (as gitui's `keys/`): the config reads bindings and the UI applies them.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextProblem,
    PrevProblem,
    ProblemsOnly,
    Open,
    Back,
    Filter,
    Sort,
    SortReverse,
    ToggleEvents,
    Topology,
    Wall,
    TimeTravel,
    Redraw,
    Promote,
    Fence,
    Rejoin,
    Checksum,
}

impl Action {
    /// The name used in `run = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::NextProblem => "next_problem",
            Action::PrevProblem => "prev_problem",
            Action::ProblemsOnly => "problems_only",
            Action::Open => "open",
            Action::Back => "back",
            Action::Filter => "filter",
            Action::Sort => "sort",
            Action::SortReverse => "sort_reverse",
            Action::ToggleEvents => "toggle_events",
            Action::Redraw => "redraw",
            Action::Topology => "topology",
            Action::Wall => "wall",
            Action::TimeTravel => "time_travel",
            Action::Promote => "promote",
            Action::Fence => "fence",
            Action::Rejoin => "rejoin",
            Action::Checksum => "checksum",
        }
    }

    /// `page-up` and `PageUp` are accepted for `page_up`.
    pub fn from_name(s: &str) -> Option<Action> {
        let norm: String = s.trim().chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_lowercase();
        BINDINGS.iter().map(|b| b.action).find(|a| a.name().replace('_', "") == norm)
    }

    /// Every action name, for error hints.
    pub fn names() -> Vec<&'static str> {
        BINDINGS.iter().map(|b| b.action.name()).collect()
    }
}

/// `run = "none"` unbinds the keys in `on`.
pub const UNBIND: &str = "none";

pub struct Binding {
    pub keys: &'static [&'static str],
    pub action: Action,
    pub desc: &'static str,
}

/// The default bindings, in the order the help overlay lists them. Key names
/// are what [`KeySpec::parse`] reads.
pub const BINDINGS: &[Binding] = &[
    Binding { keys: &["↑", "k"], action: Action::Up, desc: "previous row" },
    Binding { keys: &["↓", "j"], action: Action::Down, desc: "next row" },
    Binding { keys: &["PgUp", "Ctrl-b"], action: Action::PageUp, desc: "page up" },
    Binding { keys: &["PgDn", "Ctrl-f"], action: Action::PageDown, desc: "page down" },
    Binding { keys: &["Home", "g"], action: Action::Top, desc: "first row" },
    Binding { keys: &["End", "G"], action: Action::Bottom, desc: "last row" },
    Binding { keys: &["n"], action: Action::NextProblem, desc: "next shard or server with a problem" },
    Binding { keys: &["N"], action: Action::PrevProblem, desc: "previous shard or server with a problem" },
    Binding { keys: &["Enter", "l", "→"], action: Action::Open, desc: "open shard detail" },
    Binding { keys: &["Esc", "h", "←", "Backspace"], action: Action::Back, desc: "back / close / clear filter" },
    Binding { keys: &["/"], action: Action::Filter, desc: "filter by name, address, health, problem" },
    Binding { keys: &["p"], action: Action::ProblemsOnly, desc: "only shards with a problem / all shards" },
    Binding { keys: &["s"], action: Action::Sort, desc: "next sort column" },
    Binding { keys: &["S"], action: Action::SortReverse, desc: "reverse sort order" },
    Binding { keys: &["t"], action: Action::Topology, desc: "topology (all shards / this shard)" },
    Binding { keys: &["w"], action: Action::Wall, desc: "the wall: tiles, shard grid, last hour" },
    Binding { keys: &["T"], action: Action::TimeTravel, desc: "time travel into the history; L: live" },
    Binding { keys: &["P"], action: Action::Promote, desc: "promote replica; fail over dead master" },
    Binding { keys: &["F"], action: Action::Fence, desc: "fence the selected server (read-only)" },
    Binding { keys: &["R"], action: Action::Rejoin, desc: "rejoin a former master as a replica" },
    Binding { keys: &["C"], action: Action::Checksum, desc: "checksum the selected shard" },
    Binding { keys: &["e"], action: Action::ToggleEvents, desc: "show / hide the events pane" },
    Binding { keys: &["Ctrl-l"], action: Action::Redraw, desc: "redraw the screen (after line noise)" },
    Binding { keys: &["?"], action: Action::Help, desc: "this help" },
    Binding { keys: &["q", "Ctrl-c"], action: Action::Quit, desc: "quit" },
];

/// One key with its modifiers. Shift is part of a character (`G`), not a modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeySpec {
    /// `k`, `G`, `?`, `Ctrl-b`, `Alt-x`, `Up`/`↑`, `PgDn`, `Enter`, `Esc`, `Space`, `F1`, …
    /// (names are case-insensitive; `C-b` and `<C-b>` are read too).
    pub fn parse(s: &str) -> Result<KeySpec, String> {
        let raw = s.trim();
        let inner = raw.strip_prefix('<').and_then(|r| r.strip_suffix('>')).filter(|r| !r.is_empty()).unwrap_or(raw);
        let mut mods = KeyModifiers::NONE;
        let mut rest = inner;
        loop {
            let lower = rest.to_ascii_lowercase();
            let prefix =
                ["ctrl-", "ctrl+", "c-", "alt-", "alt+", "a-", "m-"].into_iter().find(|p| lower.starts_with(p));
            match prefix {
                Some(p) if rest.len() > p.len() => {
                    mods |= if p.starts_with('c') { KeyModifiers::CONTROL } else { KeyModifiers::ALT };
                    rest = &rest[p.len()..];
                }
                _ => break,
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => match c {
                '↑' => KeyCode::Up,
                '↓' => KeyCode::Down,
                '←' => KeyCode::Left,
                '→' => KeyCode::Right,
                '⏎' => KeyCode::Enter,
                // Ctrl-B is what the terminal sends for Ctrl-b.
                c if !mods.is_empty() => KeyCode::Char(c.to_ascii_lowercase()),
                c => KeyCode::Char(c),
            },
            _ => match rest.to_ascii_lowercase().as_str() {
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pgup" | "pageup" | "page_up" => KeyCode::PageUp,
                "pgdn" | "pgdown" | "pagedown" | "page_down" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "enter" | "return" | "cr" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "backspace" | "bs" => KeyCode::Backspace,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                f if f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                "" => return Err("empty key".into()),
                _ => {
                    return Err(format!(
                        "unknown key {s:?}: use one character (\"k\", \"G\", \"?\"), a name (Up, Down, Left, Right, \
                         PgUp, PgDn, Home, End, Enter, Esc, Backspace, Tab, Space, Delete, F1-F12), with an \
                         optional Ctrl- or Alt- prefix"
                    ));
                }
            },
        };
        Ok(KeySpec { code, mods })
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        let mut code = key.code;
        if let KeyCode::Char(c) = code
            && key.modifiers.contains(KeyModifiers::CONTROL)
        {
            code = KeyCode::Char(c.to_ascii_lowercase());
        }
        code == self.code && (key.modifiers & relevant) == (self.mods & relevant)
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("BackTab"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A user's override, as validated from `[keys]`.
#[derive(Clone, Debug, PartialEq)]
pub struct UserBinding {
    pub on: Vec<KeySpec>,
    /// `None` unbinds the keys.
    pub run: Option<Action>,
    pub desc: Option<String>,
}

/// One line of the active keymap.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub keys: Vec<KeySpec>,
    pub action: Action,
    pub desc: String,
}

/// The active bindings: defaults with the user's overrides applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Keymap {
    pub entries: Vec<Entry>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::defaults()
    }
}

impl Keymap {
    pub fn defaults() -> Keymap {
        let entries = BINDINGS
            .iter()
            .map(|b| Entry {
                // The table is tested to parse; a bad entry would be dropped, not panic.
                keys: b.keys.iter().filter_map(|k| KeySpec::parse(k).ok()).collect(),
                action: b.action,
                desc: b.desc.to_string(),
            })
            .collect();
        Keymap { entries }
    }

    /// Defaults with `overrides` applied in order: a key the user binds leaves
    /// its default action and goes to the new one. Returns the keymap and the
    /// conflicts worth telling the user about.
    pub fn with_overrides(overrides: &[UserBinding]) -> (Keymap, Vec<String>) {
        let mut map = Keymap::defaults();
        let mut warnings = Vec::new();
        let mut claimed: Vec<(KeySpec, Option<Action>)> = Vec::new();
        for o in overrides {
            for k in &o.on {
                if let Some((_, prev)) = claimed.iter().find(|(c, _)| c == k)
                    && *prev != o.run
                {
                    warnings.push(format!(
                        "key {k} is bound twice in [keys]: to {} and to {}; the later one wins",
                        prev.map_or(UNBIND, Action::name),
                        o.run.map_or(UNBIND, Action::name)
                    ));
                }
                claimed.push((*k, o.run));
                for e in &mut map.entries {
                    e.keys.retain(|x| x != k);
                }
            }
            if let Some(action) = o.run
                && let Some(e) = map.entries.iter_mut().find(|e| e.action == action)
            {
                e.keys.extend(o.on.iter().copied());
                if let Some(d) = &o.desc {
                    e.desc = d.clone();
                }
            }
        }
        for must in [Action::Quit, Action::Help] {
            if map.entries.iter().any(|e| e.action == must && e.keys.is_empty()) {
                warnings.push(format!("no key is left for {}: bind one in [keys]", must.name()));
            }
        }
        (map, warnings)
    }

    /// The action a key press triggers in normal (non-editing) mode.
    pub fn action_for(&self, key: &KeyEvent) -> Option<Action> {
        self.entries.iter().find(|e| e.keys.iter().any(|k| k.matches(key))).map(|e| e.action)
    }

    /// The keys for `action`, as the help shows them.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        self.entries.iter().filter(|e| e.action == action).flat_map(|e| e.keys.iter().map(|k| k.to_string())).collect()
    }

    /// The first key for `action`, for the footer's hints.
    pub fn first_key(&self, action: Action) -> Option<String> {
        self.keys_for(action).into_iter().next()
    }
}

/// The action of a key in the default keymap.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    Keymap::defaults().action_for(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn every_default_key_parses_and_round_trips() {
        for b in BINDINGS {
            assert!(!b.desc.is_empty());
            for k in b.keys {
                let spec = KeySpec::parse(k).unwrap_or_else(|e| panic!("{k}: {e}"));
                assert_eq!(spec.to_string(), *k, "display of {k}");
            }
        }
    }

    #[test]
    fn defaults_have_vim_and_arrow_navigation() {
        let m = Keymap::defaults();
        assert_eq!(m.action_for(&key(KeyCode::Up)), Some(Action::Up));
        assert_eq!(m.action_for(&key(KeyCode::Char('k'))), Some(Action::Up));
        assert_eq!(m.action_for(&key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(m.action_for(&key(KeyCode::Right)), Some(Action::Open));
        assert_eq!(m.action_for(&key(KeyCode::Left)), Some(Action::Back));
        // Terminals send `G` with SHIFT; shift is part of the character.
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(m.action_for(&ctrl('b')), Some(Action::PageUp));
        assert_eq!(m.action_for(&ctrl('c')), Some(Action::Quit));
        assert_eq!(m.action_for(&key(KeyCode::Char('x'))), None);
        assert_eq!(m.action_for(&ctrl('x')), None);
        // Ctrl-b is not b.
        assert_eq!(m.action_for(&ctrl('k')), None);
        assert_eq!(m.action_for(&key(KeyCode::Char('p'))), Some(Action::ProblemsOnly));
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT)), Some(Action::PrevProblem));
    }

    #[test]
    fn no_key_has_two_default_actions() {
        let mut seen: Vec<KeySpec> = Vec::new();
        for e in Keymap::defaults().entries {
            for k in e.keys {
                assert!(!seen.contains(&k), "{k} is bound twice by default");
                seen.push(k);
            }
        }
    }

    #[test]
    fn key_names_parse() {
        let p = |s: &str| KeySpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(p("ctrl-B"), KeySpec { code: KeyCode::Char('b'), mods: KeyModifiers::CONTROL });
        assert_eq!(p("<C-d>"), KeySpec { code: KeyCode::Char('d'), mods: KeyModifiers::CONTROL });
        assert_eq!(p("Alt-x").mods, KeyModifiers::ALT);
        assert_eq!(p("pagedown").code, KeyCode::PageDown);
        assert_eq!(p("F5").code, KeyCode::F(5));
        assert_eq!(p("space").code, KeyCode::Char(' '));
        assert_eq!(p("-").code, KeyCode::Char('-'));
        assert_eq!(p("G").code, KeyCode::Char('G'));
        for bad in ["", "ctrl-", "F13", "Hyper-x", "blah"] {
            assert!(KeySpec::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(KeySpec::parse("blah").unwrap_err().contains("PgUp"));
    }

    #[test]
    fn action_names_are_forgiving_about_case_and_separators() {
        assert_eq!(Action::from_name("page_down"), Some(Action::PageDown));
        assert_eq!(Action::from_name("PageDown"), Some(Action::PageDown));
        assert_eq!(Action::from_name("toggle-events"), Some(Action::ToggleEvents));
        assert_eq!(Action::from_name("frobnicate"), None);
        for b in BINDINGS {
            assert_eq!(Action::from_name(b.action.name()), Some(b.action));
        }
    }

    #[test]
    fn overrides_move_keys_between_actions() {
        let k = |s: &str| KeySpec::parse(s).expect("key");
        let (m, warnings) = Keymap::with_overrides(&[
            UserBinding { on: vec![k("x")], run: Some(Action::Quit), desc: Some("leave".into()) },
            // `j` now opens; it no longer moves down.
            UserBinding { on: vec![k("j")], run: Some(Action::Open), desc: None },
            UserBinding { on: vec![k("e")], run: None, desc: None },
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(m.action_for(&key(KeyCode::Char('x'))), Some(Action::Quit));
        assert_eq!(m.action_for(&key(KeyCode::Char('q'))), Some(Action::Quit), "defaults stay");
        assert_eq!(m.action_for(&key(KeyCode::Char('j'))), Some(Action::Open));
        assert_eq!(m.action_for(&key(KeyCode::Down)), Some(Action::Down));
        assert_eq!(m.action_for(&key(KeyCode::Char('e'))), None);
        assert_eq!(m.keys_for(Action::Quit), vec!["q", "Ctrl-c", "x"]);
        assert!(m.entries.iter().any(|e| e.action == Action::Quit && e.desc == "leave"));
        assert_eq!(m.keys_for(Action::ToggleEvents), Vec::<String>::new());
    }

    #[test]
    fn conflicts_and_lost_essentials_are_reported() {
        let k = |s: &str| KeySpec::parse(s).expect("key");
        let (m, warnings) = Keymap::with_overrides(&[
            UserBinding { on: vec![k("x")], run: Some(Action::Quit), desc: None },
            UserBinding { on: vec![k("x")], run: Some(Action::Help), desc: None },
            UserBinding { on: vec![k("?")], run: None, desc: None },
        ]);
        assert_eq!(m.action_for(&key(KeyCode::Char('x'))), Some(Action::Help), "the later one wins");
        assert!(
            warnings.iter().any(|w| w.contains("key x is bound twice") && w.contains("quit") && w.contains("help")),
            "{warnings:?}"
        );
        let (_, warnings) =
            Keymap::with_overrides(&[UserBinding { on: vec![k("q"), k("ctrl-c")], run: None, desc: None }]);
        assert!(warnings.iter().any(|w| w.contains("no key is left for quit")), "{warnings:?}");
    }
}
