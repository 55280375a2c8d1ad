//! RBAC evaluation truth tables: each matcher, then the authorizer's binding semantics and the
//! sources it names, checked against the kube-apiserver's behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::rbac::*;
use meshguard::rbac::evaluation::{
    api_group_matches, non_resource_url_matches, resource_matches, resource_name_matches,
    rule_allows, verb_matches,
};
use meshguard::rbac::{Attributes, Authorizer, Decision};

#[test]
fn verb_matching_is_exact_or_star() {
    let table = [
        ("get", "get", true),
        ("get,list", "list", true),
        ("*", "deletecollection", true),
        ("get", "list", false),
        ("Get", "get", false),
        ("-", "get", false),
    ];
    for (verbs, verb, expected) in table {
        assert_eq!(
            verb_matches(&rule(verbs, "", "pods"), verb),
            expected,
            "{verbs} vs {verb}"
        );
    }
}

#[test]
fn api_group_matching_is_exact_or_star() {
    let table = [
        ("", "", true),
        ("apps", "apps", true),
        ("*", "batch", true),
        ("", "apps", false),
        ("apps", "", false),
        ("apps", "apps.example.com", false),
    ];
    for (groups, group, expected) in table {
        assert_eq!(
            api_group_matches(&rule("get", groups, "pods"), group),
            expected,
            "{groups:?} vs {group:?}"
        );
    }
}

#[test]
fn resource_matching_covers_star_subresources_and_star_slash_sub() {
    // (rule resources, combined request resource, subresource, expected)
    let table = [
        ("pods", "pods", "", true),
        ("*", "pods/log", "log", true),
        ("pods", "pods/log", "log", false),
        ("pods/log", "pods/log", "log", true),
        ("pods/log", "pods", "", false),
        ("*/scale", "deployments/scale", "scale", true),
        ("*/scale", "deployments", "", false),
        ("*/scale", "deployments/status", "status", false),
        ("*/sc", "deployments/scale", "scale", false),
        ("*/*", "pods/log", "log", false),
        ("deployments,pods", "pods", "", true),
    ];
    for (resources, combined, sub, expected) in table {
        assert_eq!(
            resource_matches(&rule("get", "", resources), combined, sub),
            expected,
            "{resources} vs {combined}"
        );
    }
}

#[test]
fn empty_resource_names_mean_any_and_a_list_never_matches_named_rules() {
    assert!(resource_name_matches(&rule("get", "", "pods"), "web"));
    assert!(resource_name_matches(&rule("get", "", "pods"), ""));
    let named = named_rule("get", "", "pods", "web,api");
    assert!(resource_name_matches(&named, "api"));
    assert!(!resource_name_matches(&named, "db"));
    assert!(!resource_name_matches(&named, ""));
}

#[test]
fn non_resource_urls_match_exactly_or_by_trailing_star_prefix() {
    let table = [
        ("/healthz", "/healthz", true),
        ("/healthz", "/healthz/ready", false),
        ("/healthz*", "/healthz/ready", true),
        ("/healthz/*", "/healthz", false),
        ("/healthz/**", "/healthz/x", true),
        ("*", "/anything", true),
        ("/api/*", "/apis/apps", false),
        ("/api*", "/apis/apps", true),
    ];
    for (urls, path, expected) in table {
        assert_eq!(
            non_resource_url_matches(&url_rule("get", urls), path),
            expected,
            "{urls} vs {path}"
        );
    }
}

#[test]
fn resource_rules_never_match_paths_and_url_rules_never_match_resources() {
    let everything = rule("*", "*", "*");
    assert!(rule_allows(
        &request("get", "x", "", "pods", ""),
        &everything
    ));
    assert!(!rule_allows(
        &Attributes::non_resource("get", "/healthz"),
        &everything
    ));
    let urls = url_rule("*", "*");
    assert!(rule_allows(&Attributes::non_resource("post", "/x"), &urls));
    assert!(!rule_allows(&request("get", "x", "", "pods", ""), &urls));
}

fn authorizer(objects: meshguard::rbac::RbacObjects) -> Authorizer {
    Authorizer::new(&objects)
}

