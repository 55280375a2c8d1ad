//! AuthenticationConfiguration cases as the Kubernetes documentation and the apiserver's own
//! OIDC tests state them (facts re-expressed as rows: the configuration's claim handling, the
//! token's claims, the user the apiserver builds or its refusal), through the core and through
//! the built `.wasm`, which must agree with the row and with each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::host::Host;
use common::{jwk, mint, IDP, NOW};
use meshguard::config::PluginConfig;
use serde_json::{json, Value};

/// What a row expects: the user (name, groups without system:authenticated, extras), or a
/// refusal naming the claim or expression at fault.
enum Want {
    User(&'static str, &'static [&'static str], Value),
    Refused(&'static str),
}

struct Case {
    name: &'static str,
    /// The authenticator's fields beside issuer and keys.
    authenticator: Value,
    /// The token's claims beside iss, aud and exp.
    claims: Value,
    want: Want,
}

fn cases() -> Vec<Case> {
    let sub = json!({"username": {"claim": "sub", "prefix": ""}});
    vec![
        Case {
            name: "username from sub without a prefix",
            authenticator: json!({"claimMappings": sub}),
            claims: json!({"sub": "119abc"}),
            want: Want::User("119abc", &[], json!({})),
        },
        Case {
            name: "username and groups with prefixes (the documentation's oidc: example)",
            authenticator: json!({"claimMappings": {
                "username": {"claim": "sub", "prefix": "oidc:"},
                "groups": {"claim": "groups", "prefix": "oidc:"}}}),
            claims: json!({"sub": "jane", "groups": ["admins", "dev"]}),
            want: Want::User("oidc:jane", &["oidc:admins", "oidc:dev"], json!({})),
        },
        Case {
            name: "a groups claim that is a single string",
            authenticator: json!({"claimMappings": {
                "username": {"claim": "sub", "prefix": ""},
                "groups": {"claim": "groups", "prefix": ""}}}),
            claims: json!({"sub": "jane", "groups": "admins"}),
            want: Want::User("jane", &["admins"], json!({})),
        },
        Case {
            name: "username from a verified email",
            authenticator: json!({"claimMappings": {"username": {"claim": "email", "prefix": ""}}}),
            claims: json!({"sub": "s", "email": "jane@example.com", "email_verified": true}),
            want: Want::User("jane@example.com", &[], json!({})),
        },
        Case {
            name: "username from an unverified email is refused",
            authenticator: json!({"claimMappings": {"username": {"claim": "email", "prefix": ""}}}),
            claims: json!({"sub": "s", "email": "jane@example.com", "email_verified": false}),
            want: Want::Refused("email_verified"),
        },
        Case {
            name: "username expression: the value as it is",
            authenticator: json!({"claimMappings": {"username": {"expression": "claims.username"}}}),
            claims: json!({"sub": "s", "username": "jane"}),
            want: Want::User("jane", &[], json!({})),
        },
        Case {
            name: "username expression on a missing claim is refused",
            authenticator: json!({"claimMappings": {"username": {"expression": "claims.username"}}}),
            claims: json!({"sub": "s"}),
            want: Want::Refused("claims.username"),
        },
        Case {
            name: "username expression to an email needs email_verified, read by a rule",
            authenticator: json!({
                "claimMappings": {"username": {"expression": "claims.email"}},
                "claimValidationRules": [{"expression": "claims.email_verified",
                                          "message": "email must be verified"}]}),
            claims: json!({"sub": "s", "email": "jane@example.com", "email_verified": true}),
            want: Want::User("jane@example.com", &[], json!({})),
        },
        Case {
            name: "a failed expression rule refuses with its message",
            authenticator: json!({
                "claimMappings": {"username": {"expression": "claims.email"}},
                "claimValidationRules": [{"expression": "claims.email_verified",
                                          "message": "email must be verified"}]}),
            claims: json!({"sub": "s", "email": "jane@example.com", "email_verified": false}),
            want: Want::Refused("claims.email_verified"),
        },
        Case {
            name: "a required claim value",
            authenticator: json!({"claimMappings": sub,
                                  "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}]}),
            claims: json!({"sub": "jane", "hd": "example.com"}),
            want: Want::User("jane", &[], json!({})),
        },
        Case {
            name: "a required claim with another value is refused",
            authenticator: json!({"claimMappings": sub,
                                  "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}]}),
            claims: json!({"sub": "jane", "hd": "evil.com"}),
            want: Want::Refused("hd"),
        },
        Case {
            name: "a missing required claim is refused",
            authenticator: json!({"claimMappings": sub,
                                  "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}]}),
            claims: json!({"sub": "jane"}),
            want: Want::Refused("hd"),
        },
        Case {
            name: "a uid claim that is missing is refused",
            authenticator: json!({"claimMappings": {"username": {"claim": "sub", "prefix": ""},
                                                    "uid": {"claim": "uid"}}}),
            claims: json!({"sub": "jane"}),
            want: Want::Refused("uid"),
        },
        Case {
            name: "extra values from an expression",
            authenticator: json!({"claimMappings": {"username": {"claim": "sub", "prefix": ""},
                "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]}}),
            claims: json!({"sub": "jane", "tenant": ["t1", "", "t2"]}),
            want: Want::User("jane", &[], json!({"example.com/tenant": ["t1", "t2"]})),
        },
        Case {
            name: "an extra expression on a missing claim is refused",
            authenticator: json!({"claimMappings": {"username": {"claim": "sub", "prefix": ""},
                "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]}}),
            claims: json!({"sub": "jane"}),
            want: Want::Refused("claims.tenant"),
        },
        Case {
            name: "groups from an expression drop empty strings",
            authenticator: json!({"claimMappings": {"username": {"claim": "sub", "prefix": ""},
                                                    "groups": {"expression": "claims.roles"}}}),
            claims: json!({"sub": "jane", "roles": ["ops", ""]}),
            want: Want::User("jane", &["ops"], json!({})),
        },
        // The documentation's CEL example, as a valid token, a token failing claim validation
        // and one failing user validation.
        Case {
            name: "the documentation's CEL configuration: a valid token",
            authenticator: docs_cel(),
            claims: json!({"sub": "119abc", "username": "jane", "roles": "admin,dev",
                           "hd": "example.com", "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db4a",
                           "nbf": NOW - 60, "iat": NOW - 60}),
            want: Want::User(
                "jane:external-user",
                &["admin", "dev"],
                json!({"example.com/tenant": ["72f988bf-86f1-41af-91ab-2d7cd011db4a"]}),
            ),
        },
        Case {
            name: "the documentation's CEL configuration: a token that fails claim validation",
            authenticator: docs_cel(),
            claims: json!({"sub": "119abc", "username": "jane", "roles": "admin,dev",
                           "hd": "example.com", "tenant": "t", "nbf": NOW - 200_000, "iat": NOW - 200_000}),
            want: Want::Refused("claims.exp - claims.nbf <= 86400"),
        },
        Case {
            name: "the documentation's CEL configuration: a token that fails user validation",
            authenticator: {
                let mut a = docs_cel();
                a["allowSystemNames"] = json!(true);
                a
            },
            claims: json!({"sub": "119abc", "username": "system:jane", "roles": "admin,dev",
                           "hd": "example.com", "tenant": "t", "nbf": NOW - 60, "iat": NOW - 60}),
            want: Want::Refused("!user.username.startsWith('system:')"),
        },
        Case {
            name: "optional claims with orValue",
            authenticator: json!({"claimMappings": {
                "username": {"expression": "claims.?preferred_username.orValue(claims.sub)"},
                "groups": {"expression": "claims.?groups.orValue([])"}}}),
            claims: json!({"sub": "jane"}),
            want: Want::User("jane", &[], json!({})),
        },
        Case {
            name: "a system: username is refused (meshguard is stricter; see allowSystemNames)",
            authenticator: json!({"claimMappings": sub}),
            claims: json!({"sub": "system:admin"}),
            want: Want::Refused("sub"),
        },
        Case {
            name: "with allowSystemNames, a system: username as the apiserver builds it",
            authenticator: json!({"claimMappings": sub, "allowSystemNames": true}),
            claims: json!({"sub": "system:admin"}),
            want: Want::User("system:admin", &[], json!({})),
        },
    ]
}

/// The documentation's AuthenticationConfiguration with CEL (claim validation, username,
/// groups, uid and extra expressions, a user validation rule).
fn docs_cel() -> Value {
    json!({
        "claimValidationRules": [
            {"expression": "claims.hd == \"example.com\"",
             "message": "the hd claim must be set to example.com"},
            {"expression": "claims.exp - claims.nbf <= 86400",
             "message": "total token lifetime must not exceed 24 hours"}
        ],
        "claimMappings": {
            "username": {"expression": "claims.username + \":external-user\""},
            "groups": {"expression": "claims.roles.split(\",\")"},
            "uid": {"expression": "claims.sub"},
            "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]
        },
        "userValidationRules": [
            {"expression": "!user.username.startsWith('system:')",
             "message": "username cannot used reserved system: prefix"}
        ]
    })
}

fn config(case: &Case) -> Value {
    let mut entry = json!({"issuer": {"url": IDP, "audiences": ["meshguard"]},
                           "jwks": {"keys": [jwk("es256", true)]}});
    for (k, v) in case.authenticator.as_object().unwrap() {
        entry[k] = v.clone();
    }
    let mut config = common::envoy::demo_plugin_config();
    config["authentication"] = json!({"jwt": [entry]});
    // Every authenticated user may GET /whoami: what the upstream is told is the user.
    config["authorization"]["bundle"] = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "whoami"},
         "rules": [{"nonResourceURLs": ["/whoami"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "whoami"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "whoami"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]}
    ]);
    config["authorization"]["requestMapping"]["nonResourcePaths"] = json!(["/whoami"]);
    config
}

fn token(case: &Case) -> String {
    let mut claims = json!({"iss": IDP, "aud": "meshguard", "exp": NOW + 600});
    for (k, v) in case.claims.as_object().unwrap() {
        claims[k] = v.clone();
    }
    mint("es256", "ES256", None, claims)
}

#[test]
fn the_documented_cases_build_the_apiservers_users_in_core_and_wasm() {
    for case in cases() {
        let config = config(&case);
        let token = token(&case);
        // Core.
        let auth = PluginConfig::from_value(config.clone())
            .unwrap()
            .authenticator()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let core = auth.verify(&token, NOW);
        // The .wasm.
        let mut host = Host::new();
        host.set_time(NOW);
        assert!(
            host.start(&config.to_string()),
            "{}: {:?}",
            case.name,
            host.state().logs
        );
        let exchange = host.request(
            "GET",
            "/whoami",
            &[("authorization", &format!("Bearer {token}"))],
        );
        match &case.want {
            Want::User(name, groups, extra) => {
                let user = core.unwrap_or_else(|e| panic!("{}: {e}", case.name)).user;
                let mut want_groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
                want_groups.push("system:authenticated".into());
                assert_eq!(user.username, *name, "{}", case.name);
                assert_eq!(user.groups, want_groups, "{}", case.name);
                for (key, values) in extra.as_object().unwrap() {
                    assert_eq!(json!(user.extra[key]), *values, "{}", case.name);
                }
                assert_eq!(exchange.status(), 200, "{}: {:?}", case.name, exchange.logs);
                assert_eq!(
                    exchange.upstream_header("x-remote-user"),
                    [*name],
                    "{}",
                    case.name
                );
                assert_eq!(
                    exchange.upstream_header("x-remote-group"),
                    want_groups,
                    "{}",
                    case.name
                );
            }
            Want::Refused(claim) => {
                match core {
                    Err(meshguard::token::AuthError::ClaimValidationFailed {
                        claim: got, ..
                    }) => {
                        assert_eq!(got, *claim, "{}", case.name)
                    }
                    other => panic!("{}: {other:?}", case.name),
                }
                assert_eq!(exchange.status(), 401, "{}", case.name);
                let body = exchange.local_reply.unwrap().json();
                assert_eq!(body["reason"], "claim_validation_failed", "{}", case.name);
                if case.name.contains("fails claim validation") {
                    assert!(
                        body["message"]
                            .as_str()
                            .unwrap()
                            .contains("total token lifetime must not exceed 24 hours"),
                        "{body}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_longest_expression_runs_in_the_wasm_without_exhausting_its_stack() {
    // 255 tokens: a chain of 126 '+' nests about as deep as an accepted expression can.
    let username = format!("claims.sub{}", " + 'x'".repeat(126));
    let case = Case {
        name: "long",
        authenticator: json!({"claimMappings": {"username": {"expression": username}},
                              "allowSystemNames": true}),
        claims: json!({"sub": "jane"}),
        want: Want::Refused(""),
    };
    let mut host = Host::new();
    host.set_time(NOW);
    assert!(
        host.start(&config(&case).to_string()),
        "{:?}",
        host.state().logs
    );
    let exchange = host.request(
        "GET",
        "/whoami",
        &[("authorization", &format!("Bearer {}", token(&case)))],
    );
    assert_eq!(exchange.status(), 200);
    let user = exchange.upstream_header("x-remote-user")[0].to_owned();
    assert_eq!(user, format!("jane{}", "x".repeat(126)));
}
