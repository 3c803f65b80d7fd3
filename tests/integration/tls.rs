//! TLS against a real server (issue 17 §2): the shard `scripts/sandbox up --tls` starts with
//! `require_secure_transport=ON` (s33 in `scripts/test`'s sandbox), its certificate signed by the
//! sandbox's CA for IP 127.0.0.1 only. `required` and `verify_identity` with the right CA work; a
//! wrong CA, a host name the certificate does not hold, and `disabled` fail saying it is TLS, and
//! why — through the prober, and through `shardtop snapshot`, which names the server.

use std::sync::Arc;
use std::time::Duration;

use shardtop::fleet::Addr;
use shardtop::probe::{ProbeOptions, Prober, Tls};
use shardtop::secret::Secret;

use crate::common::Sandbox;

const SHARD: &str = "s33";

fn opts(sb: &Sandbox, tls: Tls) -> Arc<ProbeOptions> {
    let pw = std::fs::read_to_string(sb.var("SANDBOX_MONITOR_PASSWORD_FILE")).expect("password file");
    Arc::new(ProbeOptions {
        user: sb.var("SANDBOX_MONITOR_USER").to_string(),
        password: Some(Secret::new(pw.trim_end())),
        tls,
        timeout: Duration::from_secs(3),
        heartbeat: None,
    })
}

/// One probe of `host`:(the TLS shard's master's port); the error's message, or `None` when it answered.
async fn probe(sb: &Sandbox, host: &str, tls: Tls) -> Option<String> {
    let port = sb.port(&format!("{SHARD}-m"));
    let mut p = Prober::new(Addr::new(host, port), opts(sb, tls));
    let sample = p.probe().await;
    p.close(Duration::from_secs(1)).await;
    sample.result.err().map(|e| e.message)
}

/// The sandbox's CA files; a sandbox started without `--tls` fails the test, saying so.
fn cas(sb: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let (Some(ca), Some(other)) = (sb.try_var("SANDBOX_TLS_CA"), sb.try_var("SANDBOX_TLS_OTHER_CA")) else {
        panic!("the sandbox was started without --tls (scripts/test starts it with --tls)");
    };
    assert_eq!(sb.try_var("SANDBOX_TLS_REQUIRED_SHARD").as_deref(), Some(SHARD), "the sandbox's TLS shard");
    (ca.into(), other.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_against_a_server_that_requires_tls() {
    let sb = sandbox_or_skip!();
    let (ca, other) = cas(&sb);
    assert_eq!(probe(&sb, "127.0.0.1", Tls::Required).await, None, "tls = required");
    assert_eq!(
        probe(&sb, "127.0.0.1", Tls::VerifyIdentity { ca: Some(ca.clone()) }).await,
        None,
        "verify_identity with the sandbox's CA"
    );
    let wrong_ca = probe(&sb, "127.0.0.1", Tls::VerifyIdentity { ca: Some(other) }).await.unwrap_or_default();
    assert!(
        wrong_ca.starts_with("connect: TLS: the server's certificate is not signed by a trusted CA: check tls_ca"),
        "wrong CA: {wrong_ca}"
    );
    assert!(!wrong_ca.contains("MySQL protocol"), "{wrong_ca}");
    let wrong_name = probe(&sb, "localhost", Tls::VerifyIdentity { ca: Some(ca) }).await.unwrap_or_default();
    assert!(
        wrong_name.starts_with("connect: TLS: the server's certificate does not hold the host name"),
        "host name not in the certificate: {wrong_name}"
    );
    let plain = probe(&sb, "127.0.0.1", Tls::Disabled).await.unwrap_or_default();
    assert!(plain.contains("the server requires TLS (require_secure_transport=ON)"), "tls = disabled: {plain}");
}

#[test]
fn snapshot_names_the_server_and_the_tls_reason() {
    let sb = sandbox_or_skip!();
    let (_, other) = cas(&sb);
    let extra = format!("\n[defaults]\ntls = \"verify_identity\"\ntls_ca = \"{}\"\n", other.display());
    let cfg = sb.config(&[SHARD], false);
    // The generated config has a [defaults] section: add the TLS keys to it.
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text.replacen("[defaults]\n", &extra[1..], 1);
    std::fs::write(&cfg, text).expect("write config");
    let (code, json) = sb.snapshot(&cfg, &[]);
    assert_ne!(code, 0, "{json}");
    let master = sb.addr(&format!("{SHARD}-m"));
    let text = json.to_string();
    assert!(text.contains(&master), "the server is named: {text}");
    assert!(text.contains("TLS: the server's certificate is not signed by a trusted CA"), "{text}");
}
