//! Raw configuration → runtime types. Every refusal names the field path.

use std::collections::HashSet;

use serde_json::Value;

use super::schema::{
    AuthenticationConfig, ClaimMappings as RawMappings, JwtAuthenticator, PrefixedClaim,
    TokenCacheConfig,
};
use super::{ConfigError, PluginConfig};
use crate::identity::{ClaimMappings, IdentityMapping};
use crate::token::claims::TimePolicy;
use crate::token::{
    Algorithm, Authenticator, CacheLimits, CacheSettings, IssuerVerifier, KeyFamily, KeySet,
    TokenSource,
};

/// The issuer of legacy secret-based service-account tokens, which carry no audience.
pub const LEGACY_SERVICE_ACCOUNT_ISSUER: &str = "kubernetes/serviceaccount";

const CEL_UNSUPPORTED: &str = "CEL expressions are not supported; only a plain claim reference \
     such as claims.sub or claims[\"name\"] is (or use the claim field)";

impl PluginConfig {
    /// Compiles the authentication half of the configuration.
    pub fn authenticator(&self) -> Result<Authenticator, ConfigError> {
        self.authentication.compile("authentication")
    }
}

impl AuthenticationConfig {
    /// Validates and compiles into an [`Authenticator`]. `path` prefixes error paths.
    pub fn compile(&self, path: &str) -> Result<Authenticator, ConfigError> {
        if let Some(kind) = &self.kind {
            if kind != "AuthenticationConfiguration" {
                return Err(ConfigError::new(
                    format!("{path}.kind"),
                    format!("must be AuthenticationConfiguration, not {kind:?}"),
                ));
            }
        }
        if let Some(api_version) = &self.api_version {
            if !api_version.starts_with("apiserver.config.k8s.io/") {
                return Err(ConfigError::new(
                    format!("{path}.apiVersion"),
                    format!("must be apiserver.config.k8s.io/v1 (or a beta), not {api_version:?}"),
                ));
            }
        }
        if self.jwt.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.jwt"),
                "at least one issuer is required",
            ));
        }
        let skew = self
            .clock_skew_seconds
            .unwrap_or(crate::token::verify_defaults::CLOCK_SKEW_SECONDS);
        if skew > 600 {
            return Err(ConfigError::new(
                format!("{path}.clockSkewSeconds"),
                format!("{skew} is more than the maximum of 600"),
            ));
        }
        let max_token_bytes = self
            .max_token_bytes
            .unwrap_or(crate::token::verify_defaults::MAX_TOKEN_BYTES);
        if !(256..=65536).contains(&max_token_bytes) {
            return Err(ConfigError::new(
                format!("{path}.maxTokenBytes"),
                format!("{max_token_bytes} is outside 256..=65536"),
            ));
        }
        let sources = match &self.token_sources {
            None => vec![TokenSource::bearer()],
            Some(sources) if sources.is_empty() => {
                return Err(ConfigError::new(
                    format!("{path}.tokenSources"),
                    "must list at least one source (omit it for Authorization: Bearer)",
                ))
            }
            Some(sources) => {
                for (i, source) in sources.iter().enumerate() {
                    let name = match source {
                        TokenSource::Header { name, .. }
                        | TokenSource::QueryParameter { name }
                        | TokenSource::Cookie { name } => name,
                    };
                    if name.is_empty() {
                        return Err(ConfigError::new(
                            format!("{path}.tokenSources[{i}]"),
                            "name must not be empty",
                        ));
                    }
                }
                sources.clone()
            }
        };
        let mut seen = HashSet::new();
        let mut issuers = Vec::with_capacity(self.jwt.len());
        for (i, entry) in self.jwt.iter().enumerate() {
            let entry_path = format!("{path}.jwt[{i}]");
            if !seen.insert(entry.issuer.url.as_str()) {
                return Err(ConfigError::new(
                    format!("{entry_path}.issuer.url"),
                    format!("duplicate issuer {:?}", entry.issuer.url),
                ));
            }
            issuers.push(entry.compile(&entry_path, skew)?);
        }
        let cache = token_cache(self.token_cache.as_ref(), path)?;
        Ok(Authenticator::new(issuers, sources, max_token_bytes).with_cache(cache))
    }
}

