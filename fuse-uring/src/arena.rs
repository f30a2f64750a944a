//! The memory one queue's ring entries share with the kernel, and who may touch it when.
//!
//! Each entry has a header buffer (`fuse_uring_req_header`) and a payload buffer, both
//! registered with the kernel, which writes a request into them when it completes the
//! entry's command and reads the reply from them when it takes the next command. The
//! arena owns that memory for as long as the queue lives and never moves it.
//!
//! Invariant (the ownership story): every entry has an owner, kept in an atomic and
//! changed only by compare-and-swap, so exactly one party holds an entry at a time:
//!
//! ```text
//!   Kernel --(completion; queue thread)--> Reading --> Daemon
//!   Daemon --(a reply, from any thread)--> Writing --> Replied
//!   Replied --(COMMIT_AND_FETCH queued; queue thread)--> Kernel
//! ```
//!
//! Rust code reads or writes an entry's buffers only through a [`Claim`], which exists
//! only while its holder won the entry (`Reading` or `Writing`). The kernel touches an
//! entry only while its command is in flight, i.e. in state `Kernel`, entered just before
//! the command is queued. Memory the kernel writes is behind `UnsafeCell`, and its
//! addresses are handed over as exposed integers in `UserIovec`s.
//!
//! This module makes no system calls.

use std::cell::UnsafeCell;
use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};

use zerocopy::FromZeros;

use crate::abi::{ReqHeader, UserIovec};

/// Who holds an entry (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Owner {
    /// Its command is in flight: the kernel may write or read its buffers.
    Kernel = 0,
    /// The queue thread is copying out the request.
    Reading = 1,
    /// A request is in the daemon, waiting for its reply.
    Daemon = 2,
    /// A replier is writing the reply.
    Writing = 3,
    /// The reply is in place, waiting for its COMMIT_AND_FETCH.
    Replied = 4,
}

/// The buffers of a queue's entries and their owners.
pub(crate) struct Arena {
    headers: Box<[UnsafeCell<ReqHeader>]>,
    /// `depth` payload buffers of `payload_len` bytes each, back to back. Zeroed by the
    /// allocator, so pages stay unused until the kernel first writes a large request.
    payloads: Box<[UnsafeCell<u8>]>,
    payload_len: usize,
    owners: Box<[AtomicU8]>,
    /// The two iovecs of each entry (header, payload), read by the kernel at REGISTER.
    iovecs: Box<[UserIovec]>,
    /// Target of the eventfd read that wakes the queue thread; its value is never read.
    wake: Box<UnsafeCell<u64>>,
}

// SAFETY: the only non-`Sync` parts are the `UnsafeCell`s. Every access to the cells of
// entry `i` goes through a `Claim`, created only by winning a compare-and-swap of
// `owners[i]` into `Reading` or `Writing`, and leaving that state only when the `Claim`
// is dropped; so no two threads access an entry's cells at once, and the Acquire/Release
// pair on `owners[i]` orders one holder's accesses before the next one's. The `wake`
// cell is only ever written, by the kernel; Rust never reads or writes it.
unsafe impl Sync for Arena {}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("depth", &self.headers.len())
            .field("payload_len", &self.payload_len)
            .finish_non_exhaustive()
    }
}

impl Arena {
    /// `depth` entries with payload buffers of `payload_len` bytes. None if the memory
    /// cannot be had.
    pub(crate) fn new(depth: usize, payload_len: usize) -> Option<Arena> {
        let headers = <[UnsafeCell<ReqHeader>]>::new_box_zeroed_with_elems(depth).ok()?;
        let payloads =
            <[UnsafeCell<u8>]>::new_box_zeroed_with_elems(depth.checked_mul(payload_len)?).ok()?;
        let mut arena = Arena {
            headers,
            payloads,
            payload_len,
            owners: (0..depth)
                .map(|_| AtomicU8::new(Owner::Kernel as u8))
                .collect(),
            iovecs: Box::new([]),
            wake: Box::new(UnsafeCell::new(0)),
        };
        arena.iovecs = (0..depth)
            .flat_map(|i| {
                let header = address(arena.headers[i].get());
                let payload = address(arena.payloads[arena.payload_range(i)].as_ptr());
                [
                    UserIovec {
                        base: header,
                        len: size_of::<ReqHeader>() as u64,
                    },
                    UserIovec {
                        base: payload,
                        len: payload_len as u64,
                    },
                ]
            })
            .collect();
        Some(arena)
    }

    /// How many entries.
    pub(crate) fn depth(&self) -> usize {
        self.headers.len()
    }

    /// The size of each payload buffer.
    pub(crate) fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// The address of entry `i`'s two iovecs, for its REGISTER.
    pub(crate) fn iovecs(&self, i: usize) -> u64 {
        address(self.iovecs[i * 2..].as_ptr())
    }

    /// Where the eventfd read puts the counter.
    pub(crate) fn wake_buf(&self) -> *mut u8 {
        self.wake.get().cast()
    }

