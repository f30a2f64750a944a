//! The S3 door in-process: a real object view over a temp dir, a real LMDB IAM store, the
//! real hyper/s3s server on 127.0.0.1:0, driven by aws-sdk-s3 (which signs with SigV4
//! and sends CRC32 trailers with STREAMING-UNSIGNED-PAYLOAD-TRAILER by default).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use md5::{Digest, Md5};
use weka_fs::object::BucketName;
use weka_fs::object::{ObjectOptions, ObjectView};
use weka_fs::Root;
use weka_s3::buckets::Buckets;
use weka_s3::iam::{Iam, IamOptions, NewUser, Role, SecretString};
use weka_s3::policy::BucketPreset;
use weka_s3::server::{S3Config, S3Server};
use weka_s3::tls::TlsCerts;

struct Fixture {
    /// A small filesystem mounted on the data directory, unmounted before `dir` goes.
    _small: Option<SmallFs>,
    dir: tempfile::TempDir,
    endpoint: String,
    iam: Iam,
    buckets: Buckets,
    _stop: tokio::sync::oneshot::Sender<()>,
}

const PASSWORD: &str = "Secret123!x";

/// A tmpfs mounted for one test, unmounted (lazily) when dropped, also after a failure.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(at: &std::path::Path, bytes: u64) -> SmallFs {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", at.display());
        SmallFs(at.to_owned())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Best effort: a failure here leaves a tmpfs that dies with the machine.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::start_with(S3Config::default()).await
    }

    async fn start_with(cfg: S3Config) -> Fixture {
        Fixture::start_in(cfg, tempfile::tempdir().unwrap(), None).await
    }

    /// A server whose data directory is a tmpfs of `bytes` (to fill it up).
    async fn start_small(bytes: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let small = SmallFs::mount(&dir.path().join("data"), bytes);
        Fixture::start_in(S3Config::default(), dir, Some(small)).await
    }

    async fn start_in(cfg: S3Config, dir: tempfile::TempDir, small: Option<SmallFs>) -> Fixture {
        let data = dir.path().join("data");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let root = Arc::new(Root::open(&data).unwrap());
        let view = Arc::new(ObjectView::new(root, ObjectOptions { sync: false }).unwrap());
        let iam = Iam::open(&state, IamOptions::default()).unwrap();
        let buckets = Buckets::new(iam.clone(), view);
        let server = S3Server::new(cfg, buckets.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async move {
            let _ = rx.await;
        }));
        let f = Fixture {
            _small: small,
            dir,
            endpoint,
            iam,
            buckets,
            _stop: tx,
        };
        f.user("admin", Some("readwrite"));
        f
    }

    fn user(&self, name: &str, policy: Option<&str>) {
        self.iam
            .add_user(NewUser {
                name: name.into(),
                role: Role::S3,
                password: SecretString::new(PASSWORD),
                posix_uid: Some(1234),
                posix_gid: Some(2345),
                policy: policy.map(str::to_owned),
            })
            .unwrap();
    }

    fn client(&self, user: &str, secret: &str) -> Client {
        let creds = aws_credential_types::Credentials::new(user, secret, None, None, "test");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(creds)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    fn admin(&self) -> Client {
        self.client("admin", PASSWORD)
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("?").to_owned(),
        other => format!("{other:?}"),
    }
}

/// One multipart upload, step by step: CreateMultipartUpload, then UploadPart or
/// UploadPartCopy for parts 1, 2, … in that order, then CompleteMultipartUpload naming
/// every part uploaded. Tests put what they check between the steps.
struct Multipart<'a> {
    s3: &'a Client,
    bucket: String,
    key: String,
    id: String,
    parts: Vec<CompletedPart>,
}

