//! `[feed]`: the feed latency probe.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::duration::DurationInput;
use crate::config::problem::closest;
use crate::config::schema::Opt;
use crate::config::validate::{Checker, Val};

/// The fan-out feed probe: the same read on every shard, per round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// A SELECT with at most one `?`, bound to the sampled user id.
    pub query: String,
    /// The default database of the probe's connections, for unqualified table names.
    pub database: Option<String>,
    pub sample: UserSample,
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// Per server and round; never longer than `interval`.
    pub timeout: Duration,
    pub targets: FeedTargets,
    /// How far back the percentiles look.
    pub window: Duration,
}

impl FeedConfig {
    /// The feed read of SPEC.md: a user's friends' latest photos.
    pub const DEFAULT_QUERY: &str = "SELECT p.id FROM photos p JOIN followers f ON f.friend_id = p.user_id \
                                     WHERE f.user_id = ? ORDER BY p.id DESC LIMIT 10";
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    pub const DEFAULT_RANGE: (u64, u64) = (1, 1000);
}

/// Which user ids the probe asks for, in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSample {
    Ids(Vec<u64>),
    /// Inclusive.
    Range(u64, u64),
}

impl UserSample {
    /// The id for round `n`: ids in turn, or a walk over the range that
    /// visits every id before repeating (a stride coprime with its length).
    pub fn pick(&self, n: u64) -> u64 {
        match self {
            UserSample::Ids(ids) => ids.get((n % ids.len().max(1) as u64) as usize).copied().unwrap_or(0),
            UserSample::Range(lo, hi) => {
                let span = hi.saturating_sub(*lo).saturating_add(1);
                let mut stride = (span / 2 + 1).max(1) | 1;
                while gcd(stride, span) != 1 {
                    stride += 2;
                }
                lo + ((n % span) as u128 * stride as u128 % span as u128) as u64
            }
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeedTargets {
    /// Each shard's master.
    #[default]
    Master,
    /// Each shard's replicas in turn (the master when it has none listed).
    Replicas,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawFeed {
    pub query: Opt<String>,
    pub database: Opt<String>,
    // Signed, so that negative ids reach validation and are reported with the rest.
    pub user_ids: Opt<Vec<Spanned<i64>>>,
    pub user_id_range: Opt<Vec<Spanned<i64>>>,
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    pub targets: Opt<String>,
    pub window: Opt<DurationInput>,
}

/// The keys of `[feed]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawFeed`.
pub(in crate::config) const KEYS: &[&str] =
    &["query", "database", "user_ids", "user_id_range", "interval", "timeout", "targets", "window"];

impl Checker<'_> {
    pub(in crate::config) fn feed(&mut self, raw: Spanned<RawFeed>) -> FeedConfig {
        let mut raw = raw.into_inner();
        let query = match raw.query.take() {
            None => FeedConfig::DEFAULT_QUERY.to_string(),
            Some(q) => {
                if let Err(why) = check_query(q.get_ref()) {
                    self.error(Some(&q.span()), format!("feed.query {why}"), QUERY_HINT.to_string());
                }
                q.into_inner()
            }
        };
        let database = raw.database.take().and_then(|d| {
            let name = d.get_ref();
            let ok = (1..=64).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
            if !ok {
                self.error(
                    Some(&d.span()),
                    format!("feed.database {name:?} is not a database name (letters, digits, _ and $)"),
                    "e.g. database = \"social\"; leave it out when the query names db.table".to_string(),
                );
                return None;
            }
            Some(d.into_inner())
        });
        let sample = self.user_sample(&raw);
        let interval = self.duration("feed.interval", raw.interval, FeedConfig::DEFAULT_INTERVAL);
        let timeout = self.duration("feed.timeout", raw.timeout, FeedConfig::DEFAULT_TIMEOUT);
        if let (Some(i), Some(t)) = (&interval, &timeout)
            && t.v > i.v
        {
            self.error(
                t.span.as_ref().or(i.span.as_ref()),
                format!(
                    "feed.timeout ({}) is longer than feed.interval ({}): rounds would overlap",
                    t.describe(),
                    i.describe()
                ),
                "lower feed.timeout or raise feed.interval; one query per server is in flight at a time".to_string(),
            );
        }
        let window = self.duration("feed.window", raw.window, FeedConfig::DEFAULT_WINDOW);
        if let (Some(w), Some(i)) = (&window, &interval)
            // A huge interval overflows five of it: the window is then certainly too short.
            && i.v.checked_mul(5).is_none_or(|five| w.v < five)
        {
            self.error(
                w.span.as_ref().or(i.span.as_ref()),
                format!("feed.window ({}) holds fewer than 5 rounds of feed.interval ({})", w.describe(), i.describe()),
                "percentiles need samples: make the window at least 5 intervals (default 60s)".to_string(),
            );
        }
        let targets = match raw.targets {
            None => FeedTargets::default(),
            Some(t) => match t.get_ref().trim().to_ascii_lowercase().as_str() {
                "master" | "masters" => FeedTargets::Master,
                "replica" | "replicas" => FeedTargets::Replicas,
                other => {
                    let hint = match closest(other, ["master", "replicas"]) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => "accepted: \"master\", \"replicas\"".into(),
                    };
                    self.error(Some(&t.span()), format!("feed.targets: unknown value {:?}", t.get_ref()), hint);
                    FeedTargets::default()
                }
            },
        };
        let pick = |v: Option<Val<Duration>>, d| v.map_or(d, |v| v.v);
        FeedConfig {
            query,
            database,
            sample,
            interval: pick(interval, FeedConfig::DEFAULT_INTERVAL),
            timeout: pick(timeout, FeedConfig::DEFAULT_TIMEOUT),
            targets,
            window: pick(window, FeedConfig::DEFAULT_WINDOW),
        }
    }

    fn user_sample(&mut self, raw: &RawFeed) -> UserSample {
        let default = UserSample::Range(FeedConfig::DEFAULT_RANGE.0, FeedConfig::DEFAULT_RANGE.1);
        match (&raw.user_ids, &raw.user_id_range) {
            (Some(_), Some(range)) => {
                self.error(
                    Some(&range.span()),
                    "set feed.user_ids or feed.user_id_range, not both".into(),
                    "user_ids lists the ids to ask for; user_id_range = [first, last] walks a range".to_string(),
                );
                default
            }
            (Some(ids), None) => {
                if ids.get_ref().is_empty() {
                    self.error(Some(&ids.span()), "feed.user_ids is empty".into(), "list at least one id".to_string());
                    return default;
                }
                let ok: Vec<u64> = ids.get_ref().iter().filter_map(|id| self.user_id("feed.user_ids", id)).collect();
                if ok.len() == ids.get_ref().len() { UserSample::Ids(ok) } else { default }
            }
            (None, Some(range)) => {
                let [lo, hi] = range.get_ref().as_slice() else {
                    self.error(
                        Some(&range.span()),
                        format!("feed.user_id_range has {} values; it takes two: [first, last]", range.get_ref().len()),
                        "e.g. user_id_range = [1, 100000]".to_string(),
                    );
                    return default;
                };
                let (Some(a), Some(b)) =
                    (self.user_id("feed.user_id_range", lo), self.user_id("feed.user_id_range", hi))
                else {
                    return default;
                };
                if a > b {
                    self.error(
                        Some(&range.span()),
                        format!("feed.user_id_range [{a}, {b}] runs backwards"),
                        "write [first, last] with first <= last".to_string(),
                    );
                    return default;
                }
                UserSample::Range(a, b)
            }
            (None, None) => default,
        }
    }

    fn user_id(&mut self, key: &str, v: &Spanned<i64>) -> Option<u64> {
        match u64::try_from(*v.get_ref()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.error(Some(&v.span()), format!("{key}: {} is not a user id (negative)", v.get_ref()), None);
                None
            }
        }
    }
}

const QUERY_HINT: &str = "a read such as the default: SELECT p.id FROM photos p JOIN followers f ON \
                          f.friend_id = p.user_id WHERE f.user_id = ? ORDER BY p.id DESC LIMIT 10";

/// The probe runs the query as the monitoring account every second on every
/// shard: only a single read, with at most one placeholder (the user id).
fn check_query(q: &str) -> Result<(), String> {
    let first = q.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    if first.is_empty() {
        return Err("is empty".into());
    }
    if first != "SELECT" && first != "WITH" && !first.starts_with("SELECT") && first != "(SELECT" {
        return Err(format!("must be a read (SELECT …), not {first}"));
    }
    let (placeholders, semicolons) = scan(q);
    if semicolons {
        return Err("must be one statement (no `;` outside quotes)".into());
    }
    if placeholders > 1 {
        return Err(format!("has {placeholders} `?` placeholders; it takes at most one, the sampled user id"));
    }
    Ok(())
}

/// Counts `?` and spots `;` outside quoted strings and identifiers (a trailing `;` is allowed).
fn scan(q: &str) -> (usize, bool) {
    let body = q.trim_end().trim_end_matches(';');
    let (mut placeholders, mut semicolon, mut quote) = (0, false, None::<char>);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(qc), c) if c == qc => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') => placeholders += 1,
            (None, ';') => semicolon = true,
            (None, _) => {}
        }
    }
    (placeholders, semicolon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn queries_that_are_accepted_and_refused() {
        assert_eq!(check_query(FeedConfig::DEFAULT_QUERY), Ok(()));
        assert_eq!(check_query("select 1;"), Ok(()));
        assert_eq!(check_query("SELECT '?' FROM t WHERE a = ?"), Ok(()));
        assert!(check_query("").unwrap_err().contains("empty"));
        assert!(check_query("DELETE FROM photos").unwrap_err().contains("not DELETE"));
        assert!(check_query("SELECT 1; DROP TABLE t").unwrap_err().contains("one statement"));
        assert!(check_query("SELECT ? , ?").unwrap_err().contains("2 `?`"));
    }

    #[test]
    fn user_samples_rotate() {
        let ids = UserSample::Ids(vec![5, 9, 11]);
        assert_eq!((0..4).map(|n| ids.pick(n)).collect::<Vec<_>>(), vec![5, 9, 11, 5]);
        let range = UserSample::Range(10, 19);
        let mut seen: Vec<u64> = (0..10).map(|n| range.pick(n)).collect();
        assert_ne!(seen, (10..20).collect::<Vec<_>>(), "not just counting up");
        seen.sort();
        assert_eq!(seen, (10..20).collect::<Vec<_>>(), "every id once per pass");
        assert_eq!(UserSample::Range(7, 7).pick(123), 7);
        // The widest range walks without overflowing.
        assert!(UserSample::Range(0, u64::MAX).pick(3) > 0);
    }

    #[test]
    fn feed_fixture_and_defaults() {
        let c = ok(&read_fixture("valid/feed.toml"), &fixture_env()).config;
        let f = c.feed.expect("[feed]");
        assert_eq!(f.query, "SELECT p.id FROM photos p WHERE p.user_id = ? LIMIT 10");
        assert_eq!(f.database.as_deref(), Some("social"));
        assert_eq!(f.sample, UserSample::Ids(vec![1, 7, 13]));
        assert_eq!(
            (f.interval, f.timeout, f.window),
            (Duration::from_secs(2), Duration::from_millis(250), Duration::from_secs(120))
        );
        assert_eq!(f.targets, FeedTargets::Replicas);
        // An empty [feed] turns the probe on with the spec's feed read.
        let c = ok(&format!("[feed]\n{SHARD}"), &fixture_env()).config;
        let f = c.feed.expect("[feed]");
        assert_eq!(f.query, FeedConfig::DEFAULT_QUERY);
        assert_eq!(f.sample, UserSample::Range(1, 1000));
        assert_eq!(f.targets, FeedTargets::Master);
        assert!(ok(SHARD, &fixture_env()).config.feed.is_none(), "no section, no probe");
    }
}
