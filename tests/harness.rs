//! The filter's lifecycle in the wasmtime host: configuration accepted and refused, the last
//! good policy kept, node metadata, dry-run, anonymous access, forwarding options, what the
//! logs may hold, and inputs that must never trap the module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::host::{Exchange, Host};
use common::scenarios::{sa, sa_token, with};
use common::{forge, NOW, SA_ISSUER};
use serde_json::{json, Value};

const CRITICAL: i32 = 5;

fn started(config: &Value) -> Host {
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(
        host.start(&config.to_string()),
        "refused: {:?}",
        host.state().logs
    );
    host
}

fn web() -> String {
    sa_token(sa("frontend", "web"))
}

fn send(host: &mut Host, method: &str, path: &str, list: &[(&str, &str)]) -> Exchange {
    host.request(method, path, list)
}

fn decision_line(exchange: &Exchange) -> Value {
    let line = exchange
        .logs
        .iter()
        .find_map(|(_, m)| m.strip_prefix("meshguard: decision "))
        .unwrap_or_else(|| panic!("no decision line in {:?}", exchange.logs));
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_good_configuration_is_compiled_once_and_counters_exist_before_traffic() {
    let mut host = started(&demo_plugin_config());
    let logs = host.state().logs.clone();
    assert!(
        logs.iter().any(|(level, m)| *level == 2
            && m.contains("configured: 2 issuer(s)")
            && m.contains("bundle revision")),
        "{logs:?}"
    );
    // Known counters are defined at 0, so dashboards see them before the first request.
    for name in [
        "meshguard.requests_total",
        "meshguard.decision.allow.allowed",
        "meshguard.decision.deny.forbidden",
        "meshguard.decision.deny.token_expired",
        "meshguard.config.rejected",
    ] {
        assert!(
            host.state().metrics.iter().any(|m| m.name == name),
            "{name} not defined"
        );
        assert_eq!(host.state().counter(name), 0, "{name}");
    }
    let token = web();
    let exchange = send(
        &mut host,
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(exchange.status(), 200);
    assert_eq!(host.state().counter("meshguard.requests_total"), 1);
    assert_eq!(host.state().counter("meshguard.decision.allow.allowed"), 1);
    // The HTTP context went through the whole stream and was deleted.
    let calls = &host.state().calls;
    assert!(calls.contains(&"proxy_get_header_map_pairs"));
}

#[test]
fn a_bad_configuration_is_refused_with_the_field_named_and_requests_fail_closed() {
    let good = demo_plugin_config();
    let mut unknown_key = good.clone();
    unknown_key["forwarding"]["userHeaders"] = json!("x-user");
    let mut bad_mode = good.clone();
    bad_mode["mode"] = json!("permissive");
    let mut bad_audiences = good.clone();
    bad_audiences["authentication"]["jwt"][0]["issuer"]["audiences"] = json!("meshguard");
    let mut identity_not_a_flag = good.clone();
    identity_not_a_flag["forwarding"]["identity"] = json!("no");
    let mut bad_bundle = good.clone();
    bad_bundle["authorization"]["bundle"] = json!([{"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding", "metadata": {"name": "x"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}]}]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown key",
            unknown_key.to_string().into_bytes(),
            "userHeaders",
        ),
        ("bad mode", bad_mode.to_string().into_bytes(), "mode"),
        (
            "audiences not a list",
            bad_audiences.to_string().into_bytes(),
            "authentication.jwt[0].issuer.audiences",
        ),
        (
            "RoleBinding without a namespace",
            bad_bundle.to_string().into_bytes(),
            "namespace",
        ),
        (
            "identity not a boolean",
            identity_not_a_flag.to_string().into_bytes(),
            "forwarding.identity",
        ),
        ("not JSON", b"authentication: {}".to_vec(), "line 1"),
        ("not UTF-8", vec![b'{', 0xff, b'}'], "UTF-8"),
        ("empty", Vec::new(), "EOF"),
    ];
    for (name, config, field) in cases {
        let mut host = Host::new();
        host.set_time(NOW);
        host.state_mut().effective_context = host.root_id;
        host.call("proxy_on_context_create", &[host.root_id as i32, 0]);
        assert_eq!(host.call("proxy_on_vm_start", &[host.root_id as i32, 0]), 1);
        assert!(!host.configure_bytes(&config), "{name}: accepted");
        let critical = host.state().logs_at_least(CRITICAL).join("\n");
        assert!(
            critical.contains("configuration rejected") && critical.contains(field),
            "{name}: critical log {critical:?} does not name {field:?}"
        );
        assert!(
            !critical.contains("stays in force"),
            "{name}: nothing was in force"
        );
        assert_eq!(host.state().counter("meshguard.config.rejected"), 1);

        // Had the host gone on, every request would be refused: closed, not open.
        let token = web();
        let exchange = send(
            &mut host,
            "GET",
            "/orders/42",
            &[("authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(exchange.status(), 503, "{name}");
        assert_eq!(
            exchange.local_reply.unwrap().json()["reason"],
            "not_configured"
        );
    }
}

#[test]
fn a_bad_update_keeps_the_last_good_policy_and_a_good_one_replaces_it() {
    let good = demo_plugin_config();
    let mut host = started(&good);
    let token = web();
    let auth = format!("Bearer {token}");
    assert_eq!(
        send(&mut host, "POST", "/orders", &[("authorization", &auth)]).status(),
        200
    );

    let mut broken = good.clone();
    broken["authorization"]["requestMapping"]["mode"] = json!("rest");
    assert!(!host.configure(&broken.to_string()));
    let critical = host.state().logs_at_least(CRITICAL).join("\n");
    assert!(
        critical.contains("authorization.requestMapping.mode")
            && critical.contains("the previous configuration stays in force"),
        "{critical}"
    );
    assert_eq!(
        send(&mut host, "POST", "/orders", &[("authorization", &auth)]).status(),
        200,
        "the last good policy must stay in force"
    );

    // A good update with an empty bundle takes over: nothing is allowed any more.
    let mut empty = good.clone();
    empty["authorization"]["bundle"] = json!([]);
    assert!(host.configure(&empty.to_string()));
    let exchange = send(&mut host, "POST", "/orders", &[("authorization", &auth)]);
    assert_eq!(exchange.status(), 403);
    assert_eq!(host.state().counter("meshguard.config.rejected"), 1);
}

/// Proxies before Envoy 1.40 expose the node as the attribute `node` (1.40: `xds.node`, as
/// `tests/service_proxy.rs` and `tests/istio.rs` set it); both are read.
#[test]
fn the_workload_namespace_comes_from_node_metadata_when_the_config_has_none() {
    let mut config = demo_plugin_config();
    config["authorization"]["requestMapping"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let api = sa_token(sa("orders", "api"));
    let web = web();

    // The payments sidecar: orders' api may charge, the web frontend may not place orders.
    let mut payments = Host::new();
    payments.set_time(NOW);
    payments.set_property(&["node", "metadata", "NAMESPACE"], b"payments");
    assert!(payments.start(&config.to_string()));
    let charge = send(
        &mut payments,
        "POST",
        "/charges",
        &[("authorization", &format!("Bearer {api}"))],
    );
    assert_eq!(charge.status(), 200);
    assert_eq!(decision_line(&charge)["namespace"], "payments");
    let order = send(
        &mut payments,
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {web}"))],
    );
    assert_eq!(order.status(), 403);
    let status = order.local_reply.unwrap().json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with(r#"in the namespace "payments""#),
        "{status}"
    );

    // The orders sidecar: the same configuration, the other answer.
    let mut orders = Host::new();
    orders.set_time(NOW);
    orders.set_property(&["node", "metadata", "NAMESPACE"], b"orders");
    assert!(orders.start(&config.to_string()));
    let order = send(
        &mut orders,
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {web}"))],
    );
    assert_eq!(order.status(), 200);
    assert_eq!(decision_line(&order)["namespace"], "orders");
}

#[test]
fn dry_run_decides_counts_and_lets_everything_through() {
    let mut config = demo_plugin_config();
    config["mode"] = json!("dryRun");
    let mut host = started(&config);
    let web = web();
    let cases = [
        (
            "DELETE",
            "/orders/42",
            Some(web.as_str()),
            "deny:forbidden",
            403,
        ),
        ("GET", "/orders/42", None, "deny:token_missing", 401),
        (
            "GET",
            "/orders/42",
            Some("a.b.c"),
            "deny:token_malformed",
            401,
        ),
        ("GET", "/orders/42", Some(web.as_str()), "allow", 200),
    ];
    for (method, path, token, header, status) in cases {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut list: Vec<(&str, &str)> = vec![("x-meshguard-decision", "allow")];
        if let Some(auth) = &auth {
            list.push(("authorization", auth));
        }
        let exchange = send(&mut host, method, path, &list);
        assert_eq!(
            exchange.status(),
            200,
            "{method} {path}: dry-run never blocks"
        );
        // The caller's forged decision header is replaced by the real one.
        assert_eq!(
            exchange.upstream_header("x-meshguard-decision"),
            [header],
            "{method} {path}"
        );
        let record = decision_line(&exchange);
        assert_eq!(record["status"], status);
        assert_eq!(record["enforced"], status == 200);
    }
    assert_eq!(host.state().counter("meshguard.decision.deny.forbidden"), 1);
    assert_eq!(
        host.state()
            .counter("meshguard.decision.deny.token_missing"),
        1
    );
    assert_eq!(host.state().counter("meshguard.requests_total"), 4);
}

#[test]
fn anonymous_access_makes_a_tokenless_request_system_anonymous_and_rbac_decides() {
    let mut config = demo_plugin_config();
    config["anonymous"] = json!({"enabled": true});
    let mut host = started(&config);
    let exchange = send(&mut host, "GET", "/orders/42", &[]);
    assert_eq!(exchange.status(), 403);
    let status = exchange.local_reply.unwrap().json();
    assert_eq!(
        status["message"],
        r#"User "system:anonymous" cannot get resource "orders" in API group "" in the namespace "orders""#
    );
    // The mesh policy gives nothing to system:unauthenticated, not even /healthz.
    assert_eq!(send(&mut host, "GET", "/healthz", &[]).status(), 403);
    // A bad token is still a 401: anonymity is for the absent token only.
    let bad = send(
        &mut host,
        "GET",
        "/orders/42",
        &[("authorization", "Bearer x.y.z")],
    );
    assert_eq!(bad.status(), 401);

    // With a binding for system:unauthenticated, the anonymous request goes through and
    // carries its identity upstream.
    let bundle = &mut config["authorization"]["bundle"];
    // Edited by hand: the built revision no longer holds, and an absent one is computed.
    bundle.as_object_mut().unwrap().remove("revision");
    bundle["clusterRoleBindings"].as_array_mut().unwrap().push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "public-health"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "public-health"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}]}));
    bundle["clusterRoles"].as_array_mut().unwrap().push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "public-health"},
        "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}));
    assert!(
        host.configure(&config.to_string()),
        "{:?}",
        host.state().logs
    );
    let health = send(&mut host, "GET", "/healthz", &[]);
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.upstream_header("x-remote-user"),
        ["system:anonymous"]
    );
    assert_eq!(
        health.upstream_header("x-remote-group"),
        ["system:unauthenticated"]
    );
}

