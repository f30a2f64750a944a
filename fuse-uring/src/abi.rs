//! The kernel structures of FUSE over io_uring, as `#[repr(C)]` mirrors of
//! `include/uapi/linux/fuse.h` (Linux 6.18, FUSE protocol 7.42 and later; 7.46 renames
//! `fuse_uring_ent_in_out.padding` to `offset` without moving anything).
//!
//! Invariant: each struct has the kernel's size and field offsets, asserted at compile
//! time below and in the unit tests. The numbers there are written down from the header,
//! not computed from these definitions. Headers are read and written through
//! `zerocopy`'s `FromBytes`/`IntoBytes`, never by byte offset.
//! This module performs no I/O and holds no `unsafe`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `FUSE_IO_URING_CMD_REGISTER`: register an entry's buffers and fetch a request.
pub(crate) const CMD_REGISTER: u32 = 1;
/// `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`: commit a reply and fetch the next request.
pub(crate) const CMD_COMMIT_AND_FETCH: u32 = 2;

/// `FUSE_URING_IN_OUT_HEADER_SZ`.
pub(crate) const IN_OUT_HEADER_SZ: usize = 128;
/// `FUSE_URING_OP_IN_OUT_SZ`.
pub(crate) const OP_IN_OUT_SZ: usize = 128;
/// `FUSE_URING_IOV_SEGS` (fs/fuse/dev_uring.c): a REGISTER carries two iovecs, the
/// header buffer and the payload buffer.
pub(crate) const IOV_SEGS: u32 = 2;
/// `FUSE_MIN_READ_BUFFER`: the smallest payload buffer the kernel accepts.
pub(crate) const MIN_READ_BUFFER: usize = 8192;

/// `struct fuse_in_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct InHeader {
    pub(crate) len: u32,
    pub(crate) opcode: u32,
    pub(crate) unique: u64,
    pub(crate) nodeid: u64,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) pid: u32,
    pub(crate) total_extlen: u16,
    pub(crate) padding: u16,
}

/// `struct fuse_out_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct OutHeader {
    pub(crate) len: u32,
    pub(crate) error: i32,
    pub(crate) unique: u64,
}

/// `struct fuse_uring_ent_in_out`: the part of an entry's header the transport itself
/// reads and writes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct EntInOut {
    pub(crate) flags: u64,
    /// The id a COMMIT_AND_FETCH must carry for this entry's reply.
    pub(crate) commit_id: u64,
    /// Bytes used in the payload buffer, in either direction.
    pub(crate) payload_sz: u32,
    pub(crate) padding: u32,
    pub(crate) reserved: u64,
}

/// `struct fuse_uring_req_header`: the header buffer of one ring entry (its first iovec).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct ReqHeader {
    /// `fuse_in_header` of a request; `fuse_out_header` of its reply.
    pub(crate) in_out: [u8; IN_OUT_HEADER_SZ],
    /// The operation's fixed argument (unused by replies).
    pub(crate) op_in: [u8; OP_IN_OUT_SZ],
    pub(crate) ring_ent_in_out: EntInOut,
}

/// `struct fuse_uring_cmd_req`: the command in the 80-byte area of a 128-byte SQE.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct CmdReq {
    pub(crate) flags: u64,
    /// `fuse_uring_ent_in_out.commit_id` of the entry being committed (0 to register).
    pub(crate) commit_id: u64,
    /// The queue, which is also the CPU it serves.
    pub(crate) qid: u16,
    pub(crate) padding: [u8; 6],
}

/// `struct iovec` as the kernel reads it from the address of a REGISTER (64-bit
/// userspace). Addresses are integers here: the kernel, not Rust, dereferences them.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct UserIovec {
    pub(crate) base: u64,
    pub(crate) len: u64,
}

/// `io_uring_sqe.len` (`include/uapi/linux/io_uring.h`: `__u8 opcode; __u8 flags;
/// __u16 ioprio; __s32 fd; __u64 off; __u64 addr; __u32 len; ...`), which io-uring
/// 0.7's `UringCmd80` has no setter for.
pub(crate) const SQE_LEN_OFFSET: usize = 24;
/// Where the command area (`sqe->cmd`) begins in an SQE: after `addr3`'s union.
pub(crate) const SQE_CMD_OFFSET: usize = 48;
/// Size of the command area of a 128-byte SQE.
pub(crate) const SQE_CMD_LEN: usize = 80;

