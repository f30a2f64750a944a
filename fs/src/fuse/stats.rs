//! Per-operation counters of the FUSE adapter, read by the daemon's Prometheus endpoint.
//!
//! Plain relaxed atomics: counters are monotonic and read independently, so no ordering
//! between them is promised. Updating them never blocks a request.

use std::sync::atomic::{AtomicU64, Ordering};

/// The FUSE operations the adapter counts, in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Op {
    Lookup,
    Forget,
    Getattr,
    Setattr,
    Readlink,
    Mknod,
    Mkdir,
    Unlink,
    Rmdir,
    Symlink,
    Rename,
    Link,
    Open,
    Read,
    Write,
    Flush,
    Release,
    Fsync,
    Opendir,
    Readdir,
    Readdirplus,
    Releasedir,
    Fsyncdir,
    Statfs,
    Setxattr,
    Getxattr,
    Listxattr,
    Removexattr,
    Access,
    Create,
    Fallocate,
    Lseek,
    CopyFileRange,
}

/// Names of the operations, indexed by `Op as usize`.
pub const OP_NAMES: [&str; 33] = [
    "lookup",
    "forget",
    "getattr",
    "setattr",
    "readlink",
    "mknod",
    "mkdir",
    "unlink",
    "rmdir",
    "symlink",
    "rename",
    "link",
    "open",
    "read",
    "write",
    "flush",
    "release",
    "fsync",
    "opendir",
    "readdir",
    "readdirplus",
    "releasedir",
    "fsyncdir",
    "statfs",
    "setxattr",
    "getxattr",
    "listxattr",
    "removexattr",
    "access",
    "create",
    "fallocate",
    "lseek",
    "copy_file_range",
];

impl Op {
    /// The operation's name as used in metrics labels.
    pub fn name(self) -> &'static str {
        OP_NAMES[self as usize]
    }
}

/// Counters for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCount {
    pub op: &'static str,
    pub calls: u64,
    pub errors: u64,
}

/// Counters of the FUSE adapter.
#[derive(Debug)]
pub struct FuseStats {
    calls: [AtomicU64; OP_NAMES.len()],
    errors: [AtomicU64; OP_NAMES.len()],
    open_files: AtomicU64,
    open_dirs: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    passthrough_opens: AtomicU64,
    passthrough_fallbacks: AtomicU64,
    invalidations: AtomicU64,
    invalidations_skipped: AtomicU64,
    ring_requests: AtomicU64,
}

impl Default for FuseStats {
    fn default() -> Self {
        FuseStats {
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            open_files: AtomicU64::new(0),
            open_dirs: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            passthrough_opens: AtomicU64::new(0),
            passthrough_fallbacks: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            invalidations_skipped: AtomicU64::new(0),
            ring_requests: AtomicU64::new(0),
        }
    }
}

impl FuseStats {
    pub(crate) fn call(&self, op: Op) {
        self.calls[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, op: Op) {
        self.errors[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn file_opened(&self, passthrough: Option<bool>) {
        self.open_files.fetch_add(1, Ordering::Relaxed);
        match passthrough {
            Some(true) => self.passthrough_opens.fetch_add(1, Ordering::Relaxed),
            Some(false) => self.passthrough_fallbacks.fetch_add(1, Ordering::Relaxed),
            None => 0,
        };
    }

    pub(crate) fn file_closed(&self) {
        // Saturating: a release for a handle we never counted must not wrap around.
        let _ = self
            .open_files
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    pub(crate) fn dir_opened(&self) {
        self.open_dirs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dir_closed(&self) {
        // Saturating, as for files.
        let _ = self
            .open_dirs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Counts one object-side change pushed to the kernel (`sent`) or skipped because the
    /// kernel held nothing it could have cached.
    pub(crate) fn invalidation(&self, sent: bool) {
        let counter = if sent {
            &self.invalidations
        } else {
            &self.invalidations_skipped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ring_request(&self) {
        self.ring_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read_bytes(&self, n: usize) {
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn wrote_bytes(&self, n: usize) {
        self.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Calls and errors of every operation, in `OP_NAMES` order.
    pub fn ops(&self) -> Vec<OpCount> {
        OP_NAMES
            .iter()
            .enumerate()
            .map(|(i, op)| OpCount {
                op,
                calls: self.calls[i].load(Ordering::Relaxed),
                errors: self.errors[i].load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Files currently open through the mount.
    pub fn open_files(&self) -> u64 {
        self.open_files.load(Ordering::Relaxed)
    }

    /// Directories currently open through the mount.
    pub fn open_dirs(&self) -> u64 {
        self.open_dirs.load(Ordering::Relaxed)
    }

    /// Bytes read through the daemon (passthrough reads bypass it and are not counted).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Bytes written through the daemon (passthrough writes are not counted).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Opens served with kernel passthrough.
    pub fn passthrough_opens(&self) -> u64 {
        self.passthrough_opens.load(Ordering::Relaxed)
    }

    /// Opens that wanted passthrough but fell back to plain read/write.
    pub fn passthrough_fallbacks(&self) -> u64 {
        self.passthrough_fallbacks.load(Ordering::Relaxed)
    }

    /// Object-side changes pushed into the kernel's caches.
    pub fn invalidations(&self) -> u64 {
        self.invalidations.load(Ordering::Relaxed)
    }

    /// Object-side changes skipped because the kernel held no reference to the inode.
    pub fn invalidations_skipped(&self) -> u64 {
        self.invalidations_skipped.load(Ordering::Relaxed)
    }

    /// Requests that arrived over FUSE's io_uring transport rather than `/dev/fuse`.
    pub fn ring_requests(&self) -> u64 {
        self.ring_requests.load(Ordering::Relaxed)
    }
}
