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
//! With `routes`, the first [`Route`] whose template matches the path decides resource, name,
//! subresource (and `{namespace}`, if the template has it); a route may also set any of them,
//! and the API group, to a fixed value, and map methods to verbs of its own. A path that no
//! route matches is a non-resource request, which only `nonResourceURLs` rules can allow.
//! Without routes, a path deeper than `resource/name/subresource` is a non-resource request
//! too: unlike the apiserver, a service acts on the segments after the subresource
//! (`POST /orders/42/items/7/refund` is not `create orders/items`).

use std::collections::BTreeMap;
use std::fmt;

use super::grpc::GrpcMapping;
use super::kubernetes::{verb_for_method, RequestInfo};
use super::params::is_token;
use super::path::query_values;
use super::{Parts, Protocol, Workload};

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
        let template = Self::parse_any(text)?;
        if !template.segments.contains(&Segment::Resource) {
            return Err(TemplateError(format!(
                "route {text:?} must contain {{resource}} (or be an object that sets \"resource\")"
            )));
        }
        Ok(template)
    }

    /// As [`parse`](Self::parse), without requiring `{resource}` (a [`Route`] may set it).
    fn parse_any(text: &str) -> Result<Self, TemplateError> {
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
        Ok(RouteTemplate {
            text: text.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template has this variable.
    fn has(&self, segment: &Segment) -> bool {
        self.segments.contains(segment)
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

/// Attribute values a [`Route`] sets whatever the path says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixedAttributes {
    /// The API group (otherwise the mapping's).
    pub api_group: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The subresource.
    pub subresource: Option<String>,
    /// The object's name.
    pub name: Option<String>,
    /// The namespace (otherwise the mapping's, or the template's `{namespace}`).
    pub namespace: Option<String>,
}

/// One entry of `routes`: a path template, attributes it fixes, and verbs of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    template: RouteTemplate,
    fixed: FixedAttributes,
    /// HTTP method (upper case) → RBAC verb; methods not listed get the mode's verb.
    verbs: BTreeMap<String, String>,
}

impl From<RouteTemplate> for Route {
    fn from(template: RouteTemplate) -> Self {
        Route {
            template,
            fixed: FixedAttributes::default(),
            verbs: BTreeMap::new(),
        }
    }
}

/// Whether a value the configuration fixes for a request attribute (a route's resource or
/// name, a namespace, a service, an API group) can be asked of RBAC: not empty, no `/` (the
/// authorizer reads `resource/subresource`), no `*` (a request names one thing), no white space
/// or control characters.
pub fn one_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.contains(['/', '*']) {
        return Err(format!(
            "{value:?} must be one non-empty name, without '/' and not \"*\""
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{value:?} must not contain white space or control characters"
        ));
    }
    Ok(())
}

fn check_fixed(field: &str, value: &str) -> Result<(), TemplateError> {
    one_name(value).map_err(|problem| TemplateError(format!("{field} {problem}")))
}

impl Route {
    /// A route from its parts. The template need not name `{resource}` when `fixed` sets it;
    /// an attribute may come from the path or be fixed, not both. `verbs` keys are HTTP
    /// methods (any case; stored upper case), values RBAC verbs (custom verbs are valid RBAC).
    pub fn new(
        path: &str,
        fixed: FixedAttributes,
        verbs: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let template = RouteTemplate::parse_any(path)?;
        let pairs = [
            ("resource", &fixed.resource, Segment::Resource),
            ("subresource", &fixed.subresource, Segment::Subresource),
            ("name", &fixed.name, Segment::Name),
            ("namespace", &fixed.namespace, Segment::Namespace),
        ];
        for (field, value, segment) in pairs {
            if let Some(value) = value {
                check_fixed(field, value)?;
                if template.has(&segment) {
                    return Err(TemplateError(format!(
                        "route {path:?} sets {field} and its path has {{{field}}}: choose one"
                    )));
                }
            }
        }
        if let Some(group) = &fixed.api_group {
            // The core group is "": the one fixed value that may be empty.
            if !group.is_empty() {
                check_fixed("apiGroup", group)?;
            }
        }
        if fixed.resource.is_none() && !template.has(&Segment::Resource) {
            return Err(TemplateError(format!(
                "route {path:?} must contain {{resource}} or set \"resource\""
            )));
        }
        let mut upper = BTreeMap::new();
        for (method, verb) in verbs {
            if !is_token(&method) {
                return Err(TemplateError(format!(
                    "verbs: {method:?} is not an HTTP method"
                )));
            }
            if verb.is_empty() || verb.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(TemplateError(format!(
                    "verbs.{method}: {verb:?} must be a non-empty verb without white space"
                )));
            }
            if upper.insert(method.to_ascii_uppercase(), verb).is_some() {
                return Err(TemplateError(format!(
                    "verbs: {method:?} is listed twice (methods are case-insensitive)"
                )));
            }
        }
        Ok(Route {
            template,
            fixed,
            verbs: upper,
        })
    }

    /// The path template as written.
    pub fn path(&self) -> &str {
        self.template.as_str()
    }

    /// Matches the path; fills what the template captures, then the fixed attributes.
    fn matches(&self, parts: &[&str], info: &mut RequestInfo) -> bool {
        if !self.template.matches(parts, info) {
            return false;
        }
        let fixed = &self.fixed;
        for (value, slot) in [
            (&fixed.api_group, &mut info.api_group),
            (&fixed.resource, &mut info.resource),
            (&fixed.subresource, &mut info.subresource),
            (&fixed.name, &mut info.name),
            (&fixed.namespace, &mut info.namespace),
        ] {
            if let Some(value) = value {
                slot.clone_from(value);
            }
        }
        true
    }

    /// The verb this route gives `method`, when it maps it itself.
    fn verb(&self, method: &str) -> Option<&str> {
        if self.verbs.is_empty() {
            return None;
        }
        self.verbs
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, verb)| verb.as_str())
    }
}

