//! From an HTTP request to what RBAC is asked: [`RequestInfo`], then
//! [`Attributes`](crate::rbac::Attributes).
//!
//! Two modes: [`KubernetesMapping`] (a port of the kube-apiserver's resolver, for proxies in
//! front of Kubernetes-style APIs) and [`ServiceMapping`] (REST paths of mesh services). Both
//! see the path only after [`path::normalize_path`].

pub mod kubernetes;
pub mod path;
pub mod service;

use std::fmt;

pub use kubernetes::{KubernetesMapping, RequestInfo, UnresolvableRequest};
pub use path::PathError;
pub use service::{RouteTemplate, ServiceMapping};

use crate::rbac::Attributes;

/// How requests are mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestMapper {
    /// The apiserver's own resolution.
    Kubernetes(KubernetesMapping),
    /// REST-style paths of a mesh service.
    Service(ServiceMapping),
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
    /// `proxy_namespace` the workload namespace the proxy reports (service mode only).
    pub fn resolve(
        &self,
        method: &str,
        target: &str,
        proxy_namespace: &str,
    ) -> Result<RequestInfo, RequestError> {
        let (raw_path, query) = path::split_target(target);
        let path = path::normalize_path(raw_path).map_err(RequestError::Path)?;
        self.resolve_normalized(method, &path, query, proxy_namespace)
    }

    /// [`resolve`](Self::resolve) for a path already normalised (`path::normalize_path`) and
    /// its query: the filter normalises once, for the bypass paths and for this.
    pub fn resolve_normalized(
        &self,
        method: &str,
        path: &str,
        query: &str,
        proxy_namespace: &str,
    ) -> Result<RequestInfo, RequestError> {
        match self {
            RequestMapper::Kubernetes(mapping) => mapping
                .resolve(method, path, query)
                .map_err(RequestError::Unresolvable),
            RequestMapper::Service(mapping) => {
                Ok(mapping.resolve(method, path, query, proxy_namespace))
            }
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
