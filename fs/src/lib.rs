//! weka-fs: the namespace engine of wekad.
//!
//! Owns every access to the backing directory. Two front ends sit on top of it:
//! the FUSE adapter (`fuse`, the only module that imports `fuser`) and the object
//! view (`object`) used by the S3 door. Both reach the disk only through this crate,
//! so resolution beneath the root, name validation and atomic replace live in one place.
//!
//! This crate knows nothing of HTTP, S3 or IAM.

pub mod disk;
pub mod error;
pub mod events;
pub mod fault;
pub mod fuse;
pub mod ino;
pub mod object;
pub mod root;
#[doc(hidden)]
pub mod semantics_doc;
pub mod sync;
pub mod tree;

pub use error::{Error, Result};
pub use events::{Change, ChangeSink, Events, Origin};
pub use ino::Ino;
pub use root::{Root, INTERNAL_DIR, XATTR_ETAG, XATTR_PREFIX};
