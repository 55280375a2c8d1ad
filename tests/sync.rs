//! The sync engine (`meshguard::sync`) natively, over a fake port: every transition of the
//! fetch schedule, the discovery → JWKS and bundle → signature chains, sharing between
//! workers, failures and the last good value, demanded refetches and the waiting policy. The
//! wasm tests (`live_keys`, `live_bundle`) keep the wiring to the proxy-wasm host honest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use common::live::*;
use common::scenarios::{sa, sa_token};
use common::{mint, tamper, NOW, SA_ISSUER};
use meshguard::config::PluginConfig;
use meshguard::decision::{Action, Engine, HttpRequest, Wait};
use meshguard::request_info::Workload;
use meshguard::sync::waiting::{Attempt, Hold, Waiting, MAX_WAITERS};
use meshguard::sync::{Answer, Level, SyncEngine, SyncPort, Wake};
use serde_json::{json, Value};

/// Shared data of one proxy: every worker's port sees the same store.
type Store = Rc<RefCell<BTreeMap<String, (Vec<u8>, u32)>>>;

/// A call the engine made: its token, cluster and headers.
type Made = (u32, String, Vec<(String, String)>);

/// One worker's host: a shared store with versions, the calls it made, logs and metrics.
#[derive(Default)]
struct FakePort {
    store: Store,
    calls: Vec<Made>,
    bodies: Vec<Vec<u8>>,
    next_token: u32,
    refuse_dispatch: bool,
    logs: Vec<(Level, String)>,
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, u64>,
}

impl FakePort {
    fn sharing(other: &FakePort) -> FakePort {
        FakePort {
            store: Rc::clone(&other.store),
            next_token: 1000,
            ..FakePort::default()
        }
    }

    /// The one call made since the last look, taken.
    fn take_call(&mut self) -> (u32, String) {
        assert_eq!(self.calls.len(), 1, "calls: {:?}", self.calls);
        let (token, _, headers) = self.calls.remove(0);
        let path = headers
            .iter()
            .find(|(n, _)| n == ":path")
            .map(|(_, v)| v.clone())
            .unwrap();
        (token, path)
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

impl SyncPort for FakePort {
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, Option<u32>)> {
        self.store
            .borrow()
            .get(key)
            .map(|(v, cas)| (v.clone(), Some(*cas)))
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let mut store = self.store.borrow_mut();
        let version = store.get(key).map_or(0, |(_, v)| *v);
        if cas.is_some_and(|cas| cas != version) {
            return false;
        }
        store.insert(key.to_owned(), (value.to_vec(), version + 1));
        true
    }

    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(String, String)],
        body: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        if self.refuse_dispatch {
            return Err("BadArgument".into());
        }
        self.next_token += 1;
        self.calls
            .push((self.next_token, cluster.to_owned(), headers.to_vec()));
        self.bodies.push(body.to_vec());
        Ok(self.next_token)
    }

    fn random(&mut self) -> u64 {
        7
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    fn increment(&mut self, metric: &str) {
        *self.counters.entry(metric.to_owned()).or_insert(0) += 1;
    }

    fn set_gauge(&mut self, metric: &str, value: u64) {
        self.gauges.insert(metric.to_owned(), value);
    }
}

const T0: u64 = NOW * 1000;

fn engine(config: &Value) -> Engine {
    PluginConfig::from_value(config.clone())
        .unwrap()
        .engine()
        .unwrap()
}

fn direct() -> Value {
    remote_keys_config(json!({"jwksURI": format!("{SA_ISSUER}{JWKS_PATH}")}))
}

