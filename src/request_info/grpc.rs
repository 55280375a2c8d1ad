//! gRPC calls as RBAC requests: `POST /orders.v1.OrderService/GetOrder` is the verb `GetOrder`
//! on the resource `orders.v1.OrderService` (the service's full name, as written in its
//! `.proto`) in a configured API group, in the workload's namespace.
//!
//! Why this form: a gRPC method is an operation (an RBAC verb) on a service (an RBAC
//! resource), and RBAC matches verbs and resources as exact strings, custom ones included. A
//! role then reads as the `.proto` does (`resources: [orders.v1.OrderService]`,
//! `verbs: [GetOrder, ListOrders]`), and "may only read" is a list of read methods. The
//! service-proxy form (one verb for every call) could not say that.

use super::kubernetes::RequestInfo;
use super::service::non_resource;

/// The API group gRPC services are in when the configuration does not name one.
pub const DEFAULT_GRPC_API_GROUP: &str = "grpc";

/// `requestMapping.grpc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcMapping {
    /// The API group of every gRPC service.
    pub api_group: String,
}

impl Default for GrpcMapping {
    fn default() -> Self {
        GrpcMapping {
            api_group: DEFAULT_GRPC_API_GROUP.to_owned(),
        }
    }
}

/// Whether a request is a gRPC call: its `content-type` is `application/grpc`, alone or with
/// a `+format` or `;parameters` (gRPC over HTTP/2), as Envoy decides it (gRPC-Web converted
/// by Envoy's filter arrives as gRPC).
pub fn is_grpc_content_type(content_type: &str) -> bool {
    let Some(rest) = content_type
        .get(..16)
        .filter(|head| head.eq_ignore_ascii_case("application/grpc"))
        .map(|_| &content_type[16..])
    else {
        return false;
    };
    rest.is_empty() || rest.starts_with(['+', ';'])
}

impl GrpcMapping {
    /// Maps a gRPC call. A path that is not `/SERVICE/METHOD`, or a method other than POST
    /// (every gRPC call is a POST), is a non-resource request: only `nonResourceURLs` rules
    /// can allow it.
    pub fn resolve(&self, method: &str, path: &str, namespace: &str) -> RequestInfo {
        let mut parts = path.strip_prefix('/').unwrap_or_default().split('/');
        let (Some(service), Some(call), None) = (parts.next(), parts.next(), parts.next()) else {
            return non_resource(method, path);
        };
        if method != "POST" || service.is_empty() || call.is_empty() {
            return non_resource(method, path);
        }
        RequestInfo {
            is_resource_request: true,
            path: path.to_owned(),
            verb: call.to_owned(),
            api_group: self.api_group.clone(),
            namespace: namespace.to_owned(),
            resource: service.to_owned(),
            ..RequestInfo::default()
        }
    }
}
