//! The Kubernetes bootstrap policy (every cluster's ClusterRoles and ClusterRoleBindings, as
//! `kubectl get clusterroles,clusterrolebindings -o yaml` dumps them; origin in
//! `tests/fixtures/bootstrap-policy/generate.py`) loads with the default guardrails, and
//! `can-i` / `who-can` on it answer as the apiserver does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/bootstrap-policy")
        .join(name)
        .display()
        .to_string()
}

fn meshguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshguard"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_fixture_is_what_its_generator_writes() {
    let output = Command::new("python3")
        .arg(fixture("generate.py"))
        .output()
        .expect("python3 runs the generator");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        std::fs::read_to_string(fixture("bootstrap-policy.yaml")).unwrap(),
        "stale: run python3 tests/fixtures/bootstrap-policy/generate.py > \
         tests/fixtures/bootstrap-policy/bootstrap-policy.yaml"
    );
}

#[test]
fn the_bootstrap_policy_loads_with_the_default_guardrails_and_warns() {
    let output = meshguard(&["lint", "--bundle", &fixture("bootstrap-policy.yaml")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok: 0 roles, 31 clusterroles, 0 rolebindings, 10 clusterrolebindings"));
    // system:basic-user grants create (selfsubjectaccessreviews) to system:authenticated:
    // refused by default anywhere else, warned here as the apiserver's own object.
    assert!(
        stdout.contains("unauthenticated_write: ClusterRoleBinding system:basic-user")
            && stdout.contains("bootstrap policy: warned, not refused"),
        "{stdout}"
    );
    // cluster-admin's '*' on '*' is flagged as the escalation it is.
    assert!(
        stdout.contains(
            "escalation_verb: ClusterRole cluster-admin: rules[0] grants '*' on '*', which \
             includes escalate, bind and impersonate"
        ),
        "{stdout}"
    );
    // The same binding outside the bootstrap policy is still refused.
    let dir = std::env::temp_dir().join(format!("meshguard-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let own = dir.join("own.yaml");
    std::fs::write(
        &own,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: mine}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:basic-user}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:authenticated}]\n",
    )
    .unwrap();
    let output = meshguard(&[
        "lint",
        "--bundle",
        &fixture("bootstrap-policy.yaml"),
        own.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    // --guardrails relaxes it, in can-i too.
    let relaxed = dir.join("relaxed.yaml");
    std::fs::write(&relaxed, "unauthenticatedWrites: {enforcement: warn}\n").unwrap();
    let output = meshguard(&[
        "can-i",
        "create",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "--as",
        "alice",
        "--guardrails",
        relaxed.to_str().unwrap(),
        "--bundle",
        &fixture("bootstrap-policy.yaml"),
        own.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "yes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One question: (words, as, groups, namespace or `-A`, the apiserver's answer).
type Question = (
    &'static [&'static str],
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    &'static str,
);

/// `meshguard can-i` on the bootstrap policy and the dev team's bindings; every answer is the
/// apiserver's for the same user and request.
#[test]
fn can_i_answers_as_the_apiserver_on_the_bootstrap_policy() {
    let bundle = [
        fixture("bootstrap-policy.yaml"),
        fixture("team-bindings.yaml"),
    ];
    let table: &[Question] = &[
        // Every authenticated user: self reviews, discovery, public info.
        (
            &["create", "selfsubjectaccessreviews.authorization.k8s.io"],
            "alice",
            &[],
            None,
            "yes",
        ),
        (
            &["create", "selfsubjectreviews.authentication.k8s.io"],
            "alice",
            &[],
            None,
            "yes",
        ),
        (&["get", "/api"], "alice", &[], None, "yes"),
        (&["get", "/apis/apps/v1"], "alice", &[], None, "yes"),
        (&["get", "/version"], "alice", &[], None, "yes"),
        (&["get", "/metrics"], "alice", &[], None, "no"),
        (&["list", "pods"], "alice", &[], Some("default"), "no"),
        // Anonymous: public info only (discovery needs authentication since 1.14).
        (&["get", "/healthz"], "system:anonymous", &[], None, "yes"),
        (&["get", "/api"], "system:anonymous", &[], None, "no"),
        (
            &["create", "selfsubjectaccessreviews.authorization.k8s.io"],
            "system:anonymous",
            &[],
            None,
            "no",
        ),
        // system:masters is cluster-admin.
        (
            &["delete", "nodes", "n1"],
            "root",
            &["system:masters"],
            None,
            "yes",
        ),
        (&["get", "/logs"], "root", &["system:masters"], None, "yes"),
        // Control-plane components.
        (
            &["create", "pods", "--subresource", "binding"],
            "system:kube-scheduler",
            &[],
            Some("default"),
            "yes",
        ),
        (
            &["delete", "pods"],
            "system:kube-scheduler",
            &[],
            Some("default"),
            "yes",
        ),
        (
            &["create", "pods"],
            "system:kube-scheduler",
            &[],
            Some("default"),
            "no",
        ),
        (
            &["update", "leases.coordination.k8s.io", "kube-scheduler"],
            "system:kube-scheduler",
            &[],
            Some("kube-system"),
            "yes",
        ),
        (
            &[
                "update",
                "leases.coordination.k8s.io",
                "kube-controller-manager",
            ],
            "system:kube-scheduler",
            &[],
            Some("kube-system"),
            "no",
        ),
        (
            &["list", "secrets"],
            "system:kube-controller-manager",
            &[],
            Some("prod"),
            "yes",
        ),
        (
            &["list", "deployments.apps"],
            "system:kube-controller-manager",
            &[],
            Some("prod"),
            "yes",
        ),
        (
            &["create", "pods"],
            "system:kube-controller-manager",
            &[],
            Some("prod"),
            "no",
        ),
        (
            &["list", "endpointslices.discovery.k8s.io"],
            "system:kube-proxy",
            &[],
            Some("default"),
            "yes",
        ),
        (
            &["create", "services"],
            "system:kube-proxy",
            &[],
            Some("default"),
            "no",
        ),
        (
            &["list", "services"],
            "system:serviceaccount:kube-system:kube-dns",
            &[],
            Some("default"),
            "yes",
        ),
        (
            &["get", "services"],
            "system:serviceaccount:kube-system:kube-dns",
            &[],
            Some("default"),
            "no",
        ),
        // system:node has no subjects (the Node authorizer grants nodes their access).
        (
            &["get", "pods"],
            "system:node:n1",
            &["system:nodes"],
            Some("default"),
            "no",
        ),
        // The aggregated roles, granted in dev.
        (&["get", "pods"], "dana", &[], Some("dev"), "yes"),
        (
            &["get", "pods", "--subresource", "log"],
            "dana",
            &[],
            Some("dev"),
            "yes",
        ),
        (&["get", "secrets"], "dana", &[], Some("dev"), "no"),
        (&["get", "pods"], "dana", &[], Some("prod"), "no"),
        (
            &["get", "namespaces", "dev"],
            "dana",
            &[],
            Some("dev"),
            "yes",
        ),
        (&["list", "namespaces"], "dana", &[], None, "no"),
        (&["get", "secrets"], "erin", &[], Some("dev"), "yes"),
        (
            &["create", "deployments.apps"],
            "erin",
            &[],
            Some("dev"),
            "yes",
        ),
        (
            &["impersonate", "serviceaccounts"],
            "erin",
            &[],
            Some("dev"),
            "yes",
        ),
        (
            &["create", "rolebindings.rbac.authorization.k8s.io"],
            "erin",
            &[],
            Some("dev"),
            "no",
        ),
        (
            &["create", "rolebindings.rbac.authorization.k8s.io"],
            "adam",
            &[],
            Some("dev"),
            "yes",
        ),
        (
            &["create", "localsubjectaccessreviews.authorization.k8s.io"],
            "adam",
            &[],
            Some("dev"),
            "yes",
        ),
    ];
    for (words, user, groups, namespace, answer) in table {
        let mut args: Vec<&str> = vec!["can-i"];
        args.extend(words.iter());
        args.extend(["--as", user]);
        for group in groups.iter() {
            args.extend(["--as-group", group]);
        }
        match namespace {
            Some(namespace) => args.extend(["-n", namespace]),
            None => args.push("-A"),
        }
        args.push("--bundle");
        args.extend(bundle.iter().map(String::as_str));
        let output = meshguard(&args);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            *answer,
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn who_can_names_the_bootstrap_bindings() {
    let output = meshguard(&[
        "who-can",
        "create",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "--bundle",
        &fixture("bootstrap-policy.yaml"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows[0].contains("system:masters") && rows[0].contains("cluster-admin"));
    assert!(
        rows[1].contains("system:authenticated") && rows[1].contains("system:basic-user"),
        "{stdout}"
    );
    let output = meshguard(&[
        "who-can",
        "get",
        "/healthz",
        "--bundle",
        &fixture("bootstrap-policy.yaml"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for who in [
        "system:masters",
        "system:authenticated",
        "system:unauthenticated",
    ] {
        assert!(stdout.contains(who), "{who}: {stdout}");
    }
}
