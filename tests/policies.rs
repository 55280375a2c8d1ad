//! The example bundles under `policies/` load, pass their guardrails, and decide as their
//! tables of expected decisions say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use meshguard::bundle::{Bundle, BundleBuilder, Guardrails};
use meshguard::identity::UserInfo;
use meshguard::rbac::Attributes;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    verb: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    path: Option<String>,
    allowed: bool,
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

/// Every `rbac/*.yaml` of a policy directory, with its `guardrails.yaml`.
fn load_policy_dir(dir: &Path) -> Bundle {
    let guardrails: Guardrails =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("guardrails.yaml")).unwrap())
            .unwrap();
    let mut builder = BundleBuilder::new().with_guardrails(guardrails);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("rbac"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        for (i, document) in yaml_documents(&file).into_iter().enumerate() {
            builder.add_document(&format!("{name}#{i}"), document);
        }
    }
    builder
        .build()
        .unwrap_or_else(|e| panic!("{} refused:\n{e}", dir.display()))
}

/// The user `kubectl --as` would make (service-account groups, system:authenticated).
fn user(name: &str, groups: &[String]) -> UserInfo {
    let mut all = groups.to_vec();
    if let Some(rest) = name.strip_prefix("system:serviceaccount:") {
        let namespace = rest.split(':').next().unwrap();
        all.push("system:serviceaccounts".into());
        all.push(format!("system:serviceaccounts:{namespace}"));
    }
    if name != "system:anonymous" {
        all.push("system:authenticated".into());
    }
    UserInfo {
        username: name.into(),
        groups: all,
        ..UserInfo::default()
    }
}

#[test]
fn the_mesh_policy_decides_as_its_table_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/mesh");
    let bundle = load_policy_dir(&dir);
    // The one warning: the operators' ClusterRole is cluster-admin, which includes escalate,
    // bind and impersonate (the guardrails warn about it; the policy means it).
    let warnings: Vec<String> = bundle.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "warning: escalation_verb: ClusterRole mesh-operator: rules[0] grants '*' on '*', \
          which includes escalate, bind and impersonate (cluster-admin)"
        ]
    );
    assert!(
        bundle.dangling_references().is_empty(),
        "{:?}",
        bundle.dangling_references()
    );
    let policy = bundle.compile();
    let table: Vec<Expectation> =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("expected.yaml")).unwrap())
            .unwrap();
    assert!(table.len() >= 20);
    let (mut allows, mut denies) = (0, 0);
    for row in &table {
        let attributes = match (&row.resource, &row.path) {
            (Some(resource), None) => {
                let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
                Attributes::resource(&row.verb, &row.namespace, "", resource)
                    .named(&row.name)
                    .on_subresource(sub)
            }
            (None, Some(path)) => Attributes::non_resource(&row.verb, path),
            _ => panic!("a row needs a resource or a path"),
        };
        let decision = policy
            .authorizer
            .authorize(&user(&row.user, &row.groups), &attributes);
        assert_eq!(
            decision.allowed(),
            row.allowed,
            "{} {:?}: {}",
            row.user,
            attributes,
            decision.reason()
        );
        if row.allowed {
            allows += 1
        } else {
            denies += 1
        }
    }
    assert!(allows >= 8 && denies >= 8);
}

/// One row of `policies/services/expected.yaml`: a request to a workload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceExpectation {
    user: String,
    namespace: String,
    service: String,
    method: String,
    path: String,
    #[serde(default)]
    grpc: bool,
    allowed: bool,
}

#[test]
fn the_per_service_policy_decides_as_its_table_says_under_its_configuration() {
    use meshguard::request_info::{Protocol, Workload};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/services");
    let bundle = load_policy_dir(&dir);
    assert!(bundle.warnings.is_empty(), "{:?}", bundle.warnings);
    let policy = bundle.compile();
    let config: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("config.yaml")).unwrap())
            .unwrap();
    let mapper = meshguard::config::PluginConfig::from_value(config)
        .unwrap()
        .request_mapper()
        .unwrap();
    let table: Vec<ServiceExpectation> =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("expected.yaml")).unwrap())
            .unwrap();
    assert!(table.len() >= 20);
    for row in &table {
        let workload = Workload {
            namespace: row.namespace.clone(),
            service: row.service.clone(),
        };
        let protocol = if row.grpc {
            Protocol::Grpc
        } else {
            Protocol::Http
        };
        let attributes = mapper
            .resolve(&row.method, &row.path, &workload, protocol)
            .unwrap()
            .into_attributes();
        let decision = policy
            .authorizer
            .authorize(&user(&row.user, &[]), &attributes);
        assert_eq!(
            decision.allowed(),
            row.allowed,
            "{} {} {} at {}/{}: {attributes:?}: {}",
            row.user,
            row.method,
            row.path,
            row.namespace,
            row.service,
            decision.reason()
        );
    }
}
