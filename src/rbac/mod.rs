//! Kubernetes RBAC, evaluated exactly as the kube-apiserver's RBAC authorizer does.
//!
//! * [`types`]: Role, ClusterRole, RoleBinding, ClusterRoleBinding with verbatim field names;
//! * [`evaluation`]: the rule predicates (`verb_matches`, `resource_matches`, …);
//! * [`aggregation`]: ClusterRole aggregation, resolved at load time;
//! * [`Authorizer`]: the compiled, subject-indexed evaluator and its [`Decision`].

pub mod aggregation;
pub mod attributes;
pub mod authorizer;
pub mod evaluation;
pub mod selector;
pub mod types;

pub use attributes::Attributes;
pub use authorizer::{AllowSource, AppliedRule, Authorizer, BindingKind, Decision};
pub use types::{
    AggregationRule, ClusterRole, ClusterRoleBinding, LabelSelector, LabelSelectorRequirement,
    ObjectMeta, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

/// The RBAC objects of a bundle, in bundle order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RbacObjects {
    /// Roles.
    pub roles: Vec<Role>,
    /// ClusterRoles (aggregation resolved once loaded through a bundle).
    pub cluster_roles: Vec<ClusterRole>,
    /// RoleBindings.
    pub role_bindings: Vec<RoleBinding>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}
