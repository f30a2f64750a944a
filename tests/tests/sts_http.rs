//! The STS API on the S3 port, end to end with unmodified clients: boto3, the AWS CLI
//! (explicit calls and a `role_arn` + `source_profile` profile), botocore's automatic
//! renewal of expiring credentials, the AWS SDK for Rust, and raw SigV4 requests for the
//! edges (any region in the credential scope, unknown actions, parameter errors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sts_common;

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use sts_common::{isolate_aws_client, ok, python_ok};
use weka_e2e::Daemon;

#[test]
fn boto3_assume_role_on_the_s3_port_gives_credentials_that_work_for_s3() {
    let d = Daemon::start();
    let out = python_ok(
        &d,
        r#"
admin = sts(os.environ["ADMIN_AK"], os.environ["ADMIN_SK"])
r = admin.assume_role(RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="boto3-e2e",
                      DurationSeconds=900, ExternalId="ignored")
c = r["Credentials"]
left = c["Expiration"].timestamp() - time.time()
assert 880 < left <= 901, left
assert r["AssumedRoleUser"]["Arn"].endswith("assumed-role/admin/boto3-e2e"), r["AssumedRoleUser"]
t = s3(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
t.create_bucket(Bucket="boto")
t.put_object(Bucket="boto", Key="k/v.txt", Body=b"via sts")
print(t.get_object(Bucket="boto", Key="k/v.txt")["Body"].read().decode())
print(",".join(o["Key"] for o in t.list_objects_v2(Bucket="boto")["Contents"]))
url = t.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "k/v.txt"})
import urllib.request
print(urllib.request.urlopen(url).read().decode())
# boto3's default presigning for us-east-1 is SigV2, with the token in the query.
plain = boto3.client("s3", endpoint_url=EP, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                     aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
v2 = plain.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "k/v.txt"})
assert "AWSAccessKeyId=ASIA" in v2 and "x-amz-security-token=" in v2, v2
print(urllib.request.urlopen(v2).read().decode())
try:
    urllib.request.urlopen(v2.replace("x-amz-security-token=", "x-amz-security-token=X"))
    print("tampered token accepted")
except urllib.error.HTTPError as e:
    print(e.code)
"#,
        &[],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["via sts", "k/v.txt", "via sts", "via sts", "403"]
    );
    assert_eq!(
        std::fs::read(d.mount().join("boto/k/v.txt")).unwrap(),
        b"via sts"
    );
}

fn aws(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("aws");
    isolate_aws_client(&mut cmd, d)
        .args(args)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run aws")
}

#[test]
fn the_aws_cli_assumes_a_role_and_tells_who_is_calling() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let ep = d.s3_endpoint();
    let keys = [
        ("AWS_ACCESS_KEY_ID", ak.as_str()),
        ("AWS_SECRET_ACCESS_KEY", sk.as_str()),
    ];
    let who: serde_json::Value = serde_json::from_str(&ok(&aws(
        &d,
        &["--endpoint-url", &ep, "sts", "get-caller-identity"],
        &keys,
    )))
    .unwrap();
    assert_eq!(who["Arn"], "arn:aws:iam::000000000000:user/admin");
    assert_eq!(who["Account"], "000000000000");

    let assumed = ok(&aws(
        &d,
        &[
            "--endpoint-url",
            &ep,
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::000000000000:role/r",
            "--role-session-name",
            "cli",
            "--duration-seconds",
            "1200",
        ],
        &keys,
    ));
    let v: serde_json::Value = serde_json::from_str(&assumed).unwrap();
    let c = &v["Credentials"];
    let temp = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
    ];
    let who: serde_json::Value = serde_json::from_str(&ok(&aws(
        &d,
        &["--endpoint-url", &ep, "sts", "get-caller-identity"],
        &temp,
    )))
    .unwrap();
    assert_eq!(
        who["Arn"],
        format!("arn:aws:sts::000000000000:assumed-role/admin/{}", temp[0].1)
    );
    ok(&aws(
        &d,
        &["--endpoint-url", &ep, "s3", "mb", "s3://clibucket"],
        &temp,
    ));
    let listed = ok(&aws(&d, &["--endpoint-url", &ep, "s3", "ls"], &temp));
    assert!(listed.contains("clibucket"), "{listed}");
}

