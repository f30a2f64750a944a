//! Errors specific to the object view, carried inside `weka_fs::Error::Object`.
//!
//! Each variant is something an S3 client must be told precisely (the S3 crate maps every
//! one to its own code); `errno()` exists only to keep the crate's error total.

use super::name::{BucketNameError, KeyError};

/// An object-view failure with an S3 meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    BucketName(#[from] BucketNameError),
    #[error("invalid key: {0}")]
    Key(#[from] KeyError),
    #[error("bucket does not exist")]
    NoSuchBucket,
    #[error("bucket already exists")]
    BucketExists,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("object does not exist")]
    NoSuchKey,
    #[error("`{path}` is in the way: {why}")]
    Conflict { path: String, why: &'static str },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("content does not match {0}")]
    BadDigest(&'static str),
    #[error("user metadata is {0} bytes, more than 2048")]
    MetadataTooLarge(usize),
    #[error("no such multipart upload")]
    NoSuchUpload,
    #[error("part {0} is missing or its ETag does not match")]
    InvalidPart(u32),
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    #[error("part {0} is smaller than 5 MiB and not the last")]
    EntityTooSmall(u32),
    #[error("body shorter than its Content-Length")]
    IncompleteBody,
}

impl ObjectError {
    /// The errno if this ever reaches FUSE (it does not in practice).
    pub fn errno(&self) -> i32 {
        match self {
            ObjectError::BucketName(_) | ObjectError::Key(_) => libc::EINVAL,
            ObjectError::NoSuchBucket | ObjectError::NoSuchKey | ObjectError::NoSuchUpload => {
                libc::ENOENT
            }
            ObjectError::BucketExists => libc::EEXIST,
            ObjectError::BucketNotEmpty => libc::ENOTEMPTY,
            ObjectError::Conflict { .. } => libc::ENOTDIR,
            ObjectError::PreconditionFailed => libc::EEXIST,
            ObjectError::BadDigest(_) | ObjectError::IncompleteBody => libc::EIO,
            ObjectError::MetadataTooLarge(_) => libc::E2BIG,
            ObjectError::InvalidPart(_)
            | ObjectError::InvalidPartOrder
            | ObjectError::EntityTooSmall(_) => libc::EINVAL,
        }
    }
}
