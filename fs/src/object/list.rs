//! Listing in S3 order without walking the whole bucket per page.
//!
//! S3 orders keys by bytes, and a directory's children all start with `name/`, so a
//! directory sorts as `name/` among its siblings. A page descends from the prefix's
//! directory, seeks (binary search) to the resume point in every directory on the path, and
//! stops as soon as the page is full plus one entry (to know it is truncated).
//!
//! Sorted directory snapshots are cached per directory inode, validated by (mtime, ctime)
//! on every use and dropped on change events, so a huge directory is read and sorted once.
//! Listing never reads file content: a stale ETag is reported as a stamp-derived value.
//!
//! Only regular files and directories are listed: a symlink is never an object nor a common
//! prefix, whatever it points at, and no entry is ever opened through one.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::SystemTime;

use super::{meta, BucketName, ObjectView};
use crate::disk::{self, Errno, Kind, OFlags};
use crate::error::{Error, Result};
use crate::events::{Change, ChangeSink, Origin};
use crate::root::Root;
use crate::sync::{lock, Arc, Mutex};

/// Directories kept in the cache before it is cleared wholesale.
const MAX_CACHED_DIRS: usize = 4096;
/// Entries (over all cached directories) kept before the cache is cleared wholesale: about
/// 50 bytes each, so the cache stays under a few hundred MB whatever the tree looks like.
const MAX_CACHED_ENTRIES: usize = 4_000_000;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Only keys strictly greater than this (start-after, marker, continuation).
    pub after: Option<String>,
    pub max: usize,
}

/// One listed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object {
        key: String,
        size: u64,
        modified: SystemTime,
        etag: String,
        uid: u32,
    },
    Prefix(String),
}

impl ListEntry {
    /// The key or common prefix (what a continuation resumes after).
    pub fn key(&self) -> &str {
        match self {
            ListEntry::Object { key, .. } => key,
            ListEntry::Prefix(p) => p,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

#[derive(Debug, Clone)]
struct SnapEntry {
    /// Name, plus `/` for a directory.
    sort: String,
    dir: bool,
}

struct Snapshot {
    mtime_ns: i128,
    ctime_ns: i128,
    entries: Vec<SnapEntry>,
}

/// Sorted directory snapshots keyed by backing `st_ino`.
pub(super) struct SnapshotCache {
    root: Arc<Root>,
    dirs: Mutex<HashMap<u64, Arc<Snapshot>>>,
}

impl SnapshotCache {
    pub(super) fn new(root: Arc<Root>) -> SnapshotCache {
        SnapshotCache {
            root,
            dirs: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, dir: BorrowedFd<'_>) -> Result<Arc<Snapshot>> {
        let st = disk::stat(dir)?;
        let (m, c) = (disk::mtime_ns(&st), disk::ctime_ns(&st));
        if let Some(s) = lock(&self.dirs).get(&st.st_ino) {
            if s.mtime_ns == m && s.ctime_ns == c {
                return Ok(s.clone());
            }
        }
        let snap = Arc::new(Snapshot {
            mtime_ns: m,
            ctime_ns: c,
            entries: read_sorted(dir)?,
        });
        let mut dirs = lock(&self.dirs);
        let cached: usize = dirs.values().map(|s| s.entries.len()).sum();
        if dirs.len() >= MAX_CACHED_DIRS || cached + snap.entries.len() > MAX_CACHED_ENTRIES {
            dirs.clear();
        }
        dirs.insert(st.st_ino, snap.clone());
        Ok(snap)
    }
}

impl ChangeSink for SnapshotCache {
    fn changed(&self, _origin: Origin, change: &Change) {
        let ino = match change {
            Change::Entry { parent, .. } => *parent,
            Change::Inode { ino } => *ino,
        };
        lock(&self.dirs).remove(&self.root.st_ino(ino));
    }
}

/// Reads and sorts a directory; non-UTF-8 names, special files and symlinks are not
/// objects and are left out.
fn read_sorted(dir: BorrowedFd<'_>) -> Result<Vec<SnapEntry>> {
    let mut out = Vec::new();
    for (name, kind) in super::entries(dir)? {
        let Ok(name) = String::from_utf8(name) else {
            continue;
        };
        let is_dir = match kind {
            Kind::Dir => true,
            Kind::File => false,
            Kind::Symlink | Kind::Other => continue,
        };
        let sort = if is_dir { format!("{name}/") } else { name };
        out.push(SnapEntry { sort, dir: is_dir });
    }
    out.sort_unstable_by(|a, b| a.sort.as_bytes().cmp(b.sort.as_bytes()));
    Ok(out)
}

struct Collector<'q> {
    q: &'q ListQuery,
    page: ListPage,
    last_prefix: Option<String>,
}

impl Collector<'_> {
    fn push(&mut self, e: ListEntry) -> ControlFlow<()> {
        if self.page.entries.len() >= self.q.max {
            self.page.truncated = true;
            return ControlFlow::Break(());
        }
        self.page.entries.push(e);
        ControlFlow::Continue(())
    }

    /// Adds an object, folding it into a common prefix for delimiters other than `/`.
    fn object(&mut self, e: ListEntry) -> ControlFlow<()> {
        let Some(delim) = self
            .q
            .delimiter
            .as_deref()
            .filter(|d| *d != "/" && !d.is_empty())
        else {
            return self.push(e);
        };
        let key = e.key();
        let Some(idx) = key
            .get(self.q.prefix.len()..)
            .and_then(|rest| rest.find(delim))
        else {
            return self.push(e);
        };
        let cp = key[..self.q.prefix.len() + idx + delim.len()].to_owned();
        if self.last_prefix.as_deref() == Some(&cp)
            || self.q.after.as_deref().is_some_and(|m| m.starts_with(&cp))
        {
            return ControlFlow::Continue(());
        }
        self.last_prefix = Some(cp.clone());
        self.push(ListEntry::Prefix(cp))
    }
}

impl ObjectView {
    /// Lists one page of `bucket` (see the module docs for the order and cost).
    pub fn list(&self, bucket: &BucketName, q: &ListQuery) -> Result<ListPage> {
        let bfd = self.bucket(bucket)?;
        let mut c = Collector {
            q,
            page: ListPage::default(),
            last_prefix: None,
        };
        if q.max == 0 {
            return Ok(c.page);
        }
        let split = q.prefix.rfind('/').map_or(0, |i| i + 1);
        let (dir_part, rem) = q.prefix.split_at(split);
        let marker = match q.after.as_deref() {
            Some(m) if m.starts_with(dir_part) => Some(m),
            Some(m) if m > dir_part => return Ok(c.page),
            _ => None,
        };
        let Some(dir) = descend(bfd, dir_part)? else {
            return Ok(c.page);
        };
        let slash = q.delimiter.as_deref() == Some("/");
        let walk = Walk {
            view: self,
            prefix: &q.prefix,
            slash,
        };
        if !dir_part.is_empty() && rem.is_empty() {
            let _ = walk.dir_object(dir.as_fd(), dir_part, marker, &mut c)?;
        }
        let _ = walk.dir(dir.as_fd(), dir_part, Some(rem), marker, &mut c)?;
        Ok(c.page)
    }
}

/// Opens the directory `dir_part` (`a/b/`) below the bucket, `None` if it is absent.
///
/// A prefix with an empty segment (`/`, `/a/`, `a//`) names no directory: no key has an
/// empty segment, so nothing can be listed below it.
fn descend(bucket: OwnedFd, dir_part: &str) -> Result<Option<OwnedFd>> {
    let inner = dir_part.strip_suffix('/').unwrap_or(dir_part);
    if dir_part == "/" || (!inner.is_empty() && inner.split('/').any(str::is_empty)) {
        return Ok(None);
    }
    let mut dir = bucket;
    for seg in dir_part.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Ok(None);
        }
        dir = match super::open_dir(dir.as_fd(), seg) {
            Ok(fd) => fd,
            Err(Error::NotFound | Error::NotADirectory) => return Ok(None),
            Err(e) => return Err(e),
        };
    }
    Ok(Some(dir))
}

