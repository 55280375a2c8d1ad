//! Detached bundle signatures. The bundle server publishes, next to the bundle, a compact JWS
//! whose payload names the SHA-256 digest of the bundle's exact bytes
//! (`{"bundleDigest": "sha256:<hex>"}`); the filter verifies it with a key from its own
//! configuration before it even parses the bundle. `meshguard bundle sign` makes one.
//!
//! The digest is over the bytes served, not over a canonical form: what was signed is exactly
//! what is loaded, and a bundle whose signature was made for another revision is refused.

use serde_json::Value;

use crate::token::{jws, KeySet};
#[cfg(not(target_arch = "wasm32"))]
use crate::token::{mint, Algorithm};

/// The claim that carries the digest.
pub const DIGEST_CLAIM: &str = "bundleDigest";

/// Largest signature accepted, in bytes.
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = crate::token::sha256(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

/// Signs `bundle` (its exact bytes) with a private key (PEM, or the secret for HS*), as
/// [`mint::sign`] takes it. `iat` records when, for the operator; it is not checked. Native
/// only: the filter verifies, never signs.
#[cfg(not(target_arch = "wasm32"))]
pub fn sign(
    bundle: &[u8],
    key: &[u8],
    alg: Option<Algorithm>,
    kid: Option<&str>,
    iat: u64,
) -> Result<String, String> {
    let mut claims = serde_json::Map::new();
    claims.insert(DIGEST_CLAIM.to_owned(), Value::String(digest(bundle)));
    claims.insert("iat".to_owned(), Value::from(iat));
    mint::sign(key, alg, kid, claims)
}

/// Verifies a detached signature over `bundle` with the configured `keys`. The algorithm
/// must be one a configured key accepts; the key is chosen by `kid`, then algorithm.
pub fn verify(bundle: &[u8], signature: &[u8], keys: &KeySet) -> Result<(), String> {
    let text = std::str::from_utf8(signature)
        .map_err(|_| "the signature is not text".to_owned())?
        .trim();
    if text.is_empty() {
        return Err("the signature is empty".to_owned());
    }
    let parsed = jws::decode(text, MAX_SIGNATURE_BYTES).map_err(|e| e.to_string())?;
    let kid = parsed.header.kid.as_deref();
    let mut candidates = keys.candidates(kid, parsed.alg).peekable();
    if candidates.peek().is_none() {
        return Err(format!(
            "no configured signing key matches kid {:?} and alg {}",
            kid.unwrap_or(""),
            parsed.alg
        ));
    }
    if !candidates.any(|key| key.verify_signature(parsed.alg, &parsed, None)) {
        return Err("the signature does not verify with the configured key".to_owned());
    }
    let expected = digest(bundle);
    match parsed.claims.get(DIGEST_CLAIM) {
        Some(Value::String(found)) if *found == expected => Ok(()),
        Some(Value::String(found)) => Err(format!(
            "it signs {found}, but the bundle served is {expected}"
        )),
        _ => Err(format!("the signed payload has no {DIGEST_CLAIM:?}")),
    }
}
