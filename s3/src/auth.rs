//! Glue from s3s to IAM and the policy engine: `WekaAuth` (secret lookup for SigV4) and
//! `WekaAccess` (per-request authorization).
//!
//! Invariants:
//! - Both go through one credentials resolver, `Resolver::resolve`, so adding a kind of
//!   credential (STS session tokens) is one change in one place.
//! - Deny by construction: every request is decided here before its handler runs, by the
//!   rule `policy::ops` gives its [`Op`]; a name s3s gives that is no `Op` is refused
//!   for every caller, signed or not. Listings and browser form uploads are decided in their
//!   access hooks (they need the parsed input), DeleteObjects per key by the handler with
//!   the `Authz` left in the request extensions. An unserved operation reaches s3s's
//!   `NotImplemented` only when IAM allowed the caller its governing action.
//! - The caller (name, POSIX uid/gid) is put into the request extensions as `Caller`; the
//!   handlers use it for ownership. Secrets are never logged.

use std::net::SocketAddr;
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{
    CopySource, ListObjectVersionsInput, ListObjectsInput, ListObjectsV2Input, PostObjectInput,
};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};

use crate::buckets::Buckets;
use crate::iam::{Iam, S3Identity};
use crate::op::Op;
use crate::policy::ops::DecidedBy;
use crate::policy::{self, Decision, Policy, RequestContext};
use crate::server::RequestOp;
use crate::sts::{Sts, StsError};

/// Who is making a request, as the handlers need it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user name, `None` for anonymous requests.
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
}

/// Connection facts the server puts into each request's extensions, and a slot the
/// access check fills in for the access log and metrics.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub secure: bool,
    pub seen: Arc<std::sync::Mutex<Seen>>,
}

/// What the access check learnt about a request (operation, target, user), and why a
/// route that answers errors itself refused it (for the request's log line).
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub op: RequestOp,
    pub bucket: String,
    pub key: String,
    pub user: Option<String>,
    pub error: Option<String>,
}

/// The resolved credentials of a request, kept in extensions for per-key checks.
#[derive(Clone)]
pub struct Authz {
    identity: Option<Arc<S3Identity>>,
    session: Option<Arc<Policy>>,
    ctx: RequestContext,
    buckets: Buckets,
}

impl Authz {
    /// Decides `op` on `bucket`/`key` for this caller.
    pub fn decide(
        &self,
        op: Op,
        bucket: &str,
        key: Option<&str>,
        copy_source: Option<(&str, &str)>,
        ctx: &RequestContext,
    ) -> Decision {
        let reqs = policy::ops::requirements(op, bucket, key, copy_source);
        let identity = self.identity.as_ref().and_then(|i| i.policy.as_deref());
        let buckets = &self.buckets;
        policy::authorize_all(
            identity,
            self.session.as_deref(),
            |b| buckets.policy(b),
            self.identity.is_none(),
            &reqs,
            ctx,
        )
    }

    /// Decides with the request's base context.
    pub fn allows(&self, op: Op, bucket: &str, key: Option<&str>) -> bool {
        self.decide(op, bucket, key, None, &self.ctx).is_allowed()
    }
}

/// What a set of credentials resolves to.
pub struct Resolved {
    pub identity: Arc<S3Identity>,
    /// The session policy of temporary credentials.
    pub session: Option<Arc<Policy>>,
}

/// Looks up credentials; shared by `WekaAuth` (secrets) and `WekaAccess` (identities), so a
/// kind of credential is added in one place. Long-term keys are IAM users; temporary keys
/// (STS) carry a session token that is verified on every request against the live user.
#[derive(Clone)]
pub struct Resolver {
    iam: Iam,
    sts: Sts,
}

impl Resolver {
    /// A resolver over the IAM store, with STS keyed by the server key.
    pub fn new(iam: Iam) -> Resolver {
        let sts = Sts::new(iam.server_key());
        Resolver { iam, sts }
    }

    /// The STS issuer/verifier this resolver uses.
    pub fn sts(&self) -> &Sts {
        &self.sts
    }

    /// The secret that signs requests of `access_key`, `None` if unknown.
    pub fn secret(&self, access_key: &str) -> Option<String> {
        match self.iam.s3_identity(access_key) {
            Some(id) => Some(id.secret.expose().to_owned()),
            None => self.sts.secret_for(access_key),
        }
    }