    /// Takes entry `i` from `from`, holding it as `during` until the claim is dropped,
    /// which leaves it as `then`. None if `i` is out of range or not in `from`.
    pub(crate) fn claim(
        &self,
        i: usize,
        from: Owner,
        during: Owner,
        then: Owner,
    ) -> Option<Claim<'_>> {
        debug_assert!(matches!(during, Owner::Reading | Owner::Writing));
        self.owners
            .get(i)?
            .compare_exchange(
                from as u8,
                during as u8,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()?;
        Some(Claim {
            arena: self,
            i,
            then,
        })
    }

    /// Gives entry `i` back to the kernel, just before its COMMIT_AND_FETCH is queued.
    /// False if its reply is not in place.
    pub(crate) fn hand_to_kernel(&self, i: usize) -> bool {
        self.owners.get(i).is_some_and(|o| {
            o.compare_exchange(
                Owner::Replied as u8,
                Owner::Kernel as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        })
    }

    fn payload_range(&self, i: usize) -> Range<usize> {
        i * self.payload_len..(i + 1) * self.payload_len
    }
}

/// A kernel-visible address. The provenance is exposed because the kernel, outside
/// the Rust abstract machine, accesses the memory through it.
fn address<T>(p: *const T) -> u64 {
    p.expose_provenance() as u64
}

/// Exclusive access to one entry's buffers (see the module docs).
pub(crate) struct Claim<'a> {
    arena: &'a Arena,
    i: usize,
    then: Owner,
}

impl Claim<'_> {
    /// The entry's header and payload buffers.
    pub(crate) fn buffers(&mut self) -> (&mut ReqHeader, &mut [u8]) {
        let header = self.arena.headers[self.i].get();
        let payload = &self.arena.payloads[self.arena.payload_range(self.i)];
        let payload_ptr = UnsafeCell::raw_get(payload.as_ptr());
        // SAFETY: both point into memory the arena owns and keeps alive for `'_`, of the
        // right type and length (`UnsafeCell<T>` has `T`'s layout). This claim holds the
        // entry exclusively (won by compare-and-swap, see `Arena`'s `Sync` proof, and
        // the kernel does not touch an entry outside `Owner::Kernel`), and the returned
        // borrows are tied to `&mut self`, so nothing else aliases them while they live.
        unsafe {
            (
                &mut *header,
                std::slice::from_raw_parts_mut(payload_ptr, payload.len()),
            )
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.arena.owners[self.i].store(self.then as u8, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_has_one_holder_at_a_time() {
        let arena = Arena::new(2, 8192).unwrap();
        let reading = arena.claim(0, Owner::Kernel, Owner::Reading, Owner::Daemon);
        assert!(reading.is_some());
        assert!(
            arena
                .claim(0, Owner::Kernel, Owner::Reading, Owner::Daemon)
                .is_none(),
            "a second reader of the same request"
        );
        assert!(
            arena
                .claim(0, Owner::Daemon, Owner::Writing, Owner::Replied)
                .is_none(),
            "a reply before the request was read"
        );
        drop(reading);
        let reply = arena.claim(0, Owner::Daemon, Owner::Writing, Owner::Replied);
        assert!(reply.is_some());
        assert!(
            !arena.hand_to_kernel(0),
            "commit while the reply is being written"
        );
        drop(reply);
        assert!(
            arena
                .claim(0, Owner::Daemon, Owner::Writing, Owner::Replied)
                .is_none(),
            "a second reply to the same request"
        );
        assert!(arena.hand_to_kernel(0));
        assert!(!arena.hand_to_kernel(0));
        assert!(arena
            .claim(2, Owner::Kernel, Owner::Reading, Owner::Daemon)
            .is_none());
    }

    #[test]
    fn a_claim_sees_its_own_entry_only() {
        let arena = Arena::new(2, 8192).unwrap();
        let mut one = arena
            .claim(1, Owner::Kernel, Owner::Reading, Owner::Daemon)
            .unwrap();
        let (header, payload) = one.buffers();
        header.op_in[0] = 7;
        payload[8191] = 9;
        drop(one);
        let mut zero = arena
            .claim(0, Owner::Kernel, Owner::Reading, Owner::Daemon)
            .unwrap();
        let (header, payload) = zero.buffers();
        assert_eq!((header.op_in[0], payload[8191]), (0, 0));
    }

    #[test]
    fn iovecs_describe_each_entrys_buffers() {
        let arena = Arena::new(3, 8192).unwrap();
        assert_eq!(arena.iovecs.len(), 6);
        assert_eq!(arena.iovecs[2].len, 288);
        assert_eq!(arena.iovecs[3].len, 8192);
        assert_eq!(arena.iovecs[5].base - arena.iovecs[3].base, 8192);
        assert_eq!(arena.iovecs(1), address(arena.iovecs[2..].as_ptr()));
    }
}
