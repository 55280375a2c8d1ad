//! The authenticating proxy, as the apiserver's request-header authenticator: a front proxy
//! that has authenticated the user says who it is in request headers (`X-Remote-User`, one
//! `X-Remote-Group` per group, `X-Remote-Extra-<key>` per extra value), and those headers are
//! believed only from a peer whose client certificate the listener validated and whose common
//! name is one of `allowedNames`.
//!
//! As the apiserver reads them: header names without regard to case; the first username
//! header with a value wins; every value of every group header is a group; an extra key is
//! the rest of the header name after its prefix, lowercased and percent-decoded (Go's
//! `url.PathUnescape`), each value one value. From anyone else these headers are not read, and
//! the decision removes them (however they are spelt) before the request goes upstream.
//!
//! Stricter than the apiserver, and why: the apiserver checks the proxy's certificate against
//! a CA of its own (`--requestheader-client-ca-file`) and may leave `allowedNames` empty; a
//! proxy's listener has one validation context for every client, so meshguard requires the
//! names, and the proxy's certificate is never a user of its own (see [`super::x509`]).

use std::collections::BTreeMap;

use super::x509::DistinguishedName;
use crate::identity::UserInfo;
use crate::request_info::params::{header_name_starts_with, path_unescape, same_header_name};
use crate::token::AuthError;

/// The request-header authenticator, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontProxy {
    /// Common names a front proxy's certificate may have (not empty).
    pub allowed_names: Vec<String>,
    /// Headers read for the username, in order (lowercase).
    pub username_headers: Vec<String>,
    /// Headers read for the uid, in order (lowercase).
    pub uid_headers: Vec<String>,
    /// Headers read for groups (lowercase).
    pub group_headers: Vec<String>,
    /// Prefixes of the extra headers (lowercase).
    pub extra_header_prefixes: Vec<String>,
}

impl Default for FrontProxy {
    fn default() -> Self {
        FrontProxy {
            allowed_names: Vec::new(),
            username_headers: vec!["x-remote-user".into()],
            uid_headers: Vec::new(),
            group_headers: vec!["x-remote-group".into()],
            extra_header_prefixes: vec!["x-remote-extra-".into()],
        }
    }
}

fn values<'h>(
    headers: &'h [(&'h str, &'h str)],
    names: &'h [String],
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter(|(name, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|(_, value)| *value)
        .filter(|value| !value.is_empty())
}

impl FrontProxy {
    /// The user a front proxy vouches for. `Ok(None)` when the request names no user in a
    /// username header; an error when it does but the peer is not an allowed front proxy
    /// (`subject` is the validated certificate's subject, `None` without one).
    pub fn user(
        &self,
        subject: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Option<UserInfo>, AuthError> {
        let Some(username) = values(headers, &self.username_headers).next() else {
            return Ok(None);
        };
        let Some(subject) = subject else {
            return Err(AuthError::ProxyNotAllowed {
                detail: "identity headers came from a peer without a validated client \
                         certificate"
                    .into(),
            });
        };
        let name = DistinguishedName::parse(subject)?.common_name;
        if !self.allowed_names.contains(&name) {
            return Err(AuthError::ProxyNotAllowed {
                detail: format!(
                    "identity headers came from a peer with common name {name:?}, not one of \
                     {:?}",
                    self.allowed_names
                ),
            });
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            let lower = header.to_ascii_lowercase();
            let Some(key) = self
                .extra_header_prefixes
                .iter()
                .find_map(|prefix| lower.strip_prefix(prefix.as_str()))
            else {
                continue;
            };
            // As the apiserver: a key that does not decode is skipped, not guessed at.
            if let Some(key) = path_unescape(key).filter(|k| !k.is_empty()) {
                extra
                    .entry(key.into_owned())
                    .or_default()
                    .push((*value).to_owned());
            }
        }
        Ok(Some(
            UserInfo {
                username: username.to_owned(),
                uid: values(headers, &self.uid_headers)
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                groups: values(headers, &self.group_headers)
                    .map(str::to_owned)
                    .collect(),
                extra,
            }
            .with_authenticated_group(),
        ))
    }

    /// Whether a request header is one this authenticator reads (so one the upstream must
    /// not receive as the caller sent it).
    pub fn reads(&self, name: &str) -> bool {
        self.username_headers
            .iter()
            .chain(&self.uid_headers)
            .chain(&self.group_headers)
            .any(|h| same_header_name(name, h))
            || self
                .extra_header_prefixes
                .iter()
                .any(|p| header_name_starts_with(name, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> FrontProxy {
        FrontProxy {
            allowed_names: vec!["front-proxy".into()],
            uid_headers: vec!["x-remote-uid".into()],
            ..FrontProxy::default()
        }
    }

    const HEADERS: [(&str, &str); 7] = [
        ("X-Remote-User", "alice"),
        ("x-remote-user", "mallory"),
        ("X-Remote-Uid", "42"),
        ("X-Remote-Group", "dev"),
        ("x-remote-group", "ops"),
        ("X-Remote-Extra-Acme.com%2Fproject", "a"),
        ("x-remote-extra-scopes", "b"),
    ];

    #[test]
    fn an_allowed_proxy_is_believed_as_the_apiserver_reads_it() {
        let user = proxy()
            .user(Some("O=x,CN=front-proxy"), &HEADERS)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(user.username, "alice");
        assert_eq!(user.uid, "42");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(
            user.extra,
            BTreeMap::from([
                ("acme.com/project".to_owned(), vec!["a".to_owned()]),
                ("scopes".to_owned(), vec!["b".to_owned()]),
            ])
        );
    }

    #[test]
    fn anyone_else_is_refused_and_no_username_is_no_claim() {
        let proxy = proxy();
        for subject in [None, Some("CN=alice"), Some("CN=front-proxy-2"), Some("")] {
            assert!(
                matches!(
                    proxy.user(subject, &HEADERS),
                    Err(AuthError::ProxyNotAllowed { .. })
                ),
                "{subject:?}"
            );
        }
        assert_eq!(
            proxy.user(None, &[("X-Remote-Group", "system:masters")]),
            Ok(None)
        );
        assert_eq!(proxy.user(None, &[("X-Remote-User", "")]), Ok(None));
        assert!(proxy.reads("x_remote_user"));
        assert!(proxy.reads("X-REMOTE-EXTRA-foo"));
        assert!(!proxy.reads("x-remote"));
    }
}
