//! Temporary access keys and the secrets derived from them.
//!
//! Owns the shape of a temporary access key (`ASIA` + 16 characters `[A-Z0-9]`, 20 in all)
//! and the derivation of its secret: the first 30 bytes of
//! HMAC-SHA256(server key, `"sts-secret\0" + access key`), base64, so 40 characters.
//!
//! Invariant: nothing is stored per credential. Given the server key, the secret of any
//! temporary access key is computed on demand, which lets the S3 door's `get_secret_key`
//! answer with no lookup; the session token carried with every request is what proves the
//! key was really issued, and is checked separately (`token`).
//! This module performs no I/O besides reading the OS random generator.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;

/// The prefix of every temporary access key (as AWS STS uses).
pub const TEMP_KEY_PREFIX: &str = "ASIA";
/// Length of a temporary access key.
pub const TEMP_KEY_LEN: usize = 20;
/// Length of a temporary secret key.
pub const TEMP_SECRET_LEN: usize = 40;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_LABEL: &[u8] = b"sts-secret\0";

/// Whether `access_key` has the shape of a temporary access key.
///
/// The IAM store refuses user names of this shape, so a name never collides with a key.
pub fn is_temporary_access_key(access_key: &str) -> bool {
    let bytes = access_key.as_bytes();
    bytes.len() == TEMP_KEY_LEN
        && access_key.starts_with(TEMP_KEY_PREFIX)
        && bytes[TEMP_KEY_PREFIX.len()..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A fresh random temporary access key.
pub fn new_temporary_access_key() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut key = String::with_capacity(TEMP_KEY_LEN);
    key.push_str(TEMP_KEY_PREFIX);
    for _ in TEMP_KEY_PREFIX.len()..TEMP_KEY_LEN {
        let i = rng.gen_range(0..ALPHABET.len());
        key.push(char::from(ALPHABET[i]));
    }
    key
}

/// Derives the secrets of temporary access keys from the server key.
#[derive(Clone)]
pub struct SecretDeriver {
    mac: Hmac<Sha256>,
}

impl SecretDeriver {
    /// A deriver keyed with the daemon's server key.
    pub fn new(server_key: &[u8]) -> SecretDeriver {
        SecretDeriver {
            mac: keyed_hmac(server_key),
        }
    }

    /// The secret key of temporary access key `access_key` (40 characters).
    pub fn secret_for(&self, access_key: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(SECRET_LABEL);
        mac.update(access_key.as_bytes());
        let digest = mac.finalize().into_bytes();
        base64::engine::general_purpose::STANDARD.encode(&digest[..30])
    }
}

impl std::fmt::Debug for SecretDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDeriver([SENSITIVE])")
    }
}

/// HMAC-SHA256 keyed with `key`.
pub(crate) fn keyed_hmac(key: &[u8]) -> Hmac<Sha256> {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_have_the_temporary_shape() {
        for _ in 0..100 {
            let key = new_temporary_access_key();
            assert!(is_temporary_access_key(&key), "{key}");
        }
    }

    #[test]
    fn two_new_keys_differ() {
        assert_ne!(new_temporary_access_key(), new_temporary_access_key());
    }

    #[test_case::test_case("ASIAABCDEFGHIJKLMNOP", true ; "twenty upper")]
    #[test_case::test_case("ASIA0123456789ABCDEF", true ; "digits")]
    #[test_case::test_case("ASIAabcdefghijklmnop", false ; "lower case")]
    #[test_case::test_case("AKIAABCDEFGHIJKLMNOP", false ; "long term prefix")]
    #[test_case::test_case("ASIAABCDEFGHIJKLMNO", false ; "too short")]
    #[test_case::test_case("ASIAABCDEFGHIJKLMNOPQ", false ; "too long")]
    #[test_case::test_case("admin", false ; "a user name")]
    fn temporary_key_shape_is_recognised(key: &str, expected: bool) {
        assert_eq!(is_temporary_access_key(key), expected);
    }

    #[test]
    fn derived_secret_is_forty_characters_and_stable() {
        let d = SecretDeriver::new(&[7u8; 32]);
        let s = d.secret_for("ASIAABCDEFGHIJKLMNOP");
        assert_eq!(s.len(), TEMP_SECRET_LEN);
        assert_eq!(s, d.secret_for("ASIAABCDEFGHIJKLMNOP"));
    }

    #[test]
    fn derived_secret_depends_on_key_and_server_key() {
        let a = SecretDeriver::new(&[7u8; 32]);
        let b = SecretDeriver::new(&[8u8; 32]);
        assert_ne!(
            a.secret_for("ASIAABCDEFGHIJKLMNOP"),
            a.secret_for("ASIAABCDEFGHIJKLMNOQ")
        );
        assert_ne!(
            a.secret_for("ASIAABCDEFGHIJKLMNOP"),
            b.secret_for("ASIAABCDEFGHIJKLMNOP")
        );
    }
}
