//! The inode behind a descriptor: stat, mode, owner, times, and the kind of a mode.

use std::os::fd::BorrowedFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Gid, Mode, Stat, Timespec, Timestamps, Uid};
use rustix::path::Arg;

use super::{proc_path, Inode, Result};

/// `stat` of the inode `fd` refers to; an `O_PATH` descriptor is fine, and one opened
/// `O_PATH | O_NOFOLLOW` on a symlink stats the symlink itself.
pub fn stat(fd: BorrowedFd<'_>) -> Result<Stat> {
    rustix::fs::fstat(fd)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn stat_at(dir: BorrowedFd<'_>, name: impl Arg) -> Result<Stat> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// Sets the permission bits (`mode & 0o7777`) of `inode` (not for symlinks, which have no
/// mode on Linux).
pub fn chmod(inode: Inode<'_>, mode: u32) -> Result<()> {
    let mode = Mode::from_raw_mode(mode & 0o7777);
    match inode {
        Inode::Open(fd) => rustix::fs::fchmod(fd, mode),
        Inode::Path(fd) => rustix::fs::chmod(proc_path(fd).as_c_str(), mode),
    }
}

/// `chown` of the inode behind `fd` itself (symlinks included, `O_PATH` handles too);
/// `None` keeps a field.
pub fn chown(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    // -1 is the kernel's "leave it alone" already; rustix wants it spelled `None`.
    let uid = uid.filter(|&u| u != u32::MAX).map(Uid::from_raw);
    let gid = gid.filter(|&g| g != u32::MAX).map(Gid::from_raw);
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    rustix::fs::chownat(fd, "", uid, gid, flags)
}

/// A time to give an inode in [`set_times`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeChange {
    /// Leave it as it is (`UTIME_OMIT`).
    Keep,
    /// The current time (`UTIME_NOW`).
    Now,
    /// This instant (before the epoch too).
    At(SystemTime),
}

impl TimeChange {
    fn timespec(self) -> Timespec {
        match self {
            TimeChange::Keep => Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            TimeChange::Now => Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            TimeChange::At(at) => match at.duration_since(UNIX_EPOCH) {
                Ok(d) => Timespec {
                    tv_sec: d.as_secs() as i64,
                    tv_nsec: i64::from(d.subsec_nanos()),
                },
                Err(e) => before_epoch(e.duration()),
            },
        }
    }
}

/// The timespec of the instant `d` before the epoch (nanoseconds count forward).
fn before_epoch(d: Duration) -> Timespec {
    let (secs, nanos) = if d.subsec_nanos() == 0 {
        (-(d.as_secs() as i64), 0)
    } else {
        (
            -(d.as_secs() as i64) - 1,
            1_000_000_000 - i64::from(d.subsec_nanos()),
        )
    };
    Timespec {
        tv_sec: secs,
        tv_nsec: nanos,
    }
}

/// `utimensat` on the inode behind `fd` itself (symlinks included, `O_PATH` handles too).
pub fn set_times(fd: BorrowedFd<'_>, atime: TimeChange, mtime: TimeChange) -> Result<()> {
    let times = Timestamps {
        last_access: atime.timespec(),
        last_modification: mtime.timespec(),
    };
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    rustix::fs::utimensat(fd, "", &times, flags)
}

/// Kind of an inode, as the object view tells them apart.
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

/// `mtime` of a stat in nanoseconds since the epoch.
pub fn mtime_ns(st: &Stat) -> i128 {
    i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec)
}

/// `ctime` of a stat in nanoseconds since the epoch.
pub fn ctime_ns(st: &Stat) -> i128 {
    i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec)
}

/// `mtime` as a `SystemTime` (the epoch for times before it).
pub fn mtime(st: &Stat) -> SystemTime {
    let ns = mtime_ns(st);
    let d = Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(0));
    UNIX_EPOCH + d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_count_nanoseconds_forward() {
        let t = TimeChange::At(UNIX_EPOCH - Duration::from_nanos(1_500_000_000)).timespec();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 500_000_000));
        let t = TimeChange::At(UNIX_EPOCH - Duration::from_secs(3)).timespec();
        assert_eq!((t.tv_sec, t.tv_nsec), (-3, 0));
    }
}
