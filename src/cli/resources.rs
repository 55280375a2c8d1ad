//! Resource names as kubectl resolves them through discovery, for the built-in Kubernetes
//! types: `po` → `pods`, `deploy` → `deployments.apps`, and which of them are cluster-scoped.
//! Other types are taken as written (`orders`, `orders.shop.example.com`).

/// (resource, group, short names and singular, cluster-scoped)
const BUILT_IN: &[(&str, &str, &[&str], bool)] = &[
    ("pods", "", &["po", "pod"], false),
    ("services", "", &["svc", "service"], false),
    ("configmaps", "", &["cm", "configmap"], false),
    ("secrets", "", &["secret"], false),
    ("serviceaccounts", "", &["sa", "serviceaccount"], false),
    (
        "persistentvolumeclaims",
        "",
        &["pvc", "persistentvolumeclaim"],
        false,
    ),
    ("events", "", &["ev", "event"], false),
    ("endpoints", "", &["ep"], false),
    ("namespaces", "", &["ns", "namespace"], true),
    ("nodes", "", &["no", "node"], true),
    ("persistentvolumes", "", &["pv", "persistentvolume"], true),
    ("deployments", "apps", &["deploy", "deployment"], false),
    ("replicasets", "apps", &["rs", "replicaset"], false),
    ("statefulsets", "apps", &["sts", "statefulset"], false),
    ("daemonsets", "apps", &["ds", "daemonset"], false),
    ("jobs", "batch", &["job"], false),
    ("cronjobs", "batch", &["cj", "cronjob"], false),
    ("ingresses", "networking.k8s.io", &["ing", "ingress"], false),
    (
        "networkpolicies",
        "networking.k8s.io",
        &["netpol", "networkpolicy"],
        false,
    ),
    (
        "horizontalpodautoscalers",
        "autoscaling",
        &["hpa", "horizontalpodautoscaler"],
        false,
    ),
    (
        "poddisruptionbudgets",
        "policy",
        &["pdb", "poddisruptionbudget"],
        false,
    ),
    ("leases", "coordination.k8s.io", &["lease"], false),
    ("roles", "rbac.authorization.k8s.io", &["role"], false),
    (
        "rolebindings",
        "rbac.authorization.k8s.io",
        &["rolebinding"],
        false,
    ),
    (
        "clusterroles",
        "rbac.authorization.k8s.io",
        &["clusterrole"],
        true,
    ),
    (
        "clusterrolebindings",
        "rbac.authorization.k8s.io",
        &["clusterrolebinding"],
        true,
    ),
    (
        "customresourcedefinitions",
        "apiextensions.k8s.io",
        &["crd", "crds", "customresourcedefinition"],
        true,
    ),
    (
        "storageclasses",
        "storage.k8s.io",
        &["sc", "storageclass"],
        true,
    ),
];

/// A resolved `TYPE[.GROUP]`.
pub(crate) struct ResourceType {
    pub(crate) resource: String,
    pub(crate) group: String,
    /// Known to be cluster-scoped (built-in types only).
    pub(crate) cluster_scoped: bool,
}

/// Resolves `pods`, `po`, `deployments.apps`, `orders.shop.example.com`, `*`.
pub(crate) fn resolve(text: &str) -> ResourceType {
    let (name, group) = match text.split_once('.') {
        Some((name, group)) => (name, Some(group)),
        None => (text, None),
    };
    let known = BUILT_IN.iter().find(|(resource, known_group, aliases, _)| {
        (*resource == name || aliases.contains(&name)) && group.is_none_or(|g| g == *known_group)
    });
    match known {
        Some((resource, known_group, _, cluster_scoped)) => ResourceType {
            resource: (*resource).to_owned(),
            group: (*known_group).to_owned(),
            cluster_scoped: *cluster_scoped,
        },
        None => ResourceType {
            resource: name.to_owned(),
            group: group.unwrap_or_default().to_owned(),
            cluster_scoped: false,
        },
    }
}
