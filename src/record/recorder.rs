//! The recorder: what the poller, the feed probe, the metrics sources and the model said, appended
//! to a recording one block at a time. It is fed by whoever runs the model (`shardtop record`, or
//! the TUI with `--record`), so what is recorded is exactly what the model was given.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::codec::{TAG_METRICS, TAG_PROMOTED};
use super::codec3::ChainEncoder;
use super::reader::Recording;
use super::store::{EventRow, RawBlock, Store, StoreError, Totals};
use super::wire::{self, Layout, Promoted, ms};
use crate::fleet::external::MetricsUpdate;
use crate::fleet::status::Sample;
use crate::fleet::{Event, FeedRound, Health};
use crate::poll::Slot;

/// A block is closed after this much recorded time: what a killed recorder may lose at most.
pub const DEFAULT_BLOCK_SPAN: Duration = Duration::from_secs(30);
/// A new chain (a keyframe block, decodable alone) starts after this much recorded time: longer
/// chains store less (each keyframe holds every instance's complete sample), shorter ones seek
/// faster (a read decodes from its chain's keyframe). Measured in docs/recording.md.
pub const DEFAULT_KEYFRAME_SPAN: Duration = Duration::from_secs(300);
/// Retention is applied at start and then this often.
const TRIM_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub path: PathBuf,
    /// Keep this much history; `None`: keep everything.
    pub retention: Option<Duration>,
    pub block_span: Duration,
    /// The `[actions]` audit log, whose new lines are recorded as action steps.
    pub audit_log: Option<PathBuf>,
    /// The deploy markers' store (`shardtop mark`), whose new lines are recorded as markers.
    pub markers: Option<PathBuf>,
}

pub struct Recorder {
    store: Store,
    session: i64,
    enc: ChainEncoder,
    /// The chain being appended to, and when it started.
    chain: Option<(i64, i64)>,
    keyframe_span: Duration,
    samples: u32,
    events: Vec<EventRow>,
    opts: RecordOptions,
    last_trim_ms: i64,
    audit: Option<Tail>,
    markers: Option<Tail>,
    /// The in-memory recording's name, when it is one.
    memory: Option<String>,
}

impl Recorder {
    /// Open (or create) the recording and start a session with the fleet's layout.
    pub fn start(opts: RecordOptions, layout: &Layout, now: DateTime<Utc>) -> Result<Recorder, StoreError> {
        let store = Store::create_or_open(&opts.path)?;
        Recorder::with_store(store, None, opts, layout, now)
    }

