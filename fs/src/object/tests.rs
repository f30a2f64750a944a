//! Engine tests of the object view (no kernel, no HTTP).

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use super::*;
use crate::events::{Change, ChangeSink, Origin};

fn view() -> (tempfile::TempDir, ObjectView) {
    let dir = tempfile::tempdir().unwrap();
    let root = Arc::new(Root::open(dir.path()).unwrap());
    let view = ObjectView::new(root, ObjectOptions { sync: false }).unwrap();
    (dir, view)
}

const ME: Owner = Owner { uid: 0, gid: 0 };

fn bucket(v: &ObjectView, name: &str) -> BucketName {
    let b = BucketName::parse(name).unwrap();
    v.create_bucket(&b, ME).unwrap();
    b
}

fn put(v: &ObjectView, b: &BucketName, key: &str, data: &[u8]) -> Written {
    let mut s = v.stage().unwrap();
    if !key.ends_with('/') {
        s.write(data).unwrap();
    }
    v.commit(
        b,
        &ObjectKey::parse(key).unwrap(),
        s,
        PutParams::default(),
        ME,
    )
    .unwrap()
}

fn list_all(
    v: &ObjectView,
    b: &BucketName,
    prefix: &str,
    delimiter: Option<&str>,
    page: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let q = ListQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            after: after.clone(),
            max: page,
        };
        let p = v.list(b, &q).unwrap();
        out.extend(p.entries.iter().map(|e| e.key().to_owned()));
        if !p.truncated {
            return out;
        }
        after = p.entries.last().map(|e| e.key().to_owned());
    }
}

const KEYS: &[&str] = &[
    "a-b", "a.b", "a/x", "a/y/z", "a/y0", "a0", "b/", "b/c", "c", "é", "zz/1/2/3",
];

#[test]
fn listing_is_in_byte_order_where_a_directory_sorts_as_name_slash() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    for k in KEYS {
        put(&v, &b, k, b"");
    }
    let mut sorted: Vec<String> = KEYS.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    assert_eq!(list_all(&v, &b, "", None, 1000), sorted);
}

#[test]
fn every_page_size_resumes_exactly_where_the_last_page_stopped() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    for k in KEYS {
        put(&v, &b, k, b"x");
    }
    let full = list_all(&v, &b, "", None, 1000);
    for page in 1..=KEYS.len() {
        assert_eq!(list_all(&v, &b, "", None, page), full, "page size {page}");
    }
}

#[test]
fn delimiter_folds_directories_into_common_prefixes_across_pages() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    for k in KEYS {
        put(&v, &b, k, b"x");
    }
    let want = vec!["a-b", "a.b", "a/", "a0", "b/", "c", "zz/", "é"];
    for page in 1..=4 {
        assert_eq!(
            list_all(&v, &b, "", Some("/"), page),
            want,
            "page size {page}"
        );
    }
    assert_eq!(
        list_all(&v, &b, "a/", Some("/"), 1),
        vec!["a/x", "a/y/", "a/y0"]
    );
    assert_eq!(list_all(&v, &b, "a/y", None, 1), vec!["a/y/z", "a/y0"]);
    assert_eq!(list_all(&v, &b, "b/", None, 1), vec!["b/", "b/c"]);
}

/// No key starts with `/` or has an empty segment, so such prefixes list nothing (they
/// used to list every key with the prefix's slashes prepended).
#[test]
fn a_prefix_with_an_empty_segment_lists_nothing() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    for k in KEYS {
        put(&v, &b, k, b"x");
    }
    for prefix in ["/", "//", "/a", "/a/", "a//", "a//x", "zz//1/"] {
        for delimiter in [None, Some("/")] {
            assert_eq!(
                list_all(&v, &b, prefix, delimiter, 1000),
                Vec::<String>::new(),
                "prefix {prefix:?} delimiter {delimiter:?}"
            );
        }
    }
    assert_eq!(
        list_all(&v, &b, "a", Some("/"), 1000),
        ["a-b", "a.b", "a/", "a0"]
    );
    assert_eq!(list_all(&v, &b, "zz/1/", None, 1000), ["zz/1/2/3"]);
}

#[test]
fn other_delimiters_fold_keys_by_their_first_occurrence() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    for k in ["x-1", "x-2", "y", "z-3/q"] {
        put(&v, &b, k, b"x");
    }
    assert_eq!(list_all(&v, &b, "", Some("-"), 1000), vec!["x-", "y", "z-"]);
    assert_eq!(list_all(&v, &b, "", Some("-"), 1), vec!["x-", "y", "z-"]);
}

