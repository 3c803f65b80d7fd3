//! Driver errors → `ProbeError`: a kind the UI can act on and a message that
//! says what failed and what to do. Messages are scrubbed of the password by
//! the caller; none of them quotes connection options anyway.

use std::io::ErrorKind;

use mysql_async::{DriverError, Error, IoError, ServerError};

use super::Tls;
use crate::fleet::status::{ProbeError, ProbeErrorKind};

pub(crate) fn probe_error(kind: ProbeErrorKind, message: impl Into<String>) -> ProbeError {
    ProbeError { kind, message: message.into() }
}

// Server error codes (same numbers on MySQL and MariaDB unless noted).
const ER_DBACCESS_DENIED: u16 = 1044;
const ER_ACCESS_DENIED: u16 = 1045;
const ER_TOO_MANY_CONNECTIONS: u16 = 1040;
const ER_HOST_IS_BLOCKED: u16 = 1129;
const ER_HOST_NOT_PRIVILEGED: u16 = 1130;
const ER_TABLEACCESS_DENIED: u16 = 1142;
const ER_COLUMNACCESS_DENIED: u16 = 1143;
const ER_SPECIFIC_ACCESS_DENIED: u16 = 1227;
const ER_NOT_SUPPORTED_AUTH_MODE: u16 = 1251;
const ER_ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
const ER_MUST_CHANGE_PASSWORD: u16 = 1820;
const ER_MUST_CHANGE_PASSWORD_LOGIN: u16 = 1862;
const ER_ACCOUNT_HAS_BEEN_LOCKED: u16 = 3118; // MySQL
const ER_ACCOUNT_LOCKED_MARIADB: u16 = 4151;
const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159; // MySQL; MariaDB answers 1045 (the hint below)

// The server ends the connection after these.
const ER_SERVER_SHUTDOWN: u16 = 1053;
const ER_CONNECTION_KILLED: u16 = 1927; // MariaDB
const ER_CLIENT_INTERACTION_TIMEOUT: u16 = 4031; // MySQL 8.0.24+

/// Whether the connection is beyond use after `err` (drop it, reconnect).
pub(crate) fn connection_lost(err: &Error) -> bool {
    match err {
        Error::Server(e) => matches!(e.code, ER_SERVER_SHUTDOWN | ER_CONNECTION_KILLED | ER_CLIENT_INTERACTION_TIMEOUT),
        other => other.is_fatal(),
    }
}

fn server_text(e: &ServerError) -> String {
    format!("ERROR {} ({}): {}", e.code, e.state, e.message.trim())
}

/// The server refuses connections without TLS (`require_secure_transport=ON`).
fn insecure_transport(e: &ServerError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.code == ER_SECURE_TRANSPORT_REQUIRED || m.contains("insecure transport") || m.contains("secure_transport")
}

