//! Crash consistency: the daemon is killed with SIGKILL at seeded random points while
//! writes run through both doors and IAM changes run through `weka`, restarted on the same
//! directories, and the state is checked (docs/SEMANTICS.md, "Crash consistency").
//!
//! Every iteration: a workload thread runs operations in a loop and records which ones were
//! acknowledged and which one was in flight; after a seeded delay the daemon is killed; it
//! is restarted; then the state seen through S3, through the mount, in the data directory and
//! in `weka` must be one of the states the log allows: every acknowledged write present, the
//! operation in flight either whole or not at all, no partial object, no stray file, no
//! staging left behind, multipart uploads whole or completable with the same result.
//!
//! `WEKAD_CRASH_SEED` (u64) reproduces a run (each test prints its seed; the timing of the
//! kill relative to the operations still varies), `WEKAD_CRASH_ITERS` sets the kills per
//! test (default 3). Large runs: `WEKAD_CRASH_ITERS=50 cargo test -p weka-e2e --test crash
//! -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging,
};
use md5::{Digest, Md5};
use weka_e2e::{Daemon, DaemonOptions};

const BUCKET: &str = "crash";

// ---------------------------------------------------------------------------------------
// Seeds, counters and the kill loop
// ---------------------------------------------------------------------------------------

/// splitmix64: small, seedable, good enough to pick operations, sizes and delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `len` bytes, unique to this draw.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A body size: empty, tiny, or up to a few MiB.
    fn size(&mut self) -> usize {
        const SIZES: [usize; 6] = [0, 1, 4096, 100_000, 1 << 20, 3 << 20];
        SIZES[self.index(SIZES.len())]
    }

    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// One crash test: its seed, its counters and the runtime its checks use.
struct Run {
    name: &'static str,
    seed: u64,
    rng: Rng,
    iters: usize,
    kills: usize,
    acked: usize,
    checks: usize,
    rt: tokio::runtime::Runtime,
}

impl Run {
    fn new(name: &'static str) -> Run {
        static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let base = *BASE.get_or_init(|| {
            std::env::var("WEKAD_CRASH_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos() as u64
                })
        });
        let iters = std::env::var("WEKAD_CRASH_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        // Each test draws from its own stream, so one test reproduces on its own.
        let seed = base
            ^ Md5::digest(name.as_bytes())[..8]
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        eprintln!("crash[{name}]: WEKAD_CRASH_SEED={base} iterations={iters}");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Run {
            name,
            seed: base,
            rng: Rng(seed),
            iters,
            kills: 0,
            acked: 0,
            checks: 0,
            rt,
        }
    }

    /// Counts one invariant check; a failed one names the seed that reproduces it.
    #[track_caller]
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            panic!(
                "crash[{}] invariant violated after kill {} (WEKAD_CRASH_SEED={}): {}",
                self.name,
                self.kills,
                self.seed,
                what()
            );
        }
    }

    fn summary(&self) {
        eprintln!(
            "crash[{}]: {} kills, {} acknowledged operations, {} invariant checks, 0 failures",
            self.name, self.kills, self.acked, self.checks
        );
    }

    /// Runs `workload` on its own thread, kills the daemon after a seeded delay of up to
    /// `max_ms`, waits for the workload to notice, restarts the daemon and returns the
    /// workload's log. A workload stops at its first failure; a failure before the kill is
    /// not a crash effect and fails the test.
    fn kill_during(
        &mut self,
        d: &mut Daemon,
        max_ms: u64,
        workload: impl FnOnce() -> Log + Send + 'static,
    ) -> Log {
        let delay = Duration::from_millis(self.rng.below(max_ms + 1));
        let worker = std::thread::spawn(workload);
        std::thread::sleep(delay);
        let killed_at = Instant::now();
        d.kill9();
        self.kills += 1;
        let log = worker.join().expect("the workload thread panicked");
        if let Some((at, err)) = &log.failure {
            assert!(
                *at >= killed_at,
                "crash[{}]: an operation failed before the kill (WEKAD_CRASH_SEED={}): {err}\n--- wekad ---\n{}",
                self.name,
                self.seed,
                d.stderr()
            );
        }
        self.acked += log.acked.len() + log.steps;
        d.restart();
        self.check_staging(d);
        log
    }

    /// Right after a restart: `.wekad/tmp` is empty (the start-up sweep), and the top of the
    /// data directory holds only `.wekad` and buckets.
    fn check_staging(&mut self, d: &Daemon) {
        let tmp = entries(&d.data().join(".wekad/tmp"));
        self.check(tmp.is_empty(), || {
            format!(".wekad/tmp not cleaned at start: {tmp:?}")
        });
        for top in entries(&d.data()) {
            let ok = top == ".wekad" || d.data().join(&top).is_dir();
            self.check(ok, || {
                format!("stray file at the top of the data dir: {top}")
            });
        }
    }
}

