//! ClusterRole aggregation, resolved once when a bundle is loaded, the way the
//! clusterrole-aggregation controller would leave the stored objects.
//!
//! For an aggregated ClusterRole the controller replaces `rules` with the rules of every other
//! ClusterRole that any selector matches, visited in name order, duplicates dropped. Because it
//! re-runs whenever a role changes, chains (A aggregates B, which aggregates C) settle on the
//! transitive result: we iterate to that fixed point.

use super::selector::selector_matches;
use super::types::{name_order, ClusterRole, PolicyRule};

/// Fills in the rules of every aggregated ClusterRole.
pub fn resolve_aggregation(cluster_roles: &mut [ClusterRole]) {
    let names: Vec<(&str, &str)> = cluster_roles
        .iter()
        .map(|role| ("", role.metadata.name.as_str()))
        .collect();
    let by_name = name_order(&names);
    // Each pass can only add rules along one more link of a chain, so the number of roles
    // bounds the passes.
    for _ in 0..=cluster_roles.len() {
        let mut changed = false;
        for target in 0..cluster_roles.len() {
            let Some(rule) = cluster_roles[target].aggregation_rule.as_ref() else {
                continue;
            };
            let mut rules: Vec<PolicyRule> = Vec::new();
            for selector in &rule.cluster_role_selectors {
                for &source in &by_name {
                    let candidate = &cluster_roles[source];
                    if source == target
                        || candidate.metadata.name == cluster_roles[target].metadata.name
                        || !selector_matches(selector, &candidate.metadata.labels)
                    {
                        continue;
                    }
                    for r in &candidate.rules {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            if cluster_roles[target].rules != rules {
                cluster_roles[target].rules = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}
