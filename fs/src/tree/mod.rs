//! The namespace engine: POSIX operations on the backing directory, addressed by inode.
//!
//! Owns the inode table (FUSE inode -> held `O_PATH` descriptor + lookup count) and the
//! open file and directory handles. Every call resolves relative to a held descriptor
//! with an `*at` syscall and one checked `EntryName`; no path is ever built from user
//! input. Every mutation publishes a change event (`Origin::Fuse`) before it returns.
//!
//! Invariants:
//! - `<data>/.wekad` does not exist as far as this engine is concerned: lookup says
//!   ENOENT, creating or renaming onto it says EPERM, readdir skips it.
//! - Inodes on another device than the root (a mount below the served tree) are refused
//!   at lookup, so inode numbers never collide.
//! - New entries belong to the caller (uid/gid) with the caller's mode, as on a local
//!   filesystem, even though the daemon creates them as root.
//!
//! Rules that decide what goes into a front end's reply are the engine's too: a front
//! end hands over a small reply trait (`DirPlusReply` for listings with attributes, whose
//! entries count as lookups; `OpenReply` for opens, through `Opener`, which owns kernel
//! passthrough registrations) and only converts and sends what the engine gives it.
//!
//! This module knows nothing of FUSE; `crate::fuse` is a thin adapter over it.

mod attr;
mod dir;
mod file;
mod inodes;
mod name;
mod open;
mod xattr;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::stat::{mknodat, Mode, SFlag};
use nix::unistd::symlinkat;

pub use attr::{Attr, Caller, FileKind, SetAttr, SetIdBits, StatFs, TimeSet};
pub use dir::{DirEntry, DirPlusReply};
pub use file::FileHandle;
pub use name::{EntryName, NAME_MAX};
pub use open::{Create, Open, OpenReply, Opener, ThroughDaemon};

use crate::disk::{self, Inode, OFlags, RenameFlags, TimeChange};
use crate::error::{Error, NameError, Result};
use crate::events::Origin;
use crate::root::{Ino, Root};
use crate::sync::Arc;

use dir::DirHandles;
use file::FileHandles;
use inodes::Inodes;

/// The daemon's effective uid and gid, which new entries get before being given away.
static DAEMON_IDS: std::sync::LazyLock<(u32, u32)> = std::sync::LazyLock::new(|| {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
});

/// The namespace engine over one served root.
pub struct Tree {
    root: Arc<Root>,
    inodes: Inodes,
    files: FileHandles,
    dirs: DirHandles,
}

impl Tree {
    /// An engine over `root`. The root inode is always known; nothing else is yet.
    pub fn new(root: Arc<Root>) -> Tree {
        // `dup` of a descriptor we hold only fails when the process is out of
        // descriptors; then every call on the root fails (EMFILE) instead of aborting.
        let root_fd = root.dir().try_clone_to_owned().ok();
        Tree {
            inodes: Inodes::new(root_fd),
            root,
            files: FileHandles::default(),
            dirs: DirHandles::default(),
        }
    }

    /// The served root.
    pub fn root(&self) -> &Arc<Root> {
        &self.root
    }

    /// Number of inodes the kernel currently references (the root not counted).
    pub fn known_inodes(&self) -> usize {
        self.inodes.len()
    }

    /// The lookup count of `ino` (0 when the kernel holds no reference).
    pub fn lookup_count(&self, ino: Ino) -> u64 {
        self.inodes.nlookup(ino)
    }

    /// Number of open file handles.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// Number of open directory handles.
    pub fn open_dirs(&self) -> usize {
        self.dirs.len()
    }

    fn publish_entry(&self, parent: Ino, name: EntryName<'_>) {
        self.root
            .events()
            .entry(Origin::Fuse, parent, name.as_os_str());
    }

    fn publish_inode(&self, ino: Ino) {
        self.root.events().inode(Origin::Fuse, ino);
    }

