//! The published JSON Schema of the plugin configuration (`docs/plugin-config.schema.json`):
//! every shipped configuration validates, bad ones do not, and the schema names exactly the
//! fields the filter's parser accepts, object by object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::envoy::{
    demo_plugin_config, rendered_with, root, services_plugin_config, shipped_plugin_config,
};
use common::{standard_config, IDP};
use meshguard::config::PluginConfig;
use serde_json::{json, Value};

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/plugin-config.schema.json")).unwrap(),
    )
    .unwrap()
}

/// The keywords this validator implements; annotations are read and ignored. The schema may
/// use no other, so nothing it says is silently skipped.
const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "additionalProperties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minItems",
    "pattern",
    "oneOf",
    "$ref",
];
const ANNOTATIONS: &[&str] = &["$schema", "$id", "$defs", "title", "description", "default"];

/// A JSON Schema (2020-12 subset) validator: the errors, with their instance paths.
struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("local $ref");
                self.root
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {reference}"))
            }
            None => schema,
        }
    }

    fn type_matches(kind: &str, value: &Value) -> bool {
        match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "null" => value.is_null(),
            other => panic!("unknown type {other}"),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let object = schema.as_object().expect("a schema is an object");
        for key in object.keys() {
            assert!(
                KEYWORDS.contains(&key.as_str()) || ANNOTATIONS.contains(&key.as_str()),
                "schema keyword {key} at {path} is not implemented by this validator"
            );
        }
        if let Some(kind) = schema.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(s) => vec![s.as_str()],
                Value::Array(list) => list.iter().map(|k| k.as_str().unwrap()).collect(),
                _ => panic!("bad type"),
            };
            if !kinds.iter().any(|k| Self::type_matches(k, value)) {
                errors.push(format!("{path}: expected {kinds:?}, found {value}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                errors.push(format!("{path}: {value} is not one of {allowed:?}"));
            }
        }
        if let Some(n) = value.as_f64() {
            if schema
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                errors.push(format!("{path}: {n} is below the minimum"));
            }
            if schema
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                errors.push(format!("{path}: {n} is above the maximum"));
            }
        }
        if let (Some(pattern), Some(text)) = (
            schema.get("pattern").and_then(Value::as_str),
            value.as_str(),
        ) {
            // Only anchored literal prefixes are used (and supported).
            let prefix = pattern.strip_prefix('^').expect("anchored pattern");
            let prefix = prefix.replace("\\.", ".");
            assert!(
                !prefix.contains(['\\', '*', '+', '?', '(', '[', '$', '|']),
                "pattern {pattern} is more than a literal prefix"
            );
            if !text.starts_with(&prefix) {
                errors.push(format!("{path}: {text:?} does not match {pattern}"));
            }
        }
        if let Some(list) = value.as_array() {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if (list.len() as u64) < min {
                    errors.push(format!("{path}: fewer than {min} items"));
                }
            }
            if let Some(items) = schema.get("items") {
                for (i, item) in list.iter().enumerate() {
                    self.validate(items, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        if let Some(map) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !map.contains_key(name.as_str().unwrap()) {
                    errors.push(format!("{path}: {name} is required"));
                }
            }
            for (key, member) in map {
                let member_path = format!("{path}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(member_schema) => {
                        self.validate(member_schema, member, &member_path, errors)
                    }
                    None if schema.get("additionalProperties") == Some(&json!(false)) => {
                        errors.push(format!("{member_path}: not allowed"));
                    }
                    None => {}
                }
            }
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|option| {
                    let mut sub = Vec::new();
                    self.validate(option, value, path, &mut sub);
                    sub.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!(
                    "{path}: matches {matching} of the oneOf alternatives"
                ));
            }
        }
    }

    fn errors(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate(self.root, value, "", &mut errors);
        errors
    }
}

