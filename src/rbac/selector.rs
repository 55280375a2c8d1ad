//! Label selectors, as ClusterRole aggregation uses them.

use std::collections::BTreeMap;

use super::types::LabelSelector;

/// Whether a set of labels satisfies the selector. An empty selector selects everything, as
/// `metav1.LabelSelectorAsSelector` makes it.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
        && selector.match_expressions.iter().all(|requirement| {
            let value = labels.get(&requirement.key);
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| requirement.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // Refused when the bundle is validated; an unknown operator selects nothing.
                _ => false,
            }
        })
}

/// What is wrong with a selector, as `(field, message)` pairs (empty when it is valid).
pub fn selector_errors(selector: &LabelSelector) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for (i, requirement) in selector.match_expressions.iter().enumerate() {
        let field = format!("matchExpressions[{i}]");
        match requirement.operator.as_str() {
            "In" | "NotIn" if requirement.values.is_empty() => errors.push((
                format!("{field}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'".to_owned(),
            )),
            "Exists" | "DoesNotExist" if !requirement.values.is_empty() => errors.push((
                format!("{field}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_owned(),
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push((
                format!("{field}.operator"),
                format!(
                    "unsupported value {other:?}: supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""
                ),
            )),
        }
        if requirement.key.is_empty() {
            errors.push((format!("{field}.key"), "must not be empty".to_owned()));
        }
    }
    errors
}
