//! Client certificates as the apiserver's x509 authenticator reads them: the subject's common
//! name is the username and each organization a group.
//!
//! Envoy gives the subject as an RFC 2253 string (`connection.subject_peer_certificate`):
//! the RDNs last first (`O=ops,O=dev,CN=alice` for a certificate written `CN=alice, O=dev,
//! O=ops`), `,` `+` `"` `\` `<` `>` `;` escaped with a backslash, a leading `#` or space and a
//! trailing space escaped, other bytes as `\XX`, and a value that is not a string as `#` and
//! its DER in hex. [`DistinguishedName::parse`] undoes exactly that; a value given as DER
//! is refused rather than guessed at.
//!
//! Go's `pkix.Name` (what the apiserver reads) keeps the *last* common name of the subject in
//! certificate order and the organizations in certificate order; so does this.

use crate::identity::UserInfo;
use crate::token::AuthError;

/// The parts of a subject the x509 authenticator reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    /// The common name (`CN`), empty when there is none.
    pub common_name: String,
    /// The organizations (`O`), in certificate order.
    pub organizations: Vec<String>,
}

fn invalid(subject: &str, detail: &str) -> AuthError {
    AuthError::PeerIdentityInvalid {
        detail: format!("certificate subject {subject:?} {detail}"),
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// One `type=value` attribute of the string, its value unescaped.
struct Attribute {
    name: String,
    value: String,
}

impl DistinguishedName {
    /// Reads Envoy's RFC 2253 rendering of a subject.
    pub fn parse(subject: &str) -> Result<Self, AuthError> {
        let mut attributes = Vec::new();
        let bytes = subject.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i] != b'=' {
                i += 1;
            }
            if i == bytes.len() {
                return Err(invalid(subject, "has an attribute without '='"));
            }
            let name = subject[start..i].trim().to_ascii_uppercase();
            i += 1;
            if bytes.get(i) == Some(&b'#') {
                return Err(invalid(
                    subject,
                    "has a value given as DER (#…), which is not read",
                ));
            }
            let mut value = Vec::new();
            while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'+' {
                if bytes[i] == b'\\' {
                    let next = *bytes
                        .get(i + 1)
                        .ok_or_else(|| invalid(subject, "ends in a lone backslash"))?;
                    match (
                        hex_digit(next),
                        bytes.get(i + 2).copied().and_then(hex_digit),
                    ) {
                        (Some(high), Some(low)) => {
                            value.push(high << 4 | low);
                            i += 3;
                        }
                        _ if b",+\"\\<>;=# ".contains(&next) => {
                            value.push(next);
                            i += 2;
                        }
                        _ => return Err(invalid(subject, "has an escape RFC 2253 does not allow")),
                    }
                } else {
                    value.push(bytes[i]);
                    i += 1;
                }
            }
            let value = String::from_utf8(value)
                .map_err(|_| invalid(subject, "has a value that is not UTF-8"))?;
            if name.is_empty() {
                return Err(invalid(subject, "has an attribute without a type"));
            }
            attributes.push(Attribute { name, value });
            if i < bytes.len() {
                i += 1;
                if i == bytes.len() {
                    return Err(invalid(subject, "ends in a separator"));
                }
            }
        }
        // The string lists the last RDN first: certificate order is the reverse.
        let mut dn = DistinguishedName::default();
        for attribute in attributes.into_iter().rev() {
            match attribute.name.as_str() {
                "CN" | "2.5.4.3" => dn.common_name = attribute.value,
                "O" | "2.5.4.10" => dn.organizations.push(attribute.value),
                _ => {}
            }
        }
        Ok(dn)
    }
}

/// The x509 authenticator: a validated client certificate's subject as the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct X509 {
    /// Common names that are front proxies (`frontProxy.allowedNames`): such a certificate
    /// vouches for the users it forwards and is not itself a user.
    pub proxy_names: Vec<String>,
}

impl X509 {
    /// The user a validated certificate with `subject` is: CN as the username, each O a group,
    /// plus `system:authenticated`. `None` when the subject has no common name (an Istio
    /// workload certificate) or is a front proxy's.
    pub fn user(&self, subject: &str) -> Result<Option<UserInfo>, AuthError> {
        let dn = DistinguishedName::parse(subject)?;
        if dn.common_name.is_empty() || self.proxy_names.contains(&dn.common_name) {
            return Ok(None);
        }
        Ok(Some(
            UserInfo {
                username: dn.common_name,
                groups: dn.organizations,
                ..UserInfo::default()
            }
            .with_authenticated_group(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(subject: &str) -> (String, Vec<String>) {
        let dn = DistinguishedName::parse(subject).unwrap_or_default();
        (dn.common_name, dn.organizations)
    }

    #[test]
    fn envoys_subject_strings_read_in_certificate_order() {
        // As Envoy 1.40 renders `CN=alice, O=dev, O=ops` (measured).
        assert_eq!(
            dn("O=ops,O=dev,CN=alice"),
            ("alice".into(), vec!["dev".into(), "ops".into()])
        );
        assert_eq!(
            dn("CN=system:node:n1,O=system:nodes"),
            ("system:node:n1".into(), vec!["system:nodes".into()])
        );
        // Escapes: a comma, a plus, a leading space, hex bytes, UTF-8 left as it is.
        assert_eq!(
            dn(r"O=a\, b,O=c\+d,CN=\ bob\2C jr"),
            (" bob, jr".into(), vec!["c+d".into(), "a, b".into()])
        );
        assert_eq!(dn("CN=zoë"), ("zoë".into(), vec![]));
        assert_eq!(dn(r"CN=\C3\A9"), ("é".into(), vec![]));
        // Multi-valued RDN, other attributes ignored, last CN in certificate order wins.
        assert_eq!(
            dn("C=US,O=dev+OU=x,CN=later,CN=earlier"),
            ("later".into(), vec!["dev".into()])
        );
        assert_eq!(dn(""), (String::new(), vec![]));
    }

    #[test]
    fn subjects_that_cannot_be_read_exactly_are_refused() {
        for bad in [
            "CN",
            "CN=a\\",
            "CN=a\\q",
            "CN=#0403616263",
            "CN=a,",
            "=a",
            "CN=\\FF",
        ] {
            assert!(
                matches!(
                    DistinguishedName::parse(bad),
                    Err(AuthError::PeerIdentityInvalid { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_user_is_the_common_name_and_proxies_and_nameless_certificates_are_nobody() {
        let x509 = X509 {
            proxy_names: vec!["front-proxy".into()],
        };
        let user = x509.user("O=ops,O=dev,CN=alice").ok().flatten();
        assert_eq!(
            user.map(|u| (u.username, u.groups)),
            Some((
                "alice".into(),
                vec!["dev".into(), "ops".into(), "system:authenticated".into()]
            ))
        );
        assert_eq!(x509.user("O=istio"), Ok(None));
        assert_eq!(x509.user(""), Ok(None));
        assert_eq!(x509.user("CN=front-proxy"), Ok(None));
    }
}
