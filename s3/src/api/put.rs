//! PutObject: stream the body into a hidden temp file while hashing (MD5 for the ETag,
//! plus any requested CRC32/CRC32C/SHA1/SHA256), verify Content-MD5 and checksums
//! (headers or trailers), then publish with one rename.

use std::collections::BTreeMap;

use futures::StreamExt;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::{ObjectMeta, PutParams, Staged};

use super::{existing_bucket, fs_work, key, owner, Gateway, BODY_STALL};
use crate::error::{Error, Result};

/// Checksums named by a request, by our algorithm names, with their expected values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Expected {
    pub algos: Vec<&'static str>,
    pub values: BTreeMap<&'static str, String>,
}

const ALGOS: [(&str, &str); 4] = [
    ("crc32", "x-amz-checksum-crc32"),
    ("crc32c", "x-amz-checksum-crc32c"),
    ("sha1", "x-amz-checksum-sha1"),
    ("sha256", "x-amz-checksum-sha256"),
];

impl Expected {
    /// Reads `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm` and `x-amz-trailer`.
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Expected {
        let mut e = Expected::default();
        let header = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        let sdk = header("x-amz-sdk-checksum-algorithm");
        let trailer = header("x-amz-trailer").unwrap_or_default();
        for (name, hdr) in ALGOS {
            if let Some(v) = h.get(hdr).and_then(|v| v.to_str().ok()) {
                e.values.insert(name, v.to_owned());
            }
            if e.values.contains_key(name) || sdk.as_deref() == Some(name) || trailer.contains(hdr)
            {
                e.algos.push(name);
            }
        }
        e
    }

    fn hasher(&self) -> ChecksumHasher {
        let mut h = ChecksumHasher::default();
        for a in &self.algos {
            match *a {
                "crc32" => h.crc32 = Some(s3s::crypto::Crc32::new()),
                "crc32c" => h.crc32c = Some(s3s::crypto::Crc32c::new()),
                "sha1" => h.sha1 = Some(s3s::crypto::Sha1::new()),
                "sha256" => h.sha256 = Some(s3s::crypto::Sha256::new()),
                _ => {}
            }
        }
        h
    }
}

/// Computed checksums by algorithm name (base64).
fn computed(c: Checksum) -> BTreeMap<String, String> {
    let pairs = [
        ("crc32", c.checksum_crc32),
        ("crc32c", c.checksum_crc32c),
        ("sha1", c.checksum_sha1),
        ("sha256", c.checksum_sha256),
    ];
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect()
}

/// Streams `body` into a new staged file, verifying the announced checksums (headers now,
/// trailers once the body ended).
pub(crate) async fn receive<T>(
    gw: &Gateway,
    req: &mut S3Request<T>,
    body: Option<StreamingBlob>,
    length: Option<i64>,
) -> Result<(Staged, BTreeMap<String, String>)> {
    let expected = Expected::from_headers(&req.headers);
    // Creating the temp file is one `openat` in the internal area: done inline.
    let mut staged = gw.view.stage()?;
    let mut hasher = expected.hasher();
    if let Some(mut body) = body {
        loop {
            let next = tokio::time::timeout(BODY_STALL, body.next())
                .await
                .map_err(|_| Error::RequestTimeout)?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| Error::Body(e.to_string()))?;
            hasher.update(&chunk);
            staged.write(&chunk)?;
        }
    }
    if length.is_some_and(|l| u64::try_from(l).unwrap_or(0) != staged.size()) {
        return Err(Error::Body(
            "the body is shorter than its Content-Length".into(),
        ));
    }
    let sums = computed(hasher.finalize());
    let trailers = req.trailing_headers.as_ref().and_then(|t| t.take());
    verify(&expected, trailers.as_ref(), &sums)?;
    Ok((staged, sums))
}

