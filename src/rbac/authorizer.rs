//! The compiled RBAC authorizer: the bundle's bindings indexed by subject, so that a decision
//! looks only at the bindings that name the user, one of the user's groups or (for service
//! accounts) the account — its cost does not grow with the number of unrelated bindings.
//!
//! Semantics are the kube-apiserver's `RBACAuthorizer` over `VisitRulesFor`: every
//! ClusterRoleBinding, then the RoleBindings of the request's namespace; the first rule that
//! allows wins and names its source; a binding whose role does not exist grants nothing; no
//! matching rule is a deny. Bindings are visited in bundle order, so the source reported is the
//! one a straight walk over the bundle would report.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::attributes::Attributes;
use super::evaluation::rule_allows;
use super::types::{PolicyRule, Subject};
use super::RbacObjects;
use crate::identity::UserInfo;

/// The prefix of service-account usernames.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";

/// Which kind of binding granted access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// A ClusterRoleBinding (applies in every namespace).
    ClusterRoleBinding,
    /// A RoleBinding (applies in its own namespace).
    RoleBinding,
}

impl BindingKind {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingKind::ClusterRoleBinding => "ClusterRoleBinding",
            BindingKind::RoleBinding => "RoleBinding",
        }
    }
}

/// The rule that allowed a request, and how it reached the user. Its names are shared with
/// the compiled binding: an allow allocates none of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowSource {
    /// ClusterRoleBinding or RoleBinding.
    pub binding_kind: BindingKind,
    /// The binding's name.
    pub binding_name: Arc<str>,
    /// The binding's namespace (empty for a ClusterRoleBinding).
    pub binding_namespace: Arc<str>,
    /// `Role` or `ClusterRole`.
    pub role_kind: Arc<str>,
    /// The role's name.
    pub role_name: Arc<str>,
    /// The first subject of the binding that names the user.
    pub subject: Arc<Subject>,
    /// The index of the allowing rule in the role's `rules`.
    pub rule_index: usize,
}

impl fmt::Display for AllowSource {
    /// The apiserver's wording: `RoleBinding "view/orders" of ClusterRole "view" to
    /// ServiceAccount "api/orders"` (name before namespace, as the apiserver writes them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let binding = match self.binding_kind {
            BindingKind::ClusterRoleBinding => self.binding_name.to_string(),
            BindingKind::RoleBinding => {
                format!("{}/{}", self.binding_name, self.binding_namespace)
            }
        };
        write!(
            f,
            "{} {binding:?} of {} {:?} to {}",
            self.binding_kind.as_str(),
            self.role_kind,
            self.role_name,
            describe_subject(&self.subject, &self.binding_namespace)
        )
    }
}

/// `User "alice"`, `Group "ops"`, `ServiceAccount "api/orders"`.
pub fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let namespace = subject_namespace(subject, binding_namespace);
        format!(
            "{} {:?}",
            subject.kind,
            format!("{}/{namespace}", subject.name)
        )
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    }
}

/// An RBAC decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, by this rule.
    Allow(AllowSource),
    /// No rule allows the request.
    Deny {
        /// Bindings that name the user but whose role does not exist (`kind/ns/name` of the
        /// binding and the missing role), for `--explain`. Never sent to callers.
        missing_roles: Vec<String>,
    },
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The apiserver-style reason: `RBAC: allowed by …`, or a deny that names nothing.
    pub fn reason(&self) -> String {
        match self {
            Decision::Allow(source) => format!("RBAC: allowed by {source}"),
            Decision::Deny { .. } => "RBAC: no rule matched".to_owned(),
        }
    }
}

/// Whether a binding subject names the user (`appliesToUser`). `namespace` is the binding's
/// namespace, or empty for a ClusterRoleBinding, where a ServiceAccount subject must carry its
/// own namespace.
pub fn applies_to_user(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.username == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => is_service_account(&user.username, subject, namespace),
        _ => false,
    }
}

/// The namespace a ServiceAccount subject lives in: its own, or else the binding's (empty for
/// a ClusterRoleBinding subject without one).
fn subject_namespace<'a>(subject: &'a Subject, binding_namespace: &'a str) -> &'a str {
    if subject.namespace.is_empty() {
        binding_namespace
    } else {
        &subject.namespace
    }
}

/// Whether `username` is the one a ServiceAccount subject stands for (compared in place: this
/// runs for every candidate binding of every request).
fn is_service_account(username: &str, subject: &Subject, binding_namespace: &str) -> bool {
    let namespace = subject_namespace(subject, binding_namespace);
    !namespace.is_empty()
        && username
            .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
            .and_then(|rest| rest.strip_prefix(namespace))
            .and_then(|rest| rest.strip_prefix(':'))
            == Some(subject.name.as_str())
}

