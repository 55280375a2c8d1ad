//! Remote keys in the wasmtime host, with simulated time and scripted HTTP call responses:
//! first fetch and waiting requests, discovery, rotation, outages at start and later, slow
//! and broken issuers, random-`kid` floods, and workers sharing one fetch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::live::*;
use common::scenarios::{sa, sa_token};
use common::{jwk, mint, SA_ISSUER};
use serde_json::json;

const ISSUER_HOST: &str = "kubernetes.default.svc.cluster.local";

fn jwks_uri() -> String {
    format!("{SA_ISSUER}{JWKS_PATH}")
}

fn direct() -> serde_json::Value {
    remote_keys_config(json!({"jwksURI": jwks_uri()}))
}

fn web() -> String {
    sa_token(sa("frontend", "web"))
}

/// The same service account's token signed by the rotated-in key `rsa-2`.
fn web_rotated() -> String {
    mint("rs256-other", "RS256", Some("rsa-2"), sa("frontend", "web"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn keys_are_fetched_at_start_and_a_request_that_came_first_waits_for_them() {
    let mut host = started(&direct());
    assert_eq!(host.state().tick_period_ms, 100);
    let token = web();
    let id = host.begin_request("POST", "/orders", &[("authorization", &bearer(&token))]);
    assert!(host.waiting(id), "the request waits for the first key set");
    assert_eq!(host.state().counter("meshguard.requests.paused"), 1);

    host.tick(100);
    let call = only_call(&host);
    assert_eq!(call.upstream, KEYS_CLUSTER);
    assert_eq!(call_header(&call, ":path"), Some(JWKS_PATH));
    assert_eq!(call_header(&call, ":authority"), Some(ISSUER_HOST));
    assert_eq!(call_header(&call, ":method"), Some("GET"));
    assert_eq!(call.timeout_ms, 5000);
    answer(&mut host, 200, &[], &jwks(&["rs256"]));

    assert!(!host.waiting(id), "resumed once the keys arrived");
    let exchange = host.end_request(id);
    assert_eq!(exchange.status(), 200, "{:?}", exchange.logs);
    assert_eq!(host.state().counter("meshguard.keys.fetch.ok"), 1);
    assert_eq!(host.state().counter("meshguard.decision.allow.allowed"), 1);
    // Later requests go straight through.
    let next = host.request("POST", "/orders", &[("authorization", &bearer(&token))]);
    assert_eq!(next.status(), 200);
    assert!(host.state().http_calls.is_empty());
}

#[test]
fn oidc_discovery_finds_the_jwks_and_the_override_url_is_used() {
    for (config, authority, path) in [
        (
            remote_keys_config(json!({})),
            ISSUER_HOST,
            "/.well-known/openid-configuration",
        ),
        (
            {
                let mut c = remote_keys_config(json!({}));
                c["authentication"]["jwt"][0]["issuer"]["discoveryURL"] =
                    json!("https://discovery.internal:8443/sa/openid-configuration");
                c
            },
            "discovery.internal:8443",
            "/sa/openid-configuration",
        ),
    ] {
        let mut host = started(&config);
        host.tick(100);
        let discovery = answer(
            &mut host,
            200,
            &[],
            json!({"issuer": SA_ISSUER, "jwks_uri": "https://keys.internal/openid/v1/jwks"})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(call_header(&discovery, ":authority"), Some(authority));
        assert_eq!(call_header(&discovery, ":path"), Some(path));
        let keys = answer(&mut host, 200, &[], &jwks(&["rs256"]));
        assert_eq!(call_header(&keys, ":authority"), Some("keys.internal"));
        assert_eq!(call_header(&keys, ":path"), Some(JWKS_PATH));
        let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&web()))]);
        assert_eq!(exchange.status(), 200, "{:?}", exchange.logs);
    }
}

