//! `shardtop mark TEXT`: a deploy (or any) marker for the kiosk's charts, appended to the local
//! markers store (`ui::markers`).

use std::path::Path;

use super::{CmdResult, CommandError};
use crate::ui::markers;

pub fn mark(text: &str, file: Option<&Path>) -> CmdResult {
    let text = text.trim();
    if text.is_empty() {
        return Err(CommandError::new(
            2,
            "mark: the text is empty; say what happened, e.g. \"deploy web 2026.12.07-1\"",
        ));
    }
    let path = file.map_or_else(markers::default_path, Path::to_path_buf);
    let now = chrono::Utc::now();
    markers::append(&path, now, text)
        .map_err(|e| CommandError::new(1, format!("mark: cannot write {}: {e}", path.display())))?;
    println!("marked {} at {}: {text}", path.display(), now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(0)
}