    /// A name that must already exist: the internal area reads as absent.
    fn existing_name<'a>(&self, parent: Ino, name: &'a OsStr) -> Result<EntryName<'a>> {
        let name = EntryName::new(name)?;
        if Root::is_internal(parent, name.as_os_str()) {
            return Err(Error::NotFound);
        }
        Ok(name)
    }

    /// A name to create or replace: the internal area is refused (EPERM).
    fn new_name<'a>(&self, parent: Ino, name: &'a OsStr) -> Result<EntryName<'a>> {
        let name = EntryName::new(name)?;
        if Root::is_internal(parent, name.as_os_str()) {
            return Err(Error::NameInvalid(NameError::Reserved));
        }
        Ok(name)
    }

    /// Stats a held descriptor and refuses inodes from another device.
    fn stat_checked(&self, fd: BorrowedFd<'_>) -> Result<disk::Stat> {
        let st = disk::stat(fd)?;
        if st.st_dev != self.root.dev() {
            return Err(Error::CrossDevice);
        }
        Ok(st)
    }

    /// Looks up `name` in `parent`, counting one kernel reference to the result.
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr> {
        let name = self.existing_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        let fd = disk::open_path_at(dir.as_fd(), name.as_os_str())?;
        self.remember(fd)
    }

    /// Stats `fd` and enters it in the inode table (one more kernel reference).
    fn remember(&self, fd: OwnedFd) -> Result<Attr> {
        let st = self.stat_checked(fd.as_fd())?;
        let attr = Attr::from_stat(&self.root, &st);
        self.inodes.remember(attr.ino, fd);
        Ok(attr)
    }

    /// Drops `n` kernel references to `ino`.
    pub fn forget(&self, ino: Ino, n: u64) {
        self.inodes.forget(ino, n);
    }

    /// The attributes of `ino`.
    pub fn getattr(&self, ino: Ino) -> Result<Attr> {
        let fd = self.inodes.fd(ino)?;
        let st = disk::stat(fd.as_fd())?;
        Ok(Attr::from_stat(&self.root, &st))
    }

    /// Applies `set` to `ino` (truncating through the open handle `fh` when given).
    ///
    /// A truncate by a `caller` other than root also clears the file's set-ID bits (see
    /// `drop_setid`), as the kernel would have done had the mount not taken
    /// `FUSE_HANDLE_KILLPRIV_V2`.
    pub fn setattr(
        &self,
        ino: Ino,
        fh: Option<u64>,
        set: &SetAttr,
        caller: Caller,
    ) -> Result<Attr> {
        let fd = self.inodes.fd(ino)?;
        if let Some(mode) = set.mode {
            disk::chmod(Inode::Path(fd.as_fd()), mode)?;
        }
        if set.uid.is_some() || set.gid.is_some() {
            disk::chown(fd.as_fd(), set.uid, set.gid)?;
        }
        if let Some(size) = set.size {
            self.truncate(&fd, fh, size)?;
            if caller.uid != 0 {
                file::drop_setid(fd.as_fd())?;
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            disk::set_times(fd.as_fd(), time_change(set.atime), time_change(set.mtime))?;
        }
        self.publish_inode(ino);
        self.getattr(ino)
    }

    fn truncate(&self, fd: &OwnedFd, fh: Option<u64>, size: u64) -> Result<()> {
        let size = i64::try_from(size).map_err(|_| Error::from_errno(libc::EFBIG))?;
        let file = match fh.map(|fh| self.files.get(fh)) {
            Some(Ok(handle)) => handle.file.try_clone()?,
            _ => std::fs::File::from(disk::reopen(fd.as_fd(), OFlags::WRONLY)?),
        };
        nix::unistd::ftruncate(&file, size)?;
        xattr::forget_etag(file.as_fd());
        Ok(())
    }

    /// The target of the symlink `ino`.
    pub fn readlink(&self, ino: Ino) -> Result<OsString> {
        let fd = self.inodes.fd(ino)?;
        Ok(nix::fcntl::readlinkat(
            Some(fd.as_raw_fd()),
            OsStr::new(""),
        )?)
    }

    /// Creates a directory `name` in `parent` owned by `caller`.
    pub fn mkdir(&self, parent: Ino, name: &OsStr, mode: u32, caller: Caller) -> Result<Attr> {
        let name = self.new_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        disk::mkdir(dir.as_fd(), name.as_os_str(), mode & 0o7777)?;
        self.adopt(parent, &dir, name, mode, caller)
    }

    /// Creates a special or regular file `name` in `parent` (`mode` includes the type).
    pub fn mknod(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        caller: Caller,
    ) -> Result<Attr> {
        let name = self.new_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        mknodat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            kind,
            perm,
            libc::dev_t::from(rdev),
        )?;
        self.adopt(parent, &dir, name, mode, caller)
    }

    /// Creates a symlink `name` in `parent` pointing at `target`.
    pub fn symlink(
        &self,
        parent: Ino,
        name: &OsStr,
        target: &Path,
        caller: Caller,
    ) -> Result<Attr> {
        let name = self.new_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        symlinkat(target, Some(dir.as_raw_fd()), name.as_os_str())?;
        self.adopt(parent, &dir, name, 0o777, caller)
    }

    /// Finishes a creation: gives the entry to the caller, fixes the mode the daemon's
    /// umask may have narrowed, counts the kernel reference and publishes the change.
    fn adopt(
        &self,
        parent: Ino,
        dir: &OwnedFd,
        name: EntryName<'_>,
        mode: u32,
        caller: Caller,
    ) -> Result<Attr> {
        let fd = disk::open_path_at(dir.as_fd(), name.as_os_str())?;
        let attr = match self.give_to_caller(dir.as_fd(), fd.as_fd(), mode, caller)? {
            Some(st) => {
                let attr = Attr::from_stat(&self.root, &st);
                self.inodes.remember(attr.ino, fd);
                attr
            }
            None => self.remember(fd)?,
        };
        self.publish_entry(parent, name);
        Ok(attr)
    }

    /// Makes a new inode belong to `caller` with exactly the permission bits `mode`.
    /// Returns the inode's final `stat` when it has it (no mode fix was needed), so the
    /// caller need not stat again.
    fn give_to_caller(
        &self,
        dir: BorrowedFd<'_>,
        fd: BorrowedFd<'_>,
        mode: u32,
        caller: Caller,
    ) -> Result<Option<disk::Stat>> {
        let parent = disk::stat(dir)?;
        // In a setgid directory new entries take the directory's group, as locally.
        let gid = if parent.st_mode & libc::S_ISGID != 0 {
            None
        } else {
            Some(caller.gid)
        };
        let me = *DAEMON_IDS;
        if (caller.uid, gid.unwrap_or(me.1)) != me {
            disk::chown(fd, Some(caller.uid), gid)?;
        }
        let st = self.stat_checked(fd)?;
        if FileKind::from_mode(st.st_mode) == FileKind::Symlink {
            return Ok(Some(st));
        }
        // A directory may have inherited setgid from its parent: keep it.
        let keep = if FileKind::from_mode(st.st_mode) == FileKind::Directory {
            0o1777
        } else {
            0o7777
        };
        if st.st_mode & keep != mode & keep {
            disk::chmod(
                Inode::Path(fd),
                (mode & keep) | (st.st_mode & 0o7777 & !keep),
            )?;
            return Ok(None);
        }
        Ok(Some(st))
    }

    /// Removes the non-directory `name` from `parent`.
    pub fn unlink(&self, parent: Ino, name: &OsStr) -> Result<()> {
        let name = self.existing_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        disk::unlink(dir.as_fd(), name.as_os_str())?;
        self.publish_entry(parent, name);
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&self, parent: Ino, name: &OsStr) -> Result<()> {
        let name = self.existing_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        disk::rmdir(dir.as_fd(), name.as_os_str())?;
        self.publish_entry(parent, name);
        Ok(())
    }

    /// Renames `parent/name` to `newparent/newname`; `flags` are `renameat2` flags
    /// (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
    pub fn rename(
        &self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        flags: u32,
    ) -> Result<()> {
        let name = self.existing_name(parent, name)?;
        let newname = self.new_name(newparent, newname)?;
        let flags = rename_flags(flags)?;
        let from = self.inodes.fd(parent)?;
        let to = self.inodes.fd(newparent)?;
        disk::rename(
            from.as_fd(),
            name.as_os_str(),
            to.as_fd(),
            newname.as_os_str(),
            flags,
        )?;
        self.publish_entry(parent, name);
        self.publish_entry(newparent, newname);
        Ok(())
    }

    /// Adds the hard link `newparent/newname` to `ino`.
    pub fn link(&self, ino: Ino, newparent: Ino, newname: &OsStr) -> Result<Attr> {
        let newname = self.new_name(newparent, newname)?;
        let fd = self.inodes.fd(ino)?;
        let dir = self.inodes.fd(newparent)?;
        disk::link_fd(fd.as_fd(), dir.as_fd(), newname.as_os_str())?;
        let linked = disk::open_path_at(dir.as_fd(), newname.as_os_str())?;
        let attr = self.remember(linked)?;
        self.publish_entry(newparent, newname);
        self.publish_inode(ino);
        Ok(attr)
    }

    /// Statistics of the backing filesystem.
    pub fn statfs(&self) -> Result<StatFs> {
        let st = disk::statfs(self.root.dir())?;
        Ok(StatFs {
            blocks: st.f_blocks,
            bfree: st.f_bfree,
            bavail: st.f_bavail,
            files: st.f_files,
            ffree: st.f_ffree,
            bsize: st.f_bsize as u32,
            namelen: (st.f_namemax as u32).min(NAME_MAX as u32),
            frsize: st.f_frsize as u32,
        })
    }

    /// Checks access `mask` (`F_OK`, `R_OK`...). The kernel already checked the caller's
    /// permissions (`default_permissions`), so this checks existence, and for `X_OK` on a
    /// non-directory that some execute bit is set (as it would be for root locally).
    pub fn access(&self, ino: Ino, mask: i32) -> Result<()> {
        let attr = self.getattr(ino)?;
        if mask & libc::X_OK != 0 && attr.kind != FileKind::Directory && attr.perm & 0o111 == 0 {
            return Err(Error::AccessDenied);
        }
        Ok(())
    }
}

/// The `TimeSet` of a `setattr` field as the disk layer takes it (absent: left alone).
fn time_change(t: Option<TimeSet>) -> TimeChange {
    match t {
        None => TimeChange::Keep,
        Some(TimeSet::Now) => TimeChange::Now,
        Some(TimeSet::At(at)) => TimeChange::At(at),
    }
}

/// `renameat2` flags from FUSE, refusing bits the call does not know (the known ones are
/// `RENAME_NOREPLACE`, `RENAME_EXCHANGE` and `RENAME_WHITEOUT`).
fn rename_flags(flags: u32) -> Result<RenameFlags> {
    let known = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE | RenameFlags::WHITEOUT;
    RenameFlags::from_bits(flags)
        .filter(|f| known.contains(*f))
        .ok_or_else(|| Error::InvalidArgument(format!("rename flags {flags:#x}")))
}

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
