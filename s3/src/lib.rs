//! The S3 and STS door of wekad: the HTTP service (`server`, on s3s and hyper), the checks
//! made before s3s sees a request (`gate`), authorization (`auth`, on `policy` and `iam`),
//! temporary credentials (`sts`) and the S3 operations over the object view (`api`).
//!
//! Invariant: every request is refused unless IAM allows it (deny by construction, see
//! `policy::ops`); nothing here logs a request body, a signature, a token or a secret.

pub mod api;
pub mod auth;
pub mod buckets;
pub mod error;
pub mod gate;
pub mod iam;
pub mod op;
pub mod policy;
pub mod query;
pub mod server;
pub mod sts;
pub mod tls;
pub mod xml;
