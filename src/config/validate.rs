//! From the raw structs to [`Config`]: defaults, ranges, consistency between
//! keys, and password resolution. Every check runs and reports; none stops
//! the others, so one `check-config` run lists everything.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::duration::{DurationInput, format_duration};
use super::mycnf::{self, ClientLogin};
use super::problem::{LineIndex, closest, from_toml_error};
use super::schema::{
    OneOrMany, RawActions, RawChecksum, RawConfig, RawDefaults, RawHeartbeat, RawKeys, RawPoll, RawShard,
    RawThresholds, RawUi,
};
use super::{
    ActionsConfig, ChecksumConfig, Config, ConfigError, ConnDefaults, Env, HeartbeatConfig, Loaded, PollConfig,
    Problem, Severity, ShardConfig, Thresholds, TlsMode, UiConfig,
};
use crate::fleet::Addr;
use crate::keymap::{Action, KeySpec, Keymap, UNBIND, UserBinding};
use crate::secret::Secret;

mod feed;
mod metrics;

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
struct Val<T> {
    v: T,
    span: Option<Range<usize>>,
}

impl Val<Duration> {
    fn describe(&self) -> String {
        match self.span {
            Some(_) => format_duration(self.v),
            None => format!("{}, the default", format_duration(self.v)),
        }
    }
}

/// Who first claimed an address, to explain a duplicate.
struct Owner {
    shard: usize,
    label: String,
    role: &'static str,
    line: usize,
}

struct Checker<'a> {
    file: &'a str,
    lines: LineIndex<'a>,
    base: Option<&'a Path>,
    env: &'a dyn Env,
    problems: Vec<Problem>,
    /// `[[metrics]]` is configured: without a database user shardtop runs metrics-only.
    allow_no_user: bool,
}

