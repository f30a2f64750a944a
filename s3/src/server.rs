//! The S3 listener: hyper 1 over tokio serving the s3s service, path-style and
//! virtual-host-style, optional TLS, one request id and tracing span per request, an
//! `Observer` hook for the access log and metrics, and graceful shutdown.
//!
//! Invariants: a request's [`RequestId`] is made once, here, when hyper hands the request
//! over, and travels in its extensions: the same id is the span's `req_id` (so every log
//! line of the request names it), the `x-amz-request-id` header, the `<RequestId>` of an
//! S3 error document or of any STS answer, and the access log's `request_id`. Every
//! response carries `x-amz-request-id`; the observer is called exactly
//! once per request that produced a response; on shutdown the listener stops accepting and
//! in-flight requests get `SHUTDOWN_GRACE` to finish. Request bodies that stall are cut by
//! the handlers (`api::BODY_STALL`); slow headers by hyper's header timeout. With TLS, each
//! connection takes the certificate current when it is accepted (see `tls`), and every
//! request carries its connection's [`Transport`] (TLS or not, local address) for the STS
//! plaintext rule.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::{S3Service, S3ServiceBuilder};
use tracing::Instrument;

use crate::api::Gateway;
use crate::auth::{Peer, Resolver, Seen, WekaAccess, WekaAuth};
use crate::buckets::Buckets;
use crate::error::{Error, Result};
use crate::op::Op;
use crate::sts::{StsAction, Transport};
use crate::tls::TlsCerts;
use crate::xml::ErrorDoc;

/// In-flight requests get this long to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the S3 service.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Domains for virtual-host-style addressing (`<bucket>.<domain>`).
    pub virtual_host_domains: Vec<String>,
    /// The region reported to clients (GetBucketLocation).
    pub region: String,
    /// Whether `region` was configured: SigV4 requests must then be signed for it.
    pub region_pinned: bool,
    /// Owner of what anonymous requests create.
    pub anonymous_uid: u32,
    pub anonymous_gid: u32,
    /// The certificate and key for HTTPS (reloadable; shared with whoever reloads it).
    pub tls: Option<TlsCerts>,
    /// Answer STS over plain HTTP on a non-loopback address too (see `sts::Transport`).
    pub sts_allow_plaintext: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            virtual_host_domains: Vec::new(),
            region: "us-east-1".into(),
            region_pinned: false,
            anonymous_uid: 65534,
            anonymous_gid: 65534,
            tls: None,
            sts_allow_plaintext: false,
        }
    }
}

/// The id of one request (16 upper-case hex digits), made once by the server when the
/// request arrives and carried in its extensions (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id.
    pub fn generate() -> RequestId {
        RequestId(hex::encode_upper(rand::random::<[u8; 8]>()))
    }

    /// A fixed id, for tests.
    #[cfg(test)]
    pub(crate) fn from_static(id: &'static str) -> RequestId {
        RequestId(id.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value (`x-amz-request-id`, `x-amzn-requestid`).
    pub fn header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_str(&self.0).unwrap_or_else(|_| http::HeaderValue::from_static("-"))
        // hex is always valid
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a request was routed to, as the access log's `op` and the metrics' `op` label name
/// it ([`RequestOp::as_str`]): a bounded set of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestOp {
    /// Not routed: s3s found no operation, or an STS form named no action the door
    /// answers (`-`).
    #[default]
    Unrouted,
    /// An S3 operation (`GetObject`).
    S3(Op),
    /// An STS action named by the form, before (or without) its caller being verified
    /// (`AssumeRole`).
    StsAction(StsAction),
    /// An STS action run for a verified caller (`sts:AssumeRole`).
    StsCall(StsAction),
}

impl RequestOp {
    /// The name logged and used as the metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestOp::Unrouted => "-",
            RequestOp::S3(op) => op.as_str(),
            RequestOp::StsAction(action) => action.as_str(),
            RequestOp::StsCall(StsAction::AssumeRole) => "sts:AssumeRole",
            RequestOp::StsCall(StsAction::GetCallerIdentity) => "sts:GetCallerIdentity",
        }
    }

    /// Whether the request was an STS `AssumeRole` (verified or not).
    pub fn is_assume_role(self) -> bool {
        matches!(
            self,
            RequestOp::StsAction(StsAction::AssumeRole) | RequestOp::StsCall(StsAction::AssumeRole)
        )
    }
}

