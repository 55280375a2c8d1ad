//! Public keys in DER: `SubjectPublicKeyInfo` (RFC 5280, the `PUBLIC KEY` PEM label) and
//! PKCS#1 `RSAPublicKey` (RFC 8017, `RSA PUBLIC KEY`).
//!
//! Only the structure is read here; what the numbers and points mean is checked by the caller
//! (RSA size and exponent, EC points and Ed25519 keys by `curve`, signatures by ring). The
//! reader is strict DER: definite, minimal lengths, no trailing bytes, positive minimal
//! integers. It replaces jwt-simple's PEM path in the filter, which pulled a general ASN.1 and
//! big-integer stack (~70 KB of the `.wasm`) into a module that reads a few fixed shapes.

/// A public key's structure, before its values are checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PublicKeyDer<'a> {
    /// Modulus and exponent, big-endian, without the sign byte.
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// A SEC1 point on P-256.
    P256(&'a [u8]),
    /// A SEC1 point on P-384.
    P384(&'a [u8]),
    /// An uncompressed P-521 point.
    P521(&'a [u8]),
    /// The 32 bytes of an Ed25519 key.
    Ed25519(&'a [u8]),
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

/// rsaEncryption, 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A DER reader over a byte string.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// Reads one element with tag `tag`, returning its contents.
    fn element(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        let malformed = || format!("malformed DER: {what}");
        let (&found, rest) = self.0.split_first().ok_or_else(malformed)?;
        if found != tag {
            return Err(malformed());
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(malformed)?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: 1 or 2 length bytes (keys here are far below 64 KiB), minimal.
            let count = usize::from(first & 0x7f);
            if !(1..=2).contains(&count) || rest.len() < count {
                return Err(malformed());
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            let length = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if length < 0x80 || bytes[0] == 0 {
                return Err(malformed());
            }
            length
        };
        if rest.len() < length {
            return Err(malformed());
        }
        let (contents, after) = rest.split_at(length);
        self.0 = after;
        Ok(contents)
    }

    /// Reads a non-negative INTEGER in minimal form, returning its magnitude.
    fn unsigned(&mut self, what: &str) -> Result<&'a [u8], String> {
        let bytes = self.element(INTEGER, what)?;
        match bytes {
            [] => Err(format!("malformed DER: {what}")),
            [first, ..] if first & 0x80 != 0 => Err(format!("{what} is negative")),
            [0, next, ..] if next & 0x80 == 0 => Err(format!("malformed DER: {what}")),
            [0, rest @ ..] => Ok(rest),
            _ => Ok(bytes),
        }
    }

    /// Reads a BIT STRING of whole bytes.
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        match self.element(BIT_STRING, what)? {
            [0, rest @ ..] => Ok(rest),
            _ => Err(format!("malformed DER: {what}")),
        }
    }

    fn end(&self, what: &str) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("malformed DER: bytes after the {what}"))
        }
    }
}

/// The private scalar of a PKCS#8 `PrivateKeyInfo` holding a P-521 key (`openssl genpkey
/// -algorithm EC -pkeyopt ec_paramgen_curve:P-521`), for signing tokens (`mint`); `None` for
/// any other key.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn p521_private_scalar(der: &[u8]) -> Option<&[u8]> {
    const OCTET_STRING: u8 = 0x04;
    let mut outer = Der(der);
    let mut info = Der(outer.element(SEQUENCE, "PrivateKeyInfo").ok()?);
    info.unsigned("version").ok()?;
    let mut algorithm = Der(info.element(SEQUENCE, "AlgorithmIdentifier").ok()?);
    if algorithm.element(OID, "algorithm").ok()? != EC_PUBLIC_KEY
        || algorithm.element(OID, "curve").ok()? != P521
    {
        return None;
    }
    let mut key = Der(info.element(OCTET_STRING, "privateKey").ok()?);
    let mut ec = Der(key.element(SEQUENCE, "ECPrivateKey").ok()?);
    ec.unsigned("version").ok()?;
    ec.element(OCTET_STRING, "privateKey").ok()
}

/// Reads a PKCS#1 `RSAPublicKey`.
pub(crate) fn rsa_public_key(der: &[u8]) -> Result<PublicKeyDer<'_>, String> {
    let mut outer = Der(der);
    let mut key = Der(outer.element(SEQUENCE, "RSAPublicKey")?);
    outer.end("RSAPublicKey")?;
    let n = key.unsigned("RSA modulus")?;
    let e = key.unsigned("RSA exponent")?;
    key.end("RSA exponent")?;
    Ok(PublicKeyDer::Rsa { n, e })
}

