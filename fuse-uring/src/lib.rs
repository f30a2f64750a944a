//! FUSE over io_uring: the kernel hands requests to per-CPU ring queues.
//!
//! With the classic transport every request wakes whichever daemon thread waits in
//! `read(/dev/fuse)`, usually on another CPU, and every reply wakes the caller back
//! across CPUs. On a virtual machine each of those wake-ups of an idle vCPU costs tens
//! of microseconds, which makes metadata calls cost 40-60 us per round trip. Linux 6.14+
//! can instead queue a request on the ring queue of the CPU the caller runs on
//! (`fuse.enable_uring=Y`). Here each queue is served by a thread this crate spawns and
//! pins to that CPU, so a request and its reply are two context switches on one CPU.
//!
//! Protocol (`Documentation/filesystems/fuse-io-uring.rst`): after INIT with
//! `FUSE_OVER_IO_URING`, every queue (one per possible CPU) registers ring entries with
//! `FUSE_IO_URING_CMD_REGISTER`, each a `fuse_uring_req_header` buffer and a payload
//! buffer. A request arrives as the completion of an entry's command: `fuse_in_header`
//! in the header's `in_out`, the operation's fixed argument in `op_in`, the rest in the
//! payload. The reply goes back the same way (`fuse_out_header` in `in_out`, the body in
//! the payload) with `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`, which also re-arms the entry.
//! FORGET, INTERRUPT and notifications still use `/dev/fuse`, which the FUSE library's
//! session loop keeps reading.
//!
//! Until every queue has an entry the kernel keeps requests waiting, and a failed
//! registration makes it fall back to `/dev/fuse` for good. So [`start`] registers every
//! queue before it returns, and on any local failure sends one invalid registration to
//! force that fallback rather than leave the mount waiting.
//!
//! Why a crate of its own: the transport is a kernel ABI plus the memory shared with the
//! kernel, and that is where all of its `unsafe` lives. It knows nothing of fuser or of
//! the filesystem: a [`Handler`] receives each request in `/dev/fuse` form and answers
//! through [`Replies`], so the FUSE library (our vendored fuser) stays upstream code
//! plus a dispatch hook, and `weka-fs` holds only the glue between the two.
//!
//! Invariants: the kernel structures are `#[repr(C)]` mirrors checked against the
//! header (`abi`); an entry's buffers have one owner at a time (`arena`); a queue's
//! buffers outlive its ring. This crate does not interpret requests.

mod abi;
mod arena;

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use zerocopy::{FromBytes, IntoBytes};

use abi::{CmdReq, InHeader, OutHeader, ReqHeader};
use arena::{Arena, Claim, Owner};

/// Serves the requests of one queue, on that queue's thread.
pub trait Handler: Send + 'static {
    /// Called once on the queue's thread, after it is pinned and before it registers.
    fn started(&mut self) {}

    /// Handles one request, given as `read(2)` on `/dev/fuse` would return it. Its
    /// reply must go to this queue's [`Replies::send`] with `token`, exactly once, now
    /// or later from any thread.
    /// # Errors
    /// The request was not taken and no reply will come; the transport answers EIO.
    fn handle(&mut self, request: &[u8], token: u64) -> io::Result<()>;
}

/// Where the replies of one queue's requests go. Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct Replies(Arc<Queue>);

impl Replies {
    /// Puts the reply to the request `token` (starting with its `fuse_out_header`) in
    /// place and queues its commit. A body too big for the payload buffer becomes an
    /// EIO reply.
    /// # Errors
    /// `token` names no request waiting for a reply.
    pub fn send(&self, token: u64, data: &[IoSlice<'_>]) -> io::Result<()> {
        let queue = &self.0;
        let i = usize::try_from(token).unwrap_or(usize::MAX);
        let Some(mut claim) = queue
            .arena
            .claim(i, Owner::Daemon, Owner::Writing, Owner::Replied)
        else {
            return Err(io::Error::other(
                "reply for a ring entry that holds no request",
            ));
        };
        put_reply(&mut claim, data);
        drop(claim);
        queue.replied(i);
        Ok(())
    }
}

/// Ring entries per queue: requests a CPU's callers can have in the daemon at once
/// before further ones wait in the kernel. Each entry has a payload buffer of up to
/// 1 MiB that stays resident once a large read or write has used it, so machines with
/// many CPUs get fewer entries per queue: 8 up to 4 CPUs, at least 2, about 32 in all.
fn depth_for(cpus: usize) -> usize {
    (32 / cpus.max(1)).clamp(2, 8)
}

/// A ring with the 128-byte SQEs FUSE's commands need.
type Ring = IoUring<squeue::Entry128, cqueue::Entry>;

/// `user_data` of the eventfd read; ring entries use their index.
const WAKE: u64 = u64::MAX;

thread_local! {
    /// The queue (`qid + 1`) this thread serves, 0 elsewhere.
    static SERVING: Cell<u32> = const { Cell::new(0) };
}

/// How many queues the kernel expects: one per possible CPU (`num_possible_cpus()`).
fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    parse_cpu_list(text.trim())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad possible CPU list"))
}

