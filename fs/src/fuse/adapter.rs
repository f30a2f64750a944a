//! The `fuser::Filesystem` implementation: converts arguments, makes one engine call,
//! converts the result into a reply.
//!
//! Engine rule or FUSE glue: whatever decides what happens to the tree or to a handle
//! (which set-ID bits a write or truncate clears, which readdirplus entries count as
//! lookups, which opens go passthrough and on which backing file) is an engine rule and
//! lives in `crate::tree`, tested without a kernel. The adapter keeps only what is about
//! the kernel's protocol: converting fuser types, choosing reply flags and TTLs, counting
//! stats, registering a descriptor with the kernel (fuser's `BackingId`, through the
//! engine's `OpenReply` seam) and choosing the thread a request runs on. A method may hand
//! the engine a reply to fill (`OpenReply`, `DirPlusReply`) when the engine decides what
//! goes into it; opens, creates and releases go through the engine's `Opener`, which owns
//! the passthrough registrations.
//!
//! Requests that only touch metadata on the local backing filesystem (lookup, forget,
//! getattr, setattr without a size, mknod, mkdir, unlink, rmdir, symlink, link, rename,
//! xattrs, access, statfs, release, readdir continuations) and buffered writes are
//! answered on the session thread: handing them to a worker costs a thread wake-up per
//! request, which dominated metadata latency, and a write would need a copy of its data.
//! Everything that may wait inside the backing filesystem (create and truncating opens,
//! which may wait for a lease held on the file or free a large file's blocks; read,
//! which may go to the disk; writes through an `O_SYNC` handle; opendir, the first
//! readdir, fsync, fsyncdir, fallocate, lseek, copy_file_range) runs on the worker pool,
//! so one slow request does not stall the mount. Other opens are tried on the session
//! thread with `O_NONBLOCK` and go to the pool only when they would wait.
//! `reply_error` is the one place that logs and counts an error.
//!
//! Kernel passthrough: when the kernel accepted `FUSE_PASSTHROUGH`, `open` and `create`
//! register the handle's backing descriptor and the kernel then reads and writes the
//! backing file itself. The rules (one registration per inode shared by all its opens,
//! `create` answering with one too, falling back to the daemon when the kernel refuses)
//! are `tree::Opener`'s; `OpenAnswer` and `CreateAnswer` do the registering and replying.
//!
//! Caching: files are opened with `FOPEN_KEEP_CACHE` and directories with
//! `FOPEN_CACHE_DIR`, so the kernel keeps pages and listings across opens, and entries
//! (negative ones too) and attributes are cached for `TTL`. That is safe because every
//! change the kernel did not make itself (the S3 door) is pushed to it by invalidation
//! (`inval.rs`), and `FUSE_AUTO_INVAL_DATA` drops pages whose file changed size or mtime
//! behind the daemon's back once the attributes expire.
//!
//! Set-ID bits: the mount takes `FUSE_HANDLE_KILLPRIV_V2`, so the daemon clears them
//! when an unprivileged caller opens a file for writing or with `O_TRUNC`, truncates it,
//! or writes to it through the daemon. The engine decides (`Tree::open`, `Tree::setattr`
//! with the caller, `Tree::write` with `SetIdBits` from the kernel's
//! `FUSE_WRITE_KILL_SUIDGID`).

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BackingId, BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle,
    FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request,
    TimeOrNow, WriteFlags,
};

use super::pool::Pool;
use super::stats::{FuseStats, Op};
use super::uring;
use crate::error::Error;
use crate::root::Ino;
use crate::sync::Arc;
use crate::tree::{
    Attr, Caller, Create, DirEntry, DirPlusReply, FileKind, Open, OpenReply, Opener, SetAttr,
    SetIdBits, ThroughDaemon, TimeSet, Tree,
};

/// How long the kernel may cache entries (negative ones included) and attributes. The
/// daemon owns the tree: changes made through the mount are the kernel's own, and every
/// change made through S3 is pushed to the kernel by invalidation before the S3 request
/// returns. So this only bounds how long a change made to the backing directory behind
/// the daemon's back stays unseen, and a long TTL saves a LOOKUP or GETATTR round trip
/// on most metadata calls.
const TTL: Duration = Duration::from_secs(30);

