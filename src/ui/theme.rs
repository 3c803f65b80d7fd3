//! Semantic styles (ok, warn, crit, …) loaded from theme files. Views ask for
//! a role, never for a colour, so a theme, `--color` or `NO_COLOR` changes
//! every view.
//!
//! A theme names a `parent` and overrides only the roles it lists, so a new
//! theme is a few lines. Shipped themes are embedded in the binary; user
//! themes live in `~/.config/shardtop/themes/NAME.toml` (a user theme with a
//! shipped name replaces it, and may still use it as its parent).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use crate::fleet::Health;

/// The shipped themes, embedded (also in `themes/`).
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("dark-truecolor", include_str!("../../themes/dark-truecolor.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    ("lcd", include_str!("../../themes/lcd.toml")),
];

/// Chart series colours (`series1` … `series6`), for lines in one chart.
pub const SERIES: usize = 6;

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
    pub series: [Style; SERIES],
}

const ROLES: [&str; 17] = [
    "ok",
    "warn",
    "crit",
    "unknown",
    "muted",
    "accent",
    "border",
    "title",
    "header",
    "selection",
    "text",
    "series1",
    "series2",
    "series3",
    "series4",
    "series5",
    "series6",
];

/// The top-level keys of a theme file, for the error on an unknown one.
const TOP_KEYS: &str = "name, parent, styles";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    parent: Option<Spanned<String>>,
    #[serde(default)]
    styles: BTreeMap<Spanned<String>, Spanned<StyleSpec>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    modifiers: Vec<Spanned<String>>,
}