/// Counts the CPUs of a kernel CPU list such as `0-3,8-11` (possible CPUs are numbered
/// from 0 without gaps, so the count is also the highest id plus one).
fn parse_cpu_list(list: &str) -> Option<usize> {
    let mut highest = None;
    for part in list.split(',') {
        let last = match part.split_once('-') {
            Some((_, hi)) => hi,
            None => part,
        };
        let n: usize = last.trim().parse().ok()?;
        highest = Some(highest.map_or(n, |h: usize| h.max(n)));
    }
    highest.map(|h| h + 1)
}

/// True when io_uring with 128-byte SQEs can be set up here (it can be disabled by
/// `kernel.io_uring_disabled` or a seccomp filter). Check before INIT asks for the
/// io_uring transport, since a connection that asked for it waits for its queues.
pub fn usable() -> bool {
    Ring::builder().build(2).is_ok()
}

/// The payload buffer size the kernel requires of every entry:
/// `max(FUSE_MIN_READ_BUFFER, max_write, max_pages * PAGE_SIZE)`.
pub fn payload_len(max_write: usize, max_readahead: usize) -> usize {
    let page = rustix::param::page_size();
    let max_pages = max_write.max(max_readahead).div_ceil(page);
    abi::MIN_READ_BUFFER.max(max_write).max(max_pages * page)
}

/// Pins the calling thread to `cpu`. The one place the workspace sets CPU affinity.
/// # Errors
/// `cpu` is out of range or offline, or the affinity may not be changed.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}

/// Sets up one ring queue per possible CPU on the FUSE connection `dev`, with payload
/// buffers of `payload` bytes ([`payload_len`]); `handler_for(qid, replies)` makes each
/// queue's handler. Registers every queue's entries and starts the threads serving them,
/// each pinned to its CPU. Returns the threads (to join once the connection ends) and
/// whether every queue registered. On failure the connection has been told to fall back
/// to `/dev/fuse` (see the crate docs); threads that did register keep serving until the
/// connection ends, in case the kernel still uses them.
pub fn start<H: Handler>(
    dev: OwnedFd,
    payload: usize,
    mut handler_for: impl FnMut(u16, Replies) -> H,
) -> (Vec<JoinHandle<()>>, io::Result<()>) {
    let dev = Arc::new(dev);
    let cpus = match possible_cpus() {
        Ok(n) => n,
        Err(e) => {
            fall_back(&dev, None);
            return (Vec::new(), Err(e));
        }
    };
    let depth = depth_for(cpus);
    let mut queues = Vec::with_capacity(cpus);
    for qid in 0..cpus {
        let ring = Ring::builder().build(ring_size(depth));
        match ring.and_then(|ring| Ok((Queue::new(qid, depth, payload)?, ring))) {
            Ok(q) => queues.push(q),
            Err(e) => {
                fall_back(&dev, queues.first_mut().map(|(_, ring)| ring));
                return (Vec::new(), Err(e));
            }
        }
    }
    // Each thread registers its own entries (a command's request is copied in by task
    // work of the task that submitted it) and reports back before serving.
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let mut threads = Vec::with_capacity(cpus);
    for (queue, ring) in queues {
        let handler = handler_for(queue.qid, Replies(queue.clone()));
        let (fd, ready) = (dev.clone(), ready_tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("fuse-ring-{}", queue.qid))
            .spawn(move || serve(queue, ring, &fd, handler, &ready));
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                fall_back(&dev, None);
                return (threads, Err(e));
            }
        }
    }
    drop(ready_tx);
    let mut result = Ok(());
    for _ in 0..cpus {
        let report = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("a ring queue thread died")));
        if let Err(e) = report {
            result = Err(e);
        }
    }
    (threads, result)
}

