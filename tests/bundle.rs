//! Policy bundles: every input shape, apiserver validation with object and field in every
//! error, aggregation, revisions, guardrails and revocation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::rbac::{request, service_account, user};
use meshguard::bundle::{Bundle, BundleBuilder, Guardrails};
use meshguard::token::RegisteredClaims;
use serde_json::{json, Value};

fn kubectl_fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kubectl-get-rbac.yaml"
    );
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn load(value: Value) -> Bundle {
    Bundle::from_value(value).unwrap_or_else(|e| panic!("bundle refused:\n{e}"))
}

fn refusal(value: Value) -> String {
    match Bundle::from_value(value) {
        Ok(_) => panic!("bundle accepted"),
        Err(e) => e.to_string(),
    }
}

fn rb(namespace: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    })
}

fn cr(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

#[test]
fn kubectl_list_output_loads_as_it_is_and_decides() {
    let bundle = load(kubectl_fixture());
    assert_eq!(bundle.rbac.roles.len(), 1);
    assert_eq!(bundle.rbac.cluster_roles.len(), 3);
    let policy = bundle.compile();
    let api = service_account("orders", "api");
    assert!(policy
        .authorizer
        .authorize(&api, &request("list", "orders", "", "configmaps", ""))
        .allowed());
    assert!(!policy
        .authorizer
        .authorize(&api, &request("list", "payments", "", "configmaps", ""))
        .allowed());
    // The aggregated ClusterRole was filled in from both labelled roles.
    let prometheus = service_account("monitoring", "prometheus");
    assert!(policy
        .authorizer
        .authorize(&prometheus, &request("watch", "any", "", "endpoints", ""))
        .allowed());
    let metrics = meshguard::rbac::Attributes::non_resource("get", "/metrics");
    assert!(policy.authorizer.authorize(&prometheus, &metrics).allowed());
}

#[test]
fn the_same_policy_has_the_same_revision_whatever_its_shape_or_order() {
    let list = kubectl_fixture();
    let mut items = list["items"].as_array().unwrap().clone();
    let from_list = load(list.clone()).revision;
    let from_array = load(Value::Array(items.clone())).revision;
    items.reverse();
    let reversed = load(Value::Array(items)).revision;
    assert_eq!(from_list, from_array);
    assert_eq!(from_list, reversed);
    assert!(from_list.starts_with("sha256:") && from_list.len() == 7 + 64);

    // The canonical form reloads to the same revision and the same objects.
    let bundle = load(list);
    let canonical: Value = serde_json::from_str(&bundle.to_canonical_json()).unwrap();
    assert_eq!(canonical["revision"], json!(bundle.revision));
    let reloaded = load(canonical.clone());
    assert_eq!(reloaded, bundle);

    // A change of content changes it; a stamped revision that no longer fits is refused.
    let mut edited = canonical;
    edited["roles"][0]["rules"][0]["verbs"] = json!(["get", "list", "watch"]);
    let message = refusal(edited);
    assert!(
        message.contains("PolicyBundle: revision: Invalid value"),
        "{message}"
    );
}

#[test]
fn each_stamped_document_is_checked_against_its_own_content() {
    // Two canonical bundles with their own revisions, and each edited after stamping.
    let sa = |ns: &str| json!([{"kind": "ServiceAccount", "name": "web", "namespace": ns}]);
    let canonical =
        |value: Value| -> Value { serde_json::from_str(&load(value).to_canonical_json()).unwrap() };
    let first = canonical(rb("orders", "a", "ClusterRole", "view", sa("frontend")));
    let second = canonical(rb("billing", "b", "ClusterRole", "view", sa("frontend")));
    let edit = |mut bundle: Value| {
        bundle["roleBindings"][0]["subjects"][0]["name"] = json!("api");
        bundle
    };
    let other = rb("shipping", "c", "ClusterRole", "view", sa("frontend"));

    // Both intact, alone or together (in either order), or with another object.
    load(first.clone());
    load(json!([first, second]));
    load(json!([second, first]));
    load(json!([first, other]));

    // The edited one is named, whether it is alone, first, last, or followed by an object.
    for (documents, source) in [
        (edit(first.clone()), "bundle: PolicyBundle: revision"),
        (
            json!([edit(first.clone()), second]),
            "bundle[0]: PolicyBundle: revision",
        ),
        (
            json!([first, edit(second.clone())]),
            "bundle[1]: PolicyBundle: revision",
        ),
        (
            json!([edit(first.clone()), other]),
            "bundle[0]: PolicyBundle: revision",
        ),
    ] {
        let message = refusal(documents);
        assert!(message.contains(source), "{message}");
        assert_eq!(
            message.matches("revision: Invalid value").count(),
            1,
            "{message}"
        );
    }
}

#[test]
fn an_object_list_that_is_not_a_list_is_refused_with_its_field() {
    let message = refusal(json!({
        "apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle",
        "roles": "orders-reader", "roleBindings": [],
    }));
    assert!(
        message.contains("PolicyBundle: roles: invalid type: string"),
        "{message}"
    );
}

#[test]
fn every_validation_error_names_the_object_and_the_field() {
    let binding = |patch: Value| {
        let mut b = rb(
            "orders",
            "b",
            "Role",
            "r",
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]),
        );
        merge(&mut b, patch);
        b
    };
    let role = |patch: Value| {
        let mut r = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "orders"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]});
        merge(&mut r, patch);
        r
    };
    let table: Vec<(Value, &str)> = vec![
        (role(json!({"metadata": {"name": ""}})), "Role (unnamed): metadata.name: Required value"),
        (role(json!({"metadata": {"name": "a/b"}})), "Role orders/a/b: metadata.name: Invalid value"),
        (role(json!({"metadata": {"namespace": ""}})), "Role r: metadata.namespace: Required value"),
        (role(json!({"metadata": {"namespace": "Not_A_Label"}})), "metadata.namespace: Invalid value \"Not_A_Label\""),
        (role(json!({"rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]})), "Role orders/r: rules[0].verbs: Required value"),
        (role(json!({"rules": [{"verbs": ["get"], "resources": ["pods"]}]})), "rules[0].apiGroups: Required value"),
        (role(json!({"rules": [{"verbs": ["get"], "apiGroups": [""]}]})), "rules[0].resources: Required value"),
        (role(json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]})), "rules[0].nonResourceURLs: Invalid value: namespaced rules cannot apply to non-resource URLs"),
        (cr("c", json!([{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}])), "ClusterRole c: rules[0].nonResourceURLs: Invalid value: rules cannot apply to both"),
        (role(json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceName": ["x"]}]})), "Role orders/r: rules[0].resourceName: unknown field `resourceName`"),
        (role(json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1"})), "Role orders/r: apiVersion: Unsupported value"),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c", "namespace": "x"}}), "ClusterRole x/c: metadata.namespace: Forbidden"),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}, "aggregationRule": {"clusterRoleSelectors": []}}), "aggregationRule.clusterRoleSelectors: Required value"),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}, "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]}}), "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values"),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}, "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}}), "matchExpressions[0].operator: unsupported value \"Near\""),
        (binding(json!({"roleRef": {"apiGroup": "rbac"}})), "RoleBinding orders/b: roleRef.apiGroup: Unsupported value \"rbac\""),
        (binding(json!({"roleRef": {"kind": "Group"}})), "roleRef.kind: Unsupported value \"Group\""),
        (binding(json!({"roleRef": {"name": ""}})), "roleRef.name: Required value"),
        (binding(json!({"subjects": [{"kind": "Robot", "name": "r2"}]})), "subjects[0].kind: Unsupported value \"Robot\""),
        (binding(json!({"subjects": [{"kind": "User", "name": "alice"}]})), "subjects[0].apiGroup: Unsupported value \"\""),
        (binding(json!({"subjects": [{"kind": "ServiceAccount", "name": "api", "apiGroup": "rbac.authorization.k8s.io"}]})), "subjects[0].apiGroup: Unsupported value"),
        (binding(json!({"subjects": [{"kind": "ServiceAccount", "name": "Bad_Name"}]})), "subjects[0].name: Invalid value \"Bad_Name\""),
        (binding(json!({"subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io"}]})), "subjects[0].name: Required value"),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "api"}]}), "ClusterRoleBinding crb: roleRef.kind: Unsupported value \"Role\""),
        (json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "api"}]}), "ClusterRoleBinding crb: subjects[0].namespace: Required value"),
        (json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}), "ConfigMap x: kind: Unsupported value \"ConfigMap\""),
        (json!([role(json!({})), role(json!({}))]), "Role orders/r: metadata.name: Duplicate value"),
        (json!({"apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle", "roles": [], "extra": 1}), "PolicyBundle: extra: unknown field `extra`"),
        (json!({"apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle", "roleBindings": [role(json!({}))]}), "roleBindings[0]: RoleBinding orders/r: kind: Invalid value \"Role\""),
        (json!(42), "expected an RBAC object, a List or a PolicyBundle"),
    ];
    for (document, expected) in table {
        let message = refusal(document.clone());
        assert!(
            message.contains(expected),
            "expected {expected:?} in:\n{message}\nfor {document}"
        );
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let message = refusal(json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "a", "namespace": "x"}, "rules": [{"verbs": []}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "b"}},
    ]));
    assert!(message.lines().count() >= 4, "{message}");
    assert!(message.contains("bundle[0]: Role x/a: rules[0].verbs"));
    assert!(message.contains("bundle[1]: Role b: metadata.namespace"));
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

