//! Native cost of one whole decision (headers → path → token → RBAC → headers to forward) on
//! the demo configuration, with the verified-token cache warm (hit) and without it (miss),
//! for a service-account RS256 token and an OIDC ES256 token.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::envoy::demo_plugin_config;
use common::scenarios::{sa, sa_token};
use common::{mint, NOW};
use criterion::{criterion_group, criterion_main, Criterion};
use meshguard::config::PluginConfig;
use meshguard::decision::HttpRequest;
use meshguard::token::{NoCache, TokenCache, TokenStore};
use serde_json::json;

fn decisions(c: &mut Criterion) {
    let engine = PluginConfig::from_value(demo_plugin_config())
        .unwrap()
        .engine()
        .unwrap();
    let oidc = mint(
        "es256",
        "ES256",
        Some("ec-1"),
        json!({"iss": "https://idp.example.com", "aud": "dashboard", "sub": "u-77",
               "email": "bob@example.com", "email_verified": true, "hd": "example.com",
               "groups": ["support"], "iat": NOW, "exp": NOW + 600}),
    );
    let cases = [
        ("RS256", sa_token(sa("frontend", "web")), "/orders/42"),
        ("ES256", oidc, "/charges/7"),
    ];
    let mut group = c.benchmark_group("decision");
    for (alg, token, path) in &cases {
        let authorization = format!("Bearer {token}");
        let headers = [
            (":method", "GET"),
            (":path", *path),
            (":authority", "orders.orders.svc"),
            ("authorization", authorization.as_str()),
            ("user-agent", "bench"),
        ];
        let request = HttpRequest {
            method: "GET",
            target: path,
            headers: &headers,
            workload: &meshguard::request_info::Workload::in_namespace("orders"),
            tls: None,
            peer: None,
        };
        let mut cache = TokenCache::default();
        let warm = engine.decide_with(&request, NOW, &mut cache as &mut dyn TokenStore);
        assert_eq!(warm.record.reason, "allowed", "{alg}: {:?}", warm.record);
        group.bench_function(format!("{alg}/hit"), |b| {
            b.iter(|| engine.decide_with(std::hint::black_box(&request), NOW, &mut cache))
        });
        group.bench_function(format!("{alg}/miss"), |b| {
            b.iter(|| engine.decide_with(std::hint::black_box(&request), NOW, &mut NoCache))
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
