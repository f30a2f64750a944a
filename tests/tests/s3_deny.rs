//! Deny by construction, end to end: every operation s3s can route is sent, well formed
//! enough to reach authorization, by four restricted callers (anonymous, a user with no
//! policy, a `readonly` user, an STS credential limited to `s3:GetObject`). Whatever is
//! outside a caller's rights answers 403 AccessDenied, and the backing directory
//! (names, bytes, modes, xattrs) is unchanged afterwards. The list of operations comes from
//! the authorization table, which a unit test holds equal to the list s3s itself routes,
//! and the access log proves each request reached the operation it was meant for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sts_common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use md5::{Digest, Md5};
use sts_common::{add_user, assume, python_ok};
use weka_e2e::{Daemon, DaemonOptions};

const PW: &str = "Deny-Passw0rd";

/// One request per operation: (operation, method, where, query, extra headers as
/// `name:value;...`, body). `where` is `root`, `bucket` or `object`.
const SHAPES: &str = r#"
SHAPES = [
 ("AbortMultipartUpload", "DELETE", "object", "uploadId=UP", "", ""),
 ("CompleteMultipartUpload", "POST", "object", "uploadId=UP", "", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0\"</ETag></Part></CompleteMultipartUpload>"),
 ("CopyObject", "PUT", "copy", "", "x-amz-copy-source:/bkt/obj", ""),
 ("CreateBucket", "PUT", "newbucket", "", "", ""),
 ("CreateBucketMetadataTableConfiguration", "POST", "bucket", "metadataTable", "", "<x/>"),
 ("CreateMultipartUpload", "POST", "object", "uploads", "", ""),
 ("CreateSession", "GET", "bucket", "session", "", ""),
 ("DeleteBucket", "DELETE", "bucket", "", "", ""),
 ("DeleteBucketAnalyticsConfiguration", "DELETE", "bucket", "analytics&id=a", "", ""),
 ("DeleteBucketCors", "DELETE", "bucket", "cors", "", ""),
 ("DeleteBucketEncryption", "DELETE", "bucket", "encryption", "", ""),
 ("DeleteBucketIntelligentTieringConfiguration", "DELETE", "bucket", "intelligent-tiering&id=a", "", ""),
 ("DeleteBucketInventoryConfiguration", "DELETE", "bucket", "inventory&id=a", "", ""),
 ("DeleteBucketLifecycle", "DELETE", "bucket", "lifecycle", "", ""),
 ("DeleteBucketMetadataTableConfiguration", "DELETE", "bucket", "metadataTable", "", ""),
 ("DeleteBucketMetricsConfiguration", "DELETE", "bucket", "metrics&id=a", "", ""),
 ("DeleteBucketOwnershipControls", "DELETE", "bucket", "ownershipControls", "", ""),
 ("DeleteBucketPolicy", "DELETE", "bucket", "policy", "", ""),
 ("DeleteBucketReplication", "DELETE", "bucket", "replication", "", ""),
 ("DeleteBucketTagging", "DELETE", "bucket", "tagging", "", ""),
 ("DeleteBucketWebsite", "DELETE", "bucket", "website", "", ""),
 ("DeleteObject", "DELETE", "object", "", "", ""),
 ("DeleteObjectTagging", "DELETE", "object", "tagging", "", ""),
 ("DeleteObjects", "POST", "bucket", "delete", "", "<Delete><Object><Key>obj</Key></Object></Delete>"),
 ("DeletePublicAccessBlock", "DELETE", "bucket", "publicAccessBlock", "", ""),
 ("GetBucketAccelerateConfiguration", "GET", "bucket", "accelerate", "", ""),
 ("GetBucketAcl", "GET", "bucket", "acl", "", ""),
 ("GetBucketAnalyticsConfiguration", "GET", "bucket", "analytics&id=a", "", ""),
 ("GetBucketCors", "GET", "bucket", "cors", "", ""),
 ("GetBucketEncryption", "GET", "bucket", "encryption", "", ""),
 ("GetBucketIntelligentTieringConfiguration", "GET", "bucket", "intelligent-tiering&id=a", "", ""),
 ("GetBucketInventoryConfiguration", "GET", "bucket", "inventory&id=a", "", ""),
 ("GetBucketLifecycleConfiguration", "GET", "bucket", "lifecycle", "", ""),
 ("GetBucketLocation", "GET", "bucket", "location", "", ""),
 ("GetBucketLogging", "GET", "bucket", "logging", "", ""),
 ("GetBucketMetadataTableConfiguration", "GET", "bucket", "metadataTable", "", ""),
 ("GetBucketMetricsConfiguration", "GET", "bucket", "metrics&id=a", "", ""),
 ("GetBucketNotificationConfiguration", "GET", "bucket", "notification", "", ""),
 ("GetBucketOwnershipControls", "GET", "bucket", "ownershipControls", "", ""),
 ("GetBucketPolicy", "GET", "bucket", "policy", "", ""),
 ("GetBucketPolicyStatus", "GET", "bucket", "policyStatus", "", ""),
 ("GetBucketReplication", "GET", "bucket", "replication", "", ""),
 ("GetBucketRequestPayment", "GET", "bucket", "requestPayment", "", ""),
 ("GetBucketTagging", "GET", "bucket", "tagging", "", ""),
 ("GetBucketVersioning", "GET", "bucket", "versioning", "", ""),
 ("GetBucketWebsite", "GET", "bucket", "website", "", ""),
 ("GetObject", "GET", "object", "", "", ""),
 ("GetObjectAcl", "GET", "object", "acl", "", ""),
 ("GetObjectAttributes", "GET", "object", "attributes", "x-amz-object-attributes:ETag", ""),
 ("GetObjectLegalHold", "GET", "object", "legal-hold", "", ""),
 ("GetObjectLockConfiguration", "GET", "bucket", "object-lock", "", ""),
 ("GetObjectRetention", "GET", "object", "retention", "", ""),
 ("GetObjectTagging", "GET", "object", "tagging", "", ""),
 ("GetObjectTorrent", "GET", "object", "torrent", "", ""),
 ("GetPublicAccessBlock", "GET", "bucket", "publicAccessBlock", "", ""),
 ("HeadBucket", "HEAD", "bucket", "", "", ""),
 ("HeadObject", "HEAD", "object", "", "", ""),
 ("ListBucketAnalyticsConfigurations", "GET", "bucket", "analytics", "", ""),
 ("ListBucketIntelligentTieringConfigurations", "GET", "bucket", "intelligent-tiering", "", ""),
 ("ListBucketInventoryConfigurations", "GET", "bucket", "inventory", "", ""),
 ("ListBucketMetricsConfigurations", "GET", "bucket", "metrics", "", ""),
 ("ListBuckets", "GET", "root", "", "", ""),
 ("ListDirectoryBuckets", "GET", "root", "x-id=ListDirectoryBuckets", "", ""),
 ("ListMultipartUploads", "GET", "bucket", "uploads", "", ""),
 ("ListObjectVersions", "GET", "bucket", "versions", "", ""),
 ("ListObjects", "GET", "bucket", "", "", ""),
 ("ListObjectsV2", "GET", "bucket", "list-type=2", "", ""),
 ("ListParts", "GET", "object", "uploadId=UP", "", ""),
 ("PostObject", "FORM", "bucket", "", "", ""),
 ("PutBucketAccelerateConfiguration", "PUT", "bucket", "accelerate", "", "<x/>"),
 ("PutBucketAcl", "PUT", "bucket", "acl", "", "<x/>"),
 ("PutBucketAnalyticsConfiguration", "PUT", "bucket", "analytics&id=a", "", "<x/>"),
 ("PutBucketCors", "PUT", "bucket", "cors", "", "<x/>"),
 ("PutBucketEncryption", "PUT", "bucket", "encryption", "", "<x/>"),
 ("PutBucketIntelligentTieringConfiguration", "PUT", "bucket", "intelligent-tiering&id=a", "", "<x/>"),
 ("PutBucketInventoryConfiguration", "PUT", "bucket", "inventory&id=a", "", "<x/>"),
 ("PutBucketLifecycleConfiguration", "PUT", "bucket", "lifecycle", "", "<x/>"),
 ("PutBucketLogging", "PUT", "bucket", "logging", "", "<x/>"),
 ("PutBucketMetricsConfiguration", "PUT", "bucket", "metrics&id=a", "", "<x/>"),
 ("PutBucketNotificationConfiguration", "PUT", "bucket", "notification", "", "<x/>"),
 ("PutBucketOwnershipControls", "PUT", "bucket", "ownershipControls", "", "<x/>"),
 ("PutBucketPolicy", "PUT", "bucket", "policy", "", "{}"),
 ("PutBucketReplication", "PUT", "bucket", "replication", "", "<x/>"),
 ("PutBucketRequestPayment", "PUT", "bucket", "requestPayment", "", "<x/>"),
 ("PutBucketTagging", "PUT", "bucket", "tagging", "", "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"),
 ("PutBucketVersioning", "PUT", "bucket", "versioning", "", "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
 ("PutBucketWebsite", "PUT", "bucket", "website", "", "<x/>"),
 ("PutObject", "PUT", "object", "", "", "overwritten"),
 ("PutObjectAcl", "PUT", "object", "acl", "x-amz-acl:public-read", ""),
 ("PutObjectLegalHold", "PUT", "object", "legal-hold", "", "<LegalHold><Status>ON</Status></LegalHold>"),
 ("PutObjectLockConfiguration", "PUT", "bucket", "object-lock", "", "<x/>"),
 ("PutObjectRetention", "PUT", "object", "retention", "", "<x/>"),
 ("PutObjectTagging", "PUT", "object", "tagging", "", "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"),
 ("PutPublicAccessBlock", "PUT", "bucket", "publicAccessBlock", "", "<x/>"),
 ("RestoreObject", "POST", "object", "restore", "", "<RestoreRequest><Days>1</Days></RestoreRequest>"),
 ("SelectObjectContent", "POST", "object", "select&select-type=2", "", "<x/>"),
 ("UploadPart", "PUT", "object", "partNumber=1&uploadId=UP", "", "part"),
 ("UploadPartCopy", "PUT", "object", "partNumber=1&uploadId=UP", "x-amz-copy-source:/bkt/obj", ""),
 ("WriteGetObjectResponse", "POST", "bucket", "", "x-amz-request-route:r;x-amz-request-token:t", "data"),
]
"#;

/// Sends every shape as one caller; prints one JSON object per request.
const SEND: &str = r#"
import hashlib, base64, urllib.request, urllib.error, re
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
ak, sk, tk = os.environ.get("AK"), os.environ.get("SK"), os.environ.get("TK") or None
up = os.environ["UPLOAD"]
def url(where):
    return EP + {"root": "/", "bucket": "/bkt", "object": "/bkt/obj", "copy": "/bkt/copy", "newbucket": "/newbkt"}[where]
def send(method, u, headers, body):
    r = urllib.request.Request(u, data=body if method not in ("GET", "HEAD", "DELETE") or body else None, headers=headers, method=method)
    try:
        resp = urllib.request.urlopen(r, timeout=30)
        status, text, rid = resp.status, resp.read().decode(errors="replace"), resp.headers.get("x-amz-request-id")
    except urllib.error.HTTPError as e:
        status, text, rid = e.code, e.read().decode(errors="replace"), e.headers.get("x-amz-request-id")
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return status, (m.group(1) if m else ""), rid
def form_post():
    if ak is None:
        fields = {"key": "posted"}
    else:
        c = s3(ak, sk, tk)
        fields = c.generate_presigned_post("bkt", "posted", ExpiresIn=300)["fields"]
    boundary = "----wekadtestboundary"
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n')
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nposted-bytes\r\n--{boundary}--\r\n')
    body = "".join(parts).encode()
    return send("POST", EP + "/bkt", {"Content-Type": "multipart/form-data; boundary=" + boundary}, body)
for (op, method, where, query, extra, body) in SHAPES:
    if method == "FORM":
        status, code_, rid = form_post()
    else:
        u = url(where) + ("?" + query.replace("UP", up) if query else "")
        data = body.encode()
        headers = {"Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode()} if data else {}
        for h in filter(None, extra.split(";")):
            k, v = h.split(":", 1)
            headers[k] = v
        req = AWSRequest(method=method, url=u, data=data, headers=headers)
        if ak is not None:
            req.headers["x-amz-content-sha256"] = hashlib.sha256(data).hexdigest()
            SigV4Auth(Credentials(ak, sk, tk), "s3", "us-east-1").add_auth(req)
        p = req.prepare()
        status, code_, rid = send(method, p.url, dict(p.headers), data)
    print(json.dumps({"op": op, "status": status, "code": code_, "rid": rid}))
"#;

/// The log lines of one request, for failure messages.
fn lines_about(log: &str, request_id: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(request_id)).collect();
    lines.join("\n")
}

/// Hash of every name, type, mode, size, content and xattr under `dir`.
fn tree_digest(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mut h = Md5::new();
            h.update(format!("{:o} {} {}", meta.mode(), meta.uid(), meta.len()));
            if meta.is_file() {
                h.update(std::fs::read(&path).unwrap());
            }
            for name in xattrs(&path) {
                h.update(&name);
                h.update(xattr_value(&path, &name));
            }
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel, hex::encode(h.finalize()));
        }
    }
    out
}

