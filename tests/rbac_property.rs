//! The indexed authorizer against a naive reference: a line-by-line port of the apiserver's
//! `VisitRulesFor` walk over every binding. Over random bundles and requests both must give
//! the same decision and name the same source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use meshguard::identity::UserInfo;
use meshguard::rbac::evaluation::rule_allows;
use meshguard::rbac::types::RBAC_GROUP;
use meshguard::rbac::{
    Attributes, Authorizer, ClusterRole, Decision, ObjectMeta, PolicyRule, RbacObjects, Role,
    RoleBinding, RoleRef, Subject,
};
use proptest::prelude::*;

const NAMESPACES: [&str; 3] = ["a", "b", ""];

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(options).prop_map(str::to_owned)
}

fn some_of(
    options: &'static [&'static str],
    min: usize,
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(options), min..=max)
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    let resource_rule = (
        some_of(&["get", "list", "create", "*"], 1, 3),
        some_of(&["", "apps", "*"], 1, 2),
        some_of(&["pods", "pods/log", "*/log", "deployments", "*"], 1, 3),
        prop_oneof![3 => Just(vec![]), 1 => some_of(&["p0", "p1"], 1, 1)],
    )
        .prop_map(
            |(verbs, api_groups, resources, resource_names)| PolicyRule {
                verbs,
                api_groups,
                resources,
                resource_names,
                non_resource_urls: vec![],
            },
        );
    let url_rule = (
        some_of(&["get", "post", "*"], 1, 2),
        some_of(&["/healthz", "/metrics*", "*"], 1, 2),
    )
        .prop_map(|(verbs, non_resource_urls)| PolicyRule {
            verbs,
            non_resource_urls,
            ..PolicyRule::default()
        });
    prop_oneof![3 => resource_rule, 1 => url_rule]
}

fn subject() -> impl Strategy<Value = Subject> {
    let user = pick(&["u0", "u1"]).prop_map(|name| Subject {
        kind: "User".into(),
        api_group: RBAC_GROUP.into(),
        name,
        namespace: String::new(),
    });
    let group = pick(&["g0", "g1", "system:authenticated"]).prop_map(|name| Subject {
        kind: "Group".into(),
        api_group: RBAC_GROUP.into(),
        name,
        namespace: String::new(),
    });
    let account = (pick(&["s0", "s1"]), pick(&NAMESPACES)).prop_map(|(name, namespace)| Subject {
        kind: "ServiceAccount".into(),
        api_group: String::new(),
        name,
        namespace,
    });
    prop_oneof![user, group, account]
}

fn role_ref(namespaced: bool) -> impl Strategy<Value = RoleRef> {
    let kinds: &'static [&'static str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    (
        pick(kinds),
        pick(&["r0", "r1", "r0", "r1", "r2", "missing"]),
    )
        .prop_map(|(kind, name)| RoleRef {
            api_group: RBAC_GROUP.into(),
            kind,
            name,
        })
}

fn binding(namespaced: bool) -> impl Strategy<Value = RoleBinding> {
    let namespaces: &'static [&'static str] = if namespaced { &["a", "b"] } else { &[""] };
    (
        pick(namespaces),
        pick(&["x", "y", "z"]),
        proptest::collection::vec(subject(), 0..4),
        role_ref(namespaced),
    )
        .prop_map(|(namespace, name, subjects, role_ref)| RoleBinding {
            metadata: ObjectMeta::named(&namespace, &name),
            subjects,
            role_ref,
            ..RoleBinding::default()
        })
}

fn bundle() -> impl Strategy<Value = RbacObjects> {
    let roles = proptest::collection::btree_map(
        (pick(&["a", "b"]), pick(&["r0", "r1", "r2"])),
        proptest::collection::vec(rule(), 0..4),
        0..6,
    );
    let cluster_roles = proptest::collection::btree_map(
        pick(&["r0", "r1", "r2"]),
        proptest::collection::vec(rule(), 0..4),
        0..4,
    );
    (
        roles,
        cluster_roles,
        proptest::collection::vec(binding(true), 0..12),
        proptest::collection::vec(binding(false), 0..4),
    )
        .prop_map(
            |(roles, cluster_roles, role_bindings, cluster_role_bindings)| RbacObjects {
                roles: roles
                    .into_iter()
                    .map(|((ns, name), rules)| Role {
                        metadata: ObjectMeta::named(&ns, &name),
                        rules,
                        ..Role::default()
                    })
                    .collect(),
                cluster_roles: cluster_roles
                    .into_iter()
                    .map(|(name, rules): (String, Vec<PolicyRule>)| ClusterRole {
                        metadata: ObjectMeta::named("", &name),
                        rules,
                        ..ClusterRole::default()
                    })
                    .collect(),
                role_bindings,
                cluster_role_bindings,
            },
        )
}

fn user() -> impl Strategy<Value = UserInfo> {
    (
        pick(&[
            "u0",
            "u1",
            "system:serviceaccount:a:s0",
            "system:serviceaccount:b:s1",
        ]),
        proptest::collection::btree_set(pick(&["g0", "g1", "system:authenticated"]), 0..3),
    )
        .prop_map(|(username, groups)| UserInfo {
            username,
            groups: groups.into_iter().collect(),
            ..UserInfo::default()
        })
}

