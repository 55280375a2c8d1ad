//! Method overrides: a request that says it is another method than its `:method`.
//!
//! Express's `method-override`, Rails, Laravel, Symfony and Spring's `HiddenHttpMethodFilter`
//! execute `POST /orders/42` carrying `X-HTTP-Method-Override: DELETE` (or `X-HTTP-Method`,
//! `X-Method-Override`, or a `_method=DELETE` parameter) as a delete. RBAC must not authorize
//! a `create` that the application runs as a `delete`.

use serde::{Deserialize, Serialize};

use super::params;

/// The headers frameworks read a method override from (compared as servers compare header
/// names: case and `_`/`-` aside).
pub const OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter Rails, Laravel and Spring read a method override from.
pub const OVERRIDE_PARAMETER: &str = "_method";

/// What a request with a method override gets (`authorization.requestMapping.methodOverride`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MethodOverride {
    /// 400 `request_rejected` (the default).
    #[default]
    Reject,
    /// Authorized twice: as its own method and as the overriding one; both must be allowed
    /// (frameworks differ on which methods they let override, so the upstream may run either).
    Authorize,
}

/// One method override a request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Where: the header name as sent, or `query parameter _method`.
    pub source: String,
    /// The overriding method, upper-cased.
    pub method: String,
}

/// The method override a request carries, if any; an error (the message) when it carries
/// several that disagree or one that is not a method token.
pub fn find_override(headers: &[(&str, &str)], query: &str) -> Result<Option<Override>, String> {
    let mut found: Vec<Override> = Vec::new();
    for (name, value) in headers {
        if OVERRIDE_HEADERS
            .iter()
            .any(|h| params::same_header_name(name, h))
        {
            found.push(Override {
                source: format!("header {name}"),
                method: value.trim().to_ascii_uppercase(),
            });
        }
    }
    for value in params::query_find(query, OVERRIDE_PARAMETER) {
        found.push(Override {
            source: format!("query parameter {OVERRIDE_PARAMETER}"),
            method: params::lenient_decode(value.raw_value, true)
                .trim()
                .to_ascii_uppercase(),
        });
    }
    let Some(first) = found.first() else {
        return Ok(None);
    };
    if let Some(bad) = found.iter().find(|o| !params::is_token(&o.method)) {
        return Err(format!(
            "the method override in {} is not a method name",
            bad.source
        ));
    }
    if found.iter().any(|o| o.method != first.method) {
        return Err("the request carries method overrides that disagree".to_owned());
    }
    Ok(found.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_override_spelling_is_found() {
        for (headers, query) in [
            (vec![("X-HTTP-Method-Override", "DELETE")], ""),
            (vec![("x_http_method_override", "delete")], ""),
            (vec![("X-HTTP-Method", "DELETE")], ""),
            (vec![("X-Method-Override", " DELETE ")], ""),
            (vec![], "_method=DELETE"),
            (vec![], "a=1&%5Fmethod=delete"),
        ] {
            let found = find_override(&headers, query);
            assert_eq!(
                found.map(|o| o.map(|o| o.method)),
                Ok(Some("DELETE".to_owned())),
                "{headers:?} {query}"
            );
        }
        assert_eq!(
            find_override(&[("x-method", "DELETE")], "method=x"),
            Ok(None)
        );
    }

    #[test]
    fn disagreeing_or_broken_overrides_are_errors() {
        assert!(find_override(&[("x-http-method-override", "DELETE")], "_method=PUT").is_err());
        assert!(find_override(&[("x-http-method", "DEL ETE")], "").is_err());
        assert!(find_override(&[("x-http-method", "")], "").is_err());
    }
}
