//! Which server: flavour and version.

use std::fmt;

use serde::Serialize;

/// The server family: decides statement names, columns and GTID formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    MariaDb,
    MySql,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "MariaDB",
            Flavor::MySql => "MySQL",
        }
    }
}

/// A server version, compared numerically (`10.11.6` > `10.5.2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Version { major, minor, patch }
    }

    /// Reads the leading `X.Y.Z` of a version string (`10.11.6-MariaDB-0+deb12u1-log`,
    /// `8.0.36`, `8.4.3-commercial`); a missing minor or patch counts as 0.
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.trim().splitn(4, '.').map(|p| {
            let digits = p.find(|c: char| !c.is_ascii_digit()).map_or(p, |end| &p[..end]);
            digits.parse::<u16>().ok()
        });
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version { major, minor, patch })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}
