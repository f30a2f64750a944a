//! Sessions: issuing credentials for an IAM user and checking them on every request.
//!
//! Owns the rules that tie a temporary credential to the live state of its parent user:
//! the parent must still exist, with the token generation recorded in the token (deleting
//! the user, changing its password, detaching its policy or revoking its tokens changes
//! that), and must still have a policy. The parent's policy is read from the IAM snapshot at
//! request time, never copied into the token, so a change to it applies at once.
//!
//! Invariant: a session policy only ever reduces rights; the caller evaluates it together
//! with the parent's current policy (`policy::authorize(identity, session, ...)`).
//! This module reads the IAM snapshot but never writes the store.

use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use super::cache::VerifiedToken;
use super::{check_duration, is_temporary_access_key, token, Sts, StsError, TempCredentials};
use crate::iam::{Iam, S3Identity};
use crate::policy::{Policy, PolicyError};

/// Size limit used when re-parsing a session policy out of a token we signed ourselves
/// (it was checked against the configured limit when the token was issued).
const SIGNED_POLICY_MAX: usize = 1 << 16;

/// A verified temporary credential, as of the IAM snapshot it was checked against.
#[derive(Debug, Clone)]
pub struct Session {
    /// The temporary access key used.
    pub access_key: String,
    /// The user that issued it, with its *current* policy.
    pub parent: Arc<S3Identity>,
    /// The session policy carried by the token, if any.
    pub session_policy: Option<Arc<Policy>>,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
}

impl Session {
    /// The parent's current identity policy (present: checked by [`Sts::verify`]).
    pub fn identity_policy(&self) -> Option<&Policy> {
        self.parent.policy.as_deref()
    }

    /// The session policy, if any.
    pub fn session_policy(&self) -> Option<&Policy> {
        self.session_policy.as_deref()
    }
}

impl Sts {
    /// Checks `token` presented with temporary key `access_key`: signature, algorithm,
    /// expiry (`ExpiredToken`), that it names `access_key` (`InvalidToken`), and that its
    /// parent exists with the same token generation (`InvalidToken`) and has a policy
    /// (`AccessDenied`).
    pub fn verify(&self, token: &str, access_key: &str, iam: &Iam) -> Result<Session, StsError> {
        let verified = self.verified_token(token)?;
        let claims = &verified.claims;
        // Checked on every request, cached or not (zero leeway, like the JWT check).
        if claims.exp < token::now_secs() {
            return Err(StsError::ExpiredToken);
        }
        if !bool::from(claims.ak.as_bytes().ct_eq(access_key.as_bytes())) {
            return Err(StsError::InvalidToken(
                "token was issued for another access key",
            ));
        }
        let Some(parent) = iam.s3_identity(&claims.sub) else {
            return Err(StsError::InvalidToken(
                "the user that issued it no longer exists",
            ));
        };
        if parent.token_generation != claims.gen {
            return Err(StsError::InvalidToken(
                "the user's password, policy or tokens changed since it was issued",
            ));
        }
        if parent.policy.is_none() {
            return Err(StsError::AccessDenied(format!(
                "user {} has no policy",
                parent.name
            )));
        }
        Ok(Session {
            access_key: claims.ak.clone(),
            parent,
            session_policy: verified.session_policy.clone(),
            expires: claims.exp,
        })
    }

    /// The content of `token`: from the cache of already verified tokens, or verified in
    /// full (signature, algorithm, issuer, expiry) and its session policy parsed.
    fn verified_token(&self, token: &str) -> Result<Arc<VerifiedToken>, StsError> {
        if let Some(hit) = self.inner.verified.get(token) {
            return Ok(hit);
        }
        let claims = self.inner.tokens.verify(token)?;
        let session_policy = match claims.pol.as_deref() {
            Some(json) => Some(Arc::new(
                Policy::parse(json, SIGNED_POLICY_MAX)
                    .map_err(|_| StsError::InvalidToken("session policy is unreadable"))?,
            )),
            None => None,
        };
        let verified = Arc::new(VerifiedToken {
            claims,
            session_policy,
        });
        self.inner
            .verified
            .insert(token, verified.clone(), token::now_secs());
        Ok(verified)
    }

