//! RBAC decision cost as the bundle grows (10, 1,000, 10,000 bindings), and the cost of
//! loading and compiling a bundle.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use meshguard::bundle::Bundle;
use meshguard::identity::UserInfo;
use meshguard::rbac::Attributes;
use serde_json::{json, Value};

/// A mesh-shaped bundle: `bindings` RoleBindings spread over 100 namespaces, each granting one
/// of a few roles to one service account, plus two ClusterRoleBindings.
fn bundle(bindings: usize) -> Value {
    let mut items = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
               "rules": [{"apiGroups": [""], "resources": ["orders", "orders/items"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "writer"},
               "rules": [{"apiGroups": [""], "resources": ["charges"], "verbs": ["create"]},
                         {"apiGroups": [""], "resources": ["refunds"], "verbs": ["create"], "resourceNames": ["main"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "health"},
               "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "health"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "health"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "writer"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "operators"}]}),
    ];
    for i in 0..bindings.saturating_sub(2) {
        let role = if i % 2 == 0 { "reader" } else { "writer" };
        items.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("b{i}"), "namespace": format!("ns{}", i % 100)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": format!("sa{i}"), "namespace": format!("client{}", i % 50)}],
        }));
    }
    Value::Array(items)
}

fn service_account(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        username: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".into(),
        ],
        ..UserInfo::default()
    }
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("rbac_decision");
    for bindings in [10usize, 1_000, 10_000] {
        let policy = Bundle::from_value(bundle(bindings)).unwrap().compile();
        // sa6 holds binding b6 (reader) in ns6.
        let user = service_account("client6", "sa6");
        let allowed = Attributes::resource("get", "ns6", "", "orders").named("42");
        let denied = Attributes::resource("delete", "ns6", "", "orders").named("42");
        let elsewhere = Attributes::resource("get", "ns7", "", "orders").named("42");
        assert!(policy.authorizer.authorize(&user, &allowed).allowed());
        assert!(!policy.authorizer.authorize(&user, &denied).allowed());
        group.bench_with_input(BenchmarkId::new("allow", bindings), &allowed, |b, a| {
            b.iter(|| policy.authorizer.authorize(black_box(&user), black_box(a)))
        });
        group.bench_with_input(BenchmarkId::new("deny", bindings), &denied, |b, a| {
            b.iter(|| policy.authorizer.authorize(black_box(&user), black_box(a)))
        });
        group.bench_with_input(
            BenchmarkId::new("deny_other_namespace", bindings),
            &elsewhere,
            |b, a| b.iter(|| policy.authorizer.authorize(black_box(&user), black_box(a))),
        );
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("bundle_load_and_compile");
    group.sample_size(10);
    for bindings in [1_000usize, 10_000] {
        let document = bundle(bindings);
        group.bench_with_input(BenchmarkId::from_parameter(bindings), &document, |b, d| {
            b.iter(|| Bundle::from_value(d.clone()).unwrap().compile())
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, compile);
criterion_main!(benches);