fn ring_size(depth: usize) -> u32 {
    // Each entry has at most one command in flight, plus the eventfd read.
    u32::try_from((depth + 1).next_power_of_two()).unwrap_or(16)
}

/// Makes the kernel give up on io_uring for this connection: a registration it rejects
/// (no iovecs) turns `fc->io_uring` off and releases waiting requests to `/dev/fuse`.
/// Uses `ring` or a fresh one.
fn fall_back(dev: &OwnedFd, ring: Option<&mut Ring>) {
    let mut fresh;
    let ring = match ring {
        Some(ring) => ring,
        None => match Ring::builder().build(2) {
            Ok(r) => {
                fresh = r;
                &mut fresh
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reach the kernel to leave FUSE over io_uring; the mount may hang");
                return;
            }
        },
    };
    let sqe = uring_cmd(dev.as_raw_fd(), abi::CMD_REGISTER, 0, 0, None).user_data(0);
    if !push(ring, &sqe) || ring.submit_and_wait(1).is_err() {
        tracing::error!("cannot reach the kernel to leave FUSE over io_uring; the mount may hang");
    }
}

/// A `FUSE_IO_URING_CMD_*` SQE for queue `qid`. `iovecs` (REGISTER) is the address of
/// the entry's two iovecs.
fn uring_cmd(
    dev: RawFd,
    op: u32,
    qid: u16,
    commit_id: u64,
    iovecs: Option<u64>,
) -> squeue::Entry128 {
    let req = CmdReq {
        commit_id,
        qid,
        ..CmdReq::default()
    };
    let mut cmd = [0u8; abi::SQE_CMD_LEN];
    cmd[..size_of::<CmdReq>()].copy_from_slice(req.as_bytes());
    let sqe = opcode::UringCmd80::new(types::Fd(dev), op)
        .cmd(cmd)
        .addr(iovecs)
        .build();
    match iovecs {
        Some(_) => with_len(sqe, abi::IOV_SEGS),
        None => sqe,
    }
}

/// Sets an SQE's `len` (the kernel wants the iovec count there for REGISTER), which
/// io-uring 0.7's `UringCmd80` builder cannot.
fn with_len(mut sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
    const { assert!(size_of::<squeue::Entry128>() == 128) };
    let at = std::ptr::from_mut(&mut sqe)
        .cast::<u8>()
        .wrapping_add(abi::SQE_LEN_OFFSET)
        .cast::<u32>();
    // SAFETY: io-uring 0.7 declares `#[repr(C)] struct Entry128(Entry, [u8; 64])` and
    // `#[repr(C)] struct Entry(io_uring_sqe)`, so bytes 24..28 of `sqe` are the kernel
    // SQE's `len`, a plain `u32` (`abi::SQE_LEN_OFFSET`); `at` points there, inside a
    // value we own mutably, and `write_unaligned` needs no alignment.
    unsafe { at.write_unaligned(len) };
    sqe
}

/// One queue: its entries' memory and the replies waiting for their commit. Shared by
/// the queue thread and every [`Replies`].
struct Queue {
    qid: u16,
    arena: Arena,
    /// Entries whose reply is in place, waiting for their COMMIT_AND_FETCH.
    replied: Mutex<Vec<usize>>,
    /// Wakes the queue thread when a reply comes from another thread.
    wake: OwnedFd,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qid", &self.qid)
            .field("arena", &self.arena)
            .finish_non_exhaustive()
    }
}

impl Queue {
    fn new(qid: usize, depth: usize, payload: usize) -> io::Result<Arc<Queue>> {
        let qid = u16::try_from(qid).map_err(|_| io::Error::other("too many CPUs"))?;
        let arena = Arena::new(depth, payload)
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let wake = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
        Ok(Arc::new(Queue {
            qid,
            arena,
            replied: Mutex::new(Vec::with_capacity(depth)),
            wake,
        }))
    }

