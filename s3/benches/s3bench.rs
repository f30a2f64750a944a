//! s3bench: a small S3 load generator that runs against any endpoint.
//!
//! Rows: PUT and GET of 4 KiB objects at concurrency 1 and 32, PUT and GET of one large
//! object (1 GiB by default), and ListObjectsV2 pages of 1000 over a flat and a nested
//! bucket of N objects (10k by default). Prints ops/s, MB/s, p50 and p99 latency per row.
//!
//! Run (release): `cargo bench -p weka-s3 --bench s3bench -- --endpoint http://127.0.0.1:9000
//! --access-key AK --secret-key SK [--big-mib 1024] [--list-objects 10000] [--populate DATA_DIR]`.
//! `--list-pages N` stops each listing pass after N pages (for servers that read the whole
//! bucket for every page, where 1000 pages over 1M objects would take hours); `--small-ops 0`
//! skips the small-object rows and `--big-mib 0` the large ones.
//! With `--populate DIR` (the server's backing directory on this machine) the listing
//! buckets are filled by writing files directly, which is much faster than PUTs.
//!
//! With `--compare-endpoint URL --compare-access-key AK --compare-secret-key SK
//! [--compare-populate DIR]` the same rows then run against a second server (s3s-fs, say)
//! and one table prints both and the ratio first / second per row (ops/s, which for rows of
//! equal-sized objects is also the MB/s ratio).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// One server to measure.
#[derive(Clone, Default)]
struct Target {
    endpoint: String,
    access_key: String,
    secret_key: String,
    /// Its backing directory on this machine, for filling the listing buckets directly.
    populate: Option<std::path::PathBuf>,
}

struct Args {
    target: Target,
    compare: Option<Target>,
    big_mib: u64,
    list_objects: usize,
    /// Pages per listing pass (`None`: the whole bucket).
    list_pages: Option<usize>,
    small_ops: usize,
    prefix: String,
}

