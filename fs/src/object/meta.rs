//! Object metadata kept in private xattrs: the ETag with its (size, mtime) stamp, the
//! HTTP headers and user metadata, tags, and the directory-object marker.
//!
//! Invariant: a stored ETag is served only when its stamp equals the file's current size
//! and mtime; otherwise it is stale (the FUSE side also removes it on open-for-write) and
//! is recomputed from the content. Checksums share the ETag's xattr, so they go stale with it.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;

use md5::{Digest, Md5};
use nix::sys::stat::FileStat;
use serde::{Deserialize, Serialize};

use super::sys;
use crate::error::Result;
use crate::root::XATTR_ETAG;

/// HTTP headers, user metadata and tags of an object (`user.wekad.meta`, JSON).
pub const XATTR_META: &str = "user.wekad.meta";
/// Marks a directory created by `PUT key/` (a directory object), which is never removed
/// implicitly.
pub const XATTR_DIROBJ: &str = "user.wekad.dirobj";
/// Tags of a bucket (on the bucket directory, JSON).
pub const XATTR_BUCKET_TAGS: &str = "user.wekad.bucket-tags";
/// Creation time of a bucket made through the object view (seconds since the epoch).
pub const XATTR_BUCKET_CREATED: &str = "user.wekad.created";

/// Largest total size of `x-amz-meta-*` names and values.
pub const MAX_USER_METADATA: usize = 2048;

/// Metadata stored with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires` as the client sent it (HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

impl ObjectMeta {
    /// Size of the user metadata as S3 counts it (names plus values).
    pub fn user_size(&self) -> usize {
        self.user.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// True when nothing is set (no xattr needs to be written).
    pub fn is_empty(&self) -> bool {
        *self == ObjectMeta::default()
    }
}

/// The ETag and checksums of a content, with the stamp they were computed at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    pub etag: String,
    pub size: u64,
    pub mtime_ns: i128,
    /// Checksums by algorithm name (`crc32`, `crc32c`, `sha1`, `sha256`), base64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// Number of parts of a multipart object (for `partNumber` and `PartsCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<u64>>,
}

/// Reads the metadata xattr; absent or unreadable metadata is empty.
pub fn read_meta(fd: BorrowedFd<'_>) -> Result<ObjectMeta> {
    Ok(sys::get_xattr(fd, XATTR_META)?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default())
}

/// Writes (or clears) the metadata xattr.
pub fn write_meta(fd: BorrowedFd<'_>, meta: &ObjectMeta) -> Result<()> {
    if meta.is_empty() {
        return sys::remove_xattr(fd, XATTR_META);
    }
    let json =
        serde_json::to_vec(meta).map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
    sys::set_xattr(fd, XATTR_META, &json)
}

/// The stored ETag record if its stamp matches `st`.
pub fn fresh_stamp(fd: BorrowedFd<'_>, st: &FileStat) -> Result<Option<Stamped>> {
    Ok(sys::get_xattr(fd, XATTR_ETAG)?.and_then(|raw| fresh_record(&raw, st)))
}

/// The ETag record stored as `raw` if its stamp matches `st`.
pub fn fresh_record(raw: &[u8], st: &FileStat) -> Option<Stamped> {
    let s = serde_json::from_slice::<Stamped>(raw).ok()?;
    let fresh = s.size == u64::try_from(st.st_size).unwrap_or(0) && s.mtime_ns == sys::mtime_ns(st);
    fresh.then_some(s)
}

/// Stores the ETag record, stamped with `st`.
pub fn store_stamp(fd: BorrowedFd<'_>, st: &FileStat, mut s: Stamped) -> Result<Stamped> {
    s.size = u64::try_from(st.st_size).unwrap_or(0);
    s.mtime_ns = sys::mtime_ns(st);
    let json = serde_json::to_vec(&s).map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
    sys::set_xattr(fd, XATTR_ETAG, &json)?;
    Ok(s)
}

/// The ETag of an open regular file: the stored one if fresh, else recomputed from the
/// content (read through `fd` at offset 0 with `pread`) and stored again.
pub fn etag_of(fd: BorrowedFd<'_>, st: &FileStat) -> Result<Stamped> {
    if let Some(s) = fresh_stamp(fd, st)? {
        return Ok(s);
    }
    let etag = md5_of(fd)?;
    let after = sys::stat(fd)?;
    let record = Stamped {
        etag,
        ..Stamped::default()
    };
    if sys::mtime_ns(&after) != sys::mtime_ns(st) || after.st_size != st.st_size {
        // Written while we hashed: serve what we computed but do not store it.
        return Ok(record);
    }
    // A read-only backing file (or one we may not write xattrs on) still gets its ETag.
    store_stamp(fd, st, record.clone()).or(Ok(record))
}

/// Hex MD5 of the whole content.
pub fn md5_of(fd: BorrowedFd<'_>) -> Result<String> {
    // `pread` on a duplicate: the shared file offset of `fd` is left alone.
    let file = std::fs::File::from(fd.try_clone_to_owned()?);
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        off += n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}
