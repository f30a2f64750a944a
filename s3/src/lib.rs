//! placeholder

pub mod iam;
pub mod policy;
pub mod sts;
