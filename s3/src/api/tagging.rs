//! Bucket and object tagging, stored in private xattrs by the object view.

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::{blocking, check_version, existing_bucket, key, Gateway};
use crate::error::{Error, Result};
use crate::query::{Params, Plus, Utf8};

/// Most tags an object may have (S3's limit).
const MAX_OBJECT_TAGS: usize = 10;
/// Most tags a bucket may have (S3's limit).
const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key and value, in Unicode characters (S3's limits).
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// Checks a tag set against S3's limits (`InvalidTag`): at most `max` tags, keys of 1 to
/// 128 characters, values of at most 256, no key twice, none in the reserved `aws:` prefix.
fn validated(tags: Vec<(String, String)>, max: usize) -> Result<Vec<(String, String)>> {
    if tags.len() > max {
        return Err(Error::InvalidTag(format!(
            "{} tags given; at most {max} are allowed",
            tags.len()
        )));
    }
    // Messages name a tag by its position, not its text: they are logged, and tags are
    // request content.
    for (i, (k, v)) in tags.iter().enumerate() {
        let n = i + 1;
        let chars = k.chars().count();
        if chars == 0 || chars > MAX_TAG_KEY_CHARS {
            return Err(Error::InvalidTag(format!(
                "the key of tag {n} has {chars} characters; keys have 1 to {MAX_TAG_KEY_CHARS}"
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(Error::InvalidTag(format!(
                "the value of tag {n} is longer than {MAX_TAG_VALUE_CHARS} characters"
            )));
        }
        if k.len() >= 4 && k.as_bytes()[..4].eq_ignore_ascii_case(b"aws:") {
            return Err(Error::InvalidTag(format!(
                "the key of tag {n} uses the reserved prefix aws:"
            )));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(Error::InvalidTag(format!(
                "the key of tag {n} is given more than once"
            )));
        }
    }
    Ok(tags)
}

fn to_pairs(tags: TagSet, max: usize) -> Result<Vec<(String, String)>> {
    let pairs = tags
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    validated(pairs, max)
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

/// Parses the `x-amz-tagging` header (`k1=v1&k2=v2`, form-encoded: `+` is a space, an
/// escape that is not UTF-8 is refused). Every pair is kept, so duplicates are seen.
pub(crate) fn parse_tagging_header(h: &str) -> Result<Vec<(String, String)>> {
    let pairs = Params::parse(h, Plus::Space, Utf8::Strict)
        .map_err(|_| Error::InvalidArgument("malformed x-amz-tagging".into()))?;
    validated(pairs.into_pairs(), MAX_OBJECT_TAGS)
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
    let tags = to_pairs(req.input.tagging.tag_set, MAX_BUCKET_TAGS)?;
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
    let tags = to_pairs(req.input.tagging.tag_set, MAX_OBJECT_TAGS)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(n: usize, key_len: usize, value_len: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("{i:0>key_len$}"), "v".repeat(value_len)))
            .collect()
    }

    fn code(r: Result<Vec<(String, String)>>) -> Option<String> {
        r.err().map(|e| e.s3_code().as_str().to_owned())
    }

    #[test]
    fn tag_sets_within_s3_limits_are_accepted() {
        assert!(validated(tags(10, 128, 256), MAX_OBJECT_TAGS).is_ok());
        assert!(validated(tags(50, 3, 0), MAX_BUCKET_TAGS).is_ok());
        let multibyte = vec![("é".repeat(128), "ü".repeat(256))];
        assert!(validated(multibyte, MAX_OBJECT_TAGS).is_ok());
    }

    #[test]
    fn tag_sets_over_s3_limits_are_invalid_tags() {
        let invalid = Some("InvalidTag".to_owned());
        assert_eq!(code(validated(tags(11, 3, 1), MAX_OBJECT_TAGS)), invalid);
        assert_eq!(code(validated(tags(51, 3, 1), MAX_BUCKET_TAGS)), invalid);
        assert_eq!(code(validated(tags(1, 129, 1), MAX_OBJECT_TAGS)), invalid);
        assert_eq!(code(validated(tags(1, 3, 257), MAX_OBJECT_TAGS)), invalid);
        assert_eq!(code(validated(tags(1, 3, 5000), MAX_OBJECT_TAGS)), invalid);
        let empty_key = vec![(String::new(), "v".into())];
        assert_eq!(code(validated(empty_key, MAX_OBJECT_TAGS)), invalid);
        let twice = vec![("k".into(), "1".into()), ("k".into(), "2".into())];
        assert_eq!(code(validated(twice, MAX_OBJECT_TAGS)), invalid);
        let reserved = vec![("AWS:owner".into(), "x".into())];
        assert_eq!(code(validated(reserved, MAX_OBJECT_TAGS)), invalid);
    }

    #[test]
    fn the_tagging_header_is_held_to_the_same_limits() {
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tagging_header(&eleven.join("&")).is_err());
        assert!(parse_tagging_header(&format!("{}=v", "k".repeat(129))).is_err());
        assert_eq!(
            parse_tagging_header("a=1&b=x%20y").unwrap(),
            [("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
    }
}
