//! File content: in-kernel copies, reads that must not wait, durability, and the
//! filesystem's statistics.

use std::io::IoSliceMut;
use std::os::fd::BorrowedFd;

use rustix::fs::StatVfs;
use rustix::io::ReadWriteFlags;

use super::{Errno, Result};

/// `copy_file_range(2)` of up to `len` bytes from `from` at `off_in` to `to` at `off_out`
/// (`None`: at `to`'s file position, which advances). Returns the bytes copied (0 at the
/// end of `from`); a negative offset is `EINVAL`, as the kernel says.
pub fn copy_range(
    from: BorrowedFd<'_>,
    off_in: i64,
    to: BorrowedFd<'_>,
    off_out: Option<i64>,
    len: usize,
) -> Result<usize> {
    let offset = |off: i64| u64::try_from(off).map_err(|_| Errno::INVAL);
    let mut off_in = offset(off_in)?;
    let mut off_out = off_out.map(offset).transpose()?;
    rustix::fs::copy_file_range(from, Some(&mut off_in), to, off_out.as_mut(), len)
}

/// Reads at `offset` into `buf` only from the page cache (`preadv2` with `RWF_NOWAIT`):
/// `Ok(None)` when that would wait on the device (or the kernel cannot say), so the caller
/// can hand the read to a thread that may block. `Ok(Some(0))` is the end of the file.
pub fn read_cached(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<Option<usize>> {
    // preadv2 reads at the file position for an offset of -1 (u64::MAX here): an offset
    // past i64::MAX is not one we can ask for.
    if i64::try_from(offset).is_err() {
        return Ok(None);
    }
    let mut iov = [IoSliceMut::new(buf)];
    match rustix::io::preadv2(fd, &mut iov, offset, ReadWriteFlags::NOWAIT) {
        Ok(n) => Ok(Some(n)),
        // Not cached, or a kernel or filesystem without RWF_NOWAIT for this file.
        Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `fsync`.
pub fn sync(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::fs::fsync(fd)
}

/// `fstatvfs` of the filesystem holding `fd`.
pub fn statfs(fd: BorrowedFd<'_>) -> Result<StatVfs> {
    rustix::fs::fstatvfs(fd)
}
