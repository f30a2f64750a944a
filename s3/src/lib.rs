//! placeholder

pub mod policy;
pub mod sts;
