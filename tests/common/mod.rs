//! Shared test fixtures: committed keys, tokens minted from readable claims, configurations.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod envoy;
pub mod host;
pub mod live;
pub mod rbac;
pub mod scenarios;
pub mod wasm;

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

/// The fixed evaluation time of the tests: 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;

pub fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

pub fn read_key(name: &str) -> String {
    std::fs::read_to_string(key_file(name)).unwrap()
}

/// The JWK of a committed key, optionally without its `alg` (many real JWKS omit it).
pub fn jwk(name: &str, keep_alg: bool) -> Value {
    let jwks: Value = serde_json::from_str(&read_key(&format!("{name}.jwks.json"))).unwrap();
    let mut key = jwks["keys"][0].clone();
    if !keep_alg {
        key.as_object_mut().unwrap().remove("alg");
    }
    key
}

/// Signs `claims` with the committed key `key` (e.g. `rs256`) using `alg`, with `kid` in the
/// header when given.
pub fn mint(key: &str, alg: &str, kid: Option<&str>, claims: Value) -> String {
    let Value::Object(claims) = claims else {
        panic!("claims must be an object")
    };
    let file = if alg.starts_with("HS") {
        format!("{key}.secret")
    } else {
        format!("{key}.key.pem")
    };
    let bytes = std::fs::read(key_file(&file)).unwrap();
    meshguard::token::mint::sign(&bytes, Some(alg.parse().unwrap()), kid, claims).unwrap()
}

/// An unsigned token with an arbitrary header, for header-level attacks (`alg: none`, ...).
pub fn forge(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Replaces the payload of a signed token, keeping its header and signature.
pub fn tamper(token: &str, claims: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

pub const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const IDP: &str = "https://idp.example.com";
pub const LEGACY_FLAGS_IDP: &str = "https://legacy.example.com";

/// The configuration most tests run under:
/// - a service-account issuer (RS256 key `rsa-1`, audience `meshguard`, 1-day lifetime cap);
/// - an OIDC issuer holding every key type (JWKs without `alg`), with claim mappings;
/// - an OIDC issuer whose claimMappings are what the apiserver makes of the legacy
///   `--oidc-*` flags' defaults (username `sub` prefixed with the issuer URL and `#`);
/// - the legacy `kubernetes/serviceaccount` issuer (PEM key, no exp required).
pub fn standard_config() -> Value {
    json!({
        "authentication": {
            "jwt": [
                {
                    "issuer": {"url": SA_ISSUER, "audiences": ["meshguard"]},
                    "serviceAccountIssuer": true,
                    "jwks": {"keys": [jwk("rs256", true)]},
                    "maxTokenLifetimeSeconds": 86400
                },
                {
                    "issuer": {"url": IDP, "audiences": ["meshguard", "dashboard"],
                               "audienceMatchPolicy": "MatchAny"},
                    "jwks": {"keys": [jwk("rs256", false), jwk("es256", false), jwk("es384", false),
                                      jwk("es512", false), jwk("ed25519", false), jwk("hs256", false)]},
                    "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}],
                    "claimMappings": {
                        "username": {"claim": "email", "prefix": "oidc:"},
                        "groups": {"claim": "groups", "prefix": "oidc:"},
                        "uid": {"claim": "sub"},
                        "extra": [{"key": "example.com/team", "valueExpression": "claims.team"}]
                    }
                },
                {
                    "issuer": {"url": LEGACY_FLAGS_IDP, "audiences": ["meshguard"]},
                    "jwks": {"keys": [jwk("es256", true)]},
                    "claimMappings": {
                        "username": {"claim": "sub", "prefix": format!("{LEGACY_FLAGS_IDP}#")}
                    }
                },
                {
                    "issuer": {"url": "kubernetes/serviceaccount"},
                    "serviceAccountIssuer": true,
                    "publicKeys": read_key("rs256.pub.pem"),
                    "requireExpiration": false
                }
            ]
        }
    })
}

pub fn authenticator(config: &Value) -> meshguard::token::Authenticator {
    meshguard::config::PluginConfig::from_value(config.clone())
        .unwrap()
        .authenticator()
        .unwrap()
}

/// Claims of a valid bound service-account token for `orders/api`, issued at NOW.
pub fn sa_claims() -> Value {
    json!({
        "iss": SA_ISSUER,
        "aud": ["meshguard"],
        "sub": "system:serviceaccount:orders:api",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "7c0e-42",
        "kubernetes.io": {
            "namespace": "orders",
            "serviceaccount": {"name": "api", "uid": "sa-uid-1"},
            "pod": {"name": "api-7d9f", "uid": "pod-uid-1"},
            "node": {"name": "node-a", "uid": "node-uid-1"}
        }
    })
}

/// Claims of a valid OIDC ID token for alice.
pub fn oidc_claims() -> Value {
    json!({
        "iss": IDP,
        "aud": "dashboard",
        "sub": "u-1234",
        "email": "alice@example.com",
        "email_verified": true,
        "hd": "example.com",
        "groups": ["payments", "oncall"],
        "team": "payments",
        "iat": NOW, "exp": NOW + 600
    })
}

/// `claims` with the members of `changes` replaced (a `null` removes the member).
pub fn with(claims: &Value, changes: Value) -> Value {
    let mut out = claims.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}
