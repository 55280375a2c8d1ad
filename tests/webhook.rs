//! Webhook token authentication through the built `.wasm` (scripted call answers) and in real
//! Envoy against a loopback TokenReview service (`envoy/tokenreview_webhook.py`): a request
//! whose token no other authenticator knows waits for the review, the answer is cached per
//! token, denials and outages are answered as configured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::host::Host;
use common::live::{answer, call_header, only_call};
use common::scenarios::{sa, sa_token};
use common::NOW;
use serde_json::{json, Value};

const CLUSTER: &str = "tokenreview";

fn config(url: &str, failure_policy: &str) -> Value {
    let mut config = demo_plugin_config();
    config["authentication"]["webhook"] = json!({
        "cluster": CLUSTER, "url": url, "audiences": ["meshguard"],
        "failurePolicy": failure_policy, "retryAfterSeconds": 3, "timeoutMs": 1000});
    config
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn started(failure_policy: &str) -> Host {
    let mut host = Host::new();
    host.set_time(NOW);
    host.state_mut().clusters = vec![CLUSTER.into()];
    let config = config("https://authn.example.com/apis/review", failure_policy);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    host
}

fn review(status: Value) -> Vec<u8> {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
        .to_string()
        .into_bytes()
}

#[test]
fn the_module_waits_for_the_review_and_caches_the_answer() {
    let mut host = started("deny");
    let auth = bearer("jane-opaque-token");
    let first = host.begin_request("POST", "/orders", &[("authorization", &auth)]);
    let second = host.begin_request("POST", "/orders", &[("authorization", &auth)]);
    assert!(host.waiting(first) && host.waiting(second));
    let call = only_call(&host);
    assert_eq!(call.upstream, CLUSTER);
    assert_eq!(call_header(&call, ":method"), Some("POST"));
    assert_eq!(call_header(&call, ":path"), Some("/apis/review"));
    assert_eq!(call_header(&call, ":authority"), Some("authn.example.com"));
    assert_eq!(call_header(&call, "content-type"), Some("application/json"));
    assert_eq!(call.timeout_ms, 1000);
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        sent,
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
               "spec": {"token": "jane-opaque-token", "audiences": ["meshguard"]}})
    );
    answer(
        &mut host,
        200,
        &[],
        &review(json!({"authenticated": true, "audiences": ["meshguard"],
            "user": {"username": "jane", "groups": ["operators"]}})),
    );
    for id in [first, second] {
        assert!(!host.waiting(id));
        let exchange = host.end_request(id);
        assert_eq!(exchange.status(), 200, "{:?}", exchange.logs);
        assert_eq!(exchange.upstream_header("x-remote-user"), ["jane"]);
        assert!(exchange.upstream_header("authorization").is_empty());
    }
    // Cached: the next request goes straight through; the filter state names the webhook.
    let next = host.request("POST", "/orders", &[("authorization", &auth)]);
    assert_eq!(next.status(), 200);
    assert!(host.state().http_calls.is_empty());
    assert_eq!(
        host.state().property(&["meshguard_authenticator"]),
        Some(&b"webhook"[..])
    );
    assert_eq!(host.state().counter("meshguard.webhook.calls"), 1);
    // A service-account JWT never goes to the webhook.
    let web = bearer(&sa_token(sa("frontend", "web")));
    assert_eq!(
        host.request("POST", "/orders", &[("authorization", &web)])
            .status(),
        200
    );
    assert!(host.state().http_calls.is_empty());
    // After the TTL (120 s) the token is reviewed again.
    host.set_time(NOW + 121);
    let again = host.begin_request("POST", "/orders", &[("authorization", &auth)]);
    assert!(host.waiting(again));
    assert_eq!(only_call(&host).upstream, CLUSTER);
}

