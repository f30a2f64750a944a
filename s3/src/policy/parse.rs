//! Validation of a policy document into statements.
//!
//! Invariant: every refusal carries a `Location` naming the statement (index and `Sid`)
//! and the field, and a reason that names the offending value. Nothing is silently
//! dropped: unknown fields, duplicated fields and empty lists are refused.
//! This module performs no I/O.

use super::action::{self, ActionSet};
use super::condition::Condition;
use super::error::{Location, PolicyError};
use super::glob::{Pattern, Syntax};
use super::json::Json;
use super::statement::{Effect, Resources, Statement};

/// The only resource form accepted.
pub(crate) const ARN_PREFIX: &str = "arn:aws:s3:::";

/// Identity policies (attached to users, session policies) or bucket policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocumentKind {
    Identity,
    Bucket,
}

/// A validated document.
pub(crate) struct Document {
    pub(crate) json: Json,
    pub(crate) statements: Vec<Statement>,
}

type Result<T> = std::result::Result<T, PolicyError>;
type Fields<'a> = &'a [(String, Json)];

/// Where errors are reported; carries the statement index and Sid once known.
#[derive(Clone, Default)]
struct Here {
    statement: Option<usize>,
    sid: Option<String>,
}

impl Here {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
        let location = Location {
            statement: self.statement,
            sid: self.sid.clone(),
            field: field.into(),
        };
        PolicyError::invalid(location, reason)
    }
}

/// Checks the size, parses the JSON and validates every statement.
pub(crate) fn parse_document(text: &str, max_bytes: usize, kind: DocumentKind) -> Result<Document> {
    if text.len() > max_bytes {
        return Err(PolicyError::TooLarge {
            size: text.len(),
            limit: max_bytes,
        });
    }
    let json = Json::parse(text).map_err(|e| PolicyError::json(&e))?;
    let top = Here::default();
    let Json::Object(fields) = &json else {
        return Err(top.err(
            "(document)",
            format!("a policy must be a JSON object, not {}", json.kind()),
        ));
    };
    check_fields(fields, &["Version", "Id", "Statement"], &top)?;
    let vars = parse_version(fields, &top)?;
    if let Some(id) = field(fields, "Id") {
        expect_string(id, "Id", &top)?;
    }
    let statements = statement_list(fields, &top)?
        .iter()
        .enumerate()
        .map(|(index, json)| parse_statement(index, json, vars, kind))
        .collect::<Result<Vec<_>>>()?;
    Ok(Document { json, statements })
}

/// Returns whether policy variables are recognised (only in version 2012-10-17).
fn parse_version(fields: Fields<'_>, here: &Here) -> Result<bool> {
    let Some(version) = field(fields, "Version") else {
        return Err(here.err("Version", "missing; use \"2012-10-17\""));
    };
    match expect_string(version, "Version", here)? {
        "2012-10-17" => Ok(true),
        "2008-10-17" => Ok(false),
        other => Err(here.err(
            "Version",
            format!("{other:?} is not supported; use \"2012-10-17\" (or \"2008-10-17\")"),
        )),
    }
}

fn statement_list<'a>(fields: Fields<'a>, here: &Here) -> Result<Vec<&'a Json>> {
    match field(fields, "Statement") {
        None => Err(here.err("Statement", "missing")),
        Some(Json::Array(items)) if items.is_empty() => Err(here.err("Statement", "empty list")),
        Some(Json::Array(items)) => Ok(items.iter().collect()),
        Some(object @ Json::Object(_)) => Ok(vec![object]),
        Some(other) => Err(here.err(
            "Statement",
            format!("must be an object or an array, not {}", other.kind()),
        )),
    }
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(index: usize, json: &Json, vars: bool, kind: DocumentKind) -> Result<Statement> {
    let mut here = Here {
        statement: Some(index),
        sid: None,
    };
    let Json::Object(fields) = json else {
        return Err(here.err(
            "(statement)",
            format!("must be an object, not {}", json.kind()),
        ));
    };
    if let Some(sid) = field(fields, "Sid") {
        here.sid = Some(expect_string(sid, "Sid", &here)?.to_string());
    }
    check_fields(fields, STATEMENT_FIELDS, &here)?;
    check_principal(fields, kind, &here)?;
    let mut statement = Statement {
        sid: here.sid.clone(),
        effect: parse_effect(fields, &here)?,
        actions: parse_actions(fields, kind, &here)?,
        resources: parse_resources(fields, vars, &here)?,
        conditions: parse_conditions(fields, vars, &here)?,
        variables: Vec::new(),
    };
    statement.collect_variables();
    Ok(statement)
}

