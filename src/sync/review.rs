//! The token-review webhook's calls: one call per token at a time, its answer kept (by the
//! token's SHA-256) for the configured TTL, a failure remembered for `retryAfterSeconds` so an
//! outage is not hammered, and the requests that wait for a token woken when its answer is in.
//! Each worker calls for itself (an answer is cached where it was asked for).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Level, SyncPort, Wake};
use crate::token::cache::{digest, TokenDigest};
use crate::token::review::{Review, ReviewCache, ReviewSettings};
use crate::token::{TokenStore, VerifiedToken};

/// A token store with the webhook's answers beside it: what a decision reads.
pub struct Reviewed<'a, S: TokenStore + ?Sized> {
    /// Verified tokens.
    pub tokens: &'a mut S,
    /// The webhook's answers.
    pub reviews: &'a ReviewCache,
}

impl<S: TokenStore + ?Sized> TokenStore for Reviewed<'_, S> {
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        self.tokens.get(token, now)
    }

    fn put(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        self.tokens.put(token, verified, now);
    }

    fn review(&mut self, token: &str, now: u64) -> Option<Review> {
        self.reviews.get(token, now).cloned()
    }
}

/// One worker's reviews: the answers and the calls under way.
#[derive(Debug, Default)]
pub struct Reviews {
    cache: ReviewCache,
    /// Call token → the digest of the token under review, and when the call started.
    calls: HashMap<u32, (TokenDigest, u64)>,
    /// Tokens to review on the next tick (from the root context, whose calls outlive any
    /// stream): those of requests that did not wait (a dry run).
    queued: Vec<String>,
}

/// Most tokens queued for the next tick; beyond, they wait for a later request.
pub const MAX_QUEUED: usize = 256;

impl Reviews {
    /// The answers kept.
    pub fn cache(&self) -> &ReviewCache {
        &self.cache
    }

    /// A new configuration: its webhook may be another; nothing is carried over.
    pub fn clear(&mut self) {
        self.cache = ReviewCache::default();
        self.calls.clear();
        self.queued.clear();
    }

    /// Asks for a review of `token` on the next tick: for a request that does not wait.
    pub fn queue(&mut self, token: &str) {
        if self.queued.len() < MAX_QUEUED && !self.queued.iter().any(|t| t == token) {
            self.queued.push(token.to_owned());
        }
    }

    /// Starts the queued reviews (the root's tick).
    pub fn start_queued(
        &mut self,
        port: &mut dyn SyncPort,
        settings: &ReviewSettings,
        now_ms: u64,
    ) {
        for token in std::mem::take(&mut self.queued) {
            self.start(port, settings, &token, now_ms);
        }
    }

    /// Whether `call` is one of these calls.
    pub fn owns(&self, call: u32) -> bool {
        self.calls.contains_key(&call)
    }

    /// Asks the webhook about `token` unless an answer is kept or a call is under way; true
    /// when an answer is on its way. A call the host refuses is a failure, remembered.
    pub fn start(
        &mut self,
        port: &mut dyn SyncPort,
        settings: &ReviewSettings,
        token: &str,
        now_ms: u64,
    ) -> bool {
        let key = digest(token);
        if self.cache.get_digest(&key, now_ms / 1000).is_some() {
            return false;
        }
        // A call is made by the stream that first needed it, and the proxy cancels it if that
        // stream goes away: one that has had its timeout and a second more is given up.
        let lost_before = now_ms.saturating_sub(settings.timeout_ms.saturating_add(1000));
        self.calls.retain(|_, (_, started)| *started >= lost_before);
        if self.calls.values().any(|(k, _)| *k == key) {
            return true;
        }
        match port.dispatch(
            &settings.cluster,
            &settings.headers(),
            &settings.body(token),
            settings.timeout_ms,
        ) {
            Ok(call) => {
                self.calls.insert(call, (key, now_ms));
                port.increment("meshguard.webhook.calls");
                true
            }
            Err(why) => {
                port.log(
                    Level::Error,
                    &format!(
                        "meshguard: cannot call cluster {:?} for token reviews: {why} (is the \
                         cluster defined?)",
                        settings.cluster
                    ),
                );
                self.remember(port, settings, key, Review::Failed(why), now_ms);
                false
            }
        }
    }

    /// The webhook's answer to `call`: HTTP `status` (0 when the call failed or timed out) and
    /// the body, read only when its announced size is within bounds.
    pub fn answer(
        &mut self,
        port: &mut dyn SyncPort,
        settings: &ReviewSettings,
        call: u32,
        (status, body_size): (u16, usize),
        read_body: impl FnOnce(usize) -> Vec<u8>,
        now_ms: u64,
    ) -> Vec<Wake> {
        let Some((key, _)) = self.calls.remove(&call) else {
            return Vec::new();
        };
        let review = if status == 0 {
            Review::Failed("no answer (the call failed or timed out)".into())
        } else if body_size > settings.max_response_bytes {
            Review::Failed(format!(
                "an answer of {body_size} bytes, over the limit of {}",
                settings.max_response_bytes
            ))
        } else {
            settings.read(status, &read_body(body_size))
        };
        self.remember(port, settings, key, review, now_ms);
        vec![Wake::Review(key)]
    }

    fn remember(
        &mut self,
        port: &mut dyn SyncPort,
        settings: &ReviewSettings,
        key: TokenDigest,
        review: Review,
        now_ms: u64,
    ) {
        let (metric, keep) = match &review {
            Review::Authenticated(_) => ("meshguard.webhook.authenticated", settings.cache_ttl),
            Review::Denied(_) => ("meshguard.webhook.denied", settings.cache_ttl),
            Review::Failed(why) => {
                port.log(
                    Level::Warn,
                    &format!("meshguard: token review failed: {why}"),
                );
                ("meshguard.webhook.failed", settings.retry_after)
            }
        };
        port.increment(metric);
        let now = now_ms / 1000;
        self.cache.put(key, review, now.saturating_add(keep.max(1)));
    }
}
