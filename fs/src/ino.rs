//! `Ino`, the FUSE inode number, in a leaf module of its own: the root, the engine, the
//! object view and the change events all name inodes, and none of them should have to
//! depend on another for it.
//!
//! How an `Ino` maps to the backing `st_ino` is `Root`'s business (`Root::ino`); this
//! module only defines the number. It performs no I/O and depends on nothing in the crate.

/// A FUSE inode number (see `Root::ino` for how it maps to `st_ino`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ino(pub u64);

impl Ino {
    /// The FUSE root inode.
    pub const ROOT: Ino = Ino(1);
}
