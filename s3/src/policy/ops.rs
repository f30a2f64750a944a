//! Which action on which resource each S3 operation needs, for every operation s3s routes.
//!
//! Owns the table from AWS operation names (`GetObject`, `ListObjectsV2`, ...) to a `Rule`:
//! the (action, resource) requirements, whether the door serves the operation, and where
//! it is decided. Invariants (deny by construction):
//! - every operation s3s can route has an entry (a unit test reads the list from s3s's own
//!   source, so a new s3s operation fails the build's tests until it is added here);
//! - a name without an entry yields no requirement, which `authorize_all` denies, and the
//!   access check refuses it for every caller, signed or not;
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

/// The operation table: every operation s3s 0.14 routes, sorted by name.
const OPERATIONS: &[(&str, Rule)] = &[
    (
        "AbortMultipartUpload",
        serve(&[(A::AbortMultipartUpload, T::Object)]),
    ),
    (
        "CompleteMultipartUpload",
        serve(&[(A::PutObject, T::Object)]),
    ),
    (
        "CopyObject",
        serve(&[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)]),
    ),
    ("CreateBucket", serve(&[(A::CreateBucket, T::Bucket)])),
    ("CreateBucketMetadataTableConfiguration", CONFIG_WRITE),
    ("CreateMultipartUpload", serve(&[(A::PutObject, T::Object)])),
    ("CreateSession", NEVER),
    ("DeleteBucket", serve(&[(A::DeleteBucket, T::Bucket)])),
    ("DeleteBucketAnalyticsConfiguration", CONFIG_WRITE),
    ("DeleteBucketCors", CONFIG_WRITE),
    ("DeleteBucketEncryption", CONFIG_WRITE),
    ("DeleteBucketIntelligentTieringConfiguration", CONFIG_WRITE),
    ("DeleteBucketInventoryConfiguration", CONFIG_WRITE),
    (
        "DeleteBucketLifecycle",
        unserved(&[(A::PutLifecycleConfiguration, T::Bucket)]),
    ),
    ("DeleteBucketMetadataTableConfiguration", CONFIG_WRITE),
    ("DeleteBucketMetricsConfiguration", CONFIG_WRITE),
    ("DeleteBucketOwnershipControls", CONFIG_WRITE),
    (
        "DeleteBucketPolicy",
        unserved(&[(A::DeleteBucketPolicy, T::Bucket)]),
    ),
    ("DeleteBucketReplication", CONFIG_WRITE),
    (
        "DeleteBucketTagging",
        serve(&[(A::PutBucketTagging, T::Bucket)]),
    ),
    ("DeleteBucketWebsite", CONFIG_WRITE),
    ("DeleteObject", serve(&[(A::DeleteObject, T::Object)])),
    (
        "DeleteObjectTagging",
        serve(&[(A::DeleteObjectTagging, T::Object)]),
    ),
    (
        "DeleteObjects",
        serve_by(D::EachKey, &[(A::DeleteObject, T::Object)]),
    ),
    ("DeletePublicAccessBlock", CONFIG_WRITE),
    ("GetBucketAccelerateConfiguration", CONFIG_READ),
    ("GetBucketAcl", CONFIG_READ),
    ("GetBucketAnalyticsConfiguration", CONFIG_READ),
    ("GetBucketCors", CONFIG_READ),
    ("GetBucketEncryption", CONFIG_READ),
    ("GetBucketIntelligentTieringConfiguration", CONFIG_READ),
    ("GetBucketInventoryConfiguration", CONFIG_READ),
    (
        "GetBucketLifecycleConfiguration",
        unserved(&[(A::GetLifecycleConfiguration, T::Bucket)]),
    ),
    (
        "GetBucketLocation",
        serve(&[(A::GetBucketLocation, T::Bucket)]),
    ),
    ("GetBucketLogging", CONFIG_READ),
    ("GetBucketMetadataTableConfiguration", CONFIG_READ),
    ("GetBucketMetricsConfiguration", CONFIG_READ),
    ("GetBucketNotificationConfiguration", CONFIG_READ),
    ("GetBucketOwnershipControls", CONFIG_READ),
    (
        "GetBucketPolicy",
        unserved(&[(A::GetBucketPolicy, T::Bucket)]),
    ),
    (
        "GetBucketPolicyStatus",
        unserved(&[(A::GetBucketPolicy, T::Bucket)]),
    ),
    ("GetBucketReplication", CONFIG_READ),
    ("GetBucketRequestPayment", CONFIG_READ),
    (
        "GetBucketTagging",
        serve(&[(A::GetBucketTagging, T::Bucket)]),
    ),
    (
        "GetBucketVersioning",
        serve(&[(A::GetBucketLocation, T::Bucket)]),
    ),
    ("GetBucketWebsite", CONFIG_READ),
    ("GetObject", serve(&[(A::GetObject, T::Object)])),
    ("GetObjectAcl", OBJECT_READ),
    ("GetObjectAttributes", OBJECT_READ),
    ("GetObjectLegalHold", OBJECT_READ),
    ("GetObjectLockConfiguration", CONFIG_READ),
    ("GetObjectRetention", OBJECT_READ),
    (
        "GetObjectTagging",
        serve(&[(A::GetObjectTagging, T::Object)]),
    ),
    ("GetObjectTorrent", OBJECT_READ),
    ("GetPublicAccessBlock", CONFIG_READ),
    ("HeadBucket", serve(&[(A::ListBucket, T::Bucket)])),
    ("HeadObject", serve(&[(A::GetObject, T::Object)])),
    ("ListBucketAnalyticsConfigurations", CONFIG_READ),
    ("ListBucketIntelligentTieringConfigurations", CONFIG_READ),
    ("ListBucketInventoryConfigurations", CONFIG_READ),
    ("ListBucketMetricsConfigurations", CONFIG_READ),
    (
        "ListBuckets",
        serve(&[(A::ListAllMyBuckets, T::AllBuckets)]),
    ),
    (
        "ListDirectoryBuckets",
        unserved(&[(A::ListAllMyBuckets, T::AllBuckets)]),
    ),
    (
        "ListMultipartUploads",
        serve(&[(A::ListBucketMultipartUploads, T::Bucket)]),
    ),
    (
        "ListObjectVersions",
        serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
    ),
    (
        "ListObjects",
        serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
    ),
    (
        "ListObjectsV2",
        serve_by(D::Input, &[(A::ListBucket, T::Bucket)]),
    ),
    (
        "ListParts",
        serve(&[(A::ListMultipartUploadParts, T::Object)]),
    ),
    (
        "PostObject",
        serve_by(D::Input, &[(A::PutObject, T::Object)]),
    ),
    ("PutBucketAccelerateConfiguration", CONFIG_WRITE),
    ("PutBucketAcl", CONFIG_WRITE),
    ("PutBucketAnalyticsConfiguration", CONFIG_WRITE),
    ("PutBucketCors", CONFIG_WRITE),
    ("PutBucketEncryption", CONFIG_WRITE),
    ("PutBucketIntelligentTieringConfiguration", CONFIG_WRITE),
    ("PutBucketInventoryConfiguration", CONFIG_WRITE),
    (
        "PutBucketLifecycleConfiguration",
        unserved(&[(A::PutLifecycleConfiguration, T::Bucket)]),
    ),
    ("PutBucketLogging", CONFIG_WRITE),
    ("PutBucketMetricsConfiguration", CONFIG_WRITE),
    ("PutBucketNotificationConfiguration", CONFIG_WRITE),
    ("PutBucketOwnershipControls", CONFIG_WRITE),
    (
        "PutBucketPolicy",
        unserved(&[(A::PutBucketPolicy, T::Bucket)]),
    ),
    ("PutBucketReplication", CONFIG_WRITE),
    ("PutBucketRequestPayment", CONFIG_WRITE),
    (
        "PutBucketTagging",
        serve(&[(A::PutBucketTagging, T::Bucket)]),
    ),
    ("PutBucketVersioning", CONFIG_WRITE),
    ("PutBucketWebsite", CONFIG_WRITE),
    ("PutObject", serve(&[(A::PutObject, T::Object)])),
    ("PutObjectAcl", OBJECT_WRITE),
    ("PutObjectLegalHold", OBJECT_WRITE),
    ("PutObjectLockConfiguration", CONFIG_WRITE),
    ("PutObjectRetention", OBJECT_WRITE),
    (
        "PutObjectTagging",
        serve(&[(A::PutObjectTagging, T::Object)]),
    ),
    ("PutPublicAccessBlock", CONFIG_WRITE),
    ("RestoreObject", OBJECT_WRITE),
    ("SelectObjectContent", OBJECT_READ),
    ("UploadPart", serve(&[(A::PutObject, T::Object)])),
    (
        "UploadPartCopy",
        serve(&[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)]),
    ),
    ("WriteGetObjectResponse", NEVER),
];

