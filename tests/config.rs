//! Configuration refusals name the field at fault; the shipped configurations compile.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use meshguard::config::PluginConfig;
use serde_json::{json, Value};

/// One valid issuer entry to mutate.
fn entry() -> Value {
    json!({"issuer": {"url": IDP, "audiences": ["meshguard"]},
           "claimMappings": {"username": {"claim": "sub", "prefix": ""}},
           "jwks": {"keys": [jwk("es256", true)]}})
}

fn refusal(config: Value) -> String {
    let text = config.to_string();
    match PluginConfig::from_json(&text).and_then(|c| c.authenticator().map(|_| ())) {
        Ok(()) => "accepted".into(),
        Err(e) => e.to_string(),
    }
}

fn with_entry(change: impl FnOnce(&mut Value)) -> Value {
    let mut e = entry();
    change(&mut e);
    json!({"authentication": {"jwt": [e]}})
}

#[test]
fn configuration_refusals_name_the_field_truth_table() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("valid", with_entry(|_| {}), "accepted"),
        ("unknown top-level key", json!({"authentication": {"jwt": [entry()]}, "authz": {}}), "unknown field `authz`"),
        ("unknown issuer key", with_entry(|e| e["issuer"]["audience"] = json!("x")),
            "authentication.jwt[0].issuer.audience: unknown field `audience`"),
        ("wrong type", with_entry(|e| e["issuer"]["audiences"] = json!("meshguard")),
            "authentication.jwt[0].issuer.audiences: invalid type"),
        ("no issuers", json!({"authentication": {"jwt": []}}), "authentication.jwt: at least one authenticator is required"),
        ("no audiences", with_entry(|e| e["issuer"]["audiences"] = json!([])),
            "authentication.jwt[0].issuer.audiences: at least one audience"),
        ("two audiences without policy", with_entry(|e| e["issuer"]["audiences"] = json!(["a", "b"])),
            "authentication.jwt[0].issuer.audienceMatchPolicy: must be MatchAny"),
        ("unsupported audience policy", with_entry(|e| e["issuer"]["audienceMatchPolicy"] = json!("MatchAll")),
            "authentication.jwt[0].issuer.audienceMatchPolicy: \"MatchAll\" is not supported"),
        ("no keys", with_entry(|e| { e.as_object_mut().unwrap().remove("jwks"); }),
            "authentication.jwt[0]: no keys"),
        ("discovery without a cluster", with_entry(|e| e["issuer"]["discoveryURL"] = json!("https://idp/.well-known")),
            "authentication.jwt[0].issuer.discoveryURL: needs remoteKeys"),
        ("certificate authority that is not PEM", with_entry(|e| e["issuer"]["certificateAuthority"] = json!("PEM")),
            "authentication.jwt[0].issuer.certificateAuthority: data does not contain any valid RSA or ECDSA certificates"),
        ("egress selector", with_entry(|e| e["issuer"]["egressSelectorType"] = json!("controlplane")), "accepted"),
        ("bad egress selector", with_entry(|e| e["issuer"]["egressSelectorType"] = json!("vpn")),
            "authentication.jwt[0].issuer.egressSelectorType: \"vpn\" must be"),
        ("http issuer", with_entry(|e| e["issuer"]["url"] = json!("http://idp.example.com")),
            "authentication.jwt[0].issuer.url: URL scheme must be https"),
        ("issuer with a query", with_entry(|e| e["issuer"]["url"] = json!("https://idp.example.com/?a=b")),
            "authentication.jwt[0].issuer.url: URL must not contain a query"),
        ("no claimMappings", with_entry(|e| { e.as_object_mut().unwrap().remove("claimMappings"); }),
            "authentication.jwt[0].claimMappings.username: claim or expression is required"),
        ("groups claim without prefix", with_entry(|e| e["claimMappings"]["groups"] = json!({"claim": "groups"})),
            "authentication.jwt[0].claimMappings.groups.prefix: prefix is required when claim is set"),
        ("uid claim and expression", with_entry(|e| e["claimMappings"]["uid"] = json!({"claim": "sub", "expression": "claims.sub"})),
            "authentication.jwt[0].claimMappings.uid: claim and expression can't both be set"),
        ("rule message with a claim", with_entry(|e| e["claimValidationRules"] = json!([{"claim": "hd", "requiredValue": "x", "message": "m"}])),
            "authentication.jwt[0].claimValidationRules[0].message: may not be specified when claim is set"),
        ("duplicate rule claim", with_entry(|e| e["claimValidationRules"] = json!([{"claim": "hd", "requiredValue": "x"}, {"claim": "hd", "requiredValue": "y"}])),
            "authentication.jwt[0].claimValidationRules[1].claim: duplicate claim"),
        ("plain-reference rule", with_entry(|e| e["claimValidationRules"] = json!([{"expression": "claims.email_verified"}])), "accepted"),
        ("discovery URL equal to the issuer", with_entry(|e| { e["issuer"]["discoveryURL"] = json!(format!("{IDP}/")); e["remoteKeys"] = json!({"cluster": "idp"}); }),
            "authentication.jwt[0].issuer.discoveryURL: discoveryURL must be different from URL"),
        ("remote keys", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp"})), "accepted"),
        ("remote keys without inline keys", with_entry(|e| { e.as_object_mut().unwrap().remove("jwks"); e["remoteKeys"] = json!({"cluster": "idp"}); }), "accepted"),
        ("remote keys without a cluster", with_entry(|e| e["remoteKeys"] = json!({"cluster": ""})),
            "authentication.jwt[0].remoteKeys.cluster: must name an Envoy cluster"),
        ("remote keys with a bad URL", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "jwksURI": "ftp://idp/keys"})),
            "authentication.jwt[0].remoteKeys.jwksURI: \"ftp://idp/keys\": the scheme must be https or http"),
        ("remote keys with credentials in the URL", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "jwksURI": "https://u:p@idp/keys"})),
            "credentials in the URL are not allowed"),
        ("jwksURI and discoveryURL", with_entry(|e| { e["issuer"]["discoveryURL"] = json!("https://idp/d"); e["remoteKeys"] = json!({"cluster": "idp", "jwksURI": "https://idp/keys"}); }),
            "authentication.jwt[0].issuer.discoveryURL: set remoteKeys.jwksURI or issuer.discoveryURL, not both"),
        ("refresh outside its bounds", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "refreshIntervalSeconds": 10, "minRefreshIntervalSeconds": 60})),
            "authentication.jwt[0].remoteKeys.refreshIntervalSeconds: must lie within"),
        ("fetch timeout too long", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "fetch": {"timeoutMs": 600000}})),
            "authentication.jwt[0].remoteKeys.fetch.timeoutMs: 600000 is outside 100..=60000"),
        ("wait too long", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "fetch": {"requestWaitMs": 60000}})),
            "authentication.jwt[0].remoteKeys.fetch.requestWaitMs: 60000 is outside 0..=30000"),
        ("backoff cap below its start", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "fetch": {"initialBackoffMs": 5000, "maxBackoffSeconds": 1}})),
            "authentication.jwt[0].remoteKeys.fetch.maxBackoffSeconds: must not be less than initialBackoffMs"),
        ("unknown remote key field", with_entry(|e| e["remoteKeys"] = json!({"cluster": "idp", "url": "https://idp"})),
            "authentication.jwt[0].remoteKeys.url: unknown field `url`"),
        ("CEL claim rule", with_entry(|e| e["claimValidationRules"] = json!([{"expression": "claims.hd == 'x'"}])), "accepted"),
        ("CEL claim rule of the wrong type", with_entry(|e| e["claimValidationRules"] = json!([{"expression": "claims.hd + 'x'"}])),
            "accepted"),
        ("CEL claim rule that is a string", with_entry(|e| e["claimValidationRules"] = json!([{"expression": "'x'"}])),
            "authentication.jwt[0].claimValidationRules[0].expression: got \"string\", wanted \"bool\""),
        ("CEL user rule", with_entry(|e| e["userValidationRules"] = json!([{"expression": "!user.username.startsWith('x')"}])), "accepted"),
        ("CEL user rule on claims", with_entry(|e| e["userValidationRules"] = json!([{"expression": "claims.sub == 'x'"}])),
            "authentication.jwt[0].userValidationRules[0].expression: undeclared reference to 'claims'"),
        ("CEL username", with_entry(|e| e["claimMappings"] = json!({"username": {"expression": "claims.a + claims.b"}})), "accepted"),
        ("CEL that does not parse", with_entry(|e| e["claimMappings"] = json!({"username": {"expression": "claims.a +"}})),
            "authentication.jwt[0].claimMappings.username.expression: unexpected end of expression"),
        ("unsupported CEL", with_entry(|e| e["claimMappings"] = json!({"username": {"expression": "claims.a.matches('x')"}})),
            "authentication.jwt[0].claimMappings.username.expression: unsupported function matches()"),
        ("extra key without domain", with_entry(|e| e["claimMappings"]["extra"] = json!([{"key": "team", "claim": "team"}])),
            "authentication.jwt[0].claimMappings.extra[0].key: \"team\" must be domain-prefixed"),
        ("extra key reserved", with_entry(|e| e["claimMappings"]["extra"] = json!([{"key": "authentication.kubernetes.io/x", "claim": "x"}])),
            "reserved for Kubernetes"),
        ("mappings on a service-account issuer", with_entry(|e| { e["serviceAccountIssuer"] = json!(true); }),
            "authentication.jwt[0].claimMappings: does not apply"),
        ("unknown algorithm", with_entry(|e| e["algorithms"] = json!(["ES256", "none"])),
            "authentication.jwt[0].algorithms[1]: \"none\" is not a supported algorithm"),
        ("algorithm without a key", with_entry(|e| e["algorithms"] = json!(["RS256"])),
            "authentication.jwt[0].algorithms[0]: RS256 is allowed but no configured key"),
        ("broken JWK", with_entry(|e| e["jwks"] = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]})),
            "authentication.jwt[0].jwks: key 0: \"x\" and \"y\" must be 32 bytes"),
        ("weak RSA key", with_entry(|e| e["jwks"] = json!({"keys": [{"kty": "RSA", "n": "wQ", "e": "AQAB"}]})),
            "authentication.jwt[0].jwks: key 0: unusable RSA key"),
        ("bad PEM", with_entry(|e| { e.as_object_mut().unwrap().remove("jwks"); e["publicKeys"] = json!("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"); }),
            "authentication.jwt[0].publicKeys: PEM block 0"),
        ("duplicate issuer", json!({"authentication": {"jwt": [entry(), entry()]}}),
            "authentication.jwt[1].issuer.url: duplicate issuer"),
        ("skew too large", json!({"authentication": {"jwt": [entry()], "clockSkewSeconds": 3600}}),
            "authentication.clockSkewSeconds: 3600 is more than the maximum"),
        ("token limit too small", json!({"authentication": {"jwt": [entry()], "maxTokenBytes": 10}}),
            "authentication.maxTokenBytes: 10 is outside"),
        ("token cache too large", json!({"authentication": {"jwt": [entry()], "tokenCache": {"maxEntries": 2000000}}}),
            "authentication.tokenCache.maxEntries: 2000000 is more than the maximum"),
        ("token cache age zero", json!({"authentication": {"jwt": [entry()], "tokenCache": {"maxAgeSeconds": 0}}}),
            "authentication.tokenCache.maxAgeSeconds: 0 is outside"),
        ("too many shared slots", json!({"authentication": {"jwt": [entry()], "tokenCache": {"sharedSlots": 100000}}}),
            "authentication.tokenCache.sharedSlots: 100000 is more than the maximum"),
        ("unknown cache field", json!({"authentication": {"jwt": [entry()], "tokenCache": {"size": 1}}}),
            "authentication.tokenCache.size: unknown field `size`"),
        ("wrong kind", json!({"authentication": {"kind": "Foo", "jwt": [entry()]}}),
            "authentication.kind: must be AuthenticationConfiguration"),
    ];
    for (name, config, want) in cases {
        let got = refusal(config);
        assert!(
            got.contains(want),
            "{name}: got {got:?}, want it to contain {want:?}"
        );
    }
}

