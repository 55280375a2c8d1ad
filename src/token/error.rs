//! Why a request failed to authenticate: one variant per reason, each with a stable code.

use std::fmt;

use crate::reason::Reason;

/// An authentication failure.
///
/// [`AuthError::code`] is the stable snake_case reason used verbatim in logs, metrics, HTTP
/// responses and the CLI; the variant's fields carry the evidence for the message. Nothing here
/// holds the token or its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no token in any configured source.
    TokenMissing,
    /// The token is not a well-formed compact JWS/JWT.
    TokenMalformed {
        /// What is wrong, for the message.
        detail: String,
    },
    /// A query parameter or cookie source is there twice, or where only some servers would
    /// read it: the upstream could read another token than the one verified.
    TokenAmbiguous {
        /// Which source, and why.
        detail: String,
    },
    /// The token is longer than the configured limit; it was not parsed.
    TokenTooLarge {
        /// The token's length in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The token's `alg` is `none`, unknown, or not allowed for its issuer.
    AlgorithmNotAllowed {
        /// The `alg` header value as sent.
        alg: String,
    },
    /// No configured issuer has this `iss` (or the token has none).
    IssuerUnknown {
        /// The token's `iss`, when present.
        iss: Option<String>,
    },
    /// No key of the issuer matches the token's `kid` and algorithm.
    KeyNotFound {
        /// The issuer whose keys were searched.
        issuer: String,
        /// The token's `kid`, when present.
        kid: Option<String>,
        /// The token's algorithm.
        alg: String,
    },
    /// A matching key exists, but the signature does not verify with it.
    SignatureInvalid {
        /// The token's `kid`, when present.
        kid: Option<String>,
        /// The token's algorithm.
        alg: String,
    },
    /// `exp` is in the past, beyond the allowed clock skew.
    TokenExpired {
        /// The evaluation time (Unix seconds).
        now: u64,
        /// The token's `exp`.
        exp: u64,
        /// The allowed clock skew in seconds.
        skew: u64,
    },
    /// `nbf` is in the future, beyond the allowed clock skew.
    TokenNotYetValid {
        /// The evaluation time (Unix seconds).
        now: u64,
        /// The token's `nbf`.
        nbf: u64,
        /// The allowed clock skew in seconds.
        skew: u64,
    },
    /// `iat` is in the future, beyond the allowed clock skew.
    TokenIssuedInFuture {
        /// The evaluation time (Unix seconds).
        now: u64,
        /// The token's `iat`.
        iat: u64,
        /// The allowed clock skew in seconds.
        skew: u64,
    },
    /// The issuer requires `exp` and the token has none.
    ExpirationMissing,
    /// `exp - iat` exceeds the issuer's maximum token lifetime (or `iat` is missing).
    LifetimeTooLong {
        /// `exp - iat` in seconds; `None` when `iat` is missing.
        lifetime: Option<u64>,
        /// The configured maximum in seconds.
        max: u64,
    },
    /// None of the token's audiences is configured for its issuer.
    AudienceMismatch {
        /// The token's audiences (empty when it has no `aud`).
        token_audiences: Vec<String>,
    },
    /// A claim validation rule or claim mapping failed.
    ClaimValidationFailed {
        /// The claim concerned.
        claim: String,
        /// What was expected, for the message.
        detail: String,
    },
    /// The token was revoked by the policy bundle.
    TokenRevoked {
        /// Which revocation entry matched, for the message.
        detail: String,
    },
    /// The issuer's keys are not available (not yet fetched, or never configured).
    KeysUnavailable {
        /// The issuer URL.
        issuer: String,
    },
    /// A token came over a connection without TLS, and the configuration requires TLS for
    /// tokens (`authentication.requireTLS`): it was not verified.
    TlsRequired,
    /// An opaque token (not a JWT) matches no static or bootstrap token, or a bootstrap
    /// token's secret does not match or it is not for authentication.
    TokenUnknown {
        /// Which kind, and why (never the token).
        detail: String,
    },
    /// The peer's certificate names an identity that cannot be read exactly: a URI SAN that
    /// is not a service-account SPIFFE ID, a subject that does not parse.
    PeerIdentityInvalid {
        /// What is wrong.
        detail: String,
    },
    /// The peer's SPIFFE ID is in a trust domain that is not configured.
    PeerUntrusted {
        /// Which trust domain.
        detail: String,
    },
    /// Identity headers of an authenticating proxy came from a peer that is not an allowed
    /// front proxy.
    ProxyNotAllowed {
        /// Which peer.
        detail: String,
    },
    /// A service-account token came from another workload than the one it names
    /// (`senderConstraint`).
    SenderMismatch {
        /// Which token and which peer.
        detail: String,
    },
    /// The token-review webhook did not authenticate the token.
    TokenReviewDenied {
        /// The webhook's `status.error`, if any.
        detail: String,
    },
    /// The token-review webhook could not answer (unreachable, an error, an answer that
    /// cannot be read, none in time).
    TokenReviewFailed {
        /// Why.
        detail: String,
        /// Whether the configuration answers 503 (`failurePolicy: unavailable`) or 401.
        unavailable: bool,
        /// `Retry-After` of a 503, in seconds.
        retry_after: u64,
    },
    /// The token waits for the webhook's answer (a request that cannot wait gets
    /// [`AuthError::TokenReviewFailed`]'s reason).
    TokenReviewPending {
        /// The token's SHA-256.
        digest: [u8; 32],
        /// As in [`AuthError::TokenReviewFailed`].
        unavailable: bool,
        /// As in [`AuthError::TokenReviewFailed`].
        retry_after: u64,
    },
    /// Several authenticators failed; the first is the reason, the rest are evidence.
    Several {
        /// Each failure, with the authenticator that reported it, in order.
        errors: Vec<(&'static str, AuthError)>,
    },
    /// Several tokens verified but name different users; the request cannot have one identity.
    IdentityConflict {
        /// The first user.
        first: String,
        /// The conflicting user.
        second: String,
    },
}

impl AuthError {
    /// The reason this failure is reported as.
    pub fn reason(&self) -> Reason {
        match self {
            AuthError::TokenMissing => Reason::TokenMissing,
            AuthError::TokenMalformed { .. } => Reason::TokenMalformed,
            AuthError::TokenAmbiguous { .. } => Reason::TokenAmbiguous,
            AuthError::TokenTooLarge { .. } => Reason::TokenTooLarge,
            AuthError::AlgorithmNotAllowed { .. } => Reason::AlgorithmNotAllowed,
            AuthError::IssuerUnknown { .. } => Reason::IssuerUnknown,
            AuthError::KeyNotFound { .. } => Reason::KeyNotFound,
            AuthError::SignatureInvalid { .. } => Reason::SignatureInvalid,
            AuthError::TokenExpired { .. } => Reason::TokenExpired,
            AuthError::TokenNotYetValid { .. } => Reason::TokenNotYetValid,
            AuthError::TokenIssuedInFuture { .. } => Reason::TokenIssuedInFuture,
            AuthError::ExpirationMissing => Reason::ExpirationMissing,
            AuthError::LifetimeTooLong { .. } => Reason::LifetimeTooLong,
            AuthError::AudienceMismatch { .. } => Reason::AudienceMismatch,
            AuthError::ClaimValidationFailed { .. } => Reason::ClaimValidationFailed,
            AuthError::TokenRevoked { .. } => Reason::TokenRevoked,
            AuthError::KeysUnavailable { .. } => Reason::KeysUnavailable,
            AuthError::IdentityConflict { .. } => Reason::IdentityConflict,
            AuthError::TlsRequired => Reason::TlsRequired,
            AuthError::TokenUnknown { .. } => Reason::TokenUnknown,
            AuthError::PeerIdentityInvalid { .. } => Reason::PeerIdentityInvalid,
            AuthError::PeerUntrusted { .. } => Reason::PeerUntrusted,
            AuthError::ProxyNotAllowed { .. } => Reason::ProxyNotAllowed,
            AuthError::SenderMismatch { .. } => Reason::SenderMismatch,
            AuthError::TokenReviewDenied { .. } => Reason::TokenReviewDenied,
            AuthError::TokenReviewFailed { unavailable, .. }
            | AuthError::TokenReviewPending { unavailable, .. } => {
                if *unavailable {
                    Reason::TokenReviewUnavailable
                } else {
                    Reason::TokenReviewFailed
                }
            }
            AuthError::Several { errors } => errors
                .first()
                .map_or(Reason::TokenMissing, |(_, first)| first.reason()),
        }
    }

    /// This failure, or each of several, in order.
    pub fn parts(&self) -> impl Iterator<Item = &AuthError> {
        let several = match self {
            AuthError::Several { errors } => errors.as_slice(),
            _ => &[],
        };
        let own = (several.is_empty()).then_some(self);
        own.into_iter().chain(several.iter().map(|(_, e)| e))
    }

    /// The stable snake_case reason code.
    pub fn code(&self) -> &'static str {
        self.reason().code()
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        AuthError::TokenMalformed {
            detail: detail.into(),
        }
    }

    pub(crate) fn ambiguous(detail: impl Into<String>) -> Self {
        AuthError::TokenAmbiguous {
            detail: detail.into(),
        }
    }
}

