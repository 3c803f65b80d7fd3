//! `[[panel]]`: application figures on the wall (logins, orders, page load time…), each one
//! Graphite target or PromQL query shown as a big-number tile with its trend, threshold colour
//! and change against the same time yesterday, read from the source's own history.
//! `[[markers]]` (deploy markers from Graphite events or a Prometheus query) shares the way a
//! source and its URL are named, so it is checked here too.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::MetricsKind;
use crate::config::duration::DurationInput;
use crate::config::problem::closest;
use crate::config::schema::Opt;
use crate::config::sections::metrics::MetricsConfig;
use crate::config::validate::Checker;

/// How several series in one answer become the tile's one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduce {
    #[default]
    Sum,
    Max,
    Min,
    Mean,
}

impl Reduce {
    const NAMES: [(&'static str, Reduce); 4] =
        [("sum", Reduce::Sum), ("max", Reduce::Max), ("min", Reduce::Min), ("mean", Reduce::Mean)];

    pub fn apply(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Reduce::Sum => values.iter().sum(),
            Reduce::Max => values.iter().copied().fold(f64::MIN, f64::max),
            Reduce::Min => values.iter().copied().fold(f64::MAX, f64::min),
            Reduce::Mean => values.iter().sum::<f64>() / values.len() as f64,
        })
    }
}

/// One application panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelConfig {
    /// The tile's title; names the panel in messages.
    pub title: String,
    pub source: MetricsKind,
    /// Base URL of the Prometheus or graphite-web server.
    pub url: String,
    /// A PromQL expression or a Graphite target.
    pub query: String,
    /// Shown after the value: "ms" and "s" format as durations, "%" as a percentage, anything
    /// else (`/s`, `orders/min`) after an SI-scaled number.
    pub unit: String,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    /// Lower values are the bad ones (a drop in logins): the thresholds are floors.
    pub lower_is_worse: bool,
    pub reduce: Reduce,
    /// How far back the comparison looks ("1d": the same time yesterday); `None`: no comparison.
    pub compare: Option<Duration>,
    pub interval: Duration,
    pub timeout: Duration,
    /// The line of its `[[panel]]` header, for messages at run time.
    pub line: usize,
}

impl PanelConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_COMPARE: Duration = Duration::from_secs(86_400);
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawPanel {
    pub title: Opt<String>,
    pub source: Opt<String>,
    pub url: Opt<String>,
    pub query: Opt<String>,
    pub target: Opt<String>,
    pub unit: Opt<String>,
    pub warn: Opt<f64>,
    pub crit: Opt<f64>,
    pub worse: Opt<String>,
    pub reduce: Opt<String>,
    pub compare: Opt<String>,
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
}

pub(in crate::config) const KEYS: &[&str] = &[
    "title", "source", "url", "query", "target", "unit", "warn", "crit", "worse", "reduce", "compare", "interval",
    "timeout",
];

/// A comparison period: days and weeks ("1d", "7d", "2w") besides what durations take.
fn compare_duration(s: &str) -> Result<Duration, crate::config::DurationError> {
    let days = |n: &str, per: u64| n.trim().parse::<u64>().ok().map(|n| Duration::from_secs(n * per * 86_400));
    if let Some(d) = s.strip_suffix('d').and_then(|n| days(n, 1)) {
        return Ok(d);
    }
    if let Some(d) = s.strip_suffix('w').and_then(|n| days(n, 7)) {
        return Ok(d);
    }
    crate::config::parse_duration(s)
}