/// Writes an AWS config with profile `src` (the admin's keys) and profile `role`
/// (`role_arn` + `source_profile = src`), both pointing at the daemon.
fn write_role_profile(d: &Daemon) {
    let (ak, sk) = d.admin_keys();
    let ep = d.s3_endpoint();
    std::fs::write(
        d.root().join("aws-config"),
        format!(
            "[profile src]\nregion = us-east-1\nendpoint_url = {ep}\n\n[profile role]\nrole_arn = arn:aws:iam::000000000000:role/weka\n\
             role_session_name = profile-e2e\nsource_profile = src\nduration_seconds = 3600\nregion = us-east-1\nendpoint_url = {ep}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.root().join("aws-credentials"),
        format!("[src]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n"),
    )
    .unwrap();
}

#[test]
fn a_profile_with_role_arn_and_source_profile_works_for_the_aws_cli_and_boto3() {
    let d = Daemon::start();
    write_role_profile(&d);
    let who: serde_json::Value = serde_json::from_str(&ok(&aws(
        &d,
        &["--profile", "role", "sts", "get-caller-identity"],
        &[],
    )))
    .unwrap();
    let arn = who["Arn"].as_str().unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::000000000000:assumed-role/admin/ASIA"),
        "{arn}"
    );
    ok(&aws(
        &d,
        &["--profile", "role", "s3", "mb", "s3://profilebucket"],
        &[],
    ));

    let out = python_ok(
        &d,
        r#"
session = boto3.Session(profile_name="role")
c = session.client("s3", config=CFG)
c.put_object(Bucket="profilebucket", Key="p.txt", Body=b"profile")
print(c.get_object(Bucket="profilebucket", Key="p.txt")["Body"].read().decode())
print(session.get_credentials().get_frozen_credentials().access_key[:4])
"#,
        &[],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["profile", "ASIA"]);
}

#[test]
fn a_client_renews_its_expiring_credentials_by_itself() {
    let d = Daemon::start();
    write_role_profile(&d);
    // botocore refreshes assumed-role credentials on its own once they are within its
    // refresh window (15 minutes advisory, 10 mandatory) of expiring; the profile asks for
    // one hour. Rather than sleeping, move the expiry of the live credentials into that
    // window and let the next call notice it.
    let out = python_ok(
        &d,
        r#"
import datetime
session = boto3.Session(profile_name="role")
c = session.client("s3", config=CFG)
c.create_bucket(Bucket="renew")
creds = session.get_credentials()
first = creds.get_frozen_credentials().access_key
assert creds.refresh_needed() is False
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
creds._expiry_time = soon
# The assume-role fetcher keeps the last response in a cache of its own; it would be
# about to expire too, so age it the same way.
fetcher = creds._refresh_using.__self__
for entry in fetcher._cache.values():
    entry["Credentials"]["Expiration"] = soon.isoformat()
assert creds.refresh_needed(), "now inside the refresh window"
c.put_object(Bucket="renew", Key="after-refresh", Body=b"ok")
second = creds.get_frozen_credentials().access_key
left = (creds._expiry_time - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
print(first != second, first[:4], second[:4], 3500 < left <= 3600)
"#,
        &[],
    );
    assert_eq!(out.trim(), "True ASIA ASIA True");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sdk_assumes_a_role_and_uses_the_credentials() {
    let d = Daemon::start();
    let (ak, sk) = d.admin_keys();
    let out = d
        .sts_client(&ak, &sk)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/rust")
        .role_session_name("rust-sdk")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    assert_eq!(c.access_key_id().len(), 20);
    let s3 = d.s3_client_with_token(c.access_key_id(), c.secret_access_key(), c.session_token());
    s3.create_bucket().bucket("rustsdk").send().await.unwrap();
    s3.put_object()
        .bucket("rustsdk")
        .key("a")
        .body(ByteStream::from_static(b"rust"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("rustsdk")
        .key("a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"rust"
    );

    let temp = d.sts_client(c.access_key_id(), c.secret_access_key());
    // Without its session token the temporary key is refused.
    let err = temp.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("InvalidClientTokenId")
    );

    // Refusals made before the STS route runs (signature, unknown key) are STS errors too.
    let code = |e: &dyn aws_sdk_sts::error::ProvideErrorMetadata| e.code().map(str::to_owned);
    let wrong = d
        .sts_client(&ak, "not-the-secret")
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong).as_deref(), Some("SignatureDoesNotMatch"));
    let unknown = d
        .sts_client("nobody", &sk)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&unknown).as_deref(), Some("InvalidClientTokenId"));
}

#[test]
fn the_signature_is_accepted_with_any_region_in_the_scope_even_an_empty_one() {
    let d = Daemon::start();
    let out = python_ok(
        &d,
        r#"
ak, sk = os.environ["ADMIN_AK"], os.environ["ADMIN_SK"]
form = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
for region in ["us-east-1", "eu-west-3", "", "weka"]:
    print(repr(region), raw(form, ak, sk, region=region)[:2])
print("bad-secret", raw(form, ak, sk + "x")[:2])
"#,
        &[],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "'us-east-1' (200, 'OK')",
            "'eu-west-3' (200, 'OK')",
            "'' (200, 'OK')",
            "'weka' (200, 'OK')",
            "bad-secret (403, 'SignatureDoesNotMatch')",
        ],
        "{out}"
    );
}

