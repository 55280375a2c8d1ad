//! Live keys and live policy in real Envoy, against a loopback key and bundle server
//! (`envoy/doc_server.py`): the issuer rotates its signing key while traffic flows and no
//! valid request is lost; the issuer goes down and cached keys keep serving; a new bundle
//! changes decisions within one poll; a badly signed bundle is refused and the previous one
//! stays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::envoy::*;
use common::live::{bundle_bytes, jwks, mesh_bundle, sign_bundle};
use common::{key_file, mint};
use serde_json::{json, Value};

fn web_token(key: &str, kid: &str) -> String {
    let now = now();
    mint(
        key,
        "RS256",
        Some(kid),
        json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "aud": ["meshguard"],
            "sub": "system:serviceaccount:frontend:web",
            "iat": now, "exp": now + 3600,
            "kubernetes.io": {"namespace": "frontend",
                              "serviceaccount": {"name": "web", "uid": "sa-web"}}
        }),
    )
}

fn place_order(port: u16, token: &str) -> u16 {
    request(
        port,
        "POST",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .map_or(0, |r| r.status)
}

/// Polls until `check` holds, at most `limit`; returns how long it took.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn docs_dir(dir: &Path) -> std::path::PathBuf {
    let docs = dir.join("docs");
    std::fs::create_dir_all(docs.join("openid/v1")).unwrap();
    docs
}

/// Real Envoy whose service-account issuer's keys come from a loopback doc server (first
/// published: `rsa-1`), with `remote` as its `remoteKeys` (the cluster and URL added).
struct LiveIssuer {
    envoy: Envoy,
    dir: std::path::PathBuf,
    docs: std::path::PathBuf,
    jwks_file: std::path::PathBuf,
    _servers: (Process, Process),
}

fn live_issuer(name: &str, remote: Value) -> Option<LiveIssuer> {
    let envoy_bin = envoy_binary()?;
    let dir = temp_dir(name);
    let docs = docs_dir(&dir);
    let jwks_file = docs.join("openid/v1/jwks");
    publish(&jwks_file, &jwks(&["rs256"]));
    let (docs_server, docs_port) = start_doc_server(&dir, &docs);
    let (upstream, upstream_port) = start_upstream(&dir);
    let mut config = common::envoy::demo_plugin_config();
    let entry = &mut config["authentication"]["jwt"][0];
    entry.as_object_mut().unwrap().remove("jwks");
    let mut remote_keys = json!({
        "cluster": "issuer",
        "jwksURI": "http://kubernetes.default.svc.cluster.local/openid/v1/jwks"
    });
    for (k, v) in remote.as_object().unwrap() {
        remote_keys[k] = v.clone();
    }
    entry["remoteKeys"] = remote_keys;
    let envoy = start_envoy_with_clusters(
        &envoy_bin,
        &dir,
        upstream_port,
        &config,
        &[("issuer", docs_port)],
    );
    Some(LiveIssuer {
        envoy,
        dir,
        docs,
        jwks_file,
        _servers: (docs_server, upstream),
    })
}

#[test]
fn keys_rotate_under_traffic_without_losing_a_request_and_survive_an_issuer_outage() {
    let Some(live) = live_issuer(
        "live-keys",
        json!({
            "refreshIntervalSeconds": 2,
            "minRefreshIntervalSeconds": 1,
            "fetch": {"initialBackoffMs": 200, "maxBackoffSeconds": 1}
        }),
    ) else {
        return;
    };
    let (envoy, docs, jwks_file) = (&live.envoy, &live.docs, &live.jwks_file);
    let port = envoy.port;
    let old = web_token("rs256", "rsa-1");
    let new = web_token("rs256-other", "rsa-2");
    // The first request may arrive before the first fetch: it waits, then passes.
    assert_eq!(place_order(port, &old), 200, "{}", envoy.process.log_text());

    // Traffic flows while the issuer rotates: clients switch to the new key as soon as the
    // issuer publishes it, and every request must pass.
    let use_new = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let traffic = {
        let (use_new, stop, sent, failures) = (
            Arc::clone(&use_new),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&failures),
        );
        let (old, new) = (old.clone(), new.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
                let token = if use_new.load(Ordering::Relaxed) {
                    &new
                } else {
                    &old
                };
                let status = place_order(port, token);
                sent.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failures.lock().unwrap().push(status);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    publish(jwks_file, &jwks(&["rs256", "rs256-other"]));
    use_new.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    // The old key is retired; the refresh (every 2 s) drops it; new tokens keep passing.
    publish(jwks_file, &jwks(&["rs256-other"]));
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent > 50, "only {sent} requests");
    assert_eq!(
        *failures.lock().unwrap(),
        Vec::<u16>::new(),
        "of {sent} requests\n{}",
        envoy.process.log_text()
    );
    assert!(stat(envoy.admin, "meshguard.keys.refetch.demanded") >= 1);
    // The retired key no longer verifies.
    assert_eq!(place_order(port, &old), 401);

    // The issuer goes down: the cached keys keep serving, and the outage shows in stats.
    publish(&docs.join("DOWN"), b"");
    assert!(
        within(Duration::from_secs(10), || {
            stat(envoy.admin, "meshguard.keys.fetch.failed.http_status") >= 2
        })
        .is_some(),
        "{}",
        get(envoy.admin, "/stats?filter=meshguard").unwrap().body
    );
    for _ in 0..20 {
        assert_eq!(place_order(port, &new), 200);
    }
    assert_eq!(stat(envoy.admin, "meshguard.keys.stale"), 1);
    let log = envoy.process.log_text();
    assert!(log.contains("the last good one stays in force"), "{log}");
    // It comes back.
    std::fs::remove_file(docs.join("DOWN")).unwrap();
    assert!(within(Duration::from_secs(10), || stat(
        envoy.admin,
        "meshguard.keys.stale"
    ) == 0)
    .is_some());
}

