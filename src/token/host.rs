//! Signatures checked by the proxy's own crypto: Envoy registers a proxy-wasm foreign function,
//! `verify_signature`, that verifies with BoringSSL at native speed (RS256 ~27 µs against
//! ~420 µs for ring inside V8; docs/performance.md). This is the core's side of it: the
//! function's protobuf arguments and answer, the known-answer check that decides per algorithm
//! whether the host is used, and the verification itself. The filter supplies the call; the
//! core never names proxy-wasm.
//!
//! The host is used only for what it does exactly as ring would: RSASSA-PKCS1-v1_5 (RS*) and
//! ECDSA on P-256/P-384/P-521 with their JWS hashes (ES*). It cannot do RSA-PSS (no padding
//! option) or Ed25519, and HMAC is cheap in wasm: those stay in wasm. A host that fails the
//! known-answer check for an algorithm (answers "valid" to a forged signature, "invalid" to a
//! good one, or errs) is not used for it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::spki;
use super::{Algorithm, KeySet};

/// The foreign function's name in Envoy.
pub const FUNCTION: &str = "verify_signature";

/// The proxy-wasm status an unknown foreign function gets (`NotFound`).
pub const STATUS_NOT_FOUND: u32 = 1;

/// Calls the host's `verify_signature` with serialized arguments; the host's serialized answer,
/// or the proxy-wasm status of a failed call.
pub type HostCall = dyn Fn(&[u8]) -> Result<Vec<u8>, u32> + Send + Sync;

/// Why nothing goes to a host without the function.
const ABSENT: &str = "the host has no verify_signature function";

/// The algorithms the host may verify, in the order they are checked and reported.
pub const CANDIDATES: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
];

/// The hash name Envoy's `verify_signature` takes for `alg`, if the host can verify it.
fn hash_name(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::RS256 | Algorithm::ES256 => Some("sha256"),
        Algorithm::RS384 | Algorithm::ES384 => Some("sha384"),
        Algorithm::RS512 | Algorithm::ES512 => Some("sha512"),
        _ => None,
    }
}

/// Appends a protobuf length-delimited field (wire type 2).
fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// The serialized `VerifySignatureArguments` (Envoy's
/// `source/extensions/common/wasm/ext/verify_signature.proto`): `hash_function` = 1,
/// `public_key` (DER SubjectPublicKeyInfo) = 2, `signature` = 3, `text` = 4.
pub fn arguments(hash: &str, public_key: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + hash.len() + public_key.len() + signature.len() + text.len());
    field(&mut out, 1, hash.as_bytes());
    field(&mut out, 2, public_key);
    field(&mut out, 3, signature);
    field(&mut out, 4, text);
    out
}

/// The serialized arguments for verifying `signature` (as the JWS carries it) over `text`
/// with `alg` and the key whose SubjectPublicKeyInfo is `key`: ECDSA signatures go from JWS
/// `r || s` to the DER `ECDSA-Sig-Value` the host takes. `None` when the host cannot verify
/// `alg` or the signature cannot be right (an ECDSA signature of the wrong length).
fn call_arguments(alg: Algorithm, key: &[u8], signature: &[u8], text: &[u8]) -> Option<Vec<u8>> {
    let hash = hash_name(alg)?;
    match alg.family().ecdsa_width() {
        Some(width) if signature.len() != 2 * width => None,
        Some(_) => Some(arguments(
            hash,
            key,
            &spki::ecdsa_signature_der(signature)?,
            text,
        )),
        None => Some(arguments(hash, key, signature, text)),
    }
}

/// A protobuf reader over the fields of one message.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// The next field: its number and, for a varint, its value; for length-delimited data,
    /// its bytes. `None` at the end; `Some(Err(()))` when the message is malformed.
    fn next(&mut self) -> Option<Result<(u64, Value<'a>), ()>> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Value::Varint(self.varint()?),
                1 => self.take(8).map(|_| Value::Skipped)?,
                2 => {
                    let n = usize::try_from(self.varint()?).ok()?;
                    Value::Bytes(self.take(n)?)
                }
                5 => self.take(4).map(|_| Value::Skipped)?,
                _ => return None,
            };
            Some((key >> 3, value))
        })();
        Some(field.ok_or(()))
    }
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