fn respond(
    sync: &mut SyncEngine,
    port: &mut FakePort,
    token: u32,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    now: u64,
) -> Vec<Wake> {
    let mut all = vec![(":status".to_owned(), status.to_string())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    sync.on_response(
        port,
        token,
        Answer {
            headers: &all,
            body_size: body.len(),
        },
        |size| body[..size].to_vec(),
        now,
    )
}

/// The status a request with `token` gets from the engine in force.
fn status_with(sync: &SyncEngine, token: &str) -> u16 {
    match decide_reviewed(sync, token, T0).action {
        Action::Respond(reply) => reply.status,
        Action::Continue { .. } => 200,
    }
}

fn web() -> String {
    sa_token(sa("frontend", "web"))
}

fn keys_wait(unknown_kid: bool) -> Wait {
    Wait::Keys {
        issuer: 0,
        unknown_kid,
    }
}

/// A worker configured with `config`, and its port.
fn configured(config: &Value) -> (FakePort, SyncEngine) {
    let mut port = FakePort::default();
    let mut sync = SyncEngine::new(1);
    sync.configure(&mut port, engine(config));
    (port, sync)
}

/// A worker of `config` whose first key set (`rsa-1`) is in force, fetched at [`T0`].
fn keys_in_force(config: &Value) -> (FakePort, SyncEngine) {
    let (mut port, mut sync) = configured(config);
    sync.tick(&mut port, T0);
    let (token, _) = port.take_call();
    respond(&mut sync, &mut port, token, 200, &[], &jwks(&["rs256"]), T0);
    (port, sync)
}

#[test]
fn a_due_fetch_takes_the_lease_and_a_good_jwks_puts_keys_in_force() {
    let (mut port, mut sync) = configured(&direct());
    assert!(sync.has_sources() && sync.has_kind("keys") && !sync.has_kind("bundle"));
    assert_eq!(
        status_with(&sync, &web()),
        503,
        "no keys yet: keys_unavailable"
    );
    assert_eq!(sync.tick(&mut port, T0), vec![]);
    let (token, path) = port.take_call();
    assert_eq!(path, JWKS_PATH);
    // In flight: the next tick starts nothing.
    sync.tick(&mut port, T0 + 100);
    assert!(port.calls.is_empty());
    let wakes = respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[("cache-control", "max-age=60")],
        &jwks(&["rs256"]),
        T0 + 200,
    );
    assert_eq!(wakes, vec![Wake::Keys(0)]);
    assert_eq!(status_with(&sync, &web()), 200);
    assert_eq!(port.counter("meshguard.keys.fetch.ok"), 1);
    assert_eq!(port.gauges["meshguard.keys.missing"], 0);
    let state = sync.state_of(&port, keys_wait(false)).unwrap();
    assert_eq!(
        (state.generation, state.failures, state.lease),
        (1, 0, None)
    );
    // max-age 60 s (above the 30 s floor) sets the next refresh.
    assert_eq!(state.next_due_ms, T0 + 200 + 60_000);
    sync.tick(&mut port, T0 + 60_199);
    assert!(port.calls.is_empty());
    sync.tick(&mut port, T0 + 60_200);
    assert_eq!(port.take_call().1, JWKS_PATH);
}

#[test]
fn discovery_leads_to_the_jwks_and_a_bad_document_fails_with_backoff() {
    let (mut port, mut sync) = configured(&remote_keys_config(json!({})));
    sync.tick(&mut port, T0);
    let (token, path) = port.take_call();
    assert_eq!(path, "/.well-known/openid-configuration");
    let discovery = json!({"issuer": SA_ISSUER, "jwks_uri": format!("{SA_ISSUER}/keys")});
    let wakes = respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        discovery.to_string().as_bytes(),
        T0 + 10,
    );
    assert!(wakes.is_empty(), "the fetch goes on");
    let (token, path) = port.take_call();
    assert_eq!(path, "/keys");
    respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        &jwks(&["rs256"]),
        T0 + 20,
    );
    assert_eq!(status_with(&sync, &web()), 200);

    // A refresh whose discovery names another issuer: refused, retried after a backoff,
    // the keys in force kept and the source reported stale.
    let state = sync.state_of(&port, keys_wait(false)).unwrap();
    sync.tick(&mut port, state.next_due_ms);
    let (token, _) = port.take_call();
    let evil = json!({"issuer": "https://evil.example.com", "jwks_uri": "https://evil/k"});
    let at = state.next_due_ms + 5;
    let wakes = respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        evil.to_string().as_bytes(),
        at,
    );
    assert_eq!(wakes, vec![Wake::Keys(0)]);
    assert!(
        port.calls.is_empty(),
        "nothing fetched from the other issuer"
    );
    assert_eq!(
        port.counter("meshguard.keys.fetch.failed.discovery_invalid"),
        1
    );
    assert_eq!(port.gauges["meshguard.keys.stale"], 1);
    assert!(port
        .logs
        .iter()
        .any(|(l, m)| *l == Level::Warn && m.contains("the last good one stays")));
    let failed = sync.state_of(&port, keys_wait(false)).unwrap();
    assert_eq!(failed.failures, 1);
    // Backoff: between half and all of the first delay (1 s by default).
    assert!(
        (at + 500..=at + 1000).contains(&failed.next_due_ms),
        "{failed:?}"
    );
    assert_eq!(status_with(&sync, &web()), 200);
}

