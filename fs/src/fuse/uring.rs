//! FUSE over io_uring: the kernel hands requests to per-CPU ring queues.
//!
//! With the classic transport every request wakes whichever daemon thread waits in
//! `read(/dev/fuse)`, usually on another CPU, and every reply wakes the caller back
//! across CPUs. On a virtual machine each of those wake-ups of an idle vCPU costs tens
//! of microseconds, which makes metadata calls cost 40-60 us per round trip. Linux 6.14+
//! can instead queue a request on the ring queue of the CPU the caller runs on
//! (`fuse.enable_uring=Y`). Here each queue is served by a thread pinned to that CPU, so
//! a request and its reply are two context switches on one CPU.
//!
//! Protocol (`Documentation/filesystems/fuse-io-uring.rst`): after INIT with
//! `FUSE_OVER_IO_URING`, every queue (one per possible CPU) registers ring entries with
//! `FUSE_IO_URING_CMD_REGISTER`, each a 288-byte header buffer and a payload buffer.
//! A request arrives as the completion of an entry's command: `fuse_in_header` in the
//! header's `in_out`, the operation's fixed argument in `op_in`, the rest in the payload.
//! The reply goes back the same way (`fuse_out_header` in `in_out`, the reply body in the
//! payload) with `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`, which also re-arms the entry.
//! FORGET, INTERRUPT and notifications still use `/dev/fuse`, which fuser's session loop
//! keeps reading.
//!
//! Until every queue has an entry the kernel keeps requests waiting, and a failed
//! registration makes it fall back to `/dev/fuse` for good. So `start` registers every
//! queue before it returns, and on any local failure sends one invalid registration to
//! force that fallback rather than leave the mount waiting.
//!
//! Requests are dispatched inline on the queue thread; the adapter still hands requests
//! that may block to its pool, whose replies reach the queue thread through an eventfd.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::thread::JoinHandle;

use fuser::{Dispatcher, Filesystem, ReplySink};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::stats::FuseStats;
use crate::sync::{lock, Arc, Mutex};

const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;

/// `struct fuse_uring_req_header`: `in_out[128]`, `op_in[128]`, `fuse_uring_ent_in_out`.
const HEADER_LEN: usize = 288;
const OP_IN: usize = 128;
const ENT_IN_OUT: usize = 256;
/// `fuse_uring_ent_in_out.commit_id` and `.payload_sz`.
const COMMIT_ID: usize = ENT_IN_OUT + 8;
const PAYLOAD_SZ: usize = ENT_IN_OUT + 16;
const IN_HEADER_LEN: usize = 40;
const OUT_HEADER_LEN: usize = 16;
/// Offset of `len` in an SQE (the kernel wants 2 there: header and payload iovecs).
const SQE_LEN: usize = 24;

/// `user_data` of the eventfd read; ring entries use their index.
const WAKE: u64 = u64::MAX;

/// Ring entries per queue: requests a CPU's callers can have in the daemon at once
/// before further ones wait in the kernel. Each entry has a payload buffer of up to
/// 1 MiB that stays resident once a large read or write has used it, so machines with
/// many CPUs get fewer entries per queue: 8 up to 4 CPUs, at least 2, about 32 in all.
fn depth_for(cpus: usize) -> usize {
    (32 / cpus.max(1)).clamp(2, 8)
}

/// A ring with the 128-byte SQEs FUSE's commands need.
type Ring = IoUring<squeue::Entry128, cqueue::Entry>;

thread_local! {
    /// The queue (`qid + 1`) this thread serves, 0 elsewhere.
    static SERVING: Cell<u32> = const { Cell::new(0) };
}

