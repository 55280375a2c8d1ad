//! Raw configuration → runtime types. Every refusal names the field path.

use std::collections::HashSet;

use serde_json::Value;

use super::schema::{
    AuthenticationConfig, ClaimMappings as RawMappings, JwtAuthenticator, PrefixedClaim,
    TokenCacheConfig, WebhookConfig,
};
use super::{ConfigError, PluginConfig};
use crate::identity::{
    ClaimExpression, ClaimMappings, ClaimRule, ClaimSource, Condition, IdentityMapping, Want,
};
use crate::token::claims::TimePolicy;
use crate::token::review::ReviewSettings;
use crate::token::{
    Algorithm, Authenticator, CacheLimits, CacheSettings, IssuerVerifier, KeyFamily, KeySet,
    TokenSource,
};

/// The issuer of legacy secret-based service-account tokens, which carry no audience.
pub const LEGACY_SERVICE_ACCOUNT_ISSUER: &str = "kubernetes/serviceaccount";

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
        // At least one authenticator of some kind: checked with the order (`peers`).
        self.peers(path)?;
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
        let mut authenticator =
            Authenticator::new(issuers, sources, max_token_bytes).with_cache(cache);
        authenticator.allow_host(self.host_crypto.unwrap_or(true));
        authenticator.set_require_tls(self.require_tls.unwrap_or(false));
        let secrets =
            crate::token::SecretTokens::compile(&self.static_tokens, &self.bootstrap_tokens)
                .map_err(|(field, message)| ConfigError::new(format!("{path}.{field}"), message))?;
        authenticator.set_secrets(secrets);
        if let Some(webhook) = &self.webhook {
            authenticator.set_review(Some(review_settings(webhook, &format!("{path}.webhook"))?));
        }
        Ok(authenticator)
    }
}

fn review_settings(config: &WebhookConfig, path: &str) -> Result<ReviewSettings, ConfigError> {
    let ranged = |field: &str, value: Option<u64>, default: u64, range| {
        super::remote::bounded(path, field, value, default, range)
    };
    if config.cluster.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.cluster"),
            "must name the Envoy cluster",
        ));
    }
    let target = crate::remote::HttpTarget::parse(&config.url)
        .map_err(|e| ConfigError::new(format!("{path}.url"), e))?;
    let timeout_ms = ranged("timeoutMs", config.timeout_ms, 5000, 100..=60_000)?;
    Ok(ReviewSettings {
        cluster: config.cluster.clone(),
        authority: target.authority,
        path: target.path,
        audiences: config.audiences.clone(),
        cache_ttl: ranged("cacheTTLSeconds", config.cache_ttl_seconds, 120, 1..=3600)?,
        retry_after: ranged("retryAfterSeconds", config.retry_after_seconds, 5, 1..=300)?,
        timeout_ms,
        request_wait_ms: ranged(
            "requestWaitMs",
            config.request_wait_ms,
            timeout_ms,
            0..=60_000,
        )?,
        max_response_bytes: ranged(
            "maxResponseBytes",
            config.max_response_bytes.map(|b| b as u64),
            65_536,
            1024..=1 << 20,
        )? as usize,
        failure_policy: config.failure_policy.unwrap_or_default(),
    })
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
        let legacy = self.service_account_issuer && issuer.url == LEGACY_SERVICE_ACCOUNT_ISSUER;
        // The apiserver's own checks first, every error at once.
        if let Some(errors) = ConfigError::all(super::apiserver::jwt_errors(self, path, legacy)) {
            return Err(errors);
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
        let mut claim_rules = Vec::new();
        for rule in &self.claim_validation_rules {
            claim_rules.push(match (&rule.claim, &rule.expression) {
                (Some(claim), _) if !claim.is_empty() => ClaimRule::Equals {
                    claim: claim.clone(),
                    value: rule.required_value.clone().unwrap_or_default(),
                },
                (_, Some(expression)) => ClaimRule::Expression(Condition {
                    expression: compiled(expression, Want::Bool)?,
                    message: rule.message.clone().filter(|m| !m.is_empty()),
                }),
                _ => continue,
            });
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
            let mut mappings = compile_mappings(&raw, self.allow_system_names.unwrap_or(false))?;
            for rule in &self.user_validation_rules {
                mappings.user_rules.push(Condition {
                    expression: ClaimExpression::compile_user(&rule.expression)
                        .map_err(|p| ConfigError::new("userValidationRules", p))?,
                    message: rule.message.clone().filter(|m| !m.is_empty()),
                });
            }
            IdentityMapping::Claims(Box::new(mappings))
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
/// An expression the validation already compiled (so this cannot fail in practice).
fn compiled(expression: &str, want: Want) -> Result<ClaimExpression, ConfigError> {
    ClaimExpression::compile(expression, want)
        .map_err(|problem| ConfigError::new("expression", problem))
}

/// A `username` or `groups` mapping the validation has checked: claim and prefix, or an
/// expression.
fn source(mapping: &PrefixedClaim, want: Want) -> Result<Option<ClaimSource>, ConfigError> {
    Ok(match (&mapping.claim, &mapping.expression) {
        (Some(claim), _) if !claim.is_empty() => Some(ClaimSource::Claim {
            claim: claim.clone(),
            prefix: mapping.prefix.clone().unwrap_or_default(),
        }),
        (_, Some(expression)) if !expression.is_empty() => {
            Some(ClaimSource::Expression(compiled(expression, want)?))
        }
        _ => None,
    })
}

fn compile_mappings(
    raw: &RawMappings,
    allow_system_names: bool,
) -> Result<ClaimMappings, ConfigError> {
    let username = source(&raw.username.clone().unwrap_or_default(), Want::Str)?
        .ok_or_else(|| ConfigError::new("claimMappings.username", "Required value"))?;
    let groups = match &raw.groups {
        Some(groups) => source(groups, Want::Strings)?,
        None => None,
    };
    let uid = match &raw.uid {
        Some(uid) => source(
            &PrefixedClaim {
                claim: uid.claim.clone(),
                prefix: None,
                expression: uid.expression.clone(),
            },
            Want::Str,
        )?,
        None => None,
    };
    let mut extra = Vec::new();
    for mapping in &raw.extra {
        let source = match (&mapping.claim, &mapping.value_expression) {
            (Some(claim), _) => ClaimSource::Claim {
                claim: claim.clone(),
                prefix: String::new(),
            },
            (None, Some(expression)) => {
                ClaimSource::Expression(compiled(expression, Want::Strings)?)
            }
            (None, None) => continue,
        };
        extra.push((mapping.key.clone(), source));
    }
    Ok(ClaimMappings {
        username,
        groups,
        uid,
        extra,
        allow_system_names,
        user_rules: Vec::new(),
    })
}
