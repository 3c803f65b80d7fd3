//! The `[client]` section of `~/.my.cnf`, read the way the MySQL client reads
//! it, so a DBA's existing login works without repeating it in our config.

use crate::secret::Secret;

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ClientLogin {
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// Never fails: an option file we cannot make sense of simply supplies nothing,
/// and no line of it is ever echoed (it may hold a password).
pub(super) fn parse_client(text: &str) -> ClientLogin {
    let mut login = ClientLogin::default();
    let mut in_client = false;
    for line in text.lines() {
        let line = line.trim();
        // `!include` / `!includedir` are deliberately not followed.
        if line.is_empty() || line.starts_with(['#', ';', '!']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            in_client = rest.split_once(']').is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("client"));
            continue;
        }
        if !in_client {
            continue;
        }
        let line = strip_end_comment(line);
        // A key without `=` (e.g. a bare `password`, which makes mysql prompt) gives us nothing.
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = unescape(unquote(value.trim()));
        match key.trim() {
            "user" => login.user = Some(value),
            "password" => login.password = Some(Secret::new(value)),
            _ => {}
        }
    }
    login
}

/// Cuts a `#` comment that is not inside quotes, as mysys `remove_end_comment` does.
fn strip_end_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '\'' | '"' if !escaped => match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            },
            '#' if quote.is_none() => return &line[..i],
            _ => {}
        }
        escaped = quote.is_some() && c == '\\' && !escaped;
    }
    line
}

fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// The escapes mysys understands; unknown ones keep their backslash.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some(e) => match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                's' => out.push(' '),
                '"' | '\'' | '\\' => out.push(e),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pw(text: &str) -> Option<String> {
        parse_client(text).password.map(|s| s.expose().to_string())
    }

    #[test]
    fn reads_user_and_password_from_client_only() {
        let text = "\
# comment
; another
!include /etc/mysql/other.cnf
[mysqld]
password = server-side
[client]
user=monitor
password = s3cret
[mysql]
password = not-this-one
";
        let login = parse_client(text);
        assert_eq!(login.user.as_deref(), Some("monitor"));
        assert_eq!(pw(text).as_deref(), Some("s3cret"));
    }

    #[test]
    fn handles_quotes_comments_and_escapes() {
        assert_eq!(pw("[client]\npassword='a b#c'\n").as_deref(), Some("a b#c"));
        assert_eq!(pw("[client]\npassword=\"x;y\" # note\n").as_deref(), Some("x;y"));
        assert_eq!(pw("[client]\npassword=abc # note\n").as_deref(), Some("abc"));
        assert_eq!(pw("[client]\npassword=a\\sb\\\\c\\q\n").as_deref(), Some("a b\\c\\q"));
        assert_eq!(pw("[CLIENT]\npassword=x=y\n").as_deref(), Some("x=y"));
        assert_eq!(pw("[client]\npassword\n"), None);
        assert_eq!(pw("[client]\npassword=\n").as_deref(), Some(""));
        assert_eq!(pw("password=outside\n"), None);
        assert_eq!(pw("[client]\r\npassword=crlf\r\n").as_deref(), Some("crlf"));
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse_client(&s);
            let _ = parse_client(&format!("[client]\n{s}"));
        }
    }
}