#[test]
fn forwarding_uses_the_configured_names_strips_forgeries_and_optionally_the_token() {
    let mut config = demo_plugin_config();
    config["forwarding"] = json!({
        "userHeader": "X-Auth-User",
        "groupHeader": "X-Auth-Groups",
        "extraHeaderPrefix": "X-Auth-Extra-",
        "stripToken": true
    });
    let mut host = started(&config);
    let token = web();
    let auth = format!("Bearer {token}");
    let exchange = send(
        &mut host,
        "GET",
        "/orders/42",
        &[
            ("authorization", &auth),
            ("x-auth-user", "system:admin"),
            ("x-auth-groups", "system:masters"),
            ("x-auth-extra-scopes", "everything"),
            ("x-remote-user", "left alone"),
        ],
    );
    assert_eq!(exchange.status(), 200);
    assert_eq!(
        exchange.upstream_header("x-auth-user"),
        ["system:serviceaccount:frontend:web"]
    );
    assert_eq!(
        exchange.upstream_header("x-auth-groups"),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:frontend",
            "system:authenticated"
        ]
    );
    assert!(exchange.upstream_header("x-auth-extra-scopes").is_empty());
    assert_eq!(
        exchange.upstream_header("x-auth-extra-authentication.kubernetes.io%2fpod-name"),
        ["web-5c8d"]
    );
    // The token went no further.
    assert!(exchange.upstream_header("authorization").is_empty());
    // Not an identity header under this configuration: passed on as it came.
    assert_eq!(exchange.upstream_header("x-remote-user"), ["left alone"]);
}

