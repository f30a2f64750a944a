//! TLS on the S3 port: the certificate chain and private key, read from PEM files, and
//! replaceable while the server runs (SIGHUP after a certificate renewal).
//!
//! Invariants: a [`TlsCerts`] only ever holds a pair that rustls accepted (a non-empty
//! chain, a private key it can use, and that key matching the leaf certificate); a failed
//! [`TlsCerts::reload`] leaves the previous pair in place; each new connection reads the
//! current pair once ([`TlsCerts::acceptor`]), so a reload applies to the next connection
//! and never to one already established. Every error names the file at fault.
//! This module must not log or display key material.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::error::{Error, Result};

/// The served certificate and key, shared by every server generation; cheap to clone.
#[derive(Clone)]
pub struct TlsCerts {
    current: Arc<ArcSwap<ServerConfig>>,
}

impl std::fmt::Debug for TlsCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsCerts([certificate and key])")
    }
}

impl TlsCerts {
    /// Reads and checks the pair `cert` (PEM chain, leaf first) and `key` (PEM private key).
    pub fn load(cert: &Path, key: &Path) -> Result<TlsCerts> {
        let config = server_config(cert, key)?;
        Ok(TlsCerts {
            current: Arc::new(ArcSwap::from_pointee(config)),
        })
    }

    /// Re-reads the pair; on success the next connection gets it, on failure the current
    /// pair stays and the error says which file is wrong.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<()> {
        let config = server_config(cert, key)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// An acceptor over the current pair, for one new connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}

/// A TLS error about one file.
fn bad(path: &Path, problem: impl Into<String>) -> Error {
    Error::Tls {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))
}

fn certificates(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(path, format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            path,
            "no certificate found (expected a PEM `BEGIN CERTIFICATE` block)",
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| bad(path, format!("malformed PEM: {e}")))?
        .ok_or_else(|| {
            bad(
                path,
                "no private key found (expected a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)",
            )
        })
}

/// Builds the rustls configuration of one pair, blaming the file each failure is about.
fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig> {
    let chain = certificates(cert)?;
    let secret = private_key(key)?;
    let builder =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("TLS protocol versions: {e}")))?
            .with_no_client_auth();
    builder
        .with_single_cert(chain, secret)
        .map_err(|e| pair_error(cert, key, &e))
}

/// Which file a rustls refusal of the pair is about.
fn pair_error(cert: &Path, key: &Path, e: &rustls::Error) -> Error {
    match e {
        rustls::Error::InconsistentKeys(_) => bad(
            key,
            format!(
                "the private key does not match the certificate in {}",
                cert.display()
            ),
        ),
        // The key provider refuses keys it cannot sign with as `General`.
        rustls::Error::General(msg) => bad(key, format!("unusable private key: {msg}")),
        other => bad(cert, format!("unusable certificate: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A self-signed certificate and its key for 127.0.0.1, made by the openssl command.
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (cert, key)
    }

    fn problem(result: Result<TlsCerts>) -> (PathBuf, String) {
        match result {
            Err(Error::Tls { path, problem }) => (path, problem),
            Err(other) => panic!("not a TLS error: {other}"),
            Ok(_) => panic!("the pair was accepted"),
        }
    }

    #[test]
    fn a_matching_pair_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "a");
        assert!(TlsCerts::load(&cert, &key).is_ok());
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "a");
        let missing = dir.path().join("nope.key");
        let (path, text) = problem(TlsCerts::load(&cert, &missing));
        assert_eq!(path, missing);
        assert!(text.starts_with("cannot read:"), "{text}");
    }

    #[test]
    fn a_key_file_without_a_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "a");
        let garbage = dir.path().join("garbage.key");
        std::fs::write(&garbage, "this is not a key\n").unwrap();
        let (path, text) = problem(TlsCerts::load(&cert, &garbage));
        assert_eq!(path, garbage);
        assert!(text.contains("no private key found"), "{text}");
        let (path, text) = problem(TlsCerts::load(&garbage, &cert));
        assert_eq!(path, garbage);
        assert!(text.contains("no certificate found"), "{text}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "a");
        let (_, other_key) = self_signed(dir.path(), "b");
        let (path, text) = problem(TlsCerts::load(&cert, &other_key));
        assert_eq!(path, other_key);
        assert!(text.contains("does not match the certificate"), "{text}");
    }

    #[test]
    fn a_failed_reload_keeps_the_previous_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "a");
        let certs = TlsCerts::load(&cert, &key).unwrap();
        let before = certs.current.load_full();
        assert!(certs.reload(&cert, &dir.path().join("nope.key")).is_err());
        assert!(Arc::ptr_eq(&before, &certs.current.load_full()));
        let (cert2, key2) = self_signed(dir.path(), "b");
        certs.reload(&cert2, &key2).unwrap();
        assert!(!Arc::ptr_eq(&before, &certs.current.load_full()));
    }
}