    fn replied_list(&self) -> MutexGuard<'_, Vec<usize>> {
        // The list stays consistent whatever a panicking holder did: each push is whole.
        self.replied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues entry `i` for its COMMIT_AND_FETCH, waking the queue thread when the
    /// reply comes from another thread.
    fn replied(&self, i: usize) {
        self.replied_list().push(i);
        if SERVING.with(Cell::get) != u32::from(self.qid) + 1 {
            if let Err(e) = rustix::io::write(&self.wake, &1u64.to_ne_bytes()) {
                // Only fails if the counter would overflow, i.e. a wake-up is pending.
                tracing::debug!("eventfd write: {e}");
            }
        }
    }

    /// Answers the request in entry `i` with `-errno` itself (a request the handler did
    /// not take).
    fn reply_error(&self, i: usize, unique: u64, errno: i32) {
        if let Some(mut claim) = self
            .arena
            .claim(i, Owner::Daemon, Owner::Writing, Owner::Replied)
        {
            put_error(&mut claim, unique, errno);
            drop(claim);
            self.replied(i);
        }
    }
}

/// Copies the request held in `claim` into `out` in `/dev/fuse` form: header, the
/// operation's argument, payload. None if the lengths do not add up.
fn read_request(claim: &mut Claim<'_>, out: &mut Vec<u8>) -> Option<()> {
    let (header, payload) = claim.buffers();
    let (in_header, _) = InHeader::read_from_prefix(&header.in_out).ok()?;
    let total = usize::try_from(in_header.len).ok()?;
    let body = usize::try_from(header.ring_ent_in_out.payload_sz).ok()?;
    let op_len = total
        .checked_sub(size_of::<InHeader>())?
        .checked_sub(body)?;
    out.clear();
    out.reserve(total);
    out.extend_from_slice(header.in_out.get(..size_of::<InHeader>())?);
    out.extend_from_slice(header.op_in.get(..op_len)?);
    out.extend_from_slice(payload.get(..body)?);
    Some(())
}

/// Writes a reply into the entry held by `claim`: the out header into `in_out`, the body
/// into the payload. A body too big for the payload becomes an EIO reply.
fn put_reply(claim: &mut Claim<'_>, data: &[IoSlice<'_>]) {
    let total: usize = data.iter().map(|s| s.len()).sum();
    let out_len = size_of::<OutHeader>();
    let (header, payload) = claim.buffers();
    let Some(body) = total.checked_sub(out_len).filter(|&b| b <= payload.len()) else {
        let unique = reply_unique(data);
        put_error(claim, unique, libc::EIO);
        return;
    };
    scatter(data, [&mut header.in_out[..out_len], &mut payload[..body]]);
    header.ring_ent_in_out.payload_sz = u32::try_from(body).unwrap_or(u32::MAX);
}

fn put_error(claim: &mut Claim<'_>, unique: u64, errno: i32) {
    let (header, _) = claim.buffers();
    let out = OutHeader {
        len: size_of::<OutHeader>() as u32,
        error: -errno,
        unique,
    };
    header.in_out[..size_of::<OutHeader>()].copy_from_slice(out.as_bytes());
    header.ring_ent_in_out.payload_sz = 0;
}