/// The host's answer, a serialized `VerifySignatureResult` (`result` = 1, `error` = 2): `Ok`
/// only for `result: true`. proto3 leaves a false `result` out, so a refusal arrives as the
/// error text alone (or as nothing).
pub fn answer(bytes: &[u8]) -> Result<(), String> {
    let mut fields = Fields(bytes);
    let mut valid = false;
    let mut error = String::new();
    while let Some(field) = fields.next() {
        match field.map_err(|()| "the host's answer is not a VerifySignatureResult".to_owned())? {
            (1, Value::Varint(v)) => valid = v != 0,
            (2, Value::Bytes(text)) => error = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    if valid {
        Ok(())
    } else if error.is_empty() {
        Err("the host says the signature is not valid".into())
    } else {
        Err(error)
    }
}

/// How many verifications the host made, and how many calls failed (and were verified in wasm
/// instead), since the counts were last taken.
#[derive(Debug, Default)]
pub struct HostCounts {
    verified: AtomicU64,
    failed: AtomicU64,
}

impl HostCounts {
    /// Takes the counts (verifications, failed calls) and resets them.
    pub fn take(&self) -> (u64, u64) {
        (
            self.verified.swap(0, Ordering::Relaxed),
            self.failed.swap(0, Ordering::Relaxed),
        )
    }
}

/// The host's signature verification, for the algorithms that passed the known-answer check.
/// Cloning shares the call and the counts.
#[derive(Clone)]
pub struct HostVerifier {
    call: Arc<HostCall>,
    algorithms: Vec<Algorithm>,
    counts: Arc<HostCounts>,
}

impl fmt::Debug for HostVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostVerifier")
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Which path verifies one algorithm's signatures, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// The host's native crypto.
    Host,
    /// ring (or p521) inside the module; the reason the host is not used.
    Wasm(String),
}

/// What the known-answer check found: the path of every algorithm (the host's candidates,
/// then the rest), and the verifier to use when the host verifies any.
#[derive(Debug)]
pub struct Probe {
    /// Each algorithm and the path its signatures take.
    pub paths: Vec<(Algorithm, Path)>,
    /// The host's verifier, when at least one algorithm passed.
    pub verifier: Option<HostVerifier>,
    /// True when the host answered "valid" to a forged signature: a host not to be trusted
    /// with any algorithm (none is then used).
    pub forged_accepted: bool,
}

/// The built-in known-answer vectors: a public key (SPKI, base64) and a signature over
/// [`KAT_TEXT`] (base64url; JWS `r || s` for ECDSA) for each candidate algorithm. Made once
/// with `openssl genpkey` and `openssl dgst -sign`; the keys are used for nothing else.
const KAT_TEXT: &[u8] = b"meshguard: known-answer test of the host's verify_signature";
const KAT_RSA: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAow2Art9Oy4bUN0FLYbxlXQdiPjDpl+\
OmIe1pehJ08Lg8qUuvDPGYoEIaDkzx5+NQLJKkrckvluuBFAJj2BEW2+G5SR/VA8eWe3LSuVAWuFkXG86jAg3fftRULwiFJ5ky\
PxigCdF8FxrMO3PmbxcgNlRW5EM7cd0zyybGSvJ8VbhLD5YIzZ0Fey3MmsEhQN7BqDPvepq9KCSwoQy1y3xcL5EfIrHVMQscAT\
pjij84gUOb0nYXbzMswqvrlnRedfp4yJwlnoaPoQAHNUjRNz8GCj8Swo4+8N8Dz6+FhhPtWgdwhIdlnoMt8yIugI+1/Tf5kHLq\
XP6cm+eyS6UjKIWFCwIDAQAB";
const KAT_P256: &str =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEimOacoYHy2RXqK+m/2pbqQgr+bAt4KZxjv6/dOC\
hy1XFoQDLb6urEms/2+jxFdBpfBCS3L1ozmWmLz35WM1D4g==";
const KAT_P384: &str =
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEN7TzT/WhH50Otf0XskxSPck7QCtjrfD5dC8xe6Wk6tm\
KXCiQnS31Ol+MVQ+BiLngIO/KmEbEVIUeasmVVettn8uIMEOObZlU7JEeGmNwnZWVCHH1RKapmIwSFTEz3fuC";
const KAT_P521: &str =
    "MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQB9GW/a8idOcEA41sr4SoDK1qRmtL4XSgG9IU0ZmL\
W4GCIF9fHpZs6ThycFkxP+8t51M+vzc7usxRDBr/wMOfC8HABBz0W6XMNpUbfug9UN4kXQHe/bXwyW7+cGs0YvxXB+sBlIsyKA9\
0JnWm9JJnDc+uchWVYg+84dsJv5SS7jAc4oSc=";
const KAT_SIGNATURES: [&str; 6] = [
    "LPsJ0jxziatD_ndh4NARiC4UYP2HccB6opFVEg2w5t3R4qpTyDKjuOugr0AUS4gbBLgukzOFTTR4J43PqBq_17SvREUFQf5uMK0\
djm39F-W4TKU_c1jxhf4BCwM5ny9QMU2WKOgB9kRGZnt5MyT01d-iVMVvN7VLMJqjeEQqjtY7SQOUrcRsxQTBEqiao5L6cq9aiFH8Q\
8jgU-pg1YNcFrHneyu-O-DuWdSdCPEYIXUYXwLZAxLpCDkRvhYPHoVCEHT0NQp-80t5hST1XuXUlO1WowBn94WL1lmq4l8imbuncX\
TeMJSQFRW0fv-IeikCayopw5Tt5dTFopVY7STwVA",
    "QvCp7GVdX1LLUYOyRXpejtA8kegNPx8FPw-HUBDKqy9PlT0q1aRZdqNnytnf4ykjlSMjCtzJwerVfbcCHhjdUYvjhyr1oYLhusN\
g2reoJZ3KfZ1Mq-9Kfiee9F5P1FwqTW87uzDnVRm6JQ5friUbzt8bz7cOzzFOKdt5AmwDaf3QrC40Yc59bThDJkPJ1WcM10BCvLgU\
mrR_kQRqKBY2sXZfLBtoKyjyCn8eUdLPpXuRRuoZbCwFFNw5QLltuIELaZbWiOrZjKj-0QpgWpmxt-vId4w7sw8wLv98vQ2U6kORl\
LWDAhnU0PtQRDq5VZ7N4BoSHMIMamJDmMq8YRGOPw",
    "EDdb9M_wqvcZeSvUuVoGDLzyFgEFOU36h1BRVAC7-Y3W8FlDKmOpXFIju3xK2UWn2qcoC1AN4DhALo71S26rH3aXG4PB8pqrPMq\
oFoFYyYwgL-DJxzM09oup-8PSUXIwvW49RLBwfeHAKBytdCpBdNH4lJNLo5dxkkyP8fWvC-p0gi1WH8wtf_wQmZ6jbanLqB_3-JXU\
5u2gxyEm5EN-ULUQ-5WU4oVloWyFuUVbgfE5lIcWB7KaPd4LREsziBIpUMYXB8c7Uk0dtP42VxZuCJPF5m5K5ZBzAOJNxZvLuGqZZ\
s7ffHeoe-SYZQeDGajCawOpWh7tnSRMgwyAnPP2vg",
    "gpFlU5rHbUQarPi5nbzFnh5CNs8qe059VzJTqvs2zFnZISVqZeOdt6cw_ArdmDvlmt2NC8kFvw0VkAZRP42otg",
    "fvFX2lrXa6muAzBsUZId2p9N5BvfKpy6RMTBBtWijwcu9PRc5TbGLwOCodjbsgYTH3VuGr-0GYtZyjEEZrOBakHhE2YFJhiB42M\
EokdWiROoG0eHvSTyUI3XjajvOQee",
    "ARD-u2kWQHzKC3eTa3-Pt3MdPUcSF-7qxWBUeFZJIJDar3mcubziEYGCLSF_mDmYmhb8wCkcJZ-CCc4e-XfHKKWGAGkR6ynleW-\
v0wt-HDxSEEcRuo7l2P_mIHOfWVeZ3pxCzvj5EU5z7wEy8srWPw7GNufXbsjhS7N3XR0iFabLMghm",
];

/// The known-answer key for `alg`, loaded as any configured PEM key is (so the check goes
/// through the same SPKI and signature encoding as real keys).
fn kat_key(alg: Algorithm) -> Option<KeySet> {
    let body = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => KAT_RSA,
        Algorithm::ES256 => KAT_P256,
        Algorithm::ES384 => KAT_P384,
        Algorithm::ES512 => KAT_P521,
        _ => return None,
    };
    KeySet::from_pem(&format!(
        "-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"
    ))
    .ok()
}

