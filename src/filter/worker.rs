//! One worker VM's live state, and the host side of the core's sync engine: shared data,
//! HTTP calls, logs and metrics as [`SyncPort`]. The state machines (fetch schedule, leases,
//! adoption, waiting requests) are [`crate::sync`]'s.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

use super::log;
use super::metrics::Metrics;
use super::tokens::SharedTokens;
use crate::decision::Engine;
use crate::request_info::Workload;
use crate::sync::waiting::Waiting;
use crate::sync::{Level, SyncEngine, SyncPort};

/// A random number (WASI `random_get` through the standard library's hasher keys).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x6d65_7368_6775_6172);
    hasher.finish()
}

/// The proxy-wasm host as the sync engine's port.
pub(crate) struct HostPort<'m> {
    pub(crate) metrics: &'m mut Metrics,
}

impl SyncPort for HostPort<'_> {
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, Option<u32>)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), cas)) => Some((bytes, cas)),
            _ => None,
        }
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), cas).is_ok()
    }

    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, String> {
        hostcalls::dispatch_http_call(
            cluster,
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            Some(body).filter(|b| !b.is_empty()),
            Vec::new(),
            Duration::from_millis(timeout_ms),
        )
        .map_err(|status| format!("{status:?}"))
    }

    fn random(&mut self) -> u64 {
        random()
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        log(level, message);
    }

    fn increment(&mut self, metric: &str) {
        self.metrics.increment(metric);
    }

    fn set_gauge(&mut self, metric: &str, value: u64) {
        self.metrics.set(metric, value);
    }
}

/// The worker VM's state.
pub(crate) struct Worker {
    /// The engine in force and the remote sources that keep it current.
    pub(crate) sync: SyncEngine,
    /// Paused requests.
    pub(crate) waiting: Waiting,
    /// The workload from node metadata.
    pub(crate) workload: Rc<Workload>,
    /// Verified tokens.
    pub(crate) tokens: SharedTokens,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            sync: SyncEngine::new(random()),
            waiting: Waiting::default(),
            workload: Rc::default(),
            tokens: SharedTokens::default(),
        }
    }
}

impl Worker {
    /// The engine in force; `None` until a configuration compiles.
    pub(crate) fn engine(&self) -> Option<Rc<Engine>> {
        self.sync.engine().cloned()
    }

    /// Puts a newly compiled engine in force, with whatever the proxy's other workers (or an
    /// earlier configuration) already fetched for the same sources. `configuration` (a digest
    /// of the configuration text) names the token cache the workers share.
    pub(crate) fn configure(&mut self, engine: Engine, configuration: &str, metrics: &mut Metrics) {
        self.tokens = SharedTokens::new(engine.authenticator.cache_settings(), configuration);
        metrics.define_remote(
            !engine.remote_keys.is_empty(),
            engine.bundle_source.is_some(),
        );
        self.sync.configure(&mut HostPort { metrics }, engine);
    }
}
