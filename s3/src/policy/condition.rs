//! Condition operators and their evaluation, with AWS semantics.
//!
//! Semantics kept here (AWS IAM's):
//! - In a `Condition` block every operator and every key must hold (AND); the values
//!   listed for one key are alternatives (OR). A negated operator (`StringNotEquals`,
//!   `StringNotLike`, `NotIpAddress`, `...NotEquals`) holds when the request value matches
//!   none of them.
//! - Absent key: a positive operator is false, a negated one true; every `...IfExists`
//!   form is true; `ForAnyValue:` is false and `ForAllValues:` true (empty set).
//! - `Null`: `true` holds when the key is absent, `false` when present.
//! - Operand values are checked and converted when the policy is parsed (numbers, dates,
//!   CIDR blocks, booleans); request values that do not convert simply do not match.
//!
//! This module performs no I/O.

use super::context::{CondKey, CtxValue, CtxValues, RequestContext};
use super::glob::{Pattern, Syntax};
use super::json::Json;
use ipnet::IpNet;
use std::cmp::Ordering;
use std::net::IpAddr;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

/// The comparison an operator makes, before negation, `IfExists` and set qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    IpAddress,
    Bool,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// A parsed condition operator such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    kind: Kind,
    negated: bool,
    if_exists: bool,
    qualifier: Qualifier,
}

/// Base operator names, with what they compare and whether they are negated.
const OPERATORS: &[(&str, Kind, bool)] = &[
    ("StringEquals", Kind::StringEquals, false),
    ("StringNotEquals", Kind::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Kind::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Kind::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Kind::StringLike, false),
    ("StringNotLike", Kind::StringLike, true),
    (
        "NumericEquals",
        Kind::Numeric(Cmp(Ordering::Equal, false)),
        false,
    ),
    (
        "NumericNotEquals",
        Kind::Numeric(Cmp(Ordering::Equal, false)),
        true,
    ),
    (
        "NumericLessThan",
        Kind::Numeric(Cmp(Ordering::Less, false)),
        false,
    ),
    (
        "NumericLessThanEquals",
        Kind::Numeric(Cmp(Ordering::Less, true)),
        false,
    ),
    (
        "NumericGreaterThan",
        Kind::Numeric(Cmp(Ordering::Greater, false)),
        false,
    ),
    (
        "NumericGreaterThanEquals",
        Kind::Numeric(Cmp(Ordering::Greater, true)),
        false,
    ),
    ("DateEquals", Kind::Date(Cmp(Ordering::Equal, false)), false),
    (
        "DateNotEquals",
        Kind::Date(Cmp(Ordering::Equal, false)),
        true,
    ),
    (
        "DateLessThan",
        Kind::Date(Cmp(Ordering::Less, false)),
        false,
    ),
    (
        "DateLessThanEquals",
        Kind::Date(Cmp(Ordering::Less, true)),
        false,
    ),
    (
        "DateGreaterThan",
        Kind::Date(Cmp(Ordering::Greater, false)),
        false,
    ),
    (
        "DateGreaterThanEquals",
        Kind::Date(Cmp(Ordering::Greater, true)),
        false,
    ),
    ("IpAddress", Kind::IpAddress, false),
    ("NotIpAddress", Kind::IpAddress, true),
    ("Bool", Kind::Bool, false),
    ("Null", Kind::Null, false),
];

impl Operator {
    fn parse(name: &str) -> Result<Operator, String> {
        let (qualifier, rest) = split_qualifier(name);
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let Some(&(_, kind, negated)) = OPERATORS.iter().find(|(n, _, _)| *n == base) else {
            let known: Vec<&str> = OPERATORS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "unknown condition operator {name:?}; known: {} (each also as ...IfExists, \
                 ForAnyValue:... and ForAllValues:..., except Null)",
                known.join(", ")
            ));
        };
        if kind == Kind::Null && (if_exists || qualifier != Qualifier::Single) {
            return Err(format!(
                "{name:?}: Null takes neither IfExists nor a set qualifier"
            ));
        }
        Ok(Operator {
            kind,
            negated,
            if_exists,
            qualifier,
        })
    }
}