impl HostVerifier {
    /// Asks the host, through `call`, to verify a known-good and a known-bad signature for
    /// every candidate algorithm; an algorithm is verified by the host only when both answers
    /// are right. A host without the function (`NotFound`) is not asked again.
    pub fn probe(call: Arc<HostCall>) -> Probe {
        let mut paths = Vec::new();
        let mut passed = Vec::new();
        let mut forged_accepted = false;
        let mut absent = false;
        for (alg, signature) in CANDIDATES.iter().zip(KAT_SIGNATURES) {
            let path = if absent {
                Path::Wasm(ABSENT.into())
            } else {
                match kat(&*call, *alg, signature) {
                    Ok(()) => {
                        passed.push(*alg);
                        Path::Host
                    }
                    Err(Kat::Absent) => {
                        absent = true;
                        Path::Wasm(ABSENT.into())
                    }
                    Err(Kat::ForgedAccepted) => {
                        forged_accepted = true;
                        Path::Wasm(
                            "the host answered \"valid\" to a forged signature: not trusted".into(),
                        )
                    }
                    Err(Kat::Wrong(why)) => Path::Wasm(format!("known-answer check failed: {why}")),
                }
            };
            paths.push((*alg, path));
        }
        if forged_accepted {
            // A host that lies once is trusted with nothing.
            passed.clear();
            for (_, path) in &mut paths {
                if *path == Path::Host {
                    *path = Path::Wasm(
                        "the host answered \"valid\" to a forged signature of another \
                         algorithm: not trusted"
                            .into(),
                    );
                }
            }
        }
        for (alg, why) in [
            (Algorithm::PS256, "the host has no RSA-PSS padding"),
            (Algorithm::PS384, "the host has no RSA-PSS padding"),
            (Algorithm::PS512, "the host has no RSA-PSS padding"),
            (Algorithm::EdDSA, "the host has no Ed25519"),
            (Algorithm::HS256, "HMAC is cheap in wasm"),
            (Algorithm::HS384, "HMAC is cheap in wasm"),
            (Algorithm::HS512, "HMAC is cheap in wasm"),
        ] {
            paths.push((alg, Path::Wasm(why.into())));
        }
        let verifier = (!passed.is_empty()).then(|| HostVerifier {
            call,
            algorithms: passed,
            counts: Arc::default(),
        });
        Probe {
            paths,
            verifier,
            forged_accepted,
        }
    }

