//! Deploy markers' local store: one JSON object a line, `{"at":"2026-12-07T04:50:00Z","text":"deploy
//! web 2026.12.07-1"}`, appended by `shardtop mark` and read by the TUI (the wall draws them on its
//! charts). The file is `$SHARDTOP_MARKERS`, else `markers.jsonl` in the user's state directory
//! (`~/.local/state/shardtop/`). The recording store of issue 15 will take this over; until then
//! a plain file any deploy script can also append to (`echo '{"at":…,"text":…}' >> …`).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::wall::Marker;

/// Markers older than this are not loaded: the charts show the last hour.
const KEEP_HOURS: i64 = 24;
/// The newest markers kept in memory.
const MAX_MARKERS: usize = 200;

pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SHARDTOP_MARKERS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let base = dirs::state_dir().or_else(|| dirs::home_dir().map(|h| h.join(".local/state")));
    base.unwrap_or_else(std::env::temp_dir).join("shardtop").join("markers.jsonl")
}

/// Append one marker (creating the file and its directory).
pub fn append(path: &Path, at: DateTime<Utc>, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let line = serde_json::json!({ "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "text": text });
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(f, "{line}")
}

/// The markers in a store's text, oldest first; lines that are not a marker are skipped (a
/// half-written last line, a hand edit), with their number for the log.
pub fn parse(text: &str, now: DateTime<Utc>) -> (Vec<Marker>, Vec<usize>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Option<serde_json::Value> = serde_json::from_str(line).ok();
        let at = v.as_ref().and_then(|v| v.get("at")?.as_str()).and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        let text = v.as_ref().and_then(|v| v.get("text")?.as_str().map(str::to_string));
        match (at, text) {
            (Some(at), Some(text)) => {
                let at = at.with_timezone(&Utc);
                if now - at <= chrono::Duration::hours(KEEP_HOURS) {
                    out.push(Marker { at, text });
                }
            }
            _ => bad.push(n + 1),
        }
    }
    out.sort_by_key(|m| m.at);
    let skip = out.len().saturating_sub(MAX_MARKERS);
    (out.split_off(skip), bad)
}

/// Read the store; a missing file is no markers.
pub fn read(path: &Path, now: DateTime<Utc>) -> std::io::Result<Vec<Marker>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (markers, bad) = parse(&text, now);
            if !bad.is_empty() {
                log::warn!(target: "markers", "{}: lines {bad:?} are not markers, skipped", path.display());
            }
            Ok(markers)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The store's modification time, to re-read it only when it changed.
pub fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn parse_keeps_good_lines_sorted_and_names_bad_ones() {
        let text = concat!(
            "{\"at\":\"2026-12-07T04:50:00Z\",\"text\":\"deploy web 2026.12.07-1\"}\n",
            "not json\n",
            "\n",
            "{\"at\":\"2026-12-07T04:10:00+01:00\",\"text\":\"deploy api\"}\n",
            "{\"at\":\"2026-12-01T00:00:00Z\",\"text\":\"too old\"}\n",
            "{\"at\":\"2026-12-07T04:5",
        );
        let (m, bad) = parse(text, t("2026-12-07T05:00:00Z"));
        assert_eq!(m.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["deploy api", "deploy web 2026.12.07-1"]);
        assert_eq!(m[0].at, t("2026-12-07T03:10:00Z"));
        assert_eq!(bad, vec![2, 6]);
    }

    #[test]
    fn append_then_read_round_trips() {
        let dir = std::env::temp_dir().join(format!("shardtop-markers-{}", std::process::id()));
        let path = dir.join("sub").join("markers.jsonl");
        let now = t("2026-12-07T05:00:00Z");
        append(&path, now, "deploy web \"quoted\" ünïcode").expect("append");
        append(&path, now + chrono::Duration::seconds(1), "second").expect("append");
        let m = read(&path, now).expect("read");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].text, "deploy web \"quoted\" ünïcode");
        assert!(read(&dir.join("missing"), now).expect("missing is empty").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
