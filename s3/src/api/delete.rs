//! DeleteObject and DeleteObjects (quiet and verbose, authorized and reported per key).

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::{blocking, check_version, existing_bucket, key, Gateway};
use crate::auth::Authz;
use crate::error::{Error, Result};

pub async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> Result<S3Response<DeleteObjectOutput>> {
    check_version(req.input.version_id.as_deref())?;
    let (b, k) = (existing_bucket(&req.input.bucket)?, key(&req.input.key)?);
    let view = gw.view.clone();
    blocking(move || Ok(view.delete_object(&b, &k)?)).await?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

/// Most keys one DeleteObjects request may name (S3's limit).
pub const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> Result<S3Response<DeleteObjectsOutput>> {
    let authz = req
        .extensions
        .get::<Authz>()
        .cloned()
        .ok_or(Error::AccessDenied)?;
    let b = existing_bucket(&req.input.bucket)?;
    let quiet = req.input.delete.quiet.unwrap_or(false);
    let objects = req.input.delete.objects;
    if objects.len() > MAX_DELETE_KEYS {
        return Err(Error::MalformedXml(format!(
            "{} keys given; a DeleteObjects request names at most {MAX_DELETE_KEYS}",
            objects.len()
        )));
    }
    let view = gw.view.clone();
    let bucket = b.clone();
    let (deleted, errors) = blocking(move || {
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in objects {
            match delete_one(&view, &authz, &bucket, &o) {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(o.key),
                    version_id: o.version_id,
                    ..Default::default()
                }),
                Err(e) => {
                    let code = e.s3_code();
                    errors.push(s3s::dto::Error {
                        code: Some(code.as_str().to_owned()),
                        key: Some(o.key),
                        message: Some(e.to_string()),
                        version_id: o.version_id,
                    });
                }
            }
        }
        Ok((deleted, errors))
    })
    .await?;
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}

fn delete_one(
    view: &weka_fs::object::ObjectView,
    authz: &Authz,
    bucket: &weka_fs::object::BucketName,
    o: &ObjectIdentifier,
) -> Result<()> {
    check_version(o.version_id.as_deref())?;
    if !authz.allows(crate::op::Op::DeleteObject, bucket.as_str(), Some(&o.key)) {
        return Err(Error::AccessDenied);
    }
    let k = key(&o.key)?;
    Ok(view.delete_object(bucket, &k)?)
}
