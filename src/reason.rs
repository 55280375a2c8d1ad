//! What became of a request and why: one typed value from the decision to the wire. The
//! decision record, the metric names (all defined at start-up from [`Reason::ALL`]), the
//! decision header, the filter state, the local replies and the README's list of codes all
//! come from here.

use std::fmt;

use serde::{Serialize, Serializer};

/// What became of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded after a decision.
    Allow,
    /// Refused (or, in dry-run, let through and recorded as refused).
    #[default]
    Deny,
    /// Let through unexamined (`bypassPaths`).
    Bypass,
}

impl Outcome {
    /// `allow`, `deny` or `bypass`.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Bypass => "bypass",
        }
    }
}

macro_rules! reasons {
    ($($variant:ident => $code:literal, $outcome:ident, $status:literal, $doc:literal;)*) => {
        /// Why a request came to its outcome. [`Reason::code`] is the stable snake_case code
        /// used verbatim in logs, metrics, responses and the CLI.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $(#[doc = $doc] $variant,)*
        }

        impl Reason {
            /// Every reason, in the order the README lists them.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// The outcome this reason belongs to.
            pub fn outcome(self) -> Outcome {
                match self { $(Reason::$variant => Outcome::$outcome,)* }
            }

            /// The HTTP status meshguard answers with (200: forwarded).
            pub fn status(self) -> u16 {
                match self { $(Reason::$variant => $status,)* }
            }

            /// What the reason means, for documentation.
            pub fn describe(self) -> &'static str {
                match self { $(Reason::$variant => $doc,)* }
            }

            /// `deny:<code>`, written out at compile time so that a header value costs no
            /// formatting on the request path.
            fn deny_value(self) -> &'static str {
                match self { $(Reason::$variant => concat!("deny:", $code),)* }
            }
        }
    };
}

reasons! {
    Allowed => "allowed", Allow, 200, "RBAC allowed the request.";
    Bypass => "bypass", Bypass, 200, "The path is in `bypassPaths`: let through unexamined.";
    Forbidden => "forbidden", Deny, 403, "RBAC allowed nothing the request needs.";
    RequestRejected => "request_rejected", Deny, 400, "The request cannot be decided safely: a path that cannot be normalised safely (`..;`, `%2F`, `%252e`), a method override, unreadable headers.";
    TokenMissing => "token_missing", Deny, 401, "No configured source carries a token (and anonymous access is off).";
    TokenMalformed => "token_malformed", Deny, 401, "A token is not a well-formed compact JWS, or is empty.";
    TokenAmbiguous => "token_ambiguous", Deny, 401, "A query or cookie token is there twice, or where only some servers read it.";
    TokenTooLarge => "token_too_large", Deny, 401, "A token is over the configured size limit; it was not parsed.";
    AlgorithmNotAllowed => "algorithm_not_allowed", Deny, 401, "The token's `alg` is `none`, unknown or not allowed for its issuer and key.";
    IssuerUnknown => "issuer_unknown", Deny, 401, "No configured issuer has the token's `iss`.";
    KeyNotFound => "key_not_found", Deny, 401, "No key of the issuer matches the token's `kid` and algorithm.";
    SignatureInvalid => "signature_invalid", Deny, 401, "A matching key exists, but the signature does not verify.";
    TokenExpired => "token_expired", Deny, 401, "`exp` is past, beyond the clock skew.";
    TokenNotYetValid => "token_not_yet_valid", Deny, 401, "`nbf` is in the future, beyond the clock skew.";
    TokenIssuedInFuture => "token_issued_in_future", Deny, 401, "`iat` is in the future, beyond the clock skew.";
    ExpirationMissing => "expiration_missing", Deny, 401, "The issuer requires `exp` and the token has none.";
    LifetimeTooLong => "lifetime_too_long", Deny, 401, "`exp - iat` is over the issuer's maximum lifetime.";
    AudienceMismatch => "audience_mismatch", Deny, 401, "None of the token's audiences is configured.";
    ClaimValidationFailed => "claim_validation_failed", Deny, 401, "A claim rule or mapping failed, or the identity cannot be forwarded as it is (control characters, white space at either end).";
    TokenRevoked => "token_revoked", Deny, 401, "The bundle revokes the token.";
    IdentityConflict => "identity_conflict", Deny, 401, "The request's tokens name different users.";
    TokenUnknown => "token_unknown", Deny, 401, "An opaque token matches no static or bootstrap token, or a bootstrap token's secret does not match or it is not for authentication.";
    PeerIdentityInvalid => "peer_identity_invalid", Deny, 401, "The client certificate's URI SAN is not a service-account SPIFFE ID, or its subject cannot be read exactly.";
    PeerUntrusted => "peer_untrusted", Deny, 401, "The client certificate's SPIFFE ID is in a trust domain that is not configured.";
    ProxyNotAllowed => "proxy_not_allowed", Deny, 401, "Front-proxy identity headers came from a peer whose certificate is not an allowed front proxy's.";
    SenderMismatch => "sender_mismatch", Deny, 401, "A service-account token came from another workload than the one it names (`senderConstraint`).";
    TokenReviewDenied => "token_review_denied", Deny, 401, "The token-review webhook did not authenticate the token.";
    TokenReviewFailed => "token_review_failed", Deny, 401, "The token-review webhook could not answer (`failurePolicy: deny`, the default).";
    TlsRequired => "tls_required", Deny, 401, "A token came over a connection without TLS and `authentication.requireTLS` is on: it was not even verified.";
    TokenReviewUnavailable => "token_review_unavailable", Deny, 503, "The token-review webhook could not answer (`failurePolicy: unavailable`): retry after `Retry-After`.";
    KeysUnavailable => "keys_unavailable", Deny, 503, "The issuer's keys have not been fetched yet.";
    BundleUnavailable => "bundle_unavailable", Deny, 503, "No policy bundle has loaded yet.";
    ClockUnavailable => "clock_unavailable", Deny, 503, "The proxy's clock could not be read: nothing time-dependent is decided.";
    NotConfigured => "not_configured", Deny, 503, "The filter has no configuration in force (every one was refused).";
}

impl Reason {
    /// The counter this reason increments: `meshguard.decision.<outcome>.<reason>`.
    pub fn metric_name(self) -> String {
        format!(
            "meshguard.decision.{}.{}",
            self.outcome().code(),
            self.code()
        )
    }

    /// The decision header and filter state value: `allow`, `bypass` or `deny:<reason>`.
    pub fn header_value(self) -> &'static str {
        match self.outcome() {
            Outcome::Deny => self.deny_value(),
            other => other.code(),
        }
    }
}

/// A record not yet decided says the filter is not configured: it never leaves as such.
impl Default for Reason {
    fn default() -> Self {
        Reason::NotConfigured
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_every_deny_has_its_header_value() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert!(codes
            .iter()
            .all(|c| c.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        for reason in Reason::ALL {
            let expected = match reason.outcome() {
                Outcome::Deny => format!("deny:{}", reason.code()),
                other => other.code().to_owned(),
            };
            assert_eq!(reason.header_value(), expected);
            assert_eq!(reason.outcome() == Outcome::Deny, reason.status() != 200);
        }
    }
}
