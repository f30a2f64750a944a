//! Attacks on temporary credentials, each refused with the error AWS clients expect:
//! forged tokens (changed claim, another key, `alg: none`, HS256), expired tokens, a token
//! paired with another access key, a long-term key carrying a token, a session policy that
//! tries to widen rights, chained AssumeRole, and tokens whose user was deleted,
//! re-passworded, detached or revoked. Tokens also survive a daemon restart.
//!
//! To forge tokens the tests read `<state>/secret.key` (they run as root next to the
//! daemon). Only the expired-token case uses the real key, and it stands for what a
//! genuine but old token looks like; every other forgery is built without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sts_common;

use sts_common::{add_user, assume, ok, python_ok, Creds};
use weka_e2e::Daemon;

const PW: &str = "Attack-Passw0rd";

fn creds_env(c: &Creds) -> [(&'static str, String); 3] {
    [
        ("AK", c.ak.clone()),
        ("SK", c.sk.clone()),
        ("TK", c.token.clone()),
    ]
}

/// Runs `script` with the credentials `c` as `AK`/`SK`/`TK`.
fn py_with(d: &Daemon, c: &Creds, script: &str) -> String {
    let env = creds_env(c);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    python_ok(d, script, &env)
}

#[test]
fn forged_expired_and_mismatched_tokens_are_refused() {
    let d = Daemon::start();
    let (admin_ak, admin_sk) = d.admin_keys();
    let a = assume(&d, &admin_ak, &admin_sk, "1h", None);
    let b = assume(&d, &admin_ak, &admin_sk, "1h", None);
    let out = py_with(
        &d,
        &a,
        &format!(
            r#"
ak, sk, tk = os.environ["AK"], os.environ["SK"], os.environ["TK"]
other_tk = "{other}"
def s3_code(tok, key=ak, secret=sk):
    return code(lambda: s3(key, secret, tok).list_buckets())
head, body, sig = tk.split(".")
claims = claims_of(tk)
print("genuine", s3_code(tk))
for field, value in [("sub", "someone"), ("gen", claims["gen"] + 1), ("exp", claims["exp"] + 86400), ("pol", None), ("ak", "ASIAAAAAAAAAAAAAAAAA")]:
    changed = dict(claims, **{{field: value}})
    if changed == claims:
        changed["pol"] = '{{"Version":"2012-10-17","Statement":[]}}'
    print("changed-" + field, s3_code(head + "." + b64u(json.dumps(changed).encode()) + "." + sig))
print("other-key", s3_code(sign(claims, os.urandom(64))))
none_head = b64u(json.dumps({{"typ": "JWT", "alg": "none"}}).encode())
print("alg-none", s3_code(none_head + "." + body + "."))
print("alg-none-nosig", s3_code(none_head + "." + body))
print("hs256", s3_code(sign(claims, token_key(server_key()), alg="HS256")))
expired = dict(claims, iat=int(time.time()) - 7200, exp=int(time.time()) - 5)
old = sign(expired, token_key(server_key()))
print("expired", s3_code(old))
print("expired-sts", code(lambda: sts(ak, sk, old).get_caller_identity()))
print("other-access-key", s3_code(other_tk))
print("garbage", s3_code("not-a-token"))
print("long-term-key-with-token", s3_code(tk, os.environ["ADMIN_AK"], os.environ["ADMIN_SK"]))
guessed = "ASIA" + "Z" * 16
print("unissued-key", s3_code(tk, guessed, derived_secret(server_key(), guessed)))
print("no-token", s3_code(None))
print("still-genuine", s3_code(tk))
"#,
            other = b.token
        ),
    );
    let expected = [
        "genuine OK",
        "changed-sub InvalidToken",
        "changed-gen InvalidToken",
        "changed-exp InvalidToken",
        "changed-pol InvalidToken",
        "changed-ak InvalidToken",
        "other-key InvalidToken",
        "alg-none InvalidToken",
        "alg-none-nosig InvalidToken",
        "hs256 InvalidToken",
        "expired ExpiredToken",
        "expired-sts ExpiredToken",
        "other-access-key InvalidToken",
        "garbage InvalidToken",
        "long-term-key-with-token InvalidToken",
        "unissued-key InvalidToken",
        "no-token InvalidToken",
        "still-genuine OK",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
}

#[test]
fn a_session_policy_cannot_widen_what_the_user_may_do() {
    let d = Daemon::start();
    add_user(&d, "reader", PW, Some("readonly"));
    let out = python_ok(
        &d,
        r#"
admin = s3(os.environ["ADMIN_AK"], os.environ["ADMIN_SK"])
admin.create_bucket(Bucket="robkt")
admin.put_object(Bucket="robkt", Key="k", Body=b"v")
wide = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}]}'
t = s3(*assume("reader", os.environ["PW"], Policy=wide))
print(code(lambda: t.get_object(Bucket="robkt", Key="k")))
print(code(lambda: t.put_object(Bucket="robkt", Key="new", Body=b"x")))
print(code(lambda: t.delete_object(Bucket="robkt", Key="k")))
print(code(lambda: t.create_bucket(Bucket="mine")))
"#,
        &[("PW", PW)],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["OK", "AccessDenied", "AccessDenied", "AccessDenied"],
        "{out}"
    );
}