fn token_cache(
    config: Option<&TokenCacheConfig>,
    path: &str,
) -> Result<CacheSettings, ConfigError> {
    let defaults = CacheSettings::default();
    let Some(config) = config else {
        return Ok(defaults);
    };
    let path = format!("{path}.tokenCache");
    let max_entries = config.max_entries.unwrap_or(defaults.limits.max_entries);
    if max_entries > 1_000_000 {
        return Err(ConfigError::new(
            format!("{path}.maxEntries"),
            format!("{max_entries} is more than the maximum of 1000000"),
        ));
    }
    let max_age = config.max_age_seconds.unwrap_or(defaults.limits.max_age);
    if !(1..=86_400).contains(&max_age) {
        return Err(ConfigError::new(
            format!("{path}.maxAgeSeconds"),
            format!("{max_age} is outside 1..=86400"),
        ));
    }
    let shared_slots = config.shared_slots.unwrap_or(defaults.shared_slots);
    if shared_slots > 65_536 {
        return Err(ConfigError::new(
            format!("{path}.sharedSlots"),
            format!("{shared_slots} is more than the maximum of 65536"),
        ));
    }
    Ok(CacheSettings {
        limits: CacheLimits {
            max_entries,
            max_age,
        },
        shared_slots: if max_entries == 0 { 0 } else { shared_slots },
    })
}

impl JwtAuthenticator {
    fn compile(&self, path: &str, skew: u64) -> Result<IssuerVerifier, ConfigError> {
        let err =
            |field: &str, message: String| ConfigError::new(format!("{path}.{field}"), message);
        let issuer = &self.issuer;
        if issuer.url.is_empty() {
            return Err(err("issuer.url", "is required".into()));
        }
        if issuer.certificate_authority.is_some() {
            return Err(err(
                "issuer.certificateAuthority",
                "TLS to the issuer is set on the Envoy cluster of remoteKeys (its transport \
                 socket's validation context); remove certificateAuthority"
                    .into(),
            ));
        }
        let remote = match &self.remote_keys {
            Some(config) => Some(super::remote::remote_keys(path, config, issuer)?),
            None if issuer.discovery_url.is_some() => {
                return Err(err(
                    "issuer.discoveryURL",
                    "needs remoteKeys (the Envoy cluster to fetch through)".into(),
                ))
            }
            None => None,
        };
        let legacy = self.service_account_issuer && issuer.url == LEGACY_SERVICE_ACCOUNT_ISSUER;
        if issuer.audiences.is_empty() && !legacy {
            return Err(err(
                "issuer.audiences",
                "at least one audience is required (only the legacy kubernetes/serviceaccount \
                 issuer may have none)"
                    .into(),
            ));
        }
        let mut audiences = HashSet::new();
        for (i, aud) in issuer.audiences.iter().enumerate() {
            if aud.is_empty() {
                return Err(err(
                    &format!("issuer.audiences[{i}]"),
                    "must not be empty".into(),
                ));
            }
            if !audiences.insert(aud) {
                return Err(err(
                    &format!("issuer.audiences[{i}]"),
                    format!("duplicate audience {aud:?}"),
                ));
            }
        }
        match issuer.audience_match_policy.as_deref() {
            Some("MatchAny") => {}
            None | Some("") if issuer.audiences.len() <= 1 => {}
            None | Some("") => {
                return Err(err(
                    "issuer.audienceMatchPolicy",
                    "must be MatchAny when several audiences are listed".into(),
                ))
            }
            Some(other) => {
                return Err(err(
                    "issuer.audienceMatchPolicy",
                    format!("{other:?} is not supported (only MatchAny)"),
                ))
            }
        }

        let mut claim_rules = Vec::new();
        for (i, rule) in self.claim_validation_rules.iter().enumerate() {
            let rule_path = format!("claimValidationRules[{i}]");
            if rule.expression.is_some() || rule.message.is_some() {
                return Err(err(
                    &format!("{rule_path}.expression"),
                    CEL_UNSUPPORTED.into(),
                ));
            }
            let claim = rule
                .claim
                .as_deref()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| err(&format!("{rule_path}.claim"), "is required".into()))?;
            let required = rule
                .required_value
                .clone()
                .ok_or_else(|| err(&format!("{rule_path}.requiredValue"), "is required".into()))?;
            claim_rules.push((claim.to_string(), required));
        }
        if !self.user_validation_rules.is_empty() {
            return Err(err("userValidationRules", CEL_UNSUPPORTED.into()));
        }

