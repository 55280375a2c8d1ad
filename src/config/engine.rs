//! Compiling the whole plugin configuration into the request-path [`Engine`].

use std::sync::Arc;

use super::schema::{ForwardingConfig, PluginConfig, RequestMappingConfig};
use super::ConfigError;
use crate::bundle::Bundle;
use crate::decision::forward::{CALLER_IDENTITY_HEADERS, IMPERSONATE_EXTRA_PREFIX};
use crate::decision::{Engine, Forwarding};
use crate::request_info::{params, MethodOverride};
use crate::request_info::{KubernetesMapping, RequestMapper, RouteTemplate, ServiceMapping};

/// An HTTP header name: a non-empty RFC 9110 token.
fn header_name(path: &str, name: &str) -> Result<String, ConfigError> {
    if params::is_token(name) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(ConfigError::new(
            path,
            format!("{name:?} is not a valid header name"),
        ))
    }
}

fn forwarding(config: Option<&ForwardingConfig>) -> Result<Forwarding, ConfigError> {
    let mut forwarding = Forwarding::default();
    let Some(config) = config else {
        return Ok(forwarding);
    };
    if let Some(name) = &config.user_header {
        forwarding.user_header = header_name("forwarding.userHeader", name)?;
    }
    if let Some(name) = &config.group_header {
        forwarding.group_header = header_name("forwarding.groupHeader", name)?;
    }
    if let Some(name) = &config.extra_header_prefix {
        forwarding.extra_header_prefix = header_name("forwarding.extraHeaderPrefix", name)?;
    }
    if let Some(name) = &config.decision_header {
        forwarding.decision_header = Some(header_name("forwarding.decisionHeader", name)?);
    }
    forwarding.strip_token = config.strip_token.unwrap_or(true);
    for (i, name) in config.trust_caller_headers.iter().enumerate() {
        let name = name.to_ascii_lowercase();
        let known =
            CALLER_IDENTITY_HEADERS.contains(&name.as_str()) || name == IMPERSONATE_EXTRA_PREFIX;
        if !known {
            return Err(ConfigError::new(
                format!("forwarding.trustCallerHeaders[{i}]"),
                format!(
                    "{name:?} is not one of {}, {IMPERSONATE_EXTRA_PREFIX}",
                    CALLER_IDENTITY_HEADERS.join(", ")
                ),
            ));
        }
        forwarding.trusted_caller_headers.push(name);
    }
    forwarding.identity = config.identity.unwrap_or(true);
    forwarding.filter_state = config.filter_state.unwrap_or(true);
    if forwarding.user_header == forwarding.group_header {
        return Err(ConfigError::new(
            "forwarding.groupHeader",
            "must differ from forwarding.userHeader",
        ));
    }
    Ok(forwarding)
}

fn request_mapping(config: Option<&RequestMappingConfig>) -> Result<RequestMapper, ConfigError> {
    let Some(config) = config else {
        return Ok(RequestMapper::default());
    };
    let path = "authorization.requestMapping";
    match config.mode.as_str() {
        "kubernetes" => {
            for (field, present) in [
                ("namespace", config.namespace.is_some()),
                ("apiGroup", config.api_group.is_some()),
                ("routes", !config.routes.is_empty()),
                ("nonResourcePaths", !config.non_resource_paths.is_empty()),
            ] {
                if present {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        "applies to mode \"service\" only",
                    ));
                }
            }
            let mut mapping = KubernetesMapping::default();
            if let Some(prefixes) = &config.api_prefixes {
                mapping.api_prefixes.clone_from(prefixes);
            }
            if let Some(prefixes) = &config.groupless_api_prefixes {
                mapping.groupless_api_prefixes.clone_from(prefixes);
            }
            if mapping.api_prefixes.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.apiPrefixes"),
                    "must not be empty",
                ));
            }
            Ok(RequestMapper::Kubernetes(mapping))
        }
        "service" => {
            for (field, present) in [
                ("apiPrefixes", config.api_prefixes.is_some()),
                (
                    "grouplessApiPrefixes",
                    config.groupless_api_prefixes.is_some(),
                ),
            ] {
                if present {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        "applies to mode \"kubernetes\" only",
                    ));
                }
            }
            let mut routes = Vec::new();
            for (i, route) in config.routes.iter().enumerate() {
                routes.push(
                    RouteTemplate::parse(route)
                        .map_err(|e| ConfigError::new(format!("{path}.routes[{i}]"), e.0))?,
                );
            }
            for (i, p) in config.non_resource_paths.iter().enumerate() {
                if !p.starts_with('/') {
                    return Err(ConfigError::new(
                        format!("{path}.nonResourcePaths[{i}]"),
                        format!("{p:?} must start with '/'"),
                    ));
                }
            }
            Ok(RequestMapper::Service(ServiceMapping {
                namespace: config.namespace.clone(),
                api_group: config.api_group.clone().unwrap_or_default(),
                routes,
                non_resource_paths: config.non_resource_paths.clone(),
            }))
        }
        other => Err(ConfigError::new(
            format!("{path}.mode"),
            format!("must be \"kubernetes\" or \"service\", not {other:?}"),
        )),
    }
}