#[test]
fn failures_before_any_success_leave_the_source_missing_and_back_off_exponentially() {
    let (mut port, mut sync) = configured(&direct());
    let mut now = T0;
    let mut delays = Vec::new();
    for _ in 0..5 {
        sync.tick(&mut port, now);
        let (token, _) = port.take_call();
        respond(&mut sync, &mut port, token, 500, &[], b"oops", now);
        let state = sync.state_of(&port, keys_wait(false)).unwrap();
        delays.push(state.next_due_ms - now);
        now = state.next_due_ms;
    }
    assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
    assert_eq!(port.counter("meshguard.keys.fetch.failed.http_status"), 5);
    assert_eq!(port.gauges["meshguard.keys.missing"], 1);
    assert!(port
        .logs
        .iter()
        .any(|(l, m)| *l == Level::Error && m.contains("none is in force yet")));
    // A host that refuses the call: a failure like any other, never a panic.
    let mut port = FakePort {
        refuse_dispatch: true,
        ..FakePort::default()
    };
    let mut sync = SyncEngine::new(1);
    sync.configure(&mut port, engine(&direct()));
    sync.tick(&mut port, T0);
    assert_eq!(port.counter("meshguard.keys.fetch.failed.unreachable"), 1);
}

#[test]
fn an_oversized_answer_is_refused_without_its_body_being_read() {
    let mut port = FakePort::default();
    let mut sync = SyncEngine::new(1);
    sync.configure(
        &mut port,
        engine(&remote_keys_config(json!({
            "jwksURI": format!("{SA_ISSUER}{JWKS_PATH}"), "fetch": {"maxResponseBytes": 1024}
        }))),
    );
    sync.tick(&mut port, T0);
    let (token, _) = port.take_call();
    let headers = vec![(":status".to_owned(), "200".to_owned())];
    sync.on_response(
        &mut port,
        token,
        Answer {
            headers: &headers,
            body_size: 1025,
        },
        |_| panic!("the body of an oversized answer is never read"),
        T0,
    );
    assert_eq!(port.counter("meshguard.keys.fetch.failed.too_large"), 1);
}

#[test]
fn workers_share_one_fetch_and_adopt_the_stored_value_by_generation() {
    let mut first_port = FakePort::default();
    let mut second_port = FakePort::sharing(&first_port);
    let mut first = SyncEngine::new(1);
    let mut second = SyncEngine::new(2);
    first.configure(&mut first_port, engine(&direct()));
    second.configure(&mut second_port, engine(&direct()));
    first.tick(&mut first_port, T0);
    let (token, _) = first_port.take_call();
    // The lease is the first worker's: the second starts nothing.
    second.tick(&mut second_port, T0 + 10);
    assert!(second_port.calls.is_empty());
    respond(
        &mut first,
        &mut first_port,
        token,
        200,
        &[],
        &jwks(&["rs256"]),
        T0 + 20,
    );
    assert_eq!(status_with(&second, &web()), 503);
    // The second adopts the stored set on its next tick, and says so.
    assert_eq!(second.tick(&mut second_port, T0 + 30), vec![Wake::Keys(0)]);
    assert_eq!(status_with(&second, &web()), 200);
    assert_eq!(
        second.tick(&mut second_port, T0 + 40),
        vec![],
        "adopted once"
    );
    // A worker configured later starts with it.
    let mut third_port = FakePort::sharing(&first_port);
    let mut third = SyncEngine::new(3);
    third.configure(&mut third_port, engine(&direct()));
    assert_eq!(status_with(&third, &web()), 200);
    // A lease whose holder vanished lapses and another worker takes over.
    let due = first
        .state_of(&first_port, keys_wait(false))
        .unwrap()
        .next_due_ms;
    first.tick(&mut first_port, due);
    first_port.take_call();
    second.tick(&mut second_port, due + 1);
    assert!(second_port.calls.is_empty());
    second.tick(&mut second_port, due + 60_000);
    assert_eq!(second_port.take_call().1, JWKS_PATH);
}

