//! Each start-up check stops wekad with a message that says what is wrong and how to fix it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use weka_e2e::{Daemon, DaemonOptions};

/// Starts a daemon expected to fail its start-up checks; returns its exit code and stderr.
fn start_failing(options: DaemonOptions) -> (Option<i32>, String) {
    let mut daemon = Daemon::start_with(options.no_wait());
    let status = daemon
        .wait_exit(Duration::from_secs(30))
        .expect("wekad should have exited");
    (status.code(), daemon.stderr())
}

#[test]
fn a_missing_fuse_device_says_to_install_fuse3() {
    let (code, stderr) =
        start_failing(DaemonOptions::default().env("WEKAD_FUSE_DEVICE", "/nonexistent/fuse"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/fuse is missing"), "{stderr}");
    assert!(stderr.contains("apt-get install -y fuse3"), "{stderr}");
}

#[test]
fn an_absent_fusermount3_says_to_install_fuse3() {
    let empty = tempfile::tempdir().unwrap();
    let (code, stderr) =
        start_failing(DaemonOptions::default().env("PATH", empty.path().to_str().unwrap()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("fusermount3 is not installed"), "{stderr}");
    assert!(stderr.contains("apt-get install -y fuse3"), "{stderr}");
}

#[test]
fn a_non_empty_mountpoint_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(mnt.join("precious.txt"), b"keep me").unwrap();
    let (code, stderr) = start_failing(
        DaemonOptions::default()
            .arg("--mount")
            .arg(mnt.to_str().unwrap()),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(std::fs::read(mnt.join("precious.txt")).unwrap(), b"keep me");
}

#[test]
fn an_already_mounted_mountpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    let _guard = weka_e2e::MountGuard::new(&mnt);
    let (code, stderr) = start_failing(
        DaemonOptions::default()
            .arg("--mount")
            .arg(mnt.to_str().unwrap()),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is already mounted"), "{stderr}");
    assert!(stderr.contains("fusermount3 -u"), "{stderr}");
}

#[test]
fn an_unwritable_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Root ignores permission bits; the immutable flag stops even root.
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(&data)
        .status()
        .unwrap();
    assert!(ok.success(), "chattr +i");
    let (code, stderr) = start_failing(
        DaemonOptions::default()
            .arg("--data")
            .arg(data.to_str().unwrap()),
    );
    let _ = Command::new("chattr").arg("-i").arg(&data).status();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is not writable"), "{stderr}");
    assert!(stderr.contains("chattr -i"), "{stderr}");
}

#[test]
fn a_port_in_use_names_the_port_and_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = start_failing(DaemonOptions::default().arg("--s3-listen").arg(&addr));
    assert_eq!(code, Some(1), "{stderr}");
    let port = addr.rsplit(':').next().unwrap();
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--s3-listen"), "{stderr}");
}

#[test]
fn a_data_directory_without_user_xattrs_is_refused() {
    // ramfs has no user.* extended attributes.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(ok.success(), "mount ramfs");
    let _guard = weka_e2e::MountGuard::new(&data);
    let (code, stderr) = start_failing(
        DaemonOptions::default()
            .arg("--data")
            .arg(data.to_str().unwrap()),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("does not support user extended attributes"),
        "{stderr}"
    );
    assert!(stderr.contains("user_xattr"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "the probe file is removed"
    );
}
