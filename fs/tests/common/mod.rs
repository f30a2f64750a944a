//! Shared fixture of the mounted tests: a backing dir and a mount point in their own temp
//! dirs, a live mount, and unmount on drop (also when the test fails); the permission to
//! use FUSE over io_uring, given back when the last test of the process that needed it
//! ends; and `wait_for`, to wait on a condition instead of sleeping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use weka_fs::fuse::{MountOptions, Mounted};
use weka_fs::tree::Tree;
use weka_fs::Root;

pub struct Mnt {
    // Field order matters: the mount goes before the directories it uses.
    pub mounted: Option<Mounted>,
    /// Held by mounts over io_uring ([`Mnt::over_uring`]) until they are unmounted.
    pub uring: Option<UringAllowed>,
    pub tree: Arc<Tree>,
    pub mnt: tempfile::TempDir,
    pub backing: tempfile::TempDir,
}

impl Mnt {
    pub fn new() -> Mnt {
        Mnt::with(MountOptions {
            threads: 4,
            ..MountOptions::default()
        })
    }

    /// A mount with `opts` while io_uring is allowed ([`allow_uring`]); the permission is
    /// given back after the unmount.
    pub fn over_uring(opts: MountOptions) -> Mnt {
        let uring = allow_uring();
        let mut m = Mnt::with(opts);
        m.uring = Some(uring);
        m
    }

    pub fn with(opts: MountOptions) -> Mnt {
        let backing = tempfile::Builder::new()
            .prefix("wekad-backing")
            .tempdir_in(scratch())
            .unwrap();
        let mnt = tempfile::Builder::new()
            .prefix("wekad-mnt")
            .tempdir_in(scratch())
            .unwrap();
        let root = Arc::new(Root::open(backing.path()).unwrap());
        let tree = Arc::new(Tree::new(root));
        let mounted = weka_fs::fuse::mount(tree.clone(), mnt.path(), &opts).unwrap();
        Mnt {
            mounted: Some(mounted),
            uring: None,
            tree,
            mnt,
            backing,
        }
    }

    /// A path on the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.mnt.path().to_path_buf()
        } else {
            self.mnt.path().join(rel)
        }
    }

    /// The same path in the backing directory.
    pub fn backing(&self, rel: &str) -> PathBuf {
        self.backing.path().join(rel)
    }

    pub fn mounted(&self) -> &Mounted {
        self.mounted.as_ref().unwrap()
    }
}

impl Drop for Mnt {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            let _ = m.unmount();
        }
        // Only now that the mount is gone may io_uring be disallowed again.
        drop(self.uring.take());
    }
}

/// The kernel parameter that lets FUSE daemons ask for io_uring (Linux 6.14+).
const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

/// How many [`UringAllowed`] guards of this process are alive, and the value
/// `ENABLE_URING` had before the first of them set it.
static URING_HOLDERS: Mutex<(usize, Option<String>)> = Mutex::new((0, None));

/// Lets FUSE daemons ask for io_uring (`fuse.enable_uring`; it only allows them to ask)
/// while the returned guard lives. Keep it until the mounts that need the transport are
/// gone. The kernel of the test machines has the parameter (6.14+); a kernel without it
/// fails here rather than skip silently.
pub fn allow_uring() -> UringAllowed {
    let mut holders = URING_HOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
    if holders.0 == 0 {
        let before = std::fs::read_to_string(ENABLE_URING)
            .expect("fuse.enable_uring (Linux 6.14+) must be readable");
        std::fs::write(ENABLE_URING, "Y")
            .expect("fuse.enable_uring (Linux 6.14+) must be settable");
        holders.1 = Some(before.trim().to_owned());
    }
    holders.0 += 1;
    assert_eq!(std::fs::read_to_string(ENABLE_URING).unwrap().trim(), "Y");
    UringAllowed(())
}

/// Gives `fuse.enable_uring` back the value it had before [`allow_uring`] when the last
/// guard of the process is dropped, also when the test panicked.
///
/// Tests run in parallel threads, so the guards are counted: restoring the value while
/// another test still mounts over io_uring would quietly move that test to /dev/fuse.
/// (A connection that agreed on io_uring at INIT keeps it: the kernels we test on check
/// the parameter only for the others.)
pub struct UringAllowed(());

impl Drop for UringAllowed {
    fn drop(&mut self) {
        let mut holders = URING_HOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        holders.0 -= 1;
        if holders.0 > 0 {
            return;
        }
        if let Some(before) = holders.1.take() {
            if let Err(e) = std::fs::write(ENABLE_URING, &before) {
                // Panicking in a drop during unwinding would abort and hide the test's
                // own failure: say it instead.
                eprintln!("could not restore {ENABLE_URING} to {before}: {e}");
            }
        }
    }
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns whether it held.
/// The timeout only bounds a wait for something that happens on its own (a FORGET, a
/// lease break): tests never assert on how long it took.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Where temp dirs go: /tmp is ext4 here (user xattrs work).
pub fn scratch() -> &'static Path {
    Path::new("/tmp")
}

/// The errno of an io::Error.
pub fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}
