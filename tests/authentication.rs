//! Authentication truth tables: every algorithm, every failure code, service-account and OIDC
//! identities, multiple tokens. Tokens are minted at run time from readable claims.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use meshguard::identity::UserInfo;
use meshguard::token::{AuthError, Authenticator};
use serde_json::{json, Value};

fn verify(auth: &Authenticator, token: &str, now: u64) -> Result<UserInfo, &'static str> {
    auth.verify(token, now)
        .map(|a| a.user)
        .map_err(|e| e.code())
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

#[test]
fn every_supported_algorithm_verifies_with_a_key_of_its_family() {
    let auth = authenticator(&standard_config());
    let cases = [
        ("RS256", "rs256"),
        ("RS384", "rs256"),
        ("RS512", "rs256"),
        ("PS256", "rs256"),
        ("PS384", "rs256"),
        ("PS512", "rs256"),
        ("ES256", "es256"),
        ("ES384", "es384"),
        ("ES512", "es512"),
        ("EdDSA", "ed25519"),
        ("HS256", "hs256"),
        ("HS384", "hs256"),
        ("HS512", "hs256"),
    ];
    for (alg, key) in cases {
        let token = mint(key, alg, None, oidc_claims());
        let user = verify(&auth, &token, NOW);
        assert_eq!(
            user.map(|u| u.username),
            Ok("oidc:alice@example.com".to_string()),
            "{alg}"
        );
    }
}

#[test]
fn es512_keys_load_from_jwks_and_pem_and_verify_only_their_own_algorithm() {
    // As the apiserver: ES512 (P-521) is an algorithm structured authentication accepts.
    let jwks = authenticator(&json!({"authentication": {"jwt": [{
        "issuer": {"url": IDP, "audiences": ["meshguard"]},
        "claimMappings": {"username": {"claim": "sub", "prefix": ""}},
        "jwks": {"keys": [jwk("es512", true)]}
    }]}}));
    let pem = authenticator(&json!({"authentication": {"jwt": [{
        "issuer": {"url": IDP, "audiences": ["meshguard"]},
        "claimMappings": {"username": {"claim": "sub", "prefix": ""}},
        "publicKeys": read_key("es512.pub.pem")
    }]}}));
    let claims = json!({"iss": IDP, "aud": "meshguard", "sub": "p521", "exp": NOW + 60});
    let token = mint("es512", "ES512", Some("ec-521"), claims.clone());
    for auth in [&jwks, &pem] {
        assert_eq!(verify(auth, &token, NOW).unwrap().username, "p521");
    }
    // An ES256 token does not verify with the P-521 key; a P-521 point off the curve is refused.
    let es256 = mint("es256", "ES256", Some("ec-521"), claims);
    assert!(verify(&jwks, &es256, NOW).is_err());
    let mut bad = jwk("es512", true);
    bad["y"] = bad["x"].clone();
    let refused = meshguard::config::PluginConfig::from_value(json!({"authentication": {"jwt": [{
        "issuer": {"url": IDP, "audiences": ["meshguard"]},
        "claimMappings": {"username": {"claim": "sub", "prefix": ""}},
        "jwks": {"keys": [bad]}
    }]}}))
    .unwrap()
    .authenticator()
    .unwrap_err()
    .to_string();
    assert!(refused.contains("point is not on P-521"), "{refused}");
}

#[test]
fn a_flipped_signature_bit_fails_for_every_algorithm() {
    let auth = authenticator(&standard_config());
    for (alg, key) in [
        ("RS256", "rs256"),
        ("PS256", "rs256"),
        ("ES256", "es256"),
        ("ES384", "es384"),
        ("ES512", "es512"),
        ("EdDSA", "ed25519"),
        ("HS256", "hs256"),
    ] {
        let token = mint(key, alg, None, oidc_claims());
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut sig: Vec<char> = sig.chars().collect();
        sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
        let bad = format!("{head}.{}", sig.into_iter().collect::<String>());
        assert_eq!(verify(&auth, &bad, NOW), Err("signature_invalid"), "{alg}");
    }
}