#[test]
fn a_new_bundle_takes_effect_within_a_poll_and_a_badly_signed_one_is_refused() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("live-bundle");
    let docs = docs_dir(&dir);
    let bundle_file = docs.join("bundle.json");
    let signature_file = docs.join("bundle.json.sig");
    let serve = |bytes: &[u8], signature: &[u8]| {
        // Signature first: a poll between the two writes sees a mismatch and retries.
        publish(&signature_file, signature);
        publish(&bundle_file, bytes);
    };
    let v1 = bundle_bytes(&mesh_bundle());
    serve(&v1, &sign_bundle(&v1, "es256"));
    let (_docs_server, docs_port) = start_doc_server(&dir, &docs);
    let (_upstream, upstream_port) = start_upstream(&dir);
    let signing: Value =
        serde_json::from_str(&std::fs::read_to_string(key_file("es256.jwks.json")).unwrap())
            .unwrap();
    let mut config = common::envoy::demo_plugin_config();
    let authorization = config["authorization"].as_object_mut().unwrap();
    authorization.remove("bundle");
    authorization.insert(
        "bundleSource".into(),
        json!({"cluster": "bundles", "url": "http://bundles.internal/bundle.json",
               "signingKeys": signing, "pollIntervalSeconds": 1}),
    );
    let envoy = start_envoy_with_clusters(
        &envoy_bin,
        &dir,
        upstream_port,
        &config,
        &[("bundles", docs_port)],
    );
    let port = envoy.port;
    let web = web_token("rs256", "rsa-1");
    assert_eq!(place_order(port, &web), 200, "{}", envoy.process.log_text());

    // Unchanged polls are 304s.
    assert!(within(Duration::from_secs(5), || {
        stat(envoy.admin, "meshguard.bundle.fetch.not_modified") >= 2
    })
    .is_some());

    // Publish a bundle without bindings: within one poll (1 s, plus a tick), web is refused.
    let mut bundle = mesh_bundle();
    bundle["roleBindings"] = json!([]);
    bundle["clusterRoleBindings"] = json!([]);
    let v2 = bundle_bytes(&bundle);
    serve(&v2, &sign_bundle(&v2, "es256"));
    let took = within(Duration::from_secs(5), || place_order(port, &web) == 403)
        .unwrap_or_else(|| panic!("no change\n{}", envoy.process.log_text()));
    assert!(took <= Duration::from_millis(2500), "took {took:?}");
    eprintln!("new bundle in force after {took:?}");

    // A bundle signed by a key the filter does not trust is refused; v2 stays.
    let pem = std::fs::read(key_file("es384.key.pem")).unwrap();
    let forged = meshguard::bundle::signature::sign(&v1, &pem, None, Some("ec-1"), 0).unwrap();
    serve(&v1, forged.as_bytes());
    assert!(within(Duration::from_secs(5), || {
        stat(
            envoy.admin,
            "meshguard.bundle.fetch.failed.signature_invalid",
        ) >= 1
    })
    .is_some());
    for _ in 0..10 {
        assert_eq!(place_order(port, &web), 403);
    }
    let log = envoy.process.log_text();
    assert!(log.contains("bundle signature refused"), "{log}");
}

