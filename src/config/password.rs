//! Reading a password from where the config points: an environment variable
//! (`…_env`) or a file (`…_file`). `[defaults]` and `[actions]` both use it.

use toml::Spanned;

use super::validate::{Checker, path_hint};
use crate::secret::Secret;

impl Checker<'_> {
    /// `key` names the setting in messages, e.g. `defaults.password_env`.
    pub(in crate::config) fn password_from_env(
        &mut self,
        key: &str,
        var: &Spanned<String>,
    ) -> (Option<Secret>, String) {
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
    pub(in crate::config) fn password_from_file(
        &mut self,
        key: &str,
        file: &Spanned<String>,
    ) -> (Option<Secret>, String) {
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
}

fn looks_like_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}
