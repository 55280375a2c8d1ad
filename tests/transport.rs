//! `authentication.requireTLS`: a token that arrives on a connection without TLS is refused
//! (401 `tls_required`) before anything in it is looked at; a request without a token is
//! decided as before. The same table through the core and through the built `.wasm`, whose
//! TLS comes from Envoy's `connection.tls_version` attribute.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::host::Host;
use common::scenarios::{sa, sa_token};
use common::NOW;
use meshguard::config::PluginConfig;
use meshguard::decision::HttpRequest;
use meshguard::request_info::Workload;
use serde_json::Value;

fn config(require_tls: Option<bool>) -> Value {
    let mut config = demo_plugin_config();
    if let Some(require) = require_tls {
        config["authentication"]["requireTLS"] = require.into();
    }
    config
}

/// One row: a name, the target, the authorization header, TLS as the proxy saw it, and the
/// status and reason expected.
struct Row {
    name: &'static str,
    target: String,
    auth: Option<String>,
    tls: Option<bool>,
    status: u32,
    reason: &'static str,
}

impl Row {
    fn headers(&self) -> Vec<(&str, &str)> {
        self.auth
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect()
    }
}

fn compiled(require_tls: Option<bool>) -> meshguard::decision::Engine {
    PluginConfig::from_value(config(require_tls))
        .unwrap()
        .engine()
        .unwrap()
}

fn table() -> Vec<Row> {
    let row = |name, target: String, auth: Option<String>, tls, status, reason| Row {
        name,
        target,
        auth,
        tls,
        status,
        reason,
    };
    let web = sa_token(sa("frontend", "web"));
    let bearer = Some(format!("Bearer {web}"));
    vec![
        row(
            "token over TLS",
            "/orders".into(),
            bearer.clone(),
            Some(true),
            200,
            "allowed",
        ),
        row(
            "token over plaintext",
            "/orders".into(),
            bearer.clone(),
            Some(false),
            401,
            "tls_required",
        ),
        row(
            "token, TLS unknown",
            "/orders".into(),
            bearer.clone(),
            None,
            401,
            "tls_required",
        ),
        // Not even parsed: a malformed token over plaintext is refused for the transport.
        row(
            "garbage over plaintext",
            "/orders".into(),
            Some("Bearer x.y".into()),
            Some(false),
            401,
            "tls_required",
        ),
        row(
            "query token over plaintext",
            format!("/orders?access_token={web}"),
            None,
            Some(false),
            401,
            "tls_required",
        ),
        // No token: decided as without the option.
        row(
            "no token over plaintext",
            "/orders".into(),
            None,
            Some(false),
            401,
            "token_missing",
        ),
        row(
            "no token, bypass path",
            "/livez".into(),
            None,
            Some(false),
            200,
            "bypass",
        ),
    ]
}

#[test]
fn tokens_over_plaintext_are_refused_in_the_core() {
    let engine = compiled(Some(true));
    let workload = Workload::in_namespace("");
    for row in table() {
        let (name, tls, status, reason) = (row.name, row.tls, row.status, row.reason);
        let headers = row.headers();
        let verdict = engine.decide(
            &HttpRequest {
                method: "POST",
                target: &row.target,
                headers: &headers,
                workload: &workload,
                tls,
                peer: None,
            },
            NOW,
        );
        assert_eq!(verdict.record.reason.code(), reason, "{name}");
        assert_eq!(u32::from(verdict.record.status), status, "{name}");
    }
    // Off (the default): plaintext is no reason to refuse.
    for require in [None, Some(false)] {
        let engine = compiled(require);
        let auth = format!("Bearer {}", sa_token(sa("frontend", "web")));
        let verdict = engine.decide(
            &HttpRequest {
                method: "POST",
                target: "/orders",
                headers: &[("authorization", &auth)],
                workload: &workload,
                tls: Some(false),
                peer: None,
            },
            NOW,
        );
        assert_eq!(verdict.record.reason.code(), "allowed");
    }
}

#[test]
fn the_module_reads_tls_from_the_connection_and_refuses_plaintext_tokens() {
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(
        host.start(&config(Some(true)).to_string()),
        "{:?}",
        host.state().logs
    );
    for row in table() {
        let (name, tls, status, reason) = (row.name, row.tls, row.status, row.reason);
        let path = ["connection".to_owned(), "tls_version".to_owned()];
        match tls {
            Some(true) => {
                host.state_mut()
                    .properties
                    .insert(path.to_vec(), b"TLSv1.3".to_vec());
            }
            // Envoy has no tls_version on a plaintext connection; the harness has none either.
            _ => {
                host.state_mut().properties.remove(path.as_slice());
            }
        }
        let headers = row.headers();
        let exchange = host.request("POST", &row.target, &headers);
        assert_eq!(exchange.status(), status, "{name}: {:?}", exchange.logs);
        if status != 200 {
            let reply = exchange.local_reply.as_ref().unwrap();
            assert_eq!(reply.json()["reason"], reason, "{name}");
        }
    }
    assert_eq!(
        host.state().counter("meshguard.decision.deny.tls_required"),
        4
    );

    // Without the option the attribute is not even asked for; nor, with only tokens
    // configured (no spiffe, x509 or frontProxy), is the peer certificate.
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(host.start(&config(None).to_string()));
    let before = host.state().calls.len();
    let auth = format!("Bearer {}", sa_token(sa("frontend", "web")));
    assert_eq!(
        host.request("POST", "/orders", &[("authorization", &auth)])
            .status(),
        200
    );
    assert!(!host.state().calls[before..].contains(&"proxy_get_property"));
}

/// Real Envoy: the same configuration on a plaintext listener and on one that terminates TLS.
/// A token over plaintext is refused before it is verified; the same token over TLS (curl) is
/// allowed.
#[test]
fn real_envoy_refuses_a_token_over_plaintext_and_takes_it_over_tls() {
    use common::envoy::*;
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("require-tls");
    let (cert, key) = certificate(&dir);
    let (_upstream, upstream_port) = start_upstream(&dir);
    let config = config(Some(true));
    let plain = start_envoy(&envoy_bin, &dir, upstream_port, &config);
    let tls = start_envoy_edited(&envoy_bin, &dir, upstream_port, &config, &[], &|yaml| {
        with_tls(yaml, &cert, &key)
    });
    let now = now();
    let web = common::mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        serde_json::json!({"iss": common::SA_ISSUER, "aud": ["meshguard"],
            "sub": "system:serviceaccount:frontend:web", "iat": now, "exp": now + 600,
            "kubernetes.io": {"namespace": "frontend",
                              "serviceaccount": {"name": "web", "uid": "sa-web"}}}),
    );
    let auth = format!("Bearer {web}");
    let refused = request(plain.port, "POST", "/orders", &[("authorization", &auth)]).unwrap();
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["reason"], "tls_required");
    let missing = request(plain.port, "POST", "/orders", &[]).unwrap();
    assert_eq!(missing.json()["reason"], "token_missing");
    let curl = |headers: &[(&str, &str)]| curl_tls(tls.port, "POST", "/orders", headers, None).0;
    assert_eq!(curl(&[("authorization", &auth)]), "200");
    assert_eq!(curl(&[]), "401");
    assert_eq!(stat(plain.admin, "meshguard.decision.deny.tls_required"), 1);
    assert_eq!(stat(tls.admin, "meshguard.decision.deny.tls_required"), 0);
}
