//! Open directories: `opendir`/`readdir`/`releasedir`/`fsyncdir`.
//!
//! A directory handle reads the whole directory once (at its first `readdir`, and again
//! whenever the caller rewinds to 0) and serves entries by index, so offsets are stable
//! however the kernel splits the listing. `.wekad` at the root is never listed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::attr::{Attr, FileKind};
use super::Tree;
use crate::disk::{self, FileType, OFlags};
use crate::error::{Error, Result};
use crate::root::{Ino, INTERNAL_DIR};
use crate::sync::{lock, read, write, Arc, Mutex, RwLock};

/// One directory entry as listed by `readdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: Ino,
    pub kind: FileKind,
    pub name: OsString,
    /// The offset of the entry after this one (what the kernel passes to continue).
    pub next: i64,
}

struct DirHandle {
    ino: Ino,
    fd: OwnedFd,
    /// The snapshot; `None` until the first `readdir`.
    entries: Mutex<Option<Vec<DirEntry>>>,
}

#[derive(Default)]
pub(crate) struct DirHandles {
    next: AtomicU64,
    map: RwLock<HashMap<u64, Arc<DirHandle>>>,
}

impl DirHandles {
    fn get(&self, fh: u64) -> Result<Arc<DirHandle>> {
        read(&self.map)
            .get(&fh)
            .cloned()
            .ok_or(Error::BadHandle(fh))
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.map).len()
    }
}

fn kind_of(t: FileType) -> FileKind {
    match t {
        FileType::Directory => FileKind::Directory,
        FileType::Symlink => FileKind::Symlink,
        FileType::Fifo => FileKind::Fifo,
        FileType::CharacterDevice => FileKind::CharDevice,
        FileType::BlockDevice => FileKind::BlockDevice,
        FileType::Socket => FileKind::Socket,
        FileType::RegularFile | FileType::Unknown => FileKind::Regular,
    }
}

impl Tree {
    /// Opens the directory `ino` for listing.
    pub fn opendir(&self, ino: Ino) -> Result<u64> {
        let fd = self.inodes.fd(ino)?;
        let dir = disk::reopen(fd.as_fd(), OFlags::RDONLY | OFlags::DIRECTORY)?;
        let fh = self.dirs.next.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = DirHandle {
            ino,
            fd: dir,
            entries: Mutex::new(None),
        };
        write(&self.dirs.map).insert(fh, Arc::new(handle));
        Ok(fh)
    }

    /// Calls `add` with each entry from `offset` on until it returns `true` (buffer full).
    pub fn readdir(
        &self,
        fh: u64,
        offset: i64,
        mut add: impl FnMut(&DirEntry) -> bool,
    ) -> Result<()> {
        let handle = self.dirs.get(fh)?;
        let mut entries = lock(&handle.entries);
        // A fresh handle may be asked to continue at an offset (the kernel resumes a
        // listing whose cached part it dropped, or the caller used seekdir): read the
        // directory then too.
        if offset == 0 || entries.is_none() {
            *entries = Some(self.list(&handle)?);
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for entry in entries.iter().flatten().skip(start) {
            if add(entry) {
                break;
            }
        }
        Ok(())
    }

    /// Reads the whole directory behind `handle`.
    fn list(&self, handle: &DirHandle) -> Result<Vec<DirEntry>> {
        let at_root = handle.ino == Ino::ROOT;
        let mut out = Vec::new();
        for entry in disk::read_dir(handle.fd.as_fd())? {
            let name = OsStr::from_bytes(&entry.name);
            if at_root && name == OsStr::new(INTERNAL_DIR) {
                continue;
            }
            let ino = match name.as_bytes() {
                b"." => handle.ino,
                b".." if at_root => Ino::ROOT,
                _ => self.root.ino(entry.ino),
            };
            let next = out.len() as i64 + 1;
            out.push(DirEntry {
                ino,
                kind: kind_of(entry.file_type),
                name: name.to_os_string(),
                next,
            });
        }
        Ok(out)
    }

    /// Closes the directory handle `fh`.
    pub fn releasedir(&self, fh: u64) -> Result<()> {
        write(&self.dirs.map)
            .remove(&fh)
            .map(drop)
            .ok_or(Error::BadHandle(fh))
    }

    /// `fsync` of the directory handle.
    pub fn fsyncdir(&self, fh: u64, datasync: bool) -> Result<()> {
        let handle = self.dirs.get(fh)?;
        if datasync {
            nix::unistd::fdatasync(handle.fd.as_raw_fd())?;
        } else {
            nix::unistd::fsync(handle.fd.as_raw_fd())?;
        }
        Ok(())
    }

    /// Lists entries with their attributes from `offset` on until `reply` is full.
    ///
    /// Every entry handed over with attributes counts as a lookup (one kernel reference,
    /// as `lookup` counts), and one the reply refused is not counted: the kernel never
    /// saw it. `.` and `..` are handed over without attributes and count nothing. An
    /// entry that vanished since the directory was read is skipped.
    pub fn readdirplus(&self, fh: u64, offset: i64, reply: &mut impl DirPlusReply) -> Result<()> {
        let dir = self.dirs.get(fh)?.ino;
        self.readdir(fh, offset, |e| {
            if is_dot(&e.name) {
                return reply.add_dot(e);
            }
            let Ok(attr) = self.lookup(dir, &e.name) else {
                return false;
            };
            let full = reply.add(e, &attr);
            if full {
                self.forget(attr.ino, 1);
            }
            full
        })
    }
}

/// The front end's reply to a listing with attributes (FUSE's READDIRPLUS).
pub trait DirPlusReply {
    /// Adds `.` or `..`, which the kernel takes no reference to (only the type matters);
    /// true if the reply is full and the entry was not added.
    fn add_dot(&mut self, entry: &DirEntry) -> bool;
    /// Adds `entry` with its attributes, handing one reference to the kernel; true if
    /// the reply is full and the entry was not added.
    fn add(&mut self, entry: &DirEntry, attr: &Attr) -> bool;
}

/// True for the `.` and `..` entries, which readdirplus does not look up.
fn is_dot(name: &OsStr) -> bool {
    name == OsStr::new(".") || name == OsStr::new("..")
}
