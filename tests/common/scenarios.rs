//! One table of requests and what the filter must answer, on the demo configuration and the
//! mesh policy at the fixed time [`NOW`]. `tests/scenarios.rs` runs it through the core and
//! through the built `.wasm` in the harness; the two must agree with the table and each other.

use serde_json::{json, Value};

use super::{forge, mint, tamper, NOW, SA_ISSUER};

pub struct Scenario {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub status: u16,
    pub reason: &'static str,
    /// The user forwarded upstream (allowed requests) or named in the decision.
    pub user: &'static str,
}

pub fn sa(namespace: &str, name: &str) -> Value {
    json!({
        "iss": SA_ISSUER, "aud": ["meshguard"],
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "iat": NOW, "exp": NOW + 3600, "jti": format!("{namespace}-{name}"),
        "kubernetes.io": {"namespace": namespace,
                          "serviceaccount": {"name": name, "uid": format!("sa-{name}")},
                          "pod": {"name": format!("{name}-5c8d"), "uid": format!("pod-{name}")}}
    })
}

pub fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

pub fn sa_token(claims: Value) -> String {
    mint("rs256", "RS256", Some("rsa-1"), claims)
}

fn oidc(email: &str, hd: &str, groups: &[&str]) -> String {
    mint(
        "es256",
        "ES256",
        Some("ec-1"),
        json!({"iss": "https://idp.example.com", "aud": "dashboard", "sub": "u-77",
               "email": email, "email_verified": true, "hd": hd, "groups": groups,
               "iat": NOW, "exp": NOW + 600}),
    )
}

/// The namespace a forged token claims to be in.
fn namespace_admin() -> &'static str {
    "kube-system"
}

