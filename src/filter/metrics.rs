//! Counters and gauges, defined once per name and exposed by Envoy as stats
//! (`wasmcustom.meshguard.decision.deny.token_expired`).

use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::decision::DecisionRecord;
use crate::remote::FetchError;
use crate::token::AuthError;

/// The counters every request touches, by their slot in [`Metrics::hot`]: their ids are kept
/// in an array, so counting a request costs no name formatting or hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hot {
    /// Every request seen.
    Requests = 0,
    /// Tokens found in this worker's cache.
    TokensLocalHit = 1,
    /// Tokens found in the cache the workers share.
    TokensSharedHit = 2,
    /// Tokens verified in full.
    TokensVerified = 3,
}

impl Hot {
    const ALL: [Hot; 4] = [
        Hot::Requests,
        Hot::TokensLocalHit,
        Hot::TokensSharedHit,
        Hot::TokensVerified,
    ];

    fn name(self) -> &'static str {
        match self {
            Hot::Requests => "meshguard.requests_total",
            Hot::TokensLocalHit => "meshguard.tokens.cache_hit",
            Hot::TokensSharedHit => "meshguard.tokens.shared_hit",
            Hot::TokensVerified => "meshguard.tokens.verified",
        }
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    ids: HashMap<String, u32>,
    hot: [Option<u32>; 4],
    /// Decision counters by (decision, reason): both are static strings.
    decisions: HashMap<(&'static str, &'static str), u32>,
}

impl Metrics {
    /// Defines the counters every deployment has, so they show as 0 before the first request.
    pub(crate) fn define_known(&mut self) {
        let mut names = vec![
            "meshguard.decision.allow.allowed".to_owned(),
            "meshguard.decision.bypass.bypass".to_owned(),
            "meshguard.decision.deny.forbidden".to_owned(),
            "meshguard.decision.deny.request_rejected".to_owned(),
            "meshguard.decision.deny.bundle_unavailable".to_owned(),
            "meshguard.config.rejected".to_owned(),
        ];
        names.extend(Hot::ALL.iter().map(|hot| hot.name().to_owned()));
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

    /// Adds `n` to one of the counters every request touches.
    pub(crate) fn add_hot(&mut self, hot: Hot, n: u64) {
        if n == 0 {
            return;
        }
        let slot = hot as usize;
        if self.hot[slot].is_none() {
            self.hot[slot] = self.id(hot.name(), MetricType::Counter);
        }
        bump(self.hot[slot], n);
    }

    /// Counts a decision under [`DecisionRecord::metric_name`], its id kept by (decision,
    /// reason) so that no name is formatted per request.
    pub(crate) fn count_decision(&mut self, record: &DecisionRecord) {
        let key = (record.decision, record.reason);
        let id = match self.decisions.get(&key) {
            Some(id) => Some(*id),
            None => {
                let id = self.id(&record.metric_name(), MetricType::Counter);
                if let Some(id) = id {
                    self.decisions.insert(key, id);
                }
                id
            }
        };
        bump(id, 1);
    }

    /// Adds one to a counter (defining it on first use).
    pub(crate) fn increment(&mut self, name: &str) {
        let id = self.id(name, MetricType::Counter);
        bump(id, 1);
    }

    /// Sets a gauge (defining it on first use).
    pub(crate) fn set(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(name, MetricType::Gauge) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}

/// Adds `n` to the counter `id`, if it was defined.
fn bump(id: Option<u32>, n: u64) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
    }
}