fn parse_effect(fields: Fields<'_>, here: &Here) -> Result<Effect> {
    let Some(effect) = field(fields, "Effect") else {
        return Err(here.err("Effect", "missing; use \"Allow\" or \"Deny\""));
    };
    match expect_string(effect, "Effect", here)? {
        "Allow" => Ok(Effect::Allow),
        "Deny" => Ok(Effect::Deny),
        other => Err(here.err(
            "Effect",
            format!("{other:?} is neither \"Allow\" nor \"Deny\""),
        )),
    }
}

/// Exactly one of `name` / `Not<name>`; returns which one and its value.
fn one_of<'a>(fields: Fields<'a>, name: &str, here: &Here) -> Result<(bool, &'a Json)> {
    let not_name = format!("Not{name}");
    match (field(fields, name), field(fields, &not_name)) {
        (Some(json), None) => Ok((false, json)),
        (None, Some(json)) => Ok((true, json)),
        (Some(_), Some(_)) => Err(here.err(
            name,
            format!("a statement has either {name} or {not_name}, not both"),
        )),
        (None, None) => Err(here.err(
            name,
            format!("missing (a statement needs {name} or {not_name})"),
        )),
    }
}

fn parse_actions(fields: Fields<'_>, kind: DocumentKind, here: &Here) -> Result<ActionSet> {
    let (negated, json) = one_of(fields, "Action", here)?;
    let name = if negated { "NotAction" } else { "Action" };
    let mut set = ActionSet::EMPTY;
    for pattern in string_list(json, name, here)? {
        if kind == DocumentKind::Bucket && action::is_match_all(pattern) {
            return Err(here.err(
                name,
                format!("{pattern:?} is not allowed in a bucket policy; list the actions"),
            ));
        }
        let matched = action::resolve_pattern(pattern);
        if matched.is_empty() {
            return Err(here.err(
                name,
                format!(
                    "unsupported action {pattern:?}; supported: {}",
                    supported_list()
                ),
            ));
        }
        set = set.union(matched);
    }
    Ok(if negated { set.complement() } else { set })
}

fn supported_list() -> String {
    let names: Vec<&str> = action::Action::ALL.iter().map(|a| a.as_str()).collect();
    format!("s3:*, {}", names.join(", "))
}

fn parse_resources(fields: Fields<'_>, vars: bool, here: &Here) -> Result<Resources> {
    let (negated, json) = one_of(fields, "Resource", here)?;
    let name = if negated { "NotResource" } else { "Resource" };
    let patterns = string_list(json, name, here)?
        .into_iter()
        .map(|text| parse_resource(text, vars, name, here))
        .collect::<Result<_>>()?;
    Ok(Resources { negated, patterns })
}

fn parse_resource(text: &str, vars: bool, name: &str, here: &Here) -> Result<Pattern> {
    let rest = text.strip_prefix(ARN_PREFIX).unwrap_or("");
    if rest.is_empty() {
        return Err(here.err(name, format!("{text:?} is not of the form \"arn:aws:s3:::bucket\" or \"arn:aws:s3:::bucket/key\"")));
    }
    Pattern::parse(text, Syntax { glob: true, vars }).map_err(|reason| here.err(name, reason))
}