#[test]
fn discovery_documents_with_bad_or_missing_fields_are_refused() {
    let cases = [
        ("not JSON", "{".to_owned(), "not valid JSON"),
        ("not an object", "[]".to_owned(), "not a JSON object"),
        (
            "no issuer",
            json!({"jwks_uri": "https://k/jwks"}).to_string(),
            "issuer is missing",
        ),
        (
            "another issuer",
            json!({"issuer": "https://evil.example.com", "jwks_uri": "https://k/jwks"}).to_string(),
            "expected",
        ),
        (
            "no jwks_uri",
            json!({"issuer": SA_ISSUER}).to_string(),
            "jwks_uri is missing",
        ),
        (
            "jwks_uri not a string",
            json!({"issuer": SA_ISSUER, "jwks_uri": 7}).to_string(),
            "jwks_uri is not a string",
        ),
        (
            "jwks_uri not http",
            json!({"issuer": SA_ISSUER, "jwks_uri": "file:///etc/keys"}).to_string(),
            "the scheme must be https or http",
        ),
    ];
    for (name, document, message) in cases {
        let mut host = started(&remote_keys_config(json!({})));
        host.tick(100);
        answer(&mut host, 200, &[], document.as_bytes());
        assert!(
            host.state().http_calls.is_empty(),
            "{name}: no JWKS fetch follows"
        );
        assert_eq!(
            host.state()
                .counter("meshguard.keys.fetch.failed.discovery_invalid"),
            1,
            "{name}"
        );
        let logs = host.state().logs_at_least(4).join("\n");
        assert!(logs.contains(message), "{name}: {logs}");
        assert!(logs.contains("none is in force yet"), "{name}: {logs}");
    }
}

#[test]
fn an_issuer_down_at_start_gives_503_after_the_wait_then_backs_off_and_recovers() {
    let mut host = started(&direct());
    let token = web();
    let id = host.begin_request("POST", "/orders", &[("authorization", &bearer(&token))]);
    host.tick(100);
    answer(&mut host, 503, &[], b"unavailable");
    assert_eq!(
        host.state()
            .counter("meshguard.keys.fetch.failed.http_status"),
        1
    );
    assert_eq!(host.state().counter("meshguard.keys.missing"), 1);
    // The request waits out its 3 s, then gets a 503 it may retry, not a 401.
    assert!(tick_until(&mut host, 3000, |h| !h.waiting(id)));
    let exchange = host.end_request(id);
    assert_eq!(exchange.status(), 503);
    assert_eq!(reason(&exchange), "keys_unavailable");
    let reply = exchange.local_reply.as_ref().unwrap();
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(reply.header("www-authenticate").is_none());
    assert_eq!(host.state().counter("meshguard.requests.wait_expired"), 1);

    // Retries back off: 1 s (jittered to 0.5–1 s), 2 s, 4 s ... each failure.
    let mut gaps = Vec::new();
    for _ in 0..4 {
        let mut waited = 0;
        assert!(tick_until(&mut host, 10_000, |h| {
            waited += 100;
            !h.state().http_calls.is_empty()
        }));
        gaps.push(waited);
        answer(&mut host, 500, &[], b"");
    }
    assert!(
        gaps[1] <= 2_200 && gaps[2] >= 1_000 && gaps[3] >= 2_000,
        "{gaps:?}"
    );
    assert!(gaps[3] <= 8_200, "{gaps:?}");
    // The issuer comes back.
    assert!(tick_until(&mut host, 20_000, |h| !h
        .state()
        .http_calls
        .is_empty()));
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&token))]);
    assert_eq!(exchange.status(), 200);
    assert_eq!(host.state().counter("meshguard.keys.missing"), 0);
}

#[test]
fn an_outage_after_start_keeps_the_last_good_keys_and_says_so() {
    let mut host = started(&direct());
    host.tick(100);
    answer(
        &mut host,
        200,
        &[("cache-control", "public, max-age=120")],
        &jwks(&["rs256"]),
    );
    // max-age 120 s sets the next refresh (within the 30 s – 1 h bounds).
    host.tick(119_000);
    assert!(host.state().http_calls.is_empty());
    assert!(tick_until(&mut host, 1_500, |h| !h
        .state()
        .http_calls
        .is_empty()));
    answer(&mut host, 500, &[], b"");
    // Reset and unreachable responses too.
    assert!(tick_until(&mut host, 2_000, |h| !h
        .state()
        .http_calls
        .is_empty()));
    let call = only_call(&host);
    host.http_call_response(call.token, &[], b"");
    assert_eq!(
        host.state()
            .counter("meshguard.keys.fetch.failed.unreachable"),
        1
    );
    assert_eq!(host.state().counter("meshguard.keys.stale"), 1);
    let warnings = host.state().logs_at_least(3).join("\n");
    assert!(
        warnings.contains("the last good one stays in force"),
        "{warnings}"
    );
    let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&web()))]);
    assert_eq!(exchange.status(), 200, "cached keys still verify");
    // Recovery clears the stale gauge.
    assert!(tick_until(&mut host, 5_000, |h| !h
        .state()
        .http_calls
        .is_empty()));
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    assert_eq!(host.state().counter("meshguard.keys.stale"), 0);
}

