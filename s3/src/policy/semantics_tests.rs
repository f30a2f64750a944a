//! Tests quoting docs/SEMANTICS.md, "Policy evaluation". A change of behaviour changes
//! the document and these tests together.

use super::*;

fn user(name: &str) -> RequestContext {
    let mut ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
    ctx.username = Some(name.to_string());
    ctx
}

fn parse(text: &str) -> Policy {
    Policy::parse(text, DEFAULT_MAX_BYTES).unwrap()
}

fn req(action: Action, arn: &str, bucket: &str) -> Requirement {
    Requirement {
        action,
        resource_arn: arn.into(),
        bucket: Some(bucket.into()),
    }
}

/// "`CopyObject` from `src/a` to `dst/b` needs `s3:GetObject` on `arn:aws:s3:::src/a` and
/// `s3:PutObject` on `arn:aws:s3:::dst/b`; `DeleteObjects` needs `s3:DeleteObject` on each
/// key; `ListObjectsV2` needs `s3:ListBucket` on `arn:aws:s3:::bucket` with `s3:prefix`
/// (`""` when the request has no prefix). [...] `GetBucketVersioning` needs
/// `s3:GetBucketLocation`, `ListObjectVersions` needs `s3:ListBucket`. An unknown operation
/// is denied."
#[test]
fn requests_become_requirements() {
    assert_eq!(
        ops::requirements_named("CopyObject", "dst", Some("b"), Some(("src", "a"))),
        [
            req(Action::GetObject, "arn:aws:s3:::src/a", "src"),
            req(Action::PutObject, "arn:aws:s3:::dst/b", "dst")
        ]
    );
    assert_eq!(
        ops::requirements_named("DeleteObjects", "b", Some("k"), None),
        [req(Action::DeleteObject, "arn:aws:s3:::b/k", "b")]
    );
    assert_eq!(
        ops::requirements_named("ListObjectsV2", "bucket", None, None),
        [req(Action::ListBucket, "arn:aws:s3:::bucket", "bucket")]
    );
    let ctx = user("a").with_list_params(None, None, None);
    assert_eq!(ctx.values.get("s3:prefix"), Some(&vec![String::new()]));
    assert_eq!(
        ops::requirements_named("GetBucketVersioning", "b", None, None)[0].action,
        Action::GetBucketLocation
    );
    assert_eq!(
        ops::requirements_named("ListObjectVersions", "b", None, None)[0].action,
        Action::ListBucket
    );
    let all = parse(builtin::READWRITE);
    assert!(!authorize_all(
        Some(&all),
        None,
        |_| None,
        false,
        &ops::requirements_named("Nope", "b", None, None),
        &user("a")
    )
    .is_allowed());
}

/// "Default deny: a user without a policy can do nothing over S3."
#[test]
fn user_without_policy_can_do_nothing() {
    for action in Action::ALL {
        assert!(!authorize(
            None,
            None,
            None,
            false,
            action,
            "arn:aws:s3:::b/k",
            &user("a")
        )
        .is_allowed());
    }
}

/// "with `Deny s3:*` on `arn:aws:s3:::b/secret/*` and `Allow s3:*` on `arn:aws:s3:::*`,
/// GetObject of `b/secret/x` is denied and GetObject of `b/public/x` allowed."
#[test]
fn explicit_deny_wins_in_either_order() {
    let deny = r#"{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"}"#;
    let allow = r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}"#;
    for (first, second) in [(deny, allow), (allow, deny)] {
        let policy = parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{first},{second}]}}"#
        ));
        let run = |arn| {
            authorize(
                Some(&policy),
                None,
                None,
                false,
                Action::GetObject,
                arn,
                &user("a"),
            )
        };
        assert_eq!(
            run("arn:aws:s3:::b/secret/x"),
            Decision::Deny { explicit: true }
        );
        assert_eq!(run("arn:aws:s3:::b/public/x"), Decision::Allow);
    }
}

