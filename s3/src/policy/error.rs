//! `PolicyError`: why a policy document was refused.
//!
//! Every refusal names where the problem is: the byte size against the limit, the JSON
//! line and column, or the statement (index in `Statement`, and its `Sid` when it has one)
//! and the field. The texts are shown to operators by `weka s3 policy create` as they are.

use std::fmt;

/// Where in a policy document a validation error sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Index of the statement in `Statement` (0 when `Statement` is a single object);
    /// `None` for top-level fields such as `Version`.
    pub statement: Option<usize>,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
    /// The field, for example `Action` or `Condition.StringLike.s3:prefix`.
    pub field: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(index) = self.statement {
            write!(f, "Statement[{index}]")?;
            if let Some(sid) = &self.sid {
                write!(f, " (Sid {sid:?})")?;
            }
            write!(f, ", ")?;
        }
        write!(f, "field {}", self.field)
    }
}

/// A policy document that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is larger than the configured limit.
    #[error("policy is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The document is not valid JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The document is JSON but not a valid policy.
    #[error("invalid policy: {location}: {reason}")]
    Invalid { location: Location, reason: String },
}

impl PolicyError {
    /// A validation error at `location`.
    pub(crate) fn invalid(location: Location, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            location,
            reason: reason.into(),
        }
    }

    /// Converts a serde_json error, keeping its line and column.
    pub(crate) fn json(err: &serde_json::Error) -> PolicyError {
        PolicyError::Json {
            line: err.line(),
            column: err.column(),
            message: strip_position(&err.to_string()),
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the variant carries them.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_names_statement_sid_and_field() {
        let location = Location {
            statement: Some(2),
            sid: Some("Home".into()),
            field: "Action".into(),
        };
        assert_eq!(
            location.to_string(),
            "Statement[2] (Sid \"Home\"), field Action"
        );
    }

    #[test]
    fn json_error_keeps_line_and_column() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": }").unwrap_err();
        let PolicyError::Json {
            line,
            column,
            message,
        } = PolicyError::json(&err)
        else {
            panic!("not a JSON error");
        };
        assert_eq!((line, column), (2, 8));
        assert!(!message.contains("at line"), "{message}");
    }
}