#[test]
fn aggregation_follows_match_expressions_and_chains() {
    let bundle = load(json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "top"},
         "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["mid"]}]}]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "mid", "labels": {"tier": "mid"}},
         "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "tier", "operator": "NotIn", "values": ["mid", "top"]}]}]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "leaf-a", "labels": {"tier": "leaf"}},
         "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "leaf-b", "labels": {"tier": "leaf"}},
         "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "unlabelled"},
         "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]},
    ]));
    let rules = |name: &str| {
        bundle
            .rbac
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name == name)
            .unwrap()
            .rules
            .clone()
    };
    assert_eq!(rules("mid").len(), 2, "duplicates dropped");
    assert_eq!(
        rules("top"),
        rules("mid"),
        "chains settle on the transitive rules"
    );
}

fn claims(jti: Option<&str>, iat: Option<u64>) -> RegisteredClaims {
    RegisteredClaims {
        jti: jti.map(str::to_owned),
        iat,
        ..RegisteredClaims::default()
    }
}

#[test]
fn revocations_refuse_tokens_by_id_by_subject_and_by_issue_time() {
    let bundle = load(json!({
        "apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle",
        "revocations": {
            "tokenIds": ["leaked-1"],
            "subjects": ["system:serviceaccount:orders:old"],
            "issuedBefore": [{"subject": "alice", "time": 1_700_000_000u64}],
        },
    }));
    let list = bundle.compile().revocations;
    let alice = user("alice", "-");
    let bob = user("bob", "-");
    let table = [
        (
            &bob,
            claims(Some("leaked-1"), Some(1)),
            Err("token id \"leaked-1\" is revoked"),
        ),
        (&bob, claims(Some("fine"), Some(1)), Ok(())),
        (
            &alice,
            claims(None, Some(1_699_999_999)),
            Err("issued before 1700000000"),
        ),
        (&alice, claims(None, None), Err("issued before 1700000000")),
        (&alice, claims(None, Some(1_700_000_000)), Ok(())),
    ];
    for (who, c, expected) in table {
        let got = list.check(who, &c).map_err(|e| e.to_string());
        match expected {
            Ok(()) => assert!(got.is_ok(), "{got:?}"),
            Err(text) => assert!(got.as_ref().unwrap_err().contains(text), "{got:?}"),
        }
    }
    let old = service_account("orders", "old");
    let error = list.check(&old, &claims(None, Some(1))).unwrap_err();
    assert_eq!(error.code(), "token_revoked");
}

