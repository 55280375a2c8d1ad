//! PEM public keys (SPKI and PKCS#1) load as the same keys as their JWKs, and broken or
//! unsupported ones are refused with the block and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use meshguard::token::{KeyFingerprint, KeySet};

fn file(name: &str) -> String {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(der)
    )
}

fn der_of(text: &str) -> Vec<u8> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).unwrap()
}

fn fingerprint(set: &KeySet) -> KeyFingerprint {
    *set.keys()[0].fingerprint()
}

#[test]
fn a_pem_key_is_the_same_key_as_its_jwk() {
    for name in ["rs256", "es256", "es384", "ed25519"] {
        let from_pem = KeySet::from_pem(&file(&format!("{name}.pub.pem"))).unwrap();
        let from_jwk = KeySet::from_jwks_str(&file(&format!("{name}.jwks.json")), false).unwrap();
        assert_eq!(fingerprint(&from_pem), fingerprint(&from_jwk), "{name}");
        assert_eq!(from_pem.keys()[0].family(), from_jwk.keys()[0].family());
    }
}

#[test]
fn reads_pkcs1_rsa_blocks_and_several_blocks() {
    let spki_pem = file("rs256.pub.pem");
    let spki = der_of(&spki_pem);
    // The PKCS#1 key is the SPKI's BIT STRING: after the 24-byte header of a 2048-bit key.
    let pkcs1 = pem("RSA PUBLIC KEY", &spki[24..]);
    let keys = KeySet::from_pem(&format!("{pkcs1}{}", file("es256.pub.pem"))).unwrap();
    assert_eq!(keys.keys().len(), 2);
    assert_eq!(
        fingerprint(&keys),
        fingerprint(&KeySet::from_pem(&spki_pem).unwrap())
    );
    // An SPKI under the PKCS#1 label is refused, not guessed at.
    let wrong = pem("RSA PUBLIC KEY", &spki);
    assert!(KeySet::from_pem(&wrong)
        .unwrap_err()
        .0
        .contains("PEM block 0"));
}

#[test]
fn reads_a_compressed_point_and_refuses_one_off_the_curve() {
    let spki = der_of(&file("es256.pub.pem"));
    let (header, point) = spki.split_at(spki.len() - 65);
    assert_eq!(point[0], 4);
    let mut compressed = header.to_vec();
    compressed[1] -= 32; // outer SEQUENCE length
    compressed[header.len() - 2] -= 32; // BIT STRING length
    compressed.push(2 + (point[64] & 1));
    compressed.extend_from_slice(&point[1..33]);
    let keys = KeySet::from_pem(&pem("PUBLIC KEY", &compressed)).unwrap();
    assert_eq!(
        fingerprint(&keys),
        fingerprint(&KeySet::from_pem(&file("es256.pub.pem")).unwrap())
    );
    let mut off_curve = spki.clone();
    *off_curve.last_mut().unwrap() ^= 1;
    let error = KeySet::from_pem(&pem("PUBLIC KEY", &off_curve)).unwrap_err();
    assert_eq!(error.0, "PEM block 0: point is not on P-256");
}

#[test]
fn refuses_weak_ed25519_keys_rsa_keys_out_of_bounds_and_other_blocks() {
    let spki = der_of(&file("ed25519.pub.pem"));
    let mut identity = spki[..spki.len() - 32].to_vec();
    identity.push(1);
    identity.extend([0; 31]);
    let error = KeySet::from_pem(&pem("PUBLIC KEY", &identity)).unwrap_err();
    assert_eq!(error.0, "PEM block 0: invalid Ed25519 public key");

    let mut small = vec![0x30, 0x0a, 0x02, 0x03, 0x00, 0xc0, 0x01];
    small.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
    let error = KeySet::from_pem(&pem("RSA PUBLIC KEY", &small)).unwrap_err();
    assert!(error.0.contains("the modulus has 16 bits"), "{error}");

    for (text, want) in [
        (pem("CERTIFICATE", &spki), "certificates are not supported"),
        (
            pem("PRIVATE KEY", &spki),
            "\"PRIVATE KEY\" is not a public key",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n".into(),
            "not base64",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n".into(),
            "without its END line",
        ),
        ("no key here".into(), "no PEM public key found"),
    ] {
        let error = KeySet::from_pem(&text).unwrap_err();
        assert!(error.0.contains(want), "{text}: {error}");
    }
}
