//! The terminal profile of one run: theme, colour depth, keymap, kiosk,
//! read-only, mouse and frame rate, from the command line over the config.

use chrono::Utc;

use super::app::App;
use super::color::ColorDepth;
use super::kiosk::Kiosk;
use super::theme::{ThemeError, ThemeLoader};
use crate::config::UiConfig;
use crate::keymap::{Keymap, UserBinding};

/// What the command line asks of this run's terminal: each one set here beats the config's `[ui]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TerminalOptions {
    /// A theme name or file.
    pub theme: Option<String>,
    /// A colour depth; `None` detects it from the environment.
    pub color: Option<ColorDepth>,
    pub fps: Option<u32>,
    pub kiosk: bool,
    pub read_only: bool,
    pub mouse: bool,
    pub ascii: bool,
}

/// What the event loop needs beyond the `App`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub fps: u32,
    pub mouse: bool,
    /// To show in the events pane once it exists (key conflicts in the keymap file).
    pub warnings: Vec<String>,
}

/// A theme or keymap file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Theme(#[from] ThemeError),
    #[error("{0}")]
    Keymap(#[from] crate::config::ConfigError),
}

/// Set up `app` for this terminal. `keys` are the config's `[keys]`; the
/// user's keymap file (if any) applies first, so the config wins.
pub fn configure(
    app: &mut App,
    term: &TerminalOptions,
    ui: &UiConfig,
    keys: &[UserBinding],
    themes: &ThemeLoader,
    keymap_file: Option<&std::path::Path>,
) -> Result<Profile, ProfileError> {
    let name = term.theme.as_deref().unwrap_or(&ui.theme);
    let theme = themes.load(name)?;
    let (mut all_keys, problems) = match keymap_file {
        Some(p) => crate::config::load_keymap(p)?,
        None => (Vec::new(), Vec::new()),
    };
    let warnings = problems.iter().map(ToString::to_string).collect();
    all_keys.extend(keys.iter().cloned());
    let keys = &all_keys[..];
    app.color_depth = ColorDepth::detect(term.color);
    app.theme = if app.color_depth == ColorDepth::None { theme.without_color() } else { theme };
    // Conflicts were reported with the config's other warnings.
    app.keymap = Keymap::with_overrides(keys).0;
    app.read_only = term.read_only || term.kiosk;
    app.kiosk = term.kiosk.then(|| Kiosk::new(ui.kiosk_rotate, Utc::now()));
    if let Some(first) = app.kiosk.as_ref().map(|_| super::kiosk::rotation(app)).and_then(|v| v.first().copied()) {
        app.view = first;
    }
    app.ascii = term.ascii;
    // Nobody clicks a wall display; leave its mouse alone.
    let mouse = (term.mouse || ui.mouse) && !term.kiosk;
    Ok(Profile { fps: term.fps.unwrap_or(ui.fps), mouse, warnings })
}
