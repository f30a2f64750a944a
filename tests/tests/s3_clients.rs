//! Real client tools against a real wekad: the AWS CLI (`aws s3 cp/sync`, `aws s3api`) and a
//! boto3 script, run as subprocesses with credentials in the environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use weka_e2e::Daemon;

/// Runs `aws` with the daemon's admin credentials and an isolated HOME.
fn aws(d: &Daemon, home: &Path, args: &[&str]) -> Output {
    let (ak, sk) = d.admin_keys();
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &d.s3_endpoint()])
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run aws");
    assert!(
        out.status.success(),
        "aws {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Every regular file below `root`, as (relative path, content), sorted.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn make_tree(root: &Path) {
    for (rel, len) in [
        ("a.txt", 10),
        ("sub/b.bin", 5000),
        ("sub/deeper/c", 1),
        ("sub/deeper/d e.txt", 300),
        ("z/y/x/w", 70000),
    ] {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    }
}

#[test]
fn the_aws_cli_copies_syncs_both_ways_tags_and_uploads_multipart() {
    let d = Daemon::start();
    let home = tempfile::tempdir().unwrap();
    aws(&d, home.path(), &["s3", "mb", "s3://cli-bucket"]);
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    aws(
        &d,
        home.path(),
        &[
            "s3",
            "sync",
            src.path().to_str().unwrap(),
            "s3://cli-bucket/tree/",
        ],
    );
    assert_eq!(
        tree(&d.mount().join("cli-bucket/tree")),
        tree(src.path()),
        "the mount sees the synced tree"
    );
    let back = tempfile::tempdir().unwrap();
    aws(
        &d,
        home.path(),
        &[
            "s3",
            "sync",
            "s3://cli-bucket/tree/",
            back.path().to_str().unwrap(),
        ],
    );
    assert_eq!(tree(back.path()), tree(src.path()));
    // A second sync has nothing to do.
    let again = aws(
        &d,
        home.path(),
        &[
            "s3",
            "sync",
            src.path().to_str().unwrap(),
            "s3://cli-bucket/tree/",
        ],
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Larger than the CLI's 8 MiB multipart threshold.
    let big = src.path().join("big.bin");
    std::fs::write(
        &big,
        (0..20 * 1024 * 1024)
            .map(|i: u32| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    aws(
        &d,
        home.path(),
        &["s3", "cp", big.to_str().unwrap(), "s3://cli-bucket/big.bin"],
    );
    assert_eq!(
        std::fs::read(d.mount().join("cli-bucket/big.bin")).unwrap(),
        std::fs::read(&big).unwrap()
    );
    let head = aws(
        &d,
        home.path(),
        &[
            "s3api",
            "head-object",
            "--bucket",
            "cli-bucket",
            "--key",
            "big.bin",
        ],
    );
    let head: serde_json::Value = serde_json::from_slice(&head.stdout).unwrap();
    assert!(
        head["ETag"].as_str().unwrap().contains('-'),
        "multipart ETag: {head}"
    );

    aws(
        &d,
        home.path(),
        &[
            "s3api",
            "put-object-tagging",
            "--bucket",
            "cli-bucket",
            "--key",
            "tree/a.txt",
            "--tagging",
            "TagSet=[{Key=team,Value=blue}]",
        ],
    );
    let tags = aws(
        &d,
        home.path(),
        &[
            "s3api",
            "get-object-tagging",
            "--bucket",
            "cli-bucket",
            "--key",
            "tree/a.txt",
        ],
    );
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["TagSet"][0]["Value"], "blue");

    aws(
        &d,
        home.path(),
        &["s3", "rm", "--recursive", "s3://cli-bucket/"],
    );
    aws(&d, home.path(), &["s3", "rb", "s3://cli-bucket"]);
    assert!(!d.mount().join("cli-bucket").exists());
}

const BOTO3_SCRIPT: &str = r#"
import hashlib, os, sys, urllib.request
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3.create_bucket(Bucket="boto-bucket")
body = b"hello from boto3" * 1000
r = s3.put_object(Bucket="boto-bucket", Key="dir/obj.txt", Body=body, ContentType="text/plain",
                  Metadata={"k": "v"}, ChecksumAlgorithm="SHA256")
assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), r["ETag"]
g = s3.get_object(Bucket="boto-bucket", Key="dir/obj.txt", ChecksumMode="ENABLED")
assert g["Body"].read() == body
assert g["Metadata"] == {"k": "v"}, g["Metadata"]
assert g["ContentType"] == "text/plain"
for i in range(25):
    s3.put_object(Bucket="boto-bucket", Key="many/%03d" % i, Body=b"x")
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="boto-bucket", Prefix="many/", PaginationConfig={"PageSize": 7})
keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
assert keys == ["many/%03d" % i for i in range(25)], keys
path = os.path.join(os.environ["WORK"], "up.bin")
with open(path, "wb") as f:
    f.write(os.urandom(12 * 1024 * 1024))