/// Copies the bytes of `src` into the destinations in turn, until both are full.
fn scatter(src: &[IoSlice<'_>], dsts: [&mut [u8]; 2]) {
    let mut dsts = dsts.into_iter();
    let mut dst: &mut [u8] = &mut [];
    for slice in src {
        let mut from: &[u8] = slice;
        while !from.is_empty() {
            if dst.is_empty() {
                match dsts.next() {
                    Some(next) => dst = next,
                    None => return,
                }
                continue;
            }
            let n = dst.len().min(from.len());
            let (head, rest) = std::mem::take(&mut dst).split_at_mut(n);
            head.copy_from_slice(&from[..n]);
            dst = rest;
            from = &from[n..];
        }
    }
}

/// The `unique` of a reply's out header, for an error reply in its place.
fn reply_unique(data: &[IoSlice<'_>]) -> u64 {
    let mut head = [0u8; size_of::<OutHeader>()];
    scatter(data, [&mut head, &mut []]);
    OutHeader::read_from_bytes(&head[..]).map_or(0, |h| h.unique)
}

/// The queue thread: pins itself, registers the entries, reports, then serves until the
/// kernel ends every entry (unmount or abort). The ring is dropped before the queue.
fn serve<H: Handler>(
    queue: Arc<Queue>,
    ring: Ring,
    dev: &OwnedFd,
    mut handler: H,
    ready: &mpsc::Sender<io::Result<()>>,
) {
    if let Err(e) = pin_to_cpu(usize::from(queue.qid)) {
        // An offline CPU: its queue still serves, from wherever it runs.
        tracing::debug!(cpu = queue.qid, "cannot pin FUSE ring queue: {e}");
    }
    handler.started();
    SERVING.with(|s| s.set(u32::from(queue.qid) + 1));
    let depth = queue.arena.depth();
    let mut server = Server {
        request: Vec::with_capacity(queue.arena.payload_len() + size_of::<ReqHeader>()),
        queue,
        ring,
        fd: dev.as_fd().as_raw_fd(),
        commit_ids: vec![0; depth],
        live: depth,
    };
    let early = server.register();
    let failed = early.iter().filter(|(t, r)| *t != WAKE && *r < 0).count();
    if failed == depth {
        let errno = early
            .iter()
            .find(|(t, _)| *t != WAKE)
            .map_or(libc::EIO, |(_, r)| -r);
        // `start` waits for exactly one report per queue; it cannot have gone away.
        let _ = ready.send(Err(io::Error::from_raw_os_error(errno)));
        return;
    }
    // As above.
    let _ = ready.send(Ok(()));
    server.handle(&early, &mut handler);
    let mut done = Vec::with_capacity(depth + 1);
    while server.live > 0 {
        match server.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => {
                tracing::error!(qid = server.queue.qid, error = %e, "FUSE ring queue stopped");
                return;
            }
        }
        done.clear();
        done.extend(
            server
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result())),
        );
        server.handle(&done, &mut handler);
    }
}

/// One queue thread's state.
struct Server {
    // Field order is drop order: the ring (whose commands point into the queue's arena)
    // goes before the queue.
    ring: Ring,
    queue: Arc<Queue>,
    fd: RawFd,
    /// The commit id of the request each entry holds.
    commit_ids: Vec<u64>,
    /// Entries the kernel has not ended.
    live: usize,
    /// The request being dispatched, in `/dev/fuse` form.
    request: Vec<u8>,
}

impl Server {
    /// Registers every entry and arms the eventfd read. A REGISTER the kernel refuses
    /// completes at once with the error; accepted ones stay in flight until a request
    /// comes. Returns what completed right away (errors, or early requests once the
    /// last queue made the ring ready).
    fn register(&mut self) -> Vec<(u64, i32)> {
        let depth = self.queue.arena.depth();
        for i in 0..depth {
            let iovecs = self.queue.arena.iovecs(i);
            let sqe = uring_cmd(self.fd, abi::CMD_REGISTER, self.queue.qid, 0, Some(iovecs))
                .user_data(i as u64);
            push(&mut self.ring, &sqe);
        }
        arm_wake(&self.queue, &mut self.ring);
        if let Err(e) = self.ring.submit() {
            tracing::warn!(error = %e, "FUSE ring registration not submitted");
            return (0..depth).map(|i| (i as u64, -libc::EIO)).collect();
        }
        self.ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect()
    }

    /// Handles completions: dispatches requests, retires ended entries, re-arms the
    /// eventfd, then queues a COMMIT_AND_FETCH for every entry whose reply is in place.
    fn handle(&mut self, done: &[(u64, i32)], handler: &mut impl Handler) {
        for &(token, res) in done {
            if token == WAKE {
                arm_wake(&self.queue, &mut self.ring);
                continue;
            }
            let Ok(i) = usize::try_from(token) else {
                continue;
            };
            if res < 0 {
                self.entry_ended(i, res);
                continue;
            }
            self.dispatch(i, handler);
        }
        let replied = std::mem::take(&mut *self.queue.replied_list());
        for i in replied {
            if !self.queue.arena.hand_to_kernel(i) {
                // Only a reply queued twice could get here; the first one re-armed it.
                tracing::warn!(
                    qid = self.queue.qid,
                    entry = i,
                    "commit for an entry without a reply"
                );
                continue;
            }
            let sqe = uring_cmd(
                self.fd,
                abi::CMD_COMMIT_AND_FETCH,
                self.queue.qid,
                self.commit_ids[i],
                None,
            )
            .user_data(i as u64);
            push(&mut self.ring, &sqe);
        }
    }

