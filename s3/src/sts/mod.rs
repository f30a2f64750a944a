//! STS: temporary credentials tied to the S3 accounts.
//!
//! Owns issuing and verifying temporary credentials (`AssumeRole` through the `weka` CLI and
//! through the STS HTTP API on the S3 port) and the `GetCallerIdentity` answer.
//!
//! Design: nothing is stored per credential. A temporary access key is `ASIA` + 16 random
//! characters; its secret is derived from the server key (`keys`); its session token is an
//! HS512 JWT naming the key, the parent user, the parent's token generation, the expiry and
//! the session policy (`token`). Every request signed with a temporary key is checked by
//! [`Sts::verify`]: signature and expiry of the token, that it names the access key used,
//! and that the parent still exists with the same generation. The effective permission is
//! the parent's *current* policy AND the session policy, so detaching or changing the
//! parent's policy, changing its password, deleting it or `weka user revoke-tokens` (the
//! latter three bump the generation) take effect on the next request, and the credentials
//! survive a restart because the server key does.
//!
//! Error choices (AWS leaves some open):
//! - a token that is malformed, tampered with, signed with another key or another
//!   algorithm, names another access key, or whose parent is gone or has a new generation:
//!   `InvalidToken` (S3) / `InvalidClientTokenId` (STS);
//! - an expired token: `ExpiredToken`;
//! - a temporary key without a token: `InvalidToken`;
//! - a long-term key *with* a token: refused as `InvalidToken` (as AWS does), since a client
//!   mixing the two is misconfigured and would otherwise be silently granted the long-term
//!   key's rights;
//! - a parent that exists with the same generation but has no policy: `AccessDenied`;
//! - any STS request (IAM actions included) over plain HTTP whose connection arrived on a
//!   non-loopback address, unless `sts.allow_plaintext` is set: `AccessDenied` (403) with a
//!   message saying to use https or set `sts.allow_plaintext`. An answer carries a secret
//!   key, so it must not cross a network in clear text. 403 `AccessDenied` is what AWS
//!   answers when a policy denies `aws:SecureTransport = false`; 400 `InvalidRequest` was
//!   the alternative, but clients and operators already read 403 as "refused, do not retry".
//!
//! This module must not log secrets or tokens; `TempCredentials`' `Debug` is redacted.

mod cache;
pub mod keys;
pub mod route;
pub mod session;
pub mod token;
pub mod xml;

use std::sync::Arc;

pub use keys::{is_temporary_access_key, TEMP_KEY_LEN, TEMP_KEY_PREFIX, TEMP_SECRET_LEN};
pub use route::{
    is_sts_http_request, promote_v2_presigned_token, rewrap_s3_error, security_token, StsAction,
    StsRoute, Transport,
};
pub use session::{check_session_policy, Session};
pub use token::Claims;

/// Shortest allowed session, in seconds (15 minutes).
pub const MIN_DURATION_SECS: u64 = 900;
/// Longest allowed session, in seconds (1 week).
pub const MAX_DURATION_SECS: u64 = 604_800;
/// Session length when the request names none, in seconds.
pub const DEFAULT_DURATION_SECS: u64 = 3600;

/// Why an STS operation or a temporary credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    #[error("the security token is invalid: {0}")]
    InvalidToken(&'static str),
    #[error("the security token has expired")]
    ExpiredToken,
    #[error("a temporary access key was used without its security token")]
    MissingToken,
    #[error("a long-term access key was used with a security token")]
    UnexpectedToken,
    #[error("the access key is not known")]
    InvalidClientTokenId,
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("invalid parameter: {0}")]
    InvalidParameterValue(String),
    #[error("malformed session policy: {0}")]
    MalformedPolicyDocument(String),
    #[error("the session policy is {0} bytes, more than the {1} allowed")]
    PackedPolicyTooLarge(usize, usize),
    #[error("unknown or unsupported STS action {0:?}")]
    InvalidAction(String),
    #[error("STS is refused over plain HTTP on a non-loopback address, because its answers carry secret keys: use https (set s3.tls_cert and s3.tls_key), connect through 127.0.0.1 or ::1, or set sts.allow_plaintext = true")]
    PlaintextRefused,
    #[error("internal error: {0}")]
    Internal(String),
}

