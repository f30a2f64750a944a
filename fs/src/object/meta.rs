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
use serde::{Deserialize, Serialize};

use crate::disk::{self, Inode, Stat};
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

/// Reads the private attribute `name` of the open object or directory `fd`; `Ok(None)`
/// when absent.
pub fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(disk::read_xattr(Inode::Open(fd), name)?)
}

/// Writes the private attribute `name` of `fd`.
pub fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<()> {
    Ok(disk::set_xattr(Inode::Open(fd), name, value, 0)?)
}

/// Removes the private attribute `name` of `fd`; absent is fine.
pub fn remove_xattr(fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    match disk::remove_xattr(Inode::Open(fd), name) {
        Ok(()) | Err(disk::Errno::NODATA) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads the metadata xattr; absent or unreadable metadata is empty.
pub fn read_meta(fd: BorrowedFd<'_>) -> Result<ObjectMeta> {
    Ok(get_xattr(fd, XATTR_META)?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default())
}

/// Writes (or clears) the metadata xattr.
pub fn write_meta(fd: BorrowedFd<'_>, meta: &ObjectMeta) -> Result<()> {
    if meta.is_empty() {
        return remove_xattr(fd, XATTR_META);
    }
    let json =
        serde_json::to_vec(meta).map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
    set_xattr(fd, XATTR_META, &json)
}

/// The stored ETag record if its stamp matches `st`.
pub fn fresh_stamp(fd: BorrowedFd<'_>, st: &Stat) -> Result<Option<Stamped>> {
    Ok(get_xattr(fd, XATTR_ETAG)?.and_then(|raw| fresh_record(&raw, st)))
}

/// The ETag record stored as `raw` if its stamp matches `st`.
pub fn fresh_record(raw: &[u8], st: &Stat) -> Option<Stamped> {
    let s = decode_stamp(raw)?;
    let fresh =
        s.size == u64::try_from(st.st_size).unwrap_or(0) && s.mtime_ns == disk::mtime_ns(st);
    fresh.then_some(s)
}

/// Stores the ETag record, stamped with `st`.
pub fn store_stamp(fd: BorrowedFd<'_>, st: &Stat, mut s: Stamped) -> Result<Stamped> {
    s.size = u64::try_from(st.st_size).unwrap_or(0);
    s.mtime_ns = disk::mtime_ns(st);
    set_xattr(fd, XATTR_ETAG, &encode_stamp(&s)?)?;
    Ok(s)
}

// ---- the ETag record's encoding ----
//
// The common record (an MD5 ETag, no parts, checksums among the four S3 ones) is stored in
// a compact binary form: 34 bytes, plus 4 for the SDKs' default CRC32. An ext4 inode of 256
// bytes has room for one xattr of up to about 60 bytes beside its name, so a small object
// without stored headers (or a file written through the mount and then read over S3) keeps
// its ETag inside the inode instead of costing an extra 4 KiB block. Other records (multipart, copied or
// foreign ETags) are JSON, which is also what older records are; the first byte tells them
// apart (`{` for JSON).

/// First byte of a compact record (version 1).
const COMPACT_V1: u8 = 1;

/// The checksums a compact record can hold, in flag-bit order, with their raw length.
const COMPACT_SUMS: [(&str, usize); 4] =
    [("crc32", 4), ("crc32c", 4), ("sha1", 20), ("sha256", 32)];

fn encode_stamp(s: &Stamped) -> Result<Vec<u8>> {
    if let Some(compact) = encode_compact(s) {
        return Ok(compact);
    }
    serde_json::to_vec(s).map_err(|e| crate::Error::InvalidArgument(e.to_string()))
}

fn decode_stamp(raw: &[u8]) -> Option<Stamped> {
    match raw.first() {
        Some(&COMPACT_V1) => decode_compact(raw),
        _ => serde_json::from_slice(raw).ok(),
    }
}

/// `[1][checksum flags][size u64][mtime ns i64][md5 16][raw checksums in flag order]`, all
/// little-endian; `None` when the record does not have the common shape.
fn encode_compact(s: &Stamped) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if s.parts.is_some() || s.etag.len() != 32 {
        return None;
    }
    let md5 = hex::decode(&s.etag).ok()?;
    // Only a lowercase ETag survives the round trip through `hex::encode`.
    if hex::encode(&md5) != s.etag {
        return None;
    }
    let mtime = i64::try_from(s.mtime_ns).ok()?;
    let mut flags = 0u8;
    let mut sums = Vec::new();
    for (bit, (name, len)) in COMPACT_SUMS.iter().enumerate() {
        if let Some(v) = s.checksums.get(*name) {
            let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
            if raw.len() != *len {
                return None;
            }
            flags |= 1 << bit;
            sums.extend_from_slice(&raw);
        }
    }
    if s.checksums.len() != flags.count_ones() as usize {
        return None;
    }
    let mut out = Vec::with_capacity(34 + sums.len());
    out.push(COMPACT_V1);
    out.push(flags);
    out.extend_from_slice(&s.size.to_le_bytes());
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&md5);
    out.extend_from_slice(&sums);
    Some(out)
}