#[test]
fn a_stored_document_that_does_not_load_is_refused_once() {
    let (port, _sync) = keys_in_force(&direct());
    // Someone stores garbage under a newer generation.
    let name = port
        .store
        .borrow()
        .keys()
        .find(|k| k.ends_with("/data"))
        .unwrap()
        .clone();
    port.store.borrow_mut().get_mut(&name).unwrap().0 = b"{}\nnot a jwks".to_vec();
    let state_key = name.replace("/data", "/state");
    let mut state: Value = serde_json::from_slice(&port.store.borrow()[&state_key].0).unwrap();
    state["generation"] = json!(5);
    port.store.borrow_mut().get_mut(&state_key).unwrap().0 = serde_json::to_vec(&state).unwrap();
    let mut other_port = FakePort::sharing(&port);
    let mut other = SyncEngine::new(2);
    other.configure(&mut other_port, engine(&direct()));
    for t in 0..5 {
        other.tick(&mut other_port, T0 + t);
    }
    let refused = other_port
        .logs
        .iter()
        .filter(|(_, m)| m.contains("stored key set refused"))
        .count();
    assert_eq!(refused, 1);
    assert_eq!(status_with(&other, &web()), 503);
}

#[test]
fn an_answer_for_a_source_the_new_configuration_dropped_is_ignored() {
    let (mut port, mut sync) = configured(&direct());
    sync.tick(&mut port, T0);
    let (token, _) = port.take_call();
    sync.configure(&mut port, engine(&common::envoy::demo_plugin_config()));
    assert!(!sync.has_sources());
    let wakes = respond(&mut sync, &mut port, token, 200, &[], &jwks(&["rs256"]), T0);
    assert!(wakes.is_empty());
    // And an unknown token is ignored too.
    assert!(respond(&mut sync, &mut port, 999_999, 200, &[], b"", T0).is_empty());
}

#[test]
fn signed_bundles_go_through_their_signature_and_a_304_keeps_the_bundle() {
    let (mut port, mut sync) = configured(&bundle_source_config(json!({})));
    assert!(sync.has_kind("bundle"));
    sync.tick(&mut port, T0);
    let (token, path) = port.take_call();
    assert_eq!(path, "/mesh/bundle.json");
    let bytes = bundle_bytes(&mesh_bundle());
    assert!(respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[("etag", "\"v1\"")],
        &bytes,
        T0
    )
    .is_empty());
    let (token, path) = port.take_call();
    assert_eq!(path, "/mesh/bundle.json.sig");
    let wakes = respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        &sign_bundle(&bytes, "es256"),
        T0,
    );
    assert_eq!(wakes, vec![Wake::Bundle]);
    assert_eq!(status_with(&sync, &web()), 200);
    // The poll sends the ETag; 304 changes nothing and is counted.
    sync.tick(&mut port, T0 + 30_000);
    let (token, _) = port.take_call();
    assert!(respond(&mut sync, &mut port, token, 304, &[], b"", T0 + 30_000).is_empty());
    assert_eq!(port.counter("meshguard.bundle.fetch.not_modified"), 1);
    // A bundle signed by another key: refused, the last good one kept.
    sync.tick(&mut port, T0 + 60_000);
    let (token, _) = port.take_call();
    let mut other = mesh_bundle();
    other["roleBindings"] = json!([]);
    let other = bundle_bytes(&other);
    respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[("etag", "\"v2\"")],
        &other,
        T0 + 60_000,
    );
    let (token, _) = port.take_call();
    respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        &sign_bundle(&other, "es384"),
        T0 + 60_000,
    );
    assert_eq!(
        port.counter("meshguard.bundle.fetch.failed.signature_invalid"),
        1
    );
    assert_eq!(status_with(&sync, &web()), 200);
    assert_eq!(port.gauges["meshguard.bundle.stale"], 1);
}

#[test]
fn the_poll_sends_if_none_match_with_the_etag_in_force() {
    let mut port = FakePort::default();
    let mut sync = SyncEngine::new(1);
    let mut config = bundle_source_config(json!({"signature": "none"}));
    config["authorization"]["bundleSource"]
        .as_object_mut()
        .unwrap()
        .remove("signingKeys");
    sync.configure(&mut port, engine(&config));
    sync.tick(&mut port, T0);
    let (token, _) = port.take_call();
    let bytes = bundle_bytes(&mesh_bundle());
    // Unsigned: in force from the bundle alone.
    assert_eq!(
        respond(
            &mut sync,
            &mut port,
            token,
            200,
            &[("etag", "\"u1\"")],
            &bytes,
            T0
        ),
        vec![Wake::Bundle]
    );
    assert!(port.calls.is_empty());
    sync.tick(&mut port, T0 + 30_000);
    let (_, _, headers) = port.calls.remove(0);
    assert!(
        headers.contains(&("if-none-match".to_owned(), "\"u1\"".to_owned())),
        "{headers:?}"
    );
}