    /// Credentials for `parent`, already authenticated with its long-term key, valid for
    /// `duration_secs` and restricted by `policy_json` (validated like any policy, at most
    /// `max_policy_bytes`).
    pub fn assume_role(
        &self,
        parent: &S3Identity,
        policy_json: Option<&str>,
        duration_secs: u64,
        max_policy_bytes: usize,
    ) -> Result<TempCredentials, StsError> {
        check_duration(duration_secs)?;
        if parent.policy.is_none() {
            return Err(StsError::AccessDenied(format!(
                "user {} has no policy attached, so it can do nothing over S3 and cannot assume a role",
                parent.name
            )));
        }
        if let Some(json) = policy_json {
            check_session_policy(json, max_policy_bytes)?;
        }
        self.issue(
            &parent.name,
            parent.token_generation,
            policy_json.map(str::to_owned),
            duration_secs,
        )
    }

    /// The CLI's `assume-role`: checks the key pair exactly as the S3 door would (the
    /// secret compared in constant time), then [`Sts::assume_role`].
    pub fn assume_role_with_keys(
        &self,
        iam: &Iam,
        access_key: &str,
        secret_key: &str,
        policy_json: Option<&str>,
        duration_secs: u64,
    ) -> Result<TempCredentials, StsError> {
        if is_temporary_access_key(access_key) {
            return Err(StsError::AccessDenied(
                "temporary credentials cannot assume a role".to_owned(),
            ));
        }
        let Some(parent) = iam.s3_identity(access_key) else {
            return Err(StsError::InvalidClientTokenId);
        };
        if !parent.secret.ct_eq(secret_key) {
            return Err(StsError::InvalidClientTokenId);
        }
        self.assume_role(
            &parent,
            policy_json,
            duration_secs,
            iam.options().policy_max_bytes,
        )
    }
}

