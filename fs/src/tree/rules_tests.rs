//! Tests of the rules the FUSE adapter used to sequence itself: set-ID clearing on write
//! and truncate, lookup counting in readdirplus, and kernel passthrough registrations.
//! Real backing directories, no kernel FUSE involved.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::PermissionsExt;
use std::rc::Rc;

use super::tests::{fixture, Fixture, ME};
use super::*;

const USER: Caller = Caller {
    uid: 1000,
    gid: 1000,
};

/// The permission bits of `name` in the backing directory, read behind the engine's back.
fn mode_of(f: &Fixture, name: &str) -> u32 {
    let meta = std::fs::metadata(f.dir.path().join(name)).unwrap();
    meta.permissions().mode() & 0o7777
}

/// A file `name` with exactly the permission bits `mode`, open read-write.
fn file_with_mode(f: &Fixture, name: &str, mode: u32) -> (Attr, u64) {
    let created = f
        .tree
        .create(Ino::ROOT, OsStr::new(name), mode, libc::O_RDWR, ME)
        .unwrap();
    assert_eq!(mode_of(f, name), mode);
    created
}

#[test]
fn an_unprivileged_write_clears_set_id_bits_and_a_privileged_one_keeps_them() {
    let f = fixture();
    let (_, fh) = file_with_mode(&f, "tool", 0o6755);
    f.tree.write(fh, 0, b"root", SetIdBits::Keep).unwrap();
    assert_eq!(mode_of(&f, "tool"), 0o6755);
    f.tree.write(fh, 0, b"user", SetIdBits::Clear).unwrap();
    assert_eq!(mode_of(&f, "tool"), 0o755);
    assert_eq!(std::fs::read(f.dir.path().join("tool")).unwrap(), b"user");
}

#[test]
fn an_unprivileged_write_keeps_set_group_id_without_group_execute() {
    // Without group execute, set-group-ID means mandatory locking, which a write keeps.
    let f = fixture();
    let (_, fh) = file_with_mode(&f, "locked", 0o6644);
    f.tree.write(fh, 0, b"x", SetIdBits::Clear).unwrap();
    assert_eq!(mode_of(&f, "locked"), 0o2644);
}

#[test]
fn a_truncate_by_another_user_than_root_clears_set_id_bits() {
    let f = fixture();
    let (a, _) = file_with_mode(&f, "a", 0o6755);
    let truncate = SetAttr {
        size: Some(1),
        ..SetAttr::default()
    };
    let attr = f.tree.setattr(a.ino, None, &truncate, ME).unwrap();
    assert_eq!((attr.perm, attr.size), (0o6755, 1), "root keeps the bits");
    let attr = f.tree.setattr(a.ino, None, &truncate, USER).unwrap();
    assert_eq!(attr.perm, 0o755, "the reply shows the cleared bits");
    assert_eq!(mode_of(&f, "a"), 0o755);
}

#[test]
fn a_setattr_without_a_size_keeps_set_id_bits() {
    let f = fixture();
    let (b, _) = file_with_mode(&f, "b", 0o6755);
    let touch = SetAttr {
        mtime: Some(TimeSet::Now),
        ..SetAttr::default()
    };
    let attr = f.tree.setattr(b.ino, None, &touch, USER).unwrap();
    assert_eq!(attr.perm, 0o6755);
}

/// A READDIRPLUS reply that takes `room` entries with attributes, then says it is full.
#[derive(Default)]
struct Listing {
    room: usize,
    dots: Vec<OsString>,
    added: Vec<(OsString, Ino)>,
    refused: Vec<OsString>,
}

impl DirPlusReply for Listing {
    fn add_dot(&mut self, entry: &DirEntry) -> bool {
        self.dots.push(entry.name.clone());
        false
    }

    fn add(&mut self, entry: &DirEntry, attr: &Attr) -> bool {
        if self.added.len() == self.room {
            self.refused.push(entry.name.clone());
            return true;
        }
        self.added.push((entry.name.clone(), attr.ino));
        false
    }
}

#[test]
fn readdirplus_counts_a_lookup_for_each_entry_handed_over_and_none_for_a_refused_one() {
    let f = fixture();
    for name in ["a", "b", "c", "d"] {
        std::fs::write(f.dir.path().join(name), b"").unwrap();
    }
    let fh = f.tree.opendir(Ino::ROOT).unwrap();
    let mut first = Listing {
        room: 2,
        ..Listing::default()
    };
    f.tree.readdirplus(fh, 0, &mut first).unwrap();
    assert_eq!(first.dots.len(), 2, "`.` and `..`: {:?}", first.dots);
    assert_eq!(first.added.len(), 2);
    for (name, ino) in &first.added {
        assert_eq!(f.tree.lookup_count(*ino), 1, "{name:?}");
    }
    assert_eq!(first.refused.len(), 1);
    assert_eq!(
        f.tree.known_inodes(),
        2,
        "the refused entry holds no reference"
    );

    // Continue where the kernel would: after the last entry it took.
    let mut all = Vec::new();
    f.tree
        .readdir(fh, 0, |e| {
            all.push(e.clone());
            false
        })
        .unwrap();
    let last = &first.added[1].0;
    let next = all.iter().find(|e| &e.name == last).unwrap().next;
    let mut rest = Listing {
        room: usize::MAX,
        ..Listing::default()
    };
    f.tree.readdirplus(fh, next, &mut rest).unwrap();
    assert_eq!(rest.added.len(), 2, "{:?}", rest.added);
    assert_eq!(rest.added[0].0, first.refused[0]);
    assert_eq!(f.tree.known_inodes(), 4);
    for (name, ino) in first.added.iter().chain(&rest.added) {
        assert_eq!(f.tree.lookup_count(*ino), 1, "{name:?}");
    }
}

