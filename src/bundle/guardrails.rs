//! Guardrails: the policy patterns platform teams ask for, checked when a bundle is loaded.
//! Each is `enforce` (the bundle is refused), `warn` (reported by `lint` and in the load
//! log) or `off`.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rbac::evaluation::ALL;
use crate::rbac::types::{PolicyRule, Subject};
use crate::rbac::RbacObjects;

/// What a guardrail does when broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    /// Refuse the bundle.
    Enforce,
    /// Report, load anyway.
    Warn,
    /// Do not check.
    #[default]
    Off,
}

/// The guardrail settings of a bundle (or of `meshguard lint --guardrails`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrails {
    /// No `*` in verbs, resources or apiGroups of Roles in, or roles bound by RoleBindings in,
    /// these namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_namespaces: Option<ProtectedNamespaces>,
    /// `create` and `delete` (and `deletecollection`, `*`) only for these subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_delete: Option<CreateDelete>,
    /// ClusterRoleBindings only with these names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_role_bindings: Option<ClusterRoleBindingAllowList>,
    /// `system:unauthenticated`, `system:anonymous` and `system:authenticated` never bound
    /// to write verbs. Default: `enforce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unauthenticated_writes: Option<Switch>,
    /// Flag the escalation verbs `bind`, `escalate`, `impersonate`. Default: `warn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_verbs: Option<Switch>,
}

/// `protectedNamespaces`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtectedNamespaces {
    /// The protected namespaces.
    pub namespaces: Vec<String>,
    /// Default `enforce`.
    #[serde(default = "enforce")]
    pub enforcement: Enforcement,
}

/// `createDelete`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDelete {
    /// The operator subjects (`kind`, `name`, and `namespace` for ServiceAccounts).
    pub operators: Vec<Subject>,
    /// Where the guardrail applies; empty means every namespace. ClusterRoleBindings apply
    /// everywhere, so they are always checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Default `enforce`.
    #[serde(default = "enforce")]
    pub enforcement: Enforcement,
}

/// `clusterRoleBindings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRoleBindingAllowList {
    /// Allowed names; a trailing `*` allows a prefix (`system:*`).
    pub allowed: Vec<String>,
    /// Default `enforce`.
    #[serde(default = "enforce")]
    pub enforcement: Enforcement,
}

/// A guardrail with no settings but its enforcement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Switch {
    /// Enforcement.
    pub enforcement: Enforcement,
}

fn enforce() -> Enforcement {
    Enforcement::Enforce
}

/// A broken guardrail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The guardrail's stable code: `protected_namespace_wildcard`, `create_delete_operator`,
    /// `cluster_role_binding_not_allowed`, `unauthenticated_write`, `escalation_verb`.
    pub guardrail: &'static str,
    /// Enforce or warn.
    pub enforcement: Enforcement,
    /// The object, as `Kind namespace/name`.
    pub object: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.enforcement {
            Enforcement::Enforce => "error",
            _ => "warning",
        };
        write!(
            f,
            "{level}: {}: {}: {}",
            self.guardrail, self.object, self.message
        )
    }
}

/// Verbs that change state (resource and non-resource), plus the escalation verbs.
const WRITE_VERBS: [&str; 11] = [
    ALL,
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "post",
    "put",
    "bind",
    "escalate",
    "impersonate",
];
const ESCALATION_VERBS: [&str; 3] = ["bind", "escalate", "impersonate"];
const CREATE_DELETE_VERBS: [&str; 4] = [ALL, "create", "delete", "deletecollection"];
const UNAUTHENTICATED: [(&str, &str); 3] = [
    ("Group", "system:unauthenticated"),
    ("User", "system:anonymous"),
    ("Group", "system:authenticated"),
];

fn object(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

/// A binding, flattened for the checks.
struct BindingView<'a> {
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    subjects: &'a [Subject],
    role: String,
    rules: &'a [PolicyRule],
}

fn bindings(objects: &RbacObjects) -> Vec<BindingView<'_>> {
    let empty: &[PolicyRule] = &[];
    let roles: HashMap<(&str, &str), &[PolicyRule]> = objects
        .roles
        .iter()
        .map(|r| {
            (
                (r.metadata.namespace.as_str(), r.metadata.name.as_str()),
                r.rules.as_slice(),
            )
        })
        .collect();
    let cluster_roles: HashMap<&str, &[PolicyRule]> = objects
        .cluster_roles
        .iter()
        .map(|r| (r.metadata.name.as_str(), r.rules.as_slice()))
        .collect();
    let role_rules = |kind: &str, namespace: &str, name: &str| -> &[PolicyRule] {
        if kind == "Role" {
            roles.get(&(namespace, name)).copied().unwrap_or(empty)
        } else {
            cluster_roles.get(name).copied().unwrap_or(empty)
        }
    };
    let mut views = Vec::new();
    for binding in &objects.cluster_role_bindings {
        views.push(BindingView {
            kind: "ClusterRoleBinding",
            namespace: "",
            name: &binding.metadata.name,
            subjects: &binding.subjects,
            role: format!("{} {}", binding.role_ref.kind, binding.role_ref.name),
            rules: role_rules(&binding.role_ref.kind, "", &binding.role_ref.name),
        });
    }
    for binding in &objects.role_bindings {
        let namespace = binding.metadata.namespace.as_str();
        views.push(BindingView {
            kind: "RoleBinding",
            namespace,
            name: &binding.metadata.name,
            subjects: &binding.subjects,
            role: format!("{} {}", binding.role_ref.kind, binding.role_ref.name),
            rules: role_rules(&binding.role_ref.kind, namespace, &binding.role_ref.name),
        });
    }
    views
}

