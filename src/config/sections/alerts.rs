//! `[alerts]`: anomalies that held long enough, and action outcomes, sent to Alertmanager and to
//! signed webhooks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::DurationInput;
use crate::config::problem::closest;
use crate::config::schema::Opt;
use crate::config::validate::Checker;
use crate::fleet::health::Health;
use crate::secret::Secret;

/// Where alerts go and when they fire. Off without an `[alerts]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// How long a finding must hold before it fires (Prometheus' `for`).
    pub for_: Duration,
    /// How long a firing alert's finding must stay away before it resolves (Prometheus'
    /// `keep_firing_for`): a fault that clears for one poll and comes back stays one alert.
    pub keep_firing_for: Duration,
    /// Findings below this severity never fire.
    pub min_severity: Health,
    /// Per rule: its own `for`, or `None` when the rule never fires (`"off"`).
    pub rules: BTreeMap<String, Option<Duration>>,
    /// Notify promotion, failover, fence/rejoin and checksum outcomes.
    pub actions: bool,
    /// Alertmanager base URLs (`http://am:9093`); alerts go to `/api/v2/alerts` of each.
    pub alertmanager: Vec<String>,
    /// How often firing alerts are posted again: Alertmanager forgets an alert whose `endsAt`
    /// passes (and one it lost in a restart), so it must hear of it again before then.
    pub repeat_interval: Duration,
    pub webhooks: Vec<WebhookConfig>,
    /// Delivery attempts after the first failure, with the delay doubling from `backoff`.
    pub retries: u32,
    pub backoff: Duration,
    /// One POST waits at most this long.
    pub timeout: Duration,
    /// JSON lines of what could not be delivered after every retry.
    pub dead_letter: PathBuf,
}

/// A signed webhook: `X-Shardtop-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp.body))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// For logs and the dead-letter file; default the URL's host.
    pub name: String,
    pub url: String,
    /// Never in argv, the config file or a log: from `secret_env` or `secret_file`.
    pub secret: Secret,
}

impl AlertsConfig {
    pub const DEFAULT_FOR: Duration = Duration::from_secs(30);
    pub const DEFAULT_REPEAT: Duration = Duration::from_secs(60);
    pub const DEFAULT_RETRIES: u32 = 5;
    pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_DEAD_LETTER: &str = "shardtop-alerts-dead.jsonl";

