//! The object view: buckets and objects over the served tree, for the S3 door.
//!
//! Owns the bucket/key -> path mapping, atomic publish of new content (temp file under
//! `<data>/.wekad/tmp/`, fsync, rename), implicit parent directories, object metadata in
//! private xattrs, listing in S3 order and multipart staging.
//!
//! Invariants:
//! - Every path is resolved relative to a held directory descriptor: the root for buckets,
//!   the bucket for keys (`openat2` with `RESOLVE_NO_SYMLINKS` beneath the bucket for reads,
//!   component by component with `O_NOFOLLOW` for writes). Nothing resolves outside the
//!   bucket and the internal area `.wekad` is never a bucket (its name is not a valid
//!   bucket name).
//! - The S3 door never follows a symlink: a symlink is not an object, is never listed, is
//!   never written or deleted, and a key whose path goes through one is absent for reads and
//!   a conflict for writes (docs/SEMANTICS.md, "Symlinks and hard links"). Authorization
//!   decided on a key therefore always covers the file that is read or written.
//! - Every entry this view adds, replaces or removes is published on `root.events()` with
//!   `Origin::Object` before the call returns, so FUSE drops its caches first.
//! - A reader never sees a partial object: content becomes visible with one rename.
//!
//! This module knows nothing of HTTP; its errors are `ObjectError` variants with S3 meaning.

mod bucket_id;
mod list;
mod meta;
mod multipart;
mod name;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::SystemTime;

use md5::{Digest, Md5};

pub use crate::error::ObjectError;
pub use bucket_id::{BucketId, XATTR_BUCKET_ID};
pub use list::{ListEntry, ListPage, ListQuery};
pub use meta::{ObjectMeta, Stamped, MAX_USER_METADATA};
pub use multipart::{PartInfo, UploadInfo};
pub use name::{BucketName, BucketNameError, KeyError, ObjectKey};

use crate::disk::{self, Dir, Errno, Inode, Kind, OFlags, RenameFlags, Stat};
use crate::error::{Error, Result};
use crate::events::Origin;
use crate::root::{Ino, Root};

/// Options of the object view.
#[derive(Debug, Clone)]
pub struct ObjectOptions {
    /// fsync data and directory before a write returns (`s3.sync = "always"`).
    pub sync: bool,
}

impl Default for ObjectOptions {
    fn default() -> Self {
        ObjectOptions { sync: true }
    }
}

/// POSIX owner given to what the caller creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// A bucket as listed.
#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: BucketName,
    pub created: SystemTime,
}

/// An open object: content, size, mtime and ETag all from one descriptor.
pub struct OpenObject {
    /// The content (empty for a directory object). Read it with `pread` (`FileExt::read_at`).
    pub file: File,
    pub size: u64,
    pub modified: SystemTime,
    pub stamp: Stamped,
    pub meta: ObjectMeta,
    pub is_dir: bool,
}

/// What a successful write produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub etag: String,
    pub size: u64,
    pub modified: SystemTime,
    pub checksums: std::collections::BTreeMap<String, String>,
}

/// Conditions and metadata of a write.
#[derive(Debug, Clone, Default)]
pub struct PutParams {
    pub meta: ObjectMeta,
    /// Checksums computed by the caller (base64, by algorithm name), stored for GET/HEAD.
    pub checksums: std::collections::BTreeMap<String, String>,
    /// Expected MD5 (`Content-MD5`), checked before publishing.
    pub content_md5: Option<[u8; 16]>,
    /// `If-None-Match: *`: fail with `PreconditionFailed` if the key exists.
    pub if_none_match: bool,
    /// `If-Match: etag`: fail unless the current object has this ETag.
    pub if_match: Option<String>,
    /// Multipart layout (part sizes) of the content, if any.
    pub parts: Option<Vec<u64>>,
    /// Forced ETag (multipart and copy); `None` means the MD5 of the content.
    pub etag: Option<String>,
}

/// A new content being written into a hidden temp file.
pub struct Staged {
    file: File,
    /// The temp file's name in the internal area; `None` for an unnamed (`O_TMPFILE`) one.
    name: Option<String>,
    md5: Md5,
    size: u64,
    tmp: Arc<OwnedFd>,
    done: bool,
}