#[test]
fn every_error_of_an_authenticator_is_reported_at_once_as_the_apiserver_does() {
    let config = with_entry(|e| {
        e["issuer"]["url"] = json!("http://idp.example.com#x");
        e["issuer"]["audiences"] = json!(["a", "a"]);
        e["claimMappings"] = json!({"username": {"claim": "sub"},
                                    "groups": {"expression": "claims.g", "prefix": "x"}});
    });
    let got = refusal(config);
    for want in [
        "authentication.jwt[0].issuer.url: URL scheme must be https",
        "authentication.jwt[0].issuer.audiences[1]: duplicate audience \"a\"",
        "authentication.jwt[0].issuer.audienceMatchPolicy: must be MatchAny",
        "authentication.jwt[0].claimMappings.username.prefix: prefix is required",
        "authentication.jwt[0].claimMappings.groups.prefix: may not be specified",
    ] {
        assert!(got.contains(want), "{want:?} missing from:\n{got}");
    }
    assert_eq!(got.lines().count(), 5, "{got}");
}

#[test]
fn an_apiserver_authentication_configuration_pastes_in_as_it_is() {
    // The shape of a kube-apiserver --authentication-config file, plus inline keys.
    let config = json!({"authentication": {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {"url": IDP, "audiences": ["meshguard", "kubectl"], "audienceMatchPolicy": "MatchAny"},
            "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}],
            "claimMappings": {
                "username": {"claim": "email", "prefix": ""},
                "groups": {"claim": "groups", "prefix": ""},
                "uid": {"claim": "sub"},
                "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]
            },
            "jwks": {"keys": [jwk("es256", true)]}
        }]
    }});
    assert_eq!(refusal(config), "accepted");
}