/// How an open was answered, as the test reply saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    /// Passthrough on the registration with this serial number.
    Passthrough {
        fh: u64,
        backing: u32,
    },
    Daemon {
        fh: u64,
        why: ThroughDaemon,
    },
    Error(i32),
}

/// The kernel side of opens in these tests: registrations are numbered, or refused.
#[derive(Default)]
struct Kernel {
    refuse: bool,
    registered: Cell<u32>,
    answers: RefCell<Vec<Answered>>,
}

impl Kernel {
    fn reply<E>(self: &Rc<Self>) -> Answer<E> {
        Answer {
            kernel: self.clone(),
            entry: PhantomData,
        }
    }

    fn last(&self) -> Answered {
        *self.answers.borrow().last().unwrap()
    }
}

struct Answer<E> {
    kernel: Rc<Kernel>,
    entry: PhantomData<E>,
}

impl<E> OpenReply for Answer<E> {
    type Backing = u32;
    type Entry = E;

    fn register(&self, _fd: BorrowedFd<'_>) -> std::io::Result<u32> {
        if self.kernel.refuse {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        }
        let n = self.kernel.registered.get() + 1;
        self.kernel.registered.set(n);
        Ok(n)
    }

    fn passthrough(self, fh: u64, _: E, backing: &u32) {
        let answer = Answered::Passthrough {
            fh,
            backing: *backing,
        };
        self.kernel.answers.borrow_mut().push(answer);
    }

    fn through_daemon(self, fh: u64, _: E, why: ThroughDaemon) {
        let answer = Answered::Daemon { fh, why };
        self.kernel.answers.borrow_mut().push(answer);
    }

    fn error(self, err: Error) {
        let answer = Answered::Error(err.errno());
        self.kernel.answers.borrow_mut().push(answer);
    }
}

fn backing_of(answer: Answered) -> u32 {
    match answer {
        Answered::Passthrough { backing, .. } => backing,
        other => panic!("not passthrough: {other:?}"),
    }
}

fn fh_of(answer: Answered) -> u64 {
    match answer {
        Answered::Passthrough { fh, .. } | Answered::Daemon { fh, .. } => fh,
        Answered::Error(errno) => panic!("failed: {errno}"),
    }
}

/// An opener over a fresh fixture with one file `f` (looked up), and the file's inode.
fn opener(passthrough: bool) -> (Fixture, Arc<Tree>, Opener<u32>, Ino) {
    let f = fixture();
    std::fs::write(f.dir.path().join("f"), b"content").unwrap();
    let tree = Arc::new(Tree::new(f.tree.root().clone()));
    let ino = tree.lookup(Ino::ROOT, OsStr::new("f")).unwrap().ino;
    let opener = if passthrough {
        Opener::passthrough(tree.clone())
    } else {
        Opener::plain(tree.clone())
    };
    (f, tree, opener, ino)
}

fn open(ino: Ino, flags: i32) -> Open {
    Open {
        ino,
        flags,
        caller: ME,
    }
}

#[test]
fn passthrough_opens_of_one_inode_share_one_registration_until_the_last_release() {
    let (_f, tree, opener, ino) = opener(true);
    let kernel = Rc::new(Kernel::default());
    assert!(opener
        .open_now(&open(ino, libc::O_RDONLY), kernel.reply())
        .is_none());
    let first = kernel.last();
    // A read-only open is made read-write so that its own descriptor is the backing file.
    assert!(tree.file(fh_of(first)).unwrap().shareable_as_backing());
    // An appending handle cannot be the backing file, but the inode has one already.
    assert!(opener
        .open_now(&open(ino, libc::O_WRONLY | libc::O_APPEND), kernel.reply())
        .is_none());
    let second = kernel.last();
    assert_eq!(backing_of(first), backing_of(second));
    assert_eq!(kernel.registered.get(), 1);

    opener.release(fh_of(first)).unwrap();
    let third = opener.open_now(&open(ino, libc::O_RDWR), kernel.reply());
    assert!(third.is_none());
    assert_eq!(
        backing_of(kernel.last()),
        backing_of(second),
        "still in use"
    );
    opener.release(fh_of(second)).unwrap();
    opener.release(fh_of(kernel.last())).unwrap();
    assert_eq!(tree.open_files(), 0);

    // The last release took the registration: a new open registers again.
    opener.open(&open(ino, libc::O_RDWR), kernel.reply());
    assert_eq!(backing_of(kernel.last()), 2);
    assert_eq!(kernel.registered.get(), 2);
}

