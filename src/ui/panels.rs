//! The wall's application panels (`[[panel]]`) and the marker sources (`[[markers]]`) as the
//! model keeps them: each panel's last reading and whether its source answers; each source's
//! markers, merged with those of `shardtop mark` for the charts. Pure: the readers are in
//! `metrics::panel` and `metrics::markers`.

use chrono::{DateTime, Utc};

use super::wall::Marker;
use crate::config::PanelConfig;
use crate::fleet::{Event, Health};
use crate::metrics::markers::MarkerUpdate;
use crate::metrics::panel::{PanelReading, PanelUpdate};

#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub cfg: PanelConfig,
    /// The last good reading (kept while the source is down, shown greyed).
    pub reading: Option<PanelReading>,
    pub last_ok: Option<DateTime<Utc>>,
    /// Why the last read failed; `None` once it answers again.
    pub error: Option<String>,
}

impl Panel {
    pub fn new(cfg: PanelConfig) -> Panel {
        Panel { cfg, reading: None, last_ok: None, error: None }
    }

    /// Its source's name for messages: "graphite 127.0.0.1:8080".
    pub fn source_name(&self) -> String {
        let kind = match self.cfg.source {
            crate::config::MetricsKind::Graphite => "graphite",
            crate::config::MetricsKind::Prometheus => "prometheus",
        };
        format!("{kind} {}", self.host())
    }

    /// The source's host:port.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.cfg.url)
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0))))
            .unwrap_or_default()
    }

    /// The reading is older than three intervals: what it shows is not current.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let limit = chrono::Duration::from_std(self.cfg.interval * 3).unwrap_or(chrono::Duration::seconds(30));
        self.last_ok.is_none_or(|t| now - t > limit)
    }

    /// Take one read; an event when the source goes down or comes back.
    pub fn apply(&mut self, u: PanelUpdate) -> Option<Event> {
        let was_down = self.error.is_some();
        let event = |severity, message: String| Event {
            shard: format!("panel {}", self.cfg.title),
            severity,
            message,
            rule: "",
        };
        match u.result {
            Ok(r) => {
                self.reading = Some(r);
                self.last_ok = Some(u.at);
                self.error = None;
                was_down.then(|| event(Health::Ok, format!("recovered: {} answers again", self.source_name())))
            }
            Err(e) => {
                let first = !was_down;
                let message = format!("{} down: {e}", self.source_name());
                self.error = Some(e);
                first.then(|| event(Health::Warning, message))
            }
        }
    }
}

/// The markers of every origin: the local store first, then each `[[markers]]` source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MarkerSets {
    pub local: Vec<Marker>,
    /// Per source: its last markers, and why its last read failed.
    pub sources: Vec<(Vec<Marker>, Option<String>)>,
}

impl MarkerSets {
    /// Every marker, oldest first; the same text at the same second from two origins once.
    pub fn merged(&self) -> Vec<Marker> {
        let mut all: Vec<Marker> =
            self.local.iter().chain(self.sources.iter().flat_map(|s| s.0.iter())).cloned().collect();
        all.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.text.cmp(&b.text)));
        all.dedup_by(|a, b| a.at.timestamp() == b.at.timestamp() && a.text == b.text);
        all
    }

    /// One read of a source; an event when it goes down or comes back. A failed read keeps the
    /// source's markers (a deploy does not un-happen because Graphite is slow).
    pub fn apply(&mut self, u: MarkerUpdate) -> Option<Event> {
        if self.sources.len() <= u.source {
            self.sources.resize(u.source + 1, (Vec::new(), None));
        }
        let (markers, error) = &mut self.sources[u.source];
        let was_down = error.is_some();
        let event = |severity, message: String| Event { shard: u.name.clone(), severity, message, rule: "" };
        match u.result {
            Ok(list) => {
                *markers = list.into_iter().map(|(at, text)| Marker { at, text }).collect();
                *error = None;
                was_down.then(|| event(Health::Ok, "recovered: markers source answers again".into()))
            }
            Err(e) => {
                let message = format!("markers source down: {e}");
                *error = Some(e);
                (!was_down).then(|| event(Health::Warning, message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        chrono::TimeZone::timestamp_opt(&Utc, 1_764_000_000 + s, 0).single().unwrap_or_default()
    }

    #[test]
    fn markers_merge_sorted_and_once() {
        let mut m = MarkerSets { local: vec![Marker { at: t(50), text: "deploy web".into() }], ..Default::default() };
        let ok = |list: Vec<(DateTime<Utc>, String)>| MarkerUpdate {
            source: 1,
            name: "[[markers]] #2".into(),
            result: Ok(list),
        };
        assert_eq!(m.apply(ok(vec![(t(10), "deploy api".into()), (t(50), "deploy web".into())])), None);
        let texts: Vec<String> = m.merged().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["deploy api", "deploy web"]);
        // Down: an event once, the markers kept; back: an event.
        let down = MarkerUpdate { source: 1, name: "[[markers]] #2".into(), result: Err("cannot connect".into()) };
        assert!(m.apply(down.clone()).is_some_and(|e| e.message.contains("cannot connect")));
        assert_eq!(m.apply(down), None);
        assert_eq!(m.merged().len(), 2);
        assert!(m.apply(ok(Vec::new())).is_some_and(|e| e.severity == Health::Ok));
    }
}
