//! Counters and gauges, defined once per name and exposed by Envoy as stats
//! (`wasmcustom.meshguard.decision.deny.token_expired`).

use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::decision::DecisionRecord;
use crate::reason::Reason;
use crate::remote::FetchError;

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
    /// Decision counters by reason (the reason names its outcome).
    decisions: HashMap<Reason, u32>,
}

impl Metrics {
    /// Defines the counters every deployment has, so they show as 0 before the first request.
    pub(crate) fn define_known(&mut self) {
        // Every outcome and reason, from the one list of them.
        let mut names: Vec<String> = Reason::ALL.iter().map(|r| r.metric_name()).collect();
        names.push("meshguard.config.rejected".to_owned());
        names.push("meshguard.clock.unavailable".to_owned());
        names.extend(Hot::ALL.iter().map(|hot| hot.name().to_owned()));
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
        self.count_reason(record.reason);
    }

    /// Counts one request that came to `reason`.
    pub(crate) fn count_reason(&mut self, reason: Reason) {
        let id = match self.decisions.get(&reason) {
            Some(id) => Some(*id),
            None => {
                let id = self.id(&reason.metric_name(), MetricType::Counter);
                if let Some(id) = id {
                    self.decisions.insert(reason, id);
                }
                id
            }
        };
        bump(id, 1);
    }

    /// Adds one to a counter (defining it on first use).
    pub(crate) fn increment(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// Adds `n` to a counter (defining it on first use).
    pub(crate) fn add(&mut self, name: &str, n: u64) {
        if n > 0 {
            let id = self.id(name, MetricType::Counter);
            bump(id, n);
        }
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
