//! The configuration file, parsed once with the spans of its keys, so that every error names
//! the file, the line and the dotted key it is about.
//!
//! Owns the translation between byte offsets and keys in both directions: an offset from the
//! deserializer (a wrong value, an unknown key) becomes a line and a dotted key, and a dotted
//! key (for the checks made after parsing) becomes its line. Invariant: the spans come from
//! `toml_edit`'s document, the parser that `toml` itself runs; this module never scans the
//! text for TOML syntax (it only counts newlines to turn an offset into a line).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml_edit::{ImDocument, TableLike};

use super::{ConfigError, HINT};

/// One configuration file: its path (for messages) and its parsed document.
pub(super) struct Source {
    path: PathBuf,
    doc: ImDocument<String>,
}

impl Source {
    /// Parses `text`; a syntax error names the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Source, ConfigError> {
        match ImDocument::parse(text.to_string()) {
            Ok(doc) => Ok(Source {
                path: path.to_path_buf(),
                doc,
            }),
            Err(e) => {
                let start = e.span().map_or(0, |s| s.start);
                let (line, column) = line_and_column(text, start);
                Err(ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: e.message().trim_end().to_string(),
                    text: text.lines().nth(line - 1).unwrap_or_default().trim().into(),
                })
            }
        }
    }

    /// Deserializes the document; an error names the file, line and key it is about.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml_edit::de::from_document(self.doc.clone())
            .map_err(|e| self.located(e.span(), e.message()))
    }

    /// An invalid value found after parsing: `key` (dotted) is located in the file, or
    /// reported on line 1 when the file does not set it.
    pub fn invalid(&self, key: &str, message: String, hint: &str) -> ConfigError {
        let line = key_span(self.doc.as_table(), key)
            .map_or(1, |span| line_and_column(self.doc.raw(), span.start).0);
        ConfigError::Invalid {
            path: self.path.clone(),
            line,
            key: key.to_string(),
            message,
            hint: hint.to_string(),
        }
    }

    /// Turns a deserializer error at `span` into one naming the line and key.
    fn located(&self, span: Option<Range<usize>>, message: &str) -> ConfigError {
        let offset = span.map_or(0, |s| s.start);
        let hint = match message {
            m if m.starts_with("unknown field") => format!("check the spelling; {HINT}"),
            m if m.starts_with("unknown variant") => {
                "use one of the values listed above".to_string()
            }
            _ => HINT.to_string(),
        };
        ConfigError::Invalid {
            path: self.path.clone(),
            line: line_and_column(self.doc.raw(), offset).0,
            key: key_at(self.doc.as_table(), offset).unwrap_or_else(|| "(top level)".into()),
            message: message.to_string(),
            hint,
        }
    }
}

/// The dotted key whose name or value covers byte `offset`, innermost first.
fn key_at(table: &dyn TableLike, offset: usize) -> Option<String> {
    let covers = |span: Option<Range<usize>>| span.is_some_and(|s| s.contains(&offset));
    table.iter().find_map(|(name, _)| {
        let (key, item) = table.get_key_value(name)?;
        let inner = item.as_table_like().and_then(|t| key_at(t, offset));
        match inner {
            Some(inner) => Some(format!("{name}.{inner}")),
            None if covers(key.span()) || covers(item.span()) => Some(name.to_string()),
            None => None,
        }
    })
}

/// Where the name of the dotted key `dotted` is written, if the file sets it.
fn key_span(table: &dyn TableLike, dotted: &str) -> Option<Range<usize>> {
    let (first, rest) = match dotted.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (dotted, None),
    };
    let (key, item) = table.get_key_value(first)?;
    match rest {
        None => key.span(),
        Some(rest) => key_span(item.as_table_like()?, rest),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Spans from the parser fall on character boundaries.
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::parse(Path::new("/w.toml"), text).unwrap()
    }

    #[test]
    fn an_offset_names_the_dotted_key_it_falls_in() {
        let text = "data = \"/d\"\n[s3]\nlisten = \"x\"\n[fuse]\nthreads = 3\n";
        let doc = source(text);
        let at = |needle: &str| key_at(doc.doc.as_table(), text.find(needle).unwrap());
        assert_eq!(at("\"/d\"").as_deref(), Some("data"));
        assert_eq!(at("listen").as_deref(), Some("s3.listen"));
        assert_eq!(at("\"x\"").as_deref(), Some("s3.listen"));
        assert_eq!(at("3\n").as_deref(), Some("fuse.threads"));
    }

    #[test]
    fn dotted_and_inline_tables_are_located_too() {
        let text = "s3.region = \"r\"\nmetrics = { listen = \"m\" }\n";
        let doc = source(text);
        let line = |key| doc.invalid(key, String::new(), "").to_string();
        assert!(line("s3.region").starts_with("/w.toml:1: key `s3.region`"));
        assert!(line("metrics.listen").starts_with("/w.toml:2: key `metrics.listen`"));
        let at = key_at(doc.doc.as_table(), text.find("\"m\"").unwrap());
        assert_eq!(at.as_deref(), Some("metrics.listen"));
    }

    #[test]
    fn a_key_the_file_does_not_set_is_reported_on_line_one() {
        let doc = source("[s3]\nlisten = \"x\"\n");
        let text = doc.invalid("s3.region", "bad".into(), "fix").to_string();
        assert!(
            text.starts_with("/w.toml:1: key `s3.region`: bad"),
            "{text}"
        );
    }

    #[test]
    fn a_syntax_error_names_line_and_column() {
        let text = Source::parse(Path::new("/w.toml"), "[s3]\nlisten = 127.0.0.1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(text.starts_with("/w.toml:2:15: "), "{text}");
        assert!(text.contains("(in `listen = 127.0.0.1`)"), "{text}");
    }
}
