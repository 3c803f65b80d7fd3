//! `[[markers]]`: deploy markers from where deploys are already recorded, beside those of
//! `shardtop mark`: Graphite events (`/events/get_data`, optionally only some tags), or a
//! Prometheus query whose series are non-zero when something happened (as Grafana's
//! Prometheus annotations: each start of a non-zero run is a marker).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::MetricsKind;
use crate::config::duration::DurationInput;
use crate::config::schema::Opt;
use crate::config::sections::metrics::MetricsConfig;
use crate::config::validate::Checker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerSourceConfig {
    /// For messages: "[[markers]] #1 (graphite)".
    pub name: String,
    pub source: MetricsKind,
    pub url: String,
    /// Graphite: only events with these tags (all of them); empty: every event.
    pub tags: Vec<String>,
    /// Prometheus: the expression; a series non-zero at a step is "something happened".
    pub query: Option<String>,
    /// Prometheus: the label whose value is the marker's text (e.g. "version").
    pub text_label: Option<String>,
    /// The marker's text when no label gives one (default "deploy").
    pub text: String,
    pub interval: Duration,
    pub timeout: Duration,
}

impl MarkerSourceConfig {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawMarkers {
    pub source: Opt<String>,
    pub url: Opt<String>,
    pub tags: Opt<Vec<String>>,
    pub query: Opt<String>,
    pub text_label: Opt<String>,
    pub text: Opt<String>,
    pub interval: Opt<DurationInput>,
    pub timeout: Opt<DurationInput>,
}

pub(in crate::config) const KEYS: &[&str] =
    &["source", "url", "tags", "query", "text_label", "text", "interval", "timeout"];

impl Checker<'_> {
    pub(in crate::config) fn marker_sources(
        &mut self,
        raw: Vec<Spanned<RawMarkers>>,
        metrics: &[MetricsConfig],
    ) -> Vec<MarkerSourceConfig> {
        raw.into_iter().enumerate().filter_map(|(i, m)| self.one_marker_source(i + 1, m, metrics)).collect()
    }

    fn one_marker_source(
        &mut self,
        number: usize,
        raw: Spanned<RawMarkers>,
        metrics: &[MetricsConfig],
    ) -> Option<MarkerSourceConfig> {
        let header = raw.span();
        let raw = raw.into_inner();
        let word = raw.source.as_ref().map(|s| s.get_ref().trim().to_ascii_lowercase()).unwrap_or_default();
        let name = format!("[[markers]] #{number} ({word})");
        let (source, url) = self.source_and_url(&name, &header, &raw.source, &raw.url, metrics)?;
        let query = raw.query.as_ref().map(|q| (q.span(), q.get_ref().trim().to_string()));
        match (source, &query) {
            (MetricsKind::Prometheus, None) => {
                self.error(
                    Some(&header),
                    format!("{name} has no query"),
                    "e.g. query = \"changes(app_build_info[1m]) > 0\", text_label = \"version\"".to_string(),
                );
                return None;
            }
            (MetricsKind::Prometheus, Some((span, q))) if q.is_empty() => {
                self.error(Some(span), format!("{name}: the query is empty"), None);
                return None;
            }
            (MetricsKind::Graphite, Some((span, _))) => {
                self.error(
                    Some(span),
                    format!("{name}: Graphite markers are its events; query is for prometheus"),
                    "choose events by tags = [\"deploy\"]".to_string(),
                );
                return None;
            }
            _ => {}
        }
        if source == MetricsKind::Prometheus
            && let Some(t) = &raw.tags
        {
            self.error(Some(&t.span()), format!("{name}: tags are for Graphite events"), None);
        }
        if source == MetricsKind::Graphite
            && let Some(t) = &raw.text_label
        {
            self.error(Some(&t.span()), format!("{name}: text_label is for a Prometheus query"), None);
        }
        let tags: Vec<String> = raw.tags.map(|t| t.into_inner()).unwrap_or_default();
        if let Some(bad) = tags.iter().find(|t| t.trim().is_empty() || t.contains(char::is_whitespace)) {
            self.error(Some(&header), format!("{name}: tag {bad:?} is empty or has spaces"), None);
        }
        let interval = self.duration("markers.interval", raw.interval, MarkerSourceConfig::DEFAULT_INTERVAL);
        let timeout = self.duration("markers.timeout", raw.timeout, MarkerSourceConfig::DEFAULT_TIMEOUT);
        if let (Some(i), Some(t)) = (&interval, &timeout)
            && t.v > i.v
        {
            self.error(
                t.span.as_ref().or(i.span.as_ref()),
                format!("{name}: timeout ({}) is longer than interval ({})", t.describe(), i.describe()),
                "lower timeout or raise interval".to_string(),
            );
        }
        Some(MarkerSourceConfig {
            name,
            source,
            url,
            tags,
            query: query.map(|q| q.1),
            text_label: raw.text_label.map(|t| t.into_inner()),
            text: raw.text.map(|t| t.into_inner()).filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "deploy".into()),
            interval: interval?.v,
            timeout: timeout?.v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn graphite_events_and_a_prometheus_query() {
        let text = format!(
            "[[markers]]\nsource = \"graphite\"\nurl = \"http://g:8080\"\ntags = [\"deploy\"]\n\
             [[markers]]\nsource = \"prometheus\"\nurl = \"http://p:9090\"\nquery = \"changes(build_info[1m]) > 0\"\ntext_label = \"version\"\n{SHARD}"
        );
        let c = ok(&text, &fixture_env()).config;
        assert_eq!(c.markers.len(), 2);
        assert_eq!(
            (c.markers[0].source, c.markers[0].tags.clone()),
            (MetricsKind::Graphite, vec!["deploy".to_string()])
        );
        assert_eq!(c.markers[1].query.as_deref(), Some("changes(build_info[1m]) > 0"));
        assert_eq!((c.markers[1].text_label.as_deref(), c.markers[1].text.as_str()), (Some("version"), "deploy"));
    }

    #[test]
    fn errors_name_the_entry_and_the_line() {
        let e = err(&format!("[[markers]]\nsource = \"prometheus\"\nurl = \"http://p:9090\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(1), "[[markers]] #1 (prometheus) has no query"), "{e}");
        let e = err(
            &format!("[[markers]]\nsource = \"graphite\"\nurl = \"http://g\"\nquery = \"x\"\n{SHARD}"),
            &fixture_env(),
        );
        assert!(has(&e, Some(4), "Graphite markers are its events"), "{e}");
        let e = err(&format!("[[markers]]\nsource = \"graphite\"\nurl = \"ftp://g\"\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(3), "[[markers]] #1 (graphite): url: scheme \"ftp\""), "{e}");
    }
}
