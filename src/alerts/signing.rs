//! Webhook signatures, as Stripe and Grafana do them: the sender puts the current Unix time in
//! `X-Shardtop-Timestamp` and `sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))` in
//! `X-Shardtop-Signature`; the receiver recomputes it, compares in constant time, and refuses a
//! timestamp too far from its own clock, so a captured request cannot be replayed later.

use ring::hmac;

use crate::secret::Secret;

pub const SIGNATURE_HEADER: &str = "x-shardtop-signature";
pub const TIMESTAMP_HEADER: &str = "x-shardtop-timestamp";
/// The same on every attempt of one notification: receivers deduplicate retries by it.
pub const DELIVERY_HEADER: &str = "x-shardtop-delivery";

/// How far a timestamp may be from the receiver's clock by default.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// `sha256=…` for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let tag = hmac::sign(&key, &signed_payload(timestamp, body));
    format!("sha256={}", hex::encode(tag.as_ref()))
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    msg
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no {TIMESTAMP_HEADER} header")]
    NoTimestamp,
    #[error("{TIMESTAMP_HEADER} is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from this clock (replayed or delayed?)")]
    Stale(i64),
    #[error("no {SIGNATURE_HEADER} header")]
    NoSignature,
    #[error("{SIGNATURE_HEADER} is not sha256=<hex>")]
    BadSignatureFormat,
    #[error("the signature does not match (wrong secret, or the body was altered)")]
    Mismatch,
}

/// Checks a request's headers against its raw body, at `now` (Unix seconds).
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.ok_or(VerifyError::NoTimestamp)?.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.saturating_abs() > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let sig = signature.ok_or(VerifyError::NoSignature)?.trim();
    let hex_tag = sig.strip_prefix("sha256=").ok_or(VerifyError::BadSignatureFormat)?;
    let tag = hex::decode(hex_tag).map_err(|_| VerifyError::BadSignatureFormat)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hmac::verify(&key, &signed_payload(ts, body), &tag).map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac "It's a secret"
        let sig = sign(&Secret::new("It's a secret"), 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=063c01779d2db19173363fe63eef90a220a70862d2f4742cbb8b449a2c73c877");
    }

    #[test]
    fn verify_accepts_the_right_and_refuses_the_rest() {
        let s = Secret::new("shared-secret-0123456789");
        let body = br#"{"status":"firing"}"#;
        let sig = sign(&s, 1000, body);
        assert_eq!(verify(&s, Some("1000"), Some(&sig), body, 1010, 300), Ok(()));
        let wrong = Secret::new("another-secret-0123456789");
        assert_eq!(verify(&wrong, Some("1000"), Some(&sig), body, 1010, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&s, Some("1000"), Some(&sig), b"{}", 1010, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&s, Some("1001"), Some(&sig), body, 1010, 300), Err(VerifyError::Mismatch), "ts is signed");
        assert_eq!(verify(&s, Some("1000"), Some(&sig), body, 2000, 300), Err(VerifyError::Stale(1000)));
        assert_eq!(verify(&s, None, Some(&sig), body, 1000, 300), Err(VerifyError::NoTimestamp));
        assert_eq!(verify(&s, Some("x"), Some(&sig), body, 1000, 300), Err(VerifyError::BadTimestamp));
        assert_eq!(verify(&s, Some("1000"), None, body, 1000, 300), Err(VerifyError::NoSignature));
        assert_eq!(verify(&s, Some("1000"), Some("md5=00"), body, 1000, 300), Err(VerifyError::BadSignatureFormat));
        assert_eq!(verify(&s, Some("1000"), Some("sha256=zz"), body, 1000, 300), Err(VerifyError::BadSignatureFormat));
    }
}
