//! JWS algorithms meshguard verifies, and the key family each one needs.

use std::fmt;
use std::str::FromStr;

/// A JWS signature or MAC algorithm (RFC 7518, RFC 8037).
///
/// `none` is deliberately absent: an unsigned token can never be represented, so it can never
/// verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

/// The kind of key an algorithm needs. The algorithm must agree with the key's type: a token
/// can never choose how a key is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// RSA public key (`kty: RSA`).
    Rsa,
    /// EC public key on P-256 (`kty: EC`, `crv: P-256`).
    P256,
    /// EC public key on P-384 (`kty: EC`, `crv: P-384`).
    P384,
    /// EC public key on P-521 (`kty: EC`, `crv: P-521`).
    P521,
    /// Ed25519 public key (`kty: OKP`, `crv: Ed25519`).
    Ed25519,
    /// Shared secret (`kty: oct`).
    Hmac,
}

impl KeyFamily {
    /// The width in bytes of each half of a JWS ECDSA signature (`r || s`) on this curve;
    /// `None` for keys that are not ECDSA keys.
    pub fn ecdsa_width(self) -> Option<usize> {
        match self {
            KeyFamily::P256 => Some(32),
            KeyFamily::P384 => Some(48),
            KeyFamily::P521 => Some(66),
            KeyFamily::Rsa | KeyFamily::Ed25519 | KeyFamily::Hmac => None,
        }
    }
}

impl Algorithm {
    /// Every supported algorithm, asymmetric first.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The JOSE name (`alg` header value).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// The key family this algorithm verifies with.
    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::P256,
            Algorithm::ES384 => KeyFamily::P384,
            Algorithm::ES512 => KeyFamily::P521,
            Algorithm::EdDSA => KeyFamily::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
        }
    }

    /// True for the HMAC algorithms, which need a shared secret.
    pub fn is_symmetric(self) -> bool {
        self.family() == KeyFamily::Hmac
    }
}

impl FromStr for Algorithm {
    type Err = ();

    /// Parses a JOSE algorithm name, case-sensitively as RFC 7515 requires. `none` and every
    /// unsupported name are errors.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .iter()
            .copied()
            .find(|alg| alg.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse()
            .map_err(|()| serde::de::Error::custom(format!("unknown algorithm {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_its_name() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
    }

    #[test]
    fn none_and_lowercase_names_are_not_algorithms() {
        for name in ["none", "None", "rs256", "es512", "ES256K", "HS1", ""] {
            assert!(name.parse::<Algorithm>().is_err(), "{name}");
        }
    }
}