// Sizes from include/uapi/linux/fuse.h (Linux 6.18): fuse_in_header is 40 bytes,
// fuse_out_header 16, fuse_uring_ent_in_out 32, fuse_uring_req_header 128 + 128 + 32,
// fuse_uring_cmd_req 24 (it must fit the SQE's 80-byte command area).
const _: () = assert!(size_of::<InHeader>() == 40);
const _: () = assert!(size_of::<OutHeader>() == 16);
const _: () = assert!(size_of::<EntInOut>() == 32);
const _: () = assert!(size_of::<ReqHeader>() == 288);
const _: () = assert!(size_of::<CmdReq>() == 24);
const _: () = assert!(size_of::<CmdReq>() <= SQE_CMD_LEN);
const _: () = assert!(SQE_CMD_OFFSET + SQE_CMD_LEN == 128);
// struct iovec on 64-bit Linux: void *iov_base; size_t iov_len.
const _: () = assert!(size_of::<UserIovec>() == size_of::<libc::iovec>());

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    // Every expected number below is read off include/uapi/linux/fuse.h (Linux 6.18,
    // FUSE 7.42+): the field order and C types give the offsets, all fields being
    // naturally aligned with no implicit padding.

    #[test]
    fn fuse_in_header_matches_the_kernel_header() {
        assert_eq!(size_of::<InHeader>(), 40);
        assert_eq!(offset_of!(InHeader, len), 0);
        assert_eq!(offset_of!(InHeader, opcode), 4);
        assert_eq!(offset_of!(InHeader, unique), 8);
        assert_eq!(offset_of!(InHeader, nodeid), 16);
        assert_eq!(offset_of!(InHeader, uid), 24);
        assert_eq!(offset_of!(InHeader, gid), 28);
        assert_eq!(offset_of!(InHeader, pid), 32);
        assert_eq!(offset_of!(InHeader, total_extlen), 36);
        assert_eq!(offset_of!(InHeader, padding), 38);
    }

    #[test]
    fn fuse_out_header_matches_the_kernel_header() {
        assert_eq!(size_of::<OutHeader>(), 16);
        assert_eq!(offset_of!(OutHeader, len), 0);
        assert_eq!(offset_of!(OutHeader, error), 4);
        assert_eq!(offset_of!(OutHeader, unique), 8);
    }

    #[test]
    fn fuse_uring_ent_in_out_matches_the_kernel_header() {
        assert_eq!(size_of::<EntInOut>(), 32);
        assert_eq!(offset_of!(EntInOut, flags), 0);
        assert_eq!(offset_of!(EntInOut, commit_id), 8);
        assert_eq!(offset_of!(EntInOut, payload_sz), 16);
        assert_eq!(offset_of!(EntInOut, padding), 20);
        assert_eq!(offset_of!(EntInOut, reserved), 24);
    }

    #[test]
    fn fuse_uring_req_header_matches_the_kernel_header() {
        assert_eq!(size_of::<ReqHeader>(), 288);
        assert_eq!(offset_of!(ReqHeader, in_out), 0);
        assert_eq!(offset_of!(ReqHeader, op_in), 128);
        assert_eq!(offset_of!(ReqHeader, ring_ent_in_out), 256);
        assert!(size_of::<InHeader>() <= IN_OUT_HEADER_SZ);
        assert!(size_of::<OutHeader>() <= IN_OUT_HEADER_SZ);
    }

    #[test]
    fn fuse_uring_cmd_req_matches_the_kernel_header() {
        assert_eq!(size_of::<CmdReq>(), 24);
        assert_eq!(offset_of!(CmdReq, flags), 0);
        assert_eq!(offset_of!(CmdReq, commit_id), 8);
        assert_eq!(offset_of!(CmdReq, qid), 16);
        assert_eq!(offset_of!(CmdReq, padding), 18);
    }

    #[test]
    fn user_iovec_matches_libc_iovec() {
        assert_eq!(size_of::<UserIovec>(), size_of::<libc::iovec>());
        assert_eq!(
            offset_of!(UserIovec, base),
            offset_of!(libc::iovec, iov_base)
        );
        assert_eq!(offset_of!(UserIovec, len), offset_of!(libc::iovec, iov_len));
    }

    #[test]
    fn a_request_header_reads_its_fields_where_the_kernel_writes_them() {
        // The kernel's view: fuse_in_header at in_out[0], commit_id at byte 264,
        // payload_sz at byte 272 (256 + the offsets above).
        let mut raw = [0u8; 288];
        raw[0..4].copy_from_slice(&60u32.to_ne_bytes());
        raw[8..16].copy_from_slice(&0x1234u64.to_ne_bytes());
        raw[264..272].copy_from_slice(&0xabcdu64.to_ne_bytes());
        raw[272..276].copy_from_slice(&7u32.to_ne_bytes());
        let header = ReqHeader::read_from_bytes(&raw[..]).unwrap();
        let (inh, _) = InHeader::read_from_prefix(&header.in_out).unwrap();
        assert_eq!(inh.len, 60);
        assert_eq!(inh.unique, 0x1234);
        assert_eq!(header.ring_ent_in_out.commit_id, 0xabcd);
        assert_eq!(header.ring_ent_in_out.payload_sz, 7);
    }
}
