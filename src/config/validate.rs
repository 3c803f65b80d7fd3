//! From the raw structs to [`Config`]: the machinery every section shares
//! (reporting a problem at a span's line and column, durations, paths), and
//! the assembly of the sections (`sections/`, one file each) into a config.
//! Every check runs and reports; none stops the others, so one `check-config`
//! run lists everything.

use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::duration::{DurationInput, format_duration};
use super::problem::{LineIndex, from_toml_error};
use super::schema::RawConfig;
use super::sections::keys::RawKeys;
use super::{Config, ConfigError, Env, Loaded, Problem, Severity};
use crate::keymap::UserBinding;

pub(super) fn run(text: &str, file: &str, base: Option<&Path>, env: &dyn Env) -> Result<Loaded, ConfigError> {
    // Editors on Windows like to add a BOM; TOML does not allow one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::from(from_toml_error(&e, text, file)))?;
    let allow_no_user = !raw.metrics.is_empty();
    let mut ck = Checker { file, lines: LineIndex::new(text), base, env, problems: Vec::new(), allow_no_user };
    let config = ck.config(raw);
    let mut problems = ck.problems;
    // File order reads best; problems about the file as a whole go last.
    problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
    if problems.iter().any(Problem::is_error) {
        Err(ConfigError { problems })
    } else {
        Ok(Loaded { config, warnings: problems })
    }
}

/// A keymap file (`~/.config/shardtop/keymap.toml`): only a `[keys]` section,
/// checked as the config's is.
pub(super) fn run_keymap(
    text: &str,
    file: &str,
    env: &dyn Env,
) -> Result<(Vec<UserBinding>, Vec<Problem>), ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeymapFile {
        keys: Option<RawKeys>,
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: KeymapFile = toml::from_str(text).map_err(|e| ConfigError::from(from_toml_error(&e, text, file)))?;
    let mut ck =
        Checker { file, lines: LineIndex::new(text), base: None, env, problems: Vec::new(), allow_no_user: false };
    let keys = ck.keys(raw.keys.unwrap_or_default());
    let mut problems = ck.problems;
    problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
    if problems.iter().any(Problem::is_error) { Err(ConfigError { problems }) } else { Ok((keys, problems)) }
}

/// A value and where it was written; `span` is `None` for a default.
pub(super) struct Val<T> {
    pub(super) v: T,
    pub(super) span: Option<Range<usize>>,
}

impl Val<Duration> {
    pub(super) fn describe(&self) -> String {
        match self.span {
            Some(_) => format_duration(self.v),
            None => format!("{}, the default", format_duration(self.v)),
        }
    }
}

/// Collects every problem while the sections are turned into values; each section's checks
/// are methods of it in `sections/<section>.rs`, reporting through `error` and `warn`.
pub(super) struct Checker<'a> {
    file: &'a str,
    lines: LineIndex<'a>,
    /// The config file's directory, for relative paths in it.
    pub(super) base: Option<&'a Path>,
    pub(super) env: &'a dyn Env,
    problems: Vec<Problem>,
    /// `[[metrics]]` is configured: without a database user shardtop runs metrics-only.
    pub(super) allow_no_user: bool,
}

