//! Token authentication: from request headers to a verified Kubernetes user.
//!
//! One concept per file, after Envoy's jwt_authn and google/jwt_verify_lib:
//! [`source`] finds tokens in a request, [`jws`] splits and decodes them without trusting them,
//! [`jwk`] turns configured keys into verification keys, [`claims`] reads registered claims with
//! precise errors, and [`verify`] puts it together in [`Authenticator`]. Every failure is an
//! [`AuthError`] with a stable reason code.

mod algorithm;
pub mod cache;
pub mod claims;
mod curve;
mod error;
pub mod host;
pub mod jwk;
pub mod jws;
#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
pub mod review;
pub mod secret;
pub mod source;
mod spki;
mod verify;

pub use algorithm::{Algorithm, KeyFamily};
pub use cache::{CacheLimits, CacheSettings, NoCache, TokenCache, TokenStore, VerifiedToken};
pub use claims::RegisteredClaims;
pub use error::AuthError;
pub use jwk::{KeyFingerprint, KeySet, KeySetError, VerificationKey};
pub use secret::SecretTokens;
pub use source::{ExtractedToken, TokenSource};
pub use verify::{Authenticated, Authenticator, IssuerVerifier, TokenUser};

/// The SHA-256 of `bytes` (ring's, the one SHA-256 in the module).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Defaults of the authentication configuration.
pub mod verify_defaults {
    /// Default bound on a token's size, in bytes.
    pub const MAX_TOKEN_BYTES: usize = 8192;
    /// Default clock skew, in seconds.
    pub const CLOCK_SKEW_SECONDS: u64 = 60;
}