/// The audiences the kube-apiserver gives tokens by default (the service-account issuer's
/// URL forms): every pod's default token carries one.
const APISERVER_AUDIENCES: [&str; 2] = [
    "https://kubernetes.default.svc",
    "https://kubernetes.default.svc.cluster.local",
];

impl PluginConfig {
    /// Settings that are allowed but weaken the boundary, worded for the configure log and
    /// `meshguard config render`.
    fn warnings(&self, forwarding: &Forwarding) -> Vec<String> {
        let mut warnings = Vec::new();
        if !forwarding.strip_token {
            warnings.push(
                "forwarding.stripToken is off: the upstream receives the caller's token and can \
                 replay it to every service that accepts its audience; give this service an \
                 audience of its own"
                    .to_owned(),
            );
        }
        for (i, jwt) in self.authentication.jwt.iter().enumerate() {
            for audience in &jwt.issuer.audiences {
                if APISERVER_AUDIENCES.contains(&audience.as_str()) {
                    warnings.push(format!(
                        "authentication.jwt[{i}].issuer.audiences: {audience:?} is the \
                         kube-apiserver's own audience, shared by every pod's default token and \
                         by the apiserver: a token sent here is good there too; use an audience \
                         for this service (a projected token's `audience`)"
                    ));
                }
            }
        }
        warnings
    }

    /// Compiles the whole configuration for the filter: authentication, request mapping, the
    /// bundle (validated, guardrails checked), mode and forwarding. Any error names its field.
    pub fn engine(mut self) -> Result<Engine, ConfigError> {
        // Taken, not copied: an inline bundle is most of a large configuration.
        let inline_bundle = self.authorization.as_mut().and_then(|a| a.bundle.take());
        let authenticator = self.authenticator()?;
        let Some(authorization) = &self.authorization else {
            return Err(ConfigError::new(
                "authorization",
                "required: the filter needs a policy bundle (authorization.bundle or \
                 authorization.bundleSource)",
            ));
        };
        let mapper = request_mapping(authorization.request_mapping.as_ref())?;
        let method_override = authorization
            .request_mapping
            .as_ref()
            .and_then(|m| m.method_override)
            .unwrap_or(MethodOverride::Reject);
        let (bundle, bundle_source) = match (inline_bundle, &authorization.bundle_source) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "authorization.bundleSource",
                    "set authorization.bundle or authorization.bundleSource, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "authorization.bundle",
                    "required (or authorization.bundleSource)",
                ))
            }
            (Some(inline), None) => (
                Some(
                    Bundle::from_value(inline)
                        .map_err(|e| ConfigError::new("authorization.bundle", e.to_string()))?,
                ),
                None,
            ),
            (None, Some(source)) => (None, Some(Arc::new(super::remote::bundle_source(source)?))),
        };
        for (i, p) in self.bypass_paths.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(ConfigError::new(
                    format!("bypassPaths[{i}]"),
                    format!("{p:?} must start with '/'"),
                ));
            }
        }
        let realm = self.realm.clone().unwrap_or_else(|| "meshguard".to_owned());
        if realm.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "realm",
                "must not contain control characters",
            ));
        }
        let warnings = bundle
            .iter()
            .flat_map(|b| b.warnings.iter().map(ToString::to_string))
            .collect();
        let forwarding = forwarding(self.forwarding.as_ref())?;
        let config_warnings = self.warnings(&forwarding);
        Ok(Engine {
            warnings,
            config_warnings,
            authenticator,
            mapper,
            policy: bundle.map(|b| Arc::new(b.compile())),
            bundle_source,
            mode: self.mode.unwrap_or_default(),
            anonymous: self.anonymous.as_ref().is_some_and(|a| a.enabled),
            forwarding,
            bypass_paths: self.bypass_paths.clone(),
            method_override,
            realm,
        })
    }
}
