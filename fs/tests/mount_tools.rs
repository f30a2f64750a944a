//! Real programs on the mount: cp, tar, git, sqlite3, python3.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::Mnt;

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cp_and_tar_round_trip_a_tree() {
    let m = Mnt::new();
    let src = tempfile::tempdir_in("/tmp").unwrap();
    fs::create_dir_all(src.path().join("a/b")).unwrap();
    fs::write(src.path().join("a/b/file"), vec![42u8; 300_000]).unwrap();
    fs::write(src.path().join("a/small"), b"small").unwrap();
    std::os::unix::fs::symlink("b/file", src.path().join("a/link")).unwrap();
    let mnt = m.path("");
    sh(&mnt, &format!("cp -a {}/a ./copy", src.path().display()));
    sh(&mnt, "mkdir untar && tar cf - copy | tar xf - -C untar");
    sh(
        &mnt,
        &format!(
            "diff -r {}/a ./copy && diff -r ./copy ./untar/copy",
            src.path().display()
        ),
    );
    assert_eq!(
        fs::read(m.backing("untar/copy/b/file")).unwrap().len(),
        300_000
    );
    assert_eq!(
        fs::read_link(m.path("untar/copy/link")).unwrap(),
        Path::new("b/file")
    );
}

#[test]
fn git_init_add_and_commit_work() {
    let m = Mnt::new();
    let out = sh(
        &m.path(""),
        "git init -q repo && cd repo && git config user.email t@example.com && git config user.name T \
         && echo hello > a && mkdir d && echo x > d/b && git add . && git commit -qm first \
         && echo more >> a && git commit -qam second && git gc -q && git fsck --full 2>&1 && git log --oneline | wc -l",
    );
    assert!(out.trim().ends_with('2'), "{out}");
}

#[test]
fn sqlite3_creates_and_queries_a_database() {
    let m = Mnt::new();
    let out = sh(
        &m.path(""),
        "sqlite3 db.sqlite 'create table t(x); begin; insert into t values (1),(2),(3); commit; \
         pragma journal_mode=wal; insert into t select x+3 from t; select sum(x) from t; pragma integrity_check;'",
    );
    assert!(out.contains("21") && out.contains("ok"), "{out}");
}

#[test]
fn python3_reads_writes_renames_and_walks() {
    let m = Mnt::new();
    let script = r#"
import os, tempfile, hashlib
os.makedirs("p/q", exist_ok=True)
with open("p/q/f.bin", "wb") as f:
    f.write(os.urandom(1 << 20))
h = hashlib.sha256(open("p/q/f.bin", "rb").read()).hexdigest()
fd, tmp = tempfile.mkstemp(dir="p")
os.write(fd, b"atomic")
os.fsync(fd)
os.close(fd)
os.replace(tmp, "p/final")
assert open("p/final").read() == "atomic"
names = sorted(n for _, _, files in os.walk("p") for n in files)
assert names == ["f.bin", "final"], names
print(h)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(m.path(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let backing = fs::read(m.backing("p/q/f.bin")).unwrap();
    assert_eq!(backing.len(), 1 << 20);
    assert_eq!(digest.len(), 64);
}

#[test]
fn one_file_open_twice_shares_its_content() {
    let m = Mnt::new();
    fs::write(m.path("f"), b"aaaa").unwrap();
    let reader = fs::File::open(m.path("f")).unwrap();
    let writer = fs::OpenOptions::new()
        .write(true)
        .open(m.path("f"))
        .unwrap();
    nix::sys::uio::pwrite(&writer, b"bb", 1).unwrap();
    let mut buf = [0u8; 4];
    nix::sys::uio::pread(&reader, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"abba");
    let out = sh(&m.path(""), "cat f; echo; tail -c 2 f");
    assert_eq!(out, "abba\nba");
}
