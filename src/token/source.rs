//! Where tokens come from: headers (with an optional value prefix), query parameters, cookies.
//!
//! Every configured source is searched and every token found is returned. If a request carries
//! several tokens, all of them must verify: a backend could otherwise trust the one that did
//! not.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::request_info::params;
use crate::request_info::path::split_target;

/// One place a token may be carried.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum TokenSource {
    /// A request header, e.g. `authorization` with prefix `Bearer `. The prefix is compared
    /// without regard to ASCII case (auth schemes are case-insensitive, RFC 9110 §11.1); a header
    /// whose value lacks the prefix carries no token for this source (e.g. `Basic` credentials).
    Header {
        /// Header name, compared without regard to case.
        name: String,
        /// Text that precedes the token in the value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_prefix: Option<String>,
    },
    /// A query parameter of the request path, e.g. `access_token`.
    QueryParameter {
        /// Parameter name, compared with the name as servers decode it.
        name: String,
    },
    /// A cookie, e.g. `session`.
    Cookie {
        /// Cookie name, compared with the name as servers trim and decode it.
        name: String,
    },
}

impl TokenSource {
    /// The default source: `Authorization: Bearer <token>`.
    pub fn bearer() -> Self {
        TokenSource::Header {
            name: "authorization".into(),
            value_prefix: Some("Bearer ".into()),
        }
    }

    /// Whether this source reads the request header `name` (compared as the servers behind the
    /// proxy compare header names: case aside, `_` the same as `-`).
    pub fn reads_header(&self, name: &str) -> bool {
        matches!(self, TokenSource::Header { name: from, .. } if params::same_header_name(from, name))
    }

    /// Whether this source reads the query parameter whose decoded name is `decoded`.
    pub fn reads_query_parameter(&self, decoded: &str) -> bool {
        matches!(self, TokenSource::QueryParameter { name } if params::name_matches(name, decoded))
    }

    /// Whether this source reads the cookie whose decoded name is `decoded`.
    pub fn reads_cookie(&self, decoded: &str) -> bool {
        matches!(self, TokenSource::Cookie { name } if params::name_matches(name, decoded))
    }

    /// A short description for logs and the CLI, e.g. `header authorization`.
    pub fn describe(&self) -> String {
        match self {
            TokenSource::Header { name, .. } => format!("header {name}"),
            TokenSource::QueryParameter { name } => format!("query parameter {name}"),
            TokenSource::Cookie { name } => format!("cookie {name}"),
        }
    }
}

/// A token found in a request, and the index of the source it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractedToken<'r> {
    /// The token text.
    pub token: Cow<'r, str>,
    /// Index into the configured sources.
    pub source: usize,
}

/// Finds every token the configured sources carry in a request. `headers` are the request
/// headers as name/value pairs (names in any case); `path` is the request path with its query.
///
/// Every token a common server would read from a configured source is found (see
/// [`params`](crate::request_info::params)): header names compare as CGI folds them
/// (`x_jwt` is `x-jwt`), query and cookie names after decoding. A query parameter or cookie
/// that is there twice, or that only some servers would see, is refused as ambiguous: the
/// server could read another token than the one verified.
///
/// Returns [`AuthError::TokenMissing`] when no source carries a token,
/// [`AuthError::TokenMalformed`] when a source carries an empty one (`Authorization: Bearer `)
/// and [`AuthError::TokenAmbiguous`] as above. The same token found twice is returned once.
pub fn extract<'r, K, V>(
    sources: &[TokenSource],
    headers: &'r [(K, V)],
    path: &'r str,
) -> Result<Vec<ExtractedToken<'r>>, AuthError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut found: Vec<ExtractedToken<'r>> = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut push = |token: Cow<'r, str>| -> Result<(), AuthError> {
            if token.is_empty() {
                return Err(AuthError::malformed(format!(
                    "empty token in {}",
                    source.describe()
                )));
            }
            if !found.iter().any(|t| t.token == token) {
                found.push(ExtractedToken {
                    token,
                    source: index,
                });
            }
            Ok(())
        };
        match source {
            TokenSource::Header { value_prefix, .. } => {
                for (_, value) in headers
                    .iter()
                    .filter(|(n, _)| source.reads_header(n.as_ref()))
                {
                    let value = value.as_ref();
                    let rest = match value_prefix {
                        None => Some(value),
                        Some(prefix) => strip_prefix_ignore_case(value, prefix),
                    };
                    if let Some(rest) = rest {
                        push(Cow::Borrowed(rest.trim()))?;
                    }
                }
            }
            TokenSource::QueryParameter { name } => {
                let (_, query) = split_target(path);
                if let Some(value) = unambiguous(source, params::query_find(query, name))? {
                    let token = params::strict_decode(value).ok_or_else(|| {
                        AuthError::malformed("broken percent-escape or non-UTF-8 in query token")
                    })?;
                    push(token)?;
                }
            }
            TokenSource::Cookie { name } => {
                let cookies = headers
                    .iter()
                    .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("cookie"))
                    .map(|(_, v)| v.as_ref());
                if let Some(value) = unambiguous(source, params::cookie_find(cookies, name))? {
                    push(Cow::Borrowed(value))?;
                }
            }
        }
    }
    if found.is_empty() {
        return Err(AuthError::TokenMissing);
    }
    Ok(found)
}