/// One row per failure code the authentication core produces from a request.
#[test]
fn failure_reasons_truth_table() {
    let auth = authenticator(&standard_config());
    let sa = sa_claims();
    let oidc = oidc_claims();
    let rsa = |claims: Value| mint("rs256", "RS256", Some("rsa-1"), claims);
    let cases: Vec<(&str, String, u64, &str)> = vec![
        ("valid service-account token", rsa(sa.clone()), NOW, "ok"),
        ("not a JWT", "abc".into(), NOW, "token_malformed"),
        ("oversized", "a".repeat(9000), NOW, "token_too_large"),
        (
            "alg none",
            forge(json!({"alg": "none"}), sa.clone()),
            NOW,
            "algorithm_not_allowed",
        ),
        (
            "alg none lowercase header trick",
            forge(json!({"alg": "nOnE"}), sa.clone()),
            NOW,
            "algorithm_not_allowed",
        ),
        (
            "ES256 from an RSA-only issuer",
            mint("es256", "ES256", None, sa.clone()),
            NOW,
            "algorithm_not_allowed",
        ),
        (
            "HS256 signed with the RSA public key bytes",
            forge(json!({"alg": "HS256", "kid": "rsa-1"}), sa.clone()),
            NOW,
            "algorithm_not_allowed",
        ),
        (
            "unknown issuer",
            rsa(with(&sa, json!({"iss": "https://evil.example"}))),
            NOW,
            "issuer_unknown",
        ),
        (
            "no issuer",
            rsa(with(&sa, json!({"iss": null}))),
            NOW,
            "issuer_unknown",
        ),
        (
            "unknown kid",
            mint("rs256-other", "RS256", Some("rsa-2"), sa.clone()),
            NOW,
            "key_not_found",
        ),
        (
            "known kid, wrong key",
            mint("rs256-other", "RS256", Some("rsa-1"), sa.clone()),
            NOW,
            "signature_invalid",
        ),
        (
            "payload swapped after signing",
            tamper(
                &rsa(sa.clone()),
                with(
                    &sa,
                    json!({"sub": "system:serviceaccount:kube-system:admin"}),
                ),
            ),
            NOW,
            "signature_invalid",
        ),
        (
            "expired beyond skew",
            rsa(sa.clone()),
            NOW + 3600 + 61,
            "token_expired",
        ),
        (
            "expired within skew",
            rsa(sa.clone()),
            NOW + 3600 + 60,
            "ok",
        ),
        (
            "not yet valid beyond skew",
            rsa(sa.clone()),
            NOW - 61,
            "token_not_yet_valid",
        ),
        ("not yet valid within skew", rsa(sa.clone()), NOW - 60, "ok"),
        (
            "issued in the future",
            rsa(with(&sa, json!({"nbf": null, "iat": NOW + 61}))),
            NOW,
            "token_issued_in_future",
        ),
        (
            "no exp",
            rsa(with(&sa, json!({"exp": null}))),
            NOW,
            "expiration_missing",
        ),
        (
            "lifetime over one day",
            rsa(with(&sa, json!({"exp": NOW + 86401}))),
            NOW,
            "lifetime_too_long",
        ),
        (
            "wrong audience",
            rsa(with(&sa, json!({"aud": "payments"}))),
            NOW,
            "audience_mismatch",
        ),
        (
            "no audience",
            rsa(with(&sa, json!({"aud": null}))),
            NOW,
            "audience_mismatch",
        ),
        (
            "one of several audiences",
            rsa(with(&sa, json!({"aud": ["x", "meshguard"]}))),
            NOW,
            "ok",
        ),
        (
            "claim rule not met",
            mint(
                "es256",
                "ES256",
                None,
                with(&oidc, json!({"hd": "evil.com"})),
            ),
            NOW,
            "claim_validation_failed",
        ),
        (
            "claim rule claim missing",
            mint("es256", "ES256", None, with(&oidc, json!({"hd": null}))),
            NOW,
            "claim_validation_failed",
        ),
        (
            "email not verified",
            mint(
                "es256",
                "ES256",
                None,
                with(&oidc, json!({"email_verified": false})),
            ),
            NOW,
            "claim_validation_failed",
        ),
        (
            "crit header",
            forge(
                json!({"alg": "RS256", "crit": ["b64"], "b64": false}),
                sa.clone(),
            ),
            NOW,
            "token_malformed",
        ),
        (
            "exp not a number",
            rsa(with(&sa, json!({"exp": "tomorrow"}))),
            NOW,
            "token_malformed",
        ),
    ];
    for (name, token, now, want) in cases {
        let got = match auth.verify(&token, now) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn request_level_failures_missing_token_and_conflicting_identities() {
    let auth = authenticator(&standard_config());
    let none: Vec<(String, String)> = vec![("accept".into(), "*/*".into())];
    assert_eq!(
        auth.authenticate_request(&none, "/", NOW)
            .err()
            .map(|e| e.code()),
        Some("token_missing")
    );

    let api = mint("rs256", "RS256", Some("rsa-1"), sa_claims());
    let worker = mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        with(
            &sa_claims(),
            json!({"sub": "system:serviceaccount:orders:worker",
            "kubernetes.io": {"namespace": "orders", "serviceaccount": {"name": "worker", "uid": "w"}}}),
        ),
    );
    let config = with(&standard_config(), json!({}));
    let mut config = config;
    config["authentication"]["tokenSources"] = json!([
        {"header": {"name": "authorization", "valuePrefix": "Bearer "}},
        {"header": {"name": "x-forwarded-access-token"}}
    ]);
    let auth = authenticator(&config);
    let two = |second: &str| {
        vec![
            ("authorization".to_string(), format!("Bearer {api}")),
            ("x-forwarded-access-token".to_string(), second.to_string()),
        ]
    };
    let code = |headers: Vec<(String, String)>| match auth.authenticate_request(&headers, "/", NOW)
    {
        Ok(a) => a.user().username.clone(),
        Err(e) => e.code().to_string(),
    };
    assert_eq!(code(two(&api)), "system:serviceaccount:orders:api");
    assert_eq!(code(two(&worker)), "identity_conflict");
    // If a request carries several tokens, every one must verify.
    assert_eq!(code(two("garbage")), "token_malformed");
    let expired = mint(
        "rs256",
        "RS256",
        Some("rsa-1"),
        with(
            &sa_claims(),
            json!({"exp": NOW - 3600, "iat": NOW - 7200, "nbf": null}),
        ),
    );
    assert_eq!(code(two(&expired)), "token_expired");
}

#[test]
fn bound_service_account_token_becomes_the_apiserver_user() {
    let auth = authenticator(&standard_config());
    let token = mint("rs256", "RS256", Some("rsa-1"), sa_claims());
    let user = auth
        .authenticate_request(&bearer(&token), "/", NOW)
        .unwrap()
        .user()
        .clone();
    let expected: UserInfo = serde_json::from_value::<Value>(json!({}))
        .map(|_| UserInfo {
            username: "system:serviceaccount:orders:api".into(),
            uid: "sa-uid-1".into(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:orders".into(),
                "system:authenticated".into(),
            ],
            extra: [
                ("authentication.kubernetes.io/credential-id", "JTI=7c0e-42"),
                ("authentication.kubernetes.io/node-name", "node-a"),
                ("authentication.kubernetes.io/node-uid", "node-uid-1"),
                ("authentication.kubernetes.io/pod-name", "api-7d9f"),
                ("authentication.kubernetes.io/pod-uid", "pod-uid-1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect(),
        })
        .unwrap();
    assert_eq!(user, expected);
}

#[test]
fn service_account_token_without_pod_or_jti_has_no_extras() {
    let auth = authenticator(&standard_config());
    let claims = with(
        &sa_claims(),
        json!({"jti": null,
        "kubernetes.io": {"namespace": "orders", "serviceaccount": {"name": "api", "uid": "sa-uid-1"}}}),
    );
    let user = verify(&auth, &mint("rs256", "RS256", Some("rsa-1"), claims), NOW).unwrap();
    assert!(user.extra.is_empty());
}

#[test]
fn legacy_secret_based_service_account_token_is_understood() {
    let auth = authenticator(&standard_config());
    // As the token controller minted them before bound tokens: no exp, no aud.
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:spinnaker:deployer",
        "kubernetes.io/serviceaccount/namespace": "spinnaker",
        "kubernetes.io/serviceaccount/secret.name": "deployer-token-5v2cp",
        "kubernetes.io/serviceaccount/service-account.name": "deployer",
        "kubernetes.io/serviceaccount/service-account.uid": "0ecb5560"
    });
    let user = verify(&auth, &mint("rs256", "RS256", None, claims), NOW).unwrap();
    assert_eq!(user.username, "system:serviceaccount:spinnaker:deployer");
    assert_eq!(user.uid, "0ecb5560");
    assert_eq!(
        user.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:spinnaker",
            "system:authenticated"
        ]
    );
}

