//! Verification keys from JWKS documents (RFC 7517/7518/8037) and PEM public keys, and the
//! signature check itself (ring; [`curve`] checks EC points and Ed25519 keys at load).
//!
//! Parsing is strict where it matters: a key of a supported type that is broken is an error
//! naming the key, because a silently dropped key is an outage that shows up only when a token
//! uses it. Keys meshguard does not implement (another `kty`, a P-521 or X25519 curve, an
//! unknown `alg`) and keys marked `use: enc` are skipped, as jwt_verify_lib does: one exotic key
//! in an identity provider's JWKS must not take the whole issuer down.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::{hmac, signature};
use serde_json::Value;

use super::curve;
use super::host::HostVerifier;
use super::jws::UnverifiedToken;
use super::spki::{self, PublicKeyDer};
use super::{Algorithm, KeyFamily};

/// Largest number of keys accepted in one key set.
pub const MAX_KEYS: usize = 64;

/// Why a key set could not be loaded. The message names the key (by index and `kid`) and the
/// member at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySetError(pub String);

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeySetError {}

/// Key material, held in the form `ring` verifies with (see docs/performance.md for why ring
/// and not jwt-simple's pure-Rust backends). [`curve`] checks EC points and Ed25519 keys when
/// a key is loaded; PEM structure is read by [`spki`].
enum Material {
    Rsa(RsaKey),
    P256(Vec<u8>),
    P384(Vec<u8>),
    /// A P-521 public key, checked on the curve when loaded (ring has no P-521).
    P521(Box<p521::ecdsa::VerifyingKey>, Vec<u8>),
    Ed25519([u8; 32]),
    Hmac(Box<HmacKeys>),
}

/// An RSA public key: modulus and exponent, big-endian without leading zeros.
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

struct HmacKeys {
    /// A MAC of a fixed label under the secret: identifies it without revealing it.
    digest: [u8; 32],
    hs256: hmac::Key,
    hs384: hmac::Key,
    hs512: hmac::Key,
}

/// One verification key: its material, and the `kid` and `alg` it was published with.
pub struct VerificationKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: Material,
    fingerprint: KeyFingerprint,
    /// The key as a DER SubjectPublicKeyInfo, for a host that verifies natively (RSA and EC
    /// keys), made once when the key loads.
    spki: Option<Vec<u8>>,
}

/// The SHA-256 of a key's type and material: names a key across reloads and across Envoy's
/// worker VMs, so a cached verification can tell whether the key that made it is still in
/// force.
pub type KeyFingerprint = [u8; 32];

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.family())
            .finish()
    }
}

impl VerificationKey {
    fn new(kid: Option<String>, alg: Option<Algorithm>, material: Material) -> Self {
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        match &material {
            Material::Rsa(k) => {
                hash.update(b"RSA\0");
                hash.update(&k.n);
                hash.update(b"\0");
                hash.update(&k.e);
            }
            Material::P256(point) | Material::P384(point) | Material::P521(_, point) => {
                hash.update(b"EC\0");
                hash.update(point);
            }
            Material::Ed25519(x) => {
                hash.update(b"OKP\0");
                hash.update(x);
            }
            Material::Hmac(k) => {
                hash.update(b"oct\0");
                hash.update(&k.digest);
            }
        }
        let spki = match &material {
            Material::Rsa(k) => Some(spki::rsa_spki(&k.n, &k.e)),
            Material::P256(point) => Some(spki::ec_spki(spki::Curve::P256, point)),
            Material::P384(point) => Some(spki::ec_spki(spki::Curve::P384, point)),
            Material::P521(_, point) => Some(spki::ec_spki(spki::Curve::P521, point)),
            Material::Ed25519(_) | Material::Hmac(_) => None,
        };
        VerificationKey {
            kid,
            alg,
            material,
            fingerprint: hash.finish().as_ref().try_into().unwrap_or_default(),
            spki,
        }
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &KeyFingerprint {
        &self.fingerprint
    }

    /// The key as a DER SubjectPublicKeyInfo (RSA and EC keys).
    pub fn spki(&self) -> Option<&[u8]> {
        self.spki.as_deref()
    }

    /// The key id, when the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is restricted to, when its JWK said so.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The key's family.
    pub fn family(&self) -> KeyFamily {
        match self.material {
            Material::Rsa(_) => KeyFamily::Rsa,
            Material::P256(_) => KeyFamily::P256,
            Material::P384(_) => KeyFamily::P384,
            Material::P521(..) => KeyFamily::P521,
            Material::Ed25519(_) => KeyFamily::Ed25519,
            Material::Hmac(_) => KeyFamily::Hmac,
        }
    }

    /// Whether this key may verify a token signed with `alg`: the family must agree, and so
    /// must the JWK's own `alg` when it has one.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.family() == alg.family() && self.alg.is_none_or(|own| own == alg)
    }