#[test]
fn identity_headers_and_filter_state_can_be_turned_off() {
    let mut config = demo_plugin_config();
    config["forwarding"] = json!({
        "decisionHeader": "x-meshguard-decision",
        "identity": false,
        "filterState": false
    });
    let mut host = started(&config);
    let auth = format!("Bearer {}", web());
    let forged = [
        ("authorization", auth.as_str()),
        ("x-remote-user", "system:admin"),
        ("x-remote-group", "system:masters"),
        ("x-remote-extra-scopes", "everything"),
    ];
    let exchange = send(&mut host, "GET", "/orders/42", &forged);
    assert_eq!(exchange.status(), 200);
    assert_eq!(exchange.upstream_header("x-meshguard-decision"), ["allow"]);
    for name in ["x-remote-user", "x-remote-group", "x-remote-extra-scopes"] {
        assert!(
            exchange.upstream_header(name).is_empty(),
            "{name}: a forged identity is removed, none is added"
        );
    }
    assert!(exchange
        .upstream_headers
        .iter()
        .all(|(name, _)| !name.starts_with("x-remote-")));
    let denied = send(&mut host, "DELETE", "/orders/42", &forged);
    assert_eq!(denied.status(), 403);
    assert!(host.state().property(&["meshguard_decision"]).is_none());
    assert!(host.state().property(&["meshguard_user"]).is_none());
    assert!(!host.state().calls.contains(&"proxy_set_property"));
    // Both on by default.
    let mut host = started(&demo_plugin_config());
    let exchange = send(&mut host, "GET", "/orders/42", &forged);
    assert_eq!(
        exchange.upstream_header("x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    assert_eq!(
        host.state().property(&["meshguard_decision"]),
        Some(b"allow".as_slice())
    );
}

#[test]
fn no_log_line_holds_a_token_or_its_signature() {
    let mut host = started(&demo_plugin_config());
    let valid = web();
    let expired = sa_token(with(
        sa("frontend", "web"),
        json!({"iat": NOW - 7200, "exp": NOW - 3600}),
    ));
    let wrong_audience = sa_token(with(sa("frontend", "web"), json!({"aud": ["other"]})));
    let forged = forge(
        json!({"alg": "none", "typ": "JWT"}),
        json!({"iss": SA_ISSUER, "sub": "system:admin"}),
    );
    let tokens = [valid, expired, wrong_audience, forged];
    for token in &tokens {
        for path in ["/orders/42", "/charges", "/healthz"] {
            send(
                &mut host,
                "GET",
                path,
                &[("authorization", &format!("Bearer {token}"))],
            );
        }
    }
    let text: String = host
        .state()
        .logs
        .iter()
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("token_expired") && text.contains("audience_mismatch"));
    for token in &tokens {
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "a log line holds token part {part}");
        }
    }
}

