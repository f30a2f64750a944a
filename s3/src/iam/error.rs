//! Errors of the IAM store: what an administrator did wrong, or what broke underneath.
//!
//! Variants name what happened. The control socket maps each one to a wire error code in a
//! single exhaustive match (daemon/src/control), so a new variant does not compile until it
//! has a code. Messages never contain a secret.

use std::path::PathBuf;

/// Result with the IAM store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the IAM store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("user `{0}` does not exist")]
    UserNotFound(String),
    #[error("user `{0}` already exists")]
    UserExists(String),
    #[error("invalid user name `{name}`: {reason}")]
    UserNameInvalid { name: String, reason: &'static str },
    #[error("invalid role `{0}`: expected one of clusteradmin, orgadmin, regular, readonly, s3")]
    RoleInvalid(String),
    #[error("weak password: {0}")]
    PasswordWeak(&'static str),
    #[error("policy `{0}` does not exist")]
    PolicyNotFound(String),
    #[error("policy `{0}` already exists")]
    PolicyExists(String),
    #[error("invalid policy name `{name}`: {reason}")]
    PolicyNameInvalid { name: String, reason: &'static str },
    #[error("policy `{0}` is built in and cannot be changed or removed")]
    PolicyBuiltin(String),
    #[error("policy `{policy}` is attached to {}; detach it first", users.join(", "))]
    PolicyAttached { policy: String, users: Vec<String> },
    #[error("invalid policy: {0}")]
    PolicyInvalid(String),
    #[error("user `{0}` has no policy attached")]
    NoPolicyAttached(String),
    #[error("policies can only be attached to S3 users; `{user}` has role {role}")]
    NotS3User { user: String, role: &'static str },
    #[error("invalid bucket policy kind `{0}`: expected none, download, upload or public")]
    BucketPolicyKindInvalid(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error(
        "IAM store at {path} has schema version {found}, this wekad understands {expected}: {hint}"
    )]
    SchemaMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
        hint: &'static str,
    },
    #[error("server key {path}: {reason}")]
    ServerKey { path: PathBuf, reason: String },
    #[error("stored secret of user `{0}` cannot be decrypted (was secret.key replaced?)")]
    SecretUnreadable(String),
    #[error("corrupt IAM record `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("IAM database (LMDB) error: {0}")]
    Store(#[from] heed::Error),
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Attaches a path to an I/O error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
