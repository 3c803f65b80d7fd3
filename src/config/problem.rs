//! Problems found in a config file, and turning toml/serde errors into ones
//! that name the key and section and suggest a fix.

use std::fmt;
use std::ops::Range;

use super::schema::{SECTIONS, section_header};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding, printed like a compiler diagnostic:
/// `shardtop.toml:12:5: error: unknown key `intervall` in [poll] (hint: did you mean `interval`?)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub file: String,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(
        severity: Severity,
        file: &str,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Problem {
            severity,
            file: file.to_string(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            message: message.into(),
            hint,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}: {}", self.severity, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Everything wrong with a config that cannot be used: all its errors, and
/// the warnings found alongside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<Problem> for ConfigError {
    fn from(p: Problem) -> Self {
        ConfigError { problems: vec![p] }
    }
}

/// Byte offsets to 1-based line and column.
pub(super) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { text, starts }
    }

    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo, or else the only one that `word` abbreviates.
pub(super) fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let typo = candidates
        .iter()
        .map(|&c| (strsim::damerau_levenshtein(&word, c), c))
        .filter(|&(d, c)| d <= (word.chars().count().max(c.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c);
    typo.or_else(|| {
        let mut prefixed = candidates.iter().filter(|c| word.len() >= 3 && c.starts_with(word.as_str()));
        match (prefixed.next(), prefixed.next()) {
            (Some(&c), None) => Some(c),
            _ => None,
        }
    })
}

/// Turns a toml parse or serde error into a problem about the user's key.
pub(super) fn from_toml_error(err: &toml::de::Error, text: &str, file: &str) -> Problem {
    let span = err.span();
    let position = span.as_ref().map(|r| LineIndex::new(text).position(r.start));
    let (message, hint) = describe(err.message(), text, span);
    Problem::new(Severity::Error, file, position, message, hint)
}

fn describe(msg: &str, text: &str, span: Option<Range<usize>>) -> (String, Option<String>) {
    let start = span.as_ref().map_or(0, |r| r.start);
    let span_text = span.and_then(|r| text.get(r)).unwrap_or("").trim();
    let header = header_at(text, start);
    let on_header = span_text.starts_with('[') || line_at(text, start).and_then(header_of_line).is_some();

    if msg.starts_with("unknown field `") {
        let unknown = match strip_key_quotes(span_text) {
            "" => backticked(msg).first().copied().unwrap_or(""),
            k => k,
        };
        let expected = msg.split_once(", expected").map_or(Vec::new(), |(_, tail)| backticked(tail));
        return unknown_key(unknown, &expected, on_header);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.trim_end_matches('`');
        let section = header.map(|(name, array)| if array { format!("[[{name}]]") } else { format!("[{name}]") });
        return match section {
            Some(s) => (format!("missing key `{key}` in {s}"), None),
            None => (format!("missing key `{key}`"), None),
        };
    }
    let type_error = msg.starts_with("invalid type: ") || msg.starts_with("invalid value: ");
    // serde reads a struct from a sequence positionally, so `[[poll]]` fails
    // on some field of it; name the real mistake instead.
    if type_error
        && on_header
        && let Some((name, true)) = &header
        && name != "shard"
    {
        return (format!("[[{name}]] must be written [{name}]: it is a single table"), None);
    }
    for (prefix, what) in [("invalid type: ", "wrong type"), ("invalid value: ", "bad value")] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            let (found, expected) = (plain_type(found), plain_type(expected));
            let key = if on_header { header.as_ref().map(|h| h.0.clone()) } else { key_before(text, start) };
            if key.as_deref() == Some("shard") && found == "a table" {
                return (
                    "`shard` must be an array of tables".into(),
                    Some("write each shard as [[shard]], with double brackets".into()),
                );
            }
            let hint = match (key.as_deref(), found.as_str(), expected.as_str()) {
                (Some(k), "an array", "a table") => Some(format!("write [{k}] with single brackets")),
                (Some("replicas"), _, "an array") => Some("replicas = [\"db2:3306\", \"db3:3306\"]".into()),
                (_, f, e) if f.starts_with("string") && e.starts_with("a whole number") => {
                    Some("write the number without quotes".into())
                }
                _ => None,
            };
            let place = match (&key, &header) {
                (Some(k), Some((h, _))) if !on_header => format!(" for `{k}` in {}", section_header(h)),
                (Some(k), _) => format!(" for `{k}`"),
                _ => String::new(),
            };
            return (format!("{what}{place}: expected {expected}, found {found}"), hint);
        }
    }
    if msg == "duplicate key" {
        let key = strip_key_quotes(span_text.trim_matches(['[', ']']));
        if on_header {
            return (
                format!("duplicate section [{key}]"),
                Some("each section may appear once; only [[shard]] repeats".into()),
            );
        }
        return match header {
            Some((h, _)) => (format!("duplicate key `{key}` in {}", section_header(&h)), None),
            None => (format!("duplicate key `{key}`"), None),
        };
    }
    let hint = msg.contains("must be quoted").then(|| "put text in quotes, e.g. interval = \"2s\"".to_string());
    (format!("invalid TOML: {msg}"), hint)
}