#[test]
fn a_slow_issuer_holds_requests_only_for_their_wait() {
    let mut host = started(&remote_keys_config(json!({
        "jwksURI": jwks_uri(),
        "fetch": {"requestWaitMs": 1000, "timeoutMs": 2000}
    })));
    let id = host.begin_request("POST", "/orders", &[("authorization", &bearer(&web()))]);
    host.tick(100);
    assert_eq!(only_call(&host).timeout_ms, 2000);
    // No answer: the request is answered when its 1 s wait runs out.
    assert!(tick_until(&mut host, 1_000, |h| !h.waiting(id)));
    assert_eq!(host.end_request(id).status(), 503);
    // While the call is in flight no second call starts; then the answer lands.
    host.tick(500);
    assert_eq!(host.state().http_calls.len(), 1);
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&web()))]);
    assert_eq!(exchange.status(), 200);
}

#[test]
fn huge_or_malformed_key_sets_are_refused_and_the_last_good_one_kept() {
    let too_many: Vec<serde_json::Value> = (0..65)
        .map(|i| {
            let mut key = jwk("rs256", true);
            key["kid"] = json!(format!("k{i}"));
            key
        })
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("too large", vec![b' '; 300 * 1024], "too_large"),
        ("not JSON", b"<html>".to_vec(), "jwks_invalid"),
        ("no keys array", b"{\"keys\": 1}".to_vec(), "jwks_invalid"),
        ("a shared secret", jwks(&["hs256"]), "jwks_invalid"),
        (
            "too many keys",
            serde_json::to_vec(&json!({ "keys": too_many })).unwrap(),
            "jwks_invalid",
        ),
        (
            "only encryption keys",
            serde_json::to_vec(
                &json!({"keys": [{"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"}]}),
            )
            .unwrap(),
            "jwks_invalid",
        ),
    ];
    for (name, body, code) in cases {
        let mut host = started(&direct());
        host.tick(100);
        answer(&mut host, 200, &[], &jwks(&["rs256"]));
        host.tick(300_000);
        answer(&mut host, 200, &[], &body);
        assert_eq!(
            host.state()
                .counter(&format!("meshguard.keys.fetch.failed.{code}")),
            1,
            "{name}: {:?}",
            host.state().logs_at_least(3)
        );
        let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&web()))]);
        assert_eq!(
            exchange.status(),
            200,
            "{name}: the last good keys still verify"
        );
    }
}

#[test]
fn a_rotated_key_is_fetched_when_a_token_names_it_and_the_request_waits() {
    let mut host = started(&direct());
    host.tick(100);
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    // The issuer rotates: tokens are now signed by rsa-2, which the cached set lacks.
    let id = host.begin_request(
        "POST",
        "/orders",
        &[("authorization", &bearer(&web_rotated()))],
    );
    assert!(host.waiting(id));
    assert_eq!(host.state().counter("meshguard.keys.refetch.demanded"), 1);
    host.tick(100);
    answer(&mut host, 200, &[], &jwks(&["rs256", "rs256-other"]));
    assert!(!host.waiting(id));
    let exchange = host.end_request(id);
    assert_eq!(exchange.status(), 200, "{:?}", exchange.logs);
    // Both keys verify now.
    for token in [web(), web_rotated()] {
        let exchange = host.request("POST", "/orders", &[("authorization", &bearer(&token))]);
        assert_eq!(exchange.status(), 200);
    }
}

