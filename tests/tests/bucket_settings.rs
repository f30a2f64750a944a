//! A bucket's settings belong to the bucket: deleting it from any door drops them, and a
//! bucket created again under the same name, from any door, starts with none. A real wekad,
//! a real FUSE mount, the real `weka` CLI, aws-sdk-s3 as the admin and raw unsigned HTTP as
//! the anonymous client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_s3::primitives::ByteStream;
use weka_e2e::Daemon;

fn weka_ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.weka(args);
    assert!(
        out.status.success(),
        "weka {args:?}: {}\n--- wekad ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.stderr()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `policy` column of `weka s3 bucket list` for `bucket`.
fn listed_policy(d: &Daemon, bucket: &str) -> String {
    let list: serde_json::Value =
        serde_json::from_str(&weka_ok(d, &["s3", "bucket", "list", "-J"])).unwrap();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == bucket)
        .unwrap_or_else(|| panic!("{bucket} is not listed: {list}"));
    row["policy"].as_str().unwrap().to_owned()
}

/// `weka s3 bucket create <bucket> --policy public`, checked to let anonymous clients in.
fn public_bucket(d: &Daemon, bucket: &str) {
    weka_ok(d, &["s3", "bucket", "create", bucket, "--policy", "public"]);
    assert_eq!(listed_policy(d, bucket), "public");
    let addr = d.s3_addr();
    let (status, body) = weka_e2e::http(&addr, "PUT", &format!("/{bucket}/anon"), b"hello");
    assert_eq!(status, 200, "anonymous PUT on a public bucket: {body}");
    let (status, body) = weka_e2e::http(&addr, "GET", &format!("/{bucket}/anon"), b"");
    assert_eq!((status, body.as_str()), (200, "hello"));
    let (status, body) = weka_e2e::http(&addr, "DELETE", &format!("/{bucket}/anon"), b"");
    assert_eq!(status, 204, "anonymous DELETE on a public bucket: {body}");
    assert!(xattr(&d.data().join(bucket), ID_XATTR).is_some());
    assert_eq!(
        xattr(&d.mount().join(bucket), ID_XATTR),
        None,
        "hidden from the mount"
    );
}

/// The private xattr that ties a bucket's settings to its directory.
const ID_XATTR: &str = "user.wekad.bucket-id";

/// The value of the xattr `name` of `path`, `None` when absent (ENODATA).
fn xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cpath = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let cname = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and `buf` is valid for its length.
    let n = unsafe {
        libc::getxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ENODATA),
            "getxattr {path:?}: {err}"
        );
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// The admin puts `obj` into `bucket`, so an anonymous GET has something to be refused.
async fn admin_puts_an_object(d: &Daemon, bucket: &str) {
    d.admin_s3()
        .put_object()
        .bucket(bucket)
        .key("obj")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
}

/// Anonymous GET, PUT and DELETE on `bucket` are all 403 AccessDenied and change nothing.
fn anonymous_clients_are_refused(d: &Daemon, bucket: &str) {
    let addr = d.s3_addr();
    for (method, key, body) in [
        ("GET", "obj", &b""[..]),
        ("PUT", "anon", &b"sneaky"[..]),
        ("DELETE", "obj", &b""[..]),
    ] {
        let (status, answer) = weka_e2e::http(&addr, method, &format!("/{bucket}/{key}"), body);
        assert_eq!(status, 403, "anonymous {method} /{bucket}/{key}: {answer}");
        assert!(answer.contains("AccessDenied"), "{method}: {answer}");
    }
    assert!(d.data().join(bucket).join("obj").exists());
    assert!(!d.data().join(bucket).join("anon").exists());
    assert_eq!(listed_policy(d, bucket), "none");
}

/// SEMANTICS.md: "after `weka s3 bucket create b --policy public`, `DeleteBucket b` and
/// `CreateBucket b`, an anonymous GET, PUT or DELETE in `b` is 403 `AccessDenied` and
/// `weka s3 bucket list` shows policy `none`."
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_deleted_and_created_again_over_s3_is_not_anonymously_accessible() {
    let d = Daemon::start();
    public_bucket(&d, "reborn");
    let admin = d.admin_s3();
    admin.delete_bucket().bucket("reborn").send().await.unwrap();
    admin.create_bucket().bucket("reborn").send().await.unwrap();
    admin_puts_an_object(&d, "reborn").await;
    anonymous_clients_are_refused(&d, "reborn");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_removed_and_made_again_on_the_mount_is_not_anonymously_accessible() {
    let d = Daemon::start();
    public_bucket(&d, "remade");
    std::fs::remove_dir(d.mount().join("remade")).unwrap();
    std::fs::create_dir(d.mount().join("remade")).unwrap();
    admin_puts_an_object(&d, "remade").await;
    anonymous_clients_are_refused(&d, "remade");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_destroyed_with_the_cli_and_created_again_is_not_anonymously_accessible() {
    let d = Daemon::start();
    public_bucket(&d, "again");
    weka_ok(&d, &["s3", "bucket", "destroy", "again", "--force"]);
    weka_ok(&d, &["s3", "bucket", "create", "again"]);
    admin_puts_an_object(&d, "again").await;
    anonymous_clients_are_refused(&d, "again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_replaced_while_the_daemon_was_stopped_starts_without_settings() {
    let mut d = Daemon::start();
    public_bucket(&d, "offline");
    public_bucket(&d, "steady");
    d.kill9();
    std::fs::remove_dir(d.data().join("offline")).unwrap();
    std::fs::create_dir(d.data().join("offline")).unwrap();
    d.restart();
    assert!(
        d.stderr().contains("bucket settings dropped"),
        "{}",
        d.stderr()
    );
    admin_puts_an_object(&d, "offline").await;
    anonymous_clients_are_refused(&d, "offline");
    assert_eq!(
        listed_policy(&d, "steady"),
        "public",
        "an untouched bucket keeps its settings"
    );
}
