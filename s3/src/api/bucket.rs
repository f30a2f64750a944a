//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning (never enabled).
//!
//! CreateBucket and DeleteBucket go through `crate::buckets::Buckets`, the owner of a
//! bucket's settings: a bucket deleted here loses them, one created here starts with none.

use s3s::dto::*;
use s3s::{S3Request, S3Response};
use weka_fs::object::{BucketName as Name, ObjectError};

use super::{blocking, existing_bucket, owner, Gateway};
use crate::error::Result;

pub async fn list_buckets(
    gw: &Gateway,
    _req: S3Request<ListBucketsInput>,
) -> Result<S3Response<ListBucketsOutput>> {
    let view = gw.view.clone();
    let buckets = blocking(move || Ok(view.list_buckets()?)).await?;
    let buckets = buckets
        .into_iter()
        .map(|b| Bucket {
            name: Some(b.name.to_string()),
            creation_date: Some(b.created.into()),
            bucket_region: None,
        })
        .collect();
    let owner = Owner {
        display_name: Some("wekad".into()),
        id: Some("wekad".into()),
    };
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner),
        ..Default::default()
    }))
}

pub async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> Result<S3Response<CreateBucketOutput>> {
    let name = Name::parse(&req.input.bucket).map_err(ObjectError::from)?;
    let (buckets, who) = (gw.buckets.clone(), owner(&req));
    let n = name.clone();
    blocking(move || Ok(buckets.create(&n, who)?)).await?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{name}")),
    }))
}

pub async fn head_bucket(
    gw: &Gateway,
    req: S3Request<HeadBucketInput>,
) -> Result<S3Response<HeadBucketOutput>> {
    let name = existing_bucket(&req.input.bucket)?;
    let view = gw.view.clone();
    blocking(move || view.bucket(&name).map(drop).map_err(Into::into)).await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(gw.region.clone()),
        ..Default::default()
    }))
}

pub async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> Result<S3Response<DeleteBucketOutput>> {
    let name = existing_bucket(&req.input.bucket)?;
    let buckets = gw.buckets.clone();
    blocking(move || Ok(buckets.delete(&name)?)).await?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> Result<S3Response<GetBucketLocationOutput>> {
    let name = existing_bucket(&req.input.bucket)?;
    let view = gw.view.clone();
    blocking(move || view.bucket(&name).map(drop).map_err(Into::into)).await?;
    // us-east-1 is written as an empty LocationConstraint.
    let location =
        (gw.region != "us-east-1").then(|| BucketLocationConstraint::from(gw.region.clone()));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: location,
    }))
}

pub async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> Result<S3Response<GetBucketVersioningOutput>> {
    let name = existing_bucket(&req.input.bucket)?;
    let view = gw.view.clone();
    blocking(move || view.bucket(&name).map(drop).map_err(Into::into)).await?;
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}