    /// The identity behind a verified signature by `access_key`, with its session token.
    pub fn identify(&self, access_key: &str, token: Option<&str>) -> S3Result<Resolved> {
        if let Some(identity) = self.iam.s3_identity(access_key) {
            if token.is_some() {
                return Err(StsError::UnexpectedToken.s3_error());
            }
            return Ok(Resolved {
                identity,
                session: None,
            });
        }
        if !crate::sts::is_temporary_access_key(access_key) {
            return Err(s3_error!(InvalidAccessKeyId));
        }
        let token = token
            .ok_or(StsError::MissingToken)
            .map_err(|e| e.s3_error())?;
        let session = self
            .sts
            .verify(token, access_key, &self.iam)
            .map_err(|e| e.s3_error())?;
        Ok(Resolved {
            identity: session.parent,
            session: session.session_policy,
        })
    }
}

/// SigV4 secret lookup.
pub struct WekaAuth {
    resolver: Resolver,
}

impl WekaAuth {
    pub fn new(resolver: Resolver) -> WekaAuth {
        WekaAuth { resolver }
    }
}

#[async_trait::async_trait]
impl S3Auth for WekaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.resolver.secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS access key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Per-request authorization.
pub struct WekaAccess {
    resolver: Resolver,
    buckets: Buckets,
    anonymous_uid: u32,
    anonymous_gid: u32,
}

impl WekaAccess {
    pub fn new(
        resolver: Resolver,
        buckets: Buckets,
        anonymous_uid: u32,
        anonymous_gid: u32,
    ) -> WekaAccess {
        WekaAccess {
            resolver,
            buckets,
            anonymous_uid,
            anonymous_gid,
        }
    }

    /// The caller and its authorization for resolved credentials (`None`: anonymous);
    /// `ctx` is the request's context without the identity, which this adds.
    fn authz(&self, resolved: Option<Resolved>, mut ctx: RequestContext) -> (Caller, Authz) {
        let identity = resolved.as_ref().map(|r| r.identity.clone());
        let caller = match &identity {
            Some(id) => {
                ctx.username = Some(id.name.clone());
                ctx.userid = Some(id.name.clone());
                Caller {
                    name: Some(id.name.clone()),
                    uid: id.posix_uid,
                    gid: id.posix_gid,
                }
            }
            None => Caller {
                name: None,
                uid: self.anonymous_uid,
                gid: self.anonymous_gid,
            },
        };
        let authz = Authz {
            identity,
            session: resolved.and_then(|r| r.session),
            ctx,
            buckets: self.buckets.clone(),
        };
        (caller, authz)
    }
}

/// The condition keys of a request before its identity is known: time,
/// `s3:x-amz-content-sha256` from its headers, `aws:SourceIp` and `aws:SecureTransport`
/// from its connection.
fn base_context(headers: &http::HeaderMap, peer: Option<&Peer>) -> RequestContext {
    let mut ctx = RequestContext::new(time::OffsetDateTime::now_utc());
    if let Some(peer) = peer {
        ctx.source_ip = Some(peer.addr.ip());
        ctx.secure = peer.secure;
    }
    if let Some(v) = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        ctx.set("s3:x-amz-content-sha256", vec![v.to_owned()]);
    }
    ctx
}

fn copy_source(cx: &S3AccessContext<'_>) -> Option<(String, String)> {
    let raw = cx.headers().get("x-amz-copy-source")?.to_str().ok()?;
    match CopySource::parse(raw).ok()? {
        CopySource::Bucket { bucket, key, .. } => Some((bucket.to_string(), key.to_string())),
        CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => None,
    }
}