impl std::fmt::Display for RequestOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RequestOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finished request, as the access log and metrics see it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: RequestId,
    pub remote: SocketAddr,
    /// The user name, or `"anonymous"`.
    pub user: String,
    /// What the request was routed to.
    pub op: RequestOp,
    pub bucket: String,
    pub key: String,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
}

/// Called once per request, after the response headers are ready.
pub trait Observer: Send + Sync + 'static {
    fn observe(&self, record: &RequestRecord);
}

/// The S3 server, ready to serve a listener.
pub struct S3Server {
    service: S3Service,
    gate: crate::gate::Gate,
    tls: Option<TlsCerts>,
    observer: Option<Arc<dyn Observer>>,
    grace: Duration,
}

impl S3Server {
    /// Builds the service over the buckets of `buckets` with IAM authentication and
    /// authorization.
    pub fn new(cfg: S3Config, buckets: Buckets) -> Result<S3Server> {
        let gateway = Gateway::new(buckets.clone(), cfg.region.clone());
        let mut builder = S3ServiceBuilder::new(gateway);
        let iam = buckets.iam().clone();
        let resolver = Resolver::new(iam.clone());
        builder.set_route(
            crate::sts::StsRoute::new(resolver.sts().clone(), iam)
                .allow_plaintext(cfg.sts_allow_plaintext),
        );
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            limits(),
        ))));
        builder.set_auth(WekaAuth::new(resolver.clone()));
        builder.set_access(WekaAccess::new(
            resolver,
            buckets,
            cfg.anonymous_uid,
            cfg.anonymous_gid,
        ));
        if !cfg.virtual_host_domains.is_empty() {
            builder.set_host(VirtualHosts::new(&cfg.virtual_host_domains)?);
        }
        Ok(S3Server {
            service: builder.build(),
            gate: crate::gate::Gate {
                region: cfg.region_pinned.then(|| cfg.region.clone()),
            },
            tls: cfg.tls,
            observer: None,
            grace: SHUTDOWN_GRACE,
        })
    }

    /// Installs the per-request observer (access log, metrics).
    pub fn set_observer(&mut self, observer: Arc<dyn Observer>) {
        self.observer = Some(observer);
    }

    /// How long in-flight requests may run after shutdown (default `SHUTDOWN_GRACE`; the
    /// daemon sets its configured drain deadline).
    pub fn set_shutdown_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// Serves `listener` until `shutdown` completes, then drains in-flight requests for at
    /// most the shutdown grace.
    pub fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<()>> + Send {
        let shared = Arc::new(self);
        async move {
            let graceful = GracefulShutdown::new();
            let mut shutdown = std::pin::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => shared.clone().connection(stream, peer, &graceful),
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                }
            }
            drop(listener);
            if tokio::time::timeout(shared.grace, graceful.shutdown())
                .await
                .is_err()
            {
                tracing::warn!(
                    "in-flight S3 requests did not finish within the shutdown grace period"
                );
            }
            Ok(())
        }
    }

    fn connection(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        graceful: &GracefulShutdown,
    ) {
        let _ = stream.set_nodelay(true); // latency only; failure changes nothing else
        let transport = Transport {
            secure: self.tls.is_some(),
            // Unknown counts as not loopback: the strict side of the STS plaintext rule.
            local: stream
                .local_addr()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        };
        let secure = transport.secure;
        let this = self.clone();
        let svc = hyper::service::service_fn(move |mut req: http::Request<_>| {
            req.extensions_mut().insert(transport);
            this.clone().handle(req, peer, secure)
        });
        let mut builder = ConnBuilder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        match &self.tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), svc)
                    .into_owned();
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(certs) => {
                let acceptor = certs.acceptor();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), svc)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        mut req: http::Request<hyper::body::Incoming>,
        remote: SocketAddr,
        secure: bool,
    ) -> std::result::Result<http::Response<s3s::Body>, std::convert::Infallible> {
        let started = Instant::now();
        let request_id = RequestId::generate();
        req.extensions_mut().insert(request_id.clone());
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        req.extensions_mut().insert(Peer {
            addr: remote,
            secure,
            seen: seen.clone(),
        });
        let bytes_in = content_length(req.headers());
        crate::sts::promote_v2_presigned_token(&mut req);
        let is_sts = crate::sts::is_sts_http_request(&req);
        let span = tracing::info_span!("s3", req_id = %request_id, op = tracing::field::Empty, bucket = tracing::field::Empty, key = tracing::field::Empty, access_key = tracing::field::Empty, status = tracing::field::Empty, error = tracing::field::Empty);
        let gate = self.gate.check(
            req.headers(),
            req.uri(),
            is_sts,
            time::OffsetDateTime::now_utc(),
        );
        let mut resp = match gate {
            Err(refusal) => refusal_response(&refusal),
            Ok(()) => match self
                .service
                .call(req.map(s3s::Body::from))
                .instrument(span.clone())
                .await
            {
                Ok(resp) => resp,
                Err(e) => {
                    span.record("error", tracing::field::debug(&e));
                    let mut r = http::Response::new(s3s::Body::empty());
                    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    r
                }
            },
        };
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        if seen.op == RequestOp::Unrouted && resp.status() == http::StatusCode::NOT_IMPLEMENTED {
            // s3s could not route the request, so IAM never allowed anything: say no more
            // than AccessDenied (NotImplemented is only for callers IAM allowed).
            resp = refusal_response(&crate::gate::Refusal::access_denied());
        }
        if is_sts {
            resp = crate::sts::rewrap_s3_error(resp, &request_id).await;
        } else {
            resp = complete_error(resp, &request_id).await;
        }
        resp.headers_mut()
            .insert("x-amz-request-id", request_id.header_value());
        if let Some(error) = &seen.error {
            span.record("error", error.as_str());
        }
        span.record("op", seen.op.as_str())
            .record("bucket", seen.bucket.as_str())
            .record("key", seen.key.as_str())
            .record("status", resp.status().as_u16());
        if let Some(user) = &seen.user {
            span.record("access_key", user.as_str());
        }
        log_outcome(&span, resp.status(), is_sts);
        if let Some(obs) = &self.observer {
            obs.observe(&RequestRecord {
                request_id,
                remote,
                user: seen.user.clone().unwrap_or_else(|| "anonymous".into()),
                op: seen.op,
                bucket: seen.bucket,
                key: seen.key,
                status: resp.status().as_u16(),
                bytes_in,
                bytes_out: content_length(resp.headers()),
                duration: started.elapsed(),
            });
        }
        Ok(resp)
    }
}

