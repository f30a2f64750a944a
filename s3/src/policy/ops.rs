//! Which action on which resource each S3 operation needs, for every operation s3s routes.
//!
//! Owns the table from each [`Op`] (`GetObject`, `ListObjectsV2`, ...) to a `Rule`:
//! the (action, resource) requirements, whether the door serves the operation, and where
//! it is decided. Invariants (deny by construction):
//! - every operation s3s can route is an [`Op`] (a unit test reads the list from s3s's own
//!   source, so a new s3s operation fails the build's tests until it is added there), and
//!   every `Op` has a rule (`rule` is an exhaustive match);
//! - a name s3s gives that is no `Op` is refused by the access check for every caller,
//!   signed or not;
//! - an operation the door does not serve still names the action that would govern it, so
//!   `NotImplemented` is only ever answered to a caller IAM would have allowed; where AWS's
//!   action is outside WEKA's fixed list, the closest supported action stands in (bucket
//!   configuration reads need `s3:GetBucketPolicy`, writes `s3:PutBucketPolicy`; object
//!   reads `s3:GetObject`, object writes `s3:PutObject`), and an operation that nothing
//!   may ever do (`CreateSession`, `WriteGetObjectResponse`) needs nothing grantable.
//!
//! Condition keys the caller must put in the `RequestContext`:
//! - ListObjects, ListObjectsV2, ListObjectVersions: `s3:prefix` (always, `""` when the
//!   request has none), `s3:delimiter` and `s3:max-keys` when given; use
//!   `RequestContext::with_list_params`.
//! - Operations on an existing object (GetObject, HeadObject, the object tagging ones,
//!   DeleteObject, CopyObject's source): `s3:ExistingObjectTag/<k>` for its tags, via
//!   `RequestContext::with_existing_object_tags`, when the caller has them.
//! - Every signed request: `s3:x-amz-content-sha256` from the header when present.
//!
//! Choices where AWS has an action we do not support (WEKA's list is fixed):
//! GetBucketVersioning needs `s3:GetBucketLocation` (a read of bucket metadata; buckets
//! are never versioned); ListObjectVersions needs `s3:ListBucket` (it lists the same
//! objects); DeleteBucketTagging needs `s3:PutBucketTagging` and DeleteBucketLifecycle
//! `s3:PutLifecycleConfiguration`, as in AWS; PostObject (browser form upload) needs
//! `s3:PutObject` on the key named by the form. This module performs no I/O.

use super::action::Action;
use crate::op::Op;

/// One action on one resource that an operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub action: Action,
    /// `arn:aws:s3:::*`, `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource_arn: String,
    /// The bucket whose bucket policy applies; `None` for ListBuckets.
    pub bucket: Option<String>,
}

/// What a requirement's resource is, relative to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `arn:aws:s3:::*`.
    AllBuckets,
    /// The request's bucket.
    Bucket,
    /// The request's object.
    Object,
    /// The object named by `x-amz-copy-source`.
    SourceObject,
}

use Action as A;
use Target as T;

/// Whether the door serves an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A handler serves it.
    Yes,
    /// s3s answers `NotImplemented`, to callers IAM allows only.
    NotImplemented,
}

/// Where an operation is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    /// The access check, from the request line and headers, before any body is read.
    Request,
    /// The operation's access hook, which needs the parsed input: the listing conditions
    /// (`s3:prefix`, ...) or the key of a browser form upload.
    Input,
    /// The handler, once per key (DeleteObjects).
    EachKey,
}

/// What the door does with one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Every (action, resource) it needs; empty means no caller may ever do it.
    needs: &'static [(Action, Target)],
    pub served: Served,
    pub decided_by: DecidedBy,
}

const fn serve(needs: &'static [(Action, Target)]) -> Rule {
    Rule {
        needs,
        served: Served::Yes,
        decided_by: DecidedBy::Request,
    }
}

const fn serve_by(decided_by: DecidedBy, needs: &'static [(Action, Target)]) -> Rule {
    Rule {
        needs,
        served: Served::Yes,
        decided_by,
    }
}

