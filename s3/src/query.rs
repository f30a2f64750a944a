//! The one reader of `name=value&...` strings, on `form_urlencoded` (the url crate's
//! parser): the door's query strings, STS form bodies and the `x-amz-tagging` header.
//!
//! Owns the decoding rules, which differ by caller and are chosen explicitly:
//! - [`Plus`]: in an `application/x-www-form-urlencoded` body (an STS form, the
//!   `x-amz-tagging` header) `+` is a space;
//!   in a URL's query, as SigV4 canonicalises it and as the gate, the STS token lookup and
//!   the SigV2 token promotion have always read it, `+` is itself (clients send a space as
//!   `%20`, a plus as `%2B`).
//! - [`Utf8`]: an STS form or tagging header whose percent-escapes decode to invalid UTF-8
//!   is refused (`InvalidParameterValue`, `InvalidArgument`), so a policy, session name or
//!   tag is never silently changed;
//!   query parameters read for checks decode lossily (U+FFFD), as they always have.
//!
//! What is common: pairs are split on `&`, empty pairs are skipped, a pair without `=` has
//! the empty value (the lookup of the session token used to skip such a pair: a bare
//! `X-Amz-Security-Token` now reads as an empty token, which no check accepts), and the
//! first pair of a name wins. This module performs no I/O.

use std::borrow::Cow;

/// How `+` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `+` is a space (HTML forms, `application/x-www-form-urlencoded` bodies).
    Space,
    /// `+` is a plus (URL query strings as SigV4 signs them).
    Literal,
}

/// What a percent-escape that decodes to invalid UTF-8 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8 {
    /// The whole input is refused.
    Strict,
    /// The bad bytes become U+FFFD.
    Lossy,
}

/// The input's escapes decode to bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the form is not valid percent-encoded UTF-8")]
pub struct NotUtf8;

/// The decoded pairs of one query string or form body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `input` with the given rules.
    pub fn parse(input: &str, plus: Plus, utf8: Utf8) -> Result<Params, NotUtf8> {
        let input: Cow<'_, str> = match plus {
            Plus::Space => Cow::Borrowed(input),
            // form_urlencoded always reads `+` as a space; an escaped plus decodes to `+`.
            Plus::Literal => Cow::Owned(input.replace('+', "%2B")),
        };
        if utf8 == Utf8::Strict && !decodes_to_utf8(input.as_bytes()) {
            return Err(NotUtf8);
        }
        let pairs = form_urlencoded::parse(input.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Params { pairs })
    }

    /// A URL query string: `+` literal, lossy UTF-8.
    pub fn query(query: &str) -> Params {
        let lossy = Params::parse(query, Plus::Literal, Utf8::Lossy);
        lossy.unwrap_or_default() // Lossy never refuses
    }

    /// Every pair, in order, duplicates included.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// The value of the first pair named exactly `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first pair whose name is `name` in any ASCII case.
    pub fn get_ignore_case(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether every percent-escape of `input` decodes to UTF-8. Checking the whole input is
/// the same as checking each name and value: they are separated by ASCII `&` and `=`,
/// which no multi-byte sequence contains.
fn decodes_to_utf8(input: &[u8]) -> bool {
    percent_encoding::percent_decode(input)
        .decode_utf8()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case(Plus::Space, "a b+c"; "form")]
    #[test_case(Plus::Literal, "a+b+c"; "query")]
    fn plus_is_read_as_the_caller_says(plus: Plus, expected: &str) {
        let p = Params::parse("v=a+b%2Bc", plus, Utf8::Lossy).unwrap();
        assert_eq!(p.get("v"), Some(expected));
    }

    #[test]
    fn invalid_utf8_is_refused_or_replaced() {
        assert_eq!(
            Params::parse("Policy=%FF", Plus::Space, Utf8::Strict),
            Err(NotUtf8)
        );
        let lossy = Params::parse("Policy=%FF", Plus::Space, Utf8::Lossy).unwrap();
        assert_eq!(lossy.get("Policy"), Some("\u{FFFD}"));
        let ok = Params::parse("k=%E2%9C%93&%26=%3D", Plus::Space, Utf8::Strict).unwrap();
        assert_eq!(ok.get("k"), Some("✓"));
        assert_eq!(ok.get("&"), Some("="));
    }

    #[test]
    fn first_pair_wins_empty_pairs_are_skipped_and_bare_names_are_empty() {
        let p = Params::query("&a=1&&a=2&bare&X-Amz-Expires=60");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("bare"), Some(""));
        assert_eq!(p.get("x-amz-expires"), None);
        assert_eq!(p.get_ignore_case("x-amz-expires"), Some("60"));
        assert_eq!(p.get("missing"), None);
    }
}