#[test]
fn bindings_apply_where_the_apiserver_applies_them() {
    let rbac = authorizer(objects(
        vec![role(
            "orders",
            "reader",
            vec![rule("get,list", "", "configmaps")],
        )],
        vec![
            cluster_role("pod-reader", vec![rule("get", "", "pods")]),
            cluster_role("node-reader", vec![rule("get", "", "nodes")]),
        ],
        vec![
            role_binding("orders", "read-config", "Role:reader", &["User:alice"]),
            role_binding(
                "orders",
                "read-pods",
                "ClusterRole:pod-reader",
                &["Group:devs"],
            ),
            role_binding(
                "orders",
                "sa-local",
                "ClusterRole:pod-reader",
                &["ServiceAccount::api"],
            ),
            role_binding("orders", "missing", "Role:nope", &["User:carol"]),
            role_binding(
                "orders",
                "wrong-ns-role",
                "Role:reader-in-other-ns",
                &["User:dave"],
            ),
        ],
        vec![
            cluster_role_binding(
                "nodes",
                "node-reader",
                &["User:bob", "ServiceAccount::nobody"],
            ),
            cluster_role_binding("gone", "does-not-exist", &["User:carol"]),
        ],
    ));
    let alice = user("alice", "-");
    let dev = user("erin", "devs");
    let bob = user("bob", "-");
    let carol = user("carol", "-");
    let api = service_account("orders", "api");
    let mallory = user("mallory", "-");
    let dev2 = user("x", "other,devs");
    let table: Vec<(&str, &meshguard::identity::UserInfo, Attributes, bool)> = vec![
        (
            "RoleBinding of a Role grants in its namespace",
            &alice,
            request("get", "orders", "", "configmaps", "c"),
            true,
        ),
        (
            "… and nowhere else",
            &alice,
            request("get", "payments", "", "configmaps", "c"),
            false,
        ),
        (
            "… and not at the cluster scope",
            &alice,
            request("list", "", "", "configmaps", ""),
            false,
        ),
        (
            "RoleBinding of a ClusterRole grants only in the binding's namespace",
            &dev,
            request("get", "orders", "", "pods", "p"),
            true,
        ),
        (
            "… not in another namespace",
            &dev,
            request("get", "payments", "", "pods", "p"),
            false,
        ),
        (
            "ServiceAccount subject without namespace defaults to the binding's",
            &api,
            request("get", "orders", "", "pods", "p"),
            true,
        ),
        (
            "ClusterRoleBinding grants at the cluster scope",
            &bob,
            request("get", "", "", "nodes", "n1"),
            true,
        ),
        (
            "ClusterRoleBinding grants in every namespace",
            &bob,
            request("get", "kube-system", "", "nodes", "n1"),
            true,
        ),
        (
            "rules are additive only: no verb beyond the rule",
            &bob,
            request("delete", "", "", "nodes", "n1"),
            false,
        ),
        (
            "a missing Role is not an allow",
            &carol,
            request("get", "orders", "", "configmaps", "c"),
            false,
        ),
        (
            "a missing ClusterRole is not an allow",
            &carol,
            request("get", "", "", "nodes", "n"),
            false,
        ),
        (
            "deny by default",
            &mallory,
            request("get", "orders", "", "pods", "p"),
            false,
        ),
        (
            "any of the user's groups may match",
            &dev2,
            request("get", "orders", "", "pods", "p"),
            true,
        ),
        (
            "a verb the rule does not list is denied (list is not get)",
            &dev2,
            request("list", "orders", "", "pods", ""),
            false,
        ),
    ];
    for (what, who, attributes, expected) in table {
        assert_eq!(
            rbac.authorize(who, &attributes).allowed(),
            expected,
            "{what}"
        );
    }
}

#[test]
fn service_account_subjects_in_cluster_role_bindings_need_a_namespace() {
    let rbac = authorizer(objects(
        vec![],
        vec![cluster_role("view", vec![rule("get", "", "pods")])],
        vec![],
        vec![cluster_role_binding(
            "sa",
            "view",
            &["ServiceAccount::api", "ServiceAccount:payments:worker"],
        )],
    ));
    assert!(!rbac
        .authorize(
            &service_account("orders", "api"),
            &request("get", "x", "", "pods", "p")
        )
        .allowed());
    assert!(!rbac
        .authorize(
            &service_account("", "api"),
            &request("get", "x", "", "pods", "p")
        )
        .allowed());
    assert!(rbac
        .authorize(
            &service_account("payments", "worker"),
            &request("get", "x", "", "pods", "p")
        )
        .allowed());
    // A User subject with a service account's username is the same user.
    assert!(!rbac
        .authorize(
            &user("system:serviceaccount:payments:worker2", "-"),
            &request("get", "x", "", "pods", "p")
        )
        .allowed());
}