    /// Checks the signature of `token` with `alg`: by the host's native crypto when `host`
    /// covers `alg` (and answers), otherwise in wasm. Only the signature is checked here:
    /// claims are validated by the caller, with the caller's clock.
    pub(crate) fn verify_signature(
        &self,
        alg: Algorithm,
        token: &UnverifiedToken<'_>,
        host: Option<&HostVerifier>,
    ) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        let message = token.signing_input.as_bytes();
        let signature = token.signature.as_slice();
        if let (Some(host), Some(spki)) = (host.filter(|h| h.covers(alg)), &self.spki) {
            if let Some(valid) = host.verify(alg, spki, signature, message) {
                return valid;
            }
        }
        let rsa = |params: &signature::RsaParameters, key: &RsaKey| {
            signature::RsaPublicKeyComponents {
                n: &key.n,
                e: &key.e,
            }
            .verify(params, message, signature)
            .is_ok()
        };
        match (&self.material, alg) {
            (Material::Rsa(k), Algorithm::RS256) => rsa(&signature::RSA_PKCS1_2048_8192_SHA256, k),
            (Material::Rsa(k), Algorithm::RS384) => rsa(&signature::RSA_PKCS1_2048_8192_SHA384, k),
            (Material::Rsa(k), Algorithm::RS512) => rsa(&signature::RSA_PKCS1_2048_8192_SHA512, k),
            (Material::Rsa(k), Algorithm::PS256) => rsa(&signature::RSA_PSS_2048_8192_SHA256, k),
            (Material::Rsa(k), Algorithm::PS384) => rsa(&signature::RSA_PSS_2048_8192_SHA384, k),
            (Material::Rsa(k), Algorithm::PS512) => rsa(&signature::RSA_PSS_2048_8192_SHA512, k),
            (Material::Ed25519(k), Algorithm::EdDSA) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, k)
                    .verify(message, signature)
                    .is_ok()
            }
            (Material::Hmac(k), Algorithm::HS256) => {
                hmac::verify(&k.hs256, message, signature).is_ok()
            }
            (Material::Hmac(k), Algorithm::HS384) => {
                hmac::verify(&k.hs384, message, signature).is_ok()
            }
            (Material::Hmac(k), Algorithm::HS512) => {
                hmac::verify(&k.hs512, message, signature).is_ok()
            }
            (Material::P256(k), Algorithm::ES256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k)
                    .verify(message, signature)
                    .is_ok()
            }
            (Material::P384(k), Algorithm::ES384) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, k)
                    .verify(message, signature)
                    .is_ok()
            }
            (Material::P521(k, _), Algorithm::ES512) => {
                use p521::ecdsa::signature::Verifier as _;
                p521::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| k.verify(message, &signature).is_ok())
            }
            _ => false,
        }
    }
}

/// The keys of one issuer. Cloning shares the keys.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// The keys, in the order they were configured.
    pub fn keys(&self) -> &[Arc<VerificationKey>] {
        &self.keys
    }

    /// True when the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds every key of `other` to this set.
    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
    }

    /// The keys that may verify a token with this `kid` and `alg`: selection by `kid` first
    /// (a key without a `kid` matches any), then by algorithm.
    pub fn candidates<'s>(
        &'s self,
        kid: Option<&'s str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'s VerificationKey> + 's {
        self.keys.iter().map(Arc::as_ref).filter(move |key| {
            let kid_matches = match (kid, key.kid()) {
                (Some(wanted), Some(own)) => wanted == own,
                _ => true,
            };
            kid_matches && key.accepts(alg)
        })
    }

    /// Parses a JWKS document (`{"keys": [...]}`). `allow_symmetric` admits `oct` keys, which
    /// meshguard accepts only when the operator configures them explicitly.
    pub fn from_jwks(document: &Value, allow_symmetric: bool) -> Result<KeySet, KeySetError> {
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| KeySetError("JWKS has no \"keys\" array".into()))?;
        if keys.len() > MAX_KEYS {
            return Err(KeySetError(format!(
                "JWKS has {} keys, more than the limit of {MAX_KEYS}",
                keys.len()
            )));
        }
        let mut set = KeySet::default();
        for (index, jwk) in keys.iter().enumerate() {
            let label = key_label(index, jwk);
            if let Some(key) = parse_jwk(jwk, allow_symmetric)
                .map_err(|message| KeySetError(format!("{label}: {message}")))?
            {
                set.keys.push(Arc::new(key));
            }
        }
        if set.keys.is_empty() {
            return Err(KeySetError(
                "JWKS has no signature key of a supported type (RSA, EC P-256/P-384, \
                 Ed25519, oct)"
                    .into(),
            ));
        }
        Ok(set)
    }

    /// Parses JWKS text.
    pub fn from_jwks_str(text: &str, allow_symmetric: bool) -> Result<KeySet, KeySetError> {
        let document: Value = serde_json::from_str(text)
            .map_err(|e| KeySetError(format!("JWKS is not valid JSON: {e}")))?;
        KeySet::from_jwks(&document, allow_symmetric)
    }

    /// Parses one or more PEM public keys (`PUBLIC KEY` SPKI blocks of RSA, P-256, P-384 or
    /// Ed25519 keys, or `RSA PUBLIC KEY` PKCS#1 blocks), as the kube-apiserver's
    /// `--service-account-key-file` takes them. PEM keys have no `kid` and match any.
    pub fn from_pem(text: &str) -> Result<KeySet, KeySetError> {
        let mut set = KeySet::default();
        for (index, block) in pem_blocks(text)?.into_iter().enumerate() {
            let key = parse_pem_block(&block)
                .map_err(|message| KeySetError(format!("PEM block {index}: {message}")))?;
            set.keys.push(Arc::new(key));
        }
        if set.keys.is_empty() {
            return Err(KeySetError("no PEM public key found".into()));
        }
        if set.keys.len() > MAX_KEYS {
            return Err(KeySetError(format!(
                "{} PEM keys, more than the limit of {MAX_KEYS}",
                set.keys.len()
            )));
        }
        Ok(set)
    }
}