/// `service`-mode settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceMapping {
    /// The namespace requests are in; when `None`, the proxy's own namespace (node metadata).
    pub namespace: Option<String>,
    /// The API group the service's resources are in (default: the core group, `""`).
    pub api_group: String,
    /// Routes, tried in order.
    pub routes: Vec<Route>,
    /// Paths that are non-resource URLs (exact, or a prefix when ending in `*`).
    pub non_resource_paths: Vec<String>,
    /// gRPC calls mapped by service and method, when set.
    pub grpc: Option<GrpcMapping>,
}

/// Whether `path` is one of `paths` (exact, or under a prefix ending in `*`).
pub(super) fn listed(paths: &[String], path: &str) -> bool {
    paths.iter().any(|p| {
        p == path
            || p.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// A non-resource request: the path as is, the lower-case method as the verb.
pub(super) fn non_resource(method: &str, path: &str) -> RequestInfo {
    RequestInfo {
        path: path.to_owned(),
        verb: method.to_ascii_lowercase(),
        ..RequestInfo::default()
    }
}

impl ServiceMapping {
    /// Resolves a request. `path` must already be normalised; `workload` is the proxy's.
    pub fn resolve(
        &self,
        method: &str,
        path: &str,
        query: &str,
        workload: &Workload,
    ) -> RequestInfo {
        self.resolve_with(method, path, query, workload, Protocol::Http, Parts::Keep)
    }

    fn namespace(&self, workload: &Workload) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| workload.namespace.clone())
    }

    /// [`resolve`](Self::resolve), for `protocol`, filling `parts` only when `keep_parts`
    /// says so.
    pub(crate) fn resolve_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        workload: &Workload,
        protocol: Protocol,
        keep_parts: Parts,
    ) -> RequestInfo {
        if listed(&self.non_resource_paths, path) {
            return non_resource(method, path);
        }
        if let (Protocol::Grpc, Some(grpc)) = (protocol, &self.grpc) {
            return grpc.resolve(method, path, &self.namespace(workload));
        }
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.is_empty() {
            return non_resource(method, path);
        }
        let mut info = RequestInfo {
            is_resource_request: true,
            path: path.to_owned(),
            verb: verb_for_method(method).to_owned(),
            api_group: self.api_group.clone(),
            namespace: self.namespace(workload),
            ..RequestInfo::default()
        };
        if self.routes.is_empty() {
            // Deeper than resource/name/subresource: nothing RBAC can name (the apiserver's
            // resolver would drop the rest, but the service reads it), so only a
            // nonResourceURLs rule, or a route with {**}, can allow it.
            if parts.len() > 3 {
                return non_resource(method, path);
            }
            info.resource = parts[0].to_owned();
            info.name = parts.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
            info.subresource = parts.get(2).map(|s| (*s).to_owned()).unwrap_or_default();
        } else {
            let Some(route) = self.routes.iter().find(|r| r.matches(&parts, &mut info)) else {
                return non_resource(method, path);
            };
            if let Some(verb) = route.verb(method) {
                // The route's own verb, as written: no list/watch/deletecollection guessing.
                info.verb = verb.to_owned();
                info.parts = keep_parts.collect(&parts);
                return info;
            }
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
