//! Multipart uploads staged under `<data>/.wekad/multipart/<upload-id>/`.
//!
//! Layout: `info.json` (bucket, key, metadata, owner), one `part-NNNNN` file per part with
//! its ETag stamp in the usual xattr. Complete copies the parts in the kernel
//! (`copy_file_range`) into one temp file and publishes it with one rename.
//!
//! An upload ends (Complete or Abort) with one rename of its directory into
//! `<data>/.wekad/multipart-done/`: that rename is the instant it stops being listed and
//! accepting parts. Its files are removed afterwards, by the request or, when a crash came
//! first, by the start-up sweep. A completed upload keeps `result.json` (bucket, key, part
//! list, ETag) for [`COMPLETED_RETENTION`], so a retried Complete naming the same parts
//! answers 200 with the same ETag instead of `NoSuchUpload`.
//!
//! Invariants:
//! - A crash at any point leaves an upload either whole in `multipart/` (completing it
//!   gives the same object and ETag) or finished; never listed with some of its parts (the
//!   bug of issue 14, where completing it again published a smaller object).
//! - `info.json` appears whole (written under another name, then renamed): an upload is
//!   listed only once it can be read, and a directory without it was never acknowledged,
//!   so the start-up sweep removes it.
//! - Upload ids are 32 hex digits; anything else is `NoSuchUpload`, so an id can never name
//!   a path outside the staging area.
//!
//! Test-only crash points (`crate::fault`): `multipart-complete-published` (object
//! published, upload still open), `multipart-complete-retired` (upload finished, files not
//! yet removed), `multipart-cleanup` (after the first file of a finished upload is removed).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{
    meta, BucketName, ObjectError, ObjectKey, ObjectMeta, ObjectView, Owner, PutParams, Staged,
    Written,
};
use crate::disk::{self, OFlags};
use crate::error::{Error, Result};
use crate::fault::crash_point;

/// Smallest part except the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How long a completed upload answers a retried Complete with its result (SDKs retry a
/// Complete whose answer timed out; AWS answers them with the object "for a while").
pub const COMPLETED_RETENTION: Duration = Duration::from_secs(3600);

/// Completed uploads past their retention are pruned at most this often (and at start).
const PRUNE_EVERY_SECS: u64 = 60;

const INFO: &str = "info.json";
const RESULT: &str = "result.json";

/// The staging directories: uploads in progress, and uploads that ended.
pub(super) struct Staging {
    open: OwnedFd,
    done: OwnedFd,
    /// When finished uploads were last pruned (seconds since the epoch).
    last_prune: AtomicU64,
}

impl Staging {
    /// Opens (creating them if needed) `multipart/` and `multipart-done/` in the internal
    /// area.
    pub(super) fn open(internal: BorrowedFd<'_>) -> Result<Staging> {
        super::make_dir(internal, "multipart", 0o700)?;
        super::make_dir(internal, "multipart-done", 0o700)?;
        Ok(Staging {
            open: super::open_dir(internal, "multipart")?,
            done: super::open_dir(internal, "multipart-done")?,
            last_prune: AtomicU64::new(0),
        })
    }
}

/// What a completed upload leaves for a retried Complete.
#[derive(Debug, Serialize, Deserialize)]
struct Completion {
    bucket: String,
    key: String,
    /// The parts it was completed with: (number, ETag without quotes).
    parts: Vec<(u32, String)>,
    etag: String,
    size: u64,
    completed_secs: u64,
}

impl Completion {
    /// The same request again: same bucket, key and part list.
    fn answers(&self, bucket: &BucketName, key: &ObjectKey, wanted: &[(u32, String)]) -> bool {
        self.bucket == bucket.as_str()
            && self.key == key.as_str()
            && self.parts.len() == wanted.len()
            && self
                .parts
                .iter()
                .zip(wanted)
                .all(|((n, e), (wn, we))| n == wn && e == we.trim_matches('"'))
    }

