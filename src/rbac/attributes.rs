//! What is being asked: the authorizer's view of a request (the apiserver's
//! `authorizer.Attributes`, without the user, which is passed beside it).

use serde::Serialize;

/// The verb, object and namespace of a request, or the path and verb of a non-resource request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    /// `true` for requests on API objects; `false` for plain paths (`/healthz`).
    pub resource_request: bool,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, … or
    /// for non-resource requests the lowercase HTTP method.
    pub verb: String,
    /// Empty for cluster-scoped requests.
    pub namespace: String,
    /// The API group; empty for the core group.
    pub api_group: String,
    /// The resource (`pods`).
    pub resource: String,
    /// The subresource (`log`), if any.
    pub subresource: String,
    /// The object's name, if the request names one.
    pub name: String,
    /// The request path (what non-resource rules match).
    pub path: String,
}

impl Attributes {
    /// A resource request.
    pub fn resource(verb: &str, namespace: &str, api_group: &str, resource: &str) -> Self {
        Attributes {
            resource_request: true,
            verb: verb.to_owned(),
            namespace: namespace.to_owned(),
            api_group: api_group.to_owned(),
            resource: resource.to_owned(),
            ..Attributes::default()
        }
    }

    /// A non-resource request.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.to_owned(),
            path: path.to_owned(),
            ..Attributes::default()
        }
    }

    /// The same request on a named object.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The same request on a subresource.
    pub fn on_subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.to_owned();
        self
    }

    /// The message the kube-apiserver puts in a 403 `Status`, word for word, so clients
    /// show a meshguard denial the way they show an apiserver one.
    pub fn forbidden_message(&self, username: &str) -> String {
        if !self.resource_request {
            return format!(
                "User {username:?} cannot {} path {:?}",
                self.verb, self.path
            );
        }
        let mut resource = self.resource.clone();
        if !self.subresource.is_empty() {
            resource.push('/');
            resource.push_str(&self.subresource);
        }
        if self.namespace.is_empty() {
            format!(
                "User {username:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                self.verb, self.api_group
            )
        } else {
            format!(
                "User {username:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                self.verb, self.api_group, self.namespace
            )
        }
    }
}
