//! In `kubernetes` mode, meshguard's 401 and 403 are the kube-apiserver's own `Status`
//! objects (`NewUnauthorized`, `NewForbidden` over the authorization filter's message), so
//! kubectl and client-go print what they print against the apiserver: checked in the core,
//! and with a real kubectl through real Envoy over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::*;
use common::scenarios::{sa, sa_token};
use common::{mint, NOW};
use meshguard::config::PluginConfig;
use meshguard::decision::{Action, HttpRequest};
use meshguard::request_info::Workload;
use serde_json::{json, Value};

fn kubernetes_config() -> Value {
    let mut config = demo_plugin_config();
    config["authorization"]["requestMapping"] = json!({"mode": "kubernetes"});
    config
}

fn reply(method: &str, target: &str, token: Option<&str>) -> (u16, Value) {
    let engine = PluginConfig::from_value(kubernetes_config())
        .unwrap()
        .engine()
        .unwrap();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let verdict = engine.decide(
        &HttpRequest {
            method,
            target,
            headers: &headers,
            workload: &Workload::default(),
            tls: None,
            peer: None,
        },
        NOW,
    );
    let Action::Respond(reply) = verdict.action else {
        panic!("{method} {target} was allowed")
    };
    (reply.status, serde_json::from_str(&reply.body).unwrap())
}

#[test]
fn denials_are_the_apiservers_status_objects_word_for_word() {
    let web = sa_token(sa("frontend", "web"));
    let user = "User \"system:serviceaccount:frontend:web\"";
    let cases = [
        (
            "/api/v1/namespaces/default/pods",
            format!("pods is forbidden: {user} cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
            json!({"kind": "pods"}),
        ),
        (
            "/api/v1/namespaces/default/pods/web-1/log",
            format!("pods \"web-1\" is forbidden: {user} cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""),
            json!({"name": "web-1", "kind": "pods"}),
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments",
            format!("deployments.apps is forbidden: {user} cannot list resource \"deployments\" in API group \"apps\" in the namespace \"default\""),
            json!({"group": "apps", "kind": "deployments"}),
        ),
        (
            "/api/v1/nodes/n1",
            format!("nodes \"n1\" is forbidden: {user} cannot get resource \"nodes\" in API group \"\" at the cluster scope"),
            json!({"name": "n1", "kind": "nodes"}),
        ),
        (
            "/logs",
            format!("forbidden: {user} cannot get path \"/logs\""),
            json!({}),
        ),
    ];
    for (target, message, details) in cases {
        let (status, body) = reply("GET", target, Some(&web));
        assert_eq!(status, 403);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": message, "reason": "Forbidden", "details": details, "code": 403}),
            "{target}"
        );
    }
    let expired = sa_token(common::scenarios::with(
        sa("frontend", "web"),
        json!({"exp": NOW - 600, "iat": NOW - 4000}),
    ));
    for token in [None, Some(expired.as_str()), Some("not-a-token")] {
        let (status, body) = reply("GET", "/api/v1/namespaces/default/pods", token);
        assert_eq!(status, 401);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
}

/// The kubectl on this machine, or `None` (loudly) to skip; in CI a missing kubectl fails.
fn kubectl() -> Option<String> {
    let found = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("kubectl".into());
    }
    if std::env::var_os("CI").is_some() {
        panic!("kubectl is required in CI: .ci/run installs Debian's kubernetes-client");
    }
    eprintln!("\n*** SKIPPED: real kubectl test: no kubectl on the PATH. ***\n");
    None
}

#[test]
fn a_real_kubectl_prints_what_it_prints_against_the_apiserver() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let Some(kubectl) = kubectl() else {
        return;
    };
    let dir = temp_dir("kubectl");
    let (cert, key) = certificate(&dir);
    let (_upstream, upstream_port) = start_upstream(&dir);
    let envoy = start_envoy_edited(
        &envoy_bin,
        &dir,
        upstream_port,
        &kubernetes_config(),
        &[],
        &|yaml| with_tls(yaml, &cert, &key),
    );
    let now = now();
    let web = mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        json!({"iss": "https://kubernetes.default.svc.cluster.local", "aud": ["meshguard"],
               "sub": "system:serviceaccount:frontend:web", "iat": now, "exp": now + 600,
               "kubernetes.io": {"namespace": "frontend",
                                 "serviceaccount": {"name": "web", "uid": "sa-web"}}}),
    );
    let run = |token: &str, path: &str| -> String {
        let output = std::process::Command::new(&kubectl)
            .args(["--kubeconfig", "/dev/null", "--insecure-skip-tls-verify"])
            .arg(format!("--server=https://127.0.0.1:{}", envoy.port))
            .arg(format!("--token={token}"))
            .args(["get", "--raw", path])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{path} was allowed");
        String::from_utf8_lossy(&output.stderr).trim().to_owned()
    };
    let user = "User \"system:serviceaccount:frontend:web\"";
    assert_eq!(
        run(&web, "/api/v1/namespaces/default/pods"),
        format!("Error from server (Forbidden): pods is forbidden: {user} cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        "{}",
        envoy.process.log_text()
    );
    assert_eq!(
        run(&web, "/api/v1/namespaces/default/pods/web-1"),
        format!("Error from server (Forbidden): pods \"web-1\" is forbidden: {user} cannot get resource \"pods\" in API group \"\" in the namespace \"default\"")
    );
    assert_eq!(
        run("not-a-token", "/api/v1/namespaces/default/pods"),
        "error: You must be logged in to the server (Unauthorized)"
    );
}