#[test]
fn header_values_that_are_not_utf8_never_trap_the_module() {
    let mut host = started(&demo_plugin_config());
    let token = web();
    let auth = format!("Bearer {token}");
    let request = |host: &mut Host, path: &str, binary: Vec<(&str, Vec<u8>)>| {
        host.state_mut().binary_request_headers =
            binary.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        send(host, "GET", path, &[("authorization", &auth)])
    };
    // Latin-1 in an unrelated header (obs-text, which Envoy passes): decided as usual.
    let ok = request(
        &mut host,
        "/orders/42",
        vec![("user-agent", b"Bot/1.0 (\xa1\xb1)".to_vec())],
    );
    assert_eq!(ok.status(), 200);
    // A forged identity header in bytes is still removed.
    let forged = request(
        &mut host,
        "/orders/42",
        vec![("x-remote-user", b"adm\xffin".to_vec())],
    );
    assert_eq!(forged.status(), 200);
    assert_eq!(
        forged.upstream_header("x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    // A second, damaged token: every token must verify.
    let damaged = request(
        &mut host,
        "/orders/42",
        vec![("authorization", b"Bearer \xff\xfe".to_vec())],
    );
    assert_eq!(damaged.status(), 401);
    assert_eq!(
        decision_line(&damaged)["reason"],
        json!("token_malformed"),
        "{:?}",
        damaged.logs
    );

    // A path that is not UTF-8 is refused, not guessed at.
    host.state_mut().binary_request_headers = vec![(":path".into(), b"/orders/\xc0\xae".to_vec())];
    let mut all: Vec<(String, String)> = vec![
        (":method".into(), "GET".into()),
        (":authority".into(), "orders".into()),
        ("authorization".into(), auth.clone()),
    ];
    all.sort();
    let refused = host.request_with(all, b"");
    assert_eq!(refused.status(), 400);
    let record = decision_line(&refused);
    assert_eq!(record["reason"], "request_rejected");
    assert!(record["detail"].as_str().unwrap().contains(":path"));
    assert_eq!(
        host.state()
            .counter("meshguard.decision.deny.request_rejected"),
        1
    );
    // And the module is still there.
    assert_eq!(
        send(&mut host, "GET", "/orders/42", &[("authorization", &auth)]).status(),
        200
    );
}

/// A small deterministic generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn string(&mut self, alphabet: &[u8], max: usize) -> String {
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| char::from(*self.pick(alphabet))).collect()
    }
}