#[test]
fn service_account_claims_that_disagree_or_are_missing_are_refused() {
    let auth = authenticator(&standard_config());
    let rsa = |claims: Value| verify(&auth, &mint("rs256", "RS256", Some("rsa-1"), claims), NOW);
    let sa = sa_claims();
    assert_eq!(
        rsa(with(
            &sa,
            json!({"sub": "system:serviceaccount:kube-system:admin"})
        )),
        Err("claim_validation_failed")
    );
    assert_eq!(
        rsa(with(&sa, json!({"kubernetes.io": null}))),
        Err("claim_validation_failed")
    );
    assert_eq!(
        rsa(with(&sa, json!({"kubernetes.io": {"namespace": "orders"}}))),
        Err("claim_validation_failed")
    );
    assert_eq!(
        rsa(with(
            &sa,
            json!({"sub": null, "kubernetes.io": {"namespace": "a:b", "serviceaccount": {"name": "c"}}})
        )),
        Err("claim_validation_failed")
    );
}

#[test]
fn oidc_claim_mappings_apply_prefixes_groups_uid_and_extras() {
    let auth = authenticator(&standard_config());
    let user = verify(&auth, &mint("ed25519", "EdDSA", None, oidc_claims()), NOW).unwrap();
    assert_eq!(user.username, "oidc:alice@example.com");
    assert_eq!(user.uid, "u-1234");
    assert_eq!(
        user.groups,
        ["oidc:payments", "oidc:oncall", "system:authenticated"]
    );
    assert_eq!(
        user.extra.get("example.com/team"),
        Some(&vec!["payments".to_string()])
    );

    // groups as a single string
    let one = with(
        &oidc_claims(),
        json!({"groups": "payments", "team": ["a", "b"]}),
    );
    let user = verify(&auth, &mint("ed25519", "EdDSA", None, one), NOW).unwrap();
    assert_eq!(user.groups, ["oidc:payments", "system:authenticated"]);
    assert_eq!(user.extra.get("example.com/team").map(Vec::len), Some(2));

    // no groups claim at all
    let none = with(&oidc_claims(), json!({"groups": null}));
    let user = verify(&auth, &mint("ed25519", "EdDSA", None, none), NOW).unwrap();
    assert_eq!(user.groups, ["system:authenticated"]);

    // groups of the wrong type
    let bad = with(&oidc_claims(), json!({"groups": {"a": 1}}));
    assert_eq!(
        verify(&auth, &mint("ed25519", "EdDSA", None, bad), NOW),
        Err("claim_validation_failed")
    );

    // email_verified absent is accepted, as the apiserver does
    let absent = with(&oidc_claims(), json!({"email_verified": null}));
    assert!(verify(&auth, &mint("ed25519", "EdDSA", None, absent), NOW).is_ok());
}

