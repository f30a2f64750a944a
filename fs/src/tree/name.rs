//! `EntryName`: one checked path component, the only form in which a name reaches a syscall.
//!
//! Invariant: an `EntryName` is non-empty, at most 255 bytes, contains neither `/` nor NUL
//! and is neither `.` nor `..`, so it always names an entry directly inside its directory.
//! Whether the name is the reserved internal area depends on the parent and is decided by
//! the engine, not here. This module performs no I/O.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::error::NameError;

/// The longest name the backing filesystems we support accept (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A validated directory entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryName<'a>(&'a OsStr);

impl<'a> EntryName<'a> {
    /// Checks `name` and wraps it.
    pub fn new(name: &'a OsStr) -> Result<EntryName<'a>, NameError> {
        let bytes = name.as_bytes();
        if bytes.is_empty() {
            return Err(NameError::Empty);
        }
        if bytes == b"." || bytes == b".." {
            return Err(NameError::Dot);
        }
        if bytes.len() > NAME_MAX {
            return Err(NameError::TooLong(bytes.len()));
        }
        if bytes.iter().any(|&b| b == b'/' || b == 0) {
            return Err(NameError::BadByte);
        }
        Ok(EntryName(name))
    }

    /// The name as an `OsStr`, for syscalls.
    pub fn as_os_str(&self) -> &'a OsStr {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("" => Err(NameError::Empty); "empty")]
    #[test_case("." => Err(NameError::Dot); "dot")]
    #[test_case(".." => Err(NameError::Dot); "dotdot")]
    #[test_case("a/b" => Err(NameError::BadByte); "slash")]
    #[test_case("a\0b" => Err(NameError::BadByte); "nul")]
    #[test_case("..." => Ok(()); "three dots are a name")]
    #[test_case(".wekad" => Ok(()); "internal name is checked by the engine")]
    fn names_are_checked(name: &str) -> Result<(), NameError> {
        EntryName::new(OsStr::new(name)).map(|_| ())
    }

    #[test]
    fn names_longer_than_255_bytes_are_refused() {
        let long = "x".repeat(256);
        assert_eq!(
            EntryName::new(OsStr::new(&long)),
            Err(NameError::TooLong(256))
        );
        assert!(EntryName::new(OsStr::new(&long[..255])).is_ok());
    }
}
