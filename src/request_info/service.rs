//! `service` mode: calls between services in a mesh, mapped onto RBAC attributes.
//!
//! | request | namespace | resource / name / subresource | verb |
//! |---|---|---|---|
//! | `GET /orders` | the destination workload's | `orders` | `list` (`watch` with `?watch=1`) |
//! | `GET /orders/42` | ″ | `orders`, `42` | `get` |
//! | `GET /orders/42/items` | ″ | `orders`, `42`, `items` | `get` |
//! | `POST /orders` | ″ | `orders` | `create` |
//! | `PUT` / `PATCH /orders/42` | ″ | `orders`, `42` | `update` / `patch` |
//! | `DELETE /orders/42`, `DELETE /orders` | ″ | `orders` (`42`) | `delete` / `deletecollection` |
//! | a path in `nonResourcePaths` (`/healthz`, `/metrics/*`) | — | non-resource URL | lowercase method |
//! | `/` | — | non-resource URL `/` | lowercase method |
//!
//! With `routes` (templates such as `/v1/{resource}/{name}`), the first template that matches
//! the path decides resource, name, subresource (and `{namespace}`, if the template has it); a
//! path that no template matches is a non-resource request, which only `nonResourceURLs` rules
//! can allow. Without routes, a path deeper than `resource/name/subresource` is a non-resource
//! request too: unlike the apiserver, a service acts on the segments after the subresource
//! (`POST /orders/42/items/7/refund` is not `create orders/items`).

use std::fmt;

use super::kubernetes::{verb_for_method, RequestInfo};
use super::path::query_values;
use super::Parts;

/// One segment of a route template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Resource,
    Name,
    Subresource,
    Namespace,
    /// `{*}`: any one segment.
    Any,
    /// `{**}` at the end: any remaining segments.
    Rest,
}

/// A compiled route template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate {
    text: String,
    segments: Vec<Segment>,
}

/// Why a route template was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RouteTemplate {
    /// Parses `/v1/{resource}/{name}/{subresource}`-style templates. The template must name
    /// `{resource}`; each variable may appear once; `{**}` only last.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let Some(body) = text.strip_prefix('/') else {
            return Err(TemplateError(format!("route {text:?} must start with '/'")));
        };
        let mut segments = Vec::new();
        for raw in body.split('/').filter(|s| !s.is_empty()) {
            let segment = match raw {
                "{resource}" => Segment::Resource,
                "{name}" => Segment::Name,
                "{subresource}" => Segment::Subresource,
                "{namespace}" => Segment::Namespace,
                "{*}" => Segment::Any,
                "{**}" => Segment::Rest,
                other if other.contains(['{', '}']) => {
                    return Err(TemplateError(format!(
                        "route {text:?}: unknown variable {other:?} (use {{resource}}, {{name}}, {{subresource}}, {{namespace}}, {{*}} or {{**}})"
                    )))
                }
                other => Segment::Literal(other.to_owned()),
            };
            if segment != Segment::Any
                && !matches!(segment, Segment::Literal(_))
                && segments.contains(&segment)
            {
                return Err(TemplateError(format!(
                    "route {text:?}: {raw} appears twice"
                )));
            }
            if segments.last() == Some(&Segment::Rest) {
                return Err(TemplateError(format!(
                    "route {text:?}: {{**}} must be the last segment"
                )));
            }
            segments.push(segment);
        }
        if !segments.contains(&Segment::Resource) {
            return Err(TemplateError(format!(
                "route {text:?} must contain {{resource}}"
            )));
        }
        Ok(RouteTemplate {
            text: text.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Matches path segments; fills resource, name, subresource, namespace.
    fn matches(&self, parts: &[&str], info: &mut RequestInfo) -> bool {
        let mut matched = RequestInfo::default();
        let mut i = 0;
        for segment in &self.segments {
            if *segment == Segment::Rest {
                i = parts.len();
                break;
            }
            let Some(part) = parts.get(i) else {
                return false;
            };
            match segment {
                Segment::Literal(literal) if literal != part => return false,
                Segment::Resource => matched.resource = (*part).to_owned(),
                Segment::Name => matched.name = (*part).to_owned(),
                Segment::Subresource => matched.subresource = (*part).to_owned(),
                Segment::Namespace => matched.namespace = (*part).to_owned(),
                _ => {}
            }
            i += 1;
        }
        if i != parts.len() {
            return false;
        }
        info.resource = matched.resource;
        info.name = matched.name;
        info.subresource = matched.subresource;
        if !matched.namespace.is_empty() {
            info.namespace = matched.namespace;
        }
        true
    }
}

/// `service`-mode settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceMapping {
    /// The namespace requests are in; when `None`, the proxy's own namespace (node metadata).
    pub namespace: Option<String>,
    /// The API group the service's resources are in (default: the core group, `""`).
    pub api_group: String,
    /// Route templates, tried in order.
    pub routes: Vec<RouteTemplate>,
    /// Paths that are non-resource URLs (exact, or a prefix when ending in `*`).
    pub non_resource_paths: Vec<String>,
}

impl ServiceMapping {
    /// Resolves a request. `path` must already be normalised; `proxy_namespace` is the
    /// namespace the proxy reports for its workload.
    pub fn resolve(
        &self,
        method: &str,
        path: &str,
        query: &str,
        proxy_namespace: &str,
    ) -> RequestInfo {
        self.resolve_with(method, path, query, proxy_namespace, Parts::Keep)
    }

    /// [`resolve`](Self::resolve), filling `parts` only when `keep_parts` says so.
    pub(crate) fn resolve_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        proxy_namespace: &str,
        keep_parts: Parts,
    ) -> RequestInfo {
        let non_resource = || RequestInfo {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..RequestInfo::default()
        };
        let listed = self.non_resource_paths.iter().any(|p| {
            p == path
                || p.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        });
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if listed || parts.is_empty() {
            return non_resource();
        }
        let mut info = RequestInfo {
            is_resource_request: true,
            path: path.to_owned(),
            verb: verb_for_method(method).to_owned(),
            api_group: self.api_group.clone(),
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| proxy_namespace.to_owned()),
            ..RequestInfo::default()
        };
        if self.routes.is_empty() {
            // Deeper than resource/name/subresource: nothing RBAC can name (the apiserver's
            // resolver would drop the rest, but the service reads it), so only a
            // nonResourceURLs rule, or a route with {**}, can allow it.
            if parts.len() > 3 {
                return non_resource();
            }
            info.resource = parts[0].to_owned();
            info.name = parts.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
            info.subresource = parts.get(2).map(|s| (*s).to_owned()).unwrap_or_default();
        } else if !self.routes.iter().any(|r| r.matches(&parts, &mut info)) {
            return non_resource();
        }
        info.parts = keep_parts.collect(&parts);
        if info.name.is_empty() && info.verb == "get" {
            let watch = query_values(query, "watch")
                .first()
                .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
            info.verb = if watch { "watch" } else { "list" }.to_owned();
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        info
    }
}