    /// A recording kept in this process's memory under `name` (the live TUI's history when it
    /// records to no file); `opts.path` only names it in messages.
    pub fn in_memory(
        name: &str,
        opts: RecordOptions,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<Recorder, StoreError> {
        let store = Store::memory(name)?;
        Recorder::with_store(store, Some(name.to_string()), opts, layout, now)
    }

    fn with_store(
        store: Store,
        memory: Option<String>,
        opts: RecordOptions,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<Recorder, StoreError> {
        let session = store.begin_session(ms(now), layout)?;
        let audit = opts.audit_log.as_deref().map(Tail::from_end);
        let markers = opts.markers.as_deref().map(Tail::from_end);
        let mut r = Recorder {
            store,
            session,
            enc: ChainEncoder::default(),
            chain: None,
            // Retention drops whole chains: a chain is at most a quarter of the retention.
            keyframe_span: opts.retention.map_or(DEFAULT_KEYFRAME_SPAN, |r| DEFAULT_KEYFRAME_SPAN.min(r / 4)),
            samples: 0,
            events: Vec::new(),
            opts,
            last_trim_ms: i64::MIN,
            audit,
            markers,
            memory,
        };
        r.trim(now)?;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    /// Start a new chain after this much recorded time (default `DEFAULT_KEYFRAME_SPAN`).
    pub fn set_keyframe_span(&mut self, span: Duration) {
        self.keyframe_span = span;
    }

    pub fn sample(&mut self, slot: Slot, s: &Sample) {
        self.enc.sample(ms(s.at), slot.shard as u32, slot.instance as u32, &wire::sample_value(s));
        self.samples += 1;
    }

    pub fn feed(&mut self, r: &FeedRound) {
        self.enc.sample(ms(r.at), wire::FEED_SHARD, 0, &wire::feed_value(r));
    }

    pub fn metrics(&mut self, u: &MetricsUpdate) {
        self.enc.opaque(TAG_METRICS, ms(u.at), &wire::metrics_bytes(u));
    }

    pub fn promoted(&mut self, at: DateTime<Utc>, p: &Promoted) {
        self.enc.opaque(TAG_PROMOTED, ms(at), &serde_json::to_vec(p).unwrap_or_default());
    }

    /// A deploy marker (as `shardtop mark` writes to the markers' store).
    pub fn marker(&mut self, at: DateTime<Utc>, text: &str) {
        self.events.push(EventRow {
            at_ms: ms(at),
            severity: Health::Ok,
            shard: String::new(),
            rule: MARKER_RULE.into(),
            message: text.to_string(),
        });
    }

    /// Events the model raised at `at`.
    pub fn events(&mut self, at: DateTime<Utc>, events: &[Event]) {
        self.events.extend(events.iter().map(|e| EventRow {
            at_ms: ms(at),
            severity: e.severity,
            shard: e.shard.clone(),
            rule: e.rule.to_string(),
            message: e.message.clone(),
        }));
    }

    /// The clock moved on: close the block when it spans long enough, pick up new action steps,
    /// apply retention now and then.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.read_tails();
        let span = self.opts.block_span.as_millis() as i64;
        let due = self.enc.first_ms().is_some_and(|first| ms(now) - first >= span)
            || (self.enc.is_empty() && !self.events.is_empty());
        if due {
            self.flush()?;
        }
        // A short retention (tests, a small disk) is applied more often than every TRIM_EVERY.
        let every = self.opts.retention.map_or(TRIM_EVERY, |r| TRIM_EVERY.min(r / 4).max(self.opts.block_span));
        if ms(now) - self.last_trim_ms >= every.as_millis() as i64 {
            self.trim(now)?;
        }
        Ok(())
    }

    /// Commit the block being filled and the events so far.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.read_tails();
        let finished = self.enc.finish();
        let block = finished.as_ref().map(|b| RawBlock {
            keyframe: b.keyframe,
            chain: self.chain.map(|(id, _)| id),
            t0_ms: b.t0_ms,
            t1_ms: b.t1_ms,
            records: b.records,
            samples: self.samples,
            bytes: &b.bytes,
        });
        if block.is_none() && self.events.is_empty() {
            return Ok(());
        }
        let appended = self.store.append(self.session, block, &self.events);
        if appended.is_err() && finished.is_some() {
            // The chain's state moved on past a block that is not stored: start a new chain.
            self.enc.restart();
            self.chain = None;
        }
        let chain = appended?;
        if let (Some(id), Some(b)) = (chain, &finished) {
            let started = if b.keyframe { b.t0_ms } else { self.chain.map_or(b.t0_ms, |(_, t)| t) };
            self.chain = Some((id, started));
            if b.t1_ms - started >= self.keyframe_span.as_millis() as i64 {
                self.enc.restart();
            }
        }
        self.events.clear();
        self.samples = 0;
        Ok(())
    }

    /// New action steps and deploy markers, as events.
    fn read_tails(&mut self) {
        if let Some(a) = self.audit.as_mut() {
            self.events.extend(a.read_new().iter().filter_map(|l| audit_event(l)));
        }
        if let Some(m) = self.markers.as_mut() {
            self.events.extend(m.read_new().iter().filter_map(|l| marker_event(l)));
        }
    }

    fn trim(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.last_trim_ms = ms(now);
        if let Some(keep) = self.opts.retention {
            let cutoff = ms(now) - keep.as_millis() as i64;
            let n = self.store.trim(cutoff, Some(self.session), self.chain.map(|(id, _)| id))?;
            if n > 0 {
                log::info!(target: "record", "retention: dropped {n} blocks older than {}", wire::from_ms(cutoff));
            }
        }
        Ok(())
    }

    /// The recording as it stands, opened to read (what is still in the block being filled is
    /// not in it: `flush` first).
    pub fn reader(&self) -> Result<Recording, StoreError> {
        match &self.memory {
            Some(name) => Recording::from_store(Store::memory_read(name)?),
            None => Recording::open(&self.opts.path),
        }
    }

    pub fn totals(&self) -> Result<Totals, StoreError> {
        self.store.totals()
    }
}

/// Whatever way the recording ends (a command returning, a collector's loop dropped on a
/// signal), the block being filled is committed; only a kill loses it.
impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::error!(target: "record", "the recording's last block was not saved: {e}");
        }
    }
}

