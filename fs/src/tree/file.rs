//! Open files: the handle table and the data operations on handles.
//!
//! Invariants:
//! - A handle owns a real descriptor of the backing inode, opened at `open`/`create`
//!   time, so a file unlinked or renamed while open stays readable and writable.
//! - Opening for writing, truncating, fallocate and copy_file_range into a file remove the
//!   stored ETag (`user.wekad.etag`) and publish `Change::Inode`: with kernel passthrough
//!   the daemon never sees the writes themselves, so this is where the object view learns
//!   that the content may change.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::FallocateFlags;
use nix::unistd::Whence;

use super::attr::{Attr, Caller, SetIdBits};
use super::{xattr, Tree};
use crate::disk::{self, Errno, Inode, OFlags};
use crate::error::{Error, Result};
use crate::root::Ino;
use crate::sync::{read, write, Arc, RwLock};

/// One open file.
#[derive(Debug)]
pub struct FileHandle {
    /// The inode the handle was opened on.
    pub ino: Ino,
    pub(crate) file: File,
    /// Opened plain `O_RDWR` (no append or sync flags), so the kernel may use this very
    /// descriptor as the inode's passthrough backing file for every opener.
    shareable: bool,
    /// Opened `O_SYNC` or `O_DSYNC`: every write waits for the disk.
    sync: bool,
}

impl FileHandle {
    /// The backing descriptor (`Opener` registers it for kernel passthrough).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// True if this descriptor can serve as the passthrough backing file of its inode
    /// for all openers (read-write, no `O_APPEND`/`O_SYNC`, which would apply to all).
    pub fn shareable_as_backing(&self) -> bool {
        self.shareable
    }

    /// True if writes through this handle wait for the disk (`O_SYNC`, `O_DSYNC`).
    pub fn writes_synchronously(&self) -> bool {
        self.sync
    }

    fn new(ino: Ino, file: File, flags: i32) -> FileHandle {
        let shareable = backing_flags(flags) & !libc::O_NOATIME == libc::O_RDWR;
        FileHandle {
            ino,
            file,
            shareable,
            sync: flags & (libc::O_SYNC | libc::O_DSYNC) != 0,
        }
    }
}

/// The table of open files, keyed by the handle number given to the kernel.
#[derive(Default)]
pub(crate) struct FileHandles {
    next: AtomicU64,
    map: RwLock<HashMap<u64, Arc<FileHandle>>>,
}

impl FileHandles {
    fn insert(&self, handle: FileHandle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        write(&self.map).insert(fh, Arc::new(handle));
        fh
    }

    pub(crate) fn get(&self, fh: u64) -> Result<Arc<FileHandle>> {
        read(&self.map)
            .get(&fh)
            .cloned()
            .ok_or(Error::BadHandle(fh))
    }

    fn remove(&self, fh: u64) -> Option<Arc<FileHandle>> {
        write(&self.map).remove(&fh)
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.map).len()
    }
}

/// Flags the engine passes on to the backing `open`: access mode, `O_APPEND`, `O_SYNC`
/// family, `O_NOATIME`. Creation flags are handled by the engine itself, and `O_DIRECT`
/// is dropped (the kernel already decided about caching for the mount).
/// The read-write backing flags a handle opened with `flags` gets instead, so that it can
/// be its inode's passthrough backing file (`shareable`); None when `flags` ask for more
/// than an access mode (`O_APPEND`, `O_SYNC`, ...), which the shared backing file must not
/// impose on other handles.
fn upgraded_to_read_write(flags: i32, shareable: bool) -> Option<i32> {
    let plain = backing_flags(flags) & !(libc::O_ACCMODE | libc::O_TRUNC | libc::O_NOATIME) == 0;
    (shareable && plain).then(|| (backing_flags(flags) & !libc::O_ACCMODE) | libc::O_RDWR)
}

fn backing_flags(flags: i32) -> i32 {
    let keep = libc::O_ACCMODE
        | libc::O_APPEND
        | libc::O_SYNC
        | libc::O_DSYNC
        | libc::O_NOATIME
        | libc::O_TRUNC;
    flags & keep
}

