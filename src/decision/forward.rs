//! The identity an allowed request carries upstream, in the authenticating-proxy convention
//! the kube-apiserver's `--requestheader-*` flags read: `X-Remote-User`, one `X-Remote-Group`
//! per group, `X-Remote-Extra-<key>` per extra value.

use std::sync::Arc;

use crate::identity::UserInfo;
use crate::request_info::params::{header_name_starts_with, same_header_name};

/// Headers the apiserver reads as identity besides the forwarded ones: the request-header
/// authenticator's uid header and the impersonation headers. A caller's are removed unless
/// the configuration trusts them (`forwarding.trustCallerHeaders`).
pub const CALLER_IDENTITY_HEADERS: [&str; 4] = [
    "x-remote-uid",
    "impersonate-user",
    "impersonate-group",
    "impersonate-uid",
];

/// The prefix of the apiserver's `Impersonate-Extra-<key>` headers.
pub const IMPERSONATE_EXTRA_PREFIX: &str = "impersonate-extra-";

/// Adds `name` in lowercase to `names` unless it is there already.
pub(crate) fn push_lowercase(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        names.push(name.to_ascii_lowercase());
    }
}

/// Header names for the forwarded identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarding {
    /// Username header (lowercase).
    pub user_header: String,
    /// Group header (lowercase), repeated per group.
    pub group_header: String,
    /// Extra header prefix (lowercase).
    pub extra_header_prefix: String,
    /// Remove every token from the request before it goes upstream: the token headers, the
    /// query parameters (the path is rewritten) and the cookies. Default true.
    pub strip_token: bool,
    /// Of [`CALLER_IDENTITY_HEADERS`] and the `impersonate-extra-` prefix, those a caller's
    /// request may carry upstream (lowercase).
    pub trusted_caller_headers: Vec<String>,
    /// Header carrying the decision upstream, if any (lowercase).
    pub decision_header: Option<String>,
    /// Whether allowed requests carry the identity headers (the forged ones are removed
    /// whatever this says).
    pub identity: bool,
    /// Whether the filter leaves each decision in the stream's filter state (access logs).
    pub filter_state: bool,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            user_header: "x-remote-user".to_owned(),
            group_header: "x-remote-group".to_owned(),
            extra_header_prefix: "x-remote-extra-".to_owned(),
            strip_token: true,
            trusted_caller_headers: Vec::new(),
            decision_header: None,
            identity: true,
            filter_state: true,
        }
    }
}

