//! `[poll]`: how often servers are polled, for how long, and how many at once.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::validate::Checker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// Time between the starts of two sweeps.
    pub interval: Duration,
    /// Per-server limit for one poll; never longer than `interval`.
    pub timeout: Duration,
    /// Servers polled at once.
    pub concurrency: usize,
    /// How often a probe also asks who replicates from the server (processlist, replica hosts).
    pub discovery_interval: Duration,
}

/// Discovery (who replicates from this server) changes rarely: it rides
/// along with a probe at most this often, keeping the usual probe cheap.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            concurrency: 64,
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawPoll {
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
    // Signed, so that 0 and -1 reach validation and are reported with the rest.
    pub concurrency: Opt<i64>,
    pub discovery_interval: Opt<DurationInput>,
}

/// The keys of `[poll]`, for "did you mean"; `known_keys_match_the_schema` keeps them in
/// step with `RawPoll`.
pub(in crate::config) const KEYS: &[&str] = &["interval", "timeout", "concurrency", "discovery_interval"];

impl Checker<'_> {
    pub(in crate::config) fn poll(&mut self, raw: RawPoll) -> PollConfig {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn a_sweep_may_not_outlast_the_interval() {
        let e = err(&format!("[poll]\ninterval = \"1s\"\ntimeout = \"2s\"\nconcurrency = -1\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(3), "poll.timeout (2s) is longer than poll.interval (1s): a sweep would overlap"), "{e}");
        assert!(has(&e, Some(4), "poll.concurrency must be at least 1, got -1"), "{e}");
        // Against a default, the message says which value is the default.
        let e = err(&format!("[poll]\ntimeout = \"3s\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "poll.timeout (3s) is longer than poll.interval (2s, the default)"), "{e}");
        let p = ok(&format!("[poll]\ninterval = 5\ntimeout = 5\nconcurrency = 1\n{SHARD}"), &fixture_env()).config.poll;
        assert_eq!((p.interval, p.timeout, p.concurrency), (Duration::from_secs(5), Duration::from_secs(5), 1));
    }
}
