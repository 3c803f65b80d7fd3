//! Colour depth: what the terminal can show, detected from the environment or
//! forced (`--color`), and the downsampling of RGB theme colours to it.
//!
//! Applied to the finished frame buffer rather than to the theme, so colours
//! that widgets pick themselves (tui-logger's) obey the same depth.

use ratatui::buffer::Buffer;
use ratatui::style::Color;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// No colour at all (`NO_COLOR`, `--color never`, `TERM=dumb`): modifiers only.
    None,
    Ansi16,
    Ansi256,
    TrueColor,
}

impl ColorDepth {
    pub fn label(self) -> &'static str {
        match self {
            ColorDepth::None => "none",
            ColorDepth::Ansi16 => "16",
            ColorDepth::Ansi256 => "256",
            ColorDepth::TrueColor => "truecolor",
        }
    }

    /// A forced depth (`--color 256`, `--color never`) wins; without one, `NO_COLOR`,
    /// `COLORTERM` and `TERM` decide. A forced depth overrides `NO_COLOR`: the user asked for colour.
    pub fn resolve(forced: Option<ColorDepth>, env: impl Fn(&str) -> Option<String>) -> ColorDepth {
        if let Some(depth) = forced {
            return depth;
        }
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorDepth::None;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorDepth::TrueColor;
        }
        let term = env("TERM").unwrap_or_default().to_ascii_lowercase();
        if term == "dumb" {
            ColorDepth::None
        } else if term.contains("truecolor") || term.contains("direct") {
            ColorDepth::TrueColor
        } else if term.contains("256") {
            ColorDepth::Ansi256
        } else {
            // xterm, screen, tmux, linux, vt100 and unset: the 16 that every terminal has.
            ColorDepth::Ansi16
        }
    }

    /// From the process environment, unless forced.
    pub fn detect(forced: Option<ColorDepth>) -> ColorDepth {
        ColorDepth::resolve(forced, |k| std::env::var(k).ok())
    }

    /// The colour as this depth can show it.
    pub fn map(self, c: Color) -> Color {
        match (self, c) {
            (_, Color::Reset) => Color::Reset,
            (ColorDepth::None, _) => Color::Reset,
            (ColorDepth::TrueColor, c) => c,
            (ColorDepth::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(rgb_to_256(r, g, b)),
            (ColorDepth::Ansi256, c) => c,
            (ColorDepth::Ansi16, Color::Rgb(r, g, b)) => ANSI16[nearest16(r, g, b)].0,
            (ColorDepth::Ansi16, Color::Indexed(i)) if i >= 16 => {
                let (r, g, b) = indexed_to_rgb(i);
                ANSI16[nearest16(r, g, b)].0
            }
            (ColorDepth::Ansi16, Color::Indexed(i)) => ANSI16[usize::from(i)].0,
            (ColorDepth::Ansi16, c) => c,
        }
    }

    /// Rewrite every cell's colours to this depth. With no colour, cells carry
    /// none at all: crossterm under `NO_COLOR` turns a colour change into a
    /// bare `ESC[m`, which resets REVERSED and so would erase the selection bar.
    pub fn apply(self, buf: &mut Buffer) {
        if self == ColorDepth::TrueColor {
            return;
        }
        for cell in buf.content.iter_mut() {
            cell.fg = self.map(cell.fg);
            cell.bg = self.map(cell.bg);
            #[allow(deprecated)]
            {
                cell.underline_color = self.map(cell.underline_color);
            }
        }
    }
}

/// The 16 ANSI colours with xterm's default RGB values, in index order (the
/// RGB is used to bring 256-colour indices down to 16).
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    let (dr, dg, db) = (d(a.0, b.0), d(a.1, b.1), d(a.2, b.2));
    dr * dr + dg * dg + db * db
}

/// By hue, not by distance to a palette: the 16 colours' real RGB differ from
/// terminal to terminal, but "a green" should stay green (nearest-RGB turns a
/// pastel green into yellow), and a greyish colour stays grey.
fn nearest16(r: u8, g: u8, b: u8) -> usize {
    let (rf, gf, bf) = (f64::from(r), f64::from(g), f64::from(b));
    let max = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let delta = max - min;
    if max == 0.0 || delta / max < 0.25 || delta < 40.0 {
        // Black, dark grey, grey, white.
        return match max {
            v if v < 60.0 => 0,
            v if v < 150.0 => 8,
            v if v < 225.0 => 7,
            _ => 15,
        };
    }
    let hue = if max == rf {
        60.0 * ((gf - bf) / delta).rem_euclid(6.0)
    } else if max == gf {
        60.0 * ((bf - rf) / delta + 2.0)
    } else {
        60.0 * ((rf - gf) / delta + 4.0)
    };
    // red, yellow, green, cyan, blue, magenta: ANSI indices 1, 3, 2, 6, 4, 5.
    const BY_HUE: [usize; 6] = [1, 3, 2, 6, 4, 5];
    let base = BY_HUE[((hue / 60.0).round() as usize) % 6];
    // Light (pastel or bright) shades take the bright variant.
    if min >= 80.0 || max >= 240.0 { base + 8 } else { base }
}

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn cube_index(v: u8) -> usize {
    (0..6).min_by_key(|&i| (i32::from(CUBE[i]) - i32::from(v)).unsigned_abs()).unwrap_or(0)
}