impl<'a> Multipart<'a> {
    /// CreateMultipartUpload of `bucket/key`.
    async fn create(s3: &'a Client, bucket: &str, key: &str) -> Multipart<'a> {
        let up = s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        Multipart {
            s3,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            id: up.upload_id().unwrap().to_owned(),
            parts: Vec::new(),
        }
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn next_part_number(&self) -> i32 {
        i32::try_from(self.parts.len() + 1).unwrap()
    }

    /// UploadPart of `body` as the next part.
    async fn upload(&mut self, body: ByteStream) {
        let number = self.next_part_number();
        let part = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .body(body)
            .send()
            .await
            .unwrap();
        self.uploaded(number, part.e_tag());
    }

    /// UploadPartCopy of `range` (`bytes=first-last`) of `source` (`bucket/key`) as the
    /// next part.
    async fn copy(&mut self, source: &str, range: &str) {
        let number = self.next_part_number();
        let part = self
            .s3
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .copy_source(source)
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        self.uploaded(number, part.copy_part_result().and_then(|r| r.e_tag()));
    }

    fn uploaded(&mut self, number: i32, etag: Option<&str>) {
        let etag = etag.expect("the part's answer has an ETag");
        let part = CompletedPart::builder().part_number(number).e_tag(etag);
        self.parts.push(part.build());
    }

    /// CompleteMultipartUpload of every part uploaded so far, to `send()` (after adding
    /// headers such as `if_none_match` when the test needs them).
    fn complete(&self) -> CompleteMultipartUploadFluentBuilder {
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(self.parts.clone()))
            .build();
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(parts)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn put_get_head_delete_round_trip_bytes_and_md5_etag() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let body = b"hello wekad".to_vec();
    let put = s3
        .put_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .content_type("text/plain")
        .metadata("color", "blue")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", md5_hex(&body)));
    assert_eq!(std::fs::read(f.data().join("bkt/a/b/c.txt")).unwrap(), body);
    let meta = std::fs::metadata(f.data().join("bkt/a/b/c.txt")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 1234);
    let got = s3
        .get_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag().unwrap(), format!("\"{}\"", md5_hex(&body)));
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
    s3.delete_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .send()
        .await
        .unwrap();
    assert!(
        !f.data().join("bkt/a").exists(),
        "implicit parents are removed"
    );
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_written_behind_the_view_gets_a_fresh_md5_etag() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("f")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    std::fs::write(f.data().join("bkt/f"), b"two, longer").unwrap();
    let got = s3.get_object().bucket("bkt").key("f").send().await.unwrap();
    assert_eq!(
        got.e_tag().unwrap(),
        format!("\"{}\"", md5_hex(b"two, longer"))
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"two, longer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn range_reads_and_conditionals_follow_s3() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("r")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let part = s3
        .get_object()
        .bucket("bkt")
        .key("r")
        .range("bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 2-4/10"));
    assert_eq!(
        part.body.collect().await.unwrap().into_bytes().as_ref(),
        b"234"
    );
    let suffix = s3
        .get_object()
        .bucket("bkt")
        .key("r")
        .range("bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        suffix.body.collect().await.unwrap().into_bytes().as_ref(),
        b"789"
    );
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("r")
        .range("bytes=20-30")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRange");
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("r")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("r")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_is_in_s3_order_with_prefixes_and_pages() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    for k in ["a-", "a.txt", "a/b", "a/c/d", "a0", "b", "dir/", "dir/x"] {
        s3.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{k}: {e:?}"));
    }
    // A directory sorts as `name/`: after `a-` and `a.txt`, before `a0`.
    let all = s3.list_objects_v2().bucket("bkt").send().await.unwrap();
    let keys: Vec<_> = all
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        vec!["a-", "a.txt", "a/b", "a/c/d", "a0", "b", "dir/", "dir/x"]
    );
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("bkt")
            .max_keys(1)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, keys);
}

