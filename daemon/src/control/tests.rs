//! The control server end to end in-process: a real socket, a real LMDB store, a real
//! object view over a temp directory, and the CLI's own client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weka::api::{Client, ClientError, Request, Response};
use weka_fs::object::{ObjectOptions, ObjectView};
use weka_fs::Root;
use weka_s3::iam::{Iam, IamOptions};

use super::*;

struct Server {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    data: PathBuf,
    stop: watch::Sender<bool>,
    runtime: tokio::runtime::Runtime,
}

fn start() -> Server {
    start_with(None)
}

fn start_with(admin_group: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let iam = Iam::open(&dir.path().join("state"), IamOptions::default()).unwrap();
    let view = Arc::new(
        ObjectView::new(
            Arc::new(Root::open(&data).unwrap()),
            ObjectOptions { sync: false },
        )
        .unwrap(),
    );
    let status: StatusFn = Arc::new(|| Status {
        version: "test".into(),
        mount: "/mnt/weka".into(),
        ..Status::default()
    });
    let buckets = weka_s3::buckets::Buckets::new(iam, view);
    let ctx = Arc::new(ControlContext::new(buckets, status, admin_group));
    let socket = dir.path().join("run/wekad.sock");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let listener = runtime.block_on(async { bind(&socket, None) }).unwrap();
    runtime.spawn(serve(listener, ctx, shutdown));
    Server {
        _dir: dir,
        socket,
        data,
        stop,
        runtime,
    }
}

fn call(socket: &Path, request: Request) -> Result<Response, ClientError> {
    Client::connect(socket)?.call(request)
}

fn code(r: Result<Response, ClientError>) -> String {
    match r {
        Err(ClientError::Daemon(e)) => e.code,
        other => panic!("expected a daemon error, got {other:?}"),
    }
}

#[test]
fn users_policies_and_buckets_work_through_the_socket() {
    let s = start();
    let add = Request::UserAdd {
        username: "alice".into(),
        role: "s3".into(),
        password: "Passw0rd!".into(),
        posix_uid: Some(1000),
        posix_gid: None,
    };
    let Response::User(u) = call(&s.socket, add.clone()).unwrap() else {
        panic!("not a user")
    };
    assert_eq!(
        (u.user.as_str(), u.role.as_str(), u.posix_uid),
        ("alice", "s3", 1000)
    );
    assert_eq!(code(call(&s.socket, add)), "UserAlreadyExists");
    assert_eq!(
        code(call(
            &s.socket,
            Request::PolicyAttach {
                policy: "nope".into(),
                user: "alice".into()
            }
        )),
        "PolicyNotFound"
    );
    call(
        &s.socket,
        Request::PolicyAttach {
            policy: "readonly".into(),
            user: "alice".into(),
        },
    )
    .unwrap();
    let Response::Users(users) = call(&s.socket, Request::UserList).unwrap() else {
        panic!("not users")
    };
    assert_eq!(users[0].s3_policy.as_deref(), Some("readonly"));

    call(
        &s.socket,
        Request::BucketCreate {
            name: "photos".into(),
            policy: Some("download".into()),
            policy_json: None,
            hard_quota: Some(1 << 20),
        },
    )
    .unwrap();
    assert!(s.data.join("photos").is_dir());
    std::fs::write(s.data.join("photos/a.jpg"), b"12345").unwrap();
    let Response::Buckets(b) = call(&s.socket, Request::BucketList).unwrap() else {
        panic!("not buckets")
    };
    assert_eq!(
        (
            b[0].name.as_str(),
            b[0].hard,
            b[0].used,
            b[0].policy.as_str(),
            b[0].path.as_str()
        ),
        (
            "photos",
            Some(1 << 20),
            Some(5),
            "download",
            "/mnt/weka/photos"
        )
    );
    assert_eq!(
        code(call(
            &s.socket,
            Request::BucketDestroy {
                name: "photos".into()
            }
        )),
        "BucketNotEmpty"
    );
    assert_eq!(
        code(call(
            &s.socket,
            Request::BucketCreate {
                name: "Bad_Name".into(),
                policy: None,
                policy_json: None,
                hard_quota: None
            }
        )),
        "InvalidBucketName"
    );
    assert_eq!(
        code(call(
            &s.socket,
            Request::BucketPolicyGet {
                bucket: "nothere".into()
            }
        )),
        "NoSuchBucket"
    );
    std::fs::remove_file(s.data.join("photos/a.jpg")).unwrap();
    call(
        &s.socket,
        Request::BucketDestroy {
            name: "photos".into(),
        },
    )
    .unwrap();
    assert!(!s.data.join("photos").exists());
    drop(s.stop);
    drop(s.runtime);
}

#[test]
fn a_malformed_line_gets_an_error_with_its_id_and_the_connection_stays_usable() {
    use std::io::{BufRead, BufReader, Write};
    let s = start();
    let mut stream = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    stream
        .write_all(b"{\"id\":9,\"op\":\"no_such_op\"}\n{\"id\":10,\"op\":\"status\"}\n")
        .unwrap();
    let mut lines = BufReader::new(stream).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["id"], 9);
    assert_eq!(first["error"]["code"], "BadRequest");
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second["id"], 10);
    assert_eq!(second["ok"]["data"]["version"], "test");
}

#[test]
fn socket_is_0660_and_a_second_daemon_cannot_take_it_over() {
    let s = start();
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    let again = s.runtime.block_on(async { bind(&s.socket, None) });
    let Err(e) = again else {
        panic!("bound over a live socket")
    };
    assert!(e.to_string().contains("another wekad"), "{e}");
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(rt.block_on(async { bind(&path, None) }).is_ok());
}

/// Opens the socket to everyone (so only the SO_PEERCRED check decides), then sends a
/// status request as another identity (`setpriv` arguments) and returns the first line.
fn status_as(s: &Server, identity: &[&str]) -> serde_json::Value {
    std::fs::set_permissions(&s.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut dir = s.socket.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
        dir = d
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| p.starts_with(std::env::temp_dir()) && p != &std::env::temp_dir());
    }
    // The daemon may close right after its refusal line: a failed send is expected then.
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n  s.sendall(b'{\"id\":5,\"op\":\"status\"}\\n')\nexcept OSError:\n  pass\nprint(s.makefile().readline())";
    let out = std::process::Command::new("setpriv")
        .args(identity)
        .args(["/usr/bin/python3", "-c", script])
        .arg(&s.socket)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("{e}: {line} / {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_peer_that_is_not_root_nor_in_the_admin_group_is_refused_with_a_hint() {
    let s = start_with(Some("nogroup"));
    let v = status_as(&s, &["--reuid=65534", "--regid=1000", "--clear-groups"]);
    assert_eq!(v["id"], 0);
    assert_eq!(v["error"]["code"], "PermissionDenied");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("uid 65534") && message.contains("nogroup"),
        "{message}"
    );
    assert!(v["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("usermod -aG nogroup"));
}

#[test]
fn a_member_of_the_admin_group_by_supplementary_group_is_served() {
    let s = start_with(Some("nogroup"));
    let v = status_as(&s, &["--reuid=65534", "--regid=1000", "--groups=65534"]);
    assert_eq!(v["id"], 5, "{v}");
    assert_eq!(v["ok"]["data"]["version"], "test");
}

#[test]
fn a_member_by_primary_group_is_served() {
    let s = start_with(Some("nogroup"));
    let v = status_as(&s, &["--reuid=1000", "--regid=65534", "--clear-groups"]);
    assert_eq!(v["id"], 5, "{v}");
}