fn subject_text(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let namespace = if subject.namespace.is_empty() {
            binding_namespace
        } else {
            &subject.namespace
        };
        format!("ServiceAccount {namespace}/{}", subject.name)
    } else {
        format!("{} {}", subject.kind, subject.name)
    }
}

/// The label the apiserver puts on the RBAC objects of its bootstrap policy.
const BOOTSTRAPPING_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

/// The objects of the apiserver's own bootstrap policy (every cluster has them, and the
/// apiserver reconciles them back if they are changed): guardrails warn about them instead of
/// refusing the bundle, so a dump of a real cluster's RBAC loads with the defaults.
fn bootstrap_objects(objects: &RbacObjects) -> std::collections::HashSet<String> {
    let is_bootstrap = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(BOOTSTRAPPING_LABEL.0).map(String::as_str) == Some(BOOTSTRAPPING_LABEL.1)
    };
    let mut names = std::collections::HashSet::new();
    for r in objects
        .roles
        .iter()
        .filter(|r| is_bootstrap(&r.metadata.labels))
    {
        names.insert(object("Role", &r.metadata.namespace, &r.metadata.name));
    }
    for r in objects
        .cluster_roles
        .iter()
        .filter(|r| is_bootstrap(&r.metadata.labels))
    {
        names.insert(object("ClusterRole", "", &r.metadata.name));
    }
    for b in objects
        .role_bindings
        .iter()
        .filter(|b| is_bootstrap(&b.metadata.labels))
    {
        names.insert(object(
            "RoleBinding",
            &b.metadata.namespace,
            &b.metadata.name,
        ));
    }
    for b in objects
        .cluster_role_bindings
        .iter()
        .filter(|b| is_bootstrap(&b.metadata.labels))
    {
        names.insert(object("ClusterRoleBinding", "", &b.metadata.name));
    }
    names
}

/// Resources whose `*` verb includes an escalation: `escalate` and `bind` on roles,
/// `impersonate` on identities.
const ESCALATION_RESOURCES: [&str; 9] = [
    "roles",
    "clusterroles",
    "users",
    "groups",
    "serviceaccounts",
    "uids",
    "userextras",
    "rolebindings",
    "clusterrolebindings",
];

/// Whether a rule's `*` verb reaches resources where it means escalate, bind or impersonate.
fn wildcard_escalation(rule: &PolicyRule) -> Option<String> {
    if !rule.verbs.iter().any(|v| v == ALL) || rule.resources.is_empty() {
        return None;
    }
    if rule
        .resources
        .iter()
        .any(|r| r == ALL || r.starts_with("*/"))
    {
        return Some(
            "grants '*' on '*', which includes escalate, bind and impersonate (cluster-admin)"
                .to_owned(),
        );
    }
    rule.resources
        .iter()
        .find(|r| {
            let base = r.split('/').next().unwrap_or_default();
            ESCALATION_RESOURCES.contains(&base)
        })
        .map(|r| format!("grants '*' on {r:?}, which includes escalate, bind or impersonate"))
}

fn has_wildcard(rule: &PolicyRule) -> bool {
    [&rule.verbs, &rule.resources, &rule.api_groups]
        .iter()
        .any(|list| list.iter().any(|v| v == ALL))
}

