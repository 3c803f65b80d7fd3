//! Server addresses as `host:port`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default MySQL/MariaDB port, used when an address names no port.
pub const DEFAULT_PORT: u16 = 3306;

/// A server address. Hosts are kept as written (case-folded), so
/// `127.0.0.1:3306` and `localhost:3306` are different servers on purpose:
/// shardtop does not resolve names to decide identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub host: String,
    pub port: u16,
}

impl Addr {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Addr { host: host.into().to_ascii_lowercase(), port }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("empty address")]
    Empty,
    #[error("bad port {0:?}: expected a number from 1 to 65535")]
    BadPort(String),
    #[error("bad host {0:?}: expected a host name or IP address")]
    BadHost(String),
}

impl FromStr for Addr {
    type Err = AddrError;

    /// Accepts `host`, `host:port`, `[v6]` and `[v6]:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddrError::Empty);
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| AddrError::BadHost(s.into()))?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(|| AddrError::BadHost(s.into()))?)),
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address without brackets carries no port.
            (s, None)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(AddrError::BadPort(p.into())),
            },
        };
        let valid_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
        if !valid_host {
            return Err(AddrError::BadHost(host.into()));
        }
        Ok(Addr::new(host, port))
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_and_port() {
        assert_eq!("db1:3307".parse::<Addr>().unwrap(), Addr::new("db1", 3307));
        assert_eq!("DB1.example.com".parse::<Addr>().unwrap(), Addr::new("db1.example.com", 3306));
        assert_eq!("[::1]:3310".parse::<Addr>().unwrap(), Addr::new("::1", 3310));
        assert_eq!("::1".parse::<Addr>().unwrap(), Addr::new("::1", 3306));
        assert_eq!(Addr::new("::1", 3310).to_string(), "[::1]:3310");
    }

    #[test]
    fn rejects_bad_addresses() {
        assert_eq!("".parse::<Addr>(), Err(AddrError::Empty));
        assert_eq!("db1:0".parse::<Addr>(), Err(AddrError::BadPort("0".into())));
        assert_eq!("db1:99999".parse::<Addr>(), Err(AddrError::BadPort("99999".into())));
        assert_eq!("db1:x".parse::<Addr>(), Err(AddrError::BadPort("x".into())));
        assert!(matches!("db 1:3306".parse::<Addr>(), Err(AddrError::BadHost(_))));
        assert!(matches!("[::1".parse::<Addr>(), Err(AddrError::BadHost(_))));
    }
}