/// An error while connecting and logging in, with the TLS mode it was tried with (a refused
/// plain-text login may be a server that requires TLS).
pub(crate) fn connect_error(err: &Error, user: &str, tls: &Tls) -> ProbeError {
    match err {
        Error::Server(e) if insecure_transport(e) => probe_error(
            ProbeErrorKind::Auth,
            format!(
                "the server requires TLS (require_secure_transport=ON) and tls is \"disabled\": set tls = \"required\" \
                 or \"verify_identity\" ({})",
                server_text(e)
            ),
        ),
        Error::Server(e) => match e.code {
            // The password was right; the account may not use the database the connection names
            // (the feed probe's `database`): a missing grant, not a login problem.
            ER_DBACCESS_DENIED => probe_error(
                ProbeErrorKind::Auth,
                format!(
                    "{user:?} may not use the connection's database: grant it SELECT on the tables it reads there ({})",
                    server_text(e)
                ),
            ),
            ER_ACCESS_DENIED | ER_ACCESS_DENIED_NO_PASSWORD | ER_HOST_NOT_PRIVILEGED => {
                // MariaDB refuses a plain-text login to a server that requires TLS with 1045.
                let tls_hint = if matches!(tls, Tls::Disabled) && e.code == ER_ACCESS_DENIED {
                    "; or the server requires TLS (require_secure_transport=ON) and tls is \"disabled\": try \
                     tls = \"required\""
                } else {
                    ""
                };
                probe_error(
                    ProbeErrorKind::Auth,
                    format!(
                        "login as {user:?} refused: check the user, its host and the password source{tls_hint} ({})",
                        server_text(e)
                    ),
                )
            }
            ER_NOT_SUPPORTED_AUTH_MODE
            | ER_MUST_CHANGE_PASSWORD
            | ER_MUST_CHANGE_PASSWORD_LOGIN
            | ER_ACCOUNT_HAS_BEEN_LOCKED
            | ER_ACCOUNT_LOCKED_MARIADB => {
                probe_error(ProbeErrorKind::Auth, format!("login as {user:?} refused ({})", server_text(e)))
            }
            ER_HOST_IS_BLOCKED => probe_error(
                ProbeErrorKind::Busy,
                format!("this host is blocked after too many failed connections; run FLUSH HOSTS ({})", server_text(e)),
            ),
            ER_TOO_MANY_CONNECTIONS => {
                probe_error(ProbeErrorKind::Busy, format!("too many connections ({})", server_text(e)))
            }
            _ => probe_error(ProbeErrorKind::Other, format!("login failed ({})", server_text(e))),
        },
        Error::Driver(DriverError::UnknownAuthPlugin { name }) => probe_error(
            ProbeErrorKind::Auth,
            format!("login as {user:?} needs auth plugin {name:?}, which shardtop lacks"),
        ),
        Error::Driver(DriverError::CleartextPluginDisabled | DriverError::MysqlOldPasswordDisabled) => {
            probe_error(ProbeErrorKind::Auth, format!("login as {user:?} needs an insecure auth plugin: {err}"))
        }
        Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            probe_error(ProbeErrorKind::Other, "TLS is required by the config but the server does not offer it")
        }
        _ => transport_error(err, "connect"),
    }
}

/// An error from a statement of a connected probe. `privilege` names what a
/// denied statement needs.
pub(crate) fn query_error(err: &Error, statement: &str, privilege: Option<&str>) -> ProbeError {
    match err {
        Error::Server(e) => match (e.code, privilege) {
            (
                ER_SPECIFIC_ACCESS_DENIED | ER_TABLEACCESS_DENIED | ER_COLUMNACCESS_DENIED | ER_ACCESS_DENIED,
                Some(p),
            ) => probe_error(
                ProbeErrorKind::Query,
                format!("{statement}: access denied; the monitoring account needs {p} ({})", server_text(e)),
            ),
            _ => probe_error(ProbeErrorKind::Query, format!("{statement}: {}", server_text(e))),
        },
        _ => transport_error(err, statement),
    }
}

/// Network, TLS and protocol failures, wherever they happen.
fn transport_error(err: &Error, during: &str) -> ProbeError {
    match err {
        Error::Io(IoError::Io(e)) => match e.kind() {
            ErrorKind::ConnectionRefused => {
                probe_error(ProbeErrorKind::Refused, format!("{during}: connection refused (is the server running?)"))
            }
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected => {
                probe_error(ProbeErrorKind::Refused, format!("{during}: connection reset by the server ({e})"))
            }
            _ if tls_reason(&e.to_string()).is_some() => tls_error(during, &e.to_string()),
            ErrorKind::InvalidData => probe_error(
                ProbeErrorKind::Other,
                format!("{during}: the answer is not the MySQL protocol (is this port a MySQL/MariaDB server?): {e}"),
            ),
            _ => probe_error(ProbeErrorKind::Other, format!("{during}: network error: {e}")),
        },
        Error::Io(IoError::Tls(e)) => tls_error(during, &e.to_string()),
        Error::Driver(DriverError::ConnectionClosed) => {
            probe_error(ProbeErrorKind::Refused, format!("{during}: connection closed by the server"))
        }
        Error::Server(e) => probe_error(ProbeErrorKind::Other, format!("{during}: {}", server_text(e))),
        other => probe_error(ProbeErrorKind::Other, format!("{during}: {other}")),
    }
}