    /// The `for` of `rule`: its own, or the section's; `None` when the rule is off.
    pub fn for_rule(&self, rule: &str) -> Option<Duration> {
        match self.rules.get(rule) {
            Some(v) => *v,
            None => Some(self.for_),
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            for_: Self::DEFAULT_FOR,
            keep_firing_for: Duration::ZERO,
            min_severity: Health::Warning,
            rules: BTreeMap::new(),
            actions: true,
            alertmanager: Vec::new(),
            repeat_interval: Self::DEFAULT_REPEAT,
            webhooks: Vec::new(),
            retries: Self::DEFAULT_RETRIES,
            backoff: Self::DEFAULT_BACKOFF,
            timeout: Self::DEFAULT_TIMEOUT,
            dead_letter: PathBuf::from(Self::DEFAULT_DEAD_LETTER),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawAlerts {
    #[serde(rename = "for")]
    pub for_: Opt<DurationInput>,
    pub keep_firing_for: Opt<DurationInput>,
    pub min_severity: Opt<String>,
    /// A duration, or `"off"`, per rule.
    pub rules: Option<BTreeMap<Spanned<String>, Spanned<DurationInput>>>,
    pub actions: Option<bool>,
    pub alertmanager: Opt<Vec<Spanned<String>>>,
    pub repeat_interval: Opt<DurationInput>,
    #[serde(default)]
    pub webhook: Vec<Spanned<RawWebhook>>,
    pub retries: Opt<i64>,
    pub backoff: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    pub dead_letter: Opt<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawWebhook {
    pub name: Opt<String>,
    pub url: Opt<String>,
    pub secret_env: Opt<String>,
    pub secret_file: Opt<String>,
}

/// The keys of `[alerts]`, for "did you mean"; `known_keys_match_the_schema` keeps them in step.
pub(in crate::config) const KEYS: &[&str] = &[
    "for",
    "keep_firing_for",
    "min_severity",
    "rules",
    "actions",
    "alertmanager",
    "repeat_interval",
    "webhook",
    "retries",
    "backoff",
    "timeout",
    "dead_letter",
];

/// The keys of `[[alerts.webhook]]`.
pub(in crate::config) const WEBHOOK_KEYS: &[&str] = &["name", "url", "secret_env", "secret_file"];

impl Checker<'_> {
    pub(in crate::config) fn alerts(&mut self, raw: Spanned<RawAlerts>) -> AlertsConfig {
        let section = raw.span();
        let raw = raw.into_inner();
        let d = AlertsConfig::default();
        let for_ = self.duration_or_zero("alerts.for", raw.for_, d.for_);
        let keep_firing_for = self.duration_or_zero("alerts.keep_firing_for", raw.keep_firing_for, d.keep_firing_for);
        let min_severity = match &raw.min_severity {
            None => d.min_severity,
            Some(s) => match s.get_ref().trim().to_ascii_lowercase().as_str() {
                "warning" => Health::Warning,
                "critical" => Health::Critical,
                other => {
                    let hint = match closest(other, ["warning", "critical"]) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => "accepted: \"warning\", \"critical\"".into(),
                    };
                    self.error(
                        Some(&s.span()),
                        format!("alerts.min_severity: unknown severity {:?}", s.get_ref()),
                        hint,
                    );
                    d.min_severity
                }
            },
        };
        let mut rules = BTreeMap::new();
        for (name, value) in raw.rules.unwrap_or_default() {
            let rule = name.get_ref().trim();
            if !crate::fleet::health::RULE_IDS.contains(&rule) {
                let hint = match closest(rule, crate::fleet::health::RULE_IDS.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("the rules are {}", crate::fleet::health::RULE_IDS.join(", ")),
                };
                self.error(Some(&name.span()), format!("alerts.rules: unknown rule `{rule}`"), hint);
                continue;
            }
            let span = value.span();
            let input = value.into_inner();
            let parsed = match &input {
                DurationInput::Text(t) if t.trim().eq_ignore_ascii_case("off") => Ok(None),
                other => other.to_duration().map(Some),
            };
            match parsed {
                Ok(v) => {
                    rules.insert(rule.to_string(), v);
                }
                Err(e) => self.error(
                    Some(&span),
                    format!("alerts.rules.{rule}: bad duration: {e}"),
                    format!("a duration such as \"2m\", or \"off\" so the rule never fires; {}", e.hint()),
                ),
            }
        }
        let mut alertmanager = Vec::new();
        for u in raw.alertmanager.map(Spanned::into_inner).unwrap_or_default() {
            if let Some(url) = self.alert_url("alerts.alertmanager", &u) {
                alertmanager.push(url.trim_end_matches('/').to_string());
            }
        }
        let webhooks: Vec<WebhookConfig> =
            raw.webhook.into_iter().enumerate().filter_map(|(i, w)| self.webhook(i + 1, w)).collect();
        if alertmanager.is_empty() && webhooks.is_empty() {
            self.error(
                Some(&section),
                "[alerts] has nowhere to send alerts".into(),
                "add alertmanager = [\"http://127.0.0.1:9093\"] or a [[alerts.webhook]] with url and secret_env"
                    .to_string(),
            );
        }
        let repeat_interval = self.duration("alerts.repeat_interval", raw.repeat_interval, d.repeat_interval);
        let backoff = self.duration("alerts.backoff", raw.backoff, d.backoff);
        let timeout = self.duration("alerts.timeout", raw.timeout, d.timeout);
        let retries = match &raw.retries {
            None => d.retries,
            Some(r) => match u32::try_from(*r.get_ref()).ok().filter(|&n| n <= 30) {
                Some(n) => n,
                None => {
                    self.error(
                        Some(&r.span()),
                        format!("alerts.retries must be between 0 and 30, got {}", r.get_ref()),
                        "each retry waits twice as long as the one before".to_string(),
                    );
                    d.retries
                }
            },
        };
        let dead_letter = match &raw.dead_letter {
            Some(p) => self.path_value("alerts.dead_letter", p).unwrap_or(d.dead_letter.clone()),
            None => self.base.map_or(d.dead_letter.clone(), |b| b.join(&d.dead_letter)),
        };
        AlertsConfig {
            for_,
            keep_firing_for,
            min_severity,
            rules,
            actions: raw.actions.unwrap_or(d.actions),
            alertmanager,
            repeat_interval: repeat_interval.map_or(d.repeat_interval, |v| v.v),
            webhooks,
            retries,
            backoff: backoff.map_or(d.backoff, |v| v.v),
            timeout: timeout.map_or(d.timeout, |v| v.v),
            dead_letter,
        }
    }

    /// A duration where 0 is allowed (fire at once; resolve at once).
    fn duration_or_zero(&mut self, key: &str, raw: Opt<DurationInput>, default: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        match raw.get_ref().to_duration() {
            Ok(d) => d,
            Err(e) => {
                self.error(Some(&raw.span()), format!("{key}: bad duration: {e}"), e.hint());
                default
            }
        }
    }

    fn alert_url(&mut self, key: &str, u: &Spanned<String>) -> Option<String> {
        let text = u.get_ref().trim();
        match reqwest::Url::parse(text) {
            Ok(p) if (p.scheme() == "http" || p.scheme() == "https") && p.password().is_none() => {
                Some(text.to_string())
            }
            Ok(p) if p.password().is_some() => {
                // Not echoed: the URL carries a password.
                self.error(
                    Some(&u.span()),
                    format!("{key}: the URL carries a password"),
                    "credentials do not belong in the config file; put a proxy or a token-free URL here".to_string(),
                );
                None
            }
            Ok(p) => {
                self.error(
                    Some(&u.span()),
                    format!("{key}: {text:?} is a {} URL", p.scheme()),
                    "use http:// or https://".to_string(),
                );
                None
            }
            Err(e) => {
                self.error(
                    Some(&u.span()),
                    format!("{key}: {text:?} is not a URL: {e}"),
                    "e.g. \"http://127.0.0.1:9093\"".to_string(),
                );
                None
            }
        }
    }

    fn webhook(&mut self, number: usize, raw: Spanned<RawWebhook>) -> Option<WebhookConfig> {
        let header = raw.span();
        let raw = raw.into_inner();
        let label = format!("[[alerts.webhook]] #{number}");
        let url = match &raw.url {
            None => {
                self.error(
                    Some(&header),
                    format!("{label} has no url"),
                    "e.g. url = \"https://hooks.example.com/shardtop\"".to_string(),
                );
                None
            }
            Some(u) => self.alert_url("alerts.webhook.url", u),
        };
        let secret = match (&raw.secret_env, &raw.secret_file) {
            (Some(_), Some(f)) => {
                self.error(
                    Some(&f.span()),
                    "set alerts.webhook.secret_env or secret_file, not both".into(),
                    "shardtop cannot tell which one you meant".to_string(),
                );
                None
            }
            (Some(v), None) => self.password_from_env("alerts.webhook.secret_env", v).0,
            (None, Some(f)) => self.password_from_file("alerts.webhook.secret_file", f).0,
            (None, None) => {
                self.error(
                    Some(&header),
                    format!("{label} has no secret"),
                    "receivers verify the signature with a shared secret: secret_env = \"SHARDTOP_WEBHOOK_SECRET\" \
                     or secret_file = \"/etc/shardtop/webhook.secret\""
                        .to_string(),
                );
                None
            }
        };
        if let Some(s) = secret.as_ref().filter(|s| s.expose().len() < 16)
            && !s.is_empty()
        {
            let span = raw.secret_env.as_ref().or(raw.secret_file.as_ref()).map(Spanned::span);
            self.warn(
                span.as_ref(),
                format!("{label}: the secret is shorter than 16 bytes"),
                "a short shared secret can be guessed; e.g. `openssl rand -hex 32`".to_string(),
            );
        }
        if secret.as_ref().is_some_and(Secret::is_empty) {
            self.error(
                Some(&header),
                format!("{label}: the secret is empty"),
                "an empty key signs nothing".to_string(),
            );
            return None;
        }
        let (url, secret) = (url?, secret?);
        let name = match &raw.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_string(),
            _ => reqwest::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default(),
        };
        Some(WebhookConfig { name, url, secret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    const AM: &str = "alertmanager = [\"http://127.0.0.1:9093/\"]\n";

    #[test]
    fn defaults_and_overrides() {
        let a = ok(&format!("[alerts]\n{AM}{SHARD}"), &fixture_env()).config.alerts.expect("alerts");
        assert_eq!(
            (a.for_, a.keep_firing_for, a.min_severity),
            (Duration::from_secs(30), Duration::ZERO, Health::Warning)
        );
        assert_eq!(a.alertmanager, ["http://127.0.0.1:9093"], "no trailing slash");
        assert_eq!((a.retries, a.repeat_interval, a.actions), (5, Duration::from_secs(60), true));
        let text = format!(
            "[alerts]\nfor = \"10s\"\nmin_severity = \"critical\"\n{AM}[alerts.rules]\nlag = \"2m\"\nerrant_gtid = \"off\"\n{SHARD}"
        );
        let a = ok(&text, &fixture_env()).config.alerts.expect("alerts");
        assert_eq!(a.for_rule("lag"), Some(Duration::from_secs(120)));
        assert_eq!(a.for_rule("errant_gtid"), None);
        assert_eq!(a.for_rule("sql_thread"), Some(Duration::from_secs(10)));
        assert_eq!(a.min_severity, Health::Critical);
        assert!(ok(SHARD, &fixture_env()).config.alerts.is_none(), "off without the section");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let e = err(&format!("[alerts]\nfor = \"30 seconds\"\n{AM}{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "alerts.for: bad duration"), "{e}");
        let e = err(&format!("[alerts]\n{AM}[alerts.rules]\nsql_thred = \"1m\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(4), "alerts.rules: unknown rule `sql_thred` (hint: did you mean `sql_thread`?)"), "{e}");
        let e = err(&format!("[alerts]\n{AM}[alerts.rules]\nlag = \"soon\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(4), "alerts.rules.lag: bad duration"), "{e}");
        let e = err(&format!("[alerts]\nalertmanager = [\"ftp://x\"]\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "is a ftp URL"), "{e}");
        let e = err(&format!("[alerts]\nmin_severity = \"crit\"\n{AM}{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "unknown severity"), "{e}");
        let e = err(&format!("[alerts]\nretries = -1\n{AM}{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "alerts.retries must be between 0 and 30"), "{e}");
        let e = err(&format!("[alerts]\nfor = \"1m\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "[alerts] has nowhere to send alerts"), "{e}");
    }

    #[test]
    fn a_webhook_needs_a_secret_that_never_shows() {
        let env = fixture_env().with_var("HOOK_SECRET", "Zq7-hook-secret-0123456789");
        let text = format!(
            "[alerts]\n[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"HOOK_SECRET\"\n{SHARD}"
        );
        let loaded = ok(&text, &env);
        let a = loaded.config.alerts.clone().expect("alerts");
        assert_eq!(a.webhooks[0].name, "hooks.example.com");
        assert_eq!(a.webhooks[0].secret.expose(), "Zq7-hook-secret-0123456789");
        assert!(!format!("{loaded:?}").contains("Zq7-hook"), "Debug hides the secret");
        let e = err(&format!("[alerts]\n[[alerts.webhook]]\nurl = \"https://h/x\"\n{SHARD}"), &env);
        assert!(has(&e, Some(2), "[[alerts.webhook]] #1 has no secret"), "{e}");
        let e = err(
            &format!("[alerts]\n[[alerts.webhook]]\nurl = \"https://h/x\"\nsecret_env = \"UNSET_VAR\"\n{SHARD}"),
            &env,
        );
        assert!(has(&e, Some(4), "alerts.webhook.secret_env names UNSET_VAR, which is not set"), "{e}");
        let e = err(
            &format!(
                "[alerts]\n[[alerts.webhook]]\nurl = \"https://h/x\"\nsecret_env = \"HOOK_SECRET\"\nsecrt = 1\n{SHARD}"
            ),
            &env,
        );
        assert!(has(&e, Some(5), "unknown key `secrt` in [[alerts.webhook]]"), "{e}");
        let short = fixture_env().with_var("S", "abc");
        let w =
            ok(&format!("[alerts]\n[[alerts.webhook]]\nurl = \"https://h/x\"\nsecret_env = \"S\"\n{SHARD}"), &short);
        assert!(w.warnings.iter().any(|p| p.to_string().contains("shorter than 16 bytes")), "{:?}", w.warnings);
    }

    #[test]
    fn the_documented_section_parses_uncommented() {
        let text = include_str!("../../../config.example.toml");
        let start = text.find("# [alerts]").expect("the example documents [alerts]");
        let section: String = text[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                let key = l.split(" = ").next().unwrap_or_default();
                l.starts_with('[')
                    || KEYS.contains(&key)
                    || WEBHOOK_KEYS.contains(&key)
                    || crate::fleet::health::RULE_IDS.contains(&key)
            })
            .filter(|l| !l.starts_with("secret_file"))
            .map(|l| format!("{l}\n"))
            .collect();
        let env = fixture_env().with_var("SHARDTOP_WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef");
        let loaded = ok(&format!("{SHARD}{section}"), &env);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let a = loaded.config.alerts.expect("alerts");
        let d = AlertsConfig::default();
        // Its documented values are the real defaults.
        assert_eq!(
            (a.for_, a.keep_firing_for, a.min_severity, a.actions, a.repeat_interval, a.retries, a.backoff, a.timeout),
            (d.for_, d.keep_firing_for, d.min_severity, d.actions, d.repeat_interval, d.retries, d.backoff, d.timeout)
        );
        assert_eq!((a.alertmanager.len(), a.webhooks.len(), a.rules.len()), (1, 1, 2));
    }
}
