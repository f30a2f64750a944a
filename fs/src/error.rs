//! weka_fs::Error: what went wrong in the namespace engine, and its errno.
//!
//! Variants name what happened, not where. `errno()` is the single translation to FUSE;
//! the S3 crate has its own single translation to S3 codes. No arm is a wildcard, so a new
//! variant does not compile until someone chooses its errno.
//!
//! The refusals of the object view (`ObjectError`, `KeyError`, `BucketNameError`) are
//! defined here too, beside `NameError`, so that this module is a leaf: it depends on
//! nothing else in the crate, and `object` re-exports them under their old paths.

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

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is empty")]
    Empty,
    #[error("key is {0} bytes, more than 1024")]
    TooLong(usize),
    #[error("key starts with `/`")]
    LeadingSlash,
    #[error("key has an empty, `.` or `..` segment")]
    BadSegment,
    #[error("key contains NUL")]
    Nul,
    #[error("key segment is {0} bytes, more than 255")]
    SegmentTooLong(usize),
    #[error("key names wekad's internal area")]
    Reserved,
}

/// A bucket name that breaks the naming rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bucket name `{0}`: 3-63 characters of a-z, 0-9, `.` and `-`, starting and ending with a letter or digit, no `..`, `.-` or `-.`, not an IP address, no reserved prefix or suffix")]
pub struct BucketNameError(pub String);

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
    Object(#[from] ObjectError),
}