/// "for temporary (STS) credentials the session policy must allow too, so it can only
/// reduce; an explicit Deny in the user's, the session's or the bucket's policy denies. A
/// bucket policy's Allow grants anonymous callers only."
#[test]
fn authenticated_requests_combine_user_session_and_bucket_policies() {
    let readonly = parse(builtin::READONLY);
    let readwrite = parse(builtin::READWRITE);
    let ctx = user("a");
    let arn = "arn:aws:s3:::b/x";
    assert!(!authorize(
        Some(&readonly),
        Some(&readwrite),
        None,
        false,
        Action::PutObject,
        arn,
        &ctx
    )
    .is_allowed());
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    let bucket_deny = Policy::parse_bucket_policy(deny, DEFAULT_MAX_BYTES).unwrap();
    assert!(!authorize(
        Some(&readwrite),
        None,
        Some(&bucket_deny),
        false,
        Action::GetObject,
        arn,
        &ctx
    )
    .is_allowed());
    let public =
        Policy::parse_bucket_policy(&bucket_preset("public", "b").unwrap(), DEFAULT_MAX_BYTES)
            .unwrap();
    assert!(!authorize(
        None,
        None,
        Some(&public),
        false,
        Action::GetObject,
        arn,
        &ctx
    )
    .is_allowed());
}

/// "With preset `download` on bucket `pub`, an anonymous GetObject of `pub/x` is allowed
/// and a PutObject denied."
#[test]
fn anonymous_requests_need_the_bucket_policy() {
    let download = Policy::parse_bucket_policy(
        &bucket_preset("download", "pub").unwrap(),
        DEFAULT_MAX_BYTES,
    )
    .unwrap();
    let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
    assert!(authorize(
        None,
        None,
        Some(&download),
        true,
        Action::GetObject,
        "arn:aws:s3:::pub/x",
        &ctx
    )
    .is_allowed());
    assert!(!authorize(
        None,
        None,
        Some(&download),
        true,
        Action::PutObject,
        "arn:aws:s3:::pub/x",
        &ctx
    )
    .is_allowed());
}

/// "a user named `*` whose policy allows `arn:aws:s3:::b/home/${aws:username}/*` reaches
/// `b/home/*/...` and not `b/home/bob/...`. An Allow statement whose variable has no value
/// (an anonymous request) does not apply."
#[test]
fn username_is_substituted_as_literal_text() {
    let policy = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}]}"#,
    );
    let star = user("*");
    assert!(
        policy
            .evaluate(Action::GetObject, "arn:aws:s3:::b/home/*/f", &star)
            .allowed
    );
    assert!(
        !policy
            .evaluate(Action::GetObject, "arn:aws:s3:::b/home/bob/f", &star)
            .allowed
    );
    let anonymous = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
    assert!(
        !policy
            .evaluate(Action::GetObject, "arn:aws:s3:::b/home//f", &anonymous)
            .allowed
    );
}

/// "Conditions on a key absent from the request: `StringLike` is false, `StringNotLike`
/// true, every `...IfExists` form true, `Null` `true` holds. Condition key names are
/// case-insensitive"
#[test]
fn absent_condition_keys_follow_aws_rules() {
    let with = |operator: &str| {
        parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{{"{operator}":{{"S3:Delimiter":"/"}}}}}}]}}"#
        ))
        .evaluate(Action::ListBucket, "arn:aws:s3:::b", &user("a"))
        .allowed
    };
    assert!(!with("StringLike"));
    assert!(with("StringNotLike"));
    assert!(with("StringLikeIfExists"));
    let null = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"Null":{"s3:delimiter":"true"}}}]}"#,
    );
    assert!(
        null.evaluate(Action::ListBucket, "arn:aws:s3:::b", &user("a"))
            .allowed
    );
}

/// "`invalid policy: Statement[1] (Sid "Home"), field Action: unsupported action "s3:Fly";
/// supported: ...`, `policy is 2100 bytes, more than the limit of 2048 bytes`,
/// `invalid JSON at line 3, column 15: expected value`."
#[test]
fn refusals_name_statement_and_field() {
    let text = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*"},
        {"Sid":"Home","Effect":"Allow","Action":"s3:Fly","Resource":"arn:aws:s3:::*"}]}"#;
    let err = Policy::parse(text, DEFAULT_MAX_BYTES)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(r#"invalid policy: Statement[1] (Sid "Home"), field Action: unsupported action "s3:Fly"; supported: "#), "{err}");

    let padded = format!(
        "{}{}",
        builtin::READONLY,
        " ".repeat(2100 - builtin::READONLY.len())
    );
    let err = Policy::parse(&padded, DEFAULT_MAX_BYTES)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "policy is 2100 bytes, more than the limit of 2048 bytes"
    );

    let err = Policy::parse(
        "{\n\"Version\": \"2012-10-17\",\n\"Statement\": [,]\n}",
        DEFAULT_MAX_BYTES,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "invalid JSON at line 3, column 15: expected value");
}