/// The generation sent with every entry: the engine keeps none (NFS export is not
/// offered), so it is always 0.
const GENERATION: Generation = Generation(0);

/// State shared between the adapter and the `Mounted` handle.
pub(crate) struct Shared {
    pub(crate) stats: Arc<FuseStats>,
    pub(crate) passthrough: AtomicBool,
    /// Set by INIT: the payload buffer each io_uring entry needs, 0 when the kernel
    /// was not asked for FUSE over io_uring (see `uring`).
    pub(crate) uring_payload: AtomicUsize,
    /// The io_uring queues registered and serve requests.
    pub(crate) uring: AtomicBool,
}

/// Which kernel features to ask INIT for, each used only if the kernel offers it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transport {
    pub(crate) passthrough: bool,
    pub(crate) io_uring: bool,
}

pub(crate) struct Adapter {
    tree: Arc<Tree>,
    pool: Pool,
    shared: Arc<Shared>,
    want: Transport,
    /// Opens, creates and releases files; offers them to the kernel for passthrough
    /// once INIT agreed on it.
    opener: Arc<Opener<BackingId>>,
}

impl Adapter {
    pub(crate) fn new(
        tree: Arc<Tree>,
        threads: usize,
        want: Transport,
        shared: Arc<Shared>,
    ) -> Adapter {
        Adapter {
            pool: Pool::new(threads),
            shared,
            want,
            opener: Arc::new(Opener::plain(tree.clone())),
            tree,
        }
    }

    /// Asks INIT for FUSE over io_uring when the kernel offers it (Linux 6.14+ with
    /// `fuse.enable_uring=Y`) and io_uring works here, and records the payload size
    /// the ring entries need. Writes are capped at 1 MiB (what 256 pages allow anyway)
    /// so that entries are not sized for fuser's 16 MiB default.
    fn ask_for_uring(&self, config: &mut KernelConfig) {
        if !config
            .capabilities()
            .contains(InitFlags::FUSE_OVER_IO_URING)
            || !uring::usable()
        {
            return;
        }
        let max_write = 1 << 20;
        if config.set_max_write(max_write).is_err() {
            return;
        }
        // fuser has no getter for the readahead the kernel proposed: set it to itself.
        let readahead = config.set_max_readahead(0).unwrap_or(0);
        let _ = config.set_max_readahead(readahead);
        if config
            .add_capabilities(InitFlags::FUSE_OVER_IO_URING)
            .is_ok()
        {
            let payload = uring::payload_len(max_write as usize, readahead as usize);
            self.shared.uring_payload.store(payload, Ordering::Relaxed);
        }
    }

    /// What a worker needs: the engine and the stats. Called first by every request.
    fn ctx(&self, op: Op) -> Ctx {
        self.shared.stats.call(op);
        Ctx {
            tree: self.tree.clone(),
            stats: self.shared.stats.clone(),
            op,
            span: tracing::Span::current(),
        }
    }
}

/// Engine, stats and tracing span of one request, movable to a worker.
struct Ctx {
    tree: Arc<Tree>,
    stats: Arc<FuseStats>,
    op: Op,
    span: tracing::Span,
}

impl Ctx {
    fn fail(&self, reply: impl ErrorReply, err: Error) {
        // Workers run outside the request's span: re-enter it so the log line has its fields.
        let _entered = self.span.enter();
        reply_error(&self.stats, self.op, reply, err);
    }

    fn empty(&self, reply: ReplyEmpty, result: crate::Result<()>) {
        match result {
            Ok(()) => reply.ok(),
            Err(e) => self.fail(reply, e),
        }
    }

    fn entry(&self, reply: ReplyEntry, result: crate::Result<Attr>) {
        match result {
            Ok(attr) => reply.entry(&TTL, &file_attr(&attr), GENERATION),
            Err(e) => self.fail(reply, e),
        }
    }
}

