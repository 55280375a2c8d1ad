//! The identity an allowed request carries upstream, in the authenticating-proxy convention
//! the kube-apiserver's `--requestheader-*` flags read: `X-Remote-User`, one `X-Remote-Group`
//! per group, `X-Remote-Extra-<key>` per extra value.

use std::sync::Arc;

use crate::identity::UserInfo;

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
    /// Remove the headers tokens came from.
    pub strip_token: bool,
    /// Header carrying the decision upstream, if any (lowercase).
    pub decision_header: Option<String>,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            user_header: "x-remote-user".to_owned(),
            group_header: "x-remote-group".to_owned(),
            extra_header_prefix: "x-remote-extra-".to_owned(),
            strip_token: false,
            decision_header: None,
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
    /// the decision header. Names compare without regard to case.
    pub fn must_remove(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.user_header)
            || name.eq_ignore_ascii_case(&self.group_header)
            || self
                .decision_header
                .as_ref()
                .is_some_and(|decision| name.eq_ignore_ascii_case(decision))
            || name
                .get(..self.extra_header_prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(&self.extra_header_prefix))
    }

    /// What an allowed request carries upstream: the identity headers, then the decision
    /// header if one is configured.
    pub fn allowed_headers(&self, user: &UserInfo) -> Arc<[(String, String)]> {
        let mut add = self.identity_headers(user);
        if let Some(header) = &self.decision_header {
            add.push((header.clone(), "allow".to_owned()));
        }
        add.into()
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
