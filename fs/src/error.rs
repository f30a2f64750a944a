//! weka_fs::Error: what went wrong in the namespace engine, and its errno.
//!
//! Variants name what happened, not where. `errno()` is the single translation to FUSE;
//! the S3 crate has its own single translation to S3 codes. No arm is a wildcard, so a new
//! variant does not compile until someone chooses its errno.

use std::path::{Path, PathBuf};

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a name (path component) or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name is `.` or `..`")]
    Dot,
    #[error("name contains `/` or NUL")]
    BadByte,
    #[error("name is {0} bytes, more than 255")]
    TooLong(usize),
    #[error("name is reserved for wekad's internal use")]
    Reserved,
}

/// An error of the namespace engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("already exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("invalid name: {0}")]
    NameInvalid(#[from] NameError),
    #[error("operation not permitted")]
    NotPermitted,
    #[error("permission denied")]
    AccessDenied,
    #[error("crosses a device or leaves the served tree")]
    CrossDevice,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("unknown inode {0}")]
    StaleInode(u64),
    #[error("unknown file handle {0}")]
    BadHandle(u64),
    #[error("operation not supported: {0}")]
    Unsupported(&'static str),
    #[error("I/O error at {path}: {source}")]
    IoAt {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Object(#[from] crate::object::ObjectError),
}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Self {
        Error::from_errno(e as i32)
    }
}

impl Error {
    /// Attaches a path (operator-facing context) to an I/O error.
    pub fn io_at(path: &Path, source: std::io::Error) -> Error {
        Error::IoAt {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Builds the most specific variant for a raw errno from a syscall.
    pub fn from_errno(errno: i32) -> Error {
        match errno {
            libc::ENOENT => Error::NotFound,
            libc::ENOTDIR => Error::NotADirectory,
            libc::EISDIR => Error::IsADirectory,
            libc::EEXIST => Error::Exists,
            libc::ENOTEMPTY => Error::NotEmpty,
            libc::EPERM => Error::NotPermitted,
            libc::EACCES => Error::AccessDenied,
            libc::EXDEV => Error::CrossDevice,
            other => Error::Io(std::io::Error::from_raw_os_error(other)),
        }
    }

    /// The errno FUSE returns for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotFound => libc::ENOENT,
            Error::NotADirectory => libc::ENOTDIR,
            Error::IsADirectory => libc::EISDIR,
            Error::Exists => libc::EEXIST,
            Error::NotEmpty => libc::ENOTEMPTY,
            Error::NameInvalid(NameError::TooLong(_)) => libc::ENAMETOOLONG,
            // A reserved name (the internal area) is refused as if the caller may not touch it.
            Error::NameInvalid(NameError::Reserved) => libc::EPERM,
            Error::NameInvalid(NameError::Empty | NameError::Dot | NameError::BadByte) => {
                libc::EINVAL
            }
            Error::NotPermitted => libc::EPERM,
            Error::AccessDenied => libc::EACCES,
            Error::CrossDevice => libc::EXDEV,
            Error::InvalidArgument(_) => libc::EINVAL,
            Error::StaleInode(_) => libc::ESTALE,
            Error::BadHandle(_) => libc::EBADF,
            Error::Unsupported(_) => libc::EOPNOTSUPP,
            Error::IoAt { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Error::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
            Error::Object(e) => e.errno(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_round_trips_for_common_codes() {
        for e in [
            libc::ENOENT,
            libc::ENOTDIR,
            libc::EISDIR,
            libc::EEXIST,
            libc::ENOTEMPTY,
            libc::EACCES,
            libc::EXDEV,
            libc::ENOSPC,
        ] {
            assert_eq!(Error::from_errno(e).errno(), e);
        }
        assert_eq!(
            Error::from(NameError::TooLong(300)).errno(),
            libc::ENAMETOOLONG
        );
    }
}