#[test]
fn the_demo_configuration_compiles_and_trusts_the_development_keys() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/demo-config.yaml");
    let value: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let auth = PluginConfig::from_value(value)
        .unwrap()
        .authenticator()
        .unwrap();
    let token = mint("rs256", "RS256", Some("rsa-1"), sa_claims());
    assert_eq!(
        auth.verify(&token, NOW).unwrap().user.username,
        "system:serviceaccount:orders:api"
    );
}

#[test]
fn settings_that_weaken_the_boundary_are_warned_about_and_the_demo_has_none() {
    let demo = common::envoy::demo_plugin_config();
    let engine = PluginConfig::from_value(demo.clone())
        .unwrap()
        .engine()
        .unwrap();
    assert!(
        engine.config_warnings.is_empty(),
        "{:?}",
        engine.config_warnings
    );
    assert!(engine.forwarding.strip_token, "stripToken is on by default");

    let mut weak = demo;
    weak["forwarding"]["stripToken"] = json!(false);
    weak["authentication"]["jwt"][0]["issuer"]["audiences"] =
        json!(["https://kubernetes.default.svc.cluster.local"]);
    let engine = PluginConfig::from_value(weak).unwrap().engine().unwrap();
    let text = engine.config_warnings.join("\n");
    assert!(text.contains("forwarding.stripToken is off"), "{text}");
    assert!(
        text.contains("authentication.jwt[0].issuer.audiences"),
        "{text}"
    );
}