        let identity = if self.service_account_issuer {
            if self.claim_mappings.is_some() {
                return Err(err(
                    "claimMappings",
                    "does not apply to a service-account issuer (identities come from the \
                     kubernetes.io claims)"
                        .into(),
                ));
            }
            IdentityMapping::ServiceAccount
        } else {
            let raw = self.claim_mappings.clone().unwrap_or_default();
            IdentityMapping::Claims(compile_mappings(&raw, &issuer.url, path)?)
        };

        let keys = self.keys(path, remote.is_some())?;
        let algorithms = self.algorithms(path, &keys, remote.is_some())?;
        if let Some(0) = self.max_token_lifetime_seconds {
            return Err(err("maxTokenLifetimeSeconds", "must be positive".into()));
        }
        Ok(IssuerVerifier {
            url: issuer.url.clone(),
            audiences: issuer.audiences.clone(),
            inline_keys: keys.clone(),
            keys,
            fetches_keys: remote.is_some(),
            algorithms,
            time: TimePolicy {
                skew,
                require_expiration: self.require_expiration.unwrap_or(true),
                max_lifetime: self.max_token_lifetime_seconds,
            },
            claim_rules,
            identity,
        })
    }

    fn keys(&self, path: &str, remote: bool) -> Result<KeySet, ConfigError> {
        let mut keys = KeySet::default();
        if let Some(jwks) = &self.jwks {
            let parsed = match jwks {
                Value::String(text) => KeySet::from_jwks_str(text, true),
                document => KeySet::from_jwks(document, true),
            };
            keys.extend(parsed.map_err(|e| ConfigError::new(format!("{path}.jwks"), e.0))?);
        }
        if let Some(pem) = &self.public_keys {
            keys.extend(
                KeySet::from_pem(pem)
                    .map_err(|e| ConfigError::new(format!("{path}.publicKeys"), e.0))?,
            );
        }
        if keys.is_empty() && !remote {
            return Err(ConfigError::new(
                path,
                "no keys: set remoteKeys, jwks (a JWKS document) or publicKeys (PEM)",
            ));
        }
        Ok(keys)
    }

    /// The allowed algorithms: configured, or every one the keys can verify. Remote key sets
    /// may hold any public-key type (never a shared secret).
    fn algorithms(
        &self,
        path: &str,
        keys: &KeySet,
        remote: bool,
    ) -> Result<Vec<Algorithm>, ConfigError> {
        let has_family = |family: KeyFamily| {
            (remote && family != KeyFamily::Hmac)
                || keys.keys().iter().any(|k| k.family() == family)
        };
        let Some(names) = &self.algorithms else {
            return Ok(Algorithm::ALL
                .into_iter()
                .filter(|alg| has_family(alg.family()))
                .collect());
        };
        if names.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.algorithms"),
                "must not be empty",
            ));
        }
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let at = format!("{path}.algorithms[{i}]");
                let alg = name.parse::<Algorithm>().map_err(|()| {
                    ConfigError::new(&at, format!("{name:?} is not a supported algorithm"))
                })?;
                if !has_family(alg.family()) {
                    return Err(ConfigError::new(
                        at,
                        format!("{alg} is allowed but no configured key can verify it"),
                    ));
                }
                Ok(alg)
            })
            .collect()
    }
}

/// A claim given either as `claim` or as a plain CEL claim reference in `expression`.
fn claim_name(
    claim: &Option<String>,
    expression: &Option<String>,
    path: &str,
) -> Result<Option<String>, ConfigError> {
    match (claim, expression) {
        (Some(_), Some(_)) => Err(ConfigError::new(path, "set claim or expression, not both")),
        (Some(claim), None) if claim.is_empty() => Err(ConfigError::new(
            format!("{path}.claim"),
            "must not be empty",
        )),
        (Some(claim), None) => Ok(Some(claim.clone())),
        (None, Some(expression)) => plain_claim_reference(expression)
            .map(Some)
            .ok_or_else(|| ConfigError::new(format!("{path}.expression"), CEL_UNSUPPORTED)),
        (None, None) => Ok(None),
    }
}

