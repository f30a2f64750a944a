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
            return Err(format!("unknown condition operator {name:?}"));
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
            return Err(format!("unknown condition key {key:?}"));
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

fn ip_of(value: CtxValue<'_>) -> Option<IpAddr> {
    match value {
        CtxValue::Ip(ip) => Some(ip),
        CtxValue::Str(s) => s.parse().ok(),
        CtxValue::Bool(_) | CtxValue::Time(_) | CtxValue::Epoch(_) => None,
    }
}

fn bool_of(value: CtxValue<'_>) -> Option<bool> {
    match value {
        CtxValue::Bool(b) => Some(b),
        CtxValue::Str(s) => parse_bool(s),
        CtxValue::Ip(_) | CtxValue::Time(_) | CtxValue::Epoch(_) => None,
    }
}