/// A configuration that sets every field the schema describes (not a sensible one: it only
/// has to parse).
fn every_field() -> Value {
    json!({
        "authentication": {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "AuthenticationConfiguration",
            "jwt": [{
                "issuer": {"url": IDP, "discoveryURL": "https://idp.example.com/.well-known",
                           "certificateAuthority": "PEM", "audiences": ["a", "b"],
                           "audienceMatchPolicy": "MatchAny"},
                "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com",
                                          "expression": "true", "message": "m"}],
                "claimMappings": {
                    "username": {"claim": "email", "prefix": "oidc:", "expression": "claims.email"},
                    "groups": {"claim": "groups", "prefix": "oidc:", "expression": "claims.groups"},
                    "uid": {"claim": "sub", "expression": "claims.sub"},
                    "extra": [{"key": "example.com/team", "claim": "team",
                               "valueExpression": "claims.team"}]
                },
                "userValidationRules": [{"expression": "true", "message": "m"}],
                "jwks": {"keys": []},
                "publicKeys": "PEM",
                "remoteKeys": {"cluster": "idp", "jwksURI": "https://idp.example.com/keys",
                               "refreshIntervalSeconds": 300, "minRefreshIntervalSeconds": 30,
                               "maxRefreshIntervalSeconds": 3600,
                               "unknownKidRefetchIntervalSeconds": 30,
                               "fetch": {"timeoutMs": 5000, "initialBackoffMs": 1000,
                                         "maxBackoffSeconds": 60, "maxResponseBytes": 65536,
                                         "requestWaitMs": 3000}},
                "algorithms": ["RS256"],
                "serviceAccountIssuer": false,
                "requireExpiration": true,
                "maxTokenLifetimeSeconds": 3600
            }],
            "tokenSources": [
                {"header": {"name": "authorization", "valuePrefix": "Bearer "}},
                {"queryParameter": {"name": "access_token"}},
                {"cookie": {"name": "session"}}
            ],
            "clockSkewSeconds": 30,
            "maxTokenBytes": 4096,
            "tokenCache": {"maxEntries": 100, "maxAgeSeconds": 600, "sharedSlots": 64},
            "order": ["frontProxy", "x509", "spiffe", "token"],
            "spiffe": {"trustDomains": ["cluster.local"]},
            "x509": {},
            "frontProxy": {"allowedNames": ["front-proxy"], "usernameHeaders": ["X-Remote-User"],
                           "uidHeaders": ["X-Remote-Uid"], "groupHeaders": ["X-Remote-Group"],
                           "extraHeaderPrefixes": ["X-Remote-Extra-"]},
            "senderConstraint": true,
            "staticTokens": [{"tokenSHA256": "0000000000000000000000000000000000000000000000000000000000000000", "user": "u", "uid": "1",
                              "groups": ["g"]}],
            "bootstrapTokens": [{"tokenID": "abcdef", "secretSHA256": "0000000000000000000000000000000000000000000000000000000000000000",
                                 "expiration": "2030-01-01T00:00:00Z",
                                 "usages": ["authentication"],
                                 "authExtraGroups": ["system:bootstrappers:x"]}],
            "webhook": {"cluster": "authn", "url": "https://authn.example.com/review",
                        "audiences": ["meshguard"], "cacheTTLSeconds": 120,
                        "failurePolicy": "unavailable", "retryAfterSeconds": 5,
                        "timeoutMs": 5000, "requestWaitMs": 3000,
                        "maxResponseBytes": 65536}
        },
        "authorization": {
            "requestMapping": {"mode": "service", "apiPrefixes": ["api"],
                               "grouplessApiPrefixes": ["api"], "namespace": "orders",
                               "service": "orders",
                               "apiGroup": "orders.example.com",
                               "routes": ["/v1/{resource}",
                                          {"path": "/v2/{name}", "apiGroup": "g",
                                           "resource": "orders", "subresource": "s",
                                           "name": "n", "namespace": "ns",
                                           "verbs": {"POST": "approve"}}],
                               "nonResourcePaths": ["/healthz"],
                               "grpc": {"apiGroup": "grpc"}},
            "bundleSource": {"cluster": "bundles", "url": "https://bundles.example.com/b.json",
                             "signatureURL": "https://bundles.example.com/b.json.sig",
                             "signingKeys": {"keys": []}, "pollIntervalSeconds": 30,
                             "fetch": {"timeoutMs": 5000}}
        },
        "mode": "dryRun",
        "anonymous": {"enabled": true},
        "forwarding": {"userHeader": "x-user", "groupHeader": "x-group",
                       "extraHeaderPrefix": "x-extra-", "stripToken": true,
                       "decisionHeader": "x-decision"},
        "bypassPaths": ["/livez"],
        "realm": "orders"
    })
}