/// What a TLS failure means, from the TLS library's words (rustls: "invalid peer certificate:
/// UnknownIssuer", "certificate not valid for name …", "received fatal alert: …"); `None` when
/// the error is not about TLS.
fn tls_reason(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    if t.contains("unknownissuer") || t.contains("unknown issuer") || t.contains("unknown ca") {
        Some(
            "the server's certificate is not signed by a trusted CA: check tls_ca (tls = \"required\" encrypts without verifying)",
        )
    } else if t.contains("notvalidforname") || t.contains("not valid for name") {
        Some(
            "the server's certificate does not hold the host name connected to: connect by a name in its subjectAltName, or use tls = \"required\"",
        )
    } else if t.contains("expired") || t.contains("notvalidyet") || t.contains("not valid before") {
        Some("the server's certificate is expired or not valid yet")
    } else if t.contains("invalid peer certificate") || t.contains("certificate") {
        Some("the server's certificate was refused")
    } else if t.contains("received fatal alert") || t.contains("handshake") || t.contains("tls") {
        Some("the TLS handshake failed")
    } else {
        None
    }
}

fn tls_error(during: &str, text: &str) -> ProbeError {
    let reason = tls_reason(text).unwrap_or("the TLS handshake failed");
    probe_error(ProbeErrorKind::Other, format!("{during}: TLS: {reason} ({text})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> Error {
        Error::Server(ServerError { code, message: message.into(), state: "28000".into() })
    }

    fn io(kind: ErrorKind) -> Error {
        Error::Io(IoError::Io(std::io::Error::new(kind, "boom")))
    }

    #[test]
    fn connect_errors_by_kind() {
        let auth = connect_error(
            &server(1045, "Access denied for user 'monitor'@'10.0.0.1' (using password: YES)"),
            "monitor",
            &Tls::Disabled,
        );
        assert_eq!(auth.kind, ProbeErrorKind::Auth);
        assert!(auth.message.contains("login as \"monitor\" refused"), "{}", auth.message);
        assert!(auth.message.contains("ERROR 1045 (28000)"), "{}", auth.message);
        assert_eq!(connect_error(&server(1130, "Host not allowed"), "m", &Tls::Disabled).kind, ProbeErrorKind::Auth);
        // Issue 17 §3: the feed probe's database refused to an account without SELECT there was
        // "login refused: check the user, its host and the password source".
        let db = connect_error(
            &server(1044, "Access denied for user 'monitor'@'127.0.0.1' to database 'social'"),
            "monitor",
            &Tls::Disabled,
        );
        assert!(db.message.starts_with("\"monitor\" may not use the connection's database: grant"), "{}", db.message);
        assert!(!db.message.contains("password") && db.message.contains("'social'"), "{}", db.message);
        // The server answered (issue 17 soak: a master out of connections was "hung or
        // partitioned"): busy, not unreachable.
        let busy = connect_error(&server(1040, "Too many connections"), "m", &Tls::Disabled);
        assert_eq!(busy.kind, ProbeErrorKind::Busy);
        assert!(!busy.unreachable());
        assert_eq!(connect_error(&server(1129, "Host is blocked"), "m", &Tls::Disabled).kind, ProbeErrorKind::Busy);
        assert_eq!(connect_error(&io(ErrorKind::ConnectionRefused), "m", &Tls::Disabled).kind, ProbeErrorKind::Refused);
        assert_eq!(connect_error(&io(ErrorKind::ConnectionReset), "m", &Tls::Disabled).kind, ProbeErrorKind::Refused);
        assert_eq!(connect_error(&io(ErrorKind::HostUnreachable), "m", &Tls::Disabled).kind, ProbeErrorKind::Other);
        assert_eq!(
            connect_error(&Error::Driver(DriverError::UnknownAuthPlugin { name: "x".into() }), "m", &Tls::Disabled)
                .kind,
            ProbeErrorKind::Auth
        );
    }

    /// Issue 17 §2: a wrong CA was "the answer is not the MySQL protocol (is this port a
    /// MySQL/MariaDB server?)", and a plain-text login to a server requiring TLS only "refused".
    #[test]
    fn tls_failures_say_tls_and_why() {
        let invalid =
            |text: &str| Error::Io(IoError::Io(std::io::Error::new(ErrorKind::InvalidData, text.to_string())));
        let e =
            connect_error(&invalid("invalid peer certificate: UnknownIssuer"), "m", &Tls::VerifyIdentity { ca: None });
        assert!(
            e.message.starts_with("connect: TLS: the server's certificate is not signed by a trusted CA: check tls_ca"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(invalid peer certificate: UnknownIssuer)"), "{}", e.message);
        assert!(!e.message.contains("MySQL protocol"), "{}", e.message);
        let host = "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"db1\")";
        let e = connect_error(&invalid(host), "m", &Tls::VerifyIdentity { ca: None });
        assert!(
            e.message.starts_with("connect: TLS: the server's certificate does not hold the host name"),
            "{}",
            e.message
        );
        let e = connect_error(
            &invalid("invalid peer certificate: NotValidForName"),
            "m",
            &Tls::VerifyIdentity { ca: None },
        );
        assert!(e.message.contains("does not hold the host name"), "{}", e.message);
        let e = connect_error(&invalid("received fatal alert: HandshakeFailure"), "m", &Tls::Required);
        assert!(e.message.starts_with("connect: TLS: the TLS handshake failed"), "{}", e.message);
        // Not TLS: still the wrong-port message.
        let e = connect_error(&invalid("packet out of order"), "m", &Tls::Disabled);
        assert!(e.message.contains("is this port a MySQL/MariaDB server?"), "{}", e.message);
        // The server requires TLS: MySQL says so, MariaDB refuses the login (1045).
        let mysql =
            server(3159, "Connections using insecure transport are prohibited while --require_secure_transport=ON.");
        let e = connect_error(&mysql, "m", &Tls::Disabled);
        assert!(
            e.message.starts_with("the server requires TLS (require_secure_transport=ON) and tls is \"disabled\""),
            "{}",
            e.message
        );
        let maria = server(1045, "Access denied for user 'm'@'127.0.0.1' (using password: YES)");
        let e = connect_error(&maria, "m", &Tls::Disabled);
        assert!(e.message.contains("or the server requires TLS (require_secure_transport=ON)"), "{}", e.message);
        let e = connect_error(&maria, "m", &Tls::Required);
        assert!(
            !e.message.contains("require_secure_transport"),
            "with TLS on, a refusal is the login's: {}",
            e.message
        );
    }

    #[test]
    fn query_errors_name_statement_and_privilege() {
        let denied = server(1227, "Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s)");
        let e = query_error(&denied, "SHOW ALL REPLICAS STATUS", Some("SLAVE MONITOR"));
        assert_eq!(e.kind, ProbeErrorKind::Query);
        assert!(
            e.message
                .starts_with("SHOW ALL REPLICAS STATUS: access denied; the monitoring account needs SLAVE MONITOR ("),
            "{}",
            e.message
        );
        let other = query_error(&server(1193, "Unknown system variable 'gtid_executed'"), "SELECT @@…", None);
        assert_eq!(other.message, "SELECT @@…: ERROR 1193 (28000): Unknown system variable 'gtid_executed'");
        assert_eq!(query_error(&io(ErrorKind::UnexpectedEof), "SHOW", None).kind, ProbeErrorKind::Refused);
    }
}