s3.upload_file(path, "boto-bucket", "multi.bin", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
h = s3.head_object(Bucket="boto-bucket", Key="multi.bin")
assert h["ETag"].endswith('-3"'), h["ETag"]
url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "dir/obj.txt"}, ExpiresIn=300)
assert urllib.request.urlopen(url).read() == body
s3.delete_objects(Bucket="boto-bucket", Delete={"Objects": [{"Key": "many/%03d" % i} for i in range(25)], "Quiet": True})
assert "Contents" not in s3.list_objects_v2(Bucket="boto-bucket", Prefix="many/")
v = s3.list_object_versions(Bucket="boto-bucket")
assert all(x["VersionId"] == "null" for x in v.get("Versions", []))
assert s3.get_bucket_versioning(Bucket="boto-bucket").get("Status") is None
print("OK")
"#;

#[test]
fn a_boto3_script_round_trips_pages_uploads_multipart_and_presigns() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args(["-c", BOTO3_SCRIPT])
        .env("HOME", work.path())
        .env("WORK", work.path())
        .env("ENDPOINT", d.s3_endpoint())
        .env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    assert_eq!(
        std::fs::read(d.mount().join("boto-bucket/multi.bin")).unwrap(),
        std::fs::read(work.path().join("up.bin")).unwrap()
    );
}

/// Runs `rclone` against the daemon with an S3 remote named `w` defined in the environment.
fn rclone(d: &Daemon, args: &[&str]) -> Output {
    let (ak, sk) = d.admin_keys();
    let out = Command::new("rclone")
        .args(args)
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_W_TYPE", "s3")
        .env("RCLONE_CONFIG_W_PROVIDER", "Other")
        .env("RCLONE_CONFIG_W_ENDPOINT", d.s3_endpoint())
        .env("RCLONE_CONFIG_W_ACCESS_KEY_ID", ak)
        .env("RCLONE_CONFIG_W_SECRET_ACCESS_KEY", sk)
        .env("RCLONE_CONFIG_W_REGION", "us-east-1")
        .env("RCLONE_CONFIG_W_FORCE_PATH_STYLE", "true")
        // rclone's S3 backend refuses a custom CA bundle with its own transport; the
        // endpoint is plain http on 127.0.0.1, so no bundle is needed.
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("run rclone (apt-get install -y rclone)");
    assert!(
        out.status.success(),
        "rclone {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

#[test]
fn rclone_sync_lands_on_the_mount_byte_for_byte_and_rclone_check_agrees() {
    let d = Daemon::start();
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let src_path = src.path().to_str().unwrap();
    rclone(&d, &["mkdir", "w:rclone-bucket"]);
    rclone(&d, &["sync", src_path, "w:rclone-bucket"]);
    // The mount's copy is the same tree, and rclone itself finds nothing different
    // between the source, the bucket over S3 and the bucket's directory on the mount.
    let on_mount = d.mount().join("rclone-bucket");
    assert_eq!(tree(&on_mount), tree(src.path()));
    rclone(&d, &["check", src_path, "w:rclone-bucket"]);
    rclone(
        &d,
        &["check", on_mount.to_str().unwrap(), "w:rclone-bucket"],
    );
    // A change through the mount is what the next sync compares against.
    std::fs::write(on_mount.join("a.txt"), b"changed on the mount").unwrap();
    let diff = Command::new("rclone")
        .args(["check", src_path, on_mount.to_str().unwrap()])
        .env("RCLONE_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(
        !diff.status.success(),
        "rclone check must see the mount-side change"
    );
    rclone(&d, &["sync", src_path, "w:rclone-bucket"]);
    assert_eq!(tree(&on_mount), tree(src.path()));
}
