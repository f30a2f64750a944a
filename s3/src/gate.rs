//! Checks on the raw request that s3s does not make, run before s3s sees it: how fresh a
//! signature is, and what its credential scope names.
//!
//! Owns: the SigV2 date window (a header-signed SigV2 request carries a `Date` or
//! `x-amz-date` within `MAX_SKEW` of now, else `RequestTimeTooSkewed`, so a captured request
//! cannot be replayed forever); the presigned SigV4 expiry bounds (`X-Amz-Expires` is
//! 1..=604800 seconds, as AWS requires); the service of a SigV4 credential scope (`s3`
//! for the S3 API, `sts` for STS: a signature for one is never valid for the other); and
//! the region of the scope when the configured region is pinned.
//!
//! Invariant: a refusal here happens before any handler, access check or body read; it
//! only ever narrows what s3s would accept. Query parameters are read as `query::Params`
//! reads a URL query (`+` literal, lossy UTF-8). This module performs no I/O and logs nothing
//! (the request carries secrets and signatures).

use std::time::Duration;

use http::{HeaderMap, StatusCode, Uri};
use time::OffsetDateTime;

use crate::query::Params;
use crate::xml::ErrorDoc;

/// How far a SigV2 request's date may be from the server's clock (AWS: 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The longest validity of a presigned SigV4 URL, seconds (AWS: one week).
pub const MAX_PRESIGNED_EXPIRY: i64 = 604_800;

/// A refusal, rendered as an S3 (or, for STS requests, an STS) error document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    /// The refusal that tells the caller nothing: `403 AccessDenied`.
    pub fn access_denied() -> Refusal {
        Refusal::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
    }

    fn expired() -> Refusal {
        Refusal::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
    }

    /// The S3 error document (`<Error><Code>..`) for this refusal; the server adds the
    /// `<RequestId>` as it does to every error document.
    pub fn to_xml(&self) -> String {
        ErrorDoc::new(self.code, &self.message).to_xml()
    }
}

/// What the gate compares requests against.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// When set, SigV4 requests must be signed for this region.
    pub region: Option<String>,
}

impl Gate {
    /// Checks one request; `sts` tells whether it is an STS call.
    pub fn check(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        sts: bool,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let service = if sts { "sts" } else { "s3" };
        if let Some(auth) = header(headers, "authorization") {
            if auth.starts_with("AWS ") {
                return check_v2_date(headers, now);
            }
            if let Some(scope) = header_scope(auth) {
                return self.check_scope(&scope, service, "AuthorizationHeaderMalformed");
            }
            return Ok(());
        }
        let Some(query) = uri.query() else {
            return Ok(());
        };
        let query = Params::query(query);
        if query.get("X-Amz-Algorithm").is_some() {
            check_presigned_expiry(&query)?;
            if let Some(scope) = query.get("X-Amz-Credential").and_then(Scope::parse) {
                return self.check_scope(&scope, service, "AuthorizationQueryParametersError");
            }
        }
        Ok(())
    }

    fn check_scope(&self, scope: &Scope, service: &str, code: &'static str) -> Result<(), Refusal> {
        if scope.service != service {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                code,
                format!(
                    "the credential is scoped to service '{}'; this request needs a signature for service '{service}'",
                    scope.service
                ),
            ));
        }
        match &self.region {
            Some(region) if *region != scope.region => Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                code,
                format!(
                    "the region '{}' is wrong; expecting '{region}'",
                    scope.region
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The region and service of a SigV4 credential scope (`AK/DATE/REGION/SERVICE/aws4_request`).
#[derive(Debug, PartialEq, Eq)]
struct Scope {
    region: String,
    service: String,
}

impl Scope {
    fn parse(credential: &str) -> Option<Scope> {
        let mut parts = credential.rsplitn(4, '/');
        let terminator = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        parts.next()?;
        (terminator == "aws4_request").then(|| Scope {
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }
}

/// The scope of `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn header_scope(auth: &str) -> Option<Scope> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    Scope::parse(credential)
}

fn check_presigned_expiry(query: &Params) -> Result<(), Refusal> {
    let Some(raw) = query.get("X-Amz-Expires") else {
        return Ok(()); // s3s refuses a presigned URL without it
    };
    let Ok(seconds) = raw.trim().parse::<i64>() else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires should be a number of seconds",
        ));
    };
    if seconds <= 0 {
        return Err(Refusal::expired());
    }
    if seconds > MAX_PRESIGNED_EXPIRY {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            format!("X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRY}"),
        ));
    }
    Ok(())
}

