//! The identity an allowed request carries upstream, in the authenticating-proxy convention
//! the kube-apiserver's `--requestheader-*` flags read: `X-Remote-User`, one `X-Remote-Group`
//! per group, `X-Remote-Extra-<key>` per extra value.

use crate::identity::UserInfo;

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
    let mut out = String::with_capacity(key.len());
    for byte in key.to_ascii_lowercase().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Forwarding {
    /// Request headers that must not reach the upstream as the caller sent them: any header
    /// the upstream would read as an identity (a caller must never be able to forge one), and
    /// the decision header.
    pub fn headers_to_remove<K: AsRef<str>, V>(&self, headers: &[(K, V)]) -> Vec<String> {
        let mut remove = vec![self.user_header.clone(), self.group_header.clone()];
        if let Some(decision) = &self.decision_header {
            remove.push(decision.clone());
        }
        for (name, _) in headers {
            let name = name.as_ref().to_ascii_lowercase();
            if name.starts_with(&self.extra_header_prefix) && !remove.contains(&name) {
                remove.push(name);
            }
        }
        remove
    }

    /// The identity headers for an allowed request.
    pub fn identity_headers(&self, user: &UserInfo) -> Vec<(String, String)> {
        let mut add = vec![(self.user_header.clone(), user.username.clone())];
        for group in &user.groups {
            add.push((self.group_header.clone(), group.clone()));
        }
        for (key, values) in &user.extra {
            let name = format!("{}{}", self.extra_header_prefix, escape_extra_key(key));
            for value in values {
                add.push((name.clone(), value.clone()));
            }
        }
        add
    }
}