fn guarded(guardrails: Value, objects: Value) -> Result<Bundle, String> {
    let mut builder = BundleBuilder::new()
        .with_guardrails(serde_json::from_value::<Guardrails>(guardrails).unwrap());
    builder.add_document("test", objects);
    builder.build().map_err(|e| e.to_string())
}

#[test]
fn guardrails_refuse_or_warn_as_configured() {
    let admin = cr(
        "admin-all",
        json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
    );
    let writer = cr(
        "writer",
        json!([{"verbs": ["create", "get"], "apiGroups": [""], "resources": ["orders"]}]),
    );
    let escalator = cr(
        "binder",
        json!([{"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"]}]),
    );
    let user_subject = |name: &str| json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}]);
    let group_subject = |name: &str| json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}]);
    let crb = |name: &str, role: &str, subjects: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects});

    // protected namespaces
    let objects = json!([
        admin.clone(),
        rb(
            "prod",
            "ops",
            "ClusterRole",
            "admin-all",
            user_subject("alice")
        ),
        rb(
            "dev",
            "ops",
            "ClusterRole",
            "admin-all",
            user_subject("alice")
        )
    ]);
    let e = guarded(
        json!({"protectedNamespaces": {"namespaces": ["prod"]}}),
        objects.clone(),
    )
    .unwrap_err();
    assert!(
        e.contains("protected_namespace_wildcard")
            && e.contains("RoleBinding prod/ops")
            && !e.contains("dev/ops"),
        "{e}"
    );
    let warned = guarded(
        json!({"protectedNamespaces": {"namespaces": ["prod"], "enforcement": "warn"}}),
        objects.clone(),
    )
    .unwrap();
    let texts: Vec<String> = warned.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts
            .iter()
            .filter(|w| w.contains("protected_namespace_wildcard"))
            .count(),
        1,
        "{texts:?}"
    );
    // '*' on '*' is cluster-admin: it includes escalate, bind and impersonate.
    assert!(
        texts.iter().any(|w| w.contains("escalation_verb")
            && w.contains("ClusterRole admin-all")
            && w.contains("includes escalate, bind and impersonate")),
        "{texts:?}"
    );
    assert!(guarded(
        json!({"protectedNamespaces": {"namespaces": ["prod"], "enforcement": "off"}}),
        objects
    )
    .is_ok());

    // create/delete only for operators
    let objects = json!([
        writer.clone(),
        rb("shop", "w", "ClusterRole", "writer", user_subject("alice")),
        rb(
            "shop",
            "g",
            "ClusterRole",
            "writer",
            group_subject("operators")
        )
    ]);
    let e = guarded(
        json!({"createDelete": {"operators": [{"kind": "Group", "name": "operators"}]}}),
        objects.clone(),
    )
    .unwrap_err();
    assert!(
        e.contains("create_delete_operator")
            && e.contains("User alice")
            && !e.contains("Group operators"),
        "{e}"
    );
    assert!(guarded(json!({"createDelete": {"operators": [{"kind": "Group", "name": "operators"}], "namespaces": ["prod"]}}), objects).is_ok());

    // ClusterRoleBinding allow-list
    let objects = json!([
        writer.clone(),
        crb("system:basic", "writer", group_subject("operators")),
        crb("rogue", "writer", user_subject("bob"))
    ]);
    let e = guarded(
        json!({"clusterRoleBindings": {"allowed": ["system:*"]}}),
        objects,
    )
    .unwrap_err();
    assert!(
        e.contains("cluster_role_binding_not_allowed")
            && e.contains("ClusterRoleBinding rogue")
            && !e.contains("system:basic"),
        "{e}"
    );

    // unauthenticated writes: enforced by default
    let objects = json!([
        writer.clone(),
        crb("open", "writer", group_subject("system:unauthenticated"))
    ]);
    let e = guarded(json!({}), objects.clone()).unwrap_err();
    assert!(
        e.contains("unauthenticated_write") && e.contains("\"create\""),
        "{e}"
    );
    assert!(guarded(
        json!({"unauthenticatedWrites": {"enforcement": "off"}}),
        objects
    )
    .is_ok());
    let reader = cr(
        "reader",
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["orders"]}]),
    );
    assert!(guarded(
        json!({}),
        json!([
            reader,
            crb("open", "reader", group_subject("system:authenticated"))
        ])
    )
    .is_ok());

    // escalation verbs: a warning by default
    let bundle = guarded(json!({}), json!([escalator.clone()])).unwrap();
    assert_eq!(bundle.warnings.len(), 1);
    assert_eq!(bundle.warnings[0].guardrail, "escalation_verb");
    assert!(guarded(
        json!({"escalationVerbs": {"enforcement": "enforce"}}),
        json!([escalator])
    )
    .is_err());
}

#[test]
fn guardrails_written_in_the_bundle_apply_when_it_loads() {
    let message = refusal(json!({
        "apiVersion": "meshguard.io/v1alpha1", "kind": "PolicyBundle",
        "clusterRoleBindings": [{"metadata": {"name": "x"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "a"}]}],
        "guardrails": {"clusterRoleBindings": {"allowed": []}},
    }));
    assert!(
        message.contains("guardrail: ClusterRoleBinding x: cluster_role_binding_not_allowed"),
        "{message}"
    );
}