/// Reads a `SubjectPublicKeyInfo` of an RSA, P-256, P-384, P-521 or Ed25519 key.
pub(crate) fn subject_public_key_info(der: &[u8]) -> Result<PublicKeyDer<'_>, String> {
    let mut outer = Der(der);
    let mut info = Der(outer.element(SEQUENCE, "SubjectPublicKeyInfo")?);
    outer.end("SubjectPublicKeyInfo")?;
    let mut algorithm = Der(info.element(SEQUENCE, "AlgorithmIdentifier")?);
    let key = info.bytes("subjectPublicKey")?;
    info.end("subjectPublicKey")?;
    let oid = algorithm.element(OID, "algorithm")?;
    let key = match oid {
        RSA_ENCRYPTION => {
            // The parameters are NULL (RFC 3279); some encoders leave them out.
            if !algorithm.0.is_empty() {
                algorithm.element(NULL, "RSA parameters")?;
            }
            rsa_public_key(key)?
        }
        EC_PUBLIC_KEY => match algorithm.element(OID, "EC curve")? {
            P256 => PublicKeyDer::P256(key),
            P384 => PublicKeyDer::P384(key),
            P521 => PublicKeyDer::P521(key),
            _ => return Err("an EC key on an unsupported curve".into()),
        },
        ED25519 => PublicKeyDer::Ed25519(key),
        _ => return Err("an unsupported key type (not RSA, EC or Ed25519)".into()),
    };
    algorithm.end("AlgorithmIdentifier")?;
    Ok(key)
}

/// One DER element: `tag`, the definite minimal length of `contents`, `contents`.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 4);
    out.push(tag);
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(contents);
    out
}

/// A non-negative INTEGER from a big-endian magnitude: leading zeros stripped, a zero byte
/// put back in front when the top bit is set.
fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[first..];
    let mut contents = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&top| top & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(digits);
    tlv(INTEGER, &contents)
}

/// The `SubjectPublicKeyInfo` of an RSA key (rsaEncryption with NULL parameters), as hosts
/// that verify signatures natively take keys.
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let key = tlv(
        SEQUENCE,
        &[unsigned_integer(n), unsigned_integer(e)].concat(),
    );
    spki(&[tlv(OID, RSA_ENCRYPTION), tlv(NULL, &[])].concat(), &key)
}

/// The curves whose keys [`ec_spki`] encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

/// The `SubjectPublicKeyInfo` of an EC key (id-ecPublicKey on a named curve) from its SEC1
/// point.
pub(crate) fn ec_spki(curve: Curve, point: &[u8]) -> Vec<u8> {
    let oid = match curve {
        Curve::P256 => P256,
        Curve::P384 => P384,
        Curve::P521 => P521,
    };
    spki(&[tlv(OID, EC_PUBLIC_KEY), tlv(OID, oid)].concat(), point)
}

fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    tlv(
        SEQUENCE,
        &[tlv(SEQUENCE, algorithm), tlv(BIT_STRING, &bits)].concat(),
    )
}