/// Names in a directory (empty when it does not exist).
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every regular file below `dir`, as paths relative to it.
fn files_below(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let path = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                todo.push(path);
            } else {
                out.insert(path.to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn start(extra_env: &[(&str, &str)]) -> (Daemon, aws_sdk_s3::Client) {
    let mut options = DaemonOptions::default();
    for (k, v) in extra_env {
        options = options.env(*k, *v);
    }
    let d = Daemon::start_with(options);
    let admin = d.admin_s3();
    (d, admin)
}

/// A fresh single-threaded runtime and admin client for a workload thread (the daemon's
/// port changes at every start, and a client belongs to the runtime that drives it).
fn worker_client(d: &Daemon) -> impl FnOnce() -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
    let (endpoint, (ak, sk)) = (d.s3_endpoint(), d.admin_keys());
    move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = weka_e2e::s3_client(&endpoint, &ak, &sk, None);
        (rt, client)
    }
}

// ---------------------------------------------------------------------------------------
// The model: worlds of labelled keys
// ---------------------------------------------------------------------------------------

/// What a key holds: nothing, a state named by a label (an object's MD5, `md5/etag` for a
/// multipart object, an IAM user's `password|policy`), or anything at all (a file written
/// in place through the mount when the kill came mid-write: POSIX promises no atomicity).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Content {
    Absent,
    Is(String),
    Any,
}

type World = BTreeMap<String, Content>;

/// Writes one operation makes: all or none (`atomic`), or each on its own (DeleteObjects).
/// A `torn` write cut by the kill may leave anything (an in-place write on the mount).
#[derive(Clone, Debug)]
struct Effect {
    writes: Vec<(String, Content)>,
    atomic: bool,
    torn: bool,
}

impl Effect {
    fn one(key: &str, content: Content) -> Effect {
        Effect {
            writes: vec![(key.to_owned(), content)],
            atomic: true,
            torn: false,
        }
    }

    fn apply(&self, world: &mut World) {
        for (k, c) in &self.writes {
            world.insert(k.clone(), c.clone());
        }
    }
}

/// What a workload did before the kill stopped it.
#[derive(Default)]
struct Log {
    acked: Vec<Effect>,
    doubt: Option<Effect>,
    failure: Option<(Instant, String)>,
    /// Extra facts a workload records (multipart uploads).
    uploads: Vec<Upload>,
    /// Acknowledged steps that are not object writes (Create, UploadPart, Abort).
    steps: usize,
}

/// The workload side: the world as the acknowledged operations left it.
struct Workload {
    world: World,
    log: Log,
}

impl Workload {
    fn new(world: World) -> Workload {
        Workload {
            world,
            log: Log::default(),
        }
    }

    /// Runs one operation with the effect it has if it succeeds; false (and the log keeps
    /// it in doubt) when it failed.
    fn attempt(&mut self, effect: Effect, op: impl FnOnce() -> Result<(), String>) -> bool {
        self.log.doubt = Some(effect.clone());
        match op() {
            Ok(()) => {
                effect.apply(&mut self.world);
                self.log.acked.push(effect);
                self.log.doubt = None;
                true
            }
            Err(e) => {
                self.log.failure = Some((Instant::now(), e));
                false
            }
        }
    }

    fn label(&self, key: &str) -> Content {
        self.world.get(key).cloned().unwrap_or(Content::Absent)
    }
}

/// The worlds the log allows, starting from `world`.
fn allowed_worlds(world: &World, log: &Log) -> Vec<World> {
    let mut settled = world.clone();
    for e in &log.acked {
        e.apply(&mut settled);
    }
    let mut out = vec![settled.clone()];
    let Some(doubt) = &log.doubt else {
        return out;
    };
    if doubt.torn {
        let mut w = settled;
        for (k, _) in &doubt.writes {
            w.insert(k.clone(), Content::Any);
        }
        out.push(w);
        return out;
    }
    if doubt.atomic {
        let mut w = settled;
        doubt.apply(&mut w);
        out.push(w);
        return out;
    }
    let n = doubt.writes.len();
    for mask in 1u32..(1 << n) {
        let mut w = settled.clone();
        for (i, (k, c)) in doubt.writes.iter().enumerate() {
            if mask & (1 << i) != 0 {
                w.insert(k.clone(), c.clone());
            }
        }
        out.push(w);
    }
    out
}

fn matches(allowed: &World, observed: &World) -> bool {
    allowed.iter().all(|(k, want)| {
        let got = observed.get(k).unwrap_or(&Content::Absent);
        match want {
            Content::Any => true,
            want => want == got,
        }
    })
}

impl Run {
    /// Checks that `observed` is one of `allowed` and returns it as the new settled world.
    fn settle(&mut self, allowed: &[World], observed: World) -> World {
        let ok = allowed.iter().any(|w| matches(w, &observed));
        self.check(ok, || {
            format!("the state after restart is none the log allows\n  observed: {observed:?}\n  allowed: {allowed:#?}")
        });
        observed
    }
}

// ---------------------------------------------------------------------------------------
// Observing objects through both doors
// ---------------------------------------------------------------------------------------

