//! The root context: configuration, compiled once per `on_configure`; the tick that keeps
//! remote keys and bundles fresh; the answers to their HTTP calls; and the requests that wait
//! for them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType};

use super::abi;
use super::http::{decide, now_ms, Http, Outcome};
use super::log;
use super::metrics::Metrics;
use super::worker::{HostPort, Worker};
use crate::config::PluginConfig;
use crate::request_info::{RequestMapper, Workload};
use crate::sync::waiting::Attempt;
use crate::sync::{Answer, Wake};
use crate::token::host::{self, HostVerifier, Path, Probe};

/// How often the root looks at shared data, starts due fetches and expires waits.
const TICK: Duration = Duration::from_millis(100);

pub(crate) struct Root {
    context_id: u32,
    /// What the host's `verify_signature` was found to do: asked once per VM.
    host_crypto: RefCell<Option<Rc<Probe>>>,
    worker: Rc<RefCell<Worker>>,
    metrics: Rc<RefCell<Metrics>>,
    last_now_ms: Cell<u64>,
}

impl Root {
    /// The host's time, or the last time it gave when the call fails (counted): timers and
    /// fetches go on. Requests never use this: without a clock they are refused.
    fn clock(&self) -> u64 {
        match now_ms() {
            Some(now) => {
                self.last_now_ms.set(now);
                now
            }
            None => {
                self.metrics
                    .borrow_mut()
                    .increment("meshguard.clock.unavailable");
                self.last_now_ms.get()
            }
        }
    }

    pub(crate) fn new(context_id: u32) -> Root {
        Root {
            context_id,
            host_crypto: RefCell::default(),
            worker: Rc::default(),
            metrics: Rc::default(),
            last_now_ms: Cell::new(0),
        }
    }
}

/// Decides again the waiting requests that `wakes` may settle, and those whose wait ran out;
/// then gives the host back `own_context`, the context whose callback this is.
pub(crate) fn settle(
    worker: &RefCell<Worker>,
    metrics: &RefCell<Metrics>,
    own_context: u32,
    wakes: &[Wake],
    now: u64,
) {
    let due: Vec<(u32, Attempt)> = {
        let mut worker = worker.borrow_mut();
        let worker = &mut *worker;
        let mut metrics = metrics.borrow_mut();
        let port = HostPort {
            metrics: &mut metrics,
        };
        worker.waiting.due(&worker.sync, &port, wakes, now)
    };
    for (id, attempt) in due {
        if hostcalls::set_effective_context(id).is_err() {
            continue; // the stream is gone
        }
        if decide(worker, metrics, id, attempt) == Outcome::Continue {
            if let Err(status) = abi::resume_http_request() {
                log(
                    LogLevel::Warn,
                    &format!("meshguard: cannot resume request {id}: status {status}"),
                );
            }
        }
    }
    let _ = hostcalls::set_effective_context(own_context);
}

/// The answer to one of this worker's HTTP calls, delivered to the context that made it (the
/// root for fetches, a stream for the token review it asked for): handed to the sync engine,
/// and the requests it settles decided again. Taken whatever the clock says (`now` is the
/// caller's best time): the call is in flight until then.
pub(crate) fn call_answered(
    worker: &RefCell<Worker>,
    metrics: &RefCell<Metrics>,
    own_context: u32,
    (token_id, body_size): (u32, usize),
    now: u64,
) {
    let headers: Vec<(String, String)> = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let wakes = {
        let mut metrics = metrics.borrow_mut();
        let mut port = HostPort {
            metrics: &mut metrics,
        };
        worker.borrow_mut().sync.on_response(
            &mut port,
            token_id,
            Answer {
                headers: &headers,
                body_size,
            },
            |size| {
                hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            },
            now,
        )
    };
    settle(worker, metrics, own_context, &wakes, now);
}

