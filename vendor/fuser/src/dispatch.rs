//! wekad addition: dispatching requests that arrived by another transport.
//!
//! FUSE over io_uring (Linux 6.14+) hands requests to per-CPU ring queues instead of
//! `read(2)` on `/dev/fuse`, and takes replies back through the ring. The transport
//! lives in wekad; this module lets it run a request through the same filesystem and
//! reply path as the session loop, with the reply bytes going to a [`ReplySink`].

use std::fmt;
use std::io;
use std::io::IoSlice;
use std::sync::Arc;

use crate::Filesystem;
use crate::ReplyEmpty;
use crate::ll::Operation;
use crate::request::RequestWithSender;
use crate::session::SessionEventLoop;

/// Receives the replies of requests dispatched through a [`Dispatcher`].
pub trait ReplySink: Send + Sync + fmt::Debug + 'static {
    /// Sends one reply. `data` is the whole reply, starting with its
    /// `fuse_out_header`; `token` is the one given to [`Dispatcher::dispatch`].
    /// Called exactly once per dispatched request, from any thread.
    /// # Errors
    /// The reply could not be delivered.
    fn send(&self, token: u64, data: &[IoSlice<'_>]) -> io::Result<()>;
}

/// Dispatches raw requests to a running session's filesystem.
pub struct Dispatcher<FS: Filesystem> {
    se: Arc<SessionEventLoop<FS>>,
}

impl<FS: Filesystem> Clone for Dispatcher<FS> {
    fn clone(&self) -> Self {
        Self {
            se: self.se.clone(),
        }
    }
}

impl<FS: Filesystem> fmt::Debug for Dispatcher<FS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl<FS: Filesystem> Dispatcher<FS> {
    pub(crate) fn new(se: SessionEventLoop<FS>) -> Self {
        Self { se: Arc::new(se) }
    }

    /// Dispatches one request: `data` is the request as `read(2)` on `/dev/fuse` would
    /// return it (`fuse_in_header`, operation arguments, payload). Its reply goes to
    /// `sink` with `token`, possibly later and from another thread. `DESTROY` is
    /// answered here, as the session loop does.
    /// # Errors
    /// `data` is not a valid request; nothing was dispatched and no reply will come.
    pub fn dispatch(&self, data: &[u8], sink: Arc<dyn ReplySink>, token: u64) -> io::Result<()> {
        let Some(req) = RequestWithSender::new(self.se.ch.sender(), data) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "invalid FUSE request",
            ));
        };
        let req = req.reply_to(sink, token);
        if let Ok(Operation::Destroy(_)) = req.request.operation() {
            req.reply::<ReplyEmpty>().ok();
        } else {
            req.dispatch(&self.se);
        }
        Ok(())
    }
}

/// A hook run first on each of the session's event loop threads, with the thread's
/// index (`0..n_threads`): wekad pins reader `i` to CPU `i` with it, instead of
/// recognising the threads by name. Set through [`crate::Config::thread_start`].
#[derive(Clone)]
pub struct ThreadStart(Arc<dyn Fn(usize) + Send + Sync>);

impl ThreadStart {
    /// Wraps `hook`.
    pub fn new(hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }

    pub(crate) fn call(&self, index: usize) {
        (self.0)(index);
    }
}

impl fmt::Debug for ThreadStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadStart").finish_non_exhaustive()
    }
}

/// Two hooks are equal when they are the same closure (`Config` derives `Eq`).
impl PartialEq for ThreadStart {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ThreadStart {}