#[test]
fn every_shipped_configuration_validates_against_the_schema() {
    let schema = schema();
    let validator = Validator { root: &schema };
    let istio: Value = {
        let text = std::fs::read_to_string(root().join("istio/wasmplugin.yaml")).unwrap();
        let plugin: Value = serde_yaml_ng::from_str(&text).unwrap();
        plugin["spec"]["pluginConfig"].clone()
    };
    let configs = [
        ("policies/demo-config.yaml, rendered", demo_plugin_config()),
        ("envoy/envoy.yaml", shipped_plugin_config()),
        ("istio/wasmplugin.yaml", istio),
        (
            "istio/meshguard-config.yaml, rendered",
            rendered_with("istio/meshguard-config.yaml", "policies/services/rbac"),
        ),
        (
            "policies/services/config.yaml, rendered",
            services_plugin_config(),
        ),
        ("the tests' standard configuration", standard_config()),
        ("every field", every_field()),
    ];
    for (name, config) in configs {
        let errors = validator.errors(&config);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        PluginConfig::from_value(config).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_schema_refuses_what_the_parser_refuses() {
    let schema = schema();
    let validator = Validator { root: &schema };
    let good = demo_plugin_config();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/forwarding/userHeaders",
            json!("x"),
            ".forwarding.userHeaders",
        ),
        ("/mode", json!("permissive"), ".mode"),
        (
            "/authentication/spiffe/trustDomains",
            json!([]),
            ".authentication.spiffe.trustDomains",
        ),
        (
            "/authentication/jwt/0/issuer/audiences",
            json!("meshguard"),
            ".authentication.jwt[0].issuer.audiences",
        ),
        (
            "/authentication/clockSkewSeconds",
            json!(601),
            ".authentication.clockSkewSeconds",
        ),
        (
            "/authentication/tokenSources",
            json!([{"header": {"name": "x"}, "cookie": {"name": "y"}}]),
            ".authentication.tokenSources[0]",
        ),
        (
            "/authorization/requestMapping/mode",
            json!("rest"),
            ".authorization.requestMapping.mode",
        ),
        ("/bypassPaths", json!(["livez"]), ".bypassPaths[0]"),
        ("/anonymous/enabled", json!("yes"), ".anonymous.enabled"),
    ];
    for (pointer, bad, at) in cases {
        let mut config = good.clone();
        let mut at_pointer = &mut config;
        for segment in pointer.split('/').skip(1) {
            at_pointer = match segment.parse::<usize>() {
                Ok(index) => &mut at_pointer[index],
                Err(_) => &mut at_pointer[segment],
            };
        }
        *at_pointer = bad;
        let errors = validator.errors(&config);
        assert!(
            errors.iter().any(|e| e.starts_with(at)),
            "{pointer}: expected an error at {at}, got {errors:?}"
        );
        let refused = PluginConfig::from_value(config.clone())
            .and_then(|c| c.engine().map(|_| ()))
            .is_err();
        assert!(
            refused,
            "{pointer}: the filter accepts what the schema refuses"
        );
    }
}

/// The field names serde lists in "unknown field `x`, expected one of `a`, `b`" (or "expected
/// `a`"), or the variant names of "unknown variant".
fn expected_names(message: &str) -> BTreeSet<String> {
    if message.contains("there are no fields") {
        return BTreeSet::new();
    }
    let list = message
        .split_once("expected one of ")
        .or_else(|| message.split_once("expected "))
        .unwrap_or_else(|| panic!("no expected list in {message}"))
        .1;
    list.split(", ")
        .flat_map(|n| n.split(" or "))
        .map(|n| n.trim().trim_matches('`').to_owned())
        .collect()
}