/// How many times the doc server answered `path` so far (its log: `GET <path> <status>`).
fn served(dir: &Path, path: &str) -> usize {
    std::fs::read_to_string(dir.join("docs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(&format!("GET {path} ")))
        .count()
}

#[test]
fn a_published_key_is_accepted_at_first_use_and_random_kids_cost_one_fetch_per_second() {
    // Defaults but the URL: a 300 s refresh, so only a demanded refetch can bring a new key.
    let Some(live) = live_issuer("live-rotation", json!({})) else {
        return;
    };
    let (envoy, dir, jwks_file) = (&live.envoy, &live.dir, &live.jwks_file);
    let port = envoy.port;
    let old = web_token("rs256", "rsa-1");
    let new = web_token("rs256-other", "rsa-2");
    assert_eq!(place_order(port, &old), 200, "{}", envoy.process.log_text());

    // Four clients; the issuer publishes rsa-2 and the clients switch at once. Every request
    // must pass, and the slowest new-key request is the time to acceptance.
    let use_new = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (use_new, stop, results) = (
                Arc::clone(&use_new),
                Arc::clone(&stop),
                Arc::clone(&results),
            );
            let (old, new) = (old.clone(), new.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
                    let fresh = use_new.load(Ordering::Relaxed);
                    let sent = Instant::now();
                    let status = place_order(port, if fresh { &new } else { &old });
                    results
                        .lock()
                        .unwrap()
                        .push((fresh, status, sent.elapsed()));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    publish(jwks_file, &jwks(&["rs256", "rs256-other"]));
    use_new.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(2000));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let results = results.lock().unwrap();
    let failed: Vec<_> = results.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{failed:?}\n{}",
        envoy.process.log_text()
    );
    let slowest_new = results
        .iter()
        .filter(|(fresh, _, _)| *fresh)
        .map(|(_, _, took)| *took)
        .max()
        .unwrap();
    let new_count = results.iter().filter(|(fresh, _, _)| *fresh).count();
    eprintln!(
        "rotation: {} requests, {new_count} with the new key, 0 failed; slowest new-key \
         request {slowest_new:?}",
        results.len()
    );
    assert!(slowest_new < Duration::from_secs(2), "{slowest_new:?}");

    // A flood of random kids from four clients for 5 s: at most one fetch per second.
    let before = served(dir, "/openid/v1/jwks");
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
    let flood_start = Instant::now();
    let flooders: Vec<_> = (0..4)
        .map(|c| {
            let (stop, statuses) = (Arc::clone(&stop), Arc::clone(&statuses));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let token = web_token("rs256-other", &format!("random-{c}-{i}"));
                    i += 1;
                    let status = place_order(port, &token);
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.join().unwrap();
    }
    let seconds = flood_start.elapsed().as_secs_f64();
    let fetches = served(dir, "/openid/v1/jwks") - before;
    let statuses = statuses.lock().unwrap();
    eprintln!("flood: {statuses:?} in {seconds:.1} s cost {fetches} JWKS fetches");
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![401]);
    assert!(
        (fetches as f64) <= seconds + 2.0,
        "{fetches} fetches in {seconds:.1} s"
    );
    // The real key still passes during and after the flood.
    assert_eq!(place_order(port, &new), 200);
}

#[test]
fn an_unsigned_bundle_source_is_polled_and_hot_reloaded_by_explicit_choice() {
    let Some(envoy_bin) = envoy_binary() else {
        return;
    };
    let dir = temp_dir("live-unsigned");
    let docs = docs_dir(&dir);
    let bundle_file = docs.join("bundle.json");
    publish(&bundle_file, &bundle_bytes(&mesh_bundle()));
    let (_docs_server, docs_port) = start_doc_server(&dir, &docs);
    let (_upstream, upstream_port) = start_upstream(&dir);
    let mut config = common::envoy::demo_plugin_config();
    let authorization = config["authorization"].as_object_mut().unwrap();
    authorization.remove("bundle");
    authorization.insert(
        "bundleSource".into(),
        json!({"cluster": "bundles", "url": "http://bundles.internal/bundle.json",
               "signature": "none", "pollIntervalSeconds": 1}),
    );
    let envoy = start_envoy_with_clusters(
        &envoy_bin,
        &dir,
        upstream_port,
        &config,
        &[("bundles", docs_port)],
    );
    let log = envoy.process.log_text();
    assert!(log.contains("signature is \"none\""), "{log}");
    let port = envoy.port;
    let web = web_token("rs256", "rsa-1");
    assert_eq!(place_order(port, &web), 200, "{}", envoy.process.log_text());
    assert_eq!(
        served(&dir, "/bundle.json.sig"),
        0,
        "no signature is asked for"
    );
    // Polled with its ETag: 304s.
    assert!(within(Duration::from_secs(5), || {
        stat(envoy.admin, "meshguard.bundle.fetch.not_modified") >= 2
    })
    .is_some());
    // A new bundle takes effect within a poll.
    let mut bundle = mesh_bundle();
    bundle["roleBindings"] = json!([]);
    bundle["clusterRoleBindings"] = json!([]);
    publish(&bundle_file, &bundle_bytes(&bundle));
    let took = within(Duration::from_secs(5), || place_order(port, &web) == 403)
        .unwrap_or_else(|| panic!("no change\n{}", envoy.process.log_text()));
    eprintln!("unsigned bundle in force after {took:?}");
    // A broken one is refused; the last good one stays.
    publish(&bundle_file, b"{\"kind\": \"PolicyBundle\", \"roles\": 7}");
    assert!(within(Duration::from_secs(5), || {
        stat(envoy.admin, "meshguard.bundle.fetch.failed.bundle_invalid") >= 1
    })
    .is_some());
    assert_eq!(place_order(port, &web), 403);
}
