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

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::{Algorithm, KeyFingerprint, RegisteredClaims};
use crate::identity::UserInfo;

/// The SHA-256 of a token's compact serialisation.
pub type TokenDigest = [u8; 32];

/// The digest a token is known by where the token itself is not kept (the shared slots).
pub fn digest(token: &str) -> TokenDigest {
    super::sha256(token.as_bytes())
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
    pub forwarded: Memo<Forwarded>,
}

/// The headers an allowed request with a token carries upstream, or why its identity cannot be
/// forwarded as it is.
pub type Forwarded = Result<Arc<[(String, String)]>, String>;

/// A value derived from the rest of a struct and computed once, on first use. It takes no
/// part in comparisons: two entries that established the same thing are equal whether or not
/// either has rendered it yet.
#[derive(Clone, Debug)]
pub struct Memo<T>(OnceLock<T>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(OnceLock::new())
    }
}

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
    /// The token-review webhook's answer about `token`, if one is kept at `now`.
    fn review(&mut self, _token: &str, _now: u64) -> Option<super::review::Review> {
        None
    }
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

/// How many bytes at the end of a token are hashed to find it in a [`TokenCache`].
const HASHED_TAIL: usize = 32;

/// Whether two tokens are the same, compared eight bytes at a time. Byte slices compare with
/// `memcmp`, which in wasm is a loop over single bytes: for a 1 KB token that loop cost more
/// than the rest of a cached decision.
fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let words = |p: &[u8], q: &[u8]| {
        <[u8; 8]>::try_from(p).map(u64::from_ne_bytes).ok()
            == <[u8; 8]>::try_from(q).map(u64::from_ne_bytes).ok()
    };
    x.by_ref().zip(y.by_ref()).all(|(p, q)| words(p, q)) && x.remainder() == y.remainder()
}

#[derive(Debug)]
struct Entry {
    token: Arc<str>,
    verified: Arc<VerifiedToken>,
    /// Kept until then (Unix seconds).
    until: u64,
}

/// A bounded in-memory cache of verified tokens.
#[derive(Debug, Default)]
pub struct TokenCache {
    limits: CacheLimits,
    /// Picks a token's bucket from a keyed hash of its length and its last [`HASHED_TAIL`]
    /// bytes (part of its signature, which tells tokens apart as well as the whole token would,
    /// at a fraction of the cost of hashing ~1 KB in wasm). Within a bucket the whole token is
    /// compared ([`same_token`]): a forged token that copies a cached one's tail finds that
    /// bucket, matches no entry, and is verified. A hit costs this and a comparison, not a
    /// SHA-256 (which costs about as much as the rest of a cached decision in wasm).
    hasher: RandomState,
    /// Entries by their bucket; a bucket almost always holds one.
    entries: HashMap<u64, Vec<Entry>>,
    len: usize,
    /// Tokens in insertion order, with their bucket; may name entries already gone (dropped
    /// on expiry), and is compacted when it grows past twice the bound. Shares each token
    /// with its entry, so a token is held once, and names its entry by that allocation: a
    /// record left behind by an expired entry never stands for the same token put again.
    order: VecDeque<(u64, Arc<str>)>,
}

impl TokenCache {
    /// An empty cache with these bounds.
    pub fn new(limits: CacheLimits) -> Self {
        TokenCache {
            limits,
            ..TokenCache::default()
        }
    }

    /// The bounds.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.len = 0;
    }

    fn bucket(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let mut hasher = self.hasher.build_hasher();
        hasher.write_usize(bytes.len());
        hasher.write(
            bytes
                .get(bytes.len().saturating_sub(HASHED_TAIL)..)
                .unwrap_or_default(),
        );
        hasher.finish()
    }

    /// Removes the entry in `bucket` that `is` picks; whether there was one (a bucket holds a
    /// token once).
    fn remove(&mut self, bucket: u64, is: impl Fn(&Entry) -> bool) -> bool {
        let Some(entries) = self.entries.get_mut(&bucket) else {
            return false;
        };
        let Some(at) = entries.iter().position(is) else {
            return false;
        };
        entries.swap_remove(at);
        if entries.is_empty() {
            self.entries.remove(&bucket);
        }
        self.len -= 1;
        true
    }

    /// Whether the entry an insertion-order record names is still kept.
    fn holds(&self, bucket: u64, token: &Arc<str>) -> bool {
        self.entries
            .get(&bucket)
            .is_some_and(|entries| entries.iter().any(|e| Arc::ptr_eq(&e.token, token)))
    }

    fn evict_one(&mut self) {
        while let Some((bucket, oldest)) = self.order.pop_front() {
            if self.remove(bucket, |e| Arc::ptr_eq(&e.token, &oldest)) {
                return;
            }
        }
    }
}

