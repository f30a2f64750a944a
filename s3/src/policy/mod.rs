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
pub use builtin::{bucket_preset, builtin, BucketPolicyKind, BucketPreset, UnknownBucketPreset};
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

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod semantics_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    /// The per-user home folder policy of the AWS IAM documentation.
    const HOME_FOLDERS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowGroupToSeeBucketListInTheConsole", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Effect": "Allow", "Resource": ["arn:aws:s3:::*"]},
    {"Sid": "AllowRootAndHomeListingOfCompanyBucket", "Action": ["s3:ListBucket"], "Effect": "Allow", "Resource": ["arn:aws:s3:::my-company"],
     "Condition": {"StringEquals": {"s3:prefix": ["", "home/", "home/${aws:username}/"], "s3:delimiter": ["/"]}}},
    {"Sid": "AllowListingOfUserFolder", "Action": ["s3:ListBucket"], "Effect": "Allow", "Resource": ["arn:aws:s3:::my-company"],
     "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}},
    {"Sid": "AllowAllS3ActionsInUserFolder", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::my-company/home/${aws:username}/*"]}
  ]
}"#;

    fn user(name: &str) -> RequestContext {
        let mut ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        ctx.username = Some(name.to_string());
        ctx.userid = Some(format!("id-{name}"));
        ctx
    }

    fn allowed(policy: &Policy, op: &str, key: Option<&str>, ctx: &RequestContext) -> bool {
        let reqs = ops::requirements_named(op, "my-company", key, None);
        authorize_all(Some(policy), None, |_| None, false, &reqs, ctx).is_allowed()
    }

    #[test_case(Some(""), Some("/"), true; "bucket root with delimiter")]
    #[test_case(Some("home/"), Some("/"), true; "home with delimiter")]
    #[test_case(Some("home/alice/"), Some("/"), true; "own folder with delimiter")]
    #[test_case(Some("home/alice/photos/"), None, true; "inside own folder")]
    #[test_case(Some("home/bob/"), Some("/"), false; "another user's folder")]
    #[test_case(Some("home/bob/photos/"), None, false; "inside another user's folder")]
    #[test_case(None, None, false; "whole bucket recursively")]
    #[test_case(Some("home/"), None, false; "all homes recursively")]
    #[test_case(Some("home/alice"), None, false; "own name without slash")]
    fn home_folder_listing_evaluates_as_aws_documents(
        prefix: Option<&str>,
        delimiter: Option<&str>,
        expected: bool,
    ) {
        let policy = Policy::parse(HOME_FOLDERS, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice").with_list_params(prefix, delimiter, None);
        assert_eq!(allowed(&policy, "ListObjectsV2", None, &ctx), expected);
    }

    #[test_case("GetObject", "home/alice/notes.txt", true)]
    #[test_case("PutObject", "home/alice/a/b/c.txt", true)]
    #[test_case("DeleteObject", "home/alice/x", true)]
    #[test_case("CreateMultipartUpload", "home/alice/big", true)]
    #[test_case("GetObject", "home/bob/notes.txt", false)]
    #[test_case("PutObject", "home/alicex/notes.txt", false)]
    #[test_case("GetObject", "home/alice", false)]
    #[test_case("GetObject", "shared/readme", false)]
    fn home_folder_objects_evaluate_as_aws_documents(op: &str, key: &str, expected: bool) {
        let policy = Policy::parse(HOME_FOLDERS, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(allowed(&policy, op, Some(key), &user("alice")), expected);
    }

    #[test]
    fn home_folder_grants_the_bucket_list_but_no_bucket_changes() {
        let policy = Policy::parse(HOME_FOLDERS, DEFAULT_MAX_BYTES).unwrap();
        assert!(allowed(&policy, "ListBuckets", None, &user("alice")));
        assert!(allowed(&policy, "GetBucketLocation", None, &user("alice")));
        assert!(!allowed(&policy, "DeleteBucket", None, &user("alice")));
    }

    #[test_case("*"; "star")]
    #[test_case("b*"; "star suffix")]
    #[test_case("???"; "question marks")]
    #[test_case("$"; "dollar")]
    #[test_case("${aws:username}"; "variable syntax")]
    fn wildcard_user_names_reach_only_their_own_folder(name: &str) {
        let policy = Policy::parse(HOME_FOLDERS, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user(name);
        assert!(!allowed(
            &policy,
            "GetObject",
            Some("home/bob/notes.txt"),
            &ctx
        ));
        assert!(allowed(
            &policy,
            "GetObject",
            Some(&format!("home/{name}/notes.txt")),
            &ctx
        ));
        let listing = user(name).with_list_params(Some("home/bob/"), None, None);
        assert!(!allowed(&policy, "ListObjectsV2", None, &listing));
    }

    #[test]
    fn anonymous_request_gets_nothing_from_variable_statements() {
        let policy = Policy::parse(HOME_FOLDERS, DEFAULT_MAX_BYTES).unwrap();
        let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        let eval = policy.evaluate(Action::GetObject, "arn:aws:s3:::my-company/home//x", &ctx);
        assert!(!eval.allowed);
    }

    const DENY_SECRET: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"},
        {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}]}"#;

    #[test]
    fn explicit_deny_wins_over_allow() {
        let policy = Policy::parse(DENY_SECRET, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice");
        let decision = authorize(
            Some(&policy),
            None,
            None,
            false,
            Action::GetObject,
            "arn:aws:s3:::b/secret/x",
            &ctx,
        );
        assert_eq!(decision, Decision::Deny { explicit: true });
        let decision = authorize(
            Some(&policy),
            None,
            None,
            false,
            Action::GetObject,
            "arn:aws:s3:::b/public/x",
            &ctx,
        );
        assert_eq!(decision, Decision::Allow);
    }

    #[test]
    fn not_action_and_not_resource_invert_their_lists() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"s3:DeleteObject","NotResource":"arn:aws:s3:::b/locked/*"}]}"#;
        let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice");
        let check = |action, resource| policy.evaluate(action, resource, &ctx).allowed;
        assert!(check(Action::GetObject, "arn:aws:s3:::b/open/x"));
        assert!(!check(Action::DeleteObject, "arn:aws:s3:::b/open/x"));
        assert!(!check(Action::GetObject, "arn:aws:s3:::b/locked/x"));
    }

    #[test]
    fn user_without_policy_is_denied() {
        let decision = authorize(
            None,
            None,
            None,
            false,
            Action::GetObject,
            "arn:aws:s3:::b/x",
            &user("alice"),
        );
        assert_eq!(decision, Decision::Deny { explicit: false });
    }

    #[test]
    fn session_policy_must_also_allow() {
        let identity = Policy::parse(builtin::READWRITE, DEFAULT_MAX_BYTES).unwrap();
        let session = Policy::parse(builtin::READONLY, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice");
        let run = |action| {
            authorize(
                Some(&identity),
                Some(&session),
                None,
                false,
                action,
                "arn:aws:s3:::b/x",
                &ctx,
            )
        };
        assert_eq!(run(Action::GetObject), Decision::Allow);
        assert_eq!(run(Action::PutObject), Decision::Deny { explicit: false });
    }

    #[test]
    fn session_policy_cannot_add_to_the_identity_policy() {
        let identity = Policy::parse(builtin::READONLY, DEFAULT_MAX_BYTES).unwrap();
        let session = Policy::parse(builtin::READWRITE, DEFAULT_MAX_BYTES).unwrap();
        let decision = authorize(
            Some(&identity),
            Some(&session),
            None,
            false,
            Action::PutObject,
            "arn:aws:s3:::b/x",
            &user("a"),
        );
        assert!(!decision.is_allowed());
    }

    #[test]
    fn anonymous_access_comes_only_from_the_bucket_policy() {
        let download = Policy::parse_bucket_policy(
            &bucket_preset("download", "pub").unwrap(),
            DEFAULT_MAX_BYTES,
        )
        .unwrap();
        let readwrite = Policy::parse(builtin::READWRITE, DEFAULT_MAX_BYTES).unwrap();
        let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        let anon = |identity, action, resource| {
            authorize(
                identity,
                None,
                Some(&download),
                true,
                action,
                resource,
                &ctx,
            )
        };
        assert!(anon(None, Action::GetObject, "arn:aws:s3:::pub/x").is_allowed());
        assert!(!anon(None, Action::PutObject, "arn:aws:s3:::pub/x").is_allowed());
        assert!(!anon(Some(&readwrite), Action::PutObject, "arn:aws:s3:::pub/x").is_allowed());
        let none = authorize(
            None,
            None,
            None,
            true,
            Action::GetObject,
            "arn:aws:s3:::pub/x",
            &ctx,
        );
        assert_eq!(none, Decision::Deny { explicit: false });
    }

    #[test]
    fn bucket_policy_deny_applies_to_authenticated_users() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let bucket = Policy::parse_bucket_policy(text, DEFAULT_MAX_BYTES).unwrap();
        let identity = Policy::parse(builtin::READWRITE, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice");
        let run = |action| {
            authorize(
                Some(&identity),
                None,
                Some(&bucket),
                false,
                action,
                "arn:aws:s3:::b/x",
                &ctx,
            )
        };
        assert_eq!(run(Action::DeleteObject), Decision::Deny { explicit: true });
        assert_eq!(run(Action::GetObject), Decision::Allow);
    }

    #[test]
    fn conditions_gate_statements() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
        let mut ctx = user("alice");
        ctx.source_ip = Some("10.1.2.3".parse().unwrap());
        assert!(
            !policy
                .evaluate(Action::GetObject, "arn:aws:s3:::b/x", &ctx)
                .allowed,
            "both conditions must hold"
        );
        ctx.secure = true;
        assert!(
            policy
                .evaluate(Action::GetObject, "arn:aws:s3:::b/x", &ctx)
                .allowed
        );
    }

    #[test]
    fn copy_object_needs_read_on_source_and_write_on_target() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::src/*"},
            {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::dst/*"}]}"#;
        let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
        let ctx = user("alice");
        let copy = |from: &str, to: &str| {
            let reqs = ops::requirements_named("CopyObject", to, Some("k"), Some((from, "k")));
            authorize_all(Some(&policy), None, |_| None, false, &reqs, &ctx).is_allowed()
        };
        assert!(copy("src", "dst"));
        assert!(!copy("dst", "src"));
        assert!(!copy("dst", "dst"));
    }

    #[test]
    fn authorize_all_uses_each_requirements_bucket_policy() {
        let public_src = Policy::parse_bucket_policy(
            &bucket_preset("public", "src").unwrap(),
            DEFAULT_MAX_BYTES,
        )
        .unwrap();
        let public_src = Arc::new(public_src);
        let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        let reqs = ops::requirements_named("CopyObject", "dst", Some("k"), Some(("src", "k")));
        let lookup = |b: &str| (b == "src").then(|| public_src.clone());
        assert!(
            !authorize_all(None, None, lookup, true, &reqs, &ctx).is_allowed(),
            "no anonymous write on dst"
        );
        let reqs = ops::requirements_named("CopyObject", "src", Some("k2"), Some(("src", "k")));
        assert!(authorize_all(None, None, lookup, true, &reqs, &ctx).is_allowed());
    }

    #[test]
    fn unknown_operation_is_denied() {
        let policy = Policy::parse(builtin::READWRITE, DEFAULT_MAX_BYTES).unwrap();
        let reqs = ops::requirements_named("LaunchRocket", "b", None, None);
        assert!(reqs.is_empty());
        assert!(
            !authorize_all(Some(&policy), None, |_| None, false, &reqs, &user("a")).is_allowed()
        );
    }

    #[test]
    fn builtins_parse_and_keep_their_exact_text() {
        for name in builtin::BUILTIN_NAMES {
            let text = builtin(name).unwrap();
            let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
            assert_eq!(policy.source(), text);
            let pretty: serde_json::Value = serde_json::from_str(&policy.pretty()).unwrap();
            assert_eq!(
                pretty,
                serde_json::from_str::<serde_json::Value>(text).unwrap()
            );
        }
        assert_eq!(builtin("admin"), None);
    }

    #[test_case("readonly", Action::GetObject, true)]
    #[test_case("readonly", Action::GetBucketLocation, true)]
    #[test_case("readonly", Action::ListBucket, false; "WEKA readonly does not list")]
    #[test_case("readonly", Action::PutObject, false)]
    #[test_case("writeonly", Action::PutObject, true)]
    #[test_case("writeonly", Action::GetObject, false)]
    #[test_case("readwrite", Action::DeleteBucket, true)]
    fn builtins_grant_what_their_names_say(name: &str, action: Action, expected: bool) {
        let policy = Policy::parse(builtin(name).unwrap(), DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(
            policy
                .evaluate(action, "arn:aws:s3:::b/k", &user("a"))
                .allowed,
            expected
        );
    }

    #[test_case("download", &[Action::GetBucketLocation, Action::ListBucket], &[Action::GetObject])]
    #[test_case("upload", &[Action::GetBucketLocation, Action::ListBucketMultipartUploads],
        &[Action::DeleteObject, Action::ListMultipartUploadParts, Action::PutObject, Action::AbortMultipartUpload])]
    #[test_case("public", &[Action::GetBucketLocation, Action::ListBucket, Action::ListBucketMultipartUploads],
        &[Action::ListMultipartUploadParts, Action::PutObject, Action::AbortMultipartUpload, Action::DeleteObject, Action::GetObject])]
    fn presets_grant_exactly_the_reference_table(
        kind: &str,
        on_bucket: &[Action],
        on_objects: &[Action],
    ) {
        let json = bucket_preset(kind, "bk").unwrap();
        let policy = Policy::parse_bucket_policy(&json, DEFAULT_MAX_BYTES).unwrap();
        let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        for action in Action::ALL {
            let bucket = policy.evaluate(action, "arn:aws:s3:::bk", &ctx).allowed;
            let object = policy
                .evaluate(action, "arn:aws:s3:::bk/some/key", &ctx)
                .allowed;
            assert_eq!(
                bucket,
                on_bucket.contains(&action),
                "{kind} {action} on bucket"
            );
            assert_eq!(
                object,
                on_objects.contains(&action),
                "{kind} {action} on objects"
            );
            assert!(
                !policy
                    .evaluate(action, "arn:aws:s3:::other/k", &ctx)
                    .allowed
            );
        }
        assert_eq!(
            BucketPreset::detect(Some(&json), "bk").map(BucketPreset::name),
            Some(kind)
        );
        assert_eq!(BucketPreset::detect(Some(&json), "other"), None);
    }

    #[test]
    fn none_preset_is_no_policy() {
        assert_eq!(bucket_preset("none", "b"), None);
        assert_eq!(bucket_preset("everything", "b"), None);
        assert_eq!(BucketPreset::parse("none"), Some(BucketPreset::None));
        assert_eq!(BucketPreset::detect(None, "b"), Some(BucketPreset::None));
    }

    #[test]
    fn pretty_keeps_key_order_and_source_is_verbatim() {
        let text = r#"{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#;
        let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(policy.source(), text);
        let pretty = policy.pretty();
        assert!(
            pretty.find("\"Version\"") < pretty.find("\"Statement\""),
            "{pretty}"
        );
        assert!(
            pretty.find("\"Sid\"") < pretty.find("\"Effect\""),
            "{pretty}"
        );
        assert_eq!(policy.to_value()["Statement"]["Sid"], "A");
    }

    #[test]
    fn every_operation_maps_to_a_requirement() {
        for op in ops::operations() {
            let reqs = ops::requirements_named(op, "b", Some("k"), Some(("s", "k2")));
            let never = matches!(op, "CreateSession" | "WriteGetObjectResponse");
            assert_eq!(reqs.is_empty(), never, "{op}");
        }
        let list = ops::requirements_named("ListBuckets", "", None, None);
        assert_eq!(
            list,
            [Requirement {
                action: Action::ListAllMyBuckets,
                resource_arn: "arn:aws:s3:::*".into(),
                bucket: None
            }]
        );
        assert!(
            ops::requirements_named("GetObject", "b", None, None).is_empty(),
            "object operations need a key"
        );
        assert!(
            ops::requirements_named("CopyObject", "b", Some("k"), None).is_empty(),
            "copy needs a source"
        );
    }

    #[test_case("HeadObject", Action::GetObject, "arn:aws:s3:::b/k")]
    #[test_case("HeadBucket", Action::ListBucket, "arn:aws:s3:::b")]
    #[test_case("UploadPart", Action::PutObject, "arn:aws:s3:::b/k")]
    #[test_case("CompleteMultipartUpload", Action::PutObject, "arn:aws:s3:::b/k")]
    #[test_case("ListParts", Action::ListMultipartUploadParts, "arn:aws:s3:::b/k")]
    #[test_case(
        "ListMultipartUploads",
        Action::ListBucketMultipartUploads,
        "arn:aws:s3:::b"
    )]
    #[test_case("DeleteObjects", Action::DeleteObject, "arn:aws:s3:::b/k")]
    #[test_case("DeleteBucketTagging", Action::PutBucketTagging, "arn:aws:s3:::b")]
    #[test_case(
        "GetBucketLifecycleConfiguration",
        Action::GetLifecycleConfiguration,
        "arn:aws:s3:::b"
    )]
    #[test_case("GetObjectTagging", Action::GetObjectTagging, "arn:aws:s3:::b/k")]
    fn operations_map_to_aws_actions(op: &str, action: Action, arn: &str) {
        let reqs = ops::requirements_named(op, "b", Some("k"), None);
        assert_eq!(
            reqs,
            [Requirement {
                action,
                resource_arn: arn.into(),
                bucket: Some("b".into())
            }]
        );
    }
}
