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

/// Why a fetched bundle is believed.
#[derive(Clone, Debug)]
pub enum BundleTrust {
    /// A detached signature by one of `keys`, fetched from `signature` (the default).
    Signed {
        /// The signature's URL.
        signature: HttpTarget,
        /// Keys that may sign the bundle.
        keys: KeySet,
    },
    /// Nothing but the channel (`signature: none`): whoever can answer for the bundle
    /// server — its TLS certificate, the cluster's network — writes the policy.
    Unsigned,
}

/// A bundle fetched from a URL.
#[derive(Clone, Debug)]
pub struct BundleSource {
    /// The bundle.
    pub bundle: HttpTarget,
    /// Signed, or by explicit choice not.
    pub trust: BundleTrust,
    /// How.
    pub fetching: Fetching,
}

impl BundleSource {
    /// The detached signature's URL, when bundles are signed.
    pub fn signature_target(&self) -> Option<&HttpTarget> {
        match &self.trust {
            BundleTrust::Signed { signature, .. } => Some(signature),
            BundleTrust::Unsigned => None,
        }
    }

    /// Verifies the detached signature over the exact bytes served (unless the configuration
    /// chose `signature: none`), then loads the bundle (schema, references, guardrails). With
    /// signatures on, nothing unsigned is ever parsed as policy.
    pub fn load(&self, bundle: &[u8], signature: Option<&[u8]>) -> Result<Bundle, FetchError> {
        if let BundleTrust::Signed { keys, .. } = &self.trust {
            signature::verify(bundle, signature.unwrap_or_default(), keys)
                .map_err(|detail| FetchError::SignatureInvalid { detail })?;
        }
        Bundle::from_json_bytes(bundle).map_err(|e| FetchError::BundleInvalid {
            detail: e.to_string(),
        })
    }
}
