//! Shared fixture of the mounted tests: a backing dir and a mount point in their own temp
//! dirs, a live mount, and unmount on drop (also when the test fails).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weka_fs::fuse::{MountOptions, Mounted};
use weka_fs::tree::Tree;
use weka_fs::Root;

pub struct Mnt {
    // Field order matters: the mount goes before the directories it uses.
    pub mounted: Option<Mounted>,
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
    }
}

/// Lets FUSE daemons ask for io_uring (`fuse.enable_uring`; it only allows them to ask).
/// The kernel of the test machines has the parameter (6.14+); a kernel without it fails
/// here rather than skip silently.
pub fn allow_uring() {
    let param = "/sys/module/fuse/parameters/enable_uring";
    std::fs::write(param, "Y").expect("fuse.enable_uring (Linux 6.14+) must be settable");
    assert_eq!(std::fs::read_to_string(param).unwrap().trim(), "Y");
}

/// Where temp dirs go: /tmp is ext4 here (user xattrs work).
pub fn scratch() -> &'static Path {
    Path::new("/tmp")
}

/// The errno of an io::Error.
pub fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}
