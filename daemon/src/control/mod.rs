//! The control socket: `weka` talks to wekad here, one JSON line each way.
//!
//! Owns the socket file (created 0660 in a 0755 parent, group = the admin group when it
//! exists), the peer check (root or admin group, from `SO_PEERCRED`), and the line
//! protocol of `weka::api`. Request handling is in `handlers`.
//!
//! Invariants: a refused peer receives exactly one error line (id 0) and is disconnected
//! before any request is read; every request gets one response echoing its id; one tracing
//! span per command carries the peer uid and the operation, never a field (fields may hold
//! passwords). This module must not decide IAM or bucket semantics: it calls `Iam`, the
//! object view and, for everything about a bucket, its owner `weka_s3::buckets::Buckets`.

mod handlers;
mod peer;
mod sts;

#[cfg(test)]
mod tests;

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tracing::Instrument;
use weka::api::{
    ErrorObject, Outcome, RequestEnvelope, ResponseEnvelope, Status, CODE_PERMISSION_DENIED,
};
use weka_fs::object::ObjectView;
use weka_s3::buckets::Buckets;
use weka_s3::iam::Iam;

use crate::error::{Error, Result};
use peer::Peer;

/// Longest request line accepted (policies are at most a few KB).
const MAX_LINE: u64 = 1 << 20;

/// Produces the `weka status` answer; filled in by the daemon.
pub type StatusFn = Arc<dyn Fn() -> Status + Send + Sync>;

/// What the control handlers act on.
pub struct ControlContext {
    pub iam: Iam,
    pub view: Arc<ObjectView>,
    /// The owner of the buckets: create, destroy and every bucket setting go through it.
    pub buckets: Buckets,
    pub status: StatusFn,
    admin_group: Option<(String, Option<u32>)>,
}

impl ControlContext {
    /// `admin_group`: members may use the socket besides root. A group that does not exist
    /// leaves the socket to root alone (logged once here).
    pub fn new(buckets: Buckets, status: StatusFn, admin_group: Option<&str>) -> ControlContext {
        let admin_group = admin_group.filter(|g| !g.is_empty()).map(|name| {
            let gid = peer::group_gid(name);
            if gid.is_none() {
                tracing::warn!(group = name, "admin group does not exist: only root may use the control socket (create it with groupadd)");
            }
            (name.to_owned(), gid)
        });
        ControlContext {
            iam: buckets.iam().clone(),
            view: buckets.view().clone(),
            buckets,
            status,
            admin_group,
        }
    }

    fn admin_gid(&self) -> Option<u32> {
        self.admin_group.as_ref().and_then(|(_, gid)| *gid)
    }

    fn refusal(&self, peer: &Peer) -> ErrorObject {
        let (message, hint) = match &self.admin_group {
            Some((name, _)) => (
                format!("permission denied: uid {} is neither root nor a member of group `{name}`", peer.uid),
                format!("add the user to group {name} (usermod -aG {name} USER, then log in again), or run weka as root"),
            ),
            None => (format!("permission denied: uid {} is not root and no admin group is configured", peer.uid), "run weka as root, or set admin_group in wekad's configuration".to_owned()),
        };
        ErrorObject {
            code: CODE_PERMISSION_DENIED.into(),
            message,
            hint: Some(hint),
        }
    }
}

/// Creates the socket at `path`: the parent directory (0755) if missing, mode 0660, group
/// = `admin_group` when that group exists. A stale socket file is removed; a socket on
/// which another daemon answers is refused. Must run inside the tokio runtime.
pub fn bind(path: &Path, admin_group: Option<&str>) -> Result<UnixListener> {
    let problem = |what: &str, e: &dyn std::fmt::Display| {
        Error::check(format!("control socket {}: {what}: {e}", path.display()), "check the socket path (--socket / socket in wekad.toml) and that wekad may write its directory")
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| problem("cannot create the directory", &e))?;
    }
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(|e| problem("cannot bind", &e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| problem("cannot set mode 0660", &e))?;
    if let Some(gid) = admin_group.and_then(peer::group_gid) {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| problem("cannot give the socket to the admin group", &e))?;
    }
    Ok(listener)
}