fn cpath(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

fn xattrs(p: &Path) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    // SAFETY: the path is NUL-terminated and the buffer is writable for its length.
    let n = unsafe { libc::llistxattr(cpath(p).as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0, "llistxattr {}", p.display());
    buf.truncate(n as usize);
    let mut names: Vec<Vec<u8>> = buf
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    names.sort();
    names
}

fn xattr_value(p: &Path, name: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let cname = std::ffi::CString::new(name).unwrap();
    // SAFETY: path and name are NUL-terminated; the buffer is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            cpath(p).as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(n >= 0, "lgetxattr {}", p.display());
    buf.truncate(n as usize);
    buf
}

/// The operations each restricted caller may reach (IAM allows them); everything else
/// must be AccessDenied. Written out here, independently of the table under test.
fn allowed_for(caller: &str) -> BTreeSet<&'static str> {
    let object_reads = [
        "GetObject",
        "HeadObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectLegalHold",
        "GetObjectRetention",
        "GetObjectTorrent",
        "SelectObjectContent",
    ];
    match caller {
        "readonly" => object_reads
            .into_iter()
            .chain(["GetBucketLocation", "GetBucketVersioning"])
            .collect(),
        "sts-getobject" => object_reads.into_iter().collect(),
        _ => BTreeSet::new(),
    }
}

