//! Why a fetch did not produce something usable.

use std::fmt;

/// A failed fetch or a refused document. The previous good value stays in force.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// No response: the cluster is unknown, the upstream reset, or the call timed out.
    Unreachable,
    /// The server answered with a status other than 200 (or 304 where it applies).
    Status {
        /// The status.
        status: u16,
    },
    /// The body is larger than the configured bound; it is not parsed.
    TooLarge {
        /// The body's size.
        bytes: usize,
        /// The bound.
        limit: usize,
    },
    /// The OIDC discovery document is unusable.
    DiscoveryInvalid {
        /// What is wrong with it.
        detail: String,
    },
    /// The JWKS is unusable (not JSON, no usable key, too many keys).
    JwksInvalid {
        /// What is wrong with it.
        detail: String,
    },
    /// The bundle's detached signature is missing or does not verify.
    SignatureInvalid {
        /// What is wrong with it.
        detail: String,
    },
    /// The bundle does not load (schema, references, guardrails).
    BundleInvalid {
        /// What is wrong with it.
        detail: String,
    },
}

impl FetchError {
    /// Every code, for metrics defined up front.
    pub const CODES: [&'static str; 7] = [
        "unreachable",
        "http_status",
        "too_large",
        "discovery_invalid",
        "jwks_invalid",
        "signature_invalid",
        "bundle_invalid",
    ];

    /// The stable snake_case code, used in logs and metric names.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Unreachable => "unreachable",
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::DiscoveryInvalid { .. } => "discovery_invalid",
            FetchError::JwksInvalid { .. } => "jwks_invalid",
            FetchError::SignatureInvalid { .. } => "signature_invalid",
            FetchError::BundleInvalid { .. } => "bundle_invalid",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Unreachable => {
                write!(
                    f,
                    "no response (cluster unknown, connection failed or timed out)"
                )
            }
            FetchError::Status { status } => write!(f, "HTTP status {status}"),
            FetchError::TooLarge { bytes, limit } => {
                write!(f, "body of {bytes} bytes exceeds the limit of {limit}")
            }
            FetchError::DiscoveryInvalid { detail } => {
                write!(f, "discovery document refused: {detail}")
            }
            FetchError::JwksInvalid { detail } => write!(f, "JWKS refused: {detail}"),
            FetchError::SignatureInvalid { detail } => {
                write!(f, "bundle signature refused: {detail}")
            }
            FetchError::BundleInvalid { detail } => write!(f, "bundle refused: {detail}"),
        }
    }
}

impl std::error::Error for FetchError {}