/// The rule of `op` (AWS operation name), `None` when the table has no entry: such an
/// operation is refused for every caller.
pub fn rule(op: &str) -> Option<&'static Rule> {
    OPERATIONS
        .binary_search_by(|(name, _)| (*name).cmp(op))
        .ok()
        .and_then(|i| OPERATIONS.get(i))
        .map(|(_, rule)| rule)
}

/// Every operation name the table knows.
pub fn operations() -> impl Iterator<Item = &'static str> {
    OPERATIONS.iter().map(|(name, _)| *name)
}

/// Every operation name with its rule, in name order (for the documentation table).
pub fn rules() -> impl Iterator<Item = (&'static str, &'static Rule)> {
    OPERATIONS.iter().map(|(name, rule)| (*name, rule))
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

/// What `op` (AWS operation name) needs on `bucket` / `key`; `copy_source` is the
/// (bucket, key) of `x-amz-copy-source` for CopyObject and UploadPartCopy.
///
/// DeleteObjects is checked per key: call once per key of the request, with that key.
/// Returns an empty list for an unknown operation, or when a key or copy source the
/// operation needs is missing; `authorize_all` denies an empty list.
pub fn requirements(
    op: &str,
    bucket: &str,
    key: Option<&str>,
    copy_source: Option<(&str, &str)>,
) -> Vec<Requirement> {
    let Some(rule) = rule(op) else {
        return Vec::new();
    };
    let resolved: Option<Vec<Requirement>> = rule
        .needs
        .iter()
        .map(|&(action, target)| requirement(action, target, bucket, key, copy_source))
        .collect();
    resolved.unwrap_or_default()
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
        for (name, rule) in rules() {
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
            out.push_str(&format!("| {name} | {served} | {decided} | {needs} |\n"));
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
    fn the_table_is_sorted_so_lookups_find_every_entry() {
        let names: Vec<&str> = operations().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for name in names {
            assert!(rule(name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_operation_s3s_routes_has_exactly_one_rule() {
        let routed = s3s_operations();
        let missing: Vec<&String> = routed.iter().filter(|op| rule(op).is_none()).collect();
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
        assert!(rule("LaunchRocket").is_none());
        assert!(requirements("LaunchRocket", "b", Some("k"), None).is_empty());
        for op in ["CreateSession", "WriteGetObjectResponse"] {
            assert!(requirements(op, "b", Some("k"), None).is_empty(), "{op}");
        }
    }

    #[test]
    fn unserved_operations_still_name_the_action_that_governs_them() {
        let reqs = requirements("PutBucketAcl", "b", None, None);
        assert_eq!(reqs[0].action, Action::PutBucketPolicy);
        let reqs = requirements("GetObjectAcl", "b", Some("k"), None);
        assert_eq!(reqs[0].action, Action::GetObject);
        assert_eq!(reqs[0].resource_arn, "arn:aws:s3:::b/k");
        assert_eq!(rule("PutBucketAcl").unwrap().served, Served::NotImplemented);
        assert_eq!(rule("PutObject").unwrap().served, Served::Yes);
        assert_eq!(rule("PostObject").unwrap().decided_by, DecidedBy::Input);
    }
}
