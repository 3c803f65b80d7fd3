//! `shardtop replay`: a recording read back — the fleet at a moment as `snapshot` prints it
//! (`--snapshot-at`), the events of a window (`--events`), or the TUI (`replay_tui`).

use super::record::recording_path;
use super::{CmdResult, CommandError, load_config};
use crate::cli::{Cli, Format, ReplayArgs};
use crate::record::Recording;
use crate::record::store::severity_name;
use crate::record::wire::from_ms;
use crate::snapshot::Report;
use crate::ui::replay::Replay;
use crate::ui::theme::Theme;

pub async fn replay(cli: &Cli, args: &ReplayArgs) -> CmdResult {
    // --snapshot-at is a monitoring check's output: failures before data are UNKNOWN (3).
    let code = if args.snapshot_at.is_some() { 3 } else { 1 };
    let cfg = cli.config.path.as_ref().map(|_| load_config(cli, code)).transpose()?.map(|l| l.config);
    let path = recording_path(args.recording.as_ref(), cfg.as_ref());
    let rec = Recording::open(&path).map_err(|e| CommandError::new(code, e.to_string()))?;
    let span = rec
        .span()
        .map_err(|e| CommandError::new(code, e.to_string()))?
        .ok_or_else(|| CommandError::new(code, format!("{}: nothing recorded yet", path.display())))?;
    let time = |s: &str, what: &str| {
        crate::record::time::parse(s, span).map_err(|e| CommandError::new(code, format!("--{what}: {e}")))
    };
    if let Some(at) = &args.snapshot_at {
        let t = time(at, "snapshot-at")?;
        if t < span.0 || t > span.1 {
            return Err(CommandError::new(
                3,
                format!(
                    "--snapshot-at {at}: {} is outside the recording ({} to {})",
                    from_ms(t),
                    from_ms(span.0),
                    from_ms(span.1)
                ),
            ));
        }
        let r = Replay::at(&rec, t, Theme::plain()).map_err(|e| CommandError::new(3, e.to_string()))?;
        let report = Report::new(&r.app.fleet, from_ms(t));
        match args.format {
            Format::Json => println!("{}", report.to_json()),
            Format::Table => print!("{}", report.to_table()),
        }
        return Ok(report.exit_code() as u8);
    }
    if args.events {
        let (from, to) = (time(&args.from, "from")?, time(&args.to, "to")?);
        let events = rec.events(from, to).map_err(|e| CommandError::new(1, e.to_string()))?;
        match args.format {
            Format::Json => {
                let list: Vec<serde_json::Value> = events
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "at": from_ms(e.at_ms),
                            "severity": severity_name(e.severity),
                            "shard": e.shard,
                            "rule": e.rule,
                            "message": e.message,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            }
            Format::Table => {
                for e in &events {
                    let at = from_ms(e.at_ms).format("%Y-%m-%d %H:%M:%S%.3f");
                    println!("{at} {:<7} {}: {}", e.severity.label(), e.shard, e.message);
                }
            }
        }
        return Ok(0);
    }
    super::replay_tui::run(cli, args.at.as_deref(), args.speed, rec, span).await
}
