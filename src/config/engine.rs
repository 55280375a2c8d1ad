//! Compiling the whole plugin configuration into the request-path [`Engine`].

use std::sync::Arc;

use super::schema::{ForwardingConfig, PluginConfig, RequestMappingConfig, RouteConfig};
use super::ConfigError;
use crate::bundle::Bundle;
use crate::decision::forward::{CALLER_IDENTITY_HEADERS, IMPERSONATE_EXTRA_PREFIX};
use crate::decision::{Engine, Forwarding};
use crate::request_info::{
    one_name, FixedAttributes, GrpcMapping, KubernetesMapping, RequestMapper, Route, RouteTemplate,
    ServiceMapping, ServiceProxyMapping,
};
use crate::request_info::{params, MethodOverride};

/// An HTTP header name: a non-empty RFC 9110 token.
pub(super) fn header_name(path: &str, name: &str) -> Result<String, ConfigError> {
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

/// The modes and the fields each accepts (beside `mode` and `methodOverride`).
const MODE_FIELDS: [(&str, &[&str]); 3] = [
    ("kubernetes", &["apiPrefixes", "grouplessApiPrefixes"]),
    (
        "service",
        &[
            "namespace",
            "apiGroup",
            "routes",
            "nonResourcePaths",
            "grpc",
        ],
    ),
    (
        "serviceProxy",
        &["namespace", "service", "nonResourcePaths", "grpc"],
    ),
];

/// A name given for an attribute the mapping fixes (namespace, service, API group).
fn segment_name(path: &str, value: &str) -> Result<String, ConfigError> {
    one_name(value).map_err(|problem| ConfigError::new(path, problem))?;
    Ok(value.to_owned())
}

fn request_mapping(config: Option<&RequestMappingConfig>) -> Result<RequestMapper, ConfigError> {
    let Some(config) = config else {
        return Ok(RequestMapper::default());
    };
    let path = "authorization.requestMapping";
    let mode = config.mode.as_deref().unwrap_or("kubernetes");
    let Some((_, accepted)) = MODE_FIELDS.iter().find(|(name, _)| *name == mode) else {
        return Err(ConfigError::new(
            format!("{path}.mode"),
            format!("must be \"serviceProxy\", \"service\" or \"kubernetes\", not {mode:?}"),
        ));
    };
    for (field, present) in [
        ("apiPrefixes", config.api_prefixes.is_some()),
        (
            "grouplessApiPrefixes",
            config.groupless_api_prefixes.is_some(),
        ),
        ("namespace", config.namespace.is_some()),
        ("service", config.service.is_some()),
        ("apiGroup", config.api_group.is_some()),
        ("routes", !config.routes.is_empty()),
        ("nonResourcePaths", !config.non_resource_paths.is_empty()),
        ("grpc", config.grpc.is_some()),
    ] {
        if present && !accepted.contains(&field) {
            let modes: Vec<String> = MODE_FIELDS
                .iter()
                .filter(|(_, fields)| fields.contains(&field))
                .map(|(name, _)| format!("{name:?}"))
                .collect();
            return Err(ConfigError::new(
                format!("{path}.{field}"),
                format!(
                    "applies to mode {} only (the mode is {mode:?})",
                    modes.join(" and ")
                ),
            ));
        }
    }
    for (i, p) in config.non_resource_paths.iter().enumerate() {
        if !p.starts_with('/') {
            return Err(ConfigError::new(
                format!("{path}.nonResourcePaths[{i}]"),
                format!("{p:?} must start with '/'"),
            ));
        }
    }
    let namespace = config
        .namespace
        .as_deref()
        .map(|n| segment_name(&format!("{path}.namespace"), n))
        .transpose()?;
    let grpc = match &config.grpc {
        None => None,
        Some(grpc) => Some(GrpcMapping {
            api_group: match grpc.api_group.as_deref() {
                None => GrpcMapping::default().api_group,
                Some("") => String::new(),
                Some(group) => segment_name(&format!("{path}.grpc.apiGroup"), group)?,
            },
        }),
    };
    match mode {
        "kubernetes" => {
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
        "serviceProxy" => Ok(RequestMapper::ServiceProxy(ServiceProxyMapping {
            namespace,
            service: config
                .service
                .as_deref()
                .map(|s| segment_name(&format!("{path}.service"), s))
                .transpose()?,
            non_resource_paths: config.non_resource_paths.clone(),
            grpc,
        })),
        _ => {
            let mut routes = Vec::new();
            for (i, route) in config.routes.iter().enumerate() {
                let at = format!("{path}.routes[{i}]");
                let compiled = match route {
                    RouteConfig::Template(text) => RouteTemplate::parse(text).map(Route::from),
                    RouteConfig::Route(object) => Route::new(
                        &object.path,
                        FixedAttributes {
                            api_group: object.api_group.clone(),
                            resource: object.resource.clone(),
                            subresource: object.subresource.clone(),
                            name: object.name.clone(),
                            namespace: object.namespace.clone(),
                        },
                        object.verbs.clone(),
                    ),
                };
                routes.push(compiled.map_err(|e| ConfigError::new(at, e.0))?);
            }
            Ok(RequestMapper::Service(ServiceMapping {
                namespace,
                api_group: config.api_group.clone().unwrap_or_default(),
                routes,
                non_resource_paths: config.non_resource_paths.clone(),
                grpc,
            }))
        }
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
        if let Some(source) = self
            .authorization
            .as_ref()
            .and_then(|a| a.bundle_source.as_ref())
            .filter(|s| s.signature.as_deref() == Some("none"))
        {
            warnings.push(format!(
                "authorization.bundleSource.signature is \"none\": bundles from {} are \
                 believed unsigned; whoever can answer for that server (its TLS certificate, \
                 the cluster's network, the cluster {:?}) writes this proxy's policy; sign \
                 bundles (`meshguard bundle sign`) unless the channel is trusted",
                source.url, source.cluster
            ));
        }
        for (i, jwt) in self.authentication.jwt.iter().enumerate() {
            if jwt.issuer.certificate_authority.is_some() {
                warnings.push(format!(
                    "authentication.jwt[{i}].issuer.certificateAuthority is accepted (it is \
                     checked as the apiserver checks it) but not used: meshguard reaches the \
                     issuer through the Envoy cluster of remoteKeys, whose TLS validation \
                     context is what trusts the issuer's certificate"
                ));
            }
            if jwt.issuer.egress_selector_type.is_some() {
                warnings.push(format!(
                    "authentication.jwt[{i}].issuer.egressSelectorType is accepted but not used: \
                     the Envoy cluster of remoteKeys decides how the issuer is reached"
                ));
            }
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

    /// The warnings [`engine`](Self::engine) would give, for a configuration whose bundle is
    /// linted apart (`meshguard lint --config`): authentication, request mapping and
    /// forwarding are compiled (and refused as the filter refuses them); the bundle is not
    /// required.
    pub fn lint_warnings(&self) -> Result<Vec<String>, ConfigError> {
        self.authenticator()?;
        self.request_mapper()?;
        if let Some(source) = self
            .authorization
            .as_ref()
            .and_then(|a| a.bundle_source.as_ref())
        {
            super::remote::bundle_source(source)?;
        }
        let forwarding = forwarding(self.forwarding.as_ref())?;
        Ok(self.warnings(&forwarding))
    }

    /// The request mapping alone (for `meshguard request-info` and `can-i --config`).
    pub fn request_mapper(&self) -> Result<RequestMapper, ConfigError> {
        request_mapping(
            self.authorization
                .as_ref()
                .and_then(|a| a.request_mapping.as_ref()),
        )
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
        let policy = bundle.map(|b| Arc::new(b.compile()));
        let mut remote_keys = Vec::new();
        for (i, jwt) in self.authentication.jwt.iter().enumerate() {
            if let Some(config) = &jwt.remote_keys {
                let path = format!("authentication.jwt[{i}]");
                remote_keys.push((i, super::remote::remote_keys(&path, config, &jwt.issuer)?));
            }
        }
        let peers = self.authentication.peers("authentication")?;
        let mut authenticator = authenticator;
        if let Some(policy) = &policy {
            authenticator.set_bundle_secrets(Arc::clone(&policy.tokens));
        }
        Ok(Engine {
            peers,
            remote_keys,
            warnings,
            config_warnings,
            authenticator,
            mapper,
            policy,
            bundle_source,
            mode: match self.mode.unwrap_or_default() {
                super::schema::Mode::Enforce => crate::decision::Mode::Enforce,
                super::schema::Mode::DryRun => crate::decision::Mode::DryRun,
            },
            anonymous: self.anonymous.as_ref().is_some_and(|a| a.enabled),
            forwarding,
            bypass_paths: self.bypass_paths.clone(),
            method_override,
            realm,
        })
    }
}
