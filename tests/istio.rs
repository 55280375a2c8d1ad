//! The Istio deployment files: the WasmPlugin's shape and embedded configuration, the example
//! workloads it selects, the policy it decides with (in the harness, as an Istio sidecar would
//! run it), and the OCI image packaging.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::envoy::{rendered_with, root, temp_dir};
use common::host::Host;
use common::scenarios::{sa, sa_token};
use common::{jwk, NOW};
use meshguard::config::PluginConfig;
use serde::Deserialize as _;
use serde_json::{json, Value};

fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn wasm_plugin() -> Value {
    let mut plugins: Vec<Value> = documents("istio/wasmplugin.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "WasmPlugin")
        .collect();
    assert_eq!(plugins.len(), 1);
    plugins.remove(0)
}

#[test]
fn the_wasm_plugin_fails_closed_in_the_authz_phase_on_inbound_traffic() {
    let plugin = wasm_plugin();
    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    let spec = &plugin["spec"];
    assert_eq!(spec["phase"], "AUTHZ");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["type"], "HTTP");
    assert_eq!(spec["match"], json!([{"mode": "SERVER"}]));
    assert!(
        spec["url"].as_str().unwrap().starts_with("oci://"),
        "{}",
        spec["url"]
    );
    // Only Istio's own fields: a misspelt one would be refused by the CRD.
    let known = [
        "selector",
        "url",
        "sha256",
        "imagePullPolicy",
        "imagePullSecret",
        "phase",
        "priority",
        "match",
        "type",
        "failStrategy",
        "pluginConfig",
        "pluginName",
        "vmConfig",
        "targetRefs",
    ];
    for key in spec.as_object().unwrap().keys() {
        assert!(
            known.contains(&key.as_str()),
            "unknown WasmPlugin field {key}"
        );
    }
}

#[test]
fn the_embedded_configuration_is_accepted_and_renders_from_the_current_policy() {
    let plugin = wasm_plugin();
    let config = plugin["spec"]["pluginConfig"].clone();
    let engine = PluginConfig::from_value(config.clone())
        .unwrap_or_else(|e| panic!("istio/wasmplugin.yaml pluginConfig: {e}"))
        .engine()
        .unwrap_or_else(|e| panic!("istio/wasmplugin.yaml pluginConfig: {e}"));
    assert!(engine.policy.as_ref().unwrap().authorizer.binding_count() > 0);
    // The namespace comes from each sidecar's node metadata, so one plugin serves all.
    assert!(config["authorization"]["requestMapping"]
        .get("namespace")
        .is_none());
    assert_eq!(
        config,
        rendered_with("istio/meshguard-config.yaml", "policies/services/rbac"),
        "istio/wasmplugin.yaml is stale: run `istio/render.sh > istio/wasmplugin.yaml`"
    );
}

#[test]
fn the_example_workloads_are_selected_and_their_tokens_fit_the_configuration() {
    let plugin = wasm_plugin();
    let selector = plugin["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    let audiences =
        plugin["spec"]["pluginConfig"]["authentication"]["jwt"][0]["issuer"]["audiences"].clone();
    let workloads = documents("istio/demo-workloads.yaml");
    let deployments: Vec<&Value> = workloads
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .collect();
    assert_eq!(deployments.len(), 3);
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let template = &deployment["spec"]["template"];
        let labels = template["metadata"]["labels"].as_object().unwrap();
        let selected = selector.iter().all(|(k, v)| labels.get(k) == Some(v));
        assert_eq!(selected, name == "orders", "{name}: selected by the plugin");
        // Every namespace the workloads use has sidecar injection on.
        let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
        assert!(workloads.iter().any(|d| d["kind"] == "Namespace"
            && d["metadata"]["name"] == namespace
            && d["metadata"]["labels"]["istio-injection"] == "enabled"));
        let account = template["spec"]["serviceAccountName"].as_str().unwrap();
        assert!(workloads.iter().any(|d| d["kind"] == "ServiceAccount"
            && d["metadata"]["name"] == account
            && d["metadata"]["namespace"] == namespace));
        for volume in template["spec"]["volumes"].as_array().into_iter().flatten() {
            for source in volume["projected"]["sources"].as_array().unwrap() {
                let audience = &source["serviceAccountToken"]["audience"];
                assert!(
                    audiences.as_array().unwrap().contains(audience),
                    "{name}: token audience {audience} is not configured"
                );
            }
        }
    }
}

/// The shipped plugin configuration in a sidecar of `namespace`, with `keys` as the
/// issuer's keys.
fn sidecar(namespace: &str, keys: Option<Value>) -> Host {
    let mut config = wasm_plugin()["spec"]["pluginConfig"].clone();
    if let Some(keys) = keys {
        config["authentication"]["jwt"][0]["jwks"] = json!({"keys": [keys]});
    }
    let mut host = Host::new();
    host.set_time(NOW);
    // Each namespace of the walkthrough runs one service of its name.
    host.set_node_metadata(namespace, namespace);
    assert!(host.start(&config.to_string()), "{:?}", host.state().logs);
    host
}