#[test]
fn the_legacy_flag_defaults_are_written_out_in_the_structured_configuration() {
    // `--oidc-username-claim=sub` without a prefix flag meant "issuer URL and #"; the
    // structured configuration says so explicitly (standard_config's third issuer).
    let auth = authenticator(&standard_config());
    let claims =
        json!({"iss": LEGACY_FLAGS_IDP, "aud": "meshguard", "sub": "bob", "exp": NOW + 60});
    let user = verify(&auth, &mint("es256", "ES256", Some("ec-1"), claims), NOW).unwrap();
    assert_eq!(user.username, "https://legacy.example.com#bob");
    assert_eq!(user.groups, ["system:authenticated"]);
}

fn single_idp_config(mappings: Value, rules: Value) -> Value {
    json!({"authentication": {"jwt": [{
        "issuer": {"url": IDP, "audiences": ["meshguard"]},
        "jwks": {"keys": [jwk("es256", true)]},
        "claimMappings": mappings,
        "claimValidationRules": rules
    }]}})
}

fn single_idp(mappings: Value) -> Authenticator {
    authenticator(&single_idp_config(mappings, json!([])))
}

/// The structured configuration's rules, as the apiserver applies them: a claim needs an
/// explicit prefix (`""` for none, and `-` is a literal prefix: the `-` shortcut belonged to
/// the legacy flag); an expression's value is used as it is and takes no prefix; a username
/// from `claims.email` needs `claims.email_verified` read somewhere.
#[test]
fn username_mapping_truth_table() {
    let claims = json!({"iss": IDP, "aud": "meshguard", "sub": "bob", "email": "bob@example.com",
                        "email_verified": true, "username": "robert", "exp": NOW + 60});
    let token = mint("es256", "ES256", None, claims);
    let verified = "claims.email_verified";
    let cases: Vec<(Value, Value, Result<&str, &str>)> = vec![
        (
            json!({"username": {"claim": "sub"}}),
            json!([]),
            Err("claimMappings.username.prefix: prefix is required when claim is set"),
        ),
        (
            json!({"username": {"claim": "sub", "prefix": "-"}}),
            json!([]),
            Ok("-bob"),
        ),
        (
            json!({"username": {"claim": "sub", "prefix": ""}}),
            json!([]),
            Ok("bob"),
        ),
        (
            json!({"username": {"claim": "sub", "prefix": "idp:"}}),
            json!([]),
            Ok("idp:bob"),
        ),
        (
            json!({"username": {"claim": "email", "prefix": ""}}),
            json!([]),
            Ok("bob@example.com"),
        ),
        (
            json!({"username": {"expression": "claims.sub"}}),
            json!([]),
            Ok("bob"),
        ),
        (
            json!({"username": {"expression": "claims.username"}}),
            json!([]),
            Ok("robert"),
        ),
        (
            json!({"username": {"expression": "claims[\"username\"]"}}),
            json!([]),
            Ok("robert"),
        ),
        (
            json!({"username": {"expression": "claims.sub", "prefix": "x:"}}),
            json!([]),
            Err("claimMappings.username.prefix: may not be specified when expression is set"),
        ),
        (
            json!({"username": {"claim": "sub", "prefix": "", "expression": "claims.sub"}}),
            json!([]),
            Err("claimMappings.username: claim and expression can't both be set"),
        ),
        (
            json!({"username": {"expression": "claims.email"}}),
            json!([]),
            Err("claimMappings.username.expression: claims.email_verified must be used"),
        ),
        (
            json!({"username": {"expression": "claims.email"}}),
            json!([{"expression": verified}]),
            Ok("bob@example.com"),
        ),
        (
            json!({}),
            json!([]),
            Err("claimMappings.username: claim or expression is required"),
        ),
    ];
    for (mappings, rules, want) in cases {
        let config = single_idp_config(mappings.clone(), rules);
        let got = meshguard::config::PluginConfig::from_value(config)
            .unwrap()
            .authenticator()
            .map_err(|e| e.to_string())
            .map(|auth| auth.verify(&token, NOW).unwrap().user.username);
        match (got, want) {
            (Ok(user), Ok(want)) => assert_eq!(user, want, "{mappings}"),
            (Err(error), Err(want)) => assert!(error.contains(want), "{mappings}: {error}"),
            (got, want) => panic!("{mappings}: got {got:?}, want {want:?}"),
        }
    }
}