/// The nearest of xterm's 6×6×6 cube and 24 greys (indices 16–255).
pub fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    let (ri, gi, bi) = (cube_index(r), cube_index(g), cube_index(b));
    let cube = (CUBE[ri], CUBE[gi], CUBE[bi]);
    let cube_idx = 16 + 36 * ri + 6 * gi + bi;
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let grey_i = ((avg.saturating_sub(8)) / 10).min(23) as u8;
    let grey_v = 8 + 10 * grey_i;
    let grey_idx = 232 + usize::from(grey_i);
    if dist((r, g, b), (grey_v, grey_v, grey_v)) < dist((r, g, b), cube) { grey_idx as u8 } else { cube_idx as u8 }
}

/// xterm's RGB for a 256-colour index.
pub fn indexed_to_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[usize::from(i)].1,
        16..=231 => {
            let n = usize::from(i - 16);
            (CUBE[n / 36], CUBE[(n / 6) % 6], CUBE[n % 6])
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::{Modifier, Style};

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn auto_depth_from_environment() {
        let auto = |vars: &[(&str, &str)]| ColorDepth::resolve(None, env(vars));
        assert_eq!(auto(&[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")]), ColorDepth::TrueColor);
        assert_eq!(auto(&[("TERM", "xterm-256color"), ("COLORTERM", "24bit")]), ColorDepth::TrueColor);
        assert_eq!(auto(&[("TERM", "tmux-256color")]), ColorDepth::Ansi256);
        assert_eq!(auto(&[("TERM", "screen")]), ColorDepth::Ansi16);
        assert_eq!(auto(&[("TERM", "xterm")]), ColorDepth::Ansi16);
        assert_eq!(auto(&[]), ColorDepth::Ansi16);
        assert_eq!(auto(&[("TERM", "dumb")]), ColorDepth::None);
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("COLORTERM", "truecolor"), ("NO_COLOR", "1")]),
            ColorDepth::None
        );
        // An empty NO_COLOR does not count (no-color.org).
        assert_eq!(auto(&[("TERM", "xterm-256color"), ("NO_COLOR", "")]), ColorDepth::Ansi256);
    }

    #[test]
    fn explicit_depth_beats_the_environment() {
        let e = env(&[("NO_COLOR", "1"), ("TERM", "xterm")]);
        assert_eq!(ColorDepth::resolve(Some(ColorDepth::Ansi256), &e), ColorDepth::Ansi256);
        assert_eq!(ColorDepth::resolve(Some(ColorDepth::TrueColor), &e), ColorDepth::TrueColor);
        let e = env(&[("COLORTERM", "truecolor")]);
        assert_eq!(ColorDepth::resolve(Some(ColorDepth::None), &e), ColorDepth::None);
    }

    #[test]
    fn rgb_to_256_hits_cube_and_greys() {
        assert_eq!(rgb_to_256(0, 0, 0), 16);
        assert_eq!(rgb_to_256(255, 255, 255), 231);
        assert_eq!(rgb_to_256(255, 0, 0), 196);
        assert_eq!(rgb_to_256(0, 135, 255), 33);
        // A mid grey lands on the grey ramp, not the coarser cube.
        assert_eq!(rgb_to_256(128, 128, 128), 244);
        assert_eq!(indexed_to_rgb(244), (128, 128, 128));
        // Every cube colour maps back to itself.
        for i in 16..=231u8 {
            let (r, g, b) = indexed_to_rgb(i);
            let back = rgb_to_256(r, g, b);
            assert_eq!(indexed_to_rgb(back), (r, g, b), "index {i}");
        }
    }

    #[test]
    fn downsampling_to_16_picks_the_obvious_colour() {
        let d = ColorDepth::Ansi16;
        assert_eq!(d.map(Color::Rgb(0xf7, 0x76, 0x8e)), Color::LightRed);
        assert_eq!(d.map(Color::Rgb(0x1a, 0x7f, 0x37)), Color::Green);
        assert_eq!(d.map(Color::Rgb(0x7f, 0xd8, 0x8f)), Color::LightGreen, "a pastel green stays green");
        assert_eq!(d.map(Color::Rgb(0xcf, 0x22, 0x2e)), Color::Red);
        assert_eq!(d.map(Color::Rgb(0xe0, 0xaf, 0x68)), Color::LightYellow);
        assert_eq!(d.map(Color::Rgb(0x7d, 0xcf, 0xff)), Color::LightCyan);
        assert_eq!(d.map(Color::Rgb(0x6b, 0x70, 0x89)), Color::DarkGray, "a greyish blue is grey");
        assert_eq!(d.map(Color::Rgb(250, 250, 250)), Color::White);
        assert_eq!(d.map(Color::Rgb(10, 10, 10)), Color::Black);
        assert_eq!(d.map(Color::Indexed(196)), Color::LightRed);
        assert_eq!(d.map(Color::Indexed(1)), Color::Red);
        // Named colours are already in the 16.
        assert_eq!(d.map(Color::Cyan), Color::Cyan);
        assert_eq!(d.map(Color::Reset), Color::Reset);
        assert_eq!(ColorDepth::Ansi256.map(Color::Rgb(255, 0, 0)), Color::Indexed(196));
        assert_eq!(ColorDepth::TrueColor.map(Color::Rgb(1, 2, 3)), Color::Rgb(1, 2, 3));
    }

    #[test]
    fn no_colour_strips_colours_and_keeps_modifiers() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 3, 1));
        buf.set_string(
            0,
            0,
            "abc",
            Style::default().fg(Color::Red).bg(Color::Rgb(1, 2, 3)).add_modifier(Modifier::REVERSED),
        );
        ColorDepth::None.apply(&mut buf);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
            assert!(cell.modifier.contains(Modifier::REVERSED));
        }
    }
}
