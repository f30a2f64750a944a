//! Extended attributes through the mount, with the daemon's private namespace hidden.
//!
//! Invariant: names starting with `user.wekad.` (ETag, content type, user metadata,
//! tags) are invisible through these calls: get says ENODATA, list omits them, set and
//! remove say EPERM. Only the object view reads and writes them.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use super::Tree;
use crate::disk::{self, Inode};
use crate::error::{Error, Result};
use crate::root::{Ino, XATTR_ETAG, XATTR_PREFIX};

fn is_private(name: &OsStr) -> bool {
    name.as_bytes().starts_with(XATTR_PREFIX.as_bytes())
}

/// Removes the stored ETag through an open descriptor, so the object view recomputes it.
/// A missing attribute, or a filesystem without xattrs, leaves nothing to remove.
pub(crate) fn forget_etag(fd: BorrowedFd<'_>) {
    // ENODATA (no ETag yet) and ENOTSUP are expected; any other failure only means the
    // ETag's (size, mtime) stamp has to catch the change, which the object view checks.
    let _ = disk::remove_xattr(Inode::Open(fd), XATTR_ETAG);
}

impl Tree {
    /// The value of the attribute `name` of `ino`; `size` 0 asks only for its length
    /// (returned as the vector's length, zero-filled).
    pub fn getxattr(&self, ino: Ino, name: &OsStr, size: u32) -> Result<Vec<u8>> {
        if is_private(name) {
            return Err(Error::from_errno(libc::ENODATA));
        }
        let fd = self.inodes.fd(ino)?;
        if size == 0 {
            let len = disk::get_xattr_len(Inode::Path(fd.as_fd()), name)?;
            return Ok(vec![0; len]);
        }
        Ok(disk::get_xattr(
            Inode::Path(fd.as_fd()),
            name,
            size as usize,
        )?)
    }

    /// Sets the attribute `name` of `ino` (`flags`: `XATTR_CREATE`/`XATTR_REPLACE`).
    pub fn setxattr(&self, ino: Ino, name: &OsStr, value: &[u8], flags: i32) -> Result<()> {
        if is_private(name) {
            return Err(Error::NotPermitted);
        }
        let fd = self.inodes.fd(ino)?;
        disk::set_xattr(Inode::Path(fd.as_fd()), name, value, flags)?;
        self.publish_inode(ino);
        Ok(())
    }

    /// The NUL-terminated names of the attributes of `ino`, private ones left out.
    /// `size` 0 asks only for the length (the whole list is returned); a list longer than
    /// a non-zero `size` is ERANGE, as listxattr(2) says.
    pub fn listxattr(&self, ino: Ino, size: u32) -> Result<Vec<u8>> {
        let fd = self.inodes.fd(ino)?;
        let all = disk::list_xattr(Inode::Path(fd.as_fd()))?;
        let mut out = Vec::with_capacity(all.len());
        for name in all.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            if !is_private(OsStr::from_bytes(name)) {
                out.extend_from_slice(name);
                out.push(0);
            }
        }
        if size != 0 && out.len() > size as usize {
            return Err(Error::from_errno(libc::ERANGE));
        }
        Ok(out)
    }

    /// Removes the attribute `name` of `ino`.
    pub fn removexattr(&self, ino: Ino, name: &OsStr) -> Result<()> {
        if is_private(name) {
            return Err(Error::NotPermitted);
        }
        let fd = self.inodes.fd(ino)?;
        disk::remove_xattr(Inode::Path(fd.as_fd()), name)?;
        self.publish_inode(ino);
        Ok(())
    }
}
