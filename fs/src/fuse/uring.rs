//! Glue between the FUSE-over-io_uring transport (the `fuse-uring` crate) and fuser.
//!
//! The transport owns the kernel ABI, the memory shared with the kernel and the queue
//! threads (one per CPU, each pinned at spawn). This module hands each request it
//! receives to fuser's `Dispatcher`, which runs it through the same `Filesystem` as the
//! `/dev/fuse` session loop, and routes fuser's replies back to the ring. Each queue
//! thread takes a umask of its own first (see `pool`), since it answers requests inline.
//! The adapter still hands requests that may block to its pool, whose replies reach the
//! queue thread through the transport's eventfd.
//!
//! This module holds no `unsafe` and does not touch ring memory.

use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use fuser::{Dispatcher, Filesystem, ReplySink};

use super::stats::FuseStats;
use crate::sync::Arc;

pub(crate) use fuse_uring::{payload_len, usable};

/// Starts one ring queue per possible CPU on the connection `dev` (see
/// `fuse_uring::start`), each dispatching to `dispatcher`'s filesystem.
pub(crate) fn start<FS: Filesystem>(
    dispatcher: &Dispatcher<FS>,
    dev: OwnedFd,
    payload: usize,
    stats: &Arc<FuseStats>,
) -> (Vec<JoinHandle<()>>, io::Result<()>) {
    fuse_uring::start(dev, payload, |_qid, replies| Queue {
        dispatcher: dispatcher.clone(),
        sink: Arc::new(Sink(replies)),
        stats: stats.clone(),
    })
}

/// One queue's handler: fuser's dispatcher and the queue's reply sink.
struct Queue<FS: Filesystem> {
    dispatcher: Dispatcher<FS>,
    sink: Arc<dyn ReplySink>,
    stats: Arc<FuseStats>,
}

impl<FS: Filesystem> fuse_uring::Handler for Queue<FS> {
    fn started(&mut self) {
        super::pool::own_umask();
    }

    fn handle(&mut self, request: &[u8], token: u64) -> io::Result<()> {
        self.stats.ring_request();
        self.dispatcher.dispatch(request, self.sink.clone(), token)
    }
}

/// fuser's replies for one queue, going back through the ring.
#[derive(Debug)]
struct Sink(fuse_uring::Replies);

impl ReplySink for Sink {
    fn send(&self, token: u64, data: &[IoSlice<'_>]) -> io::Result<()> {
        self.0.send(token, data)
    }
}
