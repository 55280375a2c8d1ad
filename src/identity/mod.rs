//! From verified claims to a Kubernetes user, as the kube-apiserver builds it.
//!
//! Two mappings exist. [`IdentityMapping::ServiceAccount`] reads the claims the apiserver puts
//! in service-account tokens (bound tokens' `kubernetes.io` object, or the legacy secret-based
//! `kubernetes.io/serviceaccount/*` claims) and yields `system:serviceaccount:NS:NAME` with the
//! service-account groups and extras. [`IdentityMapping::Claims`] applies an OIDC-style
//! `claimMappings` block. Every authenticated user is in `system:authenticated`.

mod service_account;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::token::AuthError;

pub use service_account::{
    service_account_user, ALL_SERVICE_ACCOUNTS, NODE_NAME_KEY, NODE_UID_KEY, POD_NAME_KEY,
    POD_UID_KEY, SERVICE_ACCOUNT_USERNAME_PREFIX,
};

/// The group every authenticated user belongs to.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The extra key holding the credential id (`JTI=<jti>`), as the apiserver sets it.
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// A Kubernetes user: what RBAC subjects are matched against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The username, e.g. `system:serviceaccount:orders:api` or `https://issuer#alice`.
    pub username: String,
    /// A unique identifier, when the token provides one.
    pub uid: String,
    /// Group names.
    pub groups: Vec<String>,
    /// Extra attributes, e.g. the pod a service-account token is bound to.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// Adds `system:authenticated` unless it is already there, as the apiserver's
    /// authenticated-group adder does.
    pub fn with_authenticated_group(mut self) -> Self {
        if !self.groups.iter().any(|g| g == ALL_AUTHENTICATED) {
            self.groups.push(ALL_AUTHENTICATED.to_string());
        }
        self
    }
}

/// How claims become a user, compiled from the issuer configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityMapping {
    /// A Kubernetes service-account issuer.
    ServiceAccount,
    /// An OIDC issuer with claim mappings.
    Claims(ClaimMappings),
}

/// Compiled `claimMappings`: every prefix is final (legacy defaults already applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMappings {
    /// Claim holding the username.
    pub username_claim: String,
    /// Prefix put before the username (may be empty).
    pub username_prefix: String,
    /// Claim holding the groups (a string or an array of strings), and their prefix.
    pub groups: Option<(String, String)>,
    /// Claim holding the uid.
    pub uid_claim: Option<String>,
    /// Extra keys and the claims that fill them.
    pub extra: Vec<(String, String)>,
}

impl IdentityMapping {
    /// Builds the user for verified `claims`.
    pub fn user(&self, claims: &Map<String, Value>) -> Result<UserInfo, AuthError> {
        let user = match self {
            IdentityMapping::ServiceAccount => service_account_user(claims)?,
            IdentityMapping::Claims(mappings) => mappings.user(claims)?,
        };
        Ok(user.with_authenticated_group())
    }
}

/// The Kubernetes `system:` namespace of names is reserved for the cluster's own identities.
/// An OIDC issuer that could mint `system:masters` or `system:serviceaccount:…` would be able
/// to impersonate them, so meshguard refuses such names from claim mappings.
fn reject_reserved(claim: &str, name: &str) -> Result<(), AuthError> {
    if name.starts_with("system:") {
        return Err(AuthError::claim(
            claim,
            format!("maps to the reserved name {name:?} (names starting with \"system:\" come only from service-account issuers)"),
        ));
    }
    Ok(())
}

impl ClaimMappings {
    fn user(&self, claims: &Map<String, Value>) -> Result<UserInfo, AuthError> {
        let claim = &self.username_claim;
        let value = match claims.get(claim) {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::String(_)) => {
                return Err(AuthError::claim(claim, "username claim is empty"))
            }
            Some(_) => return Err(AuthError::claim(claim, "username claim is not a string")),
            None => return Err(AuthError::claim(claim, "username claim is not present")),
        };
        if claim == "email" {
            // As the apiserver: when the username is the email, an email_verified claim that is
            // present must be true.
            match claims.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => {
                    return Err(AuthError::claim("email_verified", "email is not verified"))
                }
                Some(_) => return Err(AuthError::claim("email_verified", "is not a boolean")),
            }
        }
        let username = format!("{}{}", self.username_prefix, value);
        reject_reserved(claim, &username)?;

        let mut groups = Vec::new();
        if let Some((claim, prefix)) = &self.groups {
            for group in string_or_strings(claims, claim)? {
                let group = format!("{prefix}{group}");
                reject_reserved(claim, &group)?;
                groups.push(group);
            }
        }
        let uid = match &self.uid_claim {
            None => String::new(),
            Some(claim) => match claims.get(claim) {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(AuthError::claim(claim, "uid claim is not a string")),
            },
        };
        let mut extra = BTreeMap::new();
        for (key, claim) in &self.extra {
            let values = string_or_strings(claims, claim)?;
            if !values.is_empty() {
                extra.insert(key.clone(), values);
            }
        }
        if let Some(Value::String(jti)) = claims.get("jti") {
            if !jti.is_empty() {
                extra.insert(CREDENTIAL_ID_KEY.to_string(), vec![format!("JTI={jti}")]);
            }
        }
        Ok(UserInfo {
            username,
            uid,
            groups,
            extra,
        })
    }
}

/// Reads a claim that may be a string or an array of strings; absent means none.
fn string_or_strings(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    AuthError::claim(claim, "is not a string or an array of strings")
                })
            })
            .collect(),
        Some(_) => Err(AuthError::claim(
            claim,
            "is not a string or an array of strings",
        )),
    }
}
