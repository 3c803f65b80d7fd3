//! Key bindings as data: the help overlay is generated from this table, so
//! what it lists is what the keys do.

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
    Open,
    Back,
    Filter,
    Sort,
    SortReverse,
    ToggleEvents,
    Topology,
}

pub struct Binding {
    pub keys: &'static [&'static str],
    pub action: Action,
    pub desc: &'static str,
}

/// The default bindings, in the order the help overlay lists them.
pub const BINDINGS: &[Binding] = &[
    Binding { keys: &["↑", "k"], action: Action::Up, desc: "previous row" },
    Binding { keys: &["↓", "j"], action: Action::Down, desc: "next row" },
    Binding { keys: &["PgUp", "Ctrl-b"], action: Action::PageUp, desc: "page up" },
    Binding { keys: &["PgDn", "Ctrl-f"], action: Action::PageDown, desc: "page down" },
    Binding { keys: &["Home", "g"], action: Action::Top, desc: "first row" },
    Binding { keys: &["End", "G"], action: Action::Bottom, desc: "last row" },
    Binding { keys: &["Enter", "l"], action: Action::Open, desc: "open shard detail" },
    Binding { keys: &["Esc", "h", "Backspace"], action: Action::Back, desc: "back / close / clear filter" },
    Binding { keys: &["/"], action: Action::Filter, desc: "filter shards (name, address, health)" },
    Binding { keys: &["s"], action: Action::Sort, desc: "next sort column" },
    Binding { keys: &["S"], action: Action::SortReverse, desc: "reverse sort order" },
    Binding { keys: &["t"], action: Action::Topology, desc: "topology (all shards / this shard)" },
    Binding { keys: &["e"], action: Action::ToggleEvents, desc: "show / hide the events pane" },
    Binding { keys: &["?"], action: Action::Help, desc: "this help" },
    Binding { keys: &["q", "Ctrl-c"], action: Action::Quit, desc: "quit" },
];

/// The action a key press triggers in normal (non-editing) mode.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('b') if ctrl => Action::PageUp,
        KeyCode::Char('f') if ctrl => Action::PageDown,
        _ if ctrl => return None,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => Action::Open,
        KeyCode::Esc | KeyCode::Char('h') | KeyCode::Backspace | KeyCode::Left => Action::Back,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('S') => Action::SortReverse,
        KeyCode::Char('e') => Action::ToggleEvents,
        KeyCode::Char('t') => Action::Topology,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn every_action_is_documented_and_reachable() {
        for b in BINDINGS {
            assert!(!b.desc.is_empty());
            for k in b.keys {
                let ev = match *k {
                    "↑" => key(KeyCode::Up),
                    "↓" => key(KeyCode::Down),
                    "PgUp" => key(KeyCode::PageUp),
                    "PgDn" => key(KeyCode::PageDown),
                    "Home" => key(KeyCode::Home),
                    "End" => key(KeyCode::End),
                    "Enter" => key(KeyCode::Enter),
                    "Esc" => key(KeyCode::Esc),
                    "Backspace" => key(KeyCode::Backspace),
                    k if k.starts_with("Ctrl-") => {
                        KeyEvent::new(KeyCode::Char(k.chars().last().unwrap_or(' ')), KeyModifiers::CONTROL)
                    }
                    k => key(KeyCode::Char(k.chars().next().unwrap_or(' '))),
                };
                assert_eq!(action_for(ev), Some(b.action), "key {k} for {}", b.desc);
            }
        }
    }

    #[test]
    fn unbound_keys_do_nothing() {
        assert_eq!(action_for(key(KeyCode::Char('x'))), None);
        assert_eq!(action_for(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)), None);
    }
}
