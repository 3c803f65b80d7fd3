//! A remote viewer whose collector is restarted with another config: the viewer-side stream
//! reader (what `--connect` runs) reconnects, sees the new shard list in the first `full` frame,
//! and the TUI's model (fed the reader's messages, as the terminal loop does) lays the fleet out
//! as the collector now has it; so does the remote TUI in a terminal, read off its screen.

use std::time::Duration;

use shardtop::fleet::external::{Figure, SourceState};
use shardtop::fleet::{Fleet, Limits, Shard, Source};
use shardtop::serve::viewer::{self, Remote};
use shardtop::ui::app::{App, Effect, Message};
use shardtop::ui::theme::Theme;

use super::{RELAXED, free_port, start_serve};

/// s44–s45, then the same port with s44–s47: the viewer shows the four, s44 and s45 keep their
/// place in the model, one event names what was added, and the updates after it cover the four.
/// (Read-only: nothing is done to the servers.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_restarted_with_more_shards_is_laid_out_anew_in_the_viewer() {
    let sb = sandbox_or_skip!();
    let dir = tempfile::tempdir().expect("temp dir");
    let two = sb.config_with(&["s44", "s45"], false, RELAXED);
    let four = sb.config_with(&["s44", "s45", "s46", "s47"], false, RELAXED);
    let port = free_port();
    let serve = start_serve(&sb, dir.path(), &two, port, &[], &[]);
    let remote = Remote::new(&format!("http://127.0.0.1:{port}"), None, None).expect("remote");
    let (first, events) = remote.first().await.unwrap_or_else(|e| panic!("{e}: {}", serve.log()));
    // The model as `--connect` builds it from the first frame.
    let shards = viewer::layout(&first).into_iter().map(|(n, m)| Shard::new(n, m, [], None)).collect();
    let mut fleet = Fleet::new(shards, Limits::default());
    fleet.sources = vec![SourceState::new(remote.name(), Source::Collector)];
    let mut app = App::new(fleet.metrics_only(), Theme::plain(), remote.name(), Duration::from_secs(5));
    let names = |app: &App| app.fleet.shards.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&app), ["s44", "s45"]);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(256);
    let reader = tokio::spawn(viewer::run(remote, first, events, tx));
    // And as an operator sees it: the remote TUI in a terminal, its event log also in a file.
    let home = dir.path().to_str().expect("utf-8");
    let tui_log = dir.path().join("tui-events.log");
    let base = format!("http://127.0.0.1:{port}");
    let env = [("HOME", home), ("SHARDTOP_LOG_FILE", tui_log.to_str().expect("utf-8"))];
    let tui = super::TuiInPty::spawn(&sb.bin(), &["--connect", &base, "--color", "never"], &env);
    // A shard's row in the overview: its name, then its master's address.
    let row = |screen: &str, shard: &str| {
        let master = sb.addr(&format!("{shard}-m"));
        screen.lines().any(|l| l.split_whitespace().collect::<Vec<_>>().windows(2).any(|w| w == [shard, &master]))
    };
    let screen = tui
        .wait_for_screen(Duration::from_secs(20), |s| row(s, "s44") && row(s, "s45"))
        .unwrap_or_else(|s| panic!("the first collector's shards not on the screen:\n{s}\n{}", serve.log()));
    assert!(!row(&screen, "s46") && screen.contains("2 shards"), "{screen}");

    // The first update, then the collector goes and comes back with four shards.
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an update").expect("open");
    app.update(got);
    let log = serve.log();
    drop(serve);
    let serve = start_serve(&sb, dir.path(), &four, port, &[], &[]);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut said = Vec::new();
    let covered = loop {
        let m = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("no update of four shards; model {:?}; events {said:?}\n{log}\n{}", names(&app), serve.log())
            })
            .expect("the reader runs");
        let healths: Option<Vec<usize>> = match &m {
            Message::Metrics(u) if u.error.is_none() => {
                Some(u.values.iter().filter(|(_, f, _)| *f == Figure::Health).map(|(k, _, _)| *k).collect())
            }
            _ => None,
        };
        for e in app.update(m) {
            if let Effect::Events(e) = e {
                said.extend(e.into_iter().map(|e| e.message));
            }
        }
        if let Some(h) = healths.filter(|h| h.len() == 4) {
            break h;
        }
    };
    reader.abort();
    assert_eq!(names(&app), ["s44", "s45", "s46", "s47"], "the collector's shards, in its order");
    assert_eq!(covered, [0, 1, 2, 3], "each shard's health, by its place in the new layout");
    let relaid: Vec<&String> = said.iter().filter(|m| m.starts_with("the collector now watches")).collect();
    assert_eq!(relaid, ["the collector now watches 4 shards: +s46 +s47"], "{said:?}");
    // The terminal's own reader keeps its own pace (up to 8 s between attempts, each up to 10 s
    // while the new collector finishes its first sweep). Read off the screen: the TUI rewrites
    // only the cells that change, so "s46" in a row that said "s45" is never written whole.
    let relaid = "the collector now watches 4 shards: +s46 +s47";
    let shown = tui.wait_for_screen(Duration::from_secs(60), |s| {
        ["s44", "s45", "s46", "s47"].iter().all(|n| row(s, n))
            && s.contains("4 shards")
            && std::fs::read_to_string(&tui_log).is_ok_and(|l| l.contains(relaid))
    });
    if let Err(screen) = shown {
        panic!(
            "the remote TUI did not lay out the four shards (the in-process reader did: {said:?})\n\
             screen:\n{screen}\nits event log:\n{}\nfirst collector:\n{log}\nsecond collector:\n{}",
            std::fs::read_to_string(&tui_log).unwrap_or_default(),
            serve.log()
        );
    }
    for s in &app.fleet.shards {
        assert!(s.instances.len() >= 3, "{}: its servers as the collector sees them", s.name);
    }
    drop(serve);
}