#[test]
fn an_open_that_needs_a_second_descriptor_is_handed_back_to_wait() {
    let (_f, tree, opener, ino) = opener(true);
    let kernel = Rc::new(Kernel::default());
    let appending = open(ino, libc::O_WRONLY | libc::O_APPEND);
    let back = opener.open_now(&appending, kernel.reply());
    assert!(
        back.is_some(),
        "no registration yet, and its own handle cannot be one"
    );
    assert!(kernel.answers.borrow().is_empty());
    assert_eq!(
        tree.open_files(),
        0,
        "the handle opened to try is closed again"
    );
    opener.open(&appending, back.unwrap());
    assert_eq!(backing_of(kernel.last()), 1);
    assert!(!tree
        .file(fh_of(kernel.last()))
        .unwrap()
        .shareable_as_backing());
}

#[test]
fn a_truncating_open_is_handed_back_untouched() {
    let (f, _tree, opener, ino) = opener(true);
    let kernel = Rc::new(Kernel::default());
    let truncating = open(ino, libc::O_WRONLY | libc::O_TRUNC);
    let back = opener.open_now(&truncating, kernel.reply());
    assert!(back.is_some());
    assert_eq!(std::fs::read(f.dir.path().join("f")).unwrap(), b"content");
    opener.open(&truncating, back.unwrap());
    assert_eq!(backing_of(kernel.last()), 1);
    assert_eq!(std::fs::read(f.dir.path().join("f")).unwrap(), b"");
}

#[test]
fn a_refused_registration_serves_the_handle_through_the_daemon() {
    let (_f, tree, opener, ino) = opener(true);
    let kernel = Rc::new(Kernel {
        refuse: true,
        ..Kernel::default()
    });
    for _ in 0..2 {
        assert!(opener
            .open_now(&open(ino, libc::O_RDONLY), kernel.reply())
            .is_none());
        let answer = kernel.last();
        assert_eq!(
            answer,
            Answered::Daemon {
                fh: fh_of(answer),
                why: ThroughDaemon::Refused
            }
        );
    }
    assert_eq!(tree.open_files(), 2);
}

#[test]
fn without_passthrough_handles_keep_their_access_mode_and_are_served_by_the_daemon() {
    let (_f, tree, opener, ino) = opener(false);
    let kernel = Rc::new(Kernel::default());
    assert!(opener
        .open_now(&open(ino, libc::O_WRONLY | libc::O_APPEND), kernel.reply())
        .is_none());
    let answer = kernel.last();
    assert_eq!(
        answer,
        Answered::Daemon {
            fh: fh_of(answer),
            why: ThroughDaemon::NoPassthrough
        }
    );
    assert!(!tree.file(fh_of(answer)).unwrap().shareable_as_backing());
    assert_eq!(kernel.registered.get(), 0);
    opener.release(fh_of(answer)).unwrap();
    assert_eq!(
        opener.release(fh_of(answer)).unwrap_err().errno(),
        libc::EBADF
    );
}

#[test]
fn a_create_of_an_existing_name_is_handed_back_and_a_new_one_answered_at_once() {
    let (_f, tree, opener, _) = opener(true);
    let kernel = Rc::new(Kernel::default());
    let create = |name: &str| Create {
        parent: Ino::ROOT,
        name: name.into(),
        mode: 0o644,
        flags: libc::O_WRONLY,
        caller: ME,
    };
    assert!(opener.create_now(&create("new"), kernel.reply()).is_none());
    assert_eq!(backing_of(kernel.last()), 1);
    assert!(tree
        .file(fh_of(kernel.last()))
        .unwrap()
        .shareable_as_backing());
    let back = opener.create_now(&create("f"), kernel.reply());
    assert!(back.is_some(), "opening an existing file may wait");
    opener.create(&create("f"), back.unwrap());
    assert_eq!(
        backing_of(kernel.last()),
        2,
        "another inode, another backing"
    );
    let exclusive = Create {
        flags: libc::O_WRONLY | libc::O_EXCL,
        ..create("f")
    };
    assert!(opener.create_now(&exclusive, kernel.reply()).is_none());
    assert_eq!(kernel.last(), Answered::Error(libc::EEXIST));
}

#[test]
fn a_list_of_attributes_longer_than_the_buffer_is_erange() {
    let f = fixture();
    let (a, _) = file_with_mode(&f, "a", 0o644);
    f.tree
        .setxattr(a.ino, OsStr::new("user.mine"), b"v", 0)
        .unwrap();
    assert_eq!(f.tree.listxattr(a.ino, 0).unwrap(), b"user.mine\0");
    assert_eq!(f.tree.listxattr(a.ino, 10).unwrap(), b"user.mine\0");
    let err = f.tree.listxattr(a.ino, 9).unwrap_err();
    assert_eq!(err.errno(), libc::ERANGE);
}