#[test]
fn an_unknown_kid_demands_a_refetch_spaced_by_the_interval_and_joined_by_others() {
    let (mut port, mut sync) = keys_in_force(&direct());
    let wait = keys_wait(true);
    let mut waiting = Waiting::default();
    let now = T0 + 10_000;
    // The first request demands a fetch now and waits for it.
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 1, (wait, None), Attempt::First, now),
        Hold::Wait
    );
    assert_eq!(port.counter("meshguard.keys.refetch.demanded"), 1);
    // A second, before the fetch starts, joins it.
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            2,
            (wait, None),
            Attempt::First,
            now + 1
        ),
        Hold::Wait
    );
    sync.tick(&mut port, now + 100);
    let (token, _) = port.take_call();
    // A third, while it is in flight, waits for it too.
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            3,
            (wait, None),
            Attempt::First,
            now + 150
        ),
        Hold::Wait
    );
    let wakes = respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        &jwks(&["rs256", "rs256-other"]),
        now + 200,
    );
    let due = waiting.due(&sync, &port, &wakes, now + 200);
    assert_eq!(
        due.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(waiting.is_empty());
    let rotated = mint("rs256-other", "RS256", Some("rsa-2"), sa("frontend", "web"));
    assert_eq!(status_with(&sync, &rotated), 200);
    // Woken with the demand met: decided now, not held again.
    let (_, attempt) = due[0];
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 1, (wait, None), attempt, now + 200),
        Hold::Decide
    );
    // The next demand within the 1 s interval is scheduled at its end, and the tick before
    // that starts nothing.
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            4,
            (wait, None),
            Attempt::First,
            now + 300
        ),
        Hold::Wait
    );
    sync.tick(&mut port, now + 900);
    assert!(port.calls.is_empty());
    sync.tick(&mut port, now + 1000);
    assert_eq!(port.take_call().1, JWKS_PATH);
}

#[test]
fn a_refetch_the_interval_puts_beyond_the_wait_is_not_waited_for() {
    let mut port = FakePort::default();
    let mut sync = SyncEngine::new(1);
    sync.configure(
        &mut port,
        engine(&remote_keys_config(json!({
            "jwksURI": format!("{SA_ISSUER}{JWKS_PATH}"), "unknownKidRefetchIntervalSeconds": 10
        }))),
    );
    sync.tick(&mut port, T0);
    let (token, _) = port.take_call();
    respond(&mut sync, &mut port, token, 200, &[], &jwks(&["rs256"]), T0);
    let wait = keys_wait(true);
    let mut waiting = Waiting::default();
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            1,
            (wait, None),
            Attempt::First,
            T0 + 1
        ),
        Hold::Wait
    );
    sync.tick(&mut port, T0 + 100);
    let (token, _) = port.take_call();
    respond(
        &mut sync,
        &mut port,
        token,
        200,
        &[],
        &jwks(&["rs256"]),
        T0 + 200,
    );
    // 10 s interval, 3 s wait: the next demand cannot be met in time.
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            2,
            (wait, None),
            Attempt::First,
            T0 + 300
        ),
        Hold::Decide
    );
    assert_eq!(port.counter("meshguard.keys.refetch.rate_limited"), 1);
}