/// How many queues the kernel expects: one per possible CPU (`num_possible_cpus()`).
pub(crate) fn possible_cpus() -> io::Result<usize> {
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
/// `kernel.io_uring_disabled` or a seccomp filter). Checked before INIT asks for the
/// io_uring transport, since a connection that asked for it waits for its queues.
pub(crate) fn usable() -> bool {
    Ring::builder().build(2).is_ok()
}

/// The payload buffer size the kernel requires of every entry:
/// `max(FUSE_MIN_READ_BUFFER, max_write, max_pages * PAGE_SIZE)`.
pub(crate) fn payload_len(max_write: usize, max_readahead: usize) -> usize {
    let page = page_size();
    let max_pages = max_write.max(max_readahead).div_ceil(page);
    8192.max(max_write).max(max_pages * page)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}

/// Sets up one ring queue per possible CPU, registers their entries with the kernel,
/// and starts the threads serving them. Returns the threads (to join once the
/// connection ends) and whether every queue registered. On failure the connection has
/// been told to fall back to `/dev/fuse` (see the module docs); threads that did
/// register keep serving until the connection ends, in case the kernel still uses them.
pub(crate) fn start<FS: Filesystem>(
    dispatcher: &Dispatcher<FS>,
    dev: OwnedFd,
    payload: usize,
    stats: &Arc<FuseStats>,
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
        let (fd, dispatcher, ready) = (dev.clone(), dispatcher.clone(), ready_tx.clone());
        let stats = stats.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wekad-fuse-ring-{}", queue.qid))
            .spawn(move || serve(queue, ring, &fd, &dispatcher, &ready, stats));
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
/// (a bad iovec count) turns `fc->io_uring` off and releases waiting requests to
/// `/dev/fuse`. Uses `ring` or a fresh one.
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
    let sqe = uring_cmd(dev.as_raw_fd(), CMD_REGISTER, 0, 0, None).user_data(0);
    // SAFETY: the command carries no buffer (the kernel rejects it for its iovec count
    // before reading any address).
    let pushed = unsafe { ring.submission().push(&sqe) }.is_ok();
    if !pushed || ring.submit_and_wait(1).is_err() {
        tracing::error!("cannot reach the kernel to leave FUSE over io_uring; the mount may hang");
    }
}

/// A `FUSE_IO_URING_CMD_*` SQE. `iov` (REGISTER) points at the entry's two iovecs.
fn uring_cmd(
    dev: RawFd,
    op: u32,
    qid: u16,
    commit_id: u64,
    iov: Option<*const libc::iovec>,
) -> squeue::Entry128 {
    // struct fuse_uring_cmd_req { u64 flags; u64 commit_id; u16 qid; u8 padding[6]; }
    let mut cmd = [0u8; 80];
    cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
    cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
    let mut builder = opcode::UringCmd80::new(types::Fd(dev), op).cmd(cmd);
    if let Some(iov) = iov {
        builder = builder.addr(Some(iov as u64));
    }
    let sqe = builder.build();
    if iov.is_none() {
        return sqe;
    }
    // The crate has no setter for the SQE's `len`, which REGISTER needs (2 iovecs).
    let mut bytes = sqe_bytes(sqe);
    bytes[SQE_LEN..SQE_LEN + 4].copy_from_slice(&2u32.to_ne_bytes());
    // SAFETY: see `sqe_bytes`; any bytes are a valid SQE for the type.
    unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(bytes) }
}

/// The raw bytes of an SQE.
fn sqe_bytes(sqe: squeue::Entry128) -> [u8; 128] {
    // SAFETY: `Entry128` is `repr(C)`: the 64-byte `io_uring_sqe` then 64 command bytes,
    // all plain integers without padding, so it round-trips through bytes.
    unsafe { std::mem::transmute(sqe) }
}

