//! Extended attributes of an inode, reached through an open descriptor (the `f*xattr`
//! calls) or through the magic link of an `O_PATH` handle, which those calls refuse.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::XattrFlags;
use rustix::path::Arg;

use super::{proc_path, Errno, Inode, Result};

/// The largest value the kernel stores (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 1 << 16;

/// Reads the attribute `name` of `inode` into a buffer of `size` bytes (not 0: ask
/// [`get_xattr_len`] for the length): `ERANGE` when the value is longer.
pub fn get_xattr(inode: Inode<'_>, name: impl Arg + Copy, size: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let n = get_into(inode, name, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// The length of the attribute `name` of `inode`.
pub fn get_xattr_len(inode: Inode<'_>, name: impl Arg) -> Result<usize> {
    match inode {
        Inode::Open(fd) => rustix::fs::fgetxattr_query(fd, name),
        Inode::Path(fd) => rustix::fs::getxattr_query(proc_path(fd).as_c_str(), name),
    }
}

fn get_into(inode: Inode<'_>, name: impl Arg, buf: &mut [u8]) -> Result<usize> {
    match inode {
        Inode::Open(fd) => rustix::fs::fgetxattr(fd, name, buf),
        Inode::Path(fd) => rustix::fs::getxattr(proc_path(fd).as_c_str(), name, buf),
    }
}

/// Reads the whole attribute `name` of `inode`; `Ok(None)` when it is absent.
pub fn read_xattr(inode: Inode<'_>, name: impl Arg + Copy) -> Result<Option<Vec<u8>>> {
    read_growing(4096, |buf| get_into(inode, name, buf))
}

/// Reads an xattr value with `call` (a `*getxattr` call into the buffer it is given),
/// starting with a buffer of `first` bytes and growing it to the 64 KiB maximum on
/// `ERANGE`; `Ok(None)` when the attribute is absent.
fn read_growing(
    first: usize,
    mut call: impl FnMut(&mut [u8]) -> Result<usize>,
) -> Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; first];
    loop {
        match call(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(Errno::NODATA) => return Ok(None),
            Err(Errno::RANGE) if buf.len() < XATTR_SIZE_MAX => buf.resize(XATTR_SIZE_MAX, 0),
            Err(e) => return Err(e),
        }
    }
}

/// Sets the attribute `name` of `inode` (`flags`: `XATTR_CREATE`, `XATTR_REPLACE` or 0).
pub fn set_xattr(inode: Inode<'_>, name: impl Arg, value: &[u8], flags: i32) -> Result<()> {
    let flags = XattrFlags::from_bits_retain(flags as u32);
    match inode {
        Inode::Open(fd) => rustix::fs::fsetxattr(fd, name, value, flags),
        Inode::Path(fd) => rustix::fs::setxattr(proc_path(fd).as_c_str(), name, value, flags),
    }
}

/// The attribute names of `inode`, each NUL-terminated.
pub fn list_xattr(inode: Inode<'_>) -> Result<Vec<u8>> {
    let path = proc_path(inode.fd());
    // rustix answers 0 for an empty buffer: the length comes from the `_query` calls.
    let len = || match inode {
        Inode::Open(fd) => rustix::fs::flistxattr_query(fd),
        Inode::Path(_) => rustix::fs::listxattr_query(path.as_c_str()),
    };
    let list = |buf: &mut [u8]| match inode {
        Inode::Open(fd) => rustix::fs::flistxattr(fd, buf),
        Inode::Path(_) => rustix::fs::listxattr(path.as_c_str(), buf),
    };
    loop {
        let mut buf = vec![0u8; len()?];
        if buf.is_empty() {
            return Ok(buf);
        }
        match list(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // The list grew between the two calls: ask again.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes the attribute `name` of `inode` (`ENODATA` when absent).
pub fn remove_xattr(inode: Inode<'_>, name: impl Arg) -> Result<()> {
    match inode {
        Inode::Open(fd) => rustix::fs::fremovexattr(fd, name),
        Inode::Path(fd) => rustix::fs::removexattr(proc_path(fd).as_c_str(), name),
    }
}

/// Sets and removes `user.wekad.probe` on the open file `fd`: whether its filesystem
/// keeps the `user.` attributes wekad stores ETags and metadata in (the daemon's start-up
/// check of the data directory).
pub fn probe_xattr(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    const PROBE: &str = "user.wekad.probe";
    set_xattr(Inode::Open(fd), PROBE, b"1", 0)?;
    remove_xattr(Inode::Open(fd), PROBE)?;
    Ok(())
}

/// `getxattrat(2)` (Linux 6.13): the same number on every architecture.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SYS_GETXATTRAT: libc::c_long = 464;

/// Set once the kernel said it has no `getxattrat`.
static NO_GETXATTRAT: AtomicBool = AtomicBool::new(false);

/// Makes `get_xattr_at` answer `None` as on a kernel without `getxattrat` (tests of the
/// fallback path; results must be the same either way).
#[cfg(test)]
pub(crate) fn disable_getxattrat() {
    NO_GETXATTRAT.store(true, Ordering::Relaxed);
}

/// The errno of the failed `libc` call just made.
fn last_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error();
    Errno::from_raw_os_error(raw.unwrap_or(libc::EIO))
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
        if NO_GETXATTRAT.load(Ordering::Relaxed) {
            return None;
        }
        let (cchild, cname) = match (child.into_c_str(), name.into_c_str()) {
            (Ok(c), Ok(n)) => (c, n),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        };
        let read = read_growing(512, |buf| {
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
            usize::try_from(n).map_err(|_| last_errno())
        });
        match read {
            Err(Errno::NOSYS) => {
                NO_GETXATTRAT.store(true, Ordering::Relaxed);
                None
            }
            read => Some(read),
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (dir, child, name);
        None
    }
}
