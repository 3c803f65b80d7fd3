//! The same time yesterday, for the wall's tiles: the fleet's figures around now − 24 h, read
//! from a recording by feeding it through the model (as `replay` does), so yesterday's QPS, lag
//! and feed p99 are the model's own figures, not a second implementation of them. Without a
//! recording of yesterday the tiles compare with the period before instead, and say so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::app::Message;
use super::replay::Replay;
use super::theme::Theme;
use super::wall::Point;
use crate::record::Recording;
use crate::record::store::StoreError;
use crate::record::wire::ms;

/// The window read each time: from a little before the same time yesterday to a little more
/// than [`REFRESH`] after it, so the tiles always find yesterday's points until the next read.
pub const BEFORE: Duration = Duration::from_secs(120);
pub const AFTER: Duration = Duration::from_secs(480);
/// How often the window is read again.
pub const REFRESH: Duration = Duration::from_secs(300);
/// The recording is fed through the model this much at a time (bounded memory at a thousand shards).
const STEP_MS: i64 = 30_000;

/// The wall's points recorded between `from` and `to` (none when the recording does not cover
/// them), oldest first.
pub fn points(rec: &Recording, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Point>, StoreError> {
    let (from_ms, to_ms) = (ms(from), ms(to));
    match rec.span()? {
        Some((first, last)) if first <= to_ms && last >= from_ms => {}
        _ => return Ok(Vec::new()),
    }
    let mut replay = Replay::at(rec, from_ms, Theme::plain())?;
    let mut t = from_ms;
    while t < to_ms {
        t = (t + STEP_MS).min(to_ms);
        replay.advance(rec, t)?;
    }
    Ok(replay.app.wall.points.iter().filter(|p| p.at >= from && p.at <= to && p.qps.is_some()).copied().collect())
}

/// Yesterday's window around `now` from the recording at `path`: empty when there is no such
/// file or it does not reach back a day.
pub fn read(path: &Path, now: DateTime<Utc>) -> Result<Vec<Point>, StoreError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let rec = Recording::open(path)?;
    let then = now - chrono::Duration::days(1);
    let d = |x: Duration| chrono::Duration::from_std(x).unwrap_or_default();
    points(&rec, then - d(BEFORE), then + d(AFTER))
}

/// Every [`REFRESH`], yesterday's window from the recording at `path` to the wall, until the UI
/// goes. Reading replays minutes of a fleet: it runs on a blocking thread. What it found is said
/// once in the event log, and again when that changes.
pub async fn run(path: PathBuf, tx: mpsc::Sender<Message>) {
    let mut ticker = tokio::time::interval(REFRESH);
    let mut said: Option<bool> = None;
    loop {
        ticker.tick().await;
        let p = path.clone();
        let found = match tokio::task::spawn_blocking(move || read(&p, Utc::now())).await {
            Ok(Ok(points)) => points,
            Ok(Err(e)) => {
                log::warn!(target: "fleet", "the wall cannot read yesterday from {}: {e}", path.display());
                Vec::new()
            }
            Err(_) => return,
        };
        let has = !found.is_empty();
        if said != Some(has) {
            if has {
                log::info!(target: "fleet", "wall tiles compare with the same time yesterday ({})", path.display());
            } else {
                log::info!(target: "fleet", "no recording of yesterday at {}: wall tiles compare with the period before", path.display());
            }
            said = Some(has);
        }
        if tx.send(Message::WallYesterday(found)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, Limits};
    use crate::ui::app::{App, View};
    use crate::ui::replay_tests::{at, record_demo};
    use crate::ui::wall::{Baseline, Metric, YESTERDAY_SLACK, change};

    #[test]
    fn the_tiles_compare_with_the_same_time_yesterday_from_a_recording() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleet.db");
        record_demo(&path, 300.0);
        let rec = Recording::open(&path).expect("open");
        // The model's own figures, one point per bucket, inside the window.
        let got = points(&rec, at(60.0), at(240.0)).expect("points");
        assert!(got.len() >= 15, "{got:?}");
        assert!(got.iter().all(|p| p.at >= at(60.0) && p.at <= at(240.0) && p.qps.is_some_and(|q| q > 1000.0)));
        assert!(got.windows(2).all(|w| w[0].at < w[1].at));
        // A day later, the same time is found; three days later, or with no file, nothing.
        let now = at(150.0) + chrono::Duration::days(1);
        let yesterday = read(&path, now).expect("read");
        assert!(yesterday.iter().any(|p| (p.at - at(150.0)).abs() <= YESTERDAY_SLACK), "{yesterday:?}");
        assert!(read(&path, now + chrono::Duration::days(2)).expect("read").is_empty());
        assert!(read(&dir.path().join("none.db"), now).expect("no file").is_empty());

        // The live wall at twice yesterday's QPS says +100 % vs yesterday; without the
        // recording, it compares with the period before.
        let near: Vec<f64> =
            yesterday.iter().filter(|p| (p.at - at(150.0)).abs() <= YESTERDAY_SLACK).filter_map(|p| p.qps).collect();
        let base = near.iter().sum::<f64>() / near.len() as f64;
        let sim = crate::sim::SimFleet::default();
        let mut app =
            App::new(Fleet::new(sim.layout(), Limits::default()), Theme::plain(), "demo", Duration::from_secs(2));
        app.now = now;
        app.view = View::Wall;
        for k in (0..=60).rev() {
            let qps = if k == 0 { 2.0 * base } else { base };
            app.wall.push(Point { at: now - chrono::Duration::seconds(10 * k), qps: Some(qps), ..Point::default() });
        }
        let screen = |app: &App| {
            let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).expect("terminal");
            term.draw(|f| {
                crate::ui::views::draw(app, f);
            })
            .expect("draw");
            crate::ui::terminal_tests::text(term.backend().buffer())
        };
        assert!(screen(&app).contains("▲+100% vs 5m ago"), "{}", screen(&app));
        app.update(Message::WallYesterday(yesterday));
        let (c, b) = change(&app.wall, Metric::Qps).expect("change");
        assert_eq!(b, Baseline::Yesterday);
        assert!((c - 1.0).abs() < 1e-9, "{c}");
        assert!(screen(&app).contains("▲+100% vs yesterday"), "{}", screen(&app));
    }
}
