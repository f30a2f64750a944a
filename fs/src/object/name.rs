//! Checked bucket names and object keys.
//!
//! Invariant: the key -> path mapping is injective. Every `ObjectKey` names at most one
//! path below its bucket, and keys that would alias (`a/../b`, `a//b`, `./a`) are refused
//! rather than normalised. This module performs no I/O.

use std::fmt;

pub use crate::error::{BucketNameError, KeyError};

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest path component the backing filesystem accepts, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A valid bucket name (also the name of a top-level directory).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Checks AWS's naming rules for general purpose buckets: 3-63 of `a-z 0-9 . -`, letter or
    /// digit at both ends, no `..`, `.-` or `-.` (a label of a DNS name neither starts nor ends
    /// with `-`), not formatted like an IPv4 address, and none of the prefixes and suffixes AWS
    /// reserves.
    pub fn parse(name: &str) -> Result<BucketName, BucketNameError> {
        let b = name.as_bytes();
        let ok_len = (3..=63).contains(&b.len());
        let ok_chars = b
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-');
        let ok_ends = b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric);
        let ok_dots = !["..", ".-", "-."].iter().any(|p| name.contains(p));
        let reserved = RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
            || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s));
        if ok_len && ok_chars && ok_ends && ok_dots && !reserved && !looks_like_ipv4(name) {
            Ok(BucketName(name.to_owned()))
        } else {
            Err(BucketNameError(name.to_owned()))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Prefixes AWS refuses in bucket names (IDN punycode, S3 internals, documentation examples).
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];

/// Suffixes AWS refuses (access point aliases, Object Lambda, Multi-Region Access Points,
/// directory buckets and table buckets).
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Four dot-separated groups of digits, as AWS words it ("formatted as an IP address"):
/// `999.1.1.1` and `010.1.1.1` are refused too, though neither parses as an `Ipv4Addr`.
fn looks_like_ipv4(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid object key: `segments` joined by `/`, plus a trailing `/` for directory objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    key: String,
    dir: bool,
}

impl ObjectKey {
    /// Validates `key` (see the module invariant).
    pub fn parse(key: &str) -> Result<ObjectKey, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong(key.len()));
        }
        if key.starts_with('/') {
            return Err(KeyError::LeadingSlash);
        }
        if key.contains('\0') {
            return Err(KeyError::Nul);
        }
        let dir = key.ends_with('/');
        let body = key.strip_suffix('/').unwrap_or(key);
        for seg in body.split('/') {
            check_segment(seg)?;
        }
        Ok(ObjectKey {
            key: key.to_owned(),
            dir,
        })
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// True for a directory object (`key/`).
    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// The relative path below the bucket, without a trailing `/`.
    pub fn path(&self) -> &str {
        self.key.strip_suffix('/').unwrap_or(&self.key)
    }

    /// The path components.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.path().split('/')
    }

    /// The parent directory components (all but the last).
    pub fn parent_segments(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.segments().collect();
        v.pop();
        v
    }

    /// The last component.
    pub fn name(&self) -> &str {
        self.segments().next_back().unwrap_or_default()
    }
}

fn check_segment(seg: &str) -> Result<(), KeyError> {
    match seg {
        "" | "." | ".." => Err(KeyError::BadSegment),
        s if s.len() > MAX_SEGMENT_BYTES => Err(KeyError::SegmentTooLong(s.len())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("a", false; "plain")]
    #[test_case("a/b/c.txt", false; "nested")]
    #[test_case("dir/", true; "directory object")]
    #[test_case("a b/ü", false; "unicode and spaces")]
    fn valid_keys_parse(key: &str, dir: bool) {
        let k = ObjectKey::parse(key).unwrap();
        assert_eq!(k.is_dir(), dir);
        assert_eq!(k.as_str(), key);
    }

    #[test_case("", KeyError::Empty; "empty")]
    #[test_case("/a", KeyError::LeadingSlash; "leading slash")]
    #[test_case("a//b", KeyError::BadSegment; "double slash")]
    #[test_case("a/./b", KeyError::BadSegment; "dot")]
    #[test_case("a/../b", KeyError::BadSegment; "dot dot")]
    #[test_case("..", KeyError::BadSegment; "bare dot dot")]
    #[test_case("a\0b", KeyError::Nul; "nul")]
    fn invalid_keys_are_refused(key: &str, err: KeyError) {
        assert_eq!(ObjectKey::parse(key), Err(err));
    }

    #[test]
    fn long_keys_and_segments_are_refused() {
        assert_eq!(
            ObjectKey::parse(&"a".repeat(1025)),
            Err(KeyError::TooLong(1025))
        );
        assert_eq!(
            ObjectKey::parse(&"a".repeat(256)),
            Err(KeyError::SegmentTooLong(256))
        );
        assert!(ObjectKey::parse(&format!("{}/{}", "a".repeat(255), "b".repeat(255))).is_ok());
    }

    #[test_case("abc", true)]
    #[test_case("my-bucket.1", true)]
    #[test_case("ab", false)]
    #[test_case("Abc", false)]
    #[test_case("-abc", false)]
    #[test_case("abc-", false)]
    #[test_case("a..b", false)]
    #[test_case("192.168.1.1", false)]
    #[test_case("192.168.5.4", false)]
    #[test_case("999.168.5.4", false)]
    #[test_case("1.2.3", true)]
    #[test_case("1.2.3.4.5", true)]
    #[test_case("1.2.3.a", true)]
    #[test_case("a.-b", false)]
    #[test_case("a-.b", false)]
    #[test_case("a-b.c-d", true)]
    #[test_case("a--b", true)]
    #[test_case("xn--abc", false)]
    #[test_case("sthree-abc", false)]
    #[test_case("amzn-s3-demo-bucket", false)]
    #[test_case("abc-s3alias", false)]
    #[test_case("abc--ol-s3", false)]
    #[test_case("abc.mrap", false)]
    #[test_case("abc--x-s3", false)]
    #[test_case("abc--table-s3", false)]
    #[test_case(&"a".repeat(63), true ; "63 characters")]
    #[test_case(&"a".repeat(64), false ; "64 characters")]
    #[test_case(".wekad", false)]
    fn bucket_names_follow_the_rules(name: &str, ok: bool) {
        assert_eq!(BucketName::parse(name).is_ok(), ok);
    }

    proptest::proptest! {
        #[test]
        fn parsed_keys_round_trip_and_never_alias(key in "[a-z./]{1,20}") {
            if let Ok(k) = ObjectKey::parse(&key) {
                let rebuilt = if k.is_dir() { format!("{}/", k.path()) } else { k.path().to_owned() };
                proptest::prop_assert_eq!(rebuilt, key.clone());
                proptest::prop_assert!(k.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
            }
        }
    }
}