/// The set-ID bits an unprivileged write to a file of `mode` removes: set-user-ID always,
/// set-group-ID when the group may execute (without it the bit means mandatory locking).
fn setid_bits_to_drop(mode: u32) -> u32 {
    if mode & libc::S_IFMT != libc::S_IFREG {
        return 0;
    }
    let mut kill = mode & libc::S_ISUID;
    if mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0 {
        kill |= libc::S_ISGID;
    }
    kill
}

/// Clears the set-user-ID bit of the regular file behind `fd`, and its set-group-ID bit
/// when group execution is allowed, as the kernel does when an unprivileged process
/// writes or truncates a file. The mount asks the kernel to leave this to the daemon
/// (`FUSE_HANDLE_KILLPRIV_V2`), and the daemon's own writes, made with its privileges,
/// would keep the bits. Returns true if it changed the mode.
pub(super) fn drop_setid(fd: BorrowedFd<'_>) -> Result<bool> {
    let st = disk::stat(fd)?;
    let kill = setid_bits_to_drop(st.st_mode);
    if kill == 0 {
        return Ok(false);
    }
    disk::chmod(Inode::Path(fd), st.st_mode & 0o7777 & !kill)?;
    Ok(true)
}

/// What opening an existing file for change does to it: its stored ETag goes stale (with
/// passthrough the writes to come never reach the engine), and a caller other than root
/// clears its set-ID bits (see `drop_setid`).
fn opened_for_change(fd: BorrowedFd<'_>, caller: Caller) -> Result<()> {
    xattr::forget_etag(fd);
    if caller.uid != 0 {
        drop_setid(fd)?;
    }
    Ok(())
}

/// True if open(2) `flags` may change the file's content.
fn opens_for_change(flags: i32) -> bool {
    writable(flags) || flags & libc::O_TRUNC != 0
}

