//! GetObject and HeadObject: body, size, mtime and ETag from one open descriptor;
//! conditionals, ranges, `partNumber`, `response-*` overrides, stored checksums.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::{ObjectMeta, OpenObject};

use super::{blocking, check_version, etag, existing_bucket, key, Gateway};
use crate::error::{Error, Result};

/// Objects up to this size are read in the same blocking call that opens them.
const INLINE_BODY: u64 = 1 << 20;
/// Chunk size of streamed bodies.
const CHUNK: u64 = 1 << 20;

/// The request's conditional headers.
pub(crate) struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn matches(cond: &ETagCondition, current: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == current,
    }
}

/// `modified` truncated to whole seconds (HTTP dates have no fraction).
fn seconds(t: SystemTime) -> Timestamp {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp::from(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

impl Conditions<'_> {
    /// Applies RFC 7232 precedence: If-Match before If-Unmodified-Since, If-None-Match
    /// before If-Modified-Since. `read` selects 304 (GET/HEAD) rather than 412.
    pub(crate) fn check(&self, current_etag: &str, modified: SystemTime, read: bool) -> Result<()> {
        let m = seconds(modified);
        if let Some(c) = self.if_match {
            if !matches(c, current_etag) {
                return Err(precondition());
            }
        } else if self.if_unmodified_since.is_some_and(|t| m > *t) {
            return Err(precondition());
        }
        let unchanged = match self.if_none_match {
            Some(c) => matches(c, current_etag),
            None => self.if_modified_since.is_some_and(|t| m <= *t),
        };
        match (unchanged, read) {
            (true, true) => Err(Error::NotModified),
            (true, false) => Err(precondition()),
            (false, _) => Ok(()),
        }
    }
}

fn precondition() -> Error {
    weka_fs::object::ObjectError::PreconditionFailed.into()
}

/// The byte range to serve and the part count to report.
struct Span {
    start: u64,
    end: u64,
    partial: bool,
    parts_count: Option<i32>,
}

fn span(o: &OpenObject, range: Option<&Range>, part: Option<i32>) -> Result<Span> {
    if let Some(n) = part {
        return part_span(o, n);
    }
    let Some(r) = range else {
        return Ok(Span {
            start: 0,
            end: o.size,
            partial: false,
            parts_count: None,
        });
    };
    let r = r.check(o.size).map_err(|_| Error::InvalidRange)?;
    Ok(Span {
        start: r.start,
        end: r.end,
        partial: true,
        parts_count: None,
    })
}

fn part_span(o: &OpenObject, n: i32) -> Result<Span> {
    let sizes = o.stamp.parts.clone().unwrap_or_else(|| vec![o.size]);
    let idx = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|i| *i < sizes.len())
        .ok_or(Error::InvalidRange)?;
    let start: u64 = sizes.iter().take(idx).sum();
    let len = sizes.get(idx).copied().unwrap_or(0);
    let count = i32::try_from(sizes.len()).unwrap_or(i32::MAX);
    Ok(Span {
        start,
        end: start + len,
        partial: sizes.len() > 1,
        parts_count: o.stamp.parts.as_ref().map(|_| count),
    })
}

fn expires_of(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.expires
        .as_deref()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok())
}

