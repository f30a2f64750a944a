//! Every operation through a real FUSE mount, with its error cases.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::ffi::CString;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{errno, Mnt};
use weka_fs::fuse::MountOptions;

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

#[test]
fn lookup_and_getattr_report_backing_inode_numbers_and_sizes() {
    let m = Mnt::new();
    fs::write(m.backing("f"), b"12345").unwrap();
    let md = fs::metadata(m.path("f")).unwrap();
    assert_eq!(md.len(), 5);
    assert_eq!(md.ino(), fs::metadata(m.backing("f")).unwrap().ino());
    assert_eq!(fs::metadata(m.path("")).unwrap().ino(), 1);
}

#[test]
fn missing_entries_say_enoent() {
    let m = Mnt::new();
    assert_eq!(
        errno(fs::metadata(m.path("nope")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(errno(fs::read(m.path("nope")).unwrap_err()), libc::ENOENT);
    assert_eq!(
        errno(fs::remove_file(m.path("nope")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno(fs::remove_dir(m.path("nope")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno(fs::rename(m.path("nope"), m.path("x")).unwrap_err()),
        libc::ENOENT
    );
}

#[test]
fn existing_entries_say_eexist() {
    let m = Mnt::new();
    fs::create_dir(m.path("d")).unwrap();
    fs::write(m.path("f"), b"").unwrap();
    assert_eq!(
        errno(fs::create_dir(m.path("d")).unwrap_err()),
        libc::EEXIST
    );
    let excl = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(m.path("f"));
    assert_eq!(errno(excl.unwrap_err()), libc::EEXIST);
    assert_eq!(
        errno(std::os::unix::fs::symlink("x", m.path("f")).unwrap_err()),
        libc::EEXIST
    );
    assert_eq!(
        errno(fs::hard_link(m.path("f"), m.path("d")).unwrap_err()),
        libc::EEXIST
    );
}

#[test]
fn directory_shape_errors_have_their_errno() {
    let m = Mnt::new();
    fs::create_dir(m.path("d")).unwrap();
    fs::write(m.path("d/x"), b"").unwrap();
    fs::write(m.path("f"), b"").unwrap();
    assert_eq!(
        errno(fs::remove_dir(m.path("d")).unwrap_err()),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::remove_file(m.path("d")).unwrap_err()),
        libc::EISDIR
    );
    assert_eq!(
        errno(fs::remove_dir(m.path("f")).unwrap_err()),
        libc::ENOTDIR
    );
    assert_eq!(
        errno(fs::metadata(m.path("f/x")).unwrap_err()),
        libc::ENOTDIR
    );
    assert_eq!(
        errno(fs::write(m.path("d"), b"").unwrap_err()),
        libc::EISDIR
    );
    fs::create_dir(m.path("e")).unwrap();
    fs::write(m.path("e/y"), b"").unwrap();
    assert_eq!(
        errno(fs::rename(m.path("e"), m.path("d")).unwrap_err()),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::rename(m.path("f"), m.path("d")).unwrap_err()),
        libc::EISDIR
    );
    assert_eq!(
        errno(fs::rename(m.path("d"), m.path("f")).unwrap_err()),
        libc::ENOTDIR
    );
}

#[test]
fn names_longer_than_255_bytes_say_enametoolong() {
    let m = Mnt::new();
    let long = "n".repeat(256);
    assert_eq!(
        errno(fs::write(m.path(&long), b"").unwrap_err()),
        libc::ENAMETOOLONG
    );
    assert_eq!(
        errno(fs::create_dir(m.path(&long)).unwrap_err()),
        libc::ENAMETOOLONG
    );
    assert_eq!(
        errno(fs::metadata(m.path(&long)).unwrap_err()),
        libc::ENAMETOOLONG
    );
    fs::write(m.path(&long[..255]), b"ok").unwrap();
}

#[test]
fn internal_area_is_invisible_and_untouchable_through_the_mount() {
    let m = Mnt::new();
    fs::write(m.backing(".wekad/secret"), b"s").unwrap();
    assert_eq!(
        errno(fs::metadata(m.path(".wekad")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno(fs::read(m.path(".wekad/secret")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno(fs::create_dir(m.path(".wekad")).unwrap_err()),
        libc::EPERM
    );
    assert_eq!(
        errno(fs::write(m.path(".wekad"), b"").unwrap_err()),
        libc::EPERM
    );
    fs::create_dir(m.path("d")).unwrap();
    assert_eq!(
        errno(fs::rename(m.path("d"), m.path(".wekad")).unwrap_err()),
        libc::EPERM
    );
    let names: Vec<_> = fs::read_dir(m.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["d"]);
    // Only at the top: a `.wekad` further down is an ordinary name.
    fs::create_dir(m.path("d/.wekad")).unwrap();
}

#[test]
fn setattr_changes_mode_owner_size_and_times() {
    let m = Mnt::new();
    let p = m.path("f");
    fs::write(&p, b"0123456789").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
    std::os::unix::fs::chown(&p, Some(1000), Some(1001)).unwrap();
    let md = fs::metadata(m.backing("f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 1001));
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(3)
        .unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"012");
    nix::unistd::truncate(&p, 6).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"012\0\0\0");
    let times = [
        libc::timespec {
            tv_sec: 1_000_000,
            tv_nsec: 5,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    ];
    // SAFETY: valid path and timespec array.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c(&p).as_ptr(), times.as_ptr(), 0) },
        0
    );
    let md = fs::metadata(&p).unwrap();
    assert_eq!((md.atime(), md.atime_nsec()), (1_000_000, 5));
    let mtime = md.mtime();
    assert!(mtime > 1_000_000, "UTIME_OMIT left mtime alone");
    let now = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c(&p).as_ptr(), now.as_ptr(), 0) },
        0
    );
    assert_eq!(
        fs::metadata(&p).unwrap().atime(),
        1_000_000,
        "UTIME_OMIT left atime alone"
    );
}

#[test]
fn symlinks_hard_links_and_special_files_work() {
    let m = Mnt::new();
    fs::write(m.path("t"), b"target").unwrap();
    std::os::unix::fs::symlink("t", m.path("s")).unwrap();
    assert_eq!(fs::read_link(m.path("s")).unwrap(), Path::new("t"));
    assert_eq!(fs::read(m.path("s")).unwrap(), b"target");
    assert!(fs::symlink_metadata(m.path("s"))
        .unwrap()
        .file_type()
        .is_symlink());
    fs::hard_link(m.path("t"), m.path("h")).unwrap();
    assert_eq!(fs::metadata(m.path("t")).unwrap().nlink(), 2);
    assert_eq!(
        fs::metadata(m.path("h")).unwrap().ino(),
        fs::metadata(m.path("t")).unwrap().ino()
    );
    nix::unistd::mkfifo(
        &m.path("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert!(fs::metadata(m.backing("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn rename_noreplace_and_exchange_are_honoured() {
    let m = Mnt::new();
    fs::write(m.path("a"), b"A").unwrap();
    fs::write(m.path("b"), b"B").unwrap();
    let (a, b) = (c(&m.path("a")), c(&m.path("b")));
    let rename2 = |flags| {
        // SAFETY: valid C strings.
        unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                flags,
            )
        }
    };
    assert_eq!(rename2(libc::RENAME_NOREPLACE), -1);
    assert_eq!(last_errno(), libc::EEXIST);
    assert_eq!(rename2(libc::RENAME_EXCHANGE), 0);
    assert_eq!(fs::read(m.path("a")).unwrap(), b"B");
    assert_eq!(fs::read(m.path("b")).unwrap(), b"A");
    fs::rename(m.path("a"), m.path("b")).unwrap();
    assert_eq!(fs::read(m.path("b")).unwrap(), b"B");
}

#[test]
fn open_flags_excl_trunc_and_append_behave_as_locally() {
    check_open_flags(&Mnt::new());
}

#[test]
fn open_flags_excl_trunc_and_append_behave_as_locally_through_create() {
    // CREATE answered without a passthrough backing file (`check_open_flags` through the
    // default mount covers CREATE with one).
    let m = Mnt::with(MountOptions {
        passthrough: false,
        ..MountOptions::default()
    });
    check_open_flags(&m);
    assert!(m
        .mounted()
        .stats()
        .ops()
        .iter()
        .any(|o| o.op == "create" && o.calls > 0 && o.errors == 0));
}

fn check_open_flags(m: &Mnt) {
    let p = m.path("f");
    fs::write(&p, b"hello").unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b" world").unwrap();
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"hello world");
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"");
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(m.path("new"))
        .unwrap();
    assert_eq!(f.metadata().unwrap().mode() & 0o777, 0o600);
}

#[test]
fn unlink_while_open_keeps_data_readable_and_writable() {
    let m = Mnt::new();
    let p = m.path("f");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    f.write_all(b"still here").unwrap();
    fs::remove_file(&p).unwrap();
    assert_eq!(errno(fs::metadata(&p).unwrap_err()), libc::ENOENT);
    f.write_all(b"!").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here!");
    assert_eq!(f.metadata().unwrap().nlink(), 0);
}

#[test]
fn user_xattrs_work_and_private_ones_are_hidden() {
    let m = Mnt::new();
    let p = m.path("f");
    fs::write(&p, b"x").unwrap();
    let cp = c(&p);
    let set = |name: &std::ffi::CStr, v: &[u8]| {
        // SAFETY: valid strings and buffer.
        unsafe { libc::setxattr(cp.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) }
    };
    assert_eq!(set(c"user.color", b"blue"), 0);
    assert_eq!(set(c"user.wekad.etag", b"forged"), -1);
    assert_eq!(last_errno(), libc::EPERM);
    let cb = c(&m.backing("f"));
    // SAFETY: valid strings and buffer.
    unsafe {
        libc::setxattr(
            cb.as_ptr(),
            c"user.wekad.etag".as_ptr(),
            b"e".as_ptr().cast(),
            1,
            0,
        )
    };
    let mut buf = [0u8; 256];
    // SAFETY: buffer valid for its length.
    let n = unsafe { libc::listxattr(cp.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(&buf[..n as usize], b"user.color\0");
    // SAFETY: as above.
    let n = unsafe {
        libc::getxattr(
            cp.as_ptr(),
            c"user.color".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..n as usize], b"blue");
    // SAFETY: as above.
    let n = unsafe {
        libc::getxattr(
            cp.as_ptr(),
            c"user.wekad.etag".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!((n, last_errno()), (-1, libc::ENODATA));
    // SAFETY: valid strings.
    assert_eq!(
        unsafe { libc::removexattr(cp.as_ptr(), c"user.color".as_ptr()) },
        0
    );
    // SAFETY: valid strings.
    assert_eq!(
        unsafe { libc::removexattr(cp.as_ptr(), c"user.wekad.etag".as_ptr()) },
        -1
    );
}

#[test]
fn fallocate_seek_data_hole_and_copy_file_range_work() {
    let m = Mnt::new();
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(m.path("s"))
        .unwrap();
    nix::sys::uio::pwrite(&f, &[1u8; 4096], 0).unwrap();
    nix::sys::uio::pwrite(&f, b"tail", 1 << 24).unwrap();
    f.sync_all().unwrap();
    // SAFETY: plain lseek on a valid descriptor.
    let data = unsafe { libc::lseek(f.as_raw_fd(), 8192, libc::SEEK_DATA) };
    assert_eq!(data, 1 << 24);
    // SAFETY: as above.
    let hole = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_HOLE) };
    assert!((4096..1 << 24).contains(&hole), "hole at {hole}");
    nix::fcntl::fallocate(
        f.as_raw_fd(),
        nix::fcntl::FallocateFlags::empty(),
        0,
        1 << 25,
    )
    .unwrap();
    assert_eq!(f.metadata().unwrap().len(), 1 << 25);
    let keep = nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE;
    nix::fcntl::fallocate(f.as_raw_fd(), keep, 0, 1 << 26).unwrap();
    assert_eq!(fs::metadata(m.backing("s")).unwrap().len(), 1 << 25);
    let src = m.path("src");
    fs::write(&src, b"copy me please").unwrap();
    let from = fs::File::open(&src).unwrap();
    let to = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(m.path("dst"))
        .unwrap();
    let (mut off_in, mut off_out) = (5i64, 0i64);
    // SAFETY: valid descriptors and offsets.
    let n = unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            &mut off_in,
            to.as_raw_fd(),
            &mut off_out,
            9,
            0,
        )
    };
    assert_eq!(n, 9);
    assert_eq!(fs::read(m.path("dst")).unwrap(), b"me please");
}

#[test]
fn posix_and_bsd_locks_work_on_the_mount() {
    let m = Mnt::new();
    fs::write(m.path("l"), b"").unwrap();
    let a = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.path("l"))
        .unwrap();
    let b = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.path("l"))
        .unwrap();
    // SAFETY: flock on valid descriptors.
    assert_eq!(
        unsafe { libc::flock(a.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::flock(b.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        -1
    );
    assert_eq!(last_errno(), libc::EWOULDBLOCK);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::flock(a.as_raw_fd(), libc::LOCK_UN) }, 0);
    let lock = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 10,
        l_pid: 0,
    };
    nix::fcntl::fcntl(a.as_raw_fd(), nix::fcntl::FcntlArg::F_SETLK(&lock)).unwrap();
    // A POSIX lock is per process, so probe it from a child process.
    let held = Command::new("python3")
        .args(["-c", "import fcntl,sys; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 10)"])
        .arg(m.path("l"))
        .output()
        .unwrap();
    assert!(!held.status.success(), "the child must not get the lock");
}

#[test]
fn statfs_fsync_and_fsyncdir_succeed() {
    let m = Mnt::new();
    let st = nix::sys::statvfs::statvfs(&m.path("")).unwrap();
    assert!(st.blocks() > 0);
    assert_eq!(st.name_max(), 255);
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(m.path("f"))
        .unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    fs::File::open(m.path("")).unwrap().sync_all().unwrap();
}

#[test]
fn access_reports_existence_and_execute_permission() {
    let m = Mnt::new();
    fs::write(m.path("f"), b"").unwrap();
    nix::unistd::access(
        &m.path("f"),
        nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
    )
    .unwrap();
    assert!(nix::unistd::access(&m.path("f"), nix::unistd::AccessFlags::X_OK).is_err());
    assert!(nix::unistd::access(&m.path("nope"), nix::unistd::AccessFlags::F_OK).is_err());
}

/// Runs `sh -c script` as uid/gid 65534 (nobody) with umask 002.
fn as_nobody(script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(format!("umask 002; {script}"))
        .output()
        .unwrap()
}

#[test]
fn files_belong_to_the_calling_user_with_its_umask() {
    let m = Mnt::with(MountOptions {
        allow_other: true,
        threads: 2,
        ..MountOptions::default()
    });
    fs::set_permissions(m.path(""), fs::Permissions::from_mode(0o777)).unwrap();
    let out = as_nobody(&format!(
        "mkdir {0}/d && echo hi > {0}/d/f",
        m.path("").display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (rel, perm) in [("d", 0o775), ("d/f", 0o664)] {
        let md = fs::metadata(m.backing(rel)).unwrap();
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (65534, 65534, perm),
            "{rel}"
        );
    }
}

#[test]
fn a_non_root_user_gets_eacces_where_it_may_not_write() {
    let m = Mnt::with(MountOptions {
        allow_other: true,
        threads: 2,
        ..MountOptions::default()
    });
    fs::create_dir(m.path("private")).unwrap();
    fs::set_permissions(m.path("private"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(m.path("ro"), b"x").unwrap();
    fs::set_permissions(m.path(""), fs::Permissions::from_mode(0o755)).unwrap();
    for script in [
        format!("touch {}/new", m.path("").display()),
        format!("ls {}/private", m.path("").display()),
        format!("echo x >> {}/ro", m.path("").display()),
    ] {
        let out = as_nobody(&script);
        assert!(!out.status.success(), "{script} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Permission denied"), "{script}: {err}");
    }
}

/// An unprivileged writer removes set-user-ID (and set-group-ID with group execute) as on
/// a local filesystem; root keeps them; set-group-ID without group execute stays.
fn check_setid_bits(passthrough: bool) {
    let m = Mnt::with(MountOptions {
        allow_other: true,
        threads: 2,
        passthrough,
        ..MountOptions::default()
    });
    fs::set_permissions(m.path(""), fs::Permissions::from_mode(0o777)).unwrap();
    let setid = |name: &str, mode: u32| {
        let p = m.path(name);
        fs::write(&p, b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let mode = |name: &str| fs::metadata(m.path(name)).unwrap().mode() & 0o7777;
    let appended = setid("appended", 0o6775);
    let truncated = setid("truncated", 0o4755);
    let lock_bit = setid("lock-bit", 0o2664);
    let by_root = setid("by-root", 0o6775);
    let script = format!(
        "echo x >> {} && echo x >> {} && python3 -c 'import os; os.truncate(\"{}\", 1)'",
        appended.display(),
        lock_bit.display(),
        truncated.display()
    );
    let out = as_nobody(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::OpenOptions::new()
        .append(true)
        .open(&by_root)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    assert_eq!(mode("appended"), 0o775, "passthrough {passthrough}");
    assert_eq!(mode("truncated"), 0o755, "passthrough {passthrough}");
    assert_eq!(mode("lock-bit"), 0o2664, "passthrough {passthrough}");
    assert_eq!(mode("by-root"), 0o6775, "passthrough {passthrough}");
    for name in ["appended", "truncated", "lock-bit", "by-root"] {
        let backing = fs::metadata(m.backing(name)).unwrap().mode() & 0o7777;
        assert_eq!(
            backing,
            mode(name),
            "{name}: the mount shows the backing mode"
        );
    }
    assert_eq!(fs::metadata(&truncated).unwrap().len(), 1);
}

#[test]
fn unprivileged_writes_clear_setid_bits() {
    check_setid_bits(true);
}

#[test]
fn unprivileged_writes_clear_setid_bits_without_passthrough() {
    check_setid_bits(false);
}

#[test]
fn the_kernel_forgets_inodes_and_the_table_shrinks() {
    let m = Mnt::new();
    for i in 0..50 {
        fs::write(m.path(&format!("f{i}")), b"x").unwrap();
    }
    for i in 0..50 {
        fs::metadata(m.path(&format!("f{i}"))).unwrap();
    }
    assert!(m.tree.known_inodes() >= 50);
    // Dropping the dentry and inode caches makes the kernel send FORGET for them.
    fs::write("/proc/sys/vm/drop_caches", b"2").unwrap();
    common::wait_for(std::time::Duration::from_secs(5), || {
        m.tree.known_inodes() == 0
    });
    assert_eq!(m.tree.known_inodes(), 0);
    assert_eq!(fs::read(m.path("f7")).unwrap(), b"x");
}

#[test]
fn without_passthrough_a_reader_sees_what_a_write_only_handle_wrote() {
    // Write-only handles bypass the mount's page cache (FOPEN_DIRECT_IO); a reader holding
    // cached pages of the file must still see the new bytes on its next read.
    let m = Mnt::with(MountOptions {
        passthrough: false,
        threads: 2,
        ..MountOptions::default()
    });
    let p = m.path("shared");
    fs::write(&p, vec![b'a'; 3 * 4096]).unwrap();
    let reader = fs::File::open(&p).unwrap();
    let mut buf = vec![0u8; 3 * 4096];
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf.iter().all(|&b| b == b'a'));
    let writer = fs::OpenOptions::new().write(true).open(&p).unwrap();
    writer.write_all_at(&vec![b'b'; 4096], 4096).unwrap();
    writer.write_all_at(b"tail", 3 * 4096).unwrap();
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == b'a'));
    assert!(
        buf[4096..8192].iter().all(|&b| b == b'b'),
        "the overwritten page"
    );
    assert!(buf[8192..].iter().all(|&b| b == b'a'));
    let mut tail = [0u8; 4];
    reader.read_exact_at(&mut tail, 3 * 4096).unwrap();
    assert_eq!(&tail, b"tail", "the file grew");
    drop(writer);
    // The bytes reached the backing file, and a new open through the mount agrees.
    assert_eq!(
        fs::read(m.backing("shared")).unwrap(),
        fs::read(&p).unwrap()
    );
    assert_eq!(fs::metadata(&p).unwrap().len(), 3 * 4096 + 4);
}

#[test]
fn without_passthrough_reads_and_writes_go_through_the_daemon() {
    let m = Mnt::with(MountOptions {
        passthrough: false,
        threads: 2,
        ..MountOptions::default()
    });
    assert!(!m.mounted().passthrough_active());
    let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    fs::write(m.path("big"), &data).unwrap();
    assert_eq!(fs::read(m.path("big")).unwrap(), data);
    assert!(m.mounted().stats().bytes_written() >= data.len() as u64);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(m.path("big"))
        .unwrap();
    f.write_all(b"END").unwrap();
    assert_eq!(
        fs::metadata(m.backing("big")).unwrap().len(),
        data.len() as u64 + 3
    );
}

#[test]
fn append_and_positional_writers_share_a_file_correctly() {
    let m = Mnt::new();
    for first_append in [false, true] {
        let p = m.path(if first_append {
            "appended-first"
        } else {
            "rdwr-first"
        });
        fs::write(&p, b"0123456789").unwrap();
        let open_append = || fs::OpenOptions::new().append(true).open(&p).unwrap();
        let open_rdwr = || {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap()
        };
        let (mut app, rdwr) = if first_append {
            let a = open_append();
            (a, open_rdwr())
        } else {
            let r = open_rdwr();
            (open_append(), r)
        };
        std::os::unix::fs::FileExt::write_all_at(&rdwr, b"AB", 0).unwrap();
        app.write_all(b"END").unwrap();
        std::os::unix::fs::FileExt::write_all_at(&rdwr, b"CD", 4).unwrap();
        drop((app, rdwr));
        assert_eq!(
            fs::read(&p).unwrap(),
            b"AB23CD6789END",
            "append opened first: {first_append}"
        );
    }
}

#[test]
fn a_request_blocked_in_the_daemon_does_not_stall_the_mount() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    let m = Mnt::new();
    fs::write(m.path("slow"), b"s").unwrap();
    fs::write(m.path("other"), b"o").unwrap();
    // A read lease on the backing file makes the daemon's own open-for-write of it wait
    // until the lease is given up: a request that blocks inside the daemon.
    // SAFETY: ignoring SIGIO (the lease-break signal) only affects this test process.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    let holder = fs::File::open(m.backing("slow")).unwrap();
    // SAFETY: fcntl with integer arguments on a descriptor this test owns.
    let lease =
        |cmd: libc::c_int, arg: libc::c_int| unsafe { libc::fcntl(holder.as_raw_fd(), cmd, arg) };
    // The kernel sends RELEASE for the write above in the background: until the daemon
    // has closed its descriptors of the file (writable ones), the lease is refused.
    let refused = |e: std::io::Error| {
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "F_SETLEASE: {e}");
        false
    };
    assert!(
        common::wait_for(Duration::from_secs(5), || {
            lease(libc::F_SETLEASE, libc::F_RDLCK) == 0 || refused(std::io::Error::last_os_error())
        }),
        "the daemon kept the file open for writing"
    );
    let released = Arc::new(AtomicBool::new(false));
    let slow_path = m.path("slow");
    let slow = std::thread::spawn({
        let released = released.clone();
        move || {
            fs::OpenOptions::new().write(true).open(slow_path).unwrap();
            released.load(Ordering::SeqCst)
        }
    });
    // Once the daemon's open has started breaking the lease, F_GETLEASE answers the type
    // the lease must drop to (none, for a writer) until the holder gives it up.
    assert!(
        common::wait_for(Duration::from_secs(5), || {
            lease(libc::F_GETLEASE, 0) == libc::F_UNLCK
        }),
        "the daemon's open did not reach the lease"
    );
    assert!(
        !slow.is_finished(),
        "the open must be waiting for the lease"
    );
    assert_eq!(fs::read(m.path("other")).unwrap(), b"o");
    fs::write(m.path("third"), b"t").unwrap();
    assert_eq!(fs::read_dir(m.path("")).unwrap().count(), 3);
    // The lease is still held (the kernel breaks it by force only after
    // /proc/sys/fs/lease-break-time, 45 s by default): requests served while the open is
    // still blocked were served meanwhile, not after it.
    assert!(!slow.is_finished(), "other requests were served meanwhile");
    released.store(true, Ordering::SeqCst);
    assert_eq!(lease(libc::F_SETLEASE, libc::F_UNLCK), 0);
    assert!(
        slow.join().unwrap(),
        "the open finished only once the lease was given up"
    );
}
