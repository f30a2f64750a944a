//! The control socket's wire protocol and a blocking client for it.
//!
//! One JSON object per line each way. A request is `{"id": N, "op": "...", ...fields}`;
//! a response is `{"id": N, "ok": {"kind": "...", "data": ...}}` or
//! `{"id": N, "error": {"code": "...", "message": "...", "hint": "..."}}`, echoing the id.
//! Before any request, a refused peer receives one error line with id 0 and is disconnected.
//!
//! These types are the protocol: they are independent of the clap structs so renaming a
//! flag never changes the wire. This module knows nothing of the server side.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Error code the daemon sends to a peer that is not root nor in the admin group.
pub const CODE_PERMISSION_DENIED: &str = "PermissionDenied";

/// Where `weka` and `wekad` look for the socket when none is configured:
/// `/run/wekad/wekad.sock` for root; otherwise `$XDG_RUNTIME_DIR/wekad/wekad.sock`, or
/// `/tmp/wekad-$UID/wekad.sock` when `XDG_RUNTIME_DIR` is unset.
pub fn default_socket_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/wekad/wekad.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("wekad/wekad.sock"),
        _ => PathBuf::from(format!("/tmp/wekad-{uid}/wekad.sock")),
    }
}

/// A password, secret key or session token on the wire.
///
/// Serialized as a plain JSON string (`serde(transparent)`), so the protocol is unchanged;
/// `Debug` prints `[REDACTED]`, so a request or response can be logged or shown in an
/// error without leaking it. `expose()` is the only way to read the text: callers must
/// not log what it returns.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret(text.to_owned())
    }
}

/// A request with its id, as sent on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
}

/// Every command the daemon understands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    UserList,
    UserAdd {
        username: String,
        role: String,
        password: Secret,
        posix_uid: Option<u32>,
        posix_gid: Option<u32>,
    },
    UserDelete {
        username: String,
    },
    UserPasswd {
        username: String,
        password: Secret,
    },
    UserUpdate {
        username: String,
        role: Option<String>,
        posix_uid: Option<u32>,
        posix_gid: Option<u32>,
    },
    UserRevokeTokens {
        username: String,
    },
    PolicyList,
    PolicyShow {
        name: String,
    },
    PolicyCreate {
        name: String,
        json: String,
    },
    PolicyRemove {
        name: String,
    },
    PolicyAttach {
        policy: String,
        user: String,
    },
    PolicyDetach {
        user: String,
    },
    BucketCreate {
        name: String,
        policy: Option<String>,
        policy_json: Option<String>,
        hard_quota: Option<u64>,
    },
    BucketList,
    BucketDestroy {
        name: String,
    },
    BucketPolicySet {
        bucket: String,
        kind: String,
    },
    BucketPolicyGet {
        bucket: String,
    },
    BucketPolicyUnset {
        bucket: String,
    },
    BucketPolicySetCustom {
        bucket: String,
        json: String,
    },
    BucketQuotaSet {
        bucket: String,
        hard_quota: u64,
    },
    BucketQuotaUnset {
        bucket: String,
    },
    Status,
    /// Reserved for STS (`weka s3 sts assume-role`): answered with `Response::Credentials`.
    AssumeRole {
        access_key: String,
        secret_key: Secret,
        policy: Option<String>,
        duration_secs: u64,
    },
}

impl Request {
    /// The operation name, for logs (never includes fields, which may be secrets).
    pub fn op(&self) -> &'static str {
        match self {
            Request::UserList => "user_list",
            Request::UserAdd { .. } => "user_add",
            Request::UserDelete { .. } => "user_delete",
            Request::UserPasswd { .. } => "user_passwd",
            Request::UserUpdate { .. } => "user_update",
            Request::UserRevokeTokens { .. } => "user_revoke_tokens",
            Request::PolicyList => "policy_list",
            Request::PolicyShow { .. } => "policy_show",
            Request::PolicyCreate { .. } => "policy_create",
            Request::PolicyRemove { .. } => "policy_remove",
            Request::PolicyAttach { .. } => "policy_attach",
            Request::PolicyDetach { .. } => "policy_detach",
            Request::BucketCreate { .. } => "bucket_create",
            Request::BucketList => "bucket_list",
            Request::BucketDestroy { .. } => "bucket_destroy",
            Request::BucketPolicySet { .. } => "bucket_policy_set",
            Request::BucketPolicyGet { .. } => "bucket_policy_get",
            Request::BucketPolicyUnset { .. } => "bucket_policy_unset",
            Request::BucketPolicySetCustom { .. } => "bucket_policy_set_custom",
            Request::BucketQuotaSet { .. } => "bucket_quota_set",
            Request::BucketQuotaUnset { .. } => "bucket_quota_unset",
            Request::Status => "status",
            Request::AssumeRole { .. } => "assume_role",
        }
    }
}

