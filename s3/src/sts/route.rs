//! The STS HTTP API on the S3 port: `POST /` with a form body `Action=...`.
//!
//! Owns `AssumeRole` and `GetCallerIdentity` (`Version=2011-06-15`). s3s has already checked
//! the SigV4 signature (service `sts` or `s3`, any region in the credential scope, an empty
//! one included) by the time `call` runs, using the S3 door's `get_secret_key`, which
//! answers for temporary keys through [`Sts::secret_for`].
//!
//! Invariants: every answer, error included, is STS XML (`ErrorResponse`), so botocore and
//! the AWS SDKs report the right code; an unknown or IAM action gets `InvalidAction` at
//! once; `AssumeRole` with temporary credentials is refused (no chaining); a temporary key
//! is only accepted with its valid session token; nothing is answered but
//! `PlaintextRefused` on a connection that is neither TLS nor loopback, unless plaintext is
//! allowed ([`Transport::may_carry_secrets`]).
//! This module must not log credentials, tokens or request bodies.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result};

use super::xml::{self, Caller};
use super::{is_temporary_access_key, Sts, StsError, DEFAULT_DURATION_SECS};
use crate::iam::Iam;
use crate::query::{Params, Plus, Utf8};
use crate::server::{RequestId, RequestOp};
use crate::xml::ErrorDoc;

/// Largest form body read (s3s reads at most 8 KiB of an unsigned-payload STS body too).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The STS route, installed with `S3ServiceBuilder::set_route`.
#[derive(Clone)]
pub struct StsRoute {
    sts: Sts,
    iam: Iam,
    allow_plaintext: bool,
}

impl StsRoute {
    /// A route answering with `sts` for the users of `iam`, over TLS or loopback only.
    pub fn new(sts: Sts, iam: Iam) -> StsRoute {
        StsRoute {
            sts,
            iam,
            allow_plaintext: false,
        }
    }

    /// Also answers over plain HTTP on non-loopback addresses (`sts.allow_plaintext`).
    pub fn allow_plaintext(mut self, allow: bool) -> StsRoute {
        self.allow_plaintext = allow;
        self
    }

    /// Refuses a request whose answer could cross a network in clear text.
    fn check_transport(&self, req: &S3Request<Body>) -> Result<(), StsError> {
        // No transport recorded: not served by our listener; take the strict side.
        let safe = req
            .extensions
            .get::<Transport>()
            .is_some_and(|t| t.may_carry_secrets(self.allow_plaintext));
        match safe {
            true => Ok(()),
            false => Err(StsError::PlaintextRefused),
        }
    }
}

/// The connection a request arrived on, put into its extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// The connection is TLS.
    pub secure: bool,
    /// The local (listener) address the connection was accepted on.
    pub local: std::net::SocketAddr,
}

impl Transport {
    /// Whether an STS answer, which carries a secret key, may be sent on this connection:
    /// over TLS; over loopback (127.0.0.0/8, ::1, or an IPv4-mapped 127.x on a dual-stack
    /// listener), where it never leaves the host; or anywhere when `allow_plaintext`.
    pub fn may_carry_secrets(&self, allow_plaintext: bool) -> bool {
        self.secure || allow_plaintext || self.local.ip().to_canonical().is_loopback()
    }
}

/// The form parameters of one STS request, read as an HTML form (`+` is a space) and
/// refused when an escape decodes to invalid UTF-8.
#[derive(Debug, Default)]
struct Form(Params);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, StsError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| StsError::InvalidParameterValue("body is not UTF-8".to_owned()))?;
        Params::parse(text, Plus::Space, Utf8::Strict)
            .map(Form)
            .map_err(|_| {
                StsError::InvalidParameterValue(
                    "form value is not valid percent-encoded UTF-8".to_owned(),
                )
            })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
}

/// The STS actions the door answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StsAction {
    AssumeRole,
    GetCallerIdentity,
}

impl StsAction {
    /// The action named by a form's `Action`.
    pub fn parse(name: &str) -> Option<StsAction> {
        match name {
            "AssumeRole" => Some(StsAction::AssumeRole),
            "GetCallerIdentity" => Some(StsAction::GetCallerIdentity),
            _ => None,
        }
    }

    /// The action's name (`AssumeRole`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StsAction::AssumeRole => "AssumeRole",
            StsAction::GetCallerIdentity => "GetCallerIdentity",
        }
    }
}

