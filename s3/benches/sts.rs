//! Cost of checking a request signed with temporary credentials: `Sts::verify` (HS512 JWT
//! signature and claims, the parent looked up in the IAM snapshot, the session policy
//! parsed out of the token) plus `policy::authorize` over the parent's policy and the
//! session policy. Target: under 10 us per request.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weka_s3::iam::{Iam, IamOptions, NewUser, Role, SecretString};
use weka_s3::policy::{self, Action, RequestContext};
use weka_s3::sts::Sts;

const SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bench","arn:aws:s3:::bench/reports/*"]}]}"#;

fn setup(dir: &std::path::Path) -> Option<(Iam, Sts, String, String)> {
    let iam = Iam::open(dir, IamOptions::default()).ok()?;
    let user = NewUser {
        name: "bencher".into(),
        role: Role::S3,
        password: SecretString::new("Bench-Passw0rd"),
        posix_uid: None,
        posix_gid: None,
        policy: Some("readwrite".into()),
    };
    iam.add_user(user).ok()?;
    let sts = Sts::new(iam.server_key());
    let parent = iam.s3_identity("bencher")?;
    let creds = sts
        .assume_role(&parent, Some(SESSION_POLICY), 3600, 2048)
        .ok()?;
    Some((iam, sts, creds.access_key_id, creds.session_token))
}

fn verify_and_authorize(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let Some((iam, sts, ak, token)) = setup(dir.path()) else {
        eprintln!("sts bench: setup failed");
        return;
    };
    let ctx = RequestContext::new(time::OffsetDateTime::now_utc());
    let resource = "arn:aws:s3:::bench/reports/2026/11.csv";
    c.bench_function("sts_verify_token", |b| {
        b.iter(|| black_box(sts.verify(black_box(&token), &ak, &iam).is_ok()))
    });
    // First sight of a token: the full HS512 JWT check (no cache), then the session policy
    // parsed and validated.
    c.bench_function("sts_first_verification_jwt_and_session_policy", |b| {
        b.iter(|| {
            let Ok(claims) = sts.verify_claims(black_box(&token), &ak) else {
                return false;
            };
            claims
                .pol
                .as_deref()
                .is_some_and(|p| policy::Policy::parse(p, 2048).is_ok())
        })
    });
    c.bench_function("sts_verify_and_authorize_two_policies", |b| {
        b.iter(|| {
            let Ok(session) = sts.verify(black_box(&token), &ak, &iam) else {
                return false;
            };
            policy::authorize(
                session.identity_policy(),
                session.session_policy(),
                None,
                false,
                Action::GetObject,
                black_box(resource),
                &ctx,
            )
            .is_allowed()
        })
    });
}

criterion_group!(benches, verify_and_authorize);
criterion_main!(benches);