#[test]
fn thousands_of_hostile_requests_get_an_answer_and_never_a_trap() {
    let mut host = started(&demo_plugin_config());
    let valid = web();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "", "G\tET",
    ];
    let path_alphabet = b"/abcdz09.-_~%2e2fAF?=&#;@:+ \\";
    let token_alphabet = b"ABCXYZabcxyz0189-_.=+/ ";
    let mut seen = std::collections::BTreeMap::new();
    let total = 3000;
    for i in 0..total {
        let path = match i % 4 {
            0 => format!("/orders/{}", rng.string(path_alphabet, 24)),
            1 => rng.string(path_alphabet, 64),
            2 => format!(
                "/orders{}",
                "/..".repeat((rng.next() % 5) as usize) + &rng.string(path_alphabet, 8)
            ),
            _ => "/".repeat((rng.next() % 300) as usize),
        };
        let token = match rng.next() % 6 {
            0 => valid.clone(),
            1 => valid[..(rng.next() as usize % valid.len())].to_owned(),
            2 => rng.string(token_alphabet, 200),
            3 => format!("{valid}{}", rng.string(token_alphabet, 4)),
            4 => "e".repeat(10_000),
            _ => String::new(),
        };
        let mut list = vec![("authorization".to_owned(), format!("Bearer {token}"))];
        if rng.next().is_multiple_of(3) {
            list.push(("authorization".to_owned(), rng.string(token_alphabet, 40)));
        }
        if rng.next().is_multiple_of(4) {
            list.push(("cookie".to_owned(), rng.string(token_alphabet, 80)));
        }
        // Issue 17's tricks: forged identity headers in every spelling, method overrides,
        // tokens in the query and cookies.
        let forged = [
            "x_remote_user",
            "X-Remote-Group",
            "impersonate-user",
            "x_remote_uid",
        ];
        list.push(((*rng.pick(&forged)).to_owned(), "forged".to_owned()));
        match rng.next() % 5 {
            0 => list.push(("x-http-method-override".to_owned(), "DELETE".to_owned())),
            1 => list.push(("cookie".to_owned(), format!("a=b; session={valid}"))),
            _ => {}
        }
        let mut all = vec![
            (":method".to_owned(), (*rng.pick(&methods)).to_owned()),
            (":path".to_owned(), path),
            (":authority".to_owned(), "orders".to_owned()),
        ];
        all.extend(list);
        if i % 7 == 0 {
            let path = &mut all[1].1;
            path.push_str(&format!("?access_token={valid}&x=1"));
        }
        // A trap would panic inside the harness and fail this test.
        let exchange = host.request_with(all, b"");
        let status = exchange.status();
        if status == 200 {
            // Nothing forged and no token ever reaches the upstream.
            assert!(
                !exchange
                    .upstream_headers
                    .iter()
                    .any(|(_, v)| v == "forged" || v.contains(&valid)),
                "request {i}: {:?}",
                exchange.upstream_headers
            );
        }
        assert!(
            [200, 400, 401, 403].contains(&status),
            "request {i}: status {status}"
        );
        *seen.entry(status).or_insert(0) += 1;
    }
    assert_eq!(host.state().counter("meshguard.requests_total"), total);
    // The mix really exercised every outcome.
    for status in [200, 400, 401, 403] {
        assert!(seen.get(&status).copied().unwrap_or(0) > 0, "{seen:?}");
    }
    assert!(host.state().logs_at_least(CRITICAL).is_empty());
}