const fn unserved(needs: &'static [(Action, Target)]) -> Rule {
    Rule {
        needs,
        served: Served::NotImplemented,
        decided_by: DecidedBy::Request,
    }
}

/// An unserved read of bucket configuration.
const CONFIG_READ: Rule = unserved(&[(A::GetBucketPolicy, T::Bucket)]);
/// An unserved change of bucket configuration.
const CONFIG_WRITE: Rule = unserved(&[(A::PutBucketPolicy, T::Bucket)]);
/// An unserved read of an object's data or attributes.
const OBJECT_READ: Rule = unserved(&[(A::GetObject, T::Object)]);
/// An unserved change of an object.
const OBJECT_WRITE: Rule = unserved(&[(A::PutObject, T::Object)]);
/// Nothing any policy can grant.
const NEVER: Rule = unserved(&[]);

use DecidedBy as D;

/// The rule of `op`: the operation table, one arm per operation s3s 0.14 routes, sorted by
/// name. The match is exhaustive, so an operation added to [`Op`] has no rule until one is
/// written here.
pub const fn rule(op: Op) -> Rule {
    match op {
        Op::AbortMultipartUpload => serve(&[(A::AbortMultipartUpload, T::Object)]),
        Op::CompleteMultipartUpload => serve(&[(A::PutObject, T::Object)]),
        Op::CopyObject => serve(&[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)]),
        Op::CreateBucket => serve(&[(A::CreateBucket, T::Bucket)]),
        Op::CreateBucketMetadataTableConfiguration => CONFIG_WRITE,
        Op::CreateMultipartUpload => serve(&[(A::PutObject, T::Object)]),
        Op::CreateSession => NEVER,
        Op::DeleteBucket => serve(&[(A::DeleteBucket, T::Bucket)]),
        Op::DeleteBucketAnalyticsConfiguration => CONFIG_WRITE,
        Op::DeleteBucketCors => CONFIG_WRITE,
        Op::DeleteBucketEncryption => CONFIG_WRITE,
        Op::DeleteBucketIntelligentTieringConfiguration => CONFIG_WRITE,
        Op::DeleteBucketInventoryConfiguration => CONFIG_WRITE,
        Op::DeleteBucketLifecycle => unserved(&[(A::PutLifecycleConfiguration, T::Bucket)]),
        Op::DeleteBucketMetadataTableConfiguration => CONFIG_WRITE,
        Op::DeleteBucketMetricsConfiguration => CONFIG_WRITE,
        Op::DeleteBucketOwnershipControls => CONFIG_WRITE,
        Op::DeleteBucketPolicy => unserved(&[(A::DeleteBucketPolicy, T::Bucket)]),
        Op::DeleteBucketReplication => CONFIG_WRITE,
        Op::DeleteBucketTagging => serve(&[(A::PutBucketTagging, T::Bucket)]),
        Op::DeleteBucketWebsite => CONFIG_WRITE,
        Op::DeleteObject => serve(&[(A::DeleteObject, T::Object)]),
        Op::DeleteObjectTagging => serve(&[(A::DeleteObjectTagging, T::Object)]),
        Op::DeleteObjects => serve_by(D::EachKey, &[(A::DeleteObject, T::Object)]),
        Op::DeletePublicAccessBlock => CONFIG_WRITE,
        Op::GetBucketAccelerateConfiguration => CONFIG_READ,
        Op::GetBucketAcl => CONFIG_READ,
        Op::GetBucketAnalyticsConfiguration => CONFIG_READ,
        Op::GetBucketCors => CONFIG_READ,
        Op::GetBucketEncryption => CONFIG_READ,
        Op::GetBucketIntelligentTieringConfiguration => CONFIG_READ,
        Op::GetBucketInventoryConfiguration => CONFIG_READ,
        Op::GetBucketLifecycleConfiguration => {
            unserved(&[(A::GetLifecycleConfiguration, T::Bucket)])
        }
        Op::GetBucketLocation => serve(&[(A::GetBucketLocation, T::Bucket)]),
        Op::GetBucketLogging => CONFIG_READ,
        Op::GetBucketMetadataTableConfiguration => CONFIG_READ,
        Op::GetBucketMetricsConfiguration => CONFIG_READ,
        Op::GetBucketNotificationConfiguration => CONFIG_READ,
        Op::GetBucketOwnershipControls => CONFIG_READ,
        Op::GetBucketPolicy => unserved(&[(A::GetBucketPolicy, T::Bucket)]),
        Op::GetBucketPolicyStatus => unserved(&[(A::GetBucketPolicy, T::Bucket)]),
        Op::GetBucketReplication => CONFIG_READ,
        Op::GetBucketRequestPayment => CONFIG_READ,
        Op::GetBucketTagging => serve(&[(A::GetBucketTagging, T::Bucket)]),
        Op::GetBucketVersioning => serve(&[(A::GetBucketLocation, T::Bucket)]),
        Op::GetBucketWebsite => CONFIG_READ,
        Op::GetObject => serve(&[(A::GetObject, T::Object)]),
        Op::GetObjectAcl => OBJECT_READ,
        Op::GetObjectAttributes => OBJECT_READ,
        Op::GetObjectLegalHold => OBJECT_READ,
        Op::GetObjectLockConfiguration => CONFIG_READ,
        Op::GetObjectRetention => OBJECT_READ,
        Op::GetObjectTagging => serve(&[(A::GetObjectTagging, T::Object)]),
        Op::GetObjectTorrent => OBJECT_READ,
        Op::GetPublicAccessBlock => CONFIG_READ,
        Op::HeadBucket => serve(&[(A::ListBucket, T::Bucket)]),
        Op::HeadObject => serve(&[(A::GetObject, T::Object)]),
        Op::ListBucketAnalyticsConfigurations => CONFIG_READ,
        Op::ListBucketIntelligentTieringConfigurations => CONFIG_READ,
        Op::ListBucketInventoryConfigurations => CONFIG_READ,
        Op::ListBucketMetricsConfigurations => CONFIG_READ,
        Op::ListBuckets => serve(&[(A::ListAllMyBuckets, T::AllBuckets)]),
        Op::ListDirectoryBuckets => unserved(&[(A::ListAllMyBuckets, T::AllBuckets)]),
        Op::ListMultipartUploads => serve(&[(A::ListBucketMultipartUploads, T::Bucket)]),
        Op::ListObjectVersions => serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
        Op::ListObjects => serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
        Op::ListObjectsV2 => serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
        Op::ListParts => serve(&[(A::ListMultipartUploadParts, T::Object)]),
        Op::PostObject => serve_by(D::Input, &[(A::PutObject, T::Object)]),
        Op::PutBucketAccelerateConfiguration => CONFIG_WRITE,
        Op::PutBucketAcl => CONFIG_WRITE,
        Op::PutBucketAnalyticsConfiguration => CONFIG_WRITE,
        Op::PutBucketCors => CONFIG_WRITE,
        Op::PutBucketEncryption => CONFIG_WRITE,
        Op::PutBucketIntelligentTieringConfiguration => CONFIG_WRITE,
        Op::PutBucketInventoryConfiguration => CONFIG_WRITE,
        Op::PutBucketLifecycleConfiguration => {
            unserved(&[(A::PutLifecycleConfiguration, T::Bucket)])
        }
        Op::PutBucketLogging => CONFIG_WRITE,
        Op::PutBucketMetricsConfiguration => CONFIG_WRITE,
        Op::PutBucketNotificationConfiguration => CONFIG_WRITE,
        Op::PutBucketOwnershipControls => CONFIG_WRITE,
        Op::PutBucketPolicy => unserved(&[(A::PutBucketPolicy, T::Bucket)]),
        Op::PutBucketReplication => CONFIG_WRITE,
        Op::PutBucketRequestPayment => CONFIG_WRITE,
        Op::PutBucketTagging => serve(&[(A::PutBucketTagging, T::Bucket)]),
        Op::PutBucketVersioning => CONFIG_WRITE,
        Op::PutBucketWebsite => CONFIG_WRITE,
        Op::PutObject => serve(&[(A::PutObject, T::Object)]),
        Op::PutObjectAcl => OBJECT_WRITE,
        Op::PutObjectLegalHold => OBJECT_WRITE,
        Op::PutObjectLockConfiguration => CONFIG_WRITE,
        Op::PutObjectRetention => OBJECT_WRITE,
        Op::PutObjectTagging => serve(&[(A::PutObjectTagging, T::Object)]),
        Op::PutPublicAccessBlock => CONFIG_WRITE,
        Op::RestoreObject => OBJECT_WRITE,
        Op::SelectObjectContent => OBJECT_READ,
        Op::UploadPart => serve(&[(A::PutObject, T::Object)]),
        Op::UploadPartCopy => serve(&[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)]),
        Op::WriteGetObjectResponse => NEVER,
    }
}

