//! `[defaults]`: how to log in to every server (the monitoring account): user, password source
//! (environment, file, or `~/.my.cnf`) and TLS.

use std::io::ErrorKind;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::config::mycnf::{self, ClientLogin};
use crate::config::problem::closest;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, path_hint};
use crate::secret::Secret;

/// How to log in to every server (the monitoring account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnDefaults {
    pub user: String,
    pub password: Option<Secret>,
    /// Where the password came from, for messages: `env NAME`, `file PATH`,
    /// `~/.my.cnf` or `none`. Never the password itself.
    pub password_source: String,
    pub tls: TlsMode,
    /// CA bundle for `VerifyIdentity`; system roots when `None`.
    pub tls_ca: Option<PathBuf>,
}

impl Default for ConnDefaults {
    fn default() -> Self {
        ConnDefaults {
            user: String::new(),
            password: None,
            password_source: "none".into(),
            tls: TlsMode::Disabled,
            tls_ca: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsMode {
    #[default]
    Disabled,
    /// Encrypted, but the server certificate is not verified.
    Required,
    /// Encrypted and verified against `tls_ca` or the system roots, host name included.
    VerifyIdentity,
}

impl TlsMode {
    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Required => "required",
            TlsMode::VerifyIdentity => "verify_identity",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawDefaults {
    pub user: Opt<String>,
    pub password_env: Opt<String>,
    pub password_file: Opt<String>,
    pub tls: Opt<String>,
    pub tls_ca: Opt<String>,
}

/// The keys of `[defaults]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawDefaults`.
pub(in crate::config) const KEYS: &[&str] = &["user", "password_env", "password_file", "tls", "tls_ca"];

impl Checker<'_> {
    pub(in crate::config) fn defaults(&mut self, raw: Option<Spanned<RawDefaults>>) -> ConnDefaults {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn tls_modes_accept_mysql_spelling() {
        let env = bare_env();
        for (written, mode) in [
            ("disabled", TlsMode::Disabled),
            ("required", TlsMode::Required),
            ("VERIFY_IDENTITY", TlsMode::VerifyIdentity),
            ("verify-identity", TlsMode::VerifyIdentity),
        ] {
            let text = format!("[defaults]\nuser = \"u\"\ntls = \"{written}\"\n{SHARD}");
            assert_eq!(ok(&text, &env).config.defaults.tls, mode, "{written}");
        }
        let e = err(&format!("[defaults]\nuser = \"u\"\ntls = \"verify_ca\"\n{SHARD}"), &env);
        assert!(has(&e, Some(3), "use \"verify_identity\""), "{e}");
    }

    #[test]
    fn password_from_env() {
        let env = bare_env().with_var("PW", "from-env");
        let d = ok(&format!("[defaults]\nuser = \"u\"\npassword_env = \"PW\"\n{SHARD}"), &env).config.defaults;
        assert_eq!(d.password.as_ref().map(Secret::expose), Some("from-env"));
        assert_eq!(d.password_source, "env PW");
    }

    #[test]
    fn password_from_file_drops_trailing_newlines_only() {
        let env = bare_env().with_file("/pw", " spaced pw \r\n\n", 0o600);
        let d = ok(&format!("[defaults]\nuser = \"u\"\npassword_file = \"/pw\"\n{SHARD}"), &env).config.defaults;
        assert_eq!(d.password.as_ref().map(Secret::expose), Some(" spaced pw "));
        assert_eq!(d.password_source, "file /pw");
    }

    #[test]
    fn password_file_paths_expand_home() {
        let env = bare_env().with_file("/home/nobody/.pw", "x", 0o600);
        let d = ok(&format!("[defaults]\nuser = \"u\"\npassword_file = \"~/.pw\"\n{SHARD}"), &env).config.defaults;
        assert_eq!(d.password_source, "file /home/nobody/.pw");
    }

    #[test]
    fn user_and_password_from_my_cnf() {
        let env = bare_env().with_file(
            "/home/nobody/.my.cnf",
            "[mysqld]\nuser=mysql\n[client]\nuser = 'cnfuser'\npassword = \"cnf pw\" # comment\n",
            0o600,
        );
        let loaded = ok(SHARD, &env);
        let d = loaded.config.defaults;
        assert_eq!(d.user, "cnfuser");
        assert_eq!(d.password.as_ref().map(Secret::expose), Some("cnf pw"));
        assert_eq!(d.password_source, "~/.my.cnf");
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn config_user_wins_over_my_cnf_and_explicit_password_skips_it() {
        let env = bare_env().with_var("PW", "env pw").with_file(
            "/home/nobody/.my.cnf",
            "[client]\nuser=cnfuser\npassword=cnf\n",
            0o644,
        );
        let loaded = ok(&format!("[defaults]\nuser = \"u\"\npassword_env = \"PW\"\n{SHARD}"), &env);
        assert_eq!(loaded.config.defaults.user, "u");
        assert_eq!(loaded.config.defaults.password_source, "env PW");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn open_my_cnf_with_a_password_is_a_warning() {
        let env = bare_env().with_file("/home/nobody/.my.cnf", "[client]\nuser=u\npassword=p\n", 0o644);
        let loaded = ok(SHARD, &env);
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(
            loaded.warnings[0].to_string(),
            "/home/nobody/.my.cnf: warning: it holds a password and is accessible by group or others (mode 0644) \
             (hint: chmod 600 /home/nobody/.my.cnf)"
        );
    }

    #[test]
    fn unreadable_my_cnf_is_a_warning() {
        let env = bare_env().with_denied("/home/nobody/.my.cnf");
        let loaded = ok(&format!("[defaults]\nuser = \"u\"\n{SHARD}"), &env);
        assert!(loaded.warnings[0].message.contains("Permission denied"), "{:?}", loaded.warnings);
    }

    #[test]
    fn no_user_anywhere_is_an_error_at_the_defaults_section() {
        let e = err(&format!("[defaults]\ntls = \"required\"\n{SHARD}"), &bare_env());
        assert!(has(&e, Some(1), "no user: set [defaults] user"), "{e}");
        let e = err(&format!("[defaults]\nuser = \"  \"\n{SHARD}"), &bare_env());
        assert!(has(&e, Some(2), "defaults.user is empty"), "{e}");
    }

    #[test]
    fn empty_password_sources_are_warnings() {
        let env = bare_env().with_var("PW", "").with_file("/pw", "\n", 0o600);
        let w = ok(&format!("[defaults]\nuser = \"u\"\npassword_env = \"PW\"\n{SHARD}"), &env).warnings;
        assert!(w[0].message.contains("PW is set but empty"));
        let w = ok(&format!("[defaults]\nuser = \"u\"\npassword_file = \"/pw\"\n{SHARD}"), &env).warnings;
        assert!(w[0].message.contains("is empty"));
    }
}
