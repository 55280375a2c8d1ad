//! The verified-token cache: in the core (what a hit may skip and what it must still check) and
//! in the built `.wasm` (per worker, and shared between workers through shared data).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use common::envoy::demo_plugin_config;
use common::host::Host;
use common::scenarios::{sa, sa_token};
use common::{authenticator, jwk, mint, standard_config, tamper, NOW};
use meshguard::config::PluginConfig;
use meshguard::decision::{Engine, HttpRequest};
use meshguard::token::cache::digest;
use meshguard::token::{Authenticator, TokenCache, TokenStore, VerifiedToken};
use serde_json::{json, Value};

/// A cache that counts full verifications (each one is put).
#[derive(Default)]
struct Counting {
    cache: TokenCache,
    verified: usize,
}

impl TokenStore for Counting {
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        self.cache.get(token, now)
    }

    fn put(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        self.verified += 1;
        self.cache.put(token, verified, now);
    }
}

/// The standard authenticator, and a store in which `token` has been verified once.
fn warmed(token: &str) -> (Authenticator, Counting) {
    let auth = authenticator(&standard_config());
    let mut store = Counting::default();
    auth.verify_cached(token, NOW, &mut store).unwrap();
    (auth, store)
}

fn code<T>(result: Result<T, meshguard::token::AuthError>) -> Result<T, &'static str> {
    result.map_err(|e| e.code())
}

#[test]
fn a_token_seen_before_is_not_verified_again() {
    let auth = authenticator(&standard_config());
    let mut store = Counting::default();
    let token = sa_token(sa("orders", "api"));
    let first = auth.verify_cached(&token, NOW, &mut store).unwrap();
    let second = auth.verify_cached(&token, NOW + 10, &mut store).unwrap();
    assert_eq!(store.verified, 1);
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second use is the cached entry"
    );
    assert_eq!(second.user.username, "system:serviceaccount:orders:api");
    // What the cache returns is what a full verification says.
    assert_eq!(auth.verify(&token, NOW).unwrap().user, second.user);
}

#[test]
fn a_forged_payload_under_a_cached_signature_is_verified_and_refused() {
    let token = sa_token(sa("orders", "api"));
    let (auth, mut store) = warmed(&token);
    let forged = tamper(&token, sa("kube-system", "admin"));
    assert_eq!(
        code(auth.verify_cached(&forged, NOW, &mut store)),
        Err("signature_invalid")
    );
    assert_eq!(store.cache.len(), 1, "failures are not cached");
}

#[test]
fn time_claims_are_checked_on_every_use() {
    let claims = sa("orders", "api");
    let token = sa_token(common::scenarios::with(claims, json!({"nbf": NOW + 30})));
    let (auth, mut store) = warmed(&token);
    // Another worker whose clock is behind: the cached entry is found, and its time claims
    // refuse it as a full verification would.
    assert_eq!(
        code(auth.verify_cached(&token, NOW - 40, &mut store)),
        Err("token_not_yet_valid")
    );
    assert!(auth.verify_cached(&token, NOW + 3599, &mut store).is_ok());
    assert_eq!(store.verified, 1);
    // The entry leaves at exp; past exp and the skew the answer is the one a full
    // verification gives.
    assert_eq!(
        code(auth.verify_cached(&token, NOW + 3600 + 61, &mut store)),
        Err("token_expired")
    );
    assert!(store.cache.is_empty());
}

#[test]
fn an_entry_never_outlives_the_key_that_verified_it() {
    let config = standard_config();
    let token = sa_token(sa("orders", "api"));
    let (_, mut store) = warmed(&token);

    // The issuer's key set no longer holds rsa-1: the entry is not used.
    let mut rotated = config.clone();
    rotated["authentication"]["jwt"][0]["jwks"] = json!({"keys": [jwk("rs256-other", true)]});
    let rotated = authenticator(&rotated);
    assert_eq!(
        code(rotated.verify_cached(&token, NOW, &mut store)),
        Err("key_not_found")
    );
    // The same key under a reloaded set (new objects, same material) still serves it.
    let reloaded = authenticator(&config);
    assert!(reloaded.verify_cached(&token, NOW, &mut store).is_ok());
    assert_eq!(store.verified, 1);
}

#[test]
fn an_entry_made_for_one_issuer_never_serves_another() {
    let token = sa_token(sa("orders", "api"));
    let (_, mut store) = warmed(&token);
    // The same entry under a configuration where issuer 0 is someone else.
    let mut other = standard_config();
    other["authentication"]["jwt"][0]["issuer"]["url"] = json!("https://other.example.com");
    let other = authenticator(&other);
    assert_eq!(
        code(other.verify_cached(&token, NOW, &mut store)),
        Err("issuer_unknown")
    );
}

fn engine(bundle_changes: Value) -> Engine {
    let mut config = demo_plugin_config();
    for (k, v) in bundle_changes.as_object().unwrap() {
        config["authorization"]["bundle"][k] = v.clone();
    }
    config["authorization"]["bundle"]
        .as_object_mut()
        .unwrap()
        .remove("revision");
    PluginConfig::from_value(config).unwrap().engine().unwrap()
}

