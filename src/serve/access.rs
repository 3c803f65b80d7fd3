//! Who may ask: bearer tokens (read from a file or the environment, never the command line) and
//! TLS from certificate and key files. A full token may start actions; a read token only reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;

/// Environment variables a token may come from when no file is named.
pub const TOKEN_ENV: &str = "SHARDTOP_SERVE_TOKEN";
pub const READ_TOKEN_ENV: &str = "SHARDTOP_SERVE_READ_TOKEN";

/// What a request's token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Read the metrics, the snapshot and the stream.
    Read,
    /// Read, and start actions (when the collector's config allows them).
    Full,
}

/// Who asks: the name of the token a request presented (what the audit log records as `by`),
/// and what it allows. `name` is `None` when the collector has no token at all (loopback, open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: Option<String>,
    pub grant: Grant,
}

/// One accepted token.
#[derive(Clone)]
struct Named {
    name: String,
    grant: Grant,
    token: String,
}

/// The tokens the collector accepts. With none, every request is served (loopback only).
#[derive(Clone, Default)]
pub struct Tokens {
    list: Vec<Named>,
}

impl std::fmt::Debug for Tokens {
    // Names and grants, never the tokens themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter().map(|n| (&n.name, n.grant))).finish()
    }
}

/// Why the access settings cannot be used; names the file or variable, never a token.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("token file {path}: {source}")]
    TokenFile { path: PathBuf, source: std::io::Error },
    #[error("token file {0} is empty")]
    EmptyTokenFile(PathBuf),
    #[error("${0} is set but empty")]
    EmptyTokenEnv(&'static str),
    #[error("the read token and the full token are the same: give them different values")]
    SameTokens,
    #[error("{path}:{line}: {message} (expected `NAME read|act TOKEN`)")]
    TokensLine { path: PathBuf, line: usize, message: String },
    #[error("TLS certificate {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("TLS key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "--listen {0} is not a loopback address: set a token first (--token-file or ${TOKEN_ENV}), and TLS \
         (--tls-cert, --tls-key) unless a proxy in front provides it"
    )]
    ExposedWithoutToken(std::net::SocketAddr),
}

/// The names the single tokens of `--token-file` / `--read-token-file` go by in the audit log.
pub const FULL_TOKEN_NAME: &str = "token";
pub const READ_TOKEN_NAME: &str = "read-token";

impl Tokens {
    /// The full token from `file`, else `$SHARDTOP_SERVE_TOKEN`; the read token from `read_file`,
    /// else `$SHARDTOP_SERVE_READ_TOKEN`; then every line of `named` (`NAME read|act TOKEN`, `#`
    /// comments). Surrounding whitespace (a file's newline) is dropped.
    pub fn load(file: Option<&Path>, read_file: Option<&Path>, named: Option<&Path>) -> Result<Tokens, AccessError> {
        let full = one(file, TOKEN_ENV)?;
        let read = one(read_file, READ_TOKEN_ENV)?;
        if full.is_some() && full == read {
            return Err(AccessError::SameTokens);
        }
        let mut list = Vec::new();
        list.extend(full.map(|token| Named { name: FULL_TOKEN_NAME.into(), grant: Grant::Full, token }));
        list.extend(read.map(|token| Named { name: READ_TOKEN_NAME.into(), grant: Grant::Read, token }));
        if let Some(path) = named {
            let text = std::fs::read_to_string(path)
                .map_err(|source| AccessError::TokenFile { path: path.to_path_buf(), source })?;
            for (line, n) in parse_named(path, &text)? {
                if list.iter().any(|o| o.name == n.name) {
                    return Err(AccessError::TokensLine {
                        path: path.to_path_buf(),
                        line,
                        message: format!("the name {:?} is used twice", n.name),
                    });
                }
                if list.iter().any(|o| o.token == n.token) {
                    return Err(AccessError::TokensLine {
                        path: path.to_path_buf(),
                        line,
                        message: format!("{:?} has the same token as another name", n.name),
                    });
                }
                list.push(n);
            }
        }
        Ok(Tokens { list })
    }

    pub fn any(&self) -> bool {
        !self.list.is_empty()
    }