    /// The connection is going away (ENOTCONN, ECANCELED) or the kernel refused the
    /// command; either way entry `i` serves no more.
    fn entry_ended(&mut self, i: usize, res: i32) {
        if res != -libc::ENOTCONN && res != -libc::ECANCELED {
            tracing::debug!(
                qid = self.queue.qid,
                entry = i,
                errno = -res,
                "FUSE ring entry ended"
            );
        }
        self.live -= 1;
    }

    /// Hands the request that arrived in entry `i` to the handler.
    fn dispatch(&mut self, i: usize, handler: &mut impl Handler) {
        let Some(mut claim) =
            self.queue
                .arena
                .claim(i, Owner::Kernel, Owner::Reading, Owner::Daemon)
        else {
            tracing::warn!(
                qid = self.queue.qid,
                entry = i,
                "completion for an entry the kernel did not hold"
            );
            return;
        };
        let commit_id = claim.buffers().0.ring_ent_in_out.commit_id;
        let read = read_request(&mut claim, &mut self.request);
        drop(claim);
        self.commit_ids[i] = commit_id;
        let taken = read.is_some() && handler.handle(&self.request, i as u64).is_ok();
        if !taken {
            tracing::warn!(qid = self.queue.qid, "malformed FUSE request from the ring");
            self.queue.reply_error(i, commit_id, libc::EIO);
        }
    }
}

fn arm_wake(queue: &Queue, ring: &mut Ring) {
    let sqe: squeue::Entry128 =
        opcode::Read::new(types::Fd(queue.wake.as_raw_fd()), queue.arena.wake_buf(), 8)
            .build()
            .user_data(WAKE)
            .into();
    push(ring, &sqe);
}

