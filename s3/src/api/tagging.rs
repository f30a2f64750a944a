//! Bucket and object tagging, stored in private xattrs by the object view.

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::{blocking, check_version, existing_bucket, key, Gateway};
use crate::error::{Error, Result};

/// Most tags an object may have (S3's limit).
const MAX_TAGS: usize = 10;

fn to_pairs(tags: TagSet) -> Result<Vec<(String, String)>> {
    if tags.len() > 50 {
        return Err(Error::InvalidArgument("too many tags".into()));
    }
    Ok(tags
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect())
}

fn to_tagset(pairs: Vec<(String, String)>) -> TagSet {
    pairs
        .into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

/// Parses the `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub(crate) fn parse_tagging_header(h: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| urlencoding::decode(&s.replace('+', " ")).map(|c| c.into_owned());
        let (k, v) = (dec(k), dec(v));
        let (Ok(k), Ok(v)) = (k, v) else {
            return Err(Error::InvalidArgument("malformed x-amz-tagging".into()));
        };
        out.push((k, v));
    }
    if out.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(
            "an object can have at most 10 tags".into(),
        ));
    }
    Ok(out)
}

pub async fn get_bucket_tagging(
    gw: &Gateway,
    req: S3Request<GetBucketTaggingInput>,
) -> Result<S3Response<GetBucketTaggingOutput>> {
    let b = existing_bucket(&req.input.bucket)?;
    let view = gw.view.clone();
    let tags = blocking(move || Ok(view.bucket_tags(&b)?)).await?;
    let Some(tags) = tags else {
        return Err(Error::NoSuchTagSet);
    };
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: to_tagset(tags),
    }))
}

pub async fn put_bucket_tagging(
    gw: &Gateway,
    req: S3Request<PutBucketTaggingInput>,
) -> Result<S3Response<PutBucketTaggingOutput>> {
    let b = existing_bucket(&req.input.bucket)?;
    let tags = to_pairs(req.input.tagging.tag_set)?;
    let view = gw.view.clone();
    blocking(move || Ok(view.set_bucket_tags(&b, Some(&tags))?)).await?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

pub async fn delete_bucket_tagging(
    gw: &Gateway,
    req: S3Request<DeleteBucketTaggingInput>,
) -> Result<S3Response<DeleteBucketTaggingOutput>> {
    let b = existing_bucket(&req.input.bucket)?;
    let view = gw.view.clone();
    blocking(move || Ok(view.set_bucket_tags(&b, None)?)).await?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}

pub async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> Result<S3Response<GetObjectTaggingOutput>> {
    check_version(req.input.version_id.as_deref())?;
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let view = gw.view.clone();
    let tags = blocking(move || Ok(view.open_object(&b, &k)?.meta.tags)).await?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: to_tagset(tags),
        version_id: None,
    }))
}

pub async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> Result<S3Response<PutObjectTaggingOutput>> {
    check_version(req.input.version_id.as_deref())?;
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let tags = to_pairs(req.input.tagging.tag_set)?;
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(
            "an object can have at most 10 tags".into(),
        ));
    }
    let view = gw.view.clone();
    blocking(move || Ok(view.update_meta(&b, &k, |m| m.tags = tags)?)).await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: None }))
}

pub async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> Result<S3Response<DeleteObjectTaggingOutput>> {
    check_version(req.input.version_id.as_deref())?;
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let view = gw.view.clone();
    blocking(move || Ok(view.update_meta(&b, &k, |m| m.tags.clear())?)).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput {
        version_id: None,
    }))
}
