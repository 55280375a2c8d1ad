//! The verified-token cache: what a signature check established, reused until the token
//! expires, so that the common case — the same service-account token on every call for an
//! hour — costs a hash and a lookup instead of a signature and a JSON parse.
//!
//! An entry is keyed by the whole token, compared in full (a forged payload with a copied
//! signature is another key; where only a digest can be kept, as in the slots the workers
//! share, it is the SHA-256 of the whole token), and is only ever a shortcut past the
//! signature: every hit is
//! checked again against what is in force now (see `Authenticator::authenticate_cached`):
//! the issuer, the key that verified it (by fingerprint: a rotated-out key retires its
//! entries), the time claims at `now`, and revocation. Audience, claim rules and identity
//! mapping depend only on the token and the configuration, and a new configuration starts a
//! new cache.
//!
//! [`TokenCache`] is bounded (oldest out first) and holds an entry no longer than the token's
//! `exp` or `max_age`, whichever comes first. The filter puts a second level behind it,
//! shared by Envoy's worker VMs, through [`TokenStore`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::{Algorithm, KeyFingerprint, RegisteredClaims};
use crate::identity::UserInfo;

/// The SHA-256 of a token's compact serialisation.
pub type TokenDigest = [u8; 32];

/// The digest a token is known by where the token itself is not kept (the shared slots).
pub fn digest(token: &str) -> TokenDigest {
    hmac_sha256::Hash::hash(token.as_bytes())
}

/// What verifying one token established: everything a later request with the same token
/// needs, and what tells whether it still holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedToken {
    /// The issuer's index in the configuration.
    pub issuer: usize,
    /// The issuer's URL (checked with the index, so that an entry never crosses issuers).
    pub issuer_url: String,
    /// The token's algorithm.
    pub alg: Algorithm,
    /// The key that verified the signature.
    pub key: KeyFingerprint,
    /// The registered claims (time checks and revocation are redone on every use).
    pub registered: RegisteredClaims,
    /// The user the token maps to.
    pub user: UserInfo,
    /// The headers an allowed request with this token carries upstream, rendered on first
    /// use (a cache belongs to one configuration, so to one set of header names). Not
    /// shared between workers: each renders its own.
    #[serde(skip)]
    pub forwarded: Memo<Arc<[(String, String)]>>,
}

/// A value derived from the rest of a struct and computed once, on first use. It takes no
/// part in comparisons: two entries that established the same thing are equal whether or not
/// either has rendered it yet.
#[derive(Clone, Debug, Default)]
pub struct Memo<T>(OnceLock<T>);

impl<T> Memo<T> {
    /// The value, computed by `make` the first time.
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

impl VerifiedToken {
    /// Until when (Unix seconds) an entry made at `now` may be kept: the token's `exp`, at
    /// most `max_age` from now.
    pub fn keep_until(&self, now: u64, max_age: u64) -> u64 {
        let limit = now.saturating_add(max_age);
        self.registered.exp.map_or(limit, |exp| exp.min(limit))
    }
}

/// Where verified tokens are looked up and kept, by the token's compact serialisation.
pub trait TokenStore {
    /// The entry for `token`, if one is kept and has not expired at `now`.
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>>;
    /// Keeps what verifying `token` established.
    fn put(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64);
}

/// No cache: every token is verified.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

impl TokenStore for NoCache {
    fn get(&mut self, _: &str, _: u64) -> Option<Arc<VerifiedToken>> {
        None
    }

    fn put(&mut self, _: &str, _: Arc<VerifiedToken>, _: u64) {}
}

/// The cache as configured: per-worker bounds, and the slots shared by the proxy's workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Per-worker bounds.
    pub limits: CacheLimits,
    /// Shared slots (0: not shared).
    pub shared_slots: u32,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            limits: CacheLimits::default(),
            shared_slots: 1024,
        }
    }
}

/// Bounds of a [`TokenCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most entries kept; 0 turns the cache off.
    pub max_entries: usize,
    /// Longest an entry is kept, in seconds (tokens without `exp` are kept this long).
    pub max_age: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_entries: 1024,
            max_age: 3600,
        }
    }
}