/// A caller's label and its (access key, secret key, session token), `None` for anonymous.
type NamedCaller<'a> = (&'a str, Option<(&'a str, &'a str, &'a str)>);

#[test]
fn every_operation_is_refused_to_callers_without_the_right_and_nothing_changes() {
    let logs = tempfile::tempdir().unwrap();
    let access_log = logs.path().join("access.log");
    let d = Daemon::start_with(
        DaemonOptions::default()
            .config(format!("[s3]\naccess_log = \"{}\"\n", access_log.display())),
    );
    let admin = d.admin_s3();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upload = rt.block_on(async {
        admin.create_bucket().bucket("bkt").send().await.unwrap();
        admin
            .put_object()
            .bucket("bkt")
            .key("obj")
            .body(b"secret bytes".to_vec().into())
            .send()
            .await
            .unwrap();
        let up = admin
            .create_multipart_upload()
            .bucket("bkt")
            .key("obj")
            .send()
            .await
            .unwrap();
        up.upload_id().unwrap().to_owned()
    });
    add_user(&d, "nopolicy", PW, None);
    add_user(&d, "reader", PW, Some("readonly"));
    add_user(&d, "writer", PW, Some("readwrite"));
    let session = d.root().join("get-only.json");
    std::fs::write(
        &session,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*"}]}"#,
    )
    .unwrap();
    let sts = assume(&d, "writer", PW, "1h", Some(&session));
    let callers: [NamedCaller; 4] = [
        ("anonymous", None),
        ("nopolicy", Some(("nopolicy", PW, ""))),
        ("readonly", Some(("reader", PW, ""))),
        ("sts-getobject", Some((&sts.ak, &sts.sk, &sts.token))),
    ];
    let ops: BTreeSet<String> = weka_s3::policy::ops::operations()
        .map(str::to_owned)
        .collect();
    let before = tree_digest(&d.data());
    let mut rids: BTreeMap<String, String> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    for (caller, keys) in &callers {
        let mut env = vec![("UPLOAD", upload.as_str())];
        if let Some((ak, sk, tk)) = keys {
            env.extend([("AK", *ak), ("SK", *sk), ("TK", *tk)]);
        }
        let out = python_ok(&d, &format!("{SHAPES}\n{SEND}"), &env);
        let allowed = allowed_for(caller);
        let mut seen = BTreeSet::new();
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let op = v["op"].as_str().unwrap().to_owned();
            let (status, mut code) = (v["status"].as_u64().unwrap(), v["code"].as_str().unwrap());
            if op.starts_with("Head") && status == 403 {
                code = "AccessDenied"; // a HEAD answer has no body to name the code
            }
            if allowed.contains(op.as_str()) {
                assert_ne!(code, "AccessDenied", "{caller} may {op}: {v}");
            } else if op == "DeleteObjects" {
                // Decided per key: 200 with the key's AccessDenied in <Error>.
                assert_eq!(code, "AccessDenied", "{caller} {op}: {v}");
            } else {
                assert_eq!(
                    (status, code),
                    (403, "AccessDenied"),
                    "{caller} {op}: {v}\n{}",
                    lines_about(&d.stderr(), v["rid"].as_str().unwrap_or("-"))
                );
            }
            if let Some(rid) = v["rid"].as_str() {
                rids.insert(rid.to_owned(), op.clone());
                if status >= 400 {
                    refused.push(rid.to_owned());
                }
            }
            seen.insert(op);
        }
        assert_eq!(
            seen, ops,
            "{caller}: the shapes must cover every routed operation"
        );
        assert_eq!(tree_digest(&d.data()), before, "{caller} changed the tree");
    }
    // Each request reached the operation it was shaped for (the access log names it).
    let log = std::fs::read_to_string(&access_log).unwrap();
    let mut routed = 0;
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(op) = rids.get(v["request_id"].as_str().unwrap_or("")) {
            assert_eq!(v["op"].as_str(), Some(op.as_str()), "{line}");
            routed += 1;
        }
    }
    assert_eq!(routed, rids.len(), "every request is in the access log");
    // Each refused request logged exactly one line (at info), naming its request id.
    let stderr = d.stderr();
    for rid in &refused {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(rid.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "{rid}: {lines:#?}");
        assert!(lines[0].contains(" INFO "), "{}", lines[0]);
    }
    // What was refused to everyone else still works for its owner.
    let body = rt.block_on(async {
        let o = admin
            .get_object()
            .bucket("bkt")
            .key("obj")
            .send()
            .await
            .unwrap();
        o.body.collect().await.unwrap().into_bytes()
    });
    assert_eq!(&body[..], b"secret bytes");
}

