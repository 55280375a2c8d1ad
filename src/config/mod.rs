//! The plugin configuration: one JSON document (Envoy's `configuration` value, Istio's
//! `WasmPlugin.pluginConfig`), parsed in two steps after Kuadrant's wasm-shim: a raw serde
//! schema that refuses unknown fields ([`schema`]), then [`compile`] into the runtime types,
//! which can refuse it with the field path at fault.
//!
//! `authentication.jwt` takes the kube-apiserver's structured `AuthenticationConfiguration`
//! `jwt` entries as they are, plus meshguard's additions (inline keys, algorithms, service-account
//! issuers). See `docs/configuration.md`.

mod apiserver;
mod compile;
mod engine;
mod error;
mod peers;
mod remote;
pub mod schema;

pub use compile::LEGACY_SERVICE_ACCOUNT_ISSUER;
pub use error::ConfigError;
pub use schema::{AuthenticationConfig, JwtAuthenticator, PluginConfig};

impl PluginConfig {
    /// Parses the plugin configuration from JSON. Unknown fields and wrong types are errors that
    /// name the field path (e.g. `authentication.jwt[0].issuer.audiences`).
    pub fn from_json(text: &str) -> Result<PluginConfig, ConfigError> {
        crate::json::from_str(text).map_err(|e| ConfigError::new(e.path, e.message))
    }

    /// Parses the plugin configuration from an already-decoded JSON value (the CLI reads YAML
    /// into one).
    pub fn from_value(value: serde_json::Value) -> Result<PluginConfig, ConfigError> {
        crate::json::from_value(&value).map_err(|e| ConfigError::new(e.path, e.message))
    }
}