/// The reply types, as far as errors go.
trait ErrorReply {
    fn error(self, errno: i32);
}

macro_rules! error_reply {
    ($($t:ty),*) => {$(
        impl ErrorReply for $t {
            fn error(self, errno: i32) {
                <$t>::error(self, Errno::from_i32(errno))
            }
        }
    )*};
}

error_reply!(
    ReplyAttr,
    ReplyCreate,
    ReplyData,
    ReplyDirectory,
    ReplyDirectoryPlus,
    ReplyEmpty,
    ReplyEntry,
    ReplyLseek,
    ReplyOpen,
    ReplyStatfs,
    ReplyWrite,
    ReplyXattr
);

/// The one place that logs and counts a failed request.
fn reply_error(stats: &FuseStats, op: Op, reply: impl ErrorReply, err: Error) {
    let errno = err.errno();
    stats.error(op);
    match errno {
        libc::ENOENT
        | libc::EEXIST
        | libc::ENOTEMPTY
        | libc::ENOTDIR
        | libc::EISDIR
        | libc::EACCES
        | libc::EPERM
        | libc::ENODATA
        | libc::ENAMETOOLONG
        | libc::ERANGE
        | libc::EXDEV
        | libc::ENOSYS
        | libc::EINVAL => {
            tracing::debug!(op = op.name(), errno, error = %err, "request refused");
        }
        _ => tracing::warn!(op = op.name(), errno, error = %err, "request failed"),
    }
    reply.error(errno);
}

fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::Regular => FileType::RegularFile,
        FileKind::Directory => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Fifo => FileType::NamedPipe,
        FileKind::CharDevice => FileType::CharDevice,
        FileKind::BlockDevice => FileType::BlockDevice,
        FileKind::Socket => FileType::Socket,
    }
}

/// The FUSE form of engine attributes.
pub(crate) fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino.0),
        size: a.size,
        blocks: a.blocks,
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize: a.blksize,
        flags: 0,
    }
}

fn time_set(t: Option<TimeOrNow>) -> Option<TimeSet> {
    t.map(|t| match t {
        TimeOrNow::Now => TimeSet::Now,
        TimeOrNow::SpecificTime(at) => TimeSet::At(at),
    })
}

