//! Fixtures for remote keys and live bundles: configurations that fetch, documents to serve,
//! and a host with the clusters they go through.

use serde_json::{json, Value};

use super::envoy::demo_plugin_config;
use super::host::{Exchange, Host, HttpCall};
use super::{jwk, key_file, NOW, SA_ISSUER};

/// The cluster the service-account issuer's keys come through.
pub const KEYS_CLUSTER: &str = "sa-keys";
/// The cluster bundles come through.
pub const BUNDLE_CLUSTER: &str = "bundles";
/// The JWKS path of the apiserver.
pub const JWKS_PATH: &str = "/openid/v1/jwks";
/// Where the bundle is published.
pub const BUNDLE_URL: &str = "https://bundles.example.com/mesh/bundle.json";

/// The demo configuration with the service-account issuer's keys fetched remotely (no
/// inline keys), `remote` merged into its `remoteKeys`.
pub fn remote_keys_config(remote: Value) -> Value {
    let mut config = demo_plugin_config();
    let entry = &mut config["authentication"]["jwt"][0];
    assert_eq!(entry["issuer"]["url"], SA_ISSUER);
    entry.as_object_mut().unwrap().remove("jwks");
    let mut remote_keys = json!({"cluster": KEYS_CLUSTER});
    for (k, v) in remote.as_object().unwrap() {
        remote_keys[k] = v.clone();
    }
    entry["remoteKeys"] = remote_keys;
    config
}

/// The demo configuration with its bundle fetched from [`BUNDLE_URL`], signed with the
/// committed ES256 key.
pub fn bundle_source_config(source: Value) -> Value {
    let mut config = demo_plugin_config();
    let signing: Value =
        serde_json::from_str(&std::fs::read_to_string(key_file("es256.jwks.json")).unwrap())
            .unwrap();
    let mut bundle_source = json!({
        "cluster": BUNDLE_CLUSTER,
        "url": BUNDLE_URL,
        "signingKeys": signing,
    });
    for (k, v) in source.as_object().unwrap() {
        bundle_source[k] = v.clone();
    }
    let authorization = config["authorization"].as_object_mut().unwrap();
    authorization.remove("bundle");
    authorization.insert("bundleSource".into(), bundle_source);
    config
}

/// The mesh bundle of the demo, as served (JSON text).
pub fn mesh_bundle() -> Value {
    demo_plugin_config()["authorization"]["bundle"].clone()
}

/// A bundle's bytes as a server would serve them.
pub fn bundle_bytes(bundle: &Value) -> Vec<u8> {
    let mut bundle = bundle.clone();
    bundle.as_object_mut().unwrap().remove("revision");
    serde_json::to_vec_pretty(&bundle).unwrap()
}

/// A detached signature over `bytes` with a committed key (`es256` signs by default).
pub fn sign_bundle(bytes: &[u8], key: &str) -> Vec<u8> {
    let pem = std::fs::read(key_file(&format!("{key}.key.pem"))).unwrap();
    meshguard::bundle::signature::sign(bytes, &pem, None, Some("ec-1"), NOW)
        .unwrap()
        .into_bytes()
}

/// A JWKS of committed keys.
pub fn jwks(names: &[&str]) -> Vec<u8> {
    let keys: Vec<Value> = names.iter().map(|n| jwk(n, true)).collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

/// A host at [`NOW`] with both clusters, started with `config` (which must be accepted).
pub fn started(config: &Value) -> Host {
    let mut host = Host::new();
    host.set_time(NOW);
    host.state_mut().clusters = vec![KEYS_CLUSTER.into(), BUNDLE_CLUSTER.into()];
    assert!(
        host.start(&config.to_string()),
        "refused: {:?}",
        host.state().logs
    );
    host
}

/// The one outstanding HTTP call; panics if there are none or several.
pub fn only_call(host: &Host) -> HttpCall {
    let calls = &host.state().http_calls;
    assert_eq!(calls.len(), 1, "outstanding calls: {calls:#?}");
    calls[0].clone()
}

/// A header of an outstanding call.
pub fn call_header<'a>(call: &'a HttpCall, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Answers the one outstanding call with a status, headers and a body.
pub fn answer(host: &mut Host, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HttpCall {
    let call = only_call(host);
    let status = status.to_string();
    let mut all = vec![(":status", status.as_str())];
    all.extend_from_slice(headers);
    assert!(host.http_call_response(call.token, &all, body));
    call
}

/// Ticks until `done` holds or `limit_ms` passes (in steps of 100 ms, the filter's tick).
pub fn tick_until(host: &mut Host, limit_ms: u64, mut done: impl FnMut(&Host) -> bool) -> bool {
    let mut waited = 0;
    while !done(host) {
        if waited >= limit_ms {
            return false;
        }
        host.tick(100);
        waited += 100;
    }
    true
}

/// The reason of an exchange's decision (`allowed`, or the local reply's reason).
pub fn reason(exchange: &Exchange) -> String {
    match &exchange.local_reply {
        None => "allowed".into(),
        Some(reply) => reply.json()["reason"]
            .as_str()
            .map_or_else(|| reply.json()["reason"].to_string(), str::to_owned),
    }
}
