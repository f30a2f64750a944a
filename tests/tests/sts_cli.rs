//! `weka s3 sts assume-role` end to end: a real wekad, the real `weka` binary (with the
//! secret typed at a pseudo-terminal prompt), and the printed credentials used with the
//! AWS SDK for Rust for PUT, GET, LIST and a presigned GET carrying the session token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sts_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use sts_common::{add_user, assume, assume_output, ok, parse_line_creds, python_ok};
use weka_e2e::Daemon;

const ALICE_PW: &str = "Alice-Passw0rd";

/// Seconds since the epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ`.
fn unix_of(rfc3339: &str) -> i64 {
    let n = |a: usize, b: usize| rfc3339[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `weka s3 sts assume-role` without `--secret-key` under a pseudo-terminal, types
/// `secret` at the prompt, and returns everything the terminal showed.
fn assume_with_prompt(d: &Daemon, ak: &str, secret: &str) -> String {
    let script = r#"
import os, pty, sys
argv = [os.environ["WEKA"], "--socket", os.environ["SOCK"], "s3", "sts", "assume-role",
        "--access-key", os.environ["AK"], "--duration", "1h"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = b""
deadline = time.time() + 20
while b"Secret-Key:" not in seen and time.time() < deadline:
    seen += os.read(fd, 1024)
# rpassword turns echo off right after printing the prompt: wait for that (as a person
# typing would), which also shows the terminal really stops echoing.
import termios
while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
    time.sleep(0.01)
if termios.tcgetattr(fd)[3] & termios.ECHO:
    sys.exit("the terminal still echoes at the Secret-Key prompt")
os.write(fd, os.environ["SK"].encode() + b"\n")
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode().replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let weka = weka_e2e::weka_bin();
    let sock = d.socket();
    python_ok(
        d,
        script,
        &[
            ("WEKA", weka.to_str().unwrap()),
            ("SOCK", sock.to_str().unwrap()),
            ("AK", ak),
            ("SK", secret),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompted_secret_is_not_echoed_and_the_printed_credentials_work_over_s3() {
    let d = Daemon::start();
    d.admin_s3()
        .create_bucket()
        .bucket("stscli")
        .send()
        .await
        .unwrap();
    add_user(&d, "alice", ALICE_PW, Some("readwrite"));

    let shown = assume_with_prompt(&d, "alice", ALICE_PW);
    assert!(!shown.contains(ALICE_PW), "the secret was echoed: {shown}");
    assert!(
        shown.starts_with("Secret-Key: "),
        "the prompt comes first: {shown}"
    );
    // The prompt line itself also starts with `Secret-Key:`; the output follows it.
    let printed = &shown[shown.find("Access-Key: ").expect("credentials printed")..];
    assert_eq!(printed.lines().count(), 3, "{printed}");
    let creds = parse_line_creds(printed);
    assert!(
        creds.ak.starts_with("ASIA") && creds.ak.len() == 20,
        "{}",
        creds.ak
    );
    assert_eq!(creds.sk.len(), 40);
    assert_eq!(creds.token.split('.').count(), 3, "a JWT: {}", creds.token);

    let s3 = d.s3_client_with_token(&creds.ak, &creds.sk, &creds.token);
    s3.put_object()
        .bucket("stscli")
        .key("dir/hello.txt")
        .body(ByteStream::from_static(b"hi there"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("stscli")
        .key("dir/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hi there"
    );
    let listed = s3.list_objects_v2().bucket("stscli").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["dir/hello.txt"]);
    assert_eq!(
        std::fs::read(d.mount().join("stscli/dir/hello.txt")).unwrap(),
        b"hi there"
    );

    let presigned = s3
        .get_object()
        .bucket("stscli")
        .key("dir/hello.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri = presigned.uri();
    assert!(uri.contains("X-Amz-Security-Token="), "{uri}");
    let path = &uri[uri.find("/stscli").unwrap()..];
    let (status, body) = weka_e2e::http_get(&d.s3_addr(), path);
    assert_eq!((status, body.as_str()), (200, "hi there"));

    // The same URL with the token removed is refused.
    let stripped: String = path
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-Security-Token="))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _) = weka_e2e::http_get(&d.s3_addr(), &stripped);
    assert_eq!(status, 403);
}

#[test]
fn every_duration_form_sets_the_matching_expiry() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    for (form, secs) in [
        ("900s", 900),
        ("60m", 3600),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1d5h", 104_400),
    ] {
        let before = now();
        let creds = assume(&d, &ak, &sk, form, None);
        let left = unix_of(&creds.expiration) - before;
        assert!(
            (secs - 5..=secs + 5).contains(&left),
            "{form}: expires in {left}s, wanted {secs}s"
        );
    }
}

#[test]
fn durations_out_of_range_or_malformed_are_usage_errors() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    for bad in ["899s", "14m", "1w1s", "2w", "0s"] {
        let out = assume_output(&d, &ak, &sk, bad, None);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("between 15 minutes"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    for bad in ["abc", "10x", "", "-5m", "5 parsecs"] {
        let out = assume_output(&d, &ak, &sk, bad, None);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("duration"), "{bad}: {}", stderr(&out));
    }
    assert!(out_is_empty(&assume_output(&d, &ak, &sk, "2w", None)));
}

fn out_is_empty(out: &std::process::Output) -> bool {
    out.stdout.is_empty()
}

#[test]
fn a_wrong_secret_or_an_unknown_user_is_refused_alike() {
    let d = Daemon::start();
    add_user(&d, "alice", ALICE_PW, Some("readwrite"));
    let wrong = assume_output(&d, "alice", "Alice-Passw0rX", "1h", None);
    let unknown = assume_output(&d, "nobody", ALICE_PW, "1h", None);
    for out in [&wrong, &unknown] {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        assert!(
            stderr(out).contains("access key or secret key is not valid"),
            "{}",
            stderr(out)
        );
        assert!(out.stdout.is_empty());
    }
    assert!(!stderr(&wrong).contains("Alice-Passw0rX"));
}

#[test]
fn a_user_without_a_policy_cannot_assume_a_role() {
    let d = Daemon::start();
    add_user(&d, "bob", "Bob-Passw0rd", None);
    let out = assume_output(&d, "bob", "Bob-Passw0rd", "1h", None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no policy"), "{}", stderr(&out));
}

#[test]
fn an_invalid_or_too_large_session_policy_is_refused() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let invalid = d.root().join("invalid.json");
    std::fs::write(&invalid, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#).unwrap();
    let out = assume_output(&d, &ak, &sk, "1h", Some(&invalid));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("iam:*"), "{}", stderr(&out));
    let big = d.root().join("big.json");
    let resource = format!("arn:aws:s3:::{}", "b".repeat(2100));
    std::fs::write(&big, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{resource}"}}]}}"#)).unwrap();
    let out = assume_output(&d, &ak, &sk, "1h", Some(&big));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("2048"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_policy_reduces_readwrite_to_reading_one_prefix() {
    let d = Daemon::start();
    let admin = d.admin_s3();
    admin.create_bucket().bucket("data").send().await.unwrap();
    for key in ["pub/a.txt", "priv/b.txt"] {
        admin
            .put_object()
            .bucket("data")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    add_user(&d, "alice", ALICE_PW, Some("readwrite"));
    let policy = d.root().join("pub-read.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/pub/*"},
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data","Condition":{"StringLike":{"s3:prefix":"pub/*"}}}]}"#,
    )
    .unwrap();
    let c = assume(&d, "alice", ALICE_PW, "15m", Some(&policy));
    let s3 = d.s3_client_with_token(&c.ak, &c.sk, &c.token);

    assert!(s3
        .get_object()
        .bucket("data")
        .key("pub/a.txt")
        .send()
        .await
        .is_ok());
    let listed = s3
        .list_objects_v2()
        .bucket("data")
        .prefix("pub/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);

    let denied = |r: Result<(), String>| assert_eq!(r, Err("AccessDenied".to_owned()));
    let code = |e: &dyn aws_sdk_s3::error::ProvideErrorMetadata| e.code().unwrap_or("?").to_owned();
    denied(
        s3.get_object()
            .bucket("data")
            .key("priv/b.txt")
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
    );
    denied(
        s3.put_object()
            .bucket("data")
            .key("pub/new.txt")
            .body(ByteStream::from_static(b"y"))
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
    );
    denied(
        s3.list_objects_v2()
            .bucket("data")
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
    );
    denied(
        s3.delete_object()
            .bucket("data")
            .key("pub/a.txt")
            .send()
            .await
            .map(drop)
            .map_err(|e| code(&e)),
    );
    // Alice herself still may do all of it.
    let alice = d.s3_client("alice", ALICE_PW);
    assert!(alice
        .get_object()
        .bucket("data")
        .key("priv/b.txt")
        .send()
        .await
        .is_ok());
}

#[test]
fn json_output_names_the_four_fields_and_the_keys_work_with_boto3() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let out = ok(&d.weka(&[
        "s3",
        "sts",
        "assume-role",
        "--access-key",
        &ak,
        "--secret-key",
        &sk,
        "--duration",
        "900s",
        "-J",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_key_id",
            "expiration",
            "secret_access_key",
            "session_token"
        ]
    );
    let c = sts_common::parse_json_creds(&out);
    let who = python_ok(
        &d,
        r#"print(sts(os.environ["AK"], os.environ["SK"], os.environ["TK"]).get_caller_identity()["Arn"])"#,
        &[("AK", &c.ak), ("SK", &c.sk), ("TK", &c.token)],
    );
    assert_eq!(
        who.trim(),
        format!("arn:aws:sts::000000000000:assumed-role/admin/{}", c.ak)
    );
}
