//! The inode table: FUSE inode number -> held `O_PATH` descriptor and lookup count.
//!
//! Invariants:
//! - An entry exists exactly while the kernel holds a reference (lookup count > 0), plus
//!   the root, which is never forgotten.
//! - Holding the descriptor keeps the backing inode alive, so its `st_ino` (our inode
//!   number) cannot be reused while the kernel may still name it.
//! - Every reply that hands an inode to the kernel (lookup, create, mkdir, mknod, symlink,
//!   link, each readdirplus entry) calls `remember` exactly once.
//!
//! This module performs no I/O beyond closing descriptors.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::root::Ino;
use crate::sync::{lock, Arc, Mutex};

struct Node {
    fd: Arc<OwnedFd>,
    nlookup: u64,
}

/// Number of shards; inode numbers spread evenly enough over them by their low bits.
const SHARDS: usize = 16;

/// The table of inodes the kernel knows.
pub(crate) struct Inodes {
    root: Option<Arc<OwnedFd>>,
    shards: Vec<Mutex<HashMap<u64, Node>>>,
}

impl Inodes {
    /// A table holding only the root (`None` when its descriptor could not be duplicated).
    pub(crate) fn new(root: Option<OwnedFd>) -> Inodes {
        Inodes {
            root: root.map(Arc::new),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ino: Ino) -> &Mutex<HashMap<u64, Node>> {
        &self.shards[(ino.0 as usize) % SHARDS]
    }

    /// The descriptor of a known inode.
    pub(crate) fn fd(&self, ino: Ino) -> Result<Arc<OwnedFd>> {
        if ino == Ino::ROOT {
            return self
                .root
                .clone()
                .ok_or_else(|| Error::from_errno(libc::EMFILE));
        }
        match lock(self.shard(ino)).get(&ino.0) {
            Some(node) => Ok(node.fd.clone()),
            None => Err(Error::StaleInode(ino.0)),
        }
    }

    /// Counts one more kernel reference to `ino`; `fd` is kept if the inode is new.
    pub(crate) fn remember(&self, ino: Ino, fd: OwnedFd) {
        if ino == Ino::ROOT {
            return;
        }
        let mut shard = lock(self.shard(ino));
        match shard.get_mut(&ino.0) {
            Some(node) => node.nlookup += 1,
            None => {
                shard.insert(
                    ino.0,
                    Node {
                        fd: Arc::new(fd),
                        nlookup: 1,
                    },
                );
            }
        }
    }

    /// Drops `n` kernel references; the entry goes when none is left.
    pub(crate) fn forget(&self, ino: Ino, n: u64) {
        if ino == Ino::ROOT {
            return;
        }
        let mut shard = lock(self.shard(ino));
        let Some(node) = shard.get_mut(&ino.0) else {
            return;
        };
        node.nlookup = node.nlookup.saturating_sub(n);
        if node.nlookup == 0 {
            shard.remove(&ino.0);
        }
    }

    /// The lookup count of `ino` (0 when unknown), for tests and diagnostics.
    pub(crate) fn nlookup(&self, ino: Ino) -> u64 {
        lock(self.shard(ino)).get(&ino.0).map_or(0, |n| n.nlookup)
    }

    /// How many inodes the kernel currently holds (the root not counted).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}