fn verify(
    expected: &Expected,
    trailers: Option<&http::HeaderMap>,
    sums: &BTreeMap<String, String>,
) -> Result<()> {
    for (name, hdr) in ALGOS {
        let want = expected.values.get(name).cloned().or_else(|| {
            trailers
                .and_then(|t| t.get(hdr))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        if let (Some(want), Some(got)) = (want, sums.get(name)) {
            if want.trim() != got {
                return Err(Error::BadChecksum(hdr));
            }
        }
    }
    Ok(())
}

/// Decodes `Content-MD5`, before any byte of the body is read. A header that is present
/// but empty, not base64 or not 16 bytes is AWS's 400 `InvalidDigest`. It is read from the
/// request's headers because s3s treats an empty header as absent.
pub(crate) fn content_md5(headers: &http::HeaderMap) -> Result<Option<[u8; 16]>> {
    use base64::Engine as _;
    let Some(v) = headers.get("content-md5") else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes().trim_ascii())
        .map_err(|_| Error::InvalidDigest("not base64"))?;
    let arr: [u8; 16] = raw
        .try_into()
        .map_err(|_| Error::InvalidDigest("not the base64 of 16 bytes"))?;
    Ok(Some(arr))
}

/// Formats a timestamp as an HTTP date.
pub(crate) fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// The metadata of a PUT-like request `$i` (PutObject, CreateMultipartUpload, CopyObject
/// with REPLACE: the same header fields on each input), with its tagging header `$tagging`.
macro_rules! request_meta {
    ($i:expr, $tagging:expr) => {{
        let i = $i;
        $crate::api::put::meta_from(
            i.content_type.as_ref(),
            i.content_encoding.as_ref(),
            i.content_disposition.as_ref(),
            i.content_language.as_ref(),
            i.cache_control.as_ref(),
            i.expires.as_ref(),
            i.metadata.as_ref(),
            $tagging,
        )
    }};
}
pub(crate) use request_meta;

/// The metadata a PUT-like request carries.
#[allow(clippy::too_many_arguments)]
pub(crate) fn meta_from(
    content_type: Option<&String>,
    content_encoding: Option<&String>,
    content_disposition: Option<&String>,
    content_language: Option<&String>,
    cache_control: Option<&String>,
    expires: Option<&Timestamp>,
    metadata: Option<&Metadata>,
    tagging: Option<&str>,
) -> Result<ObjectMeta> {
    Ok(ObjectMeta {
        content_type: content_type.cloned(),
        content_encoding: content_encoding.cloned(),
        content_disposition: content_disposition.cloned(),
        content_language: content_language.cloned(),
        cache_control: cache_control.cloned(),
        expires: expires.and_then(http_date),
        user: metadata
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        tags: tagging
            .map(super::tagging::parse_tagging_header)
            .transpose()?
            .unwrap_or_default(),
    })
}

pub async fn put_object(
    gw: &Gateway,
    mut req: S3Request<PutObjectInput>,
) -> Result<S3Response<PutObjectOutput>> {
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let i = &req.input;
    let meta = request_meta!(i, i.tagging.as_deref())?;
    let params = PutParams {
        meta,
        content_md5: content_md5(&req.headers)?,
        if_none_match: i.if_none_match.as_ref().is_some_and(ETagCondition::is_any),
        if_match: i
            .if_match
            .as_ref()
            .and_then(|c| c.as_etag())
            .map(|e| e.value().to_owned()),
        ..PutParams::default()
    };
    let (body, length) = (req.input.body.take(), req.input.content_length);
    let (staged, sums) = receive(gw, &mut req, body, length).await?;
    let who = owner(&req);
    let view = gw.view.clone();
    let params = PutParams {
        checksums: sums.clone(),
        ..params
    };
    // An If-Match on an object written through the mount may hash its whole content.
    let may_wait = gw.view.syncs() || params.if_match.is_some();
    let written = fs_work(may_wait, move || {
        Ok(view.commit(&b, &k, staged, params, who)?)
    })
    .await?;
    let out = PutObjectOutput {
        e_tag: Some(super::etag(&written.etag)),
        checksum_crc32: sums.get("crc32").cloned(),
        checksum_crc32c: sums.get("crc32c").cloned(),
        checksum_sha1: sums.get("sha1").cloned(),
        checksum_sha256: sums.get("sha256").cloned(),
        size: i64::try_from(written.size).ok(),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}