/// Browser form uploads, freshness of signatures and bounded input, through botocore.
const ATTACKS: &str = r#"
import hashlib, base64, urllib.request, urllib.error, re, email.utils, datetime
from botocore.auth import SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
W_AK, W_SK = os.environ["W_AK"], os.environ["W_SK"]
def send(method, u, headers, body=b""):
    r = urllib.request.Request(u, data=body if body else None, headers=headers, method=method)
    try:
        resp = urllib.request.urlopen(r, timeout=60)
        status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return status, (m.group(1) if m else "")
def send_expecting(method, u, headers, body):
    """Sends headers with `Expect: 100-continue` and the body only if the server asks for it,
    so a refusal made before the body is read can be seen (as a client like the AWS CLI does)."""
    import socket
    parts = urllib.parse.urlsplit(u)
    s = socket.create_connection((parts.hostname, parts.port), timeout=60)
    target = parts.path + ("?" + parts.query if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("host", "content-length"))
    s.sendall((head + "\r\n").encode())
    reply = s.recv(65536)
    if reply.startswith(b"HTTP/1.1 100"):
        s.sendall(body)
        reply = reply.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in reply else b""
        while b"\r\n\r\n" not in reply:
            reply += s.recv(65536)
        reply += s.recv(65536)
    s.close()
    status = int(reply.split(b" ", 2)[1])
    m = re.search(rb"<Code>([^<]*)</Code>", reply)
    return status, (m.group(1).decode() if m else "")
