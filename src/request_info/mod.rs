//! From an HTTP request to what RBAC is asked: [`RequestInfo`], then
//! [`Attributes`](crate::rbac::Attributes).
//!
//! Two modes: [`KubernetesMapping`] (a port of the kube-apiserver's resolver, for proxies in
//! front of Kubernetes-style APIs) and [`ServiceMapping`] (REST paths of mesh services). Both
//! see the path only after [`path::normalize_path`].

pub mod kubernetes;
pub mod method;
pub mod params;
pub mod path;
pub mod service;

use std::fmt;

pub use kubernetes::{KubernetesMapping, RequestInfo, UnresolvableRequest};
pub use method::MethodOverride;
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
        self.resolve_with(method, &path, query, proxy_namespace, Parts::Keep)
    }

    /// The authorizer's view of a request whose path is already normalised
    /// (`path::normalize_path`), given with its query: what [`resolve`](Self::resolve) gives,
    /// without the path parts the authorizer does not read. The filter normalises once, for the bypass paths and for this.
    pub fn attributes_normalized(
        &self,
        method: &str,
        path: &str,
        query: &str,
        proxy_namespace: &str,
    ) -> Result<Attributes, RequestError> {
        self.resolve_with(method, path, query, proxy_namespace, Parts::Skip)
            .map(RequestInfo::into_attributes)
    }

    fn resolve_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        proxy_namespace: &str,
        parts: Parts,
    ) -> Result<RequestInfo, RequestError> {
        match self {
            RequestMapper::Kubernetes(mapping) => mapping
                .resolve_with(method, path, query, parts)
                .map_err(RequestError::Unresolvable),
            RequestMapper::Service(mapping) => {
                Ok(mapping.resolve_with(method, path, query, proxy_namespace, parts))
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
