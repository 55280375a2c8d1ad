//! Service-level policy in real Envoy: the same configuration in two sidecars (node metadata
//! as Istio writes it) answers "who may call this service" by caller and method; a route with
//! fixed attributes; a real gRPC client and server (grpcio) allowed and denied per method,
//! with the gRPC status a client expects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::*;
use common::mint;
use serde_json::{json, Value};

fn sa_token(namespace: &str, name: &str) -> String {
    let now = now();
    mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "aud": ["meshguard"],
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "iat": now, "exp": now + 3600,
            "kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": name, "uid": format!("sa-{name}")}}
        }),
    )
}

fn call(port: u16, method: &str, path: &str, token: &str) -> Response {
    request(
        port,
        method,
        path,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .unwrap()
}

#[test]
fn one_configuration_in_two_sidecars_answers_who_may_call_each_service() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("services-proxy");
    let (_upstream, upstream_port) = start_upstream(&dir);
    let config = services_plugin_config();
    let orders_dir = dir.join("orders");
    let payments_dir = dir.join("payments");
    std::fs::create_dir_all(&orders_dir).unwrap();
    std::fs::create_dir_all(&payments_dir).unwrap();
    let orders = start_envoy_edited(&envoy_bin, &orders_dir, upstream_port, &config, &[], &|y| {
        with_node_metadata(y, "orders", "orders")
    });
    let payments = start_envoy_edited(
        &envoy_bin,
        &payments_dir,
        upstream_port,
        &config,
        &[],
        &|y| with_node_metadata(y, "payments", "payments"),
    );
    // Each sidecar read its workload from the node metadata.
    let log = orders.process.log_text();
    assert!(
        log.contains(r#"requests are services/proxy on "orders" in namespace "orders""#),
        "{log}"
    );
    let (web, worker, api) = (
        sa_token("frontend", "web"),
        sa_token("batch", "worker"),
        sa_token("orders", "api"),
    );
    let table = [
        (&orders, "GET", "/orders/42", &web, 200),
        (&orders, "POST", "/orders", &web, 200),
        (&orders, "DELETE", "/orders/42", &web, 200),
        (&orders, "GET", "/orders?page=2", &worker, 200),
        (&orders, "POST", "/orders", &worker, 403),
        (&orders, "PUT", "/orders/42", &worker, 403),
        (&orders, "GET", "/orders", &api, 403),
        (&orders, "GET", "/healthz", &worker, 200),
        (&payments, "POST", "/charges", &api, 200),
        (&payments, "GET", "/charges/7", &api, 200),
        (&payments, "DELETE", "/charges/7", &api, 403),
        (&payments, "POST", "/charges", &web, 403),
        (&payments, "GET", "/charges", &worker, 403),
    ];
    for (envoy, method, path, token, status) in table {
        let response = call(envoy.port, method, path, token);
        assert_eq!(
            response.status,
            status,
            "{method} {path}: {}\n{}",
            response.body,
            envoy.process.log_text()
        );
        if status == 200 && path != "/healthz" {
            let seen = response.json();
            let user = seen["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0] == "x-remote-user")
                .map(|h| h[1].clone());
            assert!(user.is_some(), "{seen}");
        }
    }
    // The denial names the service-proxy request, as the apiserver would.
    let denied = call(orders.port, "POST", "/orders", &worker);
    let status = denied.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(
        status["message"],
        "User \"system:serviceaccount:batch:worker\" cannot create resource \
         \"services/proxy\" in API group \"\" in the namespace \"orders\""
    );
    assert_eq!(status["details"]["name"], "orders");
}

#[test]
fn a_route_with_fixed_attributes_decides_in_real_envoy() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("services-route");
    let (_upstream, upstream_port) = start_upstream(&dir);
    let mut config = demo_plugin_config();
    // `/api/checkout` is creating an order; `/api/orders/{name}/cancel` is deleting one.
    config["authorization"]["requestMapping"]["routes"] = json!([
        {"path": "/api/checkout", "resource": "orders", "verbs": {"POST": "create"}},
        {"path": "/api/orders/{name}/cancel", "resource": "orders",
         "verbs": {"POST": "delete"}},
        "/api/{resource}/{name}",
        "/api/{resource}"
    ]);
    let envoy = start_envoy(&envoy_bin, &dir, upstream_port, &config);
    let web = sa_token("frontend", "web");
    for (method, path, status) in [
        ("POST", "/api/checkout", 200),
        ("POST", "/api/orders/42/cancel", 403),
        ("GET", "/api/orders/42", 200),
        ("GET", "/api/checkout", 200),
        ("POST", "/checkout", 403),
    ] {
        let response = call(envoy.port, method, path, &web);
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.body
        );
    }
    let denied = call(envoy.port, "POST", "/api/orders/42/cancel", &web).json();
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("cannot delete resource \"orders\""),
        "{denied}"
    );
}