/// Every operation name the table knows.
pub fn operations() -> impl Iterator<Item = &'static str> {
    Op::ALL.iter().map(|op| op.as_str())
}

/// Every operation with its rule, in name order (for the documentation table).
pub fn rules() -> impl Iterator<Item = (Op, Rule)> {
    Op::ALL.iter().map(|&op| (op, rule(op)))
}

impl Rule {
    /// The actions this rule needs, in order (empty: nothing may ever do it).
    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.needs.iter().map(|(action, _)| *action)
    }

    /// The resource each action of `actions` needs, as an ARN pattern for documentation
    /// (`arn:aws:s3:::*`, `arn:aws:s3:::BUCKET`, `arn:aws:s3:::BUCKET/KEY`,
    /// `arn:aws:s3:::SOURCE-BUCKET/SOURCE-KEY`).
    pub fn resources(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.needs.iter().map(|(_, target)| match target {
            T::AllBuckets => "arn:aws:s3:::*",
            T::Bucket => "arn:aws:s3:::BUCKET",
            T::Object => "arn:aws:s3:::BUCKET/KEY",
            T::SourceObject => "arn:aws:s3:::SOURCE-BUCKET/SOURCE-KEY",
        })
    }
}

/// `arn:aws:s3:::bucket`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:aws:s3:::bucket/key`.
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// What `op` needs on `bucket` / `key`; `copy_source` is the (bucket, key) of
/// `x-amz-copy-source` for CopyObject and UploadPartCopy.
///
/// DeleteObjects is checked per key: call once per key of the request, with that key.
/// Returns an empty list for an operation nothing may do, or when a key or copy source the
/// operation needs is missing; `authorize_all` denies an empty list.
pub fn requirements(
    op: Op,
    bucket: &str,
    key: Option<&str>,
    copy_source: Option<(&str, &str)>,
) -> Vec<Requirement> {
    let rule = rule(op);
    let resolved: Option<Vec<Requirement>> = rule
        .needs
        .iter()
        .map(|&(action, target)| requirement(action, target, bucket, key, copy_source))
        .collect();
    resolved.unwrap_or_default()
}