fn kid_text(kid: &Option<String>) -> String {
    match kid {
        Some(kid) => format!("kid {kid:?}"),
        None => "no kid".to_string(),
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::TokenMissing => write!(f, "no bearer token in the request"),
            AuthError::TlsRequired => write!(
                f,
                "a token came over a connection without TLS; it was not verified \
                 (authentication.requireTLS)"
            ),
            AuthError::TokenMalformed { detail } => write!(f, "malformed token: {detail}"),
            AuthError::TokenAmbiguous { detail } => write!(f, "ambiguous token: {detail}"),
            AuthError::TokenTooLarge { size, limit } => {
                write!(f, "token is {size} bytes, over the {limit}-byte limit")
            }
            AuthError::AlgorithmNotAllowed { alg } => {
                write!(f, "algorithm {alg:?} is not allowed for this issuer")
            }
            AuthError::IssuerUnknown { iss: Some(iss) } => write!(f, "unknown issuer {iss:?}"),
            AuthError::IssuerUnknown { iss: None } => write!(f, "token has no iss claim"),
            AuthError::KeyNotFound { kid, alg, .. } => write!(
                f,
                "no key of the issuer matches {} and algorithm {alg}",
                kid_text(kid)
            ),
            AuthError::SignatureInvalid { kid, alg } => write!(
                f,
                "signature does not verify ({}, algorithm {alg})",
                kid_text(kid)
            ),
            AuthError::TokenExpired { now, exp, skew } => write!(
                f,
                "token expired at {exp}, now is {now} (clock skew {skew}s)"
            ),
            AuthError::TokenNotYetValid { now, nbf, skew } => write!(
                f,
                "token is not valid before {nbf}, now is {now} (clock skew {skew}s)"
            ),
            AuthError::TokenIssuedInFuture { now, iat, skew } => write!(
                f,
                "token issued in the future at {iat}, now is {now} (clock skew {skew}s)"
            ),
            AuthError::ExpirationMissing => write!(f, "token has no exp claim"),
            AuthError::LifetimeTooLong {
                lifetime: Some(lifetime),
                max,
            } => write!(
                f,
                "token lifetime {lifetime}s exceeds the maximum of {max}s"
            ),
            AuthError::LifetimeTooLong {
                lifetime: None,
                max,
            } => write!(
                f,
                "token has no iat claim, so its lifetime cannot be checked against the maximum of {max}s"
            ),
            AuthError::AudienceMismatch { token_audiences } if token_audiences.is_empty() => {
                write!(f, "token has no aud claim")
            }
            AuthError::AudienceMismatch { token_audiences } => write!(
                f,
                "token audiences {token_audiences:?} do not include a configured audience"
            ),
            AuthError::ClaimValidationFailed { claim, detail } => {
                write!(f, "claim {claim:?}: {detail}")
            }
            AuthError::TokenRevoked { detail } => write!(f, "token revoked: {detail}"),
            AuthError::KeysUnavailable { issuer } => {
                write!(f, "keys for issuer {issuer:?} are not available")
            }
            AuthError::TokenUnknown { detail } => write!(f, "unknown token: {detail}"),
            AuthError::PeerIdentityInvalid { detail } => {
                write!(f, "the peer's identity cannot be read: {detail}")
            }
            AuthError::PeerUntrusted { detail } => write!(f, "untrusted peer: {detail}"),
            AuthError::ProxyNotAllowed { detail } => {
                write!(f, "not an allowed front proxy: {detail}")
            }
            AuthError::SenderMismatch { detail } => {
                write!(f, "token used by another workload: {detail}")
            }
            AuthError::TokenReviewDenied { detail } => write!(f, "{detail}"),
            AuthError::TokenReviewFailed { detail, .. } => {
                write!(f, "the token-review webhook did not answer: {detail}")
            }
            AuthError::TokenReviewPending { .. } => {
                write!(f, "the token-review webhook did not answer in time")
            }
            AuthError::Several { errors } => {
                for (i, (method, error)) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{method}: {error}")?;
                }
                Ok(())
            }
            AuthError::IdentityConflict { first, second } => write!(
                f,
                "the request's tokens name different users ({first:?} and {second:?})"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<crate::identity::IdentityError> for AuthError {
    fn from(error: crate::identity::IdentityError) -> Self {
        AuthError::ClaimValidationFailed {
            claim: error.claim,
            detail: error.detail,
        }
    }
}
