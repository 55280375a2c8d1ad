//! Webhook token authentication, as the apiserver's `--authentication-token-webhook-config-file`:
//! a token no other authenticator knows is sent to a remote service as a `TokenReview`
//! (`authentication.k8s.io/v1`) and the service's answer is the user, cached per token for a
//! TTL (the apiserver's default is two minutes).
//!
//! This file holds what is pure: the review request, the reading of the answer, and the cache.
//! The call itself is the sync engine's (`crate::sync`): a request whose token needs a review
//! waits while one call per token is under way, and is decided again when the answer is in.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cache::{digest, TokenDigest};
use crate::identity::UserInfo;

/// The `apiVersion` of the reviews.
pub const TOKEN_REVIEW_API_VERSION: &str = "authentication.k8s.io/v1";
/// Most answers one worker keeps; the oldest goes first.
pub const MAX_REVIEWS: usize = 4096;

/// What happens to a request when the webhook cannot answer (unreachable, an error status, an
/// answer that cannot be read, no answer within the wait).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailurePolicy {
    /// 401 `token_review_failed`, as the apiserver answers.
    #[default]
    Deny,
    /// 503 `token_review_unavailable` with `Retry-After`: the caller is not at fault.
    Unavailable,
}

/// The webhook's settings, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewSettings {
    /// The Envoy cluster the calls go through.
    pub cluster: String,
    /// `:authority` of the calls.
    pub authority: String,
    /// `:path` of the calls.
    pub path: String,
    /// `spec.audiences` of every review (empty: none sent).
    pub audiences: Vec<String>,
    /// How long an answer is kept, in seconds.
    pub cache_ttl: u64,
    /// How long a failure is remembered (no new call for the token meanwhile), in seconds;
    /// also the `Retry-After` of a 503.
    pub retry_after: u64,
    /// The call's timeout, in milliseconds.
    pub timeout_ms: u64,
    /// How long a request waits for an answer, in milliseconds.
    pub request_wait_ms: u64,
    /// Largest answer read, in bytes.
    pub max_response_bytes: usize,
    /// What a request gets when there is no answer.
    pub failure_policy: FailurePolicy,
}

/// The webhook's answer about one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    /// `status.authenticated: true`: the user.
    Authenticated(UserInfo),
    /// `status.authenticated: false`, with `status.error` if any.
    Denied(String),
    /// No answer (why): remembered for `retry_after`.
    Failed(String),
}

impl ReviewSettings {
    /// The request headers of a review call.
    pub fn headers(&self) -> Vec<(String, String)> {
        [
            (":method", "POST"),
            (":path", &self.path),
            (":authority", &self.authority),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// The `TokenReview` for `token`.
    pub fn body(&self, token: &str) -> Vec<u8> {
        let mut spec = json!({ "token": token });
        if !self.audiences.is_empty() {
            spec["audiences"] = json!(self.audiences);
        }
        json!({"apiVersion": TOKEN_REVIEW_API_VERSION, "kind": "TokenReview", "spec": spec})
            .to_string()
            .into_bytes()
    }

    /// Reads the webhook's answer: HTTP `status` and `body`. As the apiserver reads it: a
    /// status other than 200 or 201, or a body that is not a `TokenReview`, is a failure; an
    /// authenticated review whose `status.audiences` do not include a requested audience is a
    /// denial; the user gets `system:authenticated`.
    pub fn read(&self, status: u16, body: &[u8]) -> Review {
        if !(200..=201).contains(&status) {
            return Review::Failed(format!("the webhook answered HTTP {status}"));
        }
        let Ok(review) = serde_json::from_slice::<Value>(body) else {
            return Review::Failed("the webhook's answer is not JSON".into());
        };
        if review["kind"] != "TokenReview" {
            return Review::Failed("the webhook's answer is not a TokenReview".into());
        }
        let status = &review["status"];
        if status["authenticated"] != true {
            let error = status["error"].as_str().unwrap_or_default();
            return Review::Denied(if error.is_empty() {
                "the webhook did not authenticate the token".into()
            } else {
                format!("the webhook did not authenticate the token: {error}")
            });
        }
        if let Some(audiences) = status["audiences"].as_array() {
            let said = |aud: &String| audiences.iter().any(|a| a.as_str() == Some(aud));
            if !self.audiences.is_empty()
                && !audiences.is_empty()
                && !self.audiences.iter().any(said)
            {
                return Review::Denied(format!(
                    "the webhook authenticated the token for {audiences:?}, not for {:?}",
                    self.audiences
                ));
            }
        }
        match serde_json::from_value::<ReviewedUser>(status["user"].clone()) {
            Ok(user) if !user.username.is_empty() => Review::Authenticated(
                UserInfo {
                    username: user.username,
                    uid: user.uid,
                    groups: user.groups,
                    extra: user.extra,
                }
                .with_authenticated_group(),
            ),
            Ok(_) => Review::Failed("the webhook authenticated a user without a name".into()),
            Err(e) => Review::Failed(format!("the webhook's status.user cannot be read: {e}")),
        }
    }
}

#[derive(Deserialize)]
struct ReviewedUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// The answers one worker keeps, by the token's SHA-256 (never the token), each until its
/// time; bounded, oldest out first.
#[derive(Clone, Debug, Default)]
pub struct ReviewCache {
    entries: HashMap<TokenDigest, (Review, u64)>,
    order: VecDeque<TokenDigest>,
}

impl ReviewCache {
    /// The answer kept for `token`, if it still holds at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: u64) -> Option<&Review> {
        self.get_digest(&digest(token), now)
    }

    /// The answer kept for a token's digest, if it still holds at `now`.
    pub fn get_digest(&self, key: &TokenDigest, now: u64) -> Option<&Review> {
        self.entries
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(review, _)| review)
    }