struct Walk<'a> {
    view: &'a ObjectView,
    prefix: &'a str,
    slash: bool,
}

impl Walk<'_> {
    /// Emits the directory object `dir_key` itself if `dir` is one and it is past the marker.
    fn dir_object(
        &self,
        dir: BorrowedFd<'_>,
        dir_key: &str,
        marker: Option<&str>,
        c: &mut Collector<'_>,
    ) -> Result<ControlFlow<()>> {
        if marker.is_some_and(|m| m >= dir_key) || !dir_key.starts_with(self.prefix) {
            return Ok(ControlFlow::Continue(()));
        }
        if meta::get_xattr(dir, meta::XATTR_DIROBJ)?.is_none() {
            return Ok(ControlFlow::Continue(()));
        }
        let st = disk::stat(dir)?;
        let e = ListEntry::Object {
            key: dir_key.to_owned(),
            size: 0,
            modified: disk::mtime(&st),
            etag: super::EMPTY_MD5.to_owned(),
            uid: st.st_uid,
        };
        Ok(c.object(e))
    }

    /// Lists `dir` (whose key prefix is `dir_key`), entries starting with `rem` only.
    fn dir(
        &self,
        dir: BorrowedFd<'_>,
        dir_key: &str,
        rem: Option<&str>,
        marker: Option<&str>,
        c: &mut Collector<'_>,
    ) -> Result<ControlFlow<()>> {
        let snap = self.view.listing.get(dir)?;
        let rel = marker.and_then(|m| m.strip_prefix(dir_key));
        let mut start = rel.map_or(0, |r| {
            snap.entries
                .partition_point(|e| e.sort.as_str() < r && !r.starts_with(e.sort.as_str()))
        });
        if let Some(rem) = rem.filter(|r| !r.is_empty()) {
            start = start.max(snap.entries.partition_point(|e| e.sort.as_str() < rem));
        }
        for e in snap.entries.get(start..).unwrap_or_default() {
            if rem.is_some_and(|r| !e.sort.starts_with(r)) {
                break;
            }
            let flow = if e.dir {
                self.child_dir(dir, dir_key, e, rel, marker, c)?
            } else {
                self.file(dir, dir_key, e, rel, c)?
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn file(
        &self,
        dir: BorrowedFd<'_>,
        dir_key: &str,
        e: &SnapEntry,
        rel: Option<&str>,
        c: &mut Collector<'_>,
    ) -> Result<ControlFlow<()>> {
        if rel.is_some_and(|r| e.sort.as_str() <= r) {
            return Ok(ControlFlow::Continue(()));
        }
        let Some(entry) = object_entry(dir, dir_key, &e.sort)? else {
            return Ok(ControlFlow::Continue(()));
        };
        Ok(c.object(entry))
    }

    fn child_dir(
        &self,
        dir: BorrowedFd<'_>,
        dir_key: &str,
        e: &SnapEntry,
        rel: Option<&str>,
        marker: Option<&str>,
        c: &mut Collector<'_>,
    ) -> Result<ControlFlow<()>> {
        let inside = rel.is_some_and(|r| r.starts_with(e.sort.as_str()));
        if rel.is_some_and(|r| e.sort.as_str() <= r) && !inside {
            return Ok(ControlFlow::Continue(()));
        }
        let key = format!("{dir_key}{}", e.sort);
        if self.slash {
            if inside {
                return Ok(ControlFlow::Continue(()));
            }
            return Ok(c.push(ListEntry::Prefix(key)));
        }
        let name = e.sort.trim_end_matches('/');
        let child = match super::open_dir(dir, name) {
            Ok(fd) => fd,
            Err(_) => return Ok(ControlFlow::Continue(())),
        };
        let inner = if inside { marker } else { None };
        if self.dir_object(child.as_fd(), &key, inner, c)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        self.dir(child.as_fd(), &key, None, inner, c)
    }
}

/// Size, mtime and ETag of a listed file, or `None` if it vanished or is not a regular file
/// (a symlink or a fifo swapped in since the snapshot is neither followed nor blocks: the
/// entry is opened with `O_NOFOLLOW | O_NONBLOCK`).
fn object_entry(dir: BorrowedFd<'_>, dir_key: &str, name: &str) -> Result<Option<ListEntry>> {
    if let Some(entry) = object_entry_by_name(dir, dir_key, name) {
        return entry;
    }
    let opened = super::open_child(
        dir,
        name,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
    );
    let fd = match opened {
        Ok(fd) => fd,
        Err(Error::NotFound | Error::NotADirectory) => return Ok(None),
        // `O_NOFOLLOW` met a symlink swapped in since the snapshot: not an object.
        Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = disk::stat(fd.as_fd())?;
    if Kind::of_mode(st.st_mode) != Kind::File {
        return Ok(None);
    }
    let stored = meta::fresh_stamp(fd.as_fd(), &st).ok().flatten();
    Ok(Some(listed(dir_key, name, &st, stored)))
}

/// The listed object `dir_key` + `name` with attributes `st`: its stored ETag if fresh,
/// else a stand-in derived from the stamp.
fn listed(dir_key: &str, name: &str, st: &disk::Stat, stored: Option<meta::Stamped>) -> ListEntry {
    ListEntry::Object {
        key: format!("{dir_key}{name}"),
        size: u64::try_from(st.st_size).unwrap_or(0),
        modified: disk::mtime(st),
        etag: stored.map_or_else(|| stamp_etag(st), |s| s.etag),
        uid: st.st_uid,
    }
}

/// `object_entry` for a plain file with two syscalls (`fstatat` and `getxattrat`) instead
/// of four (open, `fstat`, `fgetxattr`, close). `None` when the kernel lacks
/// `getxattrat`. The ETag record carries the (size, mtime) stamp it was stored for, so a
/// file replaced between the two calls gets a stand-in ETag, never a wrong one.
fn object_entry_by_name(
    dir: BorrowedFd<'_>,
    dir_key: &str,
    name: &str,
) -> Option<Result<Option<ListEntry>>> {
    let st = match disk::stat_at(dir, name) {
        Ok(st) => st,
        Err(Errno::NOENT | Errno::NOTDIR) => return Some(Ok(None)),
        Err(e) => return Some(Err(e.into())),
    };
    if Kind::of_mode(st.st_mode) != Kind::File {
        return Some(Ok(None));
    }
    let stored = match disk::get_xattr_at(dir, name, crate::root::XATTR_ETAG)? {
        Ok(raw) => raw,
        // Deleted since the stat: left out, as when the open path finds it gone.
        Err(Errno::NOENT) => return Some(Ok(None)),
        Err(e) => return Some(Err(e.into())),
    };
    let fresh = stored.and_then(|raw| meta::fresh_record(&raw, &st));
    Some(Ok(Some(listed(dir_key, name, &st, fresh))))
}

/// A stand-in ETag for content changed outside the object view and not hashed yet:
/// derived from (inode, size, mtime) so it changes whenever the content may have.
fn stamp_etag(st: &disk::Stat) -> String {
    use md5::Digest;
    let stamp = format!("{}-{}-{}", st.st_ino, st.st_size, disk::mtime_ns(st));
    hex::encode(md5::Md5::digest(stamp.as_bytes()))
}
