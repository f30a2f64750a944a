//! File attributes as the engine reports them, and the attribute changes it accepts.
//!
//! `Attr` is built from one `stat` of the backing inode; its `ino` is already the FUSE
//! inode number (see `Root::ino`). These types carry no FUSE types so the engine can be
//! used and tested without a kernel.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::disk::Stat;
use crate::root::{Ino, Root};

/// The kind of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

impl FileKind {
    /// The kind encoded in a `st_mode`.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::Regular,
        }
    }
}

/// Attributes of one inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: FileKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub size: u64,
    pub blocks: u64,
    pub blksize: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Attr {
    /// Builds the attributes of a backing `stat`, numbering the inode for FUSE.
    pub fn from_stat(root: &Root, st: &Stat) -> Attr {
        Attr {
            ino: root.ino(st.st_ino),
            kind: FileKind::from_mode(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev as u32,
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            blksize: st.st_blksize as u32,
            atime: system_time(st.st_atime, st.st_atime_nsec as i64),
            mtime: system_time(st.st_mtime, st.st_mtime_nsec as i64),
            ctime: system_time(st.st_ctime, st.st_ctime_nsec as i64),
        }
    }
}

fn system_time(secs: i64, nsecs: i64) -> SystemTime {
    let nanos = Duration::from_nanos(nsecs.clamp(0, 999_999_999) as u64);
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    }
}

/// A time to set: a given instant or "now" (`UTIME_NOW`). Absent means `UTIME_OMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(SystemTime),
}

/// The attribute changes of one `setattr`; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

/// What a write through the daemon does to the file's set-ID bits. The kernel leaves
/// clearing them to the daemon (`FUSE_HANDLE_KILLPRIV_V2`) and says, write by write,
/// whether the writer is unprivileged (`FUSE_WRITE_KILL_SUIDGID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetIdBits {
    /// A privileged writer: the bits stay.
    Keep,
    /// An unprivileged writer: cleared before the write (see `drop_setid`
    /// in `tree/file.rs`).
    Clear,
}

/// Who asks for a new file: it will be owned by this uid/gid, as on a local filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

impl Caller {
    /// The caller root (uid 0, gid 0).
    pub const ROOT: Caller = Caller { uid: 0, gid: 0 };
}

/// Filesystem statistics of the backing filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_are_kept() {
        let t = system_time(-2, 500);
        assert_eq!(
            UNIX_EPOCH.duration_since(t).unwrap(),
            Duration::from_nanos(1_999_999_500)
        );
    }

    #[test]
    fn kinds_are_decoded_from_the_mode() {
        assert_eq!(
            FileKind::from_mode(libc::S_IFDIR | 0o755),
            FileKind::Directory
        );
        assert_eq!(
            FileKind::from_mode(libc::S_IFLNK | 0o777),
            FileKind::Symlink
        );
        assert_eq!(
            FileKind::from_mode(libc::S_IFREG | 0o644),
            FileKind::Regular
        );
    }
}
