//! The kube-apiserver's RequestInfo resolution, as a pure function.
//!
//! Forms understood (the same list as the apiserver's own documentation of its resolver):
//!
//! | path | verb from | resource / name / subresource |
//! |---|---|---|
//! | `/api`, `/apis`, `/api/v1`, `/apis/GROUP/VERSION`, `/healthz`, anything else | lowercase method | none: non-resource request |
//! | `/api/v1/RESOURCE` | method (GET → list/watch) | resource |
//! | `/api/v1/RESOURCE/NAME` | method | resource, name |
//! | `/api/v1/RESOURCE/NAME/SUBRESOURCE` | method | resource, name, subresource |
//! | `/api/v1/namespaces/NS/RESOURCE/...` | method | as above, namespace NS |
//! | `/api/v1/namespaces/NAME` and `/api/v1/namespaces/NAME/{status,finalize}` | method | the `namespaces` resource itself |
//! | `/api/v1/watch/...`, `/api/v1/proxy/...` | `watch` / `proxy` | as above, without subresource |
//! | `/apis/GROUP/VERSION/...` | as `/api/v1/...` | with API group |
//!
//! GET without a name is `list`, or `watch` with `?watch=` anything but `false`/`0`; a
//! `fieldSelector=metadata.name=X` then names the object. DELETE without a name is
//! `deletecollection`. HEAD is `get`.

use serde::Serialize;

use super::path::query_values;
use super::Parts;

/// What a request asks for, in the apiserver's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestInfo {
    /// `true` for requests on API objects.
    pub is_resource_request: bool,
    /// The (normalised) path.
    pub path: String,
    /// The Kubernetes verb, or the lowercase method for non-resource requests.
    pub verb: String,
    /// `api` or `apis` (or a configured prefix).
    pub api_prefix: String,
    /// The API group (empty for the core group).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace (empty for cluster-scoped requests).
    pub namespace: String,
    /// The resource.
    pub resource: String,
    /// The subresource.
    pub subresource: String,
    /// The object's name.
    pub name: String,
    /// The path parts from the resource on.
    pub parts: Vec<String>,
}

/// Which path prefixes are API roots, and which of them carry no group (`/api/v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesMapping {
    /// API prefixes (`api`, `apis`).
    pub api_prefixes: Vec<String>,
    /// Prefixes whose next segment is the version, not a group (`api`).
    pub groupless_api_prefixes: Vec<String>,
}

impl Default for KubernetesMapping {
    fn default() -> Self {
        KubernetesMapping {
            api_prefixes: vec!["api".to_owned(), "apis".to_owned()],
            groupless_api_prefixes: vec!["api".to_owned()],
        }
    }
}

/// The request cannot be resolved (the apiserver answers these with an error too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvableRequest {
    /// What is wrong.
    pub message: String,
}

