//! Remote sources: issuer keys (JWKS, found directly or through OIDC discovery) and policy
//! bundles, fetched by the proxy and kept fresh. Pure like the rest of the core: the filter
//! does the HTTP calls and passes in what came back and the time (milliseconds); this module
//! decides when to fetch, what a response means, and what to keep.
//!
//! One concept per file: [`schedule`] (when to fetch: refresh, `Cache-Control`, backoff with
//! jitter, leases so that one worker fetches for all, rate-limited demand for an unknown
//! `kid`), [`response`] (status, size, `Cache-Control`, `ETag`), [`target`] (an `https://`
//! URL as an Envoy cluster call), [`keys`] (discovery documents and JWKS bodies), and
//! [`FetchError`], whose codes appear in logs and metrics.

mod error;
pub mod keys;
pub mod response;
pub mod schedule;
mod source;
pub mod target;

pub use error::FetchError;
pub use response::FetchedResponse;
pub use schedule::{Demand, FetchPolicy, FetchState, Lease};
pub use source::{BundleSource, BundleTrust, Fetching, KeysLocation, RemoteKeys};
pub use target::HttpTarget;