/// [`requirements`] of the operation named `name`; none for a name that is no [`Op`]
/// (tests that spell operations as AWS names them).
#[cfg(test)]
pub(crate) fn requirements_named(
    name: &str,
    bucket: &str,
    key: Option<&str>,
    copy_source: Option<(&str, &str)>,
) -> Vec<Requirement> {
    Op::parse(name)
        .map(|op| requirements(op, bucket, key, copy_source))
        .unwrap_or_default()
}

fn requirement(
    action: Action,
    target: Target,
    bucket: &str,
    key: Option<&str>,
    copy_source: Option<(&str, &str)>,
) -> Option<Requirement> {
    let (resource_arn, bucket) = match target {
        T::AllBuckets => {
            return Some(Requirement {
                action,
                resource_arn: "arn:aws:s3:::*".into(),
                bucket: None,
            })
        }
        T::Bucket => (bucket_arn(bucket), bucket),
        T::Object => (object_arn(bucket, key?), bucket),
        T::SourceObject => {
            let (src_bucket, src_key) = copy_source?;
            (object_arn(src_bucket, src_key), src_bucket)
        }
    };
    Some(Requirement {
        action,
        resource_arn,
        bucket: Some(bucket.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operation names s3s routes, read from s3s's own generated dispatch code, so that
    /// a new s3s version with a new operation fails here until the table covers it.
    pub(crate) fn s3s_operations() -> Vec<String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let out = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--offline",
                "--filter-platform",
            ])
            .arg(format!("{}-unknown-linux-gnu", std::env::consts::ARCH))
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let manifest = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "s3s")
            .unwrap()["manifest_path"]
            .as_str()
            .unwrap()
            .to_owned();
        let dir = std::path::Path::new(&manifest).parent().unwrap();
        let code = std::fs::read_to_string(dir.join("src/ops/generated.rs")).unwrap();
        let marker = "fn name(&self) -> &'static str {";
        let names: Vec<String> = code
            .split(marker)
            .skip(1)
            .map(|rest| rest.split('"').nth(1).unwrap().to_owned())
            .collect();
        assert!(
            names.len() > 90,
            "found only {} operations in s3s",
            names.len()
        );
        names
    }

    /// The operation table as docs/SEMANTICS.md shows it.
    fn markdown_table() -> String {
        let mut out = String::from(
            "| operation | served | decided | needs (action on resource) |\n| --- | --- | --- | --- |\n",
        );
        for (op, rule) in rules() {
            let served = match rule.served {
                Served::Yes => "yes",
                Served::NotImplemented => "NotImplemented",
            };
            let decided = match rule.decided_by {
                DecidedBy::Request => "before the body",
                DecidedBy::Input => "on the parsed input",
                DecidedBy::EachKey => "per key",
            };
            let needs: Vec<String> = rule
                .actions()
                .zip(rule.resources())
                .map(|(a, r)| format!("`{a}` on `{r}`"))
                .collect();
            let needs = if needs.is_empty() {
                "nothing grantable: refused to every caller".to_owned()
            } else {
                needs.join(", ")
            };
            out.push_str(&format!("| {op} | {served} | {decided} | {needs} |\n"));
        }
        out
    }

    /// docs/SEMANTICS.md, "Security": the table between the markers is this code's table.
    /// `WEKAD_BLESS=1 cargo test -p weka-s3 --lib ops` rewrites it after a change.
    #[test]
    fn the_operation_table_in_semantics_md_is_the_code_s() {
        weka_fs::semantics_doc::check_table("operation table", &markdown_table()).unwrap();
    }

    #[test]
    fn every_operation_s3s_routes_has_exactly_one_rule() {
        let routed = s3s_operations();
        let missing: Vec<&String> = routed.iter().filter(|op| Op::parse(op).is_none()).collect();
        assert!(
            missing.is_empty(),
            "operations s3s routes without a rule: {missing:?}"
        );
        let stale: Vec<&str> = operations()
            .filter(|op| !routed.iter().any(|r| r == op))
            .collect();
        assert!(
            stale.is_empty(),
            "rules for operations s3s does not route: {stale:?}"
        );
    }

    #[test]
    fn an_operation_without_a_rule_needs_nothing_grantable() {
        assert!(Op::parse("LaunchRocket").is_none());
        for op in [Op::CreateSession, Op::WriteGetObjectResponse] {
            assert!(requirements(op, "b", Some("k"), None).is_empty(), "{op}");
        }
    }

    #[test]
    fn unserved_operations_still_name_the_action_that_governs_them() {
        let reqs = requirements(Op::PutBucketAcl, "b", None, None);
        assert_eq!(reqs[0].action, Action::PutBucketPolicy);
        let reqs = requirements(Op::GetObjectAcl, "b", Some("k"), None);
        assert_eq!(reqs[0].action, Action::GetObject);
        assert_eq!(reqs[0].resource_arn, "arn:aws:s3:::b/k");
        assert_eq!(rule(Op::PutBucketAcl).served, Served::NotImplemented);
        assert_eq!(rule(Op::PutObject).served, Served::Yes);
        assert_eq!(rule(Op::PostObject).decided_by, DecidedBy::Input);
    }
}
