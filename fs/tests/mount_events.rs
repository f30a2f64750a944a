//! Changes published with `Origin::Object` (what the S3 door does) reach the kernel's
//! caches at once: no sleep between the change and reading it through the mount.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::{errno, Mnt};
use weka_fs::fuse::MountOptions;
use weka_fs::{Ino, Origin};

fn ino(m: &Mnt, rel: &str) -> Ino {
    Ino(fs::metadata(m.path(rel)).unwrap().ino())
}

fn check_new_content_is_seen(m: &Mnt) {
    fs::write(m.path("f"), b"old").unwrap();
    assert_eq!(fs::read(m.path("f")).unwrap(), b"old");
    let f = ino(m, "f");
    // Same inode, new bytes and a new size, changed behind the kernel's back.
    fs::write(m.backing("f"), b"new and longer").unwrap();
    m.tree.root().events().inode(Origin::Object, f);
    assert_eq!(fs::metadata(m.path("f")).unwrap().len(), 14);
    assert_eq!(fs::read(m.path("f")).unwrap(), b"new and longer");
}

#[test]
fn an_object_side_content_change_is_visible_at_once() {
    check_new_content_is_seen(&Mnt::new());
}

#[test]
fn an_object_side_content_change_is_visible_at_once_without_passthrough() {
    check_new_content_is_seen(&Mnt::with(MountOptions {
        passthrough: false,
        ..MountOptions::default()
    }));
}

#[test]
fn an_object_side_create_replaces_a_cached_negative_entry_at_once() {
    let m = Mnt::new();
    fs::create_dir(m.path("b")).unwrap();
    let bucket = ino(&m, "b");
    // The kernel caches "no such name" for the entry TTL (30 s); looking twice makes sure
    // the second answer can come from that cache.
    for _ in 0..2 {
        assert_eq!(
            errno(fs::metadata(m.path("b/later")).unwrap_err()),
            libc::ENOENT
        );
    }
    let lookups = || {
        m.mounted()
            .stats()
            .ops()
            .into_iter()
            .find(|o| o.op == "lookup")
            .unwrap()
            .calls
    };
    let before = lookups();
    assert!(fs::metadata(m.path("b/later")).is_err());
    assert_eq!(lookups(), before, "the negative entry is cached");
    fs::write(m.backing("b/later"), b"made by S3").unwrap();
    m.tree
        .root()
        .events()
        .entry(Origin::Object, bucket, "later");
    assert_eq!(fs::read(m.path("b/later")).unwrap(), b"made by S3");
}

#[test]
fn an_object_side_delete_and_create_are_visible_at_once() {
    let m = Mnt::new();
    fs::create_dir(m.path("b")).unwrap();
    fs::write(m.path("b/gone"), b"x").unwrap();
    assert!(fs::metadata(m.path("b/gone")).is_ok());
    let bucket = ino(&m, "b");
    fs::remove_file(m.backing("b/gone")).unwrap();
    m.tree.root().events().entry(Origin::Object, bucket, "gone");
    assert_eq!(
        errno(fs::metadata(m.path("b/gone")).unwrap_err()),
        libc::ENOENT
    );
    // A replaced entry (new inode under the old name) shows the new inode.
    fs::write(m.path("b/k"), b"one").unwrap();
    let listed: Vec<_> = fs::read_dir(m.path("b"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listed, vec!["k"]);
    let before = ino(&m, "b/k");
    fs::write(m.backing(".wekad/tmp"), b"two!").unwrap();
    fs::rename(m.backing(".wekad/tmp"), m.backing("b/k")).unwrap();
    m.tree.root().events().entry(Origin::Object, bucket, "k");
    assert_ne!(ino(&m, "b/k"), before);
    assert_eq!(fs::read(m.path("b/k")).unwrap(), b"two!");
    let names: Vec<_> = fs::read_dir(m.path("b"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["k"]);
}

#[test]
fn fuse_side_changes_are_published_for_the_object_view() {
    use std::sync::Mutex;
    #[derive(Default)]
    struct Rec(Mutex<Vec<weka_fs::Change>>);
    impl weka_fs::ChangeSink for Rec {
        fn changed(&self, origin: Origin, change: &weka_fs::Change) {
            assert_eq!(origin, Origin::Fuse);
            self.0.lock().unwrap().push(change.clone());
        }
    }
    let m = Mnt::new();
    let rec = std::sync::Arc::new(Rec::default());
    m.tree.root().events().subscribe(rec.clone());
    fs::write(m.path("f"), b"x").unwrap();
    let f = ino(&m, "f");
    let seen = rec.0.lock().unwrap().clone();
    assert!(
        seen.contains(&weka_fs::Change::Entry {
            parent: Ino::ROOT,
            name: "f".into()
        }),
        "{seen:?}"
    );
    assert!(
        seen.contains(&weka_fs::Change::Inode { ino: f }),
        "{seen:?}"
    );
}

/// An S3 PUT replaces a file by renaming a new inode over the name: a descriptor opened
/// before keeps reading the old bytes, a new open reads the new ones.
#[test]
fn an_open_descriptor_keeps_the_old_content_after_an_object_side_replace() {
    use std::io::Read;
    let m = Mnt::new();
    fs::write(m.path("k"), b"version one").unwrap();
    let mut before = fs::File::open(m.path("k")).unwrap();
    fs::write(m.backing(".wekad/put-tmp"), b"version two!").unwrap();
    fs::rename(m.backing(".wekad/put-tmp"), m.backing("k")).unwrap();
    m.tree.root().events().entry(Origin::Object, Ino::ROOT, "k");
    let mut old = String::new();
    before.read_to_string(&mut old).unwrap();
    assert_eq!(old, "version one");
    assert_eq!(fs::read(m.path("k")).unwrap(), b"version two!");
}

#[test]
fn a_change_under_a_directory_the_kernel_never_saw_costs_no_kernel_call() {
    let m = Mnt::new();
    // Made on the backing side: the kernel has never been handed this directory.
    fs::create_dir(m.backing("unseen")).unwrap();
    let unseen = Ino(fs::metadata(m.backing("unseen")).unwrap().ino());
    let stats = m.mounted().stats();
    let (sent, skipped) = (stats.invalidations(), stats.invalidations_skipped());
    fs::write(m.backing("unseen/f"), b"one").unwrap();
    m.tree.root().events().entry(Origin::Object, unseen, "f");
    assert_eq!(stats.invalidations(), sent);
    assert_eq!(stats.invalidations_skipped(), skipped + 1);
    // Nothing was cached, so the mount shows the change anyway.
    assert_eq!(fs::read(m.path("unseen/f")).unwrap(), b"one");
    // Now the kernel holds the directory and caches the entry: the next change is pushed.
    fs::write(m.backing("unseen/f"), b"two, longer").unwrap();
    let f = ino(&m, "unseen/f");
    m.tree.root().events().inode(Origin::Object, f);
    m.tree.root().events().entry(Origin::Object, unseen, "f");
    assert_eq!(stats.invalidations(), sent + 2);
    assert_eq!(fs::read(m.path("unseen/f")).unwrap(), b"two, longer");
}
