//! SPIFFE peers: a workload's X.509-SVID names it in its URI SAN,
//! `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>` in Istio's form, and that is
//! exactly a Kubernetes service account.
//!
//! The ID is parsed as the SPIFFE specification writes it (lowercase scheme and trust domain,
//! non-empty path segments of `[A-Za-z0-9._-]` that are not `.` or `..`, no query, fragment,
//! port or user info, at most 2048 bytes), then read in Istio's form only. Anything else is
//! refused with a reason, never guessed at: a SAN that is not a SPIFFE ID, an untrusted trust
//! domain, a path of another shape, names Kubernetes would not accept.

use crate::bundle::validate::{is_dns1123_label, is_dns1123_subdomain};
use crate::identity::{service_account, UserInfo};
use crate::token::AuthError;

/// The longest SPIFFE ID the specification allows, in bytes.
const MAX_ID_BYTES: usize = 2048;

/// A SPIFFE ID in Istio's service-account form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpiffeId<'a> {
    /// The trust domain (`cluster.local`).
    pub trust_domain: &'a str,
    /// The namespace.
    pub namespace: &'a str,
    /// The service account.
    pub service_account: &'a str,
}

fn invalid(uri: &str, detail: &str) -> AuthError {
    AuthError::PeerIdentityInvalid {
        detail: format!("URI SAN {uri:?} {detail}"),
    }
}

/// Reads `uri` as a SPIFFE ID of the form `spiffe://TD/ns/NS/sa/SA`.
pub fn parse(uri: &str) -> Result<SpiffeId<'_>, AuthError> {
    if uri.len() > MAX_ID_BYTES {
        let start: String = uri.chars().take(64).collect();
        return Err(invalid(&start, "is longer than a SPIFFE ID may be"));
    }
    let Some(rest) = uri.strip_prefix("spiffe://") else {
        return Err(invalid(uri, "is not a SPIFFE ID (spiffe://…)"));
    };
    let (trust_domain, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let domain_ok = !trust_domain.is_empty()
        && trust_domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    if !domain_ok {
        return Err(invalid(
            uri,
            "has a trust domain SPIFFE does not allow (lowercase letters, digits, '-', '.', '_'; \
             no port or user info)",
        ));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let segment_ok = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    };
    if path.is_empty() || !segments.iter().all(segment_ok) {
        return Err(invalid(
            uri,
            "has a path SPIFFE does not allow (non-empty segments of letters, digits, '-', '.', \
             '_'; no query or fragment)",
        ));
    }
    let ["ns", namespace, "sa", service_account] = segments[..] else {
        return Err(invalid(
            uri,
            "is not a service-account identity (spiffe://<trust-domain>/ns/<namespace>/sa/<name>)",
        ));
    };
    if !is_dns1123_label(namespace) || !is_dns1123_subdomain(service_account) {
        return Err(invalid(
            uri,
            "names a namespace or service account Kubernetes does not allow",
        ));
    }
    Ok(SpiffeId {
        trust_domain,
        namespace,
        service_account,
    })
}

/// The SPIFFE authenticator: the trust domains whose identities are believed (Istio's own and
/// its aliases).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spiffe {
    /// Trusted trust domains, lowercase.
    pub trust_domains: Vec<String>,
}

impl Spiffe {
    /// The service account `uri` names, when it is in a trusted trust domain.
    pub fn identity<'a>(&self, uri: &'a str) -> Result<SpiffeId<'a>, AuthError> {
        let id = parse(uri)?;
        if !self.trust_domains.iter().any(|td| td == id.trust_domain) {
            return Err(AuthError::PeerUntrusted {
                detail: format!(
                    "trust domain {:?} of {uri:?} is not one of {:?}",
                    id.trust_domain, self.trust_domains
                ),
            });
        }
        Ok(id)
    }

    /// The user a peer whose certificate has `uri` as its URI SAN is:
    /// `system:serviceaccount:NS:SA` in `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn user(&self, uri: &str) -> Result<UserInfo, AuthError> {
        let id = self.identity(uri)?;
        Ok(service_account(id.namespace, id.service_account).with_authenticated_group())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_identities_parse_and_everything_else_is_refused_with_a_reason() {
        let ok = parse("spiffe://cluster.local/ns/frontend/sa/web")
            .map(|id| (id.trust_domain, id.namespace, id.service_account));
        assert_eq!(ok, Ok(("cluster.local", "frontend", "web")));
        for bad in [
            "",
            "https://cluster.local/ns/a/sa/b",
            "SPIFFE://cluster.local/ns/a/sa/b",
            "spiffe://Cluster.local/ns/a/sa/b",
            "spiffe://cluster.local:8443/ns/a/sa/b",
            "spiffe://user@cluster.local/ns/a/sa/b",
            "spiffe:///ns/a/sa/b",
            "spiffe://cluster.local",
            "spiffe://cluster.local/",
            "spiffe://cluster.local/ns/a/sa/b/",
            "spiffe://cluster.local/ns//sa/b",
            "spiffe://cluster.local/ns/./sa/b",
            "spiffe://cluster.local/ns/a/sa/b?x=1",
            "spiffe://cluster.local/ns/a/sa/b#f",
            "spiffe://cluster.local/ns/a/sa/b%2F",
            "spiffe://cluster.local/workload/web",
            "spiffe://cluster.local/ns/a/sa/b/extra",
            "spiffe://cluster.local/sa/b/ns/a",
            "spiffe://cluster.local/ns/A/sa/b",
            "spiffe://cluster.local/ns/a_b/sa/b",
            "spiffe://cluster.local/ns/a/sa/B",
            "spiffe://cluster.local/ns/a/sa/-b",
        ] {
            assert!(
                matches!(parse(bad), Err(AuthError::PeerIdentityInvalid { .. })),
                "{bad:?}"
            );
        }
        let long = format!("spiffe://cluster.local/ns/a/sa/{}", "b".repeat(2100));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn only_configured_trust_domains_are_believed() {
        let spiffe = Spiffe {
            trust_domains: vec!["cluster.local".into(), "old.example".into()],
        };
        let user = spiffe
            .user("spiffe://old.example/ns/orders/sa/api")
            .unwrap_or_default();
        assert_eq!(user.username, "system:serviceaccount:orders:api");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:orders",
                "system:authenticated"
            ]
        );
        assert!(matches!(
            spiffe.user("spiffe://evil.example/ns/orders/sa/api"),
            Err(AuthError::PeerUntrusted { .. })
        ));
    }
}
