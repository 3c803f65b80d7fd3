//! The outside world the config reads (variables, files, home, permissions),
//! behind a trait so tests can supply a fake one.

use std::path::{Path, PathBuf};

pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
    fn home(&self) -> Option<PathBuf>;
    /// Unix permission bits, or `None` where there are none (or the file is missing).
    fn file_mode(&self, path: &Path) -> Option<u32>;
}

/// The real process environment and file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        // std may panic on such names, and none of them can be set anyway.
        if name.is_empty() || name.contains(['=', '\0']) {
            return None;
        }
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn home(&self) -> Option<PathBuf> {
        dirs::home_dir()
    }

    #[cfg(unix)]
    fn file_mode(&self, path: &Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
    }

    #[cfg(not(unix))]
    fn file_mode(&self, _path: &Path) -> Option<u32> {
        None
    }
}