/// The largest browser form upload (PostObject). s3s holds a form's file in memory before
/// the access check can see the key, so the bound is memory, not disk: larger objects go
/// through PutObject or multipart upload, which stream.
pub const POST_OBJECT_MAX_SIZE: u64 = 64 << 20;

/// s3s's input limits: XML bodies without a Content-Length are cut at the largest per-operation
/// limit (`auth::xml_body_limit`), browser forms at `POST_OBJECT_MAX_SIZE`.
fn limits() -> s3s::config::S3Config {
    let mut c = s3s::config::S3Config::default();
    c.xml_max_body_size = usize::try_from(crate::auth::MAX_XML_BODY).unwrap_or(usize::MAX);
    c.post_object_max_file_size = POST_OBJECT_MAX_SIZE;
    c.form_max_fields_size = 1 << 20;
    c.form_max_field_size = 64 << 10;
    c.form_max_parts = 64;
    c
}

/// Virtual-host addressing for the configured domains: `<bucket>.<domain>[:port]` names the
/// bucket, anything else (an IP address, `localhost`, the bare domain) is path-style. Unlike
/// s3s's `MultiDomain`, a port in the Host header is ignored and an unknown host never
/// becomes a bucket name.
struct VirtualHosts {
    domains: Vec<String>,
}

