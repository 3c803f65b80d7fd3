//! The audit trail: one JSON object per line, appended and flushed per step,
//! so a crash mid-action leaves every step that ran on disk. Entries carry
//! descriptions, never statements, so no password can reach the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    /// One id per run, to group its steps.
    pub run: String,
    pub action: &'static str,
    pub shard: String,
    pub step: String,
    /// `start`, `ok`, `failed`, `skipped`, `rollback`, `outcome`.
    pub phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub detail: String,
}

pub struct AuditLog {
    path: PathBuf,
    file: Option<File>,
}

impl AuditLog {
    /// Open for appending (creating parent directories). A dry run passes `None`: nothing is written.
    pub fn open(path: Option<&Path>) -> std::io::Result<AuditLog> {
        let Some(path) = path else { return Ok(AuditLog { path: PathBuf::new(), file: None }) };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { path: path.to_path_buf(), file: Some(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry. A failing audit write is reported to the caller: an
    /// action must not go on without its trail.
    pub fn write(&mut self, e: &Entry) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        let mut line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_json_object_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/audit.jsonl");
        for step in ["lock", "freeze"] {
            let mut log = AuditLog::open(Some(&path)).expect("open");
            let e = Entry {
                ts: Utc::now(),
                run: "r1".into(),
                action: "promote",
                shard: "s1".into(),
                step: step.into(),
                phase: "ok",
                duration_ms: Some(1.5),
                detail: String::new(),
            };
            log.write(&e).expect("write");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["step"], "freeze");
        assert_eq!(lines[0]["duration_ms"], 1.5);
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let mut log = AuditLog::open(None).expect("open");
        let e = Entry {
            ts: Utc::now(),
            run: "r".into(),
            action: "promote",
            shard: "s".into(),
            step: "x".into(),
            phase: "ok",
            duration_ms: None,
            detail: String::new(),
        };
        assert!(log.write(&e).is_ok());
    }
}