fn key_label(index: usize, jwk: &Value) -> String {
    match jwk.get("kid").and_then(Value::as_str) {
        Some(kid) => format!("key {index} (kid {kid:?})"),
        None => format!("key {index}"),
    }
}

fn member<'v>(jwk: &'v Value, name: &str) -> Result<Option<&'v str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

fn required_bytes(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = member(jwk, name)?.ok_or_else(|| format!("missing \"{name}\""))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("\"{name}\" is not base64url"))
}

/// Parses one JWK. `Ok(None)` is a key that is not for signatures (`use: enc`).
fn parse_jwk(jwk: &Value, allow_symmetric: bool) -> Result<Option<VerificationKey>, String> {
    if !jwk.is_object() {
        return Err("is not a JSON object".into());
    }
    if member(jwk, "use")? == Some("enc") {
        return Ok(None);
    }
    let kid = member(jwk, "kid")?.map(str::to_string);
    let alg = match member(jwk, "alg")? {
        None => None,
        Some(name) => match name.parse::<Algorithm>() {
            Ok(alg) => Some(alg),
            Err(()) => return Ok(None),
        },
    };
    let kty = member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    let material = match kty {
        "RSA" => {
            let n = required_bytes(jwk, "n")?;
            let e = required_bytes(jwk, "e")?;
            rsa_keys(&n, &e)?
        }
        "EC" => {
            let x = required_bytes(jwk, "x")?;
            let y = required_bytes(jwk, "y")?;
            // RFC 7518 requires crv; when it is missing, the algorithm (or else the coordinate
            // size) names the curve. The point is validated on that curve either way.
            let crv = match (member(jwk, "crv")?, alg) {
                (Some(crv), _) => crv,
                (None, Some(Algorithm::ES256)) => "P-256",
                (None, Some(Algorithm::ES384)) => "P-384",
                (None, Some(Algorithm::ES512)) => "P-521",
                (None, _) if x.len() == 32 => "P-256",
                (None, _) if x.len() == 48 => "P-384",
                (None, _) if x.len() == 66 => "P-521",
                (None, _) => return Err("missing \"crv\"".into()),
            };
            let width = match crv {
                "P-256" => 32,
                "P-384" => 48,
                "P-521" => 66,
                _ => return Ok(None),
            };
            if x.len() != width || y.len() != width {
                return Err(format!("\"x\" and \"y\" must be {width} bytes for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + 2 * width);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // The point is checked now, so a bad key fails at load, not on every request.
            ec_key(width, &point)?
        }
        "OKP" => {
            let crv = member(jwk, "crv")?.ok_or("missing \"crv\"")?;
            if crv != "Ed25519" {
                return Ok(None);
            }
            let x = required_bytes(jwk, "x")?;
            if x.len() != 32 {
                return Err("\"x\" must be 32 bytes for Ed25519".into());
            }
            Material::Ed25519(ed25519_key(&x)?)
        }
        "oct" => {
            if !allow_symmetric {
                return Err(
                    "symmetric (oct) keys are accepted only when configured explicitly".into(),
                );
            }
            let k = required_bytes(jwk, "k")?;
            if k.is_empty() {
                return Err("\"k\" is empty".into());
            }
            hmac_keys(&k)
        }
        _ => return Ok(None),
    };
    let key = VerificationKey::new(kid, alg, material);
    if let Some(alg) = alg {
        if alg.family() != key.family() {
            return Err(format!(
                "\"alg\" {alg} does not fit a {kty} key{}",
                match member(jwk, "crv") {
                    Ok(Some(crv)) => format!(" on {crv}"),
                    _ => String::new(),
                }
            ));
        }
    }
    Ok(Some(key))
}

/// An EC public key on the curve whose coordinates are `width` bytes wide, from a SEC1 point
/// (compressed points are expanded; P-521 points must be uncompressed), checked on the curve.
fn ec_key(width: usize, point: &[u8]) -> Result<Material, String> {
    match width {
        32 => curve::p256_point(point)
            .map(Material::P256)
            .ok_or_else(|| "point is not on P-256".into()),
        48 => curve::p384_point(point)
            .map(Material::P384)
            .ok_or_else(|| "point is not on P-384".into()),
        _ => p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(|key| Material::P521(Box::new(key), point.to_vec()))
            .map_err(|_| "point is not on P-521".into()),
    }
}

/// RSA keys are held to what jwt_verify_lib and jwt-simple accept: a 2048 to 4096-bit
/// modulus and the exponent 65537.
fn rsa_keys(n: &[u8], e: &[u8]) -> Result<Material, String> {
    let strip = |bytes: &[u8]| {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes[first..].to_vec()
    };
    let (n, e) = (strip(n), strip(e));
    let bits = n
        .first()
        .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize);
    if !(2048..=4096).contains(&bits) {
        return Err(format!(
            "unusable RSA key: the modulus has {bits} bits, not 2048 to 4096"
        ));
    }
    if e != [1, 0, 1] {
        return Err("unusable RSA key: the exponent is not 65537".into());
    }
    Ok(Material::Rsa(RsaKey { n, e }))
}

/// An Ed25519 public key; the point is checked now, so a bad key fails at load, not on
/// every request.
fn ed25519_key(x: &[u8]) -> Result<[u8; 32], String> {
    let key: [u8; 32] = x
        .try_into()
        .map_err(|_| "\"x\" must be 32 bytes for Ed25519".to_owned())?;
    if !curve::ed25519_key_is_sound(&key) {
        return Err("invalid Ed25519 public key".into());
    }
    Ok(key)
}

fn hmac_keys(k: &[u8]) -> Material {
    Material::Hmac(Box::new(HmacKeys {
        digest: hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, k),
            b"meshguard key fingerprint",
        )
        .as_ref()
        .try_into()
        .unwrap_or_default(),
        hs256: hmac::Key::new(hmac::HMAC_SHA256, k),
        hs384: hmac::Key::new(hmac::HMAC_SHA384, k),
        hs512: hmac::Key::new(hmac::HMAC_SHA512, k),
    }))
}