/// A minimal proxy-wasm module in WebAssembly text that uses what the filter does not yet:
/// on configure it sets a 1 s tick and a shared value; on each tick it calls the `jwks`
/// cluster; the response body becomes the shared value. The harness must carry all of it.
const CALLOUT_MODULE: &str = r#"
(module
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  ;; 0: cluster name; 16: serialized callout headers (3 pairs); 200: key; 210: first value.
  (data (i32.const 0) "jwks")
  (data (i32.const 16) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\05\00\00\00\0a\00\00\00\03\00\00\00:method\00GET\00:path\00/keys\00:authority\00idp\00")
  (data (i32.const 200) "k")
  (data (i32.const 210) "v1")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick_period (i32.const 1000)))
    (drop (call $set_shared (i32.const 200) (i32.const 1) (i32.const 210) (i32.const 2) (i32.const 0)))
    (i32.const 1))
  ;; The callout token goes to address 300 (its status to 312).
  (func (export "proxy_on_tick") (param i32)
    (i32.store (i32.const 312)
      (call $http_call (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 67)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 300))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $get_buffer (i32.const 4) (i32.const 0) (local.get 3) (i32.const 304) (i32.const 308)))
    (drop (call $set_shared (i32.const 200) (i32.const 1)
      (i32.load (i32.const 304)) (i32.load (i32.const 308)) (i32.const 0))))
)
"#;

#[test]
fn the_harness_carries_ticks_http_callouts_and_shared_data() {
    let mut host = Host::from_wat(CALLOUT_MODULE);
    assert!(host.start(""));
    assert_eq!(host.state().tick_period_ms, 1000);
    assert_eq!(host.shared("k").unwrap(), (b"v1".to_vec(), 1));

    // A callout to a cluster the proxy does not have is refused, as Envoy refuses it.
    host.tick(1000);
    assert!(host.state().http_calls.is_empty());

    host.state_mut().clusters.push("jwks".to_owned());
    host.tick(1000);
    let call = host.state().http_calls[0].clone();
    assert_eq!(call.upstream, "jwks");
    assert_eq!(call.timeout_ms, 500);
    assert!(call
        .headers
        .contains(&(":path".to_owned(), "/keys".to_owned())));
    assert_eq!(call.context_id, host.root_id);

    let body = br#"{"keys":[]}"#;
    assert!(host.http_call_response(call.token, &[(":status", "200")], body));
    assert_eq!(host.shared("k").unwrap(), (body.to_vec(), 2));
    assert!(host.state().http_calls.is_empty());
    // A token that was answered, or never issued, finds nothing.
    assert!(!host.http_call_response(call.token, &[], b""));
}

#[test]
fn without_a_clock_requests_are_refused_not_checked_against_time_zero() {
    let mut host = started(&demo_plugin_config());
    // A token without iat or nbf that expired long ago: at time 0 its exp would be in the future.
    let stale = sa_token(json!({
        "iss": SA_ISSUER, "aud": ["meshguard"], "sub": "system:serviceaccount:frontend:web",
        "exp": NOW - 86_400,
        "kubernetes.io": {"namespace": "frontend", "serviceaccount": {"name": "web", "uid": "sa-web"}}
    }));
    let auth = format!("Bearer {stale}");
    host.state_mut().clock_fails = true;
    let exchange = send(&mut host, "GET", "/orders/42", &[("authorization", &auth)]);
    let reply = exchange.local_reply.as_ref().expect("a local reply");
    assert_eq!(reply.status, 503);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["reason"], "clock_unavailable");
    assert_eq!(
        host.state()
            .counter("meshguard.decision.deny.clock_unavailable"),
        1
    );
    // The clock back: the same token is expired, and a good one passes.
    host.state_mut().clock_fails = false;
    let exchange = send(&mut host, "GET", "/orders/42", &[("authorization", &auth)]);
    assert_eq!(exchange.status(), 401);
    let good = format!("Bearer {}", web());
    let exchange = send(&mut host, "GET", "/orders/42", &[("authorization", &good)]);
    assert_eq!(exchange.status(), 200);
}
