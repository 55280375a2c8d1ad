//! Tiny builders for RBAC truth tables, in the style of the apiserver's own tests:
//! `rule("get,list", "", "pods")`, `subject("ServiceAccount:orders:api")`.

use meshguard::identity::UserInfo;
use meshguard::rbac::types::RBAC_GROUP;
use meshguard::rbac::{
    Attributes, ClusterRole, ObjectMeta, PolicyRule, RbacObjects, Role, RoleBinding, RoleRef,
    Subject,
};
use serde_json::{json, Value};

fn list(text: &str) -> Vec<String> {
    if text == "-" {
        return Vec::new();
    }
    text.split(',').map(str::to_owned).collect()
}

/// A resource rule: comma-separated verbs, groups, resources (`-` for an empty list).
pub fn rule(verbs: &str, groups: &str, resources: &str) -> PolicyRule {
    PolicyRule {
        verbs: list(verbs),
        api_groups: list(groups),
        resources: list(resources),
        ..PolicyRule::default()
    }
}

/// A resource rule limited to names.
pub fn named_rule(verbs: &str, groups: &str, resources: &str, names: &str) -> PolicyRule {
    PolicyRule {
        resource_names: list(names),
        ..rule(verbs, groups, resources)
    }
}

/// A non-resource rule.
pub fn url_rule(verbs: &str, urls: &str) -> PolicyRule {
    PolicyRule {
        verbs: list(verbs),
        non_resource_urls: list(urls),
        ..PolicyRule::default()
    }
}

/// `User:alice`, `Group:ops`, `ServiceAccount:NS:NAME` (NS may be empty).
pub fn subject(text: &str) -> Subject {
    let mut parts = text.splitn(3, ':');
    let kind = parts.next().unwrap_or_default().to_owned();
    if kind == "ServiceAccount" {
        let namespace = parts.next().unwrap_or_default().to_owned();
        let name = parts.next().unwrap_or_default().to_owned();
        Subject {
            kind,
            api_group: String::new(),
            name,
            namespace,
        }
    } else {
        let name: Vec<&str> = parts.collect();
        Subject {
            kind,
            api_group: RBAC_GROUP.to_owned(),
            name: name.join(":"),
            namespace: String::new(),
        }
    }
}

pub fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: ObjectMeta::named(namespace, name),
        rules,
        ..Role::default()
    }
}

pub fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta::named("", name),
        rules,
        ..ClusterRole::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

/// A RoleBinding; `role` is `Role:NAME` or `ClusterRole:NAME`.
pub fn role_binding(namespace: &str, name: &str, role: &str, subjects: &[&str]) -> RoleBinding {
    let (kind, role_name) = role.split_once(':').unwrap_or(("ClusterRole", role));
    RoleBinding {
        metadata: ObjectMeta::named(namespace, name),
        subjects: subjects.iter().map(|s| subject(s)).collect(),
        role_ref: role_ref(kind, role_name),
        ..RoleBinding::default()
    }
}

/// A ClusterRoleBinding of a ClusterRole.
pub fn cluster_role_binding(name: &str, role: &str, subjects: &[&str]) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta::named("", name),
        subjects: subjects.iter().map(|s| subject(s)).collect(),
        role_ref: role_ref("ClusterRole", role),
        ..RoleBinding::default()
    }
}

/// A user with groups (comma-separated, `-` for none).
pub fn user(name: &str, groups: &str) -> UserInfo {
    UserInfo {
        username: name.to_owned(),
        groups: list(groups),
        ..UserInfo::default()
    }
}

/// A service-account user with the groups the apiserver gives it.
pub fn service_account(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        username: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_owned(),
        ],
        ..UserInfo::default()
    }
}

/// `verb resource[/subresource][.group] [name] [in NS]`-style attributes, e.g.
/// `request("get", "orders", "", "pods", "web-1")`.
pub fn request(verb: &str, namespace: &str, group: &str, resource: &str, name: &str) -> Attributes {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes::resource(verb, namespace, group, resource)
        .named(name)
        .on_subresource(subresource)
}

pub fn objects(
    roles: Vec<Role>,
    cluster_roles: Vec<ClusterRole>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<RoleBinding>,
) -> RbacObjects {
    RbacObjects {
        roles,
        cluster_roles,
        role_bindings,
        cluster_role_bindings,
    }
}

/// A mesh-shaped bundle: `bindings` RoleBindings spread over 100 namespaces, each granting one
/// of a few roles to one service account, plus two ClusterRoleBindings.
pub fn mesh_bundle(bindings: usize) -> Value {
    let mut items = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
               "rules": [{"apiGroups": [""], "resources": ["orders", "orders/items"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "writer"},
               "rules": [{"apiGroups": [""], "resources": ["charges"], "verbs": ["create"]},
                         {"apiGroups": [""], "resources": ["refunds"], "verbs": ["create"], "resourceNames": ["main"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "health"},
               "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "health"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "health"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "writer"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "operators"}]}),
    ];
    for i in 0..bindings.saturating_sub(2) {
        let role = if i % 2 == 0 { "reader" } else { "writer" };
        items.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("b{i}"), "namespace": format!("ns{}", i % 100)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": format!("sa{i}"), "namespace": format!("client{}", i % 50)}],
        }));
    }
    Value::Array(items)
}
