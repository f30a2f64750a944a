//! Property tests of evaluation: order independence, deny wins, default deny,
//! determinism, session policies only reduce, variables cannot widen.

use super::*;
use proptest::prelude::*;
use proptest::sample::select;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:Get*",
    "s3:*",
    "s3:ListBucket",
    "s3:DeleteObject",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/a?",
    "arn:aws:s3:::c/*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::b",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"StringLike":{"s3:prefix":"a*"}}"#,
    r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:username":"bob"}}"#,
    r#","Condition":{"StringLikeIfExists":{"s3:delimiter":"/"}}"#,
];
const TARGETS: &[&str] = &[
    "arn:aws:s3:::b/ab",
    "arn:aws:s3:::b/home/alice/x",
    "arn:aws:s3:::c/x",
    "arn:aws:s3:::b",
];

fn statement() -> impl Strategy<Value = String> {
    (
        select(&["Allow", "Deny"][..]),
        any::<bool>(),
        select(ACTIONS),
        any::<bool>(),
        select(RESOURCES),
        select(CONDITIONS),
    )
        .prop_map(
            |(effect, not_action, action, not_resource, resource, condition)| {
                let a = if not_action { "NotAction" } else { "Action" };
                let r = if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                };
                format!(r#"{{"Effect":"{effect}","{a}":"{action}","{r}":"{resource}"{condition}}}"#)
            },
        )
}

fn document(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn policy(statements: &[String]) -> Policy {
    Policy::parse(&document(statements), 1 << 20).unwrap()
}

fn request() -> impl Strategy<Value = (Action, &'static str, RequestContext)> {
    (
        select(&Action::ALL[..]),
        select(TARGETS),
        select(&["alice", "bob"][..]),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(select(&["", "a1", "b"][..])),
    )
        .prop_map(|(action, target, name, inside, secure, prefix)| {
            let mut ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
            ctx.username = Some(name.into());
            ctx.source_ip = Some(
                if inside { "10.1.2.3" } else { "192.168.0.1" }
                    .parse()
                    .unwrap(),
            );
            ctx.secure = secure;
            if let Some(prefix) = prefix {
                ctx.set("s3:prefix", vec![prefix.into()]);
            }
            (action, target, ctx)
        })
}

fn decide(
    policy: &Policy,
    session: Option<&Policy>,
    action: Action,
    target: &str,
    ctx: &RequestContext,
) -> Decision {
    authorize(Some(policy), session, None, false, action, target, ctx)
}

proptest! {
    #[test]
    fn deny_wins_and_nothing_matching_denies_whatever_the_order(
        statements in proptest::collection::vec(statement(), 1..7),
        rotate in 0usize..7,
        (action, target, ctx) in request(),
    ) {
        // What each statement says on its own.
        let mut any_deny = false;
        let mut any_allow = false;
        for s in &statements {
            let alone = policy(std::slice::from_ref(s)).evaluate(action, target, &ctx);
            any_deny |= alone.denied;
            any_allow |= alone.allowed;
        }
        let expected = match (any_allow, any_deny) {
            (_, true) => Decision::Deny { explicit: true },
            (true, false) => Decision::Allow,
            (false, false) => Decision::Deny { explicit: false },
        };
        let whole = policy(&statements);
        prop_assert_eq!(decide(&whole, None, action, target, &ctx), expected);
        prop_assert_eq!(decide(&whole, None, action, target, &ctx), expected, "deterministic");

        let mut rotated = statements.clone();
        rotated.rotate_left(rotate % statements.len());
        prop_assert_eq!(decide(&policy(&rotated), None, action, target, &ctx), expected);
        rotated.reverse();
        prop_assert_eq!(decide(&policy(&rotated), None, action, target, &ctx), expected);
    }

    #[test]
    fn session_policy_only_reduces(
        identity in proptest::collection::vec(statement(), 1..5),
        session in proptest::collection::vec(statement(), 1..5),
        (action, target, ctx) in request(),
    ) {
        let identity = policy(&identity);
        let session = policy(&session);
        let with_session = decide(&identity, Some(&session), action, target, &ctx);
        let without = decide(&identity, None, action, target, &ctx);
        prop_assert!(!with_session.is_allowed() || without.is_allowed());
        prop_assert!(!with_session.is_allowed() || session.evaluate(action, target, &ctx).allowed);
    }

    #[test]
    fn username_variable_cannot_widen_a_grant(name in "[a-c*?$/{}]{1,5}", key in "[a-c*?$/{}]{0,8}") {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"},
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}]}"#;
        let policy = Policy::parse(text, DEFAULT_MAX_BYTES).unwrap();
        let mut ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH).with_list_params(Some(&format!("home/{key}")), None, None);
        ctx.username = Some(name.clone());
        let own = format!("home/{key}").starts_with(&format!("home/{name}/"));
        let get = policy.evaluate(Action::GetObject, &format!("arn:aws:s3:::b/home/{key}"), &ctx).allowed;
        let list = policy.evaluate(Action::ListBucket, "arn:aws:s3:::b", &ctx).allowed;
        prop_assert_eq!(get, own);
        prop_assert_eq!(list, own);
    }
}

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\"Version\"",
    "\"2012-10-17\"",
    "\"Statement\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Action\"",
    "\"s3:*\"",
    "\"Resource\"",
    "\"arn:aws:s3:::*\"",
    "\"Condition\"",
    "\"StringLike\"",
    "\"s3:prefix\"",
    "\"${aws:username}\"",
    "\"${\"",
    "1e400",
    "null",
    "true",
    "\"*?\"",
];

proptest! {
    #[test]
    fn parsing_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text, DEFAULT_MAX_BYTES);
        let _ = Policy::parse_bucket_policy(&text, DEFAULT_MAX_BYTES);
    }

    #[test]
    fn parsing_never_panics_on_policy_shaped_text(parts in proptest::collection::vec(select(FRAGMENTS), 0..60)) {
        let text = parts.concat();
        if let Ok(policy) = Policy::parse(&text, DEFAULT_MAX_BYTES) {
            let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
            let _ = policy.evaluate(Action::GetObject, "arn:aws:s3:::b/k", &ctx);
            prop_assert!(Policy::parse(&policy.pretty(), 1 << 20).is_ok(), "pretty output parses again");
        }
    }
}