impl Run {
    /// The content of `key` through S3 and through the mount, which must agree; the S3 ETag
    /// must be the MD5 of the body (or, for a multipart ETag, is part of the label).
    fn observe_object(&mut self, d: &Daemon, s3: &aws_sdk_s3::Client, key: &str) -> Content {
        let got = self
            .rt
            .block_on(async { s3.get_object().bucket(BUCKET).key(key).send().await });
        let via_s3 = match got {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().trim_matches('"').to_owned();
                let body = self.rt.block_on(out.body.collect()).unwrap().into_bytes();
                let md5 = md5_hex(&body);
                if etag.contains('-') {
                    Content::Is(format!("{md5}/{etag}"))
                } else {
                    self.check(etag == md5, || {
                        format!("GET {key}: ETag {etag} is not the MD5 {md5} of the body")
                    });
                    Content::Is(md5)
                }
            }
            Err(e) if e.code() == Some("NoSuchKey") => Content::Absent,
            Err(e) => panic!("GET {key}: {e:?}"),
        };
        let via_mount = match std::fs::read(d.mount().join(BUCKET).join(key)) {
            Ok(bytes) => Some(md5_hex(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("read {key} on the mount: {e}"),
        };
        let s3_md5 = match &via_s3 {
            Content::Is(l) => Some(l.split('/').next().unwrap().to_owned()),
            _ => None,
        };
        self.check(s3_md5 == via_mount, || {
            format!("{key}: S3 reads {s3_md5:?}, the mount reads {via_mount:?}")
        });
        via_s3
    }

    /// Observes every key of the model, then checks that the bucket lists exactly the
    /// present ones and holds no other file on disk.
    fn observe_objects(
        &mut self,
        d: &Daemon,
        s3: &aws_sdk_s3::Client,
        keys: &BTreeSet<String>,
    ) -> World {
        let world: World = keys
            .iter()
            .map(|k| (k.clone(), self.observe_object(d, s3, k)))
            .collect();
        let present: BTreeSet<String> = world
            .iter()
            .filter(|(_, c)| **c != Content::Absent)
            .map(|(k, _)| k.clone())
            .collect();
        let listed = self.list_keys(s3);
        self.check(listed == present, || {
            format!("the listing {listed:?} differs from the keys present {present:?}")
        });
        let on_disk = files_below(&d.data().join(BUCKET));
        self.check(on_disk == present, || {
            format!("files on disk {on_disk:?} differ from the objects present {present:?}")
        });
        world
    }

    fn list_keys(&mut self, s3: &aws_sdk_s3::Client) -> BTreeSet<String> {
        self.rt.block_on(async {
            let mut out = BTreeSet::new();
            let mut token = None;
            loop {
                let page = s3
                    .list_objects_v2()
                    .bucket(BUCKET)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .unwrap();
                out.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
                token = page.next_continuation_token().map(str::to_owned);
                if token.is_none() {
                    return out;
                }
            }
        })
    }
}

fn keys_of(worlds: &[World]) -> BTreeSet<String> {
    worlds.iter().flat_map(|w| w.keys().cloned()).collect()
}

/// The error text of a failed SDK call.
fn sdk_err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

// ---------------------------------------------------------------------------------------
// Multipart uploads
// ---------------------------------------------------------------------------------------

/// One multipart upload as the workload saw it.
#[derive(Clone, Debug)]
struct Upload {
    key: String,
    id: Option<String>,
    /// Acknowledged parts: (number, ETag).
    parts: Vec<(i32, String)>,
    /// A part in flight at the kill: (number, ETag it would have).
    part_in_doubt: Option<(i32, String)>,
    fate: Fate,
    /// The label of the object Complete publishes.
    label: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    Open,
    Completing,
    Completed,
    Aborting,
    Aborted,
}

fn completed_parts(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                .collect(),
        ))
        .build()
}

/// The multipart ETag of parts with these MD5s.
fn multipart_etag(part_md5s: &[Vec<u8>]) -> String {
    let mut all = Vec::new();
    for m in part_md5s {
        all.extend_from_slice(m);
    }
    format!("{}-{}", md5_hex(&all), part_md5s.len())
}

impl Run {
    /// The parts ListParts shows for an upload: (number, ETag).
    fn list_parts(&mut self, s3: &aws_sdk_s3::Client, key: &str, id: &str) -> Vec<(i32, String)> {
        let out = self
            .rt
            .block_on(s3.list_parts().bucket(BUCKET).key(key).upload_id(id).send())
            .unwrap();
        out.parts()
            .iter()
            .map(|p| {
                (
                    p.part_number().unwrap(),
                    p.e_tag().unwrap().trim_matches('"').to_owned(),
                )
            })
            .collect()
    }

