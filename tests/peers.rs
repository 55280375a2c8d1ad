//! Callers known by their connection and by shared-secret tokens: SPIFFE peers, x509 client
//! certificates, an authenticating front proxy, static and bootstrap tokens, the union of
//! authenticators in the apiserver's order, and sender-constrained service-account tokens.
//! One table through the core and through the built `.wasm` (the harness serves Envoy's
//! `connection.*` attributes as Envoy 1.40 renders them), and the key paths in real Envoy
//! with a listener that validates client certificates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::host::Host;
use common::scenarios::{sa, sa_token};
use common::NOW;
use meshguard::config::PluginConfig;
use meshguard::decision::{Engine, HttpRequest};
use meshguard::peer::PeerCertificate;
use meshguard::request_info::Workload;
use serde_json::{json, Value};

/// The static token of the table (its SHA-256 is what the configuration holds).
const STATIC_TOKEN: &str = "31ada4fd-adec-460c-809a-9e56ceb75269";
/// The bootstrap token of the table: ID `07401b`, secret `f395accd246ae52d`.
const BOOTSTRAP_TOKEN: &str = "07401b.f395accd246ae52d";

fn hex_sha256(text: &str) -> String {
    meshguard::token::sha256(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The demo configuration with every authenticator of this file on: SPIFFE in
/// `cluster.local`, x509, a front proxy whose certificate is `CN=front-proxy`, one static
/// token (user `ops-bot` in `operators`) and one bootstrap token.
fn config() -> Value {
    let mut config = demo_plugin_config();
    let authentication = &mut config["authentication"];
    authentication["spiffe"] = json!({"trustDomains": ["cluster.local"]});
    authentication["x509"] = json!({});
    authentication["frontProxy"] = json!({"allowedNames": ["front-proxy"]});
    authentication["staticTokens"] = json!([{
        "tokenSHA256": hex_sha256(STATIC_TOKEN), "user": "ops-bot", "uid": "42",
        "groups": ["operators"]}]);
    authentication["bootstrapTokens"] = json!([{
        "tokenID": "07401b", "secretSHA256": hex_sha256("f395accd246ae52d"),
        "expiration": "2030-01-01T00:00:00Z", "usages": ["authentication", "signing"],
        "authExtraGroups": ["system:bootstrappers:kubeadm:default-node-token"]}]);
    config
}

/// SPIFFE only to constrain who may send a service-account token.
fn constrained_config() -> Value {
    let mut config = demo_plugin_config();
    config["authentication"]["spiffe"] = json!({"trustDomains": ["cluster.local"]});
    config["authentication"]["senderConstraint"] = json!(true);
    config["authentication"]["order"] = json!(["token"]);
    config
}

/// A client certificate as the listener validated it: its first URI SAN and its subject in
/// Envoy's rendering (last RDN first).
#[derive(Clone, Copy)]
struct Peer {
    uri_san: &'static str,
    subject: &'static str,
}

const fn spiffe(uri_san: &'static str) -> Option<Peer> {
    Some(Peer {
        uri_san,
        subject: "",
    })
}

const fn subject(subject: &'static str) -> Option<Peer> {
    Some(Peer {
        uri_san: "",
        subject,
    })
}

struct Row {
    name: &'static str,
    method: &'static str,
    target: &'static str,
    headers: Vec<(&'static str, String)>,
    peer: Option<Peer>,
    status: u32,
    reason: &'static str,
    /// The user forwarded upstream (allowed) or named in the record.
    user: &'static str,
    authenticator: &'static str,
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &'static str,
    method: &'static str,
    target: &'static str,
    headers: Vec<(&'static str, String)>,
    peer: Option<Peer>,
    (status, reason): (u32, &'static str),
    user: &'static str,
    authenticator: &'static str,
) -> Row {
    Row {
        name,
        method,
        target,
        headers,
        peer,
        status,
        reason,
        user,
        authenticator,
    }
}

const WEB: &str = "spiffe://cluster.local/ns/frontend/sa/web";
const WORKER: &str = "spiffe://cluster.local/ns/payments/sa/worker";
const ALLOWED: (u32, &str) = (200, "allowed");
const FORBIDDEN: (u32, &str) = (403, "forbidden");

fn proxy_headers(user: &str, group: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Remote-User", user.to_owned()),
        ("X-Remote-Group", group.to_owned()),
        ("X-Remote-Extra-Acme.com%2Fproject", "blue".to_owned()),
    ]
}

fn table() -> Vec<Row> {
    let web_token = sa_token(sa("frontend", "web"));
    vec![
        row(
            "SPIFFE web places an order",
            "POST",
            "/orders",
            vec![],
            spiffe(WEB),
            ALLOWED,
            "system:serviceaccount:frontend:web",
            "spiffe",
        ),
        row(
            "SPIFFE worker may not place one",
            "POST",
            "/orders",
            vec![],
            spiffe(WORKER),
            FORBIDDEN,
            "system:serviceaccount:payments:worker",
            "",
        ),
        row(
            "SPIFFE worker reads orders",
            "GET",
            "/orders",
            vec![],
            spiffe(WORKER),
            ALLOWED,
            "system:serviceaccount:payments:worker",
            "spiffe",
        ),
        row(
            "an untrusted trust domain",
            "GET",
            "/orders",
            vec![],
            spiffe("spiffe://evil.example/ns/frontend/sa/web"),
            (401, "peer_untrusted"),
            "",
            "",
        ),
        row(
            "a URI SAN that is not a service account",
            "GET",
            "/orders",
            vec![],
            spiffe("spiffe://cluster.local/workload/web"),
            (401, "peer_identity_invalid"),
            "",
            "",
        ),
        row(
            "x509 user in operators",
            "POST",
            "/orders",
            vec![],
            subject("O=operators,CN=alice"),
            ALLOWED,
            "alice",
            "x509",
        ),
        row(
            "x509 user outside",
            "POST",
            "/orders",
            vec![],
            subject("O=dev,CN=bob"),
            FORBIDDEN,
            "bob",
            "",
        ),
        row(
            "the front proxy vouches for carol",
            "POST",
            "/orders",
            proxy_headers("carol", "operators"),
            subject("CN=front-proxy"),
            ALLOWED,
            "carol",
            "frontProxy",
        ),
        // As the apiserver's union: the proxy authenticator fails, the certificate's own user
        // is next; the forged headers are removed either way.
        row(
            "proxy headers from another certificate",
            "POST",
            "/orders",
            proxy_headers("carol", "operators"),
            subject("O=dev,CN=bob"),
            FORBIDDEN,
            "bob",
            "",
        ),
        row(
            "proxy headers without a certificate",
            "POST",
            "/orders",
            proxy_headers("carol", "operators"),
            None,
            (401, "proxy_not_allowed"),
            "",
            "",
        ),
        row(
            "the proxy's certificate is nobody itself",
            "GET",
            "/orders",
            vec![],
            subject("CN=front-proxy"),
            (401, "token_missing"),
            "",
            "",
        ),
        row(
            "a static token",
            "POST",
            "/orders",
            bearer(STATIC_TOKEN),
            None,
            ALLOWED,
            "ops-bot",
            "staticToken",
        ),
        row(
            "an unknown opaque token",
            "POST",
            "/orders",
            bearer("31ada4fd-adec-460c-809a-9e56ceb75268"),
            None,
            (401, "token_unknown"),
            "",
            "",
        ),
        row(
            "a bootstrap token reads health",
            "GET",
            "/healthz",
            bearer(BOOTSTRAP_TOKEN),
            None,
            ALLOWED,
            "system:bootstrap:07401b",
            "bootstrapToken",
        ),
        row(
            "a bootstrap token may not order",
            "POST",
            "/orders",
            bearer(BOOTSTRAP_TOKEN),
            None,
            FORBIDDEN,
            "system:bootstrap:07401b",
            "",
        ),
        row(
            "a bootstrap token with another secret",
            "GET",
            "/healthz",
            bearer("07401b.f395accd246ae52e"),
            None,
            (401, "token_unknown"),
            "",
            "",
        ),
        // The apiserver's order: a certificate is tried before tokens, and a bad token does
        // not undo a good certificate.
        row(
            "SPIFFE before a bad token",
            "POST",
            "/orders",
            bearer("x.y.z"),
            spiffe(WEB),
            ALLOWED,
            "system:serviceaccount:frontend:web",
            "spiffe",
        ),
        row(
            "a JWT without a certificate",
            "POST",
            "/orders",
            bearer(&web_token),
            None,
            ALLOWED,
            "system:serviceaccount:frontend:web",
            "jwt",
        ),
        // Every failure is in the message, the first one is the reason.
        row(
            "a bad certificate and a bad token",
            "GET",
            "/orders",
            bearer("x.y.z"),
            spiffe("spiffe://evil.example/ns/a/sa/b"),
            (401, "peer_untrusted"),
            "",
            "",
        ),
    ]
}

fn constrained_table() -> Vec<Row> {
    let web_token = sa_token(sa("frontend", "web"));
    vec![
        row(
            "the token from its own workload",
            "POST",
            "/orders",
            bearer(&web_token),
            spiffe(WEB),
            ALLOWED,
            "system:serviceaccount:frontend:web",
            "jwt",
        ),
        row(
            "the token replayed from another workload",
            "POST",
            "/orders",
            bearer(&web_token),
            spiffe(WORKER),
            (401, "sender_mismatch"),
            "",
            "",
        ),
        row(
            "the token from a peer without a certificate",
            "POST",
            "/orders",
            bearer(&web_token),
            None,
            (401, "sender_mismatch"),
            "",
            "",
        ),
        row(
            "the token from an untrusted domain",
            "POST",
            "/orders",
            bearer(&web_token),
            spiffe("spiffe://evil.example/ns/frontend/sa/web"),
            (401, "sender_mismatch"),
            "",
            "",
        ),
        // Order [token]: a certificate alone authenticates nobody here.
        row(
            "a certificate without a token",
            "POST",
            "/orders",
            vec![],
            spiffe(WEB),
            (401, "token_missing"),
            "",
            "",
        ),
    ]
}

fn engine(config: &Value) -> Engine {
    PluginConfig::from_value(config.clone())
        .unwrap()
        .engine()
        .unwrap()
}

fn run_core(config: &Value, rows: Vec<Row>) {
    let engine = engine(config);
    let workload = Workload::in_namespace("");
    for row in rows {
        let headers: Vec<(&str, &str)> =
            row.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let verdict = engine.decide(
            &HttpRequest {
                method: row.method,
                target: row.target,
                headers: &headers,
                workload: &workload,
                tls: Some(true),
                peer: row.peer.map(|p| PeerCertificate {
                    uri_san: p.uri_san,
                    subject: p.subject,
                }),
            },
            NOW,
        );
        let name = row.name;
        let record = &verdict.record;
        assert_eq!(
            record.reason.code(),
            row.reason,
            "{name}: {}",
            record.detail
        );
        assert_eq!(u32::from(record.status), row.status, "{name}");
        assert_eq!(record.user, row.user, "{name}");
        if record.status == 200 {
            assert_eq!(record.authenticator.as_str(), row.authenticator, "{name}");
        }
        if let meshguard::decision::Action::Continue {
            remove_headers,
            add_headers,
            ..
        } = &verdict.action
        {
            // The caller's identity headers never reach the upstream as it sent them.
            for (header, _) in &row.headers {
                if header.starts_with("X-Remote") {
                    assert!(
                        remove_headers.contains(&header.to_ascii_lowercase()),
                        "{name}: {header}"
                    );
                }
            }
            assert!(add_headers.contains(&("x-remote-user".to_owned(), row.user.to_owned())));
        }
    }
}

#[test]
fn every_authenticator_decides_as_the_apiserver_in_the_core() {
    run_core(&config(), table());
}

#[test]
fn a_replayed_service_account_token_is_refused_in_the_core() {
    run_core(&constrained_config(), constrained_table());
}

fn run_wasm(config: &Value, rows: Vec<Row>) {
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    for row in rows {
        let name = row.name;
        let properties = &mut host.state_mut().properties;
        let key = |name: &str| vec!["connection".to_owned(), name.to_owned()];
        properties.insert(key("tls_version"), b"TLSv1.3".to_vec());
        // As Envoy 1.40: `mtls` is one byte; without a certificate the SAN and subject are
        // empty.
        let peer = row.peer.unwrap_or(Peer {
            uri_san: "",
            subject: "",
        });
        properties.insert(key("mtls"), vec![u8::from(row.peer.is_some())]);
        properties.insert(key("uri_san_peer_certificate"), peer.uri_san.into());
        properties.insert(key("subject_peer_certificate"), peer.subject.into());
        let headers: Vec<(&str, &str)> =
            row.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let exchange = host.request(row.method, row.target, &headers);
        assert_eq!(exchange.status(), row.status, "{name}: {:?}", exchange.logs);
        let line = exchange
            .logs
            .iter()
            .find_map(|(_, m)| m.strip_prefix("meshguard: decision "))
            .unwrap_or_else(|| panic!("{name}: no decision line"));
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["reason"], row.reason, "{name}: {record}");
        assert_eq!(record["user"].as_str().unwrap_or(""), row.user, "{name}");
        if exchange.local_reply.is_none() {
            assert_eq!(record["authenticator"], row.authenticator, "{name}");
            assert_eq!(
                exchange.upstream_header("x-remote-user"),
                [row.user],
                "{name}"
            );
            // Only a front proxy's extra reaches the upstream, as the user's extra.
            let extra = exchange.upstream_header("x-remote-extra-acme.com%2fproject");
            let want: &[&str] = if row.authenticator == "frontProxy" {
                &["blue"]
            } else {
                &[]
            };
            assert_eq!(extra, want, "{name}");
            assert_eq!(
                host.state()
                    .property(&["meshguard_authenticator"])
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                Some(row.authenticator.to_owned()),
                "{name}"
            );
        }
    }
}

#[test]
fn the_module_reads_the_peer_from_the_connection() {
    run_wasm(&config(), table());
    run_wasm(&constrained_config(), constrained_table());
}

#[test]
fn a_bundle_update_revokes_its_static_tokens() {
    let mut config = demo_plugin_config();
    let bundle = config["authorization"]["bundle"].clone();
    let with_token = json!({
        "apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle",
        "staticTokens": [{"tokenSHA256": hex_sha256(STATIC_TOKEN), "user": "ops-bot",
                          "groups": ["operators"]}]});
    config["authorization"]["bundle"] = json!([bundle, with_token]);
    let engine = engine(&config);
    let workload = Workload::in_namespace("");
    let auth = format!("Bearer {STATIC_TOKEN}");
    let decide = |engine: &Engine| {
        engine
            .decide(
                &HttpRequest {
                    method: "POST",
                    target: "/orders",
                    headers: &[("authorization", &auth)],
                    workload: &workload,
                    tls: Some(true),
                    peer: None,
                },
                NOW,
            )
            .record
            .reason
            .code()
    };
    assert_eq!(decide(&engine), "allowed");
    // The next bundle has no static token: at once the token is no token at all (with no
    // static or bootstrap token configured, an opaque token is read as a malformed JWT).
    let mut builder = meshguard::bundle::BundleBuilder::new();
    builder.add_document("next", bundle);
    let next = builder.build().unwrap();
    let updated = engine.with_policy(next.compile(), vec![]);
    assert_eq!(decide(&updated), "token_malformed");
}

#[test]
fn misconfigurations_are_refused_with_the_field() {
    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut config = config();
        edit(&mut config);
        PluginConfig::from_value(config)
            .and_then(|c| c.engine().map(|_| ()))
            .err()
            .map(|e| e.path)
    };
    assert_eq!(
        refused(&|c| c["authentication"]["frontProxy"] = json!({"allowedNames": []})),
        Some("authentication.frontProxy.allowedNames".into())
    );
    assert_eq!(
        refused(&|c| c["authentication"]["spiffe"] = json!({"trustDomains": ["Cluster.Local"]})),
        Some("authentication.spiffe.trustDomains[0]".into())
    );
    assert_eq!(
        refused(&|c| c["authentication"]["order"] = json!(["token", "token"])),
        Some("authentication.order[1]".into())
    );
    assert_eq!(
        refused(&|c| c["authentication"]["order"] = json!(["spiffe", "token"])),
        Some("authentication.order".into())
    );
    assert_eq!(
        refused(&|c| {
            c["authentication"]["spiffe"] = Value::Null;
            c["authentication"]["senderConstraint"] = json!(true);
        }),
        Some("authentication.senderConstraint".into())
    );
    assert_eq!(
        refused(&|c| c["authentication"]["staticTokens"][0]["tokenSHA256"] = json!("abc")),
        Some("authentication.staticTokens[0].tokenSHA256".into())
    );
    // Only certificates, no issuer: a configuration of its own.
    let mut peers_only = config();
    let authentication = peers_only["authentication"].as_object_mut().unwrap();
    for field in ["jwt", "staticTokens", "bootstrapTokens", "tokenSources"] {
        authentication.remove(field);
    }
    assert!(PluginConfig::from_value(peers_only)
        .unwrap()
        .engine()
        .is_ok());
}

/// Real Envoy 1.40 with a listener that validates client certificates against a test CA
/// (made here with openssl), and curl presenting them: a SPIFFE workload allowed and denied
/// by RBAC, an x509 user, a front proxy believed only with its own certificate, static and
/// bootstrap tokens, a certificate from another CA refused at the handshake, and a
/// service-account token replayed from the wrong workload.
#[test]
fn real_envoy_authenticates_peers_by_their_certificates() {
    use common::envoy::*;
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("peers");
    let (cert, key) = certificate(&dir);
    let ca = client_ca(&dir);
    let web = client_certificate(
        &dir,
        "web",
        "/O=cluster.local",
        Some("URI:spiffe://cluster.local/ns/frontend/sa/web"),
    );
    let worker = client_certificate(
        &dir,
        "worker",
        "/O=cluster.local",
        Some("URI:spiffe://cluster.local/ns/payments/sa/worker"),
    );
    let alice = client_certificate(&dir, "alice", "/CN=alice/O=dev/O=operators", None);
    let proxy = client_certificate(&dir, "front-proxy", "/CN=front-proxy", None);
    // Another CA's certificate, with the same subject as an allowed one.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    client_ca(&other_dir);
    let stranger = client_certificate(&other_dir, "alice", "/CN=alice/O=operators", None);

    let (_upstream, upstream_port) = start_upstream(&dir);
    let mtls = |yaml: &str| with_mtls(yaml, &cert, &key, &ca);
    let envoy = start_envoy_edited(&envoy_bin, &dir, upstream_port, &config(), &[], &mtls);
    let user_of = |body: &str| -> String {
        let echo: Value = serde_json::from_str(body).unwrap_or_default();
        let headers = echo["headers"].as_array().cloned().unwrap_or_default();
        let users: Vec<&str> = headers
            .iter()
            .filter(|h| h[0] == "x-remote-user")
            .filter_map(|h| h[1].as_str())
            .collect();
        users.join(",")
    };
    let reason_of = |body: &str| -> String {
        let reply: Value = serde_json::from_str(body).unwrap_or_default();
        reply["reason"].as_str().unwrap_or_default().to_owned()
    };
    let call = |method, target, headers: &[(&str, &str)], client| {
        curl_tls(envoy.port, method, target, headers, client)
    };

    let (status, body) = call("POST", "/orders", &[], Some(&web));
    assert_eq!(
        (status.as_str(), user_of(&body).as_str()),
        ("200", "system:serviceaccount:frontend:web"),
        "{body}"
    );
    let (status, body) = call("POST", "/orders", &[], Some(&worker));
    assert_eq!(status, "403", "{body}");
    let (status, body) = call("GET", "/orders", &[], Some(&worker));
    assert_eq!(status, "200", "{body}");
    let (status, body) = call("POST", "/orders", &[], Some(&alice));
    assert_eq!((status.as_str(), user_of(&body).as_str()), ("200", "alice"));

    let carol = [("X-Remote-User", "carol"), ("X-Remote-Group", "operators")];
    let (status, body) = call("POST", "/orders", &carol, Some(&proxy));
    assert_eq!((status.as_str(), user_of(&body).as_str()), ("200", "carol"));
    // From another certificate the headers are nobody's word: the certificate's own user,
    // and the forged name never reaches the upstream.
    let (status, body) = call("GET", "/orders", &carol, Some(&alice));
    assert_eq!((status.as_str(), user_of(&body).as_str()), ("200", "alice"));
    let (status, body) = call("POST", "/orders", &carol, None);
    assert_eq!(
        (status.as_str(), reason_of(&body).as_str()),
        ("401", "proxy_not_allowed")
    );

    let bearer = |token: &str| format!("Bearer {token}");
    let static_auth = bearer(STATIC_TOKEN);
    let (status, body) = call("POST", "/orders", &[("authorization", &static_auth)], None);
    assert_eq!(
        (status.as_str(), user_of(&body).as_str()),
        ("200", "ops-bot")
    );
    let bootstrap_auth = bearer(BOOTSTRAP_TOKEN);
    let (status, body) = call(
        "GET",
        "/healthz",
        &[("authorization", &bootstrap_auth)],
        None,
    );
    assert_eq!(
        (status.as_str(), user_of(&body).as_str()),
        ("200", "system:bootstrap:07401b")
    );
    let (status, _) = call(
        "POST",
        "/orders",
        &[("authorization", &bootstrap_auth)],
        None,
    );
    assert_eq!(status, "403");

    // A certificate the listener's CA did not sign never gets as far as the filter.
    let (status, _) = call("POST", "/orders", &[], Some(&stranger));
    assert_eq!(status, "000");
    assert_eq!(stat(envoy.admin, "meshguard.decision.allow.allowed"), 7);

    // Sender constraint: the web workload's token works from the web workload only.
    let constrained = start_envoy_edited(
        &envoy_bin,
        &dir,
        upstream_port,
        &constrained_config(),
        &[],
        &mtls,
    );
    let now = now();
    let token = common::mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        json!({"iss": common::SA_ISSUER, "aud": ["meshguard"],
            "sub": "system:serviceaccount:frontend:web", "iat": now, "exp": now + 600,
            "kubernetes.io": {"namespace": "frontend",
                              "serviceaccount": {"name": "web", "uid": "sa-web"}}}),
    );
    let auth = bearer(&token);
    let headers = [("authorization", auth.as_str())];
    let own = curl_tls(constrained.port, "POST", "/orders", &headers, Some(&web));
    assert_eq!(own.0, "200", "{}", own.1);
    let replayed = curl_tls(constrained.port, "POST", "/orders", &headers, Some(&worker));
    assert_eq!(
        (replayed.0.as_str(), reason_of(&replayed.1).as_str()),
        ("401", "sender_mismatch")
    );
}

/// `meshguard verify --peer-cert`: the identity a peer presenting a certificate would get,
/// alone or with a token (sender constraint included), from certificates made by openssl.
#[test]
fn the_cli_shows_the_identity_a_certificate_gives() {
    use common::envoy::{client_ca, client_certificate, temp_dir};
    let dir = temp_dir("cli-peers");
    client_ca(&dir);
    let (web, _) = client_certificate(
        &dir,
        "web",
        "/O=cluster.local",
        Some("URI:spiffe://cluster.local/ns/frontend/sa/web"),
    );
    let (worker, _) = client_certificate(
        &dir,
        "worker",
        "/O=cluster.local",
        Some("URI:spiffe://cluster.local/ns/payments/sa/worker"),
    );
    let (alice, _) = client_certificate(&dir, "alice", "/CN=alice, jr/O=dev/O=operators", None);
    let write = |name: &str, config: Value| {
        let path = dir.join(name);
        std::fs::write(&path, config.to_string()).unwrap();
        path.display().to_string()
    };
    let all = write("all.json", config());
    let constrained = write("constrained.json", constrained_config());
    let verify = |args: &[&str]| -> (i32, Value) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_meshguard"))
            .arg("verify")
            .args(["--now", &NOW.to_string()])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}{stderr}"));
        (output.status.code().unwrap(), json)
    };

    let (code, out) = verify(&["--config", &all, "--peer-cert", &web]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["authenticator"], "spiffe");
    assert_eq!(
        out["user"]["username"],
        "system:serviceaccount:frontend:web"
    );
    assert_eq!(
        out["peer"]["uriSAN"],
        "spiffe://cluster.local/ns/frontend/sa/web"
    );

    // The subject as Envoy renders it (last RDN first, the comma escaped), read back exactly.
    let (code, out) = verify(&["--config", &all, "--peer-cert", &alice]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["peer"]["subject"], r"O=operators,O=dev,CN=alice\, jr");
    assert_eq!(out["authenticator"], "x509");
    assert_eq!(out["user"]["username"], "alice, jr");
    assert_eq!(
        out["user"]["groups"],
        json!(["dev", "operators", "system:authenticated"])
    );

    let (code, out) = verify(&["--config", &all, STATIC_TOKEN]);
    assert_eq!((code, &out["authenticator"]), (0, &json!("staticToken")));

    let token = sa_token(sa("frontend", "web"));
    let (code, out) = verify(&["--config", &constrained, "--peer-cert", &web, &token]);
    assert_eq!((code, &out["authenticator"]), (0, &json!("jwt")), "{out}");
    let (code, out) = verify(&["--config", &constrained, "--peer-cert", &worker, &token]);
    assert_eq!(
        (code, &out["reason"]),
        (1, &json!("sender_mismatch")),
        "{out}"
    );
}