/// Whether the request is an STS form POST (`POST /`, form body or no content type).
fn is_sts_request(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if method != Method::POST || uri.path() != "/" {
        return false;
    }
    match headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(ct) => ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded"),
    }
}

/// The security token of a request: header, or query parameter of a presigned URL (its
/// name in any case, read as a URL query: `+` is a plus).
pub fn security_token<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
) -> Option<std::borrow::Cow<'a, str>> {
    if let Some(v) = headers.get("x-amz-security-token") {
        return v.to_str().ok().map(std::borrow::Cow::Borrowed);
    }
    let query = Params::query(uri.query()?);
    let token = query.get_ignore_case("X-Amz-Security-Token")?;
    Some(std::borrow::Cow::Owned(token.to_owned()))
}

/// Makes a SigV2 presigned URL of temporary credentials verifiable by s3s.
///
/// Such a URL (`AWSAccessKeyId=ASIA...&Signature=...&x-amz-security-token=...`, as boto3
/// makes by default) signs the token as a canonicalized `x-amz-` header although it travels
/// in the query, as AWS S3 defines; s3s only canonicalizes real headers. Copying the query
/// parameter into a header before s3s sees the request makes both agree. Nothing else is
/// touched: a request that already has the header, or is not a SigV2 presigned URL, is
/// left alone.
pub fn promote_v2_presigned_token<B>(req: &mut http::Request<B>) {
    if req.headers().contains_key("x-amz-security-token") {
        return;
    }
    let Some(query) = req.uri().query() else {
        return;
    };
    let query = Params::query(query);
    if query.get("AWSAccessKeyId").is_none() || query.get("Signature").is_none() {
        return;
    }
    let Some(token) = query.get("x-amz-security-token") else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(token) {
        req.headers_mut().insert("x-amz-security-token", value);
    }
}

/// Whether `req` goes to the STS route (see [`rewrap_s3_error`]).
pub fn is_sts_http_request<B>(req: &http::Request<B>) -> bool {
    is_sts_request(req.method(), req.uri(), req.headers())
}

/// Turns an S3 error document into an STS `ErrorResponse`.
///
/// s3s refuses a bad signature or an unknown access key before the STS route runs, and
/// answers in S3's XML (`<Error><Code>...`); STS clients (botocore, the SDKs) only parse
/// `<ErrorResponse><Error>...`, and would report "Unknown". The server calls this for
/// answers to STS requests, with the request's id (its `x-amz-request-id`) as the
/// document's `<RequestId>`; successes and non-XML bodies pass unchanged.
pub async fn rewrap_s3_error(
    mut resp: http::Response<Body>,
    request_id: &RequestId,
) -> http::Response<Body> {
    if resp.status().is_success() {
        return resp;
    }
    // Error documents are small; anything larger is not one of them and is left alone
    // (store_all_limited keeps what it read in the body either way).
    let Ok(bytes) = resp.body_mut().store_all_limited(MAX_FORM_BYTES).await else {
        return resp;
    };
    // An STS ErrorResponse (the route's own answers) or any other body is not an S3
    // error document and passes unchanged.
    let Some(mut doc) = ErrorDoc::parse(&bytes) else {
        return resp;
    };
    doc.rename_value("Code", "InvalidAccessKeyId", "InvalidClientTokenId");
    let kind = xml::fault(resp.status().as_u16());
    let body = doc.to_sts_xml(xml::NS, kind, request_id.as_str());
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    *resp.body_mut() = Body::from(body);
    resp
}

/// The caller, once its key and (for a temporary key) its token are checked.
enum Verified {
    User(std::sync::Arc<crate::iam::S3Identity>),
    Session(super::Session),
}

impl StsRoute {
    fn verify_caller(&self, req: &S3Request<Body>) -> Result<Verified, StsError> {
        let Some(cred) = req.credentials.as_ref() else {
            return Err(StsError::AccessDenied(
                "the request must be signed (SigV4, service sts)".to_owned(),
            ));
        };
        let token = security_token(&req.headers, &req.uri);
        let ak = cred.access_key.as_str();
        if is_temporary_access_key(ak) {
            let token = token.ok_or(StsError::MissingToken)?;
            return self
                .sts
                .verify(&token, ak, &self.iam)
                .map(Verified::Session);
        }
        if token.is_some() {
            return Err(StsError::UnexpectedToken);
        }
        self.iam
            .s3_identity(ak)
            .map(Verified::User)
            .ok_or(StsError::InvalidClientTokenId)
    }