impl Root {
    /// The host's native signature verification, checked with known answers the first time
    /// it is needed (once per VM). Every configuration that uses it says again which path
    /// each algorithm takes: in the log, and in the gauges `meshguard.signatures.host.<ALG>`
    /// (1: the host's crypto).
    fn host_crypto(&self, metrics: &mut Metrics) -> Rc<Probe> {
        let cached = self.host_crypto.borrow().as_ref().map(Rc::clone);
        let probe = cached.unwrap_or_else(|| {
            let probe = Rc::new(HostVerifier::probe(std::sync::Arc::new(
                |arguments: &[u8]| abi::call_foreign_function(host::FUNCTION, arguments),
            )));
            *self.host_crypto.borrow_mut() = Some(Rc::clone(&probe));
            probe
        });
        let (native, wasm): (Vec<_>, Vec<_>) = probe
            .paths
            .iter()
            .partition(|(_, path)| *path == Path::Host);
        signature_gauges(metrics, probe.verifier.as_ref());
        if probe.forged_accepted {
            log(
                LogLevel::Critical,
                "meshguard: the host's verify_signature answered \"valid\" to a forged \
                 signature: it is not used; every signature is verified in wasm",
            );
        }
        let names = |paths: &[&(crate::token::Algorithm, Path)]| {
            paths
                .iter()
                .map(|(alg, path)| match path {
                    Path::Host => alg.to_string(),
                    Path::Wasm(why) => format!("{alg} ({why})"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        log(
            LogLevel::Info,
            &format!(
                "meshguard: signatures verified by the host's native crypto: {}; in wasm: {}",
                if native.is_empty() {
                    "none".to_owned()
                } else {
                    names(&native)
                },
                names(&wasm)
            ),
        );
        probe
    }
}

/// The gauges `meshguard.signatures.host.<ALG>`: 1 for each algorithm `host` verifies.
fn signature_gauges(metrics: &mut Metrics, host: Option<&HostVerifier>) {
    for alg in host::CANDIDATES {
        let native = host.is_some_and(|host| host.covers(alg));
        metrics.set(
            &format!("meshguard.signatures.host.{alg}"),
            u64::from(native),
        );
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        // Without a clock the answer is timed at the last time seen.
        let now = self.clock();
        call_answered(
            &self.worker,
            &self.metrics,
            self.context_id,
            (token_id, body_size),
            now,
        );
    }
}

/// A short digest of the configuration text: names the token cache the workers share, so that
/// workers under different configurations never share entries.
fn configuration_digest(bytes: &[u8]) -> String {
    crate::token::sha256(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A string from the proxy's node metadata, if it has one. Envoy 1.40 exposes the node as
/// the attribute `xds.node` (found by the real-Envoy test: `node.…` answers nothing there);
/// older proxies as `node`: both are asked, the current name first.
fn node_metadata(path: &[&str]) -> Option<String> {
    [&["xds", "node", "metadata"][..], &["node", "metadata"][..]]
        .iter()
        .find_map(|prefix| {
            let mut full = prefix.to_vec();
            full.extend_from_slice(path);
            hostcalls::get_property(full)
                .ok()
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|value| !value.is_empty())
        })
}

/// The labels that name a workload's canonical service, in Istio's order.
const SERVICE_LABELS: [&str; 3] = [
    "service.istio.io/canonical-name",
    "app.kubernetes.io/name",
    "app",
];

/// The workload as Istio's node metadata names it: `NAMESPACE`, and the canonical service
/// from the pod's labels (`LABELS`).
fn node_workload() -> Workload {
    Workload {
        namespace: node_metadata(&["NAMESPACE"]).unwrap_or_default(),
        service: SERVICE_LABELS
            .iter()
            .find_map(|label| node_metadata(&["LABELS", label]))
            .unwrap_or_default(),
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    /// Parses and compiles the configuration. On any error: a Critical line naming the field,
    /// and `false`, so the host refuses this configuration; an engine compiled from an earlier
    /// good configuration stays in force.
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        self.metrics.borrow_mut().define_known();
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                log(
                    LogLevel::Critical,
                    &format!("meshguard: configuration unreadable: {status:?}"),
                );
                return false;
            }
        };
        let digest = configuration_digest(&bytes);
        let compiled = std::str::from_utf8(&bytes)
            .map_err(|e| format!("configuration is not UTF-8: {e}"))
            .and_then(|text| PluginConfig::from_json(text).map_err(|e| e.to_string()))
            .and_then(|config| config.engine().map_err(|e| e.to_string()));
        match compiled {
            Ok(mut engine) => {
                if engine.authenticator.host_allowed() {
                    let probe = self.host_crypto(&mut self.metrics.borrow_mut());
                    engine.authenticator.set_host(probe.verifier.clone());
                } else {
                    signature_gauges(&mut self.metrics.borrow_mut(), None);
                    log(
                        LogLevel::Info,
                        "meshguard: authentication.hostCrypto is false: every signature is \
                         verified in wasm",
                    );
                }
                for warning in &engine.warnings {
                    log(LogLevel::Warn, &format!("meshguard: bundle: {warning}"));
                }
                for warning in &engine.config_warnings {
                    log(
                        LogLevel::Warn,
                        &format!("meshguard: configuration: {warning}"),
                    );
                }
                let remote_issuers = engine.remote_keys.len();
                log(
                    LogLevel::Info,
                    &format!(
                        "meshguard: configured: {} issuer(s) ({remote_issuers} with remote keys), \
                         {}, mode {:?}",
                        engine.authenticator.issuers().len(),
                        match (&engine.policy, &engine.bundle_source) {
                            (Some(policy), _) => format!(
                                "{} binding(s), bundle revision {}",
                                policy.authorizer.binding_count(),
                                policy.revision
                            ),
                            (None, Some(source)) => format!("bundle from {}", source.bundle),
                            (None, None) => "no bundle".to_owned(),
                        },
                        engine.mode
                    ),
                );
                let fetches = {
                    let mut worker = self.worker.borrow_mut();
                    let workload = node_workload();
                    if let RequestMapper::ServiceProxy(mapping) = &engine.mapper {
                        let service = mapping.service.as_deref().unwrap_or(&workload.service);
                        let namespace = mapping.namespace.as_deref().unwrap_or(&workload.namespace);
                        if service.is_empty() || namespace.is_empty() {
                            log(
                                LogLevel::Warn,
                                "meshguard: serviceProxy mode, but the node metadata names no \
                                 service or namespace and the configuration sets none: only \
                                 rules without resourceNames (and cluster-wide bindings) can \
                                 allow requests; set requestMapping.service and .namespace",
                            );
                        } else {
                            log(
                                LogLevel::Info,
                                &format!(
                                    "meshguard: requests are services/proxy on {service:?} in \
                                     namespace {namespace:?}"
                                ),
                            );
                        }
                    }
                    worker.workload = Rc::new(workload);
                    worker.configure(engine, &digest, &mut self.metrics.borrow_mut());
                    worker.sync.has_sources()
                };
                if fetches && hostcalls::set_tick_period(TICK).is_err() {
                    log(
                        LogLevel::Critical,
                        "meshguard: the host refused a tick period; remote keys and bundles \
                         cannot be fetched, nor waits for token reviews ended",
                    );
                    return false;
                }
                true
            }
            Err(message) => {
                self.metrics
                    .borrow_mut()
                    .increment("meshguard.config.rejected");
                let kept = if self.worker.borrow().sync.engine().is_some() {
                    "; the previous configuration stays in force"
                } else {
                    ""
                };
                log(
                    LogLevel::Critical,
                    &format!("meshguard: configuration rejected: {message}{kept}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let now = self.clock();
        let wakes = {
            let mut metrics = self.metrics.borrow_mut();
            let mut port = HostPort {
                metrics: &mut metrics,
            };
            self.worker.borrow_mut().sync.tick(&mut port, now)
        };
        settle(&self.worker, &self.metrics, self.context_id, &wakes, now);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            context_id,
            worker: Rc::clone(&self.worker),
            metrics: Rc::clone(&self.metrics),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
