//! Start-up checks: is this machine, this directory and this port fit to serve?
//!
//! Owns the messages an operator sees when wekad cannot start. Invariants: each check
//! either passes, fixes what it may safely fix (a stale FUSE mount left by a crash, a
//! missing mount point directory), or fails with the problem and the command or setting
//! that fixes it. Checks never delete data: a non-empty mount point is refused, not cleared.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The FUSE device; `WEKAD_FUSE_DEVICE` overrides it (tests of the missing-device message).
pub fn fuse_device() -> PathBuf {
    std::env::var_os("WEKAD_FUSE_DEVICE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/fuse"))
}

/// `/dev/fuse` is a character device and `fusermount3` is on PATH.
pub fn fuse_available(device: &Path) -> Result<()> {
    let is_char = std::fs::metadata(device).map(|m| m.file_type().is_char_device());
    match is_char {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::check(
                format!("{} is not a character device", device.display()),
                FUSE_HINT,
            ))
        }
        Err(e) => {
            return Err(Error::check(
                format!("{} is missing ({e})", device.display()),
                FUSE_HINT,
            ))
        }
    }
    if find_in_path("fusermount3").is_none() {
        return Err(Error::check(
            "fusermount3 is not installed (not found on PATH)",
            "apt-get install -y fuse3",
        ));
    }
    Ok(())
}

const FUSE_HINT: &str =
    "install FUSE with `apt-get install -y fuse3` and load the module with `modprobe fuse`; \
in a container, pass the device (docker run --device /dev/fuse --cap-add SYS_ADMIN)";

/// Finds an executable on PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What was found at the mount point before mounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountpointState {
    /// An empty directory (possibly just created).
    Ready,
    /// A stale FUSE mount (ENOTCONN or ECONNABORTED) was found and lazily unmounted.
    ClearedStale,
}

/// Makes sure `mount` is an empty directory nobody has mounted on, clearing a stale FUSE
/// mount left by a crashed daemon.
pub fn prepare_mountpoint(mount: &Path) -> Result<MountpointState> {
    let mut state = MountpointState::Ready;
    if let Err(e) = probe_mountpoint(mount) {
        match e.raw_os_error() {
            Some(errno) if weka_fs::fuse::is_stale_errno(errno) => {
                clear_stale_mount(mount)?;
                state = MountpointState::ClearedStale;
            }
            _ if e.kind() == ErrorKind::NotFound => create_mountpoint(mount)?,
            _ if e.kind() == ErrorKind::TimedOut => {
                return Err(Error::check(
                    format!(
                        "{} is mounted but its filesystem does not answer",
                        mount.display()
                    ),
                    format!(
                    "a wedged daemon holds it: stop that process, or run `fusermount3 -u -z {}`",
                    mount.display()
                ),
                ))
            }
            _ => {
                return Err(Error::check(
                    format!("cannot inspect mount point {}: {e}", mount.display()),
                    "check the path and its permissions",
                ))
            }
        }
    }
    refuse_busy_mountpoint(mount)?;
    Ok(state)
}

/// How long a mounted filesystem gets to answer `statfs` before it is called wedged.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `stat`, then `statfs` when something is mounted there. `stat` alone is not enough to
/// spot a FUSE mount whose daemon died: the kernel may answer it from its attribute cache
/// for a while, whereas `statfs` always asks the daemon, and fails with ENOTCONN once the
/// connection is gone. The `statfs` runs on its own thread so that a wedged filesystem
/// makes the check fail (TimedOut) instead of hanging the start.
fn probe_mountpoint(mount: &Path) -> std::io::Result<()> {
    std::fs::metadata(mount)?;
    if !is_mounted(mount) {
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let path = mount.to_path_buf();
    std::thread::spawn(move || {
        // The receiver is gone only after the timeout, when nobody wants the answer.
        let _ = tx.send(nix::sys::statfs::statfs(&path).map(drop));
    });
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(result) => result.map_err(std::io::Error::from),
        Err(_) => Err(ErrorKind::TimedOut.into()),
    }
}

fn create_mountpoint(mount: &Path) -> Result<()> {
    std::fs::create_dir_all(mount).map_err(|e| {
        Error::check(
            format!("cannot create mount point {}: {e}", mount.display()),
            "create it (mkdir -p) or choose another with --mount",
        )
    })
}

/// Lazily unmounts a stale mount (`fusermount3 -u -z`, then `umount -l` as a fallback).
pub fn clear_stale_mount(mount: &Path) -> Result<()> {
    tracing::warn!(mount = %mount.display(), "found a stale mount left by a crashed wekad (transport endpoint is not connected); unmounting it");
    if weka_fs::fuse::lazy_unmount(mount).is_ok() && std::fs::metadata(mount).is_ok() {
        return Ok(());
    }
    Err(Error::check(
        format!(
            "mount point {} holds a stale mount that could not be cleared",
            mount.display()
        ),
        format!(
            "run `fusermount3 -u -z {}` (or `umount -l`) as root, then start wekad again",
            mount.display()
        ),
    ))
}