#[test]
fn a_stale_etag_is_recomputed_and_stored_again() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    let w = put(&v, &b, "f", b"one");
    assert_eq!(w.etag, "f97c5d29941bfb1b2fdab0874906ab82");
    std::fs::write(d.path().join("bkt/f"), b"two!").unwrap();
    let o = v.open_object(&b, &ObjectKey::parse("f").unwrap()).unwrap();
    assert_eq!(
        o.stamp.etag,
        hex::encode(<md5::Md5 as md5::Digest>::digest(b"two!"))
    );
}

#[test]
fn a_cached_open_serves_a_fresh_etag_and_declines_a_stale_one() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    let k = ObjectKey::parse("f").unwrap();
    let w = put(&v, &b, "f", b"one");
    let o = v.open_object_cached(&b, &k).unwrap().expect("fresh ETag");
    assert_eq!((o.stamp.etag, o.size), (w.etag, 3));
    std::fs::write(d.path().join("bkt/f"), b"two!").unwrap();
    assert!(v.open_object_cached(&b, &k).unwrap().is_none());
    // The full open recomputes and stores it; the cached open then serves it.
    let full = v.open_object(&b, &k).unwrap();
    let cached = v.open_object_cached(&b, &k).unwrap().expect("stored again");
    assert_eq!(cached.stamp.etag, full.stamp.etag);
    assert_eq!(cached.size, 4);
    assert!(matches!(
        v.open_object_cached(&b, &ObjectKey::parse("nope").unwrap()),
        Err(Error::Object(ObjectError::NoSuchKey))
    ));
}

#[test]
fn a_cached_read_copies_what_the_page_cache_holds_and_stops_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let mut buf = [0u8; 16];
    // Just written, so cached: a read that cannot wait still gets the bytes.
    let n = read_cached(f.as_fd(), &mut buf, 2)
        .unwrap()
        .expect("cached");
    assert_eq!(&buf[..n], b"23456789");
    assert_eq!(read_cached(f.as_fd(), &mut buf, 10).unwrap(), Some(0));
}

#[test]
fn deleting_the_last_object_removes_implicit_parents_but_not_directory_objects() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    put(&v, &b, "keep/", b"");
    put(&v, &b, "keep/a/b/c", b"x");
    v.delete_object(&b, &ObjectKey::parse("keep/a/b/c").unwrap())
        .unwrap();
    assert!(!d.path().join("bkt/keep/a").exists());
    assert!(
        d.path().join("bkt/keep").is_dir(),
        "a directory object stays"
    );
    v.delete_object(&b, &ObjectKey::parse("keep/").unwrap())
        .unwrap();
    assert!(!d.path().join("bkt/keep").exists());
    assert!(d.path().join("bkt").is_dir());
}

