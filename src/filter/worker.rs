//! One worker VM's live state: the engine in force, the requests waiting for keys or a
//! bundle, and the remote sources it keeps fresh.
//!
//! Workers of one proxy share each source through proxy-wasm shared data, under two keys:
//! `<name>/state`, the [`FetchState`] schedule (written with compare-and-swap), and
//! `<name>/data`, the last good document (a JSON header line, then the body as fetched). The
//! worker that takes the lease fetches; every worker adopts a new value when the state's
//! generation moves. HTTP calls are made from the root context only, so that their answers
//! come back to it.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};
use serde::{Deserialize, Serialize};

use super::log;
use super::metrics::Metrics;
use super::tokens::SharedTokens;
use crate::bundle::Bundle;
use crate::decision::{Engine, Wait};
use crate::remote::keys::{jwks_uri_from_discovery, key_set_from_jwks};
use crate::remote::response::check_size;
use crate::remote::{
    BundleSource, Demand, FetchError, FetchState, FetchedResponse, Fetching, HttpTarget,
    KeysLocation, RemoteKeys,
};
use crate::request_info::Workload;
use crate::token::KeySet;

/// A request waiting for keys or a bundle.
pub(crate) struct Waiter {
    /// What it waits for.
    pub(crate) wait: Wait,
    /// When it is answered with what there is.
    pub(crate) deadline_ms: u64,
    /// For a demanded refetch: the fetch count it waits to see exceeded.
    pub(crate) baseline: Option<u64>,
}

/// Most requests one worker holds at once; beyond, requests are decided at once.
pub(crate) const MAX_WAITERS: usize = 4096;

/// Which waits a change may settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    Keys(usize),
    Bundle,
}

enum Origin {
    Keys {
        issuer: usize,
        url: String,
        remote: RemoteKeys,
    },
    Bundle(Arc<BundleSource>),
}

struct Source {
    /// The shared-data name.
    name: String,
    origin: Origin,
    /// The generation this worker has in force (0: none yet).
    adopted: u64,
    /// The last generation this worker examined, loaded or refused: a stored document it
    /// cannot load (e.g. signed for another configuration) is refused once, not every tick.
    seen: u64,
    /// The `ETag` of the bundle in force.
    etag: Option<String>,
}

enum Step {
    Discovery,
    Jwks,
    Bundle,
    Signature {
        bundle: Vec<u8>,
        etag: Option<String>,
    },
}

struct Call {
    source: String,
    step: Step,
}

/// The header line of a stored document.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

/// A random number (WASI `random_get` through the standard library's hasher keys).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x6d65_7368_6775_6172);
    hasher.finish()
}

fn read_state(name: &str) -> (FetchState, Option<u32>) {
    match hostcalls::get_shared_data(&format!("{name}/state")) {
        Ok((Some(bytes), cas)) => (serde_json::from_slice(&bytes).unwrap_or_default(), cas),
        _ => (FetchState::default(), None),
    }
}

fn write_state(name: &str, state: &FetchState, cas: Option<u32>) -> bool {
    let Ok(bytes) = serde_json::to_vec(state) else {
        return false;
    };
    hostcalls::set_shared_data(&format!("{name}/state"), Some(&bytes), cas).is_ok()
}

/// Reads, changes and writes a source's state with compare-and-swap, retrying a few times
/// when another worker wrote in between. Returns the state as written, if it was.
fn update_state(name: &str, mut change: impl FnMut(&mut FetchState)) -> Option<FetchState> {
    for _ in 0..4 {
        let (mut state, cas) = read_state(name);
        change(&mut state);
        if write_state(name, &state, cas) {
            return Some(state);
        }
    }
    None
}

fn read_data(name: &str) -> Option<(Stored, Vec<u8>)> {
    let (Some(bytes), _) = hostcalls::get_shared_data(&format!("{name}/data")).ok()? else {
        return None;
    };
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let stored = serde_json::from_slice(&bytes[..split]).ok()?;
    Some((stored, bytes[split + 1..].to_vec()))
}

fn write_data(name: &str, stored: &Stored, body: &[u8]) -> bool {
    let Ok(mut bytes) = serde_json::to_vec(stored) else {
        return false;
    };
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    hostcalls::set_shared_data(&format!("{name}/data"), Some(&bytes), None).is_ok()
}