impl StsError {
    /// The code in an STS `ErrorResponse`.
    pub fn sts_code(&self) -> &'static str {
        match self {
            StsError::InvalidToken(_) | StsError::MissingToken | StsError::UnexpectedToken => {
                "InvalidClientTokenId"
            }
            StsError::ExpiredToken => "ExpiredToken",
            StsError::InvalidClientTokenId => "InvalidClientTokenId",
            StsError::AccessDenied(_) => "AccessDenied",
            StsError::InvalidParameterValue(_) => "InvalidParameterValue",
            StsError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            StsError::PackedPolicyTooLarge(..) => "PackedPolicyTooLarge",
            StsError::InvalidAction(_) => "InvalidAction",
            StsError::PlaintextRefused => "AccessDenied",
            StsError::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status of an STS `ErrorResponse`.
    pub fn http_status(&self) -> u16 {
        match self {
            StsError::InvalidToken(_)
            | StsError::MissingToken
            | StsError::UnexpectedToken
            | StsError::InvalidClientTokenId
            | StsError::AccessDenied(_)
            | StsError::PlaintextRefused => 403,
            StsError::ExpiredToken
            | StsError::InvalidParameterValue(_)
            | StsError::MalformedPolicyDocument(_)
            | StsError::PackedPolicyTooLarge(..)
            | StsError::InvalidAction(_) => 400,
            StsError::Internal(_) => 500,
        }
    }

    /// The S3 error code for a request signed with a temporary credential.
    pub fn s3_code(&self) -> s3s::S3ErrorCode {
        use s3s::S3ErrorCode as C;
        match self {
            StsError::InvalidToken(_) | StsError::MissingToken | StsError::UnexpectedToken => {
                C::InvalidToken
            }
            StsError::ExpiredToken => C::ExpiredToken,
            StsError::InvalidClientTokenId => C::InvalidAccessKeyId,
            StsError::AccessDenied(_) | StsError::PlaintextRefused => C::AccessDenied,
            StsError::InvalidParameterValue(_)
            | StsError::MalformedPolicyDocument(_)
            | StsError::PackedPolicyTooLarge(..)
            | StsError::InvalidAction(_) => C::InvalidArgument,
            StsError::Internal(_) => C::InternalError,
        }
    }

    /// The S3 error for a request signed with a temporary credential (or carrying a token).
    pub fn s3_error(&self) -> s3s::S3Error {
        s3s::S3Error::with_message(self.s3_code(), self.client_message())
    }

    /// The message sent to the client (no internal detail for 5xx).
    pub fn client_message(&self) -> String {
        match self {
            StsError::Internal(_) => {
                "We encountered an internal error. Please try again.".to_owned()
            }
            StsError::InvalidToken(_) => {
                "The security token included in the request is invalid.".to_owned()
            }
            StsError::ExpiredToken => {
                "The security token included in the request is expired.".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// Temporary credentials as handed to a client.
#[derive(Clone)]
pub struct TempCredentials {
    /// `ASIA...`, 20 characters.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    /// The HS512 JWT.
    pub session_token: String,
    /// When they stop working.
    pub expiration: time::OffsetDateTime,
}

impl std::fmt::Debug for TempCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[SENSITIVE]")
            .field("session_token", &"[SENSITIVE]")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl TempCredentials {
    /// The expiry as ISO 8601 / RFC 3339 (`2026-11-29T14:00:00Z`).
    pub fn expiration_rfc3339(&self) -> String {
        format_rfc3339(self.expiration)
    }
}

/// RFC 3339 in UTC with whole seconds, as STS writes `Expiration`.
pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Issues and verifies temporary credentials. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    secrets: keys::SecretDeriver,
    tokens: token::TokenKey,
    verified: cache::TokenCache,
}

impl Sts {
    /// An STS keyed with the daemon's server key (`Iam::server_key()`).
    pub fn new(server_key: &[u8]) -> Sts {
        Sts {
            inner: Arc::new(Inner {
                secrets: keys::SecretDeriver::new(server_key),
                tokens: token::TokenKey::new(server_key),
                verified: cache::TokenCache::default(),
            }),
        }
    }

    /// The secret of `access_key` if it has the temporary shape, else `None`.
    ///
    /// Answers for any key of that shape; the session token proves it was issued.
    pub fn secret_for(&self, access_key: &str) -> Option<String> {
        is_temporary_access_key(access_key).then(|| self.inner.secrets.secret_for(access_key))
    }

    /// Fresh credentials for `parent` (at token generation `generation`), valid for
    /// `duration_secs` from now, restricted by `session_policy` (already validated JSON).
    pub fn issue(
        &self,
        parent: &str,
        generation: u64,
        session_policy: Option<String>,
        duration_secs: u64,
    ) -> Result<TempCredentials, StsError> {
        check_duration(duration_secs)?;
        let now = token::now_secs();
        self.issue_at(
            parent,
            generation,
            session_policy,
            now,
            now.saturating_add(duration_secs),
        )
    }

    fn issue_at(
        &self,
        parent: &str,
        generation: u64,
        session_policy: Option<String>,
        iat: u64,
        exp: u64,
    ) -> Result<TempCredentials, StsError> {
        let access_key_id = keys::new_temporary_access_key();
        let claims = Claims {
            iss: token::ISSUER.to_owned(),
            sub: parent.to_owned(),
            ak: access_key_id.clone(),
            gen: generation,
            iat,
            exp,
            pol: session_policy,
        };
        let session_token = self.inner.tokens.sign(&claims)?;
        let expiration =
            time::OffsetDateTime::from_unix_timestamp(i64::try_from(exp).unwrap_or(i64::MAX))
                .map_err(|e| StsError::Internal(format!("expiry out of range: {e}")))?;
        Ok(TempCredentials {
            secret_access_key: self.inner.secrets.secret_for(&access_key_id),
            access_key_id,
            session_token,
            expiration,
        })
    }

    /// The claims of `token` if it is genuine, unexpired and was issued for `access_key`.
    ///
    /// Does not look at the parent; [`Sts::verify`] does.
    pub fn verify_claims(&self, token: &str, access_key: &str) -> Result<Claims, StsError> {
        let claims = self.inner.tokens.verify(token)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            claims.ak.as_bytes(),
            access_key.as_bytes(),
        )) {
            return Err(StsError::InvalidToken(
                "token was issued for another access key",
            ));
        }
        Ok(claims)
    }
}

/// Refuses a duration outside 15 minutes..=1 week.
pub fn check_duration(duration_secs: u64) -> Result<(), StsError> {
    if (MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&duration_secs) {
        return Ok(());
    }
    Err(StsError::InvalidParameterValue(format!(
        "DurationSeconds {duration_secs} is outside {MIN_DURATION_SECS}..={MAX_DURATION_SECS} (15 minutes to 1 week)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts() -> Sts {
        Sts::new(&[9u8; 32])
    }

    #[test]
    fn issued_credentials_have_the_documented_shape() {
        let c = sts().issue("alice", 1, None, 900).unwrap();
        assert!(is_temporary_access_key(&c.access_key_id));
        assert_eq!(c.secret_access_key.len(), TEMP_SECRET_LEN);
        assert_eq!(
            sts().secret_for(&c.access_key_id).as_deref(),
            Some(c.secret_access_key.as_str())
        );
        assert_eq!(c.session_token.split('.').count(), 3);
    }

    #[test]
    fn issued_token_verifies_for_its_own_access_key() {
        let c = sts()
            .issue("alice", 7, Some("{}".to_owned()), 3600)
            .unwrap();
        let claims = sts()
            .verify_claims(&c.session_token, &c.access_key_id)
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.gen, claims.pol.as_deref()),
            ("alice", 7, Some("{}"))
        );
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn a_token_paired_with_another_access_key_is_refused() {
        let a = sts().issue("alice", 1, None, 900).unwrap();
        let b = sts().issue("alice", 1, None, 900).unwrap();
        let err = sts()
            .verify_claims(&a.session_token, &b.access_key_id)
            .unwrap_err();
        assert!(matches!(err, StsError::InvalidToken(_)));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let now = token::now_secs();
        let c = sts()
            .issue_at("alice", 1, None, now - 1000, now - 1)
            .unwrap();
        let err = sts()
            .verify_claims(&c.session_token, &c.access_key_id)
            .unwrap_err();
        assert_eq!(err, StsError::ExpiredToken);
        assert_eq!(err.sts_code(), "ExpiredToken");
    }

    #[test]
    fn a_token_of_another_daemon_is_refused() {
        let c = Sts::new(&[1u8; 32]).issue("alice", 1, None, 900).unwrap();
        assert!(sts()
            .verify_claims(&c.session_token, &c.access_key_id)
            .is_err());
        assert_ne!(
            sts().secret_for(&c.access_key_id).unwrap(),
            c.secret_access_key
        );
    }

    #[test_case::test_case(899, false ; "just under fifteen minutes")]
    #[test_case::test_case(900, true ; "fifteen minutes")]
    #[test_case::test_case(604_800, true ; "one week")]
    #[test_case::test_case(604_801, false ; "just over a week")]
    #[test_case::test_case(0, false ; "zero")]
    fn durations_are_bounded(secs: u64, ok: bool) {
        assert_eq!(check_duration(secs).is_ok(), ok);
        assert_eq!(sts().issue("alice", 1, None, secs).is_ok(), ok);
    }

    #[test]
    fn secrets_for_long_term_keys_are_not_derived() {
        assert_eq!(sts().secret_for("admin"), None);
    }

    #[test]
    fn debug_output_hides_secret_and_token() {
        let c = sts().issue("alice", 1, None, 900).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(&c.secret_access_key) && !shown.contains(&c.session_token));
    }

    #[test]
    fn expiration_is_written_as_rfc3339_utc() {
        let t = time::macros::datetime!(2026-11-29 14:05:09 UTC);
        assert_eq!(format_rfc3339(t), "2026-11-29T14:05:09Z");
    }
}