    /// Upload ids ListMultipartUploads shows, with their keys.
    fn list_uploads(&mut self, s3: &aws_sdk_s3::Client) -> BTreeMap<String, String> {
        let out = self
            .rt
            .block_on(s3.list_multipart_uploads().bucket(BUCKET).send())
            .unwrap();
        out.uploads()
            .iter()
            .map(|u| {
                (
                    u.upload_id().unwrap().to_owned(),
                    u.key().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// CompleteMultipartUpload with `parts`: the ETag it answers, or the error code.
    fn complete(
        &mut self,
        s3: &aws_sdk_s3::Client,
        key: &str,
        id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, String> {
        self.rt
            .block_on(
                s3.complete_multipart_upload()
                    .bucket(BUCKET)
                    .key(key)
                    .upload_id(id)
                    .multipart_upload(completed_parts(parts))
                    .send(),
            )
            .map(|o| o.e_tag().unwrap_or_default().trim_matches('"').to_owned())
            .map_err(|e| e.code().map_or_else(|| sdk_err(&e), str::to_owned))
    }
}

/// Points of CompleteMultipartUpload where a test can stop the daemon (fs/src/fault.rs).
const COMPLETE_POINTS: &[&str] = &[
    "multipart-complete-published",
    "multipart-complete-retired",
    "multipart-cleanup",
];

/// The bug of issue 14: killed during the clean-up after CompleteMultipartUpload, the
/// right object was published but the upload stayed listed with some of its parts, and
/// completing it again with the parts ListParts showed replaced the object with a smaller
/// one. At every point of Complete, the upload is now either still whole (completing it
/// gives the same object and ETag) or gone with the object published, and a retried
/// Complete answers 200 with the same ETag.
#[test]
fn a_crash_anywhere_in_complete_leaves_the_upload_whole_or_done_never_changed() {
    let mut run = Run::new("complete-points");
    for point in COMPLETE_POINTS {
        let (mut d, s3) = start(&[(weka_fs_crash_env(), point)]);
        run.rt
            .block_on(s3.create_bucket().bucket(BUCKET).send())
            .unwrap();
        let bodies = [
            run.rng.bytes(5 << 20),
            run.rng.bytes(5 << 20),
            run.rng.bytes(1 << 20),
        ];
        let whole: Vec<u8> = bodies.concat();
        let etag = multipart_etag(
            &bodies
                .iter()
                .map(|b| Md5::digest(b).to_vec())
                .collect::<Vec<_>>(),
        );
        let key = "big";
        let id = run
            .rt
            .block_on(s3.create_multipart_upload().bucket(BUCKET).key(key).send())
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let mut parts = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let n = i32::try_from(i + 1).unwrap();
            let out = run
                .rt
                .block_on(
                    s3.upload_part()
                        .bucket(BUCKET)
                        .key(key)
                        .upload_id(&id)
                        .part_number(n)
                        .body(ByteStream::from(body.clone()))
                        .send(),
                )
                .unwrap();
            parts.push((n, out.e_tag().unwrap().trim_matches('"').to_owned()));
        }
        let died = run.complete(&s3, key, &id, &parts);
        run.check(died.is_err(), || {
            format!("crash point {point} never fired: Complete answered {died:?}")
        });
        d.kill9();
        d.options_mut()
            .env
            .retain(|(k, _)| k != weka_fs_crash_env());
        d.restart();
        run.kills += 1;
        run.check_staging(&d);
        let s3 = d.admin_s3();
        let label = format!("{}/{etag}", md5_hex(&whole));

        let before = run.observe_object(&d, &s3, key);
        run.check(
            before == Content::Absent || before == Content::Is(label.clone()),
            || format!("{point}: after the crash {key} is {before:?}, neither absent nor {label}"),
        );
        if run.list_uploads(&s3).contains_key(&id) {
            // Still listed: it must be whole, and completing it with what ListParts shows
            // gives the same object.
            let shown = run.list_parts(&s3, key, &id);
            run.check(shown == parts, || {
                format!("{point}: the upload is listed with parts {shown:?}, not {parts:?}")
            });
            let again = run.complete(&s3, key, &id, &shown);
            run.check(again.as_deref() == Ok(etag.as_str()), || {
                format!("{point}: completing with the listed parts answered {again:?}, not {etag}")
            });
        }
        let retried = run.complete(&s3, key, &id, &parts);
        run.check(retried.as_deref() == Ok(etag.as_str()), || {
            format!("{point}: a retried Complete answered {retried:?}, not 200 with {etag}")
        });
        let after = run.observe_object(&d, &s3, key);
        run.check(after == Content::Is(label.clone()), || {
            format!("{point}: after completing, {key} is {after:?}, not {label}")
        });
        let listed = run.list_uploads(&s3);
        run.check(listed.is_empty(), || {
            format!("{point}: uploads still listed after Complete: {listed:?}")
        });
        let staged = files_below(&d.data().join(".wekad/multipart"));
        run.check(staged.is_empty(), || {
            format!("{point}: staging left after Complete: {staged:?}")
        });
    }
    run.summary();
}

fn weka_fs_crash_env() -> &'static str {
    "WEKAD_TEST_CRASH_AT"
}

// ---------------------------------------------------------------------------------------
// Random kills during workloads
// ---------------------------------------------------------------------------------------

/// What a workload thread works with.
struct Worker {
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    /// `<mount>/<bucket>`.
    dir: PathBuf,
    socket: PathBuf,
}

impl Worker {
    fn weka(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(weka_e2e::weka_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "weka {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), String> {
        let put = self
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body));
        self.rt.block_on(put.send()).map(drop).map_err(sdk_err)
    }
}

/// Builds a [`Worker`] on the workload's own thread.
fn worker(d: &Daemon) -> impl FnOnce() -> Worker {
    let client = worker_client(d);
    let (dir, socket) = (d.mount().join(BUCKET), d.socket());
    move || {
        let (rt, s3) = client();
        Worker {
            rt,
            s3,
            dir,
            socket,
        }
    }
}

/// One operation of a workload: false once it failed (the kill came).
type Op = fn(&Worker, &mut Rng, &mut Workload) -> bool;

/// The loop of every crash test: `run.iters` times, run `op` in a loop, kill the daemon at
/// a seeded moment within `max_ms`, restart, and check the state through `check`, which
/// returns the settled world.
fn crash_loop(
    run: &mut Run,
    d: &mut Daemon,
    mut world: World,
    max_ms: u64,
    op: Op,
    check: impl Fn(&mut Run, &Daemon, &Log, &[World]) -> World,
) {
    for _ in 0..run.iters {
        let (start_world, make, mut rng) = (world.clone(), worker(d), run.rng.fork());
        let log = run.kill_during(d, max_ms, move || {
            let w = make();
            let mut wl = Workload::new(start_world);
            while op(&w, &mut rng, &mut wl) {}
            wl.log
        });
        let allowed = allowed_worlds(&world, &log);
        world = check(run, d, &log, &allowed);
    }
    run.summary();
}

/// The check of the object tests: every key of the model through both doors, the
/// listing and the files on disk.
fn check_objects(run: &mut Run, d: &Daemon, _log: &Log, allowed: &[World]) -> World {
    let s3 = d.admin_s3();
    let observed = run.observe_objects(d, &s3, &keys_of(allowed));
    run.settle(allowed, observed)
}

/// A started daemon with the test bucket.
fn daemon_with_bucket(run: &Run) -> Daemon {
    let (d, s3) = start(&[]);
    run.rt
        .block_on(s3.create_bucket().bucket(BUCKET).send())
        .unwrap();
    d
}

const KEYS: &[&str] = &["k0", "k1", "k2", "d/k3", "d/e/k4"];

/// PutObject of a fresh body (0 B to 3 MiB) to a key that may or may not exist.
fn put_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let key = KEYS[rng.index(KEYS.len())];
    let size = rng.size();
    let body = rng.bytes(size);
    let effect = Effect::one(key, Content::Is(md5_hex(&body)));
    wl.attempt(effect, || w.put(key, body))
}

#[test]
fn put_single_and_overwrite_survive_a_kill() {
    let mut run = Run::new("put");
    let mut d = daemon_with_bucket(&run);
    crash_loop(&mut run, &mut d, World::new(), 400, put_op, check_objects);
}

/// CopyObject from a source to a destination key, or a PUT of a source.
fn copy_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let sources: Vec<String> = ["s0", "s1"]
        .iter()
        .filter(|k| matches!(wl.label(k), Content::Is(_)))
        .map(|k| (*k).to_owned())
        .collect();
    if sources.is_empty() || rng.chance(30) {
        let key = ["s0", "s1"][rng.index(2)];
        let size = rng.size();
        let body = rng.bytes(size);
        return wl.attempt(Effect::one(key, Content::Is(md5_hex(&body))), || {
            w.put(key, body)
        });
    }
    let src = &sources[rng.index(sources.len())];
    let dst = ["c0", "c1", "c/c2"][rng.index(3)];
    let copy =
        w.s3.copy_object()
            .bucket(BUCKET)
            .key(dst)
            .copy_source(format!("{BUCKET}/{src}"));
    wl.attempt(Effect::one(dst, wl.label(src)), || {
        w.rt.block_on(copy.send()).map(drop).map_err(sdk_err)
    })
}

