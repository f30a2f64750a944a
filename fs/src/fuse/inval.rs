//! Pushes changes made by the object view (S3) into the kernel's caches.
//!
//! Subscribed to the change-event bus at mount time. For `Origin::Object` changes it
//! tells the kernel to drop the cached directory entry (`inval_entry`) or the inode's
//! attributes and pages (`inval_inode`), synchronously, so an S3 write is visible on the
//! mount as soon as the S3 request returns. Changes made through FUSE are ignored: the
//! kernel already knows about them. ENOENT from the kernel (nothing cached) is not an
//! error. After unmount the sink goes quiet.

use std::sync::atomic::{AtomicBool, Ordering};

use fuser::Notifier;

use crate::events::{Change, ChangeSink, Origin};
use crate::sync::Arc;

pub(crate) struct Invalidator {
    pub(crate) notifier: Notifier,
    pub(crate) alive: Arc<AtomicBool>,
}

impl ChangeSink for Invalidator {
    fn changed(&self, origin: Origin, change: &Change) {
        if origin != Origin::Object || !self.alive.load(Ordering::Relaxed) {
            return;
        }
        let result = match change {
            // The parent's attributes (mtime, size) and cached listing change with the entry.
            Change::Entry { parent, name } => self
                .notifier
                .inval_entry(parent.0, name)
                .and_then(|()| self.notifier.inval_inode(parent.0, 0, -1)),
            Change::Inode { ino } => self.notifier.inval_inode(ino.0, 0, -1),
        };
        if let Err(e) = result {
            // fuser already ignores ENOENT; ENOTCONN/ENODEV mean the mount is going away.
            tracing::debug!(?change, error = %e, "kernel cache invalidation failed");
        }
    }
}