/// Where the claims do not make a user, the apiserver refuses the token: a uid claim or an
/// expression's claim that is missing; empty groups from an expression are dropped.
#[test]
fn missing_claims_refuse_the_token_as_in_the_apiserver() {
    let base = json!({"iss": IDP, "aud": "meshguard", "sub": "bob", "exp": NOW + 60});
    let username = json!({"claim": "sub", "prefix": ""});
    let cases = [
        (
            json!({"username": username, "uid": {"claim": "uid"}}),
            json!({}),
            Err("uid"),
        ),
        (
            json!({"username": username, "uid": {"expression": "claims.uid"}}),
            json!({}),
            Err("claims.uid"),
        ),
        (
            json!({"username": username, "uid": {"claim": "uid"}}),
            json!({"uid": "u-1"}),
            Ok(()),
        ),
        (
            json!({"username": username,
                "extra": [{"key": "example.com/team", "valueExpression": "claims.team"}]}),
            json!({}),
            Err("claims.team"),
        ),
        (
            json!({"username": username, "groups": {"expression": "claims.groups"}}),
            json!({}),
            Err("claims.groups"),
        ),
        (
            json!({"username": username, "groups": {"claim": "groups", "prefix": ""}}),
            json!({}),
            Ok(()),
        ),
    ];
    for (mappings, extra_claims, want) in cases {
        let auth = single_idp(mappings.clone());
        let mut claims = base.clone();
        for (k, v) in extra_claims.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let got = auth.verify(&mint("es256", "ES256", None, claims), NOW);
        match (got, want) {
            (Ok(_), Ok(())) => {}
            (Err(AuthError::ClaimValidationFailed { claim, .. }), Err(want)) => {
                assert_eq!(claim, want, "{mappings}")
            }
            (got, want) => panic!("{mappings}: got {got:?}, want {want:?}"),
        }
    }
    let auth = single_idp(json!({"username": username, "groups": {"expression": "claims.groups"}}));
    let mut claims = base.clone();
    claims["groups"] = json!(["ops", "", "dev"]);
    let user = auth
        .verify(&mint("es256", "ES256", None, claims), NOW)
        .unwrap()
        .user;
    assert_eq!(user.groups, ["ops", "dev", "system:authenticated"]);
}

