//! The replies meshguard sends instead of forwarding: 401 with an RFC 6750 challenge, 403 with
//! the apiserver's `Status` body, 400 for requests that cannot be mapped safely.

use serde::Serialize;

use crate::rbac::Attributes;
use crate::reason::Reason;
use crate::token::AuthError;

/// A local reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body (JSON; for a gRPC call, the `grpc-message` text).
    pub body: String,
    /// For a gRPC call: the `grpc-status` the proxy answers with (its HTTP status is then
    /// 200, and `body` goes out as `grpc-message`, as a gRPC client expects).
    pub grpc_status: Option<u32>,
}

/// The body of every reply but the 403: the reason code and what went wrong. Typed, so a deny
/// builds no JSON tree.
#[derive(Serialize)]
struct Problem<'a> {
    code: u16,
    reason: &'a str,
    message: &'a str,
}

impl Problem<'_> {
    fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The apiserver's `Status` (its field order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Empty,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    details: StatusDetails<'a>,
    code: u16,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct StatusDetails<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

/// Which server a denial should look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// meshguard's own bodies (the service modes): the reason code in every body.
    Mesh,
    /// The kube-apiserver's, word for word (`kubernetes` mode), so kubectl and client-go
    /// behave as against the apiserver.
    Kubernetes,
}

/// The apiserver's 403 `Status` (`apierrors.NewForbidden` over the authorization filter's
/// message): `pods is forbidden: …`, `pods "web-1" is forbidden: …` (the resource as
/// `resource.group`, without the subresource), `forbidden: …` for a path; details name, group
/// and kind, each left out when empty.
pub fn kubernetes_forbidden(attributes: &Attributes, message: &str) -> LocalReply {
    let resource = if attributes.resource_request && !attributes.resource.is_empty() {
        if attributes.api_group.is_empty() {
            attributes.resource.clone()
        } else {
            format!("{}.{}", attributes.resource, attributes.api_group)
        }
    } else {
        String::new()
    };
    let full = if resource.is_empty() {
        format!("forbidden: {message}")
    } else if attributes.name.is_empty() {
        format!("{resource} is forbidden: {message}")
    } else {
        format!("{resource} {:?} is forbidden: {message}", attributes.name)
    };
    forbidden_status(
        &full,
        StatusDetails {
            name: &attributes.name,
            group: Some(attributes.api_group.as_str())
                .filter(|g| !g.is_empty() && !resource.is_empty()),
            kind: Some(attributes.resource.as_str())
                .filter(|k| !k.is_empty() && !resource.is_empty()),
        },
    )
}

/// The apiserver's 401: `Status` with message and reason `Unauthorized` and no details, which
/// kubectl shows as `error: You must be logged in to the server (Unauthorized)`. meshguard's
/// reason code stays in the `WWW-Authenticate` challenge.
pub fn kubernetes_unauthorized(realm: &str, error: &AuthError) -> LocalReply {
    // The same for every 401: the apiserver's `NewUnauthorized("Unauthorized")`, serialised.
    const STATUS: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    unauthorized_reply(realm, error, STATUS.to_owned())
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".to_owned(), "application/json".to_owned())]
}

/// Quotes a value for an auth-param (RFC 9110 quoted-string).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if !c.is_control() {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// 401: `WWW-Authenticate: Bearer realm="…"` and, unless the token is simply missing,
/// `error="invalid_token", error_description="<reason code>"` (RFC 6750 §3). The body names
/// the reason code and says why; it never repeats the token.
pub fn unauthorized(realm: &str, error: &AuthError) -> LocalReply {
    let body = Problem {
        code: 401,
        reason: error.code(),
        message: &error.to_string(),
    }
    .body();
    unauthorized_reply(realm, error, body)
}

/// A 401 with `body` and the challenge naming the reason code.
fn unauthorized_reply(realm: &str, error: &AuthError, body: String) -> LocalReply {
    let mut challenge = format!("Bearer realm={}", quoted(realm));
    if !matches!(error, AuthError::TokenMissing) {
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description={}",
            quoted(error.code())
        ));
    }
    let mut headers = json_headers();
    headers.push(("www-authenticate".to_owned(), challenge));
    LocalReply {
        status: 401,
        headers,
        body,
        grpc_status: None,
    }
}

