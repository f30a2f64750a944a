//! The request context a policy is evaluated against, and the condition keys it answers.
//!
//! Invariant: condition key names are case-insensitive (`aws:SourceIp` = `aws:sourceip`);
//! they are canonicalised once, when parsed or stored, to lowercase. The tag name in
//! `s3:ExistingObjectTag/<name>` keeps its case, as S3 tag keys are case-sensitive.
//! This module performs no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A condition key a policy may test (and, except tags, use as `${...}` variable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CondKey {
    /// `s3:prefix` (ListBucket).
    Prefix,
    /// `s3:delimiter` (ListBucket).
    Delimiter,
    /// `s3:max-keys` (ListBucket).
    MaxKeys,
    /// `s3:x-amz-content-sha256`.
    ContentSha256,
    /// `s3:ExistingObjectTag/<name>`, the name as written.
    ExistingObjectTag(String),
    /// `aws:SourceIp`.
    SourceIp,
    /// `aws:SecureTransport`.
    SecureTransport,
    /// `aws:username`.
    Username,
    /// `aws:userid`.
    Userid,
    /// `aws:CurrentTime`.
    CurrentTime,
    /// `aws:EpochTime`.
    EpochTime,
}

const TAG_PREFIX: &str = "s3:existingobjecttag/";

impl CondKey {
    /// Parses a key name, case-insensitively. `None` for unknown keys.
    pub fn parse(name: &str) -> Option<CondKey> {
        let lower = name.to_ascii_lowercase();
        let key = match lower.as_str() {
            "s3:prefix" => CondKey::Prefix,
            "s3:delimiter" => CondKey::Delimiter,
            "s3:max-keys" => CondKey::MaxKeys,
            "s3:x-amz-content-sha256" => CondKey::ContentSha256,
            "aws:sourceip" => CondKey::SourceIp,
            "aws:securetransport" => CondKey::SecureTransport,
            "aws:username" => CondKey::Username,
            "aws:userid" => CondKey::Userid,
            "aws:currenttime" => CondKey::CurrentTime,
            "aws:epochtime" => CondKey::EpochTime,
            _ if lower.starts_with(TAG_PREFIX) && lower.len() > TAG_PREFIX.len() => {
                CondKey::ExistingObjectTag(name[TAG_PREFIX.len()..].to_string())
            }
            _ => return None,
        };
        Some(key)
    }

    /// The canonical name, the key of `RequestContext::values`.
    pub fn canonical(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            CondKey::Prefix => "s3:prefix",
            CondKey::Delimiter => "s3:delimiter",
            CondKey::MaxKeys => "s3:max-keys",
            CondKey::ContentSha256 => "s3:x-amz-content-sha256",
            CondKey::SourceIp => "aws:sourceip",
            CondKey::SecureTransport => "aws:securetransport",
            CondKey::Username => "aws:username",
            CondKey::Userid => "aws:userid",
            CondKey::CurrentTime => "aws:currenttime",
            CondKey::EpochTime => "aws:epochtime",
            CondKey::ExistingObjectTag(tag) => return Cow::Owned(format!("{TAG_PREFIX}{tag}")),
        })
    }

    /// Whether the key may appear as a `${...}` policy variable.
    pub fn is_variable(&self) -> bool {
        !matches!(self, CondKey::ExistingObjectTag(_))
    }
}

/// What is known about one request, for conditions and policy variables.
///
/// `username`, `userid`, `source_ip`, `secure` and `now` answer the `aws:` keys; every
/// other key (`s3:prefix`, `s3:delimiter`, `s3:max-keys`, `s3:x-amz-content-sha256`,
/// `s3:ExistingObjectTag/<k>`) comes from `values`, keyed by canonical name (use `set`).
/// A key absent from `values` is absent from the request, which matters: `StringLike`
/// is false on an absent key, `StringNotLike` true, and `...IfExists` forms true.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `aws:username`; `None` for anonymous requests.
    pub username: Option<String>,
    /// `aws:userid`; `None` for anonymous requests.
    pub userid: Option<String>,
    /// `aws:SourceIp`, the peer address.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure: bool,
    /// `aws:CurrentTime` and `aws:EpochTime`.
    pub now: OffsetDateTime,
    /// Other condition keys, by canonical (lowercase) name, each with its values.
    pub values: HashMap<String, Vec<String>>,
}

impl RequestContext {
    /// An anonymous, insecure request at `now` with no other values.
    pub fn new(now: OffsetDateTime) -> RequestContext {
        RequestContext {
            username: None,
            userid: None,
            source_ip: None,
            secure: false,
            now,
            values: HashMap::new(),
        }
    }

