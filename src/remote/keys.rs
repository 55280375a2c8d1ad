//! Issuer key documents: the OIDC discovery document and the JWKS it points to.

use serde_json::Value;

use super::{FetchError, HttpTarget};
use crate::token::KeySet;

fn discovery_invalid(detail: impl Into<String>) -> FetchError {
    FetchError::DiscoveryInvalid {
        detail: detail.into(),
    }
}

/// Reads `jwks_uri` from an OIDC discovery document (OpenID Connect Discovery 1.0 §3).
///
/// The document's `issuer` must equal the configured issuer exactly (§4.3), also when the
/// document was fetched from a `discoveryURL` override, as the kube-apiserver requires: a
/// document that speaks for another issuer must not supply keys for this one.
pub fn jwks_uri_from_discovery(body: &[u8], issuer: &str) -> Result<HttpTarget, FetchError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| discovery_invalid(format!("not valid JSON: {e}")))?;
    let object = document
        .as_object()
        .ok_or_else(|| discovery_invalid("not a JSON object"))?;
    match object.get("issuer") {
        Some(Value::String(found)) if found == issuer => {}
        Some(Value::String(found)) => {
            return Err(discovery_invalid(format!(
                "issuer is {found:?}, expected {issuer:?}"
            )))
        }
        Some(_) => return Err(discovery_invalid("issuer is not a string")),
        None => return Err(discovery_invalid("issuer is missing")),
    }
    match object.get("jwks_uri") {
        Some(Value::String(uri)) => {
            HttpTarget::parse(uri).map_err(|e| discovery_invalid(format!("jwks_uri: {e}")))
        }
        Some(_) => Err(discovery_invalid("jwks_uri is not a string")),
        None => Err(discovery_invalid("jwks_uri is missing")),
    }
}

/// Parses a fetched JWKS. Remote sets hold public keys only: an `oct` (shared secret) key
/// published on a URL would let anyone who can read it mint tokens, so the set is refused.
/// Keys of unsupported types (`use: enc`, other curves) are skipped; a set with no usable key
/// or more keys than the bound is refused.
pub fn key_set_from_jwks(body: &[u8]) -> Result<KeySet, FetchError> {
    let document: Value = serde_json::from_slice(body).map_err(|e| FetchError::JwksInvalid {
        detail: format!("not valid JSON: {e}"),
    })?;
    KeySet::from_jwks(&document, false).map_err(|e| FetchError::JwksInvalid { detail: e.0 })
}
