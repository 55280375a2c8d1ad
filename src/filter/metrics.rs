//! Counters, defined once per name and exposed by Envoy as stats
//! (`wasmcustom.meshguard.decision.deny.token_expired`).

use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::token::AuthError;

/// The counter of every request seen.
pub(crate) const REQUESTS_TOTAL: &str = "meshguard.requests_total";

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
            "meshguard.config.rejected".to_owned(),
        ];
        names.extend(
            AuthError::CODES
                .iter()
                .map(|c| format!("meshguard.decision.deny.{c}")),
        );
        for name in names {
            self.id(&name);
        }
    }

    fn id(&mut self, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(MetricType::Counter, name).ok()?;
        self.ids.insert(name.to_owned(), id);
        Some(id)
    }

    /// Adds one to a counter (defining it on first use).
    pub(crate) fn increment(&mut self, name: &str) {
        if let Some(id) = self.id(name) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}