/// 403 with a body shaped like the apiserver's `Status`, so kubectl and client libraries show
/// it as they show an apiserver denial. `message` is
/// [`Attributes::forbidden_message`](crate::rbac::Attributes::forbidden_message), which the
/// caller has already worded for its record.
pub fn forbidden(attributes: &Attributes, message: &str) -> LocalReply {
    let resource = attributes.resource_request;
    forbidden_status(
        message,
        StatusDetails {
            name: &attributes.name,
            group: resource.then_some(attributes.api_group.as_str()),
            kind: resource.then_some(attributes.resource.as_str()),
        },
    )
}

/// A 403 whose body is a `Status` with reason `Forbidden`.
fn forbidden_status(message: &str, details: StatusDetails<'_>) -> LocalReply {
    let status = Status {
        kind: "Status",
        api_version: "v1",
        metadata: Empty {},
        status: "Failure",
        message,
        reason: "Forbidden",
        details,
        code: 403,
    };
    LocalReply {
        status: 403,
        headers: json_headers(),
        body: serde_json::to_string(&status).unwrap_or_default(),
        grpc_status: None,
    }
}

/// 503 `not_configured`: no configuration is in force.
pub fn not_configured() -> LocalReply {
    unavailable(
        Reason::NotConfigured,
        "the filter has no configuration in force",
    )
}

/// 400 for a request whose path cannot be normalised or mapped safely.
pub fn bad_request(message: &str) -> LocalReply {
    LocalReply {
        status: 400,
        headers: json_headers(),
        body: Problem {
            code: 400,
            reason: Reason::RequestRejected.code(),
            message,
        }
        .body(),
        grpc_status: None,
    }
}

/// 503 while a key set or the first bundle is not available: the caller is not at fault, and
/// `Retry-After` invites a retry (Envoy's and Istio's retry policies retry 503 by default).
pub fn unavailable(reason: Reason, message: &str) -> LocalReply {
    unavailable_after(reason, message, 1)
}

/// A 503 whose `Retry-After` is `seconds`.
pub fn unavailable_after(reason: Reason, message: &str, seconds: u64) -> LocalReply {
    let mut headers = json_headers();
    headers.push(("retry-after".to_owned(), seconds.to_string()));
    LocalReply {
        status: 503,
        headers,
        body: Problem {
            code: 503,
            reason: reason.code(),
            message,
        }
        .body(),
        grpc_status: None,
    }
}

/// The gRPC status for an HTTP status meshguard answers with: 401 `UNAUTHENTICATED` (16), 403
/// `PERMISSION_DENIED` (7), 400 `INVALID_ARGUMENT` (3; Envoy's own mapping would say
/// `INTERNAL`, which tells a client the server broke), 503 `UNAVAILABLE` (14, which gRPC
/// clients retry), anything else `UNKNOWN` (2).
pub fn grpc_status_for(http_status: u16) -> u32 {
    match http_status {
        400 => 3,
        401 => 16,
        403 => 7,
        503 => 14,
        _ => 2,
    }
}

/// The reply to a gRPC call: the same decision, in gRPC's terms. Envoy answers a local reply
/// to a gRPC request as a trailers-only response (HTTP 200, `content-type:
/// application/grpc`, `grpc-status`, and the body as `grpc-message`), so the body is the
/// reason code and message as text, and the JSON `content-type` is left out (a second
/// `content-type` makes gRPC clients refuse the response). `WWW-Authenticate` and
/// `Retry-After` are kept.
pub fn for_grpc(reply: LocalReply, reason: Reason, message: &str) -> LocalReply {
    LocalReply {
        grpc_status: Some(grpc_status_for(reply.status)),
        status: reply.status,
        headers: reply
            .headers
            .into_iter()
            .filter(|(name, _)| name != "content-type")
            .collect(),
        body: format!("{}: {message}", reason.code()),
    }
}
