//! From an HTTP request to what RBAC is asked: [`RequestInfo`], then
//! [`Attributes`](crate::rbac::Attributes).
//!
//! Three modes: [`ServiceProxyMapping`] (every request is the apiserver's service-proxy
//! request on this workload's service — the recommended start), [`ServiceMapping`] (REST
//! paths of a service as resources, by convention or by routes) and [`KubernetesMapping`] (a
//! port of the kube-apiserver's resolver, for proxies in front of Kubernetes-style APIs); gRPC
//! calls may be mapped by service and method ([`GrpcMapping`]). All see the path only after
//! [`path::normalize_path`].

pub mod grpc;
pub mod kubernetes;
pub mod method;
pub mod params;
pub mod path;
pub mod service;
pub mod service_proxy;

use std::fmt;

pub use grpc::{is_grpc_content_type, GrpcMapping};
pub use kubernetes::{KubernetesMapping, RequestInfo, UnresolvableRequest};
pub use method::MethodOverride;
pub use path::PathError;
pub use service::{one_name, FixedAttributes, Route, RouteTemplate, ServiceMapping};
pub use service_proxy::ServiceProxyMapping;

use crate::rbac::Attributes;

/// The workload the proxy serves, as node metadata (or the configuration) names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Its namespace (Istio's node metadata `NAMESPACE`).
    pub namespace: String,
    /// Its service (Istio's canonical service: the `service.istio.io/canonical-name` label).
    pub service: String,
}

impl Workload {
    /// A workload in `namespace`, of no known service.
    pub fn in_namespace(namespace: &str) -> Self {
        Workload {
            namespace: namespace.to_owned(),
            service: String::new(),
        }
    }
}

/// What the request speaks, as far as the mapping cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP.
    #[default]
    Http,
    /// gRPC (`content-type: application/grpc…`).
    Grpc,
}

impl Protocol {
    /// The protocol a request's `content-type` says.
    pub fn of_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(value) if is_grpc_content_type(value) => Protocol::Grpc,
            _ => Protocol::Http,
        }
    }
}

/// How requests are mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestMapper {
    /// The apiserver's own resolution.
    Kubernetes(KubernetesMapping),
    /// REST-style paths of a mesh service.
    Service(ServiceMapping),
    /// Every request is a service-proxy request on the workload's service.
    ServiceProxy(ServiceProxyMapping),
}

impl Default for RequestMapper {
    fn default() -> Self {
        RequestMapper::Kubernetes(KubernetesMapping::default())
    }
}

/// Why a request could not be mapped (answered with 400 `request_rejected`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The path cannot be normalised safely.
    Path(PathError),
    /// The path names a special verb but no resource.
    Unresolvable(UnresolvableRequest),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Path(e) => e.fmt(f),
            RequestError::Unresolvable(e) => f.write_str(&e.message),
        }
    }
}

impl RequestMapper {
    /// Maps a request: `target` is the request target (`:path`, with its query);
    /// `workload` the one the proxy serves (service modes only).
    pub fn resolve(
        &self,
        method: &str,
        target: &str,
        workload: &Workload,
        protocol: Protocol,
    ) -> Result<RequestInfo, RequestError> {
        let (raw_path, query) = path::split_target(target);
        let path = path::normalize_path(raw_path).map_err(RequestError::Path)?;
        self.resolve_with(method, &path, query, workload, protocol, Parts::Keep)
    }

    /// The authorizer's view of a request whose path is already normalised
    /// (`path::normalize_path`), given with its query: what [`resolve`](Self::resolve) gives,
    /// without the path parts the authorizer does not read. The filter normalises once, for the bypass paths and for this.
    pub fn attributes_normalized(
        &self,
        method: &str,
        path: &str,
        query: &str,
        workload: &Workload,
        protocol: Protocol,
    ) -> Result<Attributes, RequestError> {
        self.resolve_with(method, path, query, workload, protocol, Parts::Skip)
            .map(RequestInfo::into_attributes)
    }

    fn resolve_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        workload: &Workload,
        protocol: Protocol,
        parts: Parts,
    ) -> Result<RequestInfo, RequestError> {
        match self {
            // The apiserver has no gRPC: its resolver reads every request as HTTP.
            RequestMapper::Kubernetes(mapping) => mapping
                .resolve_with(method, path, query, parts)
                .map_err(RequestError::Unresolvable),
            RequestMapper::Service(mapping) => {
                Ok(mapping.resolve_with(method, path, query, workload, protocol, parts))
            }
            RequestMapper::ServiceProxy(mapping) => {
                Ok(mapping.resolve(method, path, workload, protocol))
            }
        }
    }
}

/// Whether a resolution fills [`RequestInfo::parts`] (shown by `meshguard request-info`; the
/// authorizer does not read it, so a decision skips its allocations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parts {
    Keep,
    Skip,
}

impl Parts {
    fn collect(self, parts: &[&str]) -> Vec<String> {
        match self {
            Parts::Keep => parts.iter().map(|p| (*p).to_owned()).collect(),
            Parts::Skip => Vec::new(),
        }
    }
}

impl RequestInfo {
    /// The authorizer's view of the request.
    pub fn into_attributes(self) -> Attributes {
        Attributes {
            resource_request: self.is_resource_request,
            verb: self.verb,
            namespace: self.namespace,
            api_group: self.api_group,
            resource: self.resource,
            subresource: self.subresource,
            name: self.name,
            path: self.path,
        }
    }
}
