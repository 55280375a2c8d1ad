//! The compiled description of each remote source: where it is and its timers and bounds.

use super::{FetchError, FetchPolicy, HttpTarget};
use crate::bundle::{signature, Bundle};
use crate::token::KeySet;

/// Where an issuer's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysLocation {
    /// A JWKS URL, fetched directly.
    Jwks(HttpTarget),
    /// An OIDC discovery document whose `jwks_uri` is then fetched.
    Discovery(HttpTarget),
}

/// One issuer's remote keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteKeys {
    /// The Envoy cluster.
    pub cluster: String,
    /// The document fetched first.
    pub location: KeysLocation,
    /// When to fetch.
    pub policy: FetchPolicy,
    /// Largest response body.
    pub max_bytes: usize,
    /// Timeout of one call, in milliseconds.
    pub timeout_ms: u64,
    /// How long a request may wait for keys, in milliseconds.
    pub wait_ms: u64,
}

/// A bundle fetched from a URL.
#[derive(Clone, Debug)]
pub struct BundleSource {
    /// The Envoy cluster.
    pub cluster: String,
    /// The bundle.
    pub bundle: HttpTarget,
    /// Its detached signature.
    pub signature: HttpTarget,
    /// Keys that may sign it.
    pub signing_keys: KeySet,
    /// When to fetch.
    pub policy: FetchPolicy,
    /// Largest bundle body.
    pub max_bytes: usize,
    /// Timeout of one call, in milliseconds.
    pub timeout_ms: u64,
    /// How long a request may wait for a first bundle, in milliseconds.
    pub wait_ms: u64,
}

impl BundleSource {
    /// Verifies the detached signature over the exact bytes served, then loads the bundle
    /// (schema, references, guardrails). Nothing unsigned is ever parsed as policy.
    pub fn load(&self, bundle: &[u8], signature: &[u8]) -> Result<Bundle, FetchError> {
        signature::verify(bundle, signature, &self.signing_keys)
            .map_err(|detail| FetchError::SignatureInvalid { detail })?;
        let text = std::str::from_utf8(bundle).map_err(|_| FetchError::BundleInvalid {
            detail: "not UTF-8".to_owned(),
        })?;
        Bundle::from_json_str(text).map_err(|e| FetchError::BundleInvalid {
            detail: e.to_string(),
        })
    }
}
