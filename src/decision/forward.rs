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
            strip_token: false,
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

    /// What an allowed request carries upstream: the identity headers (unless turned off),
    /// then the decision header if one is configured.
    pub fn allowed_headers(&self, user: &UserInfo) -> Arc<[(String, String)]> {
        let mut add = if self.identity {
            self.identity_headers(user)
        } else {
            Vec::new()
        };
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
        assert_eq!(forwarding.allowed_headers(&user).len(), 5);
        forwarding.identity = false;
        let headers = forwarding.allowed_headers(&user);
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
}
