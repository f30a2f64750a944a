//! The S3 operations, one module per area; `Gateway` implements `s3s::S3` by delegating
//! each method to its area in one line.
//!
//! Invariant: handlers run after `auth::WekaAccess` decided the request (DeleteObjects
//! decides per key itself). Every disk access goes through `weka_fs::object::ObjectView`.
//! Work that may wait on the device (fsync, reads that miss the page cache, copies,
//! listings) runs on the blocking pool; a metadata-only step (open and stat for a GET, a
//! commit or delete without fsync) runs inline, since on a local filesystem it takes less
//! than the two thread wake-ups of a hand-off. This module owns the s3s DTO conversions and
//! nothing else.

pub mod bucket;
pub mod copy;
pub mod delete;
pub mod get;
pub mod list;
pub mod multipart;
pub mod put;
pub mod tagging;

use std::sync::Arc;
use std::time::Duration;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use weka_fs::object::{self as obj, ObjectError, ObjectView, Owner};

use crate::auth::Caller;
use crate::buckets::Buckets;
use crate::error::{Error, Result};

/// A body that delivers no byte for this long is abandoned (`RequestTimeout`).
pub const BODY_STALL: Duration = Duration::from_secs(10);

/// The S3 service over one object view.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) view: Arc<ObjectView>,
    /// The owner of the buckets: CreateBucket and DeleteBucket go through it.
    pub(crate) buckets: Buckets,
    pub(crate) region: String,
}

impl Gateway {
    /// A gateway serving the buckets of `buckets`, answering `region` to GetBucketLocation.
    pub fn new(buckets: Buckets, region: String) -> Gateway {
        Gateway {
            view: buckets.view().clone(),
            buckets,
            region,
        }
    }
}

/// Runs blocking filesystem work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Runs filesystem work `f` on the blocking pool when it `may_wait` on the device (an
/// fsync, reading a whole content to hash it), else inline (see the module doc).
pub(crate) async fn fs_work<T: Send + 'static>(
    may_wait: bool,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if may_wait {
        blocking(f).await
    } else {
        f()
    }
}

/// A bucket name that must already exist: a malformed one cannot, so it is NoSuchBucket.
pub(crate) fn existing_bucket(name: &str) -> Result<obj::BucketName> {
    obj::BucketName::parse(name).map_err(|_| ObjectError::NoSuchBucket.into())
}

/// A checked key.
pub(crate) fn key(k: &str) -> Result<obj::ObjectKey> {
    Ok(obj::ObjectKey::parse(k).map_err(ObjectError::from)?)
}

/// The owner for what this request creates.
pub(crate) fn owner<T>(req: &S3Request<T>) -> Owner {
    match req.extensions.get::<Caller>() {
        Some(c) => Owner {
            uid: c.uid,
            gid: c.gid,
        },
        None => Owner {
            uid: 65534,
            gid: 65534,
        },
    }
}

/// Only the null version exists.
pub(crate) fn check_version(v: Option<&str>) -> Result<()> {
    match v {
        None | Some("null") => Ok(()),
        Some(_) => Err(Error::InvalidArgument(
            "this bucket is not versioned: only versionId=null exists".into(),
        )),
    }
}

pub(crate) fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_owned())
}

macro_rules! delegate {
    ($($name:ident($input:ty) -> $output:ty => $path:path;)*) => {
        #[async_trait::async_trait]
        impl s3s::S3 for Gateway {
            $(
                async fn $name(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    Ok($path(self, req).await?)
                }
            )*
        }
    };
}

delegate! {
    list_buckets(ListBucketsInput) -> ListBucketsOutput => bucket::list_buckets;
    create_bucket(CreateBucketInput) -> CreateBucketOutput => bucket::create_bucket;
    head_bucket(HeadBucketInput) -> HeadBucketOutput => bucket::head_bucket;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput => bucket::delete_bucket;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput => bucket::get_bucket_location;
    get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput => bucket::get_bucket_versioning;
    get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput => tagging::get_bucket_tagging;
    put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput => tagging::put_bucket_tagging;
    delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput => tagging::delete_bucket_tagging;
    get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput => tagging::get_object_tagging;
    put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput => tagging::put_object_tagging;
    delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput => tagging::delete_object_tagging;
    put_object(PutObjectInput) -> PutObjectOutput => put::put_object;
    get_object(GetObjectInput) -> GetObjectOutput => get::get_object;
    head_object(HeadObjectInput) -> HeadObjectOutput => get::head_object;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput => delete::delete_object;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput => delete::delete_objects;
    copy_object(CopyObjectInput) -> CopyObjectOutput => copy::copy_object;
    list_objects(ListObjectsInput) -> ListObjectsOutput => list::list_objects;
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output => list::list_objects_v2;
    list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput => list::list_object_versions;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput => multipart::create_multipart_upload;
    upload_part(UploadPartInput) -> UploadPartOutput => multipart::upload_part;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput => multipart::upload_part_copy;
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput => multipart::complete_multipart_upload;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput => multipart::abort_multipart_upload;
    list_parts(ListPartsInput) -> ListPartsOutput => multipart::list_parts;
    list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput => multipart::list_multipart_uploads;
}