    fn dispatch(
        &self,
        req: &S3Request<Body>,
        form: &Form,
        request_id: &RequestId,
    ) -> Result<String, StsError> {
        let name = form.get("Action").unwrap_or_default();
        let Some(action) = StsAction::parse(name) else {
            return Err(match name {
                "" => StsError::InvalidAction("(missing Action)".to_owned()),
                other => StsError::InvalidAction(other.chars().take(64).collect()),
            });
        };
        let caller = self.verify_caller(req)?;
        note(req, action, &caller);
        match action {
            StsAction::AssumeRole => self.assume_role(caller, form, request_id.as_str()),
            StsAction::GetCallerIdentity => Ok(caller_identity(&caller, request_id.as_str())),
        }
    }

    fn assume_role(
        &self,
        caller: Verified,
        form: &Form,
        request_id: &str,
    ) -> Result<String, StsError> {
        let parent = match caller {
            Verified::User(identity) => identity,
            Verified::Session(_) => {
                return Err(StsError::AccessDenied(
                    "temporary credentials cannot call AssumeRole (no chaining)".to_owned(),
                ))
            }
        };
        let duration = parse_duration(form.get("DurationSeconds"))?;
        let session_name = form.get("RoleSessionName").unwrap_or(parent.name.as_str());
        check_session_name(session_name)?;
        let policy = form.get("Policy");
        let creds = self.sts.assume_role(
            &parent,
            policy,
            duration,
            self.iam.options().policy_max_bytes,
        )?;
        tracing::info!(user = %parent.name, access_key = %creds.access_key_id, duration, "STS AssumeRole issued temporary credentials");
        Ok(xml::assume_role_response(
            &creds,
            &parent.name,
            session_name,
            request_id,
        ))
    }
}

/// Tells the access log and metrics which STS action ran and for whom.
fn note(req: &S3Request<Body>, action: StsAction, caller: &Verified) {
    let Some(peer) = req.extensions.get::<crate::auth::Peer>() else {
        return;
    };
    let user = match caller {
        Verified::User(identity) => identity.name.clone(),
        Verified::Session(s) => s.parent.name.clone(),
    };
    let mut seen = peer
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.op = RequestOp::StsCall(action);
    seen.user = Some(user);
}

fn caller_identity(caller: &Verified, request_id: &str) -> String {
    let who = match caller {
        Verified::User(identity) => Caller::User(&identity.name),
        Verified::Session(s) => Caller::Session {
            parent: &s.parent.name,
            access_key: &s.access_key,
        },
    };
    xml::caller_identity_response(&who, request_id)
}

fn parse_duration(value: Option<&str>) -> Result<u64, StsError> {
    let Some(value) = value else {
        return Ok(DEFAULT_DURATION_SECS);
    };
    let secs = value.trim().parse::<u64>().map_err(|_| {
        StsError::InvalidParameterValue(format!(
            "DurationSeconds {value:?} is not a whole number of seconds"
        ))
    })?;
    super::check_duration(secs)?;
    Ok(secs)
}

/// `RoleSessionName`: 2-64 characters of `[\w+=,.@-]`, as AWS requires.
fn check_session_name(name: &str) -> Result<(), StsError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if (2..=64).contains(&name.len()) && name.chars().all(ok_char) {
        return Ok(());
    }
    Err(StsError::InvalidParameterValue(
        "RoleSessionName must be 2-64 characters of [A-Za-z0-9_+=,.@-]".to_owned(),
    ))
}

/// An STS answer, with the request's id in `x-amzn-requestid` (the server adds the same id
/// as `x-amz-request-id`).
fn xml_response(status: StatusCode, body: String, request_id: &RequestId) -> S3Response<Body> {
    let mut resp = S3Response::with_status(Body::from(body), status);
    resp.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    resp.headers
        .insert("x-amzn-requestid", request_id.header_value());
    resp
}

/// The `ErrorResponse` of a refused or failed STS request. It logs nothing itself: the
/// error goes into the request's record, and the server writes the request's one log line
/// with it, under the request's id (`server::log_outcome`).
fn error_response(
    req: &S3Request<Body>,
    err: &StsError,
    request_id: &RequestId,
) -> S3Response<Body> {
    if let Some(peer) = req.extensions.get::<crate::auth::Peer>() {
        let mut seen = peer
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.error = Some(format!("{} ({err})", err.sts_code()));
    }
    let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(
        status,
        xml::error_response(err, request_id.as_str()),
        request_id,
    )
}

