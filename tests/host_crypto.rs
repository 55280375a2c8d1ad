//! Signatures verified by the host's native crypto (Envoy's `verify_signature` foreign
//! function): the known-answer check that decides each algorithm's path, verification through
//! the host with forgeries still refused, the fallback to wasm when the host is absent, fails
//! or lies — in the core, and in the built `.wasm` under the harness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::envoy::demo_plugin_config;
use common::host::{verify_signature, Exchange, ForeignCrypto, Host};
use common::scenarios::{sa, sa_token};
use common::{authenticator, mint, oidc_claims, standard_config, tamper, NOW};
use meshguard::token::host::{HostVerifier, Path, Probe, CANDIDATES};
use meshguard::token::{Algorithm, AuthError};

/// A host answering as `mode` does, and the number of calls it took.
fn host(mode: ForeignCrypto) -> (Arc<AtomicUsize>, Probe) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let probe = HostVerifier::probe(Arc::new(move |arguments: &[u8]| {
        counted.fetch_add(1, Ordering::Relaxed);
        verify_signature(mode, arguments).map_err(|status| status as u32)
    }));
    (calls, probe)
}

fn path_of(probe: &Probe, alg: Algorithm) -> &Path {
    &probe.paths.iter().find(|(a, _)| *a == alg).unwrap().1
}

#[test]
fn the_known_answer_check_decides_each_algorithms_path() {
    // Envoy: RS256/384/512 and ES256/384/512 by the host (a good and a forged signature each),
    // the rest in wasm with the reason.
    let (calls, probe) = host(ForeignCrypto::Envoy);
    assert_eq!(calls.load(Ordering::Relaxed), 12);
    assert!(!probe.forged_accepted);
    assert_eq!(probe.verifier.as_ref().unwrap().algorithms(), CANDIDATES);
    assert_eq!(probe.paths.len(), Algorithm::ALL.len());
    for alg in CANDIDATES {
        assert_eq!(path_of(&probe, alg), &Path::Host, "{alg}");
    }
    for (alg, why) in [
        (Algorithm::PS256, "RSA-PSS"),
        (Algorithm::EdDSA, "Ed25519"),
        (Algorithm::HS512, "HMAC"),
    ] {
        assert!(
            matches!(path_of(&probe, alg), Path::Wasm(w) if w.contains(why)),
            "{alg}"
        );
    }

    // Another host or an older Envoy: asked once, everything in wasm.
    let (calls, probe) = host(ForeignCrypto::Absent);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(probe.verifier.is_none());
    assert!(matches!(path_of(&probe, Algorithm::ES384),
        Path::Wasm(w) if w == "the host has no verify_signature function"));

    // A host that says "valid" to a forged signature is trusted with nothing.
    let (_, probe) = host(ForeignCrypto::AcceptsAnything);
    assert!(probe.forged_accepted);
    assert!(probe.verifier.is_none());
    for alg in CANDIDATES {
        assert!(
            matches!(path_of(&probe, alg), Path::Wasm(w) if w.contains("forged")),
            "{alg}"
        );
    }

    // A host whose calls fail: not used, and the log will say the status.
    let (_, probe) = host(ForeignCrypto::Fails);
    assert!(probe.verifier.is_none());
    assert!(matches!(path_of(&probe, Algorithm::RS256), Path::Wasm(w) if w.contains("status 10")));

    // A host that refuses good signatures (one that took JWS r||s, say) is not used either.
    let probe = HostVerifier::probe(Arc::new(|_: &[u8]| Ok(b"\x12\x06refuse".to_vec())));
    assert!(probe.verifier.is_none() && !probe.forged_accepted);
    assert!(matches!(path_of(&probe, Algorithm::ES256),
        Path::Wasm(w) if w.contains("a good signature was refused")));
}

