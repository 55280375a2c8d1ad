//! The `rbac.authorization.k8s.io/v1` objects, with the Kubernetes field names verbatim so that
//! `kubectl get roles,rolebindings,clusterroles,clusterrolebindings -A -o yaml` loads as it is.
//!
//! Unknown fields are errors. `metadata` accepts the fields the apiserver sets on stored objects
//! (uid, resourceVersion, managedFields, …) and drops them: they do not change a decision.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The API group of every RBAC object, and the `apiGroup` of User and Group subjects and of
/// every `roleRef`.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The only RBAC API version still served.
pub const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// `null` in a list field (as some tools write) means the same as an absent or empty list.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The order of objects by (namespace, name): indices into `keys`. Shared by every kind of
/// object (one copy of the sort in the filter, instead of one per element type).
pub(crate) fn name_order(keys: &[(&str, &str)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by_key(|&i| keys[i]);
    order
}

/// A metadata field the server sets, accepted so that stored objects load and otherwise
/// skipped unread (`managedFields` can be most of an object: no JSON tree is built for it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Ignored)
    }
}

/// The part of `metadata` that matters to RBAC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// The object's name.
    #[serde(default)]
    pub name: String,
    /// The namespace of a Role or RoleBinding; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Labels, which ClusterRole aggregation selects on.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing)]
    annotations: Ignored,
    #[serde(default, skip_serializing)]
    uid: Ignored,
    #[serde(default, skip_serializing)]
    resource_version: Ignored,
    #[serde(default, skip_serializing)]
    generation: Ignored,
    #[serde(default, skip_serializing)]
    creation_timestamp: Ignored,
    #[serde(default, skip_serializing)]
    deletion_timestamp: Ignored,
    #[serde(default, skip_serializing)]
    deletion_grace_period_seconds: Ignored,
    #[serde(default, skip_serializing)]
    managed_fields: Ignored,
    #[serde(default, skip_serializing)]
    owner_references: Ignored,
    #[serde(default, skip_serializing)]
    finalizers: Ignored,
    #[serde(default, skip_serializing)]
    generate_name: Ignored,
    #[serde(default, skip_serializing)]
    self_link: Ignored,
}

impl ObjectMeta {
    /// Drops the server-set fields, which were accepted only so that stored objects load.
    pub fn clear_server_fields(&mut self) {
        *self = ObjectMeta {
            name: std::mem::take(&mut self.name),
            namespace: std::mem::take(&mut self.namespace),
            labels: std::mem::take(&mut self.labels),
            ..ObjectMeta::default()
        };
    }

    /// Metadata with a name and a namespace (empty for cluster-scoped objects).
    pub fn named(namespace: &str, name: &str) -> Self {
        ObjectMeta {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            ..ObjectMeta::default()
        }
    }
}

/// One rule of a Role or ClusterRole. Either a resource rule (`apiGroups`, `resources`,
/// optional `resourceNames`) or a non-resource rule (`nonResourceURLs`), never both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    /// Verbs, or `*`.
    #[serde(default, deserialize_with = "nullable")]
    pub verbs: Vec<String>,
    /// API groups (`""` is the core group), or `*`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    /// Resources: `pods`, `pods/log`, `*/scale`, `*`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    /// Object names; empty means any.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
    /// Non-resource paths; a trailing `*` matches any path with that prefix.
    #[serde(
        default,
        rename = "nonResourceURLs",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// A namespaced set of rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Role {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The rules.
    #[serde(default, deserialize_with = "nullable")]
    pub rules: Vec<PolicyRule>,
}

/// A cluster-wide set of rules, possibly aggregated from other ClusterRoles by label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRole {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ClusterRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and labels.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The rules (for an aggregated role: filled in from the selected roles at load time).
    #[serde(default, deserialize_with = "nullable")]
    pub rules: Vec<PolicyRule>,
    /// Which ClusterRoles this one aggregates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<AggregationRule>,
}

/// `aggregationRule` of a ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AggregationRule {
    /// A ClusterRole matching any selector contributes its rules.
    #[serde(default, deserialize_with = "nullable")]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// A Kubernetes label selector: every `matchLabels` pair and every expression must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry: `In`, `NotIn`, `Exists` or `DoesNotExist`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` / `NotIn`; empty for the others.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// Who a binding grants to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for User and Group, empty for ServiceAccount.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The user, group or service-account name.
    #[serde(default)]
    pub name: String,
    /// The service account's namespace; in a RoleBinding it defaults to the binding's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    #[serde(default)]
    pub api_group: String,
    /// `Role` (RoleBinding only) or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// The role's name.
    #[serde(default)]
    pub name: String,
}

/// Grants a Role or ClusterRole inside one namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleBinding {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `RoleBinding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who is granted.
    #[serde(default, deserialize_with = "nullable")]
    pub subjects: Vec<Subject>,
    /// What is granted.
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// Grants a ClusterRole in every namespace and at the cluster scope.
pub type ClusterRoleBinding = RoleBinding;