#[test]
fn denials_outages_and_slow_webhooks_are_answered_as_configured() {
    for (policy, status, reason) in [
        ("deny", 401, "token_review_failed"),
        ("unavailable", 503, "token_review_unavailable"),
    ] {
        let mut host = started(policy);
        let ask = |host: &mut Host, token: &str| {
            host.begin_request("POST", "/orders", &[("authorization", &bearer(token))])
        };
        let id = ask(&mut host, "revoked-token");
        answer(
            &mut host,
            200,
            &[],
            &review(json!({"authenticated": false, "error": "token revoked"})),
        );
        let denied = host.end_request(id);
        let reply = denied.local_reply.unwrap();
        assert_eq!(
            (reply.status, reply.json()["reason"].clone()),
            (401, json!("token_review_denied"))
        );
        assert!(reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("token revoked"));

        let id = ask(&mut host, "any-token");
        answer(&mut host, 503, &[], b"upstream connect error");
        let failed = host.end_request(id);
        let reply = failed.local_reply.unwrap();
        assert_eq!(reply.status, status, "{policy}");
        assert_eq!(reply.json()["reason"], reason, "{policy}");
        if status == 503 {
            assert_eq!(reply.header("retry-after"), Some("3"));
        }
        // Remembered for retryAfterSeconds: answered at once, no new call.
        let at_once = host.request(
            "POST",
            "/orders",
            &[("authorization", &bearer("any-token"))],
        );
        assert_eq!(at_once.status(), status);
        assert!(host.state().http_calls.is_empty());

        // No answer within the wait (the timeout, 1 s): decided with what there is.
        let id = ask(&mut host, "slow-token");
        assert!(host.waiting(id));
        for _ in 0..11 {
            host.tick(100);
        }
        assert!(!host.waiting(id));
        let slow = host.end_request(id);
        assert_eq!(slow.local_reply.unwrap().json()["reason"], reason);
        assert_eq!(host.state().counter("meshguard.requests.wait_expired"), 1);
    }
}

/// Real Envoy 1.40 with a `tokenreview` cluster to the loopback webhook: reviewed users
/// allowed and forbidden by RBAC, a denial, the cache (the webhook counts its reviews), and
/// an outage (the webhook stopped) answered 503 with `Retry-After`.
#[test]
fn real_envoy_reviews_tokens_through_a_cluster() {
    use common::envoy::*;
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("webhook");
    let (_upstream, upstream_port) = start_upstream(&dir);
    let (webhook, webhook_port) = start_script_upstream(&dir, "envoy/tokenreview_webhook.py");
    let config = config("http://tokenreview.local/review", "unavailable");
    let envoy = start_envoy_edited(
        &envoy_bin,
        &dir,
        upstream_port,
        &config,
        &[(CLUSTER, webhook_port)],
        &|yaml| yaml.to_owned(),
    );
    let call = |token: &str| {
        request(
            envoy.port,
            "POST",
            "/orders",
            &[("authorization", &bearer(token))],
        )
        .unwrap()
    };
    let reviews = || -> u64 {
        let answer = request(webhook_port, "GET", "/count", &[]).unwrap();
        answer.json()["reviews"].as_u64().unwrap()
    };
    let jane = call("jane-token");
    assert_eq!(jane.status, 200, "{}", jane.body);
    assert!(
        jane.body.contains("\"x-remote-user\", \"jane\""),
        "{}",
        jane.body
    );
    assert_eq!(call("jane-token").status, 200);
    assert_eq!(
        reviews(),
        1,
        "the second request was answered from the cache"
    );
    let bob = call("bob-token");
    assert_eq!(bob.status, 403, "{}", bob.body);
    let revoked = call("revoked-token");
    assert_eq!(
        (revoked.status, revoked.json()["reason"].clone()),
        (401, json!("token_review_denied"))
    );
    assert_eq!(reviews(), 3);

    // The webhook goes away: a new token cannot be reviewed (503, Retry-After), a cached
    // one still works.
    drop(webhook);
    let outage = call("new-token");
    assert_eq!(outage.status, 503, "{}", outage.body);
    assert_eq!(outage.json()["reason"], "token_review_unavailable");
    assert_eq!(outage.header("retry-after"), Some("3"));
    assert_eq!(call("jane-token").status, 200);
    assert_eq!(stat(envoy.admin, "meshguard.webhook.calls"), 4);
    assert_eq!(stat(envoy.admin, "meshguard.webhook.failed"), 1);
}

#[test]
fn a_dry_run_holds_nothing_but_asks_for_the_review() {
    let mut host = Host::new();
    host.set_time(NOW);
    host.state_mut().clusters = vec![CLUSTER.into()];
    let mut config = config("https://authn.example.com/apis/review", "deny");
    config["mode"] = json!("dryRun");
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    let auth = bearer("jane-opaque-token");
    let first = host.request("POST", "/orders", &[("authorization", &auth)]);
    assert_eq!(first.status(), 200, "a dry run lets it through");
    assert_eq!(
        first.upstream_header("x-meshguard-decision"),
        ["deny:token_review_failed"]
    );
    // The review is asked for on the next tick, by the root context.
    assert!(host.state().http_calls.is_empty());
    host.tick(100);
    assert_eq!(only_call(&host).context_id, host.root_id);
    answer(
        &mut host,
        200,
        &[],
        &review(json!({"authenticated": true, "user": {"username": "jane",
            "groups": ["operators"]}})),
    );
    let next = host.request("POST", "/orders", &[("authorization", &auth)]);
    assert_eq!(next.upstream_header("x-meshguard-decision"), ["allow"]);
    assert_eq!(next.upstream_header("x-remote-user"), ["jane"]);
}