    /// The algorithms the host verifies.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The counts of host verifications and failed calls.
    pub fn counts(&self) -> &HostCounts {
        &self.counts
    }

    /// True when the host verifies `alg`.
    pub fn covers(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Verifies `signature` (as the JWS carries it) over `text` with the key whose
    /// SubjectPublicKeyInfo is `key`: `Some(valid)`, or `None` when the host could not answer
    /// (the caller verifies in wasm then). Only for algorithms the host [`covers`](Self::covers).
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        key: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Option<bool> {
        let Some(arguments) = call_arguments(alg, key, signature, text) else {
            return Some(false);
        };
        match (self.call)(&arguments) {
            Ok(bytes) => {
                self.counts.verified.fetch_add(1, Ordering::Relaxed);
                Some(answer(&bytes).is_ok())
            }
            Err(_) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

enum Kat {
    Absent,
    ForgedAccepted,
    Wrong(String),
}

/// One algorithm's known-answer check: the good signature must verify, and the same signature
/// over a text one byte different must not.
fn kat(call: &HostCall, alg: Algorithm, signature: &str) -> Result<(), Kat> {
    let keys = kat_key(alg).ok_or_else(|| Kat::Wrong("no built-in key".into()))?;
    let key = keys
        .keys()
        .first()
        .and_then(|key| key.spki().map(<[u8]>::to_vec))
        .ok_or_else(|| Kat::Wrong("no built-in key".into()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Kat::Wrong("built-in signature unreadable".into()))?;
    let ask = |text: &[u8]| -> Result<bool, Kat> {
        let arguments = call_arguments(alg, &key, &signature, text)
            .ok_or_else(|| Kat::Wrong("built-in signature unusable".into()))?;
        match call(&arguments) {
            Ok(bytes) => Ok(answer(&bytes).is_ok()),
            Err(STATUS_NOT_FOUND) => Err(Kat::Absent),
            Err(status) => Err(Kat::Wrong(format!("the call failed with status {status}"))),
        }
    };
    if !ask(KAT_TEXT)? {
        return Err(Kat::Wrong("a good signature was refused".into()));
    }
    let mut forged = KAT_TEXT.to_vec();
    forged[0] ^= 1;
    if ask(&forged)? {
        return Err(Kat::ForgedAccepted);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_protobuf_fields_one_to_four() {
        let signature = [7u8; 256];
        let bytes = arguments("sha256", b"KEY", &signature, b"text");
        // hash_function = 1, public_key = 2, signature = 3 (a two-byte length: 256), text = 4.
        let mut want = vec![0x0a, 6];
        want.extend(b"sha256");
        want.extend([0x12, 3]);
        want.extend(b"KEY");
        want.extend([0x1a, 0x80, 0x02]);
        want.extend(signature);
        want.extend([0x22, 4]);
        want.extend(b"text");
        assert_eq!(bytes, want);
    }

    #[test]
    fn only_result_true_is_valid() {
        assert_eq!(answer(&[0x08, 0x01]), Ok(()));
        // proto3 leaves false out: the error alone, or nothing at all.
        assert_eq!(
            answer(b"\x12\x1aFailed to verify signature").unwrap_err(),
            "Failed to verify signature"
        );
        assert!(answer(&[]).is_err());
        assert!(answer(&[0x08, 0x00]).is_err());
        // Unknown fields of every wire type are skipped; a truncated message is refused.
        assert_eq!(
            answer(&[0x18, 0x05, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0x2d, 0, 0, 0, 0, 0x08, 0x01]),
            Ok(())
        );
        assert!(answer(&[0x08])
            .unwrap_err()
            .contains("not a VerifySignatureResult"));
        assert!(answer(&[0x12, 0x05, b'x']).is_err());
        assert!(answer(&[0x0b]).is_err());
    }
}
