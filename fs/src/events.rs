//! Change events: every mutation the engine performs is published here.
//!
//! The FUSE adapter subscribes to invalidate the kernel's caches for changes made by
//! the S3 door; the S3 listing cache subscribes to drop directory snapshots; the object
//! metadata subscribes to mark ETags stale. Sinks are called synchronously, on the thread
//! that made the change, before the operation returns: that is what lets an S3 PUT be
//! visible on the mount "with no sleep". Sinks must therefore be quick and must never
//! call back into the engine.

use std::ffi::OsString;

use crate::ino::Ino;
use crate::sync::{read, write, Arc, RwLock};

/// Which door made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A request that came through the FUSE mount (the kernel already knows).
    Fuse,
    /// A request that came through the object view (S3).
    Object,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The entry `name` in directory `parent` was created, removed or replaced.
    Entry { parent: Ino, name: OsString },
    /// The content or attributes of `ino` changed (data written, truncated, chmod, xattr...).
    Inode { ino: Ino },
}

/// A subscriber to change events.
pub trait ChangeSink: Send + Sync {
    /// Called once per change, synchronously, before the mutating call returns.
    fn changed(&self, origin: Origin, change: &Change);
}

/// The publish point shared by both doors.
#[derive(Default)]
pub struct Events {
    sinks: RwLock<Vec<Arc<dyn ChangeSink>>>,
}

impl Events {
    /// Adds a subscriber; it sees every change published after this call.
    pub fn subscribe(&self, sink: Arc<dyn ChangeSink>) {
        write(&self.sinks).push(sink);
    }

    /// Publishes one change to every subscriber.
    pub fn publish(&self, origin: Origin, change: Change) {
        for sink in read(&self.sinks).iter() {
            sink.changed(origin, &change);
        }
    }

    /// Publishes that `name` in `parent` changed.
    pub fn entry(&self, origin: Origin, parent: Ino, name: impl Into<OsString>) {
        self.publish(
            origin,
            Change::Entry {
                parent,
                name: name.into(),
            },
        );
    }

    /// Publishes that the inode `ino` changed.
    pub fn inode(&self, origin: Origin, ino: Ino) {
        self.publish(origin, Change::Inode { ino });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{lock, Mutex};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Origin, Change)>>);

    impl ChangeSink for Recorder {
        fn changed(&self, origin: Origin, change: &Change) {
            lock(&self.0).push((origin, change.clone()));
        }
    }

    #[test]
    fn every_subscriber_sees_each_change_in_order() {
        let events = Events::default();
        let a = Arc::new(Recorder::default());
        let b = Arc::new(Recorder::default());
        events.subscribe(a.clone());
        events.subscribe(b.clone());
        events.entry(Origin::Object, Ino(1), "x");
        events.inode(Origin::Fuse, Ino(7));
        let expected = vec![
            (
                Origin::Object,
                Change::Entry {
                    parent: Ino(1),
                    name: "x".into(),
                },
            ),
            (Origin::Fuse, Change::Inode { ino: Ino(7) }),
        ];
        assert_eq!(*lock(&a.0), expected);
        assert_eq!(*lock(&b.0), expected);
    }
}
