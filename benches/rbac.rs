//! RBAC decision cost as the bundle grows (10, 1,000, 10,000 bindings), and the cost of
//! loading and compiling a bundle.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::rbac::mesh_bundle;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use meshguard::bundle::Bundle;
use meshguard::identity::UserInfo;
use meshguard::rbac::Attributes;

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
        let policy = Bundle::from_value(mesh_bundle(bindings)).unwrap().compile();
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
        let document = mesh_bundle(bindings);
        group.bench_with_input(BenchmarkId::from_parameter(bindings), &document, |b, d| {
            b.iter(|| Bundle::from_value(d.clone()).unwrap().compile())
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, compile);
criterion_main!(benches);
