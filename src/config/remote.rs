//! Compiling `remoteKeys` and `bundleSource`: URLs checked, timers and bounds defaulted and
//! range-checked, every refusal naming its field.

use serde_json::Value;

use super::schema::{BundleSourceConfig, FetchConfig, Issuer, RemoteKeysConfig};
use super::ConfigError;
use crate::remote::target::discovery_url;
use crate::remote::{
    BundleSource, BundleTrust, FetchPolicy, Fetching, HttpTarget, KeysLocation, RemoteKeys,
};
use crate::token::KeySet;

/// A number with a default and an allowed range.
pub(super) fn bounded(
    path: &str,
    field: &str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            format!("{path}.{field}"),
            format!("{value} is outside {}..={}", range.start(), range.end()),
        ))
    }
}

fn cluster(path: &str, name: &str) -> Result<String, ConfigError> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ConfigError::new(
            format!("{path}.cluster"),
            "must name an Envoy cluster",
        ));
    }
    Ok(name.to_owned())
}

fn url(path: &str, field: &str, url: &str) -> Result<HttpTarget, ConfigError> {
    HttpTarget::parse(url).map_err(|e| ConfigError::new(format!("{path}.{field}"), e))
}

/// The compiled `fetch` block, waiting for its cluster and schedule.
struct Fetch {
    timeout_ms: u64,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    max_bytes: usize,
    wait_ms: u64,
}

fn fetch(
    path: &str,
    config: Option<&FetchConfig>,
    default_max_bytes: u64,
) -> Result<Fetch, ConfigError> {
    let path = format!("{path}.fetch");
    let empty = FetchConfig::default();
    let config = config.unwrap_or(&empty);
    let timeout_ms = bounded(&path, "timeoutMs", config.timeout_ms, 5000, 100..=60_000)?;
    let initial_backoff_ms = bounded(
        &path,
        "initialBackoffMs",
        config.initial_backoff_ms,
        1000,
        100..=60_000,
    )?;
    let max_backoff_seconds = bounded(
        &path,
        "maxBackoffSeconds",
        config.max_backoff_seconds,
        60,
        1..=3600,
    )?;
    if max_backoff_seconds * 1000 < initial_backoff_ms {
        return Err(ConfigError::new(
            format!("{path}.maxBackoffSeconds"),
            "must not be less than initialBackoffMs",
        ));
    }
    let max_bytes = bounded(
        &path,
        "maxResponseBytes",
        config.max_response_bytes.map(|b| b as u64),
        default_max_bytes,
        1024..=64 * 1024 * 1024,
    )?;
    let wait_ms = bounded(
        &path,
        "requestWaitMs",
        config.request_wait_ms,
        3000,
        0..=30_000,
    )?;
    Ok(Fetch {
        timeout_ms,
        initial_backoff_ms,
        max_backoff_ms: max_backoff_seconds * 1000,
        max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        wait_ms,
    })
}

impl Fetch {
    /// The whole of how a source is fetched: this block's timers and bounds, the cluster,
    /// and the refresh schedule of the source's kind.
    fn fetching(
        self,
        cluster: String,
        refresh_ms: u64,
        cache_control: Option<(u64, u64)>,
        demand_interval_ms: u64,
    ) -> Fetching {
        let (min_refresh_ms, max_refresh_ms) = cache_control.unwrap_or((refresh_ms, refresh_ms));
        Fetching {
            cluster,
            policy: FetchPolicy {
                refresh_ms,
                honor_cache_control: cache_control.is_some(),
                min_refresh_ms,
                max_refresh_ms,
                initial_backoff_ms: self.initial_backoff_ms,
                max_backoff_ms: self.max_backoff_ms,
                // Long enough for the two calls of one fetch (discovery and JWKS, or bundle
                // and signature).
                lease_ms: 2 * self.timeout_ms + 1000,
                demand_interval_ms,
            },
            max_bytes: self.max_bytes,
            timeout_ms: self.timeout_ms,
            wait_ms: self.wait_ms,
        }
    }
}

/// Default bound of a JWKS or discovery response.
const DEFAULT_MAX_KEYS_BYTES: u64 = 256 * 1024;
/// Default bound of a bundle response.
const DEFAULT_MAX_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