/// Verbs that appear as a path segment.
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of a namespace object, which keep `namespaces/NAME/X` from meaning a resource
/// inside the namespace.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// The verb for a method on a resource, before list/watch/deletecollection refinement.
pub fn verb_for_method(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// Whether a name could be a path segment (`path.IsValidPathSegmentName`).
pub fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

impl KubernetesMapping {
    /// Resolves a request. `path` must already be normalised; `query` is the raw query string.
    pub fn resolve(
        &self,
        method: &str,
        path: &str,
        query: &str,
    ) -> Result<RequestInfo, UnresolvableRequest> {
        self.resolve_with(method, path, query, Parts::Keep)
    }

    /// [`resolve`](Self::resolve), filling `parts` only when `keep_parts` says so.
    pub(crate) fn resolve_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        keep_parts: Parts,
    ) -> Result<RequestInfo, UnresolvableRequest> {
        let mut info = RequestInfo {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..RequestInfo::default()
        };
        let trimmed = path.trim_matches('/');
        let all: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if all.len() < 3 || !self.api_prefixes.iter().any(|p| p == all[0]) {
            return Ok(info);
        }
        let prefix = all[0];
        let mut parts = &all[1..];
        let mut group = "";
        if !self.groupless_api_prefixes.iter().any(|p| p == prefix) {
            if parts.len() < 3 {
                return Ok(info);
            }
            group = parts[0];
            parts = &parts[1..];
        }
        info.api_prefix = prefix.to_owned();
        info.api_group = group.to_owned();
        info.is_resource_request = true;
        info.api_version = parts[0].to_owned();
        parts = &parts[1..];

        let mut verb_from_path = false;
        if SPECIAL_VERBS.contains(&parts[0]) {
            if parts.len() < 2 {
                return Err(UnresolvableRequest {
                    message: format!("unable to determine kind and namespace from url {path:?}"),
                });
            }
            info.verb = parts[0].to_owned();
            parts = &parts[1..];
            verb_from_path = true;
        } else {
            info.verb = verb_for_method(method).to_owned();
        }

        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].to_owned();
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
                parts = &parts[2..];
            }
        }
        info.parts = keep_parts.collect(parts);
        if parts.len() >= 3 && !verb_from_path {
            info.subresource = parts[2].to_owned();
        }
        if parts.len() >= 2 {
            info.name = parts[1].to_owned();
        }
        if let Some(resource) = parts.first() {
            info.resource = (*resource).to_owned();
        }

        if info.name.is_empty() && info.verb == "get" {
            let options = ListOptions::decode(query);
            info.verb = if options.watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = options.field_selector_name {
                if is_valid_path_segment_name(&name) {
                    info.name = name;
                }
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        Ok(info)
    }
}

/// The two list options that change a decision, decoded as the apiserver's parameter codec
/// does: `watch` is true unless absent, `false` or `0`; a `fieldSelector` requiring
/// `metadata.name` to equal a value names the object. If any option fails to decode (a bad
/// `fieldSelector`, a non-integer `limit` or `timeoutSeconds`), the apiserver keeps only
/// `watch` — and so do we.
#[derive(Debug, Default)]
struct ListOptions {
    watch: bool,
    field_selector_name: Option<String>,
}

impl ListOptions {
    fn decode(query: &str) -> Self {
        let watch = query_values(query, "watch")
            .first()
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
        let integers_ok = ["limit", "timeoutSeconds"].iter().all(|key| {
            query_values(query, key)
                .first()
                .is_none_or(|v| v.parse::<i64>().is_ok())
        });
        let selector = match query_values(query, "fieldSelector").first() {
            None => Ok(None),
            Some(selector) => field_selector_exact_name(selector),
        };
        match (integers_ok, selector) {
            (true, Ok(name)) => ListOptions {
                watch,
                field_selector_name: name,
            },
            _ => ListOptions {
                watch,
                field_selector_name: None,
            },
        }
    }
}

/// Parses a field selector and returns the value `metadata.name` must equal, if any
/// (`fields.ParseSelector` + `RequiresExactMatch`). `Err` for a selector that does not parse.
fn field_selector_exact_name(selector: &str) -> Result<Option<String>, ()> {
    let mut terms = split_terms(selector);
    terms.sort_unstable();
    let mut name = None;
    for term in terms.iter().filter(|t| !t.is_empty()) {
        let (lhs, op, rhs) = split_term(term).ok_or(())?;
        let value = unescape_value(rhs)?;
        if op != "!=" && lhs == "metadata.name" && name.is_none() {
            name = Some(value);
        }
    }
    Ok(name)
}

/// Splits on commas not escaped with a backslash.
fn split_terms(selector: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in selector.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    terms.push(current);
    terms
}

/// The first operator (`!=`, `==`, `=`) found scanning left to right.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=`; any other escape, or an unescaped `,` or `=`, is an error.
fn unescape_value(value: &str) -> Result<String, ()> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                _ => return Err(()),
            },
            ',' | '=' => return Err(()),
            other => out.push(other),
        }
    }
    Ok(out)
}
