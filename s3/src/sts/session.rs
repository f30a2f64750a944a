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

use super::{check_duration, is_temporary_access_key, Sts, StsError, TempCredentials};
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
        let claims = self.verify_claims(token, access_key)?;
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
        let session_policy = match claims.pol.as_deref() {
            Some(json) => Some(Arc::new(
                Policy::parse(json, SIGNED_POLICY_MAX)
                    .map_err(|_| StsError::InvalidToken("session policy is unreadable"))?,
            )),
            None => None,
        };
        Ok(Session {
            access_key: claims.ak,
            parent,
            session_policy,
            expires: claims.exp,
        })
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
