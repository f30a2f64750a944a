//! Session tokens: HS512 JWTs naming a temporary access key and the user that issued it.
//!
//! Owns the claim set and the signing key. The key is derived from the daemon's server key
//! (HMAC-SHA512 with a label), never the server key itself, so a token leaks nothing about
//! the secrets derived for other purposes.
//!
//! Invariants: only `HS512` is accepted (a header naming `none` or any other algorithm is
//! refused by `jsonwebtoken`'s strict algorithm list), expiry is checked with zero leeway,
//! and the issuer must be ours. Decoding returns claims only after the signature is checked.
//! This module performs no I/O and knows nothing of IAM: the caller checks the parent.

use hmac::{Hmac, Mac};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha512;

use super::StsError;

/// The `iss` claim of every token wekad issues.
pub const ISSUER: &str = "wekad-sts";
const KEY_LABEL: &[u8] = b"sts-token-hs512\0";

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// The parent user (its access key / name).
    pub sub: String,
    /// The temporary access key this token belongs to.
    pub ak: String,
    /// The parent's token generation when the token was issued.
    pub gen: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// The session policy JSON, if any.
    pub pol: Option<String>,
}

/// Signs and verifies session tokens.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([SENSITIVE])")
    }
}

impl TokenKey {
    /// The token key derived from the daemon's server key.
    pub fn new(server_key: &[u8]) -> TokenKey {
        let key = derive_key(server_key);
        let mut validation = Validation::new(Algorithm::HS512);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        TokenKey {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    /// The signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, StsError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS512), claims, &self.encoding)
            .map_err(|e| StsError::Internal(format!("cannot sign session token: {e}")))
    }

    /// The claims of `token` once its algorithm, signature, issuer and expiry are checked.
    pub fn verify(&self, token: &str) -> Result<Claims, StsError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(verify_error(e.kind())),
        }
    }
}

fn derive_key(server_key: &[u8]) -> Vec<u8> {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac =
        <Hmac<Sha512> as Mac>::new_from_slice(server_key).expect("HMAC takes any key length");
    mac.update(KEY_LABEL);
    mac.finalize().into_bytes().to_vec()
}

fn verify_error(kind: &ErrorKind) -> StsError {
    match kind {
        ErrorKind::ExpiredSignature => StsError::ExpiredToken,
        ErrorKind::InvalidSignature => StsError::InvalidToken("signature does not match"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            StsError::InvalidToken("algorithm is not HS512")
        }
        ErrorKind::InvalidIssuer => StsError::InvalidToken("issuer is not wekad"),
        ErrorKind::MissingRequiredClaim(_) => StsError::InvalidToken("a required claim is missing"),
        _ => StsError::InvalidToken("malformed token"),
    }
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            sub: "alice".to_owned(),
            ak: "ASIAABCDEFGHIJKLMNOP".to_owned(),
            gen: 3,
            iat: now_secs(),
            exp,
            pol: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned()),
        }
    }

    fn key() -> TokenKey {
        TokenKey::new(&[42u8; 32])
    }

    fn part(token: &str, i: usize) -> String {
        token.split('.').nth(i).unwrap().to_owned()
    }

    #[test]
    fn a_signed_token_verifies_to_the_same_claims() {
        let c = claims(now_secs() + 900);
        let token = key().sign(&c).unwrap();
        assert_eq!(key().verify(&token).unwrap(), c);
    }

    #[test]
    fn the_header_names_hs512() {
        let token = key().sign(&claims(now_secs() + 900)).unwrap();
        let header = String::from_utf8(B64.decode(part(&token, 0)).unwrap()).unwrap();
        assert!(header.contains(r#""alg":"HS512""#), "{header}");
    }

    #[test]
    fn a_changed_claim_is_refused() {
        let token = key().sign(&claims(now_secs() + 900)).unwrap();
        let body = String::from_utf8(B64.decode(part(&token, 1)).unwrap()).unwrap();
        let forged = B64.encode(
            body.replace("\"gen\":3", "\"gen\":4")
                .replace("alice", "admin"),
        );
        let tampered = format!("{}.{}.{}", part(&token, 0), forged, part(&token, 2));
        assert!(matches!(
            key().verify(&tampered),
            Err(StsError::InvalidToken(_))
        ));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = TokenKey::new(&[1u8; 32])
            .sign(&claims(now_secs() + 900))
            .unwrap();
        assert!(matches!(
            key().verify(&token),
            Err(StsError::InvalidToken(_))
        ));
    }

    #[test]
    fn alg_none_is_refused() {
        let token = key().sign(&claims(now_secs() + 900)).unwrap();
        let none = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        for forged in [
            format!("{none}.{}.", part(&token, 1)),
            format!("{none}.{}", part(&token, 1)),
        ] {
            assert!(
                matches!(key().verify(&forged), Err(StsError::InvalidToken(_))),
                "{forged}"
            );
        }
    }

    #[test]
    fn another_hmac_algorithm_is_refused() {
        let c = claims(now_secs() + 900);
        let secret = derive_key(&[42u8; 32]);
        let hs256 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert!(matches!(
            key().verify(&hs256),
            Err(StsError::InvalidToken(_))
        ));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let token = key().sign(&claims(now_secs() - 1)).unwrap();
        assert!(matches!(key().verify(&token), Err(StsError::ExpiredToken)));
    }

    #[test]
    fn a_foreign_issuer_is_refused() {
        let mut c = claims(now_secs() + 900);
        c.iss = "someone-else".to_owned();
        let token = key().sign(&c).unwrap();
        assert!(matches!(
            key().verify(&token),
            Err(StsError::InvalidToken(_))
        ));
    }

    #[test]
    fn garbage_is_refused() {
        for junk in ["", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert!(
                matches!(key().verify(junk), Err(StsError::InvalidToken(_))),
                "{junk}"
            );
        }
    }
}
