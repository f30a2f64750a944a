//! Thin, safe wrappers over the `*at` syscalls the object view uses.
//!
//! Every path here is relative to a held directory descriptor, and every open of a
//! client-derived path goes through `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`,
//! or opens a single component with `O_NOFOLLOW`: the S3 door never follows a symlink, so
//! nothing it reads or writes can be reached through one (docs/SEMANTICS.md, "Symlinks and
//! hard links"). This module knows nothing of buckets or keys.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

use crate::error::{Error, Result};

/// Opens `path` (relative, may contain `/`) beneath `dir` with no symlink on the way: the
/// kernel checks every component in the same walk that opens it, so a symlink swapped in
/// by the mount cannot slip between a check and the open. A symlink anywhere on the path,
/// final component included, is `NotFound`.
pub fn open_no_symlinks(dir: BorrowedFd<'_>, path: &str, flags: OFlag) -> Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = openat2(dir.as_raw_fd(), path, how).map_err(map_resolve_errno)?;
    // SAFETY: `openat2` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ELOOP` from openat2 means a symlink is on the path, `EXDEV` that the path tried to leave
/// `dir` (keys have no `..`, so only a racing rename could cause it): both mean absent.
fn map_resolve_errno(e: nix::errno::Errno) -> Error {
    match e {
        nix::errno::Errno::EXDEV | nix::errno::Errno::ELOOP => Error::NotFound,
        other => Error::from(other),
    }
}

/// Opens the single component `name` under `dir` without following a final symlink.
pub fn open_child(dir: BorrowedFd<'_>, name: &str, flags: OFlag) -> Result<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `dir/name` without following a symlink: a symlink there is
/// `NotADirectory`, whatever it points at (the kernel answers `ENOTDIR` for
/// `O_DIRECTORY | O_NOFOLLOW` on a symlink; `ELOOP` is mapped the same in case one does not).
pub fn open_dir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd> {
    match open_child(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
        Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ELOOP) => Err(Error::NotADirectory),
        other => other,
    }
}

/// `fstat` on a descriptor.
pub fn stat(fd: BorrowedFd<'_>) -> Result<FileStat> {
    Ok(fstat(fd.as_raw_fd())?)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn stat_child(dir: BorrowedFd<'_>, name: &str) -> Result<FileStat> {
    Ok(nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// Reads an xattr; `Ok(None)` when absent.
pub fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> Result<Option<Vec<u8>>> {
    let cname = cstring(name)?;
    Ok(read_xattr(4096, |buf| {
        // SAFETY: `cname` is NUL-terminated and `buf` is valid for `buf.len()` bytes.
        unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    })?)
}

/// Reads an xattr value with `call` (a `*getxattr` call into the buffer it is given,
/// returning the length or -1), starting with a buffer of `first` bytes and growing it to
/// the 64 KiB maximum on `ERANGE`; `Ok(None)` when the attribute is absent.
fn read_xattr(
    first: usize,
    mut call: impl FnMut(&mut [u8]) -> isize,
) -> std::result::Result<Option<Vec<u8>>, nix::errno::Errno> {
    let mut buf = vec![0u8; first];
    loop {
        let n = call(&mut buf);
        if n >= 0 {
            buf.truncate(n.unsigned_abs());
            return Ok(Some(buf));
        }
        match nix::errno::Errno::last() {
            nix::errno::Errno::ENODATA => return Ok(None),
            nix::errno::Errno::ERANGE if buf.len() < 1 << 16 => buf.resize(1 << 16, 0),
            e => return Err(e),
        }
    }
}

/// `getxattrat(2)` (Linux 6.13): the same number on every architecture.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SYS_GETXATTRAT: libc::c_long = 464;

/// Set once the kernel said it has no `getxattrat`.
static NO_GETXATTRAT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes `get_xattr_at` answer `None` as on a kernel without `getxattrat` (tests of the
/// fallback path; results must be the same either way).
#[cfg(test)]
pub fn disable_getxattrat() {
    NO_GETXATTRAT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `struct xattr_args` of `getxattrat(2)`.
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// Reads the xattr `name` of `dir/child` itself (a symlink is not followed) without
/// opening the child, which saves an open and a close per object in listings. `None`
/// when the kernel has no `getxattrat` (before 6.13): open the child instead.
pub fn get_xattr_at(
    dir: BorrowedFd<'_>,
    child: &str,
    name: &str,
) -> Option<Result<Option<Vec<u8>>>> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        if NO_GETXATTRAT.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let (cchild, cname) = match (cstring(child), cstring(name)) {
            (Ok(c), Ok(n)) => (c, n),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        };
        let read = read_xattr(512, |buf| {
            let mut args = XattrArgs {
                value: buf.as_mut_ptr() as u64,
                size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
                flags: 0,
            };
            // SAFETY: both strings are NUL-terminated, `args` points at `buf`, valid for
            // `args.size` bytes, and the call writes at most that many.
            let n = unsafe {
                libc::syscall(
                    SYS_GETXATTRAT,
                    dir.as_raw_fd(),
                    cchild.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                    cname.as_ptr(),
                    &mut args as *mut XattrArgs,
                    std::mem::size_of::<XattrArgs>(),
                )
            };
            isize::try_from(n).unwrap_or(-1)
        });
        match read {
            Err(nix::errno::Errno::ENOSYS) => {
                NO_GETXATTRAT.store(true, std::sync::atomic::Ordering::Relaxed);
                None
            }
            read => Some(read.map_err(Error::from)),
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (dir, child, name);
        None
    }
}

/// Reads at `offset` into `buf` only from the page cache (`preadv2` with `RWF_NOWAIT`):
/// `Ok(None)` when that would wait on the device (or the kernel cannot say), so the caller
/// can hand the read to a thread that may block. `Ok(Some(0))` is the end of the file.
pub fn read_cached(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<Option<usize>> {
    let Ok(off) = libc::off_t::try_from(offset) else {
        return Ok(None);
    };
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid and writable for `buf.len()` bytes, and the call
    // writes at most that many.
    let n = unsafe { libc::preadv2(fd.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
    match usize::try_from(n) {
        Ok(n) => Ok(Some(n)),
        Err(_) => match nix::errno::Errno::last() {
            // Not cached, or a kernel or filesystem without RWF_NOWAIT for this file.
            nix::errno::Errno::EAGAIN
            | nix::errno::Errno::EOPNOTSUPP
            | nix::errno::Errno::EINVAL
            | nix::errno::Errno::ENOSYS => Ok(None),
            e => Err(e.into()),
        },
    }
}

/// Writes an xattr.
pub fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<()> {
    let cname = cstring(name)?;
    // SAFETY: `cname` is NUL-terminated and `value` is valid for `value.len()` bytes.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last().into())
    }
}

/// Removes an xattr; absent is fine.
pub fn remove_xattr(fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    let cname = cstring(name)?;
    // SAFETY: `cname` is NUL-terminated.
    let r = unsafe { libc::fremovexattr(fd.as_raw_fd(), cname.as_ptr()) };
    match (r, nix::errno::Errno::last()) {
        (0, _) | (_, nix::errno::Errno::ENODATA) => Ok(()),
        (_, e) => Err(e.into()),
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument("NUL in name".into()))
}

/// `mkdirat`; `Ok(false)` if it already existed.
pub fn mkdir(dir: BorrowedFd<'_>, name: &str, mode: u32) -> Result<bool> {
    match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(mode)) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EEXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `unlinkat`, for a file or (with `dir`) an empty directory.
pub fn unlink(parent: BorrowedFd<'_>, name: &str, dir: bool) -> Result<()> {
    let flag = if dir {
        nix::unistd::UnlinkatFlags::RemoveDir
    } else {
        nix::unistd::UnlinkatFlags::NoRemoveDir
    };
    Ok(nix::unistd::unlinkat(Some(parent.as_raw_fd()), name, flag)?)
}

/// `renameat2`, optionally refusing to replace an existing entry.
pub fn rename(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
    noreplace: bool,
) -> Result<()> {
    let flags = if noreplace {
        nix::fcntl::RenameFlags::RENAME_NOREPLACE
    } else {
        nix::fcntl::RenameFlags::empty()
    };
    Ok(nix::fcntl::renameat2(
        Some(from_dir.as_raw_fd()),
        from,
        Some(to_dir.as_raw_fd()),
        to,
        flags,
    )?)
}

/// Set once the filesystem refused `O_TMPFILE`.
static NO_TMPFILE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A new unnamed regular file in `dir` (`O_TMPFILE`, read-write): it has no name until
/// `link_fd` gives it one, and vanishes if the process dies first. `None` when the
/// filesystem does not support `O_TMPFILE` (asked once).
pub fn open_tmpfile(dir: BorrowedFd<'_>) -> Option<Result<OwnedFd>> {
    if NO_TMPFILE.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    match openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    ) {
        // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
        Ok(fd) => Some(Ok(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(
            nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::EISDIR | nix::errno::Errno::EINVAL,
        ) => {
            NO_TMPFILE.store(true, std::sync::atomic::Ordering::Relaxed);
            None
        }
        Err(e) => Some(Err(e.into())),
    }
}

/// Gives the file open as `fd` the name `dir/name` (the engine's `link_fd`); `Exists` if
/// the name is taken.
pub fn link_fd(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> Result<()> {
    crate::tree::sys::link_fd(fd, dir, std::ffi::OsStr::new(name)).map_err(|e| {
        match e.raw_os_error() {
            Some(errno) => Error::from_errno(errno),
            None => Error::Io(e),
        }
    })
}

/// `fchmod`.
pub fn chmod(fd: BorrowedFd<'_>, mode: u32) -> Result<()> {
    Ok(nix::sys::stat::fchmod(
        fd.as_raw_fd(),
        Mode::from_bits_truncate(mode as nix::libc::mode_t),
    )?)
}

/// `fchown`.
pub fn chown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<()> {
    Ok(nix::unistd::fchown(
        fd.as_raw_fd(),
        Some(uid.into()),
        Some(gid.into()),
    )?)
}

/// `fsync`.
pub fn sync(fd: BorrowedFd<'_>) -> Result<()> {
    Ok(nix::unistd::fsync(fd.as_raw_fd())?)
}

/// Kind of a directory entry, from `d_type` (or `fstatat` when the filesystem does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    /// The kind of a `st_mode`.
    pub fn of_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// Reads every entry of `dir` (except `.` and `..`), with its kind. Names that are not UTF-8
/// are returned too; the caller decides.
pub fn read_dir(dir: BorrowedFd<'_>) -> Result<Vec<(Vec<u8>, Kind)>> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            Some(nix::dir::Type::File) => Kind::File,
            Some(nix::dir::Type::Directory) => Kind::Dir,
            Some(nix::dir::Type::Symlink) => Kind::Symlink,
            Some(_) => Kind::Other,
            None => kind_by_stat(dir, name),
        };
        out.push((name.to_vec(), kind));
    }
    Ok(out)
}

fn kind_by_stat(dir: BorrowedFd<'_>, name: &[u8]) -> Kind {
    let Ok(name) = std::str::from_utf8(name) else {
        return Kind::Other;
    };
    stat_child(dir, name)
        .map(|st| Kind::of_mode(st.st_mode))
        .unwrap_or(Kind::Other)
}

/// Copies `len` bytes from `src` at `off` to the end of `dst` in the kernel.
pub fn copy_range(
    src: BorrowedFd<'_>,
    mut off: i64,
    dst: BorrowedFd<'_>,
    mut len: u64,
) -> Result<()> {
    while len > 0 {
        let chunk = usize::try_from(len.min(1 << 30)).unwrap_or(1 << 30);
        // SAFETY: both descriptors are open for the duration of the call and `off` is a
        // valid, exclusively borrowed i64.
        let r = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off,
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        let n = usize::try_from(r).map_err(|_| Error::from(nix::errno::Errno::last()))?;
        if n == 0 {
            return Err(Error::InvalidArgument(
                "source shorter than expected".into(),
            ));
        }
        len -= n as u64;
    }
    Ok(())
}

/// `mtime` of a stat in nanoseconds since the epoch.
pub fn mtime_ns(st: &FileStat) -> i128 {
    i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec)
}

/// `ctime` of a stat in nanoseconds since the epoch.
pub fn ctime_ns(st: &FileStat) -> i128 {
    i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec)
}

/// `mtime` as a `SystemTime`.
pub fn mtime(st: &FileStat) -> std::time::SystemTime {
    let ns = mtime_ns(st);
    let d = std::time::Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(0));
    std::time::UNIX_EPOCH + d
}