impl VirtualHosts {
    fn new(domains: &[String]) -> Result<VirtualHosts> {
        let domains: Vec<String> = domains
            .iter()
            .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
            .collect();
        if let Some(bad) = domains
            .iter()
            .find(|d| d.is_empty() || d.contains(':') || d.contains('/'))
        {
            return Err(Error::InvalidArgument(format!(
                "virtual host domain `{bad}` is not a domain name"
            )));
        }
        Ok(VirtualHosts { domains })
    }
}

impl s3s::host::S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        for domain in &self.domains {
            let Some(rest) = name.strip_suffix(domain.as_str()) else {
                continue;
            };
            if let Some(bucket) = rest.strip_suffix('.').filter(|b| !b.is_empty()) {
                return Ok(s3s::host::VirtualHost::new(domain.as_str())
                    .with_bucket(bucket.to_ascii_lowercase()));
            }
        }
        Ok(s3s::host::VirtualHost::new(name))
    }
}

/// The one log line of a refused or failed request: 4xx (and 501) at info, 5xx at warn, inside the
/// request's span (request id, operation, bucket, key, user, and the handler's error).
/// Successes log nothing here (the access log records them).
fn log_outcome(span: &tracing::Span, status: http::StatusCode, sts: bool) {
    let code = status.as_u16();
    if status == http::StatusCode::NOT_IMPLEMENTED {
        // The documented answer to an operation the door does not serve, not a fault.
        tracing::info!(parent: span, status = code, "S3 request not implemented");
    } else if status.is_server_error() && sts {
        tracing::warn!(parent: span, status = code, "STS request failed");
    } else if status.is_server_error() {
        tracing::warn!(parent: span, status = code, "S3 request failed");
    } else if status.is_client_error() && sts {
        tracing::info!(parent: span, status = code, "STS request refused");
    } else if status.is_client_error() {
        tracing::info!(parent: span, status = code, "S3 request refused");
    }
}

/// Gives an S3 error document the parts every client expects: a `<RequestId>` equal to
/// the `x-amz-request-id` header, and a `<Message>` (s3s omits it for some errors, and
/// clients then print "Unknown"). Successes and bodies that are not error documents pass
/// unchanged.
async fn complete_error(
    mut resp: http::Response<s3s::Body>,
    request_id: &RequestId,
) -> http::Response<s3s::Body> {
    /// Error documents are small; a larger body is not one and is left alone.
    const MAX_ERROR_BYTES: usize = 64 << 10;
    if resp.status().as_u16() < 400 || resp.status() == http::StatusCode::NOT_MODIFIED {
        return resp;
    }
    let Ok(bytes) = resp.body_mut().store_all_limited(MAX_ERROR_BYTES).await else {
        return resp;
    };
    let Some(mut doc) = ErrorDoc::parse(&bytes) else {
        return resp;
    };
    let reason = resp.status().canonical_reason().unwrap_or("Error");
    let added_message = doc.add_if_absent("Message", reason);
    let added_id = doc.add_if_absent("RequestId", request_id.as_str());
    if !added_message && !added_id {
        return resp;
    }
    let body = doc.to_xml();
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(body);
    resp
}

/// The S3 error response of a refusal made before s3s.
fn refusal_response(refusal: &crate::gate::Refusal) -> http::Response<s3s::Body> {
    let mut r = http::Response::new(s3s::Body::from(refusal.to_xml()));
    *r.status_mut() = refusal.status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    r
}

/// The Content-Length of a request or response, 0 when absent or unreadable.
pub(crate) fn content_length(h: &http::HeaderMap) -> u64 {
    h.get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
