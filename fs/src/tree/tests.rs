//! Engine tests: real backing directories, no kernel FUSE involved.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;

use super::*;
use crate::events::{Change, ChangeSink};
use crate::sync::{lock, Mutex};

pub(super) struct Fixture {
    pub(super) dir: tempfile::TempDir,
    pub(super) tree: Tree,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = Arc::new(Root::open(dir.path()).unwrap());
    Fixture {
        tree: Tree::new(root),
        dir,
    }
}

pub(super) const ME: Caller = Caller::ROOT;

#[derive(Default)]
struct Recorder(Mutex<Vec<(Origin, Change)>>);

impl ChangeSink for Recorder {
    fn changed(&self, origin: Origin, change: &Change) {
        lock(&self.0).push((origin, change.clone()));
    }
}

#[test]
fn lookup_counts_references_and_forget_drops_them() {
    let f = fixture();
    std::fs::write(f.dir.path().join("a"), b"x").unwrap();
    let a = f.tree.lookup(Ino::ROOT, OsStr::new("a")).unwrap();
    f.tree.lookup(Ino::ROOT, OsStr::new("a")).unwrap();
    assert_eq!(f.tree.lookup_count(a.ino), 2);
    f.tree.forget(a.ino, 1);
    assert_eq!(f.tree.lookup_count(a.ino), 1);
    assert!(f.tree.getattr(a.ino).is_ok());
    f.tree.forget(a.ino, 1);
    assert_eq!(f.tree.known_inodes(), 0);
    assert_eq!(f.tree.getattr(a.ino).unwrap_err().errno(), libc::ESTALE);
}

#[test]
fn inode_numbers_are_the_backing_inode_numbers() {
    let f = fixture();
    std::fs::write(f.dir.path().join("a"), b"x").unwrap();
    let a = f.tree.lookup(Ino::ROOT, OsStr::new("a")).unwrap();
    assert_eq!(
        a.ino.0,
        std::fs::metadata(f.dir.path().join("a")).unwrap().ino()
    );
    assert_eq!(f.tree.getattr(Ino::ROOT).unwrap().ino, Ino::ROOT);
}

#[test]
fn internal_area_is_invisible_and_cannot_be_created() {
    let f = fixture();
    let name = OsStr::new(".wekad");
    assert_eq!(
        f.tree.lookup(Ino::ROOT, name).unwrap_err().errno(),
        libc::ENOENT
    );
    assert_eq!(
        f.tree
            .mkdir(Ino::ROOT, name, 0o755, ME)
            .unwrap_err()
            .errno(),
        libc::EPERM
    );
    assert_eq!(
        f.tree
            .create(Ino::ROOT, name, 0o644, libc::O_RDWR, ME)
            .unwrap_err()
            .errno(),
        libc::EPERM
    );
    assert_eq!(
        f.tree.unlink(Ino::ROOT, name).unwrap_err().errno(),
        libc::ENOENT
    );
    assert_eq!(
        f.tree.rmdir(Ino::ROOT, name).unwrap_err().errno(),
        libc::ENOENT
    );
    f.tree.mkdir(Ino::ROOT, OsStr::new("d"), 0o755, ME).unwrap();
    let err = f
        .tree
        .rename(Ino::ROOT, OsStr::new("d"), Ino::ROOT, name, 0)
        .unwrap_err();
    assert_eq!(err.errno(), libc::EPERM);
    let fh = f.tree.opendir(Ino::ROOT).unwrap();
    let mut names = Vec::new();
    f.tree
        .readdir(fh, 0, |e| {
            names.push(e.name.clone());
            false
        })
        .unwrap();
    assert!(!names.iter().any(|n| n == ".wekad"));
    assert!(names.iter().any(|n| n == "d"));
}

#[test]
fn created_file_round_trips_its_bytes() {
    let f = fixture();
    let (attr, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("f"), 0o640, libc::O_RDWR, ME)
        .unwrap();
    assert_eq!(attr.perm, 0o640);
    assert_eq!(
        f.tree
            .write(fh, 0, b"hello world", SetIdBits::Keep)
            .unwrap(),
        11
    );
    assert_eq!(f.tree.read(fh, 6, 100).unwrap(), b"world");
    f.tree.release(fh).unwrap();
    assert_eq!(
        std::fs::read(f.dir.path().join("f")).unwrap(),
        b"hello world"
    );
}