def form(fields, content=b"form-bytes"):
    boundary = "----wekadform"
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    out += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'.encode() + content + f'\r\n--{boundary}--\r\n'.encode()
    return send("POST", EP + "/bkt", {"Content-Type": "multipart/form-data; boundary=" + boundary}, out)
w = s3(W_AK, W_SK)
post = w.generate_presigned_post("bkt", "posted/ok", ExpiresIn=300)
print("post-readwrite", *form(post["fields"]))
small = w.generate_presigned_post("bkt", "posted/big", ExpiresIn=300, Conditions=[["content-length-range", 1, 3]])
print("post-too-big", *form(small["fields"]))
other = w.generate_presigned_post("bkt", "posted/x", ExpiresIn=300, Conditions=[["starts-with", "$key", "uploads/"]])
print("post-wrong-prefix", *form(other["fields"]))
subst = w.generate_presigned_post("bkt", "posted/${filename}", ExpiresIn=300)
print("post-filename", *form(subst["fields"]))
def signed_v2(method, path, date, body=b""):
    """A header-signed SigV2 request whose Date is `date` (signed as sent)."""
    headers = {"Date": date}
    string = f"{method}\n\n\n{date}\n{path}"
    sig = base64.b64encode(hmac.new(W_SK.encode(), string.encode(), hashlib.sha1).digest()).decode()
    headers["Authorization"] = f"AWS {W_AK}:{sig}"
    return send(method, EP + path, headers, body)