/// A response with the id of its request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub id: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Success or failure of one request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(Response),
    Error(ErrorObject),
}

/// What a successful request returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Response {
    Done {
        message: String,
    },
    Users(Vec<UserEntry>),
    User(UserEntry),
    Policies(Vec<PolicyEntry>),
    Policy {
        name: String,
        json: String,
    },
    Buckets(Vec<BucketEntry>),
    BucketPolicy {
        bucket: String,
        kind: String,
        json: Option<String>,
    },
    Status(Status),
    Credentials(Credentials),
}

/// A user as `weka user` lists it (WEKA's columns).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserEntry {
    pub uid: u64,
    pub user: String,
    pub source: String,
    pub role: String,
    #[serde(rename = "s3Policy")]
    pub s3_policy: Option<String>,
    pub posix_uid: u32,
    pub posix_gid: u32,
    pub created: i64,
    pub updated: i64,
}

/// A policy as `weka s3 policy list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyEntry {
    pub name: String,
    pub builtin: bool,
    pub users: Vec<String>,
}

/// A bucket as `weka s3 bucket list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketEntry {
    pub name: String,
    /// Hard quota in bytes.
    pub hard: Option<u64>,
    /// Bytes used, when known.
    pub used: Option<u64>,
    pub path: String,
    pub policy: String,
}

/// STS temporary credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// RFC 3339.
    pub expiration: String,
}

/// `weka status`: filled in by the daemon.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    pub data: String,
    pub mount: String,
    pub state: String,
    pub socket: String,
    pub mounted: bool,
    pub passthrough: bool,
    /// FUSE requests arrive over io_uring (per-CPU queues) rather than `/dev/fuse`.
    #[serde(default)]
    pub io_uring: bool,
    pub s3_endpoint: Option<String>,
    pub metrics_endpoint: Option<String>,
    pub users: u64,
    pub policies: u64,
    pub buckets: u64,
    pub counters: BTreeMap<String, u64>,
}

/// An error the daemon reports: a stable code, an operator message, and how to fix it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorObject {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// Why a call through the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach wekad at {path}: {source}\nhint: {hint}")]
    Unreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("{0}")]
    Refused(ErrorObject),
    #[error("{0}")]
    Daemon(ErrorObject),
    #[error("protocol error talking to wekad: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The `weka` exit code for this error (see `weka --help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Unreachable { .. } | ClientError::Refused(_) => 3,
            ClientError::Daemon(_) | ClientError::Protocol(_) => 1,
        }
    }
}

/// A connection to the control socket.
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| unreachable(path, e))?;
        let writer = stream.try_clone().map_err(|e| unreachable(path, e))?;
        Ok(Client {
            path: path.to_owned(),
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        })
    }

    /// Sends one request and waits for its response.
    pub fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_string(&RequestEnvelope { id, request })
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push('\n');
        // A refused peer may see the write fail because the daemon already closed; the
        // refusal line is still readable, so the write error is only reported if none is.
        let written = self.writer.write_all(line.as_bytes());
        let reply = self.read_reply();
        match (reply, written) {
            (Ok(env), _) => self.outcome(id, env),
            (Err(e), Err(w)) if is_disconnect(&w) => Err(e),
            (Err(_), Err(w)) => Err(unreachable(&self.path, w)),
            (Err(e), Ok(())) => Err(e),
        }
    }

    fn read_reply(&mut self) -> Result<ResponseEnvelope, ClientError> {
        let mut buf = String::new();
        let n = self
            .reader
            .read_line(&mut buf)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if n == 0 {
            return Err(ClientError::Protocol(
                "wekad closed the connection without answering".into(),
            ));
        }
        serde_json::from_str(&buf)
            .map_err(|e| ClientError::Protocol(format!("bad response line: {e}")))
    }

    fn outcome(&self, id: u64, env: ResponseEnvelope) -> Result<Response, ClientError> {
        match env.outcome {
            Outcome::Error(e) if e.code == CODE_PERMISSION_DENIED => Err(ClientError::Refused(e)),
            Outcome::Error(e) => Err(ClientError::Daemon(e)),
            Outcome::Ok(_) if env.id != id => Err(ClientError::Protocol(format!(
                "response id {} does not match request id {id}",
                env.id
            ))),
            Outcome::Ok(r) => Ok(r),
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
    )
}