#[test]
fn oidc_issuers_cannot_mint_reserved_system_identities() {
    let auth = single_idp(json!({"username": {"claim": "sub", "prefix": ""},
                                 "groups": {"claim": "groups", "prefix": ""}}));
    let admin = json!({"iss": IDP, "aud": "meshguard", "sub": "system:serviceaccount:kube-system:admin", "exp": NOW + 60});
    assert_eq!(
        verify(&auth, &mint("es256", "ES256", None, admin), NOW),
        Err("claim_validation_failed")
    );
    let masters = json!({"iss": IDP, "aud": "meshguard", "sub": "eve", "groups": ["system:masters"], "exp": NOW + 60});
    assert_eq!(
        verify(&auth, &mint("es256", "ES256", None, masters.clone()), NOW),
        Err("claim_validation_failed")
    );
    // The apiserver does not check: `allowSystemNames` gives its behaviour, for an issuer
    // trusted with such names.
    let mut config = single_idp_config(
        json!({"username": {"claim": "sub", "prefix": ""},
               "groups": {"claim": "groups", "prefix": ""}}),
        json!([]),
    );
    config["authentication"]["jwt"][0]["allowSystemNames"] = json!(true);
    let trusting = authenticator(&config);
    let user = trusting
        .verify(&mint("es256", "ES256", None, masters), NOW)
        .unwrap()
        .user;
    assert_eq!(user.groups, ["system:masters", "system:authenticated"]);
}

#[test]
fn errors_carry_their_evidence_and_never_the_token() {
    let auth = authenticator(&standard_config());
    let token = mint("rs256-other", "RS256", Some("rsa-2"), sa_claims());
    let err = auth.verify(&token, NOW).unwrap_err();
    assert_eq!(
        err,
        AuthError::KeyNotFound {
            issuer: SA_ISSUER.into(),
            kid: Some("rsa-2".into()),
            alg: "RS256".into()
        }
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(!err.to_string().contains(signature));
    assert_eq!(
        err.to_string(),
        "no key of the issuer matches kid \"rsa-2\" and algorithm RS256"
    );
}

#[test]
fn authentication_failures_are_reasons_of_the_one_list() {
    use meshguard::reason::{Outcome, Reason};
    let samples = [
        AuthError::TokenMissing,
        AuthError::TokenAmbiguous { detail: "x".into() },
        AuthError::KeysUnavailable { issuer: "i".into() },
        AuthError::ExpirationMissing,
    ];
    for error in samples {
        let reason = error.reason();
        assert!(Reason::ALL.contains(&reason));
        assert_eq!(reason.outcome(), Outcome::Deny);
        assert_eq!(error.code(), reason.code());
    }
}
