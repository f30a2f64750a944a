//! placeholder

pub mod api;
pub mod auth;
pub mod error;
pub mod iam;
pub mod policy;
pub mod server;
pub mod sts;
pub mod tls;