/// The engine's form of a FUSE inode number.
fn ino(ino: INodeNo) -> Ino {
    Ino(ino.0)
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let wanted = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_BIG_WRITES
            | InitFlags::FUSE_AUTO_INVAL_DATA;
        // FUSE_HANDLE_KILLPRIV_V2: the daemon, not the kernel, clears the set-ID bits on
        // write and truncate. In exchange the kernel marks the superblock `SB_NOSEC` and
        // stops asking `getxattr("security.capability")` before every write, which cost
        // one round trip per `write(2)`, passthrough writes included.
        let killpriv = InitFlags::FUSE_HANDLE_KILLPRIV_V2;
        for cap in [wanted, InitFlags::FUSE_MAX_PAGES, killpriv] {
            // A capability this kernel lacks is simply not used.
            let _ = config.add_capabilities(cap);
        }
        if self.want.io_uring {
            self.ask_for_uring(config);
        }
        if self.want.passthrough {
            let ok = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(1).is_ok();
            self.shared.passthrough.store(ok, Ordering::Relaxed);
            if ok {
                self.opener = Arc::new(Opener::passthrough(self.tree.clone()));
            }
        }
        // fuser 0.18 answers INIT inside `Session::new`, on the mounting thread: the
        // session thread gets its umask of 0 where `mount` starts it, not here.
        Ok(())
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = parent.0, name = ?name))]
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ctx = self.ctx(Op::Lookup);
        match ctx.tree.lookup(ino(parent), name) {
            // A negative entry (node id 0) the kernel may cache for the TTL: compilers and
            // interpreters probe many names that do not exist. S3 creations invalidate it.
            Err(e) if e.errno() == libc::ENOENT => reply.entry(&TTL, &EMPTY_ATTR, GENERATION),
            result => ctx.entry(reply, result),
        }
    }

    // `batch_forget` is left to fuser's default, which calls this once per node (and
    // fuser 0.18 does not export the type of its argument).
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.shared.stats.call(Op::Forget);
        self.tree.forget(self::ino(ino), nlookup);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let ctx = self.ctx(Op::Getattr);
        match ctx.tree.getattr(self::ino(ino)) {
            Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
            Err(e) => ctx.fail(reply, e),
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = ino.0))]
    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let ctx = self.ctx(Op::Setattr);
        let ino = self::ino(ino);
        let fh = fh.map(|fh| fh.0);
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: time_set(atime),
            mtime: time_set(mtime),
        };
        let who = caller(req);
        let run = move || match ctx.tree.setattr(ino, fh, &set, who) {
            Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
            Err(e) => ctx.fail(reply, e),
        };
        // Shrinking a large file frees its blocks, which may take a while.
        if size.is_some() {
            self.pool.spawn(run);
        } else {
            run();
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let ctx = self.ctx(Op::Readlink);
        match ctx.tree.readlink(self::ino(ino)) {
            Ok(target) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str())),
            Err(e) => ctx.fail(reply, e),
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = parent.0, name = ?name))]
    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let ctx = self.ctx(Op::Mknod);
        let made = ctx.tree.mknod(ino(parent), name, mode, rdev, caller(req));
        ctx.entry(reply, made);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = parent.0, name = ?name))]
    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let ctx = self.ctx(Op::Mkdir);
        ctx.entry(reply, ctx.tree.mkdir(ino(parent), name, mode, caller(req)));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = parent.0, name = ?name))]
    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let ctx = self.ctx(Op::Unlink);
        ctx.empty(reply, ctx.tree.unlink(ino(parent), name));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = parent.0, name = ?name))]
    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let ctx = self.ctx(Op::Rmdir);
        ctx.empty(reply, ctx.tree.rmdir(ino(parent), name));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = parent.0, name = ?link_name))]
    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let ctx = self.ctx(Op::Symlink);
        let made = ctx
            .tree
            .symlink(ino(parent), link_name, target, caller(req));
        ctx.entry(reply, made);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = parent.0, name = ?name))]
    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Rename);
        // The raw bits: the engine refuses flags it does not know with EINVAL.
        let flags = flags.bits();
        let renamed = ctx
            .tree
            .rename(ino(parent), name, ino(newparent), newname, flags);
        ctx.empty(reply, renamed);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let ctx = self.ctx(Op::Link);
        let linked = ctx.tree.link(self::ino(ino), self::ino(newparent), newname);
        ctx.entry(reply, linked);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = ino.0))]
    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let ctx = self.ctx(Op::Open);
        // The engine clears the set-ID bits when an unprivileged caller opens for change,
        // at once (see FUSE_HANDLE_KILLPRIV_V2): passthrough writes never reach the daemon.
        let open = Open {
            ino: self::ino(ino),
            flags: flags.0,
            caller: caller(req),
        };
        let reply = OpenAnswer {
            ctx,
            reply,
            flags: flags.0,
        };
        // An open can wait inside the backing filesystem (see `Opener::open_now`): it is
        // tried here on the session thread without waiting, and handed to a worker, which
        // may wait, only when it would have to.
        let opener = self.opener.clone();
        if let Some(reply) = opener.open_now(&open, reply) {
            self.pool.spawn(move || opener.open(&open, reply));
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let ctx = self.ctx(Op::Read);
        self.pool
            .spawn(move || match ctx.tree.read(fh.0, offset, size) {
                Ok(data) => {
                    ctx.stats.read_bytes(data.len());
                    reply.data(&data);
                }
                Err(e) => ctx.fail(reply, e),
            });
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let ctx = self.ctx(Op::Write);
        let fh = fh.0;
        // The kernel says the writer is unprivileged (see FUSE_HANDLE_KILLPRIV_V2).
        let setid = if write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            SetIdBits::Clear
        } else {
            SetIdBits::Keep
        };
        let run = move |data: &[u8]| match ctx.tree.write(fh, offset, data, setid) {
            Ok(n) => {
                ctx.stats.wrote_bytes(n);
                reply.written(n as u32);
            }
            Err(e) => ctx.fail(reply, e),
        };
        // A buffered write only copies into the page cache: done right here, from the
        // request buffer, it saves a copy of the data and a hand-off to a worker. A handle
        // opened O_SYNC/O_DSYNC waits for the disk, so its writes go to the pool.
        let sync = self.tree.file(fh).is_ok_and(|h| h.writes_synchronously());
        if sync {
            let data = data.to_vec();
            self.pool.spawn(move || run(&data));
        } else {
            run(data);
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Data is written through and locks are the kernel's, so close has nothing to
        // flush: ENOSYS makes the kernel stop sending FLUSH, saving a round trip per close.
        self.shared.stats.call(Op::Flush);
        reply.error(Errno::ENOSYS);
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Closing descriptors is quick: answered on the session thread.
        let ctx = self.ctx(Op::Release);
        ctx.stats.file_closed();
        ctx.empty(reply, self.opener.release(fh.0));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Fsync);
        self.pool
            .spawn(move || ctx.empty(reply, ctx.tree.fsync(fh.0, datasync)));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let ctx = self.ctx(Op::Opendir);
        self.pool
            .spawn(move || match ctx.tree.opendir(self::ino(ino)) {
                Ok(fh) => {
                    ctx.stats.dir_opened();
                    reply.opened(
                        FileHandle(fh),
                        FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
                    );
                }
                Err(e) => ctx.fail(reply, e),
            });
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        let ctx = self.ctx(Op::Readdir);
        let offset = dir_offset(offset);
        if offset == 0 {
            // Offset 0 reads the directory from disk; later offsets are normally served
            // from the handle's snapshot in memory, quick enough for the session thread.
            self.pool.spawn(move || readdir(&ctx, fh.0, offset, reply));
        } else {
            readdir(&ctx, fh.0, offset, reply);
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        let ctx = self.ctx(Op::Readdirplus);
        let offset = dir_offset(offset);
        self.pool.spawn(move || {
            let mut reply = reply;
            match ctx.tree.readdirplus(fh.0, offset, &mut reply) {
                Ok(()) => reply.ok(),
                Err(e) => ctx.fail(reply, e),
            }
        });
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Releasedir);
        ctx.stats.dir_closed();
        ctx.empty(reply, ctx.tree.releasedir(fh.0));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Fsyncdir);
        self.pool
            .spawn(move || ctx.empty(reply, ctx.tree.fsyncdir(fh.0, datasync)));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let ctx = self.ctx(Op::Statfs);
        match ctx.tree.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            ),
            Err(e) => ctx.fail(reply, e),
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0, name = ?name))]
    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Setxattr);
        ctx.empty(reply, ctx.tree.setxattr(self::ino(ino), name, value, flags));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0, name = ?name))]
    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let ctx = self.ctx(Op::Getxattr);
        match ctx.tree.getxattr(self::ino(ino), name, size) {
            Ok(value) if size == 0 => reply.size(value.len() as u32),
            Ok(value) => reply.data(&value),
            Err(e) => ctx.fail(reply, e),
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let ctx = self.ctx(Op::Listxattr);
        match ctx.tree.listxattr(self::ino(ino), size) {
            Ok(list) if size == 0 => reply.size(list.len() as u32),
            Ok(list) => reply.data(&list),
            Err(e) => ctx.fail(reply, e),
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0, name = ?name))]
    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let ctx = self.ctx(Op::Removexattr);
        ctx.empty(reply, ctx.tree.removexattr(self::ino(ino), name));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = ino.0))]
    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let ctx = self.ctx(Op::Access);
        ctx.empty(reply, ctx.tree.access(self::ino(ino), mask.bits()));
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = req.unique().0, pid = req.pid(), ino = parent.0, name = ?name))]
    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let ctx = self.ctx(Op::Create);
        let create = Create {
            parent: ino(parent),
            name: name.to_owned(),
            mode,
            flags,
            caller: caller(req),
        };
        let reply = CreateAnswer { ctx, reply, flags };
        // A new file is created here on the session thread: nothing about it can wait.
        // The name may exist by now (made through S3): the engine then opens it as `open`
        // does, clearing its set-ID bits for an unprivileged caller, on a worker, since
        // that open may wait for a lease or a truncate.
        let opener = self.opener.clone();
        if let Some(reply) = opener.create_now(&create, reply) {
            self.pool.spawn(move || opener.create(&create, reply));
        }
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let ctx = self.ctx(Op::Fallocate);
        self.pool.spawn(move || {
            let result = ctx.tree.fallocate(fh.0, offset, length, mode);
            ctx.empty(reply, result);
        });
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino.0))]
    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let ctx = self.ctx(Op::Lseek);
        self.pool
            .spawn(move || match ctx.tree.lseek(fh.0, offset, whence) {
                Ok(at) => reply.offset(at),
                Err(e) => ctx.fail(reply, e),
            });
    }

    #[tracing::instrument(level = "warn", skip_all, fields(req = _req.unique().0, pid = _req.pid(), ino = _ino_in.0))]
    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let ctx = self.ctx(Op::CopyFileRange);
        self.pool.spawn(move || {
            let result = ctx
                .tree
                .copy_file_range(fh_in.0, offset_in, fh_out.0, offset_out, len);
            match result {
                Ok(n) => reply.written(n.min(u32::MAX as usize) as u32),
                Err(e) => ctx.fail(reply, e),
            }
        });
    }
}

