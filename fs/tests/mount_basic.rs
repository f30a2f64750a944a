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