#[test]
fn an_allow_names_its_source_in_the_apiserver_words() {
    let rbac = authorizer(objects(
        vec![],
        vec![cluster_role(
            "view",
            vec![rule("list", "", "pods"), rule("get", "", "pods")],
        )],
        vec![role_binding(
            "orders",
            "view",
            "ClusterRole:view",
            &["User:nobody", "ServiceAccount::api"],
        )],
        vec![cluster_role_binding("ops-view", "view", &["Group:ops"])],
    ));
    let decision = rbac.authorize(
        &service_account("orders", "api"),
        &request("get", "orders", "", "pods", "p"),
    );
    let Decision::Allow(source) = &decision else {
        panic!("expected an allow")
    };
    assert_eq!(source.rule_index, 1);
    assert_eq!(
        decision.reason(),
        r#"RBAC: allowed by RoleBinding "view/orders" of ClusterRole "view" to ServiceAccount "api/orders""#
    );
    let decision = rbac.authorize(&user("o", "ops"), &request("list", "", "", "pods", ""));
    assert_eq!(
        decision.reason(),
        r#"RBAC: allowed by ClusterRoleBinding "ops-view" of ClusterRole "view" to Group "ops""#
    );
    let denied = rbac.authorize(&user("o", "-"), &request("list", "", "", "pods", ""));
    assert_eq!(denied.reason(), "RBAC: no rule matched");
}

#[test]
fn cluster_role_bindings_are_visited_before_role_bindings() {
    let rbac = authorizer(objects(
        vec![],
        vec![cluster_role("view", vec![rule("get", "", "pods")])],
        vec![role_binding(
            "orders",
            "a-first-by-name",
            "ClusterRole:view",
            &["User:alice"],
        )],
        vec![cluster_role_binding(
            "z-last-by-name",
            "view",
            &["User:alice"],
        )],
    ));
    let Decision::Allow(source) = rbac.authorize(
        &user("alice", "-"),
        &request("get", "orders", "", "pods", "p"),
    ) else {
        panic!("expected an allow")
    };
    assert_eq!(&*source.binding_name, "z-last-by-name");
}

#[test]
fn a_deny_lists_missing_roles_only_for_explain() {
    let rbac = authorizer(objects(
        vec![],
        vec![],
        vec![role_binding(
            "orders",
            "dangling",
            "Role:gone",
            &["User:alice"],
        )],
        vec![],
    ));
    let decision = rbac.authorize(
        &user("alice", "-"),
        &request("get", "orders", "", "pods", "p"),
    );
    assert_eq!(
        decision,
        Decision::Deny {
            missing_roles: vec![
                "RoleBinding orders/dangling refers to Role orders/gone, which does not exist"
                    .into()
            ]
        }
    );
    assert_eq!(decision.reason(), "RBAC: no rule matched");
}

#[test]
fn forbidden_messages_match_the_apiserver_status_text() {
    let table = [
        (
            request("get", "orders", "", "pods", "web"),
            r#"User "alice" cannot get resource "pods" in API group "" in the namespace "orders""#,
        ),
        (
            request("list", "", "apps", "deployments", ""),
            r#"User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope"#,
        ),
        (
            request("get", "orders", "", "pods/log", "web"),
            r#"User "alice" cannot get resource "pods/log" in API group "" in the namespace "orders""#,
        ),
        (
            Attributes::non_resource("post", "/metrics"),
            r#"User "alice" cannot post path "/metrics""#,
        ),
    ];
    for (attributes, expected) in table {
        assert_eq!(attributes.forbidden_message("alice"), expected);
    }
}

#[test]
fn can_i_list_shows_every_rule_that_reaches_the_user() {
    let rbac = authorizer(objects(
        vec![role("orders", "r", vec![rule("get", "", "secrets")])],
        vec![cluster_role(
            "view",
            vec![rule("get,list", "", "pods"), url_rule("get", "/healthz")],
        )],
        vec![role_binding("orders", "rb", "Role:r", &["User:alice"])],
        vec![cluster_role_binding(
            "crb",
            "view",
            &["Group:system:authenticated"],
        )],
    ));
    let alice = user("alice", "system:authenticated");
    assert_eq!(rbac.rules_for(&alice, "orders").len(), 3);
    assert_eq!(rbac.rules_for(&alice, "payments").len(), 2);
    let who = rbac.subjects_allowed(&request("get", "orders", "", "secrets", "s"));
    assert_eq!(who.len(), 1);
    assert_eq!(who[0].subject.name, "alice");
}