/// The username a ServiceAccount subject stands for, if it has a namespace (its own, or the
/// binding's).
fn service_account_username(subject: &Subject, binding_namespace: &str) -> Option<String> {
    let namespace = subject_namespace(subject, binding_namespace);
    (!namespace.is_empty())
        .then(|| format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{}", subject.name))
}

/// A binding, ready to evaluate; its names are shared with the [`AllowSource`]s it gives.
#[derive(Clone, Debug)]
struct CompiledBinding {
    kind: BindingKind,
    namespace: Arc<str>,
    name: Arc<str>,
    role_kind: Arc<str>,
    role_name: Arc<str>,
    subjects: Vec<Arc<Subject>>,
    /// Index into `Authorizer::roles`; `None` when the role does not exist.
    role: Option<usize>,
}

/// Binding ordinals by the user and group names their subjects stand for.
#[derive(Clone, Debug, Default)]
struct SubjectIndex {
    users: HashMap<String, Vec<u32>>,
    groups: HashMap<String, Vec<u32>>,
}

impl SubjectIndex {
    fn add(&mut self, ordinal: u32, subjects: &[Subject], namespace: &str) {
        for subject in subjects {
            let (map, key) = match subject.kind.as_str() {
                "User" => (&mut self.users, subject.name.clone()),
                "Group" => (&mut self.groups, subject.name.clone()),
                "ServiceAccount" => match service_account_username(subject, namespace) {
                    Some(username) => (&mut self.users, username),
                    None => continue,
                },
                _ => continue,
            };
            let ordinals = map.entry(key).or_default();
            if ordinals.last() != Some(&ordinal) {
                ordinals.push(ordinal);
            }
        }
    }

    fn candidates(&self, user: &UserInfo, into: &mut Vec<u32>) {
        if let Some(ordinals) = self.users.get(&user.username) {
            into.extend_from_slice(ordinals);
        }
        for group in &user.groups {
            if let Some(ordinals) = self.groups.get(group) {
                into.extend_from_slice(ordinals);
            }
        }
    }
}

/// One rule that applies to a user, with the binding it comes through (for `can-i --list`).
#[derive(Clone, Debug)]
pub struct AppliedRule<'a> {
    /// How the rule reaches the user (`rule_index` names the rule).
    pub source: AllowSource,
    /// The rule.
    pub rule: &'a PolicyRule,
}

/// The compiled authorizer.
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    /// The rules of every Role and ClusterRole (aggregation already resolved).
    roles: Vec<(String, Vec<PolicyRule>)>,
    /// ClusterRoleBindings first, then RoleBindings, each in bundle order: the ordinal is the
    /// visiting order.
    bindings: Vec<CompiledBinding>,
    cluster: SubjectIndex,
    namespaced: HashMap<String, SubjectIndex>,
}

impl Authorizer {
    /// Compiles the objects. References to roles that do not exist stay in the index and
    /// grant nothing, as in the apiserver.
    pub fn new(objects: &RbacObjects) -> Self {
        let mut roles = Vec::new();
        let mut role_index: HashMap<(&str, &str, &str), usize> = HashMap::new();
        for role in &objects.roles {
            role_index.insert(
                ("Role", &role.metadata.namespace, &role.metadata.name),
                roles.len(),
            );
            roles.push((
                format!("Role {}/{}", role.metadata.namespace, role.metadata.name),
                role.rules.clone(),
            ));
        }
        for role in &objects.cluster_roles {
            role_index.insert(("ClusterRole", "", &role.metadata.name), roles.len());
            roles.push((
                format!("ClusterRole {}", role.metadata.name),
                role.rules.clone(),
            ));
        }
        let mut authorizer = Authorizer {
            roles,
            ..Authorizer::default()
        };
        let scoped = objects
            .cluster_role_bindings
            .iter()
            .map(|b| (BindingKind::ClusterRoleBinding, b))
            .chain(
                objects
                    .role_bindings
                    .iter()
                    .map(|b| (BindingKind::RoleBinding, b)),
            );
        for (kind, binding) in scoped {
            let Ok(ordinal) = u32::try_from(authorizer.bindings.len()) else {
                break;
            };
            let namespace = match kind {
                BindingKind::ClusterRoleBinding => "",
                BindingKind::RoleBinding => binding.metadata.namespace.as_str(),
            };
            let role_namespace = if binding.role_ref.kind == "Role" {
                namespace
            } else {
                ""
            };
            let role = role_index
                .get(&(
                    binding.role_ref.kind.as_str(),
                    role_namespace,
                    binding.role_ref.name.as_str(),
                ))
                .copied();
            let index = match kind {
                BindingKind::ClusterRoleBinding => &mut authorizer.cluster,
                BindingKind::RoleBinding => authorizer
                    .namespaced
                    .entry(namespace.to_owned())
                    .or_default(),
            };
            index.add(ordinal, &binding.subjects, namespace);
            authorizer.bindings.push(CompiledBinding {
                kind,
                namespace: Arc::from(namespace),
                name: Arc::from(binding.metadata.name.as_str()),
                role_kind: Arc::from(binding.role_ref.kind.as_str()),
                role_name: Arc::from(binding.role_ref.name.as_str()),
                subjects: binding.subjects.iter().cloned().map(Arc::new).collect(),
                role,
            });
        }
        authorizer
    }

