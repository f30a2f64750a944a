//! The identity of a bucket directory: a random id kept in the private xattr
//! `user.wekad.bucket-id` of the directory itself.
//!
//! Settings kept outside the tree (the S3 crate's anonymous policy, quota) record the id
//! they were set for, and apply only while the directory of that name carries the same id.
//! The id lives and dies with the directory: a directory removed and made again (by S3, by
//! `mkdir` on the mount, or directly on the backing directory) has none, and one renamed
//! takes its id along, so nothing can inherit another directory's settings.
//!
//! Invariants: an id is never changed once stamped; `bucket_id` never writes. Like every
//! `user.wekad.` attribute, the id is hidden from and refused through the FUSE xattr calls,
//! so a client of the mount can neither read nor forge it. Callers that stamp serialise
//! among themselves (the S3 crate stamps under its settings store's write lock).

use std::os::fd::AsFd;

use super::{meta, BucketName, ObjectError, ObjectView};
use crate::disk::{self, Errno};
use crate::error::Result;

/// The xattr holding a bucket directory's id (32 lowercase hex digits).
pub const XATTR_BUCKET_ID: &str = "user.wekad.bucket-id";

/// The random identity of one bucket directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketId(String);

impl BucketId {
    /// A checked id: exactly 32 lowercase hex digits.
    pub fn parse(text: &str) -> Option<BucketId> {
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        (text.len() == 32 && text.chars().all(hex)).then(|| BucketId(text.to_owned()))
    }

    /// A fresh id: 128 random bits.
    fn random() -> BucketId {
        BucketId(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BucketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An id read from the xattr; anything malformed counts as no id.
fn decode(raw: Option<Vec<u8>>) -> Option<BucketId> {
    BucketId::parse(std::str::from_utf8(&raw?).ok()?)
}

impl ObjectView {
    /// The id of the bucket directory `bucket`, `None` when it was never stamped;
    /// `NoSuchBucket` when no directory has that name.
    ///
    /// Cheap enough for a request path: one `getxattrat` on the root when the kernel has it
    /// (a symlink or a file of that name reads as "no id"), else an open and a read.
    pub fn bucket_id(&self, bucket: &BucketName) -> Result<Option<BucketId>> {
        let read = disk::get_xattr_at(self.root.dir(), bucket.as_str(), XATTR_BUCKET_ID);
        match read {
            Some(Ok(raw)) => Ok(decode(raw)),
            Some(Err(Errno::NOENT)) => Err(ObjectError::NoSuchBucket.into()),
            Some(Err(e)) => Err(e.into()),
            None => {
                let fd = self.bucket(bucket)?;
                Ok(decode(meta::get_xattr(fd.as_fd(), XATTR_BUCKET_ID)?))
            }
        }
    }

    /// The id of the bucket directory `bucket`, stamping a fresh one first when it has none.
    /// `NoSuchBucket` when no directory has that name.
    pub fn stamp_bucket_id(&self, bucket: &BucketName) -> Result<BucketId> {
        let fd = self.bucket(bucket)?;
        if let Some(id) = decode(meta::get_xattr(fd.as_fd(), XATTR_BUCKET_ID)?) {
            return Ok(id);
        }
        let id = BucketId::random();
        meta::set_xattr(fd.as_fd(), XATTR_BUCKET_ID, id.as_str().as_bytes())?;
        // No change event: the attribute is invisible through the mount, so no cache of the
        // kernel or of the listing holds anything it changes.
        self.sync_dir(fd.as_fd())?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::object::{ObjectOptions, Owner};
    use crate::{Error, Root};

    fn view() -> (tempfile::TempDir, ObjectView) {
        let dir = tempfile::tempdir().unwrap();
        let root = Arc::new(Root::open(dir.path()).unwrap());
        let view = ObjectView::new(root, ObjectOptions { sync: false }).unwrap();
        (dir, view)
    }

    fn bucket(v: &ObjectView, name: &str) -> BucketName {
        let b = BucketName::parse(name).unwrap();
        v.create_bucket(&b, Owner { uid: 0, gid: 0 }).unwrap();
        b
    }

    #[test]
    fn a_new_bucket_has_no_id_until_one_is_stamped() {
        let (_dir, v) = view();
        let b = bucket(&v, "fresh");
        assert_eq!(v.bucket_id(&b).unwrap(), None);
        let id = v.stamp_bucket_id(&b).unwrap();
        assert_eq!(v.bucket_id(&b).unwrap(), Some(id.clone()));
        assert_eq!(
            v.stamp_bucket_id(&b).unwrap(),
            id,
            "stamping again keeps the id"
        );
    }

    #[test]
    fn a_bucket_removed_and_made_again_has_no_id() {
        let (dir, v) = view();
        let b = bucket(&v, "again");
        v.stamp_bucket_id(&b).unwrap();
        std::fs::remove_dir(dir.path().join("again")).unwrap();
        assert!(matches!(
            v.bucket_id(&b),
            Err(Error::Object(ObjectError::NoSuchBucket))
        ));
        std::fs::create_dir(dir.path().join("again")).unwrap();
        assert_eq!(v.bucket_id(&b).unwrap(), None);
    }

    #[test]
    fn a_renamed_bucket_takes_its_id_along() {
        let (dir, v) = view();
        let b = bucket(&v, "before");
        let id = v.stamp_bucket_id(&b).unwrap();
        std::fs::rename(dir.path().join("before"), dir.path().join("after")).unwrap();
        let after = BucketName::parse("after").unwrap();
        assert_eq!(v.bucket_id(&after).unwrap(), Some(id));
        assert!(v.bucket_id(&b).is_err());
    }

    #[test]
    fn ids_are_random_and_only_well_formed_ones_count() {
        let (_dir, v) = view();
        let (a, b) = (bucket(&v, "one"), bucket(&v, "two"));
        assert_ne!(
            v.stamp_bucket_id(&a).unwrap(),
            v.stamp_bucket_id(&b).unwrap()
        );
        assert_eq!(BucketId::parse("0123456789abcdef0123456789ABCDEF"), None);
        assert_eq!(BucketId::parse("0123"), None);
        let fd = v.bucket(&b).unwrap();
        meta::set_xattr(fd.as_fd(), XATTR_BUCKET_ID, b"not an id").unwrap();
        assert_eq!(v.bucket_id(&b).unwrap(), None);
    }

    #[test]
    fn the_fallback_without_getxattrat_reads_the_same_id() {
        let (dir, v) = view();
        let b = bucket(&v, "slow");
        let id = v.stamp_bucket_id(&b).unwrap();
        crate::disk::disable_getxattrat();
        assert_eq!(v.bucket_id(&b).unwrap(), Some(id));
        std::fs::remove_dir(dir.path().join("slow")).unwrap();
        assert!(v.bucket_id(&b).is_err());
    }
}
