//! HTTPS on the S3 port, end to end: a test CA and server certificates made with the
//! `openssl` command at test time, a real wekad serving them, and unmodified clients (boto3
//! with `verify=`, the AWS CLI with `--ca-bundle`, rclone with `--ca-cert`, Python's `ssl`
//! module to see which certificate a new connection gets). Also the STS plaintext rule:
//! AssumeRole over plain HTTP is refused on a non-loopback listener address, allowed on
//! loopback, over TLS, or with `sts.allow_plaintext = true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use weka_e2e::{wait_for, Daemon, DaemonOptions};

/// A test CA and the files of server pairs it signed, in one temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A fresh CA (`ca.crt`, `ca.key`).
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=wekad test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A new key and a certificate signed by the CA with `serial` (hex), valid for
    /// localhost, 127.0.0.1 and `extra_ip`; returns (cert, key) named after `name`.
    fn server(&self, name: &str, serial: &str, extra_ip: Option<&str>) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        let mut san = "subjectAltName=DNS:localhost,IP:127.0.0.1".to_string();
        if let Some(ip) = extra_ip {
            san.push_str(&format!(",IP:{ip}"));
        }
        let ext = format!(
            "{san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        );
        std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &format!("0x{serial}"),
                "-days",
                "1",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &crt,
            ],
        );
        (d.join(crt), d.join(key))
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `[s3]` TOML naming a certificate pair.
fn tls_config(cert: &Path, key: &Path) -> String {
    format!(
        "[s3]\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

/// A daemon serving `cert`/`key` from its configuration file, with `extra` TOML after it.
fn tls_daemon(cert: &Path, key: &Path, extra: &str) -> Daemon {
    Daemon::start_with(DaemonOptions::default().config(format!("{}{extra}", tls_config(cert, key))))
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a Python snippet with the daemon's endpoint, admin keys and the CA file in its
/// environment (`EP`, `AK`, `SK`, `CA`).
fn python(d: &Daemon, endpoint: &str, ca: &Path, script: &str) -> Output {
    let (ak, sk) = d.admin_keys();
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("EP", endpoint)
        .env("AK", ak)
        .env("SK", sk)
        .env("CA", ca)
        .env("HOME", d.root())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run python3")
}

/// The serial number (hex, as Python reports it) of the certificate a new TLS connection
/// to `addr` (`host:port`) is served, verified against `ca`.
fn served_serial(addr: &str, ca: &Path) -> String {
    const SCRIPT: &str = r#"
import os, socket, ssl
host, port = os.environ["ADDR"].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["CA"])
with socket.create_connection((host, int(port)), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as tls:
        print(tls.getpeercert()["serialNumber"])
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("ADDR", addr)
        .env("CA", ca)
        .output()
        .expect("run python3");
    ok("python ssl handshake", &out).trim().to_string()
}

const BOTO3_OVER_HTTPS: &str = r#"
import os
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
                  aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                  verify=os.environ["CA"],
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3.create_bucket(Bucket="tls-boto")
s3.put_object(Bucket="tls-boto", Key="dir/hello.txt", Body=b"over https")
assert s3.get_object(Bucket="tls-boto", Key="dir/hello.txt")["Body"].read() == b"over https"
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tls-boto")["Contents"]]
assert keys == ["dir/hello.txt"], keys
print("over https")
"#;

/// A bucket policy letting anonymous readers GET from `bucket` only over TLS.
const ANONYMOUS_OVER_TLS_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::tls-boto/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;

#[test]
fn boto3_with_the_test_ca_puts_gets_and_lists_over_https() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server", "1001", None);
    let d = tls_daemon(&cert, &key, "");
    let ep = d.s3_endpoint();
    assert!(ep.starts_with("https://127.0.0.1:"), "{ep}");
    let out = ok("boto3", &python(&d, &ep, &pki.ca(), BOTO3_OVER_HTTPS));
    assert_eq!(out.trim(), "over https");
    assert_eq!(
        std::fs::read(d.mount().join("tls-boto/dir/hello.txt")).unwrap(),
        b"over https"
    );
    // aws:SecureTransport is true over https: a policy that lets anonymous readers in only
    // over TLS lets an anonymous https GET through.
    let policy = d.root().join("tls-only.json");
    std::fs::write(&policy, ANONYMOUS_OVER_TLS_ONLY).unwrap();
    let policy = policy.to_str().unwrap();
    ok(
        "weka bucket policy",
        &d.weka(&["s3", "bucket", "policy", "set-custom", "tls-boto", policy]),
    );
    let anonymous = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(pki.ca())
        .arg(format!("{ep}/tls-boto/dir/hello.txt"))
        .output()
        .expect("run curl");
    assert_eq!(ok("anonymous curl", &anonymous), "over https");
    // Without the CA the client refuses the certificate: the daemon really speaks TLS
    // with the configured certificate, not something any client would accept.
    let untrusting = python(
        &d,
        &ep,
        &pki.ca(),
        &BOTO3_OVER_HTTPS.replace("verify=os.environ[\"CA\"]", "verify=True"),
    );
    assert!(!untrusting.status.success());
    assert!(
        String::from_utf8_lossy(&untrusting.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        String::from_utf8_lossy(&untrusting.stderr)
    );
}

#[test]
fn the_aws_cli_with_ca_bundle_copies_and_lists_over_https() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server", "1002", None);
    let d = tls_daemon(&cert, &key, "");
    let (ak, sk) = d.admin_keys();
    let aws = |args: &[&str]| {
        let out = Command::new("aws")
            .args(args)
            .args(["--endpoint-url", &d.s3_endpoint()])
            .arg("--ca-bundle")
            .arg(pki.ca())
            .env("HOME", d.root())
            .env("AWS_ACCESS_KEY_ID", &ak)
            .env("AWS_SECRET_ACCESS_KEY", &sk)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .output()
            .expect("run aws");
        ok(&format!("aws {args:?}"), &out)
    };
    let src = d.root().join("up.txt");
    std::fs::write(&src, b"aws cli over https").unwrap();
    aws(&["s3", "mb", "s3://tls-cli"]);
    aws(&["s3", "cp", src.to_str().unwrap(), "s3://tls-cli/a/up.txt"]);
    let listed = aws(&["s3", "ls", "--recursive", "s3://tls-cli"]);
    assert!(listed.contains("a/up.txt"), "{listed}");
    let back = d.root().join("down.txt");
    aws(&["s3", "cp", "s3://tls-cli/a/up.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), b"aws cli over https");
    assert_eq!(
        std::fs::read(d.mount().join("tls-cli/a/up.txt")).unwrap(),
        b"aws cli over https"
    );
}

#[test]
fn rclone_with_ca_cert_copies_and_lists_over_https() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server", "1003", None);
    let d = tls_daemon(&cert, &key, "");
    let (ak, sk) = d.admin_keys();
    let rclone = |args: &[&str]| {
        let out = Command::new("rclone")
            .args(args)
            .arg("--ca-cert")
            .arg(pki.ca())
            .env("RCLONE_CONFIG", "/dev/null")
            .env("RCLONE_CONFIG_W_TYPE", "s3")
            .env("RCLONE_CONFIG_W_PROVIDER", "Other")
            .env("RCLONE_CONFIG_W_ENDPOINT", d.s3_endpoint())
            .env("RCLONE_CONFIG_W_ACCESS_KEY_ID", &ak)
            .env("RCLONE_CONFIG_W_SECRET_ACCESS_KEY", &sk)
            .env("RCLONE_CONFIG_W_REGION", "us-east-1")
            .env("RCLONE_CONFIG_W_FORCE_PATH_STYLE", "true")
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .output()
            .expect("run rclone (apt-get install -y rclone)");
        ok(&format!("rclone {args:?}"), &out)
    };
    let src = d.root().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/r.txt"), b"rclone over https").unwrap();
    rclone(&["mkdir", "w:tls-rclone"]);
    rclone(&["copy", src.to_str().unwrap(), "w:tls-rclone"]);
    let listed = rclone(&["ls", "w:tls-rclone"]);
    assert!(listed.contains("sub/r.txt"), "{listed}");
    assert_eq!(
        rclone(&["cat", "w:tls-rclone/sub/r.txt"]),
        "rclone over https"
    );
    assert_eq!(
        std::fs::read(d.mount().join("tls-rclone/sub/r.txt")).unwrap(),
        b"rclone over https"
    );
}

#[test]
fn endpoints_json_weka_status_and_the_start_line_say_https() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server", "1004", None);
    let d = tls_daemon(&cert, &key, "");
    let url = format!("https://{}", d.s3_addr());
    assert_eq!(d.endpoints()["s3_url"], url);
    let status = ok("weka status", &d.weka(&["status", "-J"]));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["s3_endpoint"], url);
    let text = ok("weka status", &d.weka(&["status"]));
    assert!(text.contains(&url), "{text}");
    assert!(
        d.stderr().contains(&format!("S3 on {url}")),
        "{}",
        d.stderr()
    );
}

#[test]
fn a_sighup_serves_a_renewed_certificate_to_the_next_connection_and_a_bad_one_keeps_the_old() {
    let pki = Pki::new();
    let (cert, key) = pki.server("first", "a1", None);
    // The daemon reads fixed paths; renewal replaces the files' contents, as certbot does.
    let (live_cert, live_key) = (
        pki.dir.path().join("live.crt"),
        pki.dir.path().join("live.key"),
    );
    std::fs::copy(&cert, &live_cert).unwrap();
    std::fs::copy(&key, &live_key).unwrap();
    let d = tls_daemon(&live_cert, &live_key, "");
    let addr = d.s3_addr();
    assert_eq!(served_serial(&addr, &pki.ca()), "A1");

    let (renewed_cert, renewed_key) = pki.server("renewed", "b2", None);
    std::fs::copy(&renewed_cert, &live_cert).unwrap();
    std::fs::copy(&renewed_key, &live_key).unwrap();
    assert_eq!(
        served_serial(&addr, &pki.ca()),
        "A1",
        "nothing changes before the SIGHUP"
    );
    d.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || served_serial(&addr, &pki.ca())
            == "B2"),
        "the renewed certificate was not served after SIGHUP\n{}",
        d.stderr()
    );

    std::fs::write(&live_key, "not a key\n").unwrap();
    d.signal(Signal::SIGHUP);
    let warned = format!(
        "could not reload the TLS certificate, keeping the current one: {}: no private key found",
        live_key.display()
    );
    assert!(
        wait_for(Duration::from_secs(10), || d.stderr().contains(&warned)),
        "no warning naming the key file\n{}",
        d.stderr()
    );
    assert_eq!(served_serial(&addr, &pki.ca()), "B2");
    let out = python(&d, &d.s3_endpoint(), &pki.ca(), BOTO3_OVER_HTTPS);
    assert_eq!(ok("boto3 after a bad reload", &out).trim(), "over https");
}