impl Checker<'_> {
    fn report(&mut self, severity: Severity, span: Option<&Range<usize>>, message: String, hint: Option<String>) {
        let position = span.map(|r| self.lines.position(r.start));
        self.problems.push(Problem::new(severity, self.file, position, message, hint));
    }

    fn error(&mut self, span: Option<&Range<usize>>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Error, span, message, hint.into());
    }

    fn warn(&mut self, span: Option<&Range<usize>>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Warning, span, message, hint.into());
    }

    /// A warning about another file (`~/.my.cnf`), named as the problem's file.
    fn warn_about(&mut self, file: &Path, message: String, hint: Option<String>) {
        self.problems.push(Problem::new(Severity::Warning, &file.display().to_string(), None, message, hint));
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.lines.position(span.start).0
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let feed_span = raw.feed.as_ref().map(Spanned::span);
        let config = Config {
            source: None,
            poll: self.poll(raw.poll.unwrap_or_default()),
            defaults: self.defaults(raw.defaults),
            thresholds: self.thresholds(raw.thresholds.unwrap_or_default()),
            heartbeat: raw.heartbeat.map(|h| self.heartbeat(h)),
            feed: raw.feed.map(|f| self.feed(f)),
            metrics: self.metrics(raw.metrics),
            shards: self.shards(raw.shard),
            ui: self.ui(raw.ui.unwrap_or_default()),
            actions: raw.actions.map(|a| self.actions(a)).unwrap_or_default(),
            checksum: self.checksum(raw.checksum.unwrap_or_default()),
            keys: self.keys(raw.keys.unwrap_or_default()),
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

    fn checksum(&mut self, raw: RawChecksum) -> ChecksumConfig {
        let d = ChecksumConfig::default();
        let table = match raw.table {
            Some(t) if is_table_name(t.get_ref()) => t.into_inner(),
            Some(t) => {
                self.error(
                    Some(&t.span()),
                    format!(
                        "checksum.table {:?} is not `db.table` with names made of letters, digits, _ and $",
                        t.get_ref()
                    ),
                    "e.g. \"percona.checksums\" (pt-table-checksum's default)".to_string(),
                );
                d.table.clone()
            }
            None => d.table.clone(),
        };
        let chunk_time =
            self.duration("checksum.chunk_time", raw.chunk_time, d.chunk_time).map_or(d.chunk_time, |v| v.v);
        let max_lag = self.duration("checksum.max_lag", raw.max_lag, d.max_lag).map_or(d.max_lag, |v| v.v);
        let max_threads_running = match raw.max_threads_running {
            Some(n) if *n.get_ref() >= 1 => *n.get_ref() as u64,
            Some(n) => {
                self.error(Some(&n.span()), "checksum.max_threads_running must be at least 1".into(), None);
                d.max_threads_running
            }
            None => d.max_threads_running,
        };
        ChecksumConfig { table, chunk_time, max_lag, max_threads_running }
    }

    // ---- actions ----

    fn actions(&mut self, raw: Spanned<RawActions>) -> ActionsConfig {
        let section = raw.span();
        let raw = raw.into_inner();
        let d = ActionsConfig::default();
        let enabled = raw.enabled.unwrap_or(false);
        let audit_log = match &raw.audit_log {
            Some(p) => self.path_value("actions.audit_log", p).unwrap_or(d.audit_log.clone()),
            None => self.base.map_or(d.audit_log.clone(), |b| b.join(&d.audit_log)),
        };
        let lock_dir = match &raw.lock_dir {
            Some(p) => self.path_value("actions.lock_dir", p).unwrap_or(d.lock_dir.clone()),
            None => d.lock_dir.clone(),
        };
        // A disabled section's secrets are not needed, so not read.
        let secret = |ck: &mut Self, key: &str, env: &Option<Spanned<String>>, file: &Option<Spanned<String>>| {
            if !enabled {
                return None;
            }
            match (env, file) {
                (Some(_), Some(f)) => {
                    ck.error(
                        Some(&f.span()),
                        format!("set actions.{key}_env or actions.{key}_file, not both"),
                        "shardtop cannot tell which one you meant".to_string(),
                    );
                    None
                }
                (Some(v), None) => ck.password_from_env(&format!("actions.{key}_env"), v).0,
                (None, Some(f)) => ck.password_from_file(&format!("actions.{key}_file"), f).0,
                (None, None) => None,
            }
        };
        let password = secret(self, "password", &raw.password_env, &raw.password_file);
        let replication_password =
            secret(self, "replication_password", &raw.replication_password_env, &raw.replication_password_file);
        let name = |ck: &mut Self, key: &str, v: &Option<Spanned<String>>, what: &str| -> String {
            match v {
                Some(u) if u.get_ref().trim().is_empty() => {
                    ck.error(Some(&u.span()), format!("actions.{key} is empty"), format!("name {what}"));
                    String::new()
                }
                Some(u) => u.get_ref().clone(),
                None => {
                    if enabled {
                        ck.error(
                            Some(&section),
                            format!("[actions] is enabled but has no `{key}`"),
                            format!("name {what}"),
                        );
                    }
                    String::new()
                }
            }
        };
        let user = name(self, "user", &raw.user, "the admin account actions use (never the monitoring one)");
        let replication_user =
            name(self, "replication_user", &raw.replication_user, "the account replicas replicate with, e.g. \"repl\"");
        let catchup_timeout = self.duration("actions.catchup_timeout", raw.catchup_timeout, d.catchup_timeout);
        let hook_timeout = self.duration("actions.hook_timeout", raw.hook_timeout, d.hook_timeout);
        let post_promote_hook = match raw.post_promote_hook {
            Some(h) if h.get_ref().trim().is_empty() => {
                self.error(
                    Some(&h.span()),
                    "actions.post_promote_hook is empty".into(),
                    "give a command, or leave the key out".to_string(),
                );
                None
            }
            Some(h) => Some(h.into_inner()),
            None => None,
        };
        ActionsConfig {
            enabled,
            audit_log,
            user,
            password,
            replication_user,
            replication_password,
            catchup_timeout: catchup_timeout.map_or(d.catchup_timeout, |v| v.v),
            post_promote_hook,
            hook_timeout: hook_timeout.map_or(d.hook_timeout, |v| v.v),
            lock_dir,
        }
    }

    /// A positive duration, the default when unset, or `None` when it is
    /// unusable (reported here; callers then skip checks that involve it).
    fn duration(&mut self, key: &str, raw: Option<Spanned<DurationInput>>, default: Duration) -> Option<Val<Duration>> {
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
    fn below(&mut self, lo_key: &str, lo: &Option<Val<Duration>>, hi_key: &str, hi: &Option<Val<Duration>>) {
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

    fn poll(&mut self, raw: RawPoll) -> PollConfig {
        let d = PollConfig::default();
        let interval = self.duration("poll.interval", raw.interval, d.interval);
        let timeout = self.duration("poll.timeout", raw.timeout, d.timeout);
        if let (Some(i), Some(t)) = (&interval, &timeout)
            && t.v > i.v
        {
            self.error(
                t.span.as_ref().or(i.span.as_ref()),
                format!(
                    "poll.timeout ({}) is longer than poll.interval ({}): a sweep would overlap the next one",
                    t.describe(),
                    i.describe()
                ),
                "lower poll.timeout or raise poll.interval".to_string(),
            );
        }
        let concurrency = match raw.concurrency {
            None => d.concurrency,
            Some(c) => match usize::try_from(*c.get_ref()) {
                Ok(n) if n >= 1 => n,
                _ => {
                    self.error(
                        Some(&c.span()),
                        format!("poll.concurrency must be at least 1, got {}", c.get_ref()),
                        "it is how many servers are polled at once; the default is 64".to_string(),
                    );
                    d.concurrency
                }
            },
        };
        let discovery = self.duration("poll.discovery_interval", raw.discovery_interval, d.discovery_interval);
        PollConfig {
            interval: interval.map_or(d.interval, |v| v.v),
            timeout: timeout.map_or(d.timeout, |v| v.v),
            concurrency,
            discovery_interval: discovery.map_or(d.discovery_interval, |v| v.v),
        }
    }

    fn thresholds(&mut self, raw: RawThresholds) -> Thresholds {
        let d = Thresholds::default();
        let lag_warn = self.duration("thresholds.lag_warn", raw.lag_warn, d.lag_warn);
        let lag_crit = self.duration("thresholds.lag_crit", raw.lag_crit, d.lag_crit);
        let feed_warn = self.duration("thresholds.feed_p99_warn", raw.feed_p99_warn, d.feed_p99_warn);
        let feed_crit = self.duration("thresholds.feed_p99_crit", raw.feed_p99_crit, d.feed_p99_crit);
        self.below("thresholds.lag_warn", &lag_warn, "thresholds.lag_crit", &lag_crit);
        self.below("thresholds.feed_p99_warn", &feed_warn, "thresholds.feed_p99_crit", &feed_crit);
        let qps_drop_percent = match raw.qps_drop_percent {
            None => d.qps_drop_percent,
            Some(q) => {
                let x = *q.get_ref();
                if !(x > 0.0 && x <= 100.0) {
                    self.error(
                        Some(&q.span()),
                        format!("thresholds.qps_drop_percent must be more than 0 and at most 100, got {x}"),
                        "it is the fall in a shard's QPS, in percent, that raises a warning".to_string(),
                    );
                }
                x
            }
        };
        let pick = |v: Option<Val<Duration>>, default| v.map_or(default, |v| v.v);
        Thresholds {
            lag_warn: pick(lag_warn, d.lag_warn),
            lag_crit: pick(lag_crit, d.lag_crit),
            feed_p99_warn: pick(feed_warn, d.feed_p99_warn),
            feed_p99_crit: pick(feed_crit, d.feed_p99_crit),
            qps_drop_percent,
        }
    }

    fn heartbeat(&mut self, raw: Spanned<RawHeartbeat>) -> HeartbeatConfig {
        let section = raw.span();
        let raw = raw.into_inner();
        let table = match raw.table {
            None => {
                self.error(
                    Some(&section),
                    "[heartbeat] has no `table`".into(),
                    "name the pt-heartbeat table as db.table, e.g. table = \"percona.heartbeat\"".to_string(),
                );
                String::new()
            }
            Some(t) => {
                if !is_table_name(t.get_ref()) {
                    self.error(
                        Some(&t.span()),
                        format!(
                            "heartbeat.table {:?} is not `db.table` with names made of letters, digits, _ and $",
                            t.get_ref()
                        ),
                        "e.g. \"percona.heartbeat\"; the name goes into SQL, so nothing else is accepted".to_string(),
                    );
                }
                t.into_inner()
            }
        };
        let interval = self.duration("heartbeat.interval", raw.interval, HeartbeatConfig::DEFAULT_INTERVAL);
        HeartbeatConfig {
            table,
            utc: raw.utc.unwrap_or(true),
            write: raw.write.unwrap_or(false),
            interval: interval.map_or(HeartbeatConfig::DEFAULT_INTERVAL, |v| v.v),
        }
    }

    fn ui(&mut self, raw: RawUi) -> UiConfig {
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

    /// `[keys] bind`: every key and action checked; conflicts between the
    /// user's own bindings are warnings (the later one wins).
    fn keys(&mut self, raw: RawKeys) -> Vec<UserBinding> {
        let mut out = Vec::new();
        for b in raw.bind.unwrap_or_default() {
            let b = b.into_inner();
            let on_span = b.on.span();
            let names = match b.on.into_inner() {
                OneOrMany::One(k) => vec![k],
                OneOrMany::Many(ks) => ks,
            };
            if names.is_empty() {
                self.error(
                    Some(&on_span),
                    "keys.bind: `on` lists no key".into(),
                    "e.g. on = \"x\" or on = [\"x\", \"Ctrl-x\"]".to_string(),
                );
                continue;
            }
            let mut on = Vec::new();
            for n in &names {
                match KeySpec::parse(n) {
                    Ok(k) => on.push(k),
                    Err(e) => self.error(Some(&on_span), format!("keys.bind: {e}"), None),
                }
            }
            let run_span = b.run.span();
            let run = b.run.into_inner();
            let action = if run.trim() == UNBIND {
                None
            } else if let Some(a) = Action::from_name(&run) {
                Some(a)
            } else {
                let names = Action::names();
                let hint = match closest(&run, names.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => format!("actions: {}, or \"{UNBIND}\" to unbind", names.join(", ")),
                };
                self.error(Some(&run_span), format!("keys.bind: unknown action {run:?}"), hint);
                continue;
            };
            if on.len() == names.len() {
                out.push(UserBinding { on, run: action, desc: b.desc });
            }
        }
        let (_, conflicts) = Keymap::with_overrides(&out);
        for c in conflicts {
            self.warn(None, c, None);
        }
        out
    }

    // ---- connection defaults and credentials ----

    fn defaults(&mut self, raw: Option<Spanned<RawDefaults>>) -> ConnDefaults {
        let section = raw.as_ref().map(Spanned::span);
        let raw = raw.map(Spanned::into_inner).unwrap_or_default();
        let tls = match &raw.tls {
            None => Some(TlsMode::Disabled),
            Some(t) => self.tls_mode(t),
        };
        let tls_ca = raw.tls_ca.as_ref().and_then(|ca| {
            let path = self.path_value("defaults.tls_ca", ca)?;
            match tls {
                Some(TlsMode::VerifyIdentity) => {
                    if let Err(e) = self.env.read_file(&path) {
                        self.error(
                            Some(&ca.span()),
                            format!("cannot read defaults.tls_ca {}: {e}", path.display()),
                            path_hint(ca.get_ref(), &e),
                        );
                    }
                }
                Some(mode) => self.warn(
                    Some(&ca.span()),
                    format!(
                        "defaults.tls_ca is ignored: it is only used with tls = \"verify_identity\", and tls is \"{}\"",
                        mode.as_str()
                    ),
                    "set tls = \"verify_identity\" to check server certificates against it, or remove tls_ca"
                        .to_string(),
                ),
                None => {}
            }
            Some(path)
        });
        let (user, password, password_source) = self.credentials(&raw, section.as_ref());
        ConnDefaults { user, password, password_source, tls: tls.unwrap_or_default(), tls_ca }
    }

    fn tls_mode(&mut self, raw: &Spanned<String>) -> Option<TlsMode> {
        const MODES: [&str; 3] = ["disabled", "required", "verify_identity"];
        // MySQL spells these --ssl-mode=VERIFY_IDENTITY; accept that too.
        let mode = raw.get_ref().trim().to_ascii_lowercase().replace('-', "_");
        match mode.as_str() {
            "disabled" => return Some(TlsMode::Disabled),
            "required" => return Some(TlsMode::Required),
            "verify_identity" => return Some(TlsMode::VerifyIdentity),
            _ => {}
        }
        let hint = match mode.as_str() {
            "preferred" => {
                "shardtop has no \"preferred\": it falls back to plain text without telling you; use \"required\""
                    .into()
            }
            "verify_ca" => "use \"verify_identity\": it checks the CA and the host name".into(),
            other => match closest(other, MODES) {
                Some(m) => format!("did you mean \"{m}\"?"),
                None => "accepted: \"disabled\", \"required\", \"verify_identity\"".into(),
            },
        };
        self.error(Some(&raw.span()), format!("defaults.tls: unknown mode {:?}", raw.get_ref()), hint);
        None
    }

    /// Returns (user, password, where the password came from).
    fn credentials(&mut self, raw: &RawDefaults, section: Option<&Range<usize>>) -> (String, Option<Secret>, String) {
        let explicit_password = raw.password_env.is_some() || raw.password_file.is_some();
        // ~/.my.cnf is only read when it can supply something we lack.
        let cnf = if !explicit_password || raw.user.is_none() { self.read_my_cnf() } else { None };

        let (password, source) = match (&raw.password_env, &raw.password_file) {
            (Some(_), Some(file)) => {
                self.error(
                    Some(&file.span()),
                    "set defaults.password_env or defaults.password_file, not both".into(),
                    "shardtop cannot tell which one you meant".to_string(),
                );
                (None, "none".to_string())
            }
            (Some(var), None) => self.password_from_env("defaults.password_env", var),
            (None, Some(file)) => self.password_from_file("defaults.password_file", file),
            (None, None) => match &cnf {
                Some((path, ClientLogin { password: Some(p), .. })) => {
                    if let Some(mode) = self.env.file_mode(path)
                        && mode & 0o077 != 0
                    {
                        self.warn_about(
                            path,
                            format!("it holds a password and is accessible by group or others (mode {mode:04o})"),
                            Some(format!("chmod 600 {}", path.display())),
                        );
                    }
                    (Some(p.clone()), "~/.my.cnf".to_string())
                }
                _ => (None, "none".to_string()),
            },
        };

        let cnf_user = cnf.as_ref().and_then(|(_, login)| login.user.clone());
        let user = match &raw.user {
            Some(u) if u.get_ref().trim().is_empty() => {
                self.error(Some(&u.span()), "defaults.user is empty".into(), "name the monitoring account".to_string());
                String::new()
            }
            Some(u) => {
                if source == "~/.my.cnf"
                    && let Some(cu) = cnf_user.as_ref().filter(|cu| *cu != u.get_ref())
                {
                    self.warn(
                        Some(&u.span()),
                        format!(
                            "the password comes from ~/.my.cnf, which gives it for user `{cu}`, not `{}`",
                            u.get_ref()
                        ),
                        "set defaults.password_env or defaults.password_file for this account".to_string(),
                    );
                }
                u.get_ref().clone()
            }
            None => match cnf_user {
                Some(u) => u,
                // Metrics-only: no database is asked anything.
                None if self.allow_no_user => String::new(),
                None => {
                    self.error(
                        section,
                        "no user: set [defaults] user".into(),
                        "or put user = … under [client] in ~/.my.cnf".to_string(),
                    );
                    String::new()
                }
            },
        };
        (user, password, source)
    }

    fn read_my_cnf(&mut self) -> Option<(PathBuf, ClientLogin)> {
        let path = self.env.home()?.join(".my.cnf");
        match self.env.read_file(&path) {
            Ok(text) => Some((path, mycnf::parse_client(&text))),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                self.warn_about(
                    &path,
                    format!("cannot read it: {e}"),
                    Some(
                        "shardtop reads user and password from its [client] section when [defaults] lacks them".into(),
                    ),
                );
                None
            }
        }
    }

    /// `key` names the setting in messages, e.g. `defaults.password_env`.
    fn password_from_env(&mut self, key: &str, var: &Spanned<String>) -> (Option<Secret>, String) {
        let span = var.span();
        let name = var.get_ref().trim();
        if name.is_empty() || name.contains(['=', '\0']) {
            self.error(
                Some(&span),
                format!("{key} must name an environment variable"),
                "e.g. password_env = \"SHARDTOP_PASSWORD\"".to_string(),
            );
            return (None, "none".into());
        }
        match self.env.var(name) {
            Some(value) => {
                if value.is_empty() {
                    self.warn(
                        Some(&span),
                        format!("{name} is set but empty: shardtop will log in without a password"),
                        None,
                    );
                }
                (Some(Secret::new(value)), format!("env {name}"))
            }
            // Only echo the value when it looks like a variable name: someone
            // may have put the password itself here.
            None if looks_like_var_name(name) => {
                self.error(
                    Some(&span),
                    format!("{key} names {name}, which is not set"),
                    format!("export {name} before starting shardtop, or use password_file"),
                );
                (None, "none".into())
            }
            None => {
                self.error(
                    Some(&span),
                    format!("{key} names an environment variable that is not set"),
                    "password_env takes the variable's name, e.g. \"SHARDTOP_PASSWORD\", never the password itself"
                        .to_string(),
                );
                (None, "none".into())
            }
        }
    }

    /// `key` names the setting in messages, e.g. `defaults.password_file`.
    fn password_from_file(&mut self, key: &str, file: &Spanned<String>) -> (Option<Secret>, String) {
        let span = file.span();
        let Some(path) = self.path_value(key, file) else { return (None, "none".into()) };
        match self.env.read_file(&path) {
            Err(e) => {
                self.error(
                    Some(&span),
                    format!("cannot read {key} {}: {e}", path.display()),
                    path_hint(file.get_ref(), &e),
                );
                (None, "none".into())
            }
            Ok(content) => {
                let password = content.trim_end_matches(['\n', '\r']);
                if password.is_empty() {
                    self.warn(
                        Some(&span),
                        format!("{key} {} is empty: shardtop will log in without a password", path.display()),
                        None,
                    );
                }
                if let Some(mode) = self.env.file_mode(&path)
                    && mode & 0o077 != 0
                {
                    self.warn(
                        Some(&span),
                        format!("{key} {} is accessible by group or others (mode {mode:04o})", path.display()),
                        format!("chmod 600 {}", path.display()),
                    );
                }
                (Some(Secret::new(password)), format!("file {}", path.display()))
            }
        }
    }

    /// A non-empty path, with `~/` expanded and relative paths taken from the config's directory.
    fn path_value(&mut self, key: &str, raw: &Spanned<String>) -> Option<PathBuf> {
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

    // ---- shards ----

    fn shards(&mut self, raw: Vec<Spanned<RawShard>>) -> Vec<ShardConfig> {
        if raw.is_empty() {
            self.error(
                None,
                "no shards: add at least one [[shard]]".into(),
                "[[shard]] with name = \"…\" and master = \"host:port\"; see config.example.toml".to_string(),
            );
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut seen: HashMap<Addr, Owner> = HashMap::new();
        let mut warned_localhost = false;
        let mut shards = Vec::new();
        for (index, shard) in raw.into_iter().enumerate() {
            let header = shard.span();
            let shard = shard.into_inner();
            let number = index + 1;
            let name = self.shard_name(shard.name.as_ref(), &header, number, &mut names);
            let label = match &name {
                Some(n) => format!("shard `{n}`"),
                None => format!("shard #{number}"),
            };

            let master = match &shard.master {
                None => {
                    self.error(
                        Some(&header),
                        format!("{label} has no master"),
                        "add master = \"host:port\"".to_string(),
                    );
                    None
                }
                Some(m) => self.addr(&label, "master", m),
            };
            let replicas: Vec<_> =
                shard.replicas.iter().flatten().filter_map(|r| self.addr(&label, "replicas", r)).collect();
            let upstream = shard.upstream.as_ref().and_then(|u| self.addr(&label, "upstream", u));

            let all = master.iter().map(|m| (m, "master")).chain(replicas.iter().map(|r| (r, "replica")));
            for ((addr, span), role) in all {
                let owner = Owner { shard: number, label: label.clone(), role, line: self.line_of(span) };
                self.claim(&mut seen, addr, span, owner);
            }
            if let Some((up, span)) = &upstream {
                if master.as_ref().is_some_and(|(m, _)| m == up) {
                    self.error(
                        Some(span),
                        format!("{label}: upstream {up} is the shard's own master"),
                        "upstream is the global master that this shard's master replicates from; leave it out if there is none"
                            .to_string(),
                    );
                } else if replicas.iter().any(|(r, _)| r == up) {
                    self.error(
                        Some(span),
                        format!("{label}: upstream {up} is also one of its replicas, so replication would loop"),
                        None,
                    );
                }
            }
            if !warned_localhost {
                let mut all = master.iter().chain(&replicas).chain(&upstream);
                if let Some((addr, span)) = all.find(|(a, _)| a.host == "localhost") {
                    warned_localhost = true;
                    self.warn(
                        Some(span),
                        format!(
                            "{label}: `localhost` means TCP to 127.0.0.1:{} here, not the Unix socket the mysql client would use",
                            addr.port
                        ),
                        "write 127.0.0.1 to say so; the account must accept TCP logins. Said once for all such addresses".to_string(),
                    );
                }
            }

            if let (Some(name), Some((master, _))) = (name, master) {
                shards.push(ShardConfig {
                    name,
                    master,
                    replicas: replicas.into_iter().map(|(a, _)| a).collect(),
                    upstream: upstream.map(|(a, _)| a),
                });
            }
        }
        shards
    }

    /// The shard's name if it is usable; problems with it are reported.
    fn shard_name(
        &mut self,
        raw: Option<&Spanned<String>>,
        header: &Range<usize>,
        number: usize,
        names: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let Some(raw) = raw else {
            self.error(
                Some(header),
                format!("shard #{number} has no name"),
                "add name = \"…\"; it is how you pick the shard (--shard NAME)".to_string(),
            );
            return None;
        };
        let (name, span) = (raw.get_ref(), raw.span());
        if name.is_empty() {
            self.error(Some(&span), format!("shard #{number}: the name is empty"), None);
            return None;
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                Some(&span),
                format!("shard name {name:?} contains whitespace or control characters"),
                "names are typed on the command line (--shard NAME): use letters, digits, - and _".to_string(),
            );
            return None;
        }
        let line = self.line_of(&span);
        if let Some(first) = names.get(name) {
            self.error(
                Some(&span),
                format!("duplicate shard name `{name}` (first used on line {first})"),
                "each shard needs its own name".to_string(),
            );
            return Some(name.clone());
        }
        names.insert(name.clone(), line);
        Some(name.clone())
    }

    /// Parses a server address, rejecting ones no server can have.
    fn addr(&mut self, label: &str, key: &str, raw: &Spanned<String>) -> Option<(Addr, Range<usize>)> {
        let span = raw.span();
        let addr = match raw.get_ref().parse::<Addr>() {
            Ok(a) => a,
            Err(e) => {
                self.error(
                    Some(&span),
                    format!("{label} {key}: {e}"),
                    "write host:port, e.g. \"db1.example.com:3306\" or \"[2001:db8::1]:3306\"".to_string(),
                );
                return None;
            }
        };
        if let Ok(ip) = addr.host.parse::<IpAddr>()
            && (ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
        {
            self.error(
                Some(&span),
                format!("{label} {key}: {addr} is not a server address"),
                "0.0.0.0 and :: mean \"every interface\" to a listening server; write the server's own address"
                    .to_string(),
            );
            return None;
        }
        Some((addr, span))
    }

    /// Records who uses `addr`, reporting it if someone already does.
    fn claim(&mut self, seen: &mut HashMap<Addr, Owner>, addr: &Addr, span: &Range<usize>, owner: Owner) {
        let Some(prev) = seen.get(addr) else {
            seen.insert(addr.clone(), owner);
            return;
        };
        let message = if prev.shard != owner.shard {
            format!(
                "{addr} is in two shards: {} ({}, line {}) and {} ({})",
                prev.label, prev.role, prev.line, owner.label, owner.role
            )
        } else if prev.role == "master" {
            format!("{} lists its own master {addr} as a replica", owner.label)
        } else {
            format!("{} lists replica {addr} twice", owner.label)
        };
        self.error(Some(span), message, "each server belongs to one shard, listed once".to_string());
    }
}

fn path_hint(written: &str, e: &std::io::Error) -> Option<String> {
    match e.kind() {
        ErrorKind::NotFound if Path::new(written).is_relative() && !written.starts_with("~/") => {
            Some("relative paths are taken from the config file's directory".into())
        }
        ErrorKind::PermissionDenied => Some("the user running shardtop must be able to read it".into()),
        _ => None,
    }
}

fn looks_like_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `db.table`, each an unquoted MySQL identifier we can splice into SQL safely.
fn is_table_name(s: &str) -> bool {
    let ident = |p: &str| {
        (1..=64).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && !p.chars().all(|c| c.is_ascii_digit())
    };
    s.split_once('.').is_some_and(|(db, table)| ident(db) && ident(table))
}
