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
    let callers: [(&str, Option<(&str, &str, &str)>); 4] = [
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
