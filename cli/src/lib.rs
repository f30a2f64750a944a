//! The `weka` command line's library part: the control socket protocol (`api`).
//!
//! The daemon depends on this library for the wire types only; nothing here pulls in clap
//! or server code.

pub mod api;
