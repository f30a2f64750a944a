//! ListObjects (v1, marker), ListObjectsV2 (continuation token, start-after, fetch-owner)
//! and ListObjectVersions (each object once, version `null`), all over one page walk of
//! the object view. `encoding-type=url` encodes keys and prefixes in the answer.

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::{ListEntry, ListPage, ListQuery};

use super::{blocking, existing_bucket, Gateway};
use crate::error::{Error, Result};

const MAX_KEYS: i32 = 1000;

struct Page {
    page: ListPage,
    url: bool,
}

impl Page {
    fn enc(&self, s: &str) -> String {
        if self.url {
            urlencoding::encode(s).replace("%2F", "/")
        } else {
            s.to_owned()
        }
    }

    fn last(&self) -> Option<String> {
        self.page.entries.last().map(|e| e.key().to_owned())
    }

    fn prefixes(&self) -> Vec<CommonPrefix> {
        let it = self.page.entries.iter().filter_map(|e| match e {
            ListEntry::Prefix(p) => Some(CommonPrefix {
                prefix: Some(self.enc(p)),
            }),
            ListEntry::Object { .. } => None,
        });
        it.collect()
    }

    fn objects(&self, fetch_owner: bool) -> Vec<Object> {
        let it = self.page.entries.iter().filter_map(|e| match e {
            ListEntry::Object {
                key,
                size,
                modified,
                etag,
                uid,
            } => Some(Object {
                key: Some(self.enc(key)),
                size: i64::try_from(*size).ok(),
                last_modified: Some((*modified).into()),
                e_tag: Some(super::etag(etag)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: fetch_owner.then(|| Owner {
                    id: Some(uid.to_string()),
                    display_name: Some(uid.to_string()),
                }),
                ..Default::default()
            }),
            ListEntry::Prefix(_) => None,
        });
        it.collect()
    }

    fn versions(&self) -> Vec<ObjectVersion> {
        let it = self.page.entries.iter().filter_map(|e| match e {
            ListEntry::Object {
                key,
                size,
                modified,
                etag,
                uid,
            } => Some(ObjectVersion {
                key: Some(self.enc(key)),
                size: i64::try_from(*size).ok(),
                last_modified: Some((*modified).into()),
                e_tag: Some(super::etag(etag)),
                is_latest: Some(true),
                version_id: Some("null".into()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                owner: Some(Owner {
                    id: Some(uid.to_string()),
                    display_name: Some(uid.to_string()),
                }),
                ..Default::default()
            }),
            ListEntry::Prefix(_) => None,
        });
        it.collect()
    }
}

fn max_keys(m: Option<i32>) -> Result<usize> {
    match m {
        None => Ok(1000),
        Some(n) if n < 0 => Err(Error::InvalidArgument(
            "max-keys must not be negative".into(),
        )),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(1000)),
    }
}

async fn walk(
    gw: &Gateway,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    after: Option<String>,
    max: usize,
    url: bool,
) -> Result<Page> {
    let b = existing_bucket(bucket)?;
    let q = ListQuery {
        prefix: prefix.unwrap_or("").to_owned(),
        delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
        after,
        max,
    };
    let view = gw.view.clone();
    let page = blocking(move || Ok(view.list(&b, &q)?)).await?;
    Ok(Page { page, url })
}

fn is_url(e: Option<&EncodingType>) -> bool {
    e.is_some_and(|e| e.as_str() == EncodingType::URL)
}

pub async fn list_objects(
    gw: &Gateway,
    req: S3Request<ListObjectsInput>,
) -> Result<S3Response<ListObjectsOutput>> {
    let i = &req.input;
    let max = max_keys(i.max_keys)?;
    let url = is_url(i.encoding_type.as_ref());
    let p = walk(
        gw,
        &i.bucket,
        i.prefix.as_deref(),
        i.delimiter.as_deref(),
        i.marker.clone().filter(|m| !m.is_empty()),
        max,
        url,
    )
    .await?;
    let truncated = p.page.truncated;
    let out = ListObjectsOutput {
        name: Some(i.bucket.clone()),
        prefix: Some(i.prefix.clone().unwrap_or_default()),
        marker: i.marker.clone(),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(truncated),
        next_marker: if truncated && i.delimiter.is_some() {
            p.last().map(|m| p.enc(&m))
        } else {
            None
        },
        contents: Some(p.objects(true)),
        common_prefixes: Some(p.prefixes()),
        delimiter: i.delimiter.clone(),
        encoding_type: i.encoding_type.clone(),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

fn decode_token(t: &str) -> Result<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .map_err(|_| Error::InvalidArgument("invalid continuation token".into()))?;
    String::from_utf8(raw).map_err(|_| Error::InvalidArgument("invalid continuation token".into()))
}

fn encode_token(k: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k)
}

pub async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> Result<S3Response<ListObjectsV2Output>> {
    let i = &req.input;
    let max = max_keys(i.max_keys)?;
    let url = is_url(i.encoding_type.as_ref());
    let token = i
        .continuation_token
        .as_deref()
        .map(decode_token)
        .transpose()?;
    let after = token
        .or_else(|| i.start_after.clone())
        .filter(|s| !s.is_empty());
    let p = walk(
        gw,
        &i.bucket,
        i.prefix.as_deref(),
        i.delimiter.as_deref(),
        after,
        max,
        url,
    )
    .await?;
    let truncated = p.page.truncated;
    let contents = p.objects(i.fetch_owner.unwrap_or(false));
    let prefixes = p.prefixes();
    let out = ListObjectsV2Output {
        name: Some(i.bucket.clone()),
        prefix: Some(i.prefix.clone().unwrap_or_default()),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        key_count: i32::try_from(contents.len() + prefixes.len()).ok(),
        continuation_token: i.continuation_token.clone(),
        next_continuation_token: if truncated {
            p.last().map(|k| encode_token(&k))
        } else {
            None
        },
        is_truncated: Some(truncated),
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        delimiter: i.delimiter.clone(),
        encoding_type: i.encoding_type.clone(),
        start_after: i.start_after.clone(),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> Result<S3Response<ListObjectVersionsOutput>> {
    let i = &req.input;
    let max = max_keys(i.max_keys)?;
    let url = is_url(i.encoding_type.as_ref());
    let p = walk(
        gw,
        &i.bucket,
        i.prefix.as_deref(),
        i.delimiter.as_deref(),
        i.key_marker.clone().filter(|m| !m.is_empty()),
        max,
        url,
    )
    .await?;
    let truncated = p.page.truncated;
    let out = ListObjectVersionsOutput {
        name: Some(i.bucket.clone()),
        prefix: Some(i.prefix.clone().unwrap_or_default()),
        key_marker: i.key_marker.clone(),
        version_id_marker: i.version_id_marker.clone(),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(truncated),
        next_key_marker: if truncated {
            p.last().map(|k| p.enc(&k))
        } else {
            None
        },
        next_version_id_marker: truncated.then(|| "null".to_owned()),
        versions: Some(p.versions()),
        common_prefixes: Some(p.prefixes()),
        delimiter: i.delimiter.clone(),
        encoding_type: i.encoding_type.clone(),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}
