//! The XML documents the door writes or rewrites itself, on `quick-xml` (the crate s3s's
//! own XML module is built on): S3 error documents (`<Error>`) made before s3s runs or
//! completed after it, and the STS documents (`sts::xml`).
//!
//! Owns: writing a document (declaration, then elements whose text is escaped by the
//! writer, never by hand) and reading an S3 error document back into its fields in order,
//! so that adding `<Message>`/`<RequestId>` or rewrapping it as an STS `ErrorResponse` is
//! done on parsed fields, not by finding and replacing text.
//!
//! Invariant: what is written is well-formed; a body that is not a flat `<Error>` document
//! is never rewritten (callers leave such bodies alone). This module performs no I/O.

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::{Reader, Writer};

/// The writer documents are built with.
pub(crate) type XmlWriter = Writer<Vec<u8>>;

/// What writing into memory can return (it never fails: `Vec<u8>` writes are infallible).
pub(crate) type WriteResult = std::io::Result<()>;

/// A document: `<?xml version="1.0" encoding="UTF-8"?>`, a newline, then what `body` writes.
pub(crate) fn document(body: impl FnOnce(&mut XmlWriter) -> WriteResult) -> String {
    let mut w = Writer::new(Vec::new());
    let write = || {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.get_mut().push(b'\n');
        body(&mut w)
    };
    if let Err(e) = write() {
        // Unreachable in practice: the writer writes into a Vec, which cannot fail.
        tracing::warn!(error = %e, "could not write an XML document");
    }
    // Only `&str` content and ASCII markup were written, so the bytes are UTF-8.
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// `<name>value</name>`, with `value` escaped.
pub(crate) fn text(w: &mut XmlWriter, name: &str, value: &str) -> WriteResult {
    w.create_element(name)
        .write_text_content(BytesText::new(value))
        .map(|_| ())
}

/// `<name xmlns="ns">` around what `inner` writes.
pub(crate) fn element_ns(
    w: &mut XmlWriter,
    name: &str,
    ns: &str,
    inner: impl FnOnce(&mut XmlWriter) -> WriteResult,
) -> WriteResult {
    w.create_element(name)
        .with_attribute(("xmlns", ns))
        .write_inner_content(inner)
        .map(|_| ())
}

/// `<name>` around what `inner` writes.
pub(crate) fn element(
    w: &mut XmlWriter,
    name: &str,
    inner: impl FnOnce(&mut XmlWriter) -> WriteResult,
) -> WriteResult {
    w.create_element(name)
        .write_inner_content(inner)
        .map(|_| ())
}

/// An S3 error document: `<Error>` and its child elements (`Code`, `Message`, `RequestId`,
/// and whatever else s3s wrote, such as `Key` or `BucketName`), in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDoc {
    fields: Vec<(String, String)>,
}

impl ErrorDoc {
    /// An error document naming `code` with `message`.
    pub fn new(code: &str, message: &str) -> ErrorDoc {
        ErrorDoc {
            fields: vec![
                ("Code".to_owned(), code.to_owned()),
                ("Message".to_owned(), message.to_owned()),
            ],
        }
    }

    /// Reads an S3 error document; `None` when `body` is anything else (another root
    /// element, nested children, malformed XML, not UTF-8).
    pub fn parse(body: &[u8]) -> Option<ErrorDoc> {
        let text = std::str::from_utf8(body).ok()?;
        // Text is not trimmed (that would also trim around `&amp;` inside a value);
        // whitespace between elements is skipped below instead.
        let mut reader = Reader::from_str(text);
        let mut fields = Vec::new();
        let mut open: Option<(String, String)> = None;
        let mut in_root = false;
        let mut closed = false;
        loop {
            match reader.read_event().ok()? {
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Start(e) if !in_root && !closed => {
                    if e.name().as_ref() != b"Error" {
                        return None;
                    }
                    in_root = true;
                }
                Event::Empty(e) if in_root && open.is_none() => {
                    let name = std::str::from_utf8(e.name().as_ref()).ok()?.to_owned();
                    fields.push((name, String::new()));
                }
                Event::Start(e) if in_root && open.is_none() => {
                    let name = std::str::from_utf8(e.name().as_ref()).ok()?.to_owned();
                    open = Some((name, String::new()));
                }
                Event::Text(t) => {
                    let t = t.decode().ok()?;
                    match open.as_mut() {
                        Some((_, value)) => value.push_str(&t),
                        None if t.trim().is_empty() => {}
                        None => return None,
                    }
                }
                Event::CData(t) => {
                    let (_, value) = open.as_mut()?;
                    value.push_str(&t.decode().ok()?);
                }
                Event::GeneralRef(r) => {
                    let (_, value) = open.as_mut()?;
                    let reference = format!("&{};", r.decode().ok()?);
                    value.push_str(&quick_xml::escape::unescape(&reference).ok()?);
                }
                Event::End(e) => match open.take() {
                    Some((name, value)) if e.name().as_ref() == name.as_bytes() => {
                        fields.push((name, value));
                    }
                    Some(_) => return None,
                    None if in_root && e.name().as_ref() == b"Error" => {
                        in_root = false;
                        closed = true;
                    }
                    None => return None,
                },
                Event::Eof if closed => return Some(ErrorDoc { fields }),
                _ => return None,
            }
        }
    }