fn schema_properties(validator: &Validator<'_>, schema_at: &Value) -> BTreeSet<String> {
    validator
        .resolve(schema_at)
        .get("properties")
        .and_then(Value::as_object)
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_schema_names_exactly_the_fields_the_parser_accepts() {
    let schema = schema();
    let validator = Validator { root: &schema };
    let defs = &schema["$defs"];
    let jwt = &defs["jwtAuthenticator"]["properties"];
    let mapping = &jwt["claimMappings"]["properties"];
    let authorization = &defs["authorization"]["properties"];
    // Each object of the configuration, by JSON pointer into every_field(), and its schema.
    let objects: Vec<(&str, &Value)> = vec![
        ("", &schema),
        ("/authentication", &defs["authentication"]),
        ("/authentication/jwt/0", &defs["jwtAuthenticator"]),
        ("/authentication/jwt/0/issuer", &jwt["issuer"]),
        (
            "/authentication/jwt/0/claimValidationRules/0",
            &jwt["claimValidationRules"]["items"],
        ),
        ("/authentication/jwt/0/claimMappings", &jwt["claimMappings"]),
        (
            "/authentication/jwt/0/claimMappings/username",
            &mapping["username"],
        ),
        (
            "/authentication/jwt/0/claimMappings/groups",
            &mapping["groups"],
        ),
        ("/authentication/jwt/0/claimMappings/uid", &mapping["uid"]),
        (
            "/authentication/jwt/0/claimMappings/extra/0",
            &mapping["extra"]["items"],
        ),
        (
            "/authentication/jwt/0/userValidationRules/0",
            &jwt["userValidationRules"]["items"],
        ),
        (
            "/authentication/tokenSources/0/header",
            &defs["tokenSource"]["oneOf"][0]["properties"]["header"],
        ),
        (
            "/authentication/tokenSources/1/queryParameter",
            &defs["tokenSource"]["oneOf"][1]["properties"]["queryParameter"],
        ),
        (
            "/authentication/tokenSources/2/cookie",
            &defs["tokenSource"]["oneOf"][2]["properties"]["cookie"],
        ),
        ("/authorization", &defs["authorization"]),
        (
            "/authorization/requestMapping",
            &authorization["requestMapping"],
        ),
        (
            "/authorization/requestMapping/grpc",
            &authorization["requestMapping"]["properties"]["grpc"],
        ),
        ("/authorization/requestMapping/routes/1", &defs["route"]),
        ("/authentication/jwt/0/remoteKeys", &defs["remoteKeys"]),
        ("/authentication/jwt/0/remoteKeys/fetch", &defs["fetch"]),
        ("/authorization/bundleSource", &defs["bundleSource"]),
        ("/authorization/bundleSource/fetch", &defs["fetch"]),
        ("/anonymous", &schema["properties"]["anonymous"]),
        ("/forwarding", &defs["forwarding"]),
        (
            "/authentication/tokenCache",
            &defs["authentication"]["properties"]["tokenCache"],
        ),
        (
            "/authentication/spiffe",
            &defs["authentication"]["properties"]["spiffe"],
        ),
        (
            "/authentication/x509",
            &defs["authentication"]["properties"]["x509"],
        ),
        (
            "/authentication/frontProxy",
            &defs["authentication"]["properties"]["frontProxy"],
        ),
        ("/authentication/staticTokens/0", &defs["staticToken"]),
        ("/authentication/bootstrapTokens/0", &defs["bootstrapToken"]),
        (
            "/authentication/webhook",
            &defs["authentication"]["properties"]["webhook"],
        ),
    ];
    let mut checked = BTreeSet::new();
    for (pointer, schema_at) in objects {
        let mut config = every_field();
        config.pointer_mut(pointer).unwrap()["zzUnknownField"] = json!(1);
        let error = PluginConfig::from_value(config).unwrap_err();
        assert!(
            error.message.contains("unknown field `zzUnknownField`"),
            "{pointer}: {error}"
        );
        assert_eq!(
            expected_names(&error.message),
            schema_properties(&validator, schema_at),
            "{pointer}: the parser's fields (left) and the schema's (right) differ"
        );
        checked.insert(std::ptr::from_ref(validator.resolve(schema_at)) as usize);
    }
    // Token sources: the variants are the oneOf alternatives.
    let mut config = every_field();
    config["authentication"]["tokenSources"][0] = json!({"zzUnknownSource": {"name": "x"}});
    let error = PluginConfig::from_value(config).unwrap_err();
    let variants: BTreeSet<String> = defs["tokenSource"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["properties"].as_object().unwrap().keys().cloned())
        .collect();
    assert_eq!(expected_names(&error.message), variants, "{error}");
    assert_eq!(checked.len(), 29);
    // The example reaches every object: no object schema is left unchecked.
    let mut objects_in_schema = 0;
    count_objects(&schema, &mut objects_in_schema);
    assert_eq!(
        objects_in_schema,
        checked.len() + 3,
        "every closed object of the schema (and the 3 token-source alternatives) is checked"
    );
}

/// Counts the closed objects (`additionalProperties: false`) of a schema.
fn count_objects(schema: &Value, count: &mut usize) {
    match schema {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&json!(false)) {
                *count += 1;
            }
            map.values().for_each(|v| count_objects(v, count));
        }
        Value::Array(list) => list.iter().for_each(|v| count_objects(v, count)),
        _ => {}
    }
}
