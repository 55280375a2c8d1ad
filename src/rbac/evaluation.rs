//! Rule matching, predicate by predicate, named after (and behaving exactly like) the
//! kube-apiserver's `rbac/v1` evaluation helpers so that a reviewer can compare them side by side.

use super::attributes::Attributes;
use super::types::PolicyRule;

/// `*` in verbs, apiGroups, resources and nonResourceURLs.
pub const ALL: &str = "*";

/// The verb is listed, or the rule lists `*`.
pub fn verb_matches(rule: &PolicyRule, requested_verb: &str) -> bool {
    rule.verbs
        .iter()
        .any(|verb| verb == ALL || verb == requested_verb)
}

/// The API group is listed, or the rule lists `*`.
pub fn api_group_matches(rule: &PolicyRule, requested_group: &str) -> bool {
    rule.api_groups
        .iter()
        .any(|group| group == ALL || group == requested_group)
}

/// `*`, an exact `resource` or `resource/subresource`, or `*/subresource` for a request on that
/// subresource of any resource. `combined` is `resource/subresource` when there is one.
pub fn resource_matches(rule: &PolicyRule, combined: &str, requested_subresource: &str) -> bool {
    rule.resources.iter().any(|resource| {
        resource == ALL
            || resource == combined
            || (!requested_subresource.is_empty()
                && resource.strip_prefix("*/") == Some(requested_subresource))
    })
}

/// No names in the rule means any name; otherwise the name must be listed. A request with no
/// name (list, create) never matches a rule that names objects.
pub fn resource_name_matches(rule: &PolicyRule, requested_name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == requested_name)
}

/// `*`, the exact path, or a prefix when the rule's URL ends in `*` (every trailing `*` is
/// removed before the prefix comparison, as the apiserver does).
pub fn non_resource_url_matches(rule: &PolicyRule, requested_url: &str) -> bool {
    rule.non_resource_urls.iter().any(|url| {
        url == ALL
            || url == requested_url
            || (url.ends_with('*') && requested_url.starts_with(url.trim_end_matches('*')))
    })
}

/// Whether one rule allows the request. Resource requests are matched against the resource
/// fields only, non-resource requests against `nonResourceURLs` only.
pub fn rule_allows(attributes: &Attributes, rule: &PolicyRule) -> bool {
    if attributes.resource_request {
        let combined;
        let resource = if attributes.subresource.is_empty() {
            attributes.resource.as_str()
        } else {
            combined = format!("{}/{}", attributes.resource, attributes.subresource);
            combined.as_str()
        };
        verb_matches(rule, &attributes.verb)
            && api_group_matches(rule, &attributes.api_group)
            && resource_matches(rule, resource, &attributes.subresource)
            && resource_name_matches(rule, &attributes.name)
    } else {
        verb_matches(rule, &attributes.verb) && non_resource_url_matches(rule, &attributes.path)
    }
}
