//! `serviceProxy` mode: every request to the workload is the apiserver's service-proxy request
//! — `VERB services/proxy` on the service's name in its namespace — so the policy a platform
//! team already writes for "who may call this service" applies as written:
//!
//! ```yaml
//! rules:
//! - apiGroups: [""]
//!   resources: [services/proxy]
//!   resourceNames: [orders]
//!   verbs: [get]          # batch may only read
//! ```
//!
//! | method | verb |
//! |---|---|
//! | GET, HEAD | `get` |
//! | POST | `create` |
//! | PUT | `update` |
//! | PATCH | `patch` |
//! | DELETE | `delete` |
//! | any other (OPTIONS, …) | its lower-case name (`options`) |
//!
//! The path does not change the attributes (the apiserver's proxy verbs do not either); paths
//! in `nonResourcePaths` (`/healthz`) are non-resource requests, and gRPC calls are mapped by
//! service and method when `grpc` is set.

use super::grpc::GrpcMapping;
use super::kubernetes::RequestInfo;
use super::service::{listed, non_resource};
use super::{Protocol, Workload};

/// `serviceProxy`-mode settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceProxyMapping {
    /// The namespace; when `None`, the workload's (node metadata `NAMESPACE`).
    pub namespace: Option<String>,
    /// The service's name; when `None`, the workload's canonical service (Istio node metadata).
    pub service: Option<String>,
    /// Paths that are non-resource URLs (exact, or a prefix when ending in `*`).
    pub non_resource_paths: Vec<String>,
    /// gRPC calls mapped by service and method, when set.
    pub grpc: Option<GrpcMapping>,
}

/// The verb of a service-proxy request made with `method`.
pub fn service_proxy_verb(method: &str) -> String {
    match method {
        "GET" | "HEAD" => "get".to_owned(),
        "POST" => "create".to_owned(),
        "PUT" => "update".to_owned(),
        "PATCH" => "patch".to_owned(),
        "DELETE" => "delete".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

impl ServiceProxyMapping {
    /// Resolves a request; `path` must already be normalised.
    pub fn resolve(
        &self,
        method: &str,
        path: &str,
        workload: &Workload,
        protocol: Protocol,
    ) -> RequestInfo {
        if listed(&self.non_resource_paths, path) {
            return non_resource(method, path);
        }
        let namespace = self.namespace.as_deref().unwrap_or(&workload.namespace);
        if let (Protocol::Grpc, Some(grpc)) = (protocol, &self.grpc) {
            return grpc.resolve(method, path, namespace);
        }
        RequestInfo {
            is_resource_request: true,
            path: path.to_owned(),
            verb: service_proxy_verb(method),
            namespace: namespace.to_owned(),
            resource: "services".to_owned(),
            subresource: "proxy".to_owned(),
            name: self
                .service
                .clone()
                .unwrap_or_else(|| workload.service.clone()),
            ..RequestInfo::default()
        }
    }
}