/// A theme that cannot be used: which file, where in it, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("theme{}{}: {message}", if file.is_empty() { "" } else { " " }, place(file, *position))]
pub struct ThemeError {
    /// A path, `shipped theme NAME`, or empty for the name given on the command line or in the config.
    pub file: String,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

fn place(file: &str, position: Option<(usize, usize)>) -> String {
    match position {
        Some((l, c)) => format!("{file}:{l}:{c}"),
        None => file.to_string(),
    }
}

/// Where a theme's text came from: shipped, or a file on disk.
#[derive(Clone, Debug, PartialEq)]
enum Origin {
    Shipped(&'static str),
    File(PathBuf),
}

impl Origin {
    fn label(&self) -> String {
        match self {
            Origin::Shipped(n) => format!("shipped theme {n:?}"),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

/// Finds and loads themes by name or path.
#[derive(Clone, Debug, Default)]
pub struct ThemeLoader {
    /// `~/.config/shardtop/themes`; `None` for shipped themes only.
    pub user_dir: Option<PathBuf>,
}

impl ThemeLoader {
    /// Shipped themes plus the user's theme directory.
    pub fn system() -> ThemeLoader {
        ThemeLoader { user_dir: dirs::home_dir().map(|h| h.join(".config").join("shardtop").join("themes")) }
    }

    /// `name` is a shipped or user theme name, or a path to a `.toml` file.
    pub fn load(&self, name: &str) -> Result<Theme, ThemeError> {
        let origin = self.find(name, None)?;
        let mut chain: Vec<(Origin, ThemeFile, String)> = Vec::new();
        let mut next = Some(origin);
        while let Some(origin) = next.take() {
            if chain.iter().any(|(o, _, _)| *o == origin) {
                let names: Vec<String> = chain.iter().map(|(o, _, _)| o.label()).chain([origin.label()]).collect();
                return Err(ThemeError {
                    file: chain[0].0.label(),
                    position: None,
                    message: format!("`parent` goes round in a circle: {}", names.join(" → ")),
                });
            }
            let text = self.read(&origin)?;
            let file = parse_file(&text, &origin.label())?;
            if let Some(parent) = &file.parent {
                next = Some(self.find(parent.get_ref(), Some((&origin, &text, parent.span())))?);
            }
            chain.push((origin, file, text));
        }
        // Root first, so each child overrides its parent's roles.
        let mut specs: BTreeMap<String, (StyleSpec, String, String)> = BTreeMap::new();
        for (origin, file, text) in chain.iter().rev() {
            for (role, spec) in &file.styles {
                specs.insert(role.get_ref().clone(), (spec.get_ref().clone(), origin.label(), text.clone()));
            }
        }
        let display = chain[0].1.name.clone().unwrap_or_else(|| name.to_string());
        build(display, &specs)
    }

    fn find(&self, name: &str, from: Option<(&Origin, &str, std::ops::Range<usize>)>) -> Result<Origin, ThemeError> {
        let looks_like_path = name.contains('/') || name.ends_with(".toml");
        if looks_like_path {
            let mut p = PathBuf::from(name);
            // A parent path is relative to the theme file that names it.
            if let Some((Origin::File(child), _, _)) = &from
                && p.is_relative()
                && let Some(dir) = child.parent()
            {
                p = dir.join(p);
            }
            return Ok(Origin::File(p));
        }
        let user = self.user_dir.as_ref().map(|d| d.join(format!("{name}.toml"))).filter(|p| p.is_file());
        // A user theme that names its own shipped namesake as parent gets the shipped one.
        let parent_of_itself = matches!((&from, &user), (Some((Origin::File(c), _, _)), Some(u)) if c == u);
        if let Some(u) = user.filter(|_| !parent_of_itself) {
            return Ok(Origin::File(u));
        }
        if let Some((n, _)) = SHIPPED.iter().find(|(n, _)| *n == name) {
            return Ok(Origin::Shipped(n));
        }
        let shipped: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        let mut message = format!("no theme named {name:?}: shipped themes are {}", shipped.join(", "));
        if let Some(d) = &self.user_dir {
            message.push_str(&format!(", and there is no {}", d.join(format!("{name}.toml")).display()));
        }
        if let Some(best) = shipped.iter().find(|s| strsim::levenshtein(s, name) <= 2) {
            message.push_str(&format!(" (did you mean {best:?}?)"));
        }
        Err(match from {
            None => ThemeError { file: String::new(), position: None, message },
            Some((origin, text, span)) => ThemeError {
                file: origin.label(),
                position: Some(line_col(text, span.start)),
                message: format!("parent: {message}"),
            },
        })
    }

    fn read(&self, origin: &Origin) -> Result<String, ThemeError> {
        match origin {
            Origin::Shipped(n) => {
                Ok(SHIPPED.iter().find(|(s, _)| s == n).map(|(_, t)| t.to_string()).unwrap_or_default())
            }
            Origin::File(p) => std::fs::read_to_string(p).map_err(|e| ThemeError {
                file: p.display().to_string(),
                position: None,
                message: format!("cannot read the theme file: {e}"),
            }),
        }
    }
}

fn parse_file(text: &str, label: &str) -> Result<ThemeFile, ThemeError> {
    let file: ThemeFile = toml::from_str(text).map_err(|e| {
        let mut message = e.message().trim_end().to_string();
        if message.starts_with("unknown field") && !message.contains("fg") {
            message.push_str(&format!(" (a theme file has {TOP_KEYS}; roles go under [styles])"));
        }
        ThemeError { file: label.into(), position: e.span().map(|s| line_col(text, s.start)), message }
    })?;
    if let Some(role) = file.styles.keys().find(|k| !ROLES.contains(&k.get_ref().as_str())) {
        let mut message = format!("styles.{}: unknown role; roles are {}", role.get_ref(), ROLES.join(", "));
        if let Some(best) = ROLES.iter().find(|r| strsim::levenshtein(r, role.get_ref()) <= 2) {
            message.push_str(&format!(" (did you mean {best:?}?)"));
        }
        return Err(ThemeError { file: label.into(), position: Some(line_col(text, role.span().start)), message });
    }
    Ok(file)
}

/// Roles a theme leaves out inherit from these (and then are plain).
fn fallback(role: &str) -> Option<&'static str> {
    match role {
        "series1" => Some("accent"),
        "series2" => Some("ok"),
        "series3" => Some("warn"),
        "series4" => Some("unknown"),
        "series5" => Some("crit"),
        "series6" => Some("text"),
        _ => None,
    }
}

fn build(name: String, specs: &BTreeMap<String, (StyleSpec, String, String)>) -> Result<Theme, ThemeError> {
    let style = |role: &str| -> Result<Style, ThemeError> {
        // A role left out borrows its fallback's style; errors then name the role actually written.
        let (role, spec) = match specs.get(role) {
            Some(s) => (role, Some(s)),
            None => fallback(role).map_or((role, None), |f| (f, specs.get(f))),
        };
        let Some((spec, file, text)) = spec else { return Ok(Style::default()) };
        let err = |key: &str, at: &Spanned<String>, message: String| ThemeError {
            file: file.clone(),
            position: Some(line_col(text, at.span().start)),
            message: format!("styles.{role}.{key}: {message}"),
        };
        let mut s = Style::default();
        if let Some(fg) = &spec.fg {
            s = s.fg(parse_color(fg.get_ref()).map_err(|m| err("fg", fg, m))?);
        }
        if let Some(bg) = &spec.bg {
            s = s.bg(parse_color(bg.get_ref()).map_err(|m| err("bg", bg, m))?);
        }
        for m in &spec.modifiers {
            s = s.add_modifier(parse_modifier(m.get_ref()).map_err(|msg| err("modifiers", m, msg))?);
        }
        Ok(s)
    };
    // Semantic roles first, so an error in one is reported as that role, not as a series borrowing it.
    let ok = style("ok")?;
    let mut series = [Style::default(); SERIES];
    for (i, s) in series.iter_mut().enumerate() {
        *s = style(&format!("series{}", i + 1))?;
    }
    Ok(Theme {
        name,
        ok,
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
        series,
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Theme {
    /// A shipped theme by name; `plain()` if the name is not shipped.
    pub fn shipped(name: &str) -> Theme {
        // Shipped themes are tested below; failing here would be a build defect.
        ThemeLoader::default().load(name).unwrap_or_else(|_| Theme::plain())
    }

    /// The theme for a terminal without colour: colours dropped, modifiers
    /// kept; a selection that was only a background colour becomes reversed,
    /// so the cursor row stays visible.
    pub fn without_color(mut self) -> Theme {
        let strip = |s: &mut Style| {
            s.fg = None;
            s.bg = None;
        };
        for s in [
            &mut self.ok,
            &mut self.warn,
            &mut self.crit,
            &mut self.unknown,
            &mut self.muted,
            &mut self.accent,
            &mut self.border,
            &mut self.title,
            &mut self.header,
            &mut self.text,
        ] {
            strip(s);
        }
        self.series.iter_mut().for_each(strip);
        let had_bg = self.selection.bg.is_some();
        strip(&mut self.selection);
        if had_bg || self.selection.add_modifier.is_empty() {
            self.selection = self.selection.add_modifier(Modifier::REVERSED);
        }
        self
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
            series: [d; SERIES],
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

    /// The style of the `i`th series in a chart (wraps around).
    pub fn series(&self, i: usize) -> Style {
        self.series[i % SERIES]
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
    s.parse::<Color>().map_err(|_| {
        format!("unknown colour {s:?}: use a name such as \"red\" or \"darkgray\", an index 0-255, or \"#rrggbb\"")
    })
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
    use std::path::Path;

    use super::*;

    fn loader(dir: &Path) -> ThemeLoader {
        ThemeLoader { user_dir: Some(dir.to_path_buf()) }
    }

    fn load_text(text: &str) -> Result<Theme, ThemeError> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t.toml"), text).expect("write");
        loader(dir.path()).load("t")
    }

    #[test]
    fn every_shipped_theme_loads_and_tells_health_apart() {
        for (name, _) in SHIPPED {
            let t = ThemeLoader::default().load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let h = [t.ok, t.warn, t.crit, t.unknown];
            for i in 0..h.len() {
                for j in i + 1..h.len() {
                    assert_ne!(h[i], h[j], "{name}: health styles {i} and {j} look the same");
                }
            }
            assert_ne!(t.selection, Style::default(), "{name}: the selection must show");
            assert_ne!(t.selection, t.text, "{name}");
        }
    }

    #[test]
    fn default_theme_is_ansi16() {
        let t = Theme::shipped("default");
        assert_eq!(t.crit, Style::default().fg(Color::Red).add_modifier(Modifier::BOLD));
        assert_eq!(t.selection, Style::default().add_modifier(Modifier::REVERSED));
        let all = [t.ok, t.warn, t.crit, t.unknown, t.muted, t.accent, t.border, t.title, t.header, t.text];
        for s in all.iter().chain(t.series.iter()) {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?} is not one of the 16");
            }
        }
    }

    #[test]
    fn rgb_themes_keep_their_meaning_in_16_colours() {
        use crate::ui::color::ColorDepth;
        let fg16 = |s: Style| s.fg.map(|c| ColorDepth::Ansi16.map(c));
        for name in ["light", "dark-truecolor"] {
            let t = Theme::shipped(name);
            let family = |s: Style| match fg16(s) {
                Some(Color::Green | Color::LightGreen) => "green",
                Some(Color::Yellow | Color::LightYellow) => "yellow",
                Some(Color::Red | Color::LightRed) => "red",
                Some(Color::Magenta | Color::LightMagenta) => "magenta",
                other => panic!("{name}: unexpected {other:?}"),
            };
            assert_eq!(
                [family(t.ok), family(t.warn), family(t.crit), family(t.unknown)],
                ["green", "yellow", "red", "magenta"],
                "{name}"
            );
        }
    }

    #[test]
    fn mono_has_no_colour() {
        let t = Theme::shipped("mono");
        let all =
            [t.ok, t.warn, t.crit, t.unknown, t.muted, t.accent, t.border, t.title, t.header, t.selection, t.text];
        assert!(all.iter().all(|s| s.fg.is_none() && s.bg.is_none()), "{t:?}");
    }

    #[test]
    fn child_overrides_only_what_it_names() {
        let t =
            load_text("name = \"mine\"\nparent = \"default\"\n[styles]\nok = { fg = \"#00ff00\" }\n").expect("theme");
        let d = Theme::shipped("default");
        assert_eq!(t.name, "mine");
        assert_eq!(t.ok, Style::default().fg(Color::Rgb(0, 255, 0)));
        assert_eq!((t.warn, t.crit, t.selection, t.series), (d.warn, d.crit, d.selection, d.series));
    }

    #[test]
    fn inheritance_chains_through_user_themes() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("base.toml"),
            "parent = \"mono\"\n[styles]\nwarn = { modifiers = [\"italic\"] }\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("leaf.toml"), "parent = \"base\"\n[styles]\nok = { fg = \"green\" }\n")
            .expect("write");
        let t = loader(dir.path()).load("leaf").expect("theme");
        assert_eq!(t.name, "leaf");
        assert_eq!(t.ok, Style::default().fg(Color::Green));
        assert_eq!(t.warn, Style::default().add_modifier(Modifier::ITALIC));
        assert_eq!(t.crit, Theme::shipped("mono").crit);
    }

    #[test]
    fn user_theme_may_replace_and_extend_its_shipped_namesake() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("default.toml"), "parent = \"default\"\n[styles]\nok = { fg = \"blue\" }\n")
            .expect("write");
        let t = loader(dir.path()).load("default").expect("theme");
        assert_eq!(t.ok, Style::default().fg(Color::Blue));
        assert_eq!(t.crit, Theme::shipped("default").crit);
    }