/// A bearer token and more headers.
pub fn with_headers(token: &str, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = bearer(token);
    headers.extend(more.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    headers
}

pub fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

pub fn table() -> Vec<Scenario> {
    let web = sa_token(sa("frontend", "web"));
    let api = sa_token(sa("orders", "api"));
    let bob = oidc("bob@example.com", "example.com", &["support"]);
    let s = |name, method, path: &str, headers, status, reason, user| Scenario {
        name,
        method,
        path: path.to_owned(),
        headers,
        status,
        reason,
        user,
    };
    let web_user = "system:serviceaccount:frontend:web";
    let forged = tamper(&web, sa(namespace_admin(), "admin"));
    let mut forged_headers = bearer(&web);
    forged_headers.push(("x-remote-user".into(), "system:admin".into()));
    forged_headers.push(("x-remote-group".into(), "system:masters".into()));
    vec![
        s(
            "web places an order",
            "POST",
            "/orders",
            bearer(&web),
            200,
            "allowed",
            web_user,
        ),
        s(
            "web reads an order",
            "GET",
            "/orders/42",
            bearer(&web),
            200,
            "allowed",
            web_user,
        ),
        s(
            "web adds an item",
            "POST",
            "/orders/42/items",
            bearer(&web),
            200,
            "allowed",
            web_user,
        ),
        s(
            "web deletes an order",
            "DELETE",
            "/orders/42",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "web lists charges here",
            "GET",
            "/charges",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "forged identity headers",
            "GET",
            "/orders/42",
            forged_headers,
            200,
            "allowed",
            web_user,
        ),
        s(
            "path traversal to charges",
            "GET",
            "/orders/../charges/1",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "encoded dot segments",
            "GET",
            "/orders/%2e%2e/charges/1",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "lowercase bearer scheme",
            "GET",
            "/orders/42",
            vec![("authorization".into(), format!("bearer {web}"))],
            200,
            "allowed",
            web_user,
        ),
        s(
            "api places an order",
            "POST",
            "/orders",
            bearer(&api),
            403,
            "forbidden",
            "system:serviceaccount:orders:api",
        ),
        s(
            "bob reads items",
            "GET",
            "/orders/42/items",
            bearer(&bob),
            200,
            "allowed",
            "oidc:bob@example.com",
        ),
        s(
            "bob deletes an order",
            "DELETE",
            "/orders/42",
            bearer(&bob),
            403,
            "forbidden",
            "oidc:bob@example.com",
        ),
        s(
            "health check with a token",
            "GET",
            "/healthz",
            bearer(&web),
            200,
            "allowed",
            web_user,
        ),
        s(
            "health check without a token",
            "GET",
            "/healthz",
            vec![],
            401,
            "token_missing",
            "",
        ),
        s("kubelet probe", "GET", "/livez", vec![], 200, "bypass", ""),
        s(
            "no token",
            "GET",
            "/orders/42",
            vec![],
            401,
            "token_missing",
            "",
        ),
        s(
            "empty bearer",
            "GET",
            "/orders/42",
            vec![("authorization".into(), "Bearer ".into())],
            401,
            "token_malformed",
            "",
        ),
        s(
            "not a token",
            "GET",
            "/orders/42",
            bearer("hello"),
            401,
            "token_malformed",
            "",
        ),
        s(
            "expired",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"iat": NOW - 7200, "exp": NOW - 61}),
            ))),
            401,
            "token_expired",
            "",
        ),
        s(
            "expired within skew",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"iat": NOW - 7200, "exp": NOW - 59}),
            ))),
            200,
            "allowed",
            web_user,
        ),
        s(
            "not yet valid",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"nbf": NOW + 300}),
            ))),
            401,
            "token_not_yet_valid",
            "",
        ),
        s(
            "issued in the future",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"iat": NOW + 300, "exp": NOW + 900}),
            ))),
            401,
            "token_issued_in_future",
            "",
        ),
        s(
            "another audience",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"aud": ["vault"]}),
            ))),
            401,
            "audience_mismatch",
            "",
        ),
        s(
            "lifetime over a day",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"exp": NOW + 2 * 86400}),
            ))),
            401,
            "lifetime_too_long",
            "",
        ),
        s(
            "no exp",
            "GET",
            "/orders/42",
            bearer(&sa_token({
                let mut c = sa("frontend", "web");
                c.as_object_mut().unwrap().remove("exp");
                c
            })),
            401,
            "expiration_missing",
            "",
        ),
        s(
            "unknown issuer",
            "GET",
            "/orders/42",
            bearer(&sa_token(with(
                sa("frontend", "web"),
                json!({"iss": "https://attacker.example"}),
            ))),
            401,
            "issuer_unknown",
            "",
        ),
        s(
            "key the issuer does not publish",
            "GET",
            "/orders/42",
            bearer(&mint(
                "rs256-other",
                "RS256",
                Some("rsa-2"),
                sa("frontend", "web"),
            )),
            401,
            "key_not_found",
            "",
        ),
        s(
            "tampered payload",
            "GET",
            "/orders/42",
            bearer(&tamper(&web, sa("kube-system", "admin"))),
            401,
            "signature_invalid",
            "",
        ),
        s(
            "alg none",
            "GET",
            "/orders/42",
            bearer(&forge(
                json!({"alg": "none", "typ": "JWT"}),
                sa("frontend", "web"),
            )),
            401,
            "algorithm_not_allowed",
            "",
        ),
        s(
            "HS256 with the RSA public key (confusion)",
            "GET",
            "/orders/42",
            bearer(&forge(
                json!({"alg": "HS256", "kid": "rsa-1"}),
                sa("frontend", "web"),
            )),
            401,
            "algorithm_not_allowed",
            "",
        ),
        s(
            "oversized token",
            "GET",
            "/orders/42",
            bearer(&format!("{}.{}.x", "a".repeat(4000), "b".repeat(5000))),
            401,
            "token_too_large",
            "",
        ),
        s(
            "OIDC token from another domain",
            "GET",
            "/orders/42",
            bearer(&oidc("mallory@evil.example", "evil.example", &["support"])),
            401,
            "claim_validation_failed",
            "",
        ),
        s(
            "OIDC user with no role",
            "GET",
            "/orders/42",
            bearer(&mint(
                "es256",
                "ES256",
                Some("ec-1"),
                json!({
              "iss": "https://idp.example.com", "aud": "dashboard", "sub": "u-1",
              "email": "eve@example.com", "hd": "example.com", "groups": ["x"],
              "iat": NOW, "exp": NOW + 600}),
            )),
            403,
            "forbidden",
            "oidc:eve@example.com",
        ),
        // Issue 17: no identity, path, method or token trick reaches the upstream.
        s(
            "underscore identity headers (CGI folds _ into -)",
            "GET",
            "/orders/42",
            with_headers(
                &web,
                &[
                    ("x_remote_user", "system:admin"),
                    ("X_Remote_Group", "system:masters"),
                    ("x_remote_extra_scopes", "forged"),
                ],
            ),
            200,
            "allowed",
            web_user,
        ),
        s(
            "impersonation and uid headers",
            "GET",
            "/orders/42",
            with_headers(
                &web,
                &[
                    ("impersonate-user", "system:admin"),
                    ("Impersonate-Group", "system:masters"),
                    ("impersonate-uid", "forged"),
                    ("impersonate_extra_scopes", "forged"),
                    ("x-remote-uid", "forged"),
                ],
            ),
            200,
            "allowed",
            web_user,
        ),
        s(
            "forged query token under an encoded name",
            "GET",
            &format!("/orders/42?access%5Ftoken={forged}"),
            bearer(&web),
            401,
            "signature_invalid",
            "",
        ),
        s(
            "forged query token under another encoding",
            "GET",
            &format!("/orders/42?%61ccess_token={forged}"),
            bearer(&web),
            401,
            "signature_invalid",
            "",
        ),
        s(
            "query token after a semicolon",
            "GET",
            &format!("/orders/42?x=1;access_token={forged}"),
            bearer(&web),
            401,
            "token_ambiguous",
            "",
        ),
        s(
            "query token twice",
            "GET",
            &format!("/orders/42?access_token={web}&access_token={web}"),
            vec![],
            401,
            "token_ambiguous",
            "",
        ),
        s(
            "forged cookie with a space before =",
            "GET",
            "/orders/42",
            with_headers(&web, &[("cookie", &format!("session ={forged}"))]),
            401,
            "signature_invalid",
            "",
        ),
        s(
            "forged cookie after a comma",
            "GET",
            "/orders/42",
            with_headers(&web, &[("cookie", &format!("a=b, session={forged}"))]),
            401,
            "token_ambiguous",
            "",
        ),
        s(
            "query token is stripped from the path",
            "GET",
            &format!("/orders/42?page=2&access_token={web}"),
            vec![],
            200,
            "allowed",
            web_user,
        ),
        s(
            "cookie token is stripped from the cookies",
            "GET",
            "/orders/42",
            vec![("cookie".into(), format!("theme=dark; session={web}"))],
            200,
            "allowed",
            web_user,
        ),
        s(
            "empty segment before .. (RFC 3986)",
            "GET",
            "/charges//../orders/42",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "dot segments are resolved and the path rewritten",
            "GET",
            "/orders/./7/../42",
            bearer(&web),
            200,
            "allowed",
            web_user,
        ),
        s(
            "path-parameter dot segments",
            "GET",
            "/orders/42/..;/..;/charges/1",
            bearer(&web),
            400,
            "request_rejected",
            "",
        ),
        s(
            "double-encoded dot segments",
            "GET",
            "/orders/42/items/%252e%252e/%252e%252e/charges/1",
            bearer(&web),
            400,
            "request_rejected",
            "",
        ),
        s(
            "deeper than a subresource",
            "POST",
            "/orders/42/items/7/refund",
            bearer(&web),
            403,
            "forbidden",
            web_user,
        ),
        s(
            "method override header",
            "POST",
            "/orders/42",
            with_headers(&web, &[("X-HTTP-Method-Override", "DELETE")]),
            400,
            "request_rejected",
            "",
        ),
        s(
            "method override parameter",
            "POST",
            "/orders/42?_method=DELETE",
            bearer(&web),
            400,
            "request_rejected",
            "",
        ),
        s(
            "identity with CR LF",
            "GET",
            "/orders/42",
            bearer(&oidc(
                "bob@example.com\r\nx-remote-group: system:masters",
                "example.com",
                &["support"],
            )),
            401,
            "claim_validation_failed",
            "",
        ),
    ]
}
