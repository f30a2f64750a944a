//! Directory entries: create, remove, rename and link names, and list a directory.

use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::path::Arg;

use super::{open_at, proc_path, Errno, Result};

/// `mkdirat(dir, name, mode)`.
pub fn mkdir(dir: BorrowedFd<'_>, name: impl Arg, mode: u32) -> Result<()> {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode & 0o7777))
}

/// Removes the non-directory `name` from `dir`.
pub fn unlink(dir: BorrowedFd<'_>, name: impl Arg) -> Result<()> {
    rustix::fs::unlinkat(dir, name, AtFlags::empty())
}

/// Removes the empty directory `name` from `dir`.
pub fn rmdir(dir: BorrowedFd<'_>, name: impl Arg) -> Result<()> {
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// `renameat2(from_dir, from, to_dir, to, flags)`.
pub fn rename(
    from_dir: BorrowedFd<'_>,
    from: impl Arg,
    to_dir: BorrowedFd<'_>,
    to: impl Arg,
    flags: RenameFlags,
) -> Result<()> {
    rustix::fs::renameat_with(from_dir, from, to_dir, to, flags)
}

/// Gives the inode behind `fd` (an `O_PATH` handle or an unnamed `O_TMPFILE` file) the
/// name `dir/name`: `EEXIST` if the name is taken.
pub fn link_fd(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: impl Arg + Copy) -> Result<()> {
    // The empty path with AT_EMPTY_PATH names `fd` itself (needs CAP_DAC_READ_SEARCH).
    match rustix::fs::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
        Err(Errno::NOENT | Errno::PERM) => {}
        other => return other,
    }
    // Without CAP_DAC_READ_SEARCH, link through the magic link instead.
    let path = proc_path(fd);
    rustix::fs::linkat(
        rustix::fs::CWD,
        path.as_c_str(),
        dir,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name's bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// The backing `st_ino`.
    pub ino: u64,
    /// From `d_type`: `FileType::Unknown` when the filesystem does not say.
    pub file_type: FileType,
}

impl Entry {
    /// True for `.` and `..`.
    pub fn is_dot(&self) -> bool {
        self.name == b"." || self.name == b".."
    }
}

/// Reads every entry of `dir`, `.` and `..` included, through a descriptor of its own (so
/// `dir`'s position is untouched and an `O_PATH` handle is fine).
pub fn read_dir(dir: BorrowedFd<'_>) -> Result<Vec<Entry>> {
    let fd = open_at(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY, 0)?;
    let mut stream = rustix::fs::Dir::new(fd)?;
    let mut out = Vec::new();
    while let Some(entry) = stream.read() {
        let entry = entry?;
        out.push(Entry {
            name: entry.file_name().to_bytes().to_vec(),
            ino: entry.ino(),
            file_type: entry.file_type(),
        });
    }
    Ok(out)
}
