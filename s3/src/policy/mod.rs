//! IAM policy language: parsing, validation and evaluation (pure: no I/O, no clock).
//!
//! Owns the meaning of policy documents. Invariants:
//! - A `Policy` exists only if its document passed validation (`Policy::parse`,
//!   `Policy::parse_bucket_policy`), and it keeps the author's exact text for `show`.
//! - Evaluation order, as AWS documents it: default deny; an explicit `Deny` in any
//!   policy that applies wins; otherwise an `Allow` is needed (see `authorize` for how the
//!   identity, session and bucket policies combine). Statement order never matters.
//! - Policy variables are values, never patterns: `${aws:username}` cannot widen a match.
//!
//! The caller supplies the time and request facts in a `RequestContext`; this module
//! must not read clocks, files or the network.

pub mod action;
pub mod builtin;
mod condition;
pub mod context;
pub mod error;
mod glob;
mod json;
pub mod ops;
mod parse;
mod statement;

pub use action::{Action, ActionSet};
pub use builtin::{bucket_preset, builtin, BucketPreset};
pub use context::{CondKey, RequestContext};
pub use error::{Location, PolicyError};
pub use ops::Requirement;
pub use statement::Effect;

use json::Json;
use parse::DocumentKind;
use statement::Statement;
use std::sync::Arc;

/// Default size limit of a policy document, in bytes (WEKA's).
pub const DEFAULT_MAX_BYTES: usize = 2048;

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    source: String,
    json: Json,
    statements: Vec<Statement>,
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evaluation {
    /// Some `Allow` statement applies.
    pub allowed: bool,
    /// Some `Deny` statement applies.
    pub denied: bool,
}

/// The final answer for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// `explicit`: a `Deny` statement applied (otherwise nothing allowed it).
    Deny {
        explicit: bool,
    },
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

impl Policy {
    /// Parses and validates a user (identity) or session policy of at most `max_bytes`.
    pub fn parse(json: &str, max_bytes: usize) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, max_bytes, DocumentKind::Identity)
    }

    /// Parses and validates a bucket policy: every statement needs `Principal` `"*"` (or
    /// `{"AWS": "*"}`), and `s3:*` / `*` actions are refused.
    pub fn parse_bucket_policy(json: &str, max_bytes: usize) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, max_bytes, DocumentKind::Bucket)
    }

    fn parse_as(text: &str, max_bytes: usize, kind: DocumentKind) -> Result<Policy, PolicyError> {
        let document = parse::parse_document(text, max_bytes, kind)?;
        Ok(Policy {
            source: text.to_string(),
            json: document.json,
            statements: document.statements,
        })
    }

    /// The document exactly as it was given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The document indented for humans, keys in the author's order.
    pub fn pretty(&self) -> String {
        self.json.pretty()
    }

    /// The document as a `serde_json::Value` (for `-J` outputs).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.json).unwrap_or(serde_json::Value::Null)
    }

    /// Number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// Which of this policy's statements apply to `action` on `resource`.
    pub fn evaluate(&self, action: Action, resource: &str, ctx: &RequestContext) -> Evaluation {
        let mut result = Evaluation::default();
        for statement in &self.statements {
            // A Deny decides alone; an Allow already found needs no second one.
            let relevant = match statement.effect {
                Effect::Deny => true,
                Effect::Allow => !result.allowed,
            };
            if relevant && statement.applies(action, resource, ctx) {
                match statement.effect {
                    Effect::Deny => result.denied = true,
                    Effect::Allow => result.allowed = true,
                }
            }
            if result.denied {
                break;
            }
        }
        result
    }
}

/// Decides one (action, resource) for a request.
///
/// - Anonymous (`anonymous == true`): only the bucket policy can allow; `identity` and
///   `session` are ignored. Allowed when a bucket-policy statement allows and none denies.
/// - Authenticated: allowed when the identity policy allows, the session policy (if
///   any, for STS credentials) also allows, and no statement of any of the three policies
///   (identity, session, bucket) explicitly denies. A bucket policy's `Allow` does not
///   grant authenticated users anything; a user without a policy can do nothing.
pub fn authorize(
    identity: Option<&Policy>,
    session: Option<&Policy>,
    bucket_policy: Option<&Policy>,
    anonymous: bool,
    action: Action,
    resource: &str,
    ctx: &RequestContext,
) -> Decision {
    let eval = |p: Option<&Policy>| p.map(|p| p.evaluate(action, resource, ctx));
    let bucket = eval(bucket_policy);
    if anonymous {
        let bucket = bucket.unwrap_or_default();
        return verdict(bucket.allowed, bucket.denied);
    }
    let (identity, session) = (eval(identity), eval(session));
    let denied = [identity, session, bucket]
        .iter()
        .flatten()
        .any(|e| e.denied);
    let allowed = identity.is_some_and(|e| e.allowed) && session.is_none_or(|e| e.allowed);
    verdict(allowed, denied)
}

fn verdict(allowed: bool, denied: bool) -> Decision {
    match (allowed, denied) {
        (_, true) => Decision::Deny { explicit: true },
        (true, false) => Decision::Allow,
        (false, false) => Decision::Deny { explicit: false },
    }
}

/// Decides every requirement of an operation (see `ops::requirements`): allowed only
/// when each is allowed; the first refusal is returned. An empty list (unknown
/// operation) is denied. `bucket_policy` looks up the bucket policy of a requirement's
/// bucket (CopyObject and UploadPartCopy involve two buckets), for example
/// `|b| iam.bucket_policy(b)`.
pub fn authorize_all(
    identity: Option<&Policy>,
    session: Option<&Policy>,
    bucket_policy: impl Fn(&str) -> Option<Arc<Policy>>,
    anonymous: bool,
    requirements: &[Requirement],
    ctx: &RequestContext,
) -> Decision {
    if requirements.is_empty() {
        return Decision::Deny { explicit: false };
    }
    for req in requirements {
        let bucket = req.bucket.as_deref().and_then(&bucket_policy);
        let decision = authorize(
            identity,
            session,
            bucket.as_deref(),
            anonymous,
            req.action,
            &req.resource_arn,
            ctx,
        );
        if !decision.is_allowed() {
            return decision;
        }
    }
    Decision::Allow
}
