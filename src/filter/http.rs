//! The HTTP context: one request, one decision.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};

use super::abi::{self, log_enabled};
use super::log;
use super::metrics::{Hot, Metrics};
use super::worker::{HostPort, Worker};
use crate::decision::{self, HttpRequest, Mode, Verdict, Wait};
use crate::peer::{Needs, PeerCertificate};
use crate::sync::review::Reviewed;
use crate::sync::waiting::{Attempt, Hold};

pub(crate) struct Http {
    pub(crate) context_id: u32,
    pub(crate) worker: Rc<RefCell<Worker>>,
    pub(crate) metrics: Rc<RefCell<Metrics>>,
}

impl Context for Http {
    /// The answer to the token review this stream asked for (the proxy delivers it to the
    /// context that made the call): it settles every request waiting for that token.
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        super::root::call_answered(
            &self.worker,
            &self.metrics,
            self.context_id,
            (token_id, body_size),
            now_ms().unwrap_or_default(),
        );
    }

    /// The stream ended (answered, or the client went away): it waits no more. The root may
    /// be mid-call into this stream, so the worker is borrowed only if free; a waiter left
    /// behind is dropped when the root finds its context gone.
    fn on_done(&mut self) -> bool {
        if let Ok(mut worker) = self.worker.try_borrow_mut() {
            worker.waiting.forget(self.context_id);
        }
        true
    }
}

fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v)
}

/// The headers as text, read in place, when every name and value is UTF-8 (the common case:
/// no copy).
fn utf8_headers<'b>(pairs: &[(&'b [u8], &'b [u8])]) -> Option<Vec<(&'b str, &'b str)>> {
    pairs
        .iter()
        .map(|(name, value)| {
            Some((
                std::str::from_utf8(name).ok()?,
                std::str::from_utf8(value).ok()?,
            ))
        })
        .collect()
}

/// The headers converted lossily, with the name of the first pseudo-header (`:path`,
/// `:method`, ...) that was not UTF-8: such a request is refused, a path is never guessed at.
/// Other values damaged by the conversion fail verification; a token is never dropped.
fn lossy_headers(pairs: &[(&[u8], &[u8])]) -> (Vec<(String, String)>, Option<String>) {
    let mut unreadable = None;
    let headers = pairs
        .iter()
        .map(|(name, value)| {
            let name = String::from_utf8_lossy(name).into_owned();
            if std::str::from_utf8(value).is_err() && name.starts_with(':') && unreadable.is_none()
            {
                unreadable = Some(name.clone());
            }
            (name, String::from_utf8_lossy(value).into_owned())
        })
        .collect();
    (headers, unreadable)
}

/// A local reply carrying a JSON body; a host error leaves the request paused, which Envoy
/// resets: closed, not open.
fn respond(reply: &decision::LocalReply) -> Action {
    if let Err(status) = abi::send_local_response(
        u32::from(reply.status),
        &reply.headers,
        reply.body.as_bytes(),
        reply.grpc_status,
    ) {
        log(
            LogLevel::Error,
            &format!("meshguard: local reply failed: status {status}"),
        );
    }
    Action::Pause
}

/// Carries a verdict out: counts and logs it, leaves it in the stream's filter state for
/// access logs (when `filter_state`), then forwards the request or answers it.
fn apply(metrics: &RefCell<Metrics>, verdict: &Verdict, filter_state: bool) -> Action {
    let record = &verdict.record;
    {
        let mut metrics = metrics.borrow_mut();
        metrics.add_hot(Hot::Requests, 1);
        metrics.count_decision(record);
    }
    // Denies at info, allows at debug (as Envoy's RBAC filter does): at the default info
    // level a busy proxy writes no line per allowed request, and the line is built only when
    // the host will print it.
    let level = if record.decision == decision::Outcome::Deny {
        LogLevel::Info
    } else {
        LogLevel::Debug
    };
    if log_enabled(level) {
        let line = serde_json::to_string(record).unwrap_or_default();
        log(level, &format!("meshguard: decision {line}"));
    }
    if filter_state {
        let _ = hostcalls::set_property(
            vec!["meshguard_decision"],
            Some(record.header_value().as_bytes()),
        );
        if !record.user.is_empty() {
            let _ = hostcalls::set_property(vec!["meshguard_user"], Some(record.user.as_bytes()));
            let _ = hostcalls::set_property(
                vec!["meshguard_authenticator"],
                Some(record.authenticator.as_str().as_bytes()),
            );
        }
    }
    match &verdict.action {
        decision::Action::Respond(reply) => respond(reply),
        decision::Action::Continue {
            remove_headers,
            set_headers,
            add_headers,
        } => {
            for name in remove_headers {
                if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None).is_err() {
                    return respond(&decision::response::bad_request(
                        "identity headers could not be removed",
                    ));
                }
            }
            for (name, value) in set_headers {
                let value = Some(value.as_str()).filter(|v| !v.is_empty());
                if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
                    return respond(&decision::response::bad_request(
                        "the request could not be rewritten",
                    ));
                }
            }
            for (name, value) in add_headers.iter() {
                if hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
                    return respond(&decision::response::bad_request(
                        "identity headers could not be added",
                    ));
                }
            }
            Action::Continue
        }
    }
}