#[test]
fn copy_object_survives_a_kill() {
    let mut run = Run::new("copy");
    let mut d = daemon_with_bucket(&run);
    crash_loop(&mut run, &mut d, World::new(), 400, copy_op, check_objects);
}

/// DeleteObjects of two to four keys (each key on its own: the batch is not atomic), or
/// a PUT to refill them.
fn delete_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    if rng.chance(50) {
        return put_op(w, rng, wl);
    }
    let mut keys: Vec<&str> = KEYS.to_vec();
    let n = 2 + rng.index(3);
    let mut chosen = Vec::new();
    while chosen.len() < n {
        chosen.push(keys.swap_remove(rng.index(keys.len())));
    }
    let effect = Effect {
        writes: chosen
            .iter()
            .map(|k| ((*k).to_owned(), Content::Absent))
            .collect(),
        atomic: false,
        torn: false,
    };
    let objects: Vec<ObjectIdentifier> = chosen
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .unwrap();
    let req = w.s3.delete_objects().bucket(BUCKET).delete(delete);
    wl.attempt(effect, || {
        let out = w.rt.block_on(req.send()).map_err(sdk_err)?;
        match out.errors() {
            [] => Ok(()),
            errors => Err(format!("DeleteObjects answered errors: {errors:?}")),
        }
    })
}

#[test]
fn delete_objects_survives_a_kill() {
    let mut run = Run::new("delete-objects");
    let mut d = daemon_with_bucket(&run);
    crash_loop(
        &mut run,
        &mut d,
        World::new(),
        400,
        delete_op,
        check_objects,
    );
}

const TAGGED: &[&str] = &["t0", "t1", "t/t2"];

/// PutObjectTagging or DeleteObjectTagging of one of the tagged objects.
fn tagging_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let key = TAGGED[rng.index(TAGGED.len())];
    let tag_key = format!("tag:{key}");
    if rng.chance(25) {
        let req = w.s3.delete_object_tagging().bucket(BUCKET).key(key);
        return wl.attempt(Effect::one(&tag_key, Content::Absent), || {
            w.rt.block_on(req.send()).map(drop).map_err(sdk_err)
        });
    }
    let v = rng.below(1_000_000).to_string();
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("v").value(&v).build().unwrap())
        .build()
        .unwrap();
    let req =
        w.s3.put_object_tagging()
            .bucket(BUCKET)
            .key(key)
            .tagging(tagging);
    wl.attempt(Effect::one(&tag_key, Content::Is(format!("v={v}"))), || {
        w.rt.block_on(req.send()).map(drop).map_err(sdk_err)
    })
}

