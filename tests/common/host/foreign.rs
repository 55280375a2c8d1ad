//! Envoy's `verify_signature` foreign function, natively: the same protobuf arguments and
//! answer, the same refusals (`BadArgument` for unreadable arguments or for both or neither
//! key field; a bad key, an unknown hash or a bad signature answered with `result` false and
//! an error text), verified with ring (P-521 with RustCrypto's p521). It takes DER
//! SubjectPublicKeyInfo keys (or PEM ones) and DER `ECDSA-Sig-Value` signatures, as BoringSSL
//! does; a JWS `r || s` signature fails.

use super::Status;

/// How the host answers `verify_signature`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForeignCrypto {
    /// As Envoy does (the default: the harness is Envoy).
    #[default]
    Envoy,
    /// No such function (`NotFound`): another or an older host.
    Absent,
    /// Answers "valid" to everything: a host the module must not trust.
    AcceptsAnything,
    /// Every call fails with `InternalFailure`.
    Fails,
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[derive(Default)]
struct Arguments {
    hash: Option<String>,
    public_key: Option<Vec<u8>>,
    signature: Vec<u8>,
    text: Vec<u8>,
    public_key_pem: Option<String>,
}

fn parse(mut bytes: &[u8]) -> Option<Arguments> {
    let mut args = Arguments::default();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        if key & 7 != 2 {
            return None;
        }
        let n = usize::try_from(varint(&mut bytes)?).ok()?;
        if bytes.len() < n {
            return None;
        }
        let (value, rest) = bytes.split_at(n);
        bytes = rest;
        match key >> 3 {
            1 => args.hash = Some(String::from_utf8(value.to_vec()).ok()?),
            2 => args.public_key = Some(value.to_vec()),
            3 => args.signature = value.to_vec(),
            4 => args.text = value.to_vec(),
            5 => args.public_key_pem = Some(String::from_utf8(value.to_vec()).ok()?),
            _ => {}
        }
    }
    Some(args)
}

fn answer(result: Result<(), &str>) -> Vec<u8> {
    match result {
        Ok(()) => vec![0x08, 0x01],
        Err(error) => {
            let mut out = vec![0x12, error.len() as u8];
            out.extend_from_slice(error.as_bytes());
            out
        }
    }
}

/// One DER element's tag and contents, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count > 2 || rest.len() < count {
            return None;
        }
        let (len, after) = rest.split_at(count);
        rest = after;
        len.iter().fold(0, |acc, &b| acc << 8 | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// A SubjectPublicKeyInfo's parts.
struct Spki {
    algorithm: Vec<u8>,
    curve: Option<Vec<u8>>,
    key: Vec<u8>,
}

/// The algorithm OID, the curve OID (EC) and the key bytes of a SubjectPublicKeyInfo.
fn spki(der: &[u8]) -> Option<Spki> {
    let (0x30, info, _) = element(der)? else {
        return None;
    };
    let (0x30, algorithm, rest) = element(info)? else {
        return None;
    };
    let (0x03, bits, _) = element(rest)? else {
        return None;
    };
    let (0x06, oid, params) = element(algorithm)? else {
        return None;
    };
    let curve = match element(params) {
        Some((0x06, curve, _)) => Some(curve.to_vec()),
        _ => None,
    };
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some(Spki {
        algorithm: oid.to_vec(),
        curve,
        key: key.to_vec(),
    })
}

const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

fn verify(args: &Arguments) -> Result<(), &'static str> {
    use ring::signature as sig;
    let der = match (&args.public_key, &args.public_key_pem) {
        (Some(der), None) => der.clone(),
        (None, Some(pem)) => {
            use base64::Engine as _;
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| "Failed to parse public key")?
        }
        _ => unreachable!("checked by the caller"),
    };
    let Spki {
        algorithm: oid,
        curve,
        key,
    } = spki(&der).ok_or("Failed to parse public key")?;
    let hash = args.hash.as_deref().unwrap_or("").to_ascii_lowercase();
    let ring_alg: &dyn sig::VerificationAlgorithm =
        match (oid.as_slice(), curve.as_deref(), hash.as_str()) {
            (RSA, _, "sha256") => &sig::RSA_PKCS1_2048_8192_SHA256,
            (RSA, _, "sha384") => &sig::RSA_PKCS1_2048_8192_SHA384,
            (RSA, _, "sha512") => &sig::RSA_PKCS1_2048_8192_SHA512,
            (EC, Some(P256), "sha256") => &sig::ECDSA_P256_SHA256_ASN1,
            (EC, Some(P384), "sha384") => &sig::ECDSA_P384_SHA384_ASN1,
            (EC, Some(P521), "sha512") => {
                use p521::ecdsa::signature::Verifier as _;
                let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(&key)
                    .map_err(|_| "Failed to parse public key")?;
                let signature = p521::ecdsa::Signature::from_der(&args.signature)
                    .map_err(|_| "Failed to verify signature")?;
                return key
                    .verify(&args.text, &signature)
                    .map_err(|_| "Failed to verify signature");
            }
            (_, _, "sha256" | "sha384" | "sha512") => return Err("Failed to verify signature"),
            _ => return Err("unknown is not supported."),
        };
    sig::UnparsedPublicKey::new(ring_alg, &key)
        .verify(&args.text, &args.signature)
        .map_err(|_| "Failed to verify signature")
}

/// `verify_signature` as `mode` answers it: the serialized result, or the call's status.
pub fn verify_signature(mode: ForeignCrypto, arguments: &[u8]) -> Result<Vec<u8>, Status> {
    match mode {
        ForeignCrypto::Absent => return Err(Status::NotFound),
        ForeignCrypto::Fails => return Err(Status::InternalFailure),
        ForeignCrypto::AcceptsAnything => return Ok(answer(Ok(()))),
        ForeignCrypto::Envoy => {}
    }
    let args = parse(arguments).ok_or(Status::BadArgument)?;
    if args.public_key.is_some() == args.public_key_pem.is_some() {
        return Err(Status::BadArgument);
    }
    Ok(answer(verify(&args)))
}