/// Escapes an extra key for a header name as the apiserver does (`url.PathEscape` of the
/// lowercase key): `authentication.kubernetes.io/pod-name` →
/// `authentication.kubernetes.io%2Fpod-name`.
pub fn escape_extra_key(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes().map(|b| b.to_ascii_lowercase()) {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

impl Forwarding {
    /// Whether a request header must not reach the upstream as the caller sent it: any header
    /// the upstream would read as an identity (a caller must never be able to forge one), and
    /// the decision header. Names compare as the upstream's server compares them: without
    /// regard to case, and `_` the same as `-` (CGI and WSGI fold both into `HTTP_X_REMOTE_USER`).
    pub fn must_remove(&self, name: &str) -> bool {
        same_header_name(name, &self.user_header)
            || same_header_name(name, &self.group_header)
            || header_name_starts_with(name, &self.extra_header_prefix)
            || self
                .decision_header
                .as_ref()
                .is_some_and(|decision| same_header_name(name, decision))
            || self.is_untrusted_caller_identity(name)
    }

    fn is_untrusted_caller_identity(&self, name: &str) -> bool {
        let trusted = |header: &str| self.trusted_caller_headers.iter().any(|t| t == header);
        CALLER_IDENTITY_HEADERS
            .iter()
            .any(|header| same_header_name(name, header) && !trusted(header))
            || (header_name_starts_with(name, IMPERSONATE_EXTRA_PREFIX)
                && !trusted(IMPERSONATE_EXTRA_PREFIX))
    }

    /// What an allowed request carries upstream: the identity headers (unless turned off),
    /// then the decision header if one is configured. An identity that cannot travel in a
    /// header as it is (a control character, which the proxy refuses, or white space at either
    /// end, which HTTP parsers trim) is an error: the upstream would see another user than the
    /// one authorized, or none.
    pub fn allowed_headers(&self, user: &UserInfo) -> Result<Arc<[(String, String)]>, String> {
        let mut add = if self.identity {
            let headers = self.identity_headers(user);
            if let Some((name, _)) = headers.iter().find(|(_, value)| !forwardable(value)) {
                return Err(format!(
                    "the identity's {name} value has a control character or white space at \
                     either end, which cannot be forwarded as it is"
                ));
            }
            headers
        } else {
            Vec::new()
        };
        if let Some(header) = &self.decision_header {
            add.push((header.clone(), "allow".to_owned()));
        }
        Ok(add.into())
    }

    /// The identity headers for an allowed request.
    pub fn identity_headers(&self, user: &UserInfo) -> Vec<(String, String)> {
        let mut add = vec![(self.user_header.clone(), user.username.clone())];
        for group in &user.groups {
            add.push((self.group_header.clone(), group.clone()));
        }
        for (key, values) in &user.extra {
            if values.is_empty() {
                continue;
            }
            let name = format!("{}{}", self.extra_header_prefix, escape_extra_key(key));
            for value in values {
                add.push((name.clone(), value.clone()));
            }
        }
        add
    }
}

/// Whether a value reaches the upstream exactly as it is: no control character (Envoy refuses
/// NUL, CR and LF, and DEL and the others are obs-text at best) and no white space at either end
/// (HTTP parsers trim it).
fn forwardable(value: &str) -> bool {
    !value.chars().any(char::is_control) && value.trim_matches([' ', '\t']).len() == value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_off_forwards_only_the_decision_and_still_removes_forgeries() {
        let user = UserInfo {
            username: "alice".into(),
            groups: vec!["a".into(), "b".into()],
            extra: [("scopes".to_owned(), vec!["x".to_owned()])].into(),
            ..UserInfo::default()
        };
        let mut forwarding = Forwarding {
            decision_header: Some("x-decision".into()),
            ..Forwarding::default()
        };
        assert_eq!(forwarding.allowed_headers(&user).map(|h| h.len()), Ok(5));
        forwarding.identity = false;
        let headers = forwarding
            .allowed_headers(&user)
            .unwrap_or_else(|_| Arc::from([]));
        assert_eq!(&*headers, [("x-decision".to_owned(), "allow".to_owned())]);
        for name in [
            "X-Remote-User",
            "x-remote-group",
            "x-remote-extra-scopes",
            "x-decision",
        ] {
            assert!(forwarding.must_remove(name), "{name}");
        }
    }

    #[test]
    fn identity_headers_are_removed_however_the_caller_spells_them() {
        let forwarding = Forwarding::default();
        for name in [
            "x_remote_user",
            "X_Remote_Group",
            "x-remote_extra-scopes",
            "X_REMOTE_EXTRA_SCOPES",
            "x-remote-uid",
            "x_remote_uid",
            "Impersonate-User",
            "impersonate_group",
            "Impersonate-Uid",
            "Impersonate-Extra-Scopes",
            "impersonate_extra_scopes",
        ] {
            assert!(forwarding.must_remove(name), "{name}");
        }
        for name in [
            "x-remote",
            "x-remote-users",
            "authorization",
            "x-request-id",
        ] {
            assert!(!forwarding.must_remove(name), "{name}");
        }
    }

    #[test]
    fn trusted_caller_headers_pass_and_the_forwarded_identity_never_does() {
        let forwarding = Forwarding {
            trusted_caller_headers: vec!["impersonate-user".into(), "impersonate-extra-".into()],
            ..Forwarding::default()
        };
        assert!(!forwarding.must_remove("Impersonate-User"));
        assert!(!forwarding.must_remove("Impersonate-Extra-Scopes"));
        assert!(forwarding.must_remove("Impersonate-Group"));
        assert!(forwarding.must_remove("x_remote_user"));
    }

    #[test]
    fn an_identity_that_cannot_be_forwarded_as_it_is_is_an_error() {
        let forwarding = Forwarding::default();
        for username in [
            "alice\r\nx-remote-group: system:masters",
            "alice\u{7f}",
            " alice",
            "alice\t",
        ] {
            let user = UserInfo {
                username: username.into(),
                ..UserInfo::default()
            };
            assert!(forwarding.allowed_headers(&user).is_err(), "{username:?}");
        }
        let user = UserInfo {
            username: "alice smith".into(),
            groups: vec!["a b".into()],
            ..UserInfo::default()
        };
        assert!(forwarding.allowed_headers(&user).is_ok());
    }
}