/// Validates a session policy like any policy: size first (`PackedPolicyTooLarge`), then
/// content (`MalformedPolicyDocument`).
pub fn check_session_policy(json: &str, max_bytes: usize) -> Result<Policy, StsError> {
    if json.len() > max_bytes {
        return Err(StsError::PackedPolicyTooLarge(json.len(), max_bytes));
    }
    Policy::parse(json, max_bytes).map_err(|e| match e {
        PolicyError::TooLarge { size, limit } => StsError::PackedPolicyTooLarge(size, limit),
        PolicyError::Json { .. } | PolicyError::Invalid { .. } => {
            StsError::MalformedPolicyDocument(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{IamOptions, NewUser, Role, SecretString};

    const PW: &str = "Session-Passw0rd";
    const NARROW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    fn iam_with_user(dir: &std::path::Path, policy: Option<&str>) -> Iam {
        let iam = Iam::open(dir, IamOptions::default()).unwrap();
        let user = NewUser {
            name: "carol".into(),
            role: Role::S3,
            password: SecretString::new(PW),
            posix_uid: None,
            posix_gid: None,
            policy: policy.map(str::to_owned),
        };
        iam.add_user(user).unwrap();
        iam
    }

    #[test]
    fn a_token_verifies_with_the_parents_current_policy_and_its_session_policy() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam_with_user(dir.path(), Some("readwrite"));
        let sts = Sts::new(iam.server_key());
        let c = sts
            .assume_role_with_keys(&iam, "carol", PW, Some(NARROW), 900)
            .unwrap();
        for _ in 0..2 {
            // The second round is served from the cache of verified tokens.
            let s = sts
                .verify(&c.session_token, &c.access_key_id, &iam)
                .unwrap();
            assert_eq!(s.parent.name, "carol");
            assert_eq!(
                s.identity_policy().map(Policy::source),
                iam.s3_identity("carol")
                    .unwrap()
                    .policy
                    .as_deref()
                    .map(Policy::source)
            );
            assert_eq!(s.session_policy().map(Policy::source), Some(NARROW));
        }
        iam.attach_policy("readonly", "carol").unwrap();
        let s = sts
            .verify(&c.session_token, &c.access_key_id, &iam)
            .unwrap();
        assert_eq!(s.parent.policy_name.as_deref(), Some("readonly"));
    }

    #[test]
    fn revoking_the_parents_tokens_ends_a_cached_token() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam_with_user(dir.path(), Some("readwrite"));
        let sts = Sts::new(iam.server_key());
        let c = sts
            .assume_role_with_keys(&iam, "carol", PW, None, 900)
            .unwrap();
        assert!(sts.verify(&c.session_token, &c.access_key_id, &iam).is_ok());
        iam.revoke_tokens("carol").unwrap();
        let err = sts
            .verify(&c.session_token, &c.access_key_id, &iam)
            .unwrap_err();
        assert!(matches!(err, StsError::InvalidToken(_)), "{err:?}");
    }

    #[test]
    fn a_cached_token_still_expires_and_still_belongs_to_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam_with_user(dir.path(), Some("readwrite"));
        let sts = Sts::new(iam.server_key());
        let c = sts
            .assume_role_with_keys(&iam, "carol", PW, None, 900)
            .unwrap();
        let mut claims = sts
            .verify_claims(&c.session_token, &c.access_key_id)
            .unwrap();
        let other = sts
            .assume_role_with_keys(&iam, "carol", PW, None, 900)
            .unwrap();
        assert!(matches!(
            sts.verify(&c.session_token, &other.access_key_id, &iam),
            Err(StsError::InvalidToken(_))
        ));
        claims.exp = token::now_secs() - 1;
        let stale = Arc::new(VerifiedToken {
            claims,
            session_policy: None,
        });
        sts.inner.verified.insert(&c.session_token, stale, 0);
        assert_eq!(
            sts.verify(&c.session_token, &c.access_key_id, &iam)
                .unwrap_err(),
            StsError::ExpiredToken
        );
    }

    #[test]
    fn the_cli_path_checks_the_key_pair_and_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam_with_user(dir.path(), None);
        let sts = Sts::new(iam.server_key());
        assert_eq!(
            sts.assume_role_with_keys(&iam, "carol", "wrong", None, 900)
                .unwrap_err(),
            StsError::InvalidClientTokenId
        );
        assert_eq!(
            sts.assume_role_with_keys(&iam, "nobody", PW, None, 900)
                .unwrap_err(),
            StsError::InvalidClientTokenId
        );
        assert!(matches!(
            sts.assume_role_with_keys(&iam, "carol", PW, None, 900),
            Err(StsError::AccessDenied(_))
        ));
        iam.attach_policy("readonly", "carol").unwrap();
        assert!(sts
            .assume_role_with_keys(&iam, "carol", PW, None, 900)
            .is_ok());
        assert!(matches!(
            sts.assume_role_with_keys(&iam, "carol", PW, None, 60),
            Err(StsError::InvalidParameterValue(_))
        ));
        assert!(matches!(
            sts.assume_role_with_keys(&iam, "carol", PW, Some("{"), 900),
            Err(StsError::MalformedPolicyDocument(_))
        ));
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "x".repeat(2100)
        );
        assert!(matches!(
            sts.assume_role_with_keys(&iam, "carol", PW, Some(&big), 900),
            Err(StsError::PackedPolicyTooLarge(..))
        ));
        let c = sts
            .assume_role_with_keys(&iam, "carol", PW, None, 900)
            .unwrap();
        assert!(matches!(
            sts.assume_role_with_keys(&iam, &c.access_key_id, &c.secret_access_key, None, 900),
            Err(StsError::AccessDenied(_))
        ));
    }
}
