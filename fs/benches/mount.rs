//! Mount vs backing directory benchmark (docs/BENCHMARKING.md).
//!
//! Runs the same workloads on a plain directory and on a wekad FUSE mount of another
//! directory on the same filesystem, in one process and one run, and prints a Markdown
//! table of the figures and their ratios: sequential read/write in 1 MiB blocks, random
//! 4 KiB read/write, create+stat+unlink of 10k small files, readdir of 100k entries, and
//! `getxattr` of a missing name (one FUSE round trip on the mount). The
//! mount is measured with kernel passthrough and, for comparison, without it.
//!
//! `cargo bench -p weka-fs --features fuse-tests --bench mount` (root, /dev/fuse).
//! `WEKAD_BENCH_MB` sets the sequential file size (default 512). Each figure is the best
//! of three interleaved rounds, after one warm-up round.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weka_fs::fuse::{MountOptions, Mounted};
use weka_fs::tree::Tree;
use weka_fs::Root;

const MIB: usize = 1 << 20;

/// Interleaved measurement rounds after the warm-up; each figure is the best round.
const ROUNDS: usize = 3;

struct Target {
    name: &'static str,
    dir: PathBuf,
    _mounted: Option<Mounted>,
}

fn mount_target(name: &'static str, scratch: &Path, passthrough: bool) -> Target {
    let backing = scratch.join(format!("{name}-backing"));
    let mnt = scratch.join(format!("{name}-mnt"));
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let tree = Arc::new(Tree::new(Arc::new(Root::open(&backing).unwrap())));
    let opts = MountOptions {
        passthrough,
        threads: 4,
        io_uring: std::env::var("WEKAD_BENCH_URING").map_or(true, |v| v != "0"),
        ..MountOptions::default()
    };
    let mounted = weka_fs::fuse::mount(tree, &mnt, &opts).unwrap();
    eprintln!(
        "{name}: requests over {}",
        if mounted.io_uring_active() {
            "io_uring"
        } else {
            "/dev/fuse"
        }
    );
    assert_eq!(
        mounted.passthrough_active(),
        passthrough,
        "passthrough state for {name}"
    );
    Target {
        name,
        dir: mnt,
        _mounted: Some(mounted),
    }
}

/// MB/s writing `mb` MiB sequentially in 1 MiB blocks, then fdatasync.
fn seq_write(dir: &Path, mb: usize) -> f64 {
    let block = vec![0x5au8; MIB];
    let start = Instant::now();
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join("seq"))
        .unwrap();
    for i in 0..mb {
        f.write_all_at(&block, (i * MIB) as u64).unwrap();
    }
    f.sync_data().unwrap();
    mb as f64 / start.elapsed().as_secs_f64()
}

/// MB/s reading the sequential file back in 1 MiB blocks (page cache warm), best of
/// four passes (the first pass through the mount may warm its cache).
fn seq_read(dir: &Path, mb: usize) -> f64 {
    let mut block = vec![0u8; MIB];
    let f = fs::File::open(dir.join("seq")).unwrap();
    let mut best = Duration::MAX;
    for _ in 0..4 {
        let start = Instant::now();
        for i in 0..mb {
            f.read_exact_at(&mut block, (i * MIB) as u64).unwrap();
        }
        best = best.min(start.elapsed());
    }
    mb as f64 / best.as_secs_f64()
}

/// IOPS of random 4 KiB reads or writes over the sequential file.
fn random_io(dir: &Path, mb: usize, write: bool, ops: usize) -> f64 {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("seq"))
        .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let blocks = (mb * MIB / 4096) as u64;
    let mut buf = vec![0xa5u8; 4096];
    let start = Instant::now();
    for _ in 0..ops {
        let at = rng.gen_range(0..blocks) * 4096;
        if write {
            f.write_all_at(&buf, at).unwrap();
        } else {
            f.read_exact_at(&mut buf, at).unwrap();
        }
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

/// Files per second through create (and close), stat and unlink of `n` small files.
fn create_stat_unlink(dir: &Path, n: usize) -> f64 {
    let d = dir.join("small");
    fs::create_dir_all(&d).unwrap();
    let start = Instant::now();
    for i in 0..n {
        fs::write(d.join(format!("f{i}")), b"x").unwrap();
    }
    for i in 0..n {
        fs::metadata(d.join(format!("f{i}"))).unwrap();
    }
    for i in 0..n {
        fs::remove_file(d.join(format!("f{i}"))).unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Calls per second of `getxattr` of a name the file lacks: on the mount, one synchronous
/// FUSE round trip each (the kernel caches no xattrs), so its inverse is the round trip's
/// cost.
fn round_trips(dir: &Path, n: usize) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let f = dir.join("probe");
    fs::write(&f, b"x").unwrap();
    let path = std::ffi::CString::new(f.as_os_str().as_bytes()).unwrap();
    let name = c"user.wekad-bench-missing";
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: both strings are NUL-terminated; a zero-size read fetches nothing.
        let r = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
        assert_eq!(r, -1);
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    fs::remove_file(&f).unwrap();
    rate
}

/// Entries per second listing a directory of `n` entries (best of three listings).
fn readdir(dir: &Path, backing_of_dir: &Path, n: usize) -> f64 {
    let d = backing_of_dir.join("wide");
    if !d.exists() {
        fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            fs::File::create(d.join(format!("entry-{i:06}"))).unwrap();
        }
    }
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let count = fs::read_dir(dir.join("wide")).unwrap().count();
        best = best.min(start.elapsed());
        assert_eq!(count, n);
    }
    n as f64 / best.as_secs_f64()
}