fn args() -> Args {
    let mut a = Args {
        target: Target {
            endpoint: "http://127.0.0.1:9000".into(),
            access_key: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_key: std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            populate: None,
        },
        compare: None,
        big_mib: 1024,
        list_objects: 10_000,
        list_pages: None,
        small_ops: 2000,
        prefix: format!("bench{}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => a.target.endpoint = val(),
            "--access-key" => a.target.access_key = val(),
            "--secret-key" => a.target.secret_key = val(),
            "--compare-endpoint" => a.compare.get_or_insert_with(Target::default).endpoint = val(),
            "--compare-access-key" => {
                a.compare.get_or_insert_with(Target::default).access_key = val()
            }
            "--compare-secret-key" => {
                a.compare.get_or_insert_with(Target::default).secret_key = val()
            }
            "--compare-populate" => {
                a.compare.get_or_insert_with(Target::default).populate = Some(val().into())
            }
            "--big-mib" => a.big_mib = val().parse().unwrap(),
            "--list-objects" => a.list_objects = val().parse().unwrap(),
            "--small-ops" => a.small_ops = val().parse().unwrap(),
            "--list-pages" => a.list_pages = Some(val().parse().unwrap()),
            "--populate" => a.target.populate = Some(val().into()),
            "--bucket-prefix" => a.prefix = val(),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn client(t: &Target) -> Client {
    let creds =
        aws_credential_types::Credentials::new(&t.access_key, &t.secret_key, None, None, "s3bench");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&t.endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    Client::from_conf(config)
}

struct Row {
    name: String,
    ops: usize,
    bytes: u64,
    elapsed: Duration,
    lat: Vec<Duration>,
}

/// What a row measured: ops/s, MB/s, p50 and p99 in ms.
struct Figures {
    ops_s: f64,
    mb_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Row {
    fn figures(&mut self) -> Figures {
        self.lat.sort();
        let pct = |p: f64| {
            self.lat
                .get(((self.lat.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3
        };
        let secs = self.elapsed.as_secs_f64();
        Figures {
            ops_s: self.ops as f64 / secs,
            mb_s: self.bytes as f64 / secs / 1e6,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
        }
    }

    fn print(&mut self) {
        let f = self.figures();
        println!(
            "| {:<34} | {:>7} | {:>10.1} | {:>9.1} | {:>9.2} | {:>9.2} |",
            self.name, self.ops, f.ops_s, f.mb_s, f.p50_ms, f.p99_ms
        );
    }
}

/// Prints the rows of two servers side by side with the ratio first / second.
fn print_compared(first: &mut [Row], second: &mut [Row]) {
    println!(
        "| {:<34} | {:>10} | {:>8} | {:>15} | {:>10} | {:>8} | {:>15} | {:>6} |",
        "row", "ops/s", "MB/s", "p50/p99 ms", "cmp ops/s", "cmp MB/s", "cmp p50/p99 ms", "ratio"
    );
    println!(
        "|{:-<36}|{:-<12}|{:-<10}|{:-<17}|{:-<12}|{:-<10}|{:-<17}|{:-<8}|",
        "", "", "", "", "", "", "", ""
    );
    for (a, b) in first.iter_mut().zip(second.iter_mut()) {
        let (fa, fb) = (a.figures(), b.figures());
        println!(
            "| {:<34} | {:>10.1} | {:>8.1} | {:>15} | {:>10.1} | {:>8.1} | {:>15} | {:>5.2}x |",
            a.name,
            fa.ops_s,
            fa.mb_s,
            format!("{:.2} / {:.2}", fa.p50_ms, fa.p99_ms),
            fb.ops_s,
            fb.mb_s,
            format!("{:.2} / {:.2}", fb.p50_ms, fb.p99_ms),
            fa.ops_s / fb.ops_s
        );
    }
}

/// Runs `total` operations `op(i)` with `conc` workers; returns the row.
async fn run<F, Fut>(name: &str, total: usize, conc: usize, bytes_per_op: u64, op: F) -> Row
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                op(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    Row {
        name: name.into(),
        ops: total,
        bytes: bytes_per_op * total as u64,
        elapsed: start.elapsed(),
        lat,
    }
}

async fn small_rows(s3: &Client, bucket: &str, n: usize) -> Vec<Row> {
    let body = bytes::Bytes::from(vec![0x5au8; 4096]);
    let mut rows = Vec::new();
    for conc in [1usize, 32] {
        let total = if conc == 1 { n / 4 } else { n };
        let (s, b, body) = (s3.clone(), bucket.to_owned(), body.clone());
        rows.push(
            run(
                &format!("PUT 4 KiB, concurrency {conc}"),
                total,
                conc,
                4096,
                move |i| {
                    let (s, b, body) = (s.clone(), b.clone(), body.clone());
                    async move {
                        s.put_object()
                            .bucket(b)
                            .key(format!("small/{conc}/{i}"))
                            .body(ByteStream::from(body))
                            .send()
                            .await
                            .unwrap();
                    }
                },
            )
            .await,
        );
        let (s, b) = (s3.clone(), bucket.to_owned());
        rows.push(
            run(
                &format!("GET 4 KiB, concurrency {conc}"),
                total,
                conc,
                4096,
                move |i| {
                    let (s, b) = (s.clone(), b.clone());
                    async move {
                        let o = s
                            .get_object()
                            .bucket(b)
                            .key(format!("small/{conc}/{i}"))
                            .send()
                            .await
                            .unwrap();
                        let data = o.body.collect().await.unwrap().into_bytes();
                        assert_eq!(data.len(), 4096);
                    }
                },
            )
            .await,
        );
    }
    rows
}

async fn big_rows(s3: &Client, bucket: &str, mib: u64) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        for _ in 0..mib {
            f.write_all(&chunk).unwrap();
        }
    }
    let size = mib * 1024 * 1024;
    let (s, b, p) = (s3.clone(), bucket.to_owned(), path.clone());
    let put = run(
        &format!("PUT {mib} MiB (one stream)"),
        1,
        1,
        size,
        move |_| {
            let (s, b, p) = (s.clone(), b.clone(), p.clone());
            async move {
                let body = ByteStream::from_path(&p).await.unwrap();
                s.put_object()
                    .bucket(b)
                    .key("big")
                    .content_length(i64::try_from(size).unwrap())
                    .body(body)
                    .send()
                    .await
                    .unwrap();
            }
        },
    )
    .await;
    let (s, b) = (s3.clone(), bucket.to_owned());
    let get = run(
        &format!("GET {mib} MiB (one stream)"),
        1,
        1,
        size,
        move |_| {
            let (s, b) = (s.clone(), b.clone());
            async move {
                let mut o = s.get_object().bucket(b).key("big").send().await.unwrap();
                let mut n = 0u64;
                while let Some(chunk) = o.body.try_next().await.unwrap() {
                    n += chunk.len() as u64;
                }
                assert_eq!(n, size);
            }
        },
    )
    .await;
    vec![put, get]
}

/// Key of object `i` in a flat or nested (100 per directory) layout.
fn list_key(i: usize, nested: bool) -> String {
    if nested {
        format!("d{:04}/e{:03}/f{:06}", i / 10_000, (i / 100) % 100, i)
    } else {
        format!("f{i:07}")
    }
}

async fn populate(s3: &Client, a: &Args, t: &Target, bucket: &str, nested: bool) {
    if let Some(data) = &t.populate {
        let root = data.join(bucket);
        for i in 0..a.list_objects {
            let p = root.join(list_key(i, nested));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(p, b"x").unwrap();
        }
        return;
    }
    let (s, b) = (s3.clone(), bucket.to_owned());
    run("populate", a.list_objects, 32, 0, move |i| {
        let (s, b) = (s.clone(), b.clone());
        async move {
            s.put_object()
                .bucket(b)
                .key(list_key(i, nested))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
}

async fn list_row(s3: &Client, bucket: &str, n: usize, nested: bool, pages: Option<usize>) -> Row {
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut token = None;
    let mut seen = 0;
    while pages.is_none_or(|p| lat.len() < p) {
        let t = Instant::now();
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1000)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        lat.push(t.elapsed());
        seen += page.contents().len();
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    let want = pages.map_or(n, |p| n.min(p * 1000));
    assert_eq!(seen, want, "listed every object asked for");
    let layout = if nested { "nested" } else { "flat" };
    Row {
        name: format!("ListObjectsV2 1000/page, {n} {layout}"),
        ops: lat.len(),
        bytes: 0,
        elapsed: start.elapsed(),
        lat,
    }
}

/// Every row against one server, in order.
async fn all_rows(a: &Args, t: &Target) -> Vec<Row> {
    let s3 = client(t);
    let small = format!("{}-small", a.prefix);
    let big = format!("{}-big", a.prefix);
    let flat = format!("{}-flat", a.prefix);
    let nested = format!("{}-nested", a.prefix);
    for b in [&small, &big, &flat, &nested] {
        s3.create_bucket().bucket(b.as_str()).send().await.unwrap();
    }
    let mut rows = Vec::new();
    if a.small_ops > 0 {
        rows.extend(small_rows(&s3, &small, a.small_ops).await);
    }
    if a.big_mib > 0 {
        rows.extend(big_rows(&s3, &big, a.big_mib).await);
    }
    if a.list_objects > 0 {
        populate(&s3, a, t, &flat, false).await;
        populate(&s3, a, t, &nested, true).await;
        for (b, n) in [(&flat, false), (&nested, true)] {
            // First pass reads and sorts directories; the second runs on warm snapshots.
            let mut cold = list_row(&s3, b, a.list_objects, n, a.list_pages).await;
            cold.name = format!("{} (cold)", cold.name);
            rows.push(cold);
            rows.push(list_row(&s3, b, a.list_objects, n, a.list_pages).await);
        }
    }
    rows
}

#[tokio::main]
async fn main() {
    let a = args();
    let mut rows = all_rows(&a, &a.target).await;
    if let Some(compare) = &a.compare {
        let mut other = all_rows(&a, compare).await;
        print_compared(&mut rows, &mut other);
        return;
    }
    println!(
        "| {:<34} | {:>7} | {:>10} | {:>9} | {:>9} | {:>9} |",
        "row", "ops", "ops/s", "MB/s", "p50 ms", "p99 ms"
    );
    println!(
        "|{:-<36}|{:-<9}|{:-<12}|{:-<11}|{:-<11}|{:-<11}|",
        "", "", "", "", "", ""
    );
    for r in &mut rows {
        r.print();
    }
}