/// The DER `ECDSA-Sig-Value` of a JWS ECDSA signature (`r || s`, each the curve's width):
/// what X.509 and OpenSSL-style verifiers take. `None` when `rs` is not two equal halves.
pub(crate) fn ecdsa_signature_der(rs: &[u8]) -> Option<Vec<u8>> {
    if rs.is_empty() || !rs.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = rs.split_at(rs.len() / 2);
    Some(tlv(
        SEQUENCE,
        &[unsigned_integer(r), unsigned_integer(s)].concat(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .map(|c| (c as char).to_digit(16).unwrap() as u8)
            .collect();
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    #[test]
    fn reads_an_rsa_key_with_long_lengths_and_a_sign_byte() {
        let n = vec![0xc5; 256];
        let mut rsa = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00];
        rsa.extend(&n);
        rsa.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(
            rsa_public_key(&rsa),
            Ok(PublicKeyDer::Rsa {
                n: &n,
                e: &[1, 0, 1]
            })
        );
        let mut spki = hex("30 82 01 22 30 0d 06 09 2a864886f70d010101 05 00 03 82 01 0f 00");
        spki.extend(&rsa);
        assert_eq!(
            subject_public_key_info(&spki),
            Ok(PublicKeyDer::Rsa {
                n: &n,
                e: &[1, 0, 1]
            })
        );
    }

    #[test]
    fn reads_ec_and_ed25519_keys() {
        let ed = hex("302a 3005 0603 2b6570 032100 0102030405060708091011121314151617181920212223242526272829303132");
        assert_eq!(
            subject_public_key_info(&ed),
            Ok(PublicKeyDer::Ed25519(&ed[12..]))
        );
        let ec = hex("3019 3013 0607 2a8648ce3d0201 0608 2a8648ce3d030107 0302 0004");
        assert_eq!(subject_public_key_info(&ec), Ok(PublicKeyDer::P256(&[4])));
        let ec = hex("3016 3010 0607 2a8648ce3d0201 0605 2b81040022 0302 0004");
        assert_eq!(subject_public_key_info(&ec), Ok(PublicKeyDer::P384(&[4])));
    }

    #[test]
    fn refuses_what_is_not_strict_der_or_not_supported() {
        let cases = [
            // trailing byte after the outer SEQUENCE
            ("302a3005 06032b6570 032100 0102030405060708091011121314151617181920212223242526272829303132 00", "bytes after"),
            // length longer than the data
            ("302b3005 06032b6570 032100 0102030405060708091011121314151617181920212223242526272829303132", "malformed"),
            // long-form length that fits the short form
            ("30812a3005 06032b6570 032100 0102030405060708091011121314151617181920212223242526272829303132", "malformed"),
            // bit string with unused bits
            ("30073005 06032b6570 030101", "malformed"),
            // P-521
            // DSA
            ("3012 300b 0607 2a8648ce380401 0500 0303 000201", "unsupported key type"),
            // unknown curve
            ("3019 3013 0607 2a8648ce3d0201 0608 2a8648ce3d030101 0302 0004", "unsupported curve"),
            // RSA parameters that are not NULL
            ("3014 300d 0609 2a864886f70d010101 0400 0303 00 3000", "RSA parameters"),
            // empty input
            ("", "malformed"),
        ];
        for (der, want) in cases {
            let got = subject_public_key_info(&hex(der)).unwrap_err();
            assert!(got.contains(want), "{der}: {got}");
        }
        for (der, want) in [
            ("3006 0201 80 0201 03", "modulus is negative"),
            ("3007 0202 0001 0201 03", "malformed DER: RSA modulus"),
            ("3005 0200 0201 03", "malformed DER: RSA modulus"),
            (
                "3009 0201 01 0201 03 0201 03",
                "bytes after the RSA exponent",
            ),
        ] {
            let got = rsa_public_key(&hex(der)).unwrap_err();
            assert!(got.contains(want), "{der}: {got}");
        }
    }

    /// What the writers make is what the reader and OpenSSL read: the committed test keys'
    /// SPKI DER (made by `openssl pkey -pubout`) is rebuilt byte for byte.
    #[test]
    fn spki_writers_rebuild_openssls_encoding() {
        for file in ["rs256", "es256", "es384", "es512"] {
            let path = format!("{}/tests/keys/{file}.pub.pem", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            let blocks = crate::token::jwk::pem_blocks(&text).unwrap();
            let der = blocks[0].der().unwrap();
            let rebuilt = match subject_public_key_info(&der).unwrap() {
                PublicKeyDer::Rsa { n, e } => rsa_spki(n, e),
                PublicKeyDer::P256(point) => ec_spki(Curve::P256, point),
                PublicKeyDer::P384(point) => ec_spki(Curve::P384, point),
                PublicKeyDer::P521(point) => ec_spki(Curve::P521, point),
                PublicKeyDer::Ed25519(_) => unreachable!(),
            };
            assert_eq!(rebuilt, der, "{file}");
        }
    }

    /// JWS `r || s` to DER, against `openssl dgst -sign` output: a P-256 signature whose halves
    /// both have the top bit set (a zero byte in front of each), and a P-521 one (long-form
    /// sequence length, a 65-byte r after its leading zero is dropped).
    #[test]
    fn ecdsa_signatures_convert_as_openssl_writes_them() {
        for der in [
            "3046022100829165539ac76d441aacf8b99dbcc59e1e4236cf2a7b4e7d573253aafb36cc59022100\
             d921256a65e39db7a730fc0add983be59add8d0bc905bf0d159006513f8da8b6",
            "30818702420110febb6916407cca0b77936b7f8fb7731d3d471217eeeac560547856492090daaf79\
             9cb9bce21181822d217f9839989a16fcc0291c259f8209ce1ef977c728a58602416911eb29e5796f\
             afd30b7e1c3c52104711ba8ee5d8ffe620739f595799de9c42cef8f9114e73ef0132f2cad63f0ec6\
             36e7d76ec8e14bb3775d1d2215a6cb320866",
        ] {
            let der = hex(der);
            // Back to r || s by the reader's rules, each half padded to the curve's width.
            let mut outer = Der(&der);
            let mut seq = Der(outer.element(SEQUENCE, "sig").unwrap());
            let (r, s) = (seq.unsigned("r").unwrap(), seq.unsigned("s").unwrap());
            let width = if der.len() > 100 { 66 } else { 32 };
            let mut rs = vec![0; 2 * width];
            rs[width - r.len()..width].copy_from_slice(r);
            rs[2 * width - s.len()..].copy_from_slice(s);
            assert_eq!(ecdsa_signature_der(&rs).unwrap(), der);
        }
        assert_eq!(
            ecdsa_signature_der(&[0; 4]).unwrap(),
            hex("3006 020100 020100")
        );
        assert_eq!(ecdsa_signature_der(&[1; 3]), None);
        assert_eq!(ecdsa_signature_der(&[]), None);
    }
}
