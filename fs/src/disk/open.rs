//! Opening: a name in a directory, a path beneath a directory with no symlink on the way,
//! an inode again through its magic link, and unnamed temporary files.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::path::Arg;

use super::{proc_path, Errno, Result};

/// Opens `name` in `dir` with `flags` (`O_CLOEXEC` added) and `mode` (for `O_CREAT`).
pub fn open_at(dir: BorrowedFd<'_>, name: impl Arg, flags: OFlags, mode: u32) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        flags | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
}

/// Opens `name` in `dir` as an `O_PATH` handle without following a final symlink.
pub fn open_path_at(dir: BorrowedFd<'_>, name: impl Arg) -> Result<OwnedFd> {
    open_at(dir, name, OFlags::PATH | OFlags::NOFOLLOW, 0)
}

/// Opens the inode behind `fd` (an `O_PATH` handle is fine) again, with real access
/// `flags`, through its `/proc/self/fd/N` magic link.
pub fn reopen(fd: BorrowedFd<'_>, flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::open(
        proc_path(fd).as_c_str(),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Opens `path` (relative, may contain `/`) beneath `dir` with no symlink on the way: the
/// kernel checks every component in the same walk that opens it, so a symlink swapped in
/// by the mount cannot slip between a check and the open. A symlink anywhere on the path,
/// final component included, is `ENOENT`: `ELOOP` from openat2 means a symlink is on the
/// path, `EXDEV` that the path tried to leave `dir` (keys have no `..`, so only a racing
/// rename could cause it): both mean absent.
pub fn open_beneath(dir: BorrowedFd<'_>, path: impl Arg, flags: OFlags) -> Result<OwnedFd> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    match rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
        Err(Errno::XDEV | Errno::LOOP) => Err(Errno::NOENT),
        other => other,
    }
}

/// Clears `O_NONBLOCK` on an open file description.
pub fn clear_nonblock(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK)
}

/// Set once the filesystem refused `O_TMPFILE`.
static NO_TMPFILE: AtomicBool = AtomicBool::new(false);

/// A new unnamed regular file in `dir` (`O_TMPFILE`, read-write, mode 0600): it has no
/// name until `link_fd` gives it one, and vanishes if the process dies first. `None` when
/// the filesystem does not support `O_TMPFILE` (asked once).
pub fn open_tmpfile(dir: BorrowedFd<'_>) -> Option<Result<OwnedFd>> {
    if NO_TMPFILE.load(Ordering::Relaxed) {
        return None;
    }
    match open_at(dir, ".", OFlags::TMPFILE | OFlags::RDWR, 0o600) {
        Ok(fd) => Some(Ok(fd)),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
            NO_TMPFILE.store(true, Ordering::Relaxed);
            None
        }
        Err(e) => Some(Err(e)),
    }
}