#[test]
fn waits_end_at_their_deadline_and_the_waiting_set_is_bounded() {
    let (mut port, mut sync) = configured(&direct());
    let wait = keys_wait(false);
    let mut waiting = Waiting::default();
    // No keys yet: requests wait up to requestWaitMs (3 s).
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 1, (wait, None), Attempt::First, T0),
        Hold::Wait
    );
    assert!(waiting.due(&sync, &port, &[], T0 + 2_999).is_empty());
    assert_eq!(
        waiting.due(&sync, &port, &[], T0 + 3_000),
        vec![(1, Attempt::Expired)]
    );
    assert_eq!(
        waiting.hold(
            &mut sync,
            &mut port,
            1,
            (wait, None),
            Attempt::Expired,
            T0 + 3_000
        ),
        Hold::Decide
    );
    // A wake for another source wakes nobody; a stream that ended is forgotten.
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 2, (wait, None), Attempt::First, T0),
        Hold::Wait
    );
    assert!(waiting
        .due(&sync, &port, &[Wake::Bundle, Wake::Keys(1)], T0 + 1)
        .is_empty());
    waiting.forget(2);
    assert!(waiting.is_empty());
    // Woken before anything arrived (a failed fetch): waits on until its deadline.
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 3, (wait, None), Attempt::First, T0),
        Hold::Wait
    );
    let due = waiting.due(&sync, &port, &[Wake::Keys(0)], T0 + 10);
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 3, (wait, None), due[0].1, T0 + 10),
        Hold::Wait
    );
    assert!(waiting.contains(3));
    // Bounded: beyond MAX_WAITERS, requests are decided at once.
    for id in 10..(10 + MAX_WAITERS as u32) {
        waiting.hold(&mut sync, &mut port, id, (wait, None), Attempt::First, T0);
    }
    assert_eq!(waiting.len(), MAX_WAITERS);
    assert_eq!(
        waiting.hold(&mut sync, &mut port, 1, (wait, None), Attempt::First, T0),
        Hold::Decide
    );
    // A source with no fetching (inline keys) is never waited for.
    let mut inline = SyncEngine::new(1);
    inline.configure(&mut port, engine(&common::envoy::demo_plugin_config()));
    assert_eq!(
        Waiting::default().hold(&mut inline, &mut port, 1, (wait, None), Attempt::First, T0),
        Hold::Decide
    );
}

/// The demo configuration with a token-review webhook on cluster `authn`.
fn webhook_config(failure_policy: &str) -> Value {
    let mut config = common::envoy::demo_plugin_config();
    config["authentication"]["webhook"] = json!({
        "cluster": "authn", "url": "https://authn.example.com/review",
        "audiences": ["meshguard"], "failurePolicy": failure_policy,
        "retryAfterSeconds": 7, "timeoutMs": 2000});
    config
}

/// A `TokenReview` answer.
fn review(status: Value) -> Vec<u8> {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
        .to_string()
        .into_bytes()
}

/// One request with `token` at `now_ms`, decided by the engine in force with the sync
/// engine's review answers, as the filter decides it.
fn decide_reviewed(sync: &SyncEngine, token: &str, now_ms: u64) -> meshguard::decision::Verdict {
    let header = format!("Bearer {token}");
    let mut store = meshguard::sync::review::Reviewed {
        tokens: &mut meshguard::token::NoCache,
        reviews: sync.reviews(),
    };
    sync.engine().unwrap().decide_with(
        &HttpRequest {
            method: "POST",
            target: "/orders",
            headers: &[("authorization", &header)],
            workload: &Workload::in_namespace("orders"),
            tls: None,
            peer: None,
        },
        now_ms / 1000,
        &mut store,
    )
}