    #[test]
    fn parent_cycle_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.toml"), "parent = \"b\"\n").expect("write");
        std::fs::write(dir.path().join("b.toml"), "parent = \"a\"\n").expect("write");
        let e = loader(dir.path()).load("a").unwrap_err().to_string();
        assert!(e.contains("circle") && e.contains("a.toml") && e.contains("b.toml"), "{e}");
    }

    #[test]
    fn theme_by_path_and_relative_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.toml"), "[styles]\ncrit = { fg = \"#ff0000\" }\n").expect("write");
        std::fs::write(dir.path().join("c.toml"), "parent = \"./p.toml\"\n").expect("write");
        let t = ThemeLoader::default().load(&dir.path().join("c.toml").display().to_string()).expect("theme");
        assert_eq!(t.crit, Style::default().fg(Color::Rgb(255, 0, 0)));
        assert_eq!(t.ok, Style::default(), "no parent beyond p.toml: plain");
    }

    #[test]
    fn bad_theme_names_file_line_and_key() {
        let e = load_text("name='x'\n[styles]\nok={fg='grene'}").unwrap_err();
        assert!(e.file.ends_with("t.toml"), "{e}");
        assert_eq!(e.position, Some((3, 8)));
        assert!(e.message.contains("styles.ok.fg") && e.message.contains("\"grene\""), "{e}");

        let e = load_text("[styles]\nokk={fg='red'}").unwrap_err();
        assert_eq!(e.position, Some((2, 1)));
        assert!(e.message.contains("styles.okk: unknown role") && e.message.contains("did you mean \"ok\""), "{e}");

        let e = load_text("[styles]\nok={fg='red', blink=true}").unwrap_err();
        assert!(e.message.contains("blink") && e.position.is_some_and(|(l, _)| l == 2), "{e}");

        let e = load_text("[styles]\nwarn={modifiers=['bold','blinky']}").unwrap_err();
        assert!(e.message.contains("styles.warn.modifiers") && e.message.contains("\"blinky\""), "{e}");

        let e = load_text("colour = 1").unwrap_err();
        assert!(e.message.contains("colour") && e.message.contains("roles go under [styles]"), "{e}");

        let e = load_text("parent = \"nosuch\"").unwrap_err();
        assert_eq!(e.position, Some((1, 10)));
        assert!(e.message.contains("parent: no theme named \"nosuch\""), "{e}");
    }

    #[test]
    fn unknown_theme_name_lists_what_exists() {
        let e = ThemeLoader { user_dir: Some("/nonexistent/themes".into()) }
            .load("dakr-truecolor")
            .unwrap_err()
            .to_string();
        assert!(e.contains("shipped themes are default, light, dark-truecolor, mono, lcd"), "{e}");
        assert!(e.contains("/nonexistent/themes/dakr-truecolor.toml"), "{e}");
        assert!(e.contains("did you mean \"dark-truecolor\""), "{e}");
        let e = ThemeLoader::default().load("/nonexistent/x.toml").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.toml") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn without_color_keeps_modifiers_and_a_visible_selection() {
        let t = Theme::shipped("dark-truecolor").without_color();
        assert_eq!(t.crit.fg, None);
        assert!(t.crit.add_modifier.contains(Modifier::BOLD));
        assert!(t.selection.add_modifier.contains(Modifier::REVERSED), "{:?}", t.selection);
        assert_eq!(t.selection.bg, None);
        let d = Theme::shipped("default").without_color();
        assert_eq!(d.ok, Style::default());
        assert_eq!(d.selection, Style::default().add_modifier(Modifier::REVERSED));
    }

    #[test]
    fn series_fall_back_to_semantic_roles_and_wrap() {
        let t = load_text("[styles]\naccent = { fg = \"cyan\" }\nseries2 = { fg = \"blue\" }\n").expect("theme");
        assert_eq!(t.series(0), Style::default().fg(Color::Cyan));
        assert_eq!(t.series(1), Style::default().fg(Color::Blue));
        assert_eq!(t.series(SERIES), t.series(0));
    }

    #[test]
    fn every_health_has_a_distinct_symbol() {
        let s: Vec<_> = [Health::Ok, Health::Warning, Health::Critical, Health::Unknown].map(health_symbol).into();
        let mut d = s.clone();
        d.sort();
        d.dedup();
        assert_eq!(s.len(), d.len());
    }
}
