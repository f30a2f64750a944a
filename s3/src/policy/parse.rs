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

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn refusal(text: &str, kind: DocumentKind) -> (Location, String) {
        match parse_document(text, 4096, kind) {
            Err(PolicyError::Invalid { location, reason }) => (location, reason),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("accepted: {text}"),
        }
    }

    fn wrap(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    const OK: &str = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#;

    #[test_case(r#"{"Effect":"Allow","Action":"s3:Fly","Resource":"arn:aws:s3:::*"}"#, "Action", "s3:Fly"; "unsupported action")]
    #[test_case(r#"{"Effect":"Allow","Action":["s3:GetObject","ec2:*"],"Resource":"arn:aws:s3:::*"}"#, "Action", "ec2:*"; "pattern matching nothing")]
    #[test_case(r#"{"Effect":"Allow","NotAction":"s3:Nope","Resource":"arn:aws:s3:::*"}"#, "NotAction", "s3:Nope"; "unsupported not action")]
    #[test_case(r#"{"Effect":"Maybe","Action":"s3:*","Resource":"arn:aws:s3:::*"}"#, "Effect", "Maybe"; "bad effect")]
    #[test_case(r#"{"Action":"s3:*","Resource":"arn:aws:s3:::*"}"#, "Effect", "missing"; "missing effect")]
    #[test_case(r#"{"Effect":"Allow","Resource":"arn:aws:s3:::*"}"#, "Action", "missing"; "missing action")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::*"}"#, "Action", "not both"; "action and not action")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#, "Resource", "arn:aws:s3:::"; "bare star resource")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:ec2:::x"}"#, "Resource", "arn:aws:ec2"; "other service resource")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::"}"#, "Resource", "form"; "empty resource")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":[]}"#, "Resource", "empty"; "empty resource list")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::${aws:who}"}"#, "NotResource", "aws:who"; "unknown variable")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*","Principal":"*"}"#, "Principal", "not allowed"; "principal in identity policy")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*","Colour":"red"}"#, "Colour", "unknown field"; "unknown field")]
    #[test_case(r#"{"Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*"}"#, "Effect", "more than once"; "duplicated field")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*","Condition":{"StringLike":{"s3:prefix":["a"],"s3:nope":"b"}}}"#, "Condition.StringLike.s3:nope", "s3:nope"; "unknown condition key")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*","Condition":{"StringMaybe":{"s3:prefix":"a"}}}"#, "Condition.StringMaybe.s3:prefix", "StringMaybe"; "unknown operator")]
    #[test_case(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*","Condition":{"StringLike":[]}}"#, "Condition.StringLike", "object"; "operator block not an object")]
    #[test_case(r#"{"Effect":"Allow","Action":7,"Resource":"arn:aws:s3:::*"}"#, "Action", "a number"; "action not a string")]
    fn each_refusal_names_the_second_statement_and_its_field(
        bad: &str,
        field: &str,
        mention: &str,
    ) {
        let (location, reason) = refusal(&wrap(&format!("{OK},{bad}")), DocumentKind::Identity);
        assert_eq!(location.statement, Some(1));
        assert_eq!(location.field, field);
        assert!(
            reason.contains(mention),
            "{reason:?} does not mention {mention:?}"
        );
    }

    #[test]
    fn refusal_names_the_sid() {
        let bad =
            r#"{"Sid":"Home","Effect":"Allow","Action":"s3:Fly","Resource":"arn:aws:s3:::*"}"#;
        let err = parse_document(&wrap(bad), 4096, DocumentKind::Identity)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid policy: Statement[0] (Sid \"Home\"), field Action: unsupported action \"s3:Fly\"; supported: {}",
                supported_list()
            )
        );
    }

    #[test_case(r#"{"Statement":[]}"#, "Version"; "missing version")]
    #[test_case(r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"; "unknown version")]
    #[test_case(r#"{"Version":"2012-10-17"}"#, "Statement"; "missing statement")]
    #[test_case(r#"{"Version":"2012-10-17","Statement":[]}"#, "Statement"; "empty statement list")]
    #[test_case(r#"{"Version":"2012-10-17","Statement":"x"}"#, "Statement"; "statement a string")]
    #[test_case(r#"{"Version":"2012-10-17","Statement":[],"Extra":1}"#, "Extra"; "unknown top level field")]
    #[test_case(r#"[1]"#, "(document)"; "not an object")]
    fn top_level_refusals_name_the_field(text: &str, field: &str) {
        let (location, _) = refusal(text, DocumentKind::Identity);
        assert_eq!(location.statement, None);
        assert_eq!(location.field, field);
    }

    #[test]
    fn too_large_names_size_and_limit() {
        let text = wrap(&[OK; 40].join(","));
        let err = parse_document(&text, 2048, DocumentKind::Identity)
            .err()
            .unwrap();
        assert_eq!(
            err,
            PolicyError::TooLarge {
                size: text.len(),
                limit: 2048
            }
        );
        assert!(
            err.to_string().contains(&text.len().to_string()) && err.to_string().contains("2048")
        );
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let err = parse_document(
            "{\n\"Version\": \"2012-10-17\",\n\"Statement\": [,]\n}",
            2048,
            DocumentKind::Identity,
        )
        .err()
        .unwrap();
        assert!(
            matches!(
                err,
                PolicyError::Json {
                    line: 3,
                    column: 15,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn single_statement_object_is_accepted() {
        let text = format!(r#"{{"Version":"2008-10-17","Id":"x","Statement":{OK}}}"#);
        let document = parse_document(&text, 2048, DocumentKind::Identity).unwrap();
        assert_eq!(document.statements.len(), 1);
    }

    #[test_case(r#""*""#; "star")]
    #[test_case(r#"{"AWS":"*"}"#; "aws star")]
    #[test_case(r#"{"AWS":["*"]}"#; "aws star list")]
    fn bucket_policies_accept_the_anonymous_principal(principal: &str) {
        let statement = format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#
        );
        assert!(parse_document(&wrap(&statement), 2048, DocumentKind::Bucket).is_ok());
    }

    #[test_case(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#, "Principal"; "missing principal")]
    #[test_case(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#, "Principal"; "named principal")]
    #[test_case(r#"{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#, "NotPrincipal"; "not principal")]
    #[test_case(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#, "Action"; "s3 star")]
    #[test_case(r#"{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","*"],"Resource":"arn:aws:s3:::b/*"}"#, "Action"; "bare star")]
    fn bucket_policies_refuse_named_principals_and_all_actions(statement: &str, field: &str) {
        let (location, _) = refusal(&wrap(statement), DocumentKind::Bucket);
        assert_eq!(location.field, field);
    }
}