#[test]
fn an_unknown_token_is_reviewed_once_cached_and_its_waiters_woken() {
    let (mut port, mut sync) = configured(&webhook_config("deny"));
    let mut waiting = Waiting::default();
    let token = "opaque-token-of-jane";
    // Not a JWT: the webhook's to answer; the request waits for it.
    let first = decide_reviewed(&sync, token, T0);
    let wait = first.wait.expect("waits for the review");
    assert!(matches!(wait, Wait::Review(_)));
    assert_eq!(first.review.as_deref(), Some(token));
    let hold = |waiting: &mut Waiting, sync: &mut SyncEngine, port: &mut FakePort, id, now| {
        waiting.hold(sync, port, id, (wait, Some(token)), Attempt::First, now)
    };
    assert_eq!(hold(&mut waiting, &mut sync, &mut port, 1, T0), Hold::Wait);
    // A second request with the same token joins the call under way.
    assert_eq!(
        hold(&mut waiting, &mut sync, &mut port, 2, T0 + 5),
        Hold::Wait
    );
    assert_eq!(port.calls.len(), 1);
    let (call, cluster, headers) = port.calls.remove(0);
    assert_eq!(cluster, "authn");
    assert!(headers.contains(&(":method".into(), "POST".into())));
    assert!(headers.contains(&(":path".into(), "/review".into())));
    let sent: Value = serde_json::from_slice(&port.bodies[0]).unwrap();
    assert_eq!(sent["kind"], "TokenReview");
    assert_eq!(
        sent["spec"],
        json!({"token": token, "audiences": ["meshguard"]})
    );

    let answer = review(json!({"authenticated": true, "audiences": ["meshguard"],
        "user": {"username": "jane", "groups": ["operators"]}}));
    let wakes = respond(&mut sync, &mut port, call, 200, &[], &answer, T0 + 50);
    let due = waiting.due(&sync, &port, &wakes, T0 + 50);
    assert_eq!(due.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2]);
    let allowed = decide_reviewed(&sync, token, T0 + 50);
    assert_eq!(allowed.record.reason.code(), "allowed");
    assert_eq!(allowed.record.user, "jane");
    assert_eq!(allowed.record.authenticator.as_str(), "webhook");
    // Cached for the TTL (120 s): no call; after it, asked again.
    assert_eq!(
        decide_reviewed(&sync, token, T0 + 119_000).record.user,
        "jane"
    );
    let later = decide_reviewed(&sync, token, T0 + 120_000);
    assert!(matches!(later.wait, Some(Wait::Review(_))));
    assert_eq!(port.counter("meshguard.webhook.calls"), 1);
    assert_eq!(port.counter("meshguard.webhook.authenticated"), 1);
}

#[test]
fn denials_and_failures_are_answered_as_configured_and_failures_not_hammered() {
    for (policy, status, reason) in [
        ("deny", 401, "token_review_failed"),
        ("unavailable", 503, "token_review_unavailable"),
    ] {
        let (mut port, mut sync) = configured(&webhook_config(policy));
        let mut waiting = Waiting::default();
        let start = |sync: &mut SyncEngine, port: &mut FakePort, waiting: &mut Waiting, token| {
            let verdict = decide_reviewed(sync, token, T0);
            let wait = verdict.wait.unwrap();
            waiting.hold(sync, port, 1, (wait, Some(token)), Attempt::First, T0);
            port.calls.pop().unwrap().0
        };
        // Denied: 401 token_review_denied, with the webhook's error, cached.
        let call = start(&mut sync, &mut port, &mut waiting, "bad-token");
        let denied = review(json!({"authenticated": false, "error": "token revoked"}));
        respond(&mut sync, &mut port, call, 200, &[], &denied, T0 + 10);
        let verdict = decide_reviewed(&sync, "bad-token", T0 + 10);
        assert_eq!(verdict.record.reason.code(), "token_review_denied");
        assert_eq!(verdict.record.status, 401);
        assert!(verdict.record.detail.to_string().contains("token revoked"));

        // An error status: the failure policy's answer, remembered for retryAfterSeconds.
        let call = start(&mut sync, &mut port, &mut waiting, "other-token");
        respond(&mut sync, &mut port, call, 500, &[], b"oops", T0 + 10);
        let verdict = decide_reviewed(&sync, "other-token", T0 + 10);
        assert_eq!(verdict.record.reason.code(), reason, "{policy}");
        assert_eq!(verdict.record.status, status, "{policy}");
        if let Action::Respond(reply) = &verdict.action {
            if status == 503 {
                assert!(reply.headers.contains(&("retry-after".into(), "7".into())));
            }
        }
        assert!(decide_reviewed(&sync, "other-token", T0 + 6_000)
            .wait
            .is_none());
        assert!(decide_reviewed(&sync, "other-token", T0 + 7_000)
            .wait
            .is_some());

        // No answer at all (a timeout: no :status) is a failure too.
        let call = start(&mut sync, &mut port, &mut waiting, "third-token");
        sync.on_response(
            &mut port,
            call,
            Answer {
                headers: &[],
                body_size: 0,
            },
            |_| Vec::new(),
            T0 + 2000,
        );
        let verdict = decide_reviewed(&sync, "third-token", T0 + 2000);
        assert_eq!(verdict.record.reason.code(), reason);
        assert_eq!(port.counter("meshguard.webhook.failed"), 2);

        // A JWT of a configured issuer is never sent: its issuer judges it.
        let forged = tamper(&web(), sa("kube-system", "x"));
        let verdict = decide_reviewed(&sync, &forged, T0);
        assert!(verdict.wait.is_none());
        assert_eq!(verdict.record.reason.code(), "signature_invalid");
    }
}