/// Objects through both doors, and each object's tags.
fn check_tagging(run: &mut Run, d: &Daemon, _log: &Log, allowed: &[World]) -> World {
    let s3 = d.admin_s3();
    let keys = keys_of(allowed);
    let objects: BTreeSet<String> = keys
        .iter()
        .filter(|k| !k.starts_with("tag:"))
        .cloned()
        .collect();
    let mut observed = run.observe_objects(d, &s3, &objects);
    for tag_key in keys.iter().filter(|k| k.starts_with("tag:")) {
        let key = &tag_key["tag:".len()..];
        let out = run
            .rt
            .block_on(s3.get_object_tagging().bucket(BUCKET).key(key).send())
            .unwrap();
        let tags: Vec<String> = out
            .tag_set()
            .iter()
            .map(|t| format!("{}={}", t.key(), t.value()))
            .collect();
        let content = match tags.as_slice() {
            [] => Content::Absent,
            [one] => Content::Is(one.clone()),
            more => Content::Is(format!("{more:?}")),
        };
        observed.insert(tag_key.clone(), content);
    }
    run.settle(allowed, observed)
}

#[test]
fn object_tagging_survives_a_kill() {
    let mut run = Run::new("tagging");
    let mut d = daemon_with_bucket(&run);
    let mut world = World::new();
    let s3 = d.admin_s3();
    for key in TAGGED {
        let body = run.rng.bytes(1000);
        world.insert((*key).to_owned(), Content::Is(md5_hex(&body)));
        world.insert(format!("tag:{key}"), Content::Absent);
        run.rt
            .block_on(
                s3.put_object()
                    .bucket(BUCKET)
                    .key(*key)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .unwrap();
    }
    crash_loop(&mut run, &mut d, world, 300, tagging_op, check_tagging);
}

/// One whole multipart upload: Create, two or three UploadParts (5 MiB but the last),
/// then Complete (or, one time in four, Abort). Each step is logged in `wl.log.uploads`.
fn multipart_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let key = ["m0", "m1", "m/m2"][rng.index(3)];
    let count = 2 + rng.index(2);
    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let len = if i + 1 < count {
                5 << 20
            } else {
                rng.index(200_000)
            };
            rng.bytes(len)
        })
        .collect();
    let md5s: Vec<Vec<u8>> = bodies.iter().map(|b| Md5::digest(b).to_vec()).collect();
    let etag = multipart_etag(&md5s);
    let label = format!("{}/{etag}", md5_hex(&bodies.concat()));
    wl.log.uploads.push(Upload {
        key: key.to_owned(),
        id: None,
        parts: Vec::new(),
        part_in_doubt: None,
        fate: Fate::Open,
        label: label.clone(),
    });
    let create = w.s3.create_multipart_upload().bucket(BUCKET).key(key);
    let id = match w.rt.block_on(create.send()) {
        Ok(out) => out.upload_id().unwrap().to_owned(),
        Err(e) => return wl.fail(sdk_err(e)),
    };
    set_upload(wl, |u| u.id = Some(id.clone()));
    wl.log.steps += 1;
    for (i, body) in bodies.into_iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let part_etag = md5_hex(&body);
        set_upload(wl, |u| u.part_in_doubt = Some((n, part_etag.clone())));
        let req =
            w.s3.upload_part()
                .bucket(BUCKET)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(body));
        if let Err(e) = w.rt.block_on(req.send()) {
            return wl.fail(sdk_err(e));
        }
        set_upload(wl, |u| {
            u.part_in_doubt = None;
            u.parts.push((n, part_etag.clone()));
        });
        wl.log.steps += 1;
    }
    if rng.chance(25) {
        set_upload(wl, |u| u.fate = Fate::Aborting);
        let abort =
            w.s3.abort_multipart_upload()
                .bucket(BUCKET)
                .key(key)
                .upload_id(&id);
        if let Err(e) = w.rt.block_on(abort.send()) {
            return wl.fail(sdk_err(e));
        }
        set_upload(wl, |u| u.fate = Fate::Aborted);
        wl.log.steps += 1;
        return true;
    }
    set_upload(wl, |u| u.fate = Fate::Completing);
    let parts = wl.log.uploads.last().unwrap().parts.clone();
    let complete =
        w.s3.complete_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&id)
            .multipart_upload(completed_parts(&parts));
    let done = wl.attempt(Effect::one(key, Content::Is(label)), || {
        let out = w.rt.block_on(complete.send()).map_err(sdk_err)?;
        match out.e_tag().map(|e| e.trim_matches('"')) {
            Some(got) if got == etag => Ok(()),
            got => Err(format!("Complete answered ETag {got:?}, not {etag}")),
        }
    });
    if done {
        set_upload(wl, |u| u.fate = Fate::Completed);
    }
    done
}

/// Updates the upload the workload is working on.
fn set_upload(wl: &mut Workload, f: impl FnOnce(&mut Upload)) {
    f(wl.log.uploads.last_mut().unwrap());
}

