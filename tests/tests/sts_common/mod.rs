//! Helpers shared by the STS end-to-end tests (`sts_*.rs`): users made with the real `weka`
//! binary, credentials from `weka s3 sts assume-role -J`, and Python (boto3) snippets run
//! against the daemon with its endpoint and state directory in the environment.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use weka_e2e::Daemon;

/// Temporary credentials as `weka s3 sts assume-role -J` prints them.
#[derive(Debug, Clone)]
pub struct Creds {
    pub ak: String,
    pub sk: String,
    pub token: String,
    pub expiration: String,
}

/// Asserts a command succeeded and returns its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Creates S3 user `name` with `password` and, when given, attaches `policy`.
pub fn add_user(d: &Daemon, name: &str, password: &str, policy: Option<&str>) {
    ok(&d.weka(&["user", "add", name, "s3", password]));
    if let Some(p) = policy {
        ok(&d.weka(&["s3", "policy", "attach", p, name]));
    }
}

/// Runs `weka s3 sts assume-role ... -J` with the secret on the command line.
pub fn assume_output(
    d: &Daemon,
    ak: &str,
    sk: &str,
    duration: &str,
    policy_file: Option<&Path>,
) -> Output {
    let mut args = vec![
        "-J",
        "s3",
        "sts",
        "assume-role",
        "--access-key",
        ak,
        "--secret-key",
        sk,
        "--duration",
        duration,
    ];
    let file;
    if let Some(f) = policy_file {
        file = f.to_str().unwrap().to_owned();
        args.extend(["--policy-file", file.as_str()]);
    }
    d.weka(&args)
}

/// Temporary credentials from the CLI (panics on failure).
pub fn assume(d: &Daemon, ak: &str, sk: &str, duration: &str, policy_file: Option<&Path>) -> Creds {
    parse_json_creds(&ok(&assume_output(d, ak, sk, duration, policy_file)))
}

/// Parses the `-J` output.
pub fn parse_json_creds(text: &str) -> Creds {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_owned()
    };
    Creds {
        ak: s("access_key_id"),
        sk: s("secret_access_key"),
        token: s("session_token"),
        expiration: s("expiration"),
    }
}

/// Parses the `Access-Key:`/`Secret-Key:`/`Session-Token:` lines.
pub fn parse_line_creds(text: &str) -> Creds {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
            .unwrap_or_else(|| panic!("no {name} line in {text:?}"))
            .trim()
            .to_owned()
    };
    Creds {
        ak: field("Access-Key"),
        sk: field("Secret-Key"),
        token: field("Session-Token"),
        expiration: String::new(),
    }
}

/// Gives an AWS client process (boto3, the AWS CLI) this daemon's own home, config and
/// credentials files, no instance metadata, and none of the caller's profile or session:
/// the AWS CLI caches assumed-role credentials under `~/.aws/cli/cache`, keyed by the
/// profile, not by the endpoint, so each daemon's clients must be kept apart.
pub fn isolate_aws_client<'c>(cmd: &'c mut Command, d: &Daemon) -> &'c mut Command {
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", d.root())
        .env("AWS_CONFIG_FILE", d.root().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            d.root().join("aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
}

/// Runs a Python 3 snippet with `ENDPOINT`, `STATE`, `ADMIN_AK`, `ADMIN_SK` and `extra`
/// in its environment; returns its output. The snippet prints what the test asserts.
pub fn python(d: &Daemon, script: &str, extra: &[(&str, &str)]) -> Output {
    let (ak, sk) = d.admin_keys();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(format!("{PY_PRELUDE}\n{script}"))
        .env("ENDPOINT", d.s3_endpoint())
        .env("STATE", d.state())
        .env("ADMIN_AK", ak)
        .env("ADMIN_SK", sk)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdin(Stdio::null());
    isolate_aws_client(&mut cmd, d);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("run python3")
}

/// Like [`python`], asserting success; returns stdout.
pub fn python_ok(d: &Daemon, script: &str, extra: &[(&str, &str)]) -> String {
    ok(&python(d, script, extra))
}

/// Shared Python code: clients, the error code of a failed call, and token forging with the
/// daemon's server key (the test plays an attacker who stole or guessed nothing but that
/// key is read only to build *expired* tokens, which a genuine issuer could also have made).
pub const PY_PRELUDE: &str = r#"
import base64, hashlib, hmac, json, os, sys, time
import boto3, botocore
from botocore.config import Config
EP = os.environ["ENDPOINT"]
CFG = Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1})
def s3(ak, sk, token=None):
    return boto3.client("s3", endpoint_url=EP, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, aws_session_token=token, config=CFG)
def sts(ak, sk, token=None, region="us-east-1"):
    return boto3.client("sts", endpoint_url=EP, region_name=region, aws_access_key_id=ak,
                        aws_secret_access_key=sk, aws_session_token=token, config=CFG)
def code(fn):
    try:
        fn()
        return "OK"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def server_key():
    return open(os.path.join(os.environ["STATE"], "secret.key"), "rb").read()
def token_key(server):
    return hmac.new(server, b"sts-token-hs512\0", hashlib.sha512).digest()
def derived_secret(server, ak):
    return base64.b64encode(hmac.new(server, b"sts-secret\0" + ak.encode(), hashlib.sha256).digest()[:30]).decode()
def sign(claims, key, alg="HS512"):
    head = b64u(json.dumps({"typ": "JWT", "alg": alg}).encode())
    body = b64u(json.dumps(claims).encode())
    digest = {"HS512": hashlib.sha512, "HS256": hashlib.sha256}[alg]
    sig = b64u(hmac.new(key, (head + "." + body).encode(), digest).digest())
    return head + "." + body + "." + sig
def claims_of(token):
    return json.loads(unb64u(token.split(".")[1]))
def raw(form, ak=None, sk=None, token=None, region="us-east-1", service="sts"):
    """POSTs `form` to the S3 port, SigV4-signed unless ak is None; returns (status, code, body)."""
    import re, urllib.parse, urllib.request, urllib.error
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = urllib.parse.urlencode(form)
    req = AWSRequest(method="POST", url=EP + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    if ak is not None:
        SigV4Auth(Credentials(ak, sk, token), service, region).add_auth(req)
    p = req.prepare()
    r = urllib.request.Request(p.url, data=body.encode(), headers=dict(p.headers), method="POST")
    try:
        resp = urllib.request.urlopen(r, timeout=10)
        status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return status, (m.group(1) if m else "OK"), text
def assume(ak, sk, **kw):
    c = sts(ak, sk).assume_role(RoleArn="arn:aws:iam::000000000000:role/weka", RoleSessionName="e2e", **kw)["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
"#;
