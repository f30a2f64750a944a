//! The worker pool that runs FUSE requests off the session thread.
//!
//! fuser's session loop reads and dispatches one request at a time; handing each
//! potentially blocking request to a worker lets one slow `fsync` or cold `read` proceed
//! while others are served. Replies are `Send`, so a worker answers the kernel directly.
//!
//! Each worker unshares its filesystem attributes (`CLONE_FS`) and sets its umask to 0:
//! the kernel has already applied the caller's umask to the modes it sends, and the
//! daemon's own umask must not narrow them again.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::sync::{lock, Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed from one queue.
pub(crate) struct Pool {
    tx: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` workers (at least one).
    pub(crate) fn new(threads: usize) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads.max(1))
            .filter_map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("wekad-fuse-{i}"))
                    .spawn(move || worker(&rx))
                    .ok()
            })
            .collect();
        Pool {
            tx: Some(tx),
            workers,
        }
    }

    /// Runs `job` on a worker, or right here if no worker is left.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        match &self.tx {
            Some(tx) if !self.workers.is_empty() => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    job();
                }
            }
            _ => job(),
        }
    }
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    own_umask();
    loop {
        let job = lock(rx).recv();
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Threads reading `/dev/fuse`: one per CPU, up to this many.
const MAX_READERS: usize = 8;

/// How many threads read `/dev/fuse`, and whether each gets a CPU of its own: one per
/// CPU, pinned, on machines with at most `MAX_READERS` CPUs; else `MAX_READERS`,
/// unpinned. A request wakes whichever reader has waited longest; with one reader per
/// CPU that is often one on the caller's CPU, or soon free to run there, instead of a
/// thread on another, idle CPU. On a 2-vCPU VM that makes round trips 2-3x as fast.
pub(crate) fn readers() -> (usize, bool) {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (cpus.min(MAX_READERS), cpus <= MAX_READERS)
}

/// Places fuser's reader thread `index`: fuser calls this first on each of its event loop
/// threads (`Config::thread_start`), which pins it to CPU `index` when `pin` (see
/// `readers`). Its umask is already 0: fuser starts it from the session thread, whose
/// filesystem attributes it shares.
pub(crate) fn start_reader(index: usize, pin: bool) {
    if pin {
        if let Err(e) = fuse_uring::pin_to_cpu(index) {
            tracing::debug!(cpu = index, "cannot pin FUSE reader thread: {e}");
        }
    }
}

/// Gives this thread its own umask of 0 (see the module docs).
pub(crate) fn own_umask() {
    // SAFETY: `unshare_unsafe` is unsafe because of `UnshareFlags::FILES` (other threads'
    // descriptors would vanish from this one); `FS` only gives this thread its own cwd,
    // root and umask, which is allowed in a multithreaded process.
    match unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) } {
        Ok(()) => {
            // After the unshare this only affects this thread.
            rustix::process::umask(rustix::fs::Mode::empty());
        }
        Err(e) => tracing::warn!(
            "unshare(CLONE_FS) failed ({e}); new files get modes fixed up after creation"
        ),
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every worker once it finishes its current job.
        self.tx = None;
        for worker in self.workers.drain(..) {
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn a_blocked_job_does_not_stop_the_others() {
        let pool = Pool::new(4);
        let (release_tx, release_rx) = channel::<()>();
        let (done_tx, done_rx) = channel::<&'static str>();
        let slow_done = done_tx.clone();
        pool.spawn(move || {
            // Blocks until the test lets it go, like a slow fsync.
            let _ = release_rx.recv();
            let _ = slow_done.send("slow");
        });
        for _ in 0..10 {
            let tx = done_tx.clone();
            pool.spawn(move || {
                let _ = tx.send("quick");
            });
        }
        for _ in 0..10 {
            assert_eq!(
                done_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
                "quick"
            );
        }
        release_tx.send(()).unwrap();
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "slow"
        );
    }

    #[test]
    fn workers_have_a_umask_of_zero() {
        let pool = Pool::new(1);
        let (tx, rx) = channel();
        pool.spawn(move || {
            let old = rustix::process::umask(rustix::fs::Mode::empty());
            let _ = tx.send(old.bits());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 0);
    }
}