/// Whether the downstream connection is TLS: Envoy's `connection.tls_version` attribute names
/// the version on a TLS connection and is absent on a plaintext one.
fn connection_has_tls() -> bool {
    hostcalls::get_property(vec!["connection", "tls_version"])
        .ok()
        .flatten()
        .is_some_and(|version| !version.is_empty())
}

/// A connection property as text; empty when absent, unreadable or not UTF-8.
fn connection_property(name: &str) -> String {
    hostcalls::get_property(vec!["connection", name])
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

/// The connection's validated client certificate, read only as far as the configured
/// authenticators need it: Envoy's `connection.mtls` (one byte, 1 with a client certificate
/// the listener validated), then the first URI SAN and the subject.
fn peer_certificate(needs: Needs) -> Option<(String, String)> {
    if !needs.certificate {
        return None;
    }
    let mtls = hostcalls::get_property(vec!["connection", "mtls"])
        .ok()
        .flatten()
        .is_some_and(|bytes| bytes.first() == Some(&1));
    if !mtls {
        return None;
    }
    let uri_san = if needs.uri_san {
        connection_property("uri_san_peer_certificate")
    } else {
        String::new()
    };
    let subject = if needs.subject {
        connection_property("subject_peer_certificate")
    } else {
        String::new()
    };
    Some((uri_san, subject))
}

/// Host time in milliseconds since the Unix epoch; `None` when the host cannot say (or says
/// a time before 1970): never a made-up time, which would pass expired tokens.
pub(crate) fn now_ms() -> Option<u64> {
    abi::current_time_nanos()
        .map(|nanos| nanos / 1_000_000)
        .filter(|&ms| ms > 0)
}

/// What became of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Forwarded (the caller resumes it if it was paused).
    Continue,
    /// Answered locally, or the request is held: nothing more to do now.
    Held,
}