#[test]
fn a_start_with_a_bad_key_file_exits_78_naming_the_file() {
    let pki = Pki::new();
    let (cert, _) = pki.server("server", "1005", None);
    let bad_key = pki.dir.path().join("bad.key");
    std::fs::write(&bad_key, "not a key\n").unwrap();
    let mut d = Daemon::start_with(
        DaemonOptions::default()
            .config(tls_config(&cert, &bad_key))
            .no_wait(),
    );
    let status = d.wait_exit(Duration::from_secs(30)).expect("wekad exits");
    assert_eq!(status.code(), Some(78), "{}", d.stderr());
    let expected = format!("{}: no private key found", bad_key.display());
    assert!(d.stderr().contains(&expected), "{}", d.stderr());
    assert!(
        !d.is_mounted(),
        "nothing is mounted before the pair is read"
    );

    let mut lone = Daemon::start_with(
        DaemonOptions::default()
            .arg("--s3-tls-cert")
            .arg(cert.to_str().unwrap())
            .no_wait(),
    );
    let status = lone
        .wait_exit(Duration::from_secs(30))
        .expect("wekad exits");
    assert_eq!(status.code(), Some(78), "{}", lone.stderr());
    assert!(lone.stderr().contains("s3.tls_key"), "{}", lone.stderr());
}

