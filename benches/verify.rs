//! Native cost of verifying one token, per algorithm: the whole `Authenticator::verify` path
//! (decode, key selection, signature, claims, identity), and the decode step alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use jwt_simple::prelude::*;
use meshguard::config::PluginConfig;
use serde_json::{json, Map, Value};

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn claims() -> JWTClaims<Map<String, Value>> {
    let Value::Object(custom) = json!({
        "iss": ISSUER, "aud": ["meshguard"], "sub": "system:serviceaccount:orders:api",
        "iat": NOW, "exp": NOW + 3600, "jti": "bench",
        "kubernetes.io": {"namespace": "orders", "serviceaccount": {"name": "api", "uid": "u"},
                          "pod": {"name": "api-1", "uid": "p"}}
    }) else {
        unreachable!()
    };
    JWTClaims {
        issued_at: None,
        expires_at: None,
        invalid_before: None,
        issuer: None,
        subject: None,
        audiences: None,
        jwt_id: None,
        nonce: None,
        custom,
    }
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
    let secret = std::fs::read(format!(
        "{}/tests/keys/hs256.secret",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let tokens = [
        (
            "RS256",
            RS256KeyPair::from_pem(&key("rs256.key.pem"))
                .unwrap()
                .sign(claims())
                .unwrap(),
        ),
        (
            "PS256",
            PS256KeyPair::from_pem(&key("rs256.key.pem"))
                .unwrap()
                .sign(claims())
                .unwrap(),
        ),
        (
            "ES256",
            ES256KeyPair::from_pem(&key("es256.key.pem"))
                .unwrap()
                .sign(claims())
                .unwrap(),
        ),
        (
            "ES384",
            ES384KeyPair::from_pem(&key("es384.key.pem"))
                .unwrap()
                .sign(claims())
                .unwrap(),
        ),
        (
            "EdDSA",
            Ed25519KeyPair::from_pem(&key("ed25519.key.pem"))
                .unwrap()
                .sign(claims())
                .unwrap(),
        ),
        (
            "HS256",
            HS256Key::from_bytes(&secret)
                .authenticate(claims())
                .unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("verify");
    for (alg, token) in &tokens {
        assert!(auth.verify(token, NOW).is_ok(), "{alg}");
        group.bench_function(*alg, |b| {
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
