//! Control handler for `weka s3 sts assume-role`.
//!
//! Owns the translation between the wire request and `weka_s3::sts`: the key pair is
//! checked exactly as the S3 door would (unknown key and wrong secret give the same
//! answer; the secret is compared in constant time by `Sts::assume_role_with_keys`), and
//! every `StsError` becomes an `ErrorObject` with the STS code, in one exhaustive match.
//! This module never logs the secret key, the session policy or the credentials it returns.

use weka::api::{Credentials, ErrorObject, Response, Secret};
use weka_s3::iam::Iam;
use weka_s3::sts::{is_temporary_access_key, Sts, StsError};

/// Issues temporary credentials for the S3 user `access_key` / `secret_key`.
pub fn assume_role(
    iam: &Iam,
    access_key: &str,
    secret_key: &str,
    policy: Option<&str>,
    duration_secs: u64,
) -> Result<Response, ErrorObject> {
    // Keys are derived per call (a few microseconds): the server key never changes while
    // the daemon runs, and this keeps the control context free of STS state.
    let sts = Sts::new(iam.server_key());
    let creds = sts
        .assume_role_with_keys(iam, access_key, secret_key, policy, duration_secs)
        .map_err(|e| sts_error(&e, access_key))?;
    tracing::info!(user = access_key, temporary_key = %creds.access_key_id, duration_secs, "assume-role issued temporary credentials");
    Ok(Response::Credentials(Credentials {
        expiration: creds.expiration_rfc3339(),
        access_key_id: creds.access_key_id,
        secret_access_key: Secret::new(creds.secret_access_key),
        session_token: Secret::new(creds.session_token),
    }))
}

fn sts_error(e: &StsError, access_key: &str) -> ErrorObject {
    let hint = match e {
        StsError::InvalidClientTokenId => Some("check the access key and secret key (the S3 user's name and password)".to_owned()),
        StsError::AccessDenied(_) if !is_temporary_access_key(access_key) => {
            Some(format!("attach a policy first: weka s3 policy attach <policy> {access_key}"))
        }
        StsError::AccessDenied(_) => None,
        StsError::InvalidParameterValue(_) => Some("the duration must lie between 15 minutes and 1 week".to_owned()),
        StsError::MalformedPolicyDocument(_) | StsError::PackedPolicyTooLarge(..) => {
            Some("the session policy is validated like any policy (at most 2048 bytes, supported s3 actions only)".to_owned())
        }
        StsError::InvalidToken(_)
        | StsError::ExpiredToken
        | StsError::MissingToken
        | StsError::UnexpectedToken
        | StsError::InvalidAction(_)
        | StsError::Internal(_) => None,
        // Only the HTTP route refuses plaintext (the socket is local); its message says
        // what to do.
        StsError::PlaintextRefused => None,
    };
    let message = match e {
        StsError::InvalidClientTokenId => "the access key or secret key is not valid".to_owned(),
        other => other.to_string(),
    };
    ErrorObject {
        code: e.sts_code().to_owned(),
        message,
        hint,
    }
}
