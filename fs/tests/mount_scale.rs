//! Size and concurrency through the mount: 100k-entry directories, multi-GB sparse files,
//! several writers at once.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use common::Mnt;

#[test]
fn a_directory_of_100k_entries_lists_completely() {
    let m = Mnt::new();
    fs::create_dir(m.path("big")).unwrap();
    for i in 0..100_000 {
        fs::File::create(m.backing(&format!("big/entry-{i:06}"))).unwrap();
    }
    // Some of them through the mount as well, to mix the two.
    for i in 100_000..101_000 {
        fs::File::create(m.path(&format!("big/entry-{i:06}"))).unwrap();
    }
    let names: HashSet<String> = fs::read_dir(m.path("big"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 101_000);
    assert!(names.contains("entry-000000") && names.contains("entry-100999"));
    // A second listing (readdirplus with cached entries) agrees.
    assert_eq!(fs::read_dir(m.path("big")).unwrap().count(), 101_000);
    assert_eq!(fs::metadata(m.path("big/entry-054321")).unwrap().len(), 0);
}

#[test]
fn a_sparse_file_of_several_gigabytes_reads_back_at_its_far_end() {
    let m = Mnt::new();
    let far = 6u64 << 30;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(m.path("sparse"))
        .unwrap();
    f.write_all_at(b"head", 0).unwrap();
    f.write_all_at(b"tail", far - 4).unwrap();
    assert_eq!(f.metadata().unwrap().len(), far);
    assert!(
        fs::metadata(m.backing("sparse")).unwrap().blocks() < 1024,
        "the file stays sparse"
    );
    let mut buf = [0u8; 8];
    f.read_exact_at(&mut buf, far - 8).unwrap();
    assert_eq!(&buf, b"\0\0\0\0tail");
    f.read_exact_at(&mut buf, 3 << 30).unwrap();
    assert_eq!(buf, [0; 8]);
    // SAFETY: lseek on a valid descriptor.
    let data = unsafe { libc::lseek(f.as_raw_fd(), 1 << 20, libc::SEEK_DATA) };
    assert!(data > (5 << 30) && data < far as i64, "data at {data}");
    f.set_len(far + (1 << 30)).unwrap();
    assert_eq!(
        fs::metadata(m.backing("sparse")).unwrap().len(),
        far + (1 << 30)
    );
}

#[test]
fn concurrent_writers_from_several_threads_all_land() {
    let m = Arc::new(Mnt::new());
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 32;
    let shared = Arc::new(
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(m.path("shared"))
            .unwrap(),
    );
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let (m, shared) = (m.clone(), shared.clone());
            std::thread::spawn(move || {
                let own = fs::File::create(m.path(&format!("own-{t}"))).unwrap();
                for c in 0..CHUNKS {
                    let block = vec![t.wrapping_mul(31).wrapping_add(c as u8); CHUNK];
                    own.write_all_at(&block, (c * CHUNK) as u64).unwrap();
                    // Interleaved regions of one shared file: chunk c of thread t.
                    shared
                        .write_all_at(&block, ((c * 8 + t as usize) * CHUNK) as u64)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..8u8 {
        let own = fs::read(m.backing(&format!("own-{t}"))).unwrap();
        assert_eq!(own.len(), CHUNK * CHUNKS);
        for c in 0..CHUNKS {
            let want = t.wrapping_mul(31).wrapping_add(c as u8);
            assert!(own[c * CHUNK..(c + 1) * CHUNK].iter().all(|&b| b == want));
        }
    }
    let all = fs::read(m.path("shared")).unwrap();
    assert_eq!(all.len(), 8 * CHUNK * CHUNKS);
    for (i, block) in all.chunks(CHUNK).enumerate() {
        let (c, t) = (i / 8, (i % 8) as u8);
        assert!(
            block
                .iter()
                .all(|&b| b == t.wrapping_mul(31).wrapping_add(c as u8)),
            "block {i}"
        );
    }
}
