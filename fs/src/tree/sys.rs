//! Thin wrappers over the few syscalls `nix` 0.29 does not offer in the form the engine
//! needs: calls on an `O_PATH` descriptor with `AT_EMPTY_PATH`, reopening an inode through
//! `/proc/self/fd`, and extended attributes.
//!
//! Invariant: every path passed to the kernel here is either empty (operate on the
//! descriptor itself) or the `/proc/self/fd/N` magic link of a descriptor we hold, so no
//! call resolves a user-supplied path. This module keeps no state.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::UNIX_EPOCH;

use super::attr::TimeSet;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The `/proc/self/fd/N` magic link of `fd`.
pub(crate) fn proc_path(fd: BorrowedFd<'_>) -> CString {
    let text = format!("/proc/self/fd/{}", fd.as_raw_fd());
    // A decimal number has no NUL byte, so this cannot fail; fall back to an empty path
    // (which every call refuses with ENOENT) rather than panic.
    CString::new(text).unwrap_or_default()
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `stat` of the inode `fd` refers to (an `O_PATH` descriptor is fine).
pub(crate) fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the path is a valid C string, `st` is a valid out-pointer for one stat.
    cvt(unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            st.as_mut_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// Opens `name` in `dir` as an `O_PATH` handle without following a final symlink.
pub(crate) fn open_path_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    // SAFETY: `name` is a valid C string; the flags ask for a new descriptor we then own.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })
}

/// Opens `name` in `dir` with `flags` and `mode` (for `O_CREAT`).
pub(crate) fn open_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    // SAFETY: `name` is a valid C string; the call returns a new descriptor we then own.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })
}

/// Opens the inode behind `fd` again, with real access `flags`.
pub(crate) fn reopen(fd: BorrowedFd<'_>, flags: i32) -> io::Result<OwnedFd> {
    let path = proc_path(fd);
    // SAFETY: `path` is a valid C string; the call returns a new descriptor we then own.
    owned(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })
}

/// Clears `O_NONBLOCK` on an open file description.
pub(crate) fn clear_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we borrow; no memory is passed.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) }).map(drop)
}

/// `chmod` of the inode behind `fd` (not for symlinks, which have no mode on Linux).
pub(crate) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let path = proc_path(fd);
    // SAFETY: `path` is a valid C string.
    cvt(unsafe { libc::chmod(path.as_ptr(), (mode & 0o7777) as libc::mode_t) }).map(drop)
}

/// `chown` of the inode behind `fd` itself (symlinks included); `None` keeps a field.
pub(crate) fn chown_fd(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: the empty path with AT_EMPTY_PATH operates on `fd` itself.
    cvt(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

fn timespec(t: Option<TimeSet>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeSet::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeSet::At(at)) => match at.duration_since(UNIX_EPOCH) {
            Ok(d) => libc::timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: i64::from(d.subsec_nanos()),
            },
            Err(e) => {
                let d = e.duration();
                let (secs, nanos) = if d.subsec_nanos() == 0 {
                    (-(d.as_secs() as i64), 0)
                } else {
                    (
                        -(d.as_secs() as i64) - 1,
                        1_000_000_000 - i64::from(d.subsec_nanos()),
                    )
                };
                libc::timespec {
                    tv_sec: secs,
                    tv_nsec: nanos,
                }
            }
        },
    }
}

/// `utimensat` on the inode behind `fd` itself; `None` is `UTIME_OMIT`.
pub(crate) fn utimens_fd(
    fd: BorrowedFd<'_>,
    atime: Option<TimeSet>,
    mtime: Option<TimeSet>,
) -> io::Result<()> {
    let times = [timespec(atime), timespec(mtime)];
    // SAFETY: `times` holds two valid timespecs; the empty path with AT_EMPTY_PATH
    // operates on `fd` itself.
    cvt(unsafe {
        libc::utimensat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            times.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// Reads an extended attribute of the inode behind `fd`; `size` 0 asks for the length.
pub(crate) fn getxattr_fd(fd: BorrowedFd<'_>, name: &OsStr, size: usize) -> io::Result<Vec<u8>> {
    let path = proc_path(fd);
    let name = c_name(name)?;
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` is valid for `size` bytes (a null pointer is allowed for size 0).
    let n = cvt_size(unsafe {
        libc::getxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), size)
    })?;
    if size == 0 {
        buf.resize(n, 0);
        return Ok(buf);
    }
    buf.truncate(n);
    Ok(buf)
}

/// The length of an extended attribute of the inode behind `fd`.
pub(crate) fn getxattr_len(fd: BorrowedFd<'_>, name: &OsStr) -> io::Result<usize> {
    let path = proc_path(fd);
    let name = c_name(name)?;
    // SAFETY: a null buffer with size 0 asks for the length only.
    cvt_size(unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) })
}

/// Sets an extended attribute of the inode behind `fd`.
pub(crate) fn setxattr_fd(
    fd: BorrowedFd<'_>,
    name: &OsStr,
    value: &[u8],
    flags: i32,
) -> io::Result<()> {
    let path = proc_path(fd);
    let name = c_name(name)?;
    // SAFETY: `value` is valid for its length; both strings are valid C strings.
    cvt(unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    })
    .map(drop)
}

/// Lists the extended attribute names of the inode behind `fd` (NUL-separated).
pub(crate) fn listxattr_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let path = proc_path(fd);
    loop {
        // SAFETY: a null buffer with size 0 asks for the length only.
        let len = cvt_size(unsafe { libc::listxattr(path.as_ptr(), std::ptr::null_mut(), 0) })?;
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` is valid for `len` bytes.
        match cvt_size(unsafe { libc::listxattr(path.as_ptr(), buf.as_mut_ptr().cast(), len) }) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // The list grew between the two calls: ask again.
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes an extended attribute of the inode behind `fd`.
pub(crate) fn removexattr_fd(fd: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let path = proc_path(fd);
    let name = c_name(name)?;
    // SAFETY: both strings are valid C strings.
    cvt(unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) }).map(drop)
}

/// Removes an extended attribute through an open (non-`O_PATH`) descriptor.
pub(crate) fn fremovexattr(fd: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: `name` is a valid C string.
    cvt(unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `linkat` of the inode behind `fd` to `name` in `dir`.
pub(crate) fn link_fd(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: the empty path with AT_EMPTY_PATH names `fd` itself (needs CAP_DAC_READ_SEARCH).
    let ret = unsafe {
        libc::linkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOENT) && err.raw_os_error() != Some(libc::EPERM) {
        return Err(err);
    }
    // Without CAP_DAC_READ_SEARCH, link through the magic link instead.
    let path = proc_path(fd);
    // SAFETY: both strings are valid C strings.
    cvt(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            path.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

/// `copy_file_range(2)` between two open descriptors at explicit offsets.
pub(crate) fn copy_range(
    from: BorrowedFd<'_>,
    off_in: i64,
    to: BorrowedFd<'_>,
    off_out: i64,
    len: usize,
) -> io::Result<usize> {
    let mut off_in = off_in;
    let mut off_out = off_out;
    // SAFETY: both offsets are valid in/out pointers for the duration of the call.
    cvt_size(unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            &mut off_in,
            to.as_raw_fd(),
            &mut off_out,
            len,
            0,
        )
    } as libc::ssize_t)
}