/// A bounded in-memory cache of verified tokens.
#[derive(Debug, Default)]
pub struct TokenCache {
    limits: CacheLimits,
    /// Keyed by the token itself: a hit costs a SipHash and a comparison, not a SHA-256 (which
    /// costs about as much as the rest of a cached decision in wasm). The key is shared with
    /// `order`, so a token is held once.
    entries: HashMap<Arc<str>, (Arc<VerifiedToken>, u64)>,
    /// Tokens in insertion order; may name entries already gone (dropped on expiry), and is
    /// compacted when it grows past twice the bound.
    order: VecDeque<Arc<str>>,
}

impl TokenCache {
    /// An empty cache with these bounds.
    pub fn new(limits: CacheLimits) -> Self {
        TokenCache {
            limits,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The bounds.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    fn evict_one(&mut self) {
        while let Some(oldest) = self.order.pop_front() {
            if self.entries.remove(&oldest).is_some() {
                return;
            }
        }
    }
}

impl TokenStore for TokenCache {
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        let (verified, until) = self.entries.get(token)?;
        if now < *until {
            return Some(Arc::clone(verified));
        }
        self.entries.remove(token);
        None
    }

    fn put(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        if self.limits.max_entries == 0 {
            return;
        }
        let until = verified.keep_until(now, self.limits.max_age);
        if until <= now {
            return;
        }
        if let Some(entry) = self.entries.get_mut(token) {
            *entry = (verified, until);
        } else {
            let key: Arc<str> = Arc::from(token);
            self.entries.insert(Arc::clone(&key), (verified, until));
            self.order.push_back(key);
            if self.entries.len() > self.limits.max_entries {
                self.evict_one();
            }
        }
        if self.order.len() > 2 * self.limits.max_entries {
            let entries = &self.entries;
            self.order.retain(|d| entries.contains_key(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, exp: Option<u64>) -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            issuer: 0,
            issuer_url: "https://issuer".into(),
            alg: Algorithm::RS256,
            key: [7; 32],
            registered: RegisteredClaims {
                exp,
                ..RegisteredClaims::default()
            },
            forwarded: Memo::default(),
            user: UserInfo {
                username: name.into(),
                ..UserInfo::default()
            },
        })
    }

    fn cache(max_entries: usize) -> TokenCache {
        TokenCache::new(CacheLimits {
            max_entries,
            max_age: 100,
        })
    }

    #[test]
    fn entries_expire_at_exp_or_max_age() {
        let mut c = cache(8);
        c.put("a", token("a", Some(1_050)), 1_000);
        c.put("b", token("b", None), 1_000);
        c.put("c", token("c", Some(999)), 1_000);
        assert!(c.get("c", 1_000).is_none(), "already expired");
        assert!(c.get("a", 1_049).is_some());
        assert!(c.get("a", 1_050).is_none());
        assert!(c.get("b", 1_099).is_some());
        assert!(c.get("b", 1_100).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_oldest_out_first() {
        let mut c = cache(3);
        for name in ["a", "b", "c", "d"] {
            c.put(name, token(name, None), 0);
        }
        assert_eq!(c.len(), 3);
        assert!(c.get("a", 1).is_none());
        assert!(c.get("d", 1).is_some());
        // Many entries that come and go keep the order list bounded too.
        for i in 0..1_000 {
            let name = format!("t{i}");
            c.put(&name, token(&name, Some(10)), 0);
            assert!(c.order.len() <= 6);
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn zero_entries_is_off() {
        let mut c = cache(0);
        c.put("a", token("a", None), 0);
        assert!(c.get("a", 0).is_none());
    }

    #[test]
    fn entries_survive_serialisation() {
        let t = token("a", Some(5));
        let text = serde_json::to_string(&*t).unwrap_or_default();
        let back: VerifiedToken =
            serde_json::from_str(&text).unwrap_or_else(|_| token("x", None).as_ref().clone());
        assert_eq!(back, *t);
    }
}