/// The worker VM's state.
pub(crate) struct Worker {
    /// The engine in force; `None` until a configuration compiles.
    pub(crate) engine: Option<Rc<Engine>>,
    /// The workload from node metadata.
    pub(crate) workload: Rc<Workload>,
    /// Paused requests by context id.
    pub(crate) waiters: BTreeMap<u32, Waiter>,
    /// Verified tokens.
    pub(crate) tokens: SharedTokens,
    sources: Vec<Source>,
    calls: HashMap<u32, Call>,
    owner: u64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            engine: None,
            workload: Rc::default(),
            waiters: BTreeMap::new(),
            tokens: SharedTokens::default(),
            sources: Vec::new(),
            calls: HashMap::new(),
            owner: random(),
        }
    }
}

impl Origin {
    fn fetching(&self) -> &Fetching {
        match self {
            Origin::Keys { remote, .. } => &remote.fetching,
            Origin::Bundle(source) => &source.fetching,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Origin::Keys { .. } => "keys",
            Origin::Bundle(_) => "bundle",
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::Keys { url, .. } => format!("keys of issuer {url}"),
            Origin::Bundle(source) => format!("bundle {}", source.bundle),
        }
    }
}

impl Worker {
    /// Whether the configuration in force fetches anything.
    pub(crate) fn has_sources(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Puts a newly compiled engine in force, with whatever the proxy's other workers (or an
    /// earlier configuration) already fetched for the same sources. `configuration` (a digest
    /// of the configuration text) names the token cache the workers share.
    pub(crate) fn configure(&mut self, engine: Engine, configuration: &str, metrics: &mut Metrics) {
        self.tokens = SharedTokens::new(engine.authenticator.cache_settings(), configuration);
        let mut sources = Vec::new();
        for (issuer, verifier) in engine.authenticator.issuers().iter().enumerate() {
            if let Some(remote) = &verifier.remote {
                let location = match &remote.location {
                    KeysLocation::Jwks(target) | KeysLocation::Discovery(target) => target,
                };
                sources.push(Source {
                    name: format!(
                        "meshguard.keys|{}|{}|{location}",
                        remote.fetching.cluster, verifier.url
                    ),
                    origin: Origin::Keys {
                        issuer,
                        url: verifier.url.clone(),
                        remote: remote.clone(),
                    },
                    adopted: 0,
                    seen: 0,
                    etag: None,
                });
            }
        }
        if let Some(source) = &engine.bundle_source {
            sources.push(Source {
                name: format!(
                    "meshguard.bundle|{}|{}",
                    source.fetching.cluster, source.bundle
                ),
                origin: Origin::Bundle(Arc::clone(source)),
                adopted: 0,
                seen: 0,
                etag: None,
            });
        }
        metrics.define_remote(
            sources
                .iter()
                .any(|s| matches!(s.origin, Origin::Keys { .. })),
            sources
                .iter()
                .any(|s| matches!(s.origin, Origin::Bundle(_))),
        );
        self.engine = Some(Rc::new(engine));
        self.sources = sources;
        for index in 0..self.sources.len() {
            self.adopt_if_newer(index, metrics);
        }
    }

    /// One tick: adopt what other workers fetched, start the fetches that are due, and
    /// report which waits may now be settled.
    pub(crate) fn tick(&mut self, now: u64, metrics: &mut Metrics) -> Vec<Wake> {
        let mut wakes = Vec::new();
        for index in 0..self.sources.len() {
            if self.adopt_if_newer(index, metrics) {
                wakes.push(self.wake_of(index));
            }
            self.maybe_fetch(index, now, metrics);
        }
        self.report(metrics);
        wakes
    }

    fn wake_of(&self, index: usize) -> Wake {
        match &self.sources[index].origin {
            Origin::Keys { issuer, .. } => Wake::Keys(*issuer),
            Origin::Bundle(_) => Wake::Bundle,
        }
    }

    fn source_of(&self, wait: Wait) -> Option<usize> {
        self.sources.iter().position(|s| match (&s.origin, wait) {
            (Origin::Keys { issuer, .. }, Wait::Keys { issuer: wanted, .. }) => *issuer == wanted,
            (Origin::Bundle(_), Wait::Bundle) => true,
            _ => false,
        })
    }

    /// How long a request may wait for this, in milliseconds (0: not at all).
    pub(crate) fn wait_ms(&self, wait: Wait) -> u64 {
        self.source_of(wait)
            .map_or(0, |i| self.sources[i].origin.fetching().wait_ms)
    }

    /// Whether the refetch a request demanded has run (in any worker).
    pub(crate) fn demand_met(&self, wait: Wait, baseline: u64, now: u64) -> bool {
        self.source_of(wait).is_none_or(|i| {
            read_state(&self.sources[i].name)
                .0
                .demand_met(baseline, now)
        })
    }

    /// A request's token names a `kid` the key set lacks: ask for a refetch, coalesced with
    /// any planned and rate-limited. The fetch itself starts on a root tick. `None` when the
    /// issuer has no remote keys.
    pub(crate) fn demand(&mut self, wait: Wait, now: u64) -> Option<Demand> {
        let index = self.source_of(wait)?;
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let mut outcome = None;
        update_state(&source.name, |state| {
            outcome = Some(state.demand(now, &policy))
        });
        outcome
    }

    /// Starts a due fetch if this worker takes the lease. Before any worker has written a
    /// schedule there is no version to compare against, so two workers starting together may
    /// both fetch once; from then on the compare-and-swap lets exactly one through.
    fn maybe_fetch(&mut self, index: usize, now: u64, metrics: &mut Metrics) {
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let (mut state, cas) = read_state(&source.name);
        if !state.acquire(self.owner, now, &policy) || !write_state(&source.name, &state, cas) {
            return;
        }
        let (step, target, etag) = match &source.origin {
            Origin::Keys { remote, .. } => match &remote.location {
                KeysLocation::Jwks(target) => (Step::Jwks, target.clone(), None),
                KeysLocation::Discovery(target) => (Step::Discovery, target.clone(), None),
            },
            Origin::Bundle(bundle) => (Step::Bundle, bundle.bundle.clone(), source.etag.clone()),
        };
        if let Err(error) = self.dispatch(index, step, &target, etag.as_deref()) {
            self.fail(index, now, &error, metrics);
        }
    }

    fn dispatch(
        &mut self,
        index: usize,
        step: Step,
        target: &HttpTarget,
        etag: Option<&str>,
    ) -> Result<(), FetchError> {
        let source = &self.sources[index];
        let extra: Vec<(&str, &str)> = etag.map(|tag| ("if-none-match", tag)).into_iter().collect();
        let headers = target.get_headers(&extra);
        let token = hostcalls::dispatch_http_call(
            &source.origin.fetching().cluster,
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            None,
            Vec::new(),
            Duration::from_millis(source.origin.fetching().timeout_ms),
        )
        .map_err(|status| {
            log(
                LogLevel::Error,
                &format!(
                    "meshguard: cannot call cluster {:?} for {target}: {status:?} (is the \
                     cluster defined?)",
                    &source.origin.fetching().cluster
                ),
            );
            FetchError::Unreachable
        })?;
        self.calls.insert(
            token,
            Call {
                source: source.name.clone(),
                step,
            },
        );
        Ok(())
    }

    /// The answer to one of this worker's HTTP calls.
    pub(crate) fn on_response(
        &mut self,
        token: u32,
        body_size: usize,
        now: u64,
        metrics: &mut Metrics,
    ) -> Vec<Wake> {
        let Some(call) = self.calls.remove(&token) else {
            return Vec::new();
        };
        // A configuration change may have dropped the source; its answer is then moot.
        let Some(index) = self.sources.iter().position(|s| s.name == call.source) else {
            return Vec::new();
        };
        let headers: Vec<(String, String)> =
            hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
                .unwrap_or_default()
                .into_iter()
                .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
                .collect();
        let outcome = check_size(body_size, self.sources[index].origin.fetching().max_bytes)
            .and_then(|()| {
                let body = if body_size == 0 {
                    Vec::new()
                } else {
                    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                };
                self.handle(index, call.step, &headers, body, now, metrics)
            });
        let wake = self.wake_of(index);
        match outcome {
            Ok(Some(done)) => {
                self.report(metrics);
                if done {
                    vec![wake]
                } else {
                    Vec::new()
                }
            }
            Ok(None) => Vec::new(),
            Err(error) => {
                self.fail(index, now, &error, metrics);
                self.report(metrics);
                vec![wake]
            }
        }
    }

    /// One response. `Ok(Some(true))`: a new value is in force; `Ok(Some(false))`: the
    /// fetch ended with nothing new; `Ok(None)`: the next call of the fetch is under way.
    fn handle(
        &mut self,
        index: usize,
        step: Step,
        headers: &[(String, String)],
        body: Vec<u8>,
        now: u64,
        metrics: &mut Metrics,
    ) -> Result<Option<bool>, FetchError> {
        let response = FetchedResponse {
            headers,
            body: &body,
        };
        match step {
            Step::Discovery => {
                let Origin::Keys { url, .. } = &self.sources[index].origin else {
                    return Ok(None);
                };
                let target = jwks_uri_from_discovery(response.ok_body()?, url)?;
                self.dispatch(index, Step::Jwks, &target, None)?;
                Ok(None)
            }
            Step::Jwks => {
                let keys = key_set_from_jwks(response.ok_body()?)?;
                let count = keys.keys().len();
                let generation = self.store(
                    index,
                    now,
                    response.max_age(),
                    &Stored::default(),
                    &body,
                    metrics,
                );
                // In force here from the set just checked; other workers load the stored one.
                self.put_keys(index, generation, keys);
                log(
                    LogLevel::Info,
                    &format!(
                        "meshguard: {}: {count} key(s) fetched and in force",
                        self.sources[index].origin.describe()
                    ),
                );
                Ok(Some(true))
            }
            Step::Bundle => {
                if response.not_modified() {
                    metrics.increment("meshguard.bundle.fetch.not_modified");
                    self.succeed(index, now, None);
                    return Ok(Some(false));
                }
                let bundle = response.ok_body()?.to_vec();
                let etag = response.etag().map(str::to_owned);
                let Origin::Bundle(source) = &self.sources[index].origin else {
                    return Ok(None);
                };
                let Some(target) = source.signature_target().cloned() else {
                    // `signature: none`: the bundle is loaded as fetched.
                    let loaded = source.load(&bundle, None)?;
                    let stored = Stored {
                        etag: etag.clone(),
                        signature: None,
                    };
                    let generation = self.store(index, now, None, &stored, &bundle, metrics);
                    self.put_bundle(index, generation, etag, &loaded, metrics);
                    return Ok(Some(true));
                };
                self.dispatch(index, Step::Signature { bundle, etag }, &target, None)?;
                Ok(None)
            }
            Step::Signature { bundle, etag } => {
                let signature = response.ok_body().map_err(|e| match e {
                    FetchError::Status { status } => FetchError::SignatureInvalid {
                        detail: format!("the signature URL answered HTTP {status}"),
                    },
                    other => other,
                })?;
                let Origin::Bundle(source) = &self.sources[index].origin else {
                    return Ok(None);
                };
                let loaded = source.load(&bundle, Some(signature))?;
                let stored = Stored {
                    etag: etag.clone(),
                    signature: Some(String::from_utf8_lossy(signature).trim().to_owned()),
                };
                let generation = self.store(index, now, None, &stored, &bundle, metrics);
                self.put_bundle(index, generation, etag, &loaded, metrics);
                Ok(Some(true))
            }
        }
    }

    /// Stores a fetched document for every worker and marks the fetch done; returns the new
    /// generation.
    fn store(
        &mut self,
        index: usize,
        now: u64,
        max_age: Option<u64>,
        stored: &Stored,
        body: &[u8],
        metrics: &mut Metrics,
    ) -> u64 {
        let source = &self.sources[index];
        if !write_data(&source.name, stored, body) {
            log(
                LogLevel::Error,
                &format!(
                    "meshguard: {}: shared data refused the document",
                    source.origin.describe()
                ),
            );
        }
        metrics.increment(&format!("meshguard.{}.fetch.ok", source.origin.kind()));
        let policy = source.origin.fetching().policy;
        update_state(&source.name, |state| {
            state.generation += 1;
            state.succeeded(now, max_age, &policy);
        })
        .map_or(0, |state| state.generation)
    }

    fn succeed(&mut self, index: usize, now: u64, max_age: Option<u64>) {
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        update_state(&source.name, |state| state.succeeded(now, max_age, &policy));
    }

    fn fail(&mut self, index: usize, now: u64, error: &FetchError, metrics: &mut Metrics) {
        let owner = self.owner;
        let jitter = random();
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let mut retry_ms = 0;
        update_state(&source.name, |state| {
            if state.lease.is_some_and(|lease| lease.owner != owner) {
                return;
            }
            state.failed(now, error.code(), jitter, &policy);
            retry_ms = state.next_due_ms.saturating_sub(now);
        });
        metrics.increment(&format!(
            "meshguard.{}.fetch.failed.{}",
            source.origin.kind(),
            error.code()
        ));
        let (level, kept) = if source.adopted > 0 {
            (LogLevel::Warn, "the last good one stays in force")
        } else {
            (LogLevel::Error, "none is in force yet")
        };
        log(
            level,
            &format!(
                "meshguard: {}: fetch failed ({}: {error}); {kept}; retry in {retry_ms} ms",
                source.origin.describe(),
                error.code()
            ),
        );
    }

    /// Loads the stored document if another worker (or this one) stored a newer one.
    fn adopt_if_newer(&mut self, index: usize, metrics: &mut Metrics) -> bool {
        let name = self.sources[index].name.clone();
        let (state, _) = read_state(&name);
        if state.generation == 0 || state.generation == self.sources[index].seen {
            return false;
        }
        self.sources[index].seen = state.generation;
        let Some((stored, body)) = read_data(&name) else {
            return false;
        };
        match &self.sources[index].origin {
            Origin::Keys { .. } => match key_set_from_jwks(&body) {
                Ok(keys) => {
                    self.put_keys(index, state.generation, keys);
                    true
                }
                Err(error) => {
                    log(
                        LogLevel::Error,
                        &format!("meshguard: stored key set refused: {error}"),
                    );
                    false
                }
            },
            Origin::Bundle(source) => {
                match source.load(&body, stored.signature.as_deref().map(str::as_bytes)) {
                    Ok(loaded) => {
                        self.put_bundle(index, state.generation, stored.etag, &loaded, metrics);
                        true
                    }
                    Err(error) => {
                        log(
                            LogLevel::Error,
                            &format!("meshguard: stored bundle refused: {error}"),
                        );
                        false
                    }
                }
            }
        }
    }

    fn put_keys(&mut self, index: usize, generation: u64, keys: KeySet) {
        let (Some(engine), Origin::Keys { issuer, .. }) =
            (&self.engine, &self.sources[index].origin)
        else {
            return;
        };
        self.engine = Some(Rc::new(engine.with_keys(*issuer, keys)));
        self.sources[index].adopted = generation;
        self.sources[index].seen = generation;
    }

    fn put_bundle(
        &mut self,
        index: usize,
        generation: u64,
        etag: Option<String>,
        loaded: &Bundle,
        metrics: &mut Metrics,
    ) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let previous = engine.revision().to_owned();
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        for warning in &warnings {
            log(LogLevel::Warn, &format!("meshguard: bundle: {warning}"));
        }
        let next = engine.with_policy(loaded.compile(), warnings);
        log(
            LogLevel::Info,
            &format!(
                "meshguard: bundle revision {} in force ({} binding(s)); previous {}",
                next.revision(),
                next.policy
                    .as_ref()
                    .map_or(0, |p| p.authorizer.binding_count()),
                if previous.is_empty() {
                    "none"
                } else {
                    &previous
                }
            ),
        );
        if previous != next.revision() {
            metrics.increment("meshguard.bundle.updated");
        }
        self.engine = Some(Rc::new(next));
        let source = &mut self.sources[index];
        source.adopted = generation;
        source.seen = generation;
        source.etag = etag;
    }

    /// Gauges: sources failing while their last good value serves (stale), and sources with
    /// nothing in force yet (missing).
    fn report(&self, metrics: &mut Metrics) {
        for kind in ["keys", "bundle"] {
            let of_kind = self.sources.iter().filter(|s| s.origin.kind() == kind);
            let (mut stale, mut missing, mut any) = (0, 0, false);
            for source in of_kind {
                any = true;
                if source.adopted == 0 {
                    missing += 1;
                } else if read_state(&source.name).0.stale() {
                    stale += 1;
                }
            }
            if any {
                metrics.set(&format!("meshguard.{kind}.stale"), stale);
                metrics.set(&format!("meshguard.{kind}.missing"), missing);
            }
        }
    }
}
