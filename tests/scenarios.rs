//! The scenario table through the core and through the built `.wasm` in the wasmtime host:
//! same configuration, same time, same answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::host::{ForeignCrypto, Host};
use common::scenarios::{table, Scenario};
use common::NOW;
use meshguard::config::PluginConfig;
use meshguard::decision::{Action, HttpRequest};
use serde_json::Value;

/// What a request came to, from either side.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    reason: String,
    user: String,
    /// A local reply's body and headers, or the headers the upstream would see.
    body: String,
    headers: Vec<(String, String)>,
}

fn sorted(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.sort();
    headers
}

fn request_headers(scenario: &Scenario) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), scenario.method.to_owned()),
        (":path".to_owned(), scenario.path.clone()),
        (":authority".to_owned(), "orders".to_owned()),
        (":scheme".to_owned(), "http".to_owned()),
    ];
    headers.extend(scenario.headers.iter().cloned());
    headers
}

fn through_core(engine: &meshguard::decision::Engine, scenario: &Scenario) -> Outcome {
    let headers = request_headers(scenario);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let verdict = engine.decide(
        &HttpRequest {
            method: scenario.method,
            target: &scenario.path,
            headers: &pairs,
            workload: &meshguard::request_info::Workload::in_namespace(""),
            tls: None,
            peer: None,
        },
        NOW,
    );
    let record = verdict.record;
    match verdict.action {
        Action::Respond(reply) => Outcome {
            status: reply.status,
            reason: record.reason.to_string(),
            user: record.user,
            body: reply.body,
            headers: sorted(reply.headers),
        },
        Action::Continue {
            remove_headers,
            set_headers,
            add_headers,
        } => {
            let mut upstream: Vec<(String, String)> = headers
                .into_iter()
                .filter(|(n, _)| !remove_headers.contains(&n.to_ascii_lowercase()))
                .filter(|(n, _)| !set_headers.iter().any(|(s, _)| s == n))
                .collect();
            upstream.extend(set_headers.into_iter().filter(|(_, v)| !v.is_empty()));
            // Envoy keeps header names in lowercase.
            upstream.extend(
                add_headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
            );
            Outcome {
                status: 200,
                reason: record.reason.to_string(),
                user: record.user,
                body: String::new(),
                headers: sorted(upstream),
            }
        }
    }
}

fn through_wasm(host: &mut Host, scenario: &Scenario) -> Outcome {
    let exchange = host.request_with(request_headers(scenario), b"");
    let line = exchange
        .logs
        .iter()
        .find_map(|(_, m)| m.strip_prefix("meshguard: decision "))
        .unwrap_or_else(|| panic!("{}: no decision line in {:?}", scenario.name, exchange.logs));
    let record: Value = serde_json::from_str(line).unwrap();
    let decision = host.state().property(&["meshguard_decision"]).unwrap();
    let expected_property = match record["decision"].as_str().unwrap() {
        "deny" => format!("deny:{}", record["reason"].as_str().unwrap()),
        other => other.to_owned(),
    };
    assert_eq!(
        String::from_utf8_lossy(decision),
        expected_property,
        "{}: filter state",
        scenario.name
    );
    let (body, headers) = match &exchange.local_reply {
        Some(reply) => (reply.body.clone(), sorted(reply.headers.clone())),
        None => (String::new(), sorted(exchange.upstream_headers.clone())),
    };
    Outcome {
        status: exchange.status() as u16,
        reason: record["reason"].as_str().unwrap().to_owned(),
        user: record["user"].as_str().unwrap_or("").to_owned(),
        body,
        headers,
    }
}

#[test]
fn the_core_and_the_wasm_module_answer_the_table_alike() {
    // Signatures verified by the host's native crypto (Envoy's verify_signature, as the
    // harness implements it): the probe's 12 calls, then one per RS/ES verification.
    let host = table_alike(ForeignCrypto::Envoy);
    let state = host.state();
    assert!(state.foreign_calls > 12, "{}", state.foreign_calls);
    assert!(state.counter("meshguard.signatures.host") > 0);
}

#[test]
fn the_table_is_answered_alike_when_the_host_has_no_native_crypto() {
    // Another host (or an older Envoy): every signature verified in wasm, same answers.
    let host = table_alike(ForeignCrypto::Absent);
    let state = host.state();
    assert_eq!(
        state.foreign_calls, 1,
        "a host without the function is asked once"
    );
    assert_eq!(state.counter("meshguard.signatures.host"), 0);
}

fn table_alike(foreign: ForeignCrypto) -> Host {
    let config = demo_plugin_config();
    let engine = PluginConfig::from_value(config.clone())
        .unwrap()
        .engine()
        .unwrap();
    let mut host = Host::new();
    host.state_mut().foreign_crypto = foreign;
    host.set_time(NOW);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);

    let scenarios = table();
    assert!(scenarios.len() >= 30);
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let core = through_core(&engine, scenario);
        let wasm = through_wasm(&mut host, scenario);
        let expected = (scenario.status, scenario.reason, scenario.user);
        if (core.status, core.reason.as_str(), core.user.as_str()) != expected {
            failures.push(format!(
                "{}: core {} {} {:?}, expected {expected:?}",
                scenario.name, core.status, core.reason, core.user
            ));
        }
        if core != wasm {
            failures.push(format!(
                "{}: core and wasm differ:\n  core {core:?}\n  wasm {wasm:?}",
                scenario.name
            ));
        }
        if core.status == 200 && !core.user.is_empty() {
            // Forwarded identity: exactly the verified user, never what the caller sent.
            let users: Vec<&str> = wasm
                .headers
                .iter()
                .filter(|(n, _)| n == "x-remote-user")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(users, [scenario.user], "{}", scenario.name);
            assert!(
                !wasm.headers.iter().any(|(_, v)| {
                    ["system:masters", "system:admin", "forged"].contains(&v.as_str())
                }),
                "{}: a forged identity reached the upstream: {:?}",
                scenario.name,
                wasm.headers
            );
            // stripToken (the default): no token in any header, the path or the cookies.
            assert!(
                !wasm.headers.iter().any(|(_, v)| v.contains("eyJ")),
                "{}: a token reached the upstream: {:?}",
                scenario.name,
                wasm.headers
            );
            // The upstream gets the path the decision was made on.
            let upstream_path = wasm
                .headers
                .iter()
                .find(|(n, _)| n == ":path")
                .map(|(_, v)| v.split('?').next().unwrap_or_default().to_owned());
            assert_eq!(
                upstream_path.as_deref(),
                meshguard::request_info::path::normalize_path(
                    scenario.path.split('?').next().unwrap()
                )
                .ok()
                .as_deref(),
                "{}",
                scenario.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every request was counted once, by outcome.
    let state = host.state();
    assert_eq!(
        state.counter("meshguard.requests_total"),
        scenarios.len() as i64
    );
    let denied = scenarios.iter().filter(|s| s.status != 200).count() as i64;
    let denied_counted: i64 = state
        .metrics
        .iter()
        .filter(|m| m.name.starts_with("meshguard.decision.deny."))
        .map(|m| m.value)
        .sum();
    assert_eq!(denied_counted, denied);
    host
}
