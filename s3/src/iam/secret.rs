//! Secrets of the IAM store: the server key, S3 secrets encrypted at rest, password hashes.
//!
//! Invariants: `<state>/secret.key` is 32 random bytes, mode 0600, created once and never
//! rewritten. S3 secrets are stored only as ChaCha20-Poly1305 ciphertext (key derived from
//! the server key, the user name as associated data, so a ciphertext cannot be moved to
//! another user); other roles' passwords only as argon2 hashes. No secret reaches `Debug`,
//! `Display` or a log line.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::{Error, Result};

/// Length of the server key file.
pub const SERVER_KEY_LEN: usize = 32;

/// A secret string whose `Debug` is redacted. `expose()` is the only way to read it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> SecretString {
        SecretString(s.into())
    }

    /// The secret itself; callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with `other`.
    pub fn ct_eq(&self, other: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[SENSITIVE-SECRET]")
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> SecretString {
        SecretString(s)
    }
}

/// Reads `<state>/secret.key`, creating it (0600, 32 random bytes) if it does not exist.
pub fn load_or_create_server_key(path: &Path) -> Result<[u8; SERVER_KEY_LEN]> {
    match fs::read(path) {
        Ok(bytes) => check_server_key(path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_server_key(path),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn check_server_key(path: &Path, bytes: &[u8]) -> Result<[u8; SERVER_KEY_LEN]> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::ServerKey {
            path: path.to_owned(),
            reason: format!(
                "mode is {:o}, must not be readable by group or others: chmod 600 it",
                meta.permissions().mode() & 0o777
            ),
        });
    }
    <[u8; SERVER_KEY_LEN]>::try_from(bytes).map_err(|_| Error::ServerKey {
        path: path.to_owned(),
        reason: format!(
            "is {} bytes, expected {SERVER_KEY_LEN}; restore the original file",
            bytes.len()
        ),
    })
}

fn create_server_key(path: &Path) -> Result<[u8; SERVER_KEY_LEN]> {
    let mut key = [0u8; SERVER_KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let tmp = path.with_extension("key.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| Error::io(path, e))?;
    Ok(key)
}

/// How a user's password is kept in the store.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoredCredential {
    /// S3 users: the secret key, encrypted (it must be recoverable to verify SigV4).
    Sealed { nonce: String, ciphertext: String },
    /// Other roles: an argon2 PHC string.
    Hashed { phc: String },
}

/// Encrypts and decrypts S3 secrets with a key derived from the server key.
pub struct SecretCipher {
    cipher: ChaCha20Poly1305,
}

impl SecretCipher {
    /// Derives the cipher key from the server key (never the server key itself, which also
    /// signs STS tokens).
    pub fn new(server_key: &[u8]) -> Result<SecretCipher> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_key)
            .map_err(|e| Error::Hash(e.to_string()))?;
        mac.update(b"wekad iam secret encryption v1");
        let derived = mac.finalize().into_bytes();
        Ok(SecretCipher {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&derived)),
        })
    }

    /// Seals `secret` for `user` (the user name is the associated data).
    pub fn seal(&self, user: &str, secret: &SecretString) -> Result<StoredCredential> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: user.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| Error::SecretUnreadable(user.to_owned()))?;
        Ok(StoredCredential::Sealed {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        })
    }

    /// Opens a sealed secret of `user`.
    pub fn open(&self, user: &str, nonce: &str, ciphertext: &str) -> Result<SecretString> {
        let unreadable = || Error::SecretUnreadable(user.to_owned());
        let nonce = hex::decode(nonce).map_err(|_| unreadable())?;
        let ciphertext = hex::decode(ciphertext).map_err(|_| unreadable())?;
        if nonce.len() != 12 {
            return Err(unreadable());
        }
        let payload = Payload {
            msg: &ciphertext,
            aad: user.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| unreadable())?;
        String::from_utf8(plain)
            .map(SecretString)
            .map_err(|_| unreadable())
    }
}

/// Hashes a password with argon2 (default parameters, random salt).
pub fn hash_password(password: &SecretString) -> Result<StoredCredential> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hash(e.to_string()))?;
    let phc = Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|e| Error::Hash(e.to_string()))?;
    Ok(StoredCredential::Hashed {
        phc: phc.to_string(),
    })
}

/// Verifies a password against an argon2 PHC string (constant time inside argon2).
pub fn verify_hash(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A random password of `len` characters that satisfies the password rule.
pub fn random_password(len: usize) -> SecretString {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let mut bytes = vec![0u8; len];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        // 248 = 4 * 62: rejection sampling keeps every character equally likely.
        if bytes.iter().any(|b| *b >= 248) {
            continue;
        }
        let s: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        if super::names::check_password(&s).is_ok() {
            return SecretString(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_for_its_user() {
        let c = SecretCipher::new(&[7u8; 32]).unwrap();
        let s = SecretString::new("Secret123");
        let StoredCredential::Sealed { nonce, ciphertext } = c.seal("alice", &s).unwrap() else {
            panic!("not sealed")
        };
        assert_eq!(
            c.open("alice", &nonce, &ciphertext).unwrap().expose(),
            "Secret123"
        );
        assert!(c.open("bob", &nonce, &ciphertext).is_err());
    }

    #[test]
    fn argon2_hash_verifies_the_right_password_only() {
        let StoredCredential::Hashed { phc } =
            hash_password(&SecretString::new("Passw0rd!")).unwrap()
        else {
            panic!("not hashed")
        };
        assert!(verify_hash(&phc, "Passw0rd!"));
        assert!(!verify_hash(&phc, "Passw0rd?"));
    }

    #[test]
    fn random_passwords_satisfy_the_rule_and_differ() {
        let a = random_password(40);
        let b = random_password(40);
        assert_eq!(a.expose().len(), 40);
        assert!(super::super::names::check_password(a.expose()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", SecretString::new("hunter2")),
            "[SENSITIVE-SECRET]"
        );
    }
}