fn request() -> impl Strategy<Value = Attributes> {
    let resource = (
        pick(&["get", "list", "create"]),
        pick(&["a", "a", "b", ""]),
        pick(&["", "apps"]),
        pick(&["pods", "deployments"]),
        pick(&["", "log"]),
        pick(&["", "p0", "p1"]),
    )
        .prop_map(|(verb, ns, group, resource, sub, name)| {
            Attributes::resource(&verb, &ns, &group, &resource)
                .on_subresource(&sub)
                .named(&name)
        });
    let url = (
        pick(&["get", "post"]),
        pick(&["/healthz", "/metrics/x", "/other"]),
    )
        .prop_map(|(verb, path)| Attributes::non_resource(&verb, &path));
    prop_oneof![3 => resource, 1 => url]
}

/// The apiserver's `appliesToUser`, written out again.
fn naive_applies(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.username == subject.name,
        "Group" => user.groups.iter().any(|g| g == &subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                namespace
            } else {
                subject.namespace.as_str()
            };
            !ns.is_empty()
                && user.username == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// `VisitRulesFor` + `RuleAllows`, first allowing rule wins: (binding kind, ns, name, subject, rule index).
fn naive(
    objects: &RbacObjects,
    user: &UserInfo,
    attributes: &Attributes,
) -> Option<(String, String, String, Subject, usize)> {
    let rules_of = |role_ref: &RoleRef, namespace: &str| -> Option<Vec<PolicyRule>> {
        match role_ref.kind.as_str() {
            "Role" => objects
                .roles
                .iter()
                .find(|r| r.metadata.namespace == namespace && r.metadata.name == role_ref.name)
                .map(|r| r.rules.clone()),
            "ClusterRole" => objects
                .cluster_roles
                .iter()
                .find(|r| r.metadata.name == role_ref.name)
                .map(|r| r.rules.clone()),
            _ => None,
        }
    };
    for binding in &objects.cluster_role_bindings {
        let Some(subject) = binding.subjects.iter().find(|s| naive_applies(user, s, "")) else {
            continue;
        };
        let Some(rules) = rules_of(&binding.role_ref, "") else {
            continue;
        };
        if let Some(i) = rules.iter().position(|r| rule_allows(attributes, r)) {
            return Some((
                "ClusterRoleBinding".into(),
                String::new(),
                binding.metadata.name.clone(),
                subject.clone(),
                i,
            ));
        }
    }
    if !attributes.namespace.is_empty() {
        for binding in objects
            .role_bindings
            .iter()
            .filter(|b| b.metadata.namespace == attributes.namespace)
        {
            let ns = binding.metadata.namespace.as_str();
            let Some(subject) = binding.subjects.iter().find(|s| naive_applies(user, s, ns)) else {
                continue;
            };
            let Some(rules) = rules_of(&binding.role_ref, ns) else {
                continue;
            };
            if let Some(i) = rules.iter().position(|r| rule_allows(attributes, r)) {
                return Some((
                    "RoleBinding".into(),
                    ns.to_owned(),
                    binding.metadata.name.clone(),
                    subject.clone(),
                    i,
                ));
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_index_decides_exactly_as_the_apiserver_walk(
        objects in bundle(),
        requests in proptest::collection::vec((user(), request()), 1..8),
    ) {
        let authorizer = Authorizer::new(&objects);
        for (user, attributes) in &requests {
            let expected = naive(&objects, user, attributes);
            let got = match authorizer.authorize(user, attributes) {
                Decision::Allow(s) => Some((s.binding_kind.as_str().to_owned(), s.binding_namespace.to_string(), s.binding_name.to_string(), (*s.subject).clone(), s.rule_index)),
                Decision::Deny { .. } => None,
            };
            prop_assert_eq!(got, expected, "user {:?} request {:?}", user, attributes);
        }
    }
}

#[test]
fn the_generators_produce_both_allows_and_denies() {
    // Guard against a property that passes because everything is denied.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut allows, mut denies) = (0, 0);
    let mut sources = BTreeMap::new();
    for _ in 0..500 {
        let objects = bundle().new_tree(&mut runner).unwrap().current();
        let (user, attributes) = (user(), request()).new_tree(&mut runner).unwrap().current();
        match naive(&objects, &user, &attributes) {
            Some(source) => {
                allows += 1;
                *sources.entry(source.0).or_insert(0) += 1;
            }
            None => denies += 1,
        }
    }
    eprintln!("allows {allows}, denies {denies}, by {sources:?}");
    // About 6% of random pairs allow: over the 2,000 cases of the property (~9,000 decisions)
    // that is some 500 allows, each of which must name the same source as the walk.
    assert!(
        allows > 15 && denies > 50,
        "allows {allows}, denies {denies}"
    );
    assert_eq!(
        sources.len(),
        2,
        "both binding kinds allow sometimes: {sources:?}"
    );
}
