//! Multipart uploads staged under `<data>/.wekad/multipart/<upload-id>/`.
//!
//! Layout: `info.json` (bucket, key, metadata, owner), one `part-NNNNN` file per part with
//! its ETag stamp in the usual xattr. Complete copies the parts in the kernel
//! (`copy_file_range`) into one temp file and publishes it with one rename, then removes
//! the staging directory. Upload ids are 32 hex digits; anything else is `NoSuchUpload`,
//! so an id can never name a path outside the staging area.

use std::os::fd::{AsFd, OwnedFd};
use std::time::SystemTime;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{
    meta, BucketName, ObjectError, ObjectKey, ObjectMeta, ObjectView, Owner, PutParams, Staged,
    Written,
};
use crate::disk::{self, OFlags};
use crate::error::{Error, Result};

/// Smallest part except the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

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
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ObjectError::NoSuchUpload.into());
        }
        super::open_dir(self.multipart.as_fd(), id).map_err(|e| match e {
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
        super::make_dir(self.multipart.as_fd(), &id, 0o700)?;
        let dir = super::open_dir(self.multipart.as_fd(), &id)?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = UploadInfo {
            upload_id: id.clone(),
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            initiated_secs: now,
            meta,
            uid: owner.uid,
            gid: owner.gid,
        };
        let json = serde_json::to_vec(&info).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let fd = super::open_child(
            dir.as_fd(),
            "info.json",
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        )?;
        std::io::Write::write_all(&mut std::fs::File::from(fd), &json)?;
        Ok(id)
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
        let fd = super::open_child(dir.as_fd(), "info.json", OFlags::RDONLY)?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut buf)?;
        serde_json::from_slice(&buf).map_err(|_| ObjectError::NoSuchUpload.into())
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
        for (name, _) in super::entries(self.multipart.as_fd())? {
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
        self.remove_upload(id)
    }

    fn remove_upload(&self, id: &str) -> Result<()> {
        let dir = self.upload_dir(id)?;
        for (name, _) in super::entries(dir.as_fd())? {
            if let Ok(name) = String::from_utf8(name) {
                disk::unlink(dir.as_fd(), &name)?;
            }
        }
        Ok(disk::rmdir(self.multipart.as_fd(), id)?)
    }

    /// Assembles the listed parts (number, ETag) into the object and publishes it.
    pub fn complete_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &str,
        wanted: &[(u32, String)],
        mut params: PutParams,
    ) -> Result<Written> {
        let info = self.upload(bucket, key, id)?;
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
        let written = self.commit(
            bucket,
            key,
            staged,
            params,
            Owner {
                uid: info.uid,
                gid: info.gid,
            },
        )?;
        self.remove_upload(id)?;
        Ok(written)
    }
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
