//! Basic operations through a real FUSE mount.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};

use common::{errno, Mnt};

#[test]
fn files_written_through_the_mount_land_in_the_backing_dir() {
    let m = Mnt::new();
    fs::write(m.path("a.txt"), b"hello").unwrap();
    assert_eq!(fs::read(m.backing("a.txt")).unwrap(), b"hello");
    assert_eq!(fs::read(m.path("a.txt")).unwrap(), b"hello");
    fs::create_dir(m.path("d")).unwrap();
    fs::rename(m.path("a.txt"), m.path("d/b.txt")).unwrap();
    let names: Vec<_> = fs::read_dir(m.path("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["b.txt"]);
    fs::remove_file(m.path("d/b.txt")).unwrap();
    fs::remove_dir(m.path("d")).unwrap();
    assert_eq!(errno(fs::metadata(m.path("d")).unwrap_err()), libc::ENOENT);
}

#[test]
fn passthrough_is_active_on_this_kernel() {
    let m = Mnt::new();
    assert!(m.mounted().passthrough_active());
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(m.path("p"))
        .unwrap();
    f.write_all(&vec![7u8; 1 << 20]).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 1 << 20);
    assert!(m.mounted().stats().passthrough_opens() >= 1);
}

/// Calls and errors of `op` so far.
fn op_count(m: &Mnt, op: &str) -> (u64, u64) {
    let ops = m.mounted().stats().ops();
    ops.iter()
        .find(|o| o.op == op)
        .map_or((0, 0), |o| (o.calls, o.errors))
}

#[test]
fn a_file_created_through_the_mount_is_opened_with_passthrough_by_create() {
    let m = Mnt::new();
    assert!(m.mounted().passthrough_active());
    let stats = m.mounted().stats();
    // Write-only (the daemon registers another descriptor as the backing file) and
    // read-write (the handle itself serves as the backing file).
    for (name, read) in [("wo", false), ("rw", true)] {
        let opens = stats.passthrough_opens();
        let mut f = fs::OpenOptions::new()
            .create_new(true)
            .read(read)
            .write(true)
            .open(m.path(name))
            .unwrap();
        assert_eq!(stats.passthrough_opens(), opens + 1, "{name}");
        f.write_all(b"straight to the backing file").unwrap();
        drop(f);
        assert_eq!(
            fs::read(m.backing(name)).unwrap(),
            b"straight to the backing file"
        );
        assert_eq!(
            fs::read(m.path(name)).unwrap(),
            b"straight to the backing file"
        );
    }
    // One CREATE per file, no MKNOD + OPEN fallback, and the data never went through the
    // daemon.
    assert_eq!(op_count(&m, "create"), (2, 0));
    assert_eq!(op_count(&m, "mknod"), (0, 0));
    assert_eq!(op_count(&m, "write").0, 0);
    assert_eq!(stats.bytes_written(), 0);
    assert_eq!(stats.passthrough_fallbacks(), 0);
}