    /// How many bindings the authorizer holds.
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// Decides one request.
    pub fn authorize(&self, user: &UserInfo, attributes: &Attributes) -> Decision {
        let mut candidates = Vec::new();
        self.cluster.candidates(user, &mut candidates);
        if !attributes.namespace.is_empty() {
            if let Some(index) = self.namespaced.get(&attributes.namespace) {
                index.candidates(user, &mut candidates);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut missing_roles = Vec::new();
        for ordinal in candidates {
            let Some(binding) = self.bindings.get(ordinal as usize) else {
                continue;
            };
            let Some(subject) = binding
                .subjects
                .iter()
                .find(|s| applies_to_user(user, s, &binding.namespace))
            else {
                continue;
            };
            let Some((_, rules)) = binding.role.and_then(|i| self.roles.get(i)) else {
                missing_roles.push(self.describe_missing(binding));
                continue;
            };
            if let Some(rule_index) = rules.iter().position(|r| rule_allows(attributes, r)) {
                return Decision::Allow(source(binding, subject, rule_index));
            }
        }
        Decision::Deny { missing_roles }
    }

    /// Every rule that applies to the user in the namespace (empty: cluster scope), in
    /// visiting order.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<AppliedRule<'_>> {
        let mut applied = Vec::new();
        for binding in self.bindings_in_scope(namespace) {
            let Some(subject) = binding
                .subjects
                .iter()
                .find(|s| applies_to_user(user, s, &binding.namespace))
            else {
                continue;
            };
            let Some((_, rules)) = binding.role.and_then(|i| self.roles.get(i)) else {
                continue;
            };
            for (rule_index, rule) in rules.iter().enumerate() {
                applied.push(AppliedRule {
                    source: source(binding, subject, rule_index),
                    rule,
                });
            }
        }
        applied
    }

    /// Every subject the request would be allowed for, with the first allowing rule of each
    /// binding (`who-can`). Group and User subjects are reported as written; ServiceAccount
    /// subjects with their namespace filled in.
    pub fn subjects_allowed(&self, attributes: &Attributes) -> Vec<AllowSource> {
        let mut allowed = Vec::new();
        for binding in self.bindings_in_scope(&attributes.namespace) {
            let Some((_, rules)) = binding.role.and_then(|i| self.roles.get(i)) else {
                continue;
            };
            let Some(rule_index) = rules.iter().position(|r| rule_allows(attributes, r)) else {
                continue;
            };
            for subject in &binding.subjects {
                let mut subject = Arc::clone(subject);
                if subject.kind == "ServiceAccount" && subject.namespace.is_empty() {
                    if binding.namespace.is_empty() {
                        continue;
                    }
                    Arc::make_mut(&mut subject).namespace = binding.namespace.to_string();
                }
                allowed.push(source(binding, &subject, rule_index));
            }
        }
        allowed
    }

    fn bindings_in_scope<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a CompiledBinding> + 'a {
        self.bindings.iter().filter(move |b| match b.kind {
            BindingKind::ClusterRoleBinding => true,
            BindingKind::RoleBinding => !namespace.is_empty() && *b.namespace == *namespace,
        })
    }

    fn describe_missing(&self, binding: &CompiledBinding) -> String {
        let role = if &*binding.role_kind == "Role" {
            format!(
                "{} {}/{}",
                binding.role_kind, binding.namespace, binding.role_name
            )
        } else {
            format!("{} {}", binding.role_kind, binding.role_name)
        };
        let place = if binding.namespace.is_empty() {
            binding.name.to_string()
        } else {
            format!("{}/{}", binding.namespace, binding.name)
        };
        format!(
            "{} {place} refers to {role}, which does not exist",
            binding.kind.as_str()
        )
    }
}

fn source(binding: &CompiledBinding, subject: &Arc<Subject>, rule_index: usize) -> AllowSource {
    AllowSource {
        binding_kind: binding.kind,
        binding_name: Arc::clone(&binding.name),
        binding_namespace: Arc::clone(&binding.namespace),
        role_kind: Arc::clone(&binding.role_kind),
        role_name: Arc::clone(&binding.role_name),
        subject: Arc::clone(subject),
        rule_index,
    }
}