fn unreachable(path: &Path, source: std::io::Error) -> ClientError {
    let hint = match source.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied on the socket: run as root or add your user to wekad's admin group (then log in again)",
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => "is wekad running? start it (systemctl start wekad), or point --socket / WEKA_SOCKET at its socket",
        _ => "check that wekad is running and that --socket / WEKA_SOCKET names its socket",
    };
    ClientError::Unreachable {
        path: path.to_owned(),
        source,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_flat_json_objects_with_op_and_id() {
        let env = RequestEnvelope {
            id: 7,
            request: Request::UserDelete {
                username: "bob".into(),
            },
        };
        let v: serde_json::Value = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "op": "user_delete", "username": "bob"})
        );
        let back: RequestEnvelope = serde_json::from_value(v).unwrap();
        assert_eq!(back.request, env.request);
    }

    #[test]
    fn responses_round_trip_with_kind_and_data() {
        let env = ResponseEnvelope {
            id: 3,
            outcome: Outcome::Ok(Response::Done {
                message: "ok".into(),
            }),
        };
        let s = serde_json::to_string(&env).unwrap();
        assert_eq!(
            s,
            r#"{"id":3,"ok":{"kind":"done","data":{"message":"ok"}}}"#
        );
        let back: ResponseEnvelope = serde_json::from_str(&s).unwrap();
        assert!(matches!(back.outcome, Outcome::Ok(Response::Done { .. })));
    }

    const SECRET: &str = "hunter2-Sup3rS3cret";

    /// Every wire value that carries a secret, wrapped as it travels.
    fn values_with_secrets() -> Vec<Box<dyn std::fmt::Debug>> {
        let requests = [
            Request::UserAdd {
                username: "alice".into(),
                role: "s3".into(),
                password: SECRET.into(),
                posix_uid: None,
                posix_gid: None,
            },
            Request::UserPasswd {
                username: "alice".into(),
                password: SECRET.into(),
            },
            Request::AssumeRole {
                access_key: "alice".into(),
                secret_key: SECRET.into(),
                policy: None,
                duration_secs: 900,
            },
        ];
        let credentials = Credentials {
            access_key_id: "ASIAABCDEFGHIJKLMNOP".into(),
            secret_access_key: SECRET.into(),
            session_token: format!("{SECRET}.token").into(),
            expiration: "2026-11-29T14:00:00Z".into(),
        };
        let mut values: Vec<Box<dyn std::fmt::Debug>> = Vec::new();
        for request in requests {
            values.push(Box::new(RequestEnvelope {
                id: 1,
                request: request.clone(),
            }));
            values.push(Box::new(request));
        }
        values.push(Box::new(ResponseEnvelope {
            id: 1,
            outcome: Outcome::Ok(Response::Credentials(credentials.clone())),
        }));
        values.push(Box::new(Response::Credentials(credentials.clone())));
        values.push(Box::new(credentials));
        values
    }

    #[test]
    fn debug_of_requests_and_credentials_never_shows_the_secret() {
        for value in values_with_secrets() {
            for text in [format!("{value:?}"), format!("{value:#?}")] {
                assert!(!text.contains(SECRET), "secret leaked: {text}");
                assert!(text.contains("[REDACTED]"), "{text}");
            }
        }
    }

    #[test]
    fn secrets_are_plain_json_strings_on_the_wire() {
        let request = Request::UserPasswd {
            username: "alice".into(),
            password: SECRET.into(),
        };
        let v = serde_json::to_value(&request).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op": "user_passwd", "username": "alice", "password": SECRET})
        );
        let back: Request = serde_json::from_value(v).unwrap();
        let Request::UserPasswd { password, .. } = back else {
            panic!("not user_passwd")
        };
        assert_eq!(password.expose(), SECRET);
    }

    #[test]
    fn errors_carry_code_message_and_hint() {
        let s =
            r#"{"id":0,"error":{"code":"PermissionDenied","message":"no","hint":"add to group"}}"#;
        let env: ResponseEnvelope = serde_json::from_str(s).unwrap();
        let Outcome::Error(e) = env.outcome else {
            panic!("expected error")
        };
        assert_eq!(e.hint.as_deref(), Some("add to group"));
    }
}
