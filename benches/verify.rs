//! Native cost of verifying one token, per algorithm: the whole `Authenticator::verify` path
//! (decode, key selection, signature, claims, identity), and the decode step alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use meshguard::config::PluginConfig;
use meshguard::token::mint::sign;
use serde_json::{json, Map, Value};

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn claims() -> Map<String, Value> {
    let Value::Object(claims) = json!({
        "iss": ISSUER, "aud": ["meshguard"], "sub": "system:serviceaccount:orders:api",
        "iat": NOW, "exp": NOW + 3600, "jti": "bench",
        "kubernetes.io": {"namespace": "orders", "serviceaccount": {"name": "api", "uid": "u"},
                          "pod": {"name": "api-1", "uid": "p"}}
    }) else {
        unreachable!()
    };
    claims
}

fn bench_verify(c: &mut Criterion) {
    let jwk = |name: &str| -> Value {
        let jwks: Value = serde_json::from_str(&key(&format!("{name}.jwks.json"))).unwrap();
        let mut k = jwks["keys"][0].clone();
        k.as_object_mut().unwrap().remove("alg");
        k
    };
    let config = json!({"authentication": {"jwt": [{
        "issuer": {"url": ISSUER, "audiences": ["meshguard"]},
        "serviceAccountIssuer": true,
        "jwks": {"keys": [jwk("rs256"), jwk("es256"), jwk("es384"), jwk("ed25519"), jwk("hs256")]}
    }]}});
    let auth = PluginConfig::from_value(config)
        .unwrap()
        .authenticator()
        .unwrap();
    let token_for = |alg: &str, file: &str| {
        let bytes =
            std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        (
            alg.to_string(),
            sign(&bytes, Some(alg.parse().unwrap()), None, claims()).unwrap(),
        )
    };
    let tokens = [
        token_for("RS256", "rs256.key.pem"),
        token_for("PS256", "rs256.key.pem"),
        token_for("ES256", "es256.key.pem"),
        token_for("ES384", "es384.key.pem"),
        token_for("EdDSA", "ed25519.key.pem"),
        token_for("HS256", "hs256.secret"),
    ];
    let mut group = c.benchmark_group("verify");
    for (alg, token) in &tokens {
        assert!(auth.verify(token, NOW).is_ok(), "{alg}");
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| auth.verify(std::hint::black_box(token), NOW))
        });
    }
    group.finish();
    c.bench_function("decode_only", |b| {
        b.iter(|| meshguard::token::jws::decode(std::hint::black_box(&tokens[0].1), 8192))
    });
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