#[test]
fn a_flood_of_random_kids_costs_the_issuer_one_fetch_per_interval() {
    let mut host = started(&direct());
    host.tick(100);
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    let mut fetches = 0;
    let mut open = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    // 600 requests over 60 s, one every 100 ms, each with a kid nobody publishes: each
    // demands a refetch; demands within the 1 s interval join the next one.
    let mut elapsed_ms = 0;
    for i in 0..600 {
        let token = mint(
            "rs256-other",
            "RS256",
            Some(&format!("random-{i}")),
            sa("frontend", "web"),
        );
        open.push(host.begin_request("POST", "/orders", &[("authorization", &bearer(&token))]));
        host.tick(100);
        elapsed_ms += 100;
        if !host.state().http_calls.is_empty() {
            fetches += 1;
            answer(&mut host, 200, &[], &jwks(&["rs256"]));
        }
        open.retain(|&id| {
            if host.waiting(id) {
                return true;
            }
            let exchange = host.end_request(id);
            *statuses.entry(reason(&exchange)).or_insert(0) += 1;
            false
        });
    }
    assert!(tick_until(&mut host, 5_000, |h| {
        if !h.state().http_calls.is_empty() {
            return true;
        }
        open.iter().all(|&id| !h.waiting(id))
    }));
    if !host.state().http_calls.is_empty() {
        fetches += 1;
        answer(&mut host, 200, &[], &jwks(&["rs256"]));
    }
    for id in open {
        assert!(!host.waiting(id));
        *statuses.entry(reason(&host.end_request(id))).or_insert(0) += 1;
    }
    // At most one demanded refetch per second of the flood (max-age unset, the scheduled
    // refresh is 300 s away), and at least one per few seconds: a rotation is never starved.
    let seconds = elapsed_ms / 1000;
    assert!(
        fetches <= seconds + 2 && fetches >= seconds / 2,
        "{fetches} fetches in {seconds} s"
    );
    assert_eq!(statuses.get("key_not_found"), Some(&600), "{statuses:?}");
    // And a genuine rotation during the flood's tail gets its refetch within the interval.
    let id = host.begin_request(
        "POST",
        "/orders",
        &[("authorization", &bearer(&web_rotated()))],
    );
    assert!(tick_until(&mut host, 1_100, |h| !h
        .state()
        .http_calls
        .is_empty()));
    answer(&mut host, 200, &[], &jwks(&["rs256", "rs256-other"]));
    assert_eq!(host.end_request(id).status(), 200);
}

#[test]
fn workers_of_one_proxy_fetch_once_and_share_the_keys() {
    let mut first = started(&direct());
    let mut second = first.worker();
    assert!(second.start(&direct().to_string()));
    first.tick(100);
    second.tick(100);
    let calls = first.state().http_calls.len() + second.state().http_calls.len();
    assert_eq!(calls, 1, "one worker holds the lease");
    let (fetcher, other) = if first.state().http_calls.is_empty() {
        (&mut second, &mut first)
    } else {
        (&mut first, &mut second)
    };
    let waiting = other.begin_request("POST", "/orders", &[("authorization", &bearer(&web()))]);
    answer(fetcher, 200, &[], &jwks(&["rs256"]));
    // The other worker adopts the shared set on its next tick and resumes its request.
    assert!(other.waiting(waiting));
    other.tick(100);
    assert!(!other.waiting(waiting));
    assert_eq!(other.end_request(waiting).status(), 200);
    assert!(other.state().http_calls.is_empty());
    assert_eq!(other.state().counter("meshguard.keys.fetch.ok"), 0);
    assert_eq!(fetcher.state().counter("meshguard.keys.fetch.ok"), 1);
}

#[test]
fn a_stream_that_ends_while_waiting_is_forgotten() {
    let mut host = started(&direct());
    let id = host.begin_request("POST", "/orders", &[("authorization", &bearer(&web()))]);
    host.reset_request(id);
    host.tick(100);
    answer(&mut host, 200, &[], &jwks(&["rs256"]));
    host.tick(5_000);
    assert!(!host.state().calls.contains(&"proxy_continue_stream"));
}

#[test]
fn an_unknown_cluster_is_a_logged_failure_not_a_trap() {
    let mut host = started(&direct());
    host.state_mut().clusters.clear();
    host.tick(100);
    assert_eq!(
        host.state()
            .counter("meshguard.keys.fetch.failed.unreachable"),
        1
    );
    let logs = host.state().logs_at_least(4).join("\n");
    assert!(logs.contains("is the cluster defined?"), "{logs}");
}
