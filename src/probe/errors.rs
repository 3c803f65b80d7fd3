//! Driver errors → `ProbeError`: a kind the UI can act on and a message that
//! says what failed and what to do. Messages are scrubbed of the password by
//! the caller; none of them quotes connection options anyway.

use std::io::ErrorKind;

use mysql_async::{DriverError, Error, IoError, ServerError};

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

/// An error while connecting and logging in.
pub(crate) fn connect_error(err: &Error, user: &str) -> ProbeError {
    match err {
        Error::Server(e) => match e.code {
            ER_ACCESS_DENIED | ER_ACCESS_DENIED_NO_PASSWORD | ER_DBACCESS_DENIED | ER_HOST_NOT_PRIVILEGED => {
                probe_error(
                    ProbeErrorKind::Auth,
                    format!(
                        "login as {user:?} refused: check the user, its host and the password source ({})",
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
                ProbeErrorKind::Other,
                format!("this host is blocked after too many failed connections; run FLUSH HOSTS ({})", server_text(e)),
            ),
            ER_TOO_MANY_CONNECTIONS => {
                probe_error(ProbeErrorKind::Other, format!("too many connections ({})", server_text(e)))
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
            ErrorKind::InvalidData => probe_error(
                ProbeErrorKind::Other,
                format!("{during}: the answer is not the MySQL protocol (is this port a MySQL/MariaDB server?): {e}"),
            ),
            _ => probe_error(ProbeErrorKind::Other, format!("{during}: network error: {e}")),
        },
        Error::Io(IoError::Tls(e)) => probe_error(ProbeErrorKind::Other, format!("{during}: TLS error: {e}")),
        Error::Driver(DriverError::ConnectionClosed) => {
            probe_error(ProbeErrorKind::Refused, format!("{during}: connection closed by the server"))
        }
        Error::Server(e) => probe_error(ProbeErrorKind::Other, format!("{during}: {}", server_text(e))),
        other => probe_error(ProbeErrorKind::Other, format!("{during}: {other}")),
    }
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
        );
        assert_eq!(auth.kind, ProbeErrorKind::Auth);
        assert!(auth.message.contains("login as \"monitor\" refused"), "{}", auth.message);
        assert!(auth.message.contains("ERROR 1045 (28000)"), "{}", auth.message);
        assert_eq!(connect_error(&server(1130, "Host not allowed"), "m").kind, ProbeErrorKind::Auth);
        assert_eq!(connect_error(&server(1040, "Too many connections"), "m").kind, ProbeErrorKind::Other);
        assert_eq!(connect_error(&io(ErrorKind::ConnectionRefused), "m").kind, ProbeErrorKind::Refused);
        assert_eq!(connect_error(&io(ErrorKind::ConnectionReset), "m").kind, ProbeErrorKind::Refused);
        assert_eq!(connect_error(&io(ErrorKind::HostUnreachable), "m").kind, ProbeErrorKind::Other);
        assert_eq!(
            connect_error(&Error::Driver(DriverError::UnknownAuthPlugin { name: "x".into() }), "m").kind,
            ProbeErrorKind::Auth
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