/// New complete lines of a JSON-lines file (the actions' audit log, the deploy markers), read
/// from where the recorder started: what `shardtop promote`/`failover`/`checksum` and `shardtop
/// mark` write from other processes lands in the recording as events.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn from_end(path: &Path) -> Tail {
        let offset = std::fs::metadata(path).map_or(0, |m| m.len());
        Tail { path: path.to_path_buf(), offset, partial: Vec::new() }
    }

    fn read_new(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return Vec::new() };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Rotated or truncated: start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.take(len - self.offset).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return Vec::new() };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        String::from_utf8_lossy(&complete).lines().map(str::to_string).collect()
    }
}

/// The rule of a deploy marker's event.
pub const MARKER_RULE: &str = "marker";

/// One line of the markers' store as an event: rule `marker`, the marker's text.
fn marker_event(line: &str) -> Option<EventRow> {
    // The store's line format (`ui::markers`): {"at": RFC 3339, "text": …}.
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let at = DateTime::parse_from_rfc3339(v.get("at")?.as_str()?).ok()?.with_timezone(&Utc);
    let text = v.get("text")?.as_str()?.to_string();
    Some(EventRow {
        at_ms: ms(at),
        severity: Health::Ok,
        shard: String::new(),
        rule: MARKER_RULE.into(),
        message: text,
    })
}

/// One audit line as an event: `action:<name>` rule, "step phase: detail".
fn audit_event(line: &str) -> Option<EventRow> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let at = DateTime::parse_from_rfc3339(&s("ts")).ok()?.with_timezone(&Utc);
    let phase = s("phase");
    let severity = match phase.as_str() {
        "failed" | "rollback" => Health::Critical,
        _ => Health::Ok,
    };
    let detail = s("detail");
    let message = if detail.is_empty() {
        format!("{} {} {phase}", s("action"), s("step"))
    } else {
        format!("{} {} {phase}: {detail}", s("action"), s("step"))
    };
    Some(EventRow { at_ms: ms(at), severity, shard: s("shard"), rule: format!("action:{}", s("action")), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_become_events_and_partial_lines_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(
            &path,
            "{\"ts\":\"2026-01-01T00:00:00Z\",\"action\":\"promote\",\"step\":\"old\",\"phase\":\"ok\"}\n",
        )
        .unwrap();
        let mut tail = Tail::from_end(&path);
        assert!(tail.read_new().is_empty(), "lines before the recorder started are not its");
        let read = |tail: &mut Tail| tail.read_new().iter().filter_map(|l| audit_event(l)).collect::<Vec<_>>();
        let line = "{\"ts\":\"2026-01-01T00:00:01.5Z\",\"run\":\"r\",\"action\":\"promote\",\"shard\":\"s41\",\"step\":\"freeze\",\"phase\":\"failed\",\"detail\":\"no\"}\n";
        let (a, b) = line.split_at(40);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(a.as_bytes()).unwrap();
        assert!(read(&mut tail).is_empty());
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b.as_bytes()).unwrap();
        let got = read(&mut tail);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "promote freeze failed: no");
        assert_eq!(
            (got[0].rule.as_str(), got[0].shard.as_str(), got[0].severity),
            ("action:promote", "s41", Health::Critical)
        );
        assert_eq!(got[0].at_ms, 1_767_225_601_500);
    }

    use std::io::Write as _;
}
