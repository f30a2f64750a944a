//! Opening files for a front end that may hand them to the kernel (FUSE passthrough).
//!
//! `Opener` owns the rules of passthrough: which opens go passthrough, one backing file
//! per inode, and what happens when the kernel refuses one. The front end owns only
//! the kernel side, through `OpenReply`: registering a descriptor (fuser's `BackingId`)
//! and answering.
//!
//! Rules:
//! - When the kernel accepted passthrough (`Opener::passthrough`), every open and create
//!   is offered to it. The kernel requires every passthrough open of one inode to use
//!   the same backing file, so the registration is per inode, counted by the handles
//!   using it, and goes with its last handle (`release`). An inode cannot be open both
//!   cached and passthrough at once (the kernel says ETXTBSY), so once registered, every
//!   later open of the inode shares it.
//! - The backing file is the new handle's own descriptor when it is plain read-write
//!   (`FileHandle::shareable_as_backing`), else another read-write (or read-only)
//!   descriptor of the inode, which opening may wait (a lease to break).
//! - If the kernel refuses a registration, the handle is served through the daemon.
//!
//! Invariant: the table is locked across registration and reply, so a racing release
//! cannot drop a registration the reply is about to name. This module never waits
//! inside the backing filesystem in `open_now` and `create_now` (the session thread's
//! calls): an open that would wait is handed back so the front end can retry it where
//! waiting is harmless (`open`, `create`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};

use super::attr::{Attr, Caller};
use super::Tree;
use crate::error::{Error, Result};
use crate::root::Ino;
use crate::sync::{lock, Arc, Mutex};

/// An open of an existing inode, with open(2) `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub ino: Ino,
    pub flags: i32,
    pub caller: Caller,
}

/// A create (or, without `O_EXCL`, an open) of `parent/name`, with open(2) `flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub parent: Ino,
    pub name: OsString,
    pub mode: u32,
    pub flags: i32,
    pub caller: Caller,
}

/// Why a handle is served through the daemon instead of by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThroughDaemon {
    /// The kernel did not accept passthrough for this mount.
    NoPassthrough,
    /// The kernel refused this inode's backing file.
    Refused,
}

/// The front end's answer to an open or a create.
pub trait OpenReply {
    /// The kernel's name for a registered backing file (fuser's `BackingId`); dropping
    /// it ends the registration.
    type Backing;
    /// What the answer carries besides the handle: nothing for an open, the new entry's
    /// attributes (one kernel reference) for a create.
    type Entry;
    /// Registers `fd` as a backing file with the kernel.
    fn register(&self, fd: BorrowedFd<'_>) -> std::io::Result<Self::Backing>;
    /// Answers with handle `fh`, read and written by the kernel on `backing`.
    fn passthrough(self, fh: u64, entry: Self::Entry, backing: &Self::Backing);
    /// Answers with handle `fh`, read and written through the daemon.
    fn through_daemon(self, fh: u64, entry: Self::Entry, why: ThroughDaemon);
    /// Answers with an error.
    fn error(self, err: Error);
}

/// Opens, creates and releases files for a front end, registering backing files with
/// the kernel when it accepted passthrough. `B` is the front end's `OpenReply::Backing`.
pub struct Opener<B> {
    tree: Arc<Tree>,
    /// None when the kernel did not accept passthrough.
    backings: Option<Mutex<Backings<B>>>,
}

/// Backing files registered for passthrough, per inode, with the handles using them.
struct Backings<B> {
    by_ino: HashMap<Ino, (B, usize)>,
    by_fh: HashMap<u64, Ino>,
}

impl<B> Backings<B> {
    /// Forgets the handle `fh`; the inode's registration goes with its last handle.
    fn release(&mut self, fh: u64) {
        let Some(ino) = self.by_fh.remove(&fh) else {
            return;
        };
        if let Some(entry) = self.by_ino.get_mut(&ino) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.by_ino.remove(&ino);
            }
        }
    }
}

/// Whether answering may open a second descriptor of the inode, which may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reopen {
    Allowed,
    WouldWait,
}

impl<B> Opener<B> {
    /// Serves every handle through the daemon.
    pub fn plain(tree: Arc<Tree>) -> Opener<B> {
        Opener {
            tree,
            backings: None,
        }
    }

    /// Offers every handle to the kernel for passthrough.
    pub fn passthrough(tree: Arc<Tree>) -> Opener<B> {
        let backings = Backings {
            by_ino: HashMap::new(),
            by_fh: HashMap::new(),
        };
        Opener {
            tree,
            backings: Some(Mutex::new(backings)),
        }
    }

    /// True if handles are offered to the kernel.
    fn offers_passthrough(&self) -> bool {
        self.backings.is_some()
    }

