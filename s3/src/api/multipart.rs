//! Multipart uploads: Create, UploadPart, UploadPartCopy (with ranges), Complete, Abort,
//! ListParts, ListMultipartUploads. Parts are staged by the object view under
//! `<data>/.wekad/multipart/`; Complete publishes the object with one rename.

use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::PutParams;

use super::get::Conditions;
use super::put::{content_md5, receive};
use super::{blocking, existing_bucket, key, owner, Gateway};
use crate::error::{Error, Result};

const MAX_PART: i32 = 10_000;

fn part_number(n: i32) -> Result<u32> {
    match n {
        1..=MAX_PART => Ok(n.unsigned_abs()),
        _ => Err(Error::InvalidArgument("part numbers are 1 to 10000".into())),
    }
}

pub async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> Result<S3Response<CreateMultipartUploadOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let meta = super::put::request_meta!(i, i.tagging.as_deref())?;
    let (view, who) = (gw.view.clone(), owner(&req));
    let id = blocking(move || Ok(view.create_upload(&b, &k, meta, who)?)).await?;
    let out = CreateMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        upload_id: Some(id),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn upload_part(
    gw: &Gateway,
    mut req: S3Request<UploadPartInput>,
) -> Result<S3Response<UploadPartOutput>> {
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let n = part_number(req.input.part_number)?;
    let id = req.input.upload_id.clone();
    let md5 = content_md5(&req.headers)?;
    {
        // Fail fast on an unknown upload, before reading the body.
        let (view, b, k, id) = (gw.view.clone(), b.clone(), k.clone(), id.clone());
        blocking(move || Ok(view.upload(&b, &k, &id).map(drop)?)).await?;
    }
    let (body, length) = (req.input.body.take(), req.input.content_length);
    let (staged, sums) = receive(gw, &mut req, body, length).await?;
    let view = gw.view.clone();
    let part = blocking(move || Ok(view.commit_part(&b, &k, &id, n, staged, md5)?)).await?;
    let out = UploadPartOutput {
        e_tag: Some(super::etag(&part.etag)),
        checksum_crc32: sums.get("crc32").cloned(),
        checksum_crc32c: sums.get("crc32c").cloned(),
        checksum_sha1: sums.get("sha1").cloned(),
        checksum_sha256: sums.get("sha256").cloned(),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
fn copy_range(r: Option<&str>, size: u64) -> Result<(u64, u64)> {
    let Some(r) = r else { return Ok((0, size)) };
    let bad = || Error::InvalidArgument("x-amz-copy-source-range must be bytes=first-last".into());
    let (a, z) = r
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .ok_or_else(bad)?;
    let (a, z): (u64, u64) = (a.parse().map_err(|_| bad())?, z.parse().map_err(|_| bad())?);
    if a > z || z >= size {
        return Err(Error::InvalidRange);
    }
    Ok((a, z + 1 - a))
}

pub async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> Result<S3Response<UploadPartCopyOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let n = part_number(i.part_number)?;
    let conds = Conditions {
        if_match: i.copy_source_if_match.as_ref(),
        if_none_match: i.copy_source_if_none_match.as_ref(),
        if_modified_since: i.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
    };
    let src = super::copy::open_source(gw, &i.copy_source, conds).await?;
    let (off, len) = copy_range(i.copy_source_range.as_deref(), src.size)?;
    let (view, id) = (gw.view.clone(), i.upload_id.clone());
    let part = blocking(move || {
        view.upload(&b, &k, &id)?;
        let mut staged = view.stage()?;
        staged.copy_from(&src.file, off, len, true)?;
        Ok(view.commit_part(&b, &k, &id, n, staged, None)?)
    })
    .await?;
    let result = CopyPartResult {
        e_tag: Some(super::etag(&part.etag)),
        last_modified: Some(part.modified.into()),
        ..Default::default()
    };
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(result),
        ..Default::default()
    }))
}

pub async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> Result<S3Response<CompleteMultipartUploadOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let mut wanted = Vec::new();
    for p in i
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .into_iter()
        .flatten()
    {
        let n = part_number(p.part_number.unwrap_or(0))?;
        let e = p
            .e_tag
            .as_ref()
            .map(|e| e.value().to_owned())
            .unwrap_or_default();
        wanted.push((n, e));
    }
    let params = PutParams {
        if_none_match: i.if_none_match.as_ref().is_some_and(ETagCondition::is_any),
        if_match: i
            .if_match
            .as_ref()
            .and_then(|c| c.as_etag())
            .map(|e| e.value().to_owned()),
        ..PutParams::default()
    };
    let (view, id) = (gw.view.clone(), i.upload_id.clone());
    let written = blocking(move || Ok(view.complete_upload(&b, &k, &id, &wanted, params)?)).await?;
    let out = CompleteMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: Some(super::etag(&written.etag)),
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn abort_multipart_upload(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> Result<S3Response<AbortMultipartUploadOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let (view, id) = (gw.view.clone(), i.upload_id.clone());
    blocking(move || Ok(view.abort_upload(&b, &k, &id)?)).await?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_parts(
    gw: &Gateway,
    req: S3Request<ListPartsInput>,
) -> Result<S3Response<ListPartsOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let (view, id) = (gw.view.clone(), i.upload_id.clone());
    let parts = blocking(move || Ok(view.list_parts(&b, &k, &id)?)).await?;
    let marker = i.part_number_marker.unwrap_or(0);
    let max = usize::try_from(i.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let after: Vec<_> = parts
        .into_iter()
        .filter(|p| i64::from(p.number) > i64::from(marker))
        .collect();
    let truncated = after.len() > max;
    let page: Vec<Part> = after
        .into_iter()
        .take(max)
        .map(|p| Part {
            part_number: i32::try_from(p.number).ok(),
            e_tag: Some(super::etag(&p.etag)),
            size: i64::try_from(p.size).ok(),
            last_modified: Some(p.modified.into()),
            ..Default::default()
        })
        .collect();
    let out = ListPartsOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        upload_id: Some(i.upload_id.clone()),
        part_number_marker: i.part_number_marker,
        next_part_number_marker: page.last().and_then(|p| p.part_number),
        max_parts: i32::try_from(max).ok(),
        is_truncated: Some(truncated),
        parts: Some(page),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> Result<S3Response<ListMultipartUploadsOutput>> {
    let i = &req.input;
    let b = existing_bucket(&i.bucket)?;
    let view = gw.view.clone();
    let uploads = blocking(move || Ok(view.list_uploads(&b)?)).await?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let marker = i.key_marker.clone().unwrap_or_default();
    let max = usize::try_from(i.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let matching: Vec<_> = uploads
        .into_iter()
        .filter(|u| u.key.starts_with(&prefix) && u.key > marker)
        .collect();
    let truncated = matching.len() > max;
    let list: Vec<MultipartUpload> = matching
        .into_iter()
        .take(max)
        .map(|u| MultipartUpload {
            initiated: Some(u.initiated().into()),
            key: Some(u.key.clone()),
            upload_id: Some(u.upload_id.clone()),
            ..Default::default()
        })
        .collect();
    let out = ListMultipartUploadsOutput {
        bucket: Some(i.bucket.clone()),
        prefix: i.prefix.clone(),
        key_marker: i.key_marker.clone(),
        max_uploads: i32::try_from(max).ok(),
        is_truncated: Some(truncated),
        next_key_marker: if truncated {
            list.last().and_then(|u| u.key.clone())
        } else {
            None
        },
        next_upload_id_marker: if truncated {
            list.last().and_then(|u| u.upload_id.clone())
        } else {
            None
        },
        uploads: Some(list),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}