import urllib.parse
now = email.utils.formatdate(usegmt=True)
print("v2-now-get", *signed_v2("GET", "/bkt/obj", now))
for label, d in [("2001", "Mon, 01 Jan 2001 00:00:00 GMT"), ("2099", "Thu, 01 Jan 2099 00:00:00 GMT"), ("garbage", "not a date")]:
    print("v2-" + label + "-get", *signed_v2("GET", "/bkt/obj", d))
    print("v2-" + label + "-delete", *signed_v2("DELETE", "/bkt/obj", d))
def presigned(expires):
    req = AWSRequest(method="GET", url=EP + "/bkt/obj")
    S3SigV4QueryAuth(Credentials(W_AK, W_SK), "s3", "us-east-1", expires=expires).add_auth(req)
    return send("GET", req.url, {})
for e in [60, 604800, 604801, 1000000000, -5]:
    print("v4-expires", e, *presigned(e))
w2 = boto3.client("s3", endpoint_url=EP, region_name="us-east-1", aws_access_key_id=W_AK, aws_secret_access_key=W_SK,
                  config=Config(signature_version="s3", s3={"addressing_style": "path"}))
v2url = w2.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "obj"}, ExpiresIn=1)
assert "Signature=" in v2url and "Expires=" in v2url, v2url
def sts_signed_get():
    req = AWSRequest(method="GET", url=EP + "/bkt/obj", headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    SigV4Auth(Credentials(W_AK, W_SK), "sts", "us-east-1").add_auth(req)
    return send("GET", req.url, dict(req.headers))
print("v4-sts-scope-on-s3", *sts_signed_get())
form_ar = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::000000000000:role/weka", "RoleSessionName": "scope"}
print("v4-s3-scope-on-sts", *raw(form_ar, W_AK, W_SK, service="s3")[:2])
print("v4-sts-scope-on-sts", *raw(form_ar, W_AK, W_SK, service="sts")[:2])
print("v2-presigned-fresh", *send("GET", w2.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "obj"}, ExpiresIn=60), {}))
# Wait for the clock to pass the URL's Expires (whole seconds), not for a guessed delay.
v2expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(v2url).query)["Expires"][0])
while time.time() < v2expires + 1:
    time.sleep(0.05)