fn split_qualifier(name: &str) -> (Qualifier, &str) {
    if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Qualifier::ForAnyValue, rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Qualifier::ForAllValues, rest)
    } else {
        (Qualifier::Single, name)
    }
}

/// How a numeric or date operand compares: the wanted ordering of request value to
/// operand, and whether equality also satisfies it (`...Equals` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cmp(Ordering, bool);

impl Cmp {
    fn accepts(self, got: Option<Ordering>) -> bool {
        got.is_some_and(|got| got == self.0 || (self.1 && got == Ordering::Equal))
    }
}

/// One value listed in a condition, converted for its operator.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Text(Pattern, TextMatch),
    Number(f64, Cmp),
    Date(OffsetDateTime, Cmp),
    Net(IpNet),
    Flag(bool),
}

/// How a string operand is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextMatch {
    /// `StringEquals`, `StringLike` (the pattern knows whether it has wildcards).
    Exact,
    /// `StringEqualsIgnoreCase`.
    IgnoreCase,
}

/// One `operator: { key: values }` test.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    op: Operator,
    key: CondKey,
    operands: Vec<Operand>,
}

impl Condition {
    /// Parses one key of an operator block. `vars`: policy variables are recognised.
    pub(crate) fn parse(
        operator: &str,
        key: &str,
        values: &Json,
        vars: bool,
    ) -> Result<Condition, String> {
        let op = Operator::parse(operator)?;
        let Some(key) = CondKey::parse(key) else {
            return Err(format!(
                "unknown condition key {key:?}; known: s3:prefix, s3:delimiter, s3:max-keys, \
                 s3:x-amz-content-sha256, s3:ExistingObjectTag/<name>, aws:SourceIp, \
                 aws:SecureTransport, aws:username, aws:userid, aws:CurrentTime, aws:EpochTime"
            ));
        };
        let texts = operand_texts(values)?;
        let operands = texts
            .iter()
            .map(|text| parse_operand(op.kind, text, vars))
            .collect::<Result<_, _>>()?;
        Ok(Condition { op, key, operands })
    }

    /// The policy variables the condition's values use.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &CondKey> {
        self.operands
            .iter()
            .flat_map(|o| match o {
                Operand::Text(p, _) => Some(p.variables()),
                _ => None,
            })
            .flatten()
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let values = ctx.lookup(&self.key);
        if self.op.kind == Kind::Null {
            let missing = values.is_missing();
            return self.operands.contains(&Operand::Flag(missing));
        }
        if values.is_missing() {
            return self.holds_when_absent();
        }
        self.holds_for(values, ctx)
    }

    fn holds_when_absent(&self) -> bool {
        self.op.if_exists
            || match self.op.qualifier {
                Qualifier::Single => self.op.negated,
                Qualifier::ForAnyValue => false,
                Qualifier::ForAllValues => true,
            }
    }

    fn holds_for(&self, values: CtxValues<'_>, ctx: &RequestContext) -> bool {
        // A request value "passes" when it matches some operand, or for a negated
        // operator, none.
        let passes = |v: CtxValue<'_>| self.matches_any(v, ctx) != self.op.negated;
        match (self.op.qualifier, self.op.negated) {
            (Qualifier::ForAnyValue, _) | (Qualifier::Single, false) => values.iter().any(passes),
            (Qualifier::ForAllValues, _) | (Qualifier::Single, true) => values.iter().all(passes),
        }
    }

    fn matches_any(&self, value: CtxValue<'_>, ctx: &RequestContext) -> bool {
        self.operands.iter().any(|o| matches_operand(value, o, ctx))
    }
}