fn remove_stale(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(Error::check(
            format!(
                "control socket {} exists and is not a socket",
                path.display()
            ),
            "remove it or choose another --socket path",
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Error::check(
            format!("another wekad is answering on {}", path.display()),
            "stop it first, or give this one another --socket",
        ));
    }
    std::fs::remove_file(path).map_err(|e| {
        Error::check(
            format!("cannot remove stale socket {}: {e}", path.display()),
            "remove it by hand",
        )
    })
}

/// Accepts connections until `shutdown` becomes true (or its sender is dropped).
pub async fn serve(
    listener: UnixListener,
    ctx: Arc<ControlContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { break },
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, ctx.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn connection(
    stream: UnixStream,
    ctx: Arc<ControlContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = match Peer::of(&stream) {
        Ok(p) => p,
        Err(e) => {
            return tracing::warn!(error = %e, "cannot read control peer credentials; connection dropped")
        }
    };
    let (read, mut write) = stream.into_split();
    if !peer.is_admin(ctx.admin_gid()) {
        tracing::info!(
            peer_uid = peer.uid,
            "control connection refused: not an administrator"
        );
        // The peer may already be gone; there is nobody left to tell.
        let _ = send(
            &mut write,
            &ResponseEnvelope {
                id: 0,
                outcome: Outcome::Error(ctx.refusal(&peer)),
            },
        )
        .await;
        return;
    }
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        let mut limited = (&mut reader).take(MAX_LINE);
        let read = tokio::select! {
            r = limited.read_line(&mut line) => r,
            _ = shutdown.changed() => return,
        };
        match read {
            Ok(0) => return,
            Ok(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_LINE => {
                let e = protocol_error(format!("request line longer than {MAX_LINE} bytes"));
                let _ = send(
                    &mut write,
                    &ResponseEnvelope {
                        id: 0,
                        outcome: Outcome::Error(e),
                    },
                )
                .await;
                return;
            }
            Ok(_) => {}
            Err(e) => return tracing::debug!(error = %e, "control connection read failed"),
        }
        let response = answer(&ctx, &peer, &line).await;
        if send(&mut write, &response).await.is_err() {
            return;
        }
    }
}

async fn answer(ctx: &Arc<ControlContext>, peer: &Peer, line: &str) -> ResponseEnvelope {
    let envelope: RequestEnvelope = match serde_json::from_str(line) {
        Ok(e) => e,
        Err(e) => {
            return ResponseEnvelope {
                id: request_id(line),
                outcome: Outcome::Error(protocol_error(format!("malformed request: {e}"))),
            }
        }
    };
    let span = tracing::info_span!(
        "control",
        peer_uid = peer.uid,
        op = envelope.request.op(),
        id = envelope.id
    );
    let id = envelope.id;
    let ctx = ctx.clone();
    let outcome = async move {
        // IAM changes hash passwords and sync LMDB: keep them off the async workers.
        let result =
            tokio::task::spawn_blocking(move || handlers::handle(&ctx, envelope.request)).await;
        let outcome = match result {
            Ok(Ok(r)) => Outcome::Ok(r),
            Ok(Err(e)) => Outcome::Error(e),
            Err(e) => Outcome::Error(ErrorObject {
                code: "Internal".into(),
                message: format!("request handler failed: {e}"),
                hint: None,
            }),
        };
        match &outcome {
            Outcome::Ok(_) => tracing::info!("done"),
            Outcome::Error(e) => tracing::info!(code = %e.code, "refused"),
        }
        outcome
    }
    .instrument(span)
    .await;
    ResponseEnvelope { id, outcome }
}

/// The id of a request we could not decode, if its `id` field is readable.
fn request_id(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

fn protocol_error(message: String) -> ErrorObject {
    ErrorObject {
        code: "BadRequest".into(),
        message,
        hint: Some("use a weka binary of the same version as wekad".into()),
    }
}

async fn send(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: &ResponseEnvelope,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}
