//! A bounded cache of session tokens whose signature was already checked.
//!
//! Verifying a token costs an HMAC-SHA512, two base64 decodes, a JSON parse and the parse
//! and validation of its session policy; a client sends the same token with every request.
//! The cache maps the exact token text to what that work produced, so a repeat costs one
//! hash lookup.
//!
//! Invariants: only tokens whose signature, algorithm and issuer verified are inserted,
//! keyed by their full text (a token differing in one byte misses and is verified in full);
//! nothing that can change is cached: expiry is compared with the clock, the access key
//! with the one used, and the parent user with the live IAM snapshot on every request.
//! The cache holds at most `MAX_ENTRIES`; when full, expired entries are dropped and, if
//! that is not enough, everything (entries are cheap to rebuild).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::token::Claims;
use crate::policy::Policy;

/// Most tokens kept.
pub const MAX_ENTRIES: usize = 4096;

/// What verifying a token once established.
#[derive(Debug)]
pub struct VerifiedToken {
    pub claims: Claims,
    pub session_policy: Option<Arc<Policy>>,
}

/// Token text -> verified content.
#[derive(Debug, Default)]
pub struct TokenCache {
    map: RwLock<HashMap<String, Arc<VerifiedToken>>>,
}

impl TokenCache {
    /// The cached verification of `token`, if any.
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// Remembers that `token` verified to `verified`; `now` (seconds) prunes expired entries
    /// when the cache is full.
    pub fn insert(&self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, v| v.claims.exp >= now);
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(token.to_owned(), verified);
    }

    /// Number of cached tokens.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: u64) -> Arc<VerifiedToken> {
        let claims = Claims {
            iss: "wekad-sts".into(),
            sub: "u".into(),
            ak: "ASIAAAAAAAAAAAAAAAAA".into(),
            gen: 1,
            iat: 0,
            exp,
            pol: None,
        };
        Arc::new(VerifiedToken {
            claims,
            session_policy: None,
        })
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_and_never_grows_past_its_bound() {
        let cache = TokenCache::default();
        for i in 0..MAX_ENTRIES {
            let exp = if i % 2 == 0 { 10 } else { 1000 };
            cache.insert(&format!("t{i}"), entry(exp), 5);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.insert("new", entry(1000), 100);
        assert_eq!(cache.len(), MAX_ENTRIES / 2 + 1);
        assert!(cache.get("t1").is_some() && cache.get("t0").is_none());
        for i in 0..MAX_ENTRIES * 2 {
            cache.insert(&format!("u{i}"), entry(1000), 100);
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