fn refuse_busy_mountpoint(mount: &Path) -> Result<()> {
    if is_mounted(mount) {
        return Err(Error::check(
            format!("{} is already mounted (is another wekad running?)", mount.display()),
            format!("stop the other daemon, or unmount it with `fusermount3 -u {}`, or choose another --mount", mount.display()),
        ));
    }
    let mut entries = std::fs::read_dir(mount).map_err(|e| {
        Error::check(
            format!(
                "mount point {} is not a readable directory: {e}",
                mount.display()
            ),
            "point --mount at an empty directory",
        )
    })?;
    if entries.next().is_some() {
        return Err(Error::check(
            format!("mount point {} is not empty", mount.display()),
            "mounting over files would hide them: empty the directory or choose another with --mount (the served data lives in --data)",
        ));
    }
    Ok(())
}

/// True when `path` is a mount point listed in `/proc/self/mountinfo`.
pub fn is_mounted(path: &Path) -> bool {
    weka_fs::fuse::is_mounted(path)
}

/// The data directory exists (created if absent), is writable, and supports `user.` xattrs.
pub fn data_dir_usable(data: &Path) -> Result<()> {
    let not_writable = |e: std::io::Error| {
        Error::check(
            format!("data directory {} is not writable: {e}", data.display()),
            "fix its owner/permissions (chown/chmod), remove the immutable flag (chattr -i), or choose another with --data",
        )
    };
    std::fs::create_dir_all(data).map_err(not_writable)?;
    let probe = data.join(format!(".wekad-probe-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(not_writable)?;
    let xattrs = weka_fs::disk::probe_xattr(std::os::fd::AsFd::as_fd(&file));
    drop(file);
    std::fs::remove_file(&probe).map_err(not_writable)?;
    xattrs.map_err(|e| {
        Error::check(
            format!("the filesystem of {} does not support user extended attributes: {e}", data.display()),
            "wekad keeps ETags and object metadata in user.* xattrs: use ext4, xfs, btrfs or tmpfs, or mount with `user_xattr`",
        )
    })
}

/// Binds a TCP listener, turning "address in use" into an actionable message.
pub fn bind(addr: SocketAddr, what: &str, setting: &str) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => Error::check(
            format!("cannot listen for {what} on {addr}: port {} is already in use", addr.port()),
            format!("find the other process with `ss -ltnp 'sport = :{}'`, stop it, or change {setting}", addr.port()),
        ),
        ErrorKind::PermissionDenied => Error::check(
            format!("cannot listen for {what} on {addr}: permission denied"),
            format!("ports below 1024 need root or CAP_NET_BIND_SERVICE; change {setting}"),
        ),
        _ => Error::check(format!("cannot listen for {what} on {addr}: {e}"), format!("check {setting}")),
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::component("listener", e))?;
    Ok(listener)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit with cur <= max.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_fuse_device_says_how_to_install_fuse() {
        let err = fuse_available(Path::new("/nonexistent/fuse"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/fuse is missing"), "{err}");
        assert!(err.contains("apt-get install -y fuse3"), "{err}");
    }

    #[test]
    fn a_regular_file_is_not_a_fuse_device() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = fuse_available(f.path()).unwrap_err().to_string();
        assert!(err.contains("not a character device"), "{err}");
    }

    #[test]
    fn a_missing_mountpoint_is_created_and_a_non_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("a/mnt");
        assert_eq!(prepare_mountpoint(&mnt).unwrap(), MountpointState::Ready);
        assert!(mnt.is_dir());
        std::fs::write(mnt.join("x"), b"x").unwrap();
        let err = prepare_mountpoint(&mnt).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
    }

    #[test]
    fn a_mounted_path_is_refused_as_already_mounted() {
        let err = refuse_busy_mountpoint(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already mounted"), "{err}");
    }

    #[test]
    fn a_writable_data_dir_with_xattrs_passes_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        data_dir_usable(&data).unwrap();
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    }

    #[test]
    fn a_port_in_use_names_the_port_and_the_setting() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr, "S3", "s3.listen / --s3-listen")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("port {} is already in use", addr.port())),
            "{err}"
        );
        assert!(err.contains("--s3-listen"), "{err}");
    }

    #[test]
    fn the_nofile_limit_is_raised_to_the_hard_limit() {
        let soft = raise_nofile_limit().unwrap();
        assert!(soft >= 1024);
    }
}
