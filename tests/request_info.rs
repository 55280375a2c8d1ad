//! RequestInfo resolution: one row per URL form the apiserver's resolver accepts, then the
//! service mode and path normalisation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use meshguard::request_info::path::normalize_path;
use meshguard::request_info::{
    PathError, Protocol, RequestError, RequestMapper, RouteTemplate, ServiceMapping, Workload,
};

/// The proxy's workload, in `namespace`.
fn ws(namespace: &str) -> Workload {
    Workload::in_namespace(namespace)
}

/// (method, target, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[test]
fn every_resource_url_form_resolves_as_the_apiserver_resolves_it() {
    let rows: [Row; 31] = [
        (
            "GET",
            "/api/v1/namespaces",
            "list",
            "api",
            "",
            "v1",
            "",
            "namespaces",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/other",
            "get",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "",
            "other",
        ),
        (
            "GET",
            "/api/v1/namespaces/other/pods",
            "list",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/other/pods/foo",
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "HEAD",
            "/api/v1/namespaces/other/pods/foo",
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "GET",
            "/api/v1/pods",
            "list",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "HEAD",
            "/api/v1/pods",
            "list",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/other/pods/foo",
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "GET",
            "/api/v1/namespaces/other/pods",
            "list",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        // special verbs
        (
            "GET",
            "/api/v1/proxy/namespaces/other/pods/foo",
            "proxy",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "GET",
            "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource",
            "proxy",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "GET",
            "/api/v1/watch/pods",
            "watch",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/pods?watch=true",
            "watch",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/pods?watch=false",
            "list",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/pods?watch=0",
            "list",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/pods?watch=",
            "watch",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/other/pods",
            "watch",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        // subresources
        (
            "GET",
            "/api/v1/namespaces/other/pods/foo/log",
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "log",
            "foo",
        ),
        (
            "POST",
            "/api/v1/namespaces/other/pods/foo/eviction",
            "create",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "eviction",
            "foo",
        ),
        (
            "PUT",
            "/api/v1/namespaces/other/finalize",
            "update",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "finalize",
            "other",
        ),
        (
            "PUT",
            "/api/v1/namespaces/other/status",
            "update",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "status",
            "other",
        ),
        // verbs from methods
        (
            "POST",
            "/api/v1/namespaces/other/pods",
            "create",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        (
            "PUT",
            "/api/v1/namespaces/other/pods/foo",
            "update",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/other/pods/foo",
            "patch",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/other/pods/foo",
            "delete",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/other/pods",
            "deletecollection",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        (
            "OPTIONS",
            "/api/v1/namespaces/other/pods",
            "",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
        ),
        // API groups
        (
            "GET",
            "/apis/extensions/v1beta1/namespaces/other/pods",
            "list",
            "apis",
            "extensions",
            "v1beta1",
            "other",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/apis/apps/v1/deployments",
            "list",
            "apis",
            "apps",
            "v1",
            "",
            "deployments",
            "",
            "",
        ),
        // fieldSelector names the object of a list or watch
        (
            "GET",
            "/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo",
            "list",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
        ),
        (
            "GET",
            "/api/v1/pods?watch=1&fieldSelector=metadata.name==foo",
            "watch",
            "api",
            "",
            "v1",
            "",
            "pods",
            "",
            "foo",
        ),
    ];
    let mapper = RequestMapper::default();
    for (method, target, verb, prefix, group, version, namespace, resource, subresource, name) in
        rows
    {
        let info = mapper
            .resolve(method, target, &ws(""), Protocol::Http)
            .unwrap();
        assert!(info.is_resource_request, "{method} {target}");
        assert_eq!(
            (
                info.verb.as_str(),
                info.api_prefix.as_str(),
                info.api_group.as_str(),
                info.api_version.as_str(),
                info.namespace.as_str(),
                info.resource.as_str(),
                info.subresource.as_str(),
                info.name.as_str()
            ),
            (
                verb,
                prefix,
                group,
                version,
                namespace,
                resource,
                subresource,
                name
            ),
            "{method} {target}"
        );
    }
}

#[test]
fn field_selectors_that_do_not_name_one_object_leave_the_name_empty() {
    let mapper = RequestMapper::default();
    let table = [
        ("/api/v1/pods?fieldSelector=metadata.name!%3Dfoo", ""),
        ("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", ""),
        ("/api/v1/pods?fieldSelector=metadata.name%3Dfoo%2Fbar", ""),
        ("/api/v1/pods?fieldSelector=metadata.name%3D..", ""),
        ("/api/v1/pods?fieldSelector=garbage", ""),
        // a decoding error elsewhere drops the selector (the apiserver keeps only watch)
        (
            "/api/v1/pods?limit=abc&fieldSelector=metadata.name%3Dfoo",
            "",
        ),
        (
            "/api/v1/pods?limit=10&fieldSelector=metadata.name%3Dfoo,spec.nodeName%3Dn",
            "foo",
        ),
    ];
    for (target, name) in table {
        assert_eq!(
            mapper
                .resolve("GET", target, &ws(""), Protocol::Http)
                .unwrap()
                .name,
            name,
            "{target}"
        );
    }
    let broken = mapper
        .resolve(
            "GET",
            "/api/v1/pods?limit=abc&watch=yes",
            &ws(""),
            Protocol::Http,
        )
        .unwrap();
    assert_eq!(broken.verb, "watch");
}

#[test]
fn non_resource_paths_keep_the_lowercase_method_as_verb() {
    let mapper = RequestMapper::default();
    for (method, target, verb) in [
        ("GET", "/", "get"),
        ("GET", "/healthz", "get"),
        ("GET", "/api", "get"),
        ("GET", "/api/v1", "get"),
        ("GET", "/apis", "get"),
        ("GET", "/apis/apps", "get"),
        ("GET", "/apis/apps/v1", "get"),
        ("POST", "/logs/x", "post"),
        ("GET", "/other/api/v1/pods", "get"),
    ] {
        let info = mapper
            .resolve(method, target, &ws(""), Protocol::Http)
            .unwrap();
        assert!(!info.is_resource_request, "{target}");
        assert_eq!(info.verb, verb);
        assert_eq!(info.path, target);
    }
}

#[test]
fn a_special_verb_without_a_resource_is_refused() {
    let mapper = RequestMapper::default();
    assert!(matches!(
        mapper.resolve("GET", "/api/v1/watch", &ws(""), Protocol::Http),
        Err(RequestError::Unresolvable(_))
    ));
}

#[test]
fn api_prefixes_are_configurable() {
    let mapper = RequestMapper::Kubernetes(meshguard::request_info::KubernetesMapping {
        api_prefixes: vec!["api".into(), "apis".into(), "custom".into()],
        groupless_api_prefixes: vec!["api".into()],
    });
    let info = mapper
        .resolve(
            "GET",
            "/custom/shop.example.com/v1/orders/1",
            &ws(""),
            Protocol::Http,
        )
        .unwrap();
    assert_eq!(
        (
            info.api_group.as_str(),
            info.resource.as_str(),
            info.name.as_str()
        ),
        ("shop.example.com", "orders", "1")
    );
}

#[test]
fn path_normalisation_closes_the_usual_bypasses() {
    let table: &[(&str, Result<&str, PathError>)] = &[
        (
            "/api/v1/../v1/namespaces/x/secrets",
            Ok("/api/v1/namespaces/x/secrets"),
        ),
        (
            "/api//v1///namespaces/x/secrets",
            Ok("/api/v1/namespaces/x/secrets"),
        ),
        (
            "/api/./v1/namespaces/x/secrets",
            Ok("/api/v1/namespaces/x/secrets"),
        ),
        (
            "/api/%76%31/namespaces/x/secrets",
            Ok("/api/v1/namespaces/x/secrets"),
        ),
        (
            "/api/v1/%2e%2e/v1/namespaces/x/secrets",
            Ok("/api/v1/namespaces/x/secrets"),
        ),
        ("/healthz/", Ok("/healthz/")),
        ("/a/b/..", Ok("/a/")),
        ("/", Ok("/")),
        ("/x/a%3ab", Ok("/x/a%3Ab")),
        (
            "/api/v1/namespaces%2Fx",
            Err(PathError::AmbiguousEscape(b'/')),
        ),
        ("/a%5Cb", Err(PathError::AmbiguousEscape(b'\\'))),
        ("/a%00", Err(PathError::AmbiguousEscape(0))),
        ("/a%zz", Err(PathError::BadEscape)),
        ("/a\\b", Err(PathError::ForbiddenCharacter('\\'))),
        // RFC 3986 section 5.2.4: `..` at the root stays at the root.
        ("/../etc", Ok("/etc")),
        ("/a/./b/../../c", Ok("/c")),
        // remove_dot_segments first, then merge_slashes (Envoy's order): an empty segment is a
        // segment `..` removes.
        ("/charges//../orders/42", Ok("/charges/orders/42")),
        ("/charges/.//../orders/42", Ok("/charges/orders/42")),
        ("/charges/1//../../orders/42", Ok("/charges/orders/42")),
        ("/orders//42", Ok("/orders/42")),
        ("//orders/42", Ok("/orders/42")),
        // Segments that Tomcat, Spring or a second decoding read as dot segments or slashes.
        (
            "/orders/..;/charges/1",
            Err(PathError::HiddenSegment("..;".into())),
        ),
        (
            "/orders/.;x/charges",
            Err(PathError::HiddenSegment(".;x".into())),
        ),
        (
            "/orders/%2e%2e;jsessionid=1/charges",
            Err(PathError::HiddenSegment("..;jsessionid=1".into())),
        ),
        (
            "/orders/42/items/%252e%252e/x",
            Err(PathError::HiddenSegment("%252e%252e".into())),
        ),
        (
            "/orders/a%252fb",
            Err(PathError::HiddenSegment("a%252fb".into())),
        ),
        ("/orders;v=1/42", Ok("/orders;v=1/42")),
        ("/files/100%25", Ok("/files/100%25")),
        ("api/v1", Err(PathError::NotAbsolute)),
    ];
    for (raw, expected) in table {
        assert_eq!(
            normalize_path(raw).as_deref().map_err(Clone::clone),
            expected.clone(),
            "{raw}"
        );
    }
}

#[test]
fn a_dot_dot_bypass_resolves_to_the_real_resource() {
    let info = RequestMapper::default()
        .resolve(
            "GET",
            "/api/v1/namespaces/x/configmaps/../secrets/db",
            &ws(""),
            Protocol::Http,
        )
        .unwrap();
    assert_eq!(
        (info.resource.as_str(), info.name.as_str()),
        ("secrets", "db")
    );
}

fn service(routes: &[&str], non_resource: &[&str]) -> RequestMapper {
    RequestMapper::Service(ServiceMapping {
        namespace: None,
        api_group: "shop.example.com".into(),
        routes: routes
            .iter()
            .map(|r| RouteTemplate::parse(r).unwrap().into())
            .collect(),
        non_resource_paths: non_resource.iter().map(|p| (*p).to_owned()).collect(),
        grpc: None,
    })
}

#[test]
fn service_mode_maps_rest_paths_onto_resources() {
    let mapper = service(&[], &["/healthz", "/metrics/*"]);
    // (method, target, resource request?, verb, resource, name, subresource)
    let table = [
        ("GET", "/orders", true, "list", "orders", "", ""),
        ("GET", "/orders?watch=1", true, "watch", "orders", "", ""),
        ("GET", "/orders/42", true, "get", "orders", "42", ""),
        (
            "GET",
            "/orders/42/items",
            true,
            "get",
            "orders",
            "42",
            "items",
        ),
        // Deeper than resource/name/subresource: the service acts on what follows, so RBAC
        // cannot name it; only a nonResourceURLs rule (or a route with {**}) can allow it.
        ("GET", "/orders/42/items/7", false, "get", "", "", ""),
        (
            "POST",
            "/orders/42/items/7/refund",
            false,
            "post",
            "",
            "",
            "",
        ),
        ("POST", "/orders", true, "create", "orders", "", ""),
        ("PUT", "/orders/42", true, "update", "orders", "42", ""),
        ("PATCH", "/orders/42", true, "patch", "orders", "42", ""),
        ("DELETE", "/orders/42", true, "delete", "orders", "42", ""),
        (
            "DELETE",
            "/orders",
            true,
            "deletecollection",
            "orders",
            "",
            "",
        ),
        ("GET", "/healthz", false, "get", "", "", ""),
        ("POST", "/metrics/flush", false, "post", "", "", ""),
        ("GET", "/", false, "get", "", "", ""),
    ];
    for (method, target, resource_request, verb, resource, name, subresource) in table {
        let info = mapper
            .resolve(method, target, &ws("orders"), Protocol::Http)
            .unwrap();
        assert_eq!(
            info.is_resource_request, resource_request,
            "{method} {target}"
        );
        assert_eq!(
            (
                info.verb.as_str(),
                info.resource.as_str(),
                info.name.as_str(),
                info.subresource.as_str()
            ),
            (verb, resource, name, subresource),
            "{method} {target}"
        );
        if resource_request {
            assert_eq!(info.namespace, "orders");
            assert_eq!(info.api_group, "shop.example.com");
        }
    }
}

#[test]
fn service_mode_routes_pick_the_parts_and_unmatched_paths_are_non_resource() {
    let mapper = service(
        &[
            "/v1/{resource}/{name}/{subresource}",
            "/v1/{resource}/{name}",
            "/v1/{resource}",
            "/tenants/{namespace}/{resource}/{**}",
        ],
        &[],
    );
    let info = mapper
        .resolve("GET", "/v1/orders/42", &ws("orders"), Protocol::Http)
        .unwrap();
    assert_eq!(
        (info.resource.as_str(), info.name.as_str()),
        ("orders", "42")
    );
    let info = mapper
        .resolve(
            "GET",
            "/tenants/acme/invoices/x/y",
            &ws("orders"),
            Protocol::Http,
        )
        .unwrap();
    assert_eq!(
        (info.namespace.as_str(), info.resource.as_str()),
        ("acme", "invoices")
    );
    let info = mapper
        .resolve("GET", "/v2/orders", &ws("orders"), Protocol::Http)
        .unwrap();
    assert!(!info.is_resource_request);
    assert_eq!(info.path, "/v2/orders");
}

#[test]
fn route_templates_are_checked() {
    for bad in [
        "v1/{resource}",
        "/v1/{name}",
        "/v1/{resource}/{resource}",
        "/{**}/{resource}",
        "/v1/{resource}/{bogus}",
    ] {
        assert!(RouteTemplate::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_configured_namespace_wins_over_the_proxy_namespace() {
    let mapper = RequestMapper::Service(ServiceMapping {
        namespace: Some("payments".into()),
        ..ServiceMapping::default()
    });
    assert_eq!(
        mapper
            .resolve("GET", "/charges", &ws("orders"), Protocol::Http)
            .unwrap()
            .namespace,
        "payments"
    );
}

#[test]
fn the_decision_sees_what_request_info_shows_but_the_path_parts() {
    let kubernetes =
        RequestMapper::Kubernetes(meshguard::request_info::KubernetesMapping::default());
    let service = service(&["/v1/{resource}/{name}", "/v1/{resource}"], &["/healthz"]);
    let cases = [
        (
            &kubernetes,
            "GET",
            "/api/v1/namespaces/a/pods/p/log",
            "follow=1",
        ),
        (
            &kubernetes,
            "GET",
            "/apis/apps/v1/watch/namespaces/a/deployments",
            "",
        ),
        (&kubernetes, "DELETE", "/api/v1/namespaces/a/pods", ""),
        (&kubernetes, "GET", "/healthz", ""),
        (&service, "GET", "/v1/orders/42", ""),
        (&service, "GET", "/v1/orders", "watch=true"),
        (&service, "POST", "/healthz", ""),
        (&service, "GET", "/v2/other", ""),
    ];
    for (mapper, method, path, query) in cases {
        let target = format!("{path}?{query}");
        let info = mapper
            .resolve(method, &target, &ws("orders"), Protocol::Http)
            .unwrap();
        let attributes = mapper
            .attributes_normalized(method, path, query, &ws("orders"), Protocol::Http)
            .unwrap();
        assert_eq!(
            attributes,
            info.into_attributes(),
            "{method} {path}?{query}"
        );
    }
}

/// A mapper from the `authorization.requestMapping` of a configuration.
fn mapper_of(mapping: serde_json::Value) -> Result<RequestMapper, String> {
    meshguard::config::PluginConfig::from_value(serde_json::json!({
        "authentication": {"jwt": []},
        "authorization": {"requestMapping": mapping}
    }))
    .map_err(|e| e.to_string())?
    .request_mapper()
    .map_err(|e| e.to_string())
}

/// (verb, apiGroup, namespace, resource, subresource, name) of a request.
fn attrs(
    mapper: &RequestMapper,
    method: &str,
    target: &str,
    workload: &Workload,
    protocol: Protocol,
) -> (bool, String, String, String, String, String, String) {
    let i = mapper.resolve(method, target, workload, protocol).unwrap();
    (
        i.is_resource_request,
        i.verb,
        i.api_group,
        i.namespace,
        i.resource,
        i.subresource,
        i.name,
    )
}

#[test]
fn service_proxy_mode_makes_every_request_a_services_proxy_request_on_the_workload() {
    let mapper = mapper_of(serde_json::json!({
        "mode": "serviceProxy", "nonResourcePaths": ["/healthz"]
    }))
    .unwrap();
    let workload = Workload {
        namespace: "orders".into(),
        service: "orders".into(),
    };
    for (method, target, verb) in [
        ("GET", "/orders/42", "get"),
        ("HEAD", "/", "get"),
        ("GET", "/orders?watch=1", "get"),
        ("POST", "/orders", "create"),
        ("PUT", "/orders/42", "update"),
        ("PATCH", "/orders/42", "patch"),
        ("DELETE", "/orders", "delete"),
        ("OPTIONS", "/orders", "options"),
        ("PROPFIND", "/a/b/c/d/e", "propfind"),
        ("POST", "/orders.v1.OrderService/GetOrder", "create"),
    ] {
        assert_eq!(
            attrs(&mapper, method, target, &workload, Protocol::Http),
            (
                true,
                verb.into(),
                String::new(),
                "orders".into(),
                "services".into(),
                "proxy".into(),
                "orders".into()
            ),
            "{method} {target}"
        );
    }
    let health = mapper
        .resolve("GET", "/healthz", &workload, Protocol::Http)
        .unwrap();
    assert!(!health.is_resource_request);
    assert_eq!(
        (health.verb.as_str(), health.path.as_str()),
        ("get", "/healthz")
    );
    // Without grpc, a gRPC call is a POST like any other.
    assert_eq!(
        attrs(
            &mapper,
            "POST",
            "/orders.v1.OrderService/GetOrder",
            &workload,
            Protocol::Grpc
        )
        .1,
        "create"
    );
    // The configuration's namespace and service win over the node metadata's.
    let fixed = mapper_of(serde_json::json!({
        "mode": "serviceProxy", "namespace": "shop", "service": "cart"
    }))
    .unwrap();
    let got = attrs(&fixed, "GET", "/", &workload, Protocol::Http);
    assert_eq!((got.3.as_str(), got.6.as_str()), ("shop", "cart"));
}

#[test]
fn grpc_calls_are_the_method_as_verb_on_the_service_as_resource() {
    let workload = Workload {
        namespace: "orders".into(),
        service: "orders".into(),
    };
    for mode in ["serviceProxy", "service"] {
        let mapper = mapper_of(serde_json::json!({"mode": mode, "grpc": {}})).unwrap();
        assert_eq!(
            attrs(
                &mapper,
                "POST",
                "/orders.v1.OrderService/GetOrder",
                &workload,
                Protocol::Grpc
            ),
            (
                true,
                "GetOrder".into(),
                "grpc".into(),
                "orders".into(),
                "orders.v1.OrderService".into(),
                String::new(),
                String::new()
            ),
            "{mode}"
        );
        // Not /SERVICE/METHOD, or not a POST: a non-resource request.
        for (method, target) in [
            ("POST", "/orders.v1.OrderService"),
            ("POST", "/orders.v1.OrderService/GetOrder/x"),
            ("GET", "/orders.v1.OrderService/GetOrder"),
            ("POST", "/"),
        ] {
            let info = mapper
                .resolve(method, target, &workload, Protocol::Grpc)
                .unwrap();
            assert!(!info.is_resource_request, "{mode} {method} {target}");
        }
    }
    let grouped = mapper_of(serde_json::json!({
        "mode": "serviceProxy", "grpc": {"apiGroup": "rpc.example.com"}
    }))
    .unwrap();
    assert_eq!(
        attrs(&grouped, "POST", "/a.B/C", &workload, Protocol::Grpc).2,
        "rpc.example.com"
    );
    // The apiserver has no gRPC: kubernetes mode reads the call as HTTP.
    let kubernetes = RequestMapper::default();
    assert!(
        !kubernetes
            .resolve("POST", "/a.B/C", &workload, Protocol::Grpc)
            .unwrap()
            .is_resource_request
    );
}

#[test]
fn grpc_is_recognised_by_content_type_as_envoy_does() {
    use meshguard::request_info::is_grpc_content_type;
    for yes in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc+json",
        "Application/GRPC",
        "application/grpc;charset=utf-8",
        "application/grpc-web".get(..16).unwrap(),
    ] {
        assert!(is_grpc_content_type(yes), "{yes}");
    }
    for no in [
        "application/json",
        "application/grpcx",
        "application/grpc-web-text",
        "",
        "application/grp",
        "text/application/grpc",
    ] {
        assert!(!is_grpc_content_type(no), "{no}");
    }
}

#[test]
fn routes_may_fix_attributes_and_map_methods_to_verbs_of_their_own() {
    let mapper = mapper_of(serde_json::json!({
        "mode": "service",
        "routes": [
            {"path": "/api/checkout", "resource": "carts", "subresource": "checkout",
             "apiGroup": "shop.example.com", "verbs": {"post": "checkout"}},
            {"path": "/v1/orders/{name}/approve", "resource": "orders",
             "subresource": "approval", "verbs": {"POST": "approve", "GET": "get"}},
            {"path": "/v1/orders/{name}", "resource": "orders"},
            {"path": "/admin/{**}", "resource": "admin", "name": "console",
             "namespace": "ops"},
            "/v1/{resource}"
        ]
    }))
    .unwrap();
    let w = ws("orders");
    let h = Protocol::Http;
    let s = String::from;
    assert_eq!(
        attrs(&mapper, "POST", "/api/checkout", &w, h),
        (
            true,
            s("checkout"),
            s("shop.example.com"),
            s("orders"),
            s("carts"),
            s("checkout"),
            s("")
        )
    );
    // A method the route's verbs do not list gets the mode's verb.
    assert_eq!(attrs(&mapper, "GET", "/api/checkout", &w, h).1, "list");
    assert_eq!(
        attrs(&mapper, "POST", "/v1/orders/42/approve", &w, h),
        (
            true,
            s("approve"),
            s(""),
            s("orders"),
            s("orders"),
            s("approval"),
            s("42")
        )
    );
    assert_eq!(
        attrs(&mapper, "DELETE", "/v1/orders/42", &w, h),
        (
            true,
            s("delete"),
            s(""),
            s("orders"),
            s("orders"),
            s(""),
            s("42")
        )
    );
    assert_eq!(
        attrs(&mapper, "GET", "/admin/users/7/reset", &w, h),
        (
            true,
            s("get"),
            s(""),
            s("ops"),
            s("admin"),
            s(""),
            s("console")
        )
    );
    assert_eq!(attrs(&mapper, "GET", "/v1/charges", &w, h).4, "charges");
    // First match wins; no match: a non-resource request.
    assert!(!attrs(&mapper, "GET", "/v2/orders", &w, h).0);
}

#[test]
fn route_errors_name_the_route_and_say_what_is_wrong() {
    for (route, wanted) in [
        (serde_json::json!("/v1/{name}"), "must contain {resource}"),
        (
            serde_json::json!({"path": "/v1/{name}"}),
            "must contain {resource} or set",
        ),
        (
            serde_json::json!({"path": "/v1/{resource}", "resource": "orders"}),
            "sets resource and its path has {resource}",
        ),
        (
            serde_json::json!({"path": "/x", "resource": "a/b"}),
            "without '/'",
        ),
        (
            serde_json::json!({"path": "/x", "resource": "*"}),
            "not \"*\"",
        ),
        (
            serde_json::json!({"path": "/x", "resource": ""}),
            "non-empty",
        ),
        (
            serde_json::json!({"path": "x", "resource": "a"}),
            "must start with '/'",
        ),
        (
            serde_json::json!({"path": "/x", "resource": "a", "verbs": {"GET": ""}}),
            "verbs.GET",
        ),
        (
            serde_json::json!({"path": "/x", "resource": "a", "verbs": {"G T": "get"}}),
            "is not an HTTP method",
        ),
        (
            serde_json::json!({"path": "/x", "resource": "a", "verbs": {"get": "a", "GET": "b"}}),
            "listed twice",
        ),
        (
            serde_json::json!({"path": "/x", "resorce": "a"}),
            "unknown field `resorce`",
        ),
        (
            serde_json::json!(7),
            "a route template string or a route object",
        ),
    ] {
        let error =
            mapper_of(serde_json::json!({"mode": "service", "routes": ["/ok/{resource}", route]}))
                .unwrap_err();
        assert!(
            error.contains("authorization.requestMapping.routes[1]") && error.contains(wanted),
            "{route}: {error}"
        );
    }
}

#[test]
fn each_mode_refuses_the_fields_of_the_others_and_mode_defaults_to_kubernetes() {
    for (mapping, wanted) in [
        (
            serde_json::json!({"mode": "serviceProxy", "routes": ["/{resource}"]}),
            "routes: applies to mode \"service\" only",
        ),
        (
            serde_json::json!({"mode": "service", "service": "orders"}),
            "service: applies to mode \"serviceProxy\" only",
        ),
        (
            serde_json::json!({"mode": "kubernetes", "grpc": {}}),
            "grpc: applies to mode \"service\" and \"serviceProxy\" only",
        ),
        (
            serde_json::json!({"namespace": "orders"}),
            "(the mode is \"kubernetes\")",
        ),
        (
            serde_json::json!({"mode": "proxy"}),
            "must be \"serviceProxy\"",
        ),
        (
            serde_json::json!({"mode": "serviceProxy", "service": "a/b"}),
            "requestMapping.service",
        ),
        (
            serde_json::json!({"mode": "serviceProxy", "grpc": {"apiGroup": "a b"}}),
            "requestMapping.grpc.apiGroup",
        ),
    ] {
        let error = mapper_of(mapping.clone()).unwrap_err();
        assert!(error.contains(wanted), "{mapping}: {error}");
    }
    assert_eq!(
        mapper_of(serde_json::json!({})).unwrap(),
        RequestMapper::default()
    );
}