/// The one translation of the backing-directory layer's errors (`crate::disk`): the most
/// specific variant for the errno.
impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::from_errno(e.raw_os_error())
    }
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

    /// The name of `e` in the errno table. Exhaustive, so a new variant does not compile
    /// until it has a name here; give it a row in `every_variant` too.
    fn table_name(e: &Error) -> String {
        let name = match e {
            Error::NotFound => "NotFound",
            Error::NotADirectory => "NotADirectory",
            Error::IsADirectory => "IsADirectory",
            Error::Exists => "Exists",
            Error::NotEmpty => "NotEmpty",
            Error::NameInvalid(n) => return format!("NameInvalid({})", name_error(n)),
            Error::NotPermitted => "NotPermitted",
            Error::AccessDenied => "AccessDenied",
            Error::CrossDevice => "CrossDevice",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::StaleInode(_) => "StaleInode",
            Error::BadHandle(_) => "BadHandle",
            Error::Unsupported(_) => "Unsupported",
            Error::IoAt { .. } => "IoAt",
            Error::Io(_) => "Io",
            Error::Object(o) => return format!("Object({})", object_error(o)),
        };
        name.to_owned()
    }

    fn name_error(n: &NameError) -> &'static str {
        match n {
            NameError::Empty => "Empty",
            NameError::Dot => "Dot",
            NameError::BadByte => "BadByte",
            NameError::TooLong(_) => "TooLong",
            NameError::Reserved => "Reserved",
        }
    }

    fn object_error(o: &ObjectError) -> &'static str {
        use ObjectError as O;
        match o {
            O::BucketName(_) => "BucketName",
            O::Key(_) => "Key",
            O::NoSuchBucket => "NoSuchBucket",
            O::BucketExists => "BucketExists",
            O::BucketNotEmpty => "BucketNotEmpty",
            O::NoSuchKey => "NoSuchKey",
            O::Conflict { .. } => "Conflict",
            O::PreconditionFailed => "PreconditionFailed",
            O::BadDigest(_) => "BadDigest",
            O::MetadataTooLarge(_) => "MetadataTooLarge",
            O::NoSuchUpload => "NoSuchUpload",
            O::InvalidPart(_) => "InvalidPart",
            O::InvalidPartOrder => "InvalidPartOrder",
            O::EntityTooSmall(_) => "EntityTooSmall",
            O::IncompleteBody => "IncompleteBody",
        }
    }

    /// One value of every variant, in table order, with what the row should say about it.
    fn every_variant() -> Vec<(Error, &'static str)> {
        use ObjectError as O;
        vec![
            (Error::NotFound, "also a lookup of `.wekad` in the root"),
            (Error::NotADirectory, ""),
            (Error::IsADirectory, ""),
            (Error::Exists, ""),
            (Error::NotEmpty, ""),
            (
                NameError::TooLong(300).into(),
                "a name longer than 255 bytes",
            ),
            (
                NameError::Reserved.into(),
                "creating, linking or renaming onto `.wekad` in the root",
            ),
            (NameError::Empty.into(), ""),
            (NameError::Dot.into(), ""),
            (NameError::BadByte.into(), "a name containing `/` or NUL"),
            (
                Error::NotPermitted,
                "setting or removing a `user.wekad.` attribute",
            ),
            (Error::AccessDenied, ""),
            (
                Error::CrossDevice,
                "an inode on another device than the served tree",
            ),
            (Error::InvalidArgument(String::new()), ""),
            (
                Error::StaleInode(42),
                "an inode number the kernel no longer holds a lookup for",
            ),
            (
                Error::BadHandle(7),
                "a file or directory handle that is not open",
            ),
            (
                Error::Unsupported("fallocate mode"),
                "for example an unknown `fallocate` mode",
            ),
            (
                Error::IoAt {
                    path: PathBuf::new(),
                    source: std::io::Error::other("x"),
                },
                "",
            ),
            (Error::Io(std::io::Error::other("x")), ""),
            (O::BucketName(BucketNameError(String::new())).into(), ""),
            (O::Key(KeyError::Empty).into(), ""),
            (O::NoSuchBucket.into(), ""),
            (O::BucketExists.into(), ""),
            (O::BucketNotEmpty.into(), ""),
            (O::NoSuchKey.into(), ""),
            (
                O::Conflict {
                    path: String::new(),
                    why: "",
                }
                .into(),
                "",
            ),
            (O::PreconditionFailed.into(), ""),
            (O::BadDigest("Content-MD5").into(), ""),
            (O::MetadataTooLarge(4096).into(), ""),
            (O::NoSuchUpload.into(), ""),
            (O::InvalidPart(1).into(), ""),
            (O::InvalidPartOrder.into(), ""),
            (O::EntityTooSmall(1).into(), ""),
            (O::IncompleteBody.into(), ""),
        ]
    }

    /// The errno column: the constant's name, or for I/O errors what passes through.
    fn errno_cell(e: &Error) -> String {
        if let Error::Io(_) | Error::IoAt { .. } = e {
            // The rule the cell states, checked on an errno and on an error without one.
            let enospc = Error::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
            let at = Error::io_at(
                Path::new("/x"),
                std::io::Error::from_raw_os_error(libc::EROFS),
            );
            assert_eq!((enospc.errno(), at.errno()), (libc::ENOSPC, libc::EROFS));
            assert_eq!(e.errno(), libc::EIO);
            return "the syscall's errno; `EIO` when there is none".to_owned();
        }
        const NAMES: [(i32, &str); 15] = [
            (libc::ENOENT, "ENOENT"),
            (libc::ENOTDIR, "ENOTDIR"),
            (libc::EISDIR, "EISDIR"),
            (libc::EEXIST, "EEXIST"),
            (libc::ENOTEMPTY, "ENOTEMPTY"),
            (libc::ENAMETOOLONG, "ENAMETOOLONG"),
            (libc::EPERM, "EPERM"),
            (libc::EINVAL, "EINVAL"),
            (libc::EACCES, "EACCES"),
            (libc::EXDEV, "EXDEV"),
            (libc::ESTALE, "ESTALE"),
            (libc::EBADF, "EBADF"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::EIO, "EIO"),
            (libc::E2BIG, "E2BIG"),
        ];
        let errno = e.errno();
        let (_, name) = NAMES
            .iter()
            .find(|(n, _)| *n == errno)
            .unwrap_or_else(|| panic!("add errno {errno} to NAMES"));
        format!("`{name}`")
    }

    /// The errno table as docs/SEMANTICS.md shows it.
    fn markdown_table() -> String {
        let mut out = String::from("| `weka_fs::Error` | errno | when |\n| --- | --- | --- |\n");
        for (e, note) in every_variant() {
            let cells = [
                format!("`{}`", table_name(&e)),
                errno_cell(&e),
                note.to_owned(),
            ];
            out.push_str(&format!("| {} |\n", cells.join(" | ").trim_end()));
        }
        out
    }

    /// docs/SEMANTICS.md, "FUSE errno": the table between the markers is `errno()`'s.
    /// `WEKAD_BLESS=1 cargo test -p weka-fs --lib errno_table` rewrites it after a change.
    #[test]
    fn the_errno_table_in_semantics_md_is_the_code_s() {
        crate::semantics_doc::check_table("errno table", &markdown_table()).unwrap();
    }

    #[test]
    fn the_errno_table_names_each_variant_once() {
        let names: Vec<String> = every_variant().iter().map(|(e, _)| table_name(e)).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}