#[test]
fn tokens_verify_through_the_host_and_forgeries_still_fail() {
    let (calls, probe) = host(ForeignCrypto::Envoy);
    let verifier = probe.verifier.unwrap();
    let mut auth = authenticator(&standard_config());
    auth.set_host(Some(verifier.clone()));
    let before = calls.load(Ordering::Relaxed);
    for (key, alg) in [
        ("rs256", "RS256"),
        ("rs256", "RS384"),
        ("rs256", "RS512"),
        ("es256", "ES256"),
        ("es384", "ES384"),
        ("es512", "ES512"),
    ] {
        let token = mint(key, alg, None, oidc_claims());
        let user = auth
            .verify(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(user.user.username, "oidc:alice@example.com");
        // The same signature over other claims: refused by the host.
        let forged = tamper(
            &token,
            common::with(
                &oidc_claims(),
                serde_json::json!({"email": "mallory@example.com"}),
            ),
        );
        assert!(
            matches!(
                auth.verify(&forged, NOW),
                Err(AuthError::SignatureInvalid { .. })
            ),
            "{alg}"
        );
    }
    assert_eq!(calls.load(Ordering::Relaxed) - before, 12);
    // An ECDSA signature of the wrong length never reaches the host.
    let token = mint("es256", "ES256", None, oidc_claims());
    let short = &token[..token.len() - 4];
    assert!(auth.verify(short, NOW).is_err());
    assert_eq!(calls.load(Ordering::Relaxed) - before, 12);
    assert_eq!(verifier.counts().take(), (12, 0));

    // EdDSA and HS256 stay in wasm: no host call.
    for (key, alg) in [("ed25519", "EdDSA"), ("hs256", "HS256")] {
        auth.verify(&mint(key, alg, None, oidc_claims()), NOW)
            .unwrap();
    }
    assert_eq!(calls.load(Ordering::Relaxed) - before, 12);
}

#[test]
fn a_host_that_fails_after_the_check_is_replaced_by_wasm_for_that_call() {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&broken);
    let probe = HostVerifier::probe(Arc::new(move |arguments: &[u8]| {
        let mode = if flag.load(Ordering::Relaxed) {
            ForeignCrypto::Fails
        } else {
            ForeignCrypto::Envoy
        };
        verify_signature(mode, arguments).map_err(|status| status as u32)
    }));
    let verifier = probe.verifier.unwrap();
    let mut auth = authenticator(&standard_config());
    auth.set_host(Some(verifier.clone()));
    broken.store(true, Ordering::Relaxed);
    let token = sa_token(sa("orders", "api"));
    auth.verify(&token, NOW).unwrap();
    let forged = tamper(&token, sa("kube-system", "admin"));
    assert!(matches!(
        auth.verify(&forged, NOW),
        Err(AuthError::SignatureInvalid { .. })
    ));
    assert_eq!(verifier.counts().take(), (0, 2));
}

fn started(mode: ForeignCrypto) -> Host {
    let mut host = Host::new();
    host.state_mut().foreign_crypto = mode;
    host.set_time(NOW);
    assert!(
        host.start(&demo_plugin_config().to_string()),
        "{:?}",
        host.state().logs
    );
    host
}

