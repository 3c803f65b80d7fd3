//! Semantic styles (ok, warn, crit, …) loaded from a theme file. Views ask
//! for a role, never for a colour, so a theme or `NO_COLOR` changes every view.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::fleet::Health;

/// The theme shipped in the binary (also at `themes/default.toml`).
pub const DEFAULT_THEME: &str = include_str!("../../themes/default.toml");

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub ok: Style,
    pub warn: Style,
    pub crit: Style,
    pub unknown: Style,
    pub muted: Style,
    pub accent: Style,
    pub border: Style,
    pub title: Style,
    pub header: Style,
    pub selection: Style,
    pub text: Style,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    styles: BTreeMap<String, StyleSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme {theme}: {source}")]
    Parse { theme: String, source: toml::de::Error },
    #[error("theme {theme}: role `{role}`: {message}")]
    Role { theme: String, role: String, message: String },
}

const ROLES: [&str; 11] = ["ok", "warn", "crit", "unknown", "muted", "accent", "border", "title", "header", "selection", "text"];

impl Theme {
    /// Parse a theme file. `color = false` keeps only modifiers (`NO_COLOR`),
    /// so the selection bar (reversed) and emphasis survive.
    pub fn parse(text: &str, label: &str, color: bool) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|source| ThemeError::Parse { theme: label.into(), source })?;
        if let Some(role) = file.styles.keys().find(|k| !ROLES.contains(&k.as_str())) {
            return Err(ThemeError::Role {
                theme: label.into(),
                role: role.clone(),
                message: format!("unknown role; known roles: {}", ROLES.join(", ")),
            });
        }
        let style = |role: &str| -> Result<Style, ThemeError> {
            let err = |message: String| ThemeError::Role { theme: label.into(), role: role.into(), message };
            let Some(spec) = file.styles.get(role) else { return Ok(Style::default()) };
            let mut s = Style::default();
            if color {
                if let Some(fg) = &spec.fg {
                    s = s.fg(parse_color(fg).map_err(err)?);
                }
                if let Some(bg) = &spec.bg {
                    s = s.bg(parse_color(bg).map_err(err)?);
                }
            }
            for m in &spec.modifiers {
                s = s.add_modifier(parse_modifier(m).map_err(err)?);
            }
            Ok(s)
        };
        Ok(Theme {
            name: file.name.clone(),
            ok: style("ok")?,
            warn: style("warn")?,
            crit: style("crit")?,
            unknown: style("unknown")?,
            muted: style("muted")?,
            accent: style("accent")?,
            border: style("border")?,
            title: style("title")?,
            header: style("header")?,
            selection: style("selection")?,
            text: style("text")?,
        })
    }

    pub fn default_theme(color: bool) -> Theme {
        // The embedded theme is tested below; failing here would be a build defect.
        Theme::parse(DEFAULT_THEME, "default", color).unwrap_or_else(|_| Theme::plain())
    }

    /// No colours, no modifiers but reverse for the selection.
    pub fn plain() -> Theme {
        let d = Style::default();
        Theme {
            name: "plain".into(),
            ok: d,
            warn: d,
            crit: d,
            unknown: d,
            muted: d,
            accent: d,
            border: d,
            title: d,
            header: d,
            selection: d.add_modifier(Modifier::REVERSED),
            text: d,
        }
    }

    pub fn health(&self, h: Health) -> Style {
        match h {
            Health::Ok => self.ok,
            Health::Warning => self.warn,
            Health::Critical => self.crit,
            Health::Unknown => self.unknown,
        }
    }
}

/// Health is never told by colour alone: every state has its own symbol.
pub fn health_symbol(h: Health) -> &'static str {
    match h {
        Health::Ok => "●",
        Health::Warning => "▲",
        Health::Critical => "✖",
        Health::Unknown => "?",
    }
}

fn parse_color(s: &str) -> Result<Color, String> {
    s.parse::<Color>().map_err(|_| format!("unknown colour {s:?}: use a name such as \"red\", \"darkgray\", or \"#rrggbb\""))
}

fn parse_modifier(s: &str) -> Result<Modifier, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" | "underline" => Modifier::UNDERLINED,
        "reversed" | "reverse" => Modifier::REVERSED,
        "crossed_out" => Modifier::CROSSED_OUT,
        _ => return Err(format!("unknown modifier {s:?}: use bold, dim, italic, underlined, reversed or crossed_out")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_theme_parses() {
        let t = Theme::parse(DEFAULT_THEME, "default", true).expect("default theme");
        assert_eq!(t.crit, Style::default().fg(Color::Red).add_modifier(Modifier::BOLD));
        assert_eq!(t.selection, Style::default().add_modifier(Modifier::REVERSED));
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let t = Theme::parse(DEFAULT_THEME, "default", false).expect("default theme");
        assert_eq!(t.crit, Style::default().add_modifier(Modifier::BOLD));
        assert_eq!(t.ok, Style::default());
        assert_eq!(t.selection, Style::default().add_modifier(Modifier::REVERSED));
    }

    #[test]
    fn bad_theme_names_role_and_value() {
        let e = Theme::parse("name='x'\n[styles]\nok={fg='grene'}", "x", true).unwrap_err().to_string();
        assert!(e.contains("role `ok`") && e.contains("\"grene\""), "{e}");
        let e = Theme::parse("name='x'\n[styles]\nokk={fg='red'}", "x", true).unwrap_err().to_string();
        assert!(e.contains("role `okk`: unknown role"), "{e}");
        let e = Theme::parse("name='x'\n[styles]\nok={fg='red', blink=true}", "x", true).unwrap_err().to_string();
        assert!(e.contains("blink"), "{e}");
    }

    #[test]
    fn every_health_has_a_distinct_symbol() {
        let s: Vec<_> = [Health::Ok, Health::Warning, Health::Critical, Health::Unknown].map(health_symbol).into();
        let mut d = s.clone();
        d.dedup();
        assert_eq!(s.len(), d.len());
    }
}
