//! The replay's terminal loop: the model fed from a recording instead of the poller, played,
//! paused, stepped and sought by the replay keys; every other key drives the views as live.

use std::io;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use super::app::Message;
use super::replay::{Control, Replay, on_key};
use super::{profile, render, term};
use crate::record::Recording;

/// Playback advances the model this often (times the speed).
const FRAME: Duration = Duration::from_millis(100);

pub async fn run(mut r: Replay, rec: Recording, profile: profile::Profile) -> io::Result<()> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return Err(io::Error::other(
            "stdout is not a terminal: the replay needs one (for scripts, use --snapshot-at or --events)",
        ));
    }
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            let _ = ratatui::try_restore();
            return Err(e);
        }
    };
    crossterm::style::force_color_output(r.app.color_depth != super::color::ColorDepth::None);
    term::install_panic_hook(profile.mouse);
    let result = event_loop(&mut terminal, &mut r, &rec).await;
    term::leave(profile.mouse)?;
    result
}

async fn event_loop(terminal: &mut ratatui::DefaultTerminal, r: &mut Replay, rec: &Recording) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut term_events = EventStream::new();
    let mut renderer = render::Renderer::default();
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last = Instant::now();
    loop {
        if let Some(bar) = r.app.replay.as_mut() {
            bar.at_ms = r.at_ms;
        }
        if r.app.dirty {
            renderer.draw(terminal, &mut r.app)?;
        }
        tokio::select! {
            ev = term_events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                    let control = match r.app.replay.as_mut() {
                        Some(bar) if !r.app.show_help && !r.app.editing_filter => on_key(bar, k),
                        _ => Control::Pass,
                    };
                    let done = match control {
                        Control::Pass => {
                            r.app.update(Message::Key(k));
                            Ok(())
                        }
                        // Only time travel has a live to go back to.
                        Control::Handled | Control::Live => Ok(()),
                        Control::Seek(t) => r.seek(rec, t),
                        Control::Step => {
                            let end = r.app.replay.as_ref().map_or(r.at_ms, |b| b.end_ms);
                            match r.next_time(rec, end) {
                                Ok(Some(t)) => r.advance(rec, t),
                                Ok(None) => Ok(()),
                                Err(e) => Err(e),
                            }
                        }
                    };
                    note(r, done.err().map(|e| e.to_string()));
                    r.app.dirty = true;
                }
                Some(Ok(TermEvent::Resize(..))) => {
                    r.app.update(Message::Resize);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = frames.tick() => {
                let elapsed = last.elapsed();
                last = Instant::now();
                let Some(bar) = r.app.replay.as_mut() else { continue };
                if bar.playing {
                    let mut target = r.at_ms + (elapsed.as_millis() as i64) * i64::from(bar.speed);
                    if target >= bar.end_ms {
                        target = bar.end_ms;
                        bar.playing = false;
                        bar.note = Some("end of the recording".into());
                    }
                    let done = r.advance(rec, target);
                    note(r, done.err().map(|e| e.to_string()));
                    r.app.dirty = true;
                }
            }
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
        if r.app.quit {
            return Ok(());
        }
    }
}

fn note(r: &mut Replay, error: Option<String>) {
    if let (Some(bar), Some(e)) = (r.app.replay.as_mut(), error) {
        bar.playing = false;
        bar.note = Some(e);
    }
}
