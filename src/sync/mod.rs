//! Keeping remote keys and bundles fresh, as a pure state machine: the proxy-wasm adapter
//! implements [`SyncPort`] (shared data with compare-and-swap, HTTP calls, logs, metrics) and
//! drives [`SyncEngine`] with ticks and call responses; the engine in force changes when a fetch
//! brings new keys or a new bundle. Time is an argument (milliseconds since the epoch).
//!
//! Workers of one proxy share each source through the port's shared store (see [`record`]):
//! the worker that takes the lease fetches; every worker adopts a new value when the state's
//! generation moves. Keys arrive in the token module as key sets ([`Engine::with_keys`]),
//! whoever fetched them.

pub mod record;
pub mod review;
pub mod waiting;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use record::{read_data, read_state, update_state, write_data, write_state, Stored};

use crate::bundle::Bundle;
use crate::decision::{Engine, Wait};
use crate::remote::keys::{jwks_uri_from_discovery, key_set_from_jwks};
use crate::remote::response::check_size;
use crate::remote::{
    BundleSource, Demand, FetchError, FetchState, FetchedResponse, Fetching, HttpTarget,
    KeysLocation, RemoteKeys,
};
use crate::token::review::ReviewSettings;
use crate::token::KeySet;

/// How loud a line the sync engine logs is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Routine: a fetch brought something new.
    Info,
    /// Degraded but serving: a fetch failed, the last good value stays.
    Warn,
    /// Not serving as configured: nothing in force, or the host refused something.
    Error,
}

/// What the sync engine needs from its host.
pub trait SyncPort {
    /// A shared value and its compare-and-swap version.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, Option<u32>)>;
    /// Writes a shared value if its version is still `cas` (any version when `None`).
    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
    /// Starts an HTTP call through `cluster` (`body` empty for a GET); the host's token for
    /// its answer, or why not.
    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, String>;
    /// A random number (retry jitter).
    fn random(&mut self) -> u64;
    /// A log line.
    fn log(&mut self, level: Level, message: &str);
    /// Adds one to a counter.
    fn increment(&mut self, metric: &str);
    /// Sets a gauge.
    fn set_gauge(&mut self, metric: &str, value: u64);
}

/// Which waits a change may settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The keys of the issuer at this index.
    Keys(usize),
    /// The bundle.
    Bundle,
    /// The webhook's answer about the token with this SHA-256.
    Review([u8; 32]),
}

#[derive(Debug)]
enum Origin {
    Keys {
        issuer: usize,
        url: String,
        remote: Box<RemoteKeys>,
    },
    Bundle(Arc<BundleSource>),
}

#[derive(Debug)]
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

#[derive(Debug)]
enum Step {
    Discovery,
    Jwks,
    Bundle,
    Signature {
        bundle: Vec<u8>,
        etag: Option<String>,
    },
}

#[derive(Debug)]
struct Call {
    source: String,
    step: Step,
}

/// An answer to one of the engine's HTTP calls.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The response headers (`:status` among them).
    pub headers: &'a [(String, String)],
    /// The body's size, as the host announced it.
    pub body_size: usize,
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

/// One worker's view of the remote sources, and the engine they keep current.
#[derive(Debug)]
pub struct SyncEngine {
    engine: Option<Rc<Engine>>,
    sources: Vec<Source>,
    calls: HashMap<u32, Call>,
    /// The token-review webhook's answers and calls.
    reviews: review::Reviews,
    /// This worker's name in leases.
    owner: u64,
}

impl SyncEngine {
    /// A worker named `owner` (a random number) in leases, with nothing configured.
    pub fn new(owner: u64) -> SyncEngine {
        SyncEngine {
            engine: None,
            sources: Vec::new(),
            calls: HashMap::new(),
            reviews: review::Reviews::default(),
            owner,
        }
    }

    /// The engine in force; `None` until a configuration compiles.
    pub fn engine(&self) -> Option<&Rc<Engine>> {
        self.engine.as_ref()
    }

    /// Whether the configuration in force calls out: fetches remote keys or a bundle, or
    /// reviews tokens (the tick then also ends the waits for reviews).
    pub fn has_sources(&self) -> bool {
        !self.sources.is_empty() || self.review_settings().is_some()
    }

    /// Whether any source is of this kind (`keys`, `bundle`).
    pub fn has_kind(&self, kind: &str) -> bool {
        self.sources.iter().any(|s| s.origin.kind() == kind)
    }

