//! Revocation: tokens that verify but must no longer be accepted.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::identity::UserInfo;
use crate::token::{AuthError, RegisteredClaims};

/// The revocation list as written in a bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocations {
    /// Token IDs (`jti`) that are revoked, whoever holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_ids: Vec<String>,
    /// Users (Kubernetes usernames, e.g. `system:serviceaccount:NS:NAME`) none of whose tokens
    /// are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Tokens of a user issued before a time (Unix seconds) are revoked; tokens without `iat`
    /// count as issued before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issued_before: Vec<IssuedBefore>,
}

/// "Tokens issued before `time` for `subject`".
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuedBefore {
    /// The username.
    pub subject: String,
    /// Unix seconds.
    pub time: u64,
}

impl Revocations {
    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.token_ids.is_empty() && self.subjects.is_empty() && self.issued_before.is_empty()
    }

    /// Sorted and deduplicated, for the canonical form. Elements that compare equal are
    /// identical (derived orders), so the smaller unstable sort gives the same result.
    pub(crate) fn canonicalize(&mut self) {
        self.token_ids.sort_unstable();
        self.token_ids.dedup();
        self.subjects.sort_unstable();
        self.subjects.dedup();
        self.issued_before.sort_unstable();
        self.issued_before.dedup();
    }

    /// Adds the entries of another list.
    pub(crate) fn extend(&mut self, other: Revocations) {
        self.token_ids.extend(other.token_ids);
        self.subjects.extend(other.subjects);
        self.issued_before.extend(other.issued_before);
    }

    /// The list, indexed for the request path.
    pub fn compile(&self) -> RevocationList {
        let mut issued_before: HashMap<String, u64> = HashMap::new();
        for entry in &self.issued_before {
            let time = issued_before.entry(entry.subject.clone()).or_default();
            *time = (*time).max(entry.time);
        }
        RevocationList {
            token_ids: self.token_ids.iter().cloned().collect(),
            subjects: self.subjects.iter().cloned().collect(),
            issued_before,
        }
    }
}

/// The compiled revocation list.
#[derive(Clone, Debug, Default)]
pub struct RevocationList {
    token_ids: HashSet<String>,
    subjects: HashSet<String>,
    issued_before: HashMap<String, u64>,
}

impl RevocationList {
    /// Refuses a verified token that the list revokes, with `token_revoked` and which entry
    /// matched (never the token itself).
    pub fn check(&self, user: &UserInfo, claims: &RegisteredClaims) -> Result<(), AuthError> {
        if let Some(jti) = claims.jti.as_deref() {
            if self.token_ids.contains(jti) {
                return Err(AuthError::TokenRevoked {
                    detail: format!("token id {jti:?} is revoked"),
                });
            }
        }
        if self.subjects.contains(&user.username) {
            return Err(AuthError::TokenRevoked {
                detail: format!("every token of {:?} is revoked", user.username),
            });
        }
        if let Some(&time) = self.issued_before.get(&user.username) {
            if claims.iat.is_none_or(|iat| iat < time) {
                return Err(AuthError::TokenRevoked {
                    detail: format!(
                        "tokens of {:?} issued before {time} are revoked",
                        user.username
                    ),
                });
            }
        }
        Ok(())
    }
}
