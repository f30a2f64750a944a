//! Mount lifecycle helpers: is FUSE usable here, what state a mount point is in, and
//! clearing a stale mount left by a crashed daemon.
//!
//! These read `/proc/self/mountinfo` and call `fusermount3` (or `umount2` as root); they
//! never touch the served tree.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::MntFlags;

use crate::error::{Error, Result};

/// The state of a mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountState {
    /// Nothing is mounted there.
    NotMounted,
    /// A live filesystem is mounted there.
    Mounted,
    /// A FUSE mount whose daemon is gone ("transport endpoint is not connected", or
    /// "connection aborted" while the kernel is still tearing down the io_uring queues
    /// of a daemon that was killed).
    Stale,
}

/// Checks that `/dev/fuse` can be opened and `fusermount3` is installed; the message says
/// what to install or fix.
pub fn check_fuse_available() -> std::result::Result<(), String> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("/dev/fuse is missing: load the fuse kernel module (`modprobe fuse`) or, in a container, \
                        pass the device through (`--device /dev/fuse --cap-add SYS_ADMIN`)"
                .into())
        }
        Err(e) => {
            return Err(format!(
                "/dev/fuse cannot be opened ({e}): run wekad as root or give its user read/write access to /dev/fuse"
            ))
        }
    }
    if find_on_path("fusermount3").is_none() {
        return Err("fusermount3 is not installed: install it with `apt-get install fuse3` (Debian/Ubuntu) \
                    or `dnf install fuse3` (Fedora)"
            .into());
    }
    Ok(())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether `path` is a mount point, and whether its filesystem still answers.
pub fn mount_state(path: &Path) -> MountState {
    if !is_mounted(path) {
        return MountState::NotMounted;
    }
    // `statfs`, not `stat`: right after the daemon died the kernel may still answer `stat`
    // from its attribute cache, whereas `statfs` always asks the (gone) daemon.
    match nix::sys::statfs::statfs(path) {
        Err(e) if is_stale_errno(e as i32) => MountState::Stale,
        _ => MountState::Mounted,
    }
}

/// The errors a FUSE mount whose daemon is gone answers with: ENOTCONN once the kernel
/// has closed the connection; ECONNABORTED or ECANCELED for requests caught while it ends
/// the io_uring queues of a killed daemon (both seen right after SIGKILL).
pub fn is_stale_errno(errno: i32) -> bool {
    errno == libc::ENOTCONN || errno == libc::ECONNABORTED || errno == libc::ECANCELED
}

/// True if `/proc/self/mountinfo` has a mount at `path` (compared after canonicalising
/// what can be canonicalised; a stale mount point cannot be).
pub fn is_mounted(path: &Path) -> bool {
    let want = absolute(path);
    let Ok(info) = std::fs::read("/proc/self/mountinfo") else {
        return false;
    };
    info.split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .any(|mp| unescape(mp) == want.as_os_str().as_bytes())
}

fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    // A stale mount point cannot be resolved itself; resolve its parent instead.
    match (
        path.parent().and_then(|p| p.canonicalize().ok()),
        path.file_name(),
    ) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => path.to_path_buf(),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                (field[i + 1] - b'0') * 64 + (field[i + 2] - b'0') * 8 + (field[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Clears a stale mount left at `path` by a daemon that died (lazy unmount).
pub fn clear_stale_mount(path: &Path) -> Result<()> {
    lazy_unmount(path)
}

/// Detaches the mount at `path` now; it goes away once nothing uses it any more.
pub fn lazy_unmount(path: &Path) -> Result<()> {
    let status = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(path)
        .output();
    if let Ok(out) = &status {
        if out.status.success() {
            return Ok(());
        }
    }
    umount(path, MntFlags::MNT_DETACH).map_err(|e| match status {
        Ok(out) if !out.stderr.is_empty() => Error::io_at(
            path,
            io::Error::new(
                e.kind(),
                format!(
                    "{e}; fusermount3: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
        ),
        _ => Error::io_at(path, e),
    })
}

/// `umount2(path, flags)`.
pub(crate) fn umount(path: &Path, flags: MntFlags) -> io::Result<()> {
    nix::mount::umount2(path, flags).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(b"/tmp/a\\040b"), b"/tmp/a b");
        assert_eq!(unescape(b"/plain"), b"/plain");
    }

    #[test]
    fn a_plain_directory_is_not_mounted() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(mount_state(dir.path()), MountState::NotMounted);
    }

    #[test]
    fn the_root_is_mounted() {
        assert_eq!(mount_state(Path::new("/")), MountState::Mounted);
    }
}