print("presigned-expired", *send("GET", v2url, {}))
def error_ids(url, headers=None):
    """Whether an error body names the request id of its header, and has a message."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}))
        return "no-error"
    except urllib.error.HTTPError as e:
        body, hdr = e.read().decode(), e.headers.get("x-amz-request-id")
        m = re.search(r"<RequestId>([^<]*)</RequestId>", body)
        has_message = re.search(r"<Message>[^<]+</Message>", body) is not None
        return f"{e.code} {bool(m) and m.group(1) == hdr} {has_message}"
print("ids-anonymous", error_ids(EP + "/bkt/obj"))
print("ids-nosuchkey", error_ids(w.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "missing"}, ExpiresIn=60)))
print("ids-badsig", error_ids(EP + "/bkt/obj", {"Authorization": "AWS4-HMAC-SHA256 Credential=writer/20261204/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}))
print("ids-gate", error_ids(EP + "/bkt/obj", {"Authorization": "AWS writer:x", "Date": "not a date"}))
def tag(key, value, n=1):
    return code(lambda: w.put_object_tagging(Bucket="bkt", Key="obj", Tagging={"TagSet": [{"Key": f"{key}{i}" if n > 1 else key, "Value": value} for i in range(n)]}))
print("tag-ok", tag("k", "v"))
print("tag-value-5000", tag("k", "v" * 5000))
print("tag-key-129", tag("k" * 129, "v"))
print("tag-11", tag("k", "v", 11))
print("tag-10", tag("k", "v", 10))
print("tag-header-11", code(lambda: w.put_object(Bucket="bkt", Key="tagged", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))))
print("bucket-tags-51", code(lambda: w.put_bucket_tagging(Bucket="bkt", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]})))
def signed(method, path, body, headers=None):
    h = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(), "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    h.update(headers or {})
    req = AWSRequest(method=method, url=EP + path, data=body, headers=h)
    SigV4Auth(Credentials(W_AK, W_SK), "s3", "us-east-1").add_auth(req)
    return send_expecting(method, EP + path, dict(req.headers), body)
huge = b"<Tagging><TagSet><Tag><Key>k</Key><Value>" + b"v" * (25 << 20) + b"</Value></Tag></TagSet></Tagging>"
print("tagging-25mib", *signed("PUT", "/bkt/obj?tagging", huge))
keys = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001)).encode()
print("delete-1001", *signed("POST", "/bkt?delete", b"<Delete>" + keys + b"</Delete>"))
junk = b"<Delete>" + b"<Object><Key>" + b"x" * (19 << 20) + b"</Key></Object></Delete>"
print("anonymous-delete-19mib", *send_expecting("POST", EP + "/bkt?delete", {"Content-MD5": base64.b64encode(hashlib.md5(junk).digest()).decode()}, junk))
"#;

fn results(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn form_uploads_signatures_and_input_are_held_to_aws_rules() {
    let d = Daemon::start();
    let admin = d.admin_s3();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        admin.create_bucket().bucket("bkt").send().await.unwrap();
        let body = b"secret bytes".to_vec().into();
        let put = admin.put_object().bucket("bkt").key("obj").body(body);
        put.send().await.unwrap();
    });
    let uid = "4242";
    sts_common::ok(&d.weka(&["user", "add", "writer", "s3", PW, "--posix-uid", uid]));
    sts_common::ok(&d.weka(&["s3", "policy", "attach", "readwrite", "writer"]));
    let stderr_before = d.stderr().len();
    let out = python_ok(&d, ATTACKS, &[("W_AK", "writer"), ("W_SK", PW)]);
    let r = results(&out);
    let get = |k: &str| {
        r.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k}: {out}"))
    };

    // A readwrite user's form upload lands as a PutObject would, owned by the user.
    assert!(get("post-readwrite").starts_with("204"), "{out}");
    let posted = d.mount().join("bkt/posted/ok");
    assert_eq!(std::fs::read(&posted).unwrap(), b"form-bytes");
    assert_eq!(std::fs::metadata(&posted).unwrap().uid().to_string(), uid);
    // A failed policy condition writes nothing.
    assert!(!get("post-too-big").starts_with("2"), "{out}");
    assert!(!get("post-wrong-prefix").starts_with("2"), "{out}");
    assert_eq!(get("post-filename"), "400 InvalidArgument");
    for name in ["big", "x", "${filename}"] {
        assert!(!d.data().join("bkt/posted").join(name).exists(), "{name}");
    }

    // SigV2: fresh works, anything else is refused and deletes nothing.
    assert_eq!(get("v2-now-get"), "200 ");
    for label in ["2001", "2099"] {
        for m in ["get", "delete"] {
            assert_eq!(get(&format!("v2-{label}-{m}")), "403 RequestTimeTooSkewed");
        }
    }
    assert_eq!(get("v2-garbage-get"), "403 AccessDenied");
    assert_eq!(get("v2-garbage-delete"), "403 AccessDenied");
    assert!(d.data().join("bkt/obj").exists());

    // Presigned URLs: at most a week, and they end.
    let expiries: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("v4-expires "))
        .collect();
    assert_eq!(
        expiries,
        [
            "60 200 ",
            "604800 200 ",
            "604801 400 AuthorizationQueryParametersError",
            "1000000000 400 AuthorizationQueryParametersError",
            "-5 403 AccessDenied"
        ],
        "{out}"
    );
    assert_eq!(get("v2-presigned-fresh"), "200 ");
    assert_eq!(get("presigned-expired"), "403 AccessDenied");
    assert_eq!(
        get("v4-sts-scope-on-s3"),
        "400 AuthorizationHeaderMalformed"
    );

    // Every error body names the request id of its x-amz-request-id header, with a message.
    assert_eq!(get("ids-anonymous"), "403 True True");
    assert_eq!(get("ids-nosuchkey"), "404 True True");
    assert_eq!(get("ids-badsig"), "403 True True");
    assert_eq!(get("ids-gate"), "403 True True");

    // Tags and bodies within AWS's limits, with AWS's codes; never a 500.
    assert_eq!(get("tag-ok"), "OK");
    assert_eq!(get("tag-10"), "OK");
    for k in [
        "tag-value-5000",
        "tag-key-129",
        "tag-11",
        "tag-header-11",
        "bucket-tags-51",
    ] {
        assert_eq!(get(k), "InvalidTag", "{k}");
    }
    assert_eq!(get("tagging-25mib"), "400 EntityTooLarge");
    assert_eq!(get("delete-1001"), "400 MalformedXML");
    // DeleteObjects is decided per key, so the size limit answers first, before the body.
    assert_eq!(get("anonymous-delete-19mib"), "400 EntityTooLarge");
    let grown = d.stderr().len() - stderr_before;
    assert!(grown < 64 << 10, "the daemon's log grew by {grown} bytes");
}

/// Everything secret a client used, printed one per line by the script.
const SECRETS: &str = r#"
import urllib.request, urllib.error, urllib.parse
seen = []
def capture(request, **kw):
    auth = request.headers.get("Authorization")
    if auth:
        auth = auth.decode() if isinstance(auth, bytes) else auth
        seen.append(auth.rsplit("Signature=", 1)[-1] if "Signature=" in auth else auth.split(":")[-1])
    tok = request.headers.get("X-Amz-Security-Token")
    if tok:
        seen.append(tok.decode() if isinstance(tok, bytes) else tok)
ak, sk, tk = assume(os.environ["ADMIN_AK"], os.environ["ADMIN_SK"])
seen += [os.environ["ADMIN_SK"], sk, tk]
t = s3(ak, sk, tk)
t.meta.events.register("before-send", capture)
t.create_bucket(Bucket="logbkt")
t.put_object(Bucket="logbkt", Key="k", Body=b"BODY-MARKER-0123456789")
code(lambda: t.put_object_tagging(Bucket="logbkt", Key="k", Tagging={"TagSet": [{"Key": "BODY-MARKER-TAG", "Value": "v" * 300}]}))
code(lambda: t.delete_objects(Bucket="logbkt", Delete={"Objects": [{"Key": "BODY-MARKER-DEL"}] * 2}))
v2 = boto3.client("s3", endpoint_url=EP, region_name="us-east-1", aws_access_key_id=os.environ["ADMIN_AK"],
                  aws_secret_access_key=os.environ["ADMIN_SK"], config=Config(signature_version="s3", s3={"addressing_style": "path"}))
v2.meta.events.register("before-send", capture)
v2.get_object(Bucket="logbkt", Key="k")
for url in [t.generate_presigned_url("get_object", Params={"Bucket": "logbkt", "Key": "k"}, ExpiresIn=60),
            v2.generate_presigned_url("get_object", Params={"Bucket": "logbkt", "Key": "k"}, ExpiresIn=60)]:
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    seen += q.get("X-Amz-Signature", []) + q.get("Signature", [])
    urllib.request.urlopen(url).read()
# a malformed body from an anonymous client
try:
    urllib.request.urlopen(urllib.request.Request(EP + "/logbkt?delete", data=b"<Delete>BODY-MARKER-ANON", method="POST"))
except urllib.error.HTTPError:
    pass
for s in seen:
    print(s)
"#;

#[test]
fn secrets_and_bodies_never_reach_the_log_at_trace_level() {
    let logs = tempfile::tempdir().unwrap();
    let access_log = logs.path().join("access.log");
    let d = Daemon::start_with(
        DaemonOptions::default()
            .config(format!("[s3]\naccess_log = \"{}\"\n", access_log.display()))
            .arg("--log-level")
            .arg("trace"),
    );
    let out = python_ok(&d, SECRETS, &[]);
    let secrets: Vec<&str> = out.lines().filter(|l| l.len() >= 16).collect();
    assert!(secrets.len() >= 8, "the script used too few secrets: {out}");
    let stderr = d.stderr();
    assert!(stderr.contains("STS AssumeRole issued"), "{stderr}");
    assert!(stderr.contains("S3 request refused"), "{stderr}");
    let log = format!(
        "{stderr}\n{}",
        std::fs::read_to_string(&access_log).unwrap()
    );
    for secret in &secrets {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }
    assert!(
        !log.contains("BODY-MARKER"),
        "a request body reached the log"
    );
    assert!(
        !log.to_ascii_lowercase().contains("authorization: aws"),
        "an Authorization header reached the log"
    );
}
