//! weka_s3::Error: what went wrong serving an S3 request, and its S3 code.
//!
//! `s3_code()` is the single translation to S3; it matches every variant (and every
//! `weka_fs` / object-view variant) without a wildcard, so a new variant does not compile
//! until someone chooses its code. For 5xx the client gets the code and a generic message;
//! the detail goes to the log under the request id.

use s3s::{S3Error, S3ErrorCode};
use weka_fs::object::{KeyError, ObjectError};

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the S3 door.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] weka_fs::Error),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    #[error("not modified")]
    NotModified,
    #[error("request body did not arrive in time")]
    RequestTimeout,
    #[error("error reading the request body: {0}")]
    Body(String),
    #[error("checksum {0} does not match the content")]
    BadChecksum(&'static str),
    /// A `Content-MD5` header that is not the base64 of 16 bytes (empty included); one that
    /// is well-formed but does not match the body is `BadDigest` instead.
    #[error("invalid Content-MD5: {0}")]
    InvalidDigest(&'static str),
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    #[error("access denied")]
    AccessDenied,
    #[error("the bucket has no tags")]
    NoSuchTagSet,
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    #[error("malformed XML: {0}")]
    MalformedXml(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A TLS certificate or key file that cannot be served; never a request's error.
    #[error("{}: {problem}", path.display())]
    Tls {
        path: std::path::PathBuf,
        problem: String,
    },
}

impl From<ObjectError> for Error {
    fn from(e: ObjectError) -> Self {
        Error::Fs(e.into())
    }
}

impl Error {
    /// The S3 error code for this error.
    pub fn s3_code(&self) -> S3ErrorCode {
        match self {
            Error::Fs(e) => fs_code(e),
            Error::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
            Error::InvalidRange => S3ErrorCode::InvalidRange,
            Error::NotModified => S3ErrorCode::Custom("NotModified".into()),
            Error::RequestTimeout => S3ErrorCode::RequestTimeout,
            Error::Body(_) => S3ErrorCode::IncompleteBody,
            Error::BadChecksum(_) => S3ErrorCode::BadDigest,
            Error::InvalidDigest(_) => S3ErrorCode::InvalidDigest,
            Error::NotImplemented(_) => S3ErrorCode::NotImplemented,
            Error::AccessDenied => S3ErrorCode::AccessDenied,
            Error::NoSuchTagSet => S3ErrorCode::NoSuchTagSet,
            Error::InvalidTag(_) => S3ErrorCode::InvalidTag,
            Error::MalformedXml(_) => S3ErrorCode::MalformedXML,
            Error::Internal(_) => S3ErrorCode::InternalError,
            // Only configuration (start and SIGHUP) reads certificates; should one ever
            // reach a client, it is the server's fault, not the request's.
            Error::Tls { .. } => S3ErrorCode::InternalError,
        }
    }

    /// The HTTP status when S3 has no fixed one for the code.
    fn status(&self) -> Option<http::StatusCode> {
        match self {
            Error::Fs(weka_fs::Error::Object(ObjectError::Conflict { .. })) => {
                Some(http::StatusCode::CONFLICT)
            }
            Error::NotModified => Some(http::StatusCode::NOT_MODIFIED),
            Error::Fs(e) if is_storage_full(e) => Some(http::StatusCode::INSUFFICIENT_STORAGE),
            _ => None,
        }
    }

    fn is_server_side(&self) -> bool {
        matches!(self.s3_code(), S3ErrorCode::InternalError)
    }
}

fn fs_code(e: &weka_fs::Error) -> S3ErrorCode {
    use weka_fs::Error as F;
    match e {
        F::Object(o) => object_code(o),
        F::NotFound | F::NotADirectory | F::IsADirectory => S3ErrorCode::NoSuchKey,
        F::NameInvalid(weka_fs::error::NameError::TooLong(_)) => S3ErrorCode::KeyTooLongError,
        F::NameInvalid(_) | F::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        F::Exists => S3ErrorCode::PreconditionFailed,
        F::NotEmpty => S3ErrorCode::Custom("ObjectConflict".into()),
        F::NotPermitted | F::AccessDenied => S3ErrorCode::AccessDenied,
        F::CrossDevice => S3ErrorCode::NoSuchKey,
        F::Unsupported(_) => S3ErrorCode::NotImplemented,
        F::IoAt { .. } | F::Io(_) if is_storage_full(e) => {
            S3ErrorCode::Custom("InsufficientStorage".into())
        }
        F::StaleInode(_) | F::BadHandle(_) | F::IoAt { .. } | F::Io(_) => {
            S3ErrorCode::InternalError
        }
    }
}

/// The backing filesystem is out of space (ENOSPC) or over a quota of its own (EDQUOT):
/// a condition of the server that the client should hear named, not a generic 500.
fn is_storage_full(e: &weka_fs::Error) -> bool {
    matches!(e.errno(), libc::ENOSPC | libc::EDQUOT)
}

fn object_code(e: &ObjectError) -> S3ErrorCode {
    match e {
        ObjectError::BucketName(_) => S3ErrorCode::InvalidBucketName,
        ObjectError::Key(KeyError::TooLong(_)) => S3ErrorCode::KeyTooLongError,
        ObjectError::Key(_) => S3ErrorCode::InvalidArgument,
        ObjectError::NoSuchBucket => S3ErrorCode::NoSuchBucket,
        ObjectError::BucketExists => S3ErrorCode::BucketAlreadyOwnedByYou,
        ObjectError::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
        ObjectError::NoSuchKey => S3ErrorCode::NoSuchKey,
        // MinIO answers XMinioObjectExistsAsDirectory / XMinioParentIsObject; one code with a
        // message naming the path in the way is clearer for our clients.
        ObjectError::Conflict { .. } => S3ErrorCode::Custom("ObjectConflict".into()),
        ObjectError::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        ObjectError::BadDigest(_) => S3ErrorCode::BadDigest,
        ObjectError::MetadataTooLarge(_) => S3ErrorCode::MetadataTooLarge,
        ObjectError::NoSuchUpload => S3ErrorCode::NoSuchUpload,
        ObjectError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        ObjectError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        ObjectError::EntityTooSmall(_) => S3ErrorCode::EntityTooSmall,
        ObjectError::IncompleteBody => S3ErrorCode::IncompleteBody,
    }
}

impl From<Error> for S3Error {
    fn from(e: Error) -> S3Error {
        let code = e.s3_code();
        // The detail goes into the request's span; the server logs one line per refused or
        // failed request with it (`server::log_outcome`).
        tracing::Span::current().record("error", tracing::field::display(&e));
        let mut err = if e.is_server_side() {
            S3Error::with_message(code, "We encountered an internal error. Please try again.")
        } else {
            S3Error::with_message(code, e.to_string())
        };
        if let Some(status) = e.status() {
            err.set_status_code(status);
        }
        err
    }
}
