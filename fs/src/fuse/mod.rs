//! The FUSE adapter: serves a `Tree` through a kernel FUSE mount.
//!
//! The only module that imports `fuser`. `mount` starts a session (mounting through the
//! mount syscall as root, or `fusermount3`), a worker pool, and an invalidator subscribed
//! to the change-event bus so S3 changes reach the kernel's caches at once. Requests come
//! over FUSE's io_uring transport, one queue per CPU (`uring`), when the kernel allows
//! it, else over `/dev/fuse`, read by fuser's session loop. The kernel checks
//! permissions (`default_permissions`); the engine creates files for the caller.
//!
//! Invariant: while a `Mounted` exists the mount is served; dropping it (or `unmount`)
//! unmounts, lazily if the mount is busy.

mod adapter;
mod inval;
pub mod mount;
mod pool;
pub mod stats;
mod uring;

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use fuser::{Config, MountOption, Session, SessionACL, SessionUnmounter, ThreadStart};

pub use mount::{
    check_fuse_available, clear_stale_mount, is_mounted, is_stale_errno, lazy_unmount, mount_state,
    MountState,
};
pub use stats::{FuseStats, Op, OpCount};

use crate::error::{Error, Result};
use crate::sync::Arc;
use crate::tree::Tree;
use adapter::{Adapter, Shared, Transport};

/// How to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Let users other than the daemon's see the mount (`allow_other`).
    pub allow_other: bool,
    /// Worker threads serving requests.
    pub threads: usize,
    /// Try kernel passthrough for open files (used when the kernel offers it).
    pub passthrough: bool,
    /// Take requests over FUSE's io_uring transport, one queue per CPU, when the kernel
    /// offers it (Linux 6.14+ with the `fuse` module's `enable_uring` parameter on).
    pub io_uring: bool,
    /// The source shown in `mount` output.
    pub fsname: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            threads: 8,
            passthrough: true,
            io_uring: true,
            fsname: "wekad".into(),
        }
    }
}

/// A live mount. Unmounts on drop.
pub struct Mounted {
    mountpoint: PathBuf,
    /// The thread running the session loop; `None` once unmounted.
    session: Option<JoinHandle<io::Result<()>>>,
    /// fuser's own unmount, taken out of the session (see `shutdown`).
    unmounter: SessionUnmounter,
    shared: Arc<Shared>,
    alive: Arc<AtomicBool>,
}

/// Mounts `tree` at `mountpoint` and serves it in the background.
pub fn mount(tree: Arc<Tree>, mountpoint: &Path, opts: &MountOptions) -> Result<Mounted> {
    let shared = Arc::new(Shared {
        stats: Arc::new(FuseStats::default()),
        passthrough: AtomicBool::new(false),
        uring_payload: AtomicUsize::new(0),
        uring: AtomicBool::new(false),
    });
    let want = Transport {
        passthrough: opts.passthrough,
        io_uring: opts.io_uring,
    };
    let adapter = Adapter::new(tree.clone(), opts.threads, want, shared.clone());
    // Mounts and answers the kernel's INIT before returning.
    let mut session = Session::new(adapter, mountpoint, &session_config(opts))
        .map_err(|e| Error::io_at(mountpoint, e))?;
    let unmounter = session.unmount_callable();
    let alive = Arc::new(AtomicBool::new(true));
    let invalidator = inval::Invalidator {
        notifier: session.notifier(),
        alive: alive.clone(),
        tree: Arc::downgrade(&tree),
        stats: shared.stats.clone(),
    };
    tree.root().events().subscribe(Arc::new(invalidator));
    let session =
        spawn_session(session, shared.clone()).map_err(|e| Error::io_at(mountpoint, e))?;
    let mounted = Mounted {
        mountpoint: mountpoint.to_path_buf(),
        session: Some(session),
        unmounter,
        shared,
        alive,
    };
    tracing::info!(
        mountpoint = %mountpoint.display(),
        passthrough = mounted.passthrough_active(),
        io_uring = mounted.io_uring_active(),
        "FUSE mount ready ({}; {})",
        if mounted.passthrough_active() { "kernel passthrough active" } else { "plain read/write through the daemon" },
        if mounted.io_uring_active() { "requests over io_uring, one queue per CPU" } else { "requests over /dev/fuse" },
    );
    if opts.io_uring && !mounted.io_uring_active() {
        hint_io_uring();
    }
    Ok(mounted)
}

/// Where the kernel says whether FUSE daemons may use io_uring (Linux 6.14+).
const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