fn operand_texts(values: &Json) -> Result<Vec<String>, String> {
    let items = match values {
        Json::Array(items) if items.is_empty() => return Err("empty list of values".into()),
        Json::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    items
        .into_iter()
        .map(|v| match v {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            other => Err(format!(
                "a condition value must be a string, number or boolean, not {}",
                other.kind()
            )),
        })
        .collect()
}

fn parse_operand(kind: Kind, text: &str, vars: bool) -> Result<Operand, String> {
    let operand = match kind {
        Kind::StringEquals => Operand::Text(
            Pattern::parse(text, Syntax { glob: false, vars })?,
            TextMatch::Exact,
        ),
        Kind::StringEqualsIgnoreCase => Operand::Text(
            Pattern::parse(text, Syntax { glob: false, vars })?,
            TextMatch::IgnoreCase,
        ),
        Kind::StringLike => Operand::Text(
            Pattern::parse(text, Syntax { glob: true, vars })?,
            TextMatch::Exact,
        ),
        Kind::Numeric(cmp) => Operand::Number(
            parse_number(text).ok_or_else(|| format!("{text:?} is not a number"))?,
            cmp,
        ),
        Kind::Date(cmp) => Operand::Date(
            parse_date(text)
                .ok_or_else(|| format!("{text:?} is not a date (ISO 8601 or epoch seconds)"))?,
            cmp,
        ),
        Kind::IpAddress => Operand::Net(
            parse_net(text)
                .ok_or_else(|| format!("{text:?} is not an IP address or CIDR block"))?,
        ),
        Kind::Bool | Kind::Null => {
            Operand::Flag(parse_bool(text).ok_or_else(|| format!("{text:?} is not true or false"))?)
        }
    };
    Ok(operand)
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// ISO 8601 (`2026-01-01T00:00:00Z`, `2026-01-01`) or epoch seconds.
fn parse_date(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t);
    }
    if let Ok(secs) = text.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(secs).ok();
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, format)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// A CIDR block, or a single address (as /32 or /128).
fn parse_net(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

fn matches_operand(value: CtxValue<'_>, operand: &Operand, ctx: &RequestContext) -> bool {
    match operand {
        Operand::Text(p, TextMatch::Exact) => p.matches(&value.text(), ctx),
        Operand::Text(p, TextMatch::IgnoreCase) => p.matches_ignore_case(&value.text(), ctx),
        Operand::Number(n, cmp) => number_of(value).is_some_and(|v| cmp.accepts(v.partial_cmp(n))),
        Operand::Date(d, cmp) => date_of(value).is_some_and(|v| cmp.accepts(Some(v.cmp(d)))),
        Operand::Net(net) => ip_of(value).is_some_and(|ip| net.contains(&ip)),
        Operand::Flag(flag) => bool_of(value) == Some(*flag),
    }
}

fn number_of(value: CtxValue<'_>) -> Option<f64> {
    match value {
        CtxValue::Epoch(secs) => Some(secs as f64),
        CtxValue::Str(s) => parse_number(s),
        CtxValue::Ip(_) | CtxValue::Bool(_) | CtxValue::Time(_) => None,
    }
}

fn date_of(value: CtxValue<'_>) -> Option<OffsetDateTime> {
    match value {
        CtxValue::Time(t) => Some(t),
        CtxValue::Epoch(secs) => OffsetDateTime::from_unix_timestamp(secs).ok(),
        CtxValue::Str(s) => parse_date(s),
        CtxValue::Ip(_) | CtxValue::Bool(_) => None,
    }
}

/// The request address; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
/// dual-stack listener reports for IPv4 peers) is compared as the IPv4 address.
fn ip_of(value: CtxValue<'_>) -> Option<IpAddr> {
    let ip = match value {
        CtxValue::Ip(ip) => ip,
        CtxValue::Str(s) => s.parse().ok()?,
        CtxValue::Bool(_) | CtxValue::Time(_) | CtxValue::Epoch(_) => return None,
    };
    Some(ip.to_canonical())
}

fn bool_of(value: CtxValue<'_>) -> Option<bool> {
    match value {
        CtxValue::Bool(b) => Some(b),
        CtxValue::Str(s) => parse_bool(s),
        CtxValue::Ip(_) | CtxValue::Time(_) | CtxValue::Epoch(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn ctx() -> RequestContext {
        let mut ctx =
            RequestContext::new(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000));
        ctx.username = Some("alice".into());
        ctx.userid = Some("AIDAALICE".into());
        ctx.source_ip = Some("192.168.1.20".parse().unwrap());
        ctx.secure = true;
        ctx.set("s3:prefix", vec!["home/alice/".into()]);
        ctx.set("s3:max-keys", vec!["100".into()]);
        ctx.set("s3:ExistingObjectTag/Team", vec!["Blue".into()]);
        ctx
    }

    /// Evaluates `{operator: {key: values}}` (values as JSON text) against `ctx()`.
    fn holds(operator: &str, key: &str, values: &str) -> bool {
        let values = Json::parse(values).unwrap();
        Condition::parse(operator, key, &values, true)
            .unwrap()
            .holds(&ctx())
    }

    #[test_case("StringEquals", "aws:username", r#""alice""#, true)]
    #[test_case("StringEquals", "aws:username", r#""Alice""#, false; "equals is case sensitive")]
    #[test_case("StringEquals", "aws:username", r#"["bob", "alice"]"#, true; "values are alternatives")]
    #[test_case("StringEquals", "AWS:UserName", r#""alice""#, true; "key names are case insensitive")]
    #[test_case("StringEquals", "aws:username", r#""ali*""#, false; "equals has no wildcards")]
    #[test_case("StringEquals", "s3:delimiter", r#""/""#, false; "absent key is false")]
    #[test_case("StringNotEquals", "aws:username", r#""bob""#, true)]
    #[test_case("StringNotEquals", "aws:username", r#"["bob", "alice"]"#, false; "not equals must match none")]
    #[test_case("StringNotEquals", "s3:delimiter", r#""/""#, true; "negated on absent key is true")]
    #[test_case("StringEqualsIgnoreCase", "aws:username", r#""ALICE""#, true)]
    #[test_case("StringNotEqualsIgnoreCase", "aws:username", r#""ALICE""#, false)]
    #[test_case("StringNotEqualsIgnoreCase", "aws:username", r#""bob""#, true)]
    #[test_case("StringLike", "s3:prefix", r#""home/*""#, true)]
    #[test_case("StringLike", "s3:prefix", r#""home/al?ce/""#, true)]
    #[test_case("StringLike", "s3:prefix", r#""Home/*""#, false; "like is case sensitive")]
    #[test_case("StringLike", "s3:prefix", r#""home/${aws:username}/*""#, true; "variable in value")]
    #[test_case("StringNotLike", "s3:prefix", r#""secret/*""#, true)]
    #[test_case("StringNotLike", "s3:prefix", r#""home/*""#, false)]
    #[test_case("StringLikeIfExists", "s3:delimiter", r#""/""#, true; "if exists on absent key")]
    #[test_case("StringLikeIfExists", "s3:prefix", r#""other/*""#, false; "if exists on present key")]
    #[test_case("StringEquals", "s3:ExistingObjectTag/Team", r#""Blue""#, true)]
    #[test_case("StringEquals", "s3:ExistingObjectTag/team", r#""Blue""#, false; "tag names are case sensitive")]
    fn string_operators_follow_aws_rules(operator: &str, key: &str, values: &str, expected: bool) {
        assert_eq!(holds(operator, key, values), expected);
    }

    #[test_case("NumericEquals", "100", true)]
    #[test_case("NumericEquals", "100.0", true; "decimal equals integer")]
    #[test_case("NumericNotEquals", "100", false)]
    #[test_case("NumericLessThan", "100", false)]
    #[test_case("NumericLessThan", "101", true)]
    #[test_case("NumericLessThanEquals", "100", true)]
    #[test_case("NumericGreaterThan", "99", true)]
    #[test_case("NumericGreaterThan", "100", false)]
    #[test_case("NumericGreaterThanEquals", "100", true)]
    #[test_case("NumericLessThanEquals", "[1, 200]", true; "numbers as json numbers")]
    fn numeric_operators_compare_as_numbers(operator: &str, values: &str, expected: bool) {
        assert_eq!(holds(operator, "s3:max-keys", values), expected);
    }

    #[test]
    fn numeric_on_non_number_request_value_is_false() {
        assert!(!holds("NumericEquals", "aws:username", "1"));
        assert!(holds("NumericNotEquals", "aws:username", "1"));
    }

    // ctx().now is 20000 days after the epoch: 2024-10-04T00:00:00Z.
    #[test_case("DateEquals", "aws:CurrentTime", r#""2024-10-04T00:00:00Z""#, true)]
    #[test_case("DateNotEquals", "aws:CurrentTime", r#""2024-10-04T00:00:00Z""#, false)]
    #[test_case("DateLessThan", "aws:CurrentTime", r#""2024-10-05""#, true; "date only")]
    #[test_case("DateLessThan", "aws:CurrentTime", r#""2024-10-04T00:00:00Z""#, false)]
    #[test_case(
        "DateLessThanEquals",
        "aws:CurrentTime",
        r#""2024-10-04T00:00:00Z""#,
        true
    )]
    #[test_case("DateGreaterThan", "aws:CurrentTime", r#""2024-01-01T00:00:00+02:00""#, true; "with offset")]
    #[test_case(
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        r#""2030-01-01T00:00:00Z""#,
        false
    )]
    #[test_case("DateGreaterThan", "aws:CurrentTime", "1700000000", true; "epoch operand")]
    #[test_case("DateLessThan", "aws:EpochTime", r#""2025-01-01T00:00:00Z""#, true; "epoch key")]
    #[test_case("NumericEquals", "aws:EpochTime", "1728000000", true; "epoch key as number")]
    fn date_operators_compare_instants(operator: &str, key: &str, values: &str, expected: bool) {
        assert_eq!(holds(operator, key, values), expected);
    }

    #[test_case("IpAddress", r#""192.168.1.0/24""#, true)]
    #[test_case("IpAddress", r#""192.168.1.20""#, true; "bare address")]
    #[test_case("IpAddress", r#""192.168.2.0/24""#, false)]
    #[test_case("IpAddress", r#"["10.0.0.0/8", "192.168.0.0/16"]"#, true)]
    #[test_case("IpAddress", r#""::/0""#, false; "v6 block does not hold a v4 address")]
    #[test_case("NotIpAddress", r#""10.0.0.0/8""#, true)]
    #[test_case("NotIpAddress", r#""192.168.0.0/16""#, false)]
    fn ip_operators_test_ipv4_cidr_membership(operator: &str, values: &str, expected: bool) {
        assert_eq!(holds(operator, "aws:SourceIp", values), expected);
    }

    #[test_case("2001:db8::1", "2001:db8::/32", true)]
    #[test_case("2001:db9::1", "2001:db8::/32", false)]
    #[test_case("::1", "::1/128", true)]
    #[test_case("::ffff:10.1.2.3", "10.0.0.0/8", true; "v4 mapped address is its v4 address")]
    fn ip_operators_test_ipv6_cidr_membership(ip: &str, block: &str, expected: bool) {
        let mut ctx = ctx();
        ctx.source_ip = Some(ip.parse().unwrap());
        let values = Json::String(block.into());
        let condition = Condition::parse("IpAddress", "aws:SourceIp", &values, true).unwrap();
        assert_eq!(condition.holds(&ctx), expected);
    }

    #[test]
    fn ip_conditions_on_a_request_without_address() {
        let mut ctx = ctx();
        ctx.source_ip = None;
        let values = Json::String("0.0.0.0/0".into());
        let positive = Condition::parse("IpAddress", "aws:SourceIp", &values, true).unwrap();
        let negated = Condition::parse("NotIpAddress", "aws:SourceIp", &values, true).unwrap();
        let if_exists =
            Condition::parse("IpAddressIfExists", "aws:SourceIp", &values, true).unwrap();
        assert!(!positive.holds(&ctx));
        assert!(negated.holds(&ctx));
        assert!(if_exists.holds(&ctx));
    }

    #[test_case("Bool", "true", true)]
    #[test_case("Bool", r#""true""#, true; "as string")]
    #[test_case("Bool", r#""TRUE""#, true; "case insensitive")]
    #[test_case("Bool", "false", false)]
    #[test_case("BoolIfExists", "false", false; "present so if exists compares")]
    fn bool_operator_compares_flags(operator: &str, values: &str, expected: bool) {
        assert_eq!(holds(operator, "aws:SecureTransport", values), expected);
    }

    #[test_case("s3:delimiter", "true", true; "absent key is null")]
    #[test_case("s3:delimiter", "false", false)]
    #[test_case("s3:prefix", "true", false; "present key is not null")]
    #[test_case("s3:prefix", "false", true)]
    fn null_operator_tests_key_presence(key: &str, values: &str, expected: bool) {
        assert_eq!(holds("Null", key, values), expected);
    }

    fn multi(operator: &str, values: &str, request: &[&str]) -> bool {
        let mut ctx = ctx();
        if !request.is_empty() {
            ctx.set("s3:prefix", request.iter().map(|s| s.to_string()).collect());
        } else {
            ctx.values.remove("s3:prefix");
        }
        let values = Json::parse(values).unwrap();
        Condition::parse(operator, "s3:prefix", &values, true)
            .unwrap()
            .holds(&ctx)
    }

    #[test_case("ForAnyValue:StringEquals", &["a", "x"], true)]
    #[test_case("ForAnyValue:StringEquals", &["x", "y"], false)]
    #[test_case("ForAnyValue:StringEquals", &[], false; "any value of nothing is false")]
    #[test_case("ForAnyValue:StringEqualsIfExists", &[], true; "any value if exists on nothing")]
    #[test_case("ForAllValues:StringEquals", &["a", "b"], true)]
    #[test_case("ForAllValues:StringEquals", &["a", "x"], false)]
    #[test_case("ForAllValues:StringEquals", &[], true; "all values of nothing is true")]
    #[test_case("ForAnyValue:StringNotEquals", &["a", "x"], true; "some value outside the list")]
    #[test_case("ForAnyValue:StringNotEquals", &["a", "b"], false)]
    #[test_case("ForAllValues:StringNotEquals", &["x", "y"], true)]
    #[test_case("ForAllValues:StringNotEquals", &["a", "y"], false)]
    #[test_case("ForAllValues:StringLike", &["a1", "b2"], true)]
    fn set_qualifiers_quantify_over_request_values(
        operator: &str,
        request: &[&str],
        expected: bool,
    ) {
        let values = if operator.ends_with("Like") {
            r#"["a*", "b*"]"#
        } else {
            r#"["a", "b"]"#
        };
        assert_eq!(multi(operator, values, request), expected);
    }

    #[test_case("StringEquals", "aws:nope", "\"x\""; "unknown key")]
    #[test_case("StringSortOf", "aws:username", "\"x\""; "unknown operator")]
    #[test_case("NumericEquals", "s3:max-keys", "\"ten\""; "not a number")]
    #[test_case("DateLessThan", "aws:CurrentTime", "\"yesterday\""; "not a date")]
    #[test_case("IpAddress", "aws:SourceIp", "\"10.0.0.0/33\""; "bad cidr")]
    #[test_case("Bool", "aws:SecureTransport", "\"yes\""; "not a boolean")]
    #[test_case("NullIfExists", "s3:prefix", "true"; "null if exists")]
    #[test_case("ForAnyValue:Null", "s3:prefix", "true"; "null with qualifier")]
    #[test_case("StringEquals", "aws:username", "[]"; "empty list")]
    #[test_case("StringEquals", "aws:username", "{}"; "object value")]
    #[test_case("StringLike", "aws:username", "\"${aws:bogus}\""; "unknown variable")]
    fn invalid_conditions_are_refused(operator: &str, key: &str, values: &str) {
        let values = Json::parse(values).unwrap();
        assert!(Condition::parse(operator, key, &values, true).is_err());
    }
}