/// OPEN's reply, with the open(2) flags that choose how the kernel caches the file.
struct OpenAnswer {
    ctx: Ctx,
    reply: ReplyOpen,
    flags: i32,
}

impl OpenReply for OpenAnswer {
    type Backing = BackingId;
    type Entry = ();

    fn register(&self, fd: BorrowedFd<'_>) -> std::io::Result<BackingId> {
        self.reply.open_backing(fd)
    }

    fn passthrough(self, fh: u64, (): (), id: &BackingId) {
        // Counted before the reply: once answered, the caller may close it (a RELEASE) or
        // the daemon may be told to stop and ask how many files are open.
        self.ctx.stats.file_opened(Some(true));
        self.reply
            .opened_passthrough(FileHandle(fh), FopenFlags::empty(), id);
    }

    fn through_daemon(self, fh: u64, (): (), why: ThroughDaemon) {
        self.ctx.stats.file_opened(passthrough_stat(why));
        self.reply
            .opened(FileHandle(fh), daemon_open_flags(self.flags, why));
    }

    fn error(self, err: Error) {
        self.ctx.fail(self.reply, err);
    }
}

/// CREATE's reply, with the open(2) flags that choose how the kernel caches the file.
struct CreateAnswer {
    ctx: Ctx,
    reply: ReplyCreate,
    flags: i32,
}