    /// Opens `open` without waiting inside the backing filesystem, and answers; hands
    /// `reply` back when the open would wait: for a lease held on the file, to truncate
    /// (`O_TRUNC`, which may free a large file's blocks), or, with passthrough, to open
    /// a second descriptor as the inode's backing file.
    pub fn open_now<R>(&self, open: &Open, reply: R) -> Option<R>
    where
        R: OpenReply<Backing = B, Entry = ()>,
    {
        if open.flags & libc::O_TRUNC != 0 {
            return Some(reply);
        }
        let share = self.offers_passthrough();
        match self
            .tree
            .open_without_waiting(open.ino, open.flags, share, open.caller)
        {
            Ok(Some(fh)) => self.answer(open.ino, fh, (), reply, Reopen::WouldWait),
            Ok(None) => Some(reply),
            Err(e) => {
                reply.error(e);
                None
            }
        }
    }

    /// Opens `open`, waiting if need be, and answers.
    pub fn open<R>(&self, open: &Open, reply: R)
    where
        R: OpenReply<Backing = B, Entry = ()>,
    {
        let share = self.offers_passthrough();
        match self.tree.open(open.ino, open.flags, share, open.caller) {
            // `Reopen::Allowed` always answers.
            Ok(fh) => drop(self.answer(open.ino, fh, (), reply, Reopen::Allowed)),
            Err(e) => reply.error(e),
        }
    }

    /// Creates a new file without waiting, and answers; hands `reply` back when the name
    /// exists and `flags` lack `O_EXCL`: opening it may wait (see `Tree::create_new`).
    pub fn create_now<R>(&self, create: &Create, reply: R) -> Option<R>
    where
        R: OpenReply<Backing = B, Entry = Attr>,
    {
        let (c, share) = (create, self.offers_passthrough());
        match self
            .tree
            .create_new(c.parent, &c.name, c.mode, c.flags, c.caller, share)
        {
            // A new file has no lease to break: a second descriptor of it does not wait.
            Ok(Some((attr, fh))) => self.answer(attr.ino, fh, attr, reply, Reopen::Allowed),
            Ok(None) => Some(reply),
            Err(e) => {
                reply.error(e);
                None
            }
        }
    }

    /// Creates or opens `create`, waiting if need be, and answers.
    pub fn create<R>(&self, create: &Create, reply: R)
    where
        R: OpenReply<Backing = B, Entry = Attr>,
    {
        let c = create;
        match self
            .tree
            .create(c.parent, &c.name, c.mode, c.flags, c.caller)
        {
            // `Reopen::Allowed` always answers.
            Ok((attr, fh)) => drop(self.answer(attr.ino, fh, attr, reply, Reopen::Allowed)),
            Err(e) => reply.error(e),
        }
    }

    /// Closes the handle `fh`, and its inode's backing registration with its last handle.
    /// The registration must outlive the kernel's use of it: it goes only now.
    pub fn release(&self, fh: u64) -> Result<()> {
        if let Some(backings) = &self.backings {
            lock(backings).release(fh);
        }
        self.tree.release(fh)
    }

    /// Answers for the new handle `fh` of `ino`: passthrough on the inode's backing file
    /// (registered now if it has none), or through the daemon. With `Reopen::WouldWait`,
    /// hands `reply` back (the handle closed again) instead of opening a second descriptor.
    fn answer<R>(&self, ino: Ino, fh: u64, entry: R::Entry, reply: R, reopen: Reopen) -> Option<R>
    where
        R: OpenReply<Backing = B>,
    {
        let Some(backings) = &self.backings else {
            reply.through_daemon(fh, entry, ThroughDaemon::NoPassthrough);
            return None;
        };
        // Locked across registration and reply so a racing release cannot drop the id.
        let mut table = lock(backings);
        if let Some((backing, users)) = table.by_ino.get_mut(&ino) {
            *users += 1;
            reply.passthrough(fh, entry, backing);
            table.by_fh.insert(fh, ino);
            return None;
        }
        let registered = match self.tree.file(fh) {
            Ok(handle) if handle.shareable_as_backing() => {
                reply.register(handle.fd()).map_err(Error::from)
            }
            Ok(_) if reopen == Reopen::WouldWait => {
                drop(table);
                // Just opened, so still in the table: closing it cannot fail.
                let _ = self.tree.release(fh);
                return Some(reply);
            }
            Ok(_) => self
                .tree
                .backing_fd(ino)
                .and_then(|fd| reply.register(fd.as_fd()).map_err(Error::from)),
            Err(e) => Err(e),
        };
        match registered {
            Ok(backing) => {
                reply.passthrough(fh, entry, &backing);
                table.by_ino.insert(ino, (backing, 1));
                table.by_fh.insert(fh, ino);
            }
            Err(e) => {
                tracing::debug!(fh, error = %e, "passthrough refused, serving the file through the daemon");
                reply.through_daemon(fh, entry, ThroughDaemon::Refused);
            }
        }
        None
    }
}