impl Staged {
    /// Gives the content the name `dir/name` in one atomic step; with `noreplace` it fails
    /// with `Exists` when the name is taken, else it replaces what is there.
    ///
    /// An unnamed temp file is linked straight into place: no cross-directory rename, so
    /// concurrent PUTs do not queue on the filesystem's rename lock or on the internal
    /// area's directory lock. Only when the name is taken and may be replaced does it get
    /// a private name first, to be renamed over the old one.
    fn link_into(&mut self, dir: BorrowedFd<'_>, name: &str, noreplace: bool) -> Result<()> {
        match &self.name {
            Some(tmp) => disk::rename(self.tmp.as_fd(), tmp, dir, name, no_replace(noreplace))?,
            None => match disk::link_fd(self.file.as_fd(), dir, name) {
                Ok(()) => {}
                Err(Errno::EXIST) if !noreplace => return self.replace(dir, name),
                Err(e) => return Err(e.into()),
            },
        }
        self.done = true;
        Ok(())
    }

    /// Puts the content in place of the taken name `dir/name` with one rename (an unnamed
    /// temp file gets a private name first). `rename` replaces the entry itself: whatever
    /// stood there, a symlink included, is never written through.
    fn replace(&mut self, dir: BorrowedFd<'_>, name: &str) -> Result<()> {
        match &self.name {
            Some(tmp) => disk::rename(self.tmp.as_fd(), tmp, dir, name, RenameFlags::empty())?,
            None => {
                let tmp = temp_name();
                disk::link_fd(self.file.as_fd(), self.tmp.as_fd(), &tmp)?;
                let renamed = disk::rename(self.tmp.as_fd(), &tmp, dir, name, RenameFlags::empty());
                if let Err(e) = renamed {
                    // Best effort: a leftover temp file is also removed at the next start.
                    let _ = disk::unlink(self.tmp.as_fd(), &tmp);
                    return Err(e.into());
                }
            }
        }
        self.done = true;
        Ok(())
    }

    /// Appends bytes to the content.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        std::io::Write::write_all(&mut self.file, data)?;
        self.md5.update(data);
        self.size += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The temp file (for in-kernel copies into it; the MD5 then is not tracked).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Adds `n` bytes copied in the kernel to the size count.
    pub fn add_copied(&mut self, n: u64) {
        self.size += n;
    }