impl OpenReply for CreateAnswer {
    type Backing = BackingId;
    type Entry = Attr;

    fn register(&self, fd: BorrowedFd<'_>) -> std::io::Result<BackingId> {
        self.reply.open_backing(fd)
    }

    fn passthrough(self, fh: u64, attr: Attr, id: &BackingId) {
        // Counted before the reply, as for OPEN.
        self.ctx.stats.file_opened(Some(true));
        let (attr, fh, fopen) = (file_attr(&attr), FileHandle(fh), FopenFlags::empty());
        self.reply
            .created_passthrough(&TTL, &attr, GENERATION, fh, fopen, id);
    }

    fn through_daemon(self, fh: u64, attr: Attr, why: ThroughDaemon) {
        self.ctx.stats.file_opened(passthrough_stat(why));
        let fopen = daemon_open_flags(self.flags, why);
        let (attr, fh) = (file_attr(&attr), FileHandle(fh));
        self.reply.created(&TTL, &attr, GENERATION, fh, fopen);
    }

    fn error(self, err: Error) {
        self.ctx.fail(self.reply, err);
    }
}

/// How the stats count a handle served through the daemon: `None` when the mount has
/// no passthrough, `Some(false)` when the kernel refused it.
fn passthrough_stat(why: ThroughDaemon) -> Option<bool> {
    match why {
        ThroughDaemon::NoPassthrough => None,
        ThroughDaemon::Refused => Some(false),
    }
}