#[test]
fn a_dropped_staged_write_leaves_nothing_and_crash_leftovers_are_cleaned_on_start() {
    let (d, v) = view();
    let s = v.stage().unwrap();
    drop(s);
    assert_eq!(
        std::fs::read_dir(d.path().join(".wekad/tmp"))
            .unwrap()
            .count(),
        0
    );
    std::fs::write(d.path().join(".wekad/tmp/put-leftover"), b"junk").unwrap();
    drop(v);
    let _v = ObjectView::new(
        Arc::new(Root::open(d.path()).unwrap()),
        ObjectOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_dir(d.path().join(".wekad/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(Origin, Change)>>);

impl ChangeSink for Recorder {
    fn changed(&self, origin: Origin, change: &Change) {
        self.0.lock().unwrap().push((origin, change.clone()));
    }
}

#[test]
fn every_entry_a_put_creates_is_published_before_it_returns() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    let rec = Arc::new(Recorder::default());
    v.root().events().subscribe(rec.clone());
    put(&v, &b, "n1/n2", b"x");
    let names: Vec<OsString> = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(o, c)| match c {
            Change::Entry { name, .. } if *o == Origin::Object => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec![OsString::from("n1"), OsString::from("n2")]);
}

#[test]
fn a_file_in_the_way_of_a_directory_is_a_conflict_naming_it() {
    let (_d, v) = view();
    let b = bucket(&v, "bkt");
    put(&v, &b, "f", b"x");
    let mut s = v.stage().unwrap();
    s.write(b"y").unwrap();
    let err = v
        .commit(
            &b,
            &ObjectKey::parse("f/g").unwrap(),
            s,
            PutParams::default(),
            ME,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Object(ObjectError::Conflict { ref path, .. }) if path == "f"),
        "{err:?}"
    );
}

#[test]
fn a_listing_cached_snapshot_follows_changes_made_behind_its_back() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    put(&v, &b, "one", b"x");
    assert_eq!(list_all(&v, &b, "", None, 10), vec!["one"]);
    std::fs::write(d.path().join("bkt/two"), b"y").unwrap();
    assert_eq!(list_all(&v, &b, "", None, 10), vec!["one", "two"]);
}

/// A bucket `bkt` holding `sub/x` (the bytes `secret`) and, made behind the view's back as
/// the mount would, `link -> sub/x`, `dirlink -> sub` and `escape -> ../outside`.
fn bucket_with_symlinks() -> (tempfile::TempDir, ObjectView, BucketName) {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    put(&v, &b, "sub/x", b"secret");
    std::fs::write(d.path().join("outside"), b"o").unwrap();
    for (target, name) in [
        ("sub/x", "link"),
        ("sub", "dirlink"),
        ("../outside", "escape"),
    ] {
        std::os::unix::fs::symlink(target, d.path().join("bkt").join(name)).unwrap();
    }
    (d, v, b)
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::parse(k).unwrap()
}

fn is_no_such_key<T>(r: Result<T>) -> bool {
    matches!(r, Err(Error::Object(ObjectError::NoSuchKey)))
}

fn is_conflict<T>(r: Result<T>, why: &str) -> bool {
    matches!(r, Err(Error::Object(ObjectError::Conflict { why: w, .. })) if w == why)
}

#[test]
fn listing_hides_symlinks_and_special_files() {
    let (d, v, b) = bucket_with_symlinks();
    nix::unistd::mkfifo(
        &d.path().join("bkt/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert_eq!(list_all(&v, &b, "", None, 10), vec!["sub/x"]);
    let err = v.open_object(&b, &key("fifo")).err();
    assert!(
        matches!(err, Some(Error::Object(ObjectError::NoSuchKey))),
        "{err:?}"
    );
}

#[test]
fn a_symlink_to_a_directory_is_not_a_common_prefix_and_lists_nothing_below_it() {
    let (_d, v, b) = bucket_with_symlinks();
    assert_eq!(list_all(&v, &b, "", Some("/"), 10), vec!["sub/"]);
    assert!(list_all(&v, &b, "dirlink/", None, 10).is_empty());
    assert!(list_all(&v, &b, "dirlink/", Some("/"), 10).is_empty());
    assert!(list_all(&v, &b, "dirlink", None, 10).is_empty());
    // Other delimiters fold keys into prefixes: still only the real directory's keys.
    assert_eq!(list_all(&v, &b, "", Some("x"), 10), vec!["sub/x"]);
}

#[test]
fn a_key_that_is_a_symlink_is_no_such_key_for_every_read() {
    let (d, v, b) = bucket_with_symlinks();
    put(&v, &b, "sub/dirobj/", b"");
    std::os::unix::fs::symlink("sub/dirobj", d.path().join("bkt/dirobjlink")).unwrap();
    for k in ["link", "escape", "dirlink/", "dirobjlink/"] {
        assert!(is_no_such_key(v.open_object(&b, &key(k))), "{k}");
        assert!(is_no_such_key(v.open_object_cached(&b, &key(k))), "{k}");
        // Tagging reads and rewrites metadata through the same open.
        assert!(
            is_no_such_key(v.update_meta(&b, &key(k), |m| m.tags.clear())),
            "{k}"
        );
    }
}

#[test]
fn a_key_through_a_symlinked_directory_is_no_such_key_for_every_read() {
    let (_d, v, b) = bucket_with_symlinks();
    for k in ["dirlink/x", "dirlink/nothing"] {
        assert!(is_no_such_key(v.open_object(&b, &key(k))), "{k}");
        assert!(is_no_such_key(v.open_object_cached(&b, &key(k))), "{k}");
        let tagged = v.update_meta(&b, &key(k), |m| m.tags = vec![("t".into(), "v".into())]);
        assert!(is_no_such_key(tagged), "{k}");
    }
    // The real name still reads, and tagging through the link wrote nothing on it.
    let real = v.open_object(&b, &key("sub/x")).unwrap();
    assert!(real.meta.tags.is_empty());
}

#[test]
fn a_write_never_replaces_a_symlink_nor_goes_through_one() {
    let (d, v, b) = bucket_with_symlinks();
    let commit = |k: &str, if_none_match: bool| {
        let mut s = v.stage().unwrap();
        if !k.ends_with('/') {
            s.write(b"overwritten").unwrap();
        }
        let params = PutParams {
            if_none_match,
            ..PutParams::default()
        };
        v.commit(&b, &key(k), s, params, ME)
    };
    for if_none_match in [false, true] {
        let final_link = commit("link", if_none_match);
        assert!(is_conflict(final_link, "a symlink exists with this name"));
        for k in [
            "dirlink/x",
            "dirlink/new",
            "dirlink/deeper/new",
            "dirlink/dir/",
        ] {
            let middle = commit(k, if_none_match);
            assert!(
                is_conflict(middle, "a symlink exists where a directory is needed"),
                "{k}"
            );
        }
        let dir_object = commit("dirlink/", if_none_match);
        assert!(is_conflict(dir_object, "a symlink exists with this name"));
    }
    let bkt = d.path().join("bkt");
    assert_eq!(std::fs::read(bkt.join("sub/x")).unwrap(), b"secret");
    assert!(std::fs::symlink_metadata(bkt.join("link"))
        .unwrap()
        .is_symlink());
    assert!(std::fs::symlink_metadata(bkt.join("dirlink"))
        .unwrap()
        .is_symlink());
    let sub: Vec<_> = std::fs::read_dir(bkt.join("sub")).unwrap().collect();
    assert_eq!(sub.len(), 1, "{sub:?}");
    assert!(meta::get_xattr(
        super::open_dir(v.bucket(&b).unwrap().as_fd(), "sub")
            .unwrap()
            .as_fd(),
        meta::XATTR_DIROBJ
    )
    .unwrap()
    .is_none());
}

#[test]
fn completing_an_upload_through_a_symlinked_directory_is_a_conflict() {
    let (d, v, b) = bucket_with_symlinks();
    let k = key("dirlink/x");
    let id = v.create_upload(&b, &k, ObjectMeta::default(), ME).unwrap();
    let mut s = v.stage().unwrap();
    s.write(b"overwritten").unwrap();
    let part = v.commit_part(&b, &k, &id, 1, s, None).unwrap();
    let done = v.complete_upload(&b, &k, &id, &[(1, part.etag)], PutParams::default());
    assert!(is_conflict(
        done,
        "a symlink exists where a directory is needed"
    ));
    assert_eq!(
        std::fs::read(d.path().join("bkt/sub/x")).unwrap(),
        b"secret"
    );
}

#[test]
fn deleting_a_symlink_or_through_one_succeeds_and_removes_nothing() {
    let (d, v, b) = bucket_with_symlinks();
    for k in ["link", "escape", "dirlink", "dirlink/", "dirlink/x"] {
        v.delete_object(&b, &key(k)).unwrap();
    }
    let bkt = d.path().join("bkt");
    for name in ["link", "escape", "dirlink"] {
        assert!(
            std::fs::symlink_metadata(bkt.join(name))
                .unwrap()
                .is_symlink(),
            "{name}"
        );
    }
    assert_eq!(std::fs::read(bkt.join("sub/x")).unwrap(), b"secret");
    assert!(d.path().join("outside").exists());
}

#[test]
fn a_hard_link_is_a_second_name_served_and_listed_on_its_own_key() {
    let (d, v, b) = bucket_with_symlinks();
    std::fs::hard_link(d.path().join("bkt/sub/x"), d.path().join("bkt/hard")).unwrap();
    let mut via_hard = String::new();
    std::io::Read::read_to_string(
        &mut v.open_object(&b, &key("hard")).unwrap().file,
        &mut via_hard,
    )
    .unwrap();
    assert_eq!(via_hard, "secret");
    assert_eq!(list_all(&v, &b, "", None, 10), vec!["hard", "sub/x"]);
    // Deleting one name leaves the other.
    v.delete_object(&b, &key("hard")).unwrap();
    assert_eq!(
        std::fs::read(d.path().join("bkt/sub/x")).unwrap(),
        b"secret"
    );
}

#[test]
fn listing_by_name_and_by_open_file_agree() {
    let (dir, v) = view();
    let b = bucket(&v, "agree");
    put(&v, &b, "a", b"one");
    put(&v, &b, "d/b", b"two");
    put(&v, &b, "d/c/", b"");
    std::fs::write(
        dir.path().join("agree/by-mount"),
        b"written behind the view",
    )
    .unwrap();
    std::os::unix::fs::symlink("a", dir.path().join("agree/link")).unwrap();
    let q = ListQuery {
        max: 1000,
        ..ListQuery::default()
    };
    let by_name = v.list(&b, &q).unwrap().entries;
    // The symlink is left out by both paths.
    assert_eq!(by_name.len(), 4, "{by_name:?}");
    let etag_of = |entries: &[ListEntry], key: &str| match entries.iter().find(|e| e.key() == key) {
        Some(ListEntry::Object { etag, .. }) => etag.clone(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(
        etag_of(&by_name, "a"),
        hex::encode(<md5::Md5 as md5::Digest>::digest(b"one"))
    );
    // The file written behind the view's back has no stored ETag: a stand-in.
    assert_ne!(
        etag_of(&by_name, "by-mount"),
        hex::encode(<md5::Md5 as md5::Digest>::digest(
            b"written behind the view"
        ))
    );
    // The same page through the fallback (open each file), as on kernels before 6.13.
    crate::disk::disable_getxattrat();
    let by_open = v.list(&b, &q).unwrap().entries;
    assert_eq!(by_name, by_open);
}

#[test]
fn publishing_creates_replaces_or_refuses_and_leaves_no_temp_name() {
    let (d, v) = view();
    let b = bucket(&v, "pub");
    let tmp_entries = || {
        std::fs::read_dir(d.path().join(".wekad/tmp"))
            .unwrap()
            .count()
    };
    let commit = |key: &str, data: &[u8], if_none_match: bool| {
        let mut s = v.stage().unwrap();
        s.write(data).unwrap();
        let params = PutParams {
            if_none_match,
            ..PutParams::default()
        };
        v.commit(&b, &ObjectKey::parse(key).unwrap(), s, params, ME)
    };
    commit("a/new", b"first", false).unwrap();
    assert_eq!(std::fs::read(d.path().join("pub/a/new")).unwrap(), b"first");
    // Replacing a key: new inode, new bytes, nothing left in the internal area.
    let before = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(d.path().join("pub/a/new")).unwrap(),
    );
    commit("a/new", b"second", false).unwrap();
    let after = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(d.path().join("pub/a/new")).unwrap(),
    );
    assert_ne!(before, after);
    assert_eq!(
        std::fs::read(d.path().join("pub/a/new")).unwrap(),
        b"second"
    );
    assert_eq!(tmp_entries(), 0);
    // If-None-Match: * refuses an existing key and keeps its bytes.
    assert!(matches!(
        commit("a/new", b"third", true),
        Err(Error::Object(ObjectError::PreconditionFailed))
    ));
    assert_eq!(
        std::fs::read(d.path().join("pub/a/new")).unwrap(),
        b"second"
    );
    commit("a/other", b"made", true).unwrap();
    // A directory in the way is a conflict, and the directory is untouched.
    for if_none_match in [false, true] {
        let err = commit("a", b"x", if_none_match).unwrap_err();
        assert!(err.to_string().contains("a directory exists"), "{err}");
    }
    assert!(d.path().join("pub/a").is_dir());
    assert_eq!(tmp_entries(), 0);
    // Published objects are plain 0644 files.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.path().join("pub/a/other"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o7777, 0o644);
}

/// An upload with a 5 MiB part and a small last part; returns its id and part list.
fn upload_two_parts(v: &ObjectView, b: &BucketName, k: &ObjectKey) -> (String, Vec<(u32, String)>) {
    let id = v.create_upload(b, k, ObjectMeta::default(), ME).unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, vec![1u8; 5 << 20]), (2, b"tail".to_vec())] {
        let mut s = v.stage().unwrap();
        s.write(&body).unwrap();
        parts.push((n, v.commit_part(b, k, &id, n, s, None).unwrap().etag));
    }
    (id, parts)
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn a_retried_complete_answers_the_same_etag_and_other_parts_are_no_such_upload() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    let k = key("big");
    let (id, parts) = upload_two_parts(&v, &b, &k);
    let done = v
        .complete_upload(&b, &k, &id, &parts, PutParams::default())
        .unwrap();
    assert!(done.etag.ends_with("-2"), "{}", done.etag);
    // The upload is gone from the staging area and the listing; only its record is left.
    assert!(names(&d.path().join(".wekad/multipart")).is_empty());
    assert!(v.list_uploads(&b).unwrap().is_empty());
    assert!(matches!(
        v.list_parts(&b, &k, &id),
        Err(Error::Object(ObjectError::NoSuchUpload))
    ));
    assert_eq!(
        names(&d.path().join(".wekad/multipart-done").join(&id)),
        ["result.json"]
    );
    let quoted: Vec<_> = parts
        .iter()
        .map(|(n, e)| (*n, format!("\"{e}\"")))
        .collect();
    let again = v
        .complete_upload(&b, &k, &id, &quoted, PutParams::default())
        .unwrap();
    assert_eq!((again.etag, again.size), (done.etag, done.size));
    for other in [
        &parts[..1],
        &[(1, parts[0].1.clone()), (2, "0".repeat(32))][..],
    ] {
        assert!(matches!(
            v.complete_upload(&b, &k, &id, other, PutParams::default()),
            Err(Error::Object(ObjectError::NoSuchUpload))
        ));
    }
    assert!(matches!(
        v.complete_upload(&b, &key("other"), &id, &parts, PutParams::default()),
        Err(Error::Object(ObjectError::NoSuchUpload))
    ));
    assert!(matches!(
        v.abort_upload(&b, &k, &id),
        Err(Error::Object(ObjectError::NoSuchUpload))
    ));
}

#[test]
fn an_aborted_upload_leaves_nothing_and_cannot_be_completed() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    let k = key("big");
    let (id, parts) = upload_two_parts(&v, &b, &k);
    v.abort_upload(&b, &k, &id).unwrap();
    assert!(names(&d.path().join(".wekad/multipart")).is_empty());
    assert!(names(&d.path().join(".wekad/multipart-done")).is_empty());
    assert!(matches!(
        v.complete_upload(&b, &k, &id, &parts, PutParams::default()),
        Err(Error::Object(ObjectError::NoSuchUpload))
    ));
}