/// Decides the stream whose context is in effect: reads its headers, asks the engine in
/// force, and either carries the verdict out or — when keys or a bundle are on their way —
/// holds the request until they arrive or its wait runs out.
pub(crate) fn decide(
    worker: &RefCell<Worker>,
    metrics: &RefCell<Metrics>,
    context_id: u32,
    attempt: Attempt,
) -> Outcome {
    let (engine, workload) = {
        let worker = worker.borrow();
        (worker.engine(), Rc::clone(&worker.workload))
    };
    let Some(engine) = engine else {
        log(
            LogLevel::Error,
            "meshguard: not configured; refusing the request",
        );
        metrics
            .borrow_mut()
            .count_reason(decision::Reason::NotConfigured);
        respond(&decision::response::not_configured());
        return Outcome::Held;
    };
    // Bytes, not strings: Envoy passes header values that are not UTF-8 (obs-text), and
    // the SDK's string variant panics on them, which would take the plugin down.
    let raw = abi::request_header_bytes();
    let pairs = match &raw {
        Ok(raw) => abi::header_pairs(raw).ok_or_else(|| "the host's buffer is cut short".into()),
        Err(status) => Err(format!("status {status}")),
    };
    let pairs = match pairs {
        Ok(pairs) => pairs,
        Err(why) => {
            log(
                LogLevel::Error,
                &format!("meshguard: request headers unreadable: {why}"),
            );
            respond(&decision::response::bad_request(
                "request headers unreadable",
            ));
            return Outcome::Held;
        }
    };
    let lossy;
    let headers = match utf8_headers(&pairs) {
        Some(headers) => headers,
        None => {
            let unreadable;
            (lossy, unreadable) = lossy_headers(&pairs);
            let headers: Vec<(&str, &str)> = lossy
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            if let Some(name) = unreadable {
                let message = format!("request header {name} is not UTF-8");
                apply(
                    metrics,
                    &engine.reject(&headers, &message),
                    engine.forwarding.filter_state,
                );
                return Outcome::Held;
            }
            headers
        }
    };
    let Some(now) = now_ms() else {
        apply(
            metrics,
            &engine.clock_unavailable(&headers),
            engine.forwarding.filter_state,
        );
        return Outcome::Held;
    };
    // Asked only when the configuration needs it: one host call less on every request.
    let tls = engine.authenticator.require_tls().then(connection_has_tls);
    let peer = peer_certificate(engine.peers.needs());
    let request = HttpRequest {
        method: header(&headers, ":method"),
        target: header(&headers, ":path"),
        headers: &headers,
        workload: &workload,
        tls,
        peer: peer
            .as_ref()
            .map(|(uri_san, subject)| PeerCertificate { uri_san, subject }),
    };
    let (verdict, lookups) = {
        let mut worker = worker.borrow_mut();
        let worker = &mut *worker;
        let mut store = Reviewed {
            tokens: &mut worker.tokens,
            reviews: worker.sync.reviews(),
        };
        let verdict = engine.decide_with(&request, now / 1000, &mut store);
        (verdict, worker.tokens.take_lookups())
    };
    {
        let mut metrics = metrics.borrow_mut();
        metrics.add_hot(Hot::TokensLocalHit, lookups.local);
        metrics.add_hot(Hot::TokensSharedHit, lookups.shared);
        metrics.add_hot(Hot::TokensVerified, lookups.verified);
        // Counted whatever the outcome (a forged signature the host refused is a verification
        // too), and only when a token missed the caches.
        if let Some(host) = engine.authenticator.host().filter(|_| lookups.missed > 0) {
            let (verified, failed) = host.counts().take();
            metrics.add("meshguard.signatures.host", verified);
            metrics.add("meshguard.signatures.host_failed", failed);
        }
    }
    let review = verdict.review.as_deref();
    match verdict.wait {
        Some(wait) if engine.mode == Mode::Enforce => {
            if hold(worker, metrics, context_id, (wait, review), attempt, now) {
                return Outcome::Held;
            }
            if matches!(attempt, Attempt::Expired) {
                metrics
                    .borrow_mut()
                    .increment("meshguard.requests.wait_expired");
            }
        }
        // A dry run holds nothing, but asks for the review (on the next tick, from the root:
        // this stream will be gone): later requests with the token are decided on its answer.
        Some(_) => {
            if let Some(token) = review {
                worker.borrow_mut().sync.review_later(token);
            }
        }
        None => {}
    }
    match apply(metrics, &verdict, engine.forwarding.filter_state) {
        Action::Continue => Outcome::Continue,
        _ => Outcome::Held,
    }
}

/// Whether the request waits for `wait` (registered as a waiter if so): the core's waiting
/// policy, over this worker's sync state.
fn hold(
    worker: &RefCell<Worker>,
    metrics: &RefCell<Metrics>,
    context_id: u32,
    (wait, review): (Wait, Option<&str>),
    attempt: Attempt,
    now: u64,
) -> bool {
    let mut worker = worker.borrow_mut();
    let worker = &mut *worker;
    let mut metrics = metrics.borrow_mut();
    let mut port = HostPort {
        metrics: &mut metrics,
    };
    worker.waiting.hold(
        &mut worker.sync,
        &mut port,
        context_id,
        (wait, review),
        attempt,
        now,
    ) == Hold::Wait
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match decide(&self.worker, &self.metrics, self.context_id, Attempt::First) {
            Outcome::Continue => Action::Continue,
            Outcome::Held => Action::Pause,
        }
    }
}
