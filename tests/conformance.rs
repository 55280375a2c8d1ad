//! The JWT conformance corpus (tests/conformance/jwt.json: jwt_verify_lib, Envoy's jwt_authn,
//! RFC 7515/7520/8037 vectors) run through meshguard's core.
//!
//! jwt_verify_lib's statuses are mapped to meshguard's reason codes. Where meshguard differs on
//! purpose, the case is listed in `DELIBERATE` with the reason; the test fails if a listed case
//! starts to agree, or an unlisted one to differ, so every difference stays a decision.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use meshguard::identity::{ClaimMappings, ClaimSource, IdentityMapping};
use meshguard::token::claims::{RegisteredClaims, TimePolicy};
use meshguard::token::host::HostVerifier;
use meshguard::token::{jws, Algorithm, Authenticator, IssuerVerifier, KeySet};
use serde_json::Value;

/// Cases where meshguard's answer differs from the source's, and why.
const DELIBERATE: &[(&str, &str)] = &[
    // meshguard always selects keys by issuer, so a token without `iss` has no keys.
    (
        "envoy/AuthenticatorTest.TestJwtWithoutIssWithValidProviderNotIssuer",
        NO_ISS,
    ),
    (
        "jvl/VerifyKidMatchingTest.JwtTextWithNoKidNoMatchingKey",
        NO_ISS,
    ),
    ("jvl/VerifyKidMatchingTest.JwtTextWithNoKidOk", NO_ISS),
    (
        "jvl/VerifyKidMatchingTest.JwtTextWithNonExistentKid",
        NO_ISS,
    ),
    // The signature is checked before the audience: nothing in an unverified token is evidence.
    (
        "envoy/AuthenticatorTest.TestNonExpiringJWT",
        "signature checked before audience",
    ),
    // NumericDates past year 9999 are malformed, not "far future".
    (
        "envoy/AuthenticatorTest.TestNotYetValidJWT",
        "nbf beyond year 9999 is malformed",
    ),
    // A header without a string `alg` is a malformed token.
    (
        "jvl/JwtParseTest.TestParseHeaderAbsentAlg",
        "missing alg is token_malformed",
    ),
    (
        "jvl/JwtParseTest.TestParseHeaderAlgIsNotString",
        "non-string alg is token_malformed",
    ),
    // meshguard checks `iat` against the clock skew; the source does not check iat at all.
    ("jvl/VerifyJwkRsaPssTest.Ps256CorrectKidOK", IAT),
    ("jvl/VerifyJwkRsaPssTest.Ps384CorrectKidOK", IAT),
    ("jvl/VerifyJwkRsaPssTest.Ps512CorrectKidOK", IAT),
    // The source's P-521 JWKs have a `y` of 65 bytes (a leading zero dropped). RFC 7518
    // §6.2.1.2 requires the full coordinate size, and go-jose (the apiserver's JWKS parser)
    // refuses the whole set, as meshguard does.
    ("jvl/JwksParseTest.GoodEC", SHORT_P521),
    ("jvl/JwksParseTest.JwksECMatchAlgES512CrvP521", SHORT_P521),
    ("jvl/JwksParseTest.JwksECUnspecifiedCrv", SHORT_P521),
    ("jvl/VerifyJwkECTest.KidES512OK", SHORT_P521),
    ("jvl/VerifyJwkECTest.KidES384OK", SHORT_P521),
    ("jvl/VerifyJwkECTest.KidOK", SHORT_P521),
    ("jvl/VerifyJwkECTest.NoKidOK", SHORT_P521),
    ("jvl/VerifyJwkECTest.NonExistKidFail", SHORT_P521),
    ("jvl/VerifyJwkECTest.PubkeyNoAlgOK", SHORT_P521),
    ("jvl/VerifyJwkECTest.PubkeyNoKidOK", SHORT_P521),
    ("rfc7520/4.3 ES512", NOT_JWT),
    // Google's legacy {kid: certificate} maps are not a key format meshguard reads.
    (
        "jvl/JwksParseTest.JwksGoodX509",
        "x509 kid maps are not supported",
    ),
    (
        "jvl/JwksParseTest.RealJwksX509",
        "x509 kid maps are not supported",
    ),
    // jwt-simple refuses this Ed25519 `x` at load (its point check); the source's BoringSSL
    // path accepts any 32 bytes.
    ("jvl/JwksParseTest.GoodOKP", ED25519_X),
    ("jvl/JwksParseTest.JwksIgnoreUnsupportedKey", ED25519_X),
    (
        "jvl/JwksParseTest.JwksIgnoreUnsupportedKeyInMiddle",
        ED25519_X,
    ),
    // A missing crv is inferred from the coordinate size (48 bytes: P-384), where the source
    // assumed P-256 and failed.
    (
        "jvl/JwksParseTest.JwksECMissingBothAlgES384",
        "crv inferred from coordinate size",
    ),
    // An empty key set is a configuration error at load, before any token is seen.
    (
        "jvl/VerifyAudTest.MissingAudience",
        "empty JWKS refused at load",
    ),
    // The source sets `alg` by hand on PEM-loaded keys; PEM keys carry no alg in meshguard.
    (
        "jvl/VerifyPEMTestOKP.jwksIncorrectAlgSpecifiedFail",
        PEM_ALG,
    ),
    (
        "jvl/verify_pem_ec_test.cc/VerifyPKCSTestRs256.jwksIncorrectAlgSpecifiedFail",
        PEM_ALG,
    ),
    // No key of the token's algorithm family is key_not_found, apart from signature_invalid.
    (
        "jvl/verify_pem_ec_test.cc/VerifyPKCSTestRs256.jwksAlgUnspecifiedDoesNotMatchJwtFail",
        "key_not_found",
    ),
    // These RFC examples sign non-JSON payloads (plain text); meshguard verifies JWTs only.
    ("rfc7520/4.1 RS256", NOT_JWT),
    ("rfc7520/4.2 PS384", NOT_JWT),
    ("rfc7520/4.4 HS256", NOT_JWT),
    ("rfc8037/A.4 Ed25519", NOT_JWT),
];
const NO_ISS: &str = "meshguard requires iss";
const IAT: &str = "iat in the future is rejected";
const SHORT_P521: &str = "a P-521 coordinate under 66 bytes refuses the key set";
const ED25519_X: &str = "Ed25519 x refused at load by jwt-simple";
const PEM_ALG: &str = "PEM keys carry no alg";
const NOT_JWT: &str = "payload is not a JWT claims set";

