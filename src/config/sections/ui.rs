//! `[ui]`: theme, kiosk rotation, frame rate and mouse.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::Checker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    pub theme: String,
    /// Time each view stays up in kiosk mode.
    pub kiosk_rotate: Duration,
    /// Upper bound on redraws per second (SSH-friendly).
    pub fps: u32,
    /// Capture the mouse (click selects, wheel scrolls); off keeps the terminal's own text selection.
    pub mouse: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { theme: "default".into(), kiosk_rotate: Duration::from_secs(15), fps: 10, mouse: false }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawUi {
    pub theme: Opt<String>,
    pub kiosk_rotate: Opt<DurationInput>,
    pub fps: Opt<i64>,
    pub mouse: Option<bool>,
}

/// The keys of `[ui]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawUi`.
pub(in crate::config) const KEYS: &[&str] = &["theme", "kiosk_rotate", "fps", "mouse"];

impl Checker<'_> {
    pub(in crate::config) fn ui(&mut self, raw: RawUi) -> UiConfig {
        let d = UiConfig::default();
        let theme = match raw.theme {
            None => d.theme.clone(),
            Some(t) => {
                if t.get_ref().trim().is_empty() {
                    self.error(Some(&t.span()), "ui.theme is empty".into(), "leave it out for \"default\"".to_string());
                }
                t.into_inner()
            }
        };
        let kiosk_rotate = self.duration("ui.kiosk_rotate", raw.kiosk_rotate, d.kiosk_rotate);
        let fps = match raw.fps {
            None => d.fps,
            Some(f) => match u32::try_from(*f.get_ref()) {
                Ok(n @ 1..=60) => n,
                _ => {
                    self.error(
                        Some(&f.span()),
                        format!("ui.fps must be from 1 to 60, got {}", f.get_ref()),
                        "10 is plenty; more only costs bandwidth over SSH".to_string(),
                    );
                    d.fps
                }
            },
        };
        UiConfig {
            theme,
            kiosk_rotate: kiosk_rotate.map_or(d.kiosk_rotate, |v| v.v),
            fps,
            mouse: raw.mouse.unwrap_or(d.mouse),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn frame_rate_stays_between_1_and_60() {
        for (fps, good) in [(0, false), (1, true), (60, true), (61, false), (-3, false)] {
            let text = format!("[ui]\nfps = {fps}\n{SHARD}");
            if good {
                assert_eq!(i64::from(ok(&text, &fixture_env()).config.ui.fps), fps);
            } else {
                assert!(has(&err(&text, &fixture_env()), Some(2), "ui.fps must be from 1 to 60"), "{fps}");
            }
        }
        let e = err(&format!("[ui]\ntheme = \" \"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "ui.theme is empty"), "{e}");
    }
}