    /// Appends `len` bytes of `src` from offset `off`. With `hash` the bytes go through the
    /// MD5 (for a content whose ETag is its MD5); without, they are copied in the kernel
    /// and the caller supplies the ETag.
    pub fn copy_from(&mut self, src: &File, off: u64, len: u64, hash: bool) -> Result<()> {
        if !hash {
            copy_all(
                src.as_fd(),
                i64::try_from(off).unwrap_or(i64::MAX),
                self.file.as_fd(),
                len,
            )?;
            self.size += len;
            return Ok(());
        }
        let mut buf = vec![0u8; 1 << 20];
        let (mut pos, end) = (off, off + len);
        while pos < end {
            let want = usize::try_from((end - pos).min(1 << 20)).unwrap_or(1 << 20);
            let n = std::os::unix::fs::FileExt::read_at(src, &mut buf[..want], pos)?;
            if n == 0 {
                return Err(ObjectError::IncompleteBody.into());
            }
            self.write(&buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let (false, Some(name)) = (self.done, &self.name) {
            // Best effort: a leftover temp file is also removed at the next start.
            let _ = disk::unlink(self.tmp.as_fd(), name);
        }
    }
}

/// A fresh name for a temp file in the internal area.
fn temp_name() -> String {
    format!("put-{}", hex::encode(rand::random::<[u8; 12]>()))
}

/// The object view over one root.
pub struct ObjectView {
    root: Arc<Root>,
    opts: ObjectOptions,
    tmp: Arc<OwnedFd>,
    multipart: multipart::Staging,
    listing: Arc<list::SnapshotCache>,
}

impl ObjectView {
    /// Opens the view: prepares `.wekad/tmp` and the multipart staging, removes temp files
    /// and finishes the multipart clean-up a crash left behind, and subscribes the listing
    /// cache to change events.
    pub fn new(root: Arc<Root>, opts: ObjectOptions) -> Result<ObjectView> {
        make_dir(root.internal(), "tmp", 0o700)?;
        let tmp = Arc::new(open_dir(root.internal(), "tmp")?);
        let multipart = multipart::Staging::open(root.internal())?;
        for (name, _) in entries(tmp.as_fd())? {
            if let Ok(name) = String::from_utf8(name) {
                // Best effort: a file we cannot remove now is retried at the next start.
                let _ = disk::unlink(tmp.as_fd(), &name);
            }
        }
        let listing = Arc::new(list::SnapshotCache::new(root.clone()));
        root.events().subscribe(listing.clone());
        let view = ObjectView {
            root,
            opts,
            tmp,
            multipart,
            listing,
        };
        if let Err(e) = view.sweep_uploads(true) {
            // Leftovers only cost space and are retried at the next start; serving matters more.
            tracing::warn!(error = %e, "cleaning the multipart staging left by a crash failed");
        }
        Ok(view)
    }

    /// True when writes are synced to the device before they return (`s3.sync = "always"`),
    /// so a commit may wait on the disk.
    pub fn syncs(&self) -> bool {
        self.opts.sync
    }

    /// The root this view serves.
    pub fn root(&self) -> &Arc<Root> {
        &self.root
    }

    fn ino_of(&self, fd: BorrowedFd<'_>) -> Result<Ino> {
        Ok(self.root.ino(disk::stat(fd)?.st_ino))
    }

    fn publish(&self, parent: BorrowedFd<'_>, name: &str) -> Result<()> {
        let ino = self.ino_of(parent)?;
        self.root.events().entry(Origin::Object, ino, name);
        Ok(())
    }

    fn sync_dir(&self, dir: BorrowedFd<'_>) -> Result<()> {
        if self.opts.sync {
            disk::sync(dir)?;
        }
        Ok(())
    }

    // ---- buckets ----

    /// Opens the bucket directory.
    pub fn bucket(&self, bucket: &BucketName) -> Result<OwnedFd> {
        match open_dir(self.root.dir(), bucket.as_str()) {
            Ok(fd) => Ok(fd),
            Err(Error::NotFound | Error::NotADirectory) => Err(ObjectError::NoSuchBucket.into()),
            Err(e) => Err(e),
        }
    }

    /// Creates a bucket (a top-level directory owned by `owner`).
    pub fn create_bucket(&self, bucket: &BucketName, owner: Owner) -> Result<()> {
        if !make_dir(self.root.dir(), bucket.as_str(), 0o755)? {
            return Err(ObjectError::BucketExists.into());
        }
        let fd = open_dir(self.root.dir(), bucket.as_str())?;
        disk::chown(fd.as_fd(), Some(owner.uid), Some(owner.gid))?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        meta::set_xattr(
            fd.as_fd(),
            meta::XATTR_BUCKET_CREATED,
            now.to_string().as_bytes(),
        )?;
        self.sync_dir(self.root.dir())?;
        self.root
            .events()
            .entry(Origin::Object, Ino::ROOT, bucket.as_str());
        Ok(())
    }

    /// Removes an empty bucket.
    pub fn delete_bucket(&self, bucket: &BucketName) -> Result<()> {
        let fd = self.bucket(bucket)?;
        if !entries(fd.as_fd())?.is_empty() {
            return Err(ObjectError::BucketNotEmpty.into());
        }
        match disk::rmdir(self.root.dir(), bucket.as_str()) {
            Ok(()) => {}
            Err(Errno::NOTEMPTY) => return Err(ObjectError::BucketNotEmpty.into()),
            Err(e) => return Err(e.into()),
        }
        self.root
            .events()
            .entry(Origin::Object, Ino::ROOT, bucket.as_str());
        Ok(())
    }

    /// Every top-level directory whose name is a valid bucket name, sorted by name.
    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        for (name, kind) in entries(self.root.dir())? {
            let Ok(name) = std::str::from_utf8(&name) else {
                continue;
            };
            let Ok(bucket) = BucketName::parse(name) else {
                continue;
            };
            if kind != Kind::Dir {
                continue;
            }
            let Ok(fd) = open_dir(self.root.dir(), name) else {
                continue;
            };
            out.push(BucketInfo {
                name: bucket,
                created: bucket_created(fd.as_fd())?,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Tags of a bucket.
    pub fn bucket_tags(&self, bucket: &BucketName) -> Result<Option<Vec<(String, String)>>> {
        let fd = self.bucket(bucket)?;
        Ok(meta::get_xattr(fd.as_fd(), meta::XATTR_BUCKET_TAGS)?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Sets (or with `None` removes) the tags of a bucket.
    pub fn set_bucket_tags(
        &self,
        bucket: &BucketName,
        tags: Option<&[(String, String)]>,
    ) -> Result<()> {
        let fd = self.bucket(bucket)?;
        match tags {
            None => meta::remove_xattr(fd.as_fd(), meta::XATTR_BUCKET_TAGS),
            Some(t) => {
                let json =
                    serde_json::to_vec(t).map_err(|e| Error::InvalidArgument(e.to_string()))?;
                meta::set_xattr(fd.as_fd(), meta::XATTR_BUCKET_TAGS, &json)
            }
        }
    }

    // ---- reading ----

    /// Opens an object for GET/HEAD (and as the source of a copy). A symlink anywhere on the
    /// key's path, the last component included, makes the key absent (`NoSuchKey`), checked
    /// by the kernel in the same walk that opens it; directories (other than directory
    /// objects) and special files are not objects either.
    pub fn open_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<OpenObject> {
        self.open_object_with(bucket, key, true)?
            .ok_or_else(|| Error::Io(std::io::Error::other("the ETag was not recomputed")))
    }

    /// Like `open_object`, but `Ok(None)` when the stored ETag is stale (the content changed
    /// through the mount), instead of reading the whole content to recompute it: what is
    /// left is then metadata calls only, cheap enough to run on an async thread.
    pub fn open_object_cached(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<OpenObject>> {
        self.open_object_with(bucket, key, false)
    }

    fn open_object_with(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        rehash: bool,
    ) -> Result<Option<OpenObject>> {
        let bfd = self.bucket(bucket)?;
        let path_fd = open_or_nokey(bfd.as_fd(), key.path(), OFlags::PATH)?;
        let st = disk::stat(path_fd.as_fd())?;
        match (Kind::of_mode(st.st_mode), key.is_dir()) {
            (Kind::File, false) => self.open_file(path_fd, &st, rehash),
            (Kind::Dir, true) => open_dir_object(path_fd, &st).map(Some),
            _ => Err(ObjectError::NoSuchKey.into()),
        }
    }

    fn open_file(&self, path_fd: OwnedFd, st: &Stat, rehash: bool) -> Result<Option<OpenObject>> {
        // Reopen the O_PATH descriptor for reading: the inode is the one we checked is a
        // regular file, so no fifo or device is ever opened.
        let file = File::from(disk::reopen(path_fd.as_fd(), OFlags::RDONLY)?);
        let st2 = disk::stat(file.as_fd())?;
        if st2.st_ino != st.st_ino || st2.st_dev != st.st_dev {
            return Err(ObjectError::NoSuchKey.into());
        }
        let stamp = match meta::fresh_stamp(file.as_fd(), &st2)? {
            Some(stamp) => stamp,
            None if rehash => meta::etag_of(file.as_fd(), &st2)?,
            None => return Ok(None),
        };
        let meta = meta::read_meta(file.as_fd())?;
        Ok(Some(OpenObject {
            size: u64::try_from(st2.st_size).unwrap_or(0),
            modified: disk::mtime(&st2),
            stamp,
            meta,
            is_dir: false,
            file,
        }))
    }

    // ---- writing ----

    /// Starts a new content in a hidden temp file; nothing is visible until `commit`.
    pub fn stage(&self) -> Result<Staged> {
        let (fd, name) = match disk::open_tmpfile(self.tmp.as_fd()) {
            Some(fd) => (fd?, None),
            None => {
                let name = temp_name();
                let fd = open_child(
                    self.tmp.as_fd(),
                    &name,
                    OFlags::RDWR | OFlags::CREATE | OFlags::EXCL,
                )?;
                (fd, Some(name))
            }
        };
        // The temp file is created 0600 inside the private area; once published it is an
        // ordinary file, readable by everyone as a file created under umask 022 would be.
        disk::chmod(Inode::Open(fd.as_fd()), OBJECT_MODE)?;
        Ok(Staged {
            file: File::from(fd),
            name,
            md5: Md5::new(),
            size: 0,
            tmp: self.tmp.clone(),
            done: false,
        })
    }

    /// Publishes a staged content at `key`: checks digests and conditions, sets owner and
    /// metadata, syncs, creates missing parents and renames it into place.
    pub fn commit(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        mut staged: Staged,
        params: PutParams,
        owner: Owner,
    ) -> Result<Written> {
        let md5 = std::mem::replace(&mut staged.md5, Md5::new()).finalize();
        if params.content_md5.is_some_and(|want| want[..] != md5[..]) {
            return Err(ObjectError::BadDigest("Content-MD5").into());
        }
        check_user_meta(&params.meta)?;
        if key.is_dir() {
            if staged.size != 0 {
                return Err(Error::InvalidArgument(
                    "a directory object (key ending in `/`) must be empty".into(),
                ));
            }
            return self.put_dir_object(bucket, key, params, owner);
        }
        let fd = staged.file.as_fd();
        disk::chown(fd, Some(owner.uid), Some(owner.gid))?;
        if !params.meta.is_empty() {
            // A fresh temp file has no metadata xattr: only a non-empty one is written.
            meta::write_meta(fd, &params.meta)?;
        }
        let st = disk::stat(fd)?;
        let etag = params.etag.clone().unwrap_or_else(|| hex::encode(md5));
        let record = Stamped {
            etag,
            checksums: params.checksums.clone(),
            parts: params.parts.clone(),
            ..Stamped::default()
        };
        let stamp = meta::store_stamp(fd, &st, record)?;
        if self.opts.sync {
            disk::sync(fd)?;
        }
        let bfd = self.bucket(bucket)?;
        let parent = self.make_parents(bfd, key, owner)?;
        if params.if_match.is_some() {
            self.check_target(parent.as_fd(), key, &params)?;
        }
        self.link_at(&mut staged, parent.as_fd(), key, &params)?;
        self.sync_dir(parent.as_fd())?;
        self.publish(parent.as_fd(), key.name())?;
        Ok(Written {
            etag: stamp.etag,
            size: stamp.size,
            modified: disk::mtime(&st),
            checksums: stamp.checksums,
        })
    }

    /// Gives the staged content the name of `key` in `parent`. A free name is taken with one
    /// `linkat`, which saves a stat per PUT of a new key; only a taken name is looked at
    /// (`check_target`: a directory or a symlink there is a conflict, `If-None-Match: *`
    /// fails) before it is replaced.
    fn link_at(
        &self,
        staged: &mut Staged,
        parent: BorrowedFd<'_>,
        key: &ObjectKey,
        params: &PutParams,
    ) -> Result<()> {
        let directory_in_the_way = |e| match e {
            Error::IsADirectory | Error::NotEmpty => {
                conflict(key.path(), "a directory exists with this name")
            }
            e => e,
        };
        match staged.link_into(parent, key.name(), true) {
            Err(Error::Exists) => {}
            linked => return linked.map_err(directory_in_the_way),
        }
        self.check_target(parent, key, params)?;
        staged
            .replace(parent, key.name())
            .map_err(directory_in_the_way)
    }

    /// Refuses to replace what stands at `key` in `parent` when it is a directory or a
    /// symlink (a write never replaces or goes through a symlink: the mount owns it), or when
    /// the conditions of `params` do not hold.
    fn check_target(
        &self,
        parent: BorrowedFd<'_>,
        key: &ObjectKey,
        params: &PutParams,
    ) -> Result<()> {
        let existing = match disk::stat_at(parent, key.name()) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(st) = &existing {
            match Kind::of_mode(st.st_mode) {
                Kind::Dir => return Err(conflict(key.path(), "a directory exists with this name")),
                Kind::Symlink => {
                    return Err(conflict(key.path(), "a symlink exists with this name"))
                }
                Kind::File | Kind::Other => {}
            }
            if params.if_none_match {
                return Err(ObjectError::PreconditionFailed.into());
            }
        }
        if let Some(want) = &params.if_match {
            let Some(_) = existing else {
                return Err(ObjectError::NoSuchKey.into());
            };
            let fd = open_child(parent, key.name(), OFlags::RDONLY | OFlags::NONBLOCK)?;
            let st = disk::stat(fd.as_fd())?;
            if meta::etag_of(fd.as_fd(), &st)?.etag != want.trim_matches('"') && want != "*" {
                return Err(ObjectError::PreconditionFailed.into());
            }
        }
        Ok(())
    }

    /// Opens (creating as needed, owned by `owner`) the parent directory of `key`.
    fn make_parents(&self, bucket: OwnedFd, key: &ObjectKey, owner: Owner) -> Result<OwnedFd> {
        let mut dir = bucket;
        let mut walked = String::new();
        for seg in key.parent_segments() {
            walked.push_str(seg);
            dir = self.open_or_make_dir(dir.as_fd(), seg, &walked, owner)?;
            walked.push('/');
        }
        Ok(dir)
    }

    /// Opens the directory `seg` of `dir` (key prefix `walked`), creating it owned by `owner`
    /// when absent. A file or a symlink there is a conflict: a write never goes through a
    /// symlink, even one that leads to a directory of the same bucket.
    fn open_or_make_dir(
        &self,
        dir: BorrowedFd<'_>,
        seg: &str,
        walked: &str,
        owner: Owner,
    ) -> Result<OwnedFd> {
        // Usually the parent exists: try to open it before trying to create it.
        if let Ok(existing) = open_dir(dir, seg) {
            return Ok(existing);
        }
        if !make_dir(dir, seg, 0o755)? {
            return match open_dir(dir, seg) {
                Err(Error::NotADirectory) if is_symlink(dir, seg) => Err(conflict(
                    walked,
                    "a symlink exists where a directory is needed",
                )),
                Err(Error::NotADirectory) => Err(conflict(
                    walked,
                    "a file exists where a directory is needed",
                )),
                opened => opened,
            };
        }
        let child = open_dir(dir, seg)?;
        disk::chown(child.as_fd(), Some(owner.uid), Some(owner.gid))?;
        self.sync_dir(dir)?;
        self.publish(dir, seg)?;
        Ok(child)
    }

    fn put_dir_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        params: PutParams,
        owner: Owner,
    ) -> Result<Written> {
        let bfd = self.bucket(bucket)?;
        let parent = self.make_parents(bfd, key, owner)?;
        let created = make_dir(parent.as_fd(), key.name(), 0o755)?;
        let fd = match open_dir(parent.as_fd(), key.name()) {
            Ok(fd) => fd,
            Err(Error::NotADirectory) if is_symlink(parent.as_fd(), key.name()) => {
                return Err(conflict(key.path(), "a symlink exists with this name"))
            }
            Err(Error::NotADirectory) => {
                return Err(conflict(key.path(), "a file exists with this name"))
            }
            Err(e) => return Err(e),
        };
        if !created && params.if_none_match {
            return Err(ObjectError::PreconditionFailed.into());
        }
        if created {
            disk::chown(fd.as_fd(), Some(owner.uid), Some(owner.gid))?;
        }
        meta::set_xattr(fd.as_fd(), meta::XATTR_DIROBJ, b"1")?;
        meta::write_meta(fd.as_fd(), &params.meta)?;
        self.sync_dir(parent.as_fd())?;
        self.publish(parent.as_fd(), key.name())?;
        let st = disk::stat(fd.as_fd())?;
        Ok(Written {
            etag: EMPTY_MD5.into(),
            size: 0,
            modified: disk::mtime(&st),
            checksums: Default::default(),
        })
    }

    /// Replaces the metadata (including tags) of an existing object in place.
    pub fn update_meta(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        f: impl FnOnce(&mut ObjectMeta),
    ) -> Result<()> {
        let obj = self.open_object(bucket, key)?;
        let mut m = obj.meta;
        f(&mut m);
        check_user_meta(&m)?;
        meta::write_meta(obj.file.as_fd(), &m)?;
        let ino = self.root.ino(disk::stat(obj.file.as_fd())?.st_ino);
        self.root.events().inode(Origin::Object, ino);
        Ok(())
    }

    // ---- deleting ----

    /// Deletes an object; deleting a key that does not exist succeeds (as in S3). Parents
    /// that become empty are removed unless they are the bucket or directory objects.
    /// A symlink is not an object: one at the key is left alone, and a key whose path goes
    /// through one is absent (the walk opens each directory with `O_NOFOLLOW`).
    pub fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<()> {
        let bfd = self.bucket(bucket)?;
        let segs: Vec<&str> = key.segments().collect();
        let mut dirs = vec![bfd];
        for seg in &segs[..segs.len() - 1] {
            let Some(last) = dirs.last() else { break };
            match open_dir(last.as_fd(), seg) {
                Ok(fd) => dirs.push(fd),
                Err(_) => return Ok(()),
            }
        }
        let Some(parent) = dirs.last() else {
            return Ok(());
        };
        if !self.unlink_entry(parent.as_fd(), key)? {
            return Ok(());
        }
        self.sync_dir(parent.as_fd())?;
        self.publish(parent.as_fd(), key.name())?;
        self.remove_empty_parents(&dirs, &segs)
    }

    /// Removes the entry `key` names in `parent`; false if there was nothing to remove.
    fn unlink_entry(&self, parent: BorrowedFd<'_>, key: &ObjectKey) -> Result<bool> {
        let st = match disk::stat_at(parent, key.name()) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let kind = Kind::of_mode(st.st_mode);
        if kind == Kind::Symlink {
            // Not an object: nothing to delete, and the mount's symlink stays.
            return Ok(false);
        }
        if key.is_dir() {
            if kind != Kind::Dir {
                return Ok(false);
            }
            let fd = open_dir(parent, key.name())?;
            meta::remove_xattr(fd.as_fd(), meta::XATTR_DIROBJ)?;
            return match disk::rmdir(parent, key.name()) {
                Ok(()) => Ok(true),
                Err(Errno::NOTEMPTY) => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        if kind == Kind::Dir {
            return Ok(false);
        }
        match disk::unlink(parent, key.name()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn remove_empty_parents(&self, dirs: &[OwnedFd], segs: &[&str]) -> Result<()> {
        // dirs[i + 1] is segs[i] inside dirs[i]; dirs[0] is the bucket, never removed.
        for i in (0..dirs.len().saturating_sub(1)).rev() {
            let (Some(parent), Some(child)) = (dirs.get(i), dirs.get(i + 1)) else {
                break;
            };
            if meta::get_xattr(child.as_fd(), meta::XATTR_DIROBJ)?.is_some() {
                break;
            }
            match disk::rmdir(parent.as_fd(), segs[i]) {
                Ok(()) => {}
                Err(Errno::NOTEMPTY | Errno::NOENT | Errno::EXIST) => break,
                Err(e) => return Err(e.into()),
            }
            self.publish(parent.as_fd(), segs[i])?;
        }
        Ok(())
    }
}

/// Permission bits of an object file created over S3 (0666 under the usual umask 022),
/// like a file a local program creates; directories S3 creates get 0755.
pub const OBJECT_MODE: u32 = 0o644;

/// MD5 of the empty content.
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

fn conflict(path: &str, why: &'static str) -> Error {
    ObjectError::Conflict {
        path: path.to_owned(),
        why,
    }
    .into()
}

/// True when `parent/name` is a symlink (for the message of a conflict).
fn is_symlink(parent: BorrowedFd<'_>, name: &str) -> bool {
    disk::stat_at(parent, name).is_ok_and(|st| Kind::of_mode(st.st_mode) == Kind::Symlink)
}

fn check_user_meta(m: &ObjectMeta) -> Result<()> {
    match m.user_size() {
        n if n > MAX_USER_METADATA => Err(ObjectError::MetadataTooLarge(n).into()),
        _ => Ok(()),
    }
}

fn open_or_nokey(bucket: BorrowedFd<'_>, path: &str, flags: OFlags) -> Result<OwnedFd> {
    match disk::open_beneath(bucket, path, flags) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOENT | Errno::NOTDIR) => Err(ObjectError::NoSuchKey.into()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory object behind the `O_PATH` descriptor `path_fd` (already checked to
/// be a directory): reopened through the descriptor, so the path is not resolved again.
fn open_dir_object(path_fd: OwnedFd, st: &Stat) -> Result<OpenObject> {
    let fd = disk::reopen(path_fd.as_fd(), OFlags::RDONLY | OFlags::DIRECTORY)?;
    if meta::get_xattr(fd.as_fd(), meta::XATTR_DIROBJ)?.is_none() {
        return Err(ObjectError::NoSuchKey.into());
    }
    let meta = meta::read_meta(fd.as_fd())?;
    Ok(OpenObject {
        file: File::from(fd),
        size: 0,
        modified: disk::mtime(st),
        stamp: Stamped {
            etag: EMPTY_MD5.into(),
            ..Stamped::default()
        },
        meta,
        is_dir: true,
    })
}

fn bucket_created(fd: BorrowedFd<'_>) -> Result<SystemTime> {
    let stored = meta::get_xattr(fd, meta::XATTR_BUCKET_CREATED)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<u64>().ok());
    Ok(match stored {
        Some(secs) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        None => disk::mtime(&disk::stat(fd)?),
    })
}

/// Reads at `offset` into `buf` only from the page cache: `Ok(None)` when that would wait
/// on the device, so the caller can hand the read to a thread that may block
/// (`disk::read_cached`). `Ok(Some(0))` is the end of the file.
pub fn read_cached(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<Option<usize>> {
    Ok(disk::read_cached(fd, buf, offset)?)
}

// ---- how the object view uses the disk layer ----

/// Opens the directory `dir/name` without following a symlink: a symlink there is
/// `NotADirectory`, whatever it points at.
fn open_dir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd> {
    Ok(Dir::open_at(dir, name)?.into())
}

/// Opens the single component `name` under `dir` without following a final symlink (a
/// file it creates is 0600 until published).
fn open_child(dir: BorrowedFd<'_>, name: &str, flags: OFlags) -> Result<OwnedFd> {
    Ok(disk::open_at(dir, name, flags | OFlags::NOFOLLOW, 0o600)?)
}

/// Creates the directory `dir/name`; `Ok(false)` if it already existed.
fn make_dir(dir: BorrowedFd<'_>, name: &str, mode: u32) -> Result<bool> {
    match disk::mkdir(dir, name, mode) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every entry of `dir` except `.` and `..`, with its kind (from `d_type`, or `fstatat`
/// when the filesystem does not say). Names that are not UTF-8 are returned too; the
/// caller decides.
fn entries(dir: BorrowedFd<'_>) -> Result<Vec<(Vec<u8>, Kind)>> {
    let mut out = Vec::new();
    for entry in disk::read_dir(dir)? {
        if entry.is_dot() {
            continue;
        }
        let kind = match entry.file_type {
            disk::FileType::RegularFile => Kind::File,
            disk::FileType::Directory => Kind::Dir,
            disk::FileType::Symlink => Kind::Symlink,
            disk::FileType::Unknown => kind_by_stat(dir, &entry.name),
            _ => Kind::Other,
        };
        out.push((entry.name, kind));
    }
    Ok(out)
}

fn kind_by_stat(dir: BorrowedFd<'_>, name: &[u8]) -> Kind {
    let Ok(name) = std::str::from_utf8(name) else {
        return Kind::Other;
    };
    disk::stat_at(dir, name)
        .map(|st| Kind::of_mode(st.st_mode))
        .unwrap_or(Kind::Other)
}

/// Copies `len` bytes from `src` at `off` to the end of `dst` in the kernel.
fn copy_all(src: BorrowedFd<'_>, mut off: i64, dst: BorrowedFd<'_>, mut len: u64) -> Result<()> {
    while len > 0 {
        let chunk = usize::try_from(len.min(1 << 30)).unwrap_or(1 << 30);
        let n = disk::copy_range(src, off, dst, None, chunk)?;
        if n == 0 {
            return Err(Error::InvalidArgument(
                "source shorter than expected".into(),
            ));
        }
        len -= n as u64;
        off += n as i64;
    }
    Ok(())
}

/// The `renameat2` flags of a rename that may (or, with `noreplace`, may not) replace.
fn no_replace(noreplace: bool) -> RenameFlags {
    if noreplace {
        RenameFlags::NOREPLACE
    } else {
        RenameFlags::empty()
    }
}
