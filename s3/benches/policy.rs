//! Micro-benchmark of the policy engine: one request decided against a ~2 KB policy with
//! conditions (the per-request cost of authorization, without the user lookup), and the
//! parse of that policy (the cost of `weka s3 policy create`), and a resource wildcard
//! built to make a backtracking matcher blow up.
//!
//! Run: `cargo bench -p weka-s3 --bench policy`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;
use weka_s3::policy::{self, ops, Action, Policy, RequestContext};

/// Home folders (AWS's example) plus typical guard rails: network, TLS, time window,
/// tags, protected prefixes. Kept just under the 2048-byte default limit.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
{"Sid":"ListAll","Effect":"Allow","Action":["s3:ListAllMyBuckets","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::*"},
{"Sid":"ListRoot","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::corp","Condition":{"StringEquals":{"s3:prefix":["","home/","home/${aws:username}/"],"s3:delimiter":"/"}}},
{"Sid":"ListHome","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::corp","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"},"NumericLessThanEquals":{"s3:max-keys":"1000"}}},
{"Sid":"Home","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":"arn:aws:s3:::corp/home/${aws:username}/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16","2001:db8::/32"]},"DateLessThan":{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}},
{"Sid":"Shared","Effect":"Allow","Action":"s3:Get*","Resource":["arn:aws:s3:::corp/shared/*","arn:aws:s3:::public-*/*"],"Condition":{"StringEqualsIgnoreCase":{"s3:ExistingObjectTag/Classification":["public","internal"]}}},
{"Sid":"NoPlainHttp","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::corp/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
{"Sid":"NoOutside","Effect":"Deny","Action":["s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}},
{"Sid":"Protect","Effect":"Deny","Action":["s3:DeleteObject","s3:PutObject"],"Resource":["arn:aws:s3:::corp/home/*/.keep","arn:aws:s3:::corp/audit/*"]},
{"Sid":"NoBuckets","Effect":"Deny","NotAction":["s3:Get*","s3:List*","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload"],"NotResource":"arn:aws:s3:::corp/home/${aws:username}/*"}
]}"#;

fn context() -> RequestContext {
    let mut ctx = RequestContext::new(time::OffsetDateTime::now_utc());
    ctx.username = Some("alice".into());
    ctx.userid = Some("alice".into());
    ctx.source_ip = Some("10.20.30.40".parse().unwrap());
    ctx.secure = true;
    ctx
}

fn decide(policy: &Policy, op: &str, key: Option<&str>, ctx: &RequestContext) -> bool {
    let reqs = ops::requirements(weka_s3::op::Op::parse(op).unwrap(), "corp", key, None);
    policy::authorize_all(Some(policy), None, |_| None, false, &reqs, ctx).is_allowed()
}

fn bench(c: &mut Criterion) {
    assert!(
        POLICY.len() <= policy::DEFAULT_MAX_BYTES,
        "{} bytes",
        POLICY.len()
    );
    let policy = Policy::parse(POLICY, policy::DEFAULT_MAX_BYTES).unwrap();
    let ctx = context();
    let list = context().with_list_params(Some("home/alice/photos/"), None, Some(1000));
    assert!(decide(
        &policy,
        "GetObject",
        Some("home/alice/photos/2024/img.jpg"),
        &ctx
    ));
    assert!(decide(&policy, "ListObjectsV2", None, &list));
    assert!(!decide(
        &policy,
        "GetObject",
        Some("home/bob/secret.txt"),
        &ctx
    ));

    c.bench_function(
        "authorize GetObject allowed (2 KB policy, conditions)",
        |b| {
            b.iter(|| {
                decide(
                    &policy,
                    black_box("GetObject"),
                    Some(black_box("home/alice/photos/2024/img.jpg")),
                    &ctx,
                )
            })
        },
    );
    c.bench_function(
        "authorize GetObject denied (2 KB policy, conditions)",
        |b| {
            b.iter(|| {
                decide(
                    &policy,
                    black_box("GetObject"),
                    Some(black_box("home/bob/secret.txt")),
                    &ctx,
                )
            })
        },
    );
    c.bench_function(
        "authorize ListObjectsV2 with s3:prefix (2 KB policy)",
        |b| b.iter(|| decide(&policy, black_box("ListObjectsV2"), None, &list)),
    );
    c.bench_function("evaluate one action (no requirement building)", |b| {
        let arn = ops::object_arn("corp", "home/alice/photos/2024/img.jpg");
        b.iter(|| policy.evaluate(Action::GetObject, black_box(&arn), &ctx))
    });
    c.bench_function("parse and validate the 2 KB policy", |b| {
        b.iter(|| Policy::parse(black_box(POLICY), policy::DEFAULT_MAX_BYTES).unwrap())
    });
    pathological_wildcard(c, &ctx);
}

/// A resource pattern that makes a backtracking matcher exponential (`a*` forty times,
/// then `b`) against a 5000-character key that does not match it. The unit test in
/// `policy/glob.rs` bounds the matcher's work; this shows what it costs.
fn pathological_wildcard(c: &mut Criterion, ctx: &RequestContext) {
    let resource = format!("arn:aws:s3:::corp/{}b", "a*".repeat(40));
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{resource}"}}]}}"#
    );
    let policy = Policy::parse(&text, policy::DEFAULT_MAX_BYTES).unwrap();
    let arn = ops::object_arn("corp", &"a".repeat(5000));
    assert!(!policy.evaluate(Action::GetObject, &arn, ctx).allowed);
    c.bench_function(
        "evaluate a pathological wildcard (a* x40 b, 5000-char key)",
        |b| b.iter(|| policy.evaluate(Action::GetObject, black_box(&arn), ctx)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
