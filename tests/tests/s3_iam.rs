//! IAM enforcement over S3 with users and policies made by the real `weka` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_s3::primitives::ByteStream;
use weka_e2e::error_code as code;
use weka_e2e::Daemon;

const PASSWORD: &str = "Passw0rd!x";

fn weka_ok(d: &Daemon, args: &[&str]) {
    let out = d.weka(args);
    assert!(
        out.status.success(),
        "weka {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_user(d: &Daemon, name: &str, policy: Option<&str>) -> aws_sdk_s3::Client {
    weka_ok(
        d,
        &[
            "user",
            "add",
            name,
            "s3",
            PASSWORD,
            "--posix-uid",
            "4242",
            "--posix-gid",
            "4343",
        ],
    );
    if let Some(p) = policy {
        weka_ok(d, &["s3", "policy", "attach", p, name]);
    }
    d.s3_client(name, PASSWORD)
}

async fn setup(d: &Daemon) {
    let admin = d.admin_s3();
    admin.create_bucket().bucket("iam-b").send().await.unwrap();
    admin
        .put_object()
        .bucket("iam-b")
        .key("obj")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_decide_what_each_user_may_do() {
    let d = Daemon::start();
    setup(&d).await;

    let nopol = add_user(&d, "nopol", None);
    assert_eq!(code(nopol.list_buckets().send().await), "AccessDenied");
    assert_eq!(
        code(nopol.get_object().bucket("iam-b").key("obj").send().await),
        "AccessDenied"
    );

    let reader = add_user(&d, "reader", Some("readonly"));
    reader
        .get_object()
        .bucket("iam-b")
        .key("obj")
        .send()
        .await
        .unwrap();
    reader
        .get_bucket_location()
        .bucket("iam-b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(reader.list_objects_v2().bucket("iam-b").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(
            reader
                .put_object()
                .bucket("iam-b")
                .key("n")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessDenied"
    );

    let writer = add_user(&d, "writer", Some("writeonly"));
    writer
        .put_object()
        .bucket("iam-b")
        .key("w")
        .body(ByteStream::from_static(b"w"))
        .send()
        .await
        .unwrap();
    let meta = std::fs::metadata(d.data().join("iam-b/w")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        4242,
        "objects are owned by the user's posix uid"
    );
    assert_eq!(
        code(writer.get_object().bucket("iam-b").key("w").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(writer.list_objects_v2().bucket("iam-b").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(writer.delete_object().bucket("iam-b").key("w").send().await),
        "AccessDenied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_home_folder_policy_confines_listing_and_writes_to_the_users_prefix() {
    let d = Daemon::start();
    setup(&d).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::iam-b"],"Condition":{"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}},
{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::iam-b/home/${aws:username}/*"]}]}"#;
    let file = d.root().join("home.json");
    std::fs::write(&file, policy).unwrap();
    weka_ok(
        &d,
        &["s3", "policy", "create", "home", file.to_str().unwrap()],
    );
    let bob = add_user(&d, "bob", Some("home"));
    bob.put_object()
        .bucket("iam-b")
        .key("home/bob/f")
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let l = bob
        .list_objects_v2()
        .bucket("iam-b")
        .prefix("home/bob/")
        .send()
        .await
        .unwrap();
    assert_eq!(l.contents().len(), 1);
    assert_eq!(
        code(bob.list_objects_v2().bucket("iam-b").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(
            bob.list_objects_v2()
                .bucket("iam-b")
                .prefix("home/alice/")
                .send()
                .await
        ),
        "AccessDenied"
    );
    assert_eq!(
        code(
            bob.put_object()
                .bucket("iam-b")
                .key("home/alice/f")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessDenied"
    );
    assert_eq!(
        code(
            bob.put_object()
                .bucket("iam-b")
                .key("top")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessDenied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_unsigned_requests_get_the_right_codes() {
    let d = Daemon::start();
    setup(&d).await;
    let (ak, _) = d.admin_keys();
    assert_eq!(
        code(
            d.s3_client(&ak, "WrongSecret99")
                .list_buckets()
                .send()
                .await
        ),
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        code(
            d.s3_client("nosuchuser", PASSWORD)
                .list_buckets()
                .send()
                .await
        ),
        "InvalidAccessKeyId"
    );
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("{}/iam-b/obj", d.s3_endpoint())])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("AccessDenied"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_needs_read_on_the_source_and_write_on_the_target() {
    let d = Daemon::start();
    setup(&d).await;
    let admin = d.admin_s3();
    admin
        .create_bucket()
        .bucket("iam-dst")
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::iam-dst/*"]}]}"#;
    let file = d.root().join("put-dst.json");
    std::fs::write(&file, policy).unwrap();
    weka_ok(
        &d,
        &["s3", "policy", "create", "putdst", file.to_str().unwrap()],
    );
    let copier = add_user(&d, "copier", Some("putdst"));
    assert_eq!(
        code(
            copier
                .copy_object()
                .bucket("iam-dst")
                .key("c")
                .copy_source("iam-b/obj")
                .send()
                .await
        ),
        "AccessDenied"
    );
    let both = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::iam-dst/*"]},{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::iam-b/*"]}]}"#;
    std::fs::write(&file, both).unwrap();
    weka_ok(
        &d,
        &["s3", "policy", "create", "copyok", file.to_str().unwrap()],
    );
    weka_ok(&d, &["s3", "policy", "attach", "copyok", "copier"]);
    copier
        .copy_object()
        .bucket("iam-dst")
        .key("c")
        .copy_source("iam-b/obj")
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(d.data().join("iam-dst/c")).unwrap(), b"data");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_reports_denied_keys_one_by_one() {
    let d = Daemon::start();
    setup(&d).await;
    let admin = d.admin_s3();
    admin
        .put_object()
        .bucket("iam-b")
        .key("mine/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::iam-b/mine/*"]}]}"#;
    let file = d.root().join("del.json");
    std::fs::write(&file, policy).unwrap();
    weka_ok(
        &d,
        &["s3", "policy", "create", "delmine", file.to_str().unwrap()],
    );
    let u = add_user(&d, "deleter", Some("delmine"));
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("mine/x").build().unwrap())
        .objects(ObjectIdentifier::builder().key("obj").build().unwrap())
        .build()
        .unwrap();
    let out = u
        .delete_objects()
        .bucket("iam-b")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 1);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("obj"));
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert!(d.data().join("iam-b/obj").exists());
    assert!(!d.data().join("iam-b/mine").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_bucket_policy_lets_anonymous_clients_read() {
    let d = Daemon::start();
    setup(&d).await;
    weka_ok(&d, &["s3", "bucket", "policy", "set", "iam-b", "download"]);
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("{}/iam-b/obj", d.s3_endpoint())])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"data");
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "PUT",
            "--data",
            "x",
            &format!("{}/iam-b/anon", d.s3_endpoint()),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("AccessDenied"));
}
