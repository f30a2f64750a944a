//! The backing directory as the kernel sees it: one layer of syscalls on directory and file
//! descriptors, shared by both clients, the namespace engine (`tree`) and the object view
//! (`object`). Each syscall is wrapped here once.
//!
//! Owns: [`Dir`], an owned directory descriptor, and the calls on it and on any descriptor
//! (open, stat, chmod/chown, times, xattrs, link, rename, unlink, read_dir, copy_range, ...).
//!
//! Invariants:
//! - Every name is resolved relative to a held descriptor (`*at` calls), or is the
//!   `/proc/self/fd/N` magic link of a descriptor we hold ([`proc_path`]): nothing here
//!   resolves a path built from user input against the process's working directory.
//! - Opens never follow a final symlink unless the caller passes flags that do, and
//!   [`open_beneath`] never follows one anywhere on the path.
//! - Calls return the kernel's errno ([`Errno`]) unchanged, apart from the few mappings each
//!   function documents (`ELOOP` on a directory open is `ENOTDIR`, a symlink on an
//!   `openat2` walk is `ENOENT`); clients turn it into `weka_fs::Error` in one place
//!   (`From<Errno> for Error`), so the errno table in docs/SEMANTICS.md holds for both.
//!
//! Must not: know of inodes numbers, buckets, keys, FUSE or events; keep state beyond
//! the two "the kernel lacks this" flags (`O_TMPFILE`, `getxattrat`).
//!
//! Most calls go through `rustix` and need no `unsafe`; `libc` remains only for
//! `getxattrat(2)`, which rustix does not offer yet.

mod data;
mod entry;
mod inode;
mod open;
mod xattr;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub use rustix::fs::{FileType, OFlags, RenameFlags, Stat};
pub use rustix::io::Errno;

pub use data::{copy_range, read_cached, statfs, sync};
pub use entry::{link_fd, mkdir, read_dir, rename, rmdir, unlink, Entry};
pub use inode::{
    chmod, chown, ctime_ns, mtime, mtime_ns, set_times, stat, stat_at, Kind, TimeChange,
};
pub use open::{clear_nonblock, open_at, open_beneath, open_path_at, open_tmpfile, reopen};
pub use rustix::fs::StatVfs;
#[cfg(test)]
pub(crate) use xattr::disable_getxattrat;
pub use xattr::{
    get_xattr, get_xattr_at, get_xattr_len, list_xattr, probe_xattr, read_xattr, remove_xattr,
    set_xattr,
};

/// What every call here returns: the value, or the kernel's errno.
pub type Result<T, E = Errno> = std::result::Result<T, E>;

/// An owned directory descriptor (opened `O_RDONLY | O_DIRECTORY`, never through a symlink
/// at its last component).
#[derive(Debug)]
pub struct Dir(OwnedFd);

impl Dir {
    /// Opens the directory at `path` (an operator-given path: the served root).
    pub fn open(path: &Path) -> Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Dir(rustix::fs::open(
            path,
            flags,
            rustix::fs::Mode::empty(),
        )?))
    }

    /// Opens the directory `name` in `parent` without following a symlink: a symlink there
    /// is `ENOTDIR`, whatever it points at (the kernel answers `ENOTDIR` for
    /// `O_DIRECTORY | O_NOFOLLOW` on a symlink; `ELOOP` is mapped the same in case one does
    /// not).
    pub fn open_at(parent: BorrowedFd<'_>, name: &str) -> Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
        match open_at(parent, name, flags, 0) {
            Ok(fd) => Ok(Dir(fd)),
            Err(Errno::LOOP) => Err(Errno::NOTDIR),
            Err(e) => Err(e),
        }
    }

    /// Opens the directory `name` in `parent`, creating it with `mode` first if absent.
    pub fn open_or_create(parent: BorrowedFd<'_>, name: &str, mode: u32) -> Result<Dir> {
        match mkdir(parent, name, mode) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
        Dir::open_at(parent, name)
    }

    /// The descriptor, for the calls of this module.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<Dir> for OwnedFd {
    fn from(dir: Dir) -> OwnedFd {
        dir.0
    }
}

/// How a call reaches an inode: through a descriptor open for I/O, or through the magic
/// link ([`proc_path`]) of an `O_PATH` handle, which `fchmod` and the `f*xattr` calls refuse
/// with `EBADF`. The engine holds `O_PATH` handles; the object view opens real files.
#[derive(Debug, Clone, Copy)]
pub enum Inode<'a> {
    Open(BorrowedFd<'a>),
    Path(BorrowedFd<'a>),
}

impl<'a> Inode<'a> {
    /// The descriptor, whichever way it is used.
    pub fn fd(self) -> BorrowedFd<'a> {
        match self {
            Inode::Open(fd) | Inode::Path(fd) => fd,
        }
    }
}

/// The `/proc/self/fd/N` magic link of `fd`: the way to reach the inode behind an `O_PATH`
/// descriptor with the calls that refuse one (`open`, `chmod`, the xattr calls).
pub fn proc_path(fd: BorrowedFd<'_>) -> CString {
    let text = format!("/proc/self/fd/{}", fd.as_raw_fd());
    // A decimal number has no NUL byte, so this cannot fail; fall back to an empty path
    // (which every call refuses with ENOENT) rather than panic.
    CString::new(text).unwrap_or_default()
}