/// `POST /orders` with `token`, which the demo policy lets `frontend/web` do.
fn order(host: &mut Host, token: &str) -> Exchange {
    host.request(
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

fn reason(exchange: &Exchange) -> String {
    let reply = exchange.local_reply.as_ref().expect("a local reply");
    reply.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn gauge(host: &Host, name: &str) -> Option<i64> {
    host.state()
        .metrics
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value)
}

#[test]
fn the_module_uses_the_host_and_says_so() {
    let mut host = started(ForeignCrypto::Envoy);
    let logs = host.state().logs.clone();
    assert!(
        logs.iter().any(|(_, m)| m.contains(
            "signatures verified by the host's native crypto: RS256, RS384, RS512, ES256, ES384, ES512; in wasm: PS256 (the host has no RSA-PSS padding)"
        )),
        "{logs:?}"
    );
    for alg in CANDIDATES {
        assert_eq!(
            gauge(&host, &format!("meshguard.signatures.host.{alg}")),
            Some(1)
        );
    }
    let calls = host.state().foreign_calls;
    let token = sa_token(sa("frontend", "web"));
    let allowed = order(&mut host, &token);
    assert_eq!(allowed.status(), 200, "{:?}", allowed.logs);
    assert_eq!(host.state().foreign_calls, calls + 1);
    assert_eq!(host.state().counter("meshguard.signatures.host"), 1);
    // A forged token through the host: 401, as in wasm.
    let forged = tamper(&token, sa("kube-system", "admin"));
    let refused = order(&mut host, &forged);
    assert_eq!(refused.status(), 401);
    assert_eq!(reason(&refused), "signature_invalid");
    assert_eq!(host.state().counter("meshguard.signatures.host"), 2);
    // A cached token needs no signature at all.
    order(&mut host, &token);
    assert_eq!(host.state().foreign_calls, calls + 2);
}

#[test]
fn a_lying_host_is_not_trusted_and_forgeries_are_still_refused() {
    let mut host = started(ForeignCrypto::AcceptsAnything);
    assert!(
        host.state()
            .logs
            .iter()
            .any(|(level, m)| *level == 5 && m.contains("forged")),
        "{:?}",
        host.state().logs
    );
    for alg in CANDIDATES {
        assert_eq!(
            gauge(&host, &format!("meshguard.signatures.host.{alg}")),
            Some(0)
        );
    }
    let calls = host.state().foreign_calls;
    let forged = tamper(&sa_token(sa("frontend", "web")), sa("kube-system", "admin"));
    let refused = order(&mut host, &forged);
    assert_eq!(refused.status(), 401);
    assert_eq!(reason(&refused), "signature_invalid");
    assert_eq!(
        host.state().foreign_calls,
        calls,
        "the lying host is never asked again"
    );
}

#[test]
fn host_crypto_can_be_turned_off_by_configuration() {
    let mut config = demo_plugin_config();
    config["authentication"]["hostCrypto"] = false.into();
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    assert!(host
        .state()
        .logs
        .iter()
        .any(|(_, m)| m.contains("hostCrypto is false")));
    let token = sa_token(sa("frontend", "web"));
    let allowed = order(&mut host, &token);
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        host.state().foreign_calls,
        0,
        "not even the known-answer check"
    );
    assert_eq!(gauge(&host, "meshguard.signatures.host.RS256"), Some(0));
    // Turned on again by a new configuration: checked, then used.
    assert!(host.configure(&demo_plugin_config().to_string()));
    assert_eq!(gauge(&host, "meshguard.signatures.host.RS256"), Some(1));
    // Off and on again: the gauges follow every configuration, the check is not repeated.
    assert!(host.configure(&config.to_string()));
    assert_eq!(gauge(&host, "meshguard.signatures.host.RS256"), Some(0));
    assert!(host.configure(&demo_plugin_config().to_string()));
    assert_eq!(gauge(&host, "meshguard.signatures.host.RS256"), Some(1));
    assert_eq!(host.state().foreign_calls, 12);
    let other = sa_token(sa("frontend", "web2"));
    order(&mut host, &other);
    assert_eq!(host.state().foreign_calls, 13);
}

#[test]
fn without_the_function_everything_is_verified_in_wasm() {
    for mode in [ForeignCrypto::Absent, ForeignCrypto::Fails] {
        let mut host = started(mode);
        assert!(
            host.state()
                .logs
                .iter()
                .any(|(_, m)| m.contains("by the host's native crypto: none;")),
            "{:?}",
            host.state().logs
        );
        let calls = host.state().foreign_calls;
        let token = sa_token(sa("frontend", "web"));
        let allowed = order(&mut host, &token);
        assert_eq!(allowed.status(), 200, "{mode:?}");
        assert_eq!(host.state().foreign_calls, calls, "{mode:?}");
    }
}