/// Says how to turn on FUSE over io_uring when this kernel has it but does not allow it.
fn hint_io_uring() {
    if std::fs::read_to_string(ENABLE_URING).is_ok_and(|v| v.trim() == "N") {
        tracing::info!(
            "this kernel can take FUSE requests over io_uring (about 1.5x faster metadata calls) \
             but does not allow it: `echo Y > {ENABLE_URING}` before starting wekad, or \
             `options fuse enable_uring=1` in /etc/modprobe.d/"
        );
    }
}

fn session_config(opts: &MountOptions) -> Config {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(opts.fsname.clone()),
        MountOption::Subtype("wekad".into()),
        MountOption::DefaultPermissions,
        MountOption::RW,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::Exec,
    ];
    // `All` mounts with `allow_other`; `Owner` (fuser's default) refuses other users.
    // Several threads read /dev/fuse (see `pool::readers`); over io_uring they only get
    // FORGET and INTERRUPT.
    let (readers, pin) = pool::readers();
    config.n_threads = Some(readers);
    config.thread_start = Some(ThreadStart::new(move |i| pool::start_reader(i, pin)));
    config.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config
}

/// Runs the session loop on a thread of our own rather than `Session::spawn`'s, so that it
/// can take a umask of 0 first (see `pool`): the loop answers mknod, mkdir and friends on
/// its thread, and fuser's event-loop thread, started from this one, shares its umask.
///
/// When INIT agreed on FUSE over io_uring, the ring queues are registered before `mount`
/// returns (the kernel holds requests until they are), and their threads are joined with
/// the session's. `/dev/fuse` still carries FORGET and INTERRUPT.
fn spawn_session(
    session: Session<Adapter>,
    shared: Arc<Shared>,
) -> io::Result<JoinHandle<io::Result<()>>> {
    let payload = shared.uring_payload.load(Ordering::Relaxed);
    let dev = match payload {
        0 => None,
        _ => Some(session.as_fd().try_clone_to_owned()?),
    };
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("wekad-fuse-session".into())
        .spawn(move || {
            pool::own_umask();
            session.run_with(|dispatcher| {
                let threads = match dev {
                    Some(dev) => {
                        let (threads, result) = uring::start(&dispatcher, dev, payload, &shared.stats);
                        match result {
                            Ok(()) => shared.uring.store(true, Ordering::Relaxed),
                            Err(e) => tracing::warn!(error = %e, "FUSE over io_uring not available, serving requests over /dev/fuse"),
                        }
                        threads
                    }
                    None => Vec::new(),
                };
                let _ = started_tx.send(());
                Ok(threads)
            })
        })?;
    // Returns once the queues are registered (or were never asked for).
    let _ = started_rx.recv();
    Ok(thread)
}

impl Mounted {
    /// True when requests arrive over FUSE's io_uring transport (one queue per CPU)
    /// rather than `/dev/fuse` reads.
    pub fn io_uring_active(&self) -> bool {
        self.shared.uring.load(Ordering::Relaxed)
    }

    /// True when the kernel accepted FUSE passthrough: opened files are then read and
    /// written by the kernel directly on the backing files.
    pub fn passthrough_active(&self) -> bool {
        self.shared.passthrough.load(Ordering::Relaxed)
    }

    /// The adapter's counters.
    pub fn stats(&self) -> Arc<FuseStats> {
        self.shared.stats.clone()
    }

    /// Where the tree is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts; if the mount is busy, detaches it lazily (and says so in the log).
    pub fn unmount(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        self.alive.store(false, Ordering::Relaxed);
        let clean = match mount::umount(&self.mountpoint, nix::mount::MntFlags::empty()) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                tracing::warn!(mountpoint = %self.mountpoint.display(), "mount busy: unmounting lazily");
                mount::lazy_unmount(&self.mountpoint).map(|()| false)
            }
            Err(_) => mount::lazy_unmount(&self.mountpoint).map(|()| false),
        };
        // Left in the session, fuser's handle would unmount the path again whenever the
        // session loop ends, which after a lazy unmount may be much later, when something
        // else can be mounted there. Taken now, its second attempt is immediate, like the
        // one fuser 0.16 made when its background session was dropped here. The mount is
        // gone or detached by now, so that attempt fails (EINVAL) and means nothing.
        let _ = self.unmounter.unmount();
        if let Ok(true) = clean {
            // The kernel closed the connection, so the session loop ends now.
            // A session loop that failed has nothing left to clean up.
            let _ = session.join();
        }
        clean.map(drop)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(mountpoint = %self.mountpoint.display(), error = %e, "unmount failed");
        }
    }
}