/// One PEM block: its label and its base64 body.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    body: String,
}

impl PemBlock {
    /// The body, decoded.
    pub(crate) fn der(&self) -> Result<Vec<u8>, String> {
        STANDARD
            .decode(&self.body)
            .map_err(|_| format!("the {:?} block is not base64", self.label))
    }
}

/// Splits PEM text into its blocks (keys here; CA certificates and private keys elsewhere).
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, KeySetError> {
    let mut blocks = Vec::new();
    let mut current: Option<PemBlock> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some(PemBlock {
                label: label.to_string(),
                body: String::new(),
            });
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            match current.take() {
                Some(block) if block.label == label => blocks.push(block),
                _ => return Err(KeySetError(format!("PEM END {label:?} without its BEGIN"))),
            }
        } else if let Some(block) = current.as_mut() {
            block.body.push_str(line);
        }
    }
    if current.is_some() {
        return Err(KeySetError("PEM block without its END line".into()));
    }
    Ok(blocks)
}

fn parse_pem_block(block: &PemBlock) -> Result<VerificationKey, String> {
    let der = match block.label.as_str() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => block.der()?,
        "CERTIFICATE" => {
            return Err(
                "certificates are not supported: extract the public key with \
                        `openssl x509 -pubkey -noout`"
                    .into(),
            )
        }
        label => {
            return Err(format!(
                "{label:?} is not a public key (expected PUBLIC KEY or RSA PUBLIC KEY)"
            ))
        }
    };
    let parsed = if block.label == "RSA PUBLIC KEY" {
        spki::rsa_public_key(&der)
    } else {
        spki::subject_public_key_info(&der)
    }?;
    let material = match parsed {
        PublicKeyDer::Rsa { n, e } => rsa_keys(n, e)?,
        PublicKeyDer::P256(point) => ec_key(32, point)?,
        PublicKeyDer::P384(point) => ec_key(48, point)?,
        PublicKeyDer::P521(point) => ec_key(66, point)?,
        PublicKeyDer::Ed25519(x) => Material::Ed25519(ed25519_key(x)?),
    };
    Ok(VerificationKey::new(None, None, material))
}