impl TokenStore for TokenCache {
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        let bucket = self.bucket(token);
        let entry = self
            .entries
            .get(&bucket)?
            .iter()
            .find(|e| same_token(&e.token, token))?;
        if now < entry.until {
            return Some(Arc::clone(&entry.verified));
        }
        self.remove(bucket, |e| same_token(&e.token, token));
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
        let bucket = self.bucket(token);
        let entries = self.entries.entry(bucket).or_default();
        if let Some(entry) = entries.iter_mut().find(|e| same_token(&e.token, token)) {
            entry.verified = verified;
            entry.until = until;
        } else {
            let token: Arc<str> = Arc::from(token);
            entries.push(Entry {
                token: Arc::clone(&token),
                verified,
                until,
            });
            self.len += 1;
            self.order.push_back((bucket, token));
            if self.len > self.limits.max_entries {
                self.evict_one();
            }
        }
        if self.order.len() > 2 * self.limits.max_entries {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|(bucket, token)| self.holds(*bucket, token));
            self.order = order;
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
    fn tokens_compare_whole_a_word_at_a_time() {
        let base = "x".repeat(1_000) + "-signature-part-of-the-token-tail";
        assert!(same_token(&base, &base.clone()));
        for at in [0, 7, 8, 500, 1_020, base.len() - 1] {
            let mut other = base.clone().into_bytes();
            other[at] = b'y';
            let other = String::from_utf8(other).unwrap_or_default();
            assert!(!same_token(&base, &other), "differs at {at}");
        }
        assert!(!same_token(&base, &base[1..]));
        assert!(!same_token("abc", "abd"), "in the remainder");
        assert!(same_token("", ""));
    }

    #[test]
    fn tokens_with_the_same_tail_are_different_entries() {
        // Same length and the same last bytes: the same bucket, told apart in full.
        let tail = "t".repeat(2 * HASHED_TAIL);
        let (first, forged) = (format!("aaaa{tail}"), format!("bbbb{tail}"));
        let mut c = cache(8);
        c.put(&first, token("first", None), 0);
        assert_eq!(c.bucket(&first), c.bucket(&forged));
        assert!(
            c.get(&forged, 1).is_none(),
            "a forged head is not the cached token"
        );
        c.put(&forged, token("forged", None), 0);
        assert_eq!(c.len(), 2);
        let user = |t: &str, c: &mut TokenCache| c.get(t, 1).map(|v| v.user.username.clone());
        assert_eq!(user(&first, &mut c).as_deref(), Some("first"));
        assert_eq!(user(&forged, &mut c).as_deref(), Some("forged"));
        // Expiry and eviction remove only the entry named.
        c.put(&first, token("first", Some(5)), 0);
        assert!(c.get(&first, 5).is_none());
        assert_eq!(user(&forged, &mut c).as_deref(), Some("forged"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_token_put_again_after_expiry_is_the_newest_entry() {
        let mut c = cache(2);
        c.put("a", token("a", Some(5)), 0);
        c.put("b", token("b", None), 0);
        assert!(c.get("a", 5).is_none(), "expired");
        c.put("a", token("a", None), 5);
        c.put("c", token("c", None), 5);
        // The oldest kept entry is b: a's first record names an entry that is gone.
        assert!(c.get("b", 6).is_none());
        assert!(c.get("a", 6).is_some());
        assert!(c.get("c", 6).is_some());
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