/// `WEKAD_BENCH_ONLY=meta` runs only the create+stat+unlink workload (quick iterations).
fn meta_only() -> bool {
    std::env::var("WEKAD_BENCH_ONLY").is_ok_and(|v| v == "meta")
}

/// `WEKAD_BENCH_STATS=1` prints the FUSE requests each mount answered (non-zero ones).
fn print_stats(name: &str, mounted: &Mounted) {
    if std::env::var_os("WEKAD_BENCH_STATS").is_none() {
        return;
    }
    let ops: Vec<String> = mounted
        .stats()
        .ops()
        .into_iter()
        .filter(|o| o.calls > 0)
        .map(|o| format!("{}={}", o.op, o.calls))
        .collect();
    eprintln!("{name} requests: {}", ops.join(" "));
}

struct Row {
    what: &'static str,
    unit: &'static str,
    values: Vec<f64>,
}

fn measure(targets: &[(&str, PathBuf, PathBuf)], mb: usize) -> Vec<Row> {
    let mut rows = vec![
        Row {
            what: "seq write 1 MiB",
            unit: "MB/s",
            values: vec![],
        },
        Row {
            what: "seq read 1 MiB",
            unit: "MB/s",
            values: vec![],
        },
        Row {
            what: "rand read 4 KiB",
            unit: "IOPS",
            values: vec![],
        },
        Row {
            what: "rand write 4 KiB",
            unit: "IOPS",
            values: vec![],
        },
        Row {
            what: "create+stat+unlink 10k",
            unit: "files/s",
            values: vec![],
        },
        Row {
            what: "readdir 100k",
            unit: "entries/s",
            values: vec![],
        },
        Row {
            what: "getxattr, missing name",
            unit: "calls/s",
            values: vec![],
        },
    ];
    for row in &mut rows {
        row.values = vec![0.0; targets.len()];
    }
    // Interleaved rounds, best of each: the machine's noise hits every target alike.
    // Round 0 is a warm-up that is not counted: without it the backing directory's first
    // round would create its files in an ext4 block group with no recently deleted
    // inodes, while every other round (and every mount round) has to skip the 10k inodes
    // the previous target just deleted, which makes inode allocation several times slower.
    for round in 0..=ROUNDS {
        for (t, (name, dir, backing)) in targets.iter().enumerate() {
            eprintln!("round {round}: {name} ...");
            let figures = if meta_only() {
                let files = create_stat_unlink(dir, 10_000);
                [0.0, 0.0, 0.0, 0.0, files, 0.0, round_trips(dir, 20_000)]
            } else {
                let f = [
                    seq_write(dir, mb),
                    seq_read(dir, mb),
                    random_io(dir, mb, false, 200_000),
                    random_io(dir, mb, true, 20_000),
                    create_stat_unlink(dir, 10_000),
                    readdir(dir, backing, 100_000),
                    round_trips(dir, 20_000),
                ];
                fs::remove_file(dir.join("seq")).unwrap();
                f
            };
            if round == 0 {
                continue;
            }
            for (row, value) in rows.iter_mut().zip(figures) {
                row.values[t] = row.values[t].max(value);
            }
        }
    }
    rows
}

fn main() {
    let mb: usize = std::env::var("WEKAD_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let scratch = tempfile::Builder::new()
        .prefix("wekad-bench")
        .tempdir_in(std::env::var("WEKAD_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
        .unwrap();
    let plain = scratch.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let pt = mount_target("passthrough", scratch.path(), true);
    let nopt = mount_target("plain-fuse", scratch.path(), false);
    let targets = vec![
        ("backing", plain.clone(), plain.clone()),
        (
            pt.name,
            pt.dir.clone(),
            scratch.path().join("passthrough-backing"),
        ),
        (
            nopt.name,
            nopt.dir.clone(),
            scratch.path().join("plain-fuse-backing"),
        ),
    ];
    let rows = measure(&targets, mb);
    println!(
        "| workload | backing dir | mount, passthrough | ratio | mount, no passthrough | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let (b, p, n) = (r.values[0], r.values[1], r.values[2]);
        println!(
            "| {} | {:.0} {u} | {:.0} {u} | {:.0}% | {:.0} {u} | {:.0}% |",
            r.what,
            b,
            p,
            100.0 * p / b,
            n,
            100.0 * n / b,
            u = r.unit
        );
    }
    for t in [&pt, &nopt] {
        if let Some(m) = &t._mounted {
            print_stats(t.name, m);
        }
    }
    drop(pt);
    drop(nopt);
}
