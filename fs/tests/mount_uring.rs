//! FUSE over io_uring: requests served by one ring queue per CPU (Linux 6.14+).
//!
//! The kernel offers the transport only with the `fuse` module's `enable_uring`
//! parameter on; these tests turn it on while they run (it only allows daemons to ask for
//! it) and give it back its previous value afterwards, also when they fail
//! (`common::UringAllowed`). The other mounted tests use whichever transport the parameter
//! allows at the time; `without_io_uring_requests_use_dev_fuse` pins the classic one.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};

use common::{errno, Mnt};
use weka_fs::fuse::MountOptions;

fn ring_mount(passthrough: bool) -> Mnt {
    let m = Mnt::over_uring(MountOptions {
        threads: 4,
        passthrough,
        io_uring: true,
        ..MountOptions::default()
    });
    assert!(m.mounted().io_uring_active(), "the ring queues registered");
    m
}

#[test]
fn requests_arrive_over_the_ring_queues() {
    let m = ring_mount(true);
    let stats = m.mounted().stats();
    let before = stats.ring_requests();

    fs::create_dir(m.path("d")).unwrap();
    fs::write(m.path("d/a"), b"over the ring").unwrap();
    assert_eq!(fs::read(m.path("d/a")).unwrap(), b"over the ring");
    assert_eq!(fs::read(m.backing("d/a")).unwrap(), b"over the ring");
    assert_eq!(fs::metadata(m.path("d/a")).unwrap().len(), 13);
    fs::rename(m.path("d/a"), m.path("d/b")).unwrap();
    fs::hard_link(m.path("d/b"), m.path("d/c")).unwrap();
    std::os::unix::fs::symlink("b", m.path("d/s")).unwrap();
    assert_eq!(fs::read_link(m.path("d/s")).unwrap().to_str(), Some("b"));
    let mut names: Vec<_> = fs::read_dir(m.path("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "c", "s"]);
    // fsync is answered from the worker pool: its reply reaches the ring from another
    // thread.
    let f = fs::OpenOptions::new()
        .append(true)
        .open(m.path("d/b"))
        .unwrap();
    f.sync_all().unwrap();
    drop(f);
    // Errors travel the same way.
    assert_eq!(
        errno(fs::remove_dir(m.path("d")).unwrap_err()),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::metadata(m.path("d/missing")).unwrap_err()),
        libc::ENOENT
    );
    for name in ["b", "c", "s"] {
        fs::remove_file(m.path(&format!("d/{name}"))).unwrap();
    }
    fs::remove_dir(m.path("d")).unwrap();
    assert!(!m.backing("d").exists());

    let served = stats.ring_requests() - before;
    assert!(served >= 20, "only {served} requests came over the ring");
}

#[test]
fn large_reads_and_writes_fill_the_ring_payload() {
    // Without passthrough every read and write goes through the daemon, in requests of
    // up to 1 MiB: the largest payload an entry carries.
    let m = ring_mount(false);
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 777)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut f = fs::File::create(m.path("big")).unwrap();
    f.write_all(&data).unwrap();
    f.write_all_at(&data[..1 << 20], 5 << 20).unwrap();
    drop(f);
    let on_disk = fs::read(m.backing("big")).unwrap();
    assert_eq!(on_disk.len(), 6 << 20);
    assert_eq!(&on_disk[..data.len()], &data[..]);
    assert!(on_disk[data.len()..5 << 20].iter().all(|&b| b == 0));
    assert_eq!(&on_disk[5 << 20..], &data[..1 << 20]);

    let mut back = Vec::new();
    let mut f = fs::File::open(m.path("big")).unwrap();
    f.read_to_end(&mut back).unwrap();
    assert_eq!(back, on_disk);
    let mut tail = vec![0u8; 1 << 20];
    f.seek(SeekFrom::Start(5 << 20)).unwrap();
    f.read_exact(&mut tail).unwrap();
    assert_eq!(&tail[..], &data[..1 << 20]);
    assert_eq!(fs::metadata(m.path("big")).unwrap().size(), 6 << 20);
}

#[test]
fn callers_on_every_cpu_are_served_concurrently() {
    let m = ring_mount(true);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads: Vec<_> = (0..cpus * 2)
        .map(|t| {
            let dir = m.path(&format!("t{t}"));
            let cpu = t % cpus;
            std::thread::spawn(move || {
                // Each caller runs on one CPU, so its requests use that CPU's queue.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                }
                fs::create_dir(&dir).unwrap();
                for i in 0..200 {
                    let p = dir.join(format!("f{i}"));
                    fs::write(&p, format!("{t}/{i}")).unwrap();
                    assert_eq!(fs::read_to_string(&p).unwrap(), format!("{t}/{i}"));
                }
                for i in (0..200).step_by(2) {
                    fs::remove_file(dir.join(format!("f{i}"))).unwrap();
                }
                fs::read_dir(&dir).unwrap().count()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 100);
    }
}

#[test]
fn without_io_uring_requests_use_dev_fuse() {
    let m = Mnt::over_uring(MountOptions {
        threads: 4,
        io_uring: false,
        ..MountOptions::default()
    });
    assert!(!m.mounted().io_uring_active());
    fs::write(m.path("a"), b"classic").unwrap();
    assert_eq!(fs::read(m.path("a")).unwrap(), b"classic");
    assert_eq!(m.mounted().stats().ring_requests(), 0);
}

/// The CPUs thread `tid` of this process may run on.
fn affinity(tid: i32) -> Vec<usize> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[test]
fn dev_fuse_readers_run_one_per_cpu() {
    let m = Mnt::with(MountOptions {
        threads: 4,
        io_uring: false,
        ..MountOptions::default()
    });
    for i in 0..300 {
        fs::write(m.path(&format!("f{i}")), b"x").unwrap();
        fs::metadata(m.path(&format!("f{i}"))).unwrap();
    }
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert!(
        cpus <= 8,
        "readers are pinned only on machines with up to 8 CPUs"
    );
    // fuser names its reader threads fuser-<i>; each is pinned to CPU i once it has
    // served a request (other mounts of this test process have readers too).
    let mut pinned = 0;
    for task in fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap();
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Some(i) = comm.trim().strip_prefix("fuser-") else {
            continue;
        };
        let i: usize = i.parse().unwrap();
        assert!(i < cpus, "one reader per CPU, found fuser-{i}");
        let tid: i32 = task.file_name().to_str().unwrap().parse().unwrap();
        match affinity(tid).as_slice() {
            [cpu] => {
                assert_eq!(*cpu, i, "fuser-{i} pinned to CPU {cpu}");
                pinned += 1;
            }
            all => assert_eq!(all.len(), cpus, "fuser-{i}: {all:?}"),
        }
    }
    assert!(pinned >= 1, "no reader of /dev/fuse was pinned");
}

#[test]
fn unmount_ends_the_ring_queues() {
    let mut m = ring_mount(true);
    fs::write(m.path("a"), b"x").unwrap();
    let mountpoint = m.path("");
    // Returns only once the session, ring queue threads included, has ended.
    m.mounted.take().unwrap().unmount().unwrap();
    assert!(!weka_fs::fuse::is_mounted(&mountpoint));
    assert_eq!(fs::read(m.backing("a")).unwrap(), b"x");
}
