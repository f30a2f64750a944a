//! Randomized model test: the same random sequence of create/write/truncate/rename/unlink/
//! mkdir/rmdir/link/symlink is applied to the mount and to a plain directory, and the two
//! trees (and the outcome of each step, errno included) are compared after every step.
//! Seeded, so a failure names the seed and step that reproduce it.
#![cfg(feature = "fuse-tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::Mnt;
use weka_fs::fuse::MountOptions;

const NAMES: [&str; 10] = ["a", "b", "c", "d", "d/a", "d/b", "d/e", "d/e/a", "e", "e/c"];

#[derive(Debug, Clone)]
enum Step {
    Create(&'static str, u32),
    Write(&'static str, u64, Vec<u8>),
    Truncate(&'static str, u64),
    Rename(&'static str, &'static str),
    Unlink(&'static str),
    Mkdir(&'static str),
    Rmdir(&'static str),
    Link(&'static str, &'static str),
    Symlink(&'static str, &'static str),
    Chmod(&'static str, u32),
}

fn pick(rng: &mut StdRng) -> &'static str {
    NAMES[rng.gen_range(0..NAMES.len())]
}

fn random_step(rng: &mut StdRng) -> Step {
    match rng.gen_range(0..10) {
        0 => Step::Create(pick(rng), [0o644, 0o600, 0o755][rng.gen_range(0..3)]),
        1 => {
            let len = rng.gen_range(0..5000);
            Step::Write(
                pick(rng),
                rng.gen_range(0..20_000),
                (0..len).map(|_| rng.gen()).collect(),
            )
        }
        2 => Step::Truncate(pick(rng), rng.gen_range(0..30_000)),
        3 => Step::Rename(pick(rng), pick(rng)),
        4 => Step::Unlink(pick(rng)),
        5 => Step::Mkdir(pick(rng)),
        6 => Step::Rmdir(pick(rng)),
        7 => Step::Link(pick(rng), pick(rng)),
        8 => Step::Symlink(pick(rng), pick(rng)),
        _ => Step::Chmod(pick(rng), [0o600, 0o640, 0o755][rng.gen_range(0..3)]),
    }
}

fn apply(base: &Path, step: &Step) -> Result<(), i32> {
    let p = |rel: &str| base.join(rel);
    let r = match step {
        Step::Create(n, mode) => fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(*mode)
            .open(p(n))
            .map(drop),
        Step::Write(n, off, data) => fs::OpenOptions::new()
            .write(true)
            .open(p(n))
            .and_then(|f| f.write_all_at(data, *off)),
        Step::Truncate(n, len) => fs::OpenOptions::new()
            .write(true)
            .open(p(n))
            .and_then(|f| f.set_len(*len)),
        Step::Rename(a, b) => fs::rename(p(a), p(b)),
        Step::Unlink(n) => fs::remove_file(p(n)),
        Step::Mkdir(n) => fs::create_dir(p(n)),
        Step::Rmdir(n) => fs::remove_dir(p(n)),
        Step::Link(a, b) => fs::hard_link(p(a), p(b)),
        Step::Symlink(target, n) => std::os::unix::fs::symlink(target, p(n)),
        Step::Chmod(n, mode) => {
            fs::set_permissions(p(n), std::os::unix::fs::PermissionsExt::from_mode(*mode))
        }
    };
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// What is compared: per path, kind, permission bits, size, link count (files), content
/// or link target.
fn snapshot(base: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(base, base, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(base).unwrap().to_path_buf();
        if rel == Path::new(".wekad") {
            continue;
        }
        let md = fs::symlink_metadata(&path).unwrap();
        let perm = md.mode() & 0o7777;
        let desc = if md.is_dir() {
            walk(base, &path, out);
            format!("dir {perm:o}")
        } else if md.file_type().is_symlink() {
            format!("symlink -> {}", fs::read_link(&path).unwrap().display())
        } else {
            let data = fs::read(&path).unwrap();
            format!(
                "file {perm:o} size {} nlink {} sum {}",
                md.len(),
                md.nlink(),
                checksum(&data)
            )
        };
        out.insert(rel, desc);
    }
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn run(seed: u64, steps: usize, opts: MountOptions) {
    let m = Mnt::with(opts.clone());
    assert_eq!(m.mounted().io_uring_active(), opts.io_uring, "transport");
    let plain = tempfile::tempdir_in("/tmp").unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..steps {
        let step = random_step(&mut rng);
        let on_mount = apply(&m.path(""), &step);
        let on_plain = apply(plain.path(), &step);
        assert_eq!(
            on_mount, on_plain,
            "seed {seed} step {i}: {step:?} had different outcomes"
        );
        let (a, b) = (snapshot(&m.path("")), snapshot(plain.path()));
        assert_eq!(a, b, "seed {seed} step {i}: trees differ after {step:?}");
    }
    // And the backing directory itself holds exactly what the mount shows.
    assert_eq!(
        snapshot(m.backing.path()),
        snapshot(plain.path()),
        "seed {seed}: backing dir differs"
    );
    std::io::stdout().flush().unwrap();
}

#[test]
fn random_operation_sequences_match_a_plain_directory() {
    for seed in 1..=6 {
        run(
            seed,
            250,
            MountOptions {
                io_uring: false,
                ..MountOptions::default()
            },
        );
    }
}

#[test]
fn random_operation_sequences_match_a_plain_directory_without_passthrough() {
    for seed in 101..=104 {
        run(
            seed,
            250,
            MountOptions {
                passthrough: false,
                io_uring: false,
                ..MountOptions::default()
            },
        );
    }
}

#[test]
fn random_operation_sequences_match_a_plain_directory_over_io_uring() {
    // Declared first, dropped last: after every mount of the loop is gone.
    let _uring = common::allow_uring();
    for (seed, passthrough) in [(201, true), (202, true), (203, false), (204, false)] {
        run(
            seed,
            250,
            MountOptions {
                passthrough,
                io_uring: true,
                ..MountOptions::default()
            },
        );
    }
}
