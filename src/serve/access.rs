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

/// The tokens the collector accepts. With none, every request is served (loopback only).
#[derive(Clone, Default)]
pub struct Tokens {
    full: Option<String>,
    read: Option<String>,
}

impl std::fmt::Debug for Tokens {
    // Never the tokens themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("full", &self.full.is_some()).field("read", &self.read.is_some()).finish()
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

impl Tokens {
    /// The full token from `file`, else `$SHARDTOP_SERVE_TOKEN`; the read token from `read_file`,
    /// else `$SHARDTOP_SERVE_READ_TOKEN`. Surrounding whitespace (a file's newline) is dropped.
    pub fn load(file: Option<&Path>, read_file: Option<&Path>) -> Result<Tokens, AccessError> {
        let full = one(file, TOKEN_ENV)?;
        let read = one(read_file, READ_TOKEN_ENV)?;
        if full.is_some() && full == read {
            return Err(AccessError::SameTokens);
        }
        Ok(Tokens { full, read })
    }

    pub fn any(&self) -> bool {
        self.full.is_some() || self.read.is_some()
    }

    /// What an `Authorization` header's value allows: `None` when tokens are set and it matches
    /// neither (missing, malformed or wrong).
    pub fn grant(&self, authorization: Option<&[u8]>) -> Option<Grant> {
        if !self.any() {
            return Some(Grant::Full);
        }
        let given = authorization.and_then(|h| h.strip_prefix(b"Bearer ".as_slice()))?;
        // Both are compared, whatever the first says: the time taken does not tell which matched.
        let full = self.full.as_ref().is_some_and(|t| same(t.as_bytes(), given));
        let read = self.read.as_ref().is_some_and(|t| same(t.as_bytes(), given));
        if full {
            Some(Grant::Full)
        } else if read {
            Some(Grant::Read)
        } else {
            None
        }
    }
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
        Tokens { full: full.map(Into::into), read: read.map(Into::into) }
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
        let t = Tokens::load(Some(&f), None).expect("loads");
        assert_eq!(t.grant(Some(b"Bearer abc")), Some(Grant::Full));
        std::fs::write(&f, "\n").expect("write");
        let e = Tokens::load(Some(&f), None).expect_err("empty");
        assert!(e.to_string().contains("is empty") && e.to_string().contains("token"), "{e}");
        let missing = dir.path().join("nope");
        let e = Tokens::load(Some(&missing), None).expect_err("missing");
        assert!(e.to_string().contains("nope"), "{e}");
        std::fs::write(&f, "same").expect("write");
        assert!(matches!(Tokens::load(Some(&f), Some(&f)), Err(AccessError::SameTokens)));
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