#[test]
fn a_real_grpc_client_is_allowed_and_denied_per_method_with_grpc_statuses() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let Some(python) = grpc_python() else {
        return;
    };
    let dir = temp_dir("services-grpc");
    let (_server, server_port) = start_grpc_upstream(&python, &dir);
    let config = services_plugin_config();
    let envoy = start_envoy_edited(&envoy_bin, &dir, server_port, &config, &[], &|y| {
        with_http2_upstream(&with_node_metadata(y, "orders", "orders"))
    });
    let (web, worker) = (sa_token("frontend", "web"), sa_token("batch", "worker"));
    let expired = {
        let now = now();
        mint(
            "rs256",
            "RS256",
            Some("rsa-1"),
            json!({"iss": "https://kubernetes.default.svc.cluster.local",
                   "aud": ["meshguard"], "sub": "system:serviceaccount:batch:worker",
                   "iat": now - 7200, "exp": now - 3600,
                   "kubernetes.io": {"namespace": "batch",
                                     "serviceaccount": {"name": "worker", "uid": "sa-worker"}}}),
        )
    };
    let results = grpc_calls(
        &python,
        envoy.port,
        &[
            ("/orders.v1.OrderService/CreateOrder", Some(&web)),
            ("/orders.v1.OrderService/GetOrder", Some(&worker)),
            ("/orders.v1.OrderService/CancelOrder", Some(&worker)),
            ("/orders.v1.OrderService/GetOrder", None),
            ("/orders.v1.OrderService/GetOrder", Some(&expired)),
        ],
    );
    let code = |i: usize| results[i]["code"].as_str().unwrap().to_owned();
    let details = |i: usize| results[i]["details"].as_str().unwrap().to_owned();
    assert_eq!(code(0), "OK", "{results:?}\n{}", envoy.process.log_text());
    // The service saw the verified caller, and no token.
    let seen: &Value = &results[0]["response"];
    assert_eq!(seen["method"], "CreateOrder");
    assert_eq!(seen["user"], "system:serviceaccount:frontend:web");
    assert_eq!(seen["authorization"], "");
    assert_eq!(code(1), "OK");
    assert_eq!(
        results[1]["response"]["user"],
        "system:serviceaccount:batch:worker"
    );
    assert_eq!(code(2), "PERMISSION_DENIED", "{results:?}");
    assert!(
        details(2).starts_with(
            "forbidden: User \"system:serviceaccount:batch:worker\" cannot CancelOrder \
             resource \"orders.v1.OrderService\" in API group \"grpc\""
        ),
        "{}",
        details(2)
    );
    assert_eq!(code(3), "UNAUTHENTICATED");
    assert!(details(3).starts_with("token_missing: "), "{}", details(3));
    assert_eq!(code(4), "UNAUTHENTICATED");
    assert!(details(4).starts_with("token_expired: "), "{}", details(4));
}