fn unknown_key(unknown: &str, expected: &[&str], on_header: bool) -> (String, Option<String>) {
    let section =
        SECTIONS.iter().find(|(_, keys)| keys.len() == expected.len() && keys.iter().all(|k| expected.contains(k)));
    let Some(&(section, keys)) = section else {
        return (format!("unknown key `{unknown}`"), None);
    };
    let suggestion = closest(unknown, keys.iter().copied());
    if section.is_empty() {
        let listed = keys.iter().map(|k| section_header(k)).collect::<Vec<_>>().join(", ");
        let message = if on_header {
            format!("unknown section [{unknown}]")
        } else {
            format!("unknown top-level key `{unknown}`")
        };
        let hint = match suggestion {
            Some(s) => format!("did you mean {}?", section_header(s)),
            None if on_header => format!("the sections are {listed}"),
            None => format!("settings go inside a section: {listed}"),
        };
        return (message, Some(hint));
    }
    let message = format!("unknown key `{unknown}` in {}", section_header(section));
    let hint = match (section, unknown) {
        ("defaults", "password" | "pass" | "passwd") => {
            "never put a password in the config: name an environment variable with password_env, \
             or a file with password_file"
                .to_string()
        }
        ("shard", "host" | "port" | "address") => "write the address as master = \"host:port\"".to_string(),
        _ => match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("the keys in {} are {}", section_header(section), keys.join(", ")),
        },
    };
    (message, Some(hint))
}

/// serde's type names in words a config author uses.
fn plain_type(t: &str) -> String {
    let t = t.trim();
    match t {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" | "sequence" => "an array".into(),
        "map" | "a map" => "a table".into(),
        _ if t.starts_with("struct ") => "a table".into(),
        _ => t.into(),
    }
}

pub(super) fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn strip_key_quotes(k: &str) -> &str {
    k.trim().trim_matches(['"', '\''])
}

fn line_at(text: &str, offset: usize) -> Option<&str> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text.get(offset..)?.find('\n').map_or(text.len(), |i| offset + i);
    text.get(start..end)
}

/// `[name]` or `[[name]]` (returning the name and whether it is an array of tables).
fn header_of_line(line: &str) -> Option<(String, bool)> {
    let t = line.trim();
    let (inner, array) = if let Some(r) = t.strip_prefix("[[") {
        (r.split_once("]]")?.0, true)
    } else {
        (t.strip_prefix('[')?.split_once(']')?.0, false)
    };
    let name = inner.trim();
    let plausible = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "_-.\"' ".contains(c));
    plausible.then(|| (name.to_string(), array))
}

/// The table header in force at `offset`.
fn header_at(text: &str, offset: usize) -> Option<(String, bool)> {
    let end = text.get(offset..)?.find('\n').map_or(text.len(), |i| offset + i);
    text.get(..end)?.lines().rev().find_map(header_of_line)
}

/// The key of `key = value` when `offset` points into the value.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let line = line_at(text, offset)?;
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let before = line.get(..offset.checked_sub(line_start)?)?;
    let (lhs, _) = before.rsplit_once('=')?;
    let lhs = lhs.rsplit(['{', ',']).next()?;
    let key = strip_key_quotes(lhs.rsplit('.').next()?);
    let plausible = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    plausible.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let idx = LineIndex::new("ab\nçd = 1\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(3), (2, 1));
        assert_eq!(idx.position(6), (2, 3));
        assert_eq!(idx.position(999), (3, 1));
    }

    #[test]
    fn display_reads_like_a_compiler() {
        let p = Problem::new(
            Severity::Error,
            "shardtop.toml",
            Some((12, 5)),
            "unknown key `intervall` in [poll]",
            Some("did you mean `interval`?".into()),
        );
        assert_eq!(
            p.to_string(),
            "shardtop.toml:12:5: error: unknown key `intervall` in [poll] (hint: did you mean `interval`?)"
        );
        let p = Problem::new(Severity::Warning, "x.toml", None, "m", None);
        assert_eq!(p.to_string(), "x.toml: warning: m");
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(closest("intervall", ["interval", "timeout"]), Some("interval"));
        assert_eq!(closest("Pol", ["poll", "ui"]), Some("poll"));
        assert_eq!(closest("zzz", ["poll", "ui"]), None);
        assert_eq!(closest("verify", ["disabled", "required", "verify_identity"]), Some("verify_identity"));
        assert_eq!(closest("feed", ["feed_p99_warn", "feed_p99_crit"]), None);
    }
}
