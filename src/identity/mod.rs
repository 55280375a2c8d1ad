//! From verified claims to a Kubernetes user, as the kube-apiserver builds it.
//!
//! Two mappings exist. [`IdentityMapping::ServiceAccount`] reads the claims the apiserver puts
//! in service-account tokens (bound tokens' `kubernetes.io` object, or the legacy secret-based
//! `kubernetes.io/serviceaccount/*` claims) and yields `system:serviceaccount:NS:NAME` with the
//! service-account groups and extras. [`IdentityMapping::Claims`] applies an OIDC-style
//! `claimMappings` block. Every authenticated user is in `system:authenticated`.

pub(crate) mod cel;
mod error;
mod expression;
mod rules;
mod service_account;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::IdentityError;
pub use expression::{ClaimExpression, Want};
pub use rules::{ClaimRule, Condition};
pub use service_account::{
    service_account, service_account_user, ALL_SERVICE_ACCOUNTS, NODE_NAME_KEY, NODE_UID_KEY,
    POD_NAME_KEY, POD_UID_KEY, SERVICE_ACCOUNT_USERNAME_PREFIX,
};

/// The group every authenticated user belongs to.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The extra key holding the credential id (`JTI=<jti>`), as the apiserver sets it.
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// Which credential authenticated a request: named in the decision record and the filter
/// state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Credential {
    /// Nothing did (a bypass, or a refusal).
    #[default]
    None,
    /// A front proxy's headers.
    FrontProxy,
    /// A client certificate's subject.
    X509,
    /// A client certificate's SPIFFE ID.
    Spiffe,
    /// A verified JWT.
    Jwt,
    /// A static token.
    StaticToken,
    /// A bootstrap token.
    BootstrapToken,
    /// A token the token-review webhook vouched for.
    Webhook,
    /// No credential; anonymous access.
    Anonymous,
}

impl Credential {
    /// The name the record and filter state use.
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::None => "",
            Credential::FrontProxy => "frontProxy",
            Credential::X509 => "x509",
            Credential::Spiffe => "spiffe",
            Credential::Jwt => "jwt",
            Credential::StaticToken => "staticToken",
            Credential::BootstrapToken => "bootstrapToken",
            Credential::Webhook => "webhook",
            Credential::Anonymous => "anonymous",
        }
    }

    /// True for [`Credential::None`].
    pub fn is_none(&self) -> bool {
        *self == Credential::None
    }
}

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
    Claims(Box<ClaimMappings>),
}

/// Where one attribute of the user comes from: a claim (with a prefix put before each value)
/// or an expression whose value is used as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimSource {
    /// `claim` + `prefix` (the prefix may be empty).
    Claim {
        /// The claim's name.
        claim: String,
        /// Put before each value.
        prefix: String,
    },
    /// `expression`: its value, unprefixed.
    Expression(ClaimExpression),
}

impl ClaimSource {
    /// The name errors use: the claim, or the expression as written.
    fn name(&self) -> &str {
        match self {
            ClaimSource::Claim { claim, .. } => claim,
            ClaimSource::Expression(expression) => expression.text(),
        }
    }
}

/// Compiled `claimMappings` of the structured configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMappings {
    /// The username (required).
    pub username: ClaimSource,
    /// The groups.
    pub groups: Option<ClaimSource>,
    /// The uid.
    pub uid: Option<ClaimSource>,
    /// Extra keys and what fills them.
    pub extra: Vec<(String, ClaimSource)>,
    /// Whether names starting with `system:` are accepted (the apiserver accepts them;
    /// meshguard refuses them unless this is set).
    pub allow_system_names: bool,
    /// `userValidationRules`: checked on the user the mappings built.
    pub user_rules: Vec<Condition>,
}

impl IdentityMapping {
    /// Builds the user for verified `claims`.
    pub fn user(&self, claims: &Map<String, Value>) -> Result<UserInfo, IdentityError> {
        let user = match self {
            IdentityMapping::ServiceAccount => service_account_user(claims)?,
            IdentityMapping::Claims(mappings) => mappings.user(claims)?,
        };
        Ok(user.with_authenticated_group())
    }
}

/// The Kubernetes `system:` namespace of names is reserved for the cluster's own identities.
/// An OIDC issuer that could mint `system:masters` or `system:serviceaccount:…` would be able
/// to impersonate them, so meshguard refuses such names from claim mappings unless
/// `allowSystemNames` says the issuer is trusted with them (the apiserver does not check).
fn reject_reserved(claim: &str, name: &str) -> Result<(), IdentityError> {
    if name.starts_with("system:") {
        return Err(IdentityError::new(
            claim,
            format!(
                "maps to the reserved name {name:?} (names starting with \"system:\" come only \
                 from service-account issuers unless allowSystemNames is set)"
            ),
        ));
    }
    Ok(())
}

