//! CopyObject: within or across buckets, metadata directive COPY/REPLACE, tagging
//! directive, `x-amz-copy-source-if-*`. The copy is made in the kernel into a temp file and
//! published with one rename, so copying an object onto itself is safe.

use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::{ObjectMeta, OpenObject, PutParams};

use super::get::Conditions;
use super::{blocking, existing_bucket, key, owner, Gateway};
use crate::error::{Error, Result};

/// The (bucket, key) of `x-amz-copy-source`.
pub(crate) fn source(cs: &CopySource) -> Result<(String, String, Option<String>)> {
    match cs {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_deref().map(str::to_owned),
        )),
        CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => {
            Err(Error::NotImplemented("access point copy sources"))
        }
    }
}

/// Opens the source of a copy and checks the `x-amz-copy-source-if-*` conditions.
pub(crate) async fn open_source(
    gw: &Gateway,
    cs: &CopySource,
    conds: Conditions<'_>,
) -> Result<OpenObject> {
    let (sb, sk, version) = source(cs)?;
    super::check_version(version.as_deref())?;
    let (sb, sk) = (existing_bucket(&sb)?, key(&sk)?);
    let view = gw.view.clone();
    let src = blocking(move || Ok(view.open_object(&sb, &sk)?)).await?;
    conds.check(&src.stamp.etag, src.modified, false)?;
    Ok(src)
}

fn new_meta(i: &CopyObjectInput, src: &ObjectMeta) -> Result<ObjectMeta> {
    let replace = i
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let mut meta = if replace {
        super::put::request_meta!(i, None)?
    } else {
        ObjectMeta {
            tags: Vec::new(),
            ..src.clone()
        }
    };
    let replace_tags = i
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    meta.tags = if replace_tags {
        i.tagging
            .as_deref()
            .map(super::tagging::parse_tagging_header)
            .transpose()?
            .unwrap_or_default()
    } else {
        src.tags.clone()
    };
    Ok(meta)
}

pub async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> Result<S3Response<CopyObjectOutput>> {
    let i = &req.input;
    let (b, k) = (existing_bucket(&i.bucket)?, key(&i.key)?);
    let conds = Conditions {
        if_match: i.copy_source_if_match.as_ref(),
        if_none_match: i.copy_source_if_none_match.as_ref(),
        if_modified_since: i.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
    };
    let src = open_source(gw, &i.copy_source, conds).await?;
    let meta = new_meta(i, &src.meta)?;
    let params = PutParams {
        meta,
        etag: Some(src.stamp.etag.clone()),
        checksums: src.stamp.checksums.clone(),
        parts: src.stamp.parts.clone(),
        ..PutParams::default()
    };
    let (view, who) = (gw.view.clone(), owner(&req));
    let written = blocking(move || {
        let mut staged = view.stage()?;
        if !src.is_dir {
            staged.copy_from(&src.file, 0, src.size, false)?;
        }
        Ok(view.commit(&b, &k, staged, params, who)?)
    })
    .await?;
    let result = CopyObjectResult {
        e_tag: Some(super::etag(&written.etag)),
        last_modified: Some(written.modified.into()),
        ..Default::default()
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        ..Default::default()
    }))
}
