//! The policy commands of the CLI, through the built binary: exit codes, output, and errors
//! that name the file, object and field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mesh_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("policies/mesh/rbac"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn meshguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshguard"))
        .args(args)
        .output()
        .unwrap()
}

fn with_bundle<'a>(args: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.push("--bundle");
    all.extend(files.iter().map(String::as_str));
    all
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[derive(Deserialize)]
struct Row {
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    verb: String,
    resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    path: Option<String>,
    allowed: bool,
}

#[test]
fn can_i_answers_the_mesh_table_with_yes_no_and_exit_codes() {
    let files = mesh_files();
    let table: Vec<Row> = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("policies/mesh/expected.yaml")).unwrap(),
    )
    .unwrap();
    for row in &table {
        let mut args = vec!["can-i".to_owned(), row.verb.clone()];
        match (&row.resource, &row.path) {
            (Some(resource), _) => {
                let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
                args.push(if row.name.is_empty() {
                    resource.to_owned()
                } else {
                    format!("{resource}/{}", row.name)
                });
                if !sub.is_empty() {
                    args.extend(["--subresource".to_owned(), sub.to_owned()]);
                }
                args.extend(["-n".to_owned(), row.namespace.clone()]);
            }
            (None, Some(path)) => args.push(path.clone()),
            _ => unreachable!(),
        }
        args.extend(["--as".to_owned(), row.user.clone()]);
        for group in &row.groups {
            args.extend(["--as-group".to_owned(), group.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = meshguard(&with_bundle(&args, &files));
        let expected = if row.allowed { "yes\n" } else { "no\n" };
        assert_eq!(stdout(&output), expected, "{args:?}\n{}", stderr(&output));
        assert_eq!(output.status.code(), Some(if row.allowed { 0 } else { 1 }));
    }
}

#[test]
fn can_i_explain_names_the_binding_role_subject_and_rule() {
    let files = mesh_files();
    let output = meshguard(&with_bundle(
        &[
            "can-i",
            "create",
            "charges",
            "-n",
            "payments",
            "--as",
            "system:serviceaccount:orders:api",
            "--explain",
        ],
        &files,
    ));
    let text = stdout(&output);
    assert!(text.starts_with("yes\n"), "{text}");
    assert!(text.contains(r#"RBAC: allowed by RoleBinding "orders-charges/payments" of Role "charger" to ServiceAccount "api/orders" (rule 0)"#), "{text}");
    let output = meshguard(&with_bundle(
        &[
            "can-i",
            "delete",
            "deployments.apps",
            "-n",
            "orders",
            "--as",
            "oidc:eve",
            "--explain",
        ],
        &files,
    ));
    assert!(stdout(&output).contains(
        r#"cannot delete resource "deployments" in API group "apps" in the namespace "orders""#
    ));
}

#[test]
fn kubectl_short_names_and_cluster_scoped_types_resolve_like_kubectl() {
    let dir = tempdir("short-names");
    let bundle = dir.join("b.yaml");
    std::fs::write(
        &bundle,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
- {apiGroups: [""], resources: [nodes], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
"#,
    )
    .unwrap();
    let b = bundle.to_string_lossy().into_owned();
    let ask = |args: &[&str]| {
        stdout(&meshguard(
            &[args, &["--as", "alice", "--bundle", &b]].concat(),
        ))
    };
    assert_eq!(ask(&["can-i", "get", "deploy/web", "-n", "team"]), "yes\n");
    assert_eq!(
        ask(&["can-i", "get", "deployments.apps", "web", "-n", "team"]),
        "yes\n"
    );
    // Nodes are cluster-scoped: a RoleBinding never grants them.
    assert_eq!(ask(&["can-i", "list", "nodes", "-n", "team"]), "no\n");
}

#[test]
fn who_can_lists_every_allowed_subject_with_its_binding() {
    let files = mesh_files();
    let output = meshguard(&with_bundle(
        &["who-can", "get", "ledgers", "-n", "prod"],
        &files,
    ));
    let text = stdout(&output);
    assert!(
        text.contains(
            "ServiceAccount   worker      payments    RoleBinding prod/payments-reads-ledger"
        ),
        "{text}"
    );
    assert!(
        text.contains("Group            operators               ClusterRoleBinding operators"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn can_i_list_prints_the_rules_of_the_user() {
    let files = mesh_files();
    let output = meshguard(&with_bundle(
        &[
            "can-i",
            "--list",
            "-n",
            "orders",
            "--as",
            "system:serviceaccount:frontend:web",
        ],
        &files,
    ));
    let text = stdout(&output);
    assert!(text.starts_with("Resources"), "{text}");
    assert!(
        text.contains("orders/items") && text.contains("[/healthz /readyz /metrics]"),
        "{text}"
    );
}

#[test]
fn request_info_prints_the_apiserver_fields() {
    let output = meshguard(&["request-info", "GET", "https://kube.example:6443/apis/apps/v1/namespaces/web/deployments?fieldSelector=metadata.name%3Dfront"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "isResourceRequest",
        "path",
        "verb",
        "apiPrefix",
        "apiGroup",
        "apiVersion",
        "namespace",
        "resource",
        "subresource",
        "name",
        "parts",
    ] {
        assert!(keys.contains(&key), "{key} missing");
    }
    assert_eq!(info["verb"], "list");
    assert_eq!(info["apiGroup"], "apps");
    assert_eq!(info["name"], "front");
    let refused = meshguard(&[
        "request-info",
        "GET",
        "/api/v1/namespaces%2Fkube-system/secrets",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("encodes the byte %2F"));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshguard-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn lint_accepts_the_mesh_policy_and_refuses_a_guardrail_breach_with_exit_1() {
    let files = mesh_files();
    let guardrails = root()
        .join("policies/mesh/guardrails.yaml")
        .to_string_lossy()
        .into_owned();
    let output = meshguard(
        &[
            with_bundle(&["lint"], &files),
            vec!["--guardrails", &guardrails],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // One warning (the operators' cluster-admin-like role), then the summary.
    let out = stdout(&output);
    let mut lines = out.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("warning: escalation_verb: ClusterRole mesh-operator"));
    assert!(lines.next().unwrap().starts_with(
        "ok: 5 roles, 5 clusterroles, 5 rolebindings, 3 clusterrolebindings; revision sha256:"
    ));

    let dir = tempdir("breach");
    let breach = dir.join("breach.yaml");
    std::fs::write(
        &breach,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: prod}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
"#,
    )
    .unwrap();
    let mut all = files.clone();
    all.push(breach.to_string_lossy().into_owned());
    let output = meshguard(
        &[
            with_bundle(&["lint"], &all),
            vec!["--guardrails", &guardrails],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("guardrail: Role prod/everything: protected_namespace_wildcard"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn invalid_objects_are_reported_with_file_object_and_field_and_exit_2() {
    let dir = tempdir("invalid");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ok, namespace: team}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: broken, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ok}
subjects: [{kind: Robot, name: r2}]
"#,
    )
    .unwrap();
    let path = bad.to_string_lossy().into_owned();
    let output = meshguard(&["lint", "--bundle", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "{path}#2: RoleBinding team/broken: subjects[0].kind: Unsupported value \"Robot\""
        )),
        "{}",
        stderr(&output)
    );

    let yaml = dir.join("not-yaml.yaml");
    std::fs::write(&yaml, "kind: [unclosed").unwrap();
    let output = meshguard(&["lint", "--bundle", &yaml.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid YAML"),
        "{}",
        stderr(&output)
    );

    let output = meshguard(&["lint", "--bundle", "/nonexistent/bundle.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/bundle.yaml"));
}

#[test]
fn bundle_build_writes_a_canonical_bundle_that_loads_to_the_same_revision() {
    let files = mesh_files();
    let dir = tempdir("build");
    let out = dir.join("mesh.json");
    let guardrails = root()
        .join("policies/mesh/guardrails.yaml")
        .to_string_lossy()
        .into_owned();
    let out_text = out.to_string_lossy().into_owned();
    let mut args = vec!["bundle", "build"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--guardrails", &guardrails, "-o", &out_text]);
    let output = meshguard(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let built: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(built["kind"], "PolicyBundle");
    assert!(built["guardrails"]["protectedNamespaces"].is_object());
    // Aggregation resolved in the output.
    let viewer = built["clusterRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metadata"]["name"] == "mesh-viewer")
        .unwrap();
    assert_eq!(viewer["rules"].as_array().unwrap().len(), 2);
    // Loading the output gives the stamped revision back.
    let lint = meshguard(&["lint", "--bundle", &out_text]);
    assert!(
        stdout(&lint).contains(built["revision"].as_str().unwrap()),
        "{}",
        stdout(&lint)
    );
    // The built bundle still decides like its sources.
    let ask = meshguard(&[
        "can-i",
        "create",
        "orders",
        "-n",
        "orders",
        "--as",
        "system:serviceaccount:frontend:web",
        "--bundle",
        &out_text,
    ]);
    assert_eq!(stdout(&ask), "yes\n");
    assert!(Path::new(&out).exists());
}

fn render(extra: &[&str]) -> Output {
    let files = mesh_files();
    let mut args = vec!["config", "render", "istio/meshguard-config.yaml"];
    args.extend_from_slice(extra);
    let all = with_bundle(&args, &files);
    Command::new(env!("CARGO_BIN_EXE_meshguard"))
        .current_dir(root())
        .args(&all)
        .output()
        .unwrap()
}

#[test]
fn config_render_embeds_the_bundle_and_the_cluster_keys_as_json_or_yaml() {
    let json_out = render(&[]);
    assert!(json_out.status.success(), "{json_out:?}");
    let text = String::from_utf8(json_out.stdout).unwrap();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one line, as Envoy takes it"
    );
    let config: Value = serde_json::from_str(&text).unwrap();
    assert!(config["authorization"]["bundle"]["revision"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    let yaml_out = render(&["--yaml"]);
    assert!(yaml_out.status.success());
    let from_yaml: Value = serde_yaml_ng::from_slice(&yaml_out.stdout).unwrap();
    assert_eq!(from_yaml, config);

    let jwks = root().join("tests/keys/rs256.jwks.json");
    let spec = format!(
        "https://kubernetes.default.svc.cluster.local={}",
        jwks.display()
    );
    let keyed = render(&["--jwks", &spec]);
    assert!(keyed.status.success(), "{keyed:?}");
    let keyed: Value = serde_json::from_slice(&keyed.stdout).unwrap();
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    assert_eq!(keyed["authentication"]["jwt"][0]["jwks"], expected);
    assert_ne!(
        keyed["authentication"]["jwt"][0]["jwks"],
        config["authentication"]["jwt"][0]["jwks"]
    );
}

#[test]
fn config_render_refuses_what_the_filter_would_refuse_and_names_it() {
    let jwks = root().join("tests/keys/rs256.jwks.json");
    let spec = format!("https://elsewhere.example={}", jwks.display());
    let out = render(&["--jwks", &spec]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("https://elsewhere.example"), "{err}");

    let not_jwks = root().join("istio/meshguard-config.yaml");
    let spec = format!(
        "https://kubernetes.default.svc.cluster.local={}",
        not_jwks.display()
    );
    let out = render(&["--jwks", &spec]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JWKS"));

    let dir = std::env::temp_dir().join(format!("meshguard-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "authentication:\n  jwt: []\nmode: permissive\n").unwrap();
    let out = meshguard(&["config", "render", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("mode"), "{err}");

    // The forwarding switches are booleans; rendered as given.
    let demo = std::fs::read_to_string(root().join("policies/demo-config.yaml")).unwrap();
    let switches = "forwarding:\n  identity: false\n  filterState: false\n";
    let off = dir.join("off.yaml");
    std::fs::write(&off, demo.replace("forwarding:\n", switches)).unwrap();
    let out = meshguard(&["config", "render", off.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rendered["forwarding"]["identity"], false);
    assert_eq!(rendered["forwarding"]["filterState"], false);
    let not_a_flag = dir.join("not-a-flag.yaml");
    std::fs::write(
        &not_a_flag,
        demo.replace("forwarding:\n", "forwarding:\n  identity: \"no\"\n"),
    )
    .unwrap();
    let out = meshguard(&["config", "render", not_a_flag.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forwarding.identity"), "{err}");
}

#[test]
fn bundle_sign_writes_a_signature_the_filter_accepts_and_verify_refuses_a_changed_bundle() {
    let dir = tempdir("sign");
    let bundle = dir.join("bundle.json");
    let bundle = bundle.to_str().unwrap();
    let mut args = vec!["bundle", "build", "-o", bundle];
    let files = mesh_files();
    args.extend(files.iter().map(String::as_str));
    assert!(meshguard(&args).status.success());
    let key = root().join("tests/keys/es256.key.pem");
    let jwks = root().join("tests/keys/es256.jwks.json");
    let output = meshguard(&[
        "bundle",
        "sign",
        bundle,
        "--key",
        key.to_str().unwrap(),
        "--kid",
        "ec-1",
        "--now",
        "1700000000",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("signs sha256:"),
        "{}",
        stderr(&output)
    );
    let signature = std::fs::read(format!("{bundle}.sig")).unwrap();
    // The core (what the filter runs) accepts it with the public key.
    let keys =
        meshguard::token::KeySet::from_jwks_str(&std::fs::read_to_string(&jwks).unwrap(), true)
            .unwrap();
    let bytes = std::fs::read(bundle).unwrap();
    meshguard::bundle::signature::verify(&bytes, &signature, &keys).unwrap();

    let verify = |path: &str| {
        meshguard(&[
            "bundle",
            "verify",
            path,
            "--signature",
            &format!("{bundle}.sig"),
            "--signing-keys",
            jwks.to_str().unwrap(),
        ])
    };
    let output = verify(bundle);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("ok: "));
    // One byte more and the signature no longer holds.
    let changed = dir.join("changed.json");
    let mut more = bytes.clone();
    more.push(b'\n');
    std::fs::write(&changed, more).unwrap();
    let output = verify(changed.to_str().unwrap());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("refused: it signs sha256:"),
        "{}",
        stdout(&output)
    );
    // Nothing the filter would refuse gets signed.
    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        "{\"apiVersion\": \"meshguard.io/v1\", \"kind\": \"Nope\"}",
    )
    .unwrap();
    let output = meshguard(&[
        "bundle",
        "sign",
        broken.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the filter would refuse it"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn request_info_and_can_i_map_a_request_as_a_configuration_does() {
    let config = root().join("policies/services/config.yaml");
    let config = config.to_str().unwrap();
    let output = meshguard(&[
        "request-info",
        "--config",
        config,
        "--workload-namespace",
        "orders",
        "--workload-service",
        "orders",
        "PATCH",
        "http://orders.orders:8080/orders/42?x=1",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let info: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        (
            &info["verb"],
            &info["namespace"],
            &info["resource"],
            &info["subresource"],
            &info["name"]
        ),
        (
            &json!("patch"),
            &json!("orders"),
            &json!("services"),
            &json!("proxy"),
            &json!("orders")
        )
    );
    let files: Vec<String> = std::fs::read_dir(root().join("policies/services/rbac"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    for (method, path, grpc, user, answer, code) in [
        (
            "GET",
            "/orders/42",
            false,
            "system:serviceaccount:batch:worker",
            "yes",
            0,
        ),
        (
            "POST",
            "/orders",
            false,
            "system:serviceaccount:batch:worker",
            "no",
            1,
        ),
        (
            "POST",
            "/orders.v1.OrderService/ListOrders",
            true,
            "system:serviceaccount:batch:worker",
            "yes",
            0,
        ),
        (
            "POST",
            "/orders.v1.OrderService/CancelOrder",
            true,
            "system:serviceaccount:batch:worker",
            "no",
            1,
        ),
    ] {
        let mut args = vec![
            "can-i",
            "--config",
            config,
            "-n",
            "orders",
            "--workload-service",
            "orders",
        ];
        if grpc {
            args.push("--grpc");
        }
        args.extend([method, path, "--as", user, "--bundle"]);
        args.extend(files.iter().map(String::as_str));
        let output = meshguard(&args);
        assert_eq!(
            stdout(&output).trim(),
            answer,
            "{method} {path}: {}",
            stderr(&output)
        );
        assert_eq!(output.status.code(), Some(code));
    }
    // A route error in the configuration names the field.
    let output = meshguard(&["request-info", "--config", "/dev/null", "GET", "/"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn lint_with_a_configuration_warns_of_an_unsigned_bundle_source() {
    let text = std::fs::read_to_string(root().join("policies/services/config.yaml")).unwrap();
    let mut config: Value = serde_yaml_ng::from_str(&text).unwrap();
    config["authorization"]["bundleSource"] = json!({
        "cluster": "bundles", "url": "https://bundles.example.com/mesh.json", "signature": "none"
    });
    let dir = std::env::temp_dir().join(format!("meshguard-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("unsigned.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let files: Vec<String> = std::fs::read_dir(root().join("policies/services/rbac"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec!["lint", "--config", file.to_str().unwrap(), "--bundle"];
    args.extend(files.iter().map(String::as_str));
    let output = meshguard(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("bundleSource.signature is \"none\""),
        "{}",
        stdout(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