    /// Keeps `review` for the token with digest `key` until `until`.
    pub fn put(&mut self, key: TokenDigest, review: Review, until: u64) {
        if self.entries.insert(key, (review, until)).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > MAX_REVIEWS {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReviewSettings {
        ReviewSettings {
            cluster: "authn".into(),
            authority: "authn.example.com".into(),
            path: "/review".into(),
            audiences: vec!["meshguard".into()],
            cache_ttl: 120,
            retry_after: 5,
            timeout_ms: 1000,
            request_wait_ms: 3000,
            max_response_bytes: 65536,
            failure_policy: FailurePolicy::Deny,
        }
    }

    #[test]
    fn the_request_is_a_token_review_with_the_audiences() {
        let body: Value = serde_json::from_slice(&settings().body("opaque-1")).unwrap_or_default();
        assert_eq!(
            body,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                   "spec": {"token": "opaque-1", "audiences": ["meshguard"]}})
        );
    }

    #[test]
    fn answers_are_read_as_the_apiserver_reads_them() {
        let s = settings();
        let answer = |status: Value| {
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                   "status": status})
            .to_string()
        };
        let ok = answer(json!({"authenticated": true, "audiences": ["meshguard"],
            "user": {"username": "jane", "uid": "7", "groups": ["dev"],
                     "extra": {"scopes": ["a", "b"]}}}));
        let user = match s.read(200, ok.as_bytes()) {
            Review::Authenticated(user) => user,
            _ => UserInfo::default(),
        };
        assert_eq!(user.username, "jane");
        assert_eq!(user.groups, ["dev", "system:authenticated"]);
        assert_eq!(user.extra["scopes"], ["a", "b"]);
        let other_audience = answer(json!({"authenticated": true, "audiences": ["kube"],
            "user": {"username": "jane"}}));
        assert!(matches!(
            s.read(200, other_audience.as_bytes()),
            Review::Denied(_)
        ));
        let no_audiences = answer(json!({"authenticated": true, "user": {"username": "jane"}}));
        assert!(matches!(
            s.read(201, no_audiences.as_bytes()),
            Review::Authenticated(_)
        ));
        let denied = answer(json!({"authenticated": false, "error": "expired"}));
        assert_eq!(
            s.read(200, denied.as_bytes()),
            Review::Denied("the webhook did not authenticate the token: expired".into())
        );
        assert!(matches!(s.read(500, ok.as_bytes()), Review::Failed(_)));
        assert!(matches!(s.read(200, b"<html>"), Review::Failed(_)));
        assert!(matches!(
            s.read(200, b"{\"kind\":\"Status\"}"),
            Review::Failed(_)
        ));
        let nameless = answer(json!({"authenticated": true, "user": {}}));
        assert!(matches!(
            s.read(200, nameless.as_bytes()),
            Review::Failed(_)
        ));
    }

    #[test]
    fn the_cache_keeps_answers_until_their_time_and_is_bounded() {
        let mut cache = ReviewCache::default();
        cache.put(digest("a"), Review::Denied("no".into()), 100);
        assert!(cache.get("a", 99).is_some());
        assert!(cache.get("a", 100).is_none());
        for i in 0..MAX_REVIEWS + 10 {
            cache.put(digest(&i.to_string()), Review::Denied(String::new()), 1000);
        }
        assert_eq!(cache.len(), MAX_REVIEWS);
        assert!(cache.get("0", 1).is_none());
    }
}