    /// Puts a newly compiled engine in force, with whatever the proxy's other workers (or an
    /// earlier configuration) already fetched for the same sources.
    pub fn configure(&mut self, port: &mut dyn SyncPort, engine: Engine) {
        let mut sources = Vec::new();
        for (issuer, remote) in &engine.remote_keys {
            let url = engine
                .authenticator
                .issuers()
                .get(*issuer)
                .map(|v| v.url.clone())
                .unwrap_or_default();
            let location = match &remote.location {
                KeysLocation::Jwks(target) | KeysLocation::Discovery(target) => target,
            };
            sources.push(Source {
                name: format!(
                    "meshguard.keys|{}|{url}|{location}",
                    remote.fetching.cluster
                ),
                origin: Origin::Keys {
                    issuer: *issuer,
                    url,
                    remote: Box::new(remote.clone()),
                },
                adopted: 0,
                seen: 0,
                etag: None,
            });
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
        self.engine = Some(Rc::new(engine));
        self.sources = sources;
        self.reviews.clear();
        for index in 0..self.sources.len() {
            self.adopt_if_newer(port, index);
        }
    }

    /// One tick: adopt what other workers fetched, start the fetches that are due, and
    /// report which waits may now be settled.
    pub fn tick(&mut self, port: &mut dyn SyncPort, now: u64) -> Vec<Wake> {
        if let Some(settings) = self.review_settings() {
            self.reviews.start_queued(port, &settings, now);
        }
        let mut wakes = Vec::new();
        for index in 0..self.sources.len() {
            if self.adopt_if_newer(port, index) {
                wakes.push(self.wake_of(index));
            }
            self.maybe_fetch(port, index, now);
        }
        self.report(port);
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

    /// The token-review webhook of the configuration in force.
    fn review_settings(&self) -> Option<Arc<ReviewSettings>> {
        self.engine
            .as_ref()
            .and_then(|e| e.authenticator.review_settings().cloned())
    }

    /// The token-review webhook's answers kept by this worker.
    pub fn reviews(&self) -> &crate::token::review::ReviewCache {
        self.reviews.cache()
    }

    /// Asks the token-review webhook about `token` (see [`review::Reviews::start`]); true
    /// when an answer is on its way.
    pub fn review(&mut self, port: &mut dyn SyncPort, token: &str, now: u64) -> bool {
        let Some(settings) = self.review_settings() else {
            return false;
        };
        self.reviews.start(port, &settings, token, now)
    }

    /// Asks for a review of `token` on the next tick, from the root context: for a request
    /// that does not wait for it (a dry run), whose stream may be gone when the answer comes.
    pub fn review_later(&mut self, token: &str) {
        self.reviews.queue(token);
    }

    /// How long a request may wait for this, in milliseconds (0: not at all).
    pub fn wait_ms(&self, wait: Wait) -> u64 {
        if let Wait::Review(_) = wait {
            return self.review_settings().map_or(0, |s| s.request_wait_ms);
        }
        self.source_of(wait)
            .map_or(0, |i| self.sources[i].origin.fetching().wait_ms)
    }

    /// Whether the refetch a request demanded has run (in any worker).
    pub fn demand_met(&self, port: &dyn SyncPort, wait: Wait, baseline: u64, now: u64) -> bool {
        self.source_of(wait).is_none_or(|i| {
            read_state(port, &self.sources[i].name)
                .0
                .demand_met(baseline, now)
        })
    }

    /// A request's token names a `kid` the key set lacks: ask for a refetch, coalesced with
    /// any planned and rate-limited. The fetch itself starts on a tick. `None` when the
    /// issuer has no remote keys (or the schedule could not be written).
    pub fn demand(&mut self, port: &mut dyn SyncPort, wait: Wait, now: u64) -> Option<Demand> {
        let index = self.source_of(wait)?;
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let mut outcome = None;
        update_state(port, &source.name, |state| {
            outcome = Some(state.demand(now, &policy));
        })?;
        outcome
    }

    /// Starts a due fetch if this worker takes the lease. Before any worker has written a
    /// schedule there is no version to compare against, so two workers starting together may
    /// both fetch once; from then on the compare-and-swap lets exactly one through.
    fn maybe_fetch(&mut self, port: &mut dyn SyncPort, index: usize, now: u64) {
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let (mut state, cas) = read_state(port, &source.name);
        if !state.acquire(self.owner, now, &policy) || !write_state(port, &source.name, &state, cas)
        {
            return;
        }
        let (step, target, etag) = match &source.origin {
            Origin::Keys { remote, .. } => match &remote.location {
                KeysLocation::Jwks(target) => (Step::Jwks, target.clone(), None),
                KeysLocation::Discovery(target) => (Step::Discovery, target.clone(), None),
            },
            Origin::Bundle(bundle) => (Step::Bundle, bundle.bundle.clone(), source.etag.clone()),
        };
        if let Err(error) = self.dispatch(port, index, step, &target, etag.as_deref()) {
            self.fail(port, index, now, &error);
        }
    }

    fn dispatch(
        &mut self,
        port: &mut dyn SyncPort,
        index: usize,
        step: Step,
        target: &HttpTarget,
        etag: Option<&str>,
    ) -> Result<(), FetchError> {
        let source = &self.sources[index];
        let fetching = source.origin.fetching();
        let extra: Vec<(&str, &str)> = etag.map(|tag| ("if-none-match", tag)).into_iter().collect();
        let headers = target.get_headers(&extra);
        let token = port
            .dispatch(&fetching.cluster, &headers, &[], fetching.timeout_ms)
            .map_err(|why| {
                port.log(
                    Level::Error,
                    &format!(
                        "meshguard: cannot call cluster {:?} for {target}: {why} (is the \
                         cluster defined?)",
                        fetching.cluster
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

    /// The answer to one of this worker's HTTP calls; `read_body` gives the body when the
    /// announced size is within bounds (it is never read otherwise).
    pub fn on_response(
        &mut self,
        port: &mut dyn SyncPort,
        token: u32,
        answer: Answer<'_>,
        read_body: impl FnOnce(usize) -> Vec<u8>,
        now: u64,
    ) -> Vec<Wake> {
        if self.reviews.owns(token) {
            let Some(settings) = self.review_settings() else {
                return Vec::new();
            };
            let status = answer
                .headers
                .iter()
                .find(|(n, _)| n == ":status")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            return self.reviews.answer(
                port,
                &settings,
                token,
                (status, answer.body_size),
                read_body,
                now,
            );
        }
        let Some(call) = self.calls.remove(&token) else {
            return Vec::new();
        };
        // A configuration change may have dropped the source; its answer is then moot.
        let Some(index) = self.sources.iter().position(|s| s.name == call.source) else {
            return Vec::new();
        };
        let outcome = check_size(
            answer.body_size,
            self.sources[index].origin.fetching().max_bytes,
        )
        .and_then(|()| {
            let body = if answer.body_size == 0 {
                Vec::new()
            } else {
                read_body(answer.body_size)
            };
            self.handle(port, index, call.step, answer.headers, body, now)
        });
        let wake = self.wake_of(index);
        match outcome {
            Ok(Some(done)) => {
                self.report(port);
                if done {
                    vec![wake]
                } else {
                    Vec::new()
                }
            }
            Ok(None) => Vec::new(),
            Err(error) => {
                self.fail(port, index, now, &error);
                self.report(port);
                vec![wake]
            }
        }
    }

    /// One response. `Ok(Some(true))`: a new value is in force; `Ok(Some(false))`: the
    /// fetch ended with nothing new; `Ok(None)`: the next call of the fetch is under way.
    fn handle(
        &mut self,
        port: &mut dyn SyncPort,
        index: usize,
        step: Step,
        headers: &[(String, String)],
        body: Vec<u8>,
        now: u64,
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
                self.dispatch(port, index, Step::Jwks, &target, None)?;
                Ok(None)
            }
            Step::Jwks => {
                let keys = key_set_from_jwks(response.ok_body()?)?;
                let count = keys.keys().len();
                let generation = self.store(
                    port,
                    index,
                    now,
                    response.max_age(),
                    &Stored::default(),
                    &body,
                );
                // In force here from the set just checked; other workers load the stored one.
                self.put_keys(index, generation, keys);
                port.log(
                    Level::Info,
                    &format!(
                        "meshguard: {}: {count} key(s) fetched and in force",
                        self.sources[index].origin.describe()
                    ),
                );
                Ok(Some(true))
            }
            Step::Bundle => {
                if response.not_modified() {
                    port.increment("meshguard.bundle.fetch.not_modified");
                    self.succeed(port, index, now);
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
                    let generation = self.store(port, index, now, None, &stored, &bundle);
                    self.put_bundle(port, index, generation, etag, &loaded);
                    return Ok(Some(true));
                };
                self.dispatch(port, index, Step::Signature { bundle, etag }, &target, None)?;
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
                let generation = self.store(port, index, now, None, &stored, &bundle);
                self.put_bundle(port, index, generation, etag, &loaded);
                Ok(Some(true))
            }
        }
    }

    /// Stores a fetched document for every worker and marks the fetch done; returns the new
    /// generation.
    fn store(
        &mut self,
        port: &mut dyn SyncPort,
        index: usize,
        now: u64,
        max_age: Option<u64>,
        stored: &Stored,
        body: &[u8],
    ) -> u64 {
        let source = &self.sources[index];
        if !write_data(port, &source.name, stored, body) {
            port.log(
                Level::Error,
                &format!(
                    "meshguard: {}: shared data refused the document",
                    source.origin.describe()
                ),
            );
        }
        port.increment(&format!("meshguard.{}.fetch.ok", source.origin.kind()));
        let policy = source.origin.fetching().policy;
        update_state(port, &source.name, |state| {
            state.generation += 1;
            state.succeeded(now, max_age, &policy);
        })
        .map_or(0, |state| state.generation)
    }

    fn succeed(&mut self, port: &mut dyn SyncPort, index: usize, now: u64) {
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        update_state(port, &source.name, |state| {
            state.succeeded(now, None, &policy)
        });
    }

    fn fail(&mut self, port: &mut dyn SyncPort, index: usize, now: u64, error: &FetchError) {
        let owner = self.owner;
        let jitter = port.random();
        let source = &self.sources[index];
        let policy = source.origin.fetching().policy;
        let mut retry_ms = 0;
        update_state(port, &source.name, |state| {
            if state.lease.is_some_and(|lease| lease.owner != owner) {
                return;
            }
            state.failed(now, error.code(), jitter, &policy);
            retry_ms = state.next_due_ms.saturating_sub(now);
        });
        port.increment(&format!(
            "meshguard.{}.fetch.failed.{}",
            source.origin.kind(),
            error.code()
        ));
        let (level, kept) = if source.adopted > 0 {
            (Level::Warn, "the last good one stays in force")
        } else {
            (Level::Error, "none is in force yet")
        };
        port.log(
            level,
            &format!(
                "meshguard: {}: fetch failed ({}: {error}); {kept}; retry in {retry_ms} ms",
                source.origin.describe(),
                error.code()
            ),
        );
    }

    /// Loads the stored document if another worker (or this one) stored a newer one.
    fn adopt_if_newer(&mut self, port: &mut dyn SyncPort, index: usize) -> bool {
        let name = self.sources[index].name.clone();
        let (state, _) = read_state(port, &name);
        if state.generation == 0 || state.generation == self.sources[index].seen {
            return false;
        }
        self.sources[index].seen = state.generation;
        let Some((stored, body)) = read_data(port, &name) else {
            return false;
        };
        match &self.sources[index].origin {
            Origin::Keys { .. } => match key_set_from_jwks(&body) {
                Ok(keys) => {
                    self.put_keys(index, state.generation, keys);
                    true
                }
                Err(error) => {
                    port.log(
                        Level::Error,
                        &format!("meshguard: stored key set refused: {error}"),
                    );
                    false
                }
            },
            Origin::Bundle(source) => {
                match source.load(&body, stored.signature.as_deref().map(str::as_bytes)) {
                    Ok(loaded) => {
                        self.put_bundle(port, index, state.generation, stored.etag, &loaded);
                        true
                    }
                    Err(error) => {
                        port.log(
                            Level::Error,
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
        port: &mut dyn SyncPort,
        index: usize,
        generation: u64,
        etag: Option<String>,
        loaded: &Bundle,
    ) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let previous = engine.revision().to_owned();
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        for warning in &warnings {
            port.log(Level::Warn, &format!("meshguard: bundle: {warning}"));
        }
        let next = engine.with_policy(loaded.compile(), warnings);
        port.log(
            Level::Info,
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
            port.increment("meshguard.bundle.updated");
        }
        self.engine = Some(Rc::new(next));
        let source = &mut self.sources[index];
        source.adopted = generation;
        source.seen = generation;
        source.etag = etag;
    }

    /// Gauges: sources failing while their last good value serves (stale), and sources with
    /// nothing in force yet (missing).
    fn report(&self, port: &mut dyn SyncPort) {
        for kind in ["keys", "bundle"] {
            let (mut stale, mut missing, mut any) = (0, 0, false);
            for source in self.sources.iter().filter(|s| s.origin.kind() == kind) {
                any = true;
                if source.adopted == 0 {
                    missing += 1;
                } else if read_state(port, &source.name).0.stale() {
                    stale += 1;
                }
            }
            if any {
                port.set_gauge(&format!("meshguard.{kind}.stale"), stale);
                port.set_gauge(&format!("meshguard.{kind}.missing"), missing);
            }
        }
    }

    /// The schedule of the source a wait is for (for tests and diagnostics).
    pub fn state_of(&self, port: &dyn SyncPort, wait: Wait) -> Option<FetchState> {
        self.source_of(wait)
            .map(|i| read_state(port, &self.sources[i].name).0)
    }
}