fn lock_seen(peer: &Peer) -> std::sync::MutexGuard<'_, Seen> {
    peer.seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The largest XML body any operation accepts (CompleteMultipartUpload's); s3s cuts a body
/// without a Content-Length there.
pub const MAX_XML_BODY: u64 = 4 << 20;

/// The largest XML request body each operation accepts: enough for 10000 parts in a
/// CompleteMultipartUpload and 1000 keys of 1024 bytes in a DeleteObjects, 1 MiB for
/// every other XML body (tagging, configurations). `None`: the body is object data.
pub fn xml_body_limit(op: Op) -> Option<u64> {
    match op {
        Op::PutObject | Op::UploadPart | Op::PostObject | Op::WriteGetObjectResponse => None,
        Op::CompleteMultipartUpload => Some(MAX_XML_BODY),
        Op::DeleteObjects => Some(2 << 20),
        _ => Some(1 << 20),
    }
}

/// Refuses an XML body over its operation's limit from its Content-Length, before a byte
/// of it is read (a body without a length is cut by s3s at the largest limit).
fn check_body_size(op: Op, headers: &http::HeaderMap) -> S3Result<()> {
    let Some(limit) = xml_body_limit(op) else {
        return Ok(());
    };
    let length = crate::server::content_length(headers);
    if length > limit {
        return Err(s3_error!(
            EntityTooLarge,
            "the request body of {op} is {length} bytes; at most {limit} bytes are accepted"
        ));
    }
    Ok(())
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

fn authz_of<T>(req: &S3Request<T>) -> S3Result<Authz> {
    req.extensions.get::<Authz>().cloned().ok_or_else(denied)
}

fn check_list(
    authz: &Authz,
    op: Op,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: Option<i32>,
) -> S3Result<()> {
    let ctx = authz
        .ctx
        .clone()
        .with_list_params(prefix, delimiter, max_keys.map(i64::from));
    match authz.decide(op, bucket, None, None, &ctx) {
        Decision::Allow => Ok(()),
        Decision::Deny { .. } => Err(denied()),
    }
}

#[async_trait::async_trait]
impl S3Access for WekaAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // Deny by construction: an operation this build does not know is refused for
        // every caller (its record still names no operation).
        let op = Op::parse(cx.s3_op().name());
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (String::new(), None),
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        let peer = cx.extensions_mut().get::<Peer>().cloned();
        if let Some(peer) = &peer {
            *lock_seen(peer) = Seen {
                op: op.map_or(RequestOp::Unrouted, RequestOp::S3),
                bucket: bucket.clone(),
                key: key.clone().unwrap_or_default(),
                user: cx.credentials().map(|c| c.access_key.clone()),
                error: None,
            };
        }
        let token =
            crate::sts::security_token(cx.headers(), cx.uri()).map(std::borrow::Cow::into_owned);
        let form_with_session = cx.credentials().is_some_and(|c| {
            op == Some(Op::PostObject)
                && token.is_none()
                && crate::sts::is_temporary_access_key(&c.access_key)
        });
        if form_with_session {
            // The session token of a form upload is a form field that s3s does not hand
            // to the access hooks, so the session (and its policy) cannot be checked.
            return Err(s3_error!(
                AccessDenied,
                "browser form uploads cannot be signed with temporary credentials here; use PutObject or a presigned PUT URL"
            ));
        }
        let resolved = match cx.credentials() {
            Some(c) => Some(self.resolver.identify(&c.access_key, token.as_deref())?),
            None => None,
        };
        let ctx = base_context(cx.headers(), peer.as_ref());
        let (caller, authz) = self.authz(resolved, ctx);
        if let Some(peer) = &peer {
            lock_seen(peer).user.clone_from(&caller.name);
        }
        cx.extensions_mut().insert(caller);
        cx.extensions_mut().insert(authz.clone());
        let Some(op) = op else {
            return Err(denied());
        };
        if policy::ops::rule(op).decided_by == DecidedBy::Request {
            let src = copy_source(cx);
            let src_ref = src.as_ref().map(|(b, k)| (b.as_str(), k.as_str()));
            if !authz
                .decide(op, &bucket, key.as_deref(), src_ref, &authz.ctx)
                .is_allowed()
            {
                return Err(denied());
            }
        }
        // Decided in the operation's hook or per key: the body limit still applies now.
        check_body_size(op, cx.headers())
    }

    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        if req.service.as_deref().is_some_and(|s| s != "s3") {
            return Err(s3_error!(
                AuthorizationHeaderMalformed,
                "the form's credential is scoped to another service; sign it for service `s3`"
            ));
        }
        let key = &req.input.key;
        if key.contains("${filename}") {
            return Err(s3_error!(
                InvalidArgument,
                "the `${{filename}}` substitution in a form's key is not supported; name the key in full"
            ));
        }
        let authz = authz_of(req)?;
        if !authz
            .decide(
                Op::PostObject,
                &req.input.bucket,
                Some(key),
                None,
                &authz.ctx,
            )
            .is_allowed()
        {
            return Err(denied());
        }
        if let Some(peer) = req.extensions.get::<Peer>() {
            lock_seen(peer).key.clone_from(key);
        }
        Ok(())
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let i = &req.input;
        check_list(
            &authz_of(req)?,
            Op::ListObjects,
            &i.bucket,
            i.prefix.as_deref(),
            i.delimiter.as_deref(),
            i.max_keys,
        )
    }

    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let i = &req.input;
        check_list(
            &authz_of(req)?,
            Op::ListObjectsV2,
            &i.bucket,
            i.prefix.as_deref(),
            i.delimiter.as_deref(),
            i.max_keys,
        )
    }

    async fn list_object_versions(
        &self,
        req: &mut S3Request<ListObjectVersionsInput>,
    ) -> S3Result<()> {
        let i = &req.input;
        check_list(
            &authz_of(req)?,
            Op::ListObjectVersions,
            &i.bucket,
            i.prefix.as_deref(),
            i.delimiter.as_deref(),
            i.max_keys,
        )
    }
}