async fn read_form(req: &mut S3Request<Body>) -> Result<Form, StsError> {
    let body: Bytes = req
        .input
        .store_all_limited(MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            StsError::InvalidParameterValue(format!(
                "request body is larger than {MAX_FORM_BYTES} bytes"
            ))
        })?;
    let mut form = Form::parse(&body)?;
    // STS also takes its parameters from the query string (GET-style query API).
    if form.get("Action").is_none() {
        if let Some(q) = req.uri.query() {
            form = Form::parse(q.as_bytes())?;
        }
    }
    Ok(form)
}

#[async_trait::async_trait]
impl S3Route for StsRoute {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _: &mut http::Extensions,
    ) -> bool {
        is_sts_request(method, uri, headers)
    }

    /// Every check happens in `call`, so that refusals are STS `ErrorResponse`s.
    async fn check_access(&self, _req: &mut S3Request<Body>) -> S3Result<()> {
        Ok(())
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        // The server's id for this request; a fresh one only when not served by it.
        let rid = req
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        if let Err(refused) = self.check_transport(&req) {
            return Ok(error_response(&req, &refused, &rid));
        }
        let result = match read_form(&mut req).await {
            Ok(form) => {
                record_action(&req, form.get("Action"));
                self.dispatch(&req, &form, &rid)
            }
            Err(e) => Err(e),
        };
        Ok(match result {
            Ok(xml) => xml_response(StatusCode::OK, xml, &rid),
            Err(err) => error_response(&req, &err, &rid),
        })
    }
}

