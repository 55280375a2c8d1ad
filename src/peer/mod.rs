//! Callers known by their connection rather than a token: the client certificate the proxy's
//! listener validated, read as the apiserver's x509 authenticator reads it ([`x509`]), as a
//! SPIFFE workload identity ([`spiffe`]), or as an authenticating front proxy vouching for a
//! user in request headers ([`front_proxy`]); and the order in which all authenticators,
//! tokens included, are tried ([`Method`], [`PeerAuthentication`]).
//!
//! Chain validation is the proxy's (Envoy's `validation_context`): the filter is told of a
//! certificate only when the connection is mutual TLS (`connection.mtls`), which with a
//! validation context means a certificate that chains to its trusted CA.

pub mod front_proxy;
pub mod spiffe;
pub mod x509;

use serde::{Deserialize, Serialize};

pub use front_proxy::FrontProxy;
pub use spiffe::Spiffe;
pub use x509::X509;

use crate::identity::{Credential, UserInfo};
use crate::token::AuthError;

/// What the proxy says of a connection's validated client certificate (Envoy's
/// `connection.uri_san_peer_certificate` and `connection.subject_peer_certificate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificate<'a> {
    /// The first URI SAN (empty when there is none, or nobody asked).
    pub uri_san: &'a str,
    /// The subject in RFC 2253 form, last RDN first (empty when nobody asked).
    pub subject: &'a str,
}

/// An authenticator, as `authentication.order` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// An authenticating proxy's request headers (`frontProxy`).
    FrontProxy,
    /// The client certificate's subject (`x509`).
    X509,
    /// The client certificate's SPIFFE ID (`spiffe`).
    Spiffe,
    /// Tokens: static, bootstrap, then JWTs.
    Token,
}

impl Method {
    /// The apiserver's order (front proxy, client certificate, tokens), with SPIFFE beside
    /// the other certificate authenticator.
    pub const APISERVER_ORDER: [Method; 4] = [
        Method::FrontProxy,
        Method::X509,
        Method::Spiffe,
        Method::Token,
    ];

    /// The name configuration and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::FrontProxy => "frontProxy",
            Method::X509 => "x509",
            Method::Spiffe => "spiffe",
            Method::Token => "token",
        }
    }
}

/// The connection-based authenticators and the order of all of them, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAuthentication {
    /// The authenticators tried, in order; the first that authenticates wins.
    pub order: Vec<Method>,
    /// SPIFFE peers, if configured.
    pub spiffe: Option<Spiffe>,
    /// x509 client certificates, if configured.
    pub x509: Option<X509>,
    /// The authenticating proxy, if configured.
    pub front_proxy: Option<FrontProxy>,
    /// A service-account token must come from the workload it names (`senderConstraint`).
    pub sender_constraint: bool,
}

/// What the filter must read of the connection for the authenticators configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Whether there is a validated client certificate (`connection.mtls`).
    pub certificate: bool,
    /// Its URI SAN.
    pub uri_san: bool,
    /// Its subject.
    pub subject: bool,
}

impl PeerAuthentication {
    /// What of the connection the configured authenticators read; nothing when only tokens
    /// are configured (no host call on the request path).
    pub fn needs(&self) -> Needs {
        let uri_san = self.spiffe.is_some();
        let subject = self.x509.is_some() || self.front_proxy.is_some();
        Needs {
            certificate: uri_san || subject,
            uri_san,
            subject,
        }
    }

    /// Runs the authenticators in order, as the apiserver's union does: the first that
    /// authenticates the request wins, even after another failed; when none does, the
    /// failures are the error, the first first (one alone as it is, several as
    /// [`AuthError::Several`]); `Ok(None)` when none applied.
    pub fn first_success<T>(
        &self,
        mut try_one: impl FnMut(Method) -> Result<Option<T>, AuthError>,
    ) -> Result<Option<T>, AuthError> {
        let mut errors = Vec::new();
        for &method in &self.order {
            match try_one(method) {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) => {}
                Err(error) => errors.push((method.as_str(), error)),
            }
        }
        match errors.len() {
            0 => Ok(None),
            1 => Err(errors.remove(0).1),
            _ => Err(AuthError::Several { errors }),
        }
    }

    /// Tries `method` when it is a connection-based authenticator: `Ok(None)` when it does not
    /// apply (not configured, no certificate, nothing it reads).
    pub fn try_peer(
        &self,
        method: Method,
        peer: Option<&PeerCertificate<'_>>,
        headers: &[(&str, &str)],
    ) -> Result<Option<(Credential, UserInfo)>, AuthError> {
        let found = match method {
            Method::FrontProxy => match &self.front_proxy {
                Some(proxy) => proxy
                    .user(peer.map(|p| p.subject), headers)?
                    .map(|user| (Credential::FrontProxy, user)),
                None => None,
            },
            Method::X509 => match (&self.x509, peer) {
                (Some(x509), Some(peer)) => x509
                    .user(peer.subject)?
                    .map(|user| (Credential::X509, user)),
                _ => None,
            },
            Method::Spiffe => match (&self.spiffe, peer) {
                (Some(spiffe), Some(peer)) if !peer.uri_san.is_empty() => {
                    Some((Credential::Spiffe, spiffe.user(peer.uri_san)?))
                }
                _ => None,
            },
            Method::Token => None,
        };
        Ok(found)
    }

    /// With `senderConstraint`, refuses a service-account token that does not come from the
    /// workload it names: the peer's SPIFFE ID must be that service account in a trusted trust
    /// domain. A token of another kind of user (an OIDC user a workload passes on) is not
    /// constrained. A service-account token from a peer without a certificate is refused:
    /// otherwise leaving the certificate out would be the way around the check.
    pub fn check_sender(
        &self,
        user: &UserInfo,
        peer: Option<&PeerCertificate<'_>>,
    ) -> Result<(), AuthError> {
        let Some(spiffe) = self.spiffe.as_ref().filter(|_| self.sender_constraint) else {
            return Ok(());
        };
        let Some(account) = user
            .username
            .strip_prefix(crate::identity::SERVICE_ACCOUNT_USERNAME_PREFIX)
        else {
            return Ok(());
        };
        let uri = peer.map_or("", |p| p.uri_san);
        if uri.is_empty() {
            return Err(AuthError::SenderMismatch {
                detail: format!(
                    "the token of {:?} came from a peer without a SPIFFE identity",
                    user.username
                ),
            });
        }
        let id = spiffe
            .identity(uri)
            .map_err(|e| AuthError::SenderMismatch {
                detail: format!("the token of {:?} came from a peer: {e}", user.username),
            })?;
        if account != format!("{}:{}", id.namespace, id.service_account) {
            return Err(AuthError::SenderMismatch {
                detail: format!(
                    "the token of {:?} came from the workload {uri:?}",
                    user.username
                ),
            });
        }
        Ok(())
    }
}