    fn written(self) -> Written {
        Written {
            etag: self.etag,
            size: self.size,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(self.completed_secs),
            checksums: std::collections::BTreeMap::new(),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_no_such_upload(e: &Error) -> bool {
    matches!(e, Error::Object(ObjectError::NoSuchUpload))
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_secs: u64,
    pub meta: ObjectMeta,
    pub uid: u32,
    pub gid: u32,
}

impl UploadInfo {
    /// When the upload was created.
    pub fn initiated(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(self.initiated_secs)
    }
}

/// One uploaded part.
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    pub modified: SystemTime,
}

fn part_name(n: u32) -> String {
    format!("part-{n:05}")
}

impl ObjectView {
    fn upload_dir(&self, id: &str) -> Result<OwnedFd> {
        if !valid_id(id) {
            return Err(ObjectError::NoSuchUpload.into());
        }
        super::open_dir(self.multipart.open.as_fd(), id).map_err(|e| match e {
            Error::NotFound => ObjectError::NoSuchUpload.into(),
            other => other,
        })
    }

    /// Starts an upload of `key`; returns its id.
    pub fn create_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        meta: ObjectMeta,
        owner: Owner,
    ) -> Result<String> {
        self.bucket(bucket)?;
        super::check_user_meta(&meta)?;
        let id = hex::encode(rand::random::<[u8; 16]>());
        super::make_dir(self.multipart.open.as_fd(), &id, 0o700)?;
        let dir = super::open_dir(self.multipart.open.as_fd(), &id)?;
        let info = UploadInfo {
            upload_id: id.clone(),
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            initiated_secs: now_secs(),
            meta,
            uid: owner.uid,
            gid: owner.gid,
        };
        let json = serde_json::to_vec(&info).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.write_whole(dir.as_fd(), INFO, &json)?;
        self.sync_dir(self.multipart.open.as_fd())?;
        Ok(id)
    }

    /// Writes `dir/name` under a temporary name and renames it into place, so `name` is
    /// only ever seen whole (synced first with `s3.sync = "always"`).
    fn write_whole(&self, dir: BorrowedFd<'_>, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = format!("{name}.tmp");
        let fd = super::open_child(dir, &tmp, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC)?;
        let mut file = std::fs::File::from(fd);
        std::io::Write::write_all(&mut file, bytes)?;
        if self.opts.sync {
            disk::sync(file.as_fd())?;
        }
        disk::rename(dir, &tmp, dir, name, super::no_replace(false))?;
        self.sync_dir(dir)
    }

    /// The description of an upload, checked against the bucket and key it was made for.
    pub fn upload(&self, bucket: &BucketName, key: &ObjectKey, id: &str) -> Result<UploadInfo> {
        let info = self.read_upload(id)?;
        if info.bucket != bucket.as_str() || info.key != key.as_str() {
            return Err(ObjectError::NoSuchUpload.into());
        }
        Ok(info)
    }

    fn read_upload(&self, id: &str) -> Result<UploadInfo> {
        let dir = self.upload_dir(id)?;
        read_json(dir.as_fd(), INFO)
    }

    /// Stores a staged part (replacing an earlier part with the same number).
    pub fn commit_part(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &str,
        number: u32,
        mut staged: Staged,
        content_md5: Option<[u8; 16]>,
    ) -> Result<PartInfo> {
        self.upload(bucket, key, id)?;
        let dir = self.upload_dir(id)?;
        let md5 = std::mem::replace(&mut staged.md5, Md5::new()).finalize();
        if content_md5.is_some_and(|want| want[..] != md5[..]) {
            return Err(ObjectError::BadDigest("Content-MD5").into());
        }
        let fd = staged.file.as_fd();
        let st = disk::stat(fd)?;
        let stamp = meta::store_stamp(
            fd,
            &st,
            meta::Stamped {
                etag: hex::encode(md5),
                ..meta::Stamped::default()
            },
        )?;
        if self.opts.sync {
            disk::sync(fd)?;
        }
        staged.link_into(dir.as_fd(), &part_name(number), false)?;
        self.sync_dir(dir.as_fd())?;
        Ok(PartInfo {
            number,
            etag: stamp.etag,
            size: stamp.size,
            modified: disk::mtime(&st),
        })
    }

    /// The parts uploaded so far, by number.
    pub fn list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &str,
    ) -> Result<Vec<PartInfo>> {
        self.upload(bucket, key, id)?;
        let dir = self.upload_dir(id)?;
        let mut parts = Vec::new();
        for (name, _) in super::entries(dir.as_fd())? {
            let Some(number) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let fd = super::open_child(dir.as_fd(), &part_name(number), OFlags::RDONLY)?;
            let st = disk::stat(fd.as_fd())?;
            let etag = meta::etag_of(fd.as_fd(), &st)?.etag;
            parts.push(PartInfo {
                number,
                etag,
                size: u64::try_from(st.st_size).unwrap_or(0),
                modified: disk::mtime(&st),
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Uploads in progress for a bucket, by key then initiation.
    pub fn list_uploads(&self, bucket: &BucketName) -> Result<Vec<UploadInfo>> {
        self.bucket(bucket)?;
        let mut out = Vec::new();
        for (name, _) in super::entries(self.multipart.open.as_fd())? {
            let Ok(id) = String::from_utf8(name) else {
                continue;
            };
            match self.read_upload(&id) {
                Ok(info) if info.bucket == bucket.as_str() => out.push(info),
                _ => {}
            }
        }
        out.sort_by(|a, b| {
            (a.key.as_bytes(), a.initiated_secs).cmp(&(b.key.as_bytes(), b.initiated_secs))
        });
        Ok(out)
    }

    /// Abandons an upload and its parts.
    pub fn abort_upload(&self, bucket: &BucketName, key: &ObjectKey, id: &str) -> Result<()> {
        self.upload(bucket, key, id)?;
        self.retire(id)?;
        self.clean_finished(id, false)
    }

    /// Ends an upload: one rename out of the open uploads, the step a crash cannot split.
    /// `NoSuchUpload` when another request ended it first.
    fn retire(&self, id: &str) -> Result<()> {
        let (open, done) = (self.multipart.open.as_fd(), self.multipart.done.as_fd());
        match disk::rename(open, id, done, id, super::no_replace(true)).map_err(Error::from) {
            Ok(()) => {}
            Err(Error::NotFound) => return Err(ObjectError::NoSuchUpload.into()),
            Err(e) => return Err(e),
        }
        self.sync_dir(open)?;
        self.sync_dir(done)
    }

    /// Removes the files of an ended upload (all but its completion record with
    /// `keep_result`), and the directory when nothing is kept. Tolerates a concurrent
    /// sweep of the same upload; a part an UploadPart raced into the directory after it
    /// ended stays for the next sweep.
    fn clean_finished(&self, id: &str, keep_result: bool) -> Result<()> {
        let done = self.multipart.done.as_fd();
        let dir = match super::open_dir(done, id) {
            Err(Error::NotFound) => return Ok(()),
            other => other?,
        };
        let mut kept = false;
        for (name, _) in super::entries(dir.as_fd())? {
            let Ok(name) = String::from_utf8(name) else {
                continue;
            };
            if keep_result && name == RESULT {
                kept = true;
                continue;
            }
            match disk::unlink(dir.as_fd(), &name).map_err(Error::from) {
                Ok(()) | Err(Error::NotFound) => {}
                Err(e) => return Err(e),
            }
            crash_point("multipart-cleanup");
        }
        if kept {
            return Ok(());
        }
        match disk::rmdir(done, id).map_err(Error::from) {
            Ok(()) | Err(Error::NotFound | Error::NotEmpty) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The start-up sweep (and, at most every minute, a prune after Complete): finishes the
    /// clean-up a crash interrupted and drops completion records past their retention. At
    /// start (`at_start`) it also ends uploads whose `info.json` never became whole: their
    /// creation was never acknowledged.
    pub(super) fn sweep_uploads(&self, at_start: bool) -> Result<()> {
        let now = now_secs();
        self.multipart.last_prune.store(now, Ordering::Relaxed);
        if at_start {
            for id in dir_names(self.multipart.open.as_fd())? {
                if valid_id(&id) && self.read_upload(&id).is_err_and(|e| is_unreadable(&e)) {
                    self.retire(&id)?;
                }
            }
        }
        for id in dir_names(self.multipart.done.as_fd())? {
            let fresh = self.completion(&id).is_some_and(|c| {
                now.saturating_sub(c.completed_secs) < COMPLETED_RETENTION.as_secs()
            });
            self.clean_finished(&id, fresh)?;
        }
        Ok(())
    }

    /// Prunes finished uploads when the last prune is more than a minute old.
    fn prune_now_and_then(&self) {
        let last = self.multipart.last_prune.load(Ordering::Relaxed);
        if now_secs() < last + PRUNE_EVERY_SECS {
            return;
        }
        if let Err(e) = self.sweep_uploads(false) {
            tracing::warn!(error = %e, "pruning finished multipart uploads failed; retried in a minute");
        }
    }

    /// The completion record of a finished upload, if it has one.
    fn completion(&self, id: &str) -> Option<Completion> {
        if !valid_id(id) {
            return None;
        }
        let dir = super::open_dir(self.multipart.done.as_fd(), id).ok()?;
        read_json(dir.as_fd(), RESULT).ok()
    }

    /// Assembles the listed parts (number, ETag) into the object and publishes it. A retry
    /// of a Complete that succeeded (same bucket, key and parts) answers the same result.
    pub fn complete_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &str,
        wanted: &[(u32, String)],
        mut params: PutParams,
    ) -> Result<Written> {
        let info = match self.upload(bucket, key, id) {
            Err(e) if is_no_such_upload(&e) => {
                return match self.completion(id) {
                    Some(done) if done.answers(bucket, key, wanted) => Ok(done.written()),
                    _ => Err(e),
                };
            }
            other => other?,
        };
        let have = self.list_parts(bucket, key, id)?;
        let chosen = choose_parts(&have, wanted)?;
        let dir = self.upload_dir(id)?;
        let mut staged = self.stage()?;
        let mut md5s = Md5::new();
        for p in &chosen {
            let fd = super::open_child(dir.as_fd(), &part_name(p.number), OFlags::RDONLY)?;
            super::copy_all(fd.as_fd(), 0, staged.file.as_fd(), p.size)?;
            staged.add_copied(p.size);
            md5s.update(hex::decode(&p.etag).map_err(|_| ObjectError::InvalidPart(p.number))?);
        }
        params.etag = Some(format!("{}-{}", hex::encode(md5s.finalize()), chosen.len()));
        params.parts = Some(chosen.iter().map(|p| p.size).collect());
        params.meta = info.meta.clone();
        let owner = Owner {
            uid: info.uid,
            gid: info.gid,
        };
        let written = self.commit(bucket, key, staged, params, owner)?;
        crash_point("multipart-complete-published");
        let record = Completion {
            bucket: info.bucket,
            key: info.key,
            parts: chosen.iter().map(|p| (p.number, p.etag.clone())).collect(),
            etag: written.etag.clone(),
            size: written.size,
            completed_secs: now_secs(),
        };
        self.finish_completed(dir.as_fd(), id, &record)?;
        Ok(written)
    }

    /// After the object is published: leaves the completion record and ends the upload
    /// (one rename), then removes its parts. A failed clean-up is only logged: the object
    /// is published and the upload ended, and the next sweep removes what is left.
    fn finish_completed(&self, dir: BorrowedFd<'_>, id: &str, record: &Completion) -> Result<()> {
        let json = serde_json::to_vec(record).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.write_whole(dir, RESULT, &json)?;
        match self.retire(id) {
            Ok(()) => {}
            // Another Complete (or an Abort) of the same upload ended it first; the object
            // this request published stands.
            Err(e) if is_no_such_upload(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        crash_point("multipart-complete-retired");
        if let Err(e) = self.clean_finished(id, true) {
            tracing::warn!(upload = id, error = %e, "removing the parts of a completed upload failed; the next start removes them");
        }
        self.prune_now_and_then();
        Ok(())
    }
}

/// Reads and parses the JSON file `dir/name`; an unparsable one is `NoSuchUpload`.
fn read_json<T: serde::de::DeserializeOwned>(dir: BorrowedFd<'_>, name: &str) -> Result<T> {
    let fd = super::open_child(dir, name, OFlags::RDONLY)?;
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut buf)?;
    serde_json::from_slice(&buf).map_err(|_| ObjectError::NoSuchUpload.into())
}

/// True for the errors of an `info.json` that is missing or not whole.
fn is_unreadable(e: &Error) -> bool {
    matches!(e, Error::NotFound) || is_no_such_upload(e)
}

/// The UTF-8 names in `dir`.
fn dir_names(dir: BorrowedFd<'_>) -> Result<Vec<String>> {
    Ok(super::entries(dir)?
        .into_iter()
        .filter_map(|(name, _)| String::from_utf8(name).ok())
        .collect())
}

/// Checks the requested list against the stored parts: ascending numbers, matching
/// ETags, every part but the last at least 5 MiB.
fn choose_parts(have: &[PartInfo], wanted: &[(u32, String)]) -> Result<Vec<PartInfo>> {
    if wanted.is_empty() {
        return Err(Error::InvalidArgument("the part list is empty".into()));
    }
    let mut out: Vec<PartInfo> = Vec::with_capacity(wanted.len());
    for (n, etag) in wanted {
        if out.last().is_some_and(|p| p.number >= *n) {
            return Err(ObjectError::InvalidPartOrder.into());
        }
        let Some(p) = have.iter().find(|p| p.number == *n) else {
            return Err(ObjectError::InvalidPart(*n).into());
        };
        if p.etag != etag.trim_matches('"') {
            return Err(ObjectError::InvalidPart(*n).into());
        }
        out.push(p.clone());
    }
    if let Some(small) = out.iter().rev().skip(1).find(|p| p.size < MIN_PART_SIZE) {
        return Err(ObjectError::EntityTooSmall(small.number).into());
    }
    Ok(out)
}
