//! The raw configuration schema, field names as users write them. Nothing here is validated
//! beyond types and unknown fields; [`super::compile`] does the rest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::token::TokenSource;

/// The whole plugin configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// Who may call: issuers, token sources, limits.
    pub authentication: AuthenticationConfig,
}

/// `authentication`: shaped like the kube-apiserver's `AuthenticationConfiguration`, so that
/// document pastes in whole (its `apiVersion` and `kind` are accepted and checked).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// `apiserver.config.k8s.io/v1…`, when pasted from an apiserver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `AuthenticationConfiguration`, when pasted from an apiserver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Trusted JWT issuers.
    pub jwt: Vec<JwtAuthenticator>,
    /// Where tokens are looked for, in order. Default: `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sources: Option<Vec<TokenSource>>,
    /// Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u64>,
    /// Largest token accepted, in bytes; larger ones are rejected unparsed. Default 8192.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_bytes: Option<usize>,
}

/// One trusted issuer: the apiserver's `JWTAuthenticator` plus meshguard's additions.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtAuthenticator {
    /// The issuer and its audiences.
    pub issuer: Issuer,
    /// Claims that must hold a given value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claim_validation_rules: Vec<ClaimValidationRule>,
    /// How claims become the username, groups, uid and extras (OIDC issuers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mappings: Option<ClaimMappings>,
    /// CEL rules on the user: not supported; present only to refuse them with a clear message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_validation_rules: Vec<UserValidationRule>,
    /// meshguard: inline JWKS, as an object or as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// meshguard: PEM public keys, as the apiserver's `--service-account-key-file` takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<String>,
    /// meshguard: allowed algorithms. Default: every algorithm the configured keys can verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// meshguard: this is a Kubernetes service-account issuer; identities come from the
    /// `kubernetes.io` claims as the apiserver builds them, and `claimMappings` does not apply.
    #[serde(default)]
    pub service_account_issuer: bool,
    /// meshguard: reject tokens without `exp`. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_expiration: Option<bool>,
    /// meshguard: largest accepted `exp - iat`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime_seconds: Option<u64>,
}

/// `issuer`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issuer {
    /// The issuer URL; tokens' `iss` must equal it exactly.
    pub url: String,
    /// OIDC discovery override (remote keys; not available yet).
    #[serde(
        default,
        rename = "discoveryURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub discovery_url: Option<String>,
    /// CA for fetching remote keys (not available yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// Accepted audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// `MatchAny` (the only policy the apiserver defines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_match_policy: Option<String>,
}

/// One `claimValidationRules` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimValidationRule {
    /// The claim to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The string value it must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_value: Option<String>,
    /// CEL expression: not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Message for a CEL rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `claimMappings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMappings {
    /// The username mapping. Default: claim `sub` with the issuer-URL prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<PrefixedClaim>,
    /// The groups mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<PrefixedClaim>,
    /// The uid mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<ClaimOrExpression>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraMapping>,
}

/// A claim with a prefix (`username`, `groups`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefixedClaim {
    /// The claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The prefix; `-` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A plain claim reference (`claims.email`); other CEL is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A claim without a prefix (`uid`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimOrExpression {
    /// The claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A plain claim reference; other CEL is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// One `extra` mapping.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraMapping {
    /// The extra key, domain-prefixed (`example.com/team`).
    pub key: String,
    /// meshguard: the claim whose value(s) fill it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A plain claim reference; other CEL is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_expression: Option<String>,
}

/// One `userValidationRules` entry (CEL; refused).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserValidationRule {
    /// The CEL expression.
    pub expression: String,
    /// Its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
