//! Object validation, as the kube-apiserver validates RBAC objects on create: the same
//! rules, so a bundle meshguard accepts is one the apiserver would store, and the other way
//! round. Each problem is a `(field path, message)` pair.

use crate::rbac::selector::selector_errors;
use crate::rbac::types::{
    ClusterRole, ObjectMeta, PolicyRule, Role, RoleBinding, Subject, RBAC_GROUP,
};

/// Problems found in one object.
pub type FieldErrors = Vec<(String, String)>;

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric, at
/// most 63 characters (namespace names).
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (service-account
/// names).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns1123_label)
}

/// Path-segment names (what RBAC object names must be): not `.` or `..`, no `/` or `%`.
fn path_segment_errors(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        Some(format!("may not be {name:?}"))
    } else if name.contains('/') || name.contains('%') {
        Some("may not contain '/' or '%'".to_owned())
    } else {
        None
    }
}

fn validate_meta(meta: &ObjectMeta, namespaced: bool, errors: &mut FieldErrors) {
    if meta.name.is_empty() {
        errors.push((
            "metadata.name".into(),
            "Required value: name is required".into(),
        ));
    } else if let Some(problem) = path_segment_errors(&meta.name) {
        errors.push((
            "metadata.name".into(),
            format!("Invalid value {:?}: {problem}", meta.name),
        ));
    }
    if namespaced {
        if meta.namespace.is_empty() {
            errors.push(("metadata.namespace".into(), "Required value".into()));
        } else if !is_dns1123_label(&meta.namespace) {
            errors.push((
                "metadata.namespace".into(),
                format!(
                    "Invalid value {:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
                    meta.namespace
                ),
            ));
        }
    } else if !meta.namespace.is_empty() {
        errors.push((
            "metadata.namespace".into(),
            "Forbidden: not allowed on this type".into(),
        ));
    }
}

fn validate_rule(rule: &PolicyRule, namespaced: bool, field: &str, errors: &mut FieldErrors) {
    if rule.verbs.is_empty() {
        errors.push((
            format!("{field}.verbs"),
            "Required value: verbs must contain at least one value".into(),
        ));
    }
    if !rule.non_resource_urls.is_empty() {
        if namespaced {
            errors.push((
                format!("{field}.nonResourceURLs"),
                "Invalid value: namespaced rules cannot apply to non-resource URLs".into(),
            ));
        }
        if !rule.api_groups.is_empty()
            || !rule.resources.is_empty()
            || !rule.resource_names.is_empty()
        {
            errors.push((
                format!("{field}.nonResourceURLs"),
                "Invalid value: rules cannot apply to both regular resources and non-resource URLs"
                    .into(),
            ));
        }
        return;
    }
    if rule.api_groups.is_empty() {
        errors.push((
            format!("{field}.apiGroups"),
            "Required value: resource rules must supply at least one api group".into(),
        ));
    }
    if rule.resources.is_empty() {
        errors.push((
            format!("{field}.resources"),
            "Required value: resource rules must supply at least one resource".into(),
        ));
    }
}

/// Validates a Role.
pub fn validate_role(role: &Role) -> FieldErrors {
    let mut errors = Vec::new();
    validate_meta(&role.metadata, true, &mut errors);
    for (i, rule) in role.rules.iter().enumerate() {
        validate_rule(rule, true, &format!("rules[{i}]"), &mut errors);
    }
    errors
}

/// Validates a ClusterRole.
pub fn validate_cluster_role(role: &ClusterRole) -> FieldErrors {
    let mut errors = Vec::new();
    validate_meta(&role.metadata, false, &mut errors);
    for (i, rule) in role.rules.iter().enumerate() {
        validate_rule(rule, false, &format!("rules[{i}]"), &mut errors);
    }
    if let Some(aggregation) = &role.aggregation_rule {
        if aggregation.cluster_role_selectors.is_empty() {
            errors.push((
                "aggregationRule.clusterRoleSelectors".into(),
                "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil".into(),
            ));
        }
        for (i, selector) in aggregation.cluster_role_selectors.iter().enumerate() {
            for (field, message) in selector_errors(selector) {
                errors.push((
                    format!("aggregationRule.clusterRoleSelectors[{i}].{field}"),
                    message,
                ));
            }
        }
    }
    errors
}

fn validate_subject(subject: &Subject, namespaced: bool, field: &str, errors: &mut FieldErrors) {
    if subject.name.is_empty() {
        errors.push((format!("{field}.name"), "Required value".into()));
    }
    match subject.kind.as_str() {
        "ServiceAccount" => {
            if !subject.name.is_empty() && !is_dns1123_subdomain(&subject.name) {
                errors.push((
                    format!("{field}.name"),
                    format!(
                        "Invalid value {:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                        subject.name
                    ),
                ));
            }
            if !subject.api_group.is_empty() {
                errors.push((
                    format!("{field}.apiGroup"),
                    format!("Unsupported value {:?}: supported values: \"\"", subject.api_group),
                ));
            }
            if !namespaced && subject.namespace.is_empty() {
                errors.push((format!("{field}.namespace"), "Required value".into()));
            }
        }
        "User" | "Group" => {
            if subject.api_group != RBAC_GROUP {
                errors.push((
                    format!("{field}.apiGroup"),
                    format!(
                        "Unsupported value {:?}: supported values: \"{RBAC_GROUP}\"",
                        subject.api_group
                    ),
                ));
            }
        }
        other => errors.push((
            format!("{field}.kind"),
            format!(
                "Unsupported value {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
            ),
        )),
    }
}

/// Validates a RoleBinding (`namespaced`) or a ClusterRoleBinding.
pub fn validate_binding(binding: &RoleBinding, namespaced: bool) -> FieldErrors {
    let mut errors = Vec::new();
    validate_meta(&binding.metadata, namespaced, &mut errors);
    let role_ref = &binding.role_ref;
    if role_ref.api_group != RBAC_GROUP {
        errors.push((
            "roleRef.apiGroup".into(),
            format!(
                "Unsupported value {:?}: supported values: \"{RBAC_GROUP}\"",
                role_ref.api_group
            ),
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&role_ref.kind.as_str()) {
        let supported: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
        errors.push((
            "roleRef.kind".into(),
            format!(
                "Unsupported value {:?}: supported values: {}",
                role_ref.kind,
                supported.join(", ")
            ),
        ));
    }
    if role_ref.name.is_empty() {
        errors.push(("roleRef.name".into(), "Required value".into()));
    } else if let Some(problem) = path_segment_errors(&role_ref.name) {
        errors.push((
            "roleRef.name".into(),
            format!("Invalid value {:?}: {problem}", role_ref.name),
        ));
    }
    for (i, subject) in binding.subjects.iter().enumerate() {
        validate_subject(subject, namespaced, &format!("subjects[{i}]"), &mut errors);
    }
    errors
}
