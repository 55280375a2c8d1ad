//! The per-service policy (`policies/services`, `serviceProxy` mode with gRPC mapping) through
//! the core and through the built `.wasm`: the workload's namespace and service come from node
//! metadata, and a gRPC call is answered in gRPC's terms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::services_plugin_config;
use common::host::Host;
use common::scenarios::{sa, sa_token};
use common::NOW;
use meshguard::config::PluginConfig;
use meshguard::decision::{Action, HttpRequest};
use meshguard::request_info::Workload;

/// A sidecar of the workload `service` in `namespace`, as Istio describes it in node metadata.
fn sidecar(namespace: &str, service: &str) -> Host {
    let mut host = Host::new();
    host.set_time(NOW);
    host.set_node_metadata(namespace, service);
    assert!(
        host.start(&services_plugin_config().to_string()),
        "{:?}",
        host.state().logs
    );
    host
}

/// (caller namespace, caller service account, method, path, gRPC?, status, grpc-status)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    u32,
    i32,
);

const ORDERS_TABLE: [Row; 10] = [
    ("frontend", "web", "POST", "/orders", false, 200, -1),
    ("frontend", "web", "DELETE", "/orders/42", false, 200, -1),
    ("batch", "worker", "GET", "/orders/42", false, 200, -1),
    ("batch", "worker", "HEAD", "/orders", false, 200, -1),
    ("batch", "worker", "POST", "/orders", false, 403, -1),
    ("orders", "api", "GET", "/orders", false, 403, -1),
    (
        "batch",
        "worker",
        "POST",
        "/orders.v1.OrderService/GetOrder",
        true,
        200,
        -1,
    ),
    (
        "batch",
        "worker",
        "POST",
        "/orders.v1.OrderService/CancelOrder",
        true,
        403,
        7,
    ),
    (
        "frontend",
        "web",
        "POST",
        "/orders.v1.OrderService/CancelOrder",
        true,
        200,
        -1,
    ),
    ("batch", "worker", "GET", "/healthz", false, 200, -1),
];

fn headers_for(token: &str, grpc: bool) -> Vec<(String, String)> {
    let mut headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
    if grpc {
        headers.push(("content-type".to_owned(), "application/grpc".to_owned()));
        headers.push(("te".to_owned(), "trailers".to_owned()));
    }
    headers
}

#[test]
fn the_orders_sidecar_answers_per_service_and_per_grpc_method_in_core_and_wasm() {
    let engine = PluginConfig::from_value(services_plugin_config())
        .unwrap()
        .engine()
        .unwrap();
    let workload = Workload {
        namespace: "orders".into(),
        service: "orders".into(),
    };
    let mut host = sidecar("orders", "orders");
    for (namespace, name, method, path, grpc, status, grpc_status) in ORDERS_TABLE {
        let token = sa_token(sa(namespace, name));
        let headers = headers_for(&token, grpc);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let verdict = engine.decide(
            &HttpRequest {
                method,
                target: path,
                headers: &pairs,
                workload: &workload,
                tls: None,
                peer: None,
            },
            NOW,
        );
        let core_status = match &verdict.action {
            Action::Respond(reply) => {
                assert_eq!(
                    reply.grpc_status.map_or(-1, |s| s as i32),
                    grpc_status,
                    "{name} {method} {path}"
                );
                u32::from(reply.status)
            }
            Action::Continue { .. } => 200,
        };
        assert_eq!(core_status, status, "core: {name} {method} {path}");

        let borrowed: Vec<(&str, &str)> = pairs.clone();
        let exchange = host.request(method, path, &borrowed);
        assert_eq!(exchange.status(), status, "wasm: {name} {method} {path}");
        if let Some(reply) = &exchange.local_reply {
            assert_eq!(reply.grpc_status, grpc_status, "{name} {method} {path}");
        }
    }
}

#[test]
fn the_same_configuration_in_another_sidecar_asks_about_that_service() {
    // The payments sidecar: orders' api may charge; the frontend, allowed on orders, is not.
    let mut host = sidecar("payments", "payments");
    let api = sa_token(sa("orders", "api"));
    let web = sa_token(sa("frontend", "web"));
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        host.request("POST", "/charges", &[("authorization", &bearer(&api))])
            .status(),
        200
    );
    let denied = host.request("POST", "/charges", &[("authorization", &bearer(&web))]);
    assert_eq!(denied.status(), 403);
    let status = denied.local_reply.unwrap().json();
    assert_eq!(
        status["message"],
        "User \"system:serviceaccount:frontend:web\" cannot create resource \"services/proxy\" in API group \"\" in the namespace \"payments\""
    );
}

#[test]
fn grpc_denials_are_trailers_only_answers_with_the_reason_in_grpc_message() {
    let mut host = sidecar("orders", "orders");
    let worker = sa_token(sa("batch", "worker"));
    let grpc = [("content-type", "application/grpc")];
    let mut headers = vec![("authorization", format!("Bearer {worker}"))];
    headers.extend(grpc.iter().map(|(n, v)| (*n, (*v).to_owned())));
    let list: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let denied = host.request("POST", "/orders.v1.OrderService/CancelOrder", &list);
    let reply = denied.local_reply.unwrap();
    assert_eq!((reply.status, reply.grpc_status), (403, 7));
    assert_eq!(reply.header("content-type"), None, "{:?}", reply.headers);
    assert!(
        reply.body.starts_with("forbidden: User \"system:serviceaccount:batch:worker\" cannot CancelOrder resource \"orders.v1.OrderService\" in API group \"grpc\""),
        "{}",
        reply.body
    );
    // No token: UNAUTHENTICATED, with the challenge kept.
    let missing = host.request("POST", "/orders.v1.OrderService/GetOrder", &grpc);
    let reply = missing.local_reply.unwrap();
    assert_eq!((reply.status, reply.grpc_status), (401, 16));
    assert!(reply.body.starts_with("token_missing: "), "{}", reply.body);
    assert!(reply.header("www-authenticate").is_some());
    // A bad request: INVALID_ARGUMENT, not Envoy's INTERNAL.
    let bad = host.request("POST", "/orders.v1.OrderService/..;/GetOrder", &grpc);
    let reply = bad.local_reply.unwrap();
    assert_eq!((reply.status, reply.grpc_status), (400, 3));
}

#[test]
fn every_reply_to_a_grpc_call_is_in_grpc_terms_a_failed_clock_and_a_non_utf8_header_too() {
    let mut host = sidecar("orders", "orders");
    let grpc = [("content-type", "application/grpc+proto")];
    host.state_mut().clock_fails = true;
    let reply = host
        .request("POST", "/orders.v1.OrderService/GetOrder", &grpc)
        .local_reply
        .unwrap();
    assert_eq!((reply.status, reply.grpc_status), (503, 14));
    assert!(
        reply.body.starts_with("clock_unavailable: "),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("content-type"), None);
    host.state_mut().clock_fails = false;
    // A path that is not UTF-8: 400 request_rejected, as INVALID_ARGUMENT.
    host.state_mut().binary_request_headers =
        vec![(":path".into(), b"/orders.v1.OrderService/\xc0\xae".to_vec())];
    let reply = host
        .request("POST", "/orders.v1.OrderService/GetOrder", &grpc)
        .local_reply
        .unwrap();
    assert_eq!(
        (reply.status, reply.grpc_status),
        (400, 3),
        "{}",
        reply.body
    );
    assert!(
        reply.body.starts_with("request_rejected: "),
        "{}",
        reply.body
    );
}