/// `jwt[i].remoteKeys`, with the issuer's `discoveryURL`.
pub(super) fn remote_keys(
    path: &str,
    config: &RemoteKeysConfig,
    issuer: &Issuer,
) -> Result<RemoteKeys, ConfigError> {
    let at = format!("{path}.remoteKeys");
    let location = match (&config.jwks_uri, &issuer.discovery_url) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                format!("{path}.issuer.discoveryURL"),
                "set remoteKeys.jwksURI or issuer.discoveryURL, not both",
            ))
        }
        (Some(jwks), None) => KeysLocation::Jwks(url(&at, "jwksURI", jwks)?),
        (None, Some(discovery)) => {
            KeysLocation::Discovery(url(path, "issuer.discoveryURL", discovery)?)
        }
        (None, None) => {
            KeysLocation::Discovery(url(path, "issuer.url", &discovery_url(&issuer.url))?)
        }
    };
    let fetch = fetch(&at, config.fetch.as_ref(), DEFAULT_MAX_KEYS_BYTES)?;
    let refresh = bounded(
        &at,
        "refreshIntervalSeconds",
        config.refresh_interval_seconds,
        300,
        1..=86_400,
    )?;
    let min_refresh = bounded(
        &at,
        "minRefreshIntervalSeconds",
        config.min_refresh_interval_seconds,
        30.min(refresh),
        1..=86_400,
    )?;
    let max_refresh = bounded(
        &at,
        "maxRefreshIntervalSeconds",
        config.max_refresh_interval_seconds,
        3600.max(refresh),
        1..=86_400,
    )?;
    if min_refresh > refresh || refresh > max_refresh {
        return Err(ConfigError::new(
            format!("{at}.refreshIntervalSeconds"),
            format!(
                "must lie within minRefreshIntervalSeconds ({min_refresh}) and \
                 maxRefreshIntervalSeconds ({max_refresh})"
            ),
        ));
    }
    let demand = bounded(
        &at,
        "unknownKidRefetchIntervalSeconds",
        config.unknown_kid_refetch_interval_seconds,
        // go-oidc (the apiserver's verifier) refetches on every unknown kid; one second
        // keeps a rotation prompt and bounds what a flood of random kids costs the issuer.
        1,
        1..=3600,
    )?;
    Ok(RemoteKeys {
        location,
        fetching: fetch.fetching(
            cluster(&at, &config.cluster)?,
            refresh * 1000,
            Some((min_refresh * 1000, max_refresh * 1000)),
            demand * 1000,
        ),
    })
}

/// `authorization.bundleSource`.
pub(super) fn bundle_source(config: &BundleSourceConfig) -> Result<BundleSource, ConfigError> {
    let at = "authorization.bundleSource";
    let bundle = url(at, "url", &config.url)?;
    let trust = match config.signature.as_deref().unwrap_or("detached") {
        "detached" => {
            let signature = match &config.signature_url {
                Some(signature) => url(at, "signatureURL", signature)?,
                None => url(at, "url", &format!("{}.sig", config.url))?,
            };
            let keys = match &config.signing_keys {
                None => {
                    return Err(ConfigError::new(
                        format!("{at}.signingKeys"),
                        "required: a fetched bundle must be signed (see `meshguard bundle \
                         sign`), unless signature is \"none\"",
                    ))
                }
                Some(Value::String(text)) => KeySet::from_jwks_str(text, true),
                Some(document) => KeySet::from_jwks(document, true),
            }
            .map_err(|e| ConfigError::new(format!("{at}.signingKeys"), e.0))?;
            BundleTrust::Signed { signature, keys }
        }
        "none" => {
            for (field, present) in [
                ("signingKeys", config.signing_keys.is_some()),
                ("signatureURL", config.signature_url.is_some()),
            ] {
                if present {
                    return Err(ConfigError::new(
                        format!("{at}.{field}"),
                        "must not be set with signature \"none\" (nothing would check it)",
                    ));
                }
            }
            BundleTrust::Unsigned
        }
        other => {
            return Err(ConfigError::new(
                format!("{at}.signature"),
                format!("must be \"detached\" or \"none\", not {other:?}"),
            ))
        }
    };
    let fetch = fetch(at, config.fetch.as_ref(), DEFAULT_MAX_BUNDLE_BYTES)?;
    let poll = bounded(
        at,
        "pollIntervalSeconds",
        config.poll_interval_seconds,
        30,
        1..=86_400,
    )?;
    Ok(BundleSource {
        bundle,
        trust,
        // Polled on its interval (Cache-Control ignored: the ETag makes a poll cheap).
        fetching: fetch.fetching(
            cluster(at, &config.cluster)?,
            poll * 1000,
            None,
            poll * 1000,
        ),
    })
}
