//! `[actions]`: promotion and checksum, off unless enabled, with their own admin account.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::Checker;
use crate::secret::Secret;

/// Actions that write to servers (promotion, checksum): off unless enabled,
/// and done with their own admin account, never the monitoring one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsConfig {
    pub enabled: bool,
    /// JSON-lines audit trail of every step of every action.
    pub audit_log: PathBuf,
    /// The admin account (SUPER / READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, …).
    pub user: String,
    pub password: Option<Secret>,
    /// The account replicas use to connect to their new source after a promotion.
    pub replication_user: String,
    pub replication_password: Option<Secret>,
    /// Replicas repointed by an action connect to their new source over TLS (`MASTER_SSL=1` /
    /// `SOURCE_SSL=1`): needed when masters run with `require_secure_transport=ON`.
    pub replication_tls: bool,
    /// How long a promotion waits for the candidate to apply everything.
    pub catchup_timeout: Duration,
    /// Run after a successful promotion or failover (routing / dbconfig update), via `sh -c`,
    /// with `SHARDTOP_REASON` = `switchover` or `failover`.
    pub post_promote_hook: Option<String>,
    /// Run by a failover before anything becomes writable (fencing: STONITH, router); a non-zero
    /// exit aborts the failover.
    pub pre_failover_hook: Option<String>,
    pub hook_timeout: Duration,
    /// Where per-shard lock files live, so two shardtops cannot act on one shard.
    pub lock_dir: PathBuf,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            enabled: false,
            audit_log: PathBuf::from("shardtop-audit.jsonl"),
            user: String::new(),
            password: None,
            replication_user: String::new(),
            replication_password: None,
            replication_tls: false,
            catchup_timeout: Duration::from_secs(10),
            post_promote_hook: None,
            pre_failover_hook: None,
            hook_timeout: Duration::from_secs(30),
            lock_dir: std::env::temp_dir(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawActions {
    pub enabled: Option<bool>,
    pub audit_log: Opt<String>,
    pub user: Opt<String>,
    pub password_env: Opt<String>,
    pub password_file: Opt<String>,
    pub replication_user: Opt<String>,
    pub replication_password_env: Opt<String>,
    pub replication_password_file: Opt<String>,
    pub replication_tls: Option<bool>,
    pub catchup_timeout: Opt<DurationInput>,
    pub post_promote_hook: Opt<String>,
    pub pre_failover_hook: Opt<String>,
    pub hook_timeout: Opt<DurationInput>,
    pub lock_dir: Opt<String>,
}

/// The keys of `[actions]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawActions`.
pub(in crate::config) const KEYS: &[&str] = &[
    "enabled",
    "audit_log",
    "user",
    "password_env",
    "password_file",
    "replication_user",
    "replication_password_env",
    "replication_password_file",
    "replication_tls",
    "catchup_timeout",
    "post_promote_hook",
    "pre_failover_hook",
    "hook_timeout",
    "lock_dir",
];

impl Checker<'_> {
    pub(in crate::config) fn actions(&mut self, raw: Spanned<RawActions>) -> ActionsConfig {
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
        let hook = |ck: &mut Self, key: &str, v: Opt<String>| match v {
            Some(h) if h.get_ref().trim().is_empty() => {
                ck.error(
                    Some(&h.span()),
                    format!("actions.{key} is empty"),
                    "give a command, or leave the key out".to_string(),
                );
                None
            }
            Some(h) => Some(h.into_inner()),
            None => None,
        };
        let post_promote_hook = hook(self, "post_promote_hook", raw.post_promote_hook);
        let pre_failover_hook = hook(self, "pre_failover_hook", raw.pre_failover_hook);
        ActionsConfig {
            enabled,
            audit_log,
            user,
            password,
            replication_user,
            replication_password,
            replication_tls: raw.replication_tls.unwrap_or(false),
            catchup_timeout: catchup_timeout.map_or(d.catchup_timeout, |v| v.v),
            post_promote_hook,
            pre_failover_hook,
            hook_timeout: hook_timeout.map_or(d.hook_timeout, |v| v.v),
            lock_dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn a_disabled_section_reads_no_secret() {
        // The variable is not set: harmless while actions are off, an error once they are on.
        let section = "[actions]\nuser = \"admin\"\npassword_env = \"NOT_SET_ANYWHERE\"\nreplication_user = \"repl\"\n";
        let a = ok(&format!("{section}{SHARD}"), &fixture_env()).config.actions;
        assert_eq!((a.enabled, a.password), (false, None));
        let e = err(&format!("{section}enabled = true\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(3), "actions.password_env names NOT_SET_ANYWHERE, which is not set"), "{e}");
    }

    #[test]
    fn enabled_actions_name_both_accounts() {
        let e = err(&format!("[actions]\nenabled = true\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "[actions] is enabled but has no `user`"), "{e}");
        assert!(has(&e, Some(1), "[actions] is enabled but has no `replication_user`"), "{e}");
        let a = ok(
            &format!("[actions]\nenabled = true\nuser = \"admin\"\nreplication_user = \"repl\"\n{SHARD}"),
            &fixture_env(),
        )
        .config
        .actions;
        assert_eq!((a.user.as_str(), a.replication_user.as_str()), ("admin", "repl"));
        assert_eq!(a.audit_log, ActionsConfig::default().audit_log);
    }

    #[test]
    fn hooks_are_commands_or_absent() {
        let base = "[actions]\nenabled = true\nuser = \"admin\"\nreplication_user = \"repl\"\n";
        let a = ok(&format!("{base}pre_failover_hook = \"/bin/fence\"\n{SHARD}"), &fixture_env()).config.actions;
        assert_eq!((a.pre_failover_hook.as_deref(), a.post_promote_hook), (Some("/bin/fence"), None));
        let e = err(&format!("{base}pre_failover_hook = \" \"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(5), "actions.pre_failover_hook is empty"), "{e}");
    }
}