/// One string: a claim's value or an expression's result.
fn single_string(source: &ClaimSource, value: &Value, what: &str) -> Result<String, IdentityError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(IdentityError::new(
            source.name(),
            format!("{what} is not a string"),
        )),
    }
}

impl ClaimMappings {
    fn user(&self, claims: &Map<String, Value>) -> Result<UserInfo, IdentityError> {
        let username = match &self.username {
            ClaimSource::Claim { claim, prefix } => {
                let value = match claims.get(claim) {
                    Some(Value::String(s)) if !s.is_empty() => s,
                    Some(Value::String(_)) => {
                        return Err(IdentityError::new(claim, "username claim is empty"))
                    }
                    Some(_) => {
                        return Err(IdentityError::new(claim, "username claim is not a string"))
                    }
                    None => return Err(IdentityError::new(claim, "username claim is not present")),
                };
                if claim == "email" {
                    // As the apiserver: when the username is the email claim, an
                    // email_verified claim that is present must be true.
                    match claims.get("email_verified") {
                        None | Some(Value::Bool(true)) => {}
                        Some(Value::Bool(false)) => {
                            return Err(IdentityError::new(
                                "email_verified",
                                "email is not verified",
                            ))
                        }
                        Some(_) => {
                            return Err(IdentityError::new("email_verified", "is not a boolean"))
                        }
                    }
                }
                format!("{prefix}{value}")
            }
            ClaimSource::Expression(expression) => {
                let value = expression
                    .eval(claims)
                    .map_err(|e| IdentityError::new(expression.text(), e))?;
                let username = single_string(&self.username, &value, "username")?;
                if username.is_empty() {
                    return Err(IdentityError::new(
                        expression.text(),
                        "empty username via an expression is not allowed",
                    ));
                }
                username
            }
        };
        if !self.allow_system_names {
            reject_reserved(self.username.name(), &username)?;
        }

        let mut groups = Vec::new();
        if let Some(source) = &self.groups {
            for group in values_of(source, claims)? {
                if !self.allow_system_names {
                    reject_reserved(source.name(), &group)?;
                }
                groups.push(group);
            }
        }
        let uid = match &self.uid {
            None => String::new(),
            Some(source) => {
                let value = match source {
                    ClaimSource::Claim { claim, .. } => claims
                        .get(claim)
                        .cloned()
                        .ok_or_else(|| IdentityError::new(claim, "uid claim is not present"))?,
                    ClaimSource::Expression(expression) => expression
                        .eval(claims)
                        .map_err(|e| IdentityError::new(expression.text(), e))?,
                };
                single_string(source, &value, "uid")?
            }
        };
        let mut extra = BTreeMap::new();
        for (key, source) in &self.extra {
            let values = values_of(source, claims)?;
            if !values.is_empty() {
                extra.insert(key.clone(), values);
            }
        }
        if let Some(Value::String(jti)) = claims.get("jti") {
            if !jti.is_empty() {
                extra.insert(CREDENTIAL_ID_KEY.to_string(), vec![format!("JTI={jti}")]);
            }
        }
        let user = UserInfo {
            username,
            uid,
            groups,
            extra,
        };
        for rule in &self.user_rules {
            rule.check_user(&user)?;
        }
        Ok(user)
    }
}

/// The values of a groups or extra source: a claim's string or strings, each prefixed (an
/// absent claim: none); or an expression's string or list of strings, empty strings dropped
/// (as the apiserver drops them). An expression on a missing claim is an error, as a CEL
/// evaluation error is in the apiserver.
fn values_of(
    source: &ClaimSource,
    claims: &Map<String, Value>,
) -> Result<Vec<String>, IdentityError> {
    match source {
        ClaimSource::Claim { claim, prefix } => Ok(string_or_strings(claims, claim)?
            .into_iter()
            .map(|value| format!("{prefix}{value}"))
            .collect()),
        ClaimSource::Expression(expression) => {
            let value = expression
                .eval(claims)
                .map_err(|e| IdentityError::new(expression.text(), e))?;
            let values = match &value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            IdentityError::new(
                                expression.text(),
                                "is not a string or a list of strings",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(IdentityError::new(
                        expression.text(),
                        "is not a string or a list of strings",
                    ))
                }
            };
            Ok(values.into_iter().filter(|v| !v.is_empty()).collect())
        }
    }
}

/// Reads a claim that may be a string or an array of strings; absent means none.
fn string_or_strings(
    claims: &Map<String, Value>,
    claim: &str,
) -> Result<Vec<String>, IdentityError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    IdentityError::new(claim, "is not a string or an array of strings")
                })
            })
            .collect(),
        Some(_) => Err(IdentityError::new(
            claim,
            "is not a string or an array of strings",
        )),
    }
}