impl Checker<'_> {
    pub(in crate::config) fn panels(
        &mut self,
        raw: Vec<Spanned<RawPanel>>,
        metrics: &[MetricsConfig],
    ) -> Vec<PanelConfig> {
        let mut out: Vec<PanelConfig> = Vec::new();
        for (i, p) in raw.into_iter().enumerate() {
            let header = p.span();
            if let Some(panel) = self.one_panel(i + 1, p, metrics) {
                if out.iter().any(|o| o.title == panel.title) {
                    self.error(
                        Some(&header),
                        format!("[[panel]] {:?}: another panel has the same title", panel.title),
                        "give each panel its own title".to_string(),
                    );
                    continue;
                }
                out.push(panel);
            }
        }
        out
    }

    fn one_panel(&mut self, number: usize, raw: Spanned<RawPanel>, metrics: &[MetricsConfig]) -> Option<PanelConfig> {
        let header = raw.span();
        let line = self.line_of(&header);
        let raw = raw.into_inner();
        let title = match &raw.title {
            Some(t) if !t.get_ref().trim().is_empty() => t.get_ref().trim().to_string(),
            Some(t) => {
                self.error(Some(&t.span()), format!("[[panel]] #{number}: the title is empty"), None);
                return None;
            }
            None => {
                self.error(
                    Some(&header),
                    format!("[[panel]] #{number} has no title"),
                    "e.g. title = \"logins/s\"".to_string(),
                );
                return None;
            }
        };
        let name = format!("[[panel]] {title:?}");
        let (source, url) = self.source_and_url(&name, &header, &raw.source, &raw.url, metrics)?;
        let query = match (source, &raw.query, &raw.target) {
            (_, Some(_), Some(t)) => {
                self.error(
                    Some(&t.span()),
                    format!("{name}: both query and target"),
                    "query is PromQL (prometheus), target a Graphite target: give one".to_string(),
                );
                None
            }
            (MetricsKind::Prometheus, None, Some(t)) => {
                self.error(
                    Some(&t.span()),
                    format!("{name}: target is for Graphite; a prometheus panel takes query"),
                    "rename target to query".to_string(),
                );
                None
            }
            (MetricsKind::Graphite, Some(q), None) => {
                self.error(
                    Some(&q.span()),
                    format!("{name}: query is PromQL; a graphite panel takes target"),
                    "rename query to target".to_string(),
                );
                None
            }
            (_, Some(q), None) | (_, None, Some(q)) if q.get_ref().trim().is_empty() => {
                self.error(Some(&q.span()), format!("{name}: the query is empty"), None);
                None
            }
            (_, Some(q), None) | (_, None, Some(q)) => Some(q.get_ref().trim().to_string()),
            (k, None, None) => {
                let key = if k == MetricsKind::Prometheus {
                    "query = \"sum(rate(logins_total[1m]))\""
                } else {
                    "target = \"stats.web.logins\""
                };
                self.error(Some(&header), format!("{name} has nothing to show"), format!("e.g. {key}"));
                None
            }
        };
        let lower_is_worse = match &raw.worse {
            None => false,
            Some(w) => match w.get_ref().trim().to_ascii_lowercase().as_str() {
                "higher" | "high" => false,
                "lower" | "low" => true,
                other => {
                    self.error(
                        Some(&w.span()),
                        format!("{name}: worse = {other:?} is neither \"higher\" nor \"lower\""),
                        "\"lower\" when a drop is the problem (logins, orders)".to_string(),
                    );
                    false
                }
            },
        };
        let (warn, crit) = (raw.warn.as_ref().map(|v| *v.get_ref()), raw.crit.as_ref().map(|v| *v.get_ref()));
        for v in [&raw.warn, &raw.crit].into_iter().flatten() {
            if !v.get_ref().is_finite() {
                self.error(Some(&v.span()), format!("{name}: thresholds must be numbers, got {}", v.get_ref()), None);
            }
        }
        if let (Some(w), Some(c), Some(span)) = (warn, crit, raw.warn.as_ref().map(Spanned::span))
            && ((!lower_is_worse && w >= c) || (lower_is_worse && w <= c))
        {
            let (rel, hint) = if lower_is_worse {
                ("above", "with worse = \"lower\" the warning comes first, at the higher value")
            } else {
                ("below", "the warning has to come before the critical alert")
            };
            self.error(Some(&span), format!("{name}: warn ({w}) must be {rel} crit ({c})"), hint.to_string());
        }
        let reduce = match &raw.reduce {
            None => Reduce::Sum,
            Some(r) => {
                let word = r.get_ref().trim().to_ascii_lowercase();
                match Reduce::NAMES.iter().find(|(n, _)| *n == word) {
                    Some((_, v)) => *v,
                    None => {
                        let hint = match closest(&word, Reduce::NAMES.iter().map(|(n, _)| *n)) {
                            Some(m) => format!("did you mean \"{m}\"?"),
                            None => "sum, max, min or mean".to_string(),
                        };
                        self.error(Some(&r.span()), format!("{name}: reduce = {word:?} is unknown"), hint);
                        Reduce::Sum
                    }
                }
            }
        };
        let compare = match &raw.compare {
            None => Some(PanelConfig::DEFAULT_COMPARE),
            Some(c) if matches!(c.get_ref().trim(), "" | "none" | "off") => None,
            Some(c) => match compare_duration(c.get_ref().trim()) {
                Ok(d) if d >= Duration::from_secs(60) => Some(d),
                Ok(_) => {
                    self.error(
                        Some(&c.span()),
                        format!("{name}: compare = {:?} is under a minute", c.get_ref()),
                        "e.g. \"1d\" (the same time yesterday), \"7d\", or \"none\"".to_string(),
                    );
                    None
                }
                Err(e) => {
                    self.error(Some(&c.span()), format!("{name}: compare: bad duration: {e}"), e.hint());
                    None
                }
            },
        };
        let interval = self.duration("panel.interval", raw.interval, PanelConfig::DEFAULT_INTERVAL);
        let timeout = self.duration("panel.timeout", raw.timeout, PanelConfig::DEFAULT_TIMEOUT);
        if let (Some(i), Some(t)) = (&interval, &timeout)
            && t.v > i.v
        {
            self.error(
                t.span.as_ref().or(i.span.as_ref()),
                format!("{name}: timeout ({}) is longer than interval ({})", t.describe(), i.describe()),
                "lower timeout or raise interval".to_string(),
            );
        }
        let unit = raw.unit.as_ref().map(|u| u.get_ref().trim().to_string()).unwrap_or_default();
        Some(PanelConfig {
            title,
            source,
            url,
            query: query?,
            unit,
            warn,
            crit,
            lower_is_worse,
            reduce,
            compare,
            interval: interval?.v,
            timeout: timeout?.v,
            line,
        })
    }

    /// `source = "graphite" | "prometheus"` and its URL: `url` when given, else that of the first
    /// `[[metrics]]` of the same kind.
    pub(in crate::config) fn source_and_url(
        &mut self,
        name: &str,
        header: &std::ops::Range<usize>,
        source: &Opt<String>,
        url: &Opt<String>,
        metrics: &[MetricsConfig],
    ) -> Option<(MetricsKind, String)> {
        let kind = match source {
            None => {
                self.error(
                    Some(header),
                    format!("{name} has no source"),
                    "source = \"graphite\" or source = \"prometheus\"".to_string(),
                );
                return None;
            }
            Some(s) => match s.get_ref().trim().to_ascii_lowercase().as_str() {
                "prometheus" => MetricsKind::Prometheus,
                "graphite" => MetricsKind::Graphite,
                other => {
                    let hint = match closest(other, ["prometheus", "graphite"]) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => "accepted: \"graphite\", \"prometheus\"".into(),
                    };
                    self.error(Some(&s.span()), format!("{name}: unknown source {:?}", s.get_ref()), hint);
                    return None;
                }
            },
        };
        let url = match url {
            Some(u) => self.source_url(&format!("{name}: url"), u)?,
            None => match metrics.iter().find(|m| m.kind == kind) {
                Some(m) => m.url.clone(),
                None => {
                    let k = if kind == MetricsKind::Prometheus { "prometheus" } else { "graphite" };
                    self.error(
                        Some(header),
                        format!("{name} has no url, and no [[metrics]] source of kind {k} to take it from"),
                        "e.g. url = \"http://graphite.example.com:8080\"".to_string(),
                    );
                    return None;
                }
            },
        };
        Some((kind, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    const PANEL: &str = "[[panel]]\ntitle = \"logins/s\"\nsource = \"graphite\"\nurl = \"http://127.0.0.1:8080\"\n";

    #[test]
    fn a_panel_with_its_defaults_and_from_a_metrics_source() {
        let c = ok(
            &format!("{PANEL}target = \"stats.web.logins\"\nwarn = 10\ncrit = 5\nworse = \"lower\"\n{SHARD}"),
            &fixture_env(),
        )
        .config;
        let p = &c.panels[0];
        assert_eq!(
            (p.title.as_str(), p.source, p.url.as_str()),
            ("logins/s", MetricsKind::Graphite, "http://127.0.0.1:8080")
        );
        assert_eq!(
            (p.query.as_str(), p.warn, p.crit, p.lower_is_worse),
            ("stats.web.logins", Some(10.0), Some(5.0), true)
        );
        assert_eq!(
            (p.compare, p.interval, p.reduce, p.line),
            (Some(PanelConfig::DEFAULT_COMPARE), PanelConfig::DEFAULT_INTERVAL, Reduce::Sum, 1)
        );
        // The URL of the first [[metrics]] of that kind.
        let text = format!(
            "[[metrics]]\nkind = \"prometheus\"\nurl = \"http://prom:9090/\"\n[defaults]\nuser = \"m\"\n\
             [[panel]]\ntitle = \"orders\"\nsource = \"prometheus\"\nquery = \"sum(rate(orders_total[1m]))\"\ncompare = \"none\"\n{SHARD}"
        );
        let c = ok(&text, &fixture_env()).config;
        assert_eq!((c.panels[0].url.as_str(), c.panels[0].compare), ("http://prom:9090", None));
    }

    #[test]
    fn errors_name_the_panel_and_the_line() {
        let e = err(&format!("{PANEL}query = \"x\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(5), "[[panel]] \"logins/s\": query is PromQL; a graphite panel takes target"), "{e}");
        let e = err(&format!("{PANEL}\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "[[panel]] \"logins/s\" has nothing to show"), "{e}");
        let e = err(&format!("{PANEL}target = \"a\"\nwarn = 5\ncrit = 3\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(6), "[[panel]] \"logins/s\": warn (5) must be below crit (3)"), "{e}");
        let e =
            err(&format!("{PANEL}target = \"a\"\nreduce = \"avg\"\ncompare = \"yesterday\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(6), "reduce = \"avg\" is unknown"), "{e}");
        assert!(has(&e, Some(7), "[[panel]] \"logins/s\": compare: bad duration"), "{e}");
        let c = ok(&format!("{PANEL}target = \"a\"\ncompare = \"2w\"\n{SHARD}"), &fixture_env()).config;
        assert_eq!(c.panels[0].compare, Some(Duration::from_secs(14 * 86_400)));
        let e =
            err(&format!("[[panel]]\ntitle = \"x\"\nsource = \"prometheus\"\nquery = \"up\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "no url, and no [[metrics]] source of kind prometheus"), "{e}");
        let e = err(&format!("[[panel]]\ntitle = \"x\"\nsource = \"grafite\"\n{SHARD}"), &fixture_env());
        assert!(
            has(&e, Some(3), "unknown source \"grafite\"") && e.to_string().contains("did you mean \"graphite\""),
            "{e}"
        );
        let e = err(&format!("{PANEL}target = \"a\"\n{PANEL}target = \"b\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(6), "another panel has the same title"), "{e}");
        let e = err(&format!("{PANEL}target = \"a\"\ncolour = \"red\"\n{SHARD}"), &fixture_env());
        assert!(e.to_string().contains("unknown key `colour` in [[panel]]"), "{e}");
    }

    #[test]
    fn reduce_folds_series() {
        let v = [1.0, 4.0, 2.5];
        assert_eq!(Reduce::Sum.apply(&v), Some(7.5));
        assert_eq!(Reduce::Max.apply(&v), Some(4.0));
        assert_eq!(Reduce::Min.apply(&v), Some(1.0));
        assert_eq!(Reduce::Mean.apply(&v), Some(2.5));
        assert_eq!(Reduce::Sum.apply(&[]), None);
    }
}