impl Guardrails {
    /// Checks the (aggregation-resolved) objects; returns every violation, enforced and
    /// warned, in a stable order.
    pub fn check(&self, objects: &RbacObjects) -> Vec<Violation> {
        let mut violations = Vec::new();
        let views = bindings(objects);

        if let Some(g) = &self.protected_namespaces {
            if g.enforcement != Enforcement::Off {
                let protected = |ns: &str| g.namespaces.iter().any(|p| p == ns);
                for role in objects
                    .roles
                    .iter()
                    .filter(|r| protected(&r.metadata.namespace))
                {
                    for (i, rule) in role.rules.iter().enumerate() {
                        if has_wildcard(rule) {
                            violations.push(Violation {
                                guardrail: "protected_namespace_wildcard",
                                enforcement: g.enforcement,
                                object: object("Role", &role.metadata.namespace, &role.metadata.name),
                                message: format!(
                                    "rules[{i}] uses '*' in verbs, resources or apiGroups in protected namespace {:?}",
                                    role.metadata.namespace
                                ),
                            });
                        }
                    }
                }
                for view in views
                    .iter()
                    .filter(|v| v.kind == "RoleBinding" && protected(v.namespace))
                {
                    if let Some(i) = view.rules.iter().position(has_wildcard) {
                        violations.push(Violation {
                            guardrail: "protected_namespace_wildcard",
                            enforcement: g.enforcement,
                            object: object(view.kind, view.namespace, view.name),
                            message: format!(
                                "binds {} whose rules[{i}] uses '*' in verbs, resources or apiGroups, in protected namespace {:?}",
                                view.role, view.namespace
                            ),
                        });
                    }
                }
            }
        }

        if let Some(g) = &self.create_delete {
            if g.enforcement != Enforcement::Off {
                let is_operator = |subject: &Subject, binding_ns: &str| {
                    g.operators.iter().any(|op| {
                        op.kind == subject.kind
                            && op.name == subject.name
                            && (subject.kind != "ServiceAccount"
                                || op.namespace
                                    == if subject.namespace.is_empty() {
                                        binding_ns
                                    } else {
                                        &subject.namespace
                                    })
                    })
                };
                for view in &views {
                    let in_scope = view.kind == "ClusterRoleBinding"
                        || g.namespaces.is_empty()
                        || g.namespaces.iter().any(|n| n == view.namespace);
                    let grants = view.rules.iter().find_map(|rule| {
                        if rule.resources.is_empty() {
                            return None;
                        }
                        rule.verbs
                            .iter()
                            .find(|v| CREATE_DELETE_VERBS.contains(&v.as_str()))
                    });
                    let (true, Some(verb)) = (in_scope, grants) else {
                        continue;
                    };
                    for subject in view.subjects {
                        if !is_operator(subject, view.namespace) {
                            violations.push(Violation {
                                guardrail: "create_delete_operator",
                                enforcement: g.enforcement,
                                object: object(view.kind, view.namespace, view.name),
                                message: format!(
                                    "grants {verb:?} (through {}) to {}, which is not an operator",
                                    view.role,
                                    subject_text(subject, view.namespace)
                                ),
                            });
                        }
                    }
                }
            }
        }

        if let Some(g) = &self.cluster_role_bindings {
            if g.enforcement != Enforcement::Off {
                for binding in &objects.cluster_role_bindings {
                    let name = &binding.metadata.name;
                    let allowed = g.allowed.iter().any(|a| {
                        a == name
                            || a.strip_suffix('*')
                                .is_some_and(|prefix| name.starts_with(prefix))
                    });
                    if !allowed {
                        violations.push(Violation {
                            guardrail: "cluster_role_binding_not_allowed",
                            enforcement: g.enforcement,
                            object: object("ClusterRoleBinding", "", name),
                            message: "is not in the ClusterRoleBinding allow-list".to_owned(),
                        });
                    }
                }
            }
        }

        let unauthenticated = self
            .unauthenticated_writes
            .as_ref()
            .map_or(Enforcement::Enforce, |s| s.enforcement);
        if unauthenticated != Enforcement::Off {
            for view in &views {
                let Some(verb) = view
                    .rules
                    .iter()
                    .flat_map(|r| r.verbs.iter())
                    .find(|v| WRITE_VERBS.contains(&v.as_str()))
                else {
                    continue;
                };
                for subject in view.subjects {
                    if UNAUTHENTICATED.contains(&(subject.kind.as_str(), subject.name.as_str())) {
                        violations.push(Violation {
                            guardrail: "unauthenticated_write",
                            enforcement: unauthenticated,
                            object: object(view.kind, view.namespace, view.name),
                            message: format!(
                                "grants the write verb {verb:?} (through {}) to {} {:?}",
                                view.role, subject.kind, subject.name
                            ),
                        });
                    }
                }
            }
        }

        let escalation = self
            .escalation_verbs
            .as_ref()
            .map_or(Enforcement::Warn, |s| s.enforcement);
        if escalation != Enforcement::Off {
            let roles = objects
                .roles
                .iter()
                .map(|r| {
                    (
                        object("Role", &r.metadata.namespace, &r.metadata.name),
                        &r.rules,
                    )
                })
                .chain(
                    objects
                        .cluster_roles
                        .iter()
                        .map(|r| (object("ClusterRole", "", &r.metadata.name), &r.rules)),
                );
            for (name, rules) in roles {
                for (i, rule) in rules.iter().enumerate() {
                    for verb in rule
                        .verbs
                        .iter()
                        .filter(|v| ESCALATION_VERBS.contains(&v.as_str()))
                    {
                        violations.push(Violation {
                            guardrail: "escalation_verb",
                            enforcement: escalation,
                            object: name.clone(),
                            message: format!("rules[{i}] grants the escalation verb {verb:?}"),
                        });
                    }
                    if let Some(message) = wildcard_escalation(rule) {
                        violations.push(Violation {
                            guardrail: "escalation_verb",
                            enforcement: escalation,
                            object: name.clone(),
                            message: format!("rules[{i}] {message}"),
                        });
                    }
                }
            }
        }
        let bootstrap = bootstrap_objects(objects);
        for violation in &mut violations {
            if violation.enforcement == Enforcement::Enforce
                && bootstrap.contains(&violation.object)
            {
                violation.enforcement = Enforcement::Warn;
                violation.message.push_str(
                    " (an object of the apiserver's bootstrap policy: warned, not refused)",
                );
            }
        }
        violations
    }
}