/// `claims.name`, `claims["name"]` or `claims['name']` → `name`.
fn plain_claim_reference(expression: &str) -> Option<String> {
    let rest = expression.trim().strip_prefix("claims")?;
    if let Some(name) = rest.strip_prefix('.') {
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return ok.then(|| name.to_string());
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let name = inner
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|n| n.strip_suffix('\'')))?;
    (!name.is_empty() && !name.contains(['"', '\'', '\\'])).then(|| name.to_string())
}

fn compile_mappings(
    raw: &RawMappings,
    issuer_url: &str,
    path: &str,
) -> Result<ClaimMappings, ConfigError> {
    let at = |field: &str| format!("{path}.claimMappings.{field}");
    let username = raw.username.clone().unwrap_or_default();
    let username_claim = claim_name(&username.claim, &username.expression, &at("username"))?
        .unwrap_or_else(|| "sub".to_string());
    // Legacy --oidc-username-prefix semantics: unset means "issuer URL and #" unless the claim
    // is email; "-" means no prefix.
    let username_prefix = match username.prefix.as_deref() {
        None if username_claim == "email" => String::new(),
        None => format!("{issuer_url}#"),
        Some("-") => String::new(),
        Some(prefix) => prefix.to_string(),
    };
    if username.expression.is_some() && username.prefix.is_some() {
        return Err(ConfigError::new(
            at("username.prefix"),
            "cannot be combined with expression (as in the apiserver)",
        ));
    }
    let groups = match &raw.groups {
        None => None,
        Some(PrefixedClaim {
            claim,
            prefix,
            expression,
        }) => claim_name(claim, expression, &at("groups"))?.map(|claim| {
            let prefix = match prefix.as_deref() {
                None | Some("-") => String::new(),
                Some(p) => p.to_string(),
            };
            (claim, prefix)
        }),
    };
    let uid_claim = match &raw.uid {
        None => None,
        Some(uid) => claim_name(&uid.claim, &uid.expression, &at("uid"))?,
    };
    let mut extra = Vec::new();
    let mut keys = HashSet::new();
    for (i, mapping) in raw.extra.iter().enumerate() {
        let entry = at(&format!("extra[{i}]"));
        validate_extra_key(&mapping.key)
            .map_err(|m| ConfigError::new(format!("{entry}.key"), m))?;
        if !keys.insert(mapping.key.as_str()) {
            return Err(ConfigError::new(format!("{entry}.key"), "duplicate key"));
        }
        let claim = claim_name(&mapping.claim, &mapping.value_expression, &entry)?
            .ok_or_else(|| ConfigError::new(&entry, "set claim or valueExpression"))?;
        extra.push((mapping.key.clone(), claim));
    }
    Ok(ClaimMappings {
        username_claim,
        username_prefix,
        groups,
        uid_claim,
        extra,
    })
}

/// As the apiserver: a domain-prefixed path, lowercase, outside the Kubernetes-reserved domains.
fn validate_extra_key(key: &str) -> Result<(), String> {
    let Some((domain, name)) = key.split_once('/') else {
        return Err(format!(
            "{key:?} must be domain-prefixed, e.g. example.com/team"
        ));
    };
    if domain.is_empty() || name.is_empty() || !domain.contains('.') {
        return Err(format!(
            "{key:?} must be domain-prefixed, e.g. example.com/team"
        ));
    }
    if key != key.to_ascii_lowercase() {
        return Err(format!("{key:?} must be lowercase"));
    }
    let reserved = ["kubernetes.io", "k8s.io"];
    if reserved
        .iter()
        .any(|r| domain == *r || domain.ends_with(&format!(".{r}")))
    {
        return Err(format!("{key:?} uses a domain reserved for Kubernetes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plain_claim_reference;

    #[test]
    fn plain_claim_references_are_the_only_cel_understood() {
        assert_eq!(plain_claim_reference("claims.sub").as_deref(), Some("sub"));
        assert_eq!(
            plain_claim_reference(" claims[\"a.b/c\"] ").as_deref(),
            Some("a.b/c")
        );
        assert_eq!(plain_claim_reference("claims['x']").as_deref(), Some("x"));
        for cel in [
            "claims.sub + 'x'",
            "claims.a.b",
            "has(claims.x)",
            "claims[x]",
            "claims.",
            "user.name",
        ] {
            assert_eq!(plain_claim_reference(cel), None, "{cel}");
        }
    }
}
