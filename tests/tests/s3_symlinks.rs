//! Symlinks made on the mount never reach over S3 what a policy denies (issue 12, item 5).
//! A real wekad, a real FUSE mount, a user and a policy made by the real `weka` CLI, and the
//! real aws-sdk-s3 client. docs/SEMANTICS.md, "Symlinks and hard links".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_s3::primitives::ByteStream;
use weka_e2e::error_code as code;
use weka_e2e::Daemon;

const PASSWORD: &str = "Passw0rd!x";
const DENIED: &[u8] = b"bytes the policy denies";

/// Allow everything on `bkt`, but explicitly Deny reading anything under `bkt/sub/`.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]},
{"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bkt/sub/*"]}]}"#;

fn weka_ok(d: &Daemon, args: &[&str]) {
    let out = d.weka(args);
    assert!(
        out.status.success(),
        "weka {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The user `mallory` with `POLICY` attached.
fn denied_user(d: &Daemon) -> aws_sdk_s3::Client {
    let file = d.root().join("deny-sub.json");
    std::fs::write(&file, POLICY).unwrap();
    weka_ok(
        d,
        &["s3", "policy", "create", "deny-sub", file.to_str().unwrap()],
    );
    weka_ok(d, &["user", "add", "mallory", "s3", PASSWORD]);
    weka_ok(d, &["s3", "policy", "attach", "deny-sub", "mallory"]);
    d.s3_client("mallory", PASSWORD)
}

async fn get_code(s3: &aws_sdk_s3::Client, key: &str) -> String {
    code(s3.get_object().bucket("bkt").key(key).send().await)
}

async fn list(s3: &aws_sdk_s3::Client, delimiter: Option<&str>) -> (Vec<String>, Vec<String>) {
    let out = s3
        .list_objects_v2()
        .bucket("bkt")
        .set_delimiter(delimiter.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let keys = out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_owned);
    let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix());
    (keys.collect(), prefixes.map(str::to_owned).collect())
}

/// docs/SEMANTICS.md: "A symlink is not an object, and a key whose path goes through one is
/// absent."
#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_made_on_the_mount_never_bypasses_an_explicit_deny() {
    let d = Daemon::start();
    let admin = d.admin_s3();
    admin.create_bucket().bucket("bkt").send().await.unwrap();
    admin
        .put_object()
        .bucket("bkt")
        .key("sub/x")
        .body(ByteStream::from_static(DENIED))
        .send()
        .await
        .unwrap();
    let mallory = denied_user(&d);
    assert_eq!(get_code(&mallory, "sub/x").await, "AccessDenied");

    let bkt = d.mount().join("bkt");
    std::os::unix::fs::symlink("sub/x", bkt.join("link")).unwrap();
    std::os::unix::fs::symlink("sub", bkt.join("dirlink")).unwrap();
    // On the mount the links work as on any filesystem.
    assert_eq!(std::fs::read(bkt.join("link")).unwrap(), DENIED);
    assert_eq!(std::fs::read(bkt.join("dirlink/x")).unwrap(), DENIED);

    for key in ["link", "dirlink/x"] {
        assert_eq!(get_code(&mallory, key).await, "NoSuchKey", "GET {key}");
        let head = mallory.head_object().bucket("bkt").key(key).send().await;
        assert_eq!(code(head), "NotFound", "HEAD {key}");
        let copy = mallory
            .copy_object()
            .bucket("bkt")
            .key("copied")
            .copy_source(format!("bkt/{key}"))
            .send()
            .await;
        assert_eq!(code(copy), "NoSuchKey", "COPY {key}");
        // Not the policy's doing: nobody reads through a symlink, the admin neither.
        assert_eq!(get_code(&admin, key).await, "NoSuchKey", "admin GET {key}");
    }
    assert_eq!(get_code(&mallory, "copied").await, "NoSuchKey");
    assert_eq!(list(&mallory, None).await, (vec!["sub/x".into()], vec![]));
    assert_eq!(
        list(&mallory, Some("/")).await,
        (vec![], vec!["sub/".into()])
    );

    // Writes neither replace a link nor go through one; deletes leave them in place.
    let put = mallory
        .put_object()
        .bucket("bkt")
        .key("dirlink/x")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    assert_eq!(code(put), "ObjectConflict");
    for key in ["link", "dirlink/x"] {
        mallory
            .delete_object()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    assert!(std::fs::symlink_metadata(bkt.join("link"))
        .unwrap()
        .is_symlink());
    assert_eq!(std::fs::read(bkt.join("sub/x")).unwrap(), DENIED);
}