fn user_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user.is_empty()).then(|| {
        meta.user
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Stored checksums, when asked for and the whole object is served.
struct Sums {
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
}

fn sums(o: &OpenObject, mode: Option<&ChecksumMode>, whole: bool) -> Sums {
    let on = whole && mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let get = |name: &str| {
        if on {
            o.stamp.checksums.get(name).cloned()
        } else {
            None
        }
    };
    Sums {
        crc32: get("crc32"),
        crc32c: get("crc32c"),
        sha1: get("sha1"),
        sha256: get("sha256"),
    }
}

/// The output of GET or HEAD (`$output`) with the headers both answer alike, from the open
/// object `$o`, its served span `$s` and checksums `$c`. The request's `response-*`
/// overrides (`$i`, the same fields on both inputs) win over what is stored.
macro_rules! object_output {
    ($output:ident, $i:expr, $o:expr, $s:expr, $c:expr) => {{
        let (i, o, s, c) = ($i, $o, $s, $c);
        $output {
            accept_ranges: Some("bytes".into()),
            content_length: Some(i64::try_from(s.end - s.start).unwrap_or(i64::MAX)),
            content_range: s
                .partial
                .then(|| format!("bytes {}-{}/{}", s.start, s.end.saturating_sub(1), o.size)),
            parts_count: s.parts_count,
            e_tag: Some(etag(&o.stamp.etag)),
            last_modified: Some(o.modified.into()),
            content_type: i
                .response_content_type
                .clone()
                .or(o.meta.content_type.clone())
                .or(Some("binary/octet-stream".into())),
            content_encoding: i
                .response_content_encoding
                .clone()
                .or(o.meta.content_encoding.clone()),
            content_disposition: i
                .response_content_disposition
                .clone()
                .or(o.meta.content_disposition.clone()),
            content_language: i
                .response_content_language
                .clone()
                .or(o.meta.content_language.clone()),
            cache_control: i
                .response_cache_control
                .clone()
                .or(o.meta.cache_control.clone()),
            expires: i.response_expires.clone().or(expires_of(&o.meta)),
            metadata: user_metadata(&o.meta),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }
    }};
}

/// Opens an object inline when its stored ETag is fresh; only when the ETag must be
/// recomputed from the content does the open move to the blocking pool.
async fn open(gw: &Gateway, bucket: &str, k: &str) -> Result<OpenObject> {
    let (b, k) = (existing_bucket(bucket)?, key(k)?);
    if let Some(o) = gw.view.open_object_cached(&b, &k)? {
        return Ok(o);
    }
    let view = gw.view.clone();
    blocking(move || Ok(view.open_object(&b, &k)?)).await
}

pub async fn head_object(
    gw: &Gateway,
    req: S3Request<HeadObjectInput>,
) -> Result<S3Response<HeadObjectOutput>> {
    let i = &req.input;
    check_version(i.version_id.as_deref())?;
    let o = open(gw, &i.bucket, &i.key).await?;
    let conds = Conditions {
        if_match: i.if_match.as_ref(),
        if_none_match: i.if_none_match.as_ref(),
        if_modified_since: i.if_modified_since.as_ref(),
        if_unmodified_since: i.if_unmodified_since.as_ref(),
    };
    conds.check(&o.stamp.etag, o.modified, true)?;
    let s = span(&o, i.range.as_ref(), i.part_number)?;
    let c = sums(&o, i.checksum_mode.as_ref(), !s.partial);
    let out = object_output!(HeadObjectOutput, i, &o, &s, c);
    let mut resp = S3Response::new(out);
    // AWS answers HEAD with the same `x-amz-tagging-count` as GET, but s3s's
    // HeadObjectOutput (from the AWS model) has no field for it, so it is set as a header.
    if let Some(n) = tag_count(&o) {
        resp.headers.insert("x-amz-tagging-count", n.into());
    }
    Ok(resp)
}

/// The number of tags of an object, for `x-amz-tagging-count`; `None` (no header) when it
/// has none, as AWS.
fn tag_count(o: &OpenObject) -> Option<i32> {
    let n = o.meta.tags.len();
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

pub async fn get_object(
    gw: &Gateway,
    req: S3Request<GetObjectInput>,
) -> Result<S3Response<GetObjectOutput>> {
    let i = &req.input;
    check_version(i.version_id.as_deref())?;
    let o = open(gw, &i.bucket, &i.key).await?;
    let conds = Conditions {
        if_match: i.if_match.as_ref(),
        if_none_match: i.if_none_match.as_ref(),
        if_modified_since: i.if_modified_since.as_ref(),
        if_unmodified_since: i.if_unmodified_since.as_ref(),
    };
    conds.check(&o.stamp.etag, o.modified, true)?;
    let s = span(&o, i.range.as_ref(), i.part_number)?;
    let c = sums(&o, i.checksum_mode.as_ref(), !s.partial);
    let mut out = object_output!(GetObjectOutput, i, &o, &s, c);
    out.tag_count = tag_count(&o);
    out.body = Some(body(o.file, s.start, s.end).await?);
    let mut resp = S3Response::new(out);
    if s.partial {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(resp)
}

/// Streams `[start, end)` of `file` with `pread`, so the descriptor's offset is irrelevant.
async fn body(file: std::fs::File, start: u64, end: u64) -> Result<StreamingBlob> {
    let file = Arc::new(file);
    if end - start <= INLINE_BODY {
        let data = read_span(file, start, end).await?;
        return Ok(StreamingBlob::wrap(futures::stream::once(async move {
            Ok::<_, std::io::Error>(data)
        })));
    }
    let stream = futures::stream::try_unfold(start, move |pos| {
        let file = file.clone();
        async move {
            if pos >= end {
                return Ok(None);
            }
            let stop = (pos + CHUNK).min(end);
            let data = read_span(file, pos, stop)
                .await
                .map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(Some((data, stop)))
        }
    });
    Ok(StreamingBlob::wrap(stream))
}

/// Reads `[start, end)`: what the page cache holds is copied inline, and only a read that
/// would wait on the device goes to the blocking pool.
async fn read_span(file: Arc<std::fs::File>, start: u64, end: u64) -> Result<Bytes> {
    read_span_with(file, start, end, weka_fs::object::read_cached).await
}

/// `read_span` with the page-cache-only read `cached` (a parameter so that tests can make
/// it stop short).
async fn read_span_with(
    file: Arc<std::fs::File>,
    start: u64,
    end: u64,
    cached: impl Fn(BorrowedFd<'_>, &mut [u8], u64) -> weka_fs::Result<Option<usize>>,
) -> Result<Bytes> {
    let len = usize::try_from(end - start).map_err(|e| Error::Internal(e.to_string()))?;
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match cached(file.as_fd(), &mut buf[done..], start + done as u64)? {
            Some(0) => return Ok(shrunk(buf, done)),
            Some(n) => done += n,
            None => return blocking(move || fill(&file, buf, done, start)).await,
        }
    }
    Ok(Bytes::from(buf))
}

/// Fills `buf[done..]` with the file's bytes from `start + done` on, waiting on the device.
fn fill(file: &std::fs::File, mut buf: Vec<u8>, mut done: usize, start: u64) -> Result<Bytes> {
    while done < buf.len() {
        let n = file
            .read_at(&mut buf[done..], start + done as u64)
            .map_err(weka_fs::Error::from)?;
        if n == 0 {
            return Ok(shrunk(buf, done));
        }
        done += n;
    }
    Ok(Bytes::from(buf))
}

/// The file shrank under us (written through the mount): serve what exists.
fn shrunk(mut buf: Vec<u8>, done: usize) -> Bytes {
    buf.truncate(done);
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(data: &[u8]) -> (tempfile::TempDir, Arc<std::fs::File>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        (dir, Arc::new(f))
    }

    /// The page cache holds only part of the span: that part is copied inline, the rest is
    /// read on the blocking pool from where the inline copy stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_span_partly_out_of_the_page_cache_reads_back_whole() {
        let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
        let (_d, f) = file_of(&data);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        // Cached: 4 KiB at the first call, then nothing.
        let partly = |fd: BorrowedFd<'_>, buf: &mut [u8], at: u64| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                return Ok(None);
            }
            let n = buf.len().min(4096);
            weka_fs::object::read_cached(fd, &mut buf[..n], at)
        };
        let got = read_span_with(f.clone(), 1000, 3 << 20, partly)
            .await
            .unwrap();
        assert_eq!(got.len(), data.len() - 1000);
        assert!(got[..] == data[1000..], "bytes out of order");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_span_past_the_end_serves_what_exists_on_both_paths() {
        let (_d, f) = file_of(b"0123456789");
        let got = read_span(f.clone(), 4, 50).await.unwrap();
        assert_eq!(&got[..], b"456789");
        let none = |_: BorrowedFd<'_>, _: &mut [u8], _: u64| Ok(None);
        let got = read_span_with(f, 4, 50, none).await.unwrap();
        assert_eq!(&got[..], b"456789");
    }
}
