//! The served root: the backing directory, its internal area and inode numbering.
//!
//! Invariants:
//! - FUSE inode numbers are the backing filesystem's `st_ino`, except that the root's own
//!   `st_ino` and inode 1 trade places (FUSE requires the root to be 1). Numbers are thus
//!   stable across restarts and equal to what `ls -i` shows on the backing directory.
//!   The served tree must live on one filesystem (`st_dev`); a mount point below the root is
//!   refused at lookup, so numbers never collide.
//! - `<data>/.wekad/` is the internal area (temp files, multipart staging). It is never
//!   visible, creatable or removable through either door.
//!
//! This module opens the root once; it never builds paths from user input.

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::disk::{self, Dir};
use crate::error::{Error, Result};
use crate::events::Events;
pub use crate::ino::Ino;

/// Name of the internal directory at the top of the backing tree.
pub const INTERNAL_DIR: &str = ".wekad";

/// Prefix of the extended attributes private to the daemon (ETag, content type, user
/// metadata, tags). Hidden from, and refused through, the FUSE xattr calls.
pub const XATTR_PREFIX: &str = "user.wekad.";

/// The stored ETag with the (size, mtime) stamp it was computed at. The FUSE side removes
/// it when a file is opened for writing, truncated or otherwise modified; the object view
/// recomputes it lazily when it is absent or its stamp no longer matches.
pub const XATTR_ETAG: &str = "user.wekad.etag";

/// The backing directory held open, with its internal area and the change-event bus.
pub struct Root {
    path: PathBuf,
    dir: Dir,
    internal: Dir,
    st_ino: u64,
    st_dev: u64,
    events: Events,
}

impl Root {
    /// Opens (and creates if needed) the backing directory and its internal area.
    pub fn open(path: &Path) -> Result<Root> {
        std::fs::create_dir_all(path).map_err(|e| Error::io_at(path, e))?;
        let dir = Dir::open(path).map_err(|e| Error::io_at(path, e.into()))?;
        let st = disk::stat(dir.fd()).map_err(|e| Error::io_at(path, e.into()))?;
        let internal = Dir::open_or_create(dir.fd(), INTERNAL_DIR, 0o700)
            .map_err(|e| Error::io_at(&path.join(INTERNAL_DIR), e.into()))?;
        Ok(Root {
            path: path.to_path_buf(),
            dir,
            internal,
            st_ino: st.st_ino,
            st_dev: st.st_dev,
            events: Events::default(),
        })
    }

    /// The backing directory's path, for messages only (never for resolution).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backing root directory.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.fd()
    }

    /// The internal area `<data>/.wekad/`.
    pub fn internal(&self) -> BorrowedFd<'_> {
        self.internal.fd()
    }

    /// The device every served inode must live on.
    pub fn dev(&self) -> u64 {
        self.st_dev
    }

    /// The change-event bus shared by both doors.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Maps a backing `st_ino` to the FUSE inode number.
    pub fn ino(&self, st_ino: u64) -> Ino {
        if st_ino == self.st_ino {
            Ino::ROOT
        } else if st_ino == Ino::ROOT.0 {
            Ino(self.st_ino)
        } else {
            Ino(st_ino)
        }
    }

    /// Maps a FUSE inode number back to the backing `st_ino` (the inverse of [`Root::ino`]).
    pub fn st_ino(&self, ino: Ino) -> u64 {
        if ino == Ino::ROOT {
            self.st_ino
        } else if ino.0 == self.st_ino {
            Ino::ROOT.0
        } else {
            ino.0
        }
    }

    /// True for the name of the internal area, which only exists at the top level.
    pub fn is_internal(parent: Ino, name: &OsStr) -> bool {
        parent == Ino::ROOT && name == OsStr::new(INTERNAL_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_mapping_swaps_root_and_one_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let st_root = std::fs::metadata(dir.path())
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        assert_eq!(root.ino(st_root), Ino::ROOT);
        assert_eq!(root.ino(1), Ino(st_root));
        assert_eq!(root.ino(12345), Ino(12345));
        for n in [1, st_root, 12345] {
            assert_eq!(root.st_ino(root.ino(n)), n);
        }
    }

    #[test]
    fn open_creates_the_internal_area() {
        let dir = tempfile::tempdir().unwrap();
        let _root = Root::open(dir.path()).unwrap();
        assert!(dir.path().join(INTERNAL_DIR).is_dir());
        assert!(Root::is_internal(Ino::ROOT, OsStr::new(".wekad")));
        assert!(!Root::is_internal(Ino(99), OsStr::new(".wekad")));
    }
}
