//! Compact JWS parsing, before any signature check. Nothing decoded here is trusted yet.
//!
//! The token is bounded before it is parsed (RFC 8725 §3.11 spirit: never parse unbounded
//! attacker input), and the header is checked for what we will never accept: `alg: none`,
//! algorithms we do not implement, unknown `crit` extensions, and non-JWT `typ` values.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Algorithm, AuthError};

/// The protected header members meshguard reads. Other members are allowed and ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct Header {
    /// The `alg` value as sent.
    pub alg: String,
    /// The key id, when present.
    #[serde(default)]
    pub kid: Option<String>,
    /// The media type of the token, when present.
    #[serde(default)]
    pub typ: Option<String>,
    /// Critical extensions the verifier must understand.
    #[serde(default)]
    pub crit: Option<Vec<String>>,
}

/// A token split into its parts, with header and claims decoded but not verified.
#[derive(Clone, Debug)]
pub struct UnverifiedToken<'t> {
    /// The compact serialization as received.
    pub raw: &'t str,
    /// The decoded protected header.
    pub header: Header,
    /// The header's algorithm, already known to be one meshguard implements.
    pub alg: Algorithm,
    /// The decoded claims object.
    pub claims: Map<String, Value>,
    /// What the signature covers: `header.payload` as received.
    pub signing_input: &'t str,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

/// Refuses a token longer than `max_bytes`, before anything looks at it.
pub fn check_size(raw: &str, max_bytes: usize) -> Result<(), AuthError> {
    if raw.len() > max_bytes {
        return Err(AuthError::TokenTooLarge {
            size: raw.len(),
            limit: max_bytes,
        });
    }
    Ok(())
}

/// Splits and decodes a compact JWS. `max_bytes` bounds the token before anything is parsed.
pub fn decode(raw: &str, max_bytes: usize) -> Result<UnverifiedToken<'_>, AuthError> {
    check_size(raw, max_bytes)?;
    let mut parts = raw.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = raw.split('.').count();
        return Err(AuthError::malformed(if count == 5 {
            "encrypted tokens (JWE) are not supported".to_string()
        } else {
            format!("expected 3 dot-separated parts, found {count}")
        }));
    };

    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| {
        AuthError::malformed("header is not a JSON object with string alg, kid and typ")
    })?;
    let alg = header
        .alg
        .parse::<Algorithm>()
        .map_err(|()| AuthError::AlgorithmNotAllowed {
            alg: header.alg.clone(),
        })?;
    // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject the
    // token, and an empty list is itself invalid. meshguard implements no extensions.
    if let Some(crit) = &header.crit {
        return Err(AuthError::malformed(if crit.is_empty() {
            "empty crit header".to_string()
        } else {
            format!("unsupported critical header parameters {crit:?}")
        }));
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_uppercase();
        if typ != "JWT" && !typ.ends_with("+JWT") {
            return Err(AuthError::malformed(format!(
                "typ {:?} is not a JWT",
                header.typ.as_deref().unwrap_or_default()
            )));
        }
    }

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| AuthError::malformed("payload is not base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|_| AuthError::malformed("payload is not a JSON object"))?;

    if signature_b64.is_empty() {
        return Err(AuthError::malformed("signature is empty"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| AuthError::malformed("signature is not base64url"))?;
    let signing_input = &raw[..header_b64.len() + 1 + payload_b64.len()];

    Ok(UnverifiedToken {
        raw,
        header,
        alg,
        claims,
        signing_input,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn code(raw: &str) -> &'static str {
        match decode(raw, 8192) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn header_and_part_rules_truth_table() {
        let cases: &[(&str, String, &str)] = &[
            ("well formed", token(r#"{"alg":"RS256"}"#, "{}"), "ok"),
            (
                "typ JWT",
                token(r#"{"alg":"RS256","typ":"JWT"}"#, "{}"),
                "ok",
            ),
            (
                "typ at+jwt",
                token(r#"{"alg":"RS256","typ":"at+jwt"}"#, "{}"),
                "ok",
            ),
            (
                "alg none",
                token(r#"{"alg":"none"}"#, "{}"),
                "algorithm_not_allowed",
            ),
            (
                "alg unknown",
                token(r#"{"alg":"ES256K"}"#, "{}"),
                "algorithm_not_allowed",
            ),
            (
                "alg missing",
                token(r#"{"kid":"a"}"#, "{}"),
                "token_malformed",
            ),
            (
                "kid not string",
                token(r#"{"alg":"RS256","kid":1}"#, "{}"),
                "token_malformed",
            ),
            (
                "crit unknown",
                token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}"),
                "token_malformed",
            ),
            (
                "crit empty",
                token(r#"{"alg":"RS256","crit":[]}"#, "{}"),
                "token_malformed",
            ),
            (
                "typ JOSE+JSON",
                token(r#"{"alg":"RS256","typ":"JOSE+JSON"}"#, "{}"),
                "token_malformed",
            ),
            (
                "payload array",
                token(r#"{"alg":"RS256"}"#, "[]"),
                "token_malformed",
            ),
            (
                "payload not json",
                token(r#"{"alg":"RS256"}"#, "{"),
                "token_malformed",
            ),
            (
                "two parts",
                "eyJhbGciOiJSUzI1NiJ9.e30".to_string(),
                "token_malformed",
            ),
            (
                "four parts",
                format!("{}.x", token(r#"{"alg":"RS256"}"#, "{}")),
                "token_malformed",
            ),
            (
                "header not base64",
                "!!.e30.c2ln".to_string(),
                "token_malformed",
            ),
            (
                "padded header",
                format!("{}=.e30.c2ln", b64(r#"{"alg":"RS256"}"#)),
                "token_malformed",
            ),
            (
                "empty signature",
                format!("{}.e30.", b64(r#"{"alg":"RS256"}"#)),
                "token_malformed",
            ),
        ];
        for (name, raw, want) in cases {
            assert_eq!(code(raw), *want, "{name}");
        }
    }

    #[test]
    fn oversized_token_is_rejected_before_parsing() {
        let raw = "x".repeat(9000);
        assert_eq!(
            decode(&raw, 8192).err(),
            Some(AuthError::TokenTooLarge {
                size: 9000,
                limit: 8192
            })
        );
    }

    #[test]
    fn jwe_gets_its_own_message() {
        let err = decode("a.b.c.d.e", 8192).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("malformed token: encrypted tokens (JWE) are not supported")
        );
    }
}