/// The buffers of one queue's entries, shared by the queue thread (requests) and the
/// reply sink (replies, from any thread). Entry `i` is written by the kernel only while
/// its command is in flight and by the sink only while its request is in the daemon,
/// never both: the command is re-armed only after the reply is in place.
struct Queue {
    qid: u16,
    /// Ring entries (see `depth_for`).
    depth: usize,
    payload: usize,
    /// `depth` header buffers then `depth` payload buffers, never moved or resized.
    mem: *mut u8,
    mem_len: usize,
    /// The two iovecs of each entry, read by the kernel at registration.
    iovs: Box<[libc::iovec]>,
    /// Entries whose reply is in place, waiting for their COMMIT_AND_FETCH.
    replied: Mutex<Vec<usize>>,
    wake: OwnedFd,
    /// Target of the eventfd read.
    wake_buf: Box<u64>,
}

// SAFETY: `mem` is owned by the queue (freed in Drop) and accessed under the protocol
// described on the type: one side at a time per entry.
unsafe impl Send for Queue {}
// SAFETY: as above; `replied` is behind a mutex.
unsafe impl Sync for Queue {}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qid", &self.qid)
            .finish_non_exhaustive()
    }
}

impl Queue {
    fn new(qid: usize, depth: usize, payload: usize) -> io::Result<Arc<Queue>> {
        let qid = u16::try_from(qid).map_err(|_| io::Error::other("too many CPUs"))?;
        let mem_len = depth * (HEADER_LEN + payload);
        let mem = Box::into_raw(vec![0u8; mem_len].into_boxed_slice()).cast::<u8>();
        // SAFETY: EFD_CLOEXEC is a valid flag; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: `mem` came from `Box::into_raw` of a slice of `mem_len` bytes.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(mem, mem_len)) });
            return Err(e);
        }
        // SAFETY: eventfd returned a new descriptor we own.
        let wake = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut queue = Queue {
            qid,
            depth,
            payload,
            mem,
            mem_len,
            iovs: Box::new([]),
            replied: Mutex::new(Vec::with_capacity(depth)),
            wake,
            wake_buf: Box::new(0),
        };
        let mut iovs = Vec::with_capacity(depth * 2);
        for i in 0..depth {
            iovs.push(libc::iovec {
                iov_base: queue.header(i).cast(),
                iov_len: HEADER_LEN,
            });
            iovs.push(libc::iovec {
                iov_base: queue.payload_buf(i).cast(),
                iov_len: payload,
            });
        }
        queue.iovs = iovs.into_boxed_slice();
        Ok(Arc::new(queue))
    }

    fn header(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.depth);
        // SAFETY: i < depth, so the offset is inside the allocation.
        unsafe { self.mem.add(i * HEADER_LEN) }
    }

    fn payload_buf(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.depth);
        // SAFETY: i < depth, so the offset is inside the allocation.
        unsafe { self.mem.add(self.depth * HEADER_LEN + i * self.payload) }
    }

    fn read_u64(&self, i: usize, at: usize) -> u64 {
        let mut b = [0u8; 8];
        // SAFETY: `at + 8 <= HEADER_LEN`; entry `i` belongs to the reader (type docs).
        unsafe { std::ptr::copy_nonoverlapping(self.header(i).add(at), b.as_mut_ptr(), 8) };
        u64::from_ne_bytes(b)
    }

    fn read_u32(&self, i: usize, at: usize) -> u32 {
        let mut b = [0u8; 4];
        // SAFETY: `at + 4 <= HEADER_LEN`; entry `i` belongs to the reader (type docs).
        unsafe { std::ptr::copy_nonoverlapping(self.header(i).add(at), b.as_mut_ptr(), 4) };
        u32::from_ne_bytes(b)
    }

    /// Copies entry `i`'s request into `out` in `/dev/fuse` form: header, the
    /// operation's argument, payload. None if the lengths do not add up.
    fn request(&self, i: usize, out: &mut Vec<u8>) -> Option<()> {
        let total = usize::try_from(self.read_u32(i, 0)).ok()?;
        let payload = usize::try_from(self.read_u32(i, PAYLOAD_SZ)).ok()?;
        let op_len = total.checked_sub(IN_HEADER_LEN)?.checked_sub(payload)?;
        if op_len > OP_IN || payload > self.payload {
            return None;
        }
        out.clear();
        out.reserve(total);
        // SAFETY: the ranges are inside entry `i`'s buffers (checked above), which
        // belong to this thread until the entry is committed.
        unsafe {
            let h = self.header(i);
            out.extend_from_slice(std::slice::from_raw_parts(h, IN_HEADER_LEN));
            out.extend_from_slice(std::slice::from_raw_parts(h.add(OP_IN), op_len));
            out.extend_from_slice(std::slice::from_raw_parts(self.payload_buf(i), payload));
        }
        Some(())
    }

    /// Writes a reply into entry `i`: the out header into `in_out`, the body into the
    /// payload. A body too big for the payload becomes an EIO reply.
    fn put_reply(&self, i: usize, data: &[IoSlice<'_>]) {
        let total: usize = data.iter().map(|s| s.len()).sum();
        let body = total.saturating_sub(OUT_HEADER_LEN);
        if total < OUT_HEADER_LEN || body > self.payload {
            let unique = first_unique(data);
            self.put_error(i, unique, libc::EIO);
            return;
        }
        let mut at = 0usize;
        for slice in data {
            let mut src: &[u8] = slice;
            while !src.is_empty() {
                let (dst, room) = if at < OUT_HEADER_LEN {
                    // SAFETY: inside the header buffer of entry `i`.
                    (unsafe { self.header(i).add(at) }, OUT_HEADER_LEN - at)
                } else {
                    let off = at - OUT_HEADER_LEN;
                    // SAFETY: off < body <= payload, inside entry `i`'s payload buffer.
                    (unsafe { self.payload_buf(i).add(off) }, self.payload - off)
                };
                let n = room.min(src.len());
                // SAFETY: `dst` has `room >= n` bytes; the entry belongs to the replier.
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
                src = &src[n..];
                at += n;
            }
        }
        self.set_payload_sz(i, body);
    }

    fn put_error(&self, i: usize, unique: u64, errno: i32) {
        let mut h = [0u8; OUT_HEADER_LEN];
        h[0..4].copy_from_slice(&(OUT_HEADER_LEN as u32).to_ne_bytes());
        h[4..8].copy_from_slice(&(-errno).to_ne_bytes());
        h[8..16].copy_from_slice(&unique.to_ne_bytes());
        // SAFETY: 16 bytes at the start of entry `i`'s header buffer.
        unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), self.header(i), OUT_HEADER_LEN) };
        self.set_payload_sz(i, 0);
    }

    fn set_payload_sz(&self, i: usize, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        // SAFETY: 4 bytes inside entry `i`'s header buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                len.to_ne_bytes().as_ptr(),
                self.header(i).add(PAYLOAD_SZ),
                4,
            );
        }
    }

    /// Queues entry `i` for its COMMIT_AND_FETCH, waking the queue thread when the
    /// reply comes from another thread.
    fn replied(&self, i: usize) {
        lock(&self.replied).push(i);
        if SERVING.with(Cell::get) != u32::from(self.qid) + 1 {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer to our eventfd.
            let n = unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
            if n != 8 {
                // Only fails if the counter would overflow, i.e. a wake-up is pending.
                tracing::debug!("eventfd write: {}", io::Error::last_os_error());
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: `mem` came from `Box::into_raw` of a slice of `mem_len` bytes, and the
        // kernel is done with it: the queue thread's `Server` drops its ring (closing it
        // ends every command) before its `Arc` of the queue.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.mem, self.mem_len)) });
    }
}

/// The `unique` of a reply's out header (bytes 8..16), for an error reply in its place.
fn first_unique(data: &[IoSlice<'_>]) -> u64 {
    let mut h = Vec::with_capacity(OUT_HEADER_LEN);
    for s in data {
        h.extend_from_slice(s);
        if h.len() >= OUT_HEADER_LEN {
            break;
        }
    }
    h.get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_ne_bytes)
}

/// The reply sink of one queue.
#[derive(Debug)]
struct Sink(Arc<Queue>);

impl ReplySink for Sink {
    fn send(&self, token: u64, data: &[IoSlice<'_>]) -> io::Result<()> {
        let i = usize::try_from(token)
            .ok()
            .filter(|&i| i < self.0.depth)
            .ok_or_else(|| io::Error::other("reply for an unknown ring entry"))?;
        self.0.put_reply(i, data);
        self.0.replied(i);
        Ok(())
    }
}

/// The queue thread: registers the entries, reports, then serves until the kernel ends
/// every entry (unmount or abort). The ring is dropped before the queue's buffers.
fn serve<FS: Filesystem>(
    queue: Arc<Queue>,
    ring: Ring,
    dev: &OwnedFd,
    dispatcher: &Dispatcher<FS>,
    ready: &mpsc::Sender<io::Result<()>>,
    stats: Arc<FuseStats>,
) {
    super::pool::own_umask();
    pin_to_cpu(usize::from(queue.qid));
    SERVING.with(|s| s.set(u32::from(queue.qid) + 1));
    let queue_depth = queue.depth;
    let mut server = Server {
        sink: Arc::new(Sink(queue.clone())),
        queue,
        ring,
        fd: dev.as_raw_fd(),
        commit_ids: vec![0; queue_depth],
        live: queue_depth,
        request: Vec::new(),
        stats,
    };
    let early = server.register();
    let failed = early.iter().filter(|(t, r)| *t != WAKE && *r < 0).count();
    if failed == queue_depth {
        let errno = early
            .iter()
            .find(|(t, _)| *t != WAKE)
            .map_or(libc::EIO, |(_, r)| -r);
        let _ = ready.send(Err(io::Error::from_raw_os_error(errno)));
        return;
    }
    let _ = ready.send(Ok(()));
    server
        .request
        .reserve(server.queue.payload + IN_HEADER_LEN + OP_IN);
    server.handle(&early, dispatcher);
    let mut done = Vec::with_capacity(queue_depth + 1);
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
        server.handle(&done, dispatcher);
    }
}

/// One queue thread's state.
struct Server {
    // Field order is drop order: the ring (whose commands point into the queue's
    // buffers) goes before the queue.
    ring: Ring,
    queue: Arc<Queue>,
    sink: Arc<dyn ReplySink>,
    fd: RawFd,
    /// The `unique` of the request each entry holds, for its commit.
    commit_ids: Vec<u64>,
    /// Entries the kernel has not ended.
    live: usize,
    /// The request being dispatched, in `/dev/fuse` form.
    request: Vec<u8>,
    stats: Arc<FuseStats>,
}

impl Server {
    /// Registers every entry and arms the eventfd read. A REGISTER the kernel refuses
    /// completes at once with the error; accepted ones stay in flight until a request
    /// comes. Returns what completed right away (errors, or early requests once the
    /// last queue made the ring ready).
    fn register(&mut self) -> Vec<(u64, i32)> {
        for i in 0..self.queue.depth {
            let iov = self.queue.iovs[i * 2..].as_ptr();
            let sqe =
                uring_cmd(self.fd, CMD_REGISTER, self.queue.qid, 0, Some(iov)).user_data(i as u64);
            push(&mut self.ring, &sqe);
        }
        arm_wake(&self.queue, &mut self.ring);
        if let Err(e) = self.ring.submit() {
            tracing::warn!(error = %e, "FUSE ring registration not submitted");
            return (0..self.queue.depth)
                .map(|i| (i as u64, -libc::EIO))
                .collect();
        }
        self.ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect()
    }

    /// Handles completions: dispatches requests, retires ended entries, re-arms the
    /// eventfd, then queues a COMMIT_AND_FETCH for every entry whose reply is in place.
    fn handle<FS: Filesystem>(&mut self, done: &[(u64, i32)], dispatcher: &Dispatcher<FS>) {
        for &(token, res) in done {
            if token == WAKE {
                arm_wake(&self.queue, &mut self.ring);
                continue;
            }
            let Some(i) = usize::try_from(token)
                .ok()
                .filter(|&i| i < self.queue.depth)
            else {
                continue;
            };
            if res < 0 {
                // The connection is going away (ENOTCONN, ECANCELED) or the kernel
                // refused the command; either way this entry serves no more.
                if res != -libc::ENOTCONN && res != -libc::ECANCELED {
                    tracing::debug!(
                        qid = self.queue.qid,
                        entry = i,
                        errno = -res,
                        "FUSE ring entry ended"
                    );
                }
                self.live -= 1;
                continue;
            }
            self.stats.ring_request();
            self.commit_ids[i] = self.queue.read_u64(i, COMMIT_ID);
            let valid = self.queue.request(i, &mut self.request).is_some()
                && dispatcher
                    .dispatch(&self.request, self.sink.clone(), token)
                    .is_ok();
            if !valid {
                tracing::warn!(qid = self.queue.qid, "malformed FUSE request from the ring");
                self.queue.put_error(i, self.commit_ids[i], libc::EIO);
                self.queue.replied(i);
            }
        }
        let replied = std::mem::take(&mut *lock(&self.queue.replied));
        for i in replied {
            let sqe = uring_cmd(
                self.fd,
                CMD_COMMIT_AND_FETCH,
                self.queue.qid,
                self.commit_ids[i],
                None,
            )
            .user_data(i as u64);
            push(&mut self.ring, &sqe);
        }
    }
}

fn arm_wake(queue: &Queue, ring: &mut Ring) {
    let buf = std::ptr::from_ref::<u64>(&queue.wake_buf)
        .cast_mut()
        .cast::<u8>();
    let sqe: squeue::Entry128 = opcode::Read::new(types::Fd(queue.wake.as_raw_fd()), buf, 8)
        .build()
        .user_data(WAKE)
        .into();
    push(ring, &sqe);
}

/// Pushes `sqe`, submitting first when the queue is full.
fn push(ring: &mut Ring, sqe: &squeue::Entry128) {
    loop {
        // SAFETY: every buffer an SQE here points at (entry iovecs, the eventfd
        // counter) lives in the `Queue`, which outlives the ring (the thread owns both
        // and drops the ring first).
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return;
        }
        if let Err(e) = ring.submit() {
            tracing::error!(error = %e, "io_uring submit failed");
            return;
        }
    }
}

fn pin_to_cpu(cpu: usize) {
    if let Err(e) = super::pool::pin_to_cpu(cpu) {
        // An offline CPU: its queue still serves, from wherever it runs.
        tracing::debug!(cpu, "cannot pin FUSE ring queue: {e}");
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

    #[test]
    fn register_sqe_carries_two_iovecs_and_the_queue() {
        let iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2];
        let sqe = uring_cmd(7, CMD_REGISTER, 3, 0, Some(iov.as_ptr()));
        let bytes = sqe_bytes(sqe);
        assert_eq!(bytes[SQE_LEN..SQE_LEN + 4], 2u32.to_ne_bytes());
        assert_eq!(bytes[4..8], 7i32.to_ne_bytes(), "fd");
        // sqe->cmd starts at byte 48: flags, commit_id, then qid at 64.
        assert_eq!(bytes[64..66], 3u16.to_ne_bytes());
        let commit = uring_cmd(7, CMD_COMMIT_AND_FETCH, 1, 0xabcd, None);
        let bytes = sqe_bytes(commit);
        assert_eq!(bytes[56..64], 0xabcdu64.to_ne_bytes());
        assert_eq!(bytes[SQE_LEN..SQE_LEN + 4], [0; 4]);
    }
}