fn parse_conditions(fields: Fields<'_>, vars: bool, here: &Here) -> Result<Vec<Condition>> {
    let Some(json) = field(fields, "Condition") else {
        return Ok(Vec::new());
    };
    let operators = expect_object(json, "Condition", here)?;
    check_unique(operators, "Condition", here)?;
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let at = format!("Condition.{operator}");
        let keys = expect_object(keys, &at, here)?;
        check_unique(keys, &at, here)?;
        if keys.is_empty() {
            return Err(here.err(at, "no condition key"));
        }
        for (key, values) in keys {
            let condition = Condition::parse(operator, key, values, vars)
                .map_err(|reason| here.err(format!("{at}.{key}"), reason))?;
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

fn check_principal(fields: Fields<'_>, kind: DocumentKind, here: &Here) -> Result<()> {
    if field(fields, "NotPrincipal").is_some() {
        return Err(here.err("NotPrincipal", "not supported"));
    }
    match (kind, field(fields, "Principal")) {
        (DocumentKind::Identity, None) => Ok(()),
        (DocumentKind::Identity, Some(_)) => Err(here.err(
            "Principal",
            "not allowed in a user or session policy (it applies to its user)",
        )),
        (DocumentKind::Bucket, None) => {
            Err(here.err("Principal", "missing; a bucket policy grants \"*\""))
        }
        (DocumentKind::Bucket, Some(json)) if is_anyone(json) => Ok(()),
        (DocumentKind::Bucket, Some(_)) => Err(here.err(
            "Principal",
            "only \"*\" or {\"AWS\": \"*\"} (anonymous access) is supported",
        )),
    }
}

fn is_anyone(json: &Json) -> bool {
    let star = |j: &Json| matches!(j, Json::String(s) if s == "*");
    match json {
        Json::String(s) => s == "*",
        Json::Object(entries) => match entries.as_slice() {
            [(key, Json::Array(items))] => {
                key == "AWS" && items.len() == 1 && items.iter().all(star)
            }
            [(key, value)] => key == "AWS" && star(value),
            _ => false,
        },
        _ => false,
    }
}

fn field<'a>(fields: Fields<'a>, name: &str) -> Option<&'a Json> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Refuses unknown and duplicated fields (exact, case-sensitive names as in AWS).
fn check_fields(fields: Fields<'_>, known: &[&str], here: &Here) -> Result<()> {
    check_unique(fields, "(object)", here)?;
    match fields.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((unknown, _)) => Err(here.err(
            unknown.clone(),
            format!("unknown field; expected one of {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn check_unique(fields: Fields<'_>, at: &str, here: &Here) -> Result<()> {
    for (i, (key, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(k, _)| k == key) {
            let field = if at == "(object)" {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            return Err(here.err(field, "appears more than once"));
        }
    }
    Ok(())
}

fn expect_string<'a>(json: &'a Json, name: &str, here: &Here) -> Result<&'a str> {
    match json {
        Json::String(s) => Ok(s),
        other => Err(here.err(name, format!("must be a string, not {}", other.kind()))),
    }
}

fn expect_object<'a>(json: &'a Json, name: &str, here: &Here) -> Result<Fields<'a>> {
    match json {
        Json::Object(fields) => Ok(fields),
        other => Err(here.err(name, format!("must be an object, not {}", other.kind()))),
    }
}

/// A string or a non-empty array of strings.
fn string_list<'a>(json: &'a Json, name: &str, here: &Here) -> Result<Vec<&'a str>> {
    match json {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if items.is_empty() => Err(here.err(name, "empty list")),
        Json::Array(items) => items
            .iter()
            .map(|item| expect_string(item, name, here))
            .collect(),
        other => Err(here.err(
            name,
            format!(
                "must be a string or an array of strings, not {}",
                other.kind()
            ),
        )),
    }
}