/// Pushes `sqe`, submitting first when the queue is full. False if it could not.
fn push(ring: &mut Ring, sqe: &squeue::Entry128) -> bool {
    loop {
        // SAFETY: an SQE here points at nothing (fall-back REGISTER, COMMIT_AND_FETCH),
        // at an entry's iovecs and through them its buffers (REGISTER), or at the
        // eventfd counter, all in a queue's `Arena`. The thread that owns the ring owns
        // an `Arc` of that queue and drops the ring first (`Server`'s field order), and
        // the kernel writes an entry's buffers only while the arena says it holds them.
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return true;
        }
        if let Err(e) = ring.submit() {
            tracing::error!(error = %e, "io_uring submit failed");
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_possible_cpus() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,4-7"), Some(8));
        assert_eq!(parse_cpu_list("0,2-5"), Some(6));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn queues_get_fewer_entries_on_machines_with_many_cpus() {
        assert_eq!(depth_for(1), 8);
        assert_eq!(depth_for(2), 8);
        assert_eq!(depth_for(4), 8);
        assert_eq!(depth_for(8), 4);
        assert_eq!(depth_for(64), 2);
        assert_eq!(depth_for(0), 8);
    }

    #[test]
    fn payload_covers_the_largest_request() {
        assert_eq!(payload_len(1 << 20, 128 << 10), 1 << 20);
        assert_eq!(payload_len(4096, 4096), 8192);
        assert!(payload_len(1 << 20, 2 << 20) >= 2 << 20);
    }

    /// The raw bytes of an SQE, to check them against the kernel's layout.
    fn sqe_bytes(sqe: &squeue::Entry128) -> [u8; 128] {
        // SAFETY: `Entry128` is `#[repr(C)]`, 128 bytes (asserted in `with_len`) of plain
        // integers and byte arrays (the kernel's `io_uring_sqe` and its command area)
        // without padding, so every byte is initialised; `read_unaligned` has no
        // alignment requirement.
        unsafe { std::ptr::from_ref(sqe).cast::<[u8; 128]>().read_unaligned() }
    }

    #[test]
    fn register_sqe_carries_two_iovecs_and_the_queue() {
        let sqe = uring_cmd(7, abi::CMD_REGISTER, 3, 0, Some(0x1000));
        let bytes = sqe_bytes(&sqe);
        let len = abi::SQE_LEN_OFFSET;
        assert_eq!(bytes[len..len + 4], 2u32.to_ne_bytes());
        assert_eq!(bytes[4..8], 7i32.to_ne_bytes(), "fd");
        assert_eq!(bytes[16..24], 0x1000u64.to_ne_bytes(), "addr: the iovecs");
        // sqe->cmd starts at byte 48: flags, commit_id, then qid at 64.
        assert_eq!(bytes[64..66], 3u16.to_ne_bytes());
        let commit = uring_cmd(7, abi::CMD_COMMIT_AND_FETCH, 1, 0xabcd, None);
        let bytes = sqe_bytes(&commit);
        assert_eq!(bytes[56..64], 0xabcdu64.to_ne_bytes());
        assert_eq!(bytes[len..len + 4], [0; 4]);
    }

    fn entry(arena: &Arena, from: Owner) -> Claim<'_> {
        arena
            .claim(0, from, Owner::Writing, Owner::Replied)
            .unwrap()
    }

    #[test]
    fn a_request_is_reassembled_in_dev_fuse_form() {
        let arena = Arena::new(1, 8192).unwrap();
        let mut claim = entry(&arena, Owner::Kernel);
        let (header, payload) = claim.buffers();
        let in_header = InHeader {
            len: 40 + 3 + 5,
            unique: 9,
            ..InHeader::default()
        };
        header.in_out[..40].copy_from_slice(in_header.as_bytes());
        header.op_in[..3].copy_from_slice(b"abc");
        header.ring_ent_in_out.payload_sz = 5;
        payload[..5].copy_from_slice(b"hello");
        let mut out = Vec::new();
        assert!(read_request(&mut claim, &mut out).is_some());
        assert_eq!(&out[..40], in_header.as_bytes());
        assert_eq!(&out[40..], b"abchello");

        let (header, _) = claim.buffers();
        header.ring_ent_in_out.payload_sz = 100;
        assert!(
            read_request(&mut claim, &mut out).is_none(),
            "payload longer than the request"
        );
        header_with_len(&mut claim, 40 + 200);
        claim.buffers().0.ring_ent_in_out.payload_sz = 0;
        assert!(
            read_request(&mut claim, &mut out).is_none(),
            "argument longer than op_in"
        );
    }

    fn header_with_len(claim: &mut Claim<'_>, len: u32) {
        let h = InHeader {
            len,
            ..InHeader::default()
        };
        claim.buffers().0.in_out[..40].copy_from_slice(h.as_bytes());
    }

    #[test]
    fn a_reply_is_split_between_header_and_payload() {
        let arena = Arena::new(1, 8192).unwrap();
        let mut claim = entry(&arena, Owner::Kernel);
        let out = OutHeader {
            len: 16 + 6,
            error: 0,
            unique: 42,
        };
        let (a, b) = out.as_bytes().split_at(10);
        put_reply(
            &mut claim,
            &[IoSlice::new(a), IoSlice::new(b), IoSlice::new(b"answer")],
        );
        let (header, payload) = claim.buffers();
        let (written, _) = OutHeader::read_from_prefix(&header.in_out).unwrap();
        assert_eq!((written.len, written.error, written.unique), (22, 0, 42));
        assert_eq!(header.ring_ent_in_out.payload_sz, 6);
        assert_eq!(&payload[..6], b"answer");
    }

    #[test]
    fn a_reply_too_big_for_the_payload_becomes_eio() {
        let arena = Arena::new(1, 8192).unwrap();
        let mut claim = entry(&arena, Owner::Kernel);
        let out = OutHeader {
            len: 16 + 9000,
            error: 0,
            unique: 7,
        };
        let body = vec![1u8; 9000];
        put_reply(
            &mut claim,
            &[IoSlice::new(out.as_bytes()), IoSlice::new(&body)],
        );
        let (header, _) = claim.buffers();
        let (written, _) = OutHeader::read_from_prefix(&header.in_out).unwrap();
        assert_eq!((written.error, written.unique), (-libc::EIO, 7));
        assert_eq!(header.ring_ent_in_out.payload_sz, 0);
    }

    #[test]
    fn a_reply_needs_a_request_to_answer() {
        let queue = Queue::new(0, 1, 8192).unwrap();
        let replies = Replies(queue.clone());
        let header = OutHeader::default();
        let reply = [IoSlice::new(header.as_bytes())];
        assert!(
            replies.send(0, &reply).is_err(),
            "entry still with the kernel"
        );
        assert!(replies.send(5, &reply).is_err(), "no such entry");
        drop(
            queue
                .arena
                .claim(0, Owner::Kernel, Owner::Reading, Owner::Daemon),
        );
        replies.send(0, &reply).unwrap();
        assert!(replies.send(0, &reply).is_err(), "a second reply");
        assert_eq!(*queue.replied_list(), [0]);
    }
}
