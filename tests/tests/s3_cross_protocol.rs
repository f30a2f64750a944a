//! One namespace, two doors: what one door writes the other sees at once, with no sleep.
//! A real wekad, a real FUSE mount, the real aws-sdk-s3 client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;

use aws_sdk_s3::primitives::ByteStream;
use md5::{Digest, Md5};
use weka_e2e::Daemon;

fn md5_quoted(b: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(b)))
}

async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_delimiter(delimiter.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let k = out
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    let p = out
        .common_prefixes()
        .iter()
        .map(|c| c.prefix().unwrap().to_owned())
        .collect();
    (k, p)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_the_mount_is_served_over_s3_with_its_md5_etag() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    let path = d.mount().join("xpr/dir/file.bin");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"first version").unwrap();
    let got = s3
        .get_object()
        .bucket("xpr")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag().unwrap(), md5_quoted(b"first version"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"first version"
    );
    // Overwrite in place through the mount: the stored ETag must not be served stale.
    std::fs::write(&path, b"second, longer version").unwrap();
    let head = s3
        .head_object()
        .bucket("xpr")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap(), md5_quoted(b"second, longer version"));
    let got = s3
        .get_object()
        .bucket("xpr")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"second, longer version"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_is_visible_to_stat_cat_and_ls_on_the_mount_at_once() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    assert!(
        d.mount().join("xpr").is_dir(),
        "a new bucket is a directory on the mount"
    );
    s3.put_object()
        .bucket("xpr")
        .key("a/b.txt")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(d.mount().join("xpr/a/b.txt")).unwrap(), b"v1");
    s3.put_object()
        .bucket("xpr")
        .key("a/b.txt")
        .body(ByteStream::from_static(b"version 2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(d.mount().join("xpr/a/b.txt"))
            .unwrap()
            .len(),
        9
    );
    assert_eq!(
        std::fs::read(d.mount().join("xpr/a/b.txt")).unwrap(),
        b"version 2"
    );
    // An object is an ordinary file (0644) in a 0755 directory, not a private temp file.
    let mode = |p: &str| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(d.mount().join(p)).unwrap().permissions(),
        ) & 0o7777
    };
    assert_eq!(mode("xpr/a/b.txt"), 0o644);
    assert_eq!(mode("xpr/a"), 0o755);
    s3.put_object()
        .bucket("xpr")
        .key("a/c.txt")
        .body(ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = std::fs::read_dir(d.mount().join("xpr/a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["b.txt", "c.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_over_a_file_a_mount_reader_holds_open_keeps_the_old_bytes_for_that_reader() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    s3.put_object()
        .bucket("xpr")
        .key("held")
        .body(ByteStream::from_static(b"old content"))
        .send()
        .await
        .unwrap();
    let mut held = std::fs::File::open(d.mount().join("xpr/held")).unwrap();
    s3.put_object()
        .bucket("xpr")
        .key("held")
        .body(ByteStream::from_static(b"new content!"))
        .send()
        .await
        .unwrap();
    let mut old = String::new();
    held.read_to_string(&mut old).unwrap();
    assert_eq!(
        old, "old content",
        "an open descriptor keeps the inode it opened"
    );
    assert_eq!(
        std::fs::read(d.mount().join("xpr/held")).unwrap(),
        b"new content!"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_makes_lookup_fail_on_the_mount_and_removes_implicit_parents() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    s3.put_object()
        .bucket("xpr")
        .key("p/q/r")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert!(d.mount().join("xpr/p/q/r").exists());
    s3.delete_object()
        .bucket("xpr")
        .key("p/q/r")
        .send()
        .await
        .unwrap();
    assert!(!d.mount().join("xpr/p/q/r").exists());
    assert!(
        !d.mount().join("xpr/p").exists(),
        "implicit parents go with the last object"
    );
    assert!(d.mount().join("xpr").is_dir(), "the bucket stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_on_the_mount_shows_in_the_next_listing() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    s3.put_object()
        .bucket("xpr")
        .key("from/one")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    assert_eq!(keys(&s3, "xpr", "", None).await.0, vec!["from/one"]);
    std::fs::rename(d.mount().join("xpr/from"), d.mount().join("xpr/to")).unwrap();
    assert_eq!(keys(&s3, "xpr", "", None).await.0, vec!["to/one"]);
    std::fs::rename(d.mount().join("xpr/to/one"), d.mount().join("xpr/to/two")).unwrap();
    assert_eq!(keys(&s3, "xpr", "", None).await.0, vec!["to/two"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mkdir_and_rmdir_on_the_mount_change_the_prefixes_of_a_listing() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    std::fs::create_dir(d.mount().join("xpr/newdir")).unwrap();
    std::fs::write(d.mount().join("xpr/newdir/f"), b"f").unwrap();
    let (k, p) = keys(&s3, "xpr", "", Some("/")).await;
    assert!(k.is_empty());
    assert_eq!(p, vec!["newdir/"]);
    std::fs::remove_file(d.mount().join("xpr/newdir/f")).unwrap();
    std::fs::remove_dir(d.mount().join("xpr/newdir")).unwrap();
    let (k, p) = keys(&s3, "xpr", "", Some("/")).await;
    assert!(k.is_empty() && p.is_empty(), "{k:?} {p:?}");
    // An empty directory made through the mount is not an object.
    std::fs::create_dir(d.mount().join("xpr/empty")).unwrap();
    assert!(keys(&s3, "xpr", "", None).await.0.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_internal_area_is_never_reachable_over_s3() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().iter().all(|b| b.name() != Some(".wekad")));
    assert!(s3.create_bucket().bucket(".wekad").send().await.is_err());
    assert!(s3.list_objects_v2().bucket(".wekad").send().await.is_err());
}

/// docs/SEMANTICS.md, "Symlinks and hard links": "The S3 door never follows a symlink."
#[tokio::test(flavor = "multi_thread")]
async fn no_symlink_is_followed_inside_or_out_of_the_bucket() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    s3.create_bucket().bucket("xpr").send().await.unwrap();
    s3.create_bucket().bucket("other").send().await.unwrap();
    std::fs::write(d.data().join("other/secret"), b"secret").unwrap();
    std::fs::write(d.data().join("xpr/target"), b"inside").unwrap();
    std::os::unix::fs::symlink("../other/secret", d.data().join("xpr/escape")).unwrap();
    std::os::unix::fs::symlink("target", d.data().join("xpr/inside")).unwrap();
    for key in ["escape", "inside"] {
        let err = s3
            .get_object()
            .bucket("xpr")
            .key(key)
            .send()
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains("NoSuchKey"), "{key}: {err:?}");
    }
    assert_eq!(keys(&s3, "xpr", "", None).await.0, vec!["target"]);
}

/// The mount caches "no such name" (for 30 s): every name S3 creates, implicit parent
/// directories and buckets included, must replace that cached answer before S3 replies.
#[tokio::test]
async fn names_looked_up_before_s3_creates_them_appear_at_once() {
    let d = Daemon::start();
    let s3 = d.admin_s3();
    let m = |p: &str| d.mount().join(p);
    let absent = |p: &str| {
        // Twice: the second answer may come from the kernel's negative cache.
        for _ in 0..2 {
            let err = std::fs::metadata(m(p)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{p}");
        }
    };
    absent("neg");
    s3.create_bucket().bucket("neg").send().await.unwrap();
    assert!(m("neg").is_dir());
    for p in [
        "neg/a",
        "neg/a/b",
        "neg/a/b/put.txt",
        "neg/copy.txt",
        "neg/mpu.bin",
    ] {
        absent(p);
    }
    s3.put_object()
        .bucket("neg")
        .key("a/b/put.txt")
        .body(ByteStream::from_static(b"put"))
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(m("neg/a/b/put.txt")).unwrap(), b"put");
    s3.copy_object()
        .bucket("neg")
        .key("copy.txt")
        .copy_source("neg/a/b/put.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(m("neg/copy.txt")).unwrap(), b"put");
    let up = s3
        .create_multipart_upload()
        .bucket("neg")
        .key("mpu.bin")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("neg")
        .key("mpu.bin")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .unwrap();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    s3.complete_multipart_upload()
        .bucket("neg")
        .key("mpu.bin")
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(m("neg/mpu.bin")).unwrap(), b"one part");
    // Deleted over S3 (implicit parents go with it), then made again.
    s3.delete_object()
        .bucket("neg")
        .key("a/b/put.txt")
        .send()
        .await
        .unwrap();
    absent("neg/a");
    s3.put_object()
        .bucket("neg")
        .key("a/b/put.txt")
        .body(ByteStream::from_static(b"again"))
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(m("neg/a/b/put.txt")).unwrap(), b"again");
}
