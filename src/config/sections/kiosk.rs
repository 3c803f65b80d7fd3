//! `[kiosk]`: the wall display's playlist. `views` lists what the kiosk shows, in order, each
//! entry a view's name and optionally how long it stays up: `views = ["wall 60s", "overview",
//! "topology 20s", "unhealthy 10s"]`. Without a duration a view stays `[ui] kiosk_rotate`.
//! `unhealthy` stands for the pages of the shards in trouble, worst first.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::parse_duration;
use crate::config::schema::Opt;
use crate::config::validate::Checker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KioskView {
    Wall,
    Overview,
    Topology,
    Unhealthy,
}

impl KioskView {
    pub const ALL: [(&'static str, KioskView); 4] = [
        ("wall", KioskView::Wall),
        ("overview", KioskView::Overview),
        ("topology", KioskView::Topology),
        ("unhealthy", KioskView::Unhealthy),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskConfig {
    /// The playlist: each view and how long it stays up (`None`: `[ui] kiosk_rotate`).
    pub views: Vec<(KioskView, Option<Duration>)>,
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig { views: KioskView::ALL.iter().map(|&(_, v)| (v, None)).collect() }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawKiosk {
    pub views: Opt<Vec<String>>,
}

pub(in crate::config) const KEYS: &[&str] = &["views"];

/// One entry: `"wall"` or `"wall 60s"`; the error names what is wrong.
pub fn parse_entry(entry: &str) -> Result<(KioskView, Option<Duration>), (String, String)> {
    let mut words = entry.split_whitespace();
    let name = words.next().unwrap_or_default();
    let names: Vec<&str> = KioskView::ALL.iter().map(|(n, _)| *n).collect();
    let Some(view) = KioskView::ALL.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v) else {
        return Err((format!("kiosk.views: no view {name:?}"), format!("the views are {}", names.join(", "))));
    };
    let duration = match words.next() {
        None => None,
        Some(d) => match parse_duration(d) {
            Ok(d) if d.is_zero() => {
                return Err((format!("kiosk.views: {entry:?} stays up for no time"), "give it 5s or more".into()));
            }
            Ok(d) => Some(d),
            Err(e) => return Err((format!("kiosk.views: {entry:?}: bad duration: {e}"), e.hint())),
        },
    };
    if let Some(extra) = words.next() {
        return Err((
            format!("kiosk.views: {entry:?}: unexpected {extra:?}"),
            "write a view and a duration, e.g. \"wall 60s\"".into(),
        ));
    }
    Ok((view, duration))
}

impl Checker<'_> {
    pub(in crate::config) fn kiosk(&mut self, raw: RawKiosk) -> KioskConfig {
        let Some(list) = raw.views else { return KioskConfig::default() };
        let span = list.span();
        let mut views = Vec::new();
        for entry in list.into_inner() {
            match parse_entry(&entry) {
                Ok(v) => views.push(v),
                Err((message, hint)) => self.error(Some(&span), message, hint),
            }
        }
        if views.is_empty() {
            self.error(
                Some(&span),
                "kiosk.views is empty".into(),
                "leave it out for wall, overview, topology, unhealthy".to_string(),
            );
            return KioskConfig::default();
        }
        KioskConfig { views }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn entries_are_a_view_and_an_optional_duration() {
        assert_eq!(parse_entry("wall"), Ok((KioskView::Wall, None)));
        assert_eq!(parse_entry("Topology 20s"), Ok((KioskView::Topology, Some(Duration::from_secs(20)))));
        assert!(parse_entry("grid").is_err_and(|e| e.1.contains("wall, overview, topology, unhealthy")));
        assert!(parse_entry("wall soon").is_err_and(|e| e.0.contains("bad duration")));
        assert!(parse_entry("wall 0s").is_err_and(|e| e.0.contains("no time")));
        assert!(parse_entry("wall 10s please").is_err_and(|e| e.0.contains("unexpected")));
    }

    #[test]
    fn the_section_in_a_file() {
        let c = ok(&format!("[kiosk]\nviews = [\"wall 60s\", \"unhealthy\"]\n{SHARD}"), &fixture_env()).config;
        assert_eq!(c.kiosk.views, vec![(KioskView::Wall, Some(Duration::from_secs(60))), (KioskView::Unhealthy, None)]);
        assert_eq!(ok(SHARD, &fixture_env()).config.kiosk, KioskConfig::default());
        let e = err(&format!("[kiosk]\nviews = [\"wall\", \"grid\"]\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "kiosk.views: no view \"grid\""), "{e}");
        let e = err(&format!("[kiosk]\nviews = []\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "kiosk.views is empty"), "{e}");
        let e = err(&format!("[kiosk]\nplaylist = []\n{SHARD}"), &fixture_env());
        assert!(has(&e, Some(2), "the keys in [kiosk] are views"), "{e}");
    }
}