impl Workload {
    /// Records a failure outside `attempt`; always false.
    fn fail(&mut self, err: String) -> bool {
        self.log.failure = Some((Instant::now(), err));
        false
    }
}

/// Objects as for the other tests, then the uploads: an acknowledged Create is listed
/// unless it was completed or aborted, a listed upload shows exactly its acknowledged parts
/// (plus perhaps the one in flight), an acknowledged Complete or Abort is not listed, a
/// Complete in flight completes again with the same ETag and object, and once every
/// upload is finished the staging holds nothing but completion records.
fn check_multipart(run: &mut Run, d: &Daemon, log: &Log, allowed: &[World]) -> World {
    let mut world = check_objects(run, d, log, allowed);
    let s3 = d.admin_s3();
    let listed = run.list_uploads(&s3);
    for (id, key) in &listed {
        let known = log.uploads.iter().find(|u| u.id.as_deref() == Some(id));
        let Some(u) = known else {
            let unacked = log.uploads.iter().any(|u| u.id.is_none() && u.key == *key);
            run.check(unacked, || {
                format!("an unknown upload {id} of {key} is listed")
            });
            let shown = run.list_parts(&s3, key, id);
            run.check(shown.is_empty(), || {
                format!("an unacknowledged upload has parts {shown:?}")
            });
            abort(run, &s3, key, id);
            continue;
        };
        let finished = matches!(u.fate, Fate::Completed | Fate::Aborted);
        run.check(!finished, || {
            format!("the {:?} upload {id} of {key} is still listed", u.fate)
        });
        let shown = run.list_parts(&s3, key, id);
        let mut with_doubt = u.parts.clone();
        with_doubt.extend(u.part_in_doubt.clone());
        run.check(shown == u.parts || shown == with_doubt, || {
            format!(
                "upload {id} is listed with parts {shown:?}, acknowledged were {:?}",
                u.parts
            )
        });
    }
    for u in &log.uploads {
        let Some(id) = &u.id else { continue };
        let is_listed = listed.contains_key(id);
        match u.fate {
            Fate::Open => {
                run.check(is_listed, || {
                    format!("the acknowledged upload {id} was lost")
                });
                abort(run, &s3, &u.key, id);
            }
            Fate::Completing => {
                let etag = u.label.split('/').nth(1).unwrap().to_owned();
                let again = run.complete(&s3, &u.key, id, &u.parts);
                run.check(again.as_deref() == Ok(etag.as_str()), || {
                    format!("completing {id} again answered {again:?}, not {etag}")
                });
                let now = run.observe_object(d, &s3, &u.key);
                let want = Content::Is(u.label.clone());
                run.check(now == want, || {
                    format!("after completing again, {} is {now:?}", u.key)
                });
                world.insert(u.key.clone(), want);
            }
            Fate::Aborting if is_listed => abort(run, &s3, &u.key, id),
            Fate::Aborting | Fate::Completed | Fate::Aborted => {}
        }
    }
    let left = run.list_uploads(&s3);
    run.check(left.is_empty(), || {
        format!("uploads left after finishing all: {left:?}")
    });
    let internal = d.data().join(".wekad");
    let staged = files_below(&internal.join("multipart"));
    run.check(staged.is_empty(), || {
        format!("multipart staging left: {staged:?}")
    });
    let done = files_below(&internal.join("multipart-done"));
    let only_records = done.iter().all(|f| f.ends_with("/result.json"));
    run.check(only_records, || {
        format!("finished uploads kept more than their record: {done:?}")
    });
    world
}

fn abort(run: &mut Run, s3: &aws_sdk_s3::Client, key: &str, id: &str) {
    let req = s3
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id);
    let r = run.rt.block_on(req.send());
    run.check(r.is_ok(), || format!("AbortMultipartUpload {id}: {r:?}"));
}

#[test]
fn multipart_upload_complete_and_abort_survive_a_kill() {
    let mut run = Run::new("multipart");
    let mut d = daemon_with_bucket(&run);
    crash_loop(
        &mut run,
        &mut d,
        World::new(),
        2500,
        multipart_op,
        check_multipart,
    );
}

const FILES: &[&str] = &["f0", "f1", "g/f2"];
const SAVE_TMP: &str = ".save.tmp";