#[test]
fn temporary_credentials_cannot_assume_a_role_again() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let c = assume(&d, &ak, &sk, "1h", None);
    let out = py_with(
        &d,
        &c,
        r#"
t = sts(os.environ["AK"], os.environ["SK"], os.environ["TK"])
print(code(lambda: t.assume_role(RoleArn="arn:aws:iam::000000000000:role/x", RoleSessionName="chain")))
print(code(lambda: t.get_caller_identity()))
"#,
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["AccessDenied", "OK"]);
    // Nor through the CLI.
    let chained = d.weka(&[
        "s3",
        "sts",
        "assume-role",
        "--access-key",
        &c.ak,
        "--secret-key",
        &c.sk,
        "--duration",
        "1h",
    ]);
    assert_eq!(chained.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&chained.stderr)
        .contains("temporary credentials cannot assume a role"));
}

/// Creates user `name` (readwrite), returns working temporary credentials for it.
fn user_with_token(d: &Daemon, name: &str) -> Creds {
    add_user(d, name, PW, Some("readwrite"));
    assume(d, name, PW, "1h", None)
}

fn s3_code(d: &Daemon, c: &Creds) -> String {
    py_with(d, c, r#"print(code(lambda: s3(os.environ["AK"], os.environ["SK"], os.environ["TK"]).list_buckets()))"#)
        .trim()
        .to_owned()
}

#[test]
fn tokens_end_when_their_user_is_deleted_repassworded_detached_or_revoked() {
    let d = Daemon::start();
    let deleted = user_with_token(&d, "deleted");
    let repassworded = user_with_token(&d, "repassworded");
    let detached = user_with_token(&d, "detached");
    let revoked = user_with_token(&d, "revoked");
    let bystander = user_with_token(&d, "bystander");
    for c in [&deleted, &repassworded, &detached, &revoked, &bystander] {
        assert_eq!(s3_code(&d, c), "OK");
    }
    ok(&d.weka(&["user", "delete", "deleted"]));
    ok(&d.weka(&[
        "user",
        "passwd",
        "New-Passw0rd",
        "--username",
        "repassworded",
    ]));
    ok(&d.weka(&["s3", "policy", "detach", "detached"]));
    ok(&d.weka(&["user", "revoke-tokens", "revoked"]));
    for c in [&deleted, &repassworded, &detached, &revoked] {
        assert_eq!(s3_code(&d, c), "InvalidToken", "{}", c.ak);
    }
    assert_eq!(s3_code(&d, &bystander), "OK");

    // Re-creating a deleted user (same name, same password) does not revive its tokens,
    // nor does re-attaching a policy.
    add_user(&d, "deleted", PW, Some("readwrite"));
    ok(&d.weka(&["s3", "policy", "attach", "readwrite", "detached"]));
    assert_eq!(s3_code(&d, &deleted), "InvalidToken");
    assert_eq!(s3_code(&d, &detached), "InvalidToken");
    // New tokens of those users work.
    assert_eq!(s3_code(&d, &assume(&d, "deleted", PW, "1h", None)), "OK");
}

#[test]
fn a_change_of_the_users_policy_applies_to_its_tokens_at_once() {
    let d = Daemon::start();
    let c = user_with_token(&d, "changing");
    let put = r#"print(code(lambda: s3(os.environ["AK"], os.environ["SK"], os.environ["TK"]).create_bucket(Bucket="b" + str(int(time.time()*1000)))))"#;
    assert_eq!(py_with(&d, &c, put).trim(), "OK");
    ok(&d.weka(&["s3", "policy", "attach", "readonly", "changing"]));
    assert_eq!(py_with(&d, &c, put).trim(), "AccessDenied");
    ok(&d.weka(&["s3", "policy", "attach", "readwrite", "changing"]));
    assert_eq!(py_with(&d, &c, put).trim(), "OK");
}

#[test]
fn temporary_credentials_survive_a_daemon_restart() {
    let mut d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let c = assume(&d, &ak, &sk, "1h", None);
    assert_eq!(s3_code(&d, &c), "OK");
    d.restart();
    assert_eq!(s3_code(&d, &c), "OK");
}