#[test]
fn as_shipped_no_token_verifies_and_with_the_cluster_keys_the_mesh_policy_decides() {
    let web = sa_token(sa("frontend", "web"));
    let worker = sa_token(sa("batch", "worker"));
    let auth = |t: &str| format!("Bearer {t}");

    // The example cluster's private key does not exist: everything is refused, not let in.
    let mut shipped = sidecar("orders", None);
    let exchange = shipped.request("POST", "/orders", &[("authorization", &auth(&web))]);
    assert_eq!(exchange.status(), 401);
    assert_eq!(
        exchange.local_reply.unwrap().json()["reason"],
        "key_not_found"
    );

    // Rendered with the cluster's keys (here the test cluster's), in the orders sidecar.
    let mut orders = sidecar("orders", Some(jwk("rs256", true)));
    let placed = orders.request("POST", "/orders", &[("authorization", &auth(&web))]);
    assert_eq!(placed.status(), 200);
    assert_eq!(
        placed.upstream_header("x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    assert!(
        placed.upstream_header("authorization").is_empty(),
        "stripToken: the application never sees the token"
    );
    assert_eq!(placed.upstream_header("x-meshguard-decision"), ["allow"]);
    let read = orders.request("GET", "/orders/42", &[("authorization", &auth(&worker))]);
    assert_eq!(read.status(), 200);
    let delete = orders.request("DELETE", "/orders/42", &[("authorization", &auth(&worker))]);
    assert_eq!(delete.status(), 403);
    assert_eq!(
        delete.local_reply.unwrap().json()["message"],
        r#"User "system:serviceaccount:batch:worker" cannot delete resource "services/proxy" in API group "" in the namespace "orders""#
    );
    assert_eq!(orders.request("GET", "/orders/42", &[]).status(), 401);
}

/// With `PeerAuthentication` STRICT (`istio/peer-authentication.yaml`) every call to orders is
/// mTLS, and a call without a token is its caller's workload identity: the SPIFFE ID of the
/// certificate the calling sidecar presented, which Envoy gives the filter as connection
/// attributes. A token, when there is one, decides first (`order: [token, spiffe]`).
#[test]
fn with_strict_mtls_a_call_without_a_token_is_its_workloads_service_account() {
    let peer_authentication = documents("istio/peer-authentication.yaml");
    assert_eq!(peer_authentication.len(), 1);
    let strict = &peer_authentication[0];
    assert_eq!(strict["kind"], "PeerAuthentication");
    assert_eq!(strict["metadata"]["namespace"], "orders");
    assert_eq!(strict["spec"]["mtls"]["mode"], "STRICT");

    let mut orders = sidecar("orders", Some(jwk("rs256", true)));
    let from = |host: &mut Host, workload: Option<&str>| {
        host.set_property(&["connection", "mtls"], &[u8::from(workload.is_some())]);
        let uri = workload.map(|w| format!("spiffe://cluster.local/{w}"));
        host.set_property(
            &["connection", "uri_san_peer_certificate"],
            uri.unwrap_or_default().as_bytes(),
        );
    };
    from(&mut orders, Some("ns/frontend/sa/web"));
    let placed = orders.request("POST", "/orders", &[]);
    assert_eq!(placed.status(), 200);
    assert_eq!(
        placed.upstream_header("x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    from(&mut orders, Some("ns/batch/sa/worker"));
    assert_eq!(orders.request("GET", "/orders/42", &[]).status(), 200);
    assert_eq!(orders.request("DELETE", "/orders/42", &[]).status(), 403);
    // A token decides first: the worker's sidecar passing on the web workload's token.
    let web = format!("Bearer {}", sa_token(sa("frontend", "web")));
    let passed_on = orders.request("POST", "/orders", &[("authorization", &web)]);
    assert_eq!(
        passed_on.upstream_header("x-remote-user"),
        ["system:serviceaccount:frontend:web"]
    );
    // Another mesh's identity, and no certificate at all (PERMISSIVE plaintext): refused.
    orders.set_property(
        &["connection", "uri_san_peer_certificate"],
        b"spiffe://other.mesh/ns/frontend/sa/web",
    );
    let foreign = orders.request("POST", "/orders", &[]);
    assert_eq!(
        foreign.local_reply.unwrap().json()["reason"],
        "peer_untrusted"
    );
    from(&mut orders, None);
    let plaintext = orders.request("POST", "/orders", &[]);
    assert_eq!(
        plaintext.local_reply.unwrap().json()["reason"],
        "token_missing"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    hmac_sha256::Hash::hash(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(sha256_hex(&bytes), hex, "blob content matches its digest");
    bytes
}

fn package(module: &Path, out: &Path) -> Value {
    let status = Command::new("python3")
        .arg(root().join("istio/oci-image.py"))
        .arg(module)
        .arg(out)
        .args(["--tag", "0.1.0"])
        .status()
        .expect("python3 runs istio/oci-image.py");
    assert!(status.success());
    serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap()
}

#[test]
fn the_module_packages_as_a_reproducible_istio_compat_oci_image() {
    let module = common::wasm::built_module();
    let dir = temp_dir("oci");
    let layout = dir.join("layout");
    let index = package(&module, &layout);
    let layout_file: Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout_file["imageLayoutVersion"], "1.0.0");
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "0.1.0"
    );
    let manifest_bytes = blob(&layout, entry["digest"].as_str().unwrap());
    assert_eq!(entry["size"], manifest_bytes.len());
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "the compat variant has exactly one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer = blob(&layout, layers[0]["digest"].as_str().unwrap());
    assert_eq!(layers[0]["size"], layer.len());

    // The layer holds the module as plugin.wasm, byte for byte.
    let extracted = dir.join("extracted");
    std::fs::create_dir_all(&extracted).unwrap();
    std::fs::write(dir.join("layer.tar.gz"), &layer).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(dir.join("layer.tar.gz"))
        .arg("-C")
        .arg(&extracted)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(extracted.join("plugin.wasm")).unwrap(),
        std::fs::read(&module).unwrap()
    );

    // Same module, same digests.
    let again = package(&module, &dir.join("again"));
    assert_eq!(again, index);
}