/// Through the mount: an atomic save (write a temp file, rename it over the target), an
/// in-place rewrite, an unlink or a rename. A write is acknowledged when `close` returns;
/// an in-place rewrite cut by the kill may leave any bytes (POSIX promises no atomicity),
/// but never bytes S3 serves under another file's ETag.
fn mount_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let present: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|k| matches!(wl.label(k), Content::Is(_)))
        .collect();
    let target = FILES[rng.index(FILES.len())];
    let path = |k: &str| w.dir.join(k);
    let io = |r: std::io::Result<()>| r.map_err(|e| e.to_string());
    match rng.below(4) {
        0 if !present.is_empty() => {
            let victim = present[rng.index(present.len())];
            wl.attempt(Effect::one(victim, Content::Absent), || {
                io(std::fs::remove_file(path(victim)))
            })
        }
        1 if !present.is_empty() => {
            let from = present[rng.index(present.len())];
            if from == target {
                return true;
            }
            let effect = Effect {
                writes: vec![
                    (from.to_owned(), Content::Absent),
                    (target.to_owned(), wl.label(from)),
                ],
                atomic: true,
                torn: false,
            };
            let (a, b) = (path(from), path(target));
            wl.attempt(effect, || {
                std::fs::create_dir_all(b.parent().unwrap()).map_err(|e| e.to_string())?;
                io(std::fs::rename(a, b))
            })
        }
        2 if present.contains(&target) => {
            let size = rng.size();
            let body = rng.bytes(size);
            let mut effect = Effect::one(target, Content::Is(md5_hex(&body)));
            effect.torn = true;
            wl.attempt(effect, || io(std::fs::write(path(target), &body)))
        }
        _ => {
            let size = rng.size();
            let body = rng.bytes(size);
            let label = Content::Is(md5_hex(&body));
            let mut written = Effect::one(SAVE_TMP, label.clone());
            written.torn = true;
            if !wl.attempt(written, || io(std::fs::write(path(SAVE_TMP), &body))) {
                return false;
            }
            let effect = Effect {
                writes: vec![
                    (SAVE_TMP.to_owned(), Content::Absent),
                    (target.to_owned(), label),
                ],
                atomic: true,
                torn: false,
            };
            let b = path(target);
            wl.attempt(effect, || {
                std::fs::create_dir_all(b.parent().unwrap()).map_err(|e| e.to_string())?;
                io(std::fs::rename(path(SAVE_TMP), b))
            })
        }
    }
}

#[test]
fn rename_write_and_unlink_on_the_mount_survive_a_kill() {
    let mut run = Run::new("mount");
    let mut d = daemon_with_bucket(&run);
    crash_loop(&mut run, &mut d, World::new(), 400, mount_op, check_objects);
}

/// IAM writes through `weka`: `user add`, `s3 policy attach readwrite`, `user passwd`. A
/// user's label is `password|policy`.
fn iam_op(w: &Worker, rng: &mut Rng, wl: &mut Workload) -> bool {
    let users: Vec<(String, String)> = wl
        .world
        .iter()
        .filter_map(|(k, c)| match c {
            Content::Is(l) => Some((k.clone(), l.clone())),
            _ => None,
        })
        .collect();
    let password = format!("Passw0rd-{}", rng.below(1_000_000_000));
    if users.is_empty() || rng.chance(40) {
        let name = format!("user{}", wl.world.len());
        let effect = Effect::one(&name, Content::Is(format!("{password}|none")));
        return wl.attempt(effect, || w.weka(&["user", "add", &name, "s3", &password]));
    }
    let (name, label) = &users[rng.index(users.len())];
    let (old_password, policy) = label.split_once('|').unwrap();
    if policy == "none" && rng.chance(50) {
        let effect = Effect::one(name, Content::Is(format!("{old_password}|readwrite")));
        return wl.attempt(effect, || {
            w.weka(&["s3", "policy", "attach", "readwrite", name])
        });
    }
    let effect = Effect::one(name, Content::Is(format!("{password}|{policy}")));
    wl.attempt(effect, || {
        w.weka(&["user", "passwd", &password, "--username", name])
    })
}

/// Each user of the model: absent from `weka user`, or listed with a policy and exactly
/// one of the passwords the log allows working over S3 (AccessDenied without a policy,
/// success with readwrite).
fn check_iam(run: &mut Run, d: &Daemon, _log: &Log, allowed: &[World]) -> World {
    let out = d.weka(&["user", "-J"]);
    assert!(out.status.success(), "weka user -J: {out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut observed = World::new();
    for name in keys_of(allowed) {
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == name.as_str());
        let Some(row) = row else {
            observed.insert(name, Content::Absent);
            continue;
        };
        let policy = row["s3Policy"].as_str().unwrap_or("none").to_owned();
        let candidates: BTreeSet<String> = allowed
            .iter()
            .filter_map(|w| match w.get(&name) {
                Some(Content::Is(l)) => Some(l.split('|').next().unwrap().to_owned()),
                _ => None,
            })
            .collect();
        let mut label = format!("listed ({policy}) but no allowed secret works");
        for password in candidates {
            let answer = s3_answer(run, d, &name, &password);
            if answer == "InvalidAccessKeyId" || answer == "SignatureDoesNotMatch" {
                continue;
            }
            let expected = if policy == "readwrite" {
                "ok"
            } else {
                "AccessDenied"
            };
            run.check(answer == expected, || {
                format!("{name} with policy {policy} gets {answer} over S3, not {expected}")
            });
            label = format!("{password}|{policy}");
        }
        observed.insert(name, Content::Is(label));
    }
    run.settle(allowed, observed)
}

/// ListObjectsV2 of the test bucket as `user`: "ok" or the error code.
fn s3_answer(run: &mut Run, d: &Daemon, user: &str, password: &str) -> String {
    let client = d.s3_client(user, password);
    match run
        .rt
        .block_on(client.list_objects_v2().bucket(BUCKET).send())
    {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map_or_else(|| sdk_err(&e), str::to_owned),
    }
}

#[test]
fn iam_writes_through_weka_survive_a_kill() {
    let mut run = Run::new("iam");
    let mut d = daemon_with_bucket(&run);
    crash_loop(&mut run, &mut d, World::new(), 1500, iam_op, check_iam);
}
