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

/// How a source is fetched, whatever it holds: the cluster, the schedule and the bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetching {
    /// The Envoy cluster.
    pub cluster: String,
    /// When to fetch.
    pub policy: FetchPolicy,
    /// Largest response body.
    pub max_bytes: usize,
    /// Timeout of one call, in milliseconds.
    pub timeout_ms: u64,
    /// How long a request may wait for the source, in milliseconds.
    pub wait_ms: u64,
}

/// One issuer's remote keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteKeys {
    /// The document fetched first.
    pub location: KeysLocation,
    /// How.
    pub fetching: Fetching,
}

/// A bundle fetched from a URL.
#[derive(Clone, Debug)]
pub struct BundleSource {
    /// The bundle.
    pub bundle: HttpTarget,
    /// Its detached signature.
    pub signature: HttpTarget,
    /// Keys that may sign it.
    pub signing_keys: KeySet,
    /// How.
    pub fetching: Fetching,
}

impl BundleSource {
    /// Verifies the detached signature over the exact bytes served, then loads the bundle
    /// (schema, references, guardrails). Nothing unsigned is ever parsed as policy.
    pub fn load(&self, bundle: &[u8], signature: &[u8]) -> Result<Bundle, FetchError> {
        signature::verify(bundle, signature, &self.signing_keys)
            .map_err(|detail| FetchError::SignatureInvalid { detail })?;
        Bundle::from_json_bytes(bundle).map_err(|e| FetchError::BundleInvalid {
            detail: e.to_string(),
        })
    }
}