/// The open flags of a handle served through the daemon: `plain_open_flags` on a mount
/// without passthrough; only `FOPEN_KEEP_CACHE` when the kernel refused passthrough.
fn daemon_open_flags(flags: i32, why: ThroughDaemon) -> FopenFlags {
    match why {
        ThroughDaemon::NoPassthrough => plain_open_flags(flags),
        ThroughDaemon::Refused => FopenFlags::FOPEN_KEEP_CACHE,
    }
}

/// How the kernel should treat a file opened through the daemon (no passthrough) with
/// open(2) `flags`: keep its cached pages across opens; and for a write-only handle, send
/// its writes straight from the caller's buffer (`FOPEN_DIRECT_IO`) instead of copying
/// them into the mount's page cache first. Those pages would be dropped anyway once the
/// new mtime is seen (`FUSE_AUTO_INVAL_DATA`), a write-only handle cannot be mapped, and
/// readers of the file stay coherent: the write invalidates the inode's attributes, so
/// their next read refreshes them and drops the stale pages.
fn plain_open_flags(flags: i32) -> FopenFlags {
    if flags & libc::O_ACCMODE == libc::O_WRONLY {
        FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_DIRECT_IO
    } else {
        FopenFlags::FOPEN_KEEP_CACHE
    }
}

/// The engine's form of a directory offset. The kernel passes back only offsets the
/// engine handed out (`DirEntry::next`, never negative), or 0 to start.
fn dir_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// The FUSE form of an engine directory offset (see `dir_offset`).
fn next_offset(next: i64) -> u64 {
    u64::try_from(next).unwrap_or(0)
}

/// Lists entries from `offset` on until the reply buffer is full.
fn readdir(ctx: &Ctx, fh: u64, offset: i64, mut reply: ReplyDirectory) {
    let result = ctx.tree.readdir(fh, offset, |e| {
        reply.add(
            INodeNo(e.ino.0),
            next_offset(e.next),
            file_type(e.kind),
            &e.name,
        )
    });
    match result {
        Ok(()) => reply.ok(),
        Err(e) => ctx.fail(reply, e),
    }
}

impl DirPlusReply for ReplyDirectoryPlus {
    fn add_dot(&mut self, e: &DirEntry) -> bool {
        // Only the type matters: the kernel takes no reference and caches nothing.
        let mut attr = FileAttr {
            ino: INodeNo(e.ino.0),
            kind: FileType::Directory,
            ..EMPTY_ATTR
        };
        attr.perm = 0o755;
        let (at, next) = (INodeNo(e.ino.0), next_offset(e.next));
        ReplyDirectoryPlus::add(self, at, next, &e.name, &Duration::ZERO, &attr, GENERATION)
    }

    fn add(&mut self, e: &DirEntry, attr: &Attr) -> bool {
        let (at, next) = (INodeNo(attr.ino.0), next_offset(e.next));
        ReplyDirectoryPlus::add(self, at, next, &e.name, &TTL, &file_attr(attr), GENERATION)
    }
}

const EMPTY_ATTR: FileAttr = FileAttr {
    ino: INodeNo(0),
    size: 0,
    blocks: 0,
    atime: SystemTime::UNIX_EPOCH,
    mtime: SystemTime::UNIX_EPOCH,
    ctime: SystemTime::UNIX_EPOCH,
    crtime: SystemTime::UNIX_EPOCH,
    kind: FileType::RegularFile,
    perm: 0,
    nlink: 0,
    uid: 0,
    gid: 0,
    rdev: 0,
    blksize: 0,
    flags: 0,
};
