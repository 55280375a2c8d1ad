//! The CEL of the structured authentication configuration: what compiles, what it gives, and
//! the errors that refuse a token, one row each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use meshguard::identity::{ClaimExpression, Want};
use serde_json::{json, Value};

fn claims() -> serde_json::Map<String, Value> {
    json!({"sub": "119abc", "email": "Jane@Example.com", "email_verified": true,
           "hd": "example.com", "roles": "admin,dev", "groups": ["ops", "dev"],
           "exp": 1_700_086_400, "nbf": 1_700_000_000, "iat": 1_700_000_000,
           "nested": {"team": "payments", "tags": ["a", "b"]}, "empty": ""})
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn expressions_evaluate_as_cel_does() {
    let rows: Vec<(&str, Want, Value)> = vec![
        ("claims.sub", Want::Str, json!("119abc")),
        ("claims[\"sub\"]", Want::Str, json!("119abc")),
        ("'oidc:' + claims.sub", Want::Str, json!("oidc:119abc")),
        (
            "claims.email.lowerAscii()",
            Want::Str,
            json!("jane@example.com"),
        ),
        ("claims.hd == 'example.com'", Want::Bool, json!(true)),
        ("claims.hd != 'example.com'", Want::Bool, json!(false)),
        ("claims.email_verified", Want::Bool, json!(true)),
        ("claims.exp - claims.nbf <= 86400", Want::Bool, json!(true)),
        ("claims.exp - claims.nbf <= 3600", Want::Bool, json!(false)),
        ("has(claims.email)", Want::Bool, json!(true)),
        ("has(claims.phone)", Want::Bool, json!(false)),
        ("claims.?phone.orValue('none')", Want::Str, json!("none")),
        (
            "claims.?email_verified.orValue(false)",
            Want::Bool,
            json!(true),
        ),
        (
            "claims.roles.split(',')",
            Want::Strings,
            json!(["admin", "dev"]),
        ),
        (
            "claims.groups.map(g, 'team:' + g)",
            Want::Strings,
            json!(["team:ops", "team:dev"]),
        ),
        (
            "claims.groups.filter(g, g.startsWith('o'))",
            Want::Strings,
            json!(["ops"]),
        ),
        (
            "claims.groups.exists(g, g == 'dev')",
            Want::Bool,
            json!(true),
        ),
        (
            "claims.groups.all(g, !g.startsWith('system:'))",
            Want::Bool,
            json!(true),
        ),
        ("'dev' in claims.groups", Want::Bool, json!(true)),
        ("size(claims.groups) == 2", Want::Bool, json!(true)),
        ("claims.groups.join('|')", Want::Str, json!("ops|dev")),
        ("claims.nested.team", Want::Str, json!("payments")),
        ("claims.nested.tags[1]", Want::Str, json!("b")),
        (
            "claims.hd == 'example.com' ? claims.sub : 'guest'",
            Want::Str,
            json!("119abc"),
        ),
        (
            "claims.email.endsWith('@Example.com') && claims.email_verified",
            Want::Bool,
            json!(true),
        ),
        // CEL's commutative logic: the missing claim's error is absorbed by the decisive side.
        (
            "claims.phone == 'x' || claims.hd == 'example.com'",
            Want::Bool,
            json!(true),
        ),
        (
            "claims.phone == 'x' && claims.hd == 'evil'",
            Want::Bool,
            json!(false),
        ),
        ("claims.iat == 1700000000", Want::Bool, json!(true)),
        ("['a', 'b'] + ['c']", Want::Strings, json!(["a", "b", "c"])),
    ];
    let claims = claims();
    for (text, want, expected) in rows {
        let expression =
            ClaimExpression::compile(text, want).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(expression.eval(&claims).unwrap(), expected, "{text}");
    }
}

#[test]
fn evaluation_errors_refuse_the_token() {
    let claims = claims();
    for (text, want, error) in [
        ("claims.phone", Want::Str, "no such key: phone"),
        (
            "claims.phone == 'x' || claims.hd == 'evil'",
            Want::Bool,
            "no such key: phone",
        ),
        ("claims.sub + 1", Want::Str, "no such overload"),
        ("claims.groups[5]", Want::Str, "index out of range"),
        ("claims.sub.startsWith(1)", Want::Bool, "takes a string"),
        ("claims.?phone.value()", Want::Str, "no value"),
    ] {
        let expression = ClaimExpression::compile(text, want).unwrap();
        let got = expression.eval(&claims).unwrap_err();
        assert!(got.contains(error), "{text}: {got}");
    }
}

#[test]
fn what_cannot_run_is_refused_at_configure_time() {
    for (text, want, error) in [
        ("claims.sub ==", Want::Bool, "unexpected end"),
        ("user.username", Want::Str, "undeclared reference to 'user'"),
        (
            "claims.sub.matches('^a')",
            Want::Bool,
            "unsupported function matches()",
        ),
        (
            "size(claims) > 1 && 'x'",
            Want::Bool,
            "no matching overload",
        ),
        ("'text'", Want::Bool, "got \"string\", wanted \"bool\""),
        (
            "claims.sub == 'x'",
            Want::Str,
            "got \"bool\", wanted \"string\"",
        ),
        ("1 + 'a'", Want::Str, "no matching overload for '+'"),
        ("claims.x.exists(1, true)", Want::Bool, "needs a variable"),
        ("has(claims)", Want::Bool, "has() takes one field selection"),
        ("claims.sub 'x'", Want::Str, "unexpected"),
    ] {
        let got = ClaimExpression::compile(text, want).unwrap_err();
        assert!(got.contains(error), "{text}: {got}");
    }
    // User expressions see `user`, not `claims`.
    let user = ClaimExpression::compile_user("!user.username.startsWith('system:')").unwrap();
    let mut info = meshguard::identity::UserInfo {
        username: "jane".into(),
        groups: vec!["dev".into()],
        ..Default::default()
    };
    assert_eq!(user.eval_user(&info).unwrap(), json!(true));
    info.username = "system:admin".into();
    assert_eq!(user.eval_user(&info).unwrap(), json!(false));
    assert!(ClaimExpression::compile_user("claims.sub == 'x'").is_err());
}

#[test]
fn deep_or_hostile_text_is_refused_not_a_crash() {
    let deep = format!("{}claims.sub{}", "(".repeat(200), ")".repeat(200));
    assert!(ClaimExpression::compile(&deep, Want::Str).is_err());
    let negations = format!("{}true", "!".repeat(100_000));
    assert!(ClaimExpression::compile(&negations, Want::Bool).is_err());
    let chain = format!("claims.a{}", " + claims.a".repeat(100_000));
    assert!(ClaimExpression::compile(&chain, Want::Str).is_err());
    // The longest accepted chain still checks and runs.
    let long = format!("'a'{}", " + 'a'".repeat(120));
    let value = ClaimExpression::compile(&long, Want::Str)
        .unwrap()
        .eval(&claims())
        .unwrap();
    assert_eq!(value.as_str().unwrap().len(), 121);
    for text in [
        "",
        "'",
        "claims.",
        "[",
        "{1:",
        "claims[?",
        "\"\\q\"",
        "9999999999999999999999",
    ] {
        assert!(ClaimExpression::compile(text, Want::Str).is_err(), "{text}");
    }
}