#[test]
fn create_new_never_opens_an_existing_name_and_upgrades_for_passthrough() {
    let f = fixture();
    std::fs::write(f.dir.path().join("old"), b"kept").unwrap();
    let flags = libc::O_WRONLY | libc::O_TRUNC;
    // An existing name is left to `create` (whose open may wait), untouched.
    let none = f
        .tree
        .create_new(Ino::ROOT, OsStr::new("old"), 0o644, flags, ME, true)
        .unwrap();
    assert!(none.is_none());
    assert_eq!(std::fs::read(f.dir.path().join("old")).unwrap(), b"kept");
    let err = f
        .tree
        .create_new(
            Ino::ROOT,
            OsStr::new("old"),
            0o644,
            flags | libc::O_EXCL,
            ME,
            true,
        )
        .unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
    // A new write-only file under passthrough is opened read-write, so its handle can be
    // the backing file; without passthrough it keeps the caller's access mode.
    let (_, fh) = f
        .tree
        .create_new(Ino::ROOT, OsStr::new("pt"), 0o200, flags, ME, true)
        .unwrap()
        .unwrap();
    assert!(f.tree.file(fh).unwrap().shareable_as_backing());
    let (_, plain) = f
        .tree
        .create_new(Ino::ROOT, OsStr::new("plain"), 0o644, flags, ME, false)
        .unwrap()
        .unwrap();
    assert!(!f.tree.file(plain).unwrap().shareable_as_backing());
    // Appending handles are not upgraded (the backing file must not append for others).
    let (_, append) = f
        .tree
        .create_new(
            Ino::ROOT,
            OsStr::new("log"),
            0o644,
            flags | libc::O_APPEND,
            ME,
            true,
        )
        .unwrap()
        .unwrap();
    assert!(!f.tree.file(append).unwrap().shareable_as_backing());
    assert_eq!(f.tree.write(fh, 0, b"new", SetIdBits::Keep).unwrap(), 3);
    assert_eq!(std::fs::read(f.dir.path().join("pt")).unwrap(), b"new");
    for h in [fh, plain, append] {
        f.tree.release(h).unwrap();
    }
}

#[test]
fn create_with_o_excl_refuses_an_existing_file() {
    let f = fixture();
    std::fs::write(f.dir.path().join("f"), b"x").unwrap();
    let err = f
        .tree
        .create(
            Ino::ROOT,
            OsStr::new("f"),
            0o644,
            libc::O_RDWR | libc::O_EXCL,
            ME,
        )
        .unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
}