/// The one value a query parameter or cookie source has, if any; refused when there are several
/// or when some servers would not see it (or see another).
fn unambiguous<'a>(
    source: &TokenSource,
    found: Vec<params::Found<'a>>,
) -> Result<Option<&'a str>, AuthError> {
    match found.as_slice() {
        [] => Ok(None),
        [one] if !one.after_separator => Ok(Some(one.raw_value)),
        [_] => Err(AuthError::ambiguous(format!(
            "{} follows a separator that only some servers split on",
            source.describe()
        ))),
        _ => Err(AuthError::ambiguous(format!(
            "{} is present {} times",
            source.describe(),
            found.len()
        ))),
    }
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<TokenSource> {
        vec![
            TokenSource::bearer(),
            TokenSource::Header {
                name: "x-jwt".into(),
                value_prefix: None,
            },
            TokenSource::QueryParameter {
                name: "access_token".into(),
            },
            TokenSource::Cookie {
                name: "session".into(),
            },
        ]
    }

    fn run(headers: &[(&str, &str)], path: &str) -> Result<Vec<(String, usize)>, &'static str> {
        extract(&sources(), headers, path)
            .map(|found| {
                found
                    .into_iter()
                    .map(|t| (t.token.into_owned(), t.source))
                    .collect()
            })
            .map_err(|e| e.code())
    }

    fn one(token: &str, source: usize) -> Result<Vec<(String, usize)>, &'static str> {
        Ok(vec![(token.to_string(), source)])
    }

    #[test]
    fn extraction_truth_table() {
        assert_eq!(run(&[("authorization", "Bearer abc")], "/"), one("abc", 0));
        assert_eq!(
            run(&[("Authorization", "bearer  abc ")], "/"),
            one("abc", 0)
        );
        assert_eq!(
            run(&[("authorization", "Basic dXNlcg==")], "/"),
            Err("token_missing")
        );
        assert_eq!(
            run(&[("authorization", "Bearer ")], "/"),
            Err("token_malformed")
        );
        assert_eq!(run(&[("x-jwt", "abc")], "/"), one("abc", 1));
        assert_eq!(run(&[], "/p?a=1&access_token=abc"), one("abc", 2));
        assert_eq!(run(&[], "/p?access_token=a%2Eb#frag"), one("a.b", 2));
        assert_eq!(run(&[], "/p?access_token=a%2"), Err("token_malformed"));
        assert_eq!(run(&[], "/p?other_token=abc"), Err("token_missing"));
        assert_eq!(run(&[("cookie", "a=1; session=abc")], "/"), one("abc", 3));
        assert_eq!(
            run(&[("cookie", "sessionx=abc")], "/"),
            Err("token_missing")
        );
        assert_eq!(run(&[], "/"), Err("token_missing"));
    }

    #[test]
    fn every_token_in_the_request_is_returned_so_all_must_verify() {
        let found = run(
            &[("authorization", "Bearer one"), ("x-jwt", "two")],
            "/?access_token=three",
        );
        assert_eq!(
            found,
            Ok(vec![
                ("one".into(), 0),
                ("two".into(), 1),
                ("three".into(), 2)
            ])
        );
    }

    #[test]
    fn two_authorization_headers_yield_two_tokens() {
        let found = run(
            &[
                ("authorization", "Bearer one"),
                ("authorization", "Bearer two"),
            ],
            "/",
        );
        assert_eq!(found, Ok(vec![("one".into(), 0), ("two".into(), 0)]));
    }

    #[test]
    fn the_same_token_in_two_places_counts_once() {
        let found = run(&[("authorization", "Bearer one")], "/?access_token=one");
        assert_eq!(found, one("one", 0));
    }

    #[test]
    fn source_configuration_reads_camel_case_json() {
        let parsed: Vec<TokenSource> = serde_json::from_str(
            r#"[{"header":{"name":"authorization","valuePrefix":"Bearer "}},
                {"queryParameter":{"name":"access_token"}},{"cookie":{"name":"s"}}]"#,
        )
        .unwrap_or_default();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], TokenSource::bearer());
        let unknown: Result<TokenSource, _> =
            serde_json::from_str(r#"{"header":{"name":"a","prefix":"x"}}"#);
        assert!(unknown.is_err());
    }
}
