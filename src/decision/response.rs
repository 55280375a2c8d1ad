//! The replies meshguard sends instead of forwarding: 401 with an RFC 6750 challenge, 403 with
//! the apiserver's `Status` body, 400 for requests that cannot be mapped safely.

use serde_json::json;

use crate::rbac::Attributes;
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
        body: json!({"code": 401, "reason": error.code(), "message": error.to_string()})
            .to_string(),
    }
}

/// 403 with a body shaped like the apiserver's `Status`, so kubectl and client libraries show
/// it as they show an apiserver denial.
pub fn forbidden(attributes: &Attributes, username: &str) -> LocalReply {
    let mut details = serde_json::Map::new();
    if !attributes.name.is_empty() {
        details.insert("name".into(), json!(attributes.name));
    }
    if attributes.resource_request {
        details.insert("group".into(), json!(attributes.api_group));
        details.insert("kind".into(), json!(attributes.resource));
    }
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": attributes.forbidden_message(username),
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    });
    LocalReply {
        status: 403,
        headers: json_headers(),
        body: body.to_string(),
    }
}

/// 400 for a request whose path cannot be normalised or mapped safely.
pub fn bad_request(message: &str) -> LocalReply {
    LocalReply {
        status: 400,
        headers: json_headers(),
        body: json!({"code": 400, "reason": "request_rejected", "message": message}).to_string(),
    }
}

/// 503 while a key set or the first bundle is not available: the caller is not at fault, and
/// `Retry-After` invites a retry (Envoy's and Istio's retry policies retry 503 by default).
pub fn unavailable(reason: &str, message: &str) -> LocalReply {
    let mut headers = json_headers();
    headers.push(("retry-after".to_owned(), "1".to_owned()));
    LocalReply {
        status: 503,
        headers,
        body: json!({"code": 503, "reason": reason, "message": message}).to_string(),
    }
}
