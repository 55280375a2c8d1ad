//! Where tokens come from: headers (with an optional value prefix), query parameters, cookies.
//!
//! Every configured source is searched and every token found is returned. If a request carries
//! several tokens, all of them must verify: a backend could otherwise trust the one that did
//! not.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::AuthError;

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
        /// Parameter name, compared exactly.
        name: String,
    },
    /// A cookie, e.g. `session`.
    Cookie {
        /// Cookie name, compared exactly.
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
/// Returns [`AuthError::TokenMissing`] when no source carries a token, and
/// [`AuthError::TokenMalformed`] when a source carries an empty one (`Authorization: Bearer `).
/// The same token found twice is returned once.
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
            TokenSource::Header { name, value_prefix } => {
                for (_, value) in headers
                    .iter()
                    .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
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
                let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let query = query.split_once('#').map(|(q, _)| q).unwrap_or(query);
                for pair in query.split('&') {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if key == name {
                        push(percent_decode(value)?)?;
                    }
                }
            }
            TokenSource::Cookie { name } => {
                for (_, value) in headers
                    .iter()
                    .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("cookie"))
                {
                    for cookie in value.as_ref().split(';') {
                        if let Some((key, value)) = cookie.trim().split_once('=') {
                            if key == name {
                                push(Cow::Borrowed(value.trim_matches('"')))?;
                            }
                        }
                    }
                }
            }
        }
    }
    if found.is_empty() {
        return Err(AuthError::TokenMissing);
    }
    Ok(found)
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Decodes `%XX` escapes (and `+` as space, as in form encoding). A broken escape makes the
/// token malformed rather than being passed on half-decoded.
fn percent_decode(value: &str) -> Result<Cow<'_, str>, AuthError> {
    if !value.contains(['%', '+']) {
        return Ok(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| AuthError::malformed("broken percent-escape in query token"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| AuthError::malformed("query token is not UTF-8"))
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