    /// The value of the first child named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Appends `<name>value</name>` unless the document has a `name` already; returns
    /// whether it was added.
    pub fn add_if_absent(&mut self, name: &str, value: &str) -> bool {
        if self.get(name).is_some() {
            return false;
        }
        self.fields.push((name.to_owned(), value.to_owned()));
        true
    }

    /// Replaces the value of every child named `name` equal to `from` with `to`.
    pub fn rename_value(&mut self, name: &str, from: &str, to: &str) {
        for (n, v) in &mut self.fields {
            if n == name && v == from {
                *v = to.to_owned();
            }
        }
    }

    fn write_fields(&self, w: &mut XmlWriter) -> WriteResult {
        self.fields
            .iter()
            .try_for_each(|(name, value)| text(w, name, value))
    }

    /// The S3 document: `<Error>` with the children in order.
    pub fn to_xml(&self) -> String {
        document(|w| element(w, "Error", |w| self.write_fields(w)))
    }

    /// The STS (query protocol) document: `<ErrorResponse xmlns=ns><Error><Type>kind</Type>`,
    /// the children in order, `</Error><RequestId>request_id</RequestId></ErrorResponse>`.
    pub fn to_sts_xml(&self, ns: &str, kind: &str, request_id: &str) -> String {
        document(|w| {
            element_ns(w, "ErrorResponse", ns, |w| {
                element(w, "Error", |w| {
                    text(w, "Type", kind)?;
                    self.write_fields(w)
                })?;
                text(w, "RequestId", request_id)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_document_round_trips_with_escapes_and_order_kept() {
        let s3s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>a &lt;b&gt; &amp; &#99;</Message><Key>k&amp;1</Key></Error>";
        let doc = ErrorDoc::parse(s3s.as_bytes()).unwrap();
        assert_eq!(doc.get("Message"), Some("a <b> & c"));
        assert_eq!(doc.get("Key"), Some("k&1"));
        assert_eq!(
            doc.to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>a &lt;b&gt; &amp; c</Message><Key>k&amp;1</Key></Error>"
        );
    }

    #[test]
    fn only_flat_error_documents_are_read() {
        for other in [
            "",
            "not xml",
            "<ErrorResponse><Error><Code>X</Code></Error></ErrorResponse>",
            "<Error><Code>X</Code>",
            "<Error><Code><Nested/></Code></Error>",
            "<Error><Code>X</Code></Error><Error/>",
            "<AssumeRoleResponse/>",
        ] {
            assert_eq!(ErrorDoc::parse(other.as_bytes()), None, "{other}");
        }
        let pretty = ErrorDoc::parse(b"<Error>\n  <Code> X </Code>\n</Error>\n").unwrap();
        assert_eq!(pretty.get("Code"), Some(" X "));
        let empty = ErrorDoc::parse(b"<Error><Code>X</Code><Resource/></Error>").unwrap();
        assert_eq!(empty.get("Resource"), Some(""));
    }

    #[test]
    fn added_fields_go_last_and_present_ones_are_kept() {
        let mut doc = ErrorDoc::new("AccessDenied", "Access Denied");
        assert!(!doc.add_if_absent("Message", "Forbidden"));
        assert!(doc.add_if_absent("RequestId", "RID"));
        assert_eq!(
            doc.to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>RID</RequestId></Error>"
        );
        assert_eq!(
            doc.to_sts_xml("urn:x", "Sender", "R2"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"urn:x\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>RID</RequestId></Error><RequestId>R2</RequestId></ErrorResponse>"
        );
    }
}