fn decode_compact(raw: &[u8]) -> Option<Stamped> {
    use base64::Engine as _;
    let flags = *raw.get(1)?;
    let size = u64::from_le_bytes(raw.get(2..10)?.try_into().ok()?);
    let mtime = i64::from_le_bytes(raw.get(10..18)?.try_into().ok()?);
    let etag = hex::encode(raw.get(18..34)?);
    let mut at = 34;
    let mut checksums = BTreeMap::new();
    for (bit, (name, len)) in COMPACT_SUMS.iter().enumerate() {
        if flags & (1 << bit) != 0 {
            let v = raw.get(at..at + len)?;
            checksums.insert(
                (*name).to_owned(),
                base64::engine::general_purpose::STANDARD.encode(v),
            );
            at += len;
        }
    }
    (at == raw.len() && flags >> COMPACT_SUMS.len() == 0).then_some(Stamped {
        etag,
        size,
        mtime_ns: i128::from(mtime),
        checksums,
        parts: None,
    })
}

/// The ETag of an open regular file: the stored one if fresh, else recomputed from the
/// content (read through `fd` at offset 0 with `pread`) and stored again.
pub fn etag_of(fd: BorrowedFd<'_>, st: &Stat) -> Result<Stamped> {
    if let Some(s) = fresh_stamp(fd, st)? {
        return Ok(s);
    }
    let etag = md5_of(fd)?;
    let after = disk::stat(fd)?;
    let record = Stamped {
        etag,
        ..Stamped::default()
    };
    if disk::mtime_ns(&after) != disk::mtime_ns(st) || after.st_size != st.st_size {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(etag: &str, sums: &[(&str, &str)]) -> Stamped {
        Stamped {
            etag: etag.into(),
            size: 4096,
            mtime_ns: 1_795_977_906_112_203_387,
            checksums: sums
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parts: None,
        }
    }

    const MD5: &str = "27f681f02f6d109b2a2c412bc6912f80";

    #[test]
    fn the_common_record_is_compact_and_reads_back_the_same() {
        for (sums, len) in [
            (vec![], 34),
            (vec![("crc32", "fNVR3Q==")], 38),
            (
                vec![
                    ("crc32", "fNVR3Q=="),
                    ("crc32c", "AAAAAA=="),
                    ("sha1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
                    ("sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
                ],
                94,
            ),
        ] {
            let r = record(MD5, &sums);
            let raw = encode_stamp(&r).unwrap();
            assert_eq!((raw[0], raw.len()), (COMPACT_V1, len));
            assert_eq!(decode_stamp(&raw), Some(r));
        }
    }

    #[test]
    fn other_records_are_json_and_read_back_the_same() {
        let mut multipart = record(&format!("{MD5}-3"), &[]);
        multipart.parts = Some(vec![5 << 20, 5 << 20, 1]);
        let records = [
            multipart,
            record(&MD5.to_uppercase(), &[]),
            record(MD5, &[("crc64nvme", "AAAAAAAAAAA=")]),
            record(MD5, &[("crc32", "not base64!")]),
            Stamped {
                mtime_ns: i128::from(i64::MAX) + 1,
                ..record(MD5, &[])
            },
        ];
        for r in records {
            let raw = encode_stamp(&r).unwrap();
            assert_eq!(raw[0], b'{', "{r:?}");
            assert_eq!(decode_stamp(&raw), Some(r));
        }
    }

    #[test]
    fn records_written_before_the_compact_form_still_read() {
        let old = br#"{"etag":"27f681f02f6d109b2a2c412bc6912f80","size":4096,"mtime_ns":1795977906112203387,"checksums":{"crc32":"fNVR3Q=="}}"#;
        assert_eq!(
            decode_stamp(old),
            Some(record(MD5, &[("crc32", "fNVR3Q==")]))
        );
    }

    #[test]
    fn a_damaged_compact_record_is_no_record() {
        let raw = encode_stamp(&record(MD5, &[("crc32", "fNVR3Q==")])).unwrap();
        for cut in [1, 10, 33, 37] {
            assert_eq!(decode_stamp(&raw[..cut]), None, "cut at {cut}");
        }
        let mut longer = raw.clone();
        longer.push(0);
        assert_eq!(decode_stamp(&longer), None);
        let mut unknown_flag = raw;
        unknown_flag[1] |= 0x80;
        assert_eq!(decode_stamp(&unknown_flag), None);
    }

    #[test]
    fn a_stored_stamp_fits_beside_the_name_in_an_ext4_inode() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        std::io::Write::write_all(&mut &f, &[0x5a; 4096]).unwrap();
        let fd = std::os::fd::AsFd::as_fd(&f);
        let st = disk::stat(fd).unwrap();
        let stored = store_stamp(fd, &st, record(MD5, &[("crc32", "fNVR3Q==")])).unwrap();
        let raw = get_xattr(fd, XATTR_ETAG).unwrap().unwrap();
        // A 256-byte ext4 inode keeps about 60 bytes of value beside `user.wekad.etag`.
        assert!(raw.len() <= 60, "{} bytes", raw.len());
        assert_eq!(fresh_stamp(fd, &st).unwrap(), Some(stored));
    }
}