#[tokio::test(flavor = "multi_thread")]
async fn file_directory_conflicts_are_409_naming_the_path() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("x")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("x/y")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ObjectConflict");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 409);
    s3.put_object()
        .bucket("bkt")
        .key("d/e")
        .body(ByteStream::from_static(b"3"))
        .send()
        .await
        .unwrap();
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("d")
        .body(ByteStream::from_static(b"4"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ObjectConflict");
}

/// docs/SEMANTICS.md, "Symlinks and hard links": "The S3 door never follows a symlink."
#[tokio::test(flavor = "multi_thread")]
async fn no_s3_operation_reads_lists_or_writes_through_a_symlink() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("sub/x")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    let bkt = f.data().join("bkt");
    std::os::unix::fs::symlink("sub/x", bkt.join("link")).unwrap();
    std::os::unix::fs::symlink("sub", bkt.join("dirlink")).unwrap();
    let b = || "bkt".to_owned();

    for key in ["link", "dirlink/x"] {
        let get = s3.get_object().bucket(b()).key(key).send().await;
        assert_eq!(code(&get.unwrap_err()), "NoSuchKey", "GET {key}");
        let head = s3.head_object().bucket(b()).key(key).send().await;
        assert_eq!(code(&head.unwrap_err()), "NotFound", "HEAD {key}");
        let tags = s3.get_object_tagging().bucket(b()).key(key).send().await;
        assert_eq!(
            code(&tags.unwrap_err()),
            "NoSuchKey",
            "GetObjectTagging {key}"
        );
        let untag = s3.delete_object_tagging().bucket(b()).key(key).send().await;
        assert_eq!(
            code(&untag.unwrap_err()),
            "NoSuchKey",
            "DeleteObjectTagging {key}"
        );
        let copy = s3
            .copy_object()
            .bucket(b())
            .key("copied")
            .copy_source(format!("bkt/{key}"))
            .send()
            .await;
        assert_eq!(
            code(&copy.unwrap_err()),
            "NoSuchKey",
            "CopyObject from {key}"
        );
        let up = Multipart::create(&s3, "bkt", "copied").await;
        let part_copy = s3
            .upload_part_copy()
            .bucket(b())
            .key("copied")
            .upload_id(up.id())
            .part_number(1)
            .copy_source(format!("bkt/{key}"))
            .send()
            .await;
        assert_eq!(
            code(&part_copy.unwrap_err()),
            "NoSuchKey",
            "UploadPartCopy from {key}"
        );
    }

    let v2 = s3.list_objects_v2().bucket(b()).send().await.unwrap();
    let v2: Vec<_> = v2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(v2, ["sub/x"]);
    let v1 = s3
        .list_objects()
        .bucket(b())
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(v1.contents().is_empty(), "{v1:?}");
    let prefixes: Vec<_> = v1
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["sub/"]);
    let versions = s3.list_object_versions().bucket(b()).send().await.unwrap();
    let versions: Vec<_> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(versions, ["sub/x"]);
    let below = s3
        .list_objects_v2()
        .bucket(b())
        .prefix("dirlink/")
        .send()
        .await
        .unwrap();
    assert!(below.contents().is_empty(), "{below:?}");

    for key in ["link", "dirlink/x", "dirlink/new"] {
        let put = s3
            .put_object()
            .bucket(b())
            .key(key)
            .body(ByteStream::from_static(b"overwritten"))
            .send()
            .await;
        assert_eq!(code(&put.unwrap_err()), "ObjectConflict", "PUT {key}");
        let copy = s3
            .copy_object()
            .bucket(b())
            .key(key)
            .copy_source("bkt/sub/x")
            .send()
            .await;
        assert_eq!(
            code(&copy.unwrap_err()),
            "ObjectConflict",
            "CopyObject to {key}"
        );
    }
    let mut up = Multipart::create(&s3, "bkt", "dirlink/x").await;
    up.upload(ByteStream::from_static(b"overwritten")).await;
    let done = up.complete().send().await;
    assert_eq!(code(&done.unwrap_err()), "ObjectConflict");

    s3.delete_object()
        .bucket(b())
        .key("link")
        .send()
        .await
        .unwrap();
    let both = Delete::builder()
        .objects(ObjectIdentifier::builder().key("link").build().unwrap())
        .objects(
            ObjectIdentifier::builder()
                .key("dirlink/x")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let deleted = s3
        .delete_objects()
        .bucket(b())
        .delete(both)
        .send()
        .await
        .unwrap();
    assert!(deleted.errors().is_empty(), "{deleted:?}");
    assert!(std::fs::symlink_metadata(bkt.join("link"))
        .unwrap()
        .is_symlink());
    assert!(std::fs::symlink_metadata(bkt.join("dirlink"))
        .unwrap()
        .is_symlink());
    assert_eq!(std::fs::read(bkt.join("sub/x")).unwrap(), b"secret");
    assert!(!bkt.join("copied").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn delimiter_listing_shows_common_prefixes() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    for k in ["p/1", "p/2/x", "p/3/y/z", "q"] {
        s3.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b"z"))
            .send()
            .await
            .unwrap();
    }
    let l = s3
        .list_objects_v2()
        .bucket("bkt")
        .prefix("p/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = l.contents().iter().map(|o| o.key().unwrap()).collect();
    let prefixes: Vec<_> = l
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(keys, vec!["p/1"]);
    assert_eq!(prefixes, vec!["p/2/", "p/3/"]);
    let v1 = s3
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.common_prefixes().len(), 1);
    assert_eq!(v1.contents().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_upload_publishes_one_object_with_multipart_etag() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let mut up = Multipart::create(&s3, "bkt", "big").await;
    let p1 = vec![7u8; 5 * 1024 * 1024];
    let p2 = b"tail".to_vec();
    up.upload(ByteStream::from(p1.clone())).await;
    up.upload(ByteStream::from(p2.clone())).await;
    let parts = s3
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(up.id())
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 2);
    let c = up.complete().send().await.unwrap();
    let mut md5s = Vec::new();
    md5s.extend(Md5::digest(&p1));
    md5s.extend(Md5::digest(&p2));
    assert_eq!(c.e_tag().unwrap(), format!("\"{}-2\"", md5_hex(&md5s)));
    let on_disk = std::fs::read(f.data().join("bkt/big")).unwrap();
    assert_eq!(on_disk.len(), p1.len() + p2.len());
    assert!(std::fs::read_dir(f.data().join(".wekad/multipart"))
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn small_parts_before_the_last_are_refused() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let mut up = Multipart::create(&s3, "bkt", "m").await;
    up.upload(ByteStream::from_static(b"small")).await;
    up.upload(ByteStream::from_static(b"last")).await;
    let err = up.complete().send().await.unwrap_err();
    assert_eq!(code(&err), "EntityTooSmall");
    let id = up.id();
    s3.abort_multipart_upload()
        .bucket("bkt")
        .key("m")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let err = s3
        .list_parts()
        .bucket("bkt")
        .key("m")
        .upload_id(id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_tagging_and_delete_objects_work() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("src").send().await.unwrap();
    s3.create_bucket().bucket("dst").send().await.unwrap();
    s3.put_object()
        .bucket("src")
        .key("k")
        .body(ByteStream::from_static(b"copy me"))
        .send()
        .await
        .unwrap();
    s3.copy_object()
        .bucket("dst")
        .key("k2")
        .copy_source("src/k")
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(f.data().join("dst/k2")).unwrap(), b"copy me");
    use aws_sdk_s3::types::{Delete, ObjectIdentifier, Tag, Tagging};
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("t").value("v").build().unwrap())
        .build()
        .unwrap();
    s3.put_object_tagging()
        .bucket("dst")
        .key("k2")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let tags = s3
        .get_object_tagging()
        .bucket("dst")
        .key("k2")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "v");
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("k2").build().unwrap())
        .objects(ObjectIdentifier::builder().key("missing").build().unwrap())
        .build()
        .unwrap();
    let out = s3
        .delete_objects()
        .bucket("dst")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 2);
    assert!(!f.data().join("dst/k2").exists());
    let err = s3.delete_bucket().bucket("src").send().await.unwrap_err();
    assert_eq!(code(&err), "BucketNotEmpty");
    s3.delete_bucket().bucket("dst").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_refuses_unknown_keys_wrong_secrets_and_missing_policies() {
    let f = Fixture::start().await;
    f.admin()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let err = f
        .client("nobody", PASSWORD)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAccessKeyId");
    let err = f
        .client("admin", "WrongSecret1!")
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    f.user("nopolicy", None);
    let err = f
        .client("nopolicy", PASSWORD)
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    f.user("reader", Some("readonly"));
    f.admin()
        .put_object()
        .bucket("bkt")
        .key("o")
        .body(ByteStream::from_static(b"r"))
        .send()
        .await
        .unwrap();
    let r = f.client("reader", PASSWORD);
    r.get_object().bucket("bkt").key("o").send().await.unwrap();
    r.get_bucket_location().bucket("bkt").send().await.unwrap();
    assert_eq!(
        code(&r.list_objects_v2().bucket("bkt").send().await.unwrap_err()),
        "AccessDenied"
    );
    assert_eq!(
        code(
            &r.put_object()
                .bucket("bkt")
                .key("p")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap_err()
        ),
        "AccessDenied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_requests_are_refused_without_a_bucket_policy() {
    let f = Fixture::start().await;
    f.admin()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let resp = reqwest_like_get(&format!("{}/bkt/", f.endpoint)).await;
    assert!(resp.contains("AccessDenied"), "{resp}");
}

/// A minimal unsigned HTTP GET over a raw socket (no extra HTTP client dependency).
async fn reqwest_like_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn checksums_are_verified_and_returned_when_asked() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
    use base64::Engine as _;
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let body = b"checksummed body".to_vec();
    s3.put_object()
        .bucket("bkt")
        .key("c")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("bkt")
        .key("c")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let want = base64::engine::general_purpose::STANDARD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    assert_eq!(got.checksum_sha256(), Some(want.as_str()));
    let bad_md5 = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("d")
        .content_md5(bad_md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    assert!(
        !f.data().join("bkt/d").exists(),
        "a refused upload leaves nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_we_do_not_implement_answer_not_implemented() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    // An upper bound on waiting, not a speed check: the server's own timeouts (headers,
    // a stalled body) are 10 s, so an answer within 5 s did not come from one of them.
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s3.get_bucket_acl().bucket("bkt").send(),
    )
    .await
    .expect("GetBucketAcl is answered at once, not after a server timeout")
    .unwrap_err();
    assert_eq!(code(&err), "NotImplemented");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 501);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stops_short_of_its_length_times_out_within_seconds() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = Fixture::start().await;
    f.admin()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    f.buckets
        .set_policy(&BucketName::parse("bkt").unwrap(), BucketPreset::Public)
        .unwrap();
    let host = f.endpoint.strip_prefix("http://").unwrap().to_owned();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT /bkt/stalled HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n0123456789"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    // The server gives up on a body that stalls for `BODY_STALL`; without that limit it
    // would wait for the 90 missing bytes for ever. Twice the limit bounds the wait.
    let n = tokio::time::timeout(weka_s3::api::BODY_STALL * 2, s.read(&mut buf))
        .await
        .expect("the server answers a stalled body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!f.data().join("bkt/stalled").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn virtual_host_style_requests_address_the_bucket_by_host_name() {
    let cfg = S3Config {
        virtual_host_domains: vec!["s3.test".into()],
        ..S3Config::default()
    };
    let f = Fixture::start_with(cfg).await;
    let s3 = f.admin();
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    s3.put_object()
        .bucket("vhost")
        .key("dir/obj")
        .body(ByteStream::from_static(b"by host"))
        .send()
        .await
        .unwrap();
    f.buckets
        .set_policy(&BucketName::parse("vhost").unwrap(), BucketPreset::Download)
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = f.endpoint.strip_prefix("http://").unwrap().to_owned();
    let port = host.rsplit(':').next().unwrap();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let req =
        format!("GET /dir/obj HTTP/1.1\r\nHost: vhost.s3.test:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("by host"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_on_the_current_etag_answers_304() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match(put.e_tag().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 304);
    let ok = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.body.collect().await.unwrap().into_bytes().as_ref(), b"v");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_keys_and_metadata_get_their_s3_codes() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KeyTooLongError");
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("m")
        .metadata("big", "v".repeat(2100))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MetadataTooLarge");
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("a//b")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
    assert!(std::fs::read_dir(f.data().join("bkt"))
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn directory_objects_are_empty_directories_listed_with_a_slash() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("folder/")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    assert!(f.data().join("bkt/folder").is_dir());
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("folder/")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(0));
    let l = s3.list_objects_v2().bucket("bkt").send().await.unwrap();
    assert_eq!(
        l.contents()
            .iter()
            .map(|o| o.key().unwrap())
            .collect::<Vec<_>>(),
        vec!["folder/"]
    );
    s3.delete_object()
        .bucket("bkt")
        .key("folder/")
        .send()
        .await
        .unwrap();
    assert!(!f.data().join("bkt/folder").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn part_numbers_overrides_copy_replace_and_upload_part_copy_work() {
    use aws_sdk_s3::types::MetadataDirective;
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let src: Vec<u8> = (0..6 * 1024 * 1024).map(|i: u32| (i % 241) as u8).collect();
    s3.put_object()
        .bucket("bkt")
        .key("src")
        .content_type("a/b")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();

    // response-* overrides
    let got = s3
        .get_object()
        .bucket("bkt")
        .key("src")
        .response_content_type("text/x-override")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/x-override"));

    // CopyObject onto itself with REPLACE changes metadata, keeps bytes.
    s3.copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("c/d")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("src")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("c/d"));
    assert_eq!(std::fs::read(f.data().join("bkt/src")).unwrap(), src);
    let err = s3
        .copy_object()
        .bucket("bkt")
        .key("x")
        .copy_source("bkt/src")
        .copy_source_if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");

    // UploadPartCopy with a range, then a listed upload, then partNumber reads.
    let mut up = Multipart::create(&s3, "bkt", "assembled").await;
    let listed = s3
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.uploads().len(), 1);
    up.copy("bkt/src", &format!("bytes=0-{}", 5 * 1024 * 1024 - 1))
        .await;
    up.copy("bkt/src", "bytes=100-199").await;
    up.complete().send().await.unwrap();
    let part2 = s3
        .get_object()
        .bucket("bkt")
        .key("assembled")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(
        part2.body.collect().await.unwrap().into_bytes().as_ref(),
        &src[100..200]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn url_encoding_and_fetch_owner_are_honoured_in_listings() {
    use aws_sdk_s3::types::EncodingType;
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("sp ace/ü+x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let l = s3
        .list_objects_v2()
        .bucket("bkt")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    assert_eq!(l.contents()[0].key(), Some("sp ace/ü+x"));
    assert_eq!(l.contents()[0].owner().and_then(|o| o.id()), Some("1234"));
    let raw = s3
        .list_objects_v2()
        .bucket("bkt")
        .encoding_type(EncodingType::Url)
        .customize()
        .mutate_request(|_| {})
        .send()
        .await
        .unwrap();
    // The SDK decodes url-encoded keys itself; what matters is that the round trip is exact.
    assert_eq!(
        raw.contents()[0]
            .key()
            .map(|k| urlencoding::decode(k).unwrap().into_owned()),
        Some("sp ace/ü+x".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_s3_over_https_with_the_configured_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let f = Fixture::start_with(S3Config {
        tls: Some(TlsCerts::load(&cert, &key).unwrap()),
        ..S3Config::default()
    })
    .await;
    let url = f.endpoint.replace("http://", "https://");
    let out = tokio::process::Command::new("curl")
        .args(["-sk", &format!("{url}/")])
        .output()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let plain = tokio::process::Command::new("curl")
        .args(["-s", &format!("{}/", f.endpoint)])
        .output()
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("AccessDenied"),
        "plain HTTP is not served on a TLS port"
    );
}

/// A self-signed certificate and key for 127.0.0.1 in `dir`, made by the openssl command.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// An anonymous GET of `pub/obj` (curl, certificate not checked) and its HTTP status.
async fn anonymous_get_status(endpoint: &str) -> String {
    let out = tokio::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{endpoint}/pub/obj"))
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_secure_transport_is_true_over_tls_and_false_over_plain_http() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let tls = Fixture::start_with(S3Config {
        tls: Some(TlsCerts::load(&cert, &key).unwrap()),
        ..S3Config::default()
    })
    .await;
    let plain = Fixture::start().await;
    let only_over = |secure: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*","Condition":{{"Bool":{{"aws:SecureTransport":"{secure}"}}}}}}]}}"#
        )
    };
    for f in [&tls, &plain] {
        std::fs::create_dir_all(f.dir.path().join("data/pub")).unwrap();
        std::fs::write(f.dir.path().join("data/pub/obj"), b"x").unwrap();
        f.buckets
            .set_policy_custom(&BucketName::parse("pub").unwrap(), &only_over("true"))
            .unwrap();
    }
    let https = tls.endpoint.replace("http://", "https://");
    assert_eq!(anonymous_get_status(&https).await, "200");
    assert_eq!(anonymous_get_status(&plain.endpoint).await, "403");
    for f in [&tls, &plain] {
        f.buckets
            .set_policy_custom(&BucketName::parse("pub").unwrap(), &only_over("false"))
            .unwrap();
    }
    assert_eq!(anonymous_get_status(&https).await, "403");
    assert_eq!(anonymous_get_status(&plain.endpoint).await, "200");
}

#[tokio::test(flavor = "multi_thread")]
async fn expires_round_trips_and_v1_markers_page_through_a_bucket() {
    use aws_sdk_s3::primitives::DateTime;
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let when = DateTime::from_secs(2_000_000_000);
    #[allow(deprecated)]
    s3.put_object()
        .bucket("bkt")
        .key("e")
        .expires(when)
        .cache_control("max-age=60")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("e")
        .send()
        .await
        .unwrap();
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    for k in ["m/1", "m/2", "m/3"] {
        s3.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let first = s3
        .list_objects()
        .bucket("bkt")
        .prefix("m/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert!(first.is_truncated().unwrap());
    let last = first.contents().last().unwrap().key().unwrap().to_owned();
    let second = s3
        .list_objects()
        .bucket("bkt")
        .prefix("m/")
        .marker(last)
        .send()
        .await
        .unwrap();
    assert_eq!(
        second
            .contents()
            .iter()
            .map(|o| o.key().unwrap())
            .collect::<Vec<_>>(),
        vec!["m/3"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_with_if_none_match_star_refuses_to_replace_an_existing_key() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .unwrap();
    let mut up = Multipart::create(&s3, "bkt", "k").await;
    up.upload(ByteStream::from_static(b"new")).await;
    let err = up.complete().if_none_match("*").send().await.unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    assert_eq!(std::fs::read(f.data().join("bkt/k")).unwrap(), b"old");
}

/// "ENOSPC on the backing filesystem: an S3 error that names the cause, not a generic 500;
/// nothing partial left."
#[tokio::test]
async fn a_full_backing_filesystem_is_507_insufficient_storage_and_leaves_nothing() {
    let f = Fixture::start_small(2 << 20).await;
    let c = f.admin();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let big = vec![7u8; 4 << 20];
    let err = c
        .put_object()
        .bucket("bkt")
        .key("big")
        .body(big.into())
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(507), "{err:?}");
    assert_eq!(code(&err), "InsufficientStorage");
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(message.contains("No space left"), "{message}");
    assert!(!f.data().join("bkt/big").exists());
    // Nothing partial: the staging area holds no leftover of the failed write.
    let staged: u64 = walk_sizes(&f.data());
    assert!(staged < 1 << 20, "{staged} bytes left behind");
    // Once there is room again, writes work.
    c.put_object()
        .bucket("bkt")
        .key("small")
        .body(b"ok".to_vec().into())
        .send()
        .await
        .unwrap();
}

fn walk_sizes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            walk_sizes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// "CreateBucket refuses `a.-b`, `a-.b`, `192.168.5.4` with 400 `InvalidBucketName`; a
/// top-level directory with such a name is not a bucket."
#[tokio::test(flavor = "multi_thread")]
async fn bucket_names_aws_refuses_are_invalid_and_their_directories_are_not_buckets() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    for name in ["a.-b", "a-.b", "192.168.5.4", "xn--abc", "abc-s3alias"] {
        let err = s3.create_bucket().bucket(name).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidBucketName", "{name}");
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 400, "{name}");
        assert!(!f.data().join(name).exists(), "{name}");
    }
    std::fs::create_dir(f.data().join("a-.b")).unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(listed.buckets().iter().all(|b| b.name() != Some("a-.b")));
    let err = s3
        .list_objects_v2()
        .bucket("a-.b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
}

/// "A `Content-MD5` that is empty or not the base64 of 16 bytes answers 400
/// `InvalidDigest` on PutObject and UploadPart and writes nothing; a well-formed one that
/// does not match the body stays `BadDigest`."
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_or_empty_content_md5_is_invalid_digest_and_writes_nothing() {
    use base64::Engine as _;
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    // The SDK leaves out an empty header, so every bad value is set on the request as sent.
    let short: &'static str = base64::engine::general_purpose::STANDARD
        .encode([0u8; 15])
        .leak();
    for bad in ["", "not base64!", short] {
        let err = s3
            .put_object()
            .bucket("bkt")
            .key("k")
            .body(ByteStream::from_static(b"data"))
            .customize()
            .mutate_request(move |r| {
                r.headers_mut().insert("content-md5", bad);
            })
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidDigest", "{bad:?}");
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
        assert!(!f.data().join("bkt/k").exists(), "{bad:?}");
    }
    let mut mp = Multipart::create(&s3, "bkt", "mp").await;
    for bad in ["", "not base64!", short] {
        let err = s3
            .upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(mp.id())
            .part_number(1)
            .body(ByteStream::from_static(b"part"))
            .customize()
            .mutate_request(move |r| {
                r.headers_mut().insert("content-md5", bad);
            })
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidDigest", "{bad:?}");
    }
    let parts = s3
        .list_parts()
        .bucket("bkt")
        .key("mp")
        .upload_id(mp.id())
        .send()
        .await
        .unwrap();
    assert!(parts.parts().is_empty(), "no part was staged");
    let wrong = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"other"));
    let err = s3
        .put_object()
        .bucket("bkt")
        .key("k")
        .content_md5(&wrong)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    assert!(!f.data().join("bkt/k").exists());
    mp.upload(ByteStream::from_static(b"part")).await;
}

/// The `x-amz-tagging-count` header of the raw response to `op` (GET or HEAD), read by an
/// interceptor because the SDK's HeadObjectOutput has no field for it.
#[derive(Debug, Clone, Default)]
struct TaggingCount(Arc<std::sync::Mutex<Option<Option<String>>>>);

impl aws_sdk_s3::config::Intercept for TaggingCount {
    fn name(&self) -> &'static str {
        "TaggingCount"
    }

    fn read_after_transmit(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let v = ctx.response().headers().get("x-amz-tagging-count");
        *self.0.lock().unwrap() = Some(v.map(str::to_owned));
        Ok(())
    }
}

impl TaggingCount {
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap().take().expect("a response was seen")
    }
}

/// "GET and HEAD of an object with tags answer `x-amz-tagging-count: N`; with none, no
/// header."
#[tokio::test(flavor = "multi_thread")]
async fn get_and_head_of_a_tagged_object_carry_x_amz_tagging_count() {
    let f = Fixture::start().await;
    let s3 = f.admin();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let seen = TaggingCount::default();
    for (key, tagging) in [("tagged", Some("a=1&b=2")), ("plain", None)] {
        s3.put_object()
            .bucket("bkt")
            .key(key)
            .set_tagging(tagging.map(str::to_owned))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let get = s3
        .get_object()
        .bucket("bkt")
        .key("tagged")
        .customize()
        .interceptor(seen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(get.tag_count(), Some(2));
    assert_eq!(seen.take().as_deref(), Some("2"));
    s3.head_object()
        .bucket("bkt")
        .key("tagged")
        .customize()
        .interceptor(seen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(seen.take().as_deref(), Some("2"));
    let get = s3
        .get_object()
        .bucket("bkt")
        .key("plain")
        .customize()
        .interceptor(seen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(get.tag_count(), None);
    assert_eq!(seen.take(), None);
    s3.head_object()
        .bucket("bkt")
        .key("plain")
        .customize()
        .interceptor(seen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(seen.take(), None);
}