fn corpus() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/jwt.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_vendored_corpus_matches_the_shared_one_when_present() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/jwt.json"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        let vendored = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/jwt.json");
        assert!(
            text == std::fs::read_to_string(vendored).unwrap(),
            "shared/conformance/jwt.json changed: copy it to tests/conformance/ and re-run"
        );
    }
}

/// jwt_verify_lib status → meshguard reason code (`ok` for success, `keys_invalid` for a key
/// set that does not load).
fn expected_code(status: &str) -> &'static str {
    match status {
        "Ok" => "ok",
        "JwtVerificationFail" | "JwtEd25519SignatureWrongLength" => "signature_invalid",
        "JwksKidAlgMismatch" => "key_not_found",
        "JwtExpired" => "token_expired",
        "JwtNotYetValid" => "token_not_yet_valid",
        "JwtAudienceNotAllowed" => "audience_mismatch",
        "JwtUnknownIssuer" => "issuer_unknown",
        "JwtMissed" => "token_missing",
        "JwtHeaderNotImplementedAlg" | "JwtHeaderBadAlg" => "algorithm_not_allowed",
        s if s.starts_with("Jwks") => "keys_invalid",
        s if s == "JwtBadFormat" || s.contains("Parse") || s.starts_with("JwtHeader") => {
            "token_malformed"
        }
        other => panic!("unmapped status {other}"),
    }
}

fn load_keys(keys: &Value) -> Result<KeySet, String> {
    let raw = keys["raw"].as_str().unwrap_or_default();
    match keys["format"].as_str() {
        Some("jwks") => match &keys["jwks"] {
            Value::Null => KeySet::from_jwks_str(raw, true),
            document => KeySet::from_jwks(document, true),
        }
        .map_err(|e| e.0),
        Some("pem") => KeySet::from_pem(raw).map_err(|e| e.0),
        Some("jwk") => KeySet::from_jwks(&serde_json::json!({"keys": [keys["jwk"].clone()]}), true)
            .map_err(|e| e.0),
        other => Err(format!("unsupported key format {other:?}")),
    }
}