    /// Who an `Authorization` header's value is: `None` when tokens are set and it matches none
    /// (missing, malformed or wrong).
    pub fn caller(&self, authorization: Option<&[u8]>) -> Option<Caller> {
        if !self.any() {
            return Some(Caller { name: None, grant: Grant::Full });
        }
        let given = authorization.and_then(|h| h.strip_prefix(b"Bearer ".as_slice()))?;
        // Every token is compared, whatever the first says: the time taken does not tell which matched.
        let mut found = None;
        for n in &self.list {
            if same(n.token.as_bytes(), given) && found.is_none() {
                found = Some(Caller { name: Some(n.name.clone()), grant: n.grant });
            }
        }
        found
    }

    /// What an `Authorization` header's value allows (see [`caller`](Self::caller)).
    pub fn grant(&self, authorization: Option<&[u8]>) -> Option<Grant> {
        self.caller(authorization).map(|c| c.grant)
    }
}

/// The lines of a tokens file: `NAME read|act TOKEN`, blank lines and `#` comments skipped.
fn parse_named(path: &Path, text: &str) -> Result<Vec<(usize, Named)>, AccessError> {
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| AccessError::TokensLine { path: path.to_path_buf(), line: k + 1, message };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, grant, token] = parts.as_slice() else {
            return Err(bad(format!("{} fields", parts.len())));
        };
        let grant = match *grant {
            "read" => Grant::Read,
            "act" => Grant::Full,
            other => return Err(bad(format!("unknown grant {other:?}"))),
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
            return Err(bad(format!("the name {name:?} may hold letters, digits and - _ . @ only")));
        }
        if token.len() < 16 {
            return Err(bad(format!("the token of {name:?} is shorter than 16 characters")));
        }
        out.push((k + 1, Named { name: (*name).to_string(), grant, token: (*token).to_string() }));
    }
    Ok(out)
}

fn one(file: Option<&Path>, env: &'static str) -> Result<Option<String>, AccessError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| AccessError::TokenFile { path: path.to_path_buf(), source })?;
            let t = text.trim();
            if t.is_empty() {
                return Err(AccessError::EmptyTokenFile(path.to_path_buf()));
            }
            Ok(Some(t.to_string()))
        }
        None => match std::env::var(env) {
            Ok(v) if v.trim().is_empty() => Err(AccessError::EmptyTokenEnv(env)),
            Ok(v) => Ok(Some(v.trim().to_string())),
            Err(_) => Ok(None),
        },
    }
}

/// Equal bytes, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A listener outside loopback needs a token.
pub fn check_exposure(listen: std::net::SocketAddr, tokens: &Tokens) -> Result<(), AccessError> {
    if !listen.ip().is_loopback() && !tokens.any() {
        return Err(AccessError::ExposedWithoutToken(listen));
    }
    Ok(())
}

/// A TLS server configuration from PEM files: the certificate chain (leaf first) and its key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, AccessError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let cert_err = |message: String| AccessError::Cert { path: cert.to_path_buf(), message };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(pem_error(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(pem_error(&e)))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE block in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| AccessError::Key { path: key.to_path_buf(), message: pem_error(&e) })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AccessError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| AccessError::Key {
            path: key.to_path_buf(),
            message: format!("does not fit the certificate: {e}"),
        })?;
    Ok(Arc::new(config))
}

fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM block of that kind in the file".into(),
        other => format!("not a PEM file ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(full: Option<&str>, read: Option<&str>) -> Tokens {
        let mut list = Vec::new();
        list.extend(full.map(|t| Named { name: FULL_TOKEN_NAME.into(), grant: Grant::Full, token: t.into() }));
        list.extend(read.map(|t| Named { name: READ_TOKEN_NAME.into(), grant: Grant::Read, token: t.into() }));
        Tokens { list }
    }

    #[test]
    fn grants_follow_the_token() {
        let t = tokens(Some("full-secret"), Some("read-secret"));
        assert_eq!(t.grant(Some(b"Bearer full-secret")), Some(Grant::Full));
        assert_eq!(t.grant(Some(b"Bearer read-secret")), Some(Grant::Read));
        assert_eq!(t.grant(Some(b"Bearer wrong")), None);
        assert_eq!(t.grant(Some(b"full-secret")), None, "the scheme is required");
        assert_eq!(t.grant(Some(b"Basic full-secret")), None);
        assert_eq!(t.grant(None), None);
        assert_eq!(tokens(None, None).grant(None), Some(Grant::Full), "no token set: open (loopback)");
        assert_eq!(tokens(None, Some("r")).grant(Some(b"Bearer r")), Some(Grant::Read));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let shown = format!("{:?}", tokens(Some("full-secret"), Some("read-secret")));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn token_files_are_trimmed_and_bad_ones_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("token");
        std::fs::write(&f, "abc\n").expect("write");
        let t = Tokens::load(Some(&f), None, None).expect("loads");
        assert_eq!(t.grant(Some(b"Bearer abc")), Some(Grant::Full));
        std::fs::write(&f, "\n").expect("write");
        let e = Tokens::load(Some(&f), None, None).expect_err("empty");
        assert!(e.to_string().contains("is empty") && e.to_string().contains("token"), "{e}");
        let missing = dir.path().join("nope");
        let e = Tokens::load(Some(&missing), None, None).expect_err("missing");
        assert!(e.to_string().contains("nope"), "{e}");
        std::fs::write(&f, "same").expect("write");
        assert!(matches!(Tokens::load(Some(&f), Some(&f), None), Err(AccessError::SameTokens)));
    }

    #[test]
    fn named_tokens_say_who_asks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("tokens");
        std::fs::write(&f, "# who  grant  token\nalice act 0123456789abcdef-alice\n\nlcd read 0123456789abcdef-lcd\n")
            .expect("write");
        let t = Tokens::load(None, None, Some(&f)).expect("loads");
        let alice = t.caller(Some(b"Bearer 0123456789abcdef-alice")).expect("alice");
        assert_eq!((alice.name.as_deref(), alice.grant), (Some("alice"), Grant::Full));
        let lcd = t.caller(Some(b"Bearer 0123456789abcdef-lcd")).expect("lcd");
        assert_eq!((lcd.name.as_deref(), lcd.grant), (Some("lcd"), Grant::Read));
        assert_eq!(t.caller(Some(b"Bearer 0123456789abcdef")), None);
        let shown = format!("{t:?}");
        assert!(shown.contains("alice") && !shown.contains("0123456789"), "{shown}");
        for (text, want) in [
            ("bob write 0123456789abcdef-bob\n", "unknown grant"),
            ("bob act\n", "2 fields"),
            ("bob act short\n", "shorter than 16"),
            ("b/b act 0123456789abcdef-bob\n", "letters, digits"),
            ("bob act 0123456789abcdef-bob\nbob read 0123456789abcdef-bob2\n", "used twice"),
            ("bob act 0123456789abcdef-bob\neve read 0123456789abcdef-bob\n", "same token"),
        ] {
            std::fs::write(&f, text).expect("write");
            let e = Tokens::load(None, None, Some(&f)).expect_err(text).to_string();
            assert!(e.contains(want) && e.contains("tokens") && !e.contains("0123456789"), "{text}: {e}");
        }
    }

    #[test]
    fn exposure_needs_a_token() {
        let open = tokens(None, None);
        assert!(check_exposure("127.0.0.1:9105".parse().expect("addr"), &open).is_ok());
        assert!(check_exposure("[::1]:9105".parse().expect("addr"), &open).is_ok());
        let e = check_exposure("0.0.0.0:9105".parse().expect("addr"), &open).expect_err("exposed");
        assert!(e.to_string().contains("0.0.0.0:9105"), "{e}");
        assert!(check_exposure("0.0.0.0:9105".parse().expect("addr"), &tokens(Some("x"), None)).is_ok());
    }

    #[test]
    fn tls_files_that_are_not_pem_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("cert.pem");
        std::fs::write(&bad, "hello").expect("write");
        let e = tls_config(&bad, &bad).expect_err("not PEM");
        assert!(e.to_string().contains("cert.pem"), "{e}");
    }
}
