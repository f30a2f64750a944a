//! Cost of the IAM lookup the S3 door does on every request: `Iam::s3_identity`.
//!
//! The store holds 1024 S3 users (WEKA's limit) with policies attached, so the hash map
//! and the snapshot are at their largest.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weka_s3::iam::{Iam, IamOptions, NewUser, Role, SecretString};

fn populated(dir: &std::path::Path) -> Iam {
    let Ok(iam) = Iam::open(dir, IamOptions::default()) else {
        std::process::exit(1)
    };
    for i in 0..1024 {
        let user = NewUser {
            name: format!("user{i:04}"),
            role: Role::S3,
            password: SecretString::new(format!("Passw0rd{i}")),
            posix_uid: None,
            posix_gid: None,
            policy: Some("readwrite".into()),
        };
        if iam.add_user(user).is_err() {
            std::process::exit(1);
        }
    }
    iam
}

fn s3_identity(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let iam = populated(dir.path());
    c.bench_function("iam_s3_identity_hit", |b| {
        b.iter(|| black_box(iam.s3_identity(black_box("user0512"))))
    });
    c.bench_function("iam_s3_identity_miss", |b| {
        b.iter(|| black_box(iam.s3_identity(black_box("nosuchuser"))))
    });
}

criterion_group!(benches, s3_identity);
criterion_main!(benches);