#[test]
fn unlink_while_open_keeps_data_readable() {
    let f = fixture();
    let (_, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("f"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.write(fh, 0, b"still here", SetIdBits::Keep).unwrap();
    f.tree.unlink(Ino::ROOT, OsStr::new("f")).unwrap();
    assert_eq!(
        f.tree
            .lookup(Ino::ROOT, OsStr::new("f"))
            .unwrap_err()
            .errno(),
        libc::ENOENT
    );
    f.tree.write(fh, 10, b"!", SetIdBits::Keep).unwrap();
    assert_eq!(f.tree.read(fh, 0, 64).unwrap(), b"still here!");
}

#[test]
fn rename_noreplace_refuses_and_exchange_swaps() {
    let f = fixture();
    std::fs::write(f.dir.path().join("a"), b"A").unwrap();
    std::fs::write(f.dir.path().join("b"), b"B").unwrap();
    let (a, b) = (OsStr::new("a"), OsStr::new("b"));
    let err = f
        .tree
        .rename(Ino::ROOT, a, Ino::ROOT, b, libc::RENAME_NOREPLACE)
        .unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
    f.tree
        .rename(Ino::ROOT, a, Ino::ROOT, b, libc::RENAME_EXCHANGE)
        .unwrap();
    assert_eq!(std::fs::read(f.dir.path().join("a")).unwrap(), b"B");
    assert_eq!(std::fs::read(f.dir.path().join("b")).unwrap(), b"A");
}

#[test]
fn directory_errors_have_their_errno() {
    let f = fixture();
    let d = f.tree.mkdir(Ino::ROOT, OsStr::new("d"), 0o755, ME).unwrap();
    assert_eq!(
        f.tree
            .mkdir(Ino::ROOT, OsStr::new("d"), 0o755, ME)
            .unwrap_err()
            .errno(),
        libc::EEXIST
    );
    f.tree
        .mknod(d.ino, OsStr::new("x"), libc::S_IFREG | 0o644, 0, ME)
        .unwrap();
    assert_eq!(
        f.tree
            .rmdir(Ino::ROOT, OsStr::new("d"))
            .unwrap_err()
            .errno(),
        libc::ENOTEMPTY
    );
    assert_eq!(
        f.tree
            .unlink(Ino::ROOT, OsStr::new("d"))
            .unwrap_err()
            .errno(),
        libc::EISDIR
    );
    assert_eq!(
        f.tree.rmdir(d.ino, OsStr::new("x")).unwrap_err().errno(),
        libc::ENOTDIR
    );
    assert_eq!(
        f.tree
            .lookup(Ino::ROOT, OsStr::new("nope"))
            .unwrap_err()
            .errno(),
        libc::ENOENT
    );
    let long = "n".repeat(300);
    assert_eq!(
        f.tree
            .lookup(Ino::ROOT, OsStr::new(&long))
            .unwrap_err()
            .errno(),
        libc::ENAMETOOLONG
    );
}

#[test]
fn symlink_link_and_readlink_work() {
    let f = fixture();
    let s = f
        .tree
        .symlink(
            Ino::ROOT,
            OsStr::new("s"),
            std::path::Path::new("target"),
            ME,
        )
        .unwrap();
    assert_eq!(s.kind, FileKind::Symlink);
    assert_eq!(f.tree.readlink(s.ino).unwrap(), "target");
    let (a, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("a"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.release(fh).unwrap();
    let l = f.tree.link(a.ino, Ino::ROOT, OsStr::new("l")).unwrap();
    assert_eq!(l.ino, a.ino);
    assert_eq!(l.nlink, 2);
}

#[test]
fn new_entries_belong_to_the_caller() {
    let f = fixture();
    let caller = Caller {
        uid: 1234,
        gid: 4321,
    };
    let d = f
        .tree
        .mkdir(Ino::ROOT, OsStr::new("d"), 0o775, caller)
        .unwrap();
    assert_eq!((d.uid, d.gid, d.perm), (1234, 4321, 0o775));
    let (a, _) = f
        .tree
        .create(d.ino, OsStr::new("a"), 0o664, libc::O_WRONLY, caller)
        .unwrap();
    assert_eq!((a.uid, a.gid, a.perm), (1234, 4321, 0o664));
}

#[test]
fn setattr_changes_mode_size_and_times() {
    let f = fixture();
    let (a, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("a"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.write(fh, 0, b"0123456789", SetIdBits::Keep).unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    let set = SetAttr {
        mode: Some(0o600),
        size: Some(4),
        mtime: Some(TimeSet::At(when)),
        ..SetAttr::default()
    };
    let attr = f.tree.setattr(a.ino, None, &set, ME).unwrap();
    assert_eq!((attr.perm, attr.size, attr.mtime), (0o600, 4, when));
    let set = SetAttr {
        atime: Some(TimeSet::Now),
        ..SetAttr::default()
    };
    let attr = f.tree.setattr(a.ino, Some(fh), &set, ME).unwrap();
    assert_eq!(attr.mtime, when, "UTIME_OMIT keeps mtime");
    assert!(attr.atime > when);
}

#[test]
fn private_xattrs_are_hidden_and_refused() {
    let f = fixture();
    let (a, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("a"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.release(fh).unwrap();
    let path = f.dir.path().join("a");
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    set_etag(&c);
    f.tree
        .setxattr(a.ino, OsStr::new("user.mine"), b"v", 0)
        .unwrap();
    let list = f.tree.listxattr(a.ino, 0).unwrap();
    assert_eq!(list, b"user.mine\0");
    assert_eq!(
        f.tree.getxattr(a.ino, OsStr::new("user.mine"), 10).unwrap(),
        b"v"
    );
    assert_eq!(
        f.tree
            .getxattr(a.ino, OsStr::new("user.wekad.etag"), 10)
            .unwrap_err()
            .errno(),
        libc::ENODATA
    );
    assert_eq!(
        f.tree
            .setxattr(a.ino, OsStr::new("user.wekad.x"), b"v", 0)
            .unwrap_err()
            .errno(),
        libc::EPERM
    );
    assert_eq!(
        f.tree
            .removexattr(a.ino, OsStr::new("user.wekad.etag"))
            .unwrap_err()
            .errno(),
        libc::EPERM
    );
}

fn etag_len(c: &std::ffi::CString) -> isize {
    // SAFETY: a null buffer with size 0 asks for the length.
    unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.wekad.etag".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    }
}

#[test]
fn opening_for_write_removes_the_stored_etag() {
    let f = fixture();
    let path = f.dir.path().join("a");
    std::fs::write(&path, b"x").unwrap();
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid C strings and buffer.
    unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"user.wekad.etag".as_ptr(),
            b"e".as_ptr().cast(),
            1,
            0,
        )
    };
    let a = f.tree.lookup(Ino::ROOT, OsStr::new("a")).unwrap();
    let fh = f.tree.open(a.ino, libc::O_RDONLY, true, ME).unwrap();
    f.tree.release(fh).unwrap();
    assert_eq!(etag_len(&c), 1);
    let fh = f.tree.open(a.ino, libc::O_WRONLY, false, ME).unwrap();
    f.tree.release(fh).unwrap();
    assert_eq!(etag_len(&c), -1);
}

#[test]
fn every_mutation_publishes_a_fuse_change() {
    let f = fixture();
    let rec = Arc::new(Recorder::default());
    f.tree.root().events().subscribe(rec.clone());
    let d = f.tree.mkdir(Ino::ROOT, OsStr::new("d"), 0o755, ME).unwrap();
    let (a, fh) = f
        .tree
        .create(d.ino, OsStr::new("a"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.write(fh, 0, b"x", SetIdBits::Keep).unwrap();
    f.tree
        .rename(d.ino, OsStr::new("a"), Ino::ROOT, OsStr::new("b"), 0)
        .unwrap();
    f.tree.unlink(Ino::ROOT, OsStr::new("b")).unwrap();
    let seen = lock(&rec.0).clone();
    assert!(seen.iter().all(|(o, _)| *o == Origin::Fuse));
    let entry = |p: Ino, n: &str| Change::Entry {
        parent: p,
        name: n.into(),
    };
    for want in [
        entry(Ino::ROOT, "d"),
        entry(d.ino, "a"),
        Change::Inode { ino: a.ino },
        entry(Ino::ROOT, "b"),
    ] {
        assert!(
            seen.iter().any(|(_, c)| *c == want),
            "missing {want:?} in {seen:?}"
        );
    }
}

#[test]
fn a_create_for_writing_publishes_the_inode_as_an_open_for_writing_does() {
    let f = fixture();
    let rec = Arc::new(Recorder::default());
    f.tree.root().events().subscribe(rec.clone());
    let (a, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("a"), 0o644, libc::O_WRONLY, ME)
        .unwrap();
    f.tree.release(fh).unwrap();
    let seen = lock(&rec.0).clone();
    assert!(
        seen.contains(&(Origin::Fuse, Change::Inode { ino: a.ino })),
        "{seen:?}"
    );
}

#[test]
fn sparse_files_report_data_and_holes() {
    let f = fixture();
    let (_, fh) = f
        .tree
        .create(Ino::ROOT, OsStr::new("s"), 0o644, libc::O_RDWR, ME)
        .unwrap();
    f.tree.write(fh, 1 << 20, b"data", SetIdBits::Keep).unwrap();
    assert_eq!(f.tree.lseek(fh, 0, libc::SEEK_DATA).unwrap(), 1 << 20);
    assert_eq!(f.tree.lseek(fh, 0, libc::SEEK_HOLE).unwrap(), 0);
}

#[test]
fn a_fresh_directory_handle_continues_at_an_offset() {
    let f = fixture();
    for i in 0..10 {
        std::fs::write(f.dir.path().join(format!("f{i}")), b"").unwrap();
    }
    let first = f.tree.opendir(Ino::ROOT).unwrap();
    let mut all = Vec::new();
    f.tree
        .readdir(first, 0, |e| {
            all.push(e.clone());
            false
        })
        .unwrap();
    assert_eq!(all.len(), 12, "ten files, `.` and `..`");
    let second = f.tree.opendir(Ino::ROOT).unwrap();
    let mut rest = Vec::new();
    f.tree
        .readdir(second, 5, |e| {
            rest.push(e.clone());
            false
        })
        .unwrap();
    assert_eq!(rest, all[5..].to_vec());
}

fn set_etag(c: &std::ffi::CString) {
    // SAFETY: valid C strings and buffer.
    let rc = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"user.wekad.etag".as_ptr(),
            b"e".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn truncate_fallocate_and_copy_into_a_file_remove_its_stored_etag() {
    let f = fixture();
    for name in ["src", "dst"] {
        std::fs::write(f.dir.path().join(name), b"0123456789").unwrap();
    }
    let c =
        std::ffi::CString::new(f.dir.path().join("dst").as_os_str().as_encoded_bytes()).unwrap();
    let src = f.tree.lookup(Ino::ROOT, OsStr::new("src")).unwrap();
    let dst = f.tree.lookup(Ino::ROOT, OsStr::new("dst")).unwrap();
    set_etag(&c);
    f.tree
        .setattr(
            dst.ino,
            None,
            &SetAttr {
                size: Some(4),
                ..SetAttr::default()
            },
            ME,
        )
        .unwrap();
    assert_eq!(etag_len(&c), -1, "truncate");
    let rd = f.tree.open(src.ino, libc::O_RDONLY, false, ME).unwrap();
    let wr = f.tree.open(dst.ino, libc::O_RDWR, false, ME).unwrap();
    set_etag(&c);
    f.tree.fallocate(wr, 0, 8192, 0).unwrap();
    assert_eq!(etag_len(&c), -1, "fallocate");
    set_etag(&c);
    assert_eq!(f.tree.copy_file_range(rd, 0, wr, 0, 10).unwrap(), 10);
    assert_eq!(etag_len(&c), -1, "copy_file_range");
}
