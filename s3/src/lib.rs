//! placeholder

pub mod sts;