fn writable(flags: i32) -> bool {
    matches!(flags & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
}

impl Tree {
    /// Opens `ino` with open(2) `flags`, returning the handle number. With `shareable`,
    /// a plain read-only or write-only open is made read-write when the backing file
    /// allows it, so the handle can serve as the inode's passthrough backing file (the
    /// kernel still enforces the caller's access mode on its own file).
    ///
    /// A `caller` other than root that may change the content clears the file's set-ID
    /// bits (see `drop_setid`).
    pub fn open(&self, ino: Ino, flags: i32, shareable: bool, caller: Caller) -> Result<u64> {
        self.open_with(ino, flags, shareable, caller, 0)
    }

    /// `open` that never waits inside the backing filesystem: `Ok(None)` when the open
    /// would have to (a lease held on the file must be broken first), so the caller can
    /// retry with `open` where waiting is harmless. A read-only open of a leased file gets
    /// a plain read-only handle rather than a shareable read-write one, so it does not
    /// break the lease.
    pub fn open_without_waiting(
        &self,
        ino: Ino,
        flags: i32,
        shareable: bool,
        caller: Caller,
    ) -> Result<Option<u64>> {
        match self.open_with(ino, flags, shareable, caller, libc::O_NONBLOCK) {
            Ok(fh) => Ok(Some(fh)),
            Err(e) if e.errno() == libc::EWOULDBLOCK => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `open` with `extra` flags for the backing open itself (`O_NONBLOCK`, taken off
    /// again once open).
    fn open_with(
        &self,
        ino: Ino,
        flags: i32,
        shareable: bool,
        caller: Caller,
        extra: i32,
    ) -> Result<u64> {
        let fd = self.inodes.fd(ino)?;
        let opened = match upgraded_to_read_write(flags, shareable) {
            Some(rdwr) => disk::reopen(fd.as_fd(), oflags(rdwr | extra)).map(|f| (f, rdwr)),
            None => Err(Errno::PERM),
        };
        let (file, opened_with) = match opened {
            Ok(ok) => ok,
            Err(_) => (
                disk::reopen(fd.as_fd(), oflags(backing_flags(flags) | extra))?,
                flags,
            ),
        };
        if extra & libc::O_NONBLOCK != 0 {
            // Regular files ignore it for reads and writes, but the handle (and the
            // passthrough backing file) should carry exactly the caller's flags.
            disk::clear_nonblock(file.as_fd())?;
        }
        let file = File::from(file);
        // The caller's flags, not the upgraded ones, say whether the content may change.
        if opens_for_change(flags) {
            opened_for_change(file.as_fd(), caller)?;
            self.publish_inode(ino);
        }
        Ok(self.files.insert(FileHandle::new(ino, file, opened_with)))
    }

    /// Creates (or with no `O_EXCL`, opens) `parent/name` and opens it, returning the
    /// new entry's attributes (one more kernel reference) and the handle number.
    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> Result<(Attr, u64)> {
        self.create_with(parent, name, mode, flags, caller, flags, true)?
            .ok_or_else(|| Error::from_errno(libc::EEXIST))
    }

    /// `create` of a name that does not exist yet, which never waits: a new file has no
    /// lease to break and nothing to truncate. None when the name exists and `flags`
    /// lack `O_EXCL`: opening it is `create`'s job, which may wait. With `shareable`
    /// (kernel passthrough), plain flags are upgraded to read-write as `open` does, so
    /// that the new handle can be the inode's backing file without a second open.
    pub fn create_new(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
        shareable: bool,
    ) -> Result<Option<(Attr, u64)>> {
        let opened_with = upgraded_to_read_write(flags, shareable).unwrap_or(flags);
        self.create_with(parent, name, mode, flags, caller, opened_with, false)
    }

    /// Creates `parent/name` opened with `opened_with` (`flags`, or those upgraded by
    /// `create_new`), or, if it exists, opens it with `flags` when `open_existing`, else
    /// returns None.
    #[expect(
        clippy::too_many_arguments,
        reason = "create's arguments plus two choices"
    )]
    fn create_with(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
        opened_with: i32,
        open_existing: bool,
    ) -> Result<Option<(Attr, u64)>> {
        let name = self.new_name(parent, name)?;
        let dir = self.inodes.fd(parent)?;
        let access = backing_flags(opened_with) & !libc::O_TRUNC;
        let perm = mode & 0o7777;
        let (file, created) = match disk::open_at(
            dir.as_fd(),
            name.as_os_str(),
            oflags(access | libc::O_CREAT | libc::O_EXCL),
            perm,
        ) {
            Ok(fd) => (File::from(fd), true),
            Err(Errno::EXIST) if flags & libc::O_EXCL == 0 => {
                if !open_existing {
                    return Ok(None);
                }
                let fd = disk::open_at(
                    dir.as_fd(),
                    name.as_os_str(),
                    oflags(backing_flags(flags) | libc::O_NOFOLLOW),
                    0,
                )?;
                (File::from(fd), false)
            }
            Err(e) => return Err(e.into()),
        };
        if created {
            self.give_to_caller(dir.as_fd(), file.as_fd(), perm, caller)?;
        } else if opens_for_change(flags) {
            // The name existed (made through S3 meanwhile): opened as `open` would.
            opened_for_change(file.as_fd(), caller)?;
        }
        let attr = self.remember(disk::reopen(file.as_fd(), OFlags::PATH)?)?;
        let handle_flags = if created { opened_with } else { flags };
        let fh = self.files.insert(FileHandle::new(
            attr.ino,
            file,
            handle_flags & !libc::O_TRUNC,
        ));
        self.publish_entry(parent, name);
        if opens_for_change(flags) {
            // As in `open`: with kernel passthrough the writes to come never reach the
            // engine, so this is the last the object view hears of the content.
            self.publish_inode(attr.ino);
        }
        Ok(Some((attr, fh)))
    }

    /// A read-write (or, failing that, read-only) descriptor of `ino`, for the kernel to
    /// read and write the backing file itself (FUSE passthrough; see `Opener`).
    pub(super) fn backing_fd(&self, ino: Ino) -> Result<std::os::fd::OwnedFd> {
        let fd = self.inodes.fd(ino)?;
        match disk::reopen(fd.as_fd(), OFlags::RDWR) {
            Ok(file) => Ok(file),
            Err(_) => Ok(disk::reopen(fd.as_fd(), OFlags::RDONLY)?),
        }
    }

    /// The open handle `fh`.
    pub fn file(&self, fh: u64) -> Result<Arc<FileHandle>> {
        self.files.get(fh)
    }

    /// Reads up to `size` bytes at `offset`; shorter only at end of file.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let handle = self.files.get(fh)?;
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        while done < buf.len() {
            let at = offset_i64(offset + done as u64)?;
            match nix::sys::uio::pread(&handle.file, &mut buf[done..], at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// Writes all of `data` at `offset` (at the end for a handle opened `O_APPEND`),
    /// first clearing the file's set-ID bits if `setid` says so (see `drop_setid`).
    pub fn write(&self, fh: u64, offset: u64, data: &[u8], setid: SetIdBits) -> Result<usize> {
        let handle = self.files.get(fh)?;
        if setid == SetIdBits::Clear {
            drop_setid(handle.file.as_fd())?;
        }
        let mut done = 0;
        while done < data.len() {
            let at = offset_i64(offset + done as u64)?;
            match nix::sys::uio::pwrite(&handle.file, &data[done..], at) {
                Ok(0) => return Err(Error::from_errno(libc::EIO)),
                Ok(n) => done += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.publish_inode(handle.ino);
        Ok(done)
    }

    /// Called on every `close` of a descriptor: data is written through, nothing to do.
    pub fn flush(&self, fh: u64) -> Result<()> {
        self.files.get(fh).map(drop)
    }

    /// Closes the handle `fh` (the last reference from the kernel).
    pub fn release(&self, fh: u64) -> Result<()> {
        self.files.remove(fh).map(drop).ok_or(Error::BadHandle(fh))
    }

    /// `fsync`/`fdatasync` of the handle.
    pub fn fsync(&self, fh: u64, datasync: bool) -> Result<()> {
        let handle = self.files.get(fh)?;
        if datasync {
            handle.file.sync_data()?;
        } else {
            handle.file.sync_all()?;
        }
        Ok(())
    }

    /// `fallocate(2)` on the handle.
    pub fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> Result<()> {
        let handle = self.files.get(fh)?;
        let flags = FallocateFlags::from_bits(mode).ok_or(Error::Unsupported("fallocate mode"))?;
        nix::fcntl::fallocate(
            handle.file.as_raw_fd(),
            flags,
            offset_i64(offset)?,
            offset_i64(length)?,
        )?;
        xattr::forget_etag(handle.file.as_fd());
        self.publish_inode(handle.ino);
        Ok(())
    }

    /// `lseek(2)` on the handle, for `SEEK_DATA` and `SEEK_HOLE` (and the plain whences).
    pub fn lseek(&self, fh: u64, offset: i64, whence: i32) -> Result<i64> {
        let handle = self.files.get(fh)?;
        let whence = match whence {
            libc::SEEK_SET => Whence::SeekSet,
            libc::SEEK_CUR => Whence::SeekCur,
            libc::SEEK_END => Whence::SeekEnd,
            libc::SEEK_DATA => Whence::SeekData,
            libc::SEEK_HOLE => Whence::SeekHole,
            other => return Err(Error::InvalidArgument(format!("lseek whence {other}"))),
        };
        // The handle's descriptor is shared by concurrent requests, so its own position
        // is meaningless; only the returned offset is used.
        Ok(nix::unistd::lseek(handle.file.as_raw_fd(), offset, whence)?)
    }

    /// Copies `len` bytes between two handles inside the backing filesystem.
    pub fn copy_file_range(
        &self,
        fh_in: u64,
        off_in: u64,
        fh_out: u64,
        off_out: u64,
        len: u64,
    ) -> Result<usize> {
        let from = self.files.get(fh_in)?;
        let to = self.files.get(fh_out)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let n = disk::copy_range(
            from.file.as_fd(),
            offset_i64(off_in)?,
            to.file.as_fd(),
            Some(offset_i64(off_out)?),
            len,
        )?;
        xattr::forget_etag(to.file.as_fd());
        self.publish_inode(to.ino);
        Ok(n)
    }
}

/// open(2) flags as the disk layer takes them (the bits are the kernel's either way).
fn oflags(flags: i32) -> OFlags {
    OFlags::from_bits_retain(flags as u32)
}

fn offset_i64(offset: u64) -> Result<i64> {
    i64::try_from(offset).map_err(|_| Error::from_errno(libc::EFBIG))
}
