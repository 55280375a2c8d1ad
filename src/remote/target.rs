//! An `http(s)://` URL as a call through an Envoy cluster: the cluster carries the connection
//! (address, TLS, CA), the URL gives the `:authority` and `:path`.

use std::fmt;

/// Where an HTTP call goes, within its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// `https` or `http`.
    pub scheme: String,
    /// Host and optional port.
    pub authority: String,
    /// Path and query; `/` at least.
    pub path: String,
}

impl HttpTarget {
    /// Parses an absolute `http` or `https` URL without user info or fragment.
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(format!("{url:?}: the scheme must be https or http"));
        }
        if url.contains('#') {
            return Err(format!("{url:?}: a fragment is not allowed"));
        }
        if url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!("{url:?}: contains spaces or control characters"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        if authority.contains('@') {
            return Err(format!("{url:?}: credentials in the URL are not allowed"));
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(HttpTarget {
            scheme,
            authority: authority.to_owned(),
            path,
        })
    }

    /// The request headers of a GET, plus `extra` (e.g. `If-None-Match`).
    pub fn get_headers(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = vec![
            (":method".to_owned(), "GET".to_owned()),
            (":path".to_owned(), self.path.clone()),
            (":authority".to_owned(), self.authority.clone()),
            (":scheme".to_owned(), self.scheme.clone()),
            ("accept".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), "meshguard".to_owned()),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        headers
    }
}

impl fmt::Display for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path)
    }
}

/// The OIDC discovery URL of an issuer: `{issuer}/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}
