//! Which action on which resource each S3 operation needs.
//!
//! Owns the table from AWS operation names (`GetObject`, `ListObjectsV2`, ...) to
//! (action, resource ARN) requirements. Invariant: every operation the S3 door serves has
//! an entry; an unknown name yields no requirement, which `authorize_all` denies.
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
//! `s3:PutLifecycleConfiguration`, as in AWS. This module performs no I/O.

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

/// The operation table.
const OPERATIONS: &[(&str, &[(Action, Target)])] = &[
    ("ListBuckets", &[(A::ListAllMyBuckets, T::AllBuckets)]),
    ("CreateBucket", &[(A::CreateBucket, T::Bucket)]),
    ("HeadBucket", &[(A::ListBucket, T::Bucket)]),
    ("DeleteBucket", &[(A::DeleteBucket, T::Bucket)]),
    ("GetBucketLocation", &[(A::GetBucketLocation, T::Bucket)]),
    ("GetBucketVersioning", &[(A::GetBucketLocation, T::Bucket)]),
    ("GetBucketTagging", &[(A::GetBucketTagging, T::Bucket)]),
    ("PutBucketTagging", &[(A::PutBucketTagging, T::Bucket)]),
    ("DeleteBucketTagging", &[(A::PutBucketTagging, T::Bucket)]),
    ("GetBucketPolicy", &[(A::GetBucketPolicy, T::Bucket)]),
    ("GetBucketPolicyStatus", &[(A::GetBucketPolicy, T::Bucket)]),
    ("PutBucketPolicy", &[(A::PutBucketPolicy, T::Bucket)]),
    ("DeleteBucketPolicy", &[(A::DeleteBucketPolicy, T::Bucket)]),
    (
        "GetBucketLifecycleConfiguration",
        &[(A::GetLifecycleConfiguration, T::Bucket)],
    ),
    (
        "GetBucketLifecycle",
        &[(A::GetLifecycleConfiguration, T::Bucket)],
    ),
    (
        "PutBucketLifecycleConfiguration",
        &[(A::PutLifecycleConfiguration, T::Bucket)],
    ),
    (
        "PutBucketLifecycle",
        &[(A::PutLifecycleConfiguration, T::Bucket)],
    ),
    (
        "DeleteBucketLifecycle",
        &[(A::PutLifecycleConfiguration, T::Bucket)],
    ),
    ("ListObjects", &[(A::ListBucket, T::Bucket)]),
    ("ListObjectsV2", &[(A::ListBucket, T::Bucket)]),
    ("ListObjectVersions", &[(A::ListBucket, T::Bucket)]),
    (
        "ListMultipartUploads",
        &[(A::ListBucketMultipartUploads, T::Bucket)],
    ),
    ("PutObject", &[(A::PutObject, T::Object)]),
    ("GetObject", &[(A::GetObject, T::Object)]),
    ("HeadObject", &[(A::GetObject, T::Object)]),
    ("GetObjectAttributes", &[(A::GetObject, T::Object)]),
    ("DeleteObject", &[(A::DeleteObject, T::Object)]),
    ("DeleteObjects", &[(A::DeleteObject, T::Object)]),
    (
        "CopyObject",
        &[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)],
    ),
    ("GetObjectTagging", &[(A::GetObjectTagging, T::Object)]),
    ("PutObjectTagging", &[(A::PutObjectTagging, T::Object)]),
    (
        "DeleteObjectTagging",
        &[(A::DeleteObjectTagging, T::Object)],
    ),
    ("CreateMultipartUpload", &[(A::PutObject, T::Object)]),
    ("UploadPart", &[(A::PutObject, T::Object)]),
    (
        "UploadPartCopy",
        &[(A::GetObject, T::SourceObject), (A::PutObject, T::Object)],
    ),
    ("CompleteMultipartUpload", &[(A::PutObject, T::Object)]),
    (
        "AbortMultipartUpload",
        &[(A::AbortMultipartUpload, T::Object)],
    ),
    ("ListParts", &[(A::ListMultipartUploadParts, T::Object)]),
];

/// Every operation name the table knows.
pub fn operations() -> impl Iterator<Item = &'static str> {
    OPERATIONS.iter().map(|(name, _)| *name)
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
    let Some((_, needs)) = OPERATIONS.iter().find(|(name, _)| *name == op) else {
        return Vec::new();
    };
    let resolved: Option<Vec<Requirement>> = needs
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
