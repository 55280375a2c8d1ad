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
    /// Response body (JSON).
    pub body: String,
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
        body: Problem {
            code: 401,
            reason: error.code(),
            message: &error.to_string(),
        }
        .body(),
    }
}

/// 403 with a body shaped like the apiserver's `Status`, so kubectl and client libraries show
/// it as they show an apiserver denial. `message` is
/// [`Attributes::forbidden_message`](crate::rbac::Attributes::forbidden_message), which the
/// caller has already worded for its record.
pub fn forbidden(attributes: &Attributes, message: &str) -> LocalReply {
    let resource = attributes.resource_request;
    let status = Status {
        kind: "Status",
        api_version: "v1",
        metadata: Empty {},
        status: "Failure",
        message,
        reason: "Forbidden",
        details: StatusDetails {
            name: &attributes.name,
            group: resource.then_some(attributes.api_group.as_str()),
            kind: resource.then_some(attributes.resource.as_str()),
        },
        code: 403,
    };
    LocalReply {
        status: 403,
        headers: json_headers(),
        body: serde_json::to_string(&status).unwrap_or_default(),
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
    }
}

/// 503 while a key set or the first bundle is not available: the caller is not at fault, and
/// `Retry-After` invites a retry (Envoy's and Istio's retry policies retry 503 by default).
pub fn unavailable(reason: Reason, message: &str) -> LocalReply {
    let mut headers = json_headers();
    headers.push(("retry-after".to_owned(), "1".to_owned()));
    LocalReply {
        status: 503,
        headers,
        body: Problem {
            code: 503,
            reason: reason.code(),
            message,
        }
        .body(),
    }
}
