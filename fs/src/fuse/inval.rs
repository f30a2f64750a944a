//! Pushes changes made by the object view (S3) into the kernel's caches.
//!
//! Subscribed to the change-event bus at mount time. For `Origin::Object` changes it
//! tells the kernel to drop the cached directory entry (`inval_entry`) or the inode's
//! attributes and pages (`inval_inode`), synchronously, so an S3 write is visible on the
//! mount as soon as the S3 request returns. Changes made through FUSE are ignored: the
//! kernel already knows about them. A change under a directory the kernel holds no
//! reference to (lookup count 0) is skipped without a system call: the kernel can cache
//! entries and pages only under inodes it was handed, and the engine counts each one
//! before the reply that hands it over. ENOENT from the kernel (nothing cached) is not an
//! error. After unmount the sink goes quiet.

use std::sync::atomic::{AtomicBool, Ordering};

use fuser::{INodeNo, Notifier};

use super::stats::FuseStats;
use crate::events::{Change, ChangeSink, Origin};
use crate::root::Ino;
use crate::sync::{Arc, Weak};
use crate::tree::Tree;

pub(crate) struct Invalidator {
    pub(crate) notifier: Notifier,
    pub(crate) alive: Arc<AtomicBool>,
    /// The mounted tree, for its lookup counts (weak: the tree's event bus holds us).
    pub(crate) tree: Weak<Tree>,
    pub(crate) stats: Arc<FuseStats>,
}

impl Invalidator {
    /// True when the kernel may have cached something about `ino`.
    fn known(&self, ino: Ino) -> bool {
        ino == Ino::ROOT || self.tree.upgrade().is_some_and(|t| t.lookup_count(ino) > 0)
    }
}

impl ChangeSink for Invalidator {
    fn changed(&self, origin: Origin, change: &Change) {
        if origin != Origin::Object || !self.alive.load(Ordering::Relaxed) {
            return;
        }
        let ino = match change {
            Change::Entry { parent, .. } => *parent,
            Change::Inode { ino } => *ino,
        };
        let known = self.known(ino);
        self.stats.invalidation(known);
        if !known {
            return;
        }
        let result = match change {
            // The parent's attributes (mtime, size) and cached listing change with the entry.
            Change::Entry { parent, name } => self
                .notifier
                .inval_entry(INodeNo(parent.0), name)
                .and_then(|()| self.notifier.inval_inode(INodeNo(parent.0), 0, -1)),
            Change::Inode { ino } => self.notifier.inval_inode(INodeNo(ino.0), 0, -1),
        };
        if let Err(e) = result {
            // fuser already ignores ENOENT; ENOTCONN/ENODEV mean the mount is going away.
            tracing::debug!(?change, error = %e, "kernel cache invalidation failed");
        }
    }
}