/// A local IPv4 address that is not loopback and can be bound, if the machine has one.
fn non_loopback_ip() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<std::net::Ipv4Addr>().ok())
        .find(|ip| !ip.is_loopback() && std::net::TcpListener::bind((*ip, 0)).is_ok())
        .map(|ip| ip.to_string())
}

/// AssumeRole and GetCallerIdentity with boto3 against `EP`; prints the outcome of each.
/// (IAM clients sign for service `iam`, which the signature check refuses on any
/// transport before STS is reached.)
const ASSUME_ROLE: &str = r#"
import os
import boto3, botocore
def client(service):
    return boto3.client(service, endpoint_url=os.environ["EP"], region_name="us-east-1",
                        aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                        verify=os.environ["CA"],
                        config=botocore.config.Config(retries={"max_attempts": 1}))
def attempt(call):
    try:
        call()
        return "allowed"
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        return "%s %s %s" % (e.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"])
print(attempt(lambda: client("sts").assume_role(RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="tls-e2e")))
print(attempt(lambda: client("sts").get_caller_identity()))
"#;

#[test]
fn assume_role_over_plain_http_is_refused_off_loopback_unless_allowed() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this machine has no non-loopback IPv4 address to listen on");
        return;
    };
    let pki = Pki::new();
    let (cert, key) = pki.server("server", "1006", Some(&ip));
    let listen_on = |d: DaemonOptions, addr: &str| d.arg("--s3-listen").arg(addr);

    // One plain listener on every address: the connection's local address decides.
    let plain = Daemon::start_with(listen_on(DaemonOptions::default(), "0.0.0.0:0"));
    let port = plain.s3_addr().rsplit_once(':').unwrap().1.to_string();
    let outcome = |d: &Daemon, ep: &str| ok("boto3", &python(d, ep, &pki.ca(), ASSUME_ROLE));
    let refused = outcome(&plain, &format!("http://{ip}:{port}"));
    let lines: Vec<&str> = refused.lines().collect();
    assert_eq!(lines.len(), 2, "{refused}");
    for line in &lines {
        assert!(line.starts_with("403 AccessDenied "), "{refused}");
        assert!(
            line.contains("use https") && line.contains("sts.allow_plaintext = true"),
            "{refused}"
        );
    }
    let loopback = outcome(&plain, &format!("http://127.0.0.1:{port}"));
    assert_eq!(loopback, "allowed\nallowed\n");

    // Over TLS on the same kind of address, STS answers.
    let tls = Daemon::start_with(listen_on(
        DaemonOptions::default().config(tls_config(&cert, &key)),
        &format!("{ip}:0"),
    ));
    assert!(tls.s3_endpoint().starts_with(&format!("https://{ip}:")));
    let secure = outcome(&tls, &tls.s3_endpoint());
    assert_eq!(secure, "allowed\nallowed\n");

    // The operator may accept plaintext explicitly.
    let allowed = Daemon::start_with(listen_on(
        DaemonOptions::default().config("[sts]\nallow_plaintext = true\n"),
        &format!("{ip}:0"),
    ));
    let ep = allowed.s3_endpoint();
    assert!(ep.starts_with(&format!("http://{ip}:")), "{ep}");
    let plaintext = outcome(&allowed, &ep);
    assert_eq!(plaintext, "allowed\nallowed\n");
}