/// A header-signed SigV2 request must say when it was made (`x-amz-date` wins over `Date`,
/// as in the string to sign), within `MAX_SKEW` of now.
fn check_v2_date(headers: &HeaderMap, now: OffsetDateTime) -> Result<(), Refusal> {
    let raw = header(headers, "x-amz-date").or_else(|| header(headers, "date"));
    let Some(when) = raw.and_then(parse_date) else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ));
    };
    let skew = (now - when).unsigned_abs();
    if skew > MAX_SKEW {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// An HTTP date (IMF-fixdate, RFC 850, asctime), RFC 2822 with a numeric zone, or ISO 8601
/// basic (`20260101T000000Z`).
fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return Some(OffsetDateTime::from(t));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc2822) {
        return Some(t);
    }
    let basic = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, basic)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse(
            "2026-12-04T12:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn check(gate: &Gate, h: &[(&'static str, &str)], uri: &str, sts: bool) -> Result<(), Refusal> {
        gate.check(&headers(h), &uri.parse().unwrap(), sts, now())
    }

    #[test_case(Some("Fri, 04 Dec 2026 12:00:00 GMT"), None, None; "now")]
    #[test_case(Some("Fri, 04 Dec 2026 12:14:00 GMT"), None, None; "fourteen minutes ahead")]
    #[test_case(Some("Fri, 04 Dec 2026 11:46:00 +0000"), None, None; "numeric zone")]
    #[test_case(None, Some("20261204T120500Z"), None; "x-amz-date basic")]
    #[test_case(Some("Mon, 01 Jan 2001 00:00:00 GMT"), None, Some("RequestTimeTooSkewed"); "2001")]
    #[test_case(Some("Thu, 01 Jan 2099 00:00:00 GMT"), None, Some("RequestTimeTooSkewed"); "2099")]
    #[test_case(Some("Fri, 04 Dec 2026 12:00:00 GMT"), Some("Mon, 01 Jan 2001 00:00:00 GMT"), Some("RequestTimeTooSkewed"); "x-amz-date wins")]
    #[test_case(Some("not a date"), None, Some("AccessDenied"); "garbage")]
    #[test_case(None, None, Some("AccessDenied"); "no date at all")]
    fn sigv2_requests_must_be_recent(date: Option<&str>, amz: Option<&str>, refused: Option<&str>) {
        let mut h = vec![("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl")];
        if let Some(d) = date {
            h.push(("date", d));
        }
        if let Some(d) = amz {
            h.push(("x-amz-date", d));
        }
        let got = check(&Gate::default(), &h, "/b/k", false);
        assert_eq!(got.err().map(|r| r.code), refused);
    }

    #[test_case("604800", None; "a week")]
    #[test_case("1", None; "one second")]
    #[test_case("604801", Some((400, "AuthorizationQueryParametersError")); "over a week")]
    #[test_case("1000000000", Some((400, "AuthorizationQueryParametersError")); "decades")]
    #[test_case("-5", Some((403, "AccessDenied")); "negative")]
    #[test_case("0", Some((403, "AccessDenied")); "zero")]
    #[test_case("soon", Some((400, "AuthorizationQueryParametersError")); "not a number")]
    fn presigned_urls_live_at_most_a_week(expires: &str, refused: Option<(u16, &str)>) {
        let uri = format!(
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T120000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
        );
        let got = check(&Gate::default(), &[], &uri, false);
        assert_eq!(got.err().map(|r| (r.status.as_u16(), r.code)), refused);
    }

    #[test_case("s3", false, None; "s3 for s3")]
    #[test_case("sts", true, None; "sts for sts")]
    #[test_case("sts", false, Some("AuthorizationHeaderMalformed"); "sts signature on s3")]
    #[test_case("s3", true, Some("AuthorizationHeaderMalformed"); "s3 signature on sts")]
    #[test_case("iam", false, Some("AuthorizationHeaderMalformed"); "another service")]
    fn the_signed_service_must_be_the_one_called(service: &str, sts: bool, refused: Option<&str>) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AK/20261204/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        let got = check(&Gate::default(), &[("authorization", &auth)], "/", sts);
        assert_eq!(got.err().map(|r| r.code), refused);
    }

    #[test]
    fn a_pinned_region_refuses_other_regions_and_names_the_expected_one() {
        let auth = "AWS4-HMAC-SHA256 Credential=AK/20261204/us-west-2/s3/aws4_request, SignedHeaders=host, Signature=00";
        assert!(check(&Gate::default(), &[("authorization", auth)], "/", false).is_ok());
        let pinned = Gate {
            region: Some("eu-central-1".into()),
        };
        let refusal = check(&pinned, &[("authorization", auth)], "/", false).unwrap_err();
        assert_eq!(refusal.code, "AuthorizationHeaderMalformed");
        assert!(
            refusal.message.contains("expecting 'eu-central-1'"),
            "{}",
            refusal.message
        );
        let ok = auth.replace("us-west-2", "eu-central-1");
        assert!(check(&pinned, &[("authorization", &ok)], "/", false).is_ok());
        let uri = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261204%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Expires=60";
        let refusal = check(&pinned, &[], uri, false).unwrap_err();
        assert_eq!(refusal.code, "AuthorizationQueryParametersError");
    }

    #[test]
    fn unsigned_requests_and_error_documents_pass_through_safely() {
        assert!(check(&Gate::default(), &[], "/b/k", false).is_ok());
        let xml = Refusal::new(StatusCode::FORBIDDEN, "AccessDenied", "a<b&c").to_xml();
        assert!(xml.contains("<Message>a&lt;b&amp;c</Message>"), "{xml}");
    }
}