/// Names the STS action and caller in the request's record for the access log and
/// metrics (the S3 access check, which fills it for S3 operations, does not run for this
/// route). Only known action names are recorded, so metric labels stay a bounded set.
fn record_action(req: &S3Request<Body>, action: Option<&str>) {
    let Some(peer) = req.extensions.get::<crate::auth::Peer>() else {
        return;
    };
    let mut seen = peer
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.op = action
        .and_then(StsAction::parse)
        .map_or(RequestOp::Unrouted, RequestOp::StsAction);
    seen.user = req.credentials.as_ref().map(|c| c.access_key.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_and_plus_decoded() {
        let f =
            Form::parse(b"Action=AssumeRole&Policy=%7B%22a%22%3A+1%7D&Version=2011-06-15").unwrap();
        assert_eq!(f.get("Action"), Some("AssumeRole"));
        assert_eq!(f.get("Policy"), Some("{\"a\": 1}"));
        assert_eq!(f.get("Missing"), None);
    }

    #[test_case::test_case(None, Ok(3600) ; "default is one hour")]
    #[test_case::test_case(Some("900"), Ok(900) ; "fifteen minutes")]
    #[test_case::test_case(Some("604800"), Ok(604_800) ; "one week")]
    #[test_case::test_case(Some("899"), Err("InvalidParameterValue") ; "too short")]
    #[test_case::test_case(Some("604801"), Err("InvalidParameterValue") ; "too long")]
    #[test_case::test_case(Some("1h"), Err("InvalidParameterValue") ; "not a number")]
    fn duration_seconds_is_checked(value: Option<&str>, expected: Result<u64, &str>) {
        assert_eq!(parse_duration(value).map_err(|e| e.sts_code()), expected);
    }

    #[test]
    fn only_post_to_root_with_a_form_is_sts() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let root: Uri = "/".parse().unwrap();
        assert!(is_sts_request(&Method::POST, &root, &h));
        assert!(!is_sts_request(&Method::GET, &root, &h));
        assert!(!is_sts_request(
            &Method::POST,
            &"/bucket".parse().unwrap(),
            &h
        ));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=x"),
        );
        assert!(!is_sts_request(&Method::POST, &root, &h));
    }

    #[test]
    fn security_token_is_read_from_header_or_presigned_query() {
        let mut h = HeaderMap::new();
        let uri: Uri = "/b/k?X-Amz-Security-Token=a%2Bb.c&X-Amz-Signature=x"
            .parse()
            .unwrap();
        assert_eq!(security_token(&h, &uri).as_deref(), Some("a+b.c"));
        h.insert("x-amz-security-token", HeaderValue::from_static("hdr"));
        assert_eq!(security_token(&h, &uri).as_deref(), Some("hdr"));
        assert_eq!(
            security_token(&HeaderMap::new(), &"/b/k".parse().unwrap()),
            None
        );
    }

    #[test]
    fn a_sigv2_presigned_token_is_promoted_to_a_header_and_nothing_else_is() {
        let v2 = "/b/k?AWSAccessKeyId=ASIAABCDEFGHIJKLMNOP&Signature=s%3D&x-amz-security-token=a%2Bb.c&Expires=1";
        let mut req = http::Request::builder().uri(v2).body(()).unwrap();
        promote_v2_presigned_token(&mut req);
        assert_eq!(req.headers().get("x-amz-security-token").unwrap(), "a+b.c");
        let v4 = "/b/k?X-Amz-Credential=x&X-Amz-Signature=s&X-Amz-Security-Token=t";
        let mut req = http::Request::builder().uri(v4).body(()).unwrap();
        promote_v2_presigned_token(&mut req);
        assert!(req.headers().get("x-amz-security-token").is_none());
        let mut req = http::Request::builder()
            .uri(v2)
            .header("x-amz-security-token", "hdr")
            .body(())
            .unwrap();
        promote_v2_presigned_token(&mut req);
        assert_eq!(req.headers().get("x-amz-security-token").unwrap(), "hdr");
    }

    #[tokio::test]
    async fn an_s3_error_document_becomes_an_sts_error_response() {
        let s3 = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>m</Message></Error>"#;
        let mut resp = http::Response::new(Body::from(s3.to_owned()));
        *resp.status_mut() = StatusCode::FORBIDDEN;
        let rid = RequestId::from_static("RID");
        let mut out = rewrap_s3_error(resp, &rid).await;
        let body = out.body_mut().store_all_limited(4096).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("<ErrorResponse"), "{text}");
        assert!(text.contains("<Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>m</Message></Error>"), "{text}");
        assert!(text.contains("<RequestId>RID</RequestId>"), "{text}");
        let ok = http::Response::new(Body::from("<AssumeRoleResponse/>".to_owned()));
        let mut same = rewrap_s3_error(ok, &rid).await;
        assert_eq!(
            same.body_mut()
                .store_all_limited(4096)
                .await
                .unwrap()
                .as_ref(),
            b"<AssumeRoleResponse/>"
        );
    }

    #[test_case::test_case("127.0.0.1:9000", false, false, true ; "loopback v4")]
    #[test_case::test_case("127.8.9.10:9000", false, false, true ; "all of 127 slash 8")]
    #[test_case::test_case("[::1]:9000", false, false, true ; "loopback v6")]
    #[test_case::test_case("[::ffff:127.0.0.1]:9000", false, false, true ; "mapped loopback")]
    #[test_case::test_case("192.0.2.2:9000", false, false, false ; "plain on the network")]
    #[test_case::test_case("[::ffff:192.0.2.2]:9000", false, false, false ; "mapped network")]
    #[test_case::test_case("0.0.0.0:0", false, false, false ; "unknown local address")]
    #[test_case::test_case("192.0.2.2:9000", true, false, true ; "tls on the network")]
    #[test_case::test_case("192.0.2.2:9000", false, true, true ; "plaintext allowed")]
    fn sts_answers_travel_only_over_tls_or_loopback_unless_allowed(
        local: &str,
        secure: bool,
        allow: bool,
        expected: bool,
    ) {
        let t = Transport {
            secure,
            local: local.parse().unwrap(),
        };
        assert_eq!(t.may_carry_secrets(allow), expected);
    }

    #[test]
    fn the_plaintext_refusal_is_an_sts_access_denied_that_says_what_to_do() {
        let x = xml::error_response(&StsError::PlaintextRefused, "r");
        assert!(x.contains("<Code>AccessDenied</Code>"), "{x}");
        assert!(
            x.contains("use https") && x.contains("sts.allow_plaintext"),
            "{x}"
        );
        assert_eq!(StsError::PlaintextRefused.http_status(), 403);
    }

    #[test_case::test_case("s", false ; "one character")]
    #[test_case::test_case("my-session@x.y", true ; "allowed punctuation")]
    #[test_case::test_case("has space", false ; "space")]
    fn role_session_names_are_checked(name: &str, ok: bool) {
        assert_eq!(check_session_name(name).is_ok(), ok);
    }
}