fn now_of(case: &Value) -> u64 {
    case["now"]
        .as_u64()
        .or_else(|| case["suggested_fixed_now"].as_u64())
        // "wall_clock" cases hold until about 2033; meshguard checks iat, so 2030 rather than
        // an earlier date keeps recently issued test tokens out of the future.
        .unwrap_or(1_900_000_000)
}

/// An authenticator for one case: the case's issuer (or the token's own `iss`, since meshguard
/// always selects keys by issuer), its audiences (none = no check), all algorithms, no required
/// `exp` (jwt_verify_lib does not require it), and a username taken from `iss` so identity
/// mapping never decides a case.
fn authenticator_for(
    case: &Value,
    token: &str,
    keys: KeySet,
    host: Option<&HostVerifier>,
) -> Authenticator {
    let token_iss = jws::decode(token, 1 << 20).ok().and_then(|t| {
        t.claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let url = case["issuer"]
        .as_str()
        .map(str::to_string)
        .or(token_iss)
        .unwrap_or_default();
    let audiences = case["audiences_override"]
        .as_array()
        .or(case["audiences"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let issuer = IssuerVerifier {
        url,
        audiences,
        inline_keys: keys.clone(),
        keys,
        fetches_keys: false,
        algorithms: Algorithm::ALL.to_vec(),
        time: TimePolicy {
            skew: case["clock_skew_seconds"].as_u64().unwrap_or(60),
            require_expiration: false,
            max_lifetime: None,
        },
        claim_rules: Vec::new(),
        identity: IdentityMapping::Claims(Box::new(ClaimMappings {
            username: ClaimSource::Claim {
                claim: "iss".into(),
                prefix: String::new(),
            },
            groups: None,
            uid: None,
            extra: Vec::new(),
            allow_system_names: false,
            user_rules: Vec::new(),
        })),
    };
    let mut authenticator = Authenticator::new(
        vec![issuer],
        vec![meshguard::token::TokenSource::bearer()],
        1 << 20,
    );
    authenticator.set_host(host.cloned());
    authenticator
}

fn verify_case(case: &Value, host: Option<&HostVerifier>) -> Option<&'static str> {
    if case["keys"]["format"] == "x509_kid_map" || case.get("request_headers").is_some() {
        return None;
    }
    let token = case["token"].as_str().unwrap_or_default();
    let keys = match load_keys(&case["keys"]) {
        Ok(keys) => keys,
        Err(_) => return Some("keys_invalid"),
    };
    let auth = authenticator_for(case, token, keys, host);
    Some(match auth.verify(token, now_of(case)) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    })
}

#[test]
fn conformance_corpus_agrees_except_for_deliberate_differences() {
    let corpus = corpus();
    let mut differences = BTreeMap::new();
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut record = |id: &str, want: &str, got: Option<&str>| match got {
        None => skipped.push(id.to_string()),
        Some(got) => {
            ran += 1;
            if got != want {
                differences.insert(id.to_string(), format!("want {want}, got {got}"));
            }
        }
    };

    for case in corpus["verify_cases"].as_array().unwrap() {
        let want = expected_code(case["expected"]["status"].as_str().unwrap());
        record(case["id"].as_str().unwrap(), want, verify_case(case, None));
    }

    for case in corpus["rfc_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let want = if case["expected"]["signature_valid"] == true {
            "ok"
        } else {
            "rejected"
        };
        let got = match load_keys(&case["keys"]) {
            Err(_) => "rejected",
            Ok(keys) => {
                // Signature only: evaluate at the token's own exp so time never decides.
                let exp = jws::decode(token, 1 << 20)
                    .ok()
                    .and_then(|t| t.claims.get("exp").and_then(Value::as_u64))
                    .unwrap_or(1_700_000_000);
                let mut case = case.clone();
                case["now"] = exp.into();
                match authenticator_for(&case, token, keys, None).verify(token, exp) {
                    Ok(_) => "ok",
                    Err(_) => "rejected",
                }
            }
        };
        record(id, want, Some(got));
    }

    for case in corpus["time_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let want = expected_code(case["expected"]["status"].as_str().unwrap());
        let mut payload = case["decoded_for_reference"]["payload"].clone();
        if let Some(overrides) = case["claims_override"].as_object() {
            for claim in overrides.keys() {
                payload.as_object_mut().unwrap().remove(claim);
            }
        }
        let claims = RegisteredClaims::from_claims(payload.as_object().unwrap()).unwrap();
        let policy = TimePolicy {
            skew: case["clock_skew_seconds"].as_u64().unwrap(),
            require_expiration: false,
            max_lifetime: None,
        };
        let got = match policy.check(&claims, case["now"].as_u64().unwrap()) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        record(id, want, Some(got));
    }

    for case in corpus["parse_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let want = expected_code(case["expected"]["status"].as_str().unwrap());
        let token = match (&case["token"], &case["token_generator"]) {
            (Value::String(t), _) => t.clone(),
            (_, g) => g["repeat_char"]
                .as_str()
                .unwrap()
                .repeat(g["count"].as_u64().unwrap() as usize),
        };
        let got = match jws::decode(&token, 1 << 20)
            .and_then(|t| RegisteredClaims::from_claims(&t.claims).map(|_| ()))
        {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        record(id, want, Some(got));
    }

    for case in corpus["jwks_parse_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let status = case["expected_status"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let parsed = if case["type"] == "PEM" {
            KeySet::from_pem(text)
        } else {
            KeySet::from_jwks_str(text, true)
        };
        let want = if status == "Ok" {
            match case["expected_key_count"].as_u64() {
                Some(n) => format!("ok:{n}"),
                None => "ok".to_string(),
            }
        } else {
            "keys_invalid".to_string()
        };
        let got = match parsed {
            Ok(set) if want.starts_with("ok:") => format!("ok:{}", set.keys().len()),
            Ok(_) => "ok".to_string(),
            Err(_) => "keys_invalid".to_string(),
        };
        record(id, &want, Some(&got));
    }

    let known: BTreeMap<String, String> = DELIBERATE
        .iter()
        .map(|(id, _)| (id.to_string(), String::new()))
        .collect();
    let unexpected: Vec<_> = differences
        .iter()
        .filter(|(id, _)| !known.contains_key(*id))
        .collect();
    let now_agreeing: Vec<_> = known
        .keys()
        .filter(|id| !differences.contains_key(*id))
        .collect();
    assert!(
        unexpected.is_empty() && now_agreeing.is_empty(),
        "ran {ran}, skipped {}: {skipped:?}\nunexpected differences: {unexpected:#?}\nlisted as deliberate but now agreeing: {now_agreeing:?}",
        skipped.len()
    );
    assert!(ran >= 195, "only {ran} cases ran");
}

/// Every signature case of the corpus answers the same when RS* and ES* signatures are
/// verified by the host's native crypto (Envoy's `verify_signature`, as the harness implements
/// it natively) as when ring verifies them in the module.
#[test]
fn the_corpus_answers_alike_through_the_hosts_native_crypto() {
    let probe = HostVerifier::probe(std::sync::Arc::new(|arguments: &[u8]| {
        common::host::verify_signature(common::host::ForeignCrypto::Envoy, arguments)
            .map_err(|status| status as u32)
    }));
    let host = probe
        .verifier
        .expect("the harness's host passes the known-answer check");
    let corpus = corpus();
    let mut compared = 0;
    for case in corpus["verify_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        assert_eq!(
            verify_case(case, Some(&host)),
            verify_case(case, None),
            "{id}"
        );
        compared += 1;
    }
    for case in corpus["rfc_cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let Ok(keys) = load_keys(&case["keys"]) else {
            continue;
        };
        let exp = jws::decode(token, 1 << 20)
            .ok()
            .and_then(|t| t.claims.get("exp").and_then(Value::as_u64))
            .unwrap_or(1_700_000_000);
        let native = authenticator_for(case, token, keys.clone(), Some(&host))
            .verify(token, exp)
            .map(|_| ());
        let wasm = authenticator_for(case, token, keys, None)
            .verify(token, exp)
            .map(|_| ());
        assert_eq!(native, wasm, "{id}");
        compared += 1;
    }
    let (verified, failed) = host.counts().take();
    assert_eq!(failed, 0);
    // 86 cases at this writing, 38 of them with an RS/ES signature the host checked.
    assert!(
        compared >= 80 && verified >= 35,
        "{compared} cases, {verified} by the host"
    );
}
