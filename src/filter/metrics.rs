//! Counters and gauges, defined once per name and exposed by Envoy as stats
//! (`wasmcustom.meshguard.decision.deny.token_expired`).

use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::remote::FetchError;
use crate::token::AuthError;

/// The counter of every request seen.
pub(crate) const REQUESTS_TOTAL: &str = "meshguard.requests_total";

/// Tokens found in this worker's cache.
pub(crate) const TOKENS_LOCAL_HIT: &str = "meshguard.tokens.cache_hit";
/// Tokens found in the cache the workers share.
pub(crate) const TOKENS_SHARED_HIT: &str = "meshguard.tokens.shared_hit";
/// Tokens verified in full.
pub(crate) const TOKENS_VERIFIED: &str = "meshguard.tokens.verified";

#[derive(Default)]
pub(crate) struct Metrics {
    ids: HashMap<String, u32>,
}

impl Metrics {
    /// Defines the counters every deployment has, so they show as 0 before the first request.
    pub(crate) fn define_known(&mut self) {
        let mut names = vec![
            REQUESTS_TOTAL.to_owned(),
            "meshguard.decision.allow.allowed".to_owned(),
            "meshguard.decision.bypass.bypass".to_owned(),
            "meshguard.decision.deny.forbidden".to_owned(),
            "meshguard.decision.deny.request_rejected".to_owned(),
            "meshguard.decision.deny.bundle_unavailable".to_owned(),
            "meshguard.config.rejected".to_owned(),
            TOKENS_LOCAL_HIT.to_owned(),
            TOKENS_SHARED_HIT.to_owned(),
            TOKENS_VERIFIED.to_owned(),
        ];
        names.extend(
            AuthError::CODES
                .iter()
                .map(|c| format!("meshguard.decision.deny.{c}")),
        );
        for name in names {
            self.id(&name, MetricType::Counter);
        }
    }

    /// Defines the metrics of remote keys and bundles.
    pub(crate) fn define_remote(&mut self, keys: bool, bundle: bool) {
        let mut counters = vec![
            "meshguard.requests.paused".to_owned(),
            "meshguard.requests.wait_expired".to_owned(),
        ];
        let mut gauges = Vec::new();
        for (on, kind) in [(keys, "keys"), (bundle, "bundle")] {
            if !on {
                continue;
            }
            counters.push(format!("meshguard.{kind}.fetch.ok"));
            counters.extend(
                FetchError::CODES
                    .iter()
                    .map(|c| format!("meshguard.{kind}.fetch.failed.{c}")),
            );
            gauges.push(format!("meshguard.{kind}.stale"));
            gauges.push(format!("meshguard.{kind}.missing"));
        }
        if keys {
            counters.push("meshguard.keys.refetch.demanded".to_owned());
            counters.push("meshguard.keys.refetch.rate_limited".to_owned());
        }
        if bundle {
            counters.push("meshguard.bundle.fetch.not_modified".to_owned());
            counters.push("meshguard.bundle.updated".to_owned());
        }
        for name in counters {
            self.id(&name, MetricType::Counter);
        }
        for name in gauges {
            self.id(&name, MetricType::Gauge);
        }
    }

    fn id(&mut self, name: &str, kind: MetricType) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.ids.insert(name.to_owned(), id);
        Some(id)
    }

    /// Adds one to a counter (defining it on first use).
    pub(crate) fn increment(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// Adds `n` to a counter (defining it on first use).
    pub(crate) fn add(&mut self, name: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(id) = self.id(name, MetricType::Counter) {
            let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets a gauge (defining it on first use).
    pub(crate) fn set(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(name, MetricType::Gauge) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}
