//! Helpers shared by the config tests: a fake environment, the fixture files,
//! and short ways to parse a config and look for a problem.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use super::{ConfigError, Env, Loaded, parse};

/// An environment made of maps, so tests never touch the real one.
#[derive(Default, Clone)]
pub(super) struct FakeEnv {
    vars: HashMap<String, String>,
    files: HashMap<PathBuf, (String, u32)>,
    denied: HashSet<PathBuf>,
    home: Option<PathBuf>,
}

impl FakeEnv {
    pub(super) fn with_var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
    pub(super) fn with_file(mut self, path: &str, content: &str, mode: u32) -> Self {
        self.files.insert(path.into(), (content.into(), mode));
        self
    }
    pub(super) fn with_denied(mut self, path: &str) -> Self {
        self.denied.insert(path.into());
        self
    }
    pub(super) fn with_home(mut self, path: &str) -> Self {
        self.home = Some(path.into());
        self
    }
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn read_file(&self, path: &Path) -> io::Result<String> {
        if self.denied.contains(path) {
            return Err(io::Error::from_raw_os_error(13));
        }
        self.files.get(path).map(|f| f.0.clone()).ok_or_else(|| io::Error::from_raw_os_error(2))
    }
    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
    fn file_mode(&self, path: &Path) -> Option<u32> {
        self.files.get(path).map(|f| f.1)
    }
}

/// The environment the fixture files are written against.
pub(super) fn fixture_env() -> FakeEnv {
    FakeEnv::default()
        .with_var("SHARDTOP_PASSWORD", "fixture-env-secret")
        .with_file("/etc/shardtop/password", "fixture-file-secret\n", 0o600)
        .with_file("/etc/shardtop/open-password", "fixture-open-secret\n", 0o644)
        .with_file("/etc/shardtop/ca.pem", "-----BEGIN CERTIFICATE-----\n", 0o644)
        .with_denied("/etc/shardtop/denied-password")
        .with_home("/home/op")
        .with_file("/home/op/.my.cnf", "[client]\nuser = monitor\npassword = fixture-cnf-secret\n", 0o600)
}

pub(super) const SHARD: &str = "[[shard]]\nname = \"s1\"\nmaster = \"db1:3306\"\n";

pub(super) fn ok(text: &str, env: &FakeEnv) -> Loaded {
    match parse(text, "t.toml", env) {
        Ok(l) => l,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

pub(super) fn err(text: &str, env: &FakeEnv) -> ConfigError {
    match parse(text, "t.toml", env) {
        Ok(l) => panic!("expected an error, got {l:?}"),
        Err(e) => e,
    }
}

pub(super) fn has(e: &ConfigError, line: Option<usize>, needle: &str) -> bool {
    e.problems.iter().any(|p| p.line == line && p.to_string().contains(needle))
}

pub(super) fn bare_env() -> FakeEnv {
    FakeEnv::default().with_home("/home/nobody")
}

pub(super) fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config").join(kind)
}

pub(super) fn read_fixture(rel: &str) -> String {
    let path = fixture_dir("").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
