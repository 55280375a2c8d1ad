//! Why claims do not make a user.

use std::fmt;

/// Verified claims that do not make a Kubernetes user (401 `claim_validation_failed`): a
/// mapping's claim is missing or of the wrong type, an expression fails, a rule does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityError {
    /// The claim (or mapping) concerned.
    pub claim: String,
    /// What was wrong.
    pub detail: String,
}

impl IdentityError {
    /// An error about `claim`.
    pub fn new(claim: impl Into<String>, detail: impl Into<String>) -> Self {
        IdentityError {
            claim: claim.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "claim {:?}: {}", self.claim, self.detail)
    }
}

impl std::error::Error for IdentityError {}