#[test]
fn parameter_errors_unknown_actions_and_iam_calls_get_quick_sts_errors() {
    let d = Daemon::start();
    let out = python_ok(
        &d,
        r#"
ak, sk = os.environ["ADMIN_AK"], os.environ["ADMIN_SK"]
def ar(**extra):
    form = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::000000000000:role/x",
            "RoleSessionName": "edge"}
    form.update(extra)
    return raw(form, ak, sk)[:2]
print(ar(DurationSeconds="899"))
print(ar(DurationSeconds="604801"))
print(ar(DurationSeconds="604800")[0])
print(ar(DurationSeconds="soon"))
print(ar(Policy="{not json"))
print(ar(Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::' + "x" * 2100 + '"}]}'))
print(ar(RoleSessionName="a b"))
print(raw({"Action": "CreateUser", "UserName": "eve"}, ak, sk)[:2])
print(raw({"Version": "2011-06-15"}, ak, sk)[:2])
print(raw({"Action": "AssumeRole", "RoleArn": "arn:aws:iam::000000000000:role/x", "RoleSessionName": "anon"})[:2])
start = time.time()
iam = boto3.client("iam", endpoint_url=EP, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk, config=CFG)
try:
    iam.list_users()
    print("IAM answered")
except Exception:
    print("refused", time.time() - start < 5)
"#,
        &[],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "(400, 'InvalidParameterValue')",
            "(400, 'InvalidParameterValue')",
            "200",
            "(400, 'InvalidParameterValue')",
            "(400, 'MalformedPolicyDocument')",
            "(400, 'PackedPolicyTooLarge')",
            "(400, 'InvalidParameterValue')",
            "(400, 'InvalidAction')",
            "(400, 'InvalidAction')",
            "(403, 'AccessDenied')",
            "refused True",
        ],
        "{out}"
    );
}

/// One request over a fresh connection: (status, headers in lower case, body).
fn http_exchange(addr: &str, head: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `<RequestId>`s of an XML body, in order.
fn body_request_ids(body: &str) -> Vec<&str> {
    body.split("<RequestId>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</RequestId>").map(|(id, _)| id))
        .collect()
}

/// A refused STS request and a refused S3 request each carry one id: in the
/// `x-amz-request-id` header, the body's `<RequestId>`, the request's one log line and its
/// access log line.
#[test]
fn a_refused_request_has_one_id_in_its_header_body_log_line_and_access_log() {
    let logs = tempfile::tempdir().unwrap();
    let access_log = logs.path().join("access.log");
    let d = Daemon::start_with(
        weka_e2e::DaemonOptions::default()
            .config(format!("[s3]\naccess_log = \"{}\"\n", access_log.display())),
    );
    let addr = d.s3_addr();
    let form = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fx&RoleSessionName=anon";
    let sts = http_exchange(
        &addr,
        "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        form,
    );
    let s3 = http_exchange(&addr, "GET /no-such-bucket/key HTTP/1.1", "");
    for (what, (status, headers, body), line_says, op) in [
        ("sts", &sts, "STS request refused", "AssumeRole"),
        ("s3", &s3, "S3 request refused", "GetObject"),
    ] {
        assert_eq!(*status, 403, "{what}: {body}");
        let id = header(headers, "x-amz-request-id").unwrap();
        assert_eq!(id.len(), 16, "{what}: {id}");
        assert_eq!(body_request_ids(body), [id], "{what}: {body}");
        if what == "sts" {
            assert!(body.contains("<ErrorResponse"), "{body}");
            assert_eq!(header(headers, "x-amzn-requestid"), Some(id), "{headers:?}");
        }
        assert!(
            weka_e2e::wait_for(std::time::Duration::from_secs(10), || {
                std::fs::read_to_string(&access_log).is_ok_and(|l| l.contains(id))
            }),
            "{what}: {id} not in the access log"
        );
        let stderr = d.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(id)).collect();
        assert_eq!(lines.len(), 1, "{what}: {lines:#?}\n{stderr}");
        assert!(lines[0].contains(line_says), "{what}: {}", lines[0]);
        let log = std::fs::read_to_string(&access_log).unwrap();
        let entries: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["request_id"] == id)
            .collect();
        assert_eq!(entries.len(), 1, "{what}: {log}");
        assert_eq!(entries[0]["op"], op, "{what}: {log}");
        assert_eq!(entries[0]["status"], 403, "{what}: {log}");
    }
    assert_ne!(
        header(&sts.1, "x-amz-request-id"),
        header(&s3.1, "x-amz-request-id")
    );
}
