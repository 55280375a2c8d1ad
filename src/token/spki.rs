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
}
