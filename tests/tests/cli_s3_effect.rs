//! What `weka` changes takes effect on the S3 door at once, with no window: once a command
//! returns, the next signed request sees the new password, policy, role or deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_s3::primitives::ByteStream;
use weka_e2e::Daemon;

fn weka_ok(d: &Daemon, args: &[&str]) {
    let out = d.weka(args);
    assert!(
        out.status.success(),
        "weka {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The S3 error code of GetObject with `client` ("ok" on success).
async fn get_code(client: &aws_sdk_s3::Client) -> String {
    match client.get_object().bucket("effect").key("k").send().await {
        Ok(_) => "ok".into(),
        Err(aws_sdk_s3::error::SdkError::ServiceError(s)) => {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            s.err().code().unwrap_or("?").to_owned()
        }
        Err(other) => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_policy_role_and_deletion_changes_apply_to_the_next_s3_request() {
    let d = Daemon::start();
    let admin = d.admin_s3();
    admin.create_bucket().bucket("effect").send().await.unwrap();
    admin
        .put_object()
        .bucket("effect")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();

    weka_ok(&d, &["user", "add", "frank", "s3", "Passw0rd!"]);
    let old = d.s3_client("frank", "Passw0rd!");
    assert_eq!(
        get_code(&old).await,
        "AccessDenied",
        "a new S3 user can do nothing"
    );
    weka_ok(&d, &["s3", "policy", "attach", "readonly", "frank"]);
    assert_eq!(get_code(&old).await, "ok");

    weka_ok(
        &d,
        &["user", "passwd", "N3wPassw0rd", "--username", "frank"],
    );
    assert_ne!(
        get_code(&old).await,
        "ok",
        "the old secret stops working at once"
    );
    let new = d.s3_client("frank", "N3wPassw0rd");
    assert_eq!(get_code(&new).await, "ok");

    weka_ok(&d, &["s3", "policy", "detach", "frank"]);
    assert_eq!(get_code(&new).await, "AccessDenied");
    weka_ok(&d, &["s3", "policy", "attach", "readwrite", "frank"]);
    assert_eq!(get_code(&new).await, "ok");

    weka_ok(&d, &["user", "change-role", "frank", "regular"]);
    assert_eq!(
        get_code(&new).await,
        "InvalidAccessKeyId",
        "only role s3 may use S3"
    );
    weka_ok(&d, &["user", "change-role", "frank", "s3"]);
    weka_ok(
        &d,
        &["user", "passwd", "Th1rdPassword", "--username", "frank"],
    );
    weka_ok(&d, &["s3", "policy", "attach", "readonly", "frank"]);
    let third = d.s3_client("frank", "Th1rdPassword");
    assert_eq!(get_code(&third).await, "ok");

    weka_ok(&d, &["user", "delete", "frank"]);
    assert_eq!(get_code(&third).await, "InvalidAccessKeyId");
}