    /// Sets a condition key from `values`, canonicalising its name.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        let name = match CondKey::parse(key) {
            Some(key) => key.canonical().into_owned(),
            None => key.to_ascii_lowercase(),
        };
        self.values.insert(name, values);
    }

    /// Fills the ListObjects/ListObjectsV2 keys the way AWS does: `s3:prefix` is always
    /// present (empty when the request has none, so `""` in a policy matches a listing of
    /// the bucket root); `s3:delimiter` and `s3:max-keys` only when the request has them.
    pub fn with_list_params(
        mut self,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        max_keys: Option<i64>,
    ) -> RequestContext {
        self.set("s3:prefix", vec![prefix.unwrap_or("").to_string()]);
        if let Some(delimiter) = delimiter {
            self.set("s3:delimiter", vec![delimiter.to_string()]);
        }
        if let Some(max_keys) = max_keys {
            self.set("s3:max-keys", vec![max_keys.to_string()]);
        }
        self
    }

    /// Sets `s3:ExistingObjectTag/<k>` for each tag of the object the request targets.
    pub fn with_existing_object_tags<'t>(
        mut self,
        tags: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> RequestContext {
        for (key, value) in tags {
            let name = CondKey::ExistingObjectTag(key.to_string())
                .canonical()
                .into_owned();
            self.values.insert(name, vec![value.to_string()]);
        }
        self
    }

    /// The values of `key` in this request.
    pub(crate) fn lookup(&self, key: &CondKey) -> CtxValues<'_> {
        let one = |v| CtxValues::One(v);
        match key {
            CondKey::Username => self
                .username
                .as_deref()
                .map_or(CtxValues::Missing, |s| one(CtxValue::Str(s))),
            CondKey::Userid => self
                .userid
                .as_deref()
                .map_or(CtxValues::Missing, |s| one(CtxValue::Str(s))),
            CondKey::SourceIp => self
                .source_ip
                .map_or(CtxValues::Missing, |ip| one(CtxValue::Ip(ip))),
            CondKey::SecureTransport => one(CtxValue::Bool(self.secure)),
            CondKey::CurrentTime => one(CtxValue::Time(self.now)),
            CondKey::EpochTime => one(CtxValue::Epoch(self.now.unix_timestamp())),
            other => match self.values.get(other.canonical().as_ref()) {
                Some(values) if !values.is_empty() => CtxValues::Many(values),
                _ => CtxValues::Missing,
            },
        }
    }

    /// The value of `key` as a policy variable; `None` when absent or multi-valued.
    pub(crate) fn variable(&self, key: &CondKey) -> Option<Cow<'_, str>> {
        match self.lookup(key) {
            CtxValues::Missing => None,
            CtxValues::One(value) => Some(value.text()),
            CtxValues::Many([single]) => Some(Cow::Borrowed(single.as_str())),
            CtxValues::Many(_) => None,
        }
    }
}

/// One value of a condition key in a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CtxValue<'a> {
    Str(&'a str),
    Ip(IpAddr),
    Bool(bool),
    Time(OffsetDateTime),
    Epoch(i64),
}

impl<'a> CtxValue<'a> {
    /// The value as text, the way string operators see it.
    pub(crate) fn text(self) -> Cow<'a, str> {
        match self {
            CtxValue::Str(s) => Cow::Borrowed(s),
            CtxValue::Ip(ip) => Cow::Owned(ip.to_string()),
            CtxValue::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            CtxValue::Time(t) => Cow::Owned(t.format(&Rfc3339).unwrap_or_default()),
            CtxValue::Epoch(secs) => Cow::Owned(secs.to_string()),
        }
    }
}

/// The values of a condition key in a request: absent, one, or several.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CtxValues<'a> {
    Missing,
    One(CtxValue<'a>),
    Many(&'a [String]),
}

impl<'a> CtxValues<'a> {
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, CtxValues::Missing)
    }

    /// Each value, in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = CtxValue<'a>> {
        let (one, many): (Option<CtxValue<'a>>, &'a [String]) = match self {
            CtxValues::Missing => (None, &[]),
            CtxValues::One(value) => (Some(value), &[]),
            CtxValues::Many(values) => (None, values),
        };
        one.into_iter().chain(many.iter().map(|s| CtxValue::Str(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("s3:prefix", CondKey::Prefix)]
    #[test_case("S3:Prefix", CondKey::Prefix)]
    #[test_case("aws:SourceIp", CondKey::SourceIp)]
    #[test_case("AWS:SECURETRANSPORT", CondKey::SecureTransport)]
    #[test_case("s3:ExistingObjectTag/Project", CondKey::ExistingObjectTag("Project".into()))]
    fn key_names_are_case_insensitive(name: &str, expected: CondKey) {
        assert_eq!(CondKey::parse(name), Some(expected));
    }

    #[test_case("s3:ExistingObjectTag/"; "tag without name")]
    #[test_case("aws:PrincipalArn"; "unsupported aws key")]
    #[test_case("prefix"; "no service")]
    fn unknown_keys_are_refused(name: &str) {
        assert_eq!(CondKey::parse(name), None);
    }

    #[test]
    fn set_canonicalises_names_so_lookup_finds_them() {
        let mut ctx = RequestContext::new(OffsetDateTime::UNIX_EPOCH);
        ctx.set("S3:Max-Keys", vec!["10".into()]);
        assert!(matches!(ctx.lookup(&CondKey::MaxKeys), CtxValues::Many([v]) if v == "10"));
    }

    #[test]
    fn list_params_always_carry_a_prefix() {
        let ctx =
            RequestContext::new(OffsetDateTime::UNIX_EPOCH).with_list_params(None, None, None);
        assert_eq!(ctx.variable(&CondKey::Prefix).as_deref(), Some(""));
        assert!(ctx.lookup(&CondKey::Delimiter).is_missing());
    }

    #[test]
    fn tag_keys_keep_their_case() {
        let ctx = RequestContext::new(OffsetDateTime::UNIX_EPOCH)
            .with_existing_object_tags([("Team", "a")]);
        let key = CondKey::parse("s3:existingobjecttag/Team").unwrap();
        assert_eq!(ctx.lookup(&key).iter().count(), 1);
        let other = CondKey::parse("s3:ExistingObjectTag/team").unwrap();
        assert!(ctx.lookup(&other).is_missing());
    }

    #[test]
    fn time_keys_render_as_text() {
        let ctx = RequestContext::new(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(ctx.variable(&CondKey::EpochTime).as_deref(), Some("0"));
        assert_eq!(
            ctx.variable(&CondKey::CurrentTime).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
    }
}
