//! Signing tokens: for the CLI's `mint`, the tests, benchmarks and demos. Never on the request
//! path. Pure like the rest of the core: the caller supplies the key and every claim (including
//! `iat` and `exp`); nothing here reads a clock or a file.

use jwt_simple::prelude::*;
use serde_json::{Map, Value};

use super::Algorithm;

/// Signs `claims` exactly as given (no claim is added) with a private key.
///
/// `key` is a PEM private key (RSA, P-256, P-384 or Ed25519) or, for the HS algorithms, the
/// raw shared secret. `alg` defaults to the key's natural algorithm (RS256, ES256, ES384,
/// EdDSA); HMAC needs it explicitly. `kid` goes into the header when given.
pub fn sign(
    key: &[u8],
    alg: Option<Algorithm>,
    kid: Option<&str>,
    claims: Map<String, Value>,
) -> Result<String, String> {
    let claims = JWTClaims {
        issued_at: None,
        expires_at: None,
        invalid_before: None,
        issuer: None,
        subject: None,
        audiences: None,
        jwt_id: None,
        nonce: None,
        custom: claims,
    };
    let pem = String::from_utf8_lossy(key);
    if let Some(scalar) = p521_scalar(&pem) {
        if alg.is_some_and(|alg| alg != Algorithm::ES512) {
            return Err("a P-521 key signs ES512 only".into());
        }
        return sign_es512(&scalar, kid, &claims.custom);
    }
    let fail = |e: jwt_simple::Error| e.to_string();
    macro_rules! pair {
        ($t:ty) => {{
            let k = <$t>::from_pem(&pem).map_err(fail)?;
            match kid {
                Some(kid) => k.with_key_id(kid),
                None => k,
            }
            .sign(claims)
            .map_err(fail)
        }};
    }
    macro_rules! mac {
        ($t:ty) => {{
            let k = <$t>::from_bytes(key);
            match kid {
                Some(kid) => k.with_key_id(kid),
                None => k,
            }
            .authenticate(claims)
            .map_err(fail)
        }};
    }
    let alg = match alg {
        Some(alg) => alg,
        None if RS256KeyPair::from_pem(&pem).is_ok() => Algorithm::RS256,
        None if ES256KeyPair::from_pem(&pem).is_ok() => Algorithm::ES256,
        None if ES384KeyPair::from_pem(&pem).is_ok() => Algorithm::ES384,
        None if Ed25519KeyPair::from_pem(&pem).is_ok() => Algorithm::EdDSA,
        None => {
            return Err("not an RSA, P-256, P-384 or Ed25519 private key in PEM \
                        (for HMAC, name the algorithm)"
                .into())
        }
    };
    match alg {
        Algorithm::RS256 => pair!(RS256KeyPair),
        Algorithm::RS384 => pair!(RS384KeyPair),
        Algorithm::RS512 => pair!(RS512KeyPair),
        Algorithm::PS256 => pair!(PS256KeyPair),
        Algorithm::PS384 => pair!(PS384KeyPair),
        Algorithm::PS512 => pair!(PS512KeyPair),
        Algorithm::ES256 => pair!(ES256KeyPair),
        Algorithm::ES384 => pair!(ES384KeyPair),
        Algorithm::ES512 => Err("ES512 needs a P-521 private key (PKCS#8 PEM)".into()),
        Algorithm::EdDSA => pair!(Ed25519KeyPair),
        Algorithm::HS256 => mac!(HS256Key),
        Algorithm::HS384 => mac!(HS384Key),
        Algorithm::HS512 => mac!(HS512Key),
    }
}

/// The private scalar of a PKCS#8 PEM P-521 key, if `pem` is one.
fn p521_scalar(pem: &str) -> Option<Vec<u8>> {
    let blocks = super::jwk::pem_blocks(pem).ok()?;
    let der = blocks
        .iter()
        .find(|b| b.label == "PRIVATE KEY")?
        .der()
        .ok()?;
    super::spki::p521_private_scalar(&der).map(<[u8]>::to_vec)
}

/// ES512 (jwt-simple has no P-521): the compact JWS by hand, signed with RustCrypto's P-521.
fn sign_es512(
    scalar: &[u8],
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    use base64::Engine as _;
    use p521::ecdsa::signature::Signer as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let key = p521::ecdsa::SigningKey::from_slice(scalar).map_err(|e| e.to_string())?;
    let mut header = serde_json::json!({"alg": "ES512", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = Value::from(kid);
    }
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let input = format!("{}.{}", b64(&header), b64(&payload));
    let signature: p521::ecdsa::Signature = key.sign(input.as_bytes());
    Ok(format!("{input}.{}", b64(&signature.to_bytes())))
}
