//! Live bundles in the wasmtime host: readiness, polling with ETag (200 / 304 / 500), signed
//! bundles (bad signature, bad bundle refused, the previous one kept), a new bundle changing
//! decisions, and revocation taking effect on the next poll.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::host::{Exchange, Host};
use common::live::*;
use common::scenarios::{sa, sa_token};
use serde_json::{json, Value};

fn web_places_an_order(host: &mut Host) -> Exchange {
    let token = sa_token(sa("frontend", "web"));
    host.request(
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

fn decision_revision(exchange: &Exchange) -> String {
    let line = exchange
        .logs
        .iter()
        .find_map(|(_, m)| m.strip_prefix("meshguard: decision "))
        .unwrap();
    let record: Value = serde_json::from_str(line).unwrap();
    record["revision"].as_str().unwrap().to_owned()
}

/// Serves `bundle` (and its signature, by `signer`) to the outstanding bundle poll.
fn serve(host: &mut Host, bundle: &[u8], signature: &[u8], etag: &str) {
    let call = answer(host, 200, &[("etag", etag)], bundle);
    assert_eq!(call.upstream, BUNDLE_CLUSTER);
    assert_eq!(call_header(&call, ":path"), Some("/mesh/bundle.json"));
    let call = answer(host, 200, &[], signature);
    assert_eq!(call_header(&call, ":path"), Some("/mesh/bundle.json.sig"));
}

/// A host whose first bundle (the mesh bundle, etag "v1") is loaded.
fn loaded() -> (Host, Vec<u8>) {
    let mut host = started(&bundle_source_config(json!({})));
    let bytes = bundle_bytes(&mesh_bundle());
    host.tick(100);
    serve(&mut host, &bytes, &sign_bundle(&bytes, "es256"), "\"v1\"");
    (host, bytes)
}

/// The mesh bundle without any binding: web may no longer place orders.
fn without_bindings() -> Vec<u8> {
    let mut bundle = mesh_bundle();
    bundle["roleBindings"] = json!([]);
    bundle["clusterRoleBindings"] = json!([]);
    bundle_bytes(&bundle)
}

#[test]
fn requests_wait_for_the_first_bundle_and_fail_closed_without_one() {
    let mut host = started(&bundle_source_config(json!({})));
    let id = host.begin_request(
        "POST",
        "/orders",
        &[(
            "authorization",
            &format!("Bearer {}", sa_token(sa("frontend", "web"))),
        )],
    );
    assert!(host.waiting(id));
    host.tick(100);
    let bytes = bundle_bytes(&mesh_bundle());
    serve(&mut host, &bytes, &sign_bundle(&bytes, "es256"), "\"v1\"");
    assert!(!host.waiting(id));
    let exchange = host.end_request(id);
    assert_eq!(exchange.status(), 200, "{:?}", exchange.logs);
    assert!(decision_revision(&exchange).starts_with("sha256:"));

    // A bundle server that never answers well: 503 bundle_unavailable after the wait.
    let mut host = started(&bundle_source_config(
        json!({"fetch": {"requestWaitMs": 500}}),
    ));
    host.tick(100);
    answer(&mut host, 404, &[], b"not found");
    let token = sa_token(sa("frontend", "web"));
    let id = host.begin_request(
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert!(tick_until(&mut host, 500, |h| !h.waiting(id)));
    let exchange = host.end_request(id);
    assert_eq!(exchange.status(), 503);
    assert_eq!(reason(&exchange), "bundle_unavailable");
    assert_eq!(host.state().counter("meshguard.bundle.missing"), 1);
}

#[test]
fn polls_send_the_etag_and_304_or_500_keep_the_bundle_in_force() {
    let (mut host, _) = loaded();
    let revision = decision_revision(&web_places_an_order(&mut host));
    assert_eq!(host.state().counter("meshguard.bundle.fetch.ok"), 1);
    // The next poll, 30 s later, asks whether "v1" changed.
    host.tick(29_800);
    assert!(host.state().http_calls.is_empty());
    host.tick(200);
    let call = answer(&mut host, 304, &[], b"");
    assert_eq!(call_header(&call, "if-none-match"), Some("\"v1\""));
    assert_eq!(
        host.state().counter("meshguard.bundle.fetch.not_modified"),
        1
    );
    // The server fails: the bundle stays, stale is reported.
    host.tick(30_000);
    answer(&mut host, 500, &[], b"");
    assert_eq!(
        host.state()
            .counter("meshguard.bundle.fetch.failed.http_status"),
        1
    );
    assert_eq!(host.state().counter("meshguard.bundle.stale"), 1);
    let exchange = web_places_an_order(&mut host);
    assert_eq!(exchange.status(), 200);
    assert_eq!(decision_revision(&exchange), revision);
}

#[test]
fn a_new_bundle_changes_decisions_at_the_next_poll_and_reports_its_revision() {
    let (mut host, _) = loaded();
    let before = decision_revision(&web_places_an_order(&mut host));
    let next = without_bindings();
    host.tick(30_000);
    serve(&mut host, &next, &sign_bundle(&next, "es256"), "\"v2\"");
    assert_eq!(host.state().counter("meshguard.bundle.updated"), 2);
    let exchange = web_places_an_order(&mut host);
    assert_eq!(exchange.status(), 403);
    let after = decision_revision(&exchange);
    assert_ne!(after, before);
    let logs = host.state().logs_at_least(2).join("\n");
    assert!(
        logs.contains(&format!("bundle revision {after} in force")),
        "{logs}"
    );
}

#[test]
fn badly_signed_or_invalid_bundles_are_refused_and_the_previous_one_stays() {
    let next = without_bindings();
    // Name, bundle served, signature served, failure code, what the log says.
    type Case = (&'static str, Vec<u8>, Vec<u8>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (
            "signed by an unknown key",
            next.clone(),
            {
                let pem = std::fs::read(common::key_file("es384.key.pem")).unwrap();
                meshguard::bundle::signature::sign(&next, &pem, None, Some("ec-1"), 0)
                    .unwrap()
                    .into_bytes()
            },
            "signature_invalid",
            "no configured signing key matches",
        ),
        (
            "a signature for another bundle",
            next.clone(),
            sign_bundle(&bundle_bytes(&mesh_bundle()), "es256"),
            "signature_invalid",
            "but the bundle served is",
        ),
        (
            "a tampered signature",
            next.clone(),
            {
                let mut s = sign_bundle(&next, "es256");
                let last = s.len() - 2;
                s[last] = if s[last] == b'A' { b'B' } else { b'A' };
                s
            },
            "signature_invalid",
            "does not verify",
        ),
        (
            "no signature",
            next.clone(),
            Vec::new(),
            "signature_invalid",
            "the signature is empty",
        ),
        (
            "signed, but not a bundle",
            b"{\"apiVersion\": \"meshguard.io/v1\", \"kind\": \"Nope\"}".to_vec(),
            sign_bundle(
                b"{\"apiVersion\": \"meshguard.io/v1\", \"kind\": \"Nope\"}",
                "es256",
            ),
            "bundle_invalid",
            "bundle refused",
        ),
        (
            "signed, with a binding to a Secret",
            {
                let mut bundle = mesh_bundle();
                bundle["roleBindings"][0]["roleRef"]["kind"] = json!("Secret");
                bundle_bytes(&bundle)
            },
            Vec::new(),
            "bundle_invalid",
            "Secret",
        ),
    ];
    for (name, bundle, signature, code, message) in cases {
        let (mut host, _) = loaded();
        let before = decision_revision(&web_places_an_order(&mut host));
        host.tick(30_000);
        let signature = if signature.is_empty() && code == "bundle_invalid" {
            sign_bundle(&bundle, "es256")
        } else {
            signature
        };
        serve(&mut host, &bundle, &signature, "\"v2\"");
        assert_eq!(
            host.state()
                .counter(&format!("meshguard.bundle.fetch.failed.{code}")),
            1,
            "{name}: {:?}",
            host.state().logs_at_least(3)
        );
        let logs = host.state().logs_at_least(3).join("\n");
        assert!(logs.contains(message), "{name}: {logs}");
        assert!(logs.contains("the last good one stays in force"), "{name}");
        let exchange = web_places_an_order(&mut host);
        assert_eq!(exchange.status(), 200, "{name}");
        assert_eq!(decision_revision(&exchange), before, "{name}");
    }
}

#[test]
fn revocations_take_effect_at_the_next_poll_for_a_token_already_accepted() {
    let (mut host, _) = loaded();
    assert_eq!(web_places_an_order(&mut host).status(), 200);
    let mut bundle = mesh_bundle();
    bundle["revocations"] = json!({"subjects": ["system:serviceaccount:frontend:web"]});
    let next = bundle_bytes(&bundle);
    host.tick(30_000);
    serve(&mut host, &next, &sign_bundle(&next, "es256"), "\"v3\"");
    let exchange = web_places_an_order(&mut host);
    assert_eq!(exchange.status(), 401);
    assert_eq!(reason(&exchange), "token_revoked");
}

#[test]
fn workers_share_one_bundle_fetch() {
    let (mut first, _) = loaded();
    let mut second = first.worker();
    assert!(second.start(&bundle_source_config(json!({})).to_string()));
    // The second worker adopts the stored bundle at configuration, without fetching.
    assert!(second.state().http_calls.is_empty());
    assert_eq!(web_places_an_order(&mut second).status(), 200);
    let next = without_bindings();
    first.tick(30_000);
    second.tick(100);
    assert!(
        second.state().http_calls.is_empty(),
        "the first worker holds the lease"
    );
    serve(&mut first, &next, &sign_bundle(&next, "es256"), "\"v2\"");
    second.tick(100);
    assert_eq!(web_places_an_order(&mut second).status(), 403);
}

#[test]
fn bundle_source_refusals_name_the_field() {
    let cases = [
        (
            {
                let mut c = bundle_source_config(json!({}));
                c["authorization"]["bundleSource"]
                    .as_object_mut()
                    .unwrap()
                    .remove("signingKeys");
                c
            },
            "authorization.bundleSource.signingKeys: required",
        ),
        (
            {
                let mut c = bundle_source_config(json!({}));
                c["authorization"]["bundle"] = mesh_bundle();
                c
            },
            "authorization.bundleSource: set authorization.bundle or authorization.bundleSource, not both",
        ),
        (
            bundle_source_config(json!({"url": "bundles.example.com/b.json"})),
            "authorization.bundleSource.url: \"bundles.example.com/b.json\" is not an absolute URL",
        ),
        (
            bundle_source_config(json!({"pollIntervalSeconds": 0})),
            "authorization.bundleSource.pollIntervalSeconds: 0 is outside 1..=86400",
        ),
        (
            bundle_source_config(json!({"signingKeys": {"keys": []}})),
            "authorization.bundleSource.signingKeys: JWKS has no signature key",
        ),
    ];
    for (config, message) in cases {
        let error = meshguard::config::PluginConfig::from_value(config)
            .unwrap()
            .engine()
            .unwrap_err();
        assert!(
            error.to_string().starts_with(message),
            "got {error}, want {message}"
        );
        let mut host = Host::new();
        assert!(!host.start(
            &{
                let mut c = bundle_source_config(json!({}));
                c["authorization"]["bundleSource"]["cluster"] = json!("");
                c
            }
            .to_string()
        ));
    }
}

/// `signature: none`: a bundle source without signing keys.
fn unsigned_config() -> Value {
    let mut config = bundle_source_config(json!({"signature": "none"}));
    config["authorization"]["bundleSource"]
        .as_object_mut()
        .unwrap()
        .remove("signingKeys");
    config
}

#[test]
fn an_unsigned_bundle_source_is_polled_with_its_etag_and_hot_reloaded_by_explicit_choice() {
    let mut host = started(&unsigned_config());
    assert!(
        host.state()
            .logs_at_least(3)
            .iter()
            .any(|l| l.contains("signature is \"none\"")),
        "a loud warning at configure: {:?}",
        host.state().logs
    );
    host.tick(100);
    let bytes = bundle_bytes(&mesh_bundle());
    let call = answer(&mut host, 200, &[("etag", "\"u1\"")], &bytes);
    assert_eq!(call_header(&call, ":path"), Some("/mesh/bundle.json"));
    // No signature is fetched: the bundle is in force at once.
    assert!(host.state().http_calls.is_empty());
    assert_eq!(web_places_an_order(&mut host).status(), 200);

    // Polled with its ETag; a 304 keeps it.
    host.tick(30_000);
    let call = answer(&mut host, 304, &[], b"");
    assert_eq!(call_header(&call, "if-none-match"), Some("\"u1\""));
    assert_eq!(web_places_an_order(&mut host).status(), 200);

    // A broken bundle is refused; the last good one stays.
    host.tick(30_000);
    answer(
        &mut host,
        200,
        &[("etag", "\"u2\"")],
        b"{\"kind\": \"PolicyBundle\", \"roles\": 7}",
    );
    assert_eq!(web_places_an_order(&mut host).status(), 200);
    assert_eq!(
        host.state()
            .counter("meshguard.bundle.fetch.failed.bundle_invalid"),
        1
    );

    // Every format the docs list: a List of RBAC objects, then a bare array.
    for (etag, document) in [
        (
            "\"u3\"",
            json!({"apiVersion": "v1", "kind": "List", "items": []}),
        ),
        ("\"u4\"", json!([])),
    ] {
        host.tick(60_000);
        answer(
            &mut host,
            200,
            &[("etag", etag)],
            document.to_string().as_bytes(),
        );
        assert_eq!(
            web_places_an_order(&mut host).status(),
            403,
            "{etag}: an empty policy is in force: {:?}",
            host.state().logs_at_least(3)
        );
    }
}

#[test]
fn signature_none_refuses_signing_keys_and_a_signature_url_and_other_values() {
    let mut config = bundle_source_config(json!({"signature": "none"}));
    let error = meshguard::config::PluginConfig::from_value(config.clone())
        .unwrap()
        .engine()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("bundleSource.signingKeys") && error.contains("\"none\""),
        "{error}"
    );
    config["authorization"]["bundleSource"]["signature"] = json!("sha256");
    let error = meshguard::config::PluginConfig::from_value(config)
        .unwrap()
        .engine()
        .unwrap_err()
        .to_string();
    assert!(error.contains("bundleSource.signature"), "{error}");
    let mut config = unsigned_config();
    config["authorization"]["bundleSource"]["signatureURL"] = json!("https://x/y.sig");
    assert!(meshguard::config::PluginConfig::from_value(config)
        .unwrap()
        .engine()
        .is_err());
    // Without the opt-out, signing keys stay required.
    let mut config = bundle_source_config(json!({}));
    config["authorization"]["bundleSource"]
        .as_object_mut()
        .unwrap()
        .remove("signingKeys");
    let error = meshguard::config::PluginConfig::from_value(config)
        .unwrap()
        .engine()
        .unwrap_err()
        .to_string();
    assert!(error.contains("unless signature is \"none\""), "{error}");
}
