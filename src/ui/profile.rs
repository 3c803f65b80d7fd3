//! The terminal profile of one run: theme, colour depth, keymap, kiosk,
//! read-only, mouse and frame rate, from the command line over the config.

use chrono::Utc;

use super::app::App;
use super::color::ColorDepth;
use super::keys::{Keymap, UserBinding};
use super::kiosk::Kiosk;
use super::theme::{ThemeError, ThemeLoader};
use crate::cli::Cli;
use crate::config::UiConfig;

/// What the event loop needs beyond the `App`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub fps: u32,
    pub mouse: bool,
}

/// Set up `app` for this terminal. Fails only on a theme that cannot be used.
pub fn configure(
    app: &mut App,
    cli: &Cli,
    ui: &UiConfig,
    keys: &[UserBinding],
    themes: &ThemeLoader,
) -> Result<Profile, ThemeError> {
    let name = cli.theme.as_deref().unwrap_or(&ui.theme);
    let theme = themes.load(name)?;
    app.color_depth = ColorDepth::detect(cli.color);
    app.theme = if app.color_depth == ColorDepth::None { theme.without_color() } else { theme };
    // Conflicts were reported with the config's other warnings.
    app.keymap = Keymap::with_overrides(keys).0;
    app.read_only = cli.read_only || cli.kiosk;
    app.kiosk = cli.kiosk.then(|| Kiosk::new(ui.kiosk_rotate, Utc::now()));
    app.ascii = cli.ascii;
    // Nobody clicks a wall display; leave its mouse alone.
    let mouse = (cli.mouse || ui.mouse) && !cli.kiosk;
    Ok(Profile { fps: cli.fps.unwrap_or(ui.fps), mouse })
}