#[test]
fn a_revocation_applies_to_a_cached_token_at_once() {
    let before = engine(json!({}));
    let after = engine(json!({"revocations": {"tokenIds": ["frontend-web"]}}));
    let mut store = Counting::default();
    let authorization = format!("Bearer {}", sa_token(sa("frontend", "web")));
    let headers = [("authorization", authorization.as_str())];
    let request = HttpRequest {
        method: "GET",
        target: "/orders",
        headers: &headers,
        workload: &meshguard::request_info::Workload::in_namespace("orders"),
        tls: None,
        peer: None,
    };
    let first = before.decide_with(&request, NOW, &mut store);
    assert_eq!(first.record.reason, "allowed", "{:?}", first.record);
    let revoked = after.decide_with(&request, NOW, &mut store);
    assert_eq!(revoked.record.reason, "token_revoked");
    assert_eq!(
        store.verified, 1,
        "decided from the cache, and still refused"
    );
}

// ---- the built filter ----

fn started(config: &Value) -> Host {
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    host
}

/// Another worker VM of `host`'s proxy, started with `config`.
fn worker(host: &Host, config: &Value) -> Host {
    let mut worker = host.worker();
    assert!(worker.start(&config.to_string()));
    worker
}

fn get(host: &mut Host, token: &str) -> u32 {
    host.request(
        "GET",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .status()
}

#[test]
fn the_filter_verifies_a_token_once_and_counts_what_it_did() {
    let mut host = started(&demo_plugin_config());
    let token = sa_token(sa("frontend", "web"));
    for _ in 0..3 {
        assert_eq!(get(&mut host, &token), 200);
    }
    let state = host.state();
    assert_eq!(state.counter("meshguard.tokens.verified"), 1);
    assert_eq!(state.counter("meshguard.tokens.cache_hit"), 2);
    assert_eq!(state.counter("meshguard.tokens.shared_hit"), 0);
    // A bad token is verified (and refused) every time.
    let forged = tamper(&token, sa("kube-system", "admin"));
    assert_eq!(get(&mut host, &forged), 401);
    assert_eq!(get(&mut host, &forged), 401);
    assert_eq!(host.state().counter("meshguard.tokens.verified"), 1);
}

#[test]
fn workers_share_verified_tokens_through_shared_data() {
    let config = demo_plugin_config();
    let mut first = started(&config);
    let mut second = worker(&first, &config);
    let token = sa_token(sa("frontend", "web"));
    assert_eq!(get(&mut first, &token), 200);
    assert_eq!(get(&mut second, &token), 200);
    assert_eq!(get(&mut second, &token), 200);
    assert_eq!(first.state().counter("meshguard.tokens.verified"), 1);
    assert_eq!(second.state().counter("meshguard.tokens.verified"), 0);
    assert_eq!(second.state().counter("meshguard.tokens.shared_hit"), 1);
    assert_eq!(second.state().counter("meshguard.tokens.cache_hit"), 1);

    // A slot whose content is not an entry for this token is a miss, never an error.
    let slots: Vec<String> = first
        .state()
        .shared_data
        .borrow()
        .keys()
        .filter(|k| k.starts_with("meshguard.tokens|"))
        .cloned()
        .collect();
    assert_eq!(slots.len(), 1);
    let mut third = worker(&first, &config);
    first
        .state()
        .shared_data
        .borrow_mut()
        .insert(slots[0].clone(), (b"garbage".to_vec(), 9));
    assert_eq!(get(&mut third, &token), 200);
    assert_eq!(third.state().counter("meshguard.tokens.verified"), 1);
}

#[test]
fn without_shared_slots_or_entries_each_worker_verifies_for_itself() {
    for (cache, verified_by_second) in [
        (json!({"sharedSlots": 0}), 1),
        (json!({"maxEntries": 0}), 2),
    ] {
        let mut config = demo_plugin_config();
        config["authentication"]["tokenCache"] = cache.clone();
        let mut first = started(&config);
        let mut second = worker(&first, &config);
        let token = sa_token(sa("frontend", "web"));
        assert_eq!(get(&mut first, &token), 200);
        assert_eq!(get(&mut second, &token), 200);
        assert_eq!(get(&mut second, &token), 200);
        assert_eq!(
            second.state().counter("meshguard.tokens.verified"),
            verified_by_second,
            "{cache}"
        );
        assert_eq!(second.state().counter("meshguard.tokens.shared_hit"), 0);
    }
}

#[test]
fn workers_under_different_configurations_do_not_share_entries() {
    let config = demo_plugin_config();
    let mut first = started(&config);
    let mut other = config.clone();
    other["realm"] = json!("another");
    let mut second = worker(&first, &other);
    let token = sa_token(sa("frontend", "web"));
    assert_eq!(get(&mut first, &token), 200);
    assert_eq!(get(&mut second, &token), 200);
    assert_eq!(second.state().counter("meshguard.tokens.verified"), 1);
}

#[test]
fn the_digest_covers_the_whole_token() {
    let token = mint("hs256", "HS256", None, json!({"sub": "a"}));
    let (head, _) = token.rsplit_once('.').unwrap();
    assert_ne!(digest(&token), digest(&format!("{head}.AAAA")));
}