#[test]
fn the_start_up_sweep_finishes_interrupted_clean_ups_and_keeps_whole_uploads() {
    let (d, v) = view();
    let b = bucket(&v, "bkt");
    let k = key("big");
    let (open_id, open_parts) = upload_two_parts(&v, &b, &k);
    let (done_id, done_parts) = upload_two_parts(&v, &b, &k);
    v.complete_upload(&b, &k, &done_id, &done_parts, PutParams::default())
        .unwrap();
    let (old_id, old_parts) = upload_two_parts(&v, &b, &k);
    v.complete_upload(&b, &k, &old_id, &old_parts, PutParams::default())
        .unwrap();
    let internal = d.path().join(".wekad");
    // What crashes leave: a completed upload whose parts were not all removed yet, an
    // expired record, and an upload whose creation never finished writing info.json.
    std::fs::write(
        internal
            .join("multipart-done")
            .join(&done_id)
            .join("part-00002"),
        b"x",
    )
    .unwrap();
    let old_record = internal
        .join("multipart-done")
        .join(&old_id)
        .join("result.json");
    let aged = std::fs::read_to_string(&old_record)
        .unwrap()
        .replace("\"completed_secs\":", "\"completed_secs\":0,\"was\":");
    std::fs::write(&old_record, aged).unwrap();
    let half = internal
        .join("multipart")
        .join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&half).unwrap();
    std::fs::write(half.join("info.json.tmp"), b"{\"upload_id\":").unwrap();
    drop(v);

    let v = ObjectView::new(
        Arc::new(Root::open(d.path()).unwrap()),
        ObjectOptions::default(),
    )
    .unwrap();
    assert_eq!(names(&internal.join("multipart")), vec![open_id.clone()]);
    assert_eq!(
        names(&internal.join("multipart-done")),
        vec![done_id.clone()]
    );
    assert_eq!(
        names(&internal.join("multipart-done").join(&done_id)),
        ["result.json"]
    );
    // The whole upload is still completable; the completed one still answers its retry.
    assert_eq!(v.list_parts(&b, &k, &open_id).unwrap().len(), 2);
    v.complete_upload(&b, &k, &done_id, &done_parts, PutParams::default())
        .unwrap();
    let done = v
        .complete_upload(&b, &k, &open_id, &open_parts, PutParams::default())
        .unwrap();
    assert_eq!(
        std::fs::metadata(d.path().join("bkt/big")).unwrap().len(),
        done.size
    );
}