impl Checker<'_> {
    fn report(&mut self, severity: Severity, span: Option<&Range<usize>>, message: String, hint: Option<String>) {
        let position = span.map(|r| self.lines.position(r.start));
        self.problems.push(Problem::new(severity, self.file, position, message, hint));
    }

    pub(super) fn error(&mut self, span: Option<&Range<usize>>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Error, span, message, hint.into());
    }

    pub(super) fn warn(&mut self, span: Option<&Range<usize>>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Warning, span, message, hint.into());
    }

    /// A warning about another file (`~/.my.cnf`), named as the problem's file.
    pub(super) fn warn_about(&mut self, file: &Path, message: String, hint: Option<String>) {
        self.problems.push(Problem::new(Severity::Warning, &file.display().to_string(), None, message, hint));
    }

    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        self.lines.position(span.start).0
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let feed_span = raw.feed.as_ref().map(Spanned::span);
        let metrics = self.metrics(raw.metrics);
        let panels = self.panels(raw.panel, &metrics);
        let markers = self.marker_sources(raw.markers, &metrics);
        let config = Config {
            source: None,
            poll: self.poll(raw.poll.unwrap_or_default()),
            defaults: self.defaults(raw.defaults),
            thresholds: self.thresholds(raw.thresholds.unwrap_or_default()),
            heartbeat: raw.heartbeat.map(|h| self.heartbeat(h)),
            feed: raw.feed.map(|f| self.feed(f)),
            metrics,
            panels,
            markers,
            shards: self.shards(raw.shard),
            ui: self.ui(raw.ui.unwrap_or_default()),
            kiosk: self.kiosk(raw.kiosk.unwrap_or_default()),
            actions: raw.actions.map(|a| self.actions(a)).unwrap_or_default(),
            checksum: self.checksum(raw.checksum.unwrap_or_default()),
            keys: self.keys(raw.keys.unwrap_or_default()),
            alerts: raw.alerts.map(|a| self.alerts(a)),
            record: self.record(raw.record.unwrap_or_default()),
        };
        if config.feed.is_some() && config.defaults.user.is_empty() && self.allow_no_user {
            self.error(
                feed_span.as_ref(),
                "[feed] needs a database account, and there is no user (metrics-only mode)".into(),
                "set [defaults] user, or remove [feed] and read feed latency from [[metrics]] feed_p99".to_string(),
            );
        }
        config
    }

    /// A positive duration, the default when unset, or `None` when it is
    /// unusable (reported here; callers then skip checks that involve it).
    pub(super) fn duration(
        &mut self,
        key: &str,
        raw: Option<Spanned<DurationInput>>,
        default: Duration,
    ) -> Option<Val<Duration>> {
        let Some(raw) = raw else { return Some(Val { v: default, span: None }) };
        let span = raw.span();
        match raw.get_ref().to_duration() {
            Ok(d) if d.is_zero() => {
                self.error(Some(&span), format!("{key} must be greater than 0"), None);
                None
            }
            Ok(d) => Some(Val { v: d, span: Some(span) }),
            Err(e) => {
                self.error(Some(&span), format!("{key}: bad duration: {e}"), e.hint());
                None
            }
        }
    }

    /// Reports `lo >= hi` for a warn/crit pair.
    pub(super) fn below(&mut self, lo_key: &str, lo: &Option<Val<Duration>>, hi_key: &str, hi: &Option<Val<Duration>>) {
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo.v >= hi.v
        {
            self.error(
                lo.span.as_ref().or(hi.span.as_ref()),
                format!("{lo_key} ({}) must be below {hi_key} ({})", lo.describe(), hi.describe()),
                "the warning has to come before the critical alert".to_string(),
            );
        }
    }

    /// A non-empty path, with `~/` expanded and relative paths taken from the config's directory.
    pub(super) fn path_value(&mut self, key: &str, raw: &Spanned<String>) -> Option<PathBuf> {
        let text = raw.get_ref();
        if text.trim().is_empty() {
            self.error(Some(&raw.span()), format!("{key} is empty"), "give a path, or leave the key out".to_string());
            return None;
        }
        if let Some(rest) = text.strip_prefix("~/")
            && let Some(home) = self.env.home()
        {
            return Some(home.join(rest));
        }
        let path = PathBuf::from(text);
        Some(match self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        })
    }
}

pub(super) fn path_hint(written: &str, e: &std::io::Error) -> Option<String> {
    match e.kind() {
        ErrorKind::NotFound if Path::new(written).is_relative() && !written.starts_with("~/") => {
            Some("relative paths are taken from the config file's directory".into())
        }
        ErrorKind::PermissionDenied => Some("the user running shardtop must be able to read it".into()),
        _ => None,
    }
}

/// `db.table`, each an unquoted MySQL identifier we can splice into SQL safely.
pub(super) fn is_table_name(s: &str) -> bool {
    let ident = |p: &str| {
        (1..=64).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && !p.chars().all(|c| c.is_ascii_digit())
    };
    s.split_once('.').is_some_and(|(db, table)| ident(db) && ident(table))
}
